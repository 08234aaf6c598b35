/*
 * job: the run of a train or eval job, between the command line, the engine
 * and the database.
 *
 * Invariants:
 * - a run is written only after the data and the model loaded, so a typo in
 *   a path leaves no run behind; from job_start() on, every way out either
 *   marks the run done (job_finish) or records why not (job_fail);
 * - a run marked done has its results and, for training, its model file;
 * - metrics of one step (epoch) are written together, in one transaction,
 *   when the next epoch starts training or the job ends;
 * - models are saved as runs/ID/model.h5 beside the database, and runs.model_path
 *   holds that path relative to the database's directory, so a database and
 *   its runs/ folder can move together.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "app/job.h"
#include "app/json.h"
#include "app/progress.h"
#include "app/table.h"
#include "db/db.h"
#include "engine/data.h"
#include "engine/io_h5.h"
#include "engine/model.h"
#include "engine/ptq/ptq.h"
#include "engine/quant/qat.h"
#include "engine/util.h"
#include "experiments/runner.h"

static volatile sig_atomic_t job_stop;

static void
job_on_signal(int sig)
{
	(void)sig;
	job_stop = 1;
}

void
job_signals_install(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = job_on_signal;
	sa.sa_flags = SA_RESETHAND; /* a second signal takes the default action */
	sigemptyset(&sa.sa_mask);
	/* job_stop is not cleared: a request that came before (qbench job) still holds */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

void
job_signals_restore(void)
{
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
}

int
job_stop_requested(void)
{
	return job_stop != 0;
}

void
job_init(struct job *j, const struct cmd_ctx *ctx, const char *kind)
{
	memset(j, 0, sizeof *j);
	j->ctx = ctx;
	j->cfg = config_new();
	char *cause = NULL;
	if (config_set_value(j->cfg, "job", kind, &cause) < 0)
		abort(); /* the commands pass valid job names */
}

void
job_done(struct job *j)
{
	for (int i = 0; i < j->nmetrics; i++)
		free(j->mnames[i]);
	progress_free(j->progress);
	config_free(j->cfg);
	db_close(j->db);
	free(j->model_file);
	free(j->error);
	memset(j, 0, sizeof *j);
}

int
job_configure(struct job *j, int argc, char **argv)
{
	char *kind = xstrdup(config_get(j->cfg, "job"));
	char *cause = NULL;
	int ret = CMD_EXIT_OK;
	for (int i = 0; i < argc && ret == CMD_EXIT_OK; i++) {
		const char *eq = strchr(argv[i], '=');
		if (!eq || eq == argv[i]) {
			ret = cmd_error(CMD_EXIT_USAGE, "expected key=value, got '%s'", argv[i]);
			break;
		}
		size_t klen = (size_t)(eq - argv[i]);
		for (int k = 0; k < i; k++)
			if (strncmp(argv[k], argv[i], klen + 1) == 0) {
				ret = cmd_error(CMD_EXIT_CONFIG, "key '%.*s' given twice", (int)klen,
						argv[i]);
				break;
			}
		if (ret != CMD_EXIT_OK)
			break;
		if (config_set(j->cfg, argv[i], &cause) < 0) {
			ret = cmd_error(CMD_EXIT_CONFIG, "%s", cause);
		} else if (strcmp(config_get(j->cfg, "job"), kind) != 0) {
			ret = cmd_error(CMD_EXIT_CONFIG, "'qbench %s' runs job=%s; use 'qbench %s'", kind,
					kind, config_get(j->cfg, "job"));
		}
	}
	if (ret == CMD_EXIT_OK && config_check(j->cfg, &cause) < 0)
		ret = cmd_error(CMD_EXIT_CONFIG, "%s", cause);
	free(cause);
	free(kind);
	return ret;
}

char *
job_db_relative(const char *db_path, const char *rel)
{
	if (rel[0] == '/')
		return xstrdup(rel);
	const char *slash = strrchr(db_path, '/');
	if (!slash)
		return xstrdup(rel);
	return xasprintf("%.*s/%s", (int)(slash - db_path), db_path, rel);
}

