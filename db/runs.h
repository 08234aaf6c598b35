/*
 * runs: runs and what they record (params, metrics, results, per-layer
 * statistics) in the qbench database (schema in db/schema.sql, documented in
 * docs/database.md).
 *
 * A run is one point: a fully resolved configuration identified by its key
 * (the configuration's content hash, unique). Its status moves
 *     queued -> running -> done | failed | diverged | cancelled
 * (a queued run may also fail or be cancelled before it starts), and a
 * finished or running run may go back to queued (requeued, or forced to run
 * again, which clears what it recorded). runs_set_status() enforces these
 * transitions and stamps started_at, finished_at and attempts.
 *
 * Every function returns 0 on success or -1 with a message in *cause naming
 * the database; none prints. Ids are SQLite rowids (> 0); 0 means "none".
 */
#ifndef QB_RUNS_H
#define QB_RUNS_H

#include <stdint.h>

struct db;

enum run_status {
	RUN_QUEUED,
	RUN_RUNNING,
	RUN_DONE,
	RUN_FAILED,
	RUN_DIVERGED,
	RUN_CANCELLED,
	RUN_STATUS_COUNT
};

/* "queued", "running", ... (static). */
const char *run_status_name(enum run_status s);
/* Parses a status name; -1 (and *out untouched) when s is not one. */
int run_status_parse(const char *s, enum run_status *out);
/* Nonzero when the run may go from `from` to `to`. */
int run_status_allowed(enum run_status from, enum run_status to);

/* A configuration value flattened for the params table. */
struct run_param {
	const char *key;
	const char *value;
};

/*
 * Creates a run in status queued with its key, configuration JSON and the
 * params rows, in one transaction. parent_run_id is 0 or the run it starts
 * from. Stores the new id in *id. Fails (nothing written) when the key exists.
 */
int runs_create(struct db *db, const char *key, const char *config_json,
		const struct run_param *params, int nparams, int64_t parent_run_id, int64_t *id,
		char **cause);

/*
 * Looks a run up by key: *id is its id and *status its status, or *id = 0
 * when there is none (not an error).
 */
int runs_find_key(struct db *db, const char *key, int64_t *id, enum run_status *status,
		  char **cause);

/*
 * Moves run id to status `to`, if run_status_allowed() from its current one
 * (else -1 naming both). Entering running sets started_at, clears finished_at
 * and error, and counts an attempt; entering done, failed, diverged or
 * cancelled sets finished_at; entering queued clears the timestamps, the error
 * and the worker. error (may be NULL) is stored as runs.error.
 */
int runs_set_status(struct db *db, int64_t id, enum run_status to, const char *error,
		    char **cause);

/*
 * Makes run id ready to run again: deletes its metrics, results and layers,
 * clears model_path, and moves it to queued. The configuration and params stay.
 */
int runs_reset(struct db *db, int64_t id, char **cause);

/* Sets runs.model_path (a path relative to the database's directory, or absolute). */
int runs_set_model_path(struct db *db, int64_t id, const char *path, char **cause);
/* Sets runs.worker (who runs it, e.g. "host:pid") and its heartbeat_at to now. */
int runs_set_worker(struct db *db, int64_t id, const char *worker, char **cause);

/* A named value, with the step (metrics) or layer (layers) it belongs to. */
struct run_value {
	int64_t step;	/* metrics: epoch or iteration; otherwise 0 */
	char *layer;	/* layers: the layer's group name, "03_linear"; otherwise NULL */
	char *name;
	double value;	/* NaN when stored as NULL */
};

/* Curve points of one run at one step, written in one transaction (replacing). */
int runs_add_metrics(struct db *db, int64_t id, int64_t step, const char *const *names,
		     const double *values, int n, char **cause);
/* One final scalar (replaces a previous value of the same name). */
int runs_set_result(struct db *db, int64_t id, const char *name, double value, char **cause);
/* Several final scalars in one transaction. */
int runs_set_results(struct db *db, int64_t id, const char *const *names, const double *values,
		     int n, char **cause);
/* One per-layer statistic (replaces a previous value). */
int runs_set_layer_stat(struct db *db, int64_t id, const char *layer, const char *name,
			double value, char **cause);

/* One run's row of the runs table. Strings are owned (NULL when SQL NULL). */
struct run_info {
	int64_t id;
	int64_t sweep_id;	/* 0 when none */
	int64_t parent_run_id;	/* 0 when none */
	char *key;
	char *config;		/* canonical JSON */
	enum run_status status;
	char *model_path;
	char *created_at, *started_at, *finished_at, *heartbeat_at;
	char *worker;
	int attempts;
	char *error;
	double progress;	/* fraction of the job done (heartbeats); NaN when unknown */
	char *stage;		/* "epoch 3/10 train 45%" (heartbeats), or NULL */
};

