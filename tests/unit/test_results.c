/*
 * test_results: the filter language (db/query), result tables (db/results)
 * and the export writers (db/export) on a small database built through
 * db/runs.h in a temporary directory:
 *
 *   id job   model lr  seed scheme  w.bits a.bits clip      status  test_acc
 *    1 train mlp   0.1 1    -       -      -      -         done    0.9
 *    2 ptq   run:1 -   1    apot    4      4      mse       done    0.88
 *    3 ptq   run:1 -   2    apot    4      4      mse       done    0.86
 *    4 ptq   run:1 -   1    apot    2      4      mse       done    0.8
 *    5 ptq   run:1 -   2    apot    2      4      mse       done    0.7
 *    6 ptq   run:1 -   1    uniform 4      8      pct:99.9  failed  -
 *    7 ptq   run:1 -   1    apot    16     4      mse       done    0.89
 *
 * Sweep "bits" lists runs 2-5, sweep "other" run 6. The writers are checked
 * byte for byte on tables built by hand.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db/db.h"
#include "db/export.h"
#include "db/query.h"
#include "db/results.h"
#include "db/runs.h"
#include "engine/util.h"
#include "experiments/config.h"
#include "tests/unit/tap.h"

static struct db *db;

/* One run of the fixture database: its params (NULL-terminated pairs), status and results. */
struct fixture_run {
	const char *params[16];
	enum run_status status;
	const char *results[8];
	double values[8];
};

static const struct fixture_run fixture_runs[] = {
	{{"job", "train", "model", "mlp", "lr", ".1", "seed", "1", "epochs", "10"},
	 RUN_DONE,
	 {"test_acc", "test_loss", "bitops", "time_s", "epochs"},
	 {0.9, 0.3, 104857600, 12.5, 10}},
	{{"job", "ptq", "model", "run:1", "seed", "1", "scheme", "apot", "w.bits", "4", "a.bits",
	  "4", "clip", "mse"},
	 RUN_DONE,
	 {"test_acc", "test_loss", "float_test_acc", "bitops", "time_s", "quant_time_s"},
	 {0.88, 0.35, 0.9, 1638400, 2.25, 1.5}},
	{{"job", "ptq", "model", "run:1", "seed", "2", "scheme", "apot", "w.bits", "4", "a.bits",
	  "4", "clip", "mse"},
	 RUN_DONE,
	 {"test_acc", "test_loss", "float_test_acc", "bitops", "time_s", "quant_time_s"},
	 {0.86, 0.37, 0.9, 1638400, 2.75, 1.5}},
	{{"job", "ptq", "model", "run:1", "seed", "1", "scheme", "apot", "w.bits", "2", "a.bits",
	  "4", "clip", "mse"},
	 RUN_DONE,
	 {"test_acc", "test_loss", "float_test_acc", "bitops", "time_s", "quant_time_s"},
	 {0.8, 0.5, 0.9, 819200, 2, 1.5}},
	{{"job", "ptq", "model", "run:1", "seed", "2", "scheme", "apot", "w.bits", "2", "a.bits",
	  "4", "clip", "mse"},
	 RUN_DONE,
	 {"test_acc", "test_loss", "float_test_acc", "bitops", "time_s", "quant_time_s"},
	 {0.7, 0.6, 0.9, 819200, 3, 1.5}},
	{{"job", "ptq", "model", "run:1", "seed", "1", "scheme", "uniform", "w.bits", "4", "a.bits",
	  "8", "clip", "pct:99.9"},
	 RUN_FAILED,
	 {NULL},
	 {0}},
	{{"job", "ptq", "model", "run:1", "seed", "1", "scheme", "apot", "w.bits", "16", "a.bits",
	  "4", "clip", "mse"},
	 RUN_DONE,
	 {"test_acc"},
	 {0.89}},
};
#define NFIXTURE ((int)(sizeof fixture_runs / sizeof fixture_runs[0]))

/* Creates run i+1 of the fixture: params in canonical text, status, results. */
static int
add_run(int i, char **cause)
{
	const struct fixture_run *f = &fixture_runs[i];
	struct run_param params[8];
	char *canon[8] = {NULL};
	char key[32];
	int np = 0, ret = -1, nr = 0;
	int64_t id;
	for (; f->params[2 * np]; np++) {
		if (config_canonical(f->params[2 * np], f->params[2 * np + 1], &canon[np], cause) <
		    0)
			goto out;
		params[np].key = f->params[2 * np];
		params[np].value = canon[np];
	}
	snprintf(key, sizeof key, "%016d", i + 1);
	if (runs_create(db, key, "{}", params, np, i == 0 ? 0 : 1, &id, cause) < 0)
		goto out;
	if (f->status == RUN_FAILED) {
		ret = runs_set_status(db, id, RUN_FAILED, "test", cause);
		goto out;
	}
	if (runs_set_status(db, id, RUN_RUNNING, NULL, cause) < 0)
		goto out;
	for (; nr < 8 && f->results[nr]; nr++)
		;
	if (runs_set_results(db, id, f->results, f->values, nr, cause) < 0 ||
	    runs_set_status(db, id, f->status, NULL, cause) < 0)
		goto out;
	ret = 0;
out:
	for (int k = 0; k < np; k++)
		free(canon[k]);
	return ret;
}

