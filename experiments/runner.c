/*
 * runner: planning a sweep into runs, and the worker processes that run them
 * (see runner.h for the contract).
 *
 * Invariants of runner_run:
 * - every worker is a child of this process in its own process group, so a
 *   Ctrl-C at the terminal reaches only the runner, which forwards exactly one
 *   SIGTERM to each worker (a second signal would end a worker at once);
 * - a worker is identified in the database by "host:pid"; the runner finds
 *   the run a worker claimed through that name;
 * - a run that is still running when its worker has been reaped was not ended
 *   by the worker: the runner marks it failed, and touches no other run.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "db/db.h"
#include "db/runs.h"
#include "engine/model.h"
#include "engine/util.h"
#include "experiments/runner.h"
#include "experiments/sweep.h"

/* Bytes of a worker's stderr kept for the failure message. */
#define RUNNER_TAIL 4096
/* Workers in a row that may fail without claiming a point before the runner gives up. */
#define RUNNER_MAX_LOST 3

/* ---------------------------------------------------------------- planning */

static int
is_zoo_arch(const char *name)
{
	for (const char *const *a = model_arch_names(); *a; a++)
		if (strcmp(*a, name) == 0)
			return 1;
	return 0;
}

int
runner_create_run(struct db *db, const struct config *cfg, const char *key, int64_t parent_id,
		  int64_t *id, char **cause)
{
	struct run_param *params = xcalloc((size_t)config_key_count(), sizeof *params);
	int n = 0;
	for (int i = 0; i < config_key_count(); i++) {
		const struct config_key *k = config_key_at(i);
		if (config_applies(cfg, k)) {
			params[n].key = k->name;
			params[n++].value = config_get(cfg, k->name);
		}
	}
	char *json = config_json(cfg);
	int ret = runs_create(db, key, json, params, n, parent_id, id, cause);
	free(json);
	free(params);
	return ret;
}

/* Sets key on cfg from run id's params when the sweep did not set it. */
static int
inherit_from_run(struct db *db, struct config *cfg, int64_t id, const char *key, char **cause)
{
	char **keys, **values;
	int n, ret = 0;
	if (config_is_set(cfg, key))
		return 0;
	if (runs_get_params(db, id, &keys, &values, &n, cause) < 0)
		return -1;
	for (int i = 0; i < n && ret == 0; i++)
		if (strcmp(keys[i], key) == 0)
			ret = config_set_value(cfg, key, values[i], cause);
	run_params_free(keys, values, n);
	return ret;
}

/*
 * Resolves a point's model= as qbench job will: a file becomes its real path,
 * run:ID must exist and passes on its dataset and loss. *parent_id is the
 * run named by run:ID, else 0.
 */
static int
resolve_model(struct db *db, struct config *cfg, int64_t *parent_id, char **cause)
{
	const char *model = config_get(cfg, "model");
	*parent_id = 0;
	if (is_zoo_arch(model))
		return 0;
	if (strncmp(model, "run:", 4) != 0) {
		char *abs = realpath(model, NULL);
		if (!abs)
			return err_set(cause, "model=%s: %s", model, strerror(errno));
		int ret = config_set_value(cfg, "model", abs, cause);
		free(abs);
		return ret;
	}
	char *end;
	long long id = strtoll(model + 4, &end, 10);
	struct run_info *r = NULL;
	if (runs_get(db, id, &r, cause) < 0)
		return err_wrap(cause, "model=%s", model);
	run_info_free(r);
	*parent_id = id;
	if (inherit_from_run(db, cfg, id, "dataset", cause) < 0 ||
	    (strcmp(config_get(cfg, "job"), "train") != 0 &&
	     inherit_from_run(db, cfg, id, "loss", cause) < 0))
		return -1;
	return 0;
}

/* Index of the plan point with this key, or -1. */
static int
plan_find(const struct runner_plan *p, const char *key)
{
	for (int i = 0; i < p->n; i++)
		if (p->v[i].key[0] && strcmp(p->v[i].key, key) == 0)
			return i;
	return -1;
}

