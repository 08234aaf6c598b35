/*
 * cmd_sweep: `qbench sweep FILE.sweep | k=v... [-j N] [--dry-run] [--resume]
 * [--force]`: expand a sweep, plan its points into runs, run the ones left
 * with parallel workers, then print the sweep's results.
 *
 * Order: parse and expand (a spec error names file, line and column and
 * writes nothing), open the database, plan (creating the sweep and its
 * queued runs), requeue what the flags ask for, run. Ctrl-C stops starting
 * points and cancels the running ones; a second Ctrl-C ends the runner at
 * once (its workers still cancel their runs, and --resume picks them up).
 * Exit codes: 0 every point done, 1 some point failed, diverged or was
 * cancelled, 2 usage, 3 spec error, 4 files or database.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "app/cmd.h"
#include "app/table.h"
#include "db/db.h"
#include "db/query.h"
#include "db/results.h"
#include "db/runs.h"
#include "engine/util.h"
#include "experiments/runner.h"
#include "experiments/sweep.h"

static volatile sig_atomic_t sweep_stop;

static void
sweep_on_signal(int sig)
{
	(void)sig;
	sweep_stop = 1;
}

/* What the runner's events print. */
struct sweep_ui {
	struct db *db;
	int quiet;
	int total;	/* runs to run */
	int ended;
	int bad;	/* failed, diverged or cancelled */
};

/* A .sweep path as given, else a shipped sweep of that name (malloc'd). */
static char *
sweep_find_file(const char *arg)
{
	struct stat st;
	char *shipped;
	if (stat(arg, &st) == 0 || strchr(arg, '/') || !(shipped = cmd_find_sweep(arg)))
		return xstrdup(arg);
	return shipped;
}

/* sweep:ID: the sweep recorded in the database, parsed again from its spec. */
static int
sweep_parse_recorded(const struct cmd_ctx *ctx, const char *ref, struct sweep **out)
{
	long long id;
	struct db *db = NULL;
	char *name = NULL, *spec = NULL, *cause = NULL;
	int ret;
	if (cmd_parse_run_id(ref + 6, &id) < 0)
		return cmd_error(CMD_EXIT_USAGE, "bad sweep reference '%s' (sweep:ID)", ref);
	if ((ret = cmd_open_db(ctx, 0, &db)) != CMD_EXIT_OK)
		return ret;
	char file[64];
	snprintf(file, sizeof file, "sweep %lld", id);
	if (runs_sweep_get(db, id, &name, &spec, &cause) < 0)
		ret = cmd_error(CMD_EXIT_CONFIG, "%s", cause);
	else if (sweep_parse_text(out, file, name, spec, &cause) < 0)
		ret = cmd_error(CMD_EXIT_CONFIG, "%s", cause);
	db_close(db);
	free(name);
	free(spec);
	free(cause);
	return ret;
}

/* Parses the arguments: one file, a recorded sweep, or lines. */
static int
sweep_parse(const struct cmd_ctx *ctx, int argc, char **argv, struct sweep **out)
{
	char *cause = NULL;
	int ret = CMD_EXIT_OK, rc;
	if (argc == 1 && strncmp(argv[0], "sweep:", 6) == 0)
		return sweep_parse_recorded(ctx, argv[0], out);
	if (argc == 0)
		return cmd_error(CMD_EXIT_USAGE,
				 "usage: qbench sweep FILE.sweep | sweep:ID | k=v ... [-j N] [--dry-run] "
				 "[--resume] [--force]");
	if (argc == 1 && !strchr(argv[0], '=') && argv[0][0] != ':') {
		char *path = sweep_find_file(argv[0]);
		struct stat st;
		if (stat(path, &st) < 0) {
			ret = cmd_error(CMD_EXIT_IO, "%s: %s (a sweep file, or key=value lines)",
					argv[0], strerror(errno));
			free(path);
			return ret;
		}
		rc = sweep_parse_file(out, path, &cause);
		free(path);
	} else {
		rc = sweep_parse_args(out, argc, argv, &cause);
	}
	if (rc < 0)
		ret = cmd_error(CMD_EXIT_CONFIG, "%s", cause);
	free(cause);
	return ret;
}

/* "1 h 02 min", "3 min 20 s", "12 s". */
static void
format_duration(char *buf, size_t n, double s)
{
	if (!isfinite(s))
		snprintf(buf, n, "unknown");
	else if (s >= 3600)
		snprintf(buf, n, "%d h %02d min", (int)(s / 3600), (int)fmod(s / 60, 60));
	else if (s >= 60)
		snprintf(buf, n, "%d min %02d s", (int)(s / 60), (int)fmod(s, 60));
	else
		snprintf(buf, n, "%.0f s", s);
}

