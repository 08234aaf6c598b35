/*
 * test_tui_table: the Runs screen's table model (app/tui/table) on a small
 * database built through db/runs.h in a temporary directory:
 *
 *   id job   model      dataset seed scheme  w.bits clip     status  test_acc bitops    time_s
 *    1 train mlp        fmnist  1    -       -      -        done    0.9      104857600 12.5
 *    2 ptq   run:1      fmnist  1    apot    4      mse      done    0.88     1638400   2.25
 *    3 ptq   run:1      fmnist  2    apot    4      mse      done    0.86     1638400   2.75
 *    4 ptq   run:1      fmnist  1    apot    2      mse      done    0.8      819200    2
 *    5 ptq   run:1      fmnist  2    apot    2      mse      done    0.7      819200    3
 *    6 ptq   run:1      fmnist  1    uniform 4      pct:99.9 failed  -
 *    7 ptq   run:10     fmnist  1    apot    16     mse      done    0.89
 *    8 ptq   run:2      fmnist  1    uniform 2      mse      done    0.75
 *    9 ptq   ckpt/L.h5  fmnist  1    uniform 4      mse      running -
 *
 * (L: resnet20_fmnist_w4a4_calibrated, wider than a column may be; run 1 also
 * has test_loss, run 2 quant_time_s.) Sorting, search, filter, grouping,
 * pivot, tags, cursor, scrolling and layout are checked on it; then a
 * database of 10,000 runs written with plain INSERTs times a load and the
 * work of 100 full-screen redraws.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "app/tui/table.h"
#include "db/db.h"
#include "db/runs.h"
#include "engine/util.h"
#include "tests/unit/tap.h"
#include "tests/unit/testdata.h"

static struct db *db;

#define LONG_MODEL "resnet20_fmnist_w4a4_calibrated.h5"

/* One run of the fixture: params (NULL-terminated pairs), status, results. */
struct fixture_run {
	const char *params[16];
	enum run_status status;
	const char *results[6];
	double values[6];
};

static const struct fixture_run fixture_runs[] = {
	{{"job", "train", "model", "mlp", "dataset", "fmnist", "seed", "1"},
	 RUN_DONE,
	 {"test_acc", "test_loss", "bitops", "time_s"},
	 {0.9, 0.3, 104857600, 12.5}},
	{{"job", "ptq", "model", "run:1", "dataset", "fmnist", "seed", "1", "scheme", "apot",
	  "w.bits", "4", "clip", "mse"},
	 RUN_DONE,
	 {"test_acc", "bitops", "time_s", "quant_time_s"},
	 {0.88, 1638400, 2.25, 1.5}},
	{{"job", "ptq", "model", "run:1", "dataset", "fmnist", "seed", "2", "scheme", "apot",
	  "w.bits", "4", "clip", "mse"},
	 RUN_DONE,
	 {"test_acc", "bitops", "time_s"},
	 {0.86, 1638400, 2.75}},
	{{"job", "ptq", "model", "run:1", "dataset", "fmnist", "seed", "1", "scheme", "apot",
	  "w.bits", "2", "clip", "mse"},
	 RUN_DONE,
	 {"test_acc", "bitops", "time_s"},
	 {0.8, 819200, 2}},
	{{"job", "ptq", "model", "run:1", "dataset", "fmnist", "seed", "2", "scheme", "apot",
	  "w.bits", "2", "clip", "mse"},
	 RUN_DONE,
	 {"test_acc", "bitops", "time_s"},
	 {0.7, 819200, 3}},
	{{"job", "ptq", "model", "run:1", "dataset", "fmnist", "seed", "1", "scheme", "uniform",
	  "w.bits", "4", "clip", "pct:99.9"},
	 RUN_FAILED,
	 {NULL},
	 {0}},
	{{"job", "ptq", "model", "run:10", "dataset", "fmnist", "seed", "1", "scheme", "apot",
	  "w.bits", "16", "clip", "mse"},
	 RUN_DONE,
	 {"test_acc"},
	 {0.89}},
	{{"job", "ptq", "model", "run:2", "dataset", "fmnist", "seed", "1", "scheme", "uniform",
	  "w.bits", "2", "clip", "mse"},
	 RUN_DONE,
	 {"test_acc"},
	 {0.75}},
	{{"job", "ptq", "model", "ckpt/" LONG_MODEL, "dataset", "fmnist", "seed", "1", "scheme",
	  "uniform", "w.bits", "4", "clip", "mse"},
	 RUN_RUNNING,
	 {NULL},
	 {0}},
};
#define NFIXTURE ((int)(sizeof fixture_runs / sizeof fixture_runs[0]))

