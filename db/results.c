/*
 * results: the runs matching a query as a table of params and results.
 *
 * results_build() reads the database with one query per table (runs, params,
 * results), each restricted to the selected ids through json_each() of one
 * bound JSON array, so the cost does not grow with one statement per run.
 * Everything after that is in memory:
 *   1. per run, its param values (one slot per distinct key) and result
 *      values (one slot per distinct name, NaN when missing or NULL);
 *   2. grouping: runs sorted by their params with the group_over keys left
 *      out; equal neighbours form one row (its runs in ascending id order);
 *   3. columns: id, status, the params that vary between rows (or all),
 *      the results in the requested or the default order;
 *   4. rows sorted (a stable merge sort, so ties keep the id order).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "db/db.h"
#include "db/query.h"
#include "db/results.h"
#include "db/runs.h"
#include "engine/util.h"
#include "experiments/config.h"

/* A metric of the results table (docs/database.md): what it measures, which way is better. */
struct results_metric {
	const char *name;
	int better;
	const char *help;
};

static const struct results_metric results_metrics[] = {
	{"test_acc", 1, "accuracy on the test split, as a fraction (ptq: of the quantized model)"},
	{"test_loss", -1, "mean loss on the test split"},
	{"float_test_acc", 1,
	 "ptq: test accuracy of the float model with its batch norms folded, before quantization"},
	{"float_test_loss", -1, "ptq: mean test loss of the float model before quantization"},
	{"train_acc", 1, "training accuracy of the last epoch, as a fraction"},
	{"train_loss", -1, "training loss of the last epoch"},
	{"params", 0, "trainable parameters (ptq: of the quantized model, channels split)"},
	{"macs", 0, "multiply-accumulates per example in conv and linear layers"},
	{"size_bits", -1,
	 "model size in bits: conv/linear weights at their bits, quantizer parameters and every "
	 "other value at 32 bits"},
	{"bitops", -1,
	 "sum over conv/linear layers of MACs x weight bits x input bits, per example"},
	{"shift_adds", 0,
	 "sum over layers of MACs x shift-add operations per MAC of the weight quantizer"},
	{"ocs_overhead", 0, "ptq: MACs after outlier channel splitting / MACs before - 1"},
	{"calib_n", 0, "ptq: calibration images asked for (calib.n)"},
	{"quant_time_s", -1, "ptq: wall time of the quantization, in seconds"},
	{"time_s", -1,
	 "wall time in seconds of the training (without evaluations), the evaluation, or the "
	 "quantization and both evaluations"},
	{"images_per_s", 0, "training throughput, images per second"},
	{"eval_images_per_s", 0, "inference throughput of the final evaluation, images per second"},
	{"epochs", 0, "epochs completed"},
	{"threads", 0, "threads used"},
};
#define RESULTS_NMETRICS ((int)(sizeof results_metrics / sizeof results_metrics[0]))

/* The results a default table shows first, in this order. */
static const char *const results_first[] = {"test_acc", "test_loss", "float_test_acc",
					    "bitops",   "size_bits", "time_s"};
#define RESULTS_NFIRST 6

/* The keys "all-but-seed" averages over. */
#define RESULTS_ALL_BUT_SEED "all-but-seed"

static int
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

const char *
results_metric_help(const char *name)
{
	for (int i = 0; i < RESULTS_NMETRICS; i++)
		if (strcmp(results_metrics[i].name, name) == 0)
			return results_metrics[i].help;
	return NULL;
}

int
results_metric_better(const char *name)
{
	if (ends_with(name, "_acc") || strcmp(name, "acc") == 0)
		return 1;
	if (ends_with(name, "_loss") || strcmp(name, "loss") == 0 || ends_with(name, "_time_s") ||
	    strcmp(name, "time_s") == 0 || strcmp(name, "bitops") == 0 ||
	    strcmp(name, "size_bits") == 0)
		return -1;
	return 0;
}

