/*
 * job: what `qbench train` and `qbench eval` share: the configuration from
 * the command line, the run in the database (found by key, created, reused
 * or cached), the model to start from, engine events wired to the database
 * and the progress display, Ctrl-C, failures, and the final report.
 *
 * Life of a job: job_init, job_configure (command line), job_open (database,
 * model reference, run lookup), then the command loads data and a model,
 * job_start (the run exists and is running: from here any failure must go
 * through job_fail, which records it), the engine runs with job_events,
 * job_finish or job_fail, job_report, job_done.
 */
#ifndef QB_JOB_H
#define QB_JOB_H

#include <stdint.h>
#include <time.h>

#include "app/cmd.h"
#include "db/runs.h"
#include "engine/event.h"
#include "experiments/config.h"

struct db;
struct model;
struct dataset;
struct progress;
struct qat;
struct ptq;

#define JOB_MAX_METRICS 256

struct job {
	const struct cmd_ctx *ctx;
	struct config *cfg;
	struct db *db;
	char key[CONFIG_HASH_LEN + 1];
	int64_t run_id;		/* 0 until found or created */
	int64_t parent_id;	/* model=run:ID: ID, else 0 */
	int reuse;		/* run_id exists and is to be run again */
	int claimed;		/* run_id was claimed by qbench job (it is running) */
	time_t heartbeat;	/* when the run's heartbeat was last stamped */
	char *model_file;	/* file to load the model from; NULL for a zoo model */
	struct progress *progress;
	int epochs;		/* for the progress display; 0 for eval */
	/* metrics of the step being collected, written when the step is complete */
	int64_t step;
	int nmetrics;
	char *mnames[JOB_MAX_METRICS];
	double mvalues[JOB_MAX_METRICS];
	char *error;		/* first error inside an event hook (they cannot fail) */
	struct qat *qat;	/* the model's quantizers (QAT, or a quantized model evaluated) */
	struct ptq *ptq;	/* a post-training quantization (run, or a PTQ model evaluated) */
};

/* Prepares j for a job of kind "train" or "eval"; free with job_done(). */
void job_init(struct job *j, const struct cmd_ctx *ctx, const char *kind);
void job_done(struct job *j);

/*
 * Applies the command's key=value arguments to the configuration and checks
 * it. Returns CMD_EXIT_OK, or prints the error and returns CMD_EXIT_USAGE
 * (not key=value) or CMD_EXIT_CONFIG (bad key or value, key given twice,
 * job= contradicting the command).
 */
int job_configure(struct job *j, int argc, char **argv);

/*
 * Opens (creating) the database, resolves the model reference (run:ID must
 * be a finished run with a saved model; a file path becomes absolute; for an
 * eval of run:ID, dataset and loss default to the run's), computes the key
 * and looks the run up. *cached is set when a finished run with this key
 * exists and --force is not given: the caller then only reports it. Returns
 * CMD_EXIT_OK or an exit code after printing the error.
 */
int job_open(struct job *j, int *cached);

/*
 * Builds or loads the model for dataset d: a zoo architecture initialised
 * from seed, or the file from job_open. Checks that the model takes d's
 * images and classes. Returns CMD_EXIT_OK, or prints the error and returns
 * CMD_EXIT_CONFIG or CMD_EXIT_IO.
 */
int job_model(struct job *j, const struct dataset *d, struct model **out);

/* Frees the job's quantizers (j->qat, j->ptq), then m. */
void job_model_free(struct job *j, struct model *m);

/*
 * Creates the run (or resets the one to be run again), marks it running with
 * this process as worker, and records m's per-layer MACs, parameters and
 * output shapes. Returns CMD_EXIT_OK or CMD_EXIT_IO after printing the error.
 */
int job_start(struct job *j, const struct model *m);

/* Engine hooks for j: progress bar, metrics and layer statistics to the database, Ctrl-C. */
void job_events(struct job *j, struct engine_events *ev);
/* Writes the metrics still collected (end of a job). Returns 0 or -1 (j->error set). */
int job_flush(struct job *j);

/* SIGINT/SIGTERM ask the job to stop (a second one ends qbench at once). */
void job_signals_install(void);
void job_signals_restore(void);
int job_stop_requested(void);

/*
 * Ends the run as status (failed, diverged or cancelled) with the formatted
 * message as its error text, prints "qbench: run N STATUS: message" (and the
 * report with --json) and returns code.
 */
int job_fail(struct job *j, enum run_status status, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * After the engine ran (rc its return value, cause its error): a stop
 * request makes the run cancelled ("interrupted"), an engine error failed
 * (exit code `code`), an error inside an event hook failed (CMD_EXIT_IO).
 * Returns CMD_EXIT_OK when none of these happened, else job_fail's code.
 */
int job_engine_end(struct job *j, int rc, int code, const char *cause);

/*
 * Stores the results (one transaction), saves m to runs/ID/model.h5 beside
 * the database when save is nonzero, and marks the run done. On failure,
 * fails the run (job_fail) and returns its exit code.
 */
int job_finish(struct job *j, const struct model *m, const char *const *names,
	       const double *values, int n, int save);

/* Prints the run's summary (text or --json) from the database; cached says it was not rerun. */
int job_report(struct job *j, int cached);

/* A path under the database's directory ("runs/7/model.h5" -> "DIR/runs/7/model.h5"; malloc'd). */
char *job_db_relative(const char *db_path, const char *rel);

#endif