/* Creates run f with key number k: params, status, results. */
static int
add_run(const struct fixture_run *f, int k, char **cause)
{
	struct run_param params[8];
	char key[32];
	int np = 0, nr = 0;
	int64_t id;
	for (; np < 8 && f->params[2 * np]; np++) {
		params[np].key = f->params[2 * np];
		params[np].value = f->params[2 * np + 1];
	}
	snprintf(key, sizeof key, "%016d", k);
	if (runs_create(db, key, "{}", params, np, 0, &id, cause) < 0)
		return -1;
	if (f->status == RUN_FAILED)
		return runs_set_status(db, id, RUN_FAILED, "test", cause);
	if (runs_set_status(db, id, RUN_RUNNING, NULL, cause) < 0)
		return -1;
	for (; nr < 6 && f->results[nr]; nr++)
		;
	if (nr > 0 && runs_set_results(db, id, f->results, f->values, nr, cause) < 0)
		return -1;
	return f->status == RUN_RUNNING ? 0 : runs_set_status(db, id, f->status, NULL, cause);
}

static void
make_db(void)
{
	char *path = xasprintf("%s/tui.db", tap_tmpdir());
	char *cause = NULL;
	int ok = db_open(&db, path, DB_OPEN_CREATE, &cause) == 0;
	for (int i = 0; ok && i < NFIXTURE; i++)
		ok = add_run(&fixture_runs[i], i + 1, &cause) == 0;
	if (!tap_ok(ok, "fixture database built through db/runs.h"))
		tap_diag("%s", cause ? cause : "?");
	free(cause);
	free(path);
}

/* ---- helpers ------------------------------------------------------------- */

/* The visible rows' run ids as "1,2,3". */
static char *
ids_of(const struct tui_table *t)
{
	char *s = xstrdup("");
	for (int r = 0; r < tui_table_rows(t); r++) {
		char *n = xasprintf("%s%s%lld", s, r ? "," : "", (long long)tui_table_row_id(t, r));
		free(s);
		s = n;
	}
	return s;
}

/* The visible rows' texts of column col as "a|b|c". */
static char *
column_of(const struct tui_table *t, int col)
{
	char *s = xstrdup("");
	for (int r = 0; r < tui_table_rows(t); r++) {
		char *n = xasprintf("%s%s%s", s, r ? "|" : "", tui_table_cell(t, r, col));
		free(s);
		s = n;
	}
	return s;
}

/* The headers as "id status ...". */
static char *
headers_of(const struct tui_table *t)
{
	char *s = xstrdup("");
	for (int c = 0; c < tui_table_cols(t); c++) {
		char *n = xasprintf("%s%s%s", s, c ? " " : "", tui_table_header(t, c));
		free(s);
		s = n;
	}
	return s;
}

static void
check_ids(const struct tui_table *t, const char *want, const char *what)
{
	char *got = ids_of(t);
	tap_eq_str(got, want, "%s: rows", what);
	free(got);
}

static void
check_column(const struct tui_table *t, int col, const char *want, const char *what)
{
	char *got = column_of(t, col);
	tap_eq_str(got, want, "%s: column %s", what, tui_table_header(t, col));
	free(got);
}

static void
check_headers(const struct tui_table *t, const char *want, const char *what)
{
	char *got = headers_of(t);
	tap_eq_str(got, want, "%s: headers", what);
	free(got);
}

/* The column headed name, or -1. */
static int
col_of(const struct tui_table *t, const char *name)
{
	for (int c = 0; c < tui_table_cols(t); c++)
		if (!strcmp(tui_table_header(t, c), name))
			return c;
	return -1;
}

/* The visible row of run id, or -1. */
static int
row_of(const struct tui_table *t, int64_t id)
{
	for (int r = 0; r < tui_table_rows(t); r++)
		if (tui_table_row_id(t, r) == id)
			return r;
	return -1;
}

/* The tags as "3,6". */
static char *
tags_of(const struct tui_table *t)
{
	int64_t *ids;
	int n;
	char *s = xstrdup("");
	tui_table_tags(t, &ids, &n);
	for (int i = 0; i < n; i++) {
		char *m = xasprintf("%s%s%lld", s, i ? "," : "", (long long)ids[i]);
		free(s);
		s = m;
	}
	free(ids);
	return s;
}

static void
check_tags(const struct tui_table *t, const char *want, const char *what)
{
	char *got = tags_of(t);
	tap_eq_str(got, want, "%s: tags", what);
	free(got);
}

/* The visible rows drawn as tagged, as "3,6". */
static char *
tagged_rows(const struct tui_table *t)
{
	char *s = xstrdup("");
	for (int r = 0, k = 0; r < tui_table_rows(t); r++) {
		if (!tui_table_is_tagged(t, r))
			continue;
		char *m = xasprintf("%s%s%lld", s, k++ ? "," : "",
				    (long long)tui_table_row_id(t, r));
		free(s);
		s = m;
	}
	return s;
}

static void
check_tagged_rows(const struct tui_table *t, const char *want, const char *what)
{
	char *got = tagged_rows(t);
	tap_eq_str(got, want, "%s: rows drawn tagged", what);
	free(got);
}

static int
load(struct tui_table *t, const char *what)
{
	char *cause = NULL;
	int ok = tui_table_load(t, db, &cause) == 0;
	if (!tap_ok(ok, "%s: load", what))
		tap_diag("%s", cause ? cause : "?");
	free(cause);
	return ok;
}

static int
filter(struct tui_table *t, const char *text)
{
	char *cause = NULL;
	int ok = tui_table_set_filter(t, db, text, &cause) == 0;
	if (!tap_ok(ok, "filter '%s' accepted", text))
		tap_diag("%s", cause ? cause : "?");
	free(cause);
	return ok;
}