int
results_group_parse(const char *spec, char ***keys, int *n, char **cause)
{
	char **k = NULL;
	int nk = 0;
	*keys = NULL;
	*n = 0;
	if (strcmp(spec, RESULTS_ALL_BUT_SEED) == 0)
		spec = "seed";
	const char *p = spec;
	for (;;) {
		const char *comma = strchr(p, ',');
		char *key = comma ? xasprintf("%.*s", (int)(comma - p), p) : xstrdup(p);
		if (!config_key_find(key)) {
			const char *near = config_nearest_key(key);
			if (!*key)
				err_set(cause, "empty key in --group '%s'", spec);
			else if (near)
				err_set(cause,
					"unknown key '%s' in --group '%s' (did you mean '%s'?)",
					key, spec, near);
			else
				err_set(cause,
					"unknown key '%s' in --group '%s' (expected all-but-seed "
					"or "
					"configuration keys)",
					key, spec);
			free(key);
			results_group_free(k, nk);
			return -1;
		}
		k = xrealloc(k, (size_t)(nk + 1) * sizeof *k);
		k[nk++] = key;
		if (!comma)
			break;
		p = comma + 1;
	}
	*keys = k;
	*n = nk;
	return 0;
}

void
results_group_free(char **keys, int n)
{
	for (int i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
}

/* A growing list of distinct names; `guess` speeds up names met in a repeating order. */
struct names {
	char **v;
	int n, cap;
	int guess;
};

static int
names_index(struct names *d, const char *s)
{
	if (d->guess < d->n && strcmp(d->v[d->guess], s) == 0)
		return d->guess++;
	for (int i = 0; i < d->n; i++)
		if (strcmp(d->v[i], s) == 0) {
			d->guess = i + 1;
			return i;
		}
	if (d->n == d->cap) {
		d->cap = d->cap ? 2 * d->cap : 32;
		d->v = xrealloc(d->v, (size_t)d->cap * sizeof *d->v);
	}
	d->v[d->n] = xstrdup(s);
	d->guess = d->n + 1;
	return d->n++;
}

/* The slot of s in d, or -1 (no guess: d stays untouched). */
static int
names_find(const struct names *d, const char *s)
{
	for (int i = 0; i < d->n; i++)
		if (strcmp(d->v[i], s) == 0)
			return i;
	return -1;
}

static void
names_done(struct names *d)
{
	for (int i = 0; i < d->n; i++)
		free(d->v[i]);
	free(d->v);
}

/* A value read from params or results, before the per-run matrices exist. */
struct triple {
	int run, slot;
	char *text;
	double num;
};

/* What was read for the selected runs. */
struct rdata {
	int nruns;
	int64_t *ids; /* ascending */
	const char **status;
	struct names keys, rnames;
	char **pv;  /* nruns x keys.n: param text (owned) or NULL */
	double *rv; /* nruns x rnames.n: result, NaN when missing */
};

static void
rdata_done(struct rdata *d)
{
	if (d->pv)
		for (size_t i = 0; i < (size_t)d->nruns * (size_t)d->keys.n; i++)
			free(d->pv[i]);
	free(d->pv);
	free(d->rv);
	free(d->ids);
	free(d->status);
	names_done(&d->keys);
	names_done(&d->rnames);
}

/* The index of run id among d's ids, or -1. */
static int
run_index(const struct rdata *d, int64_t id)
{
	int lo = 0, hi = d->nruns - 1;
	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;
		if (d->ids[mid] == id)
			return mid;
		if (d->ids[mid] < id)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

/* The ids as a JSON array, for json_each (malloc'd). */
static char *
ids_json(const int64_t *ids, int n)
{
	size_t cap = (size_t)n * 21 + 3, len = 0;
	char *s = xmalloc(cap);
	s[len++] = '[';
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(s + len, cap - len, "%s%lld", i ? "," : "",
					(long long)ids[i]);
	s[len++] = ']';
	s[len] = '\0';
	return s;
}

/*
 * Reads rows (run_id, name, value) of sql (params or results) for the runs of
 * d into triples, and the distinct names into dict.
 */
static int
read_triples(struct db *db, const char *sql, const char *json, struct rdata *d, struct names *dict,
	     int text, struct triple **out, size_t *nout, char **cause)
{
	sqlite3_stmt *st = db_stmt(db, sql, cause);
	struct triple *t = NULL;
	size_t n = 0, cap = 0;
	int rc;
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, json, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int run = run_index(d, sqlite3_column_int64(st, 0));
		const char *name = (const char *)sqlite3_column_text(st, 1);
		if (run < 0 || !name)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 256;
			t = xrealloc(t, cap * sizeof *t);
		}
		t[n].run = run;
		t[n].slot = names_index(dict, name);
		t[n].text = NULL;
		t[n].num = NAN;
		if (text) {
			const char *v = (const char *)sqlite3_column_text(st, 2);
			t[n].text = v ? xstrdup(v) : NULL;
		} else if (sqlite3_column_type(st, 2) != SQLITE_NULL) {
			t[n].num = sqlite3_column_double(st, 2);
		}
		n++;
	}
	sqlite3_reset(st);
	sqlite3_bind_null(st, 1);
	if (rc != SQLITE_DONE) {
		for (size_t i = 0; i < n; i++)
			free(t[i].text);
		free(t);
		return db_fail(db, cause, "cannot read runs");
	}
	*out = t;
	*nout = n;
	return 0;
}

