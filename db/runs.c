/*
 * runs: reading and writing runs and their records.
 *
 * Every write that touches more than one row runs in one short transaction
 * (BEGIN IMMEDIATE ... COMMIT), so readers (another qbench, a sqlite3 shell)
 * never see half a run or half an epoch. Statements come from db_stmt()'s
 * cache, keyed by the SQL literals below. Timestamps are written by SQLite
 * itself as ISO-8601 UTC text (see db/schema.sql).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "db/db.h"
#include "db/runs.h"
#include "engine/util.h"

#define NOW "strftime('%Y-%m-%dT%H:%M:%SZ', 'now')"

static const char *const run_status_names[RUN_STATUS_COUNT] = {
	[RUN_QUEUED] = "queued",	 [RUN_RUNNING] = "running",   [RUN_DONE] = "done",
	[RUN_FAILED] = "failed",	 [RUN_DIVERGED] = "diverged", [RUN_CANCELLED] = "cancelled",
};

const char *
run_status_name(enum run_status s)
{
	return s >= 0 && s < RUN_STATUS_COUNT ? run_status_names[s] : "?";
}

int
run_status_parse(const char *s, enum run_status *out)
{
	for (int i = 0; i < RUN_STATUS_COUNT; i++)
		if (strcmp(s, run_status_names[i]) == 0) {
			*out = (enum run_status)i;
			return 0;
		}
	return -1;
}

int
run_status_allowed(enum run_status from, enum run_status to)
{
	switch (from) {
	case RUN_QUEUED:
		return to == RUN_RUNNING || to == RUN_FAILED || to == RUN_CANCELLED;
	case RUN_RUNNING:
		return to != RUN_RUNNING;
	case RUN_DONE:
	case RUN_FAILED:
	case RUN_DIVERGED:
	case RUN_CANCELLED:
		return to == RUN_QUEUED;
	default:
		return 0;
	}
}

/* Steps a statement that returns no rows; -1 with *cause on error. */
static int
step_done(struct db *db, sqlite3_stmt *st, const char *what, char **cause)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return db_fail(db, cause, what);
	return 0;
}

static void
bind_real_or_null(sqlite3_stmt *st, int i, double v)
{
	if (isfinite(v))
		sqlite3_bind_double(st, i, v);
	else
		sqlite3_bind_null(st, i);
}

static char *
column_strdup(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);
	return s ? xstrdup((const char *)s) : NULL;
}

static double
column_real(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

int
runs_create(struct db *db, const char *key, const char *config_json,
	    const struct run_param *params, int nparams, int64_t parent_run_id, int64_t *id,
	    char **cause)
{
	static const char sql_run[] =
		"INSERT INTO runs (key, config, parent_run_id) VALUES (?1, ?2, ?3)";
	static const char sql_param[] = "INSERT INTO params (run_id, key, value) VALUES (?1, ?2, ?3)";
	if (db_begin(db, cause) < 0)
		return -1;
	sqlite3_stmt *st = db_stmt(db, sql_run, cause);
	if (!st)
		goto fail;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, config_json, -1, SQLITE_TRANSIENT);
	if (parent_run_id > 0)
		sqlite3_bind_int64(st, 3, parent_run_id);
	if (step_done(db, st, "cannot create a run", cause) < 0)
		goto fail;
	int64_t rid = sqlite3_last_insert_rowid(db_sqlite(db));
	for (int i = 0; i < nparams; i++) {
		if (!(st = db_stmt(db, sql_param, cause)))
			goto fail;
		sqlite3_bind_int64(st, 1, rid);
		sqlite3_bind_text(st, 2, params[i].key, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 3, params[i].value, -1, SQLITE_TRANSIENT);
		if (step_done(db, st, "cannot store a parameter", cause) < 0)
			goto fail;
	}
	if (db_commit(db, cause) < 0)
		return -1;
	*id = rid;
	return 0;
fail:
	db_rollback(db);
	return -1;
}

