/*
 * export: results tables (db/results.h) and pivots written as CSV, Markdown,
 * LaTeX or JSON, for `qbench export`, `qbench ls --json` and the TUI.
 *
 * Formats:
 * - csv: RFC 4180: one header line, CRLF line ends, a field quoted (quotes
 *   doubled) when it holds a comma, a quote, CR or LF; numbers in full
 *   precision (config_format_double), missing values empty. A grouped table
 *   adds a `runs` column (runs per row) and, after each result R, `R_std`
 *   and `R_n`.
 * - md: a pipe table; number columns right-aligned (`---:`); accuracies and
 *   losses with 4 decimals (export_number()); grouped results as
 *   `mean ± std` when the row has two values or more.
 * - latex: a booktabs tabular (\toprule, \midrule, \bottomrule) of the
 *   params and results (id and status left out, as a paper table wants);
 *   text escaped; numbers as in md, grouped as `mean $\pm$ std`; in each
 *   result column the best mean (highest accuracy; lowest loss, bitops,
 *   size_bits, time) in \textbf{} unless the column holds one value; above
 *   the table one `% NAME: definition` comment line per result column.
 * - json: an array of objects, one per row; numeric params as numbers,
 *   booleans as true/false, missing values null; a grouped row has `runs`
 *   (its run ids) and each result as {"mean":..,"std":..,"n":..}.
 *
 * A pivot ROWS:COLS:METRIC has one row per value of the key ROWS, one column
 * per value of the key COLS (headed COLS=value; values sorted numerically
 * when they all are numbers), and in each cell the mean of METRIC over the
 * runs that have both values (± sample std when more than one run has it).
 * Only the runs with a value of METRIC count, so no row or column is empty;
 * an empty cell stays empty (csv, md, latex) or null (json). A csv pivot
 * adds the columns COLS=value_std and COLS=value_n when some cell holds more
 * than one run.
 *
 * Writers never print; a failed write returns -1 with *cause.
 */
#ifndef QB_EXPORT_H
#define QB_EXPORT_H

#include <stddef.h>
#include <stdio.h>

struct results;

enum export_format { EXPORT_CSV, EXPORT_MD, EXPORT_LATEX, EXPORT_JSON, EXPORT_FORMAT_COUNT };

/* "csv", "md", "latex", "json" (static). */
const char *export_format_name(enum export_format f);
/*
 * Parses a format name (also "markdown" and "tex"). Returns 0 and *out, or
 * -1 with *cause naming the nearest format ("unknown format 'cvs': expected
 * csv, md, latex or json (did you mean 'csv'?)").
 */
int export_format_parse(const char *name, enum export_format *out, char **cause);
/* The format a file name's extension names (.csv .md .tex .json); -1 when none. */
int export_format_from_path(const char *path, enum export_format *out);

/*
 * A value for people (md, latex, ls): accuracies and losses (names ending in
 * _acc or _loss) with 4 decimals; integers, and values of 1000 or more,
 * without decimals; others with 4 significant digits; "" for NaN.
 */
void export_number(char *buf, size_t n, const char *name, double v);
/*
 * The terminal form of a value (ls, the workbench): counts (bitops,
 * size_bits, macs, params, shift_adds) of five digits or more with a k/M/G
 * suffix ("275M"), seconds (time_s) with one decimal, "-" when missing, else
 * as export_number().
 */
void export_short(char *buf, size_t n, const char *name, double v);
/*
 * "mean ± std (n)" in the terminal form: "mean (1)" for one run, or the bare
 * mean when bare and n == 1 (pivot cells); the mean alone when n == 0.
 */
void export_short_stats(char *buf, size_t size, const char *name, double mean, double std, int n,
			int bare);

/* Writes table r in format f to out. -1 with *cause when writing fails. */
int export_table(FILE *out, enum export_format f, const struct results *r, char **cause);

/* A pivot cell: mean, sample std (NaN when n < 2) and the runs behind it (0: empty). */
struct export_pivot_cell {
	double mean, std;
	int n;
};

struct export_pivot {
	char *rows_key, *cols_key, *metric;
	int nrows, ncols;
	char **row_labels, **col_labels; /* the values of rows_key and cols_key */
	int rows_numeric, cols_numeric;  /* every label is a number */
	struct export_pivot_cell *cells; /* nrows x ncols, row-major */
};

/*
 * Splits "ROWS:COLS:METRIC" into three malloc'd strings. -1 with *cause when
 * spec does not have three non-empty parts.
 */
int export_pivot_parse(const char *spec, char **rows, char **cols, char **metric, char **cause);

/*
 * Pivots table r (best built with all_params, one row per run: a grouped
 * table pivots its rows' means): rows and cols name param (or status)
 * columns of r, metric a result column. Rows without a value of rows, cols
 * or metric are left out. Returns 0 and *out (free with export_pivot_free()),
 * or -1 with *cause naming the key that is not a column of r and the nearest
 * one.
 */
int export_pivot_build(struct export_pivot **out, const struct results *r, const char *rows,
		       const char *cols, const char *metric, char **cause);
void export_pivot_free(struct export_pivot *p);

/* Writes pivot p in format f to out. -1 with *cause when writing fails. */
int export_pivot_write(FILE *out, enum export_format f, const struct export_pivot *p, char **cause);

/*
 * Files are written whole or not at all: export_file_open() creates
 * PATH.tmp; export_file_close() with commit flushes it to disk and renames
 * it to PATH, without commit (or when the flush fails) removes it. Both
 * return -1 with *cause naming the file on failure; export_file_close()
 * always closes f.
 */
int export_file_open(const char *path, FILE **f, char **cause);
int export_file_close(const char *path, FILE *f, int commit, char **cause);

#endif