/* Reads the runs with the given ids (ascending), their params and results. */
static int
rdata_load(struct db *db, struct rdata *d, int64_t *ids, int n, char **cause)
{
	static const char sql_runs[] = "SELECT id, status FROM runs "
				       "WHERE id IN (SELECT value FROM json_each(?1)) ORDER BY id";
	static const char sql_params[] = "SELECT run_id, key, value FROM params "
					 "WHERE run_id IN (SELECT value FROM json_each(?1))";
	static const char sql_results[] = "SELECT run_id, name, value FROM results "
					  "WHERE run_id IN (SELECT value FROM json_each(?1))";
	struct triple *tp = NULL, *tr = NULL;
	size_t ntp = 0, ntr = 0;
	char *json = ids_json(ids, n);
	int ret = -1, rc;
	d->ids = ids;
	d->nruns = n;
	d->status = xcalloc((size_t)n + 1, sizeof *d->status);
	sqlite3_stmt *st = db_stmt(db, sql_runs, cause);
	if (!st)
		goto out;
	sqlite3_bind_text(st, 1, json, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int i = run_index(d, sqlite3_column_int64(st, 0));
		enum run_status s = RUN_FAILED;
		const char *text = (const char *)sqlite3_column_text(st, 1);
		if (i < 0)
			continue;
		if (text)
			run_status_parse(text, &s);
		d->status[i] = run_status_name(s);
	}
	sqlite3_reset(st);
	sqlite3_bind_null(st, 1);
	if (rc != SQLITE_DONE) {
		db_fail(db, cause, "cannot read runs");
		goto out;
	}
	/* a run deleted since query_run_ids: keep the row count, say so in its status */
	for (int i = 0; i < n; i++)
		if (!d->status[i])
			d->status[i] = "deleted";
	if (read_triples(db, sql_params, json, d, &d->keys, 1, &tp, &ntp, cause) < 0 ||
	    read_triples(db, sql_results, json, d, &d->rnames, 0, &tr, &ntr, cause) < 0)
		goto out;
	d->pv = xcalloc((size_t)n * (size_t)d->keys.n + 1, sizeof *d->pv);
	d->rv = xcalloc((size_t)n * (size_t)d->rnames.n + 1, sizeof *d->rv);
	for (size_t i = 0; i < (size_t)n * (size_t)d->rnames.n; i++)
		d->rv[i] = NAN;
	for (size_t i = 0; i < ntp; i++) {
		d->pv[(size_t)tp[i].run * (size_t)d->keys.n + (size_t)tp[i].slot] = tp[i].text;
		tp[i].text = NULL;
	}
	for (size_t i = 0; i < ntr; i++)
		d->rv[(size_t)tr[i].run * (size_t)d->rnames.n + (size_t)tr[i].slot] = tr[i].num;
	ret = 0;
out:
	for (size_t i = 0; i < ntp; i++)
		free(tp[i].text);
	free(tp);
	free(tr);
	free(json);
	return ret;
}

/* NULL-aware strcmp: a missing value sorts before any text. */
static int
text_cmp(const char *a, const char *b)
{
	if (!a || !b)
		return (a != NULL) - (b != NULL);
	return strcmp(a, b);
}

/* Grouping context: the data and, per key slot, whether grouping ignores it. */
struct group_ctx {
	const struct rdata *d;
	const unsigned char *skip;
};