/* Looks up (and with create, makes) the run of point pt, then records it in the sweep. */
static int
plan_lookup(struct db *db, struct runner_plan *p, struct runner_point *pt, int64_t parent_id,
	    int create, char **cause)
{
	int64_t id;
	enum run_status st;
	pt->status = RUN_QUEUED;
	if (!pt->key[0])
		return 0;
	if (runs_find_key(db, pt->key, &id, &st, cause) < 0)
		return -1;
	if (id) {
		struct run_info *r = NULL;
		if (runs_get(db, id, &r, cause) < 0)
			return -1;
		pt->status = r->status;
		if (r->status == RUN_RUNNING) {
			pt->worker = r->worker ? xstrdup(r->worker) : NULL;
			pt->heartbeat_at = r->heartbeat_at ? xstrdup(r->heartbeat_at) : NULL;
		}
		run_info_free(r);
	} else if (create &&
		   runner_create_run(db, pt->cfg, pt->key, parent_id, &id, cause) < 0) {
		return -1;
	}
	pt->run_id = id;
	if (create && runs_sweep_add(db, p->sweep_id, id, p->n, cause) < 0)
		return -1;
	return 0;
}

/* "parent model=cnn epochs=2 seed=1": the keys a parent has set. */
static char *
parent_label(const struct config *cfg)
{
	char *label = xstrdup("parent");
	for (int i = 0; i < config_key_count(); i++) {
		const struct config_key *k = config_key_at(i);
		if (strcmp(k->name, "job") == 0 ||
		    (!config_is_set(cfg, k->name) && strcmp(k->name, "model") != 0))
			continue;
		char *s = xasprintf("%s %s=%s", label, k->name, config_get(cfg, k->name));
		free(label);
		label = s;
	}
	return label;
}

/* Adds the float parent of a point; *index is its place in the plan. */
static int
plan_add_parent(struct db *db, struct runner_plan *p, const struct config *parent, int create,
		int *index, char **cause)
{
	char key[CONFIG_HASH_LEN + 1];
	config_hash(parent, key);
	if ((*index = plan_find(p, key)) >= 0)
		return 0;
	struct runner_point *pt = &p->v[p->n];
	memset(pt, 0, sizeof *pt);
	pt->cfg = config_dup(parent);
	pt->is_parent = 1;
	pt->parent = -1;
	pt->label = parent_label(parent);
	memcpy(pt->key, key, sizeof key);
	if (plan_lookup(db, p, pt, 0, create, cause) < 0) {
		config_free(pt->cfg);
		free(pt->label);
		return -1;
	}
	*index = p->n++;
	return 0;
}

/* Adds a point (after its parent, if any). */
static int
plan_add_point(struct db *db, struct runner_plan *p, const struct sweep_point *sp, int parent,
	       int create, char **cause)
{
	struct runner_point *pt = &p->v[p->n];
	int64_t parent_id = 0;
	memset(pt, 0, sizeof *pt);
	pt->cfg = config_dup(sp->cfg);
	pt->parent = parent;
	pt->label = xstrdup(sp->label);
	int ret = -1;
	if (parent >= 0) {
		const struct runner_point *pp = &p->v[parent];
		parent_id = pp->run_id;
		if (!config_is_set(pt->cfg, "dataset") &&
		    config_set_value(pt->cfg, "dataset", config_get(pp->cfg, "dataset"), cause) < 0)
			goto out;
		if (!config_is_set(pt->cfg, "loss") &&
		    config_set_value(pt->cfg, "loss", config_get(pp->cfg, "loss"), cause) < 0)
			goto out;
		if (parent_id) {
			char ref[32];
			snprintf(ref, sizeof ref, "run:%lld", (long long)parent_id);
			if (config_set_value(pt->cfg, "model", ref, cause) < 0)
				goto out;
		}
	} else if (resolve_model(db, pt->cfg, &parent_id, cause) < 0) {
		goto out;
	}
	if (parent < 0 || parent_id)
		config_hash(pt->cfg, pt->key);
	if (pt->key[0] && plan_find(p, pt->key) >= 0) {
		ret = 0; /* the same run as an earlier point */
		goto out;
	}
	if (plan_lookup(db, p, pt, parent_id, create, cause) < 0)
		goto out;
	p->n++;
	return 0;
out:
	if (ret < 0)
		err_wrap(cause, "point %s", sp->label[0] ? sp->label : "1");
	config_free(pt->cfg);
	free(pt->label);
	free(pt->worker);
	free(pt->heartbeat_at);
	return ret;
}