/* Sets key (not given on the command line) to run id's value of it, if it has one. */
static int
job_inherit(struct job *j, int64_t id, const char *key, char **cause)
{
	char **keys, **values;
	int n, ret = 0;
	if (config_is_set(j->cfg, key))
		return 0;
	if (runs_get_params(j->db, id, &keys, &values, &n, cause) < 0)
		return -1;
	for (int i = 0; i < n; i++)
		if (strcmp(keys[i], key) == 0 && config_set_value(j->cfg, key, values[i], cause) < 0)
			ret = -1;
	run_params_free(keys, values, n);
	return ret;
}

static int
is_zoo_model(const char *name)
{
	for (const char *const *a = model_arch_names(); *a; a++)
		if (strcmp(*a, name) == 0)
			return 1;
	return 0;
}

/* model=run:ID: the run's saved model, and the defaults it passes on. */
static int
job_open_parent(struct job *j, const char *model)
{
	long long id;
	struct run_info *r = NULL;
	char *cause = NULL;
	int ret = CMD_EXIT_OK;
	if (cmd_parse_run_id(model, &id) < 0)
		return cmd_error(CMD_EXIT_CONFIG, "bad run reference '%s'", model);
	if (runs_get(j->db, id, &r, &cause) < 0) {
		ret = cmd_error(CMD_EXIT_CONFIG, "model=%s: %s", model, cause);
		goto out;
	}
	if (r->status != RUN_DONE || !r->model_path) {
		ret = cmd_error(CMD_EXIT_CONFIG, "model=%s: run %lld has no saved model (it is %s)",
				model, id, run_status_name(r->status));
		goto out;
	}
	j->parent_id = id;
	j->model_file = job_db_relative(db_path(j->db), r->model_path);
	if (job_inherit(j, id, "dataset", &cause) < 0 ||
	    (strcmp(config_get(j->cfg, "job"), "train") && job_inherit(j, id, "loss", &cause) < 0))
		ret = cmd_error(CMD_EXIT_IO, "%s", cause);
out:
	run_info_free(r);
	free(cause);
	return ret;
}

/* qbench job: the run this process claimed must have the configuration's key. */
static int
job_open_claimed(struct job *j)
{
	struct run_info *r = NULL;
	char *cause = NULL;
	int ret = CMD_EXIT_OK;
	if (runs_get(j->db, j->ctx->run_id, &r, &cause) < 0) {
		ret = cmd_error(CMD_EXIT_IO, "%s", cause);
	} else if (strcmp(r->key, j->key) != 0) {
		ret = cmd_error(CMD_EXIT_CONFIG,
				"run %lld's configuration now gives key %s instead of its key %s "
				"(did a model file it names change place?)",
				j->ctx->run_id, j->key, r->key);
	} else {
		j->run_id = r->id;
		j->reuse = 1;
		j->claimed = 1;
	}
	run_info_free(r);
	free(cause);
	return ret;
}

int
job_open(struct job *j, int *cached)
{
	char *cause = NULL;
	int ret;
	*cached = 0;
	const char *model = config_get(j->cfg, "model");
	if (strncmp(model, "run:", 4) != 0 && !is_zoo_model(model)) {
		char *abs = realpath(model, NULL);
		if (!abs)
			return cmd_error(CMD_EXIT_IO, "%s: %s", model, strerror(errno));
		j->model_file = abs;
		if (config_set_value(j->cfg, "model", abs, &cause) < 0) {
			ret = cmd_error(CMD_EXIT_CONFIG, "%s", cause);
			free(cause);
			return ret;
		}
	}
	if ((ret = cmd_open_db(j->ctx, 1, &j->db)) != CMD_EXIT_OK)
		return ret;
	model = config_get(j->cfg, "model");
	if (strncmp(model, "run:", 4) == 0 && (ret = job_open_parent(j, model)) != CMD_EXIT_OK)
		return ret;
	config_hash(j->cfg, j->key);
	if (j->ctx->run_id > 0)
		return job_open_claimed(j);
	enum run_status st;
	int64_t id;
	if (runs_find_key(j->db, j->key, &id, &st, &cause) < 0) {
		ret = cmd_error(CMD_EXIT_IO, "%s", cause);
		free(cause);
		return ret;
	}
	if (!id)
		return CMD_EXIT_OK;
	j->run_id = id;
	if (st == RUN_DONE && !j->ctx->force) {
		*cached = 1;
		return CMD_EXIT_OK;
	}
	if ((st == RUN_RUNNING || st == RUN_QUEUED) && !j->ctx->force) {
		struct run_info *r = NULL;
		int dead = runs_get(j->db, id, &r, &cause) == 0 &&
			   runner_worker_gone(r->worker, r->heartbeat_at);
		char *worker = r && r->worker ? xstrdup(r->worker) : NULL;
		run_info_free(r);
		free(cause);
		if (!dead) {
			ret = cmd_error(CMD_EXIT_FAILED,
					"run %lld has this configuration and is %s%s%s; --force runs "
					"it again",
					(long long)id, run_status_name(st), worker ? " by " : "",
					worker ? worker : "");
			free(worker);
			return ret;
		}
		free(worker);
	}
	j->reuse = 1;
	return CMD_EXIT_OK;
}