int
runs_find_key(struct db *db, const char *key, int64_t *id, enum run_status *status,
	      char **cause)
{
	static const char sql[] = "SELECT id, status FROM runs WHERE key = ?1";
	sqlite3_stmt *st = db_stmt(db, sql, cause);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(st);
	*id = 0;
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		const char *s = (const char *)sqlite3_column_text(st, 1);
		if (!s || run_status_parse(s, status) < 0)
			*status = RUN_FAILED;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_fail(db, cause, "cannot look up a run");
	return 0;
}

/* Reads the status of run id inside the current transaction. */
static int
runs_read_status(struct db *db, int64_t id, enum run_status *out, char **cause)
{
	static const char sql[] = "SELECT status FROM runs WHERE id = ?1";
	sqlite3_stmt *st = db_stmt(db, sql, cause);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	int ret = 0;
	if (rc == SQLITE_ROW) {
		const char *s = (const char *)sqlite3_column_text(st, 0);
		if (!s || run_status_parse(s, out) < 0)
			ret = err_set(cause, "%s: run %lld has an unknown status", db_path(db),
				      (long long)id);
	} else if (rc == SQLITE_DONE) {
		ret = err_set(cause, "no run %lld", (long long)id);
	} else {
		ret = db_fail(db, cause, "cannot read a run");
	}
	sqlite3_reset(st);
	return ret;
}

int
runs_set_status(struct db *db, int64_t id, enum run_status to, const char *error, char **cause)
{
	static const char sql_running[] =
		"UPDATE runs SET status = 'running', started_at = " NOW ", finished_at = NULL, "
		"heartbeat_at = " NOW ", attempts = attempts + 1, error = ?2, progress = 0, "
		"stage = NULL WHERE id = ?1";
	static const char sql_queued[] =
		"UPDATE runs SET status = 'queued', started_at = NULL, finished_at = NULL, "
		"heartbeat_at = NULL, worker = NULL, error = ?2, progress = NULL, stage = NULL "
		"WHERE id = ?1";
	static const char sql_finished[] =
		"UPDATE runs SET status = ?3, finished_at = " NOW ", error = ?2, "
		"progress = CASE WHEN ?3 = 'done' THEN 1 ELSE progress END WHERE id = ?1";
	enum run_status from;
	if (db_begin(db, cause) < 0)
		return -1;
	if (runs_read_status(db, id, &from, cause) < 0)
		goto fail;
	if (!run_status_allowed(from, to)) {
		err_set(cause, "run %lld cannot go from %s to %s", (long long)id,
			run_status_name(from), run_status_name(to));
		goto fail;
	}
	const char *sql = to == RUN_RUNNING ? sql_running : to == RUN_QUEUED ? sql_queued : sql_finished;
	sqlite3_stmt *st = db_stmt(db, sql, cause);
	if (!st)
		goto fail;
	sqlite3_bind_int64(st, 1, id);
	if (error)
		sqlite3_bind_text(st, 2, error, -1, SQLITE_TRANSIENT);
	if (sql == sql_finished)
		sqlite3_bind_text(st, 3, run_status_name(to), -1, SQLITE_STATIC);
	if (step_done(db, st, "cannot update a run", cause) < 0)
		goto fail;
	return db_commit(db, cause);
fail:
	db_rollback(db);
	return -1;
}

/* Deletes what run id recorded (inside the caller's transaction). */
static int
delete_records(struct db *db, int64_t id, char **cause)
{
	static const char *const sqls[] = {
		"DELETE FROM metrics WHERE run_id = ?1",
		"DELETE FROM results WHERE run_id = ?1",
		"DELETE FROM layers WHERE run_id = ?1",
		"UPDATE runs SET model_path = NULL WHERE id = ?1",
	};
	for (size_t i = 0; i < sizeof sqls / sizeof sqls[0]; i++) {
		sqlite3_stmt *st = db_stmt(db, sqls[i], cause);
		if (!st)
			return -1;
		sqlite3_bind_int64(st, 1, id);
		if (step_done(db, st, "cannot clear a run's records", cause) < 0)
			return -1;
	}
	return 0;
}