static void
make_db(void)
{
	char *path = xasprintf("%s/results.db", tap_tmpdir());
	char *cause = NULL;
	int ok = db_open(&db, path, DB_OPEN_CREATE, &cause) == 0;
	for (int i = 0; ok && i < NFIXTURE; i++)
		ok = add_run(i, &cause) == 0;
	ok = ok && runs_set_layer_stat(db, 2, "01_fc", "sqnr_w", 20.5, &cause) == 0;
	ok = ok && db_exec(db,
			   "INSERT INTO sweeps (id, name, spec) VALUES (1, 'bits', 'w.bits=2,4'), "
			   "(2, 'other', 'scheme=uniform');"
			   "INSERT INTO sweep_runs (sweep_id, run_id, position) VALUES "
			   "(1, 2, 0), (1, 3, 1), (1, 4, 2), (1, 5, 3), (2, 6, 0);",
			   &cause) == 0;
	if (!tap_ok(ok, "fixture database built through db/runs.h"))
		tap_diag("%s", cause ? cause : "?");
	free(cause);
	free(path);
}

/* The ids matching the filter terms (space-separated) as "1,2,3", or "error: MESSAGE". */
static char *
ids_of(const char *filter, struct db *with)
{
	char *copy = xstrdup(filter), *argv[16], *cause = NULL, *save = NULL;
	int argc = 0;
	for (char *t = strtok_r(copy, " ", &save); t && argc < 16; t = strtok_r(NULL, " ", &save))
		argv[argc++] = t;
	struct query *q = NULL;
	int64_t *ids = NULL;
	int n = 0;
	char *s;
	if (query_parse(&q, with, argc, argv, &cause) < 0 ||
	    query_run_ids(db, q, &ids, &n, &cause) < 0) {
		s = xasprintf("error: %s", cause);
	} else {
		s = xstrdup("");
		for (int i = 0; i < n; i++) {
			char *t = xasprintf("%s%s%lld", s, i ? "," : "", (long long)ids[i]);
			free(s);
			s = t;
		}
	}
	free(ids);
	free(cause);
	query_free(q);
	free(copy);
	return s;
}

static void
check_ids(const char *filter, const char *want)
{
	char *got = ids_of(filter, db);
	tap_eq_str(got, want, "filter '%s'", filter);
	free(got);
}

static void
check_error(const char *filter, const char *want)
{
	char *got = ids_of(filter, db);
	char *w = xasprintf("error: %s", want);
	tap_eq_str(got, w, "filter '%s' is refused", filter);
	free(w);
	free(got);
}

