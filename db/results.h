/*
 * results: runs as a table of configuration values and results, for ls,
 * compare, export, plots and the TUI.
 *
 * Rows are runs (or, grouped, sets of runs that differ only in the keys
 * grouped over, e.g. seed); columns are the id, the status, configuration
 * keys and results. Configuration columns keep, by default, only the keys
 * whose value varies between the rows. Grouped rows give each result as mean,
 * sample standard deviation and count over the group's runs that have it.
 *
 * Nothing here prints; errors are -1 with *cause naming the database.
 */
#ifndef QB_RESULTS_H
#define QB_RESULTS_H

#include <stdint.h>

struct db;
struct query;

enum results_col_kind {
	RESULTS_COL_ID,		/* the run id (grouped: the smallest) */
	RESULTS_COL_STATUS,	/* the run's status (grouped: shared one, or "mixed") */
	RESULTS_COL_PARAM,	/* a configuration key */
	RESULTS_COL_RESULT	/* a result */
};

struct results_col {
	char *name;
	enum results_col_kind kind;
	int numeric;	/* every non-missing value of the column is a number */
	int varies;	/* the column does not have one value in every row */
};

struct results_cell {
	char *text;	/* id, status, param: the text (NULL when missing); result: NULL */
	double mean;	/* result (or a numeric param): value or mean; NaN when missing */
	double std;	/* result: sample std over the group (0 for one run); NaN when n < 2 */
	int n;		/* runs with a value */
};

struct results {
	int nrows, ncols;
	struct results_col *cols;	/* ncols */
	struct results_cell *cells;	/* nrows x ncols, row-major */
	int64_t **row_ids;		/* per row, the runs behind it (ascending) */
	int *row_nids;
	int grouped;			/* built with group_over: rows are groups of runs */
};

struct results_opts {
	/* keys averaged over (e.g. {"seed"}); 0 = one row per run */
	const char *const *group_over;
	int ngroup_over;
	int all_params;		/* keep every configuration key, also those that do not vary */
	/* the results to show, in this order; NULL = every result name the rows have,
	 * the known ones (test_acc, test_loss, bitops, size_bits, ...) first */
	const char *const *result_names;
	int nresults;
	/* sort rows by this column (a param or a result name), NULL = by the varying
	 * params left to right (numerically when numeric), then id */
	const char *sort;
	int descending;
};

/*
 * Builds the table of the runs matching q (all when q is NULL). Returns 0 and
 * *out (free with results_free()), or -1 with *cause (an unknown sort column
 * names the nearest).
 */
int results_build(struct db *db, const struct query *q, const struct results_opts *o,
		  struct results **out, char **cause);
void results_free(struct results *r);
/* The index of column name, or -1. */
int results_col_find(const struct results *r, const char *name);
/* Cell (row, col). */
const struct results_cell *results_cell(const struct results *r, int row, int col);

/*
 * More about results_build():
 * - grouping merges the runs whose params are equal once the group_over keys
 *   are left out (a run without a key differs from one with it); the
 *   group_over keys are never columns of a grouped table; a grouped row's
 *   status is the status its runs share, or "mixed";
 * - the default result set leaves out the results named like a
 *   configuration key (epochs, threads: they repeat the configuration), and
 *   puts test_acc, test_loss, float_test_acc, bitops, size_bits, time_s
 *   first, then the others alphabetically; param columns follow the order of
 *   the configuration-key table, except seed, which comes after the others;
 * - a param cell's mean is its number when the column is numeric (else NaN),
 *   its n the row's runs that have the key; the id cell's mean is the id;
 * - rows sort by opts->sort when given (missing values last in either
 *   direction; ties in the default order), else by the varying params left
 *   to right, then by id. The sort column may be any id, status, key or
 *   result name the runs have, shown or not.
 */

/*
 * The keys a --group value averages over: "all-but-seed" stands for "seed";
 * otherwise a comma-separated list of configuration keys. Returns 0 with *keys
 * (n malloc'd strings in a malloc'd array; free with results_group_free()),
 * or -1 with *cause naming an unknown key and the nearest one.
 */
int results_group_parse(const char *spec, char ***keys, int *n, char **cause);
void results_group_free(char **keys, int n);

/* What result name measures, one line for captions and comments (static), or NULL. */
const char *results_metric_help(const char *name);
/*
 * Which way result name is better: +1 higher (accuracies), -1 lower (losses,
 * bitops, size_bits, times), 0 neither or unknown.
 */
int results_metric_better(const char *name);

/* Nonzero when text column c has two different texts among the rows that have one. */
int results_col_distinct(const struct results *r, int c);
/* Nonzero when some row has a number in column c. */
int results_col_has_value(const struct results *r, int c);

#endif
