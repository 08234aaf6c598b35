/*
 * test_db: the database layer creates, migrates and refuses files as
 * promised, never modifies a file it refuses, enforces its constraints, and
 * round-trips runs and their records.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "db/db.h"
#include "db/runs.h"
#include "engine/util.h"
#include "tests/unit/tap.h"

static char *
tmp_path(const char *name)
{
	return xasprintf("%s/%s", tap_tmpdir(), name);
}

/* Whole file contents (NULL when unreadable); *n its size. */
static unsigned char *
slurp(const char *path, long *n)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	*n = ftell(f);
	fseek(f, 0, SEEK_SET);
	unsigned char *b = xmalloc((size_t)*n + 1);
	if (fread(b, 1, (size_t)*n, f) != (size_t)*n) {
		free(b);
		b = NULL;
	}
	fclose(f);
	return b;
}

/* Runs sql on path through a plain SQLite connection (no qbench checks). */
static int
raw_exec(const char *path, const char *sql)
{
	sqlite3 *h = NULL;
	int rc = sqlite3_open(path, &h);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(h, sql, NULL, NULL, NULL);
	sqlite3_close(h);
	return rc == SQLITE_OK ? 0 : -1;
}

static long long
query_int(struct db *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	long long v = -12345;
	if (sqlite3_prepare_v2(db_sqlite(db), sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static char *
query_text(struct db *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	char *v = NULL;
	if (sqlite3_prepare_v2(db_sqlite(db), sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		v = xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return v;
}

/*
 * db_open(path) must fail with a message containing `want`, and leave the
 * file's bytes exactly as they were.
 */
static void
check_refused(const char *path, const char *want, const char *what)
{
	long n0 = -1, n1 = -2;
	unsigned char *before = slurp(path, &n0);
	struct db *db = NULL;
	char *cause = NULL;
	int rc = db_open(&db, path, DB_OPEN_CREATE, &cause);
	tap_ok(rc == -1 && db == NULL, "%s: refused", what);
	tap_ok(cause && strstr(cause, want) && strstr(cause, path), "%s: message names the file and says '%s'",
	       what, want);
	if (cause)
		tap_diag("message: %s", cause);
	unsigned char *after = slurp(path, &n1);
	tap_ok(before && after && n0 == n1 && memcmp(before, after, (size_t)n0) == 0,
	       "%s: file unchanged (%ld -> %ld bytes)", what, n0, n1);
	char *wal = xasprintf("%s-wal", path);
	tap_ok(access(wal, F_OK) != 0, "%s: no WAL file created", what);
	free(wal);
	free(before);
	free(after);
	free(cause);
	db_close(db);
}

static void
test_create(void)
{
	char *path = tmp_path("new.db");
	struct db *db = NULL;
	char *cause = NULL;

	tap_eq_int(db_open(&db, path, 0, &cause), -1, "missing file without CREATE is refused");
	char *want = xasprintf("%s: no such database", path);
	tap_eq_str(cause, want, "missing file: message");
	free(want);
	free(cause);
	cause = NULL;

	tap_eq_int(db_open(&db, path, DB_OPEN_CREATE, &cause), 0, "create a new database");
	if (cause)
		tap_diag("%s", cause);
	tap_eq_int(db_user_version(db), DB_SCHEMA_VERSION, "new database has the current version");
	tap_eq_int(query_int(db, "PRAGMA application_id"), DB_APPLICATION_ID, "application_id set");
	char *mode = query_text(db, "PRAGMA journal_mode");
	tap_eq_str(mode, "wal", "WAL mode on");
	free(mode);
	tap_eq_int(query_int(db, "PRAGMA foreign_keys"), 1, "foreign keys on");
	tap_eq_int(query_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN "
				 "('sweeps','runs','params','metrics','results','layers')"),
		   6, "all six tables exist");
	db_close(db);

	tap_eq_int(db_open(&db, path, 0, &cause), 0, "reopen an existing database");
	tap_eq_int(db_user_version(db), DB_SCHEMA_VERSION, "reopened version");
	db_close(db);
	free(path);
}

static void
test_migrate_v0(void)
{
	char *path = tmp_path("v0.db");
	/* An SQLite file at user_version 0 with no tables (a table made and dropped). */
	tap_eq_int(raw_exec(path, "CREATE TABLE t(x); DROP TABLE t;"), 0, "make an empty v0 file");
	struct db *db = NULL;
	char *cause = NULL;
	tap_eq_int(db_open(&db, path, 0, &cause), 0, "open an empty v0 database");
	if (cause)
		tap_diag("%s", cause);
	tap_eq_int(db_user_version(db), DB_SCHEMA_VERSION, "v0 migrated to the current version");
	tap_eq_int(query_int(db, "SELECT count(*) FROM runs"), 0, "migrated database is usable");
	db_close(db);
	free(cause);

	char *empty = tmp_path("empty.db");
	FILE *f = fopen(empty, "wb");
	fclose(f);
	cause = NULL;
	tap_eq_int(db_open(&db, empty, 0, &cause), 0, "a zero-byte file is an empty database");
	tap_eq_int(db_user_version(db), DB_SCHEMA_VERSION, "zero-byte file migrated");
	db_close(db);
	free(cause);
	free(empty);
	free(path);
}

/* A version-1 database (before sweep_runs) is migrated, its sweep's runs listed. */
static void
test_migrate_v1(void)
{
	char *path = tmp_path("v1.db");
	struct db *db = NULL;
	char *cause = NULL;
	int64_t id;
	db_open(&db, path, DB_OPEN_CREATE, &cause);
	db_exec(db, "INSERT INTO sweeps (id, name, spec) VALUES (4, 'old', 'seed=1,2')", &cause);
	runs_create(db, "00000000000000aa", "{}", NULL, 0, 0, &id, &cause);
	db_exec(db, "UPDATE runs SET sweep_id = 4", &cause);
	db_close(db);
	/* what a version-1 file looks like */
	tap_eq_int(raw_exec(path, "DROP TABLE sweep_runs; DROP INDEX sweeps_name; "
				  "ALTER TABLE runs DROP COLUMN stage; "
				  "ALTER TABLE runs DROP COLUMN progress; PRAGMA user_version = 1"),
		   0, "make a version-1 file");
	tap_eq_int(db_open(&db, path, 0, &cause), 0, "open a version-1 database");
	if (cause)
		tap_diag("%s", cause);
	tap_eq_int(db_user_version(db), DB_SCHEMA_VERSION, "v1 migrated to the current version");
	tap_eq_int(query_int(db, "SELECT count(*) FROM sweep_runs WHERE sweep_id = 4 AND run_id = 1"),
		   1, "the sweep's run is listed in sweep_runs");
	db_close(db);
	free(cause);
	free(path);
}

/* Claims: one transaction, parents first, nothing claimable twice. */
static void
test_claim(void)
{
	char *path = tmp_path("claim.db");
	struct db *db = NULL;
	char *cause = NULL;
	int64_t parent, child, other, sweep, got;
	int created;
	db_open(&db, path, DB_OPEN_CREATE, &cause);
	runs_create(db, "00000000000000p1", "{}", NULL, 0, 0, &parent, &cause);
	runs_create(db, "00000000000000c1", "{}", NULL, 0, parent, &child, &cause);
	runs_create(db, "00000000000000o1", "{}", NULL, 0, 0, &other, &cause);
	tap_eq_int(runs_sweep_open(db, "s", "seed=1", 0, &sweep, &created, &cause), 0,
		   "look a sweep up without creating it");
	tap_ok(sweep == 0 && !created, "no sweep yet");
	runs_sweep_open(db, "s", "seed=1", 1, &sweep, &created, &cause);
	tap_ok(sweep > 0 && created, "the sweep is created");
	runs_sweep_open(db, "s", "seed=1", 1, &got, &created, &cause);
	tap_ok(got == sweep && !created, "and found again by name and spec");
	runs_sweep_add(db, sweep, child, 0, &cause);
	runs_sweep_add(db, sweep, parent, 1, &cause);
	tap_eq_int(runs_claim(db, 0, sweep, "h:1", &got, &cause), 0, "claim in the sweep");
	tap_eq_int((int)got, (int)parent, "the parent first: its child waits for it");
	tap_eq_int(runs_claim(db, 0, sweep, "h:2", &got, &cause), 0, "claim again");
	tap_eq_int((int)got, 0, "nothing claimable while the parent runs");
	tap_eq_int(runs_claim(db, parent, 0, "h:3", &got, &cause), 0, "claim a running run by id");
	tap_eq_int((int)got, 0, "a running run is not claimed twice");
	runs_set_status(db, parent, RUN_DONE, NULL, &cause);
	runs_claim(db, 0, sweep, "h:4", &got, &cause);
	tap_eq_int((int)got, (int)child, "the child once its parent is done");
	tap_eq_int(query_int(db, "SELECT attempts FROM runs WHERE id = 2"), 1, "one attempt counted");
	runs_find_worker(db, "h:4", time(NULL) - 5, &got, &cause);
	tap_eq_int((int)got, (int)child, "the worker's run is found by its name");
	runs_find_worker(db, "h:4", time(NULL) + 5, &got, &cause);
	tap_eq_int((int)got, 0,
		   "a run claimed before a worker started is not its (a reused pid)");
	struct run_info *r = NULL;
	runs_get(db, child, &r, &cause);
	tap_ok(r && r->progress == 0 && r->stage == NULL, "a claimed run starts at progress 0");
	run_info_free(r);
	tap_eq_int(runs_heartbeat(db, child, 0.25, "epoch 1/4 train 100%", &cause), 0,
		   "a heartbeat with progress");
	runs_get(db, child, &r, &cause);
	tap_ok(r && r->progress == 0.25 && r->stage && !strcmp(r->stage, "epoch 1/4 train 100%"),
	       "progress and stage are recorded");
	run_info_free(r);
	runs_heartbeat(db, child, NAN, NULL, &cause);
	runs_get(db, child, &r, &cause);
	tap_ok(r && isnan(r->progress) && !r->stage, "unknown progress is stored as NULL");
	run_info_free(r);
	runs_claim(db, 0, 0, "h:5", &got, &cause);
	tap_eq_int((int)got, (int)other, "without a sweep, any claimable run");
	runs_set_result(db, child, "test_acc", 0.5, &cause);
	runs_clear_records(db, child, &cause);
	tap_eq_int(query_int(db, "SELECT count(*) FROM results WHERE run_id = 2"), 0,
		   "clearing a claimed run drops its records");
	tap_eq_int(query_int(db, "SELECT status = 'running' FROM runs WHERE id = 2"), 1,
		   "and keeps it running");
	runs_set_status(db, child, RUN_DONE, NULL, &cause);
	tap_eq_int(query_int(db, "SELECT progress = 1 FROM runs WHERE id = 2"), 1,
		   "a done run is at progress 1");
	runs_reset(db, child, &cause);
	tap_eq_int(query_int(db, "SELECT progress IS NULL AND stage IS NULL FROM runs WHERE id = 2"),
		   1, "a requeued run has no progress");
	if (cause)
		tap_diag("%s", cause);
	db_close(db);
	free(cause);
	free(path);
}

static void
test_refuse(void)
{
	char *path = tmp_path("newer.db");
	struct db *db = NULL;
	char *cause = NULL;
	db_open(&db, path, DB_OPEN_CREATE, &cause);
	db_close(db);
	raw_exec(path, "PRAGMA user_version = 99");
	char want[96];
	snprintf(want, sizeof want,
		 "database schema version 99 is newer than this qbench knows (%d)",
		 DB_SCHEMA_VERSION);
	check_refused(path, want, "newer version");
	free(path);

	path = tmp_path("text.db");
	FILE *f = fopen(path, "wb");
	fputs("this is a plain text file, not a database\n", f);
	fclose(f);
	check_refused(path, "not a qbench database (not an SQLite file)", "text file");
	free(path);

	/* A real database with enough runs for several pages, cut in half. */
	path = tmp_path("truncated.db");
	db_open(&db, path, DB_OPEN_CREATE, &cause);
	for (int i = 0; i < 200; i++) {
		char key[32];
		int64_t id;
		snprintf(key, sizeof key, "%016x", i);
		runs_create(db, key, "{\"pad\":\"................................................\"}",
			    NULL, 0, 0, &id, &cause);
	}
	db_close(db);
	long n = 0;
	unsigned char *b = slurp(path, &n);
	tap_ok(n >= 4 * 4096, "database spans several pages (%ld bytes)", n);
	f = fopen(path, "wb");
	fwrite(b, 1, (size_t)n / 2 + 100, f);
	fclose(f);
	free(b);
	check_refused(path, "truncated database", "truncated file");
	free(path);

	path = tmp_path("foreign.db");
	raw_exec(path, "CREATE TABLE customers(name TEXT)");
	check_refused(path, "not a qbench database (it holds tables but no qbench schema version)",
		      "other program's tables");
	free(path);

	path = tmp_path("appid.db");
	raw_exec(path, "PRAGMA application_id = 42; CREATE TABLE t(x)");
	check_refused(path, "it belongs to another program: application_id 0x0000002a",
		      "other application_id");
	free(path);

	path = tmp_path("dir.db");
	char *cmd = xasprintf("mkdir -p '%s'", path);
	tap_eq_int(system(cmd), 0, "make a directory");
	free(cmd);
	tap_eq_int(db_open(&db, path, DB_OPEN_CREATE, &cause), -1, "a directory is refused");
	tap_ok(cause && strstr(cause, "is a directory"), "directory: message");
	free(cause);
	free(path);
}

static void
test_constraints(struct db *db)
{
	char *cause = NULL;
	int64_t id = 0;
	const struct run_param p[] = {{"model", "mlp"}};
	tap_eq_int(runs_create(db, "cafe000000000001", "{\"model\":\"mlp\"}", p, 1, 0, &id, &cause),
		   0, "create a run");
	tap_eq_int(runs_create(db, "cafe000000000001", "{}", NULL, 0, 0, &id, &cause), -1,
		   "a duplicate key is refused");
	tap_ok(cause && strstr(cause, "UNIQUE"), "duplicate key: message (%s)", cause ? cause : "");
	free(cause);
	cause = NULL;
	tap_eq_int(runs_create(db, "cafe000000000002", "{not json", NULL, 0, 0, &id, &cause), -1,
		   "invalid config JSON is refused");
	free(cause);
	cause = NULL;
	tap_eq_int(runs_add_metrics(db, 999999, 1, (const char *const[]){"loss"}, (double[]){1.0}, 1,
				    &cause),
		   -1, "a metric for a missing run violates the foreign key");
	tap_ok(cause && strstr(cause, "FOREIGN KEY"), "foreign key: message (%s)", cause ? cause : "");
	free(cause);
	cause = NULL;
	tap_ok(db_exec(db, "UPDATE runs SET status = 'sleeping'", &cause) == -1 && cause &&
		       strstr(cause, "CHECK"),
	       "status CHECK constraint");
	free(cause);
}

static void
test_round_trip(struct db *db)
{
	char *cause = NULL;
	int64_t id = 0, parent = 0;
	const struct run_param params[] = {
		{"job", "train"}, {"model", "mlp"}, {"epochs", "2"}, {"lr", "0.1"}};
	tap_eq_int(runs_create(db, "0123456789abcdef", "{\"epochs\":2,\"model\":\"mlp\"}", params, 4,
			       0, &parent, &cause),
		   0, "create parent run");
	const struct run_param params2[] = {{"job", "eval"}, {"model", "run:1"}};
	tap_eq_int(runs_create(db, "fedcba9876543210", "{\"job\":\"eval\"}", params2, 2, parent, &id,
			       &cause),
		   0, "create child run");

	int64_t found = -1;
	enum run_status st = RUN_DONE;
	runs_find_key(db, "0123456789abcdef", &found, &st, &cause);
	tap_ok(found == parent && st == RUN_QUEUED, "find by key: id %lld status %s",
	       (long long)found, run_status_name(st));
	runs_find_key(db, "ffffffffffffffff", &found, &st, &cause);
	tap_eq_int(found, 0, "unknown key: id 0");

	/* transitions */
	tap_eq_int(runs_set_status(db, parent, RUN_DONE, NULL, &cause), -1, "queued -> done refused");
	char *want = xasprintf("run %lld cannot go from queued to done", (long long)parent);
	tap_eq_str(cause, want, "illegal transition: message");
	free(want);
	free(cause);
	cause = NULL;
	tap_eq_int(runs_set_status(db, parent, RUN_RUNNING, NULL, &cause), 0, "queued -> running");
	struct run_info *ri = NULL;
	runs_get(db, parent, &ri, &cause);
	tap_ok(ri && ri->status == RUN_RUNNING && ri->started_at && !ri->finished_at &&
		       ri->attempts == 1,
	       "running: started_at set, attempts 1");
	tap_eq_int(runs_set_worker(db, parent, "node7:4242", &cause), 0, "set the worker");
	run_info_free(ri);
	runs_get(db, parent, &ri, &cause);
	tap_ok(ri && ri->worker && strcmp(ri->worker, "node7:4242") == 0 && ri->heartbeat_at,
	       "worker and heartbeat stored");
	tap_ok(ri && ri->started_at && strlen(ri->started_at) == 20 && ri->started_at[10] == 'T' &&
		       ri->started_at[19] == 'Z',
	       "timestamps are ISO-8601 UTC (%s)", ri && ri->started_at ? ri->started_at : "");
	run_info_free(ri);

	const char *names[] = {"train_loss", "test_acc"};
	double e1[] = {0.9, 0.7}, e2[] = {0.5, NAN};
	tap_eq_int(runs_add_metrics(db, parent, 1, names, e1, 2, &cause), 0, "metrics epoch 1");
	tap_eq_int(runs_add_metrics(db, parent, 2, names, e2, 2, &cause), 0, "metrics epoch 2");
	const char *rn[] = {"test_acc", "params"};
	double rv[] = {0.875, 101770};
	tap_eq_int(runs_set_results(db, parent, rn, rv, 2, &cause), 0, "results");
	tap_eq_int(runs_set_result(db, parent, "test_acc", 0.8751, &cause), 0, "result replaced");
	runs_set_layer_stat(db, parent, "10_linear", "macs", 1280, &cause);
	runs_set_layer_stat(db, parent, "02_linear", "macs", 100352, &cause);
	runs_set_layer_stat(db, parent, "02_linear", "params", 100480, &cause);
	tap_eq_int(runs_set_model_path(db, parent, "runs/1/model.h5", &cause), 0, "model path");
	tap_eq_int(runs_set_status(db, parent, RUN_DONE, NULL, &cause), 0, "running -> done");
	tap_eq_int(runs_set_status(db, parent, RUN_RUNNING, NULL, &cause), -1, "done -> running refused");
	free(cause);
	cause = NULL;

	runs_get(db, parent, &ri, &cause);
	tap_ok(ri && ri->status == RUN_DONE && ri->finished_at && ri->parent_run_id == 0,
	       "done: finished_at set");
	tap_eq_str(ri ? ri->model_path : NULL, "runs/1/model.h5", "model path read back");
	tap_eq_str(ri ? ri->config : NULL, "{\"epochs\":2,\"model\":\"mlp\"}", "config read back");
	run_info_free(ri);
	runs_get(db, id, &ri, &cause);
	tap_eq_int(ri ? ri->parent_run_id : -1, parent, "child has its parent");
	run_info_free(ri);
	tap_eq_int(runs_get(db, 424242, &ri, &cause), -1, "missing run");
	tap_ok(cause && strncmp(cause, "no run 424242 in ", 17) == 0, "missing run: message");
	free(cause);
	cause = NULL;

	struct run_values v;
	runs_get_metrics(db, parent, &v, &cause);
	tap_ok(v.n == 4 && v.v[0].step == 1 && strcmp(v.v[0].name, "test_acc") == 0 &&
		       v.v[0].value == 0.7 && v.v[3].step == 2 && v.v[3].value == 0.5 &&
		       isnan(v.v[2].value),
	       "metrics round trip (NaN stored as NULL)");
	run_values_done(&v);
	runs_get_results(db, parent, &v, &cause);
	tap_ok(v.n == 2 && strcmp(v.v[0].name, "params") == 0 && v.v[0].value == 101770 &&
		       v.v[1].value == 0.8751,
	       "results round trip");
	run_values_done(&v);
	runs_get_layers(db, parent, &v, &cause);
	tap_ok(v.n == 3 && strcmp(v.v[0].layer, "02_linear") == 0 && strcmp(v.v[0].name, "macs") == 0 &&
		       strcmp(v.v[2].layer, "10_linear") == 0,
	       "layers ordered by index");
	run_values_done(&v);
	char **keys, **vals;
	int np;
	runs_get_params(db, parent, &keys, &vals, &np, &cause);
	tap_ok(np == 4 && strcmp(keys[0], "epochs") == 0 && strcmp(vals[0], "2") == 0 &&
		       strcmp(keys[3], "model") == 0,
	       "params round trip, sorted by key");
	run_params_free(keys, vals, np);

	/* listing */
	const char *pk[] = {"model", "epochs"};
	const char *rk[] = {"test_acc", "nothing"};
	struct run_table *t = NULL;
	tap_eq_int(runs_list(db, NULL, 0, pk, 2, rk, 2, &t, &cause), 0, "list all");
	int base = t ? t->nrows - 2 : 0;
	tap_ok(t && t->nrows >= 2 && t->info[base].id == parent && t->info[base + 1].id == id,
	       "list oldest first");
	tap_ok(t && strcmp(t->params[base * 2 + 0], "mlp") == 0 &&
		       strcmp(t->params[base * 2 + 1], "2") == 0 && t->params[(base + 1) * 2 + 1] == NULL,
	       "list params (missing is NULL)");
	tap_ok(t && t->results[base * 2] == 0.8751 && isnan(t->results[base * 2 + 1]),
	       "list results (missing is NaN)");
	run_table_free(t);
	const struct run_filter f1[] = {{"model", "run:1"}};
	runs_list(db, f1, 1, pk, 2, rk, 0, &t, &cause);
	tap_ok(t && t->nrows == 1 && t->info[0].id == id, "filter on a param");
	run_table_free(t);
	const struct run_filter f2[] = {{"status", "done"}, {"job", "train"}};
	runs_list(db, f2, 2, NULL, 0, NULL, 0, &t, &cause);
	tap_ok(t && t->nrows == 1 && t->info[0].id == parent, "filter on status and a param");
	run_table_free(t);
	char idtext[32];
	snprintf(idtext, sizeof idtext, "%lld", (long long)id);
	const struct run_filter f3[] = {{"id", idtext}};
	runs_list(db, f3, 1, NULL, 0, NULL, 0, &t, &cause);
	tap_ok(t && t->nrows == 1 && t->info[0].id == id, "filter on id");
	run_table_free(t);

	/* reset and requeue */
	tap_eq_int(runs_reset(db, parent, &cause), 0, "reset a done run");
	runs_get_metrics(db, parent, &v, &cause);
	tap_eq_int(v.n, 0, "reset clears metrics");
	run_values_done(&v);
	runs_get(db, parent, &ri, &cause);
	tap_ok(ri && ri->status == RUN_QUEUED && !ri->model_path && !ri->started_at,
	       "reset: queued, no model path, no timestamps");
	run_info_free(ri);
	runs_get_params(db, parent, &keys, &vals, &np, &cause);
	tap_eq_int(np, 4, "reset keeps params");
	run_params_free(keys, vals, np);
	runs_set_status(db, parent, RUN_RUNNING, NULL, &cause);
	runs_set_status(db, parent, RUN_FAILED, "out of disk", &cause);
	runs_get(db, parent, &ri, &cause);
	tap_ok(ri && ri->status == RUN_FAILED && ri->error && strcmp(ri->error, "out of disk") == 0 &&
		       ri->attempts == 2,
	       "failed with error text, second attempt");
	run_info_free(ri);

	/* cascade */
	runs_add_metrics(db, id, 1, names, e1, 2, &cause);
	char *sql = xasprintf("DELETE FROM runs WHERE id = %lld", (long long)id);
	tap_eq_int(db_exec(db, sql, &cause), 0, "delete a run");
	free(sql);
	sql = xasprintf("SELECT (SELECT count(*) FROM params WHERE run_id = %lld) + "
			"(SELECT count(*) FROM metrics WHERE run_id = %lld)",
			(long long)id, (long long)id);
	tap_eq_int(query_int(db, sql), 0, "children deleted with the run");
	free(sql);
	sql = xasprintf("DELETE FROM runs WHERE id = %lld", (long long)parent);
	db_exec(db, sql, &cause);
	free(sql);

	enum run_status s;
	tap_ok(run_status_parse("cancelled", &s) == 0 && s == RUN_CANCELLED &&
		       run_status_parse("canceled", &s) == -1,
	       "status names parse");
	free(cause);
}

int
main(void)
{
	test_create();
	test_migrate_v0();
	test_migrate_v1();
	test_claim();
	test_refuse();

	char *path = tmp_path("runs.db");
	struct db *db = NULL;
	char *cause = NULL;
	if (db_open(&db, path, DB_OPEN_CREATE, &cause) < 0) {
		tap_ok(0, "open %s: %s", path, cause);
		return tap_done();
	}
	test_constraints(db);
	test_round_trip(db);
	db_close(db);
	free(path);
	return tap_done();
}