static void
sort_by(struct tui_table *t, const char *name, int descending, const char *want)
{
	int col = col_of(t, name), desc = -1;
	char what[96];
	tap_ok(col >= 0, "column %s exists", name);
	tui_table_sort(t, col, descending);
	tap_ok(tui_table_sort_col(t, &desc) == col && desc == (descending != 0),
	       "sort column %s %s recorded", name, descending ? "descending" : "ascending");
	check_ids(t, want, TAP_NAME(what, "sort %s %s", name, descending ? "desc" : "asc"));
}

/* ---- tests --------------------------------------------------------------- */

static void
test_columns(struct tui_table *t)
{
	check_headers(t, "id status job model scheme w.bits clip seed test_acc bitops time_s",
		      "ls columns (dataset has one value)");
	tap_eq_int(tui_table_frozen(t), 2, "id and status are frozen");
	check_ids(t, "1,2,3,4,5,6,7,8,9", "natural order: by id");
	tap_eq_int(tui_table_total_rows(t), 9, "every run is a row");
	check_column(t, col_of(t, "model"),
		     "mlp|run:1|run:1|run:1|run:1|run:1|run:10|run:2|" LONG_MODEL,
		     "paths by their last component");
	check_column(t, col_of(t, "scheme"), "-|apot|apot|apot|apot|uniform|apot|uniform|uniform",
		     "missing param as -");
	check_column(t, col_of(t, "test_acc"),
		     "0.9000|0.8800|0.8600|0.8000|0.7000|-|0.8900|0.7500|-", "accuracies");
	check_column(t, col_of(t, "bitops"), "105M|1.64M|1.64M|819k|819k|-|-|-|-",
		     "counts with suffixes");
	check_column(t, col_of(t, "time_s"), "12.5|2.2|2.8|2.0|3.0|-|-|-|-", "seconds");
	tap_ok(tui_table_col_numeric(t, col_of(t, "w.bits")) &&
		       tui_table_col_numeric(t, col_of(t, "id")) &&
		       tui_table_col_numeric(t, col_of(t, "test_acc")) &&
		       !tui_table_col_numeric(t, col_of(t, "model")) &&
		       !tui_table_col_numeric(t, col_of(t, "status")),
	       "numeric columns: id, w.bits, results; not model, status");
	tap_eq_int(tui_table_row_status(t, 0), TUI_TABLE_DONE, "run 1 done");
	tap_eq_int(tui_table_row_status(t, 5), TUI_TABLE_FAILED, "run 6 failed");
	tap_eq_int(tui_table_row_status(t, 8), TUI_TABLE_RUNNING, "run 9 running");
	tap_eq_str(tui_table_cell(t, 9, 0), "", "a row past the end reads empty");
	tap_eq_str(tui_table_header(t, 99), "", "a column past the end reads empty");
	tap_eq_int((long)tui_table_row_id(t, -1), 0, "no run before the first row");

	tui_table_set_all_columns(t, 1);
	check_headers(t,
		      "id status job model dataset scheme w.bits clip seed test_acc test_loss "
		      "bitops time_s quant_time_s",
		      "all columns");
	check_column(t, col_of(t, "quant_time_s"), "-|1.5|-|-|-|-|-|-|-", "quant_time_s");
	tui_table_set_all_columns(t, 0);
	check_headers(t, "id status job model scheme w.bits clip seed test_acc bitops time_s",
		      "ls columns again");
}

static void
test_sort(struct tui_table *t)
{
	sort_by(t, "test_acc", 0, "5,8,4,3,2,7,1,6,9");
	sort_by(t, "test_acc", 1, "1,7,2,3,4,8,5,6,9");
	/* numeric, not text: "16" would sort before "2" as text */
	sort_by(t, "w.bits", 0, "4,5,8,2,3,6,9,7,1");
	sort_by(t, "w.bits", 1, "7,2,3,6,9,4,5,8,1");
	/* stable: equal seeds keep the id order in both directions */
	sort_by(t, "seed", 0, "1,2,4,6,7,8,9,3,5");
	sort_by(t, "seed", 1, "3,5,1,2,4,6,7,8,9");
	/* text, digits as numbers: run:2 before run:10 */
	sort_by(t, "model", 0, "1,9,2,3,4,5,6,8,7");
	sort_by(t, "model", 1, "7,8,2,3,4,5,6,9,1");
	/* missing last in both directions */
	sort_by(t, "scheme", 0, "2,3,4,5,7,6,8,9,1");
	sort_by(t, "scheme", 1, "6,8,9,2,3,4,5,7,1");
	sort_by(t, "time_s", 0, "4,2,3,5,1,6,7,8,9");
	sort_by(t, "time_s", 1, "1,5,3,2,4,6,7,8,9");
	sort_by(t, "status", 1, "9,6,1,2,3,4,5,7,8");

	/* the cursor follows its run through a sort */
	tui_table_sort(t, -1, 0);
	tui_table_set_cursor(t, row_of(t, 7));
	tui_table_sort(t, col_of(t, "test_acc"), 0);
	tap_eq_int((long)tui_table_row_id(t, tui_table_cursor(t)), 7, "cursor follows run 7");
	tap_eq_int(tui_table_cursor(t), 5, "run 7 is now row 5");

	/* the sort column is kept by name across reloads and column changes */
	tui_table_sort(t, col_of(t, "test_acc"), 1);
	load(t, "reload sorted");
	check_ids(t, "1,7,2,3,4,8,5,6,9", "reload keeps the sort");
	tui_table_set_all_columns(t, 1);
	int desc = 0;
	tap_ok(tui_table_sort_col(t, &desc) == col_of(t, "test_acc") && desc,
	       "all columns: the sort follows test_acc to its new index");
	check_ids(t, "1,7,2,3,4,8,5,6,9", "all columns keep the sort");
	tui_table_set_all_columns(t, 0);
	tui_table_sort(t, 99, 0);
	tap_eq_int(tui_table_sort_col(t, NULL), -1, "a column past the end: natural order");
	check_ids(t, "1,2,3,4,5,6,7,8,9", "natural order again");
}