static void
test_query(void)
{
	int64_t *ids = NULL;
	int n = -1;
	char *cause = NULL;
	tap_ok(query_run_ids(db, NULL, &ids, &n, &cause) == 0 && n == NFIXTURE && ids[0] == 1 &&
		       ids[n - 1] == NFIXTURE,
	       "no query: every run, ascending");
	free(ids);

	check_ids("", "1,2,3,4,5,6,7");
	check_ids("status=done", "1,2,3,4,5,7");
	check_ids("status!=done", "6");
	check_ids("status=done,failed", "1,2,3,4,5,6,7");
	/* numbers compare as numbers: 16 > 4 although "16" < "4" as text */
	check_ids("w.bits=4", "2,3,6");
	check_ids("w.bits<4", "4,5");
	check_ids("w.bits>=4", "2,3,6,7");
	check_ids("w.bits>4", "7");
	check_ids("w.bits<=2", "4,5");
	check_ids("w.bits=2,16", "4,5,7");
	check_ids("w.bits=3..16", "2,3,6,7");
	check_ids("w.bits=2,8..32", "4,5,7");
	/* a run without the key matches only != */
	check_ids("w.bits!=4", "1,4,5,7");
	check_ids("w.bits!=2,4", "1,7");
	check_ids("lr=.1", "1");
	check_ids("lr=0.10", "1");
	check_ids("lr>0.01", "1");
	check_ids("epochs=10", "1");
	check_ids("test_acc>0.85", "1,2,3,7");
	check_ids("test_acc<=0.8", "4,5");
	check_ids("test_acc=0.88", "2");
	check_ids("test_acc!=0.88", "1,3,4,5,6,7");
	check_ids("quant_time_s=1.5", "2,3,4,5");
	check_ids("id=3..5", "3,4,5");
	check_ids("id=1,run:6", "1,6");
	check_ids("id>5", "6,7");
	check_ids("id!=1..5", "6,7");
	check_ids("parent=1", "2,3,4,5,6,7");
	check_ids("parent!=1", "1");
	check_ids("parent=run:2", "");
	check_ids("sweep=bits", "2,3,4,5");
	check_ids("sweep=2", "6");
	check_ids("sweep!=bits", "1,6,7");
	check_ids("sweep=bits,other", "2,3,4,5,6");
	/* the same name again (an edited sweep file): the name means the latest */
	char *why = NULL;
	db_exec(db,
		"INSERT INTO sweeps (id, name, spec) VALUES (3, 'bits', 'w.bits=2');"
		"INSERT INTO sweep_runs (sweep_id, run_id, position) VALUES (3, 2, 0), (3, 3, 1);",
		&why);
	check_ids("sweep=bits", "2,3");
	check_ids("sweep=1", "2,3,4,5");
	db_exec(db, "DELETE FROM sweeps WHERE id = 3", &why);
	check_ids("sweep=bits", "2,3,4,5");
	free(why);
	check_ids("scheme=apot w.bits=4", "2,3");
	check_ids("clip=pct:99.9", "6");
	check_ids("job=ptq a.bits=8", "6");
	check_ids("job=ptq test_acc>0.85 seed=1", "2,7");
	check_ids("nesterov=yes", "");

	check_error("done", "expected a filter key=value (or key!=value, key<value, key<=value, "
			    "key>value, key>=value), got 'done'");
	check_error("=4", "expected a filter key=value (or key!=value, key<value, key<=value, "
			  "key>value, key>=value), got '=4'");
	check_error("test_ac>0.9", "unknown key 'test_ac' in filter 'test_ac>0.9' (did you mean "
				   "'test_acc'?)");
	check_error("epoch=1", "unknown key 'epoch' in filter 'epoch=1' (did you mean 'epochs'?)");
	check_error("statsu=done", "unknown key 'statsu' in filter 'statsu=done' (did you mean "
				   "'status'?)");
	check_error("tst_loss<1", "unknown key 'tst_loss' in filter 'tst_loss<1' (did you mean "
				  "'test_loss'?)");
	check_error("status=dne",
		    "bad value 'dne' for status in filter 'status=dne': expected "
		    "queued, running, done, failed, diverged or cancelled (did you mean "
		    "'done'?)");
	check_error("optim=adm", "bad value 'adm' for optim in filter 'optim=adm': expected sgd, "
				 "adam, adamax or shift-adamax (did you mean 'adam'?)");
	check_error("w.bits=0", "bad value '0' for w.bits in filter 'w.bits=0': expected an "
				"integer in 1..32");
	check_error("w.bits=4,0", "bad value '0' for w.bits in filter 'w.bits=4,0': expected an "
				  "integer in 1..32");
	check_error("scheme<apot", "cannot compare scheme with '<' in filter 'scheme<apot': its "
				   "values are not numbers (use = or !=)");
	check_error("status>=done", "cannot compare status with '>=' in filter 'status>=done': "
				    "its values are not numbers (use = or !=)");
	check_error("test_acc>high", "bad value 'high' for test_acc in filter 'test_acc>high': "
				     "expected a number");
	check_error("test_acc=x", "bad value 'x' for test_acc in filter 'test_acc=x': expected a "
				  "number or a range LO..HI");
	check_error("id=3..x", "bad value '3..x' for id in filter 'id=3..x': expected a range "
			       "LO..HI of two numbers");
	check_error("id=seven", "bad value 'seven' for id in filter 'id=seven': expected a run "
				"number (7 or run:7) or a range LO..HI");
	check_error("w.bits<2,4", "a list of values needs = or != in filter 'w.bits<2,4'");
	check_error("lr=", "empty value in filter 'lr='");
	check_error("w.bits=2,,4", "empty value in filter 'w.bits=2,,4'");
	check_error("sweep=bitz", "no sweep 'bitz' in filter 'sweep=bitz' (did you mean 'bits'?)");

	/* without a database, result names are not checked (nothing to check against) */
	char term[] = "test_ac>0.9";
	char *argv[] = {term};
	struct query *q = NULL;
	tap_ok(query_parse(&q, NULL, 1, argv, &cause) == 0 && q, "no database: any result name");
	query_free(q);
	query_free(NULL);

	tap_ok(query_is_term("a=1") && query_is_term("a!=1") && query_is_term("a<=1") &&
		       query_is_term("a>1") && query_is_term("model=run:1"),
	       "query_is_term: terms");
	tap_ok(!query_is_term("done") && !query_is_term("=1") && !query_is_term("a!1") &&
		       !query_is_term(""),
	       "query_is_term: not terms");
	free(cause);
}

/* The column names of r as "a b c". */
static char *
col_names(const struct results *r)
{
	char *s = xstrdup("");
	for (int c = 0; c < r->ncols; c++) {
		char *t = xasprintf("%s%s%s", s, c ? " " : "", r->cols[c].name);
		free(s);
		s = t;
	}
	return s;
}

/* The first id of each row as "4,5,2". */
static char *
row_order(const struct results *r)
{
	char *s = xstrdup("");
	for (int i = 0; i < r->nrows; i++) {
		char *t = xasprintf("%s%s%lld", s, i ? "," : "", (long long)r->row_ids[i][0]);
		free(s);
		s = t;
	}
	return s;
}

/* Builds the table of the filter with o; NULL (and a failed check) on error. */
static struct results *
build(const char *filter, const struct results_opts *o, char **cause)
{
	char *copy = xstrdup(filter), *argv[8], *save = NULL;
	int argc = 0;
	for (char *t = strtok_r(copy, " ", &save); t && argc < 8; t = strtok_r(NULL, " ", &save))
		argv[argc++] = t;
	struct query *q = NULL;
	struct results *r = NULL;
	if (query_parse(&q, db, argc, argv, cause) == 0)
		results_build(db, q, o, &r, cause);
	query_free(q);
	free(copy);
	return r;
}

static void
check_table(const char *what, const struct results *r, const char *cols, const char *rows)
{
	char *c = r ? col_names(r) : NULL, *o = r ? row_order(r) : NULL;
	tap_eq_str(c, cols, "%s: columns", what);
	tap_eq_str(o, rows, "%s: row order", what);
	free(c);
	free(o);
}