static int
group_cmp(const void *ctx, int x, int y)
{
	const struct group_ctx *g = ctx;
	int nk = g->d->keys.n;
	for (int k = 0; k < nk; k++) {
		if (g->skip[k])
			continue;
		int c = text_cmp(g->d->pv[(size_t)x * (size_t)nk + (size_t)k],
				 g->d->pv[(size_t)y * (size_t)nk + (size_t)k]);
		if (c)
			return c;
	}
	return 0;
}

/* Nonzero when s is a whole number in text (the numeric test of a param column). */
static int
is_number(const char *s, double *x)
{
	char *end;
	if (!s || !*s || *s == ' ')
		return 0;
	*x = strtod(s, &end);
	return *end == '\0' && isfinite(*x);
}

/*
 * Rank of a key: its index in the configuration table, then the seed (a
 * replicate, so rows that differ only in it sort together), then unknown keys.
 */
static int
key_rank(const char *name)
{
	if (strcmp(name, "seed") == 0)
		return config_key_count();
	for (int i = 0; i < config_key_count(); i++)
		if (strcmp(config_key_at(i)->name, name) == 0)
			return i;
	return config_key_count() + 1;
}

/* Rank of a result: the ones shown first, then the rest. */
static int
result_rank(const char *name)
{
	for (int i = 0; i < RESULTS_NFIRST; i++)
		if (strcmp(results_first[i], name) == 0)
			return i;
	return RESULTS_NFIRST;
}

struct rank_ctx {
	const struct names *d;
	int (*rank)(const char *name);
};

static int
rank_cmp(const void *ctx, int x, int y)
{
	const struct rank_ctx *rc = ctx;
	int rx = rc->rank(rc->d->v[x]), ry = rc->rank(rc->d->v[y]);
	if (rx != ry)
		return rx < ry ? -1 : 1;
	return strcmp(rc->d->v[x], rc->d->v[y]);
}

/* The slots of d sorted by rank(name), then name. */
static int *
ranked_slots(const struct names *d, int (*rank)(const char *))
{
	int *order = xmalloc(((size_t)d->n + 1) * sizeof *order);
	struct rank_ctx ctx = {d, rank};
	for (int i = 0; i < d->n; i++)
		order[i] = i;
	util_sort_ints(order, d->n, rank_cmp, &ctx);
	return order;
}

/* One row's sort key. */
struct sort_key {
	const char *text;
	double num;
	int missing;
};

/* Sorting context: the table, the optional sort column's keys, and its direction. */
struct sort_ctx {
	const struct results *r;
	const struct sort_key *keys; /* per row, or NULL */
	int numeric, descending;
};

/* Compares two cells of a column: missing last, numbers numerically. */
static int
cell_cmp(const struct results *r, int col, int x, int y)
{
	const struct results_cell *a = results_cell(r, x, col), *b = results_cell(r, y, col);
	int numeric = r->cols[col].numeric || r->cols[col].kind == RESULTS_COL_RESULT;
	int ma = numeric ? isnan(a->mean) : !a->text, mb = numeric ? isnan(b->mean) : !b->text;
	if (ma || mb)
		return ma - mb;
	if (numeric)
		return (a->mean > b->mean) - (a->mean < b->mean);
	return strcmp(a->text, b->text);
}

/* The default order: varying params left to right, then the (smallest) id. */
static int
default_cmp(const struct results *r, int x, int y)
{
	for (int c = 0; c < r->ncols; c++) {
		if (r->cols[c].kind != RESULTS_COL_PARAM || !r->cols[c].varies)
			continue;
		int v = cell_cmp(r, c, x, y);
		if (v)
			return v;
	}
	return (r->row_ids[x][0] > r->row_ids[y][0]) - (r->row_ids[x][0] < r->row_ids[y][0]);
}

static int
row_cmp(const void *ctx, int x, int y)
{
	const struct sort_ctx *s = ctx;
	if (s->keys) {
		const struct sort_key *a = &s->keys[x], *b = &s->keys[y];
		if (a->missing || b->missing) {
			if (a->missing != b->missing)
				return a->missing - b->missing;
		} else {
			int v = s->numeric ? (a->num > b->num) - (a->num < b->num)
					   : strcmp(a->text, b->text);
			if (v)
				return s->descending ? -v : v;
		}
	}
	return default_cmp(s->r, x, y);
}