int
runs_reset(struct db *db, int64_t id, char **cause)
{
	static const char sql[] =
		"UPDATE runs SET status = 'queued', started_at = NULL, finished_at = NULL, "
		"heartbeat_at = NULL, worker = NULL, error = NULL, progress = NULL, stage = NULL "
		"WHERE id = ?1";
	enum run_status from;
	sqlite3_stmt *st;
	if (db_begin(db, cause) < 0)
		return -1;
	if (runs_read_status(db, id, &from, cause) < 0 || delete_records(db, id, cause) < 0 ||
	    !(st = db_stmt(db, sql, cause)))
		goto fail;
	sqlite3_bind_int64(st, 1, id);
	if (step_done(db, st, "cannot reset a run", cause) < 0)
		goto fail;
	return db_commit(db, cause);
fail:
	db_rollback(db);
	return -1;
}

int
runs_set_model_path(struct db *db, int64_t id, const char *path, char **cause)
{
	static const char sql[] = "UPDATE runs SET model_path = ?2 WHERE id = ?1";
	sqlite3_stmt *st = db_stmt(db, sql, cause);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, path, -1, SQLITE_TRANSIENT);
	return step_done(db, st, "cannot store the model path", cause);
}

int
runs_set_worker(struct db *db, int64_t id, const char *worker, char **cause)
{
	static const char sql[] = "UPDATE runs SET worker = ?2, heartbeat_at = " NOW " WHERE id = ?1";
	sqlite3_stmt *st = db_stmt(db, sql, cause);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, worker, -1, SQLITE_TRANSIENT);
	return step_done(db, st, "cannot store the worker", cause);
}

int
runs_add_metrics(struct db *db, int64_t id, int64_t step, const char *const *names,
		 const double *values, int n, char **cause)
{
	static const char sql[] =
		"INSERT OR REPLACE INTO metrics (run_id, step, name, value) VALUES (?1, ?2, ?3, ?4)";
	if (db_begin(db, cause) < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		sqlite3_stmt *st = db_stmt(db, sql, cause);
		if (!st)
			goto fail;
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, step);
		sqlite3_bind_text(st, 3, names[i], -1, SQLITE_TRANSIENT);
		bind_real_or_null(st, 4, values[i]);
		if (step_done(db, st, "cannot store a metric", cause) < 0)
			goto fail;
	}
	return db_commit(db, cause);
fail:
	db_rollback(db);
	return -1;
}

static int
runs_put_result(struct db *db, int64_t id, const char *name, double value, char **cause)
{
	static const char sql[] =
		"INSERT OR REPLACE INTO results (run_id, name, value) VALUES (?1, ?2, ?3)";
	sqlite3_stmt *st = db_stmt(db, sql, cause);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
	bind_real_or_null(st, 3, value);
	return step_done(db, st, "cannot store a result", cause);
}

int
runs_set_result(struct db *db, int64_t id, const char *name, double value, char **cause)
{
	return runs_put_result(db, id, name, value, cause);
}

int
runs_set_results(struct db *db, int64_t id, const char *const *names, const double *values,
		 int n, char **cause)
{
	if (db_begin(db, cause) < 0)
		return -1;
	for (int i = 0; i < n; i++)
		if (runs_put_result(db, id, names[i], values[i], cause) < 0) {
			db_rollback(db);
			return -1;
		}
	return db_commit(db, cause);
}

int
runs_set_layer_stat(struct db *db, int64_t id, const char *layer, const char *name,
		    double value, char **cause)
{
	static const char sql[] = "INSERT OR REPLACE INTO layers (run_id, layer, name, value) "
				  "VALUES (?1, ?2, ?3, ?4)";
	sqlite3_stmt *st = db_stmt(db, sql, cause);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, layer, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, name, -1, SQLITE_TRANSIENT);
	bind_real_or_null(st, 4, value);
	return step_done(db, st, "cannot store a layer statistic", cause);
}

#define RUN_COLUMNS                                                                          \
	"id, sweep_id, parent_run_id, key, config, status, model_path, created_at, started_at, " \
	"finished_at, heartbeat_at, worker, attempts, error, progress, stage"