static void
test_results(void)
{
	char *cause = NULL;
	struct results_opts o = {0};
	struct results *r = build("job=ptq", &o, &cause);
	check_table("ptq runs", r,
		    "id status scheme w.bits a.bits clip seed test_acc test_loss "
		    "float_test_acc bitops time_s quant_time_s",
		    "4,5,2,3,7,6");
	if (r) {
		int wb = results_col_find(r, "w.bits"), sc = results_col_find(r, "scheme");
		int acc = results_col_find(r, "test_acc");
		tap_ok(r->cols[wb].numeric && r->cols[wb].varies && !r->cols[sc].numeric &&
			       r->cols[acc].kind == RESULTS_COL_RESULT && !r->grouped,
		       "ptq runs: column kinds and flags");
		tap_eq_str(results_cell(r, 4, wb)->text, "16", "ptq runs: param text");
		tap_ok(results_cell(r, 4, wb)->mean == 16 && results_cell(r, 0, acc)->mean == 0.8 &&
			       results_cell(r, 0, acc)->std == 0 && results_cell(r, 0, acc)->n == 1,
		       "ptq runs: param number, result value, std 0 and n 1 for one run");
		tap_ok(isnan(results_cell(r, 5, acc)->mean) && results_cell(r, 5, acc)->n == 0,
		       "ptq runs: a missing result is NaN with n 0");
		tap_eq_str(results_cell(r, 5, results_col_find(r, "status"))->text, "failed",
			   "ptq runs: status");
		tap_ok(results_col_find(r, "nope") == -1, "results_col_find: unknown name");
	}
	results_free(r);

	/* every run: the train-only key epochs is a param column, its result is not */
	r = build("", &o, &cause);
	check_table("all runs", r,
		    "id status job model epochs lr scheme w.bits a.bits clip seed "
		    "test_acc test_loss float_test_acc bitops time_s quant_time_s",
		    "4,5,2,3,7,6,1");
	results_free(r);

	o.all_params = 1;
	r = build("job=ptq", &o, &cause);
	check_table("all_params", r,
		    "id status job model scheme w.bits a.bits clip seed test_acc "
		    "test_loss float_test_acc bitops time_s quant_time_s",
		    "4,5,2,3,7,6");
	if (r)
		tap_ok(!r->cols[results_col_find(r, "job")].varies,
		       "all_params: job does not vary");
	results_free(r);

	const char *const names[] = {"time_s", "test_acc", "calib_n"};
	struct results_opts on = {.result_names = names, .nresults = 3};
	r = build("scheme=apot w.bits=4", &on, &cause);
	check_table("result_names", r, "id status seed time_s test_acc calib_n", "2,3");
	results_free(r);

	/* grouping over the seed */
	const char *const seed[] = {"seed"};
	struct results_opts og = {.group_over = seed, .ngroup_over = 1};
	r = build("job=ptq", &og, &cause);
	check_table("grouped", r,
		    "id status scheme w.bits a.bits clip test_acc test_loss "
		    "float_test_acc bitops time_s quant_time_s",
		    "4,2,7,6");
	if (r && r->nrows == 4) {
		int acc = results_col_find(r, "test_acc"), t = results_col_find(r, "time_s");
		const struct results_cell *c = results_cell(r, 0, acc);
		tap_ok(r->grouped && r->row_nids[0] == 2 && r->row_ids[0][0] == 4 &&
			       r->row_ids[0][1] == 5 && r->row_nids[2] == 1,
		       "grouped: rows hold their runs");
		tap_near(c->mean, 0.75, 1e-12, "grouped: mean of 0.8 and 0.7");
		tap_near(c->std, sqrt(0.005), 1e-12, "grouped: sample std (n-1) of 0.8 and 0.7");
		tap_eq_int(c->n, 2, "grouped: n");
		c = results_cell(r, 1, t);
		tap_near(c->mean, 2.5, 1e-12, "grouped: mean time of 2.25 and 2.75");
		tap_near(c->std, sqrt(0.125), 1e-12, "grouped: std time");
		c = results_cell(r, 2, acc);
		tap_ok(c->n == 1 && c->mean == 0.89 && c->std == 0, "grouped: a group of one run");
		c = results_cell(r, 3, acc);
		tap_ok(c->n == 0 && isnan(c->mean) && isnan(c->std), "grouped: no value");
	}
	results_free(r);

	/* one group of every ptq run: mixed status, n counts the runs with a value */
	const char *const most[] = {"seed", "scheme", "w.bits", "a.bits", "clip"};
	struct results_opts om = {.group_over = most, .ngroup_over = 5};
	r = build("job=ptq", &om, &cause);
	if (tap_ok(r && r->nrows == 1, "grouped over five keys: one row")) {
		const struct results_cell *c = results_cell(r, 0, results_col_find(r, "test_acc"));
		tap_eq_str(results_cell(r, 0, 1)->text, "mixed", "grouped: mixed status");
		tap_eq_int(c->n, 5, "grouped: n counts runs with a value");
		tap_near(c->mean, (0.88 + 0.86 + 0.8 + 0.7 + 0.89) / 5, 1e-12,
			 "grouped: mean of five");
		tap_eq_int(r->row_nids[0], 6, "grouped: six runs");
	}
	results_free(r);

	/* sorting */
	struct results_opts os = {.sort = "test_acc", .descending = 1};
	r = build("job=ptq", &os, &cause);
	check_table("sort -test_acc", r,
		    "id status scheme w.bits a.bits clip seed test_acc "
		    "test_loss float_test_acc bitops time_s quant_time_s",
		    "7,2,3,4,5,6");
	results_free(r);
	os.descending = 0;
	r = build("job=ptq", &os, &cause);
	check_table("sort test_acc", r,
		    "id status scheme w.bits a.bits clip seed test_acc "
		    "test_loss float_test_acc bitops time_s quant_time_s",
		    "5,4,3,2,7,6");
	results_free(r);
	os.sort = "w.bits";
	r = build("job=ptq", &os, &cause);
	tap_ok(r != NULL, "sort by w.bits");
	if (r) {
		char *rows = row_order(r);
		tap_eq_str(rows, "4,5,2,3,6,7",
			   "sort w.bits: numerically, ties in the default order");
		free(rows);
	}
	results_free(r);
	os.sort = "model"; /* a key that does not vary: not a column, still a sort key */
	r = build("job=ptq", &os, &cause);
	tap_ok(r != NULL, "sort by a constant key");
	results_free(r);
	os.sort = "test_ac";
	r = build("job=ptq", &os, &cause);
	tap_ok(r == NULL, "unknown sort column refused");
	tap_eq_str(cause, "unknown sort column 'test_ac' (did you mean 'test_acc'?)",
		   "unknown sort column: message");
	free(cause);
	cause = NULL;

	/* empty selection */
	r = build("id>100", NULL, &cause);
	tap_ok(r && r->nrows == 0 && r->ncols == 2, "no runs: id and status columns, no rows");
	results_free(r);
	results_free(NULL);

	char **keys = NULL;
	int n = 0;
	tap_ok(results_group_parse("all-but-seed", &keys, &n, &cause) == 0 && n == 1 &&
		       strcmp(keys[0], "seed") == 0,
	       "group all-but-seed is seed");
	results_group_free(keys, n);
	tap_ok(results_group_parse("seed,lr", &keys, &n, &cause) == 0 && n == 2 &&
		       strcmp(keys[1], "lr") == 0,
	       "group seed,lr");
	results_group_free(keys, n);
	tap_ok(results_group_parse("sed", &keys, &n, &cause) < 0, "group: unknown key refused");
	tap_eq_str(cause, "unknown key 'sed' in --group 'sed' (did you mean 'seed'?)",
		   "group: unknown key message");
	free(cause);
	tap_ok(results_metric_better("float_test_acc") == 1 &&
		       results_metric_better("test_loss") == -1 &&
		       results_metric_better("bitops") == -1 &&
		       results_metric_better("params") == 0,
	       "which way a metric is better");
	tap_ok(results_metric_help("test_acc") && !results_metric_help("nope"),
	       "metric definitions");
}