int
job_model(struct job *j, const struct dataset *d, struct model **out)
{
	char *cause = NULL;
	struct model *m = NULL;
	int ret = CMD_EXIT_OK;
	*out = NULL;
	if (!j->model_file) {
		m = model_new(config_get(j->cfg, "model"), d->c, d->h, d->w, d->classes,
			      (uint64_t)config_get_int(j->cfg, "seed"), &cause);
		if (!m) {
			ret = cmd_error(CMD_EXIT_CONFIG, "%s", cause);
			goto out;
		}
	} else if (io_h5_load_model(&m, j->model_file, &cause) < 0) {
		ret = cmd_error(CMD_EXIT_IO, "%s", cause);
		goto out;
	} else {
		/* a quantized model is evaluated with its quantizers; ptq needs a float one */
		struct io_h5_groups gs = {0};
		const char *job = config_get(j->cfg, "job");
		int rc = io_h5_read_groups(j->model_file, "quant", &gs, &cause);
		if (rc == 0 && !strcmp(job, "ptq") && gs.n > 0) {
			ret = cmd_error(CMD_EXIT_CONFIG,
					"%s holds a quantized model: ptq quantizes a float one",
					j->model_file);
			io_h5_groups_free(&gs);
			goto out;
		}
		if (rc == 0 && !strcmp(job, "eval"))
			rc = ptq_is_ptq(&gs) ? ptq_import(&j->ptq, m, &gs, j->model_file, &cause)
					     : qat_import(&j->qat, m, &gs, j->model_file, &cause);
		io_h5_groups_free(&gs);
		if (rc < 0) {
			ret = cmd_error(CMD_EXIT_IO, "%s", cause);
			goto out;
		}
	}
	int c, h, w;
	model_input_shape(m, &c, &h, &w);
	if (c != d->c || h != d->h || w != d->w || model_classes(m) != d->classes) {
		ret = cmd_error(CMD_EXIT_CONFIG,
				"model %s takes %dx%dx%d images in %d classes, but dataset %s has "
				"%dx%dx%d images in %d classes",
				config_get(j->cfg, "model"), c, h, w, model_classes(m),
				config_get(j->cfg, "dataset"), d->c, d->h, d->w, d->classes);
		goto out;
	}
	*out = m;
	m = NULL;
out:
	model_free(m);
	free(cause);
	return ret;
}

void
job_model_free(struct job *j, struct model *m)
{
	qat_free(j->qat);
	j->qat = NULL;
	ptq_free(j->ptq);
	j->ptq = NULL;
	model_free(m);
}

static int
job_record_layers(struct job *j, const struct model *m, char **cause)
{
	if (db_begin(j->db, cause) < 0)
		return -1;
	for (int i = 0; i < model_layer_count(m); i++) {
		const struct model_layer_info *li = model_layer_at(m, i);
		const char *names[] = {"macs", "params", "out_c", "out_h", "out_w"};
		double values[] = {(double)li->macs, (double)li->params, li->out_shape[0],
				   li->out_shape[1], li->out_shape[2]};
		for (int k = 0; k < 5; k++)
			if (runs_set_layer_stat(j->db, j->run_id, li->group, names[k], values[k], cause) <
			    0) {
				db_rollback(j->db);
				return -1;
			}
	}
	return db_commit(j->db, cause);
}