/* Cores of this machine (at least 1). */
static int
sweep_cores(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n >= 1 ? (int)n : 1;
}

/* Workers at a time: -j, else one per core, at most the runs to run (at least 1). */
static int
sweep_jobs(const struct cmd_ctx *ctx, int todo, int cores)
{
	if (ctx->jobs)
		return ctx->jobs;
	return todo < cores ? (todo ? todo : 1) : cores;
}

/* Prints the plan with its estimate (--dry-run). */
static void
sweep_print_plan(struct db *db, const struct runner_plan *p, int jobs)
{
	struct table *t = table_new(4, (const char *const[]){"run", "status", "estimate", "point"});
	table_align_right(t, 0);
	table_align_right(t, 2);
	struct runner_summary sum;
	double *est = xmalloc(((size_t)p->n + 1) * sizeof *est);
	runner_plan_summary(db, p, NULL, 0, est, &sum);
	for (int i = 0; i < p->n; i++) {
		const struct runner_point *pt = &p->v[i];
		char id[32] = "-", dur[48] = "";
		if (pt->run_id)
			snprintf(id, sizeof id, "%lld", (long long)pt->run_id);
		if (pt->status != RUN_DONE)
			format_duration(dur, sizeof dur, est[i]);
		const char *status = pt->run_id ? run_status_name(pt->status) : "new";
		table_add_row(t, (const char *const[]){id, status, dur, pt->label});
	}
	free(est);
	table_print(t, stdout, "");
	table_free(t);
	char buf[64];
	int todo = sum.to_run, unknown = sum.unknown;
	int slots = jobs < todo ? jobs : todo;
	format_duration(buf, sizeof buf, slots > 0 ? sum.estimate_s / slots : 0);
	printf("%d points: %d done, %d to run", sum.runs, sum.done, todo);
	if (todo && unknown == todo)
		printf("; no similar finished run to estimate the time from");
	else if (todo)
		printf("; estimated %s with -j %d", buf, jobs);
	if (todo && unknown && unknown < todo)
		printf(" (%d without a similar finished run, not counted)", unknown);
	printf("\n");
}

/* The point's label: its params that the sweep varies, from the plan. */
static const char *
plan_label(const struct runner_plan *p, int64_t id)
{
	for (int i = 0; i < p->n; i++)
		if (p->v[i].run_id == id)
			return p->v[i].label;
	return "";
}

struct sweep_ctx {
	struct sweep_ui ui;
	const struct runner_plan *plan;
};

static void
sweep_on_started(void *ctx, int64_t run_id, int pid)
{
	struct sweep_ctx *c = ctx;
	(void)pid;
	if (!c->ui.quiet)
		fprintf(stderr, "run %lld started  %s\n", (long long)run_id, plan_label(c->plan, run_id));
}

/* The value of result name among vals (NaN when missing). */
static double
result_of(const struct run_values *vals, const char *name)
{
	for (int i = 0; i < vals->n; i++)
		if (strcmp(vals->v[i].name, name) == 0)
			return vals->v[i].value;
	return NAN;
}

static void
sweep_on_finished(void *ctx, int64_t run_id, int pid, int status, const char *tail)
{
	struct sweep_ctx *c = ctx;
	struct sweep_ui *ui = &c->ui;
	struct run_info *r = NULL;
	char *cause = NULL;
	(void)tail;
	if (!run_id)
		return; /* the worker found nothing to claim */
	ui->ended++;
	if (runs_get(ui->db, run_id, &r, &cause) < 0) {
		cmd_error(CMD_EXIT_IO, "%s", cause);
		free(cause);
		return;
	}
	int ok = r->status == RUN_DONE;
	ui->bad += !ok;
	if (!ui->quiet || !ok) {
		fprintf(stderr, "[%d/%d] run %lld %s", ui->ended, ui->total, (long long)run_id,
			run_status_name(r->status));
		const char *label = plan_label(c->plan, run_id);
		if (*label)
			fprintf(stderr, "  %s", label);
		struct run_values vals = {0};
		if (runs_get_results(ui->db, run_id, &vals, &cause) < 0) {
			free(cause);
			cause = NULL;
		}
		double acc = result_of(&vals, "test_acc"), time = result_of(&vals, "time_s");
		run_values_done(&vals);
		if (isfinite(acc))
			fprintf(stderr, "  test_acc %.4f", acc);
		if (isfinite(time))
			fprintf(stderr, "  %.1f s", time);
		if (!ok && r->error)
			fprintf(stderr, "\n    %s", r->error);
		else if (!ok && WIFSIGNALED(status))
			fprintf(stderr, "\n    worker %d killed by signal %d", pid, WTERMSIG(status));
		fputc('\n', stderr);
	}
	run_info_free(r);
}