/* A hand-built table (export tests): columns and cells given in order. */
static struct results *
hand_table(int nrows, int ncols, const char *const *names, const enum results_col_kind *kinds,
	   const int *numeric)
{
	struct results *r = xcalloc(1, sizeof *r);
	r->nrows = nrows;
	r->ncols = ncols;
	r->cols = xcalloc((size_t)ncols, sizeof *r->cols);
	r->cells = xcalloc((size_t)nrows * (size_t)ncols, sizeof *r->cells);
	r->row_ids = xcalloc((size_t)nrows, sizeof *r->row_ids);
	r->row_nids = xcalloc((size_t)nrows, sizeof *r->row_nids);
	for (int c = 0; c < ncols; c++) {
		r->cols[c].name = xstrdup(names[c]);
		r->cols[c].kind = kinds[c];
		r->cols[c].numeric = numeric[c];
		r->cols[c].varies = 1;
	}
	return r;
}

static void
hand_text(struct results *r, int row, int col, const char *text)
{
	struct results_cell *c = &r->cells[(size_t)row * (size_t)r->ncols + (size_t)col];
	c->text = text ? xstrdup(text) : NULL;
	c->mean = text ? strtod(text, NULL) : NAN;
	c->n = text != NULL;
}

static void
hand_value(struct results *r, int row, int col, double mean, double std, int n)
{
	struct results_cell *c = &r->cells[(size_t)row * (size_t)r->ncols + (size_t)col];
	c->mean = mean;
	c->std = std;
	c->n = n;
}

/* What writer f puts out for r (or for p when not NULL). */
static char *
written(enum export_format f, const struct results *r, const struct export_pivot *p)
{
	char *buf = NULL, *cause = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	int rc = p ? export_pivot_write(m, f, p, &cause) : export_table(m, f, r, &cause);
	fclose(m);
	if (rc < 0) {
		free(buf);
		buf = xasprintf("error: %s", cause);
	}
	free(cause);
	return buf;
}

static void
check_written(const char *what, enum export_format f, const struct results *r,
	      const struct export_pivot *p, const char *want)
{
	char *got = written(f, r, p);
	if (!tap_eq_str(got, want, "%s", what))
		tap_diag("got:\n%s", got);
	free(got);
}