/* Creates the run (or resets the one to run again) and marks it running. */
static int
job_create_run(struct job *j, char **cause)
{
	if (j->claimed) /* claimed by qbench job: already running; drop an earlier attempt's records */
		return runs_clear_records(j->db, j->run_id, cause);
	if (j->reuse ? runs_reset(j->db, j->run_id, cause) < 0
		     : runner_create_run(j->db, j->cfg, j->key, j->parent_id, &j->run_id, cause) < 0)
		return -1;
	return runs_set_status(j->db, j->run_id, RUN_RUNNING, NULL, cause);
}

/* Records this process ("host:pid") as the run's worker. */
static int
job_set_worker(struct job *j, char **cause)
{
	char host[256] = "?";
	gethostname(host, sizeof host - 1);
	char *worker = xasprintf("%s:%ld", host, (long)getpid());
	int ret = runs_set_worker(j->db, j->run_id, worker, cause);
	free(worker);
	return ret;
}

int
job_start(struct job *j, const struct model *m)
{
	char *cause = NULL;
	int ret = CMD_EXIT_OK;
	if (job_create_run(j, &cause) < 0)
		ret = cmd_error(CMD_EXIT_IO, "%s", cause);
	else if (job_set_worker(j, &cause) < 0 || job_record_layers(j, m, &cause) < 0)
		ret = job_fail(j, RUN_FAILED, CMD_EXIT_IO, "%s", cause);
	else
		j->progress = progress_new(stderr, progress_mode_for(stderr, j->ctx->quiet), j->epochs);
	free(cause);
	return ret;
}

/* The position of name in the epoch line (known metrics first, then the rest). */
static int
metric_rank(const char *name)
{
	static const char *const order[] = {"train_loss", "train_acc", "test_loss", "test_acc", "lr"};
	for (int i = 0; i < 5; i++)
		if (strcmp(name, order[i]) == 0)
			return i;
	return strcmp(name, "epoch_time_s") == 0 ? 7 : 6;
}

/* "epoch 2/10  train_loss 0.4211  ...  3.21 s" for the collected metrics (malloc'd). */
static char *
job_epoch_line(const struct job *j, double *train_loss)
{
	char *line = xasprintf("epoch %lld/%d", (long long)j->step, j->epochs);
	*train_loss = NAN;
	for (int rank = 0; rank <= 7; rank++)
		for (int i = 0; i < j->nmetrics; i++) {
			const char *name = j->mnames[i];
			double v = j->mvalues[i];
			if (metric_rank(name) != rank || strchr(name, '/'))
				continue;
			char *s;
			size_t len = strlen(name);
			if (strcmp(name, "train_loss") == 0)
				*train_loss = v;
			if (rank == 7)
				s = xasprintf("%s  %.2f s", line, v);
			else if ((len > 4 && !strcmp(name + len - 4, "_acc")) ||
				 (len > 5 && !strcmp(name + len - 5, "_loss")))
				s = xasprintf("%s  %s %.4f", line, name, v);
			else
				s = xasprintf("%s  %s %.4g", line, name, v);
			free(line);
			line = s;
		}
	return line;
}

int
job_flush(struct job *j)
{
	char *cause = NULL;
	int ret = 0;
	if (j->nmetrics == 0)
		return 0;
	if (runs_add_metrics(j->db, j->run_id, j->step, (const char *const *)j->mnames, j->mvalues,
			     j->nmetrics, &cause) < 0 &&
	    !j->error) {
		j->error = cause;
		cause = NULL;
		ret = -1;
	}
	if (j->progress && j->epochs > 0) {
		double loss;
		char *line = job_epoch_line(j, &loss);
		progress_epoch(j->progress, (int)j->step, loss, line);
		free(line);
	}
	for (int i = 0; i < j->nmetrics; i++)
		free(j->mnames[i]);
	j->nmetrics = 0;
	free(cause);
	return ret;
}

/* Seconds between two heartbeats (with progress) of a running run. */
#define JOB_HEARTBEAT_S 1

static void
job_on_progress(void *ctx, const char *phase, long done, long total)
{
	struct job *j = ctx;
	if (strcmp(phase, "train") == 0)
		job_flush(j);
	if (j->progress)
		progress_update(j->progress, phase, done, total);
	time_t now = time(NULL);
	if (now - j->heartbeat >= JOB_HEARTBEAT_S) {
		char *cause = NULL;
		char stage[96] = "";
		double frac = j->progress ? progress_stage(j->progress, stage, sizeof stage) : -1;
		j->heartbeat = now;
		if (runs_heartbeat(j->db, j->run_id, frac, j->progress ? stage : NULL, &cause) < 0 &&
		    !j->error)
			j->error = cause;
		else
			free(cause);
	}
}

