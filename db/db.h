/*
 * db: the qbench database file: opening, checking, migrating, transactions
 * and a cache of prepared statements.
 *
 * Invariants of an open struct db:
 * - the file is an SQLite database whose PRAGMA application_id is qbench's and
 *   whose PRAGMA user_version is DB_SCHEMA_VERSION (older versions are migrated
 *   on open, one transaction per step; newer ones are refused);
 * - journal_mode is WAL (synchronous NORMAL), foreign_keys is on, busy_timeout is
 *   DB_BUSY_TIMEOUT_MS;
 * - a file that is not a database, is truncated, or belongs to another program
 *   is refused before anything is written to it.
 * This module never prints and never exits: failures return -1 with a message
 * in *cause that names the database file.
 */
#ifndef QB_DB_H
#define QB_DB_H

struct sqlite3;
struct sqlite3_stmt;
struct db;

/* The schema version this qbench writes (PRAGMA user_version). */
#define DB_SCHEMA_VERSION 3
/* PRAGMA application_id of a qbench database: "QBen" in ASCII. */
#define DB_APPLICATION_ID 0x5142656e
#define DB_BUSY_TIMEOUT_MS 10000

enum db_open_flags {
	DB_OPEN_CREATE = 1 /* create the file (and its schema) when it does not exist */
};

/*
 * Opens (or, with DB_OPEN_CREATE, creates) the database at path and brings its
 * schema to DB_SCHEMA_VERSION. Returns 0 and a handle in *out (free with
 * db_close()), or -1 with *cause when the file is missing (without the flag),
 * not a database, truncated, corrupt, from a newer qbench, or cannot be
 * migrated; in all those cases the file is left as it was.
 */
int db_open(struct db **out, const char *path, int flags, char **cause);
/* Closes the database and frees the handle; db_close(NULL) is a no-op. */
void db_close(struct db *db);

/* The path given to db_open (owned by db). */
const char *db_path(const struct db *db);
/* The underlying SQLite connection (owned by db), for direct queries. */
struct sqlite3 *db_sqlite(struct db *db);
/* The schema version in the file (after db_open, DB_SCHEMA_VERSION). */
int db_user_version(struct db *db);

/*
 * Write transactions: db_begin takes the write lock at once (BEGIN IMMEDIATE,
 * waiting up to the busy timeout). db_commit returns -1 with *cause (and rolls
 * back) when the commit fails; db_rollback never fails.
 */
int db_begin(struct db *db, char **cause);
int db_commit(struct db *db, char **cause);
void db_rollback(struct db *db);

/* Runs SQL text without results (one or more statements). -1 with *cause on error. */
int db_exec(struct db *db, const char *sql, char **cause);

/*
 * A prepared statement for sql, cached per connection and keyed by the sql
 * pointer (pass string literals). It comes back reset with no bindings; the
 * caller must not finalize it. NULL with *cause when sql does not compile.
 */
struct sqlite3_stmt *db_stmt(struct db *db, const char *sql, char **cause);

/*
 * Sets *cause to "PATH: what: <SQLite's message>" for the connection's last
 * error and returns -1.
 */
int db_fail(struct db *db, char **cause, const char *what);

#endif