/* Fills r from a row selected with RUN_COLUMNS. */
static void
run_info_read(struct run_info *r, sqlite3_stmt *st)
{
	r->id = sqlite3_column_int64(st, 0);
	r->sweep_id = sqlite3_column_int64(st, 1);
	r->parent_run_id = sqlite3_column_int64(st, 2);
	r->key = column_strdup(st, 3);
	r->config = column_strdup(st, 4);
	const char *s = (const char *)sqlite3_column_text(st, 5);
	if (!s || run_status_parse(s, &r->status) < 0)
		r->status = RUN_FAILED;
	r->model_path = column_strdup(st, 6);
	r->created_at = column_strdup(st, 7);
	r->started_at = column_strdup(st, 8);
	r->finished_at = column_strdup(st, 9);
	r->heartbeat_at = column_strdup(st, 10);
	r->worker = column_strdup(st, 11);
	r->attempts = sqlite3_column_int(st, 12);
	r->error = column_strdup(st, 13);
	r->progress = column_real(st, 14);
	r->stage = column_strdup(st, 15);
}

void
run_info_done(struct run_info *r)
{
	free(r->key);
	free(r->config);
	free(r->model_path);
	free(r->created_at);
	free(r->started_at);
	free(r->finished_at);
	free(r->heartbeat_at);
	free(r->worker);
	free(r->error);
	free(r->stage);
}

void
run_info_free(struct run_info *r)
{
	if (!r)
		return;
	run_info_done(r);
	free(r);
}

int
runs_get(struct db *db, int64_t id, struct run_info **out, char **cause)
{
	static const char sql[] = "SELECT " RUN_COLUMNS " FROM runs WHERE id = ?1";
	*out = NULL;
	sqlite3_stmt *st = db_stmt(db, sql, cause);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	int ret = 0;
	if (rc == SQLITE_ROW) {
		*out = xcalloc(1, sizeof **out);
		run_info_read(*out, st);
	} else if (rc == SQLITE_DONE) {
		ret = err_set(cause, "no run %lld in %s", (long long)id, db_path(db));
	} else {
		ret = db_fail(db, cause, "cannot read a run");
	}
	sqlite3_reset(st);
	return ret;
}

void
run_values_done(struct run_values *vals)
{
	for (int i = 0; i < vals->n; i++) {
		free(vals->v[i].layer);
		free(vals->v[i].name);
	}
	free(vals->v);
	vals->v = NULL;
	vals->n = 0;
}

/*
 * Collects rows of (step, layer, name, value) from sql (bound to id) into out.
 * Columns: 0 step or NULL, 1 layer or NULL, 2 name, 3 value.
 */
static int
runs_collect(struct db *db, const char *sql, int64_t id, struct run_values *out, char **cause)
{
	int cap = 0, rc;
	out->v = NULL;
	out->n = 0;
	sqlite3_stmt *st = db_stmt(db, sql, cause);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (out->n == cap) {
			cap = cap ? 2 * cap : 32;
			out->v = xrealloc(out->v, (size_t)cap * sizeof *out->v);
		}
		struct run_value *v = &out->v[out->n++];
		v->step = sqlite3_column_int64(st, 0);
		v->layer = column_strdup(st, 1);
		v->name = column_strdup(st, 2);
		if (!v->name)
			v->name = xstrdup("");
		v->value = column_real(st, 3);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		run_values_done(out);
		return db_fail(db, cause, "cannot read a run's records");
	}
	return 0;
}

int
runs_get_results(struct db *db, int64_t id, struct run_values *out, char **cause)
{
	static const char sql[] =
		"SELECT NULL, NULL, name, value FROM results WHERE run_id = ?1 ORDER BY name";
	return runs_collect(db, sql, id, out, cause);
}

int
runs_get_metrics(struct db *db, int64_t id, struct run_values *out, char **cause)
{
	static const char sql[] = "SELECT step, NULL, name, value FROM metrics WHERE run_id = ?1 "
				  "ORDER BY step, name";
	return runs_collect(db, sql, id, out, cause);
}

int
runs_get_layers(struct db *db, int64_t id, struct run_values *out, char **cause)
{
	static const char sql[] = "SELECT NULL, layer, name, value FROM layers WHERE run_id = ?1 "
				  "ORDER BY CAST(layer AS INTEGER), layer, name";
	return runs_collect(db, sql, id, out, cause);
}

void
run_params_free(char **keys, char **values, int n)
{
	for (int i = 0; i < n; i++) {
		free(keys[i]);
		free(values[i]);
	}
	free(keys);
	free(values);
}

