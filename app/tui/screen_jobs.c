/*
 * screen_jobs: the Jobs screen: the points that run, wait, or did not end
 * well, with a progress bar, stage and ETA for the running ones (from the
 * heartbeats in the database), and the end of a failed one's output.
 *
 * Actions: x cancels the selected job (SIGTERM to its worker on this host,
 * which records it cancelled; a queued one is marked cancelled at once),
 * R runs a failed or cancelled one again (`qbench job ID`, detached), u
 * resumes its sweep (`qbench sweep sweep:ID --resume`, detached). The list
 * is reloaded from the database every second.
 *
 * Invariant: the state's rows are a snapshot; actions re-read the run from
 * the database before acting on it.
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app/tui/tui.h"
#include "db/db.h"
#include "db/runs.h"
#include "engine/util.h"
#include "experiments/config.h"
#include "experiments/runner.h"

/* Keys shown in a job's label when the run has them. */
static const char *const label_keys[] = {"job",	   "model",  "scheme",	  "w.scheme", "w.bits",
					 "a.bits", "g.bits", "w.clip",	  "ocs.ratio", "border",
					 "epochs", "seed"};
#define NLABEL ((int)(sizeof label_keys / sizeof label_keys[0]))

struct job_row {
	struct run_info info;	/* copied from the run table (strings owned) */
	char label[256];
};

struct jobs {
	struct job_row *rows;
	int n, cursor, top;
	time_t loaded;
	int running, queued;
};

static void
jobs_clear(struct jobs *j)
{
	for (int i = 0; i < j->n; i++)
		run_info_done(&j->rows[i].info);
	free(j->rows);
	j->rows = NULL;
	j->n = 0;
}

static char *
dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

/* Appends the runs of one status, newest first for finished ones. */
static int
jobs_add(struct jobs *j, struct db *db, const char *status, int newest_first, int max,
	 char **cause)
{
	struct run_filter f = {"status", status};
	struct run_table *rt = NULL;
	if (runs_list(db, &f, 1, label_keys, NLABEL, NULL, 0, &rt, cause) < 0)
		return -1;
	int take = rt->nrows < max ? rt->nrows : max;
	j->rows = xrealloc(j->rows, (size_t)(j->n + take + 1) * sizeof *j->rows);
	for (int k = 0; k < take; k++) {
		int i = newest_first ? rt->nrows - 1 - k : k;
		const struct run_info *r = &rt->info[i];
		struct job_row *row = &j->rows[j->n++];
		memset(row, 0, sizeof *row);
		row->info = *r;
		row->info.key = dup_or_null(r->key);
		row->info.config = NULL;
		row->info.model_path = dup_or_null(r->model_path);
		row->info.created_at = dup_or_null(r->created_at);
		row->info.started_at = dup_or_null(r->started_at);
		row->info.finished_at = dup_or_null(r->finished_at);
		row->info.heartbeat_at = dup_or_null(r->heartbeat_at);
		row->info.worker = dup_or_null(r->worker);
		row->info.error = dup_or_null(r->error);
		row->info.stage = dup_or_null(r->stage);
		size_t len = 0;
		for (int p = 0; p < NLABEL; p++) {
			const char *v = rt->params[(size_t)i * NLABEL + p];
			const struct config_key *ck = config_key_find(label_keys[p]);
			/* a key at its default says nothing (job and model always do) */
			if (v && p > 1 && ck && !strcmp(v, ck->def))
				continue;
			if (v && len < sizeof row->label)
				len += (size_t)snprintf(row->label + len, sizeof row->label - len, "%s%s=%s",
							len ? " " : "", label_keys[p], v);
		}
	}
	run_table_free(rt);
	return 0;
}

