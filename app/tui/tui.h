/*
 * tui: qbench's terminal workbench (ncurses), htop-style: a title line with
 * the screens, the current screen's panel, a message line and a function-key
 * bar generated from the key-binding table (app/tui/keys.c).
 *
 * Screens are entries of a small ops table; their handlers return flags
 * (handled, redraw, quit). The UI never blocks on work: sweeps run in their
 * own processes (`qbench sweep`, detached, so that they outlive the TUI),
 * views that show a command's output (compare, plots, exports) run that
 * command as a child process and capture what it prints, and the screen polls
 * the database on a timer.
 *
 * Terminal safety: the terminal is restored (endwin) on every way out,
 * including Ctrl-C, SIGTERM, SIGHUP and a crash signal, before any message is
 * printed. Below 80x24 only a "terminal too small" notice is drawn.
 */
#ifndef QB_TUI_H
#define QB_TUI_H

#include <curses.h>
#include <stdint.h>

#include "app/tui/keys.h"

struct db;
struct tui;

/* What main() hands the TUI. */
struct tui_options {
	const char *db_path;	/* the database (created when missing) */
	const char *exe;	/* the qbench executable, for the commands the TUI runs */
	const char *sweep_file;	/* the builder's sweep on start (quick.sweep), or NULL */
	int mono;		/* --mono, or NO_COLOR set: no colours */
	int ascii;		/* glyphs in ASCII (also when the locale is not UTF-8) */
};

/* Flags a screen handler returns. */
enum tui_flag { TUI_HANDLED = 1, TUI_REDRAW = 2, TUI_QUIT = 4 };

/* Colour pairs (used only with colours; meaning is never carried by colour alone). */
enum tui_color {
	TUI_COLOR_TITLE = 1,
	TUI_COLOR_BAR_KEY,
	TUI_COLOR_BAR_LABEL,
	TUI_COLOR_CURSOR,
	TUI_COLOR_OK,
	TUI_COLOR_BAD,
	TUI_COLOR_BUSY,
	TUI_COLOR_DIM,
	TUI_COLOR_HEADER,
	TUI_COLOR_COUNT
};

/* One screen: a row of the screen table in tui.c. */
struct tui_screen_ops {
	enum tui_screen id;
	/* called when the screen becomes current (and on a database change) */
	void (*enter)(struct tui *t);
	/* draws the panel: rows [top, top + h), columns [0, w) of stdscr */
	void (*draw)(struct tui *t, int top, int h, int w);
	/* handles an action (or, with TUI_ACT_NONE, the raw key); enum tui_flag bits */
	int (*handle)(struct tui *t, enum tui_action a, int key);
	/* called on each timer tick (about 4 a second); returns TUI_REDRAW to redraw */
	int (*tick)(struct tui *t);
	/* frees the screen's state (when the TUI ends) */
	void (*done)(struct tui *t);
};

/*
 * Runs the TUI until the user quits. Returns 0, or -1 with *cause when the
 * terminal or the database cannot be used (the terminal already restored).
 */
int tui_run(const struct tui_options *o, char **cause);

/*
 * For benchmarks: draws screen s on database o->db_path into a rows x cols
 * terminal whose output is discarded, once to load it, then repeat times with
 * a full repaint each; *seconds is the time of one draw. -1 with *cause when
 * the database or the terminal description cannot be used.
 */
int tui_bench_draw(const struct tui_options *o, enum tui_screen s, int rows, int cols, int repeat,
		   double *seconds, char **cause);

/* ---- for the screens ---- */

/* The database (open for the TUI's whole life). */
struct db *tui_db(struct tui *t);
const struct tui_options *tui_options(struct tui *t);
/* Screen-private state (one pointer per screen, owned by the screen). */
void **tui_state(struct tui *t, enum tui_screen s);
/* Switches to screen s. */
void tui_show(struct tui *t, enum tui_screen s);
/* Sets the message line (printf-style); bad makes it an error (shown with "!"). */
void tui_message(struct tui *t, int bad, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Nonzero when glyphs must be ASCII. */
int tui_ascii(struct tui *t);
/* Turns a colour pair on or off (nothing without colours). */
void tui_color(struct tui *t, enum tui_color c, int on);

/*
 * Asks for a line of text on the message line (prompt, initial text); Enter
 * accepts, Escape cancels. Returns a malloc'd string, or NULL when cancelled.
 * complete (may be NULL) offers completions of the text so far on Tab.
 */
char *tui_prompt(struct tui *t, const char *prompt, const char *initial,
		 int (*complete)(void *ctx, const char *text, char ***out, int *n), void *ctx);
/*
 * The export dialog: asks for a format (csv, md, latex, json) and a file
 * (base.EXT proposed). Returns 0 with *format (static) and *path (malloc'd),
 * or -1 when cancelled.
 */
int tui_export_dialog(struct tui *t, const char *what, const char *base, const char **format,
		      char **path);
/* Asks a question on the message line; returns the key answered (lower case). */
int tui_ask(struct tui *t, const char *question, const char *answers);

/*
 * Runs `qbench ARGS...` (the TUI's own executable, on its database) as a child,
 * with COLUMNS and LINES set to cols x lines when > 0, and captures its
 * stdout and stderr. Returns its exit status; *out and *err are malloc'd.
 */
int tui_command(struct tui *t, const char *const *args, int cols, int lines, char **out,
		char **err);
/*
 * Starts `qbench ARGS...` detached (its own session, output appended to log),
 * for work that must outlive the TUI (a sweep). Returns its pid or -1 with
 * *cause.
 */
int tui_spawn(struct tui *t, const char *const *args, const char *log, char **cause);

/* Draws text at (y, x), at most w columns (UTF-8 aware), padding with blanks when pad. */
void tui_text(int y, int x, int w, const char *s, int pad);
/* The status glyph of a run ("✓", or "D" in ASCII) (static). */
const char *tui_status_glyph(struct tui *t, const char *status);

/*
 * The runs the other screens work on, from the Runs screen: the tagged runs,
 * or else the run under the cursor. *ids is malloc'd (caller frees); returns
 * their count (0: none). *tagged says whether they are tags.
 */
int tui_runs_selection(struct tui *t, int64_t **ids, int *tagged);
/* The Runs screen's filter text ("" when none; static until the next change). */
const char *tui_runs_filter(struct tui *t);

/* A scrollable text (a command's output): lines, first line and column shown. */
struct tui_pane {
	char **lines;
	int n, top, left;
	int width;		/* the widest line, in characters */
};
/* Replaces the text (copied, split at newlines; tabs as spaces). */
void tui_pane_set(struct tui_pane *p, const char *text);
void tui_pane_clear(struct tui_pane *p);
/* Draws rows [y, y + h) of the pane, highlighting the lines that contain mark (may be NULL). */
void tui_pane_draw(struct tui *t, struct tui_pane *p, int y, int h, int w, const char *mark);
/* Scrolls for a moving action; returns TUI_HANDLED | TUI_REDRAW, or 0 for other actions. */
int tui_pane_scroll(struct tui_pane *p, enum tui_action a, int h, int w);
/* Moves top to the next line (after top) containing text; 0 when there is none. */
int tui_pane_find(struct tui_pane *p, const char *text);

/* The screens (one file each). */
extern const struct tui_screen_ops tui_screen_builder;
extern const struct tui_screen_ops tui_screen_runs;
extern const struct tui_screen_ops tui_screen_jobs;
extern const struct tui_screen_ops tui_screen_compare;
extern const struct tui_screen_ops tui_screen_plots;

#endif
