/*
 * runner: a sweep's points in the database, and the worker processes that
 * run them.
 *
 * Planning turns the expanded points into runs: each point's configuration is
 * resolved as `qbench job` will resolve it (a model file becomes its real
 * path; a chained point's model= becomes run:ID of its float parent, whose
 * dataset and loss it inherits), hashed into its key, and looked up. Runs
 * that do not exist are created queued, parents first; every run of the plan
 * is recorded in sweep_runs with its position. A dry plan writes nothing.
 *
 * Running forks up to `jobs` workers, each `qbench job next SWEEP` in its own
 * process group with stderr on a pipe. A worker claims one claimable run
 * (queued, parent done) in one transaction and runs it; the runner keeps the
 * tail of each worker's stderr. When a worker ends and its run is still
 * running (it crashed or was killed, even by SIGKILL), the runner marks that
 * run failed with the signal or exit status and the tail; nothing else
 * changes. A stop request (Ctrl-C) sends each worker SIGTERM once; they
 * record their runs cancelled and the runner waits for them.
 *
 * Invariants: a run is claimed by one worker only (the claim is one
 * transaction); a done run is never run again by the runner unless forced
 * (runner_prepare); nothing here prints.
 */
#ifndef QB_RUNNER_H
#define QB_RUNNER_H

#include <stdint.h>

#include "db/runs.h"
#include "experiments/config.h"

struct db;
struct sweep;
struct sweep_points;

/* Seconds without a heartbeat after which a worker on another host is gone. */
#define RUNNER_STALE_S 600

/* One run of a plan. */
struct runner_point {
	struct config *cfg;	/* resolved configuration (owned) */
	char key[CONFIG_HASH_LEN + 1]; /* "" when it depends on a parent not yet created */
	int64_t run_id;		/* 0 when the run does not exist (dry plan) */
	enum run_status status;	/* RUN_QUEUED for a run to be created */
	int is_parent;		/* a float parent of chained points */
	int parent;		/* index of its parent in the plan, or -1 */
	char *label;		/* "w.bits=4 scheme=apot", or "parent model=cnn epochs=2" */
	char *worker;		/* a running run's worker (NULL otherwise) */
	char *heartbeat_at;	/* a running run's last heartbeat (NULL otherwise) */
};

struct runner_plan {
	int64_t sweep_id;	/* 0 in a dry plan of a new sweep */
	struct runner_point *v;
	int n;
};

/*
 * Plans the points of sweep name (canonical text spec). With create, writes the sweep (found again by
 * name and spec), the missing runs and sweep_runs; without, writes nothing
 * (points whose parent does not exist yet have no key). Returns 0 and *out
 * (free with runner_plan_done()), or -1 with *cause naming the point.
 */
int runner_plan(struct db *db, const char *name, const char *spec, const struct sweep_points *pts,
		int create, struct runner_plan *out, char **cause);
void runner_plan_done(struct runner_plan *p);

/* What runner_prepare requeues besides what is queued already. */
enum runner_requeue {
	RUNNER_REQUEUE_RESUME = 1, /* failed, cancelled, and running whose worker is gone */
	RUNNER_REQUEUE_FORCE = 2   /* every run that is not running under a live worker */
};

/*
 * Requeues the plan's runs as the flags say (their records are cleared) and
 * refreshes each point's status. *requeued counts them. -1 with *cause on a
 * database error.
 */
int runner_prepare(struct db *db, struct runner_plan *p, unsigned flags, int *requeued,
		   char **cause);

/*
 * Creates the queued run of cfg (resolved, with its key) and its params:
 * every key that applies to cfg's job. parent_id is the run it starts from or
 * 0. The id goes to *id.
 */
int runner_create_run(struct db *db, const struct config *cfg, const char *key, int64_t parent_id,
		      int64_t *id, char **cause);

/* Nonzero when worker ("host:pid") is gone: a dead process of this host, or
 * (another host) no heartbeat for RUNNER_STALE_S seconds. */
int runner_worker_gone(const char *worker, const char *heartbeat_at);

