/*
 * db: opening, checking and migrating the qbench database.
 *
 * db_open() checks a file before SQLite writes anything to it: a non-empty
 * file must start with SQLite's magic string and be as long as its header says
 * (unless a write-ahead log holds the rest); its application_id must be 0 or
 * qbench's; its user_version must not be newer than DB_SCHEMA_VERSION; a
 * version-0 file must hold no tables. Only then is WAL mode set and the file
 * migrated, one step per transaction, each step re-reading user_version under
 * the write lock so that two processes opening the same new file at once
 * migrate it once.
 *
 * Migration steps form an ordered array: step v brings version v-1 to v.
 * Version 1 is db/schema.sql, embedded at build time as db_schema_sql.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "db/db.h"
#include "db/schema_sql.h"
#include "engine/util.h"

struct db_migration {
	int version;
	const char *sql;
};

/*
 * Version 2: a sweep's points, including the runs it reuses (runs.sweep_id
 * only names the sweep that created a run). position is the point's index in
 * the sweep's expansion (parents before their children).
 */
static const char db_migration_v2[] =
	"CREATE TABLE sweep_runs (\n"
	"	sweep_id  INTEGER NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,\n"
	"	run_id    INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,\n"
	"	position  INTEGER NOT NULL,\n"
	"	PRIMARY KEY (sweep_id, run_id)\n"
	") WITHOUT ROWID;\n"
	"CREATE INDEX sweep_runs_run ON sweep_runs(run_id);\n"
	"CREATE INDEX sweeps_name ON sweeps(name);\n"
	"INSERT INTO sweep_runs (sweep_id, run_id, position)\n"
	"	SELECT sweep_id, id, id FROM runs WHERE sweep_id IS NOT NULL;\n";

/*
 * Version 3: where a running run is, written with its heartbeat: progress
 * (fraction of the job done, 0..1) and stage ("epoch 3/10 train 45%").
 */
static const char db_migration_v3[] =
	"ALTER TABLE runs ADD COLUMN progress REAL CHECK (progress IS NULL OR "
	"(progress >= 0 AND progress <= 1));\n"
	"ALTER TABLE runs ADD COLUMN stage TEXT;\n";

static const struct db_migration db_migrations[] = {
	{1, db_schema_sql},
	{2, db_migration_v2},
	{3, db_migration_v3},
};
#define DB_MIGRATION_COUNT ((int)(sizeof db_migrations / sizeof db_migrations[0]))

struct db_cached_stmt {
	const char *sql;
	sqlite3_stmt *stmt;
};

struct db {
	sqlite3 *h;
	char *path;
	struct db_cached_stmt *cache;
	int ncache, cache_cap;
};

int
db_fail(struct db *db, char **cause, const char *what)
{
	return err_set(cause, "%s: %s: %s", db->path, what, sqlite3_errmsg(db->h));
}

static uint32_t
be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Nonzero when PATH-wal exists and is not empty. */
static int
wal_has_frames(const char *path)
{
	char *wal = xasprintf("%s-wal", path);
	struct stat st;
	int r = stat(wal, &st) == 0 && st.st_size > 0;
	free(wal);
	return r;
}

/*
 * Checks the 100-byte SQLite header of an existing, non-empty file of `size`
 * bytes: magic string, page size, and (when the header's page count is valid
 * and no WAL holds newer pages) that the file is not shorter than the header
 * says. Reads only.
 */
static int
db_check_header(const char *path, long long size, char **cause)
{
	unsigned char h[100];
	FILE *f = fopen(path, "rb");
	if (!f)
		return err_set(cause, "%s: %s", path, strerror(errno));
	size_t n = fread(h, 1, sizeof h, f);
	fclose(f);
	if (n < sizeof h || memcmp(h, "SQLite format 3", 16) != 0)
		return err_set(cause, "%s: not a qbench database (not an SQLite file)", path);
	long long page = (long long)h[16] << 8 | h[17];
	if (page == 1)
		page = 65536;
	if (page < 512 || (page & (page - 1)) != 0)
		return err_set(cause, "%s: corrupt database header (page size %lld)", path, page);
	long long npages = be32(h + 28);
	int count_valid = npages > 0 && be32(h + 24) == be32(h + 92);
	if (!wal_has_frames(path) && (size % page != 0 || (count_valid && npages * page > size)))
		return err_set(cause,
			       "%s: truncated database (%lld bytes, the header says %lld)", path,
			       size, count_valid ? npages * page : (size / page + 1) * page);
	return 0;
}

