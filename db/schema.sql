-- qbench database schema, version 1 (PRAGMA user_version = 1).
--
-- This file is the single source of the schema: the build embeds it into the
-- qbench binary, which runs it once, in one transaction, on an empty database.
-- Later versions add migration steps; they never edit this file's meaning.
-- docs/database.md documents every table, column and metric name.
--
-- Conventions:
--   * timestamps are ISO-8601 UTC text with second precision, 'YYYY-MM-DDTHH:MM:SSZ'
--     (they sort as text and any SQLite client can read them);
--   * child tables of runs delete with their run (ON DELETE CASCADE);
--   * params values are the canonical text of a configuration value, as
--     `qbench help keys` spells it ('0.1', 'true', 'adam'); cast to compare numbers.

CREATE TABLE sweeps (
	id          INTEGER PRIMARY KEY,
	name        TEXT NOT NULL,
	spec        TEXT NOT NULL,
	created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);

CREATE TABLE runs (
	id             INTEGER PRIMARY KEY,
	sweep_id       INTEGER REFERENCES sweeps(id) ON DELETE SET NULL,
	key            TEXT NOT NULL UNIQUE,
	config         TEXT NOT NULL CHECK (json_valid(config)),
	status         TEXT NOT NULL DEFAULT 'queued'
	               CHECK (status IN ('queued', 'running', 'done', 'failed',
	                                 'diverged', 'cancelled')),
	parent_run_id  INTEGER REFERENCES runs(id) ON DELETE SET NULL,
	model_path     TEXT,
	created_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
	started_at     TEXT,
	finished_at    TEXT,
	worker         TEXT,
	heartbeat_at   TEXT,
	attempts       INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
	error          TEXT
);
CREATE INDEX runs_status ON runs(status);
CREATE INDEX runs_sweep ON runs(sweep_id);
CREATE INDEX runs_parent ON runs(parent_run_id);

CREATE TABLE params (
	run_id  INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
	key     TEXT NOT NULL,
	value   TEXT NOT NULL,
	PRIMARY KEY (run_id, key)
) WITHOUT ROWID;
CREATE INDEX params_key_value ON params(key, value);

CREATE TABLE metrics (
	run_id  INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
	step    INTEGER NOT NULL,
	name    TEXT NOT NULL,
	value   REAL,
	PRIMARY KEY (run_id, name, step)
) WITHOUT ROWID;

CREATE TABLE results (
	run_id  INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
	name    TEXT NOT NULL,
	value   REAL,
	PRIMARY KEY (run_id, name)
) WITHOUT ROWID;
CREATE INDEX results_name_value ON results(name, value);

CREATE TABLE layers (
	run_id  INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
	layer   TEXT NOT NULL,
	name    TEXT NOT NULL,
	value   REAL,
	PRIMARY KEY (run_id, layer, name)
) WITHOUT ROWID;