static void
test_search(struct tui_table *t)
{
	tui_table_set_search(t, "uniform");
	check_ids(t, "6,8,9", "search uniform");
	tap_eq_int(tui_table_total_rows(t), 9, "search hides rows, the table keeps them");
	tui_table_set_search(t, "APOT");
	check_ids(t, "2,3,4,5,7", "search is case-insensitive");
	tui_table_set_search(t, "0.8");
	check_ids(t, "2,3,4,7", "search 0.8 over the texts");
	tui_table_sort(t, col_of(t, "test_acc"), 1);
	check_ids(t, "7,2,3,4", "search and sort");
	tui_table_sort(t, -1, 0);
	tui_table_set_search(t, "-");
	tap_eq_int(tui_table_rows(t), 0, "search -: a missing value is no text");
	tui_table_set_search(t, "CALIBRATED");
	check_ids(t, "9", "search sees a text a column would cut");
	tui_table_set_search(t, "no such text");
	tap_ok(tui_table_rows(t) == 0 && tui_table_cursor(t) == 0 &&
		       tui_table_row_id(t, 0) == 0 && tui_table_toggle_tag(t) == -1,
	       "a search without matches: no rows, cursor 0, nothing to tag");
	tui_table_set_search(t, "failed");
	tui_table_set_search(t, "");
	check_ids(t, "1,2,3,4,5,6,7,8,9", "empty search shows every row");
	tap_eq_int((long)tui_table_row_id(t, tui_table_cursor(t)), 6,
		   "the cursor stays on the run it was on when the search ends");
	tap_eq_str(tui_table_search(t), "", "no search text");
}

static void
test_filter(struct tui_table *t)
{
	char *cause = NULL;
	filter(t, "scheme=apot w.bits=4");
	check_ids(t, "2,3", "filter scheme=apot w.bits=4");
	tap_eq_str(tui_table_filter(t), "scheme=apot w.bits=4", "filter text kept");
	tap_eq_int(tui_table_set_filter(t, db, "w.bits=4 test_ac>0.9", &cause), -1,
		   "bad filter refused");
	tap_eq_str(cause,
		   "unknown key 'test_ac' in filter 'test_ac>0.9' (did you mean 'test_acc'?)",
		   "bad filter: the query's message");
	free(cause);
	cause = NULL;
	check_ids(t, "2,3", "bad filter keeps the table");
	tap_eq_str(tui_table_filter(t), "scheme=apot w.bits=4", "bad filter keeps the filter");
	load(t, "reload filtered");
	check_ids(t, "2,3", "reload keeps the filter");
	filter(t, "status=running");
	check_ids(t, "9", "filter status=running");
	filter(t, "  ");
	check_ids(t, "1,2,3,4,5,6,7,8,9", "blank filter: every run");
	tap_eq_str(tui_table_filter(t), "", "no filter text");
}

static void
test_group(struct tui_table *t)
{
	char *cause = NULL;
	tap_ok(tui_table_set_grouped(t, db, 1, &cause) == 0 && tui_table_grouped(t),
	       "group over seeds");
	free(cause);
	check_ids(t, "1,2,4,6,7,8,9", "grouped rows (smallest id)");
	check_headers(t, "id status job model scheme w.bits clip test_acc bitops time_s",
		      "grouped: no seed column");
	int r = row_of(t, 2);
	const int64_t *ids;
	tap_ok(tui_table_row_runs(t, r, &ids) == 2 && ids[0] == 2 && ids[1] == 3,
	       "group row holds runs 2 and 3");
	tap_eq_str(tui_table_cell(t, r, col_of(t, "test_acc")), "0.8700 \u00b1 0.0141 (2)",
		   "grouped test_acc as ls shows it");
	tap_eq_str(tui_table_cell(t, r, col_of(t, "time_s")), "2.5 \u00b1 0.4 (2)",
		   "grouped time_s");
	tap_eq_str(tui_table_cell(t, r, col_of(t, "bitops")), "1.64M \u00b1 0 (2)",
		   "grouped bitops");
	tap_eq_str(tui_table_cell(t, row_of(t, 1), col_of(t, "test_acc")), "0.9000 (1)",
		   "a group of one run");
	tap_eq_str(tui_table_cell(t, row_of(t, 6), col_of(t, "test_acc")), "-",
		   "a group without the result");
	tap_eq_int(tui_table_row_status(t, r), TUI_TABLE_DONE, "group status");
	sort_by(t, "test_acc", 0, "4,8,2,7,1,6,9");
	tui_table_sort(t, -1, 0);
	tap_ok(tui_table_set_grouped(t, db, 0, &cause) == 0 && !tui_table_grouped(t),
	       "ungroup");
	free(cause);
	check_ids(t, "1,2,3,4,5,6,7,8,9", "ungrouped rows");
}