int
runner_plan(struct db *db, const char *name, const char *spec, const struct sweep_points *pts,
	    int create, struct runner_plan *out, char **cause)
{
	int created;
	memset(out, 0, sizeof *out);
	if (runs_sweep_open(db, name, spec, create, &out->sweep_id, &created,
			    cause) < 0)
		return -1;
	out->v = xcalloc((size_t)pts->n * 2 + 1, sizeof *out->v);
	int *parents = xcalloc((size_t)pts->n + 1, sizeof *parents);
	int ret = 0;
	/* parents first, so that positions run parents before their children */
	for (int i = 0; i < pts->n && ret == 0; i++) {
		parents[i] = -1;
		if (pts->v[i].parent &&
		    plan_add_parent(db, out, pts->v[i].parent, create, &parents[i], cause) < 0)
			ret = -1;
	}
	for (int i = 0; i < pts->n && ret == 0; i++)
		ret = plan_add_point(db, out, &pts->v[i], parents[i], create, cause);
	free(parents);
	if (ret < 0)
		runner_plan_done(out);
	return ret;
}

void
runner_plan_done(struct runner_plan *p)
{
	for (int i = 0; i < p->n; i++) {
		config_free(p->v[i].cfg);
		free(p->v[i].label);
		free(p->v[i].worker);
		free(p->v[i].heartbeat_at);
	}
	free(p->v);
	memset(p, 0, sizeof *p);
}