void
results_free(struct results *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < (size_t)r->nrows * (size_t)r->ncols; i++)
		free(r->cells[i].text);
	for (int c = 0; c < r->ncols; c++)
		free(r->cols[c].name);
	for (int i = 0; i < r->nrows; i++)
		free(r->row_ids[i]);
	free(r->row_ids);
	free(r->row_nids);
	free(r->cols);
	free(r->cells);
	free(r);
}

int
results_col_find(const struct results *r, const char *name)
{
	for (int c = 0; c < r->ncols; c++)
		if (strcmp(r->cols[c].name, name) == 0)
			return c;
	return -1;
}

const struct results_cell *
results_cell(const struct results *r, int row, int col)
{
	return &r->cells[(size_t)row * (size_t)r->ncols + (size_t)col];
}

static struct results_cell *
cell_at(struct results *r, int row, int col)
{
	return &r->cells[(size_t)row * (size_t)r->ncols + (size_t)col];
}

/* Mean, std and n of result slot j over the runs of a row (see results.h for std). */
static void
result_stats(const struct rdata *d, int j, const int *runs, int nruns, struct results_cell *c)
{
	double sum = 0, ss = 0;
	int n = 0;
	c->mean = c->std = NAN;
	c->n = 0;
	if (j < 0)
		return;
	for (int i = 0; i < nruns; i++) {
		double v = d->rv[(size_t)runs[i] * (size_t)d->rnames.n + (size_t)j];
		if (isfinite(v)) {
			sum += v;
			n++;
		}
	}
	if (n == 0)
		return;
	c->mean = sum / n;
	for (int i = 0; i < nruns; i++) {
		double v = d->rv[(size_t)runs[i] * (size_t)d->rnames.n + (size_t)j];
		if (isfinite(v))
			ss += (v - c->mean) * (v - c->mean);
	}
	c->n = n;
	/* a row of one run has no spread; a group needs two values for a sample std */
	c->std = nruns == 1 ? 0 : n >= 2 ? sqrt(ss / (n - 1)) : NAN;
}

/* Whether column c holds one value in every row. */
static int
col_varies(const struct results *r, int c)
{
	for (int i = 1; i < r->nrows; i++) {
		const struct results_cell *a = results_cell(r, 0, c), *b = results_cell(r, i, c);
		if (r->cols[c].kind == RESULTS_COL_RESULT) {
			if (isnan(a->mean) != isnan(b->mean) ||
			    (!isnan(a->mean) && a->mean != b->mean))
				return 1;
		} else if (text_cmp(a->text, b->text) != 0) {
			return 1;
		}
	}
	return 0;
}

/*
 * The sort keys of column name: a column of r, else a param key or result
 * name the runs have (taken from the runs of each row). -1 with *cause naming
 * the nearest name when there is no such column.
 */
static int
sort_keys(const struct results *r, const struct rdata *d, int *const *rows, const char *name,
	  struct sort_key *keys, int *numeric, char **cause)
{
	int c = results_col_find(r, name);
	int kslot = c < 0 ? names_find(&d->keys, name) : -1;
	int rslot = c < 0 && kslot < 0 ? names_find(&d->rnames, name) : -1;
	if (c < 0 && kslot < 0 && rslot < 0) {
		const char **names =
			xcalloc((size_t)d->keys.n + (size_t)d->rnames.n + 2, sizeof *names);
		size_t n = 0;
		names[n++] = "id";
		names[n++] = "status";
		for (int i = 0; i < d->keys.n; i++)
			names[n++] = d->keys.v[i];
		for (int i = 0; i < d->rnames.n; i++)
			names[n++] = d->rnames.v[i];
		const char *near = util_nearest(name, names, n);
		if (near)
			err_set(cause, "unknown sort column '%s' (did you mean '%s'?)", name, near);
		else
			err_set(cause, "unknown sort column '%s'", name);
		free(names);
		return -1;
	}
	*numeric = 1;
	for (int i = 0; i < r->nrows; i++) {
		struct sort_key *k = &keys[i];
		memset(k, 0, sizeof *k);
		if (c >= 0) {
			const struct results_cell *cell = results_cell(r, i, c);
			int num = r->cols[c].numeric || r->cols[c].kind == RESULTS_COL_RESULT;
			*numeric = num;
			k->text = cell->text;
			k->num = cell->mean;
			k->missing = num ? isnan(cell->mean) : !cell->text;
		} else if (kslot >= 0) {
			k->text = d->pv[(size_t)rows[i][0] * (size_t)d->keys.n + (size_t)kslot];
			k->missing = !k->text;
			if (k->text && !is_number(k->text, &k->num))
				*numeric = 0;
		} else {
			struct results_cell cell;
			result_stats(d, rslot, rows[i], r->row_nids[i], &cell);
			k->num = cell.mean;
			k->missing = isnan(cell.mean);
		}
	}
	return 0;
}