static void
test_pivot(struct tui_table *t)
{
	char *cause = NULL;
	tap_ok(tui_table_set_pivot(t, "w.bits:scheme:test_acc", &cause) == 0 &&
		       tui_table_pivoted(t),
	       "pivot w.bits:scheme:test_acc");
	free(cause);
	cause = NULL;
	check_headers(t, "w.bits scheme=apot scheme=uniform", "pivot");
	tap_eq_int(tui_table_frozen(t), 1, "pivot: the row labels are frozen");
	check_column(t, 0, "2|4|16", "pivot row labels, numerically");
	check_column(t, 1, "0.7500 \u00b1 0.0707 (2)|0.8700 \u00b1 0.0141 (2)|0.8900",
		     "pivot apot");
	check_column(t, 2, "0.7500|-|-", "pivot uniform");
	check_ids(t, "4,2,7", "pivot rows stand for their runs");
	const int64_t *ids;
	tap_ok(tui_table_row_runs(t, 0, &ids) == 3 && ids[0] == 4 && ids[1] == 5 && ids[2] == 8,
	       "pivot row w.bits=2: runs 4, 5, 8");
	tap_eq_int(tui_table_row_status(t, 0), TUI_TABLE_NONE, "pivot rows have no status");
	tap_ok(tui_table_col_numeric(t, 0) && tui_table_col_numeric(t, 1),
	       "pivot columns numeric");

	tui_table_sort(t, 1, 1);
	check_column(t, 0, "16|4|2", "pivot sorted by scheme=apot descending");
	tui_table_sort(t, 2, 0);
	check_column(t, 0, "2|4|16", "pivot sorted by scheme=uniform: missing last");
	tui_table_sort(t, -1, 0);
	tui_table_set_search(t, "0.89");
	check_column(t, 0, "16", "pivot search");
	tui_table_set_search(t, NULL);

	tap_eq_int(tui_table_set_pivot(t, "w.bits:scheme", &cause), -1, "malformed pivot refused");
	tap_eq_str(cause,
		   "bad pivot 'w.bits:scheme': expected ROWS:COLS:METRIC, e.g. "
		   "w.bits:a.bits:test_acc",
		   "malformed pivot: message");
	free(cause);
	cause = NULL;
	tap_eq_int(tui_table_set_pivot(t, "w.bitz:scheme:test_acc", &cause), -1,
		   "unknown pivot key refused");
	tap_eq_str(cause, "unknown key 'w.bitz' for the pivot's rows (did you mean 'w.bits'?)",
		   "unknown pivot key: message");
	free(cause);
	cause = NULL;
	check_headers(t, "w.bits scheme=apot scheme=uniform", "a refused pivot keeps the pivot");

	/* a filter whose runs lack the key: no rows and a reason, until the filter goes */
	filter(t, "job=train");
	tap_eq_int(tui_table_rows(t), 0, "pivot without its key: no rows");
	tap_eq_str(tui_table_pivot_error(t) ? tui_table_pivot_error(t) : "(none)",
		   "no run has key 'w.bits' (the pivot's rows)", "pivot without its key: why");
	filter(t, "");
	tap_ok(tui_table_rows(t) == 3 && !tui_table_pivot_error(t), "pivot back with its runs");

	/* grouped, the pivot averages the groups' means: one value per cell */
	tui_table_set_grouped(t, db, 1, &cause);
	check_column(t, 1, "0.7500|0.8700|0.8900", "grouped pivot: group means");
	tap_ok(tui_table_row_runs(t, 1, &ids) == 2 && ids[0] == 2 && ids[1] == 3,
	       "grouped pivot row w.bits=4: runs 2, 3");
	tui_table_set_grouped(t, db, 0, &cause);
	free(cause);
	cause = NULL;

	tap_ok(tui_table_set_pivot(t, NULL, &cause) == 0 && !tui_table_pivoted(t), "pivot off");
	free(cause);
	check_ids(t, "1,2,3,4,5,6,7,8,9", "runs mode again");
	tap_eq_int(tui_table_frozen(t), 2, "runs mode: two frozen columns");
}