static void
test_export_table(void)
{
	static const char *const names[] = {"id",     "status",   "model",
					    "w.bits", "test_acc", "bitops"};
	static const enum results_col_kind kinds[] = {RESULTS_COL_ID,     RESULTS_COL_STATUS,
						      RESULTS_COL_PARAM,  RESULTS_COL_PARAM,
						      RESULTS_COL_RESULT, RESULTS_COL_RESULT};
	static const int numeric[] = {1, 0, 0, 1, 1, 1};
	struct results *r = hand_table(2, 6, names, kinds, numeric);
	hand_text(r, 0, 0, "1");
	hand_text(r, 0, 1, "done");
	hand_text(r, 0, 2, "a,b\"c|d");
	hand_text(r, 0, 3, "2");
	hand_value(r, 0, 4, 0.75, 0, 1);
	hand_value(r, 0, 5, 819200, 0, 1);
	hand_text(r, 1, 0, "2");
	hand_text(r, 1, 1, "failed");
	hand_text(r, 1, 2, "x_y&z%$#{}~^\\");
	hand_text(r, 1, 3, "4");
	hand_value(r, 1, 4, NAN, NAN, 0);
	hand_value(r, 1, 5, 1638400, 0, 1);
	for (int i = 0; i < 2; i++) {
		r->row_nids[i] = 1;
		r->row_ids[i] = xcalloc(1, sizeof **r->row_ids);
		r->row_ids[i][0] = i + 1;
	}

	check_written("csv: RFC 4180 quoting, CRLF, empty missing value", EXPORT_CSV, r, NULL,
		      "id,status,model,w.bits,test_acc,bitops\r\n"
		      "1,done,\"a,b\"\"c|d\",2,0.75,819200\r\n"
		      "2,failed,x_y&z%$#{}~^\\,4,,1638400\r\n");
	check_written("md: pipes escaped, numbers right-aligned, 4 decimals", EXPORT_MD, r, NULL,
		      "| id | status | model | w.bits | test_acc | bitops |\n"
		      "|---:|---|---|---:|---:|---:|\n"
		      "| 1 | done | a,b\"c\\|d | 2 | 0.7500 | 819200 |\n"
		      "| 2 | failed | x_y&z%$#{}~^\\ | 4 |  | 1638400 |\n");
	char *tex = xasprintf("%% test_acc: %s\n%% bitops: %s\n"
			      "\\begin{tabular}{lrrr}\n\\toprule\n"
			      "model & w.bits & test\\_acc & bitops \\\\\n\\midrule\n"
			      "a,b\"c|d & 2 & 0.7500 & \\textbf{819200} \\\\\n"
			      "x\\_y\\&z\\%%\\$\\#\\{\\}\\textasciitilde{}\\textasciicircum{}"
			      "\\textbackslash{} & 4 "
			      "&  & 1638400 \\\\\n"
			      "\\bottomrule\n\\end{tabular}\n",
			      results_metric_help("test_acc"), results_metric_help("bitops"));
	check_written("latex: escaping, booktabs, best in bold, definitions", EXPORT_LATEX, r, NULL,
		      tex);
	free(tex);
	check_written("json: numbers, strings escaped, null", EXPORT_JSON, r, NULL,
		      "[\n"
		      "{\"id\":1,\"status\":\"done\",\"model\":\"a,b\\\"c|d\",\"w.bits\":2,"
		      "\"test_acc\":0.75,\"bitops\":819200},\n"
		      "{\"id\":2,\"status\":\"failed\",\"model\":\"x_y&z%$#{}~^\\\\\",\"w.bits\":4,"
		      "\"test_acc\":null,\"bitops\":1638400}\n"
		      "]\n");

	/* grouped: row 0 holds runs 1 and 3 */
	r->grouped = 1;
	hand_value(r, 0, 4, 0.75, 0.0625, 2);
	hand_value(r, 0, 5, 819200, 0, 2);
	r->row_nids[0] = 2;
	r->row_ids[0] = xrealloc(r->row_ids[0], 2 * sizeof **r->row_ids);
	r->row_ids[0][1] = 3;
	check_written("csv grouped: runs, _std and _n columns", EXPORT_CSV, r, NULL,
		      "id,runs,status,model,w.bits,test_acc,test_acc_std,test_acc_n,bitops,"
		      "bitops_std,bitops_n\r\n"
		      "1,2,done,\"a,b\"\"c|d\",2,0.75,0.0625,2,819200,0,2\r\n"
		      "2,1,failed,x_y&z%$#{}~^\\,4,,,0,1638400,0,1\r\n");
	check_written("md grouped: mean ± std", EXPORT_MD, r, NULL,
		      "| id | runs | status | model | w.bits | test_acc | bitops |\n"
		      "|---:|---:|---|---|---:|---:|---:|\n"
		      "| 1 | 2 | done | a,b\"c\\|d | 2 | 0.7500 \u00b1 0.0625 | 819200 \u00b1 0 |\n"
		      "| 2 | 1 | failed | x_y&z%$#{}~^\\ | 4 |  | 1638400 |\n");
	char *texg = xasprintf(
		"%% test_acc: %s\n%% bitops: %s\n"
		"%% grouped: mean $\\pm$ sample standard deviation over the runs of a row\n"
		"\\begin{tabular}{lrrr}\n\\toprule\n"
		"model & w.bits & test\\_acc & bitops \\\\\n\\midrule\n"
		"a,b\"c|d & 2 & 0.7500 $\\pm$ 0.0625 & \\textbf{819200} $\\pm$ 0 \\\\\n"
		"x\\_y\\&z\\%%\\$\\#\\{\\}\\textasciitilde{}\\textasciicircum{}\\textbackslash{} & "
		"4 "
		"&  & 1638400 \\\\\n"
		"\\bottomrule\n\\end{tabular}\n",
		results_metric_help("test_acc"), results_metric_help("bitops"));
	check_written("latex grouped: mean $\\pm$ std", EXPORT_LATEX, r, NULL, texg);
	free(texg);
	check_written("json grouped: runs and {mean, std, n}", EXPORT_JSON, r, NULL,
		      "[\n"
		      "{\"id\":1,\"runs\":[1,3],\"status\":\"done\",\"model\":\"a,b\\\"c|d\","
		      "\"w.bits\":2,\"test_acc\":{\"mean\":0.75,\"std\":0.0625,\"n\":2},"
		      "\"bitops\":{\"mean\":819200,\"std\":0,\"n\":2}},\n"
		      "{\"id\":2,\"runs\":[2],\"status\":\"failed\",\"model\":\"x_y&z%$#{}~^\\\\\","
		      "\"w.bits\":4,\"test_acc\":{\"mean\":null,\"std\":null,\"n\":0},"
		      "\"bitops\":{\"mean\":1638400,\"std\":0,\"n\":1}}\n"
		      "]\n");
	results_free(r);

	struct results *empty = hand_table(0, 2, names, kinds, numeric);
	check_written("json: no rows", EXPORT_JSON, empty, NULL, "[]\n");
	check_written("csv: no rows, the header", EXPORT_CSV, empty, NULL, "id,status\r\n");
	results_free(empty);
}