/* Fills the cells of row i from the runs rows (indices into d). */
static void
fill_row(struct results *r, const struct rdata *d, int i, const int *runs, int nruns,
	 const int *col_slot)
{
	for (int c = 0; c < r->ncols; c++) {
		struct results_cell *cell = cell_at(r, i, c);
		cell->mean = cell->std = NAN;
		switch (r->cols[c].kind) {
		case RESULTS_COL_ID:
			cell->text = xasprintf("%lld", (long long)d->ids[runs[0]]);
			cell->mean = (double)d->ids[runs[0]];
			cell->std = 0;
			cell->n = 1;
			break;
		case RESULTS_COL_STATUS: {
			const char *s = d->status[runs[0]];
			for (int k = 1; k < nruns; k++)
				if (strcmp(d->status[runs[k]], s) != 0)
					s = "mixed";
			cell->text = xstrdup(s);
			cell->n = nruns;
			break;
		}
		case RESULTS_COL_PARAM: {
			int k = col_slot[c];
			const char *v = d->pv[(size_t)runs[0] * (size_t)d->keys.n + (size_t)k];
			double x;
			cell->text = v ? xstrdup(v) : NULL;
			cell->n = v ? nruns : 0;
			if (v && is_number(v, &x)) {
				cell->mean = x;
				cell->std = 0;
			}
			break;
		}
		case RESULTS_COL_RESULT:
			result_stats(d, col_slot[c], runs, nruns, cell);
			break;
		}
	}
}

/* Nonzero when key is one of the group_over keys of o. */
static int
grouped_over(const struct results_opts *o, const char *key)
{
	for (int i = 0; i < o->ngroup_over; i++)
		if (strcmp(o->group_over[i], key) == 0)
			return 1;
	return 0;
}

/* Orders groups (ctx: the groups' run lists) by their first run. */
static int
first_run_cmp(const void *ctx, int x, int y)
{
	int *const *rows = ctx;
	return (rows[x][0] > rows[y][0]) - (rows[x][0] < rows[y][0]);
}

/*
 * Forms the rows: groups of runs (indices into d) whose params agree outside
 * the group_over keys, each ascending, the groups by their smallest id.
 */
static int
make_groups(const struct rdata *d, const struct results_opts *o, int ***rows_out, int **nrows_run)
{
	int n = d->nruns, ng = 0;
	int *order = xmalloc(((size_t)n + 1) * sizeof *order);
	unsigned char *skip = xcalloc((size_t)d->keys.n + 1, 1);
	int **rows = xcalloc((size_t)n + 1, sizeof *rows);
	int *nr = xcalloc((size_t)n + 1, sizeof *nr);
	for (int k = 0; k < d->keys.n; k++)
		skip[k] = (unsigned char)grouped_over(o, d->keys.v[k]);
	for (int i = 0; i < n; i++)
		order[i] = i;
	if (o->ngroup_over > 0) {
		struct group_ctx g = {d, skip};
		util_sort_ints(order, n, group_cmp, &g);
	}
	for (int i = 0; i < n;) {
		int j = i + 1;
		while (o->ngroup_over > 0 && j < n) {
			struct group_ctx g = {d, skip};
			if (group_cmp(&g, order[i], order[j]) != 0)
				break;
			j++;
		}
		rows[ng] = xmalloc((size_t)(j - i) * sizeof **rows);
		memcpy(rows[ng], order + i, (size_t)(j - i) * sizeof **rows);
		nr[ng] = j - i;
		ng++;
		i = j;
	}
	/* The sort is stable over runs in id order, so each group is ascending;
	 * order the groups by their first run. */
	int *perm = xmalloc(((size_t)ng + 1) * sizeof *perm);
	int **sorted = xcalloc((size_t)n + 1, sizeof *sorted);
	int *nsorted = xcalloc((size_t)n + 1, sizeof *nsorted);
	for (int i = 0; i < ng; i++)
		perm[i] = i;
	util_sort_ints(perm, ng, first_run_cmp, rows);
	for (int i = 0; i < ng; i++) {
		sorted[i] = rows[perm[i]];
		nsorted[i] = nr[perm[i]];
	}
	free(perm);
	free(rows);
	free(nr);
	rows = sorted;
	nr = nsorted;
	free(order);
	free(skip);
	*rows_out = rows;
	*nrows_run = nr;
	return ng;
}