/* Seconds since an ISO-8601 UTC timestamp "YYYY-MM-DDTHH:MM:SSZ" (huge when unreadable). */
static double
seconds_since(const char *stamp)
{
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	if (!stamp || sscanf(stamp, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
			     &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
		return INFINITY;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return difftime(time(NULL), timegm(&tm));
}

int
runner_worker_gone(const char *worker, const char *heartbeat_at)
{
	char host[256] = "";
	const char *colon = worker ? strrchr(worker, ':') : NULL;
	if (!colon || gethostname(host, sizeof host - 1) < 0)
		return seconds_since(heartbeat_at) > RUNNER_STALE_S;
	if ((size_t)(colon - worker) != strlen(host) || strncmp(worker, host, strlen(host)) != 0)
		return seconds_since(heartbeat_at) > RUNNER_STALE_S;
	long pid = strtol(colon + 1, NULL, 10);
	if (pid <= 0)
		return 0;
	if (kill((pid_t)pid, 0) < 0)
		return errno == ESRCH;
	/* a zombie (killed, not yet reaped by its new parent) is gone too */
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *paren = strrchr(buf, ')');
	return paren && paren[1] == ' ' && paren[2] == 'Z';
}

int
runner_prepare(struct db *db, struct runner_plan *p, unsigned flags, int *requeued, char **cause)
{
	*requeued = 0;
	for (int i = 0; i < p->n; i++) {
		struct runner_point *pt = &p->v[i];
		int again = 0;
		if (!pt->run_id)
			continue;
		switch (pt->status) {
		case RUN_QUEUED:
			break;
		case RUN_RUNNING:
			again = flags && runner_worker_gone(pt->worker, pt->heartbeat_at);
			break;
		case RUN_FAILED:
		case RUN_CANCELLED:
			again = flags != 0;
			break;
		case RUN_DONE:
		case RUN_DIVERGED:
			again = (flags & RUNNER_REQUEUE_FORCE) != 0;
			break;
		default:
			break;
		}
		if (!again)
			continue;
		if (runs_reset(db, pt->run_id, cause) < 0)
			return -1;
		pt->status = RUN_QUEUED;
		(*requeued)++;
	}
	return 0;
}

/* ---------------------------------------------------------------- estimates */

/* Mean time_s of done runs that share cfg's values of the given keys (NaN when none). */
static double
estimate_with(struct db *db, const struct config *cfg, const char *const *keys, int nkeys)
{
	char *sql = xstrdup("SELECT avg(x.value) FROM results x JOIN runs r ON r.id = x.run_id "
			    "WHERE x.name = 'time_s' AND r.status = 'done'");
	int nbind = 0;
	const char **bind = xmalloc(((size_t)nkeys * 2 + 1) * sizeof *bind);
	for (int i = 0; i < nkeys; i++) {
		const struct config_key *k = config_key_find(keys[i]);
		if (!k || !config_applies(cfg, k))
			continue;
		char *s = xasprintf("%s AND EXISTS (SELECT 1 FROM params p WHERE p.run_id = r.id "
				    "AND p.key = ?%d AND p.value = ?%d)",
				    sql, nbind + 1, nbind + 2);
		free(sql);
		sql = s;
		bind[nbind++] = k->name;
		bind[nbind++] = config_get(cfg, k->name);
	}
	sqlite3_stmt *st = NULL;
	double v = NAN;
	if (sqlite3_prepare_v2(db_sqlite(db), sql, -1, &st, NULL) == SQLITE_OK) {
		for (int i = 0; i < nbind; i++)
			sqlite3_bind_text(st, i + 1, bind[i], -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
			v = sqlite3_column_double(st, 0);
	}
	sqlite3_finalize(st);
	free(sql);
	free(bind);
	return v;
}

double
runner_estimate(struct db *db, const struct config *cfg)
{
	/* 1: every key but the seed and the thread count */
	const char **all = xmalloc((size_t)config_key_count() * sizeof *all);
	int n = 0;
	for (int i = 0; i < config_key_count(); i++) {
		const char *name = config_key_at(i)->name;
		if (strcmp(name, "seed") && strcmp(name, "threads"))
			all[n++] = name;
	}
	double v = estimate_with(db, cfg, all, n);
	free(all);
	if (isfinite(v))
		return v;
	static const char *const like[] = {"job",     "model",	     "epochs",	   "train.n",
					   "border",  "recon.iters", "calib.n",	   "scheme",
					   "w.bits",  "a.bits"};
	for (int k = (int)(sizeof like / sizeof like[0]); k >= 1; k--) {
		if (k < 4 && strncmp(config_get(cfg, "model"), "run:", 4) == 0)
			continue;
		v = estimate_with(db, cfg, like, k);
		if (isfinite(v))
			return v;
	}
	return NAN;
}

/*
 * The memo: an open-addressing hash table from a configuration's JSON, with
 * seed and threads at their defaults (runner_estimate reads neither), to its
 * estimate. It is valid for the finished runs it was filled from, known by
 * their count and the sums of their ids and times (db_state).
 */
struct memo_entry {
	char *key; /* NULL: a free slot */
	double value;
};

struct runner_estimates {
	struct memo_entry *v;
	size_t n, cap;	  /* cap is 0 or a power of two; n <= cap / 2 */
	struct db *db;	  /* the database it was filled from */
	double state[3];  /* db_state() of db then */
};

struct runner_estimates *
runner_estimates_new(void)
{
	return xcalloc(1, sizeof(struct runner_estimates));
}

static void
memo_clear(struct runner_estimates *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->v[i].key);
	free(m->v);
	m->v = NULL;
	m->n = m->cap = 0;
}

void
runner_estimates_free(struct runner_estimates *m)
{
	if (!m)
		return;
	memo_clear(m);
	free(m);
}

/* The slot of key: where it is, or the free slot where it goes. */
static struct memo_entry *
memo_slot(const struct runner_estimates *m, const char *key)
{
	uint64_t h = 1469598103934665603ULL;
	for (const char *c = key; *c; c++)
		h = (h ^ (unsigned char)*c) * 1099511628211ULL;
	for (size_t i = (size_t)h & (m->cap - 1);; i = (i + 1) & (m->cap - 1))
		if (!m->v[i].key || strcmp(m->v[i].key, key) == 0)
			return &m->v[i];
}

/* Records key (taken over) with its estimate. */
static void
memo_put(struct runner_estimates *m, char *key, double value)
{
	if (2 * (m->n + 1) > m->cap) {
		struct memo_entry *old = m->v;
		size_t ncap = m->cap ? 2 * m->cap : 64, oldcap = m->cap;
		m->v = xcalloc(ncap, sizeof *m->v);
		m->cap = ncap;
		for (size_t i = 0; i < oldcap; i++)
			if (old[i].key)
				*memo_slot(m, old[i].key) = old[i];
		free(old);
	}
	struct memo_entry *e = memo_slot(m, key);
	if (e->key) {
		free(key);
	} else {
		e->key = key;
		m->n++;
	}
	e->value = value;
}

/*
 * What estimates are made from: the done runs with a time_s result, as
 * their count and the sums of their ids and times (all 0 when the query
 * fails, which only costs the memo).
 */
static void
db_state(struct db *db, double state[3])
{
	static const char sql[] =
		"SELECT count(*), total(r.id), total(x.value) FROM results x JOIN runs r "
		"ON r.id = x.run_id WHERE x.name = 'time_s' AND r.status = 'done'";
	sqlite3_stmt *st = db_stmt(db, sql, NULL);
	state[0] = state[1] = state[2] = 0;
	if (st && sqlite3_step(st) == SQLITE_ROW)
		for (int i = 0; i < 3; i++)
			state[i] = sqlite3_column_double(st, i);
	if (st)
		sqlite3_reset(st);
}

/* The memo's key of cfg: its JSON with seed and threads at their defaults (malloc'd). */
static char *
memo_key(const struct config *cfg)
{
	struct config *c = config_dup(cfg);
	config_unset(c, "seed");
	config_unset(c, "threads");
	char *key = config_json(c);
	config_free(c);
	return key;
}

/*
 * The estimate of cfg from the memo, else from the database unless the
 * budget is spent (t0 its start; *computed estimates made since, at least
 * one is always made): then NaN and *pending is set.
 */
static double
memo_estimate(struct runner_estimates *m, struct db *db, const struct config *cfg, double t0,
	      double budget_s, int *computed, int *pending)
{
	char *key = memo_key(cfg);
	struct memo_entry *e = m->cap ? memo_slot(m, key) : NULL;
	double s = NAN;
	*pending = 0;
	if (e && e->key) {
		s = e->value;
		free(key);
	} else if (budget_s > 0 && *computed && util_now() - t0 > budget_s) {
		*pending = 1;
		free(key);
	} else {
		s = runner_estimate(db, cfg);
		memo_put(m, key, s);
		(*computed)++;
	}
	return s;
}

void
runner_plan_summary(struct db *db, const struct runner_plan *p, struct runner_estimates *memo,
		    double budget_s, double *est, struct runner_summary *out)
{
	struct runner_estimates *own = memo ? NULL : runner_estimates_new();
	struct runner_estimates *m = memo ? memo : own;
	double state[3], t0 = util_now();
	int computed = 0;
	db_state(db, state);
	if (m->db != db || memcmp(m->state, state, sizeof state) != 0) {
		memo_clear(m);
		m->db = db;
		memcpy(m->state, state, sizeof state);
	}
	memset(out, 0, sizeof *out);
	out->runs = p->n;
	for (int i = 0; i < p->n; i++) {
		double s = NAN;
		int pending = 0;
		if (p->v[i].status == RUN_DONE) {
			out->done++;
		} else {
			s = memo_estimate(m, db, p->v[i].cfg, t0, budget_s, &computed, &pending);
			out->to_run++;
			out->pending += pending;
			if (isfinite(s))
				out->estimate_s += s;
			else if (!pending)
				out->unknown++;
		}
		if (est)
			est[i] = s;
	}
	if (out->to_run && out->unknown + out->pending == out->to_run)
		out->estimate_s = NAN;
	runner_estimates_free(own);
}

/* ---------------------------------------------------------------- running */

struct worker {
	pid_t pid;
	int fd;			/* read end of its stderr, -1 once at EOF */
	int64_t run_id;		/* the run it claimed, 0 until known */
	int reported;		/* the started event was sent */
	time_t since;		/* when it was started (its runs start then or later) */
	char name[300];		/* "host:pid" */
	char tail[RUNNER_TAIL];
	size_t ntail;
};

/* Appends n bytes to the worker's stderr tail, keeping the last RUNNER_TAIL - 1. */
static void
tail_append(struct worker *w, const char *buf, size_t n)
{
	if (n >= RUNNER_TAIL - 1) {
		buf += n - (RUNNER_TAIL - 1);
		n = RUNNER_TAIL - 1;
	}
	if (w->ntail + n > RUNNER_TAIL - 1) {
		size_t drop = w->ntail + n - (RUNNER_TAIL - 1);
		memmove(w->tail, w->tail + drop, w->ntail - drop);
		w->ntail -= drop;
	}
	memcpy(w->tail + w->ntail, buf, n);
	w->ntail += n;
	w->tail[w->ntail] = '\0';
}

/* The last `lines` lines of the tail (a pointer into it). */
static const char *
tail_lines(const struct worker *w, int lines)
{
	const char *end = w->tail + w->ntail;
	while (end > w->tail && end[-1] == '\n')
		end--;
	const char *p = end;
	while (p > w->tail) {
		if (p[-1] == '\n' && --lines == 0)
			break;
		p--;
	}
	return p;
}

static int
spawn_worker(const struct runner_opts *o, int threads, struct worker *w, char **cause)
{
	int fds[2];
	if (pipe(fds) < 0)
		return err_set(cause, "cannot create a pipe: %s", strerror(errno));
	char sweep[32], nthreads[16];
	snprintf(sweep, sizeof sweep, "%lld", (long long)o->sweep_id);
	snprintf(nthreads, sizeof nthreads, "%d", threads);
	time_t before = time(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return err_set(cause, "cannot start a worker: %s", strerror(errno));
	}
	if (pid == 0) {
		setpgid(0, 0);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		int null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
		}
		dup2(fds[1], 2);
		close(fds[0]);
		close(fds[1]);
		setenv("OMP_NUM_THREADS", nthreads, 1);
		execl(o->exe, o->exe, "--db", o->db_path, "job", "next", sweep, (char *)NULL);
		dprintf(2, "qbench: cannot run %s: %s\n", o->exe, strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);
	fcntl(fds[0], F_SETFD, FD_CLOEXEC);
	memset(w, 0, sizeof *w);
	w->pid = pid;
	w->since = before;
	w->fd = fds[0];
	char host[256] = "?";
	gethostname(host, sizeof host - 1);
	snprintf(w->name, sizeof w->name, "%s:%ld", host, (long)pid);
	return 0;
}

/* Reads what is available on the worker's stderr. */
static void
drain(struct worker *w)
{
	char buf[4096];
	for (;;) {
		ssize_t n = read(w->fd, buf, sizeof buf);
		if (n > 0) {
			tail_append(w, buf, (size_t)n);
			continue;
		}
		if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
			close(w->fd);
			w->fd = -1;
		}
		if (n < 0 && errno == EINTR)
			continue;
		return;
	}
}

/* "killed by signal 9 (Killed)" or "exited with status 3" (malloc'd). */
static char *
describe_status(int status)
{
	if (WIFSIGNALED(status))
		return xasprintf("killed by signal %d (%s)", WTERMSIG(status),
				 strsignal(WTERMSIG(status)));
	return xasprintf("exited with status %d", WEXITSTATUS(status));
}

/* A reaped worker: records its run failed when the worker did not end it. */
static int
worker_ended(struct db *db, struct worker *w, int status, const struct runner_events *ev,
	     char **cause)
{
	if (w->fd >= 0)
		drain(w);
	if (!w->run_id && runs_find_worker(db, w->name, w->since, &w->run_id, cause) < 0)
		return -1;
	if (w->run_id) {
		struct run_info *r = NULL;
		if (runs_get(db, w->run_id, &r, cause) < 0)
			return -1;
		int orphan = r->status == RUN_RUNNING && r->worker && !strcmp(r->worker, w->name);
		run_info_free(r);
		if (orphan) {
			char *how = describe_status(status);
			/* what it printed after the claim is in its log; before, in the pipe */
			char *log = runner_job_log_tail(db, w->run_id, 12);
			const char *tail = log && *log ? log : tail_lines(w, 12);
			char *msg = *tail ? xasprintf("worker %ld %s; its last output:\n%s",
						      (long)w->pid, how, tail)
					  : xasprintf("worker %ld %s", (long)w->pid, how);
			int rc = runs_set_status(db, w->run_id, RUN_FAILED, msg, cause);
			free(msg);
			free(how);
			free(log);
			if (rc < 0)
				return -1;
		}
	}
	if (ev->finished)
		ev->finished(ev->ctx, w->run_id, (int)w->pid, status, tail_lines(w, 12));
	return 0;
}

char *
runner_job_log_path(struct db *db, int64_t id)
{
	const char *path = db_path(db), *slash = strrchr(path, '/');
	if (!slash)
		return xasprintf("runs/%lld/job.log", (long long)id);
	return xasprintf("%.*s/runs/%lld/job.log", (int)(slash - path), path, (long long)id);
}

char *
runner_job_log_tail(struct db *db, int64_t id, int lines)
{
	char *path = runner_job_log_path(db, id);
	FILE *f = fopen(path, "rb");
	free(path);
	if (!f)
		return NULL;
	char buf[8192];
	long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : 0;
	long from = size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 : 0;
	fseek(f, from, SEEK_SET);
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* the last `lines` lines, without trailing newlines */
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	char *p = buf + n;
	while (p > buf) {
		if (p[-1] == '\n' && --lines == 0)
			break;
		p--;
	}
	return xstrdup(p);
}

/* Number of claimable runs of the sweep. */
static int
count_claimable(struct db *db, int64_t sweep_id, int *n, char **cause)
{
	static const char sql[] =
		"SELECT count(*) FROM sweep_runs s JOIN runs r ON r.id = s.run_id "
		"LEFT JOIN runs p ON p.id = r.parent_run_id WHERE s.sweep_id = ?1 AND "
		"r.status = 'queued' AND (r.parent_run_id IS NULL OR p.status = 'done')";
	sqlite3_stmt *st = db_stmt(db, sql, cause);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, sweep_id);
	int rc = sqlite3_step(st);
	*n = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : db_fail(db, cause, "cannot count queued runs");
}