static void
job_on_metric(void *ctx, int step, const char *name, double value)
{
	struct job *j = ctx;
	if (j->nmetrics > 0 && (step != j->step || j->nmetrics == JOB_MAX_METRICS))
		job_flush(j);
	j->step = step;
	j->mnames[j->nmetrics] = xstrdup(name);
	j->mvalues[j->nmetrics++] = value;
}

static void
job_on_layer_stat(void *ctx, int layer, const char *layer_name, const char *name, double value)
{
	struct job *j = ctx;
	char *cause = NULL;
	char fallback[16];
	if (!layer_name) {
		snprintf(fallback, sizeof fallback, "%02d", layer);
		layer_name = fallback;
	}
	if (runs_set_layer_stat(j->db, j->run_id, layer_name, name, value, &cause) < 0 && !j->error)
		j->error = cause;
	else
		free(cause);
}

static int
job_should_stop(void *ctx)
{
	(void)ctx;
	return job_stop_requested();
}

void
job_events(struct job *j, struct engine_events *ev)
{
	ev->ctx = j;
	ev->progress = job_on_progress;
	ev->metric = job_on_metric;
	ev->layer_stat = job_on_layer_stat;
	ev->should_stop = job_should_stop;
}

int
job_fail(struct job *j, enum run_status status, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = NULL;
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	char *cause = NULL;
	progress_clear(j->progress);
	cmd_error(code, "run %lld %s: %s", (long long)j->run_id, run_status_name(status),
		  msg ? msg : "?");
	if (runs_set_status(j->db, j->run_id, status, msg, &cause) < 0)
		cmd_error(CMD_EXIT_IO, "%s", cause);
	else if (j->ctx->json)
		job_report(j, 0);
	free(cause);
	free(msg);
	return code;
}

/* Creates dir if it does not exist. */
int
job_engine_end(struct job *j, int rc, int code, const char *cause)
{
	if (job_stop_requested())
		return job_fail(j, RUN_CANCELLED, CMD_EXIT_FAILED, "interrupted");
	if (rc < 0)
		return job_fail(j, RUN_FAILED, code, "%s", cause ? cause : "failed");
	if (j->error)
		return job_fail(j, RUN_FAILED, CMD_EXIT_IO, "%s", j->error);
	return CMD_EXIT_OK;
}

static int
make_dir(const char *dir, char **cause)
{
	if (mkdir(dir, 0777) < 0 && errno != EEXIST)
		return err_set(cause, "cannot create %s: %s", dir, strerror(errno));
	return 0;
}

/* Saves m as runs/ID/model.h5 beside the database and records the path. */
static int
job_save_model(struct job *j, const struct model *m, char **cause)
{
	char *rel = xasprintf("runs/%lld/model.h5", (long long)j->run_id);
	char *path = job_db_relative(db_path(j->db), rel);
	char *runs = job_db_relative(db_path(j->db), "runs");
	char *dir = xstrdup(path);
	*strrchr(dir, '/') = '\0';
	int ret = -1;
	struct io_h5_groups gs = {0};
	struct stat st;
	if (!j->reuse && stat(path, &st) == 0) {
		/* a new run never had a file: this one is another database's (runs/ is shared) */
		err_set(cause,
			"%s already exists, but run %lld is new in %s: the file belongs to another "
			"database in the same directory (or to a deleted one); give each database a "
			"directory of its own, or remove the stale file",
			path, (long long)j->run_id, db_path(j->db));
		free(rel);
		free(path);
		free(runs);
		free(dir);
		return -1;
	}
	if (j->qat)
		qat_export(j->qat, &gs);
	if (j->ptq)
		ptq_export(j->ptq, &gs);
	if (make_dir(runs, cause) == 0 && make_dir(dir, cause) == 0 &&
	    io_h5_save_model_with(m, &gs, path, cause) == 0 &&
	    runs_set_model_path(j->db, j->run_id, rel, cause) == 0)
		ret = 0;
	io_h5_groups_free(&gs);
	free(rel);
	free(path);
	free(runs);
	free(dir);
	return ret;
}