static void
jobs_load(struct tui *t, struct jobs *j)
{
	char *cause = NULL;
	int64_t keep = j->cursor < j->n ? j->rows[j->cursor].info.id : 0;
	jobs_clear(j);
	struct db *db = tui_db(t);
	int rc = jobs_add(j, db, "running", 0, 1000, &cause);
	j->running = j->n;
	if (rc == 0)
		rc = jobs_add(j, db, "queued", 0, 2000, &cause);
	j->queued = j->n - j->running;
	if (rc == 0)
		rc = jobs_add(j, db, "failed", 1, 200, &cause);
	if (rc == 0)
		rc = jobs_add(j, db, "cancelled", 1, 200, &cause);
	if (rc == 0)
		rc = jobs_add(j, db, "diverged", 1, 200, &cause);
	if (rc < 0)
		tui_message(t, 1, "%s", cause);
	free(cause);
	j->cursor = 0;
	for (int i = 0; i < j->n; i++)
		if (j->rows[i].info.id == keep)
			j->cursor = i;
	j->loaded = time(NULL);
}

static struct jobs *
jobs_of(struct tui *t)
{
	void **st = tui_state(t, TUI_SCREEN_JOBS);
	if (!*st)
		*st = xcalloc(1, sizeof(struct jobs));
	return *st;
}

static void
jobs_enter(struct tui *t)
{
	jobs_load(t, jobs_of(t));
}

static int
jobs_tick(struct tui *t)
{
	struct jobs *j = jobs_of(t);
	if (time(NULL) - j->loaded < 1)
		return 0;
	jobs_load(t, j);
	return TUI_REDRAW;
}