static void
test_tags(struct tui_table *t)
{
	char *cause = NULL;
	tui_table_clear_tags(t);
	tui_table_set_cursor(t, row_of(t, 3));
	tap_eq_int(tui_table_toggle_tag(t), 1, "tag run 3");
	tui_table_set_cursor(t, row_of(t, 6));
	tap_eq_int(tui_table_toggle_tag(t), 1, "tag run 6");
	check_tags(t, "3,6", "two tags");
	check_tagged_rows(t, "3,6", "two tags");
	tui_table_sort(t, col_of(t, "test_acc"), 1);
	check_tagged_rows(t, "3,6", "after a sort");
	load(t, "reload with tags");
	check_tagged_rows(t, "3,6", "after a reload");
	filter(t, "scheme=apot");
	check_tagged_rows(t, "3", "filtered");
	check_tags(t, "3,6", "a filter keeps the hidden run's tag");
	tui_table_set_search(t, "0.88");
	check_tagged_rows(t, "", "searched");
	tui_table_set_search(t, "");
	filter(t, "");
	check_tagged_rows(t, "3,6", "filter cleared");
	tui_table_sort(t, -1, 0);

	/* grouped: a group is tagged when all its runs are; toggling tags them all */
	tui_table_set_grouped(t, db, 1, &cause);
	check_tagged_rows(t, "6", "grouped: the group of 2 and 3 is partly tagged");
	tui_table_set_cursor(t, row_of(t, 2));
	tap_eq_int(tui_table_toggle_tag(t), 1, "toggle a partly tagged group: tags it");
	check_tags(t, "2,3,6", "group tagged");
	tap_eq_int(tui_table_toggle_tag(t), 0, "toggle again: untags the group");
	check_tags(t, "6", "group untagged");
	tui_table_set_grouped(t, db, 0, &cause);
	free(cause);

	/* a pivot row tags its runs */
	tui_table_set_pivot(t, "w.bits:scheme:test_acc", NULL);
	tui_table_set_cursor(t, 0);
	tap_eq_int(tui_table_toggle_tag(t), 1, "tag pivot row w.bits=2");
	check_tags(t, "4,5,6,8", "pivot row's runs tagged");
	tui_table_set_pivot(t, NULL, NULL);
	check_tagged_rows(t, "4,5,6,8", "runs mode shows the pivot's tags");
	tap_eq_int(tui_table_ntags(t), 4, "four tags");
	tui_table_clear_tags(t);
	tap_ok(tui_table_ntags(t) == 0 && !tui_table_is_tagged(t, row_of(t, 4)), "tags cleared");
}

static void
test_scroll(struct tui_table *t)
{
	tui_table_home(t);
	tui_table_move(t, 5);
	tui_table_scroll_into_view(t, 4);
	tap_ok(tui_table_cursor(t) == 5 && tui_table_top(t) == 2, "cursor 5 of 4 rows: top 2");
	tui_table_move(t, -4);
	tui_table_scroll_into_view(t, 4);
	tap_ok(tui_table_cursor(t) == 1 && tui_table_top(t) == 1, "cursor 1: top 1");
	tui_table_move(t, 2);
	tui_table_scroll_into_view(t, 4);
	tap_ok(tui_table_cursor(t) == 3 && tui_table_top(t) == 1, "cursor in view: top stays");
	tui_table_end(t);
	tui_table_scroll_into_view(t, 4);
	tap_ok(tui_table_cursor(t) == 8 && tui_table_top(t) == 5, "end: cursor 8, top 5");
	tui_table_page(t, 4, -1);
	tap_ok(tui_table_cursor(t) == 4 && tui_table_top(t) == 1, "page up: cursor 4, top 1");
	tui_table_page(t, 4, 1);
	tap_ok(tui_table_cursor(t) == 8 && tui_table_top(t) == 5, "page down: cursor 8, top 5");
	tui_table_page(t, 4, 1);
	tap_ok(tui_table_cursor(t) == 8 && tui_table_top(t) == 5, "page down at the end: stays");
	tui_table_move(t, -100);
	tap_ok(tui_table_cursor(t) == 0 && tui_table_top(t) == 0, "move past the top: row 0");
	tui_table_move(t, 100);
	tap_eq_int(tui_table_cursor(t), 8, "move past the end: last row");
	tui_table_scroll_into_view(t, 20);
	tap_eq_int(tui_table_top(t), 0, "every row fits: top 0");
	tui_table_home(t);
}

static void
check_layout(const struct tui_table *t, int width, const char *want_cols, int more_left,
	     int more_right, int used)
{
	struct tui_table_layout l;
	char *got = xstrdup("");
	tui_table_layout(t, width, 0, &l);
	for (int k = 0; k < l.ncols; k++) {
		char *m = xasprintf("%s%s%s@%d:%d", got, k ? " " : "",
				    tui_table_header(t, l.col[k]), l.x[k], l.width[k]);
		free(got);
		got = m;
	}
	tap_eq_str(got, want_cols, "layout at width %d (hoffset %d)", width, tui_table_hoffset(t));
	tap_ok(l.more_left == more_left && l.more_right == more_right && l.used == used,
	       "layout at width %d: more left %d, more right %d, %d used", width, more_left,
	       more_right, used);
	if (l.more_left != more_left || l.more_right != more_right || l.used != used)
		tap_diag("got more left %d, more right %d, %d used", l.more_left, l.more_right,
			 l.used);
	free(got);
}