int
runs_get_params(struct db *db, int64_t id, char ***keys, char ***values, int *n, char **cause)
{
	static const char sql[] = "SELECT key, value FROM params WHERE run_id = ?1 ORDER BY key";
	int cap = 0, rc;
	*keys = NULL;
	*values = NULL;
	*n = 0;
	sqlite3_stmt *st = db_stmt(db, sql, cause);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? 2 * cap : 32;
			*keys = xrealloc(*keys, (size_t)cap * sizeof **keys);
			*values = xrealloc(*values, (size_t)cap * sizeof **values);
		}
		(*keys)[*n] = column_strdup(st, 0);
		(*values)[*n] = column_strdup(st, 1);
		(*n)++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		run_params_free(*keys, *values, *n);
		*keys = *values = NULL;
		*n = 0;
		return db_fail(db, cause, "cannot read a run's params");
	}
	return 0;
}

void
run_table_free(struct run_table *t)
{
	if (!t)
		return;
	for (int i = 0; i < t->nrows; i++) {
		run_info_done(&t->info[i]);
		for (int j = 0; t->params && j < t->nparams; j++)
			free(t->params[(size_t)i * t->nparams + j]);
	}
	free(t->info);
	free(t->params);
	free(t->results);
	free(t);
}

/* Fills row `row` of t's params and results for run id. */
static int
runs_list_fill(struct db *db, struct run_table *t, int row, const char *const *param_keys,
	       const char *const *result_names, char **cause)
{
	static const char sql_param[] = "SELECT value FROM params WHERE run_id = ?1 AND key = ?2";
	static const char sql_result[] = "SELECT value FROM results WHERE run_id = ?1 AND name = ?2";
	int64_t id = t->info[row].id;
	for (int j = 0; j < t->nparams + t->nresults; j++) {
		int is_param = j < t->nparams;
		sqlite3_stmt *st = db_stmt(db, is_param ? sql_param : sql_result, cause);
		if (!st)
			return -1;
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_text(st, 2, is_param ? param_keys[j] : result_names[j - t->nparams], -1,
				  SQLITE_STATIC);
		int rc = sqlite3_step(st);
		if (rc == SQLITE_ROW && is_param)
			t->params[(size_t)row * t->nparams + j] = column_strdup(st, 0);
		else if (rc == SQLITE_ROW)
			t->results[(size_t)row * t->nresults + j - t->nparams] = column_real(st, 0);
		sqlite3_reset(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return db_fail(db, cause, "cannot list runs");
	}
	return 0;
}

int
runs_list(struct db *db, const struct run_filter *filters, int nfilters,
	  const char *const *param_keys, int nparams, const char *const *result_names, int nresults,
	  struct run_table **out, char **cause)
{
	struct run_table *t = xcalloc(1, sizeof *t);
	sqlite3_stmt *st = NULL;
	char *sql = xstrdup("SELECT " RUN_COLUMNS " FROM runs WHERE 1");
	int ret = -1, cap = 0, rc;
	*out = NULL;
	t->nparams = nparams;
	t->nresults = nresults;
	for (int i = 0; i < nfilters; i++) {
		const char *cond = strcmp(filters[i].key, "status") == 0 ? " AND status = ?"
				   : strcmp(filters[i].key, "id") == 0 ? " AND id = CAST(? AS INTEGER)"
				   : " AND EXISTS (SELECT 1 FROM params p WHERE p.run_id = runs.id "
				     "AND p.key = ? AND p.value = ?)";
		char *s = xasprintf("%s%s", sql, cond);
		free(sql);
		sql = s;
	}
	char *s = xasprintf("%s ORDER BY id", sql);
	free(sql);
	sql = s;
	if (sqlite3_prepare_v2(db_sqlite(db), sql, -1, &st, NULL) != SQLITE_OK) {
		db_fail(db, cause, "cannot list runs");
		goto out;
	}
	for (int i = 0, b = 1; i < nfilters; i++) {
		int own = strcmp(filters[i].key, "status") == 0 || strcmp(filters[i].key, "id") == 0;
		if (!own)
			sqlite3_bind_text(st, b++, filters[i].key, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, b++, filters[i].value, -1, SQLITE_STATIC);
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (t->nrows == cap) {
			cap = cap ? 2 * cap : 64;
			t->info = xrealloc(t->info, (size_t)cap * sizeof *t->info);
		}
		memset(&t->info[t->nrows], 0, sizeof t->info[0]);
		run_info_read(&t->info[t->nrows], st);
		t->nrows++;
	}
	if (rc != SQLITE_DONE) {
		db_fail(db, cause, "cannot list runs");
		goto out;
	}
	t->params = xcalloc((size_t)t->nrows * (size_t)nparams + 1, sizeof *t->params);
	t->results = xcalloc((size_t)t->nrows * (size_t)nresults + 1, sizeof *t->results);
	for (size_t i = 0; i < (size_t)t->nrows * (size_t)nresults; i++)
		t->results[i] = NAN;
	for (int i = 0; i < t->nrows; i++)
		if (runs_list_fill(db, t, i, param_keys, result_names, cause) < 0)
			goto out;
	*out = t;
	t = NULL;
	ret = 0;
out:
	sqlite3_finalize(st);
	free(sql);
	run_table_free(t);
	return ret;
}

int
runs_sweep_open(struct db *db, const char *name, const char *spec, int create, int64_t *id,
		int *created, char **cause)
{
	static const char sql_find[] =
		"SELECT id FROM sweeps WHERE name = ?1 AND spec = ?2 ORDER BY id LIMIT 1";
	static const char sql_new[] = "INSERT INTO sweeps (name, spec) VALUES (?1, ?2)";
	*id = 0;
	*created = 0;
	/* a lookup alone takes no write lock (a dry run must not wait for workers) */
	if (create && db_begin(db, cause) < 0)
		return -1;
	sqlite3_stmt *st = db_stmt(db, sql_find, cause);
	if (!st)
		goto fail;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, spec, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		db_fail(db, cause, "cannot look up a sweep");
		goto fail;
	}
	if (!*id && create) {
		if (!(st = db_stmt(db, sql_new, cause)))
			goto fail;
		sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, spec, -1, SQLITE_TRANSIENT);
		if (step_done(db, st, "cannot create a sweep", cause) < 0)
			goto fail;
		*id = sqlite3_last_insert_rowid(db_sqlite(db));
		*created = 1;
	}
	return create ? db_commit(db, cause) : 0;