int
job_finish(struct job *j, const struct model *m, const char *const *names, const double *values,
	   int n, int save)
{
	char *cause = NULL;
	int ret = CMD_EXIT_OK;
	if (runs_set_results(j->db, j->run_id, names, values, n, &cause) < 0 ||
	    (save && job_save_model(j, m, &cause) < 0) ||
	    runs_set_status(j->db, j->run_id, RUN_DONE, NULL, &cause) < 0)
		ret = job_fail(j, RUN_FAILED, CMD_EXIT_IO, "%s", cause);
	free(cause);
	return ret;
}

static double
find_value(const struct run_values *v, const char *name)
{
	for (int i = 0; i < v->n; i++)
		if (strcmp(v->v[i].name, name) == 0)
			return v->v[i].value;
	return NAN;
}

static void
job_report_json(struct job *j, const struct run_info *r, const struct run_values *res, int cached)
{
	struct json js;
	json_begin(&js, stdout);
	json_object(&js, NULL);
	json_int(&js, "id", r->id);
	json_string(&js, "status", run_status_name(r->status));
	json_bool(&js, "cached", cached);
	json_string(&js, "key", r->key);
	json_raw(&js, "config", r->config);
	if (r->parent_run_id)
		json_int(&js, "parent_run_id", r->parent_run_id);
	else
		json_null(&js, "parent_run_id");
	json_string(&js, "model_path", r->model_path);
	char *file = r->model_path ? job_db_relative(db_path(j->db), r->model_path) : NULL;
	json_string(&js, "model_file", file);
	free(file);
	json_string(&js, "error", r->error);
	json_object(&js, "results");
	for (int i = 0; i < res->n; i++)
		json_number(&js, res->v[i].name, res->v[i].value);
	json_object_end(&js);
	json_object_end(&js);
	json_end(&js);
}

/* A row "label  v" with v to `decimals` places and a unit suffix; none when v is missing. */
static void
add_value_row(struct table *t, const char *label, int decimals, const char *suffix, double v)
{
	if (!isfinite(v))
		return;
	char buf[64];
	snprintf(buf, sizeof buf, "%.*f%s", decimals, v, suffix);
	table_add_row(t, (const char *const[]){label, buf});
}

int
job_report(struct job *j, int cached)
{
	struct run_info *r = NULL;
	struct run_values res = {0};
	char *cause = NULL;
	int ret = CMD_EXIT_OK;
	if (runs_get(j->db, j->run_id, &r, &cause) < 0 ||
	    runs_get_results(j->db, j->run_id, &res, &cause) < 0) {
		ret = cmd_error(CMD_EXIT_IO, "%s", cause);
		goto out;
	}
	if (cached)
		fprintf(stderr,
			"qbench: run %lld already has this configuration's result; --force runs it "
			"again\n",
			(long long)r->id);
	if (j->ctx->json) {
		job_report_json(j, r, &res, cached);
		goto out;
	}
	int eval = strcmp(config_get(j->cfg, "job"), "eval") == 0;
	struct table *t = table_new(2, NULL);
	char id[32];
	snprintf(id, sizeof id, "%lld", (long long)r->id);
	table_add_row(t, (const char *const[]){"run", id});
	table_add_row(t, (const char *const[]){"status", run_status_name(r->status)});
	if (eval)
		table_add_row(t, (const char *const[]){"model", config_get(j->cfg, "model")});
	add_value_row(t, "test_acc", 4, "", find_value(&res, "test_acc"));
	add_value_row(t, "test_loss", 4, "", find_value(&res, "test_loss"));
	add_value_row(t, "train_loss", 4, "", find_value(&res, "train_loss"));
	add_value_row(t, "time", 2, " s", find_value(&res, "time_s"));
	add_value_row(t, "images/s", 0, "",
		      find_value(&res, eval ? "eval_images_per_s" : "images_per_s"));
	char *file = r->model_path ? job_db_relative(db_path(j->db), r->model_path) : NULL;
	if (file && !eval)
		table_add_row(t, (const char *const[]){"model", file});
	free(file);
	fflush(stderr);
	table_print(t, stdout, "");
	table_free(t);
out:
	run_info_free(r);
	run_values_done(&res);
	free(cause);
	return ret;
}
