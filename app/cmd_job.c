/*
 * cmd_job: `qbench job ID | next [SWEEP]`, one queued point run by a worker.
 *
 * The point is claimed in one transaction (queued -> running, with this
 * process as its worker), then run as `qbench train|ptq|eval` would run its
 * configuration, recording into the claimed run. If the job ends before the
 * engine started (a data file that went missing, a model that no longer
 * loads), the run is marked failed with the message printed, so no claimed
 * run is left running by a worker that exited. What the job prints on
 * stderr after the claim goes to runs/ID/job.log beside the database.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/cmd.h"
#include "app/job.h"
#include "db/db.h"
#include "db/runs.h"
#include "engine/util.h"

/* Claims the run; *id is 0 (and a message printed) when there is none to claim. */
static int
job_claim(struct db *db, long long want, long long sweep, int64_t *id)
{
	char host[256] = "?";
	char *cause = NULL;
	gethostname(host, sizeof host - 1);
	char *worker = xasprintf("%s:%ld", host, (long)getpid());
	int ret = CMD_EXIT_OK;
	if (runs_claim(db, want, sweep, worker, id, &cause) < 0) {
		ret = cmd_error(CMD_EXIT_IO, "%s", cause);
	} else if (!*id && want > 0) {
		struct run_info *r = NULL, *p = NULL;
		if (runs_get(db, want, &r, &cause) < 0)
			ret = cmd_error(CMD_EXIT_CONFIG, "%s", cause);
		else if (r->status != RUN_QUEUED)
			ret = cmd_error(CMD_EXIT_FAILED, "run %lld is %s, not queued", want,
					run_status_name(r->status));
		else if (runs_get(db, r->parent_run_id, &p, &cause) == 0)
			ret = cmd_error(CMD_EXIT_FAILED,
					"run %lld waits for its parent run %lld, which is %s", want,
					(long long)r->parent_run_id, run_status_name(p->status));
		else
			ret = cmd_error(CMD_EXIT_IO, "%s", cause);
		run_info_free(r);
		run_info_free(p);
	}
	free(worker);
	free(cause);
	return ret;
}

/* The run's configuration as k=v arguments (caller frees each and the array). */
static int
job_args(struct db *db, int64_t id, char ***argv, int *argc, char **kind)
{
	char **keys, **values, *cause = NULL;
	int n;
	*kind = NULL;
	if (runs_get_params(db, id, &keys, &values, &n, &cause) < 0) {
		int ret = cmd_error(CMD_EXIT_IO, "%s", cause);
		free(cause);
		return ret;
	}
	*argv = xcalloc((size_t)n + 1, sizeof **argv);
	*argc = 0;
	for (int i = 0; i < n; i++) {
		if (strcmp(keys[i], "job") == 0)
			*kind = xstrdup(values[i]);
		(*argv)[(*argc)++] = xasprintf("%s=%s", keys[i], values[i]);
	}
	run_params_free(keys, values, n);
	return CMD_EXIT_OK;
}

/*
 * From the claim on, stderr goes to runs/ID/job.log beside the database
 * (appended: one file over the run's attempts), where the runner and the
 * workbench read its tail. When the file cannot be opened, stderr stays.
 */
static void
job_log_open(const struct cmd_ctx *ctx, int64_t id)
{
	char *rel = xasprintf("runs/%lld", (long long)id);
	char *dir = job_db_relative(ctx->db_path, rel);
	char *runs = job_db_relative(ctx->db_path, "runs");
	char *path = xasprintf("%s/job.log", dir);
	mkdir(runs, 0777);
	mkdir(dir, 0777);
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
	if (fd >= 0) {
		fflush(stderr);
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
	free(rel);
	free(dir);
	free(runs);
	free(path);
}

/* Fails run id if it is still running under this process (the job ended early). */
static void
job_close_run(const struct cmd_ctx *ctx, int64_t id, int code)
{
	struct db *db = NULL;
	struct run_info *r = NULL;
	char *cause = NULL;
	if (db_open(&db, ctx->db_path, 0, &cause) == 0 && runs_get(db, id, &r, &cause) == 0 &&
	    r->status == RUN_RUNNING) {
		const char *msg = cmd_last_error();
		char *text = msg ? xstrdup(msg) : xasprintf("the job ended with exit status %d", code);
		if (runs_set_status(db, id, RUN_FAILED, text, &cause) < 0)
			cmd_error(CMD_EXIT_IO, "%s", cause);
		free(text);
	} else if (cause) {
		cmd_error(CMD_EXIT_IO, "%s", cause);
	}
	run_info_free(r);
	db_close(db);
	free(cause);
}

static int
job_exec(const struct cmd_ctx *ctx, int argc, char **argv)
{
	long long want = 0, sweep = 0;
	if (argc >= 1 && strcmp(argv[0], "next") == 0) {
		if (argc > 2 || (argc == 2 && cmd_parse_run_id(argv[1], &sweep) < 0))
			return cmd_error(CMD_EXIT_USAGE, "usage: qbench job ID | next [SWEEP]");
	} else if (argc != 1 || cmd_parse_run_id(argv[0], &want) < 0) {
		return cmd_error(CMD_EXIT_USAGE, "usage: qbench job ID | next [SWEEP]");
	}
	/* a stop request from here on cancels the job once it runs */
	job_signals_install();
	struct db *db = NULL;
	int64_t id = 0;
	int ret = cmd_open_db(ctx, 0, &db);
	if (ret == CMD_EXIT_OK)
		ret = job_claim(db, want, sweep, &id);
	if (ret != CMD_EXIT_OK || !id) {
		if (ret == CMD_EXIT_OK && !ctx->quiet)
			fprintf(stderr, "qbench: no queued point to run\n");
		db_close(db);
		return ret;
	}
	job_log_open(ctx, id);
	char **args = NULL, *kind = NULL;
	int nargs = 0;
	ret = job_args(db, id, &args, &nargs, &kind);
	db_close(db);
	const struct cmd_entry *e = kind ? cmd_find(kind) : NULL;
	if (ret == CMD_EXIT_OK && !e)
		ret = cmd_error(CMD_EXIT_CONFIG, "run %lld has no runnable job (job=%s)", (long long)id,
				kind ? kind : "?");
	if (ret == CMD_EXIT_OK) {
		struct cmd_ctx c = *ctx;
		c.run_id = id;
		c.force = 0;
		ret = e->exec(&c, nargs, args);
	}
	job_close_run(ctx, id, ret);
	for (int i = 0; i < nargs; i++)
		free(args[i]);
	free(args);
	free(kind);
	return ret;
}

const struct cmd_entry cmd_job_entry = {
	.name = "job",
	.args = "ID | next [SWEEP]",
	.options = CMD_OPT_QUIET | CMD_OPT_JSON,
	.summary = "run one queued point (what sweep workers run)",
	.help = "Claims a queued run in one transaction (it becomes running, with this "
		"process as its worker) and runs its configuration as 'qbench train', 'ptq' or "
		"'eval' would, recording into that run. 'next' claims the oldest queued run "
		"whose parent is done (of sweep SWEEP when given, in the sweep's order); with "
		"nothing to claim it says so and exits 0.\n"
		"The sweep runner starts one 'qbench job next SWEEP' per point; a job array "
		"on a cluster can do the same against a database on the submitting machine's "
		"local disk. A job that ends before its engine starts marks its run failed "
		"with the reason; SIGINT or SIGTERM cancels the run cleanly.",
	.exec = job_exec,
};