/* The result slots shown: the requested names, or the default set (see results.h). */
static int
pick_results(const struct rdata *d, const struct results_opts *o, const char ***names_out,
	     int **slots_out)
{
	int n = 0;
	if (o->result_names) {
		*names_out = xcalloc((size_t)o->nresults + 1, sizeof **names_out);
		*slots_out = xcalloc((size_t)o->nresults + 1, sizeof **slots_out);
		for (int i = 0; i < o->nresults; i++) {
			(*names_out)[n] = o->result_names[i];
			(*slots_out)[n++] = names_find(&d->rnames, o->result_names[i]);
		}
		return n;
	}
	int *order = ranked_slots(&d->rnames, result_rank);
	*names_out = xcalloc((size_t)d->rnames.n + 1, sizeof **names_out);
	*slots_out = xcalloc((size_t)d->rnames.n + 1, sizeof **slots_out);
	for (int i = 0; i < d->rnames.n; i++) {
		const char *name = d->rnames.v[order[i]];
		if (config_key_find(name))
			continue;
		(*names_out)[n] = name;
		(*slots_out)[n++] = order[i];
	}
	free(order);
	return n;
}

/*
 * Puts the rows of r in the order perm and drops the param columns that do
 * not vary (unless all_params).
 */
static void
reorder(struct results *r, const int *perm, int all_params)
{
	int ng = r->nrows, nc = r->ncols, keep = 0;
	for (int c = 0; c < nc; c++)
		keep += r->cols[c].kind != RESULTS_COL_PARAM || all_params || r->cols[c].varies;
	struct results_cell *cells = xcalloc((size_t)ng * (size_t)keep + 1, sizeof *cells);
	int64_t **row_ids = xcalloc((size_t)ng + 1, sizeof *row_ids);
	int *row_nids = xcalloc((size_t)ng + 1, sizeof *row_nids);
	for (int c = 0, k = 0; c < nc; c++) {
		if (r->cols[c].kind == RESULTS_COL_PARAM && !all_params && !r->cols[c].varies) {
			free(r->cols[c].name);
			for (int i = 0; i < ng; i++)
				free(cell_at(r, i, c)->text);
			continue;
		}
		for (int i = 0; i < ng; i++)
			cells[(size_t)i * (size_t)keep + (size_t)k] = *cell_at(r, perm[i], c);
		r->cols[k++] = r->cols[c];
	}
	for (int i = 0; i < ng; i++) {
		row_ids[i] = r->row_ids[perm[i]];
		row_nids[i] = r->row_nids[perm[i]];
	}
	free(r->cells);
	free(r->row_ids);
	free(r->row_nids);
	r->cells = cells;
	r->row_ids = row_ids;
	r->row_nids = row_nids;
	r->ncols = keep;
}

int
results_build(struct db *db, const struct query *q, const struct results_opts *o,
	      struct results **out, char **cause)
{
	static const struct results_opts defaults;
	struct rdata d;
	struct results *r = NULL;
	int64_t *ids = NULL;
	int nids = 0, ret = -1, ng = 0, **rows = NULL, *nr = NULL, *key_order = NULL;
	int *rslots = NULL, *col_slot = NULL, *perm = NULL;
	const char **rnames = NULL;
	struct sort_key *skeys = NULL;
	memset(&d, 0, sizeof d);
	*out = NULL;
	if (!o)
		o = &defaults;
	if (query_run_ids(db, q, &ids, &nids, cause) < 0)
		goto out;
	if (rdata_load(db, &d, ids, nids, cause) < 0)
		goto out;
	ng = make_groups(&d, o, &rows, &nr);