static int
sweep_should_stop(void *ctx)
{
	(void)ctx;
	return sweep_stop != 0;
}

/* The qbench executable, for the workers (malloc'd). */
static char *
self_exe(void)
{
	char buf[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
	if (n <= 0)
		return xstrdup("qbench");
	buf[n] = '\0';
	return xstrdup(buf);
}

/* Counts the plan's runs by status after refreshing them from the database. */
static int
plan_count(struct db *db, const struct runner_plan *p, int counts[RUN_STATUS_COUNT])
{
	memset(counts, 0, sizeof(int) * RUN_STATUS_COUNT);
	for (int i = 0; i < p->n; i++) {
		struct run_info *r = NULL;
		char *cause = NULL;
		if (!p->v[i].run_id)
			continue;
		if (runs_get(db, p->v[i].run_id, &r, &cause) < 0) {
			int ret = cmd_error(CMD_EXIT_IO, "%s", cause);
			free(cause);
			return ret;
		}
		counts[r->status]++;
		run_info_free(r);
	}
	return CMD_EXIT_OK;
}

/* The sweep's results as a table on stdout (only the columns that vary). */
static int
sweep_print_results(struct db *db, int64_t sweep_id)
{
	char filter[48];
	char *argv[] = {filter};
	struct query *q = NULL;
	struct results *res = NULL;
	char *cause = NULL;
	int ret = CMD_EXIT_OK;
	snprintf(filter, sizeof filter, "sweep=%lld", (long long)sweep_id);
	struct results_opts o = {0};
	if (query_parse(&q, db, 1, argv, &cause) < 0 || results_build(db, q, &o, &res, &cause) < 0) {
		ret = cmd_error(CMD_EXIT_IO, "%s", cause);
		goto out;
	}
	fflush(stderr);
	cmd_print_results(res, stdout);
out:
	results_free(res);
	query_free(q);
	free(cause);
	return ret;
}

static int
sweep_exec(const struct cmd_ctx *ctx, int argc, char **argv)
{
	struct sweep *s = NULL;
	struct sweep_points pts = {0};
	struct runner_plan plan = {0};
	struct db *db = NULL;
	char *cause = NULL, *exe = NULL;
	int ret;
	if ((ret = sweep_parse(ctx, argc, argv, &s)) != CMD_EXIT_OK)
		goto out;
	if (sweep_expand(s, &pts, &cause) < 0) {
		ret = cmd_error(CMD_EXIT_CONFIG, "%s", cause);
		goto out;
	}
	if ((ret = cmd_open_db(ctx, 1, &db)) != CMD_EXIT_OK)
		goto out;
	if (runner_plan(db, sweep_name(s), sweep_spec(s), &pts, !ctx->dry_run, &plan, &cause) < 0) {
		ret = cmd_error(CMD_EXIT_CONFIG, "%s", cause);
		goto out;
	}
	int cores = sweep_cores();
	if (ctx->dry_run) {
		int todo = 0;
		for (int i = 0; i < plan.n; i++)
			todo += plan.v[i].status != RUN_DONE || ctx->force;
		int jobs = sweep_jobs(ctx, todo, cores);
		sweep_print_plan(db, &plan, jobs);
		goto out;
	}
	unsigned flags = (ctx->resume ? RUNNER_REQUEUE_RESUME : 0) |
			 (ctx->force ? RUNNER_REQUEUE_FORCE : 0);
	int requeued, counts[RUN_STATUS_COUNT];
	if (runner_prepare(db, &plan, flags, &requeued, &cause) < 0) {
		ret = cmd_error(CMD_EXIT_IO, "%s", cause);
		goto out;
	}
	if ((ret = plan_count(db, &plan, counts)) != CMD_EXIT_OK)
		goto out;
	int todo = counts[RUN_QUEUED];
	int jobs = sweep_jobs(ctx, todo, cores);
	if (!ctx->quiet) {
		fprintf(stderr, "qbench: sweep %s (%lld): %d runs, %d done, %d to run with -j %d",
			sweep_name(s), (long long)plan.sweep_id, plan.n, counts[RUN_DONE], todo,
			jobs);
		int left = counts[RUN_FAILED] + counts[RUN_CANCELLED] + counts[RUN_DIVERGED];
		if (left)
			fprintf(stderr, "; %d failed, diverged or cancelled earlier (%s)", left,
				ctx->resume ? "diverged ones need --force" : "--resume runs them again");
		if (counts[RUN_RUNNING])
			fprintf(stderr, "; %d running elsewhere", counts[RUN_RUNNING]);
		fputc('\n', stderr);
	}
	exe = self_exe();
	struct sweep_ctx sc = {.ui = {.db = db, .quiet = ctx->quiet, .total = todo}, .plan = &plan};
	struct runner_opts ro = {.exe = exe,
				 .db_path = ctx->db_path,
				 .sweep_id = plan.sweep_id,
				 .jobs = jobs,
				 .cores = cores};
	struct runner_events ev = {.ctx = &sc,
				   .started = sweep_on_started,
				   .finished = sweep_on_finished,
				   .should_stop = sweep_should_stop};
	struct sigaction sa, old_int, old_term;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = sweep_on_signal;
	sa.sa_flags = SA_RESETHAND; /* a second Ctrl-C ends the runner at once */
	sigemptyset(&sa.sa_mask);
	sweep_stop = 0;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	int rc = runner_run(db, &ro, &ev, &cause);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	if (rc < 0) {
		ret = cmd_error(CMD_EXIT_IO, "%s", cause);
		goto out;
	}
	if ((ret = plan_count(db, &plan, counts)) != CMD_EXIT_OK)
		goto out;
	if ((ret = sweep_print_results(db, plan.sweep_id)) != CMD_EXIT_OK)
		goto out;
	int bad = counts[RUN_FAILED] + counts[RUN_DIVERGED] + counts[RUN_CANCELLED];
	if (!ctx->quiet || bad || sweep_stop || counts[RUN_DONE] != plan.n)
		fprintf(stderr,
		"qbench: sweep %s: %d done, %d failed, %d diverged, %d cancelled, %d queued, %d "
		"running%s\n",
		sweep_name(s), counts[RUN_DONE], counts[RUN_FAILED], counts[RUN_DIVERGED],
		counts[RUN_CANCELLED], counts[RUN_QUEUED], counts[RUN_RUNNING],
		sweep_stop ? " (interrupted: run it again, with --resume, to finish)" : "");
	ret = bad || sweep_stop || counts[RUN_DONE] != plan.n ? CMD_EXIT_FAILED : CMD_EXIT_OK;
out:
	runner_plan_done(&plan);
	sweep_points_done(&pts);
	sweep_free(s);
	db_close(db);
	free(exe);
	free(cause);
	return ret;
}

const struct cmd_entry cmd_sweep_entry = {
	.name = "sweep",
	.args = "FILE.sweep | sweep:ID | k=v ...",
	.options = CMD_OPT_QUIET | CMD_OPT_FORCE | CMD_OPT_JOBS | CMD_OPT_DRY_RUN | CMD_OPT_RESUME,
	.summary = "run a sweep of points in parallel, skipping finished ones",
	.help = "Expands a sweep (a .sweep file, a shipped sweep by name such as 'quick', "
		"sweep:ID for a sweep recorded in the database, or key=value lines on the "
		"command line: lists a,b,c, ranges lo..hi and "
		"range(a,b,step), ':zip(k1,k2)', ':where EXPR', ':exclude k=v,...') into "
		"points, records them as queued runs and runs them with -j worker processes "
		"('qbench job'), then prints the sweep's results. A point whose configuration "
		"already ran to the end is not run again (--force runs everything again). A "
		"ptq or quantization-aware point whose model= is an architecture starts from "
		"a float parent that is trained once and shared.\n"
		"--dry-run prints the points, which are done, and an estimated time from "
		"similar finished runs. --resume also runs the points that failed, were "
		"cancelled, or whose worker died. A worker that crashes or is killed fails "
		"only its own point, with the signal and the end of its output. Ctrl-C "
		"cancels the running points and starts no more.\n"
		"Each worker gets OMP_NUM_THREADS = the cores divided among the workers that "
		"run at once (a lone point, such as a float parent, gets them all); -j "
		"defaults to one per core. See docs/sweeps.md for the language.\n"
		"Example: qbench sweep experiments/quick.sweep -j 2",
	.exec = sweep_exec,
};