static void
test_export_pivot(void)
{
	static const char *const names[] = {"id", "w.bits", "a.bits", "test_acc"};
	static const enum results_col_kind kinds[] = {RESULTS_COL_ID, RESULTS_COL_PARAM,
						      RESULTS_COL_PARAM, RESULTS_COL_RESULT};
	static const int numeric[] = {1, 1, 1, 1};
	/* (w.bits, a.bits, test_acc); the last row has no value and adds no column */
	static const char *const w[] = {"2", "16", "2", "4", "4", "2"};
	static const char *const a[] = {"4", "4", "4", "4", "8", "32"};
	static const double acc[] = {0.5, 0.5, 0.75, 0.875, 0.9, NAN};
	struct results *r = hand_table(6, 4, names, kinds, numeric);
	for (int i = 0; i < 6; i++) {
		char id[8];
		snprintf(id, sizeof id, "%d", i + 1);
		hand_text(r, i, 0, id);
		hand_text(r, i, 1, w[i]);
		hand_text(r, i, 2, a[i]);
		hand_value(r, i, 3, acc[i], 0, isnan(acc[i]) ? 0 : 1);
	}
	struct export_pivot *p = NULL;
	char *cause = NULL, *rows = NULL, *cols = NULL, *metric = NULL;
	tap_ok(export_pivot_parse("w.bits:a.bits:test_acc", &rows, &cols, &metric, &cause) == 0 &&
		       !strcmp(rows, "w.bits") && !strcmp(cols, "a.bits") &&
		       !strcmp(metric, "test_acc"),
	       "pivot spec parsed");
	if (tap_ok(export_pivot_build(&p, r, rows, cols, metric, &cause) == 0, "pivot built")) {
		tap_ok(p->nrows == 3 && p->ncols == 2 && !strcmp(p->row_labels[2], "16") &&
			       p->rows_numeric && !strcmp(p->col_labels[1], "8"),
		       "pivot: labels sorted numerically, empty ones left out");
		tap_ok(p->cells[0].n == 2 && p->cells[0].mean == 0.625 &&
			       fabs(p->cells[0].std - sqrt(0.03125)) < 1e-15 && p->cells[1].n == 0,
		       "pivot: mean, std, empty cell");
		check_written("pivot csv", EXPORT_CSV, NULL, p,
			      "w.bits,a.bits=4,a.bits=4_std,a.bits=4_n,a.bits=8,a.bits=8_std,"
			      "a.bits=8_n\r\n"
			      "2,0.625,0.1767766952966369,2,,,0\r\n"
			      "4,0.875,,1,0.9,,1\r\n"
			      "16,0.5,,1,,,0\r\n");
		check_written("pivot md", EXPORT_MD, NULL, p,
			      "| w.bits | a.bits=4 | a.bits=8 |\n"
			      "|---:|---:|---:|\n"
			      "| 2 | 0.6250 \u00b1 0.1768 |  |\n"
			      "| 4 | 0.8750 | 0.9000 |\n"
			      "| 16 | 0.5000 |  |\n");
		char *tex = xasprintf(
			"%% test_acc: %s\n"
			"%% rows: w.bits; columns: a.bits; cells: mean $\\pm$ sample standard "
			"deviation over the runs of a cell\n"
			"\\begin{tabular}{rrr}\n\\toprule\n"
			"w.bits & a.bits=4 & a.bits=8 \\\\\n\\midrule\n"
			"2 & 0.6250 $\\pm$ 0.1768 &  \\\\\n"
			"4 & 0.8750 & 0.9000 \\\\\n"
			"16 & 0.5000 &  \\\\\n"
			"\\bottomrule\n\\end{tabular}\n",
			results_metric_help("test_acc"));
		check_written("pivot latex", EXPORT_LATEX, NULL, p, tex);
		free(tex);
		check_written(
			"pivot json", EXPORT_JSON, NULL, p,
			"[\n"
			"{\"w.bits\":2,\"a.bits=4\":{\"mean\":0.625,\"std\":0.1767766952966369,"
			"\"n\":2},\"a.bits=8\":null},\n"
			"{\"w.bits\":4,\"a.bits=4\":{\"mean\":0.875,\"std\":null,\"n\":1},"
			"\"a.bits=8\":{\"mean\":0.9,\"std\":null,\"n\":1}},\n"
			"{\"w.bits\":16,\"a.bits=4\":{\"mean\":0.5,\"std\":null,\"n\":1},"
			"\"a.bits=8\":null}\n"
			"]\n");
	}
	export_pivot_free(p);
	p = NULL;
	free(cause);
	cause = NULL;
	tap_ok(export_pivot_build(&p, r, "w.bit", cols, metric, &cause) < 0 && !p,
	       "pivot: unknown rows key refused");
	tap_eq_str(cause, "unknown key 'w.bit' for the pivot's rows (did you mean 'w.bits'?)",
		   "pivot: unknown key message");
	free(cause);
	cause = NULL;
	export_pivot_build(&p, r, rows, "clip", metric, &cause);
	tap_eq_str(cause, "no run has key 'clip' (the pivot's columns)",
		   "pivot: absent key message");
	free(cause);
	cause = NULL;
	export_pivot_build(&p, r, rows, cols, "test_ac", &cause);
	tap_eq_str(cause,
		   "unknown result 'test_ac' for the pivot's metric (did you mean 'test_acc'?)",
		   "pivot: unknown metric message");
	free(cause);
	cause = NULL;
	free(rows);
	free(cols);
	free(metric);
	tap_ok(export_pivot_parse("w.bits:a.bits", &rows, &cols, &metric, &cause) < 0 && !rows,
	       "pivot spec with two parts refused");
	tap_eq_str(cause,
		   "bad pivot 'w.bits:a.bits': expected ROWS:COLS:METRIC, e.g. "
		   "w.bits:a.bits:test_acc",
		   "pivot spec message");
	free(cause);
	results_free(r);
}