/* Reads run id into *out (free with run_info_free); -1 with "no run N" when missing. */
int runs_get(struct db *db, int64_t id, struct run_info **out, char **cause);
void run_info_free(struct run_info *r);
/* Frees the strings of r (not r itself: for run_info structs held in arrays). */
void run_info_done(struct run_info *r);

/* An owned array of values; free the contents with run_values_done(). */
struct run_values {
	struct run_value *v;
	int n;
};
void run_values_done(struct run_values *vals);

/* Results of a run, ordered by name. */
int runs_get_results(struct db *db, int64_t id, struct run_values *out, char **cause);
/* Metrics of a run, ordered by step then name. */
int runs_get_metrics(struct db *db, int64_t id, struct run_values *out, char **cause);
/* Per-layer statistics, ordered by the layer's index (its numeric prefix) then name. */
int runs_get_layers(struct db *db, int64_t id, struct run_values *out, char **cause);
/*
 * Params of a run ordered by key: caller frees with run_params_free(); *keys
 * and *values are arrays of *n owned strings.
 */
int runs_get_params(struct db *db, int64_t id, char ***keys, char ***values, int *n,
		    char **cause);
void run_params_free(char **keys, char **values, int n);

/*
 * A condition of runs_list: key "status" or "id" compares the run's own
 * column; any other key a params row (value compared as text).
 */
struct run_filter {
	const char *key;
	const char *value;
};

/*
 * A table of runs for listing: row i has the run's info, the text of the
 * requested params (NULL when the run has none) and the requested results
 * (NaN when missing).
 */
struct run_table {
	int nrows, nparams, nresults;
	struct run_info *info;	/* nrows */
	char **params;		/* nrows x nparams */
	double *results;	/* nrows x nresults */
};

/*
 * Lists the runs matching every filter (all runs when nfilters is 0), oldest
 * first, with the params named in param_keys and the results named in
 * result_names. Caller frees *out with run_table_free().
 */
int runs_list(struct db *db, const struct run_filter *filters, int nfilters,
	      const char *const *param_keys, int nparams, const char *const *result_names,
	      int nresults, struct run_table **out, char **cause);
void run_table_free(struct run_table *t);

/*
 * Sweeps. runs_sweep_open finds the sweep with this name and canonical spec,
 * or, with create, creates it (*created = 1); its id goes to *id (0 when
 * there is none and create is 0). runs_sweep_add records run
 * run_id as point `position` of the sweep (sweep_runs; again: the position is
 * updated), and makes the sweep the run's runs.sweep_id when it has none.
 */
int runs_sweep_open(struct db *db, const char *name, const char *spec, int create, int64_t *id,
		    int *created, char **cause);
int runs_sweep_add(struct db *db, int64_t sweep_id, int64_t run_id, int position, char **cause);
/* The name and canonical spec of sweep id (malloc'd); -1 with "no sweep N" when missing. */
int runs_sweep_get(struct db *db, int64_t id, char **name, char **spec, char **cause);

/*
 * Claims a run for worker ("host:pid") in one transaction: run id when id > 0,
 * else the first claimable run of sweep sweep_id (by position) when
 * sweep_id > 0, else the oldest claimable run. Claimable: queued, with no
 * parent or a done parent. The run becomes running (started_at, heartbeat_at,
 * attempts + 1, worker). *claimed is its id, or 0 when there was none to
 * claim (not an error).
 */
int runs_claim(struct db *db, int64_t id, int64_t sweep_id, const char *worker, int64_t *claimed,
	       char **cause);
/*
 * Stamps heartbeat_at of a running run with the current time, and records
 * where it is: progress in [0, 1] (anything else stores NULL) and stage text
 * (NULL stores NULL).
 */
int runs_heartbeat(struct db *db, int64_t id, double progress, const char *stage, char **cause);
/*
 * Deletes what run id recorded (metrics, results, layers, model path) without
 * changing its status: a claimed run starting again from scratch.
 */
int runs_clear_records(struct db *db, int64_t id, char **cause);
/*
 * The most recently started run of worker that started at or after `since`
 * (seconds since the epoch: when the worker was started, so that a run of an
 * earlier process with the same pid is not taken for its), in *id (0 when
 * none).
 */
int runs_find_worker(struct db *db, const char *worker, int64_t since, int64_t *id,
		     char **cause);

#endif