static void
test_layout(struct tui_table *t)
{
	struct tui_table_layout l;
	char buf[128];
	tap_eq_int(tui_table_col_width(t, col_of(t, "model")), TUI_TABLE_MAX_WIDTH,
		   "a long cell caps its column");
	tap_eq_int(tui_table_col_width(t, col_of(t, "status")), 7, "status as wide as running");
	tap_eq_int(tui_table_col_width(t, col_of(t, "id")), 2, "id as wide as its header");
	check_layout(t, 93,
		     "id@0:2 status@3:7 job@11:5 model@17:24 scheme@42:7 w.bits@50:6 clip@57:8 "
		     "seed@66:4 test_acc@71:8 bitops@80:6 time_s@87:6",
		     0, 0, 93);
	check_layout(t, 92,
		     "id@0:2 status@3:7 job@11:5 model@17:24 scheme@42:7 w.bits@50:6 clip@57:8 "
		     "seed@66:4 test_acc@71:8 bitops@80:6",
		     0, 1, 86);
	check_layout(t, 40, "id@0:2 status@3:7 job@11:5", 0, 1, 16);
	check_layout(t, 5, "id@0:2 status@3:2", 0, 1, 5);

	/* frozen columns stay while the others scroll */
	tui_table_hscroll(t, 1, 30);
	check_layout(t, 30, "id@0:2 status@3:7 model@11:19", 1, 1, 30);
	tui_table_layout(t, 30, 0, &l);
	int r9 = row_of(t, 9);
	tap_eq_str(tui_table_cell_fit(t, &l, r9, 2, buf, sizeof buf), "resnet20_fmnist_w4~",
		   "a cut first column, ASCII marker");
	tui_table_layout(t, 30, 1, &l);
	tap_eq_str(tui_table_cell_fit(t, &l, r9, 2, buf, sizeof buf),
		   "resnet20_fmnist_w4\u2026", "a cut first column, UTF-8 marker");
	tap_eq_str(tui_table_cell_fit(t, &l, -1, 2, buf, sizeof buf), "model              ",
		   "header padded to the column");
	tap_eq_str(tui_table_cell_fit(t, &l, 0, 0, buf, sizeof buf), " 1",
		   "numbers right-aligned");
	tap_eq_str(tui_table_cell_fit(t, &l, r9, 1, buf, sizeof buf), "running",
		   "status fits its column");

	tui_table_hscroll(t, 100, 40);
	tap_eq_int(tui_table_hoffset(t), 5, "hscroll stops once the last column shows");
	check_layout(t, 40, "id@0:2 status@3:7 seed@11:4 test_acc@16:8 bitops@25:6 time_s@32:6", 1,
		     0, 38);
	tui_table_hscroll(t, -2, 40);
	tap_eq_int(tui_table_hoffset(t), 3, "hscroll back by two");
	tui_table_hscroll(t, -100, 40);
	tap_eq_int(tui_table_hoffset(t), 0, "hscroll back to the start");
	tui_table_hscroll(t, 3, 93);
	tap_eq_int(tui_table_hoffset(t), 0, "nothing hidden: no horizontal scroll");

	/* the model column cut at its capped width, in both modes */
	tui_table_layout(t, 93, 0, &l);
	tap_eq_str(tui_table_cell_fit(t, &l, r9, 3, buf, sizeof buf), "resnet20_fmnist_w4a4_ca~",
		   "model cut at 24, ASCII");
	tui_table_layout(t, 93, 1, &l);
	tap_eq_str(tui_table_cell_fit(t, &l, r9, 3, buf, sizeof buf),
		   "resnet20_fmnist_w4a4_ca\u2026", "model cut at 24, UTF-8");
	tap_eq_str(tui_table_cell_fit(t, &l, 0, 8, buf, sizeof buf), "  0.9000",
		   "test_acc right-aligned");

	tui_table_fit(buf, sizeof buf, "0.8700 \u00b1 0.0141 (2)", 21, 1, 0);
	tap_eq_str(buf, "  0.8700 ? 0.0141 (2)", "fit: ASCII shows other characters as ?");
	tui_table_fit(buf, sizeof buf, "0.8700 \u00b1 0.0141 (2)", 21, 1, 1);
	tap_eq_str(buf, "  0.8700 \u00b1 0.0141 (2)", "fit: UTF-8 keeps them");
	tui_table_fit(buf, sizeof buf, "running", 2, 0, 1);
	tap_eq_str(buf, "r\u2026", "fit: two characters");
	tap_ok(tui_table_fit(buf, 4, "abcdef", 6, 0, 0) == 3 && !strcmp(buf, "abc"),
	       "fit: a short buffer ends the text early");
	tap_ok(tui_table_fit(buf, sizeof buf, "abc", 0, 0, 1) == 0 && !strcmp(buf, ""),
	       "fit: width 0");
}