/*
 * Estimated seconds of running cfg: the mean time_s of done runs most like it
 * (same configuration but the seed; else the same job, model, epochs,
 * border and sizes; else the same job). NaN when no run is alike.
 */
double runner_estimate(struct db *db, const struct config *cfg);

/*
 * A memo of runner_estimate() for runner_plan_summary, kept by a caller that
 * sums up plans again and again (a screen, on every keypress). It holds the
 * estimates of the configurations it has seen (estimates do not depend on
 * seed and threads, so a seed axis costs one estimate), and forgets them by
 * itself once the database's finished runs change. Free with
 * runner_estimates_free() (NULL is a no-op).
 */
struct runner_estimates;
struct runner_estimates *runner_estimates_new(void);
void runner_estimates_free(struct runner_estimates *m);

/* What a plan has left to run, and how long that should take. */
struct runner_summary {
	int runs;	   /* runs of the plan (its distinct points and float parents) */
	int done;	   /* runs that are done */
	int to_run;	   /* runs that are not done (runs - done) */
	int unknown;	   /* runs to run without a similar finished run (NaN estimate) */
	int pending;	   /* runs to run not estimated yet: the time budget ran out */
	/* seconds of the runs to run one after the other: the sum of the estimates
	 * that are known; 0 when nothing is to run, NaN when no estimate is known */
	double estimate_s;
};

/*
 * Sums up plan p (as runner_plan made it): what is done, what is left, and
 * runner_estimate() of each run left. memo is the caller's memo (see above),
 * or NULL for one that lasts this call only. With budget_s > 0, no new
 * estimate is computed once budget_s seconds have passed (but at least one
 * is): the runs left without one are pending, and a later call with the same
 * memo goes on from there; with 0, every run is estimated. With est not NULL, est[i] (p->n
 * entries, the caller's) is run i's estimate: NaN for a done run, a pending
 * one, and one without a similar finished run. Never fails: an estimate the
 * database cannot give is unknown.
 */
void runner_plan_summary(struct db *db, const struct runner_plan *p, struct runner_estimates *memo,
			 double budget_s, double *est, struct runner_summary *out);

/*
 * A worker's log: what `qbench job` printed on stderr after claiming run id,
 * in runs/ID/job.log beside the database (malloc'd path). The tail is its
 * last `lines` lines (malloc'd), or NULL when the file does not exist.
 */
char *runner_job_log_path(struct db *db, int64_t id);
char *runner_job_log_tail(struct db *db, int64_t id, int lines);

/* How the workers are started. */
struct runner_opts {
	const char *exe;	/* the qbench executable */
	const char *db_path;	/* the database, as the workers must open it */
	int64_t sweep_id;
	int jobs;		/* workers at a time (>= 1) */
	int cores;		/* cores to share among the workers (>= 1) */
	/* OMP_NUM_THREADS of each worker; 0 = the cores shared among the workers
	 * that will run at once (a lone parent gets them all) */
	int threads;
};

/* What the runner reports (called from the runner's process, between polls). */
struct runner_events {
	void *ctx;
	/* a worker ended; run_id is the run it claimed (0: none); status as from
	 * waitpid; tail is the end of its stderr */
	void (*finished)(void *ctx, int64_t run_id, int pid, int status, const char *tail);
	/* a worker claimed run_id */
	void (*started)(void *ctx, int64_t run_id, int pid);
	/* nonzero once the user asked to stop (polled) */
	int (*should_stop)(void *ctx);
};

/*
 * Runs the claimable runs of sweep o->sweep_id with up to o->jobs workers
 * until none is left and no worker runs, or a stop was requested and every
 * worker ended. Then, unless stopped, the sweep's queued runs whose parent
 * ended without a model are marked failed ("parent run N is failed"). Returns
 * 0, or -1 with *cause when the database or fork fails (workers already
 * started are waited for first).
 */
int runner_run(struct db *db, const struct runner_opts *o, const struct runner_events *ev,
	       char **cause);

#endif