fail:
	if (create)
		db_rollback(db);
	return -1;
}

int
runs_sweep_add(struct db *db, int64_t sweep_id, int64_t run_id, int position, char **cause)
{
	static const char sql_add[] =
		"INSERT INTO sweep_runs (sweep_id, run_id, position) VALUES (?1, ?2, ?3) "
		"ON CONFLICT (sweep_id, run_id) DO UPDATE SET position = excluded.position";
	static const char sql_owner[] =
		"UPDATE runs SET sweep_id = ?1 WHERE id = ?2 AND sweep_id IS NULL";
	if (db_begin(db, cause) < 0)
		return -1;
	sqlite3_stmt *st = db_stmt(db, sql_add, cause);
	if (!st)
		goto fail;
	sqlite3_bind_int64(st, 1, sweep_id);
	sqlite3_bind_int64(st, 2, run_id);
	sqlite3_bind_int(st, 3, position);
	if (step_done(db, st, "cannot add a run to a sweep", cause) < 0 ||
	    !(st = db_stmt(db, sql_owner, cause)))
		goto fail;
	sqlite3_bind_int64(st, 1, sweep_id);
	sqlite3_bind_int64(st, 2, run_id);
	if (step_done(db, st, "cannot add a run to a sweep", cause) < 0)
		goto fail;
	return db_commit(db, cause);
fail:
	db_rollback(db);
	return -1;
}

/* The first claimable run: queued, its parent (if any) done. */
#define CLAIMABLE "r.status = 'queued' AND (r.parent_run_id IS NULL OR p.status = 'done')"