/* Runs a one-integer query (a PRAGMA or a count); -1 with *cause on error. */
static int
db_query_int(struct db *db, const char *sql, long long *out, char **cause)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db->h, sql, -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		db_fail(db, cause, "cannot read the database");
		sqlite3_finalize(st);
		return -1;
	}
	*out = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return 0;
}

static int
db_set_wal(struct db *db, char **cause)
{
	sqlite3_stmt *st = NULL;
	int ret = -1;
	if (sqlite3_prepare_v2(db->h, "PRAGMA journal_mode = WAL", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		db_fail(db, cause, "cannot enable WAL mode");
		goto out;
	}
	const char *mode = (const char *)sqlite3_column_text(st, 0);
	if (!mode || strcmp(mode, "wal") != 0) {
		err_set(cause, "%s: cannot enable WAL mode (journal mode stays '%s')", db->path,
			mode ? mode : "?");
		goto out;
	}
	ret = 0;
out:
	sqlite3_finalize(st);
	return ret;
}

/* Runs one migration step in its own transaction, unless another process did. */
static int
db_migrate_step(struct db *db, const struct db_migration *m, char **cause)
{
	long long v;
	if (db_begin(db, cause) < 0)
		return -1;
	if (db_query_int(db, "PRAGMA user_version", &v, cause) < 0)
		goto fail;
	if (v >= m->version) {
		db_rollback(db);
		return 0;
	}
	if (v != m->version - 1) {
		err_set(cause, "%s: cannot migrate from schema version %lld to %d", db->path, v,
			m->version);
		goto fail;
	}
	if (db_exec(db, m->sql, cause) < 0) {
		err_wrap(cause, "migration to schema version %d", m->version);
		goto fail;
	}
	char pragma[96];
	snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d; PRAGMA application_id = %d",
		 m->version, DB_APPLICATION_ID);
	if (db_exec(db, pragma, cause) < 0)
		goto fail;
	return db_commit(db, cause);
fail:
	db_rollback(db);
	return -1;
}

/* Everything db_open checks and does once the connection exists. */
static int
db_prepare_file(struct db *db, char **cause)
{
	long long app_id, version, ntables;
	sqlite3_busy_timeout(db->h, DB_BUSY_TIMEOUT_MS);
	/* Only the header first: a newer schema may use what this SQLite cannot parse. */
	if (db_query_int(db, "PRAGMA application_id", &app_id, cause) < 0 ||
	    db_query_int(db, "PRAGMA user_version", &version, cause) < 0)
		return -1;
	if (app_id != 0 && app_id != DB_APPLICATION_ID)
		return err_set(cause,
			       "%s: not a qbench database (it belongs to another program: "
			       "application_id 0x%08llx)",
			       db->path, (unsigned long long)app_id & 0xffffffffULL);
	if (version > DB_SCHEMA_VERSION)
		return err_set(cause,
			       "%s: database schema version %lld is newer than this qbench knows "
			       "(%d); use a newer qbench",
			       db->path, version, DB_SCHEMA_VERSION);
	if (db_query_int(db, "SELECT count(*) FROM sqlite_master", &ntables, cause) < 0)
		return -1;
	if (version == 0 && ntables > 0)
		return err_set(cause,
			       "%s: not a qbench database (it holds tables but no qbench schema "
			       "version)",
			       db->path);
	if (version > 0 && app_id == 0)
		return err_set(cause,
			       "%s: not a qbench database (schema version %lld without qbench's "
			       "application_id)",
			       db->path, version);
	if (version > 0 && version < DB_SCHEMA_VERSION) {
		long long ok = 0;
		sqlite3_stmt *st = NULL;
		if (sqlite3_prepare_v2(db->h, "PRAGMA quick_check", -1, &st, NULL) == SQLITE_OK &&
		    sqlite3_step(st) == SQLITE_ROW) {
			const char *r = (const char *)sqlite3_column_text(st, 0);
			ok = r && strcmp(r, "ok") == 0;
		}
		sqlite3_finalize(st);
		if (!ok)
			return err_set(cause, "%s: corrupt database: not migrated", db->path);
	}
	/* In WAL mode, synchronous=NORMAL keeps the file consistent on a crash; a
	 * power loss may only lose the last few commits. */
	if (db_set_wal(db, cause) < 0 ||
	    db_exec(db, "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL", cause) < 0)
		return -1;
	for (int i = 0; i < DB_MIGRATION_COUNT; i++)
		if (db_migrations[i].version > version &&
		    db_migrate_step(db, &db_migrations[i], cause) < 0)
			return -1;
	return 0;
}

