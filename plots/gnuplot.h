/*
 * gnuplot: a figure as a gnuplot script plus its data, and running gnuplot
 * on it (DESIGN §8).
 *
 * A `struct gnuplot` holds setup lines ("set xlabel ..."), plot commands and
 * named data blocks. Commands refer to a block as gnuplot does to an inline
 * data block, `$name`; how the data reaches gnuplot depends on the output:
 *
 *   terminal  the script with inline blocks (`$name << EOD ... EOD`) is piped
 *             to gnuplot under `set terminal dumb size W,H`, and what gnuplot
 *             prints (its leading form feed stripped) is handed back as text;
 *   file      FILE.png, FILE.svg or FILE.pdf (the terminal follows the
 *             extension). Beside it go FILE.dat, the blocks as plain columns
 *             (`# comment` headers, blocks separated by two blank lines so
 *             that `index N` selects one) and FILE.gp, the script, which
 *             reads FILE.dat from its own directory with `$name` replaced by
 *             `dat index N`. `gnuplot FILE.gp` regenerates the figure; qbench
 *             runs that very script, drawing to FILE.tmp.EXT, then renames.
 *
 * gnuplot is the program on PATH, or $QBENCH_GNUPLOT. Its standard error is
 * captured: a non-zero exit status or any line other than a warning is an
 * error carrying gnuplot's message. Nothing here prints.
 */
#ifndef QB_GNUPLOT_H
#define QB_GNUPLOT_H

#include <stddef.h>

struct gnuplot;

/* The one message for a missing program (tests compare it exactly). */
#define GNUPLOT_MISSING                                                                            \
	"gnuplot is not installed (Debian: apt-get install gnuplot-nox); plots need it, "          \
	"everything else works"

/* Default sizes: files in pixels (pdf at 150 pixels per inch), the terminal in characters. */
#define GNUPLOT_FILE_WIDTH 900
#define GNUPLOT_FILE_HEIGHT 600
#define GNUPLOT_TERM_WIDTH 80
#define GNUPLOT_TERM_HEIGHT 25

enum gnuplot_format { GNUPLOT_DUMB, GNUPLOT_PNG, GNUPLOT_SVG, GNUPLOT_PDF };

/* Where a figure goes. */
struct gnuplot_out {
	const char *path;  /* FILE.png|svg|pdf, or NULL for the terminal */
	int width, height; /* 0: the default (terminal: the window's size) */
};

/* An empty figure (never NULL); free with gnuplot_free (NULL is a no-op). */
struct gnuplot *gnuplot_new(void);
void gnuplot_free(struct gnuplot *g);

/* Appends one setup line (no newline needed), e.g. "set logscale x". */
void gnuplot_set(struct gnuplot *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * Appends a clause to the plot command (e.g. "$hist using 1:2 with histeps
 * title 'w'"): the first call starts "plot ", later ones continue it on a
 * new line after ", \".
 */
void gnuplot_plot(struct gnuplot *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Starts data block `name` (letters, digits, '_'; unique), described by
 * comment (the column names, for FILE.dat). Rows follow with gnuplot_row
 * until the next block starts.
 */
void gnuplot_block(struct gnuplot *g, const char *name, const char *comment);
/* One row of the current block: values separated by spaces ("" gives a blank line). */
void gnuplot_row(struct gnuplot *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * s as a gnuplot string literal, single-quoted ('' for a quote; control
 * characters become spaces), for titles and labels. Caller frees.
 */
char *gnuplot_quote(const char *s);

/* The terminal format of path by its extension; -1 with *cause listing png, svg, pdf. */
int gnuplot_format_of(const char *path, enum gnuplot_format *out, char **cause);

/*
 * The size of the terminal window in characters: TIOCGWINSZ on standard
 * output (one line left for the prompt), else $COLUMNS and $LINES, else
 * 80x25; clamped to 20..500 columns and 8..200 lines.
 */
void gnuplot_term_size(int *width, int *height);

/* The `set terminal` line for format f at o's size (defaults filled in). Caller frees. */
char *gnuplot_terminal(enum gnuplot_format f, const struct gnuplot_out *o);

/*
 * The whole script for the terminal: terminal line, inline data blocks,
 * setup, plot (what is piped to gnuplot). Caller frees.
 */
char *gnuplot_script_inline(const struct gnuplot *g, const struct gnuplot_out *o);
/*
 * FILE.gp for the figure o->path: the terminal of its extension, setup
 * and plot with every block read as `dat index N` from FILE.dat, both files
 * found in the script's own directory (output to `outfile` when the caller
 * set it, else FILE). Returns NULL with *cause for an unknown extension.
 * Caller frees.
 */
char *gnuplot_script_file(const struct gnuplot *g, const struct gnuplot_out *o, char **cause);
/* FILE.dat: every block with its header comment. Caller frees. */
char *gnuplot_data_file(const struct gnuplot *g);

/*
 * The gnuplot program: $QBENCH_GNUPLOT (a path, or a name looked up on PATH)
 * or gnuplot on PATH. Returns 0 and *prog (caller frees), or -1 with
 * GNUPLOT_MISSING.
 */
int gnuplot_find(char **prog, char **cause);

/*
 * Draws g. Terminal (o->path NULL): *text receives what gnuplot drew, width
 * by height characters, one line per row (caller frees). File: writes
 * FILE.dat, FILE.gp and the figure (each through a temporary name), *text
 * is NULL. Returns 0, or -1 with *cause (gnuplot missing, its error
 * message, a file that cannot be written, an unknown extension).
 */
int gnuplot_render(const struct gnuplot *g, const struct gnuplot_out *o, char **text, char **cause);

#endif