/* Seconds since an ISO-8601 UTC timestamp; -1 when unreadable. */
static double
age_of(const char *stamp)
{
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	if (!stamp || sscanf(stamp, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
			     &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return difftime(time(NULL), timegm(&tm));
}

static void
format_eta(char *buf, size_t n, const struct run_info *r)
{
	double elapsed = age_of(r->started_at);
	if (!isfinite(r->progress) || r->progress <= 0.005 || elapsed < 0) {
		snprintf(buf, n, "-");
		return;
	}
	long s = (long)(elapsed * (1 - r->progress) / r->progress + 0.5);
	if (s >= 3600)
		snprintf(buf, n, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
	else
		snprintf(buf, n, "%ld:%02ld", s / 60, s % 60);
}

/* "[#####.....]  45%" in width columns (ASCII, so it reads the same everywhere). */
static void
format_bar(char *buf, size_t n, double frac, int width)
{
	if (!isfinite(frac)) {
		snprintf(buf, n, "%*s", width, "");
		return;
	}
	int inner = width - 7, fill = (int)(frac * inner + 0.5), k = 0;
	buf[k++] = '[';
	for (int i = 0; i < inner && (size_t)k + 8 < n; i++)
		buf[k++] = i < fill ? '#' : '.';
	snprintf(buf + k, n - (size_t)k, "] %3.0f%%", 100 * frac);
}

static void
jobs_draw(struct tui *t, int top, int h, int w)
{
	struct jobs *j = jobs_of(t);
	char head[160];
	snprintf(head, sizeof head, "%d running, %d queued, %d ended badly (recent first)", j->running,
		 j->queued, j->n - j->running - j->queued);
	attron(A_BOLD);
	tui_text(top, 0, w, head, 1);
	attroff(A_BOLD);
	tui_color(t, TUI_COLOR_HEADER, 1);
	tui_text(top + 1, 0, w, "   id st progress             stage                  ETA      point", 1);
	tui_color(t, TUI_COLOR_HEADER, 0);
	int detail = 5; /* lines for the selected job's details */
	int rows = h - 2 - detail;
	if (j->cursor < j->top)
		j->top = j->cursor;
	if (j->cursor >= j->top + rows)
		j->top = j->cursor - rows + 1;
	for (int r = 0; r < rows; r++) {
		int i = j->top + r;
		int y = top + 2 + r;
		if (i >= j->n) {
			tui_text(y, 0, w, i == 0 && r == 0 ? "   no jobs: launch a sweep from the builder (1)" : "", 1);
			continue;
		}
		const struct run_info *ri = &j->rows[i].info;
		const char *status = run_status_name(ri->status);
		char bar[32] = "", eta[24] = "", line[512];
		if (ri->status == RUN_RUNNING) {
			format_bar(bar, sizeof bar, ri->progress, 20);
			format_eta(eta, sizeof eta, ri);
		}
		snprintf(line, sizeof line, "%5lld %s  %-20s %-22.22s %-8s %s", (long long)ri->id,
			 tui_status_glyph(t, status), bar,
			 ri->status == RUN_RUNNING ? (ri->stage ? ri->stage : "starting") : status,
			 eta, j->rows[i].label);
		enum tui_color c = ri->status == RUN_RUNNING   ? TUI_COLOR_BUSY
				   : ri->status == RUN_QUEUED ? TUI_COLOR_DIM
							      : TUI_COLOR_BAD;
		if (i == j->cursor)
			attron(A_REVERSE);
		else
			tui_color(t, c, 1);
		tui_text(y, 0, w, line, 1);
		if (i == j->cursor)
			attroff(A_REVERSE);
		else
			tui_color(t, c, 0);
	}
	/* the selected job */
	int y = top + h - detail;
	tui_text(y, 0, w, "", 1);
	if (j->cursor < j->n) {
		const struct run_info *ri = &j->rows[j->cursor].info;
		char line[256];
		snprintf(line, sizeof line, "run %lld  %s  worker %s  attempts %d  heartbeat %s",
			 (long long)ri->id, run_status_name(ri->status), ri->worker ? ri->worker : "-",
			 ri->attempts, ri->heartbeat_at ? ri->heartbeat_at : "-");
		attron(A_BOLD);
		tui_text(y, 0, w, line, 1);
		attroff(A_BOLD);
		/* a running job's log tail, or the error (a failed worker's last output) */
		char *log = ri->status == RUN_RUNNING ? runner_job_log_tail(tui_db(t), ri->id, detail - 1)
						      : NULL;
		const char *e = log ? log : ri->error ? ri->error : "";
		for (int k = 1; k < detail; k++) {
			const char *nl = strchr(e, '\n');
			char part[512];
			snprintf(part, sizeof part, "  %.*s", nl ? (int)(nl - e) : (int)strlen(e), e);
			tui_text(y + k, 0, w, *e ? part : "", 1);
			e = nl ? nl + 1 : e + strlen(e);
		}
		free(log);
	}
}

/* The selected run, re-read from the database (NULL and a message when gone). */
static struct run_info *
jobs_selected(struct tui *t, struct jobs *j)
{
	struct run_info *r = NULL;
	char *cause = NULL;
	if (j->cursor >= j->n)
		return NULL;
	if (runs_get(tui_db(t), j->rows[j->cursor].info.id, &r, &cause) < 0)
		tui_message(t, 1, "%s", cause);
	free(cause);
	return r;
}

/* The pid of a worker of this host ("host:pid"), or 0. */
static long
local_pid(const char *worker)
{
	char host[256] = "";
	const char *colon = worker ? strrchr(worker, ':') : NULL;
	if (!colon || gethostname(host, sizeof host - 1) < 0 ||
	    (size_t)(colon - worker) != strlen(host) || strncmp(worker, host, strlen(host)))
		return 0;
	return strtol(colon + 1, NULL, 10);
}

static void
jobs_cancel(struct tui *t, struct jobs *j)
{
	struct run_info *r = jobs_selected(t, j);
	char *cause = NULL;
	if (!r)
		return;
	if (r->status == RUN_RUNNING) {
		long pid = local_pid(r->worker);
		if (pid > 0 && kill((pid_t)pid, SIGTERM) == 0)
			tui_message(t, 0, "run %lld: asked its worker %ld to stop", (long long)r->id, pid);
		else
			tui_message(t, 1, "run %lld: its worker %s is not a process of this host",
				    (long long)r->id, r->worker ? r->worker : "?");
	} else if (r->status == RUN_QUEUED) {
		if (runs_set_status(tui_db(t), r->id, RUN_CANCELLED, "cancelled in the workbench",
				    &cause) < 0)
			tui_message(t, 1, "%s", cause);
		else
			tui_message(t, 0, "run %lld cancelled", (long long)r->id);
	} else {
		tui_message(t, 1, "run %lld is %s: nothing to cancel", (long long)r->id,
			    run_status_name(r->status));
	}
	free(cause);
	run_info_free(r);
}

/* The log file of detached commands: qbench-tui.log beside the database. */
static char *
log_path(struct tui *t)
{
	const char *db = tui_options(t)->db_path;
	const char *slash = strrchr(db, '/');
	return slash ? xasprintf("%.*s/qbench-tui.log", (int)(slash - db), db)
		     : xstrdup("qbench-tui.log");
}

static void
jobs_retry(struct tui *t, struct jobs *j)
{
	struct run_info *r = jobs_selected(t, j);
	char *cause = NULL, *log = log_path(t);
	if (!r) {
		free(log);
		return;
	}
	if (r->status != RUN_FAILED && r->status != RUN_CANCELLED) {
		tui_message(t, 1, "run %lld is %s: only a failed or cancelled job is retried",
			    (long long)r->id, run_status_name(r->status));
	} else if (runs_reset(tui_db(t), r->id, &cause) < 0) {
		tui_message(t, 1, "%s", cause);
	} else {
		char id[32];
		snprintf(id, sizeof id, "%lld", (long long)r->id);
		const char *args[] = {"job", id, "--quiet", NULL};
		if (tui_spawn(t, args, log, &cause) < 0)
			tui_message(t, 1, "%s", cause);
		else
			tui_message(t, 0, "run %lld queued again and started (output in %s)",
				    (long long)r->id, log);
	}
	free(cause);
	free(log);
	run_info_free(r);
}

static void
jobs_resume(struct tui *t, struct jobs *j)
{
	struct run_info *r = jobs_selected(t, j);
	char *cause = NULL, *log = log_path(t);
	if (r && !r->sweep_id) {
		tui_message(t, 1, "run %lld belongs to no sweep: R retries it alone", (long long)r->id);
	} else if (r) {
		char ref[48];
		snprintf(ref, sizeof ref, "sweep:%lld", (long long)r->sweep_id);
		const char *args[] = {"sweep", ref, "--resume", "--quiet", NULL};
		if (tui_spawn(t, args, log, &cause) < 0)
			tui_message(t, 1, "%s", cause);
		else
			tui_message(t, 0, "sweep %lld resumed (output in %s)", (long long)r->sweep_id,
				    log);
	}
	free(cause);
	free(log);
	run_info_free(r);
}

static int
jobs_handle(struct tui *t, enum tui_action a, int key)
{
	struct jobs *j = jobs_of(t);
	(void)key;
	switch (a) {
	case TUI_ACT_UP:
		if (j->cursor > 0)
			j->cursor--;
		break;
	case TUI_ACT_DOWN:
		if (j->cursor + 1 < j->n)
			j->cursor++;
		break;
	case TUI_ACT_PAGE_UP:
		j->cursor = j->cursor > 10 ? j->cursor - 10 : 0;
		break;
	case TUI_ACT_PAGE_DOWN:
		j->cursor = j->cursor + 10 < j->n ? j->cursor + 10 : (j->n ? j->n - 1 : 0);
		break;
	case TUI_ACT_HOME:
		j->cursor = 0;
		break;
	case TUI_ACT_END:
		j->cursor = j->n ? j->n - 1 : 0;
		break;
	case TUI_ACT_CANCEL:
		jobs_cancel(t, j);
		jobs_load(t, j);
		break;
	case TUI_ACT_RETRY:
		jobs_retry(t, j);
		jobs_load(t, j);
		break;
	case TUI_ACT_RESUME:
		jobs_resume(t, j);
		break;
	default:
		return 0;
	}
	return TUI_HANDLED | TUI_REDRAW;
}

static void
jobs_done(struct tui *t)
{
	void **st = tui_state(t, TUI_SCREEN_JOBS);
	if (*st) {
		jobs_clear(*st);
		free(*st);
		*st = NULL;
	}
}

const struct tui_screen_ops tui_screen_jobs = {
	.id = TUI_SCREEN_JOBS,
	.enter = jobs_enter,
	.draw = jobs_draw,
	.handle = jobs_handle,
	.tick = jobs_tick,
	.done = jobs_done,
};