int
runs_claim(struct db *db, int64_t id, int64_t sweep_id, const char *worker, int64_t *claimed,
	   char **cause)
{
	static const char sql_one[] =
		"SELECT r.id FROM runs r LEFT JOIN runs p ON p.id = r.parent_run_id "
		"WHERE r.id = ?1 AND " CLAIMABLE;
	static const char sql_any[] =
		"SELECT r.id FROM runs r LEFT JOIN runs p ON p.id = r.parent_run_id "
		"WHERE " CLAIMABLE " ORDER BY r.id LIMIT 1";
	static const char sql_sweep[] =
		"SELECT r.id FROM sweep_runs s JOIN runs r ON r.id = s.run_id "
		"LEFT JOIN runs p ON p.id = r.parent_run_id "
		"WHERE s.sweep_id = ?1 AND " CLAIMABLE " ORDER BY s.position, r.id LIMIT 1";
	static const char sql_take[] =
		"UPDATE runs SET status = 'running', started_at = " NOW ", finished_at = NULL, "
		"heartbeat_at = " NOW ", attempts = attempts + 1, error = NULL, worker = ?2, "
		"progress = 0, stage = NULL "
		"WHERE id = ?1 AND status = 'queued'";
	*claimed = 0;
	if (db_begin(db, cause) < 0)
		return -1;
	const char *sql = id > 0 ? sql_one : sweep_id > 0 ? sql_sweep : sql_any;
	sqlite3_stmt *st = db_stmt(db, sql, cause);
	if (!st)
		goto fail;
	if (sql != sql_any)
		sqlite3_bind_int64(st, 1, id > 0 ? id : sweep_id);
	int rc = sqlite3_step(st);
	int64_t found = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		db_fail(db, cause, "cannot look for a queued run");
		goto fail;
	}
	if (found) {
		if (!(st = db_stmt(db, sql_take, cause)))
			goto fail;
		sqlite3_bind_int64(st, 1, found);
		sqlite3_bind_text(st, 2, worker, -1, SQLITE_TRANSIENT);
		if (step_done(db, st, "cannot claim a run", cause) < 0)
			goto fail;
	}
	if (db_commit(db, cause) < 0)
		return -1;
	*claimed = found;
	return 0;
fail:
	db_rollback(db);
	return -1;
}

int
runs_heartbeat(struct db *db, int64_t id, double progress, const char *stage, char **cause)
{
	static const char sql[] = "UPDATE runs SET heartbeat_at = " NOW ", progress = ?2, "
				  "stage = ?3 WHERE id = ?1 AND status = 'running'";
	sqlite3_stmt *st = db_stmt(db, sql, cause);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	if (progress >= 0 && progress <= 1)
		sqlite3_bind_double(st, 2, progress);
	if (stage)
		sqlite3_bind_text(st, 3, stage, -1, SQLITE_TRANSIENT);
	return step_done(db, st, "cannot record a heartbeat", cause);
}

int
runs_clear_records(struct db *db, int64_t id, char **cause)
{
	if (db_begin(db, cause) < 0)
		return -1;
	if (delete_records(db, id, cause) < 0) {
		db_rollback(db);
		return -1;
	}
	return db_commit(db, cause);
}

int
runs_find_worker(struct db *db, const char *worker, int64_t since, int64_t *id, char **cause)
{
	/* started_at has second precision: a claim in the second of `since` counts */
	static const char sql[] =
		"SELECT id FROM runs WHERE worker = ?1 AND started_at >= "
		"strftime('%Y-%m-%dT%H:%M:%SZ', ?2, 'unixepoch') "
		"ORDER BY started_at DESC, id DESC LIMIT 1";
	sqlite3_stmt *st = db_stmt(db, sql, cause);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, worker, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, since);
	int rc = sqlite3_step(st);
	*id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_fail(db, cause, "cannot look up a worker's run");
	return 0;
}

int
runs_sweep_get(struct db *db, int64_t id, char **name, char **spec, char **cause)
{
	static const char sql[] = "SELECT name, spec FROM sweeps WHERE id = ?1";
	*name = *spec = NULL;
	sqlite3_stmt *st = db_stmt(db, sql, cause);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*name = column_strdup(st, 0);
		*spec = column_strdup(st, 1);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return err_set(cause, "no sweep %lld in %s", (long long)id, db_path(db));
	return db_fail(db, cause, "cannot read a sweep");
}