static void
test_export_misc(void)
{
	enum export_format f = EXPORT_FORMAT_COUNT;
	char *cause = NULL;
	tap_ok(export_format_parse("latex", &f, &cause) == 0 && f == EXPORT_LATEX, "format latex");
	tap_ok(export_format_parse("markdown", &f, &cause) == 0 && f == EXPORT_MD,
	       "format markdown");
	tap_ok(export_format_parse("cvs", &f, &cause) < 0, "format cvs refused");
	tap_eq_str(cause,
		   "unknown format 'cvs': expected csv, md, latex or json (did you mean "
		   "'csv'?)",
		   "format: nearest");
	free(cause);
	tap_ok(export_format_from_path("a/b.tex", &f) == 0 && f == EXPORT_LATEX &&
		       export_format_from_path("t.json", &f) == 0 && f == EXPORT_JSON &&
		       export_format_from_path("x.d/table", &f) < 0 &&
		       export_format_from_path("t.txt", &f) < 0,
	       "format from file names");
	char buf[64];
	export_number(buf, sizeof buf, "test_acc", 0.91234);
	tap_eq_str(buf, "0.9123", "number: accuracy with 4 decimals");
	export_number(buf, sizeof buf, "bitops", 1.5e9);
	tap_eq_str(buf, "1500000000", "number: large count without decimals");
	export_number(buf, sizeof buf, "time_s", 12.3456);
	tap_eq_str(buf, "12.35", "number: 4 significant digits");
	export_number(buf, sizeof buf, "time_s", NAN);
	tap_eq_str(buf, "", "number: NaN is empty");

	/* a file appears whole under its name, or not at all */
	char *path = xasprintf("%s/out.csv", tap_tmpdir());
	char *tmp = xasprintf("%s.tmp", path);
	FILE *out = NULL;
	cause = NULL;
	if (tap_ok(export_file_open(path, &out, &cause) == 0, "file: open")) {
		fputs("a,b\r\n", out);
		tap_ok(access(tmp, F_OK) == 0 && access(path, F_OK) != 0,
		       "file: written to NAME.tmp first");
		tap_ok(export_file_close(path, out, 1, &cause) == 0, "file: commit");
		tap_ok(access(tmp, F_OK) != 0 && access(path, F_OK) == 0,
		       "file: renamed, no .tmp left");
	}
	remove(path);
	if (export_file_open(path, &out, &cause) == 0) {
		fputs("partial", out);
		export_file_close(path, out, 0, &cause);
	}
	tap_ok(access(tmp, F_OK) != 0 && access(path, F_OK) != 0, "file: abandoned, nothing left");
	char *bad = xasprintf("%s/no/such/dir/x.csv", tap_tmpdir());
	tap_ok(export_file_open(bad, &out, &cause) < 0 && cause && strstr(cause, "x.csv.tmp"),
	       "file: an unwritable place names the file");
	free(bad);
	free(cause);
	free(tmp);
	free(path);
}

int
main(void)
{
	make_db();
	test_query();
	test_results();
	test_export_table();
	test_export_pivot();
	test_export_misc();
	db_close(db);
	return tap_done();
}