/* Queued runs of the sweep whose parent ended without a model become failed. */
static int
fail_orphans(struct db *db, int64_t sweep_id, char **cause)
{
	static const char sql[] =
		"SELECT r.id, p.id, p.status FROM sweep_runs s JOIN runs r ON r.id = s.run_id "
		"JOIN runs p ON p.id = r.parent_run_id WHERE s.sweep_id = ?1 AND "
		"r.status = 'queued' AND p.status IN ('failed', 'diverged', 'cancelled')";
	sqlite3_stmt *st = db_stmt(db, sql, cause);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, sweep_id);
	int64_t ids[256], parents[256];
	char status[256][16];
	int n = 0, rc;
	while (n < 256 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		ids[n] = sqlite3_column_int64(st, 0);
		parents[n] = sqlite3_column_int64(st, 1);
		snprintf(status[n], sizeof status[n], "%s", sqlite3_column_text(st, 2));
		n++;
	}
	sqlite3_reset(st);
	for (int i = 0; i < n; i++) {
		char *msg = xasprintf("parent run %lld is %s", (long long)parents[i], status[i]);
		int ret = runs_set_status(db, ids[i], RUN_FAILED, msg, cause);
		free(msg);
		if (ret < 0)
			return -1;
	}
	return n == 256 ? fail_orphans(db, sweep_id, cause) : 0;
}