/* Run 10 joins after the cursor was put on run 7: the cursor stays on run 7. */
static void
test_cursor_reload(struct tui_table *t)
{
	static const struct fixture_run extra = {
		{"job", "ptq", "model", "run:1", "dataset", "fmnist", "seed", "3", "scheme",
		 "uniform", "w.bits", "8", "clip", "mse"},
		RUN_DONE,
		{"test_acc"},
		{0.5}};
	char *cause = NULL;
	tui_table_sort(t, col_of(t, "test_acc"), 0);
	tui_table_set_cursor(t, row_of(t, 7));
	tap_eq_int(tui_table_cursor(t), 5, "cursor on run 7, row 5");
	if (!tap_ok(add_run(&extra, 10, &cause) == 0, "run 10 added"))
		tap_diag("%s", cause ? cause : "?");
	free(cause);
	load(t, "reload with run 10");
	check_ids(t, "10,5,8,4,3,2,7,1,6,9", "run 10 sorts first");
	tap_eq_int((long)tui_table_row_id(t, tui_table_cursor(t)), 7, "cursor still on run 7");
	tap_eq_int(tui_table_cursor(t), 6, "run 7 is now row 6");
	filter(t, "scheme=uniform");
	check_ids(t, "10,8,6,9", "filter without run 7");
	tap_eq_int(tui_table_cursor(t), 3, "run 7 gone: the cursor stays at its index, clamped");
	filter(t, "");
	tap_eq_int((long)tui_table_row_id(t, tui_table_cursor(t)), 9,
		   "filter cleared: the cursor stays on run 9");
	tap_eq_int(tui_table_cursor(t), 9, "run 9 is row 9");
}

/* ---- timing -------------------------------------------------------------- */

static void
test_timing(void)
{
	enum { NRUNS = 10000, SCREEN_W = 200, SCREEN_H = 60, REDRAWS = 100 };
	struct db *big = NULL;
	struct tui_table *t = tui_table_new();
	struct tui_table_layout l;
	char *path = xasprintf("%s/big.db", tap_tmpdir()), *cause = NULL;
	char buf[4 * SCREEN_W + 1];
	int ok = db_open(&big, path, DB_OPEN_CREATE, &cause) == 0 &&
		 testdata_runs_db(big, NRUNS, &cause) == 0;
	if (!tap_ok(ok, "%d runs written", NRUNS)) {
		tap_diag("%s", cause ? cause : "?");
		goto out;
	}
	double t0 = util_now();
	ok = tui_table_load(t, big, &cause) == 0;
	double load_s = util_now() - t0;
	tap_ok(ok && tui_table_rows(t) == NRUNS, "%d runs loaded", NRUNS);
	tap_diag("load of %d runs: %.1f ms", NRUNS, load_s * 1e3);
	tap_ok(load_s < 2.0, "load under 2 s (%.3f s)", load_s);

	/* each redraw: a layout and every visible cell fitted, one page further down */
	size_t bytes = 0;
	t0 = util_now();
	for (int k = 0; k < REDRAWS; k++) {
		tui_table_page(t, SCREEN_H - 1, 1);
		tui_table_scroll_into_view(t, SCREEN_H - 1);
		tui_table_layout(t, SCREEN_W, 1, &l);
		for (int c = 0; c < l.ncols; c++)
			bytes += strlen(tui_table_cell_fit(t, &l, -1, c, buf, sizeof buf));
		for (int r = tui_table_top(t); r < tui_table_top(t) + SCREEN_H - 1; r++)
			for (int c = 0; c < l.ncols; c++)
				bytes += strlen(tui_table_cell_fit(t, &l, r, c, buf, sizeof buf));
	}
	double draw_s = util_now() - t0;
	tap_diag("%d layouts and %dx%d cell walks: %.2f ms", REDRAWS, SCREEN_W, SCREEN_H,
		 draw_s * 1e3);
	tap_ok(bytes >= (size_t)REDRAWS * SCREEN_H * 20, "redraws produced text (%zu bytes)",
	       bytes);
	tap_ok(draw_s < 0.2, "%d redraws under 200 ms (%.4f s)", REDRAWS, draw_s);

	t0 = util_now();
	tui_table_sort(t, 4, 1);
	tui_table_set_search(t, "uniform");
	double sort_s = util_now() - t0;
	tap_diag("sort and search of %d runs: %.1f ms", NRUNS, sort_s * 1e3);
	tap_ok(tui_table_rows(t) == NRUNS / 4, "search uniform: a quarter of the runs (%d)",
	       tui_table_rows(t));
	tap_ok(sort_s < 1.0, "sort and search under 1 s (%.3f s)", sort_s);
out:
	tui_table_free(t);
	db_close(big);
	free(cause);
	free(path);
}

int
main(void)
{
	struct tui_table *t = tui_table_new();
	tap_ok(tui_table_rows(t) == 0 && tui_table_cols(t) == 0 && tui_table_cursor(t) == 0,
	       "a new table is empty");
	make_db();
	if (load(t, "first load")) {
		test_columns(t);
		test_sort(t);
		test_search(t);
		test_filter(t);
		test_group(t);
		test_pivot(t);
		test_tags(t);
		test_scroll(t);
		test_layout(t);
		test_cursor_reload(t);
	}
	tui_table_free(t);
	tui_table_free(NULL);
	db_close(db);
	test_timing();
	return tap_done();
}