int
db_open(struct db **out, const char *path, int flags, char **cause)
{
	struct db *db = NULL;
	struct stat st;
	int ret = -1;
	*out = NULL;
	if (stat(path, &st) < 0) {
		if (errno != ENOENT)
			return err_set(cause, "%s: %s", path, strerror(errno));
		if (!(flags & DB_OPEN_CREATE))
			return err_set(cause, "%s: no such database", path);
	} else if (S_ISDIR(st.st_mode)) {
		return err_set(cause, "%s: is a directory, not a database", path);
	} else if (st.st_size > 0 && db_check_header(path, (long long)st.st_size, cause) < 0) {
		return -1;
	}
	db = xcalloc(1, sizeof *db);
	db->path = xstrdup(path);
	int oflags = SQLITE_OPEN_READWRITE | (flags & DB_OPEN_CREATE ? SQLITE_OPEN_CREATE : 0);
	if (sqlite3_open_v2(path, &db->h, oflags, NULL) != SQLITE_OK) {
		if (db->h)
			db_fail(db, cause, "cannot open");
		else
			err_set(cause, "%s: cannot open: out of memory", path);
		goto out;
	}
	sqlite3_extended_result_codes(db->h, 1);
	if (db_prepare_file(db, cause) < 0)
		goto out;
	*out = db;
	db = NULL;
	ret = 0;
out:
	db_close(db);
	return ret;
}

void
db_close(struct db *db)
{
	if (!db)
		return;
	for (int i = 0; i < db->ncache; i++)
		sqlite3_finalize(db->cache[i].stmt);
	free(db->cache);
	sqlite3_close(db->h);
	free(db->path);
	free(db);
}

const char *
db_path(const struct db *db)
{
	return db->path;
}

struct sqlite3 *
db_sqlite(struct db *db)
{
	return db->h;
}

int
db_user_version(struct db *db)
{
	long long v = -1;
	if (db_query_int(db, "PRAGMA user_version", &v, NULL) < 0)
		return -1;
	return (int)v;
}

int
db_exec(struct db *db, const char *sql, char **cause)
{
	char *msg = NULL;
	if (sqlite3_exec(db->h, sql, NULL, NULL, &msg) != SQLITE_OK) {
		err_set(cause, "%s: %s", db->path, msg ? msg : sqlite3_errmsg(db->h));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

int
db_begin(struct db *db, char **cause)
{
	return db_exec(db, "BEGIN IMMEDIATE", cause);
}

int
db_commit(struct db *db, char **cause)
{
	if (db_exec(db, "COMMIT", cause) < 0) {
		db_rollback(db);
		return -1;
	}
	return 0;
}

void
db_rollback(struct db *db)
{
	if (!sqlite3_get_autocommit(db->h))
		sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
}

struct sqlite3_stmt *
db_stmt(struct db *db, const char *sql, char **cause)
{
	for (int i = 0; i < db->ncache; i++)
		if (db->cache[i].sql == sql) {
			sqlite3_reset(db->cache[i].stmt);
			sqlite3_clear_bindings(db->cache[i].stmt);
			return db->cache[i].stmt;
		}
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v3(db->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
		db_fail(db, cause, "cannot prepare a query");
		sqlite3_finalize(st);
		return NULL;
	}
	if (db->ncache == db->cache_cap) {
		db->cache_cap = db->cache_cap ? 2 * db->cache_cap : 16;
		db->cache = xrealloc(db->cache, (size_t)db->cache_cap * sizeof *db->cache);
	}
	db->cache[db->ncache].sql = sql;
	db->cache[db->ncache].stmt = st;
	db->ncache++;
	return st;
}