int
runner_run(struct db *db, const struct runner_opts *o, const struct runner_events *ev,
	   char **cause)
{
	int jobs = o->jobs > 0 ? o->jobs : 1;
	struct worker *ws = xcalloc((size_t)jobs, sizeof *ws);
	struct pollfd *pfds = xcalloc((size_t)jobs, sizeof *pfds);
	int nw = 0, stopping = 0, ret = 0, lost = 0;
	for (;;) {
		if (!stopping && ev->should_stop && ev->should_stop(ev->ctx)) {
			stopping = 1;
			for (int i = 0; i < nw; i++)
				kill(ws[i].pid, SIGTERM);
		}
		/* which runs the workers claimed */
		int pending = 0;
		for (int i = 0; i < nw && ret == 0; i++) {
			if (!ws[i].run_id &&
			    runs_find_worker(db, ws[i].name, ws[i].since, &ws[i].run_id, cause) < 0)
				ret = -1;
			if (ws[i].run_id && !ws[i].reported) {
				ws[i].reported = 1;
				if (ev->started)
					ev->started(ev->ctx, ws[i].run_id, (int)ws[i].pid);
			}
			pending += ws[i].run_id == 0;
		}
		/* start workers while there is work no worker is about to claim */
		if (!stopping && ret == 0 && nw < jobs) {
			int claimable;
			if (count_claimable(db, o->sweep_id, &claimable, cause) < 0)
				ret = -1;
			/* the cores are shared among the workers that will run at once */
			int slots = nw + claimable - pending < jobs ? nw + claimable - pending : jobs;
			if (slots < 1)
				slots = 1;
			int threads = o->threads > 0 ? o->threads : o->cores / slots;
			if (threads < 1)
				threads = 1;
			while (ret == 0 && nw < jobs && claimable > pending) {
				if (spawn_worker(o, threads, &ws[nw], cause) < 0) {
					ret = -1;
					break;
				}
				nw++;
				pending++;
			}
		}
		if (nw == 0)
			break;
		for (int i = 0; i < nw; i++) {
			pfds[i].fd = ws[i].fd;
			pfds[i].events = POLLIN;
			pfds[i].revents = 0;
		}
		/* a worker whose stderr is closed is exiting: look again soon to reap it */
		int exiting = 0;
		for (int i = 0; i < nw; i++)
			exiting |= ws[i].fd < 0;
		if (poll(pfds, (nfds_t)nw, exiting ? 2 : 100) > 0)
			for (int i = 0; i < nw; i++)
				if (pfds[i].revents && ws[i].fd >= 0)
					drain(&ws[i]);
		for (int i = 0; i < nw; i++) {
			int status;
			pid_t r = waitpid(ws[i].pid, &status, WNOHANG);
			if (r != ws[i].pid)
				continue;
			char *why = NULL;
			if (worker_ended(db, &ws[i], status, ev, &why) < 0 && ret == 0) {
				ret = -1;
				*cause = why;
				why = NULL;
			}
			free(why);
			/* workers that fail before claiming anything would be started forever */
			if (ws[i].run_id || status == 0) {
				lost = 0;
			} else if (++lost >= RUNNER_MAX_LOST && ret == 0) {
				char *how = describe_status(status);
				ret = err_set(cause, "%d workers in a row %s without running a point; the "
						     "last one said: %s",
					      lost, how, *tail_lines(&ws[i], 3) ? tail_lines(&ws[i], 3)
										: "nothing");
				free(how);
			}
			if (ws[i].fd >= 0)
				close(ws[i].fd);
			ws[i] = ws[--nw];
			i--;
		}
		if (ret < 0 && !stopping) {
			/* a database or fork failure: stop the others and wait for them */
			stopping = 1;
			for (int i = 0; i < nw; i++)
				kill(ws[i].pid, SIGTERM);
		}
	}
	if (ret == 0 && !stopping)
		ret = fail_orphans(db, o->sweep_id, cause);
	free(ws);
	free(pfds);
	return ret;
}