	/* columns: id, status, params (all candidates first; pruned below), results */
	key_order = ranked_slots(&d.keys, key_rank);
	int nres = pick_results(&d, o, &rnames, &rslots);
	r = xcalloc(1, sizeof *r);
	r->grouped = o->ngroup_over > 0;
	r->nrows = ng;
	r->ncols = 2 + d.keys.n + nres;
	r->cols = xcalloc((size_t)r->ncols, sizeof *r->cols);
	col_slot = xcalloc((size_t)r->ncols, sizeof *col_slot);
	int nc = 0;
	r->cols[nc].name = xstrdup("id");
	r->cols[nc].kind = RESULTS_COL_ID;
	r->cols[nc++].numeric = 1;
	r->cols[nc].name = xstrdup("status");
	r->cols[nc++].kind = RESULTS_COL_STATUS;
	for (int i = 0; i < d.keys.n; i++) {
		int k = key_order[i];
		if (grouped_over(o, d.keys.v[k]))
			continue;
		col_slot[nc] = k;
		r->cols[nc].name = xstrdup(d.keys.v[k]);
		r->cols[nc++].kind = RESULTS_COL_PARAM;
	}
	for (int i = 0; i < nres; i++) {
		col_slot[nc] = rslots[i];
		r->cols[nc].name = xstrdup(rnames[i]);
		r->cols[nc].kind = RESULTS_COL_RESULT;
		r->cols[nc++].numeric = 1;
	}
	r->ncols = nc;
	r->cells = xcalloc((size_t)ng * (size_t)nc + 1, sizeof *r->cells);
	r->row_ids = xcalloc((size_t)ng + 1, sizeof *r->row_ids);
	r->row_nids = xcalloc((size_t)ng + 1, sizeof *r->row_nids);
	for (int i = 0; i < ng; i++) {
		r->row_nids[i] = nr[i];
		r->row_ids[i] = xmalloc((size_t)nr[i] * sizeof **r->row_ids);
		for (int k = 0; k < nr[i]; k++)
			r->row_ids[i][k] = d.ids[rows[i][k]];
		fill_row(r, &d, i, rows[i], nr[i], col_slot);
	}
	for (int c = 0; c < nc; c++) {
		r->cols[c].varies = col_varies(r, c);
		if (r->cols[c].kind == RESULTS_COL_PARAM) {
			int numeric = 1;
			double x;
			for (int i = 0; i < ng && numeric; i++) {
				const char *t = results_cell(r, i, c)->text;
				numeric = !t || is_number(t, &x);
			}
			r->cols[c].numeric = numeric;
			if (!numeric)
				for (int i = 0; i < ng; i++)
					cell_at(r, i, c)->mean = NAN;
		}
	}

	/* sort the rows, then keep the param columns asked for */
	struct sort_ctx sc = {r, NULL, 1, o->descending};
	if (o->sort) {
		skeys = xcalloc((size_t)ng + 1, sizeof *skeys);
		if (sort_keys(r, &d, rows, o->sort, skeys, &sc.numeric, cause) < 0)
			goto out;
		sc.keys = skeys;
	}
	perm = xmalloc(((size_t)ng + 1) * sizeof *perm);
	for (int i = 0; i < ng; i++)
		perm[i] = i;
	util_sort_ints(perm, ng, row_cmp, &sc);
	reorder(r, perm, o->all_params);
	*out = r;
	r = NULL;
	ret = 0;
out:
	results_free(r);
	for (int i = 0; i < ng; i++)
		free(rows[i]);
	free(rows);
	free(nr);
	free(key_order);
	free(rslots);
	free(rnames);
	free(col_slot);
	free(perm);
	free(skeys);
	if (!d.ids)
		free(ids);
	rdata_done(&d);
	return ret;
}

int
results_col_distinct(const struct results *r, int c)
{
	const char *first = NULL;
	for (int i = 0; i < r->nrows; i++) {
		const char *t = results_cell(r, i, c)->text;
		if (!t)
			continue;
		if (first && strcmp(first, t) != 0)
			return 1;
		first = t;
	}
	return 0;
}

int
results_col_has_value(const struct results *r, int c)
{
	for (int i = 0; i < r->nrows; i++)
		if (!isnan(results_cell(r, i, c)->mean))
			return 1;
	return 0;
}
