/*
 * screen_builder: the Sweep builder screen (the model is app/tui/builder.c).
 *
 * Rows: job, model and dataset (one value each), one row per axis with its
 * candidate values ([x] on), the free k=v and :directive lines, and a last
 * row to add a line. Up and Down move between rows, Left and Right between a
 * row's values; Space toggles (or, on job and model, picks) the value under
 * the cursor; Enter edits a free line (with Tab completion), the dataset, or
 * adds a line. The title says how many points the sweep has, how many are
 * done and an estimated time, or the spec error, recomputed after every
 * change. w saves NAME.sweep; L saves it beside the database (sweeps/) and
 * starts `qbench sweep FILE` detached, then shows the Jobs screen.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/tui/builder.h"
#include "app/tui/tui.h"
#include "engine/util.h"

/* The rows before the axes: job, model, dataset. */
#define FIXED_ROWS 3
static const char *const fixed_keys[FIXED_ROWS] = {"job", "model", "dataset"};

struct builder {
	struct tui_builder *b;
	int pending;		/* runs whose estimate is still to come (summary again on ticks) */
	int row, value;		/* cursor: row, and value within an axis/choice row */
	int top;
	char summary[512];
	int summary_bad;
};

static struct builder *
builder_of(struct tui *t)
{
	void **st = tui_state(t, TUI_SCREEN_BUILDER);
	if (!*st) {
		struct builder *s = xcalloc(1, sizeof *s);
		char *cause = NULL;
		s->b = tui_builder_new();
		const char *path = tui_options(t)->sweep_file;
		if (path && tui_builder_default(s->b, path, &cause) < 0)
			tui_message(t, 1, "%s", cause);
		free(cause);
		*st = s;
	}
	return *st;
}

static int
nrows(const struct builder *s)
{
	return FIXED_ROWS + tui_builder_axis_count(s->b) + tui_builder_line_count(s->b) + 1;
}

/* Recomputes the title's summary: points, done, estimate, or the spec error. */
static void
builder_summary(struct tui *t, struct builder *s)
{
	struct tui_builder_summary sum;
	char *cause = NULL;
	if (tui_builder_summary(s->b, tui_db(t), &sum, &cause) < 0) {
		snprintf(s->summary, sizeof s->summary, "%s", cause);
		s->summary_bad = 1;
	} else {
		long cores = sysconf(_SC_NPROCESSORS_ONLN);
		int jobs = cores > 0 ? (int)cores : 1;
		if (jobs > sum.to_run && sum.to_run > 0)
			jobs = sum.to_run;
		char est[64] = "";
		if (sum.to_run && isfinite(sum.estimate_s)) {
			double sec = sum.estimate_s / jobs;
			snprintf(est, sizeof est, "; about %.0f min with -j %d%s", ceil(sec / 60), jobs,
				 sum.unknown ? " (some unknown)" : "");
		} else if (sum.to_run) {
			snprintf(est, sizeof est, "; no similar finished run to estimate from");
		}
		snprintf(s->summary, sizeof s->summary, "%d points, %d runs: %d done, %d to run%s%s",
			 sum.points, sum.runs, sum.done, sum.to_run, est,
			 sum.pending ? " (estimating...)" : "");
		s->summary_bad = 0;
		s->pending = sum.pending;
	}
	free(cause);
}

static void
builder_enter(struct tui *t)
{
	builder_summary(t, builder_of(t));
}

/* The estimate comes in parts (a time budget per call): ask again until it is whole. */
static int
builder_tick(struct tui *t)
{
	struct builder *s = builder_of(t);
	if (!s->pending)
		return 0;
	builder_summary(t, s);
	return TUI_REDRAW;
}

/* The values of a fixed row: the choices (job, model) with the current one on. */
static int
fixed_values(const struct builder *s, int row, const char *const **choices, const char **cur)
{
	*choices = tui_builder_choices(fixed_keys[row]);
	*cur = tui_builder_get(s->b, fixed_keys[row]);
	int n = 0;
	while (*choices && (*choices)[n])
		n++;
	return n;
}

static void
draw_value(struct tui *t, int *x, int y, int w, const char *v, int on, int here)
{
	char cell[96];
	snprintf(cell, sizeof cell, on ? "[%s]" : " %s ", v);
	int len = (int)strlen(cell);
	if (*x + len >= w)
		return;
	if (here)
		attron(A_REVERSE);
	if (on)
		tui_color(t, TUI_COLOR_OK, 1);
	tui_text(y, *x, len, cell, 0);
	if (on)
		tui_color(t, TUI_COLOR_OK, 0);
	if (here)
		attroff(A_REVERSE);
	*x += len + 1;
}

static void
builder_draw(struct tui *t, int top, int h, int w)
{
	struct builder *s = builder_of(t);
	char title[640];
	snprintf(title, sizeof title, "sweep %s%s  %s", tui_builder_name(s->b),
		 tui_builder_modified(s->b) ? " (modified)" : "", s->summary_bad ? "" : s->summary);
	attron(A_BOLD);
	tui_text(top, 0, w, title, 1);
	attroff(A_BOLD);
	int msg = s->summary_bad ? 2 : 0;
	if (msg) {
		tui_color(t, TUI_COLOR_BAD, 1);
		tui_text(top + 1, 0, w, "! the sweep does not parse:", 1);
		tui_text(top + 2, 0, w, s->summary, 1);
		tui_color(t, TUI_COLOR_BAD, 0);
	}
	int rows = h - 1 - msg, n = nrows(s);
	if (s->row < s->top)
		s->top = s->row;
	if (s->row >= s->top + rows)
		s->top = s->row - rows + 1;
	int naxes = tui_builder_axis_count(s->b);
	for (int r = 0; r < rows; r++) {
		int i = s->top + r, y = top + 1 + msg + r, here = i == s->row;
		tui_text(y, 0, w, "", 1);
		if (i >= n)
			continue;
		int x = 12;
		if (i < FIXED_ROWS) {
			const char *const *choices;
			const char *cur;
			int nv = fixed_values(s, i, &choices, &cur);
			tui_color(t, TUI_COLOR_HEADER, here);
			tui_text(y, 0, 11, fixed_keys[i], 1);
			tui_color(t, TUI_COLOR_HEADER, 0);
			int shown = 0;
			for (int v = 0; v < nv; v++) {
				int on = cur && !strcmp(cur, choices[v]);
				shown |= on;
				draw_value(t, &x, y, w, choices[v], on, here && s->value == v);
			}
			if (cur && !shown)
				draw_value(t, &x, y, w, cur, 1, here && (nv == 0 || s->value >= nv));
			if (!cur && nv == 0)
				draw_value(t, &x, y, w, "(default; Enter to set)", 0, here);
		} else if (i < FIXED_ROWS + naxes) {
			int a = i - FIXED_ROWS;
			tui_color(t, TUI_COLOR_HEADER, here);
			tui_text(y, 0, 11, tui_builder_axis_key(s->b, a), 1);
			tui_color(t, TUI_COLOR_HEADER, 0);
			for (int v = 0; v < tui_builder_value_count(s->b, a); v++)
				draw_value(t, &x, y, w, tui_builder_value(s->b, a, v),
					   tui_builder_value_on(s->b, a, v), here && s->value == v);
		} else if (i < n - 1) {
			if (here)
				attron(A_REVERSE);
			tui_text(y, 0, w, tui_builder_line(s->b, i - FIXED_ROWS - naxes), 1);
			if (here)
				attroff(A_REVERSE);
		} else {
			if (here)
				attron(A_REVERSE);
			tui_text(y, 0, w, "+ add a line: k=v, parent.KEY=v, :where, :zip, :exclude (Enter)",
				 1);
			if (here)
				attroff(A_REVERSE);
		}
	}
}

/* Number of values on the cursor's row (for Left/Right). */
static int
row_values(const struct builder *s)
{
	int naxes = tui_builder_axis_count(s->b);
	if (s->row < FIXED_ROWS) {
		const char *const *choices;
		const char *cur;
		return fixed_values(s, s->row, &choices, &cur);
	}
	if (s->row < FIXED_ROWS + naxes)
		return tui_builder_value_count(s->b, s->row - FIXED_ROWS);
	return 0;
}

static int
complete_line(void *ctx, const char *text, char ***out, int *n)
{
	const struct builder *s = ctx;
	tui_builder_complete(s->b, text, out, n);
	return 0;
}

/* Enter: edit the free line, the dataset/model, or add a line. */
static void
builder_edit(struct tui *t, struct builder *s)
{
	int naxes = tui_builder_axis_count(s->b), n = nrows(s);
	char *cause = NULL, *text = NULL;
	if (s->row < FIXED_ROWS) {
		const char *key = fixed_keys[s->row];
		char prompt[64];
		snprintf(prompt, sizeof prompt, "%s= ", key);
		const char *cur = tui_builder_get(s->b, key);
		text = tui_prompt(t, prompt, cur ? cur : "", NULL, NULL);
		if (text && tui_builder_set(s->b, key, *text ? text : NULL, &cause) < 0)
			tui_message(t, 1, "%s", cause);
	} else if (s->row >= FIXED_ROWS + naxes) {
		int line = s->row - FIXED_ROWS - naxes, add = s->row == n - 1;
		text = tui_prompt(t, add ? "add: " : "line (empty removes it): ",
				  add ? "" : tui_builder_line(s->b, line), complete_line, s);
		if (text && !*text && !add)
			tui_builder_line_remove(s->b, line);
		else if (text && *text &&
			 (add ? tui_builder_line_add(s->b, text, &cause)
			      : tui_builder_line_set(s->b, line, text, &cause)) < 0)
			tui_message(t, 1, "%s", cause);
	} else {
		int a = s->row - FIXED_ROWS;
		char prompt[96];
		snprintf(prompt, sizeof prompt, "add a value to %s: ", tui_builder_axis_key(s->b, a));
		text = tui_prompt(t, prompt, "", NULL, NULL);
		if (text && *text && tui_builder_add_value(s->b, a, text, &cause) < 0)
			tui_message(t, 1, "%s", cause);
	}
	free(text);
	free(cause);
}

/* The folder beside the database where launched sweeps are saved (malloc'd). */
static char *
sweeps_dir(struct tui *t)
{
	const char *db = tui_options(t)->db_path;
	const char *slash = strrchr(db, '/');
	return slash ? xasprintf("%.*s/sweeps", (int)(slash - db), db) : xstrdup("sweeps");
}

static void
builder_save(struct tui *t, struct builder *s)
{
	char def[256], *cause = NULL;
	snprintf(def, sizeof def, "%s.sweep", tui_builder_name(s->b));
	char *path = tui_prompt(t, "save the sweep as: ", def, NULL, NULL);
	if (path && *path) {
		if (tui_builder_save(s->b, path, &cause) < 0)
			tui_message(t, 1, "%s", cause);
		else
			tui_message(t, 0, "saved %s", path);
	}
	free(path);
	free(cause);
}

static void
builder_launch(struct tui *t, struct builder *s)
{
	char *cause = NULL, *dir = sweeps_dir(t);
	char *path = xasprintf("%s/%s.sweep", dir, tui_builder_name(s->b));
	char *log = xasprintf("%s/%s.log", dir, tui_builder_name(s->b));
	if (s->summary_bad) {
		tui_message(t, 1, "the sweep does not parse: fix it first");
	} else if (mkdir(dir, 0777) < 0 && errno != EEXIST) {
		tui_message(t, 1, "cannot create %s: %s", dir, strerror(errno));
	} else if (tui_builder_save(s->b, path, &cause) < 0) {
		tui_message(t, 1, "%s", cause);
	} else {
		const char *args[] = {"sweep", path, "--quiet", NULL};
		if (tui_spawn(t, args, log, &cause) < 0) {
			tui_message(t, 1, "%s", cause);
		} else {
			tui_message(t, 0, "sweep %s launched (saved as %s, output in %s)",
				    tui_builder_name(s->b), path, log);
			tui_show(t, TUI_SCREEN_JOBS);
		}
	}
	free(cause);
	free(dir);
	free(path);
	free(log);
}

/* Space: toggle an axis value, or pick a job/model choice. */
static void
builder_toggle(struct tui *t, struct builder *s)
{
	char *cause = NULL;
	int naxes = tui_builder_axis_count(s->b);
	if (s->row < FIXED_ROWS) {
		const char *const *choices;
		const char *cur;
		int nv = fixed_values(s, s->row, &choices, &cur);
		if (s->value < nv &&
		    tui_builder_set(s->b, fixed_keys[s->row], choices[s->value], &cause) < 0)
			tui_message(t, 1, "%s", cause);
	} else if (s->row < FIXED_ROWS + naxes) {
		int a = s->row - FIXED_ROWS;
		if (s->value < tui_builder_value_count(s->b, a))
			tui_builder_toggle(s->b, a, s->value);
	} else {
		builder_edit(t, s);
	}
	free(cause);
}

static int
builder_handle(struct tui *t, enum tui_action a, int key)
{
	struct builder *s = builder_of(t);
	int n = nrows(s), changed = 0;
	(void)key;
	switch (a) {
	case TUI_ACT_UP:
		if (s->row > 0)
			s->row--;
		break;
	case TUI_ACT_DOWN:
		if (s->row + 1 < n)
			s->row++;
		break;
	case TUI_ACT_PAGE_UP:
		s->row = s->row > 10 ? s->row - 10 : 0;
		break;
	case TUI_ACT_PAGE_DOWN:
		s->row = s->row + 10 < n ? s->row + 10 : n - 1;
		break;
	case TUI_ACT_HOME:
		s->row = 0;
		break;
	case TUI_ACT_END:
		s->row = n - 1;
		break;
	case TUI_ACT_LEFT:
		if (s->value > 0)
			s->value--;
		break;
	case TUI_ACT_RIGHT:
		if (s->value + 1 < row_values(s))
			s->value++;
		break;
	case TUI_ACT_TOGGLE:
		builder_toggle(t, s);
		changed = 1;
		break;
	case TUI_ACT_EDIT:
		builder_edit(t, s);
		changed = 1;
		break;
	case TUI_ACT_SAVE:
		builder_save(t, s);
		break;
	case TUI_ACT_LAUNCH:
		builder_launch(t, s);
		break;
	default:
		return 0;
	}
	int nv = row_values(s);
	if (s->value >= nv)
		s->value = nv > 0 ? nv - 1 : 0;
	if (changed)
		builder_summary(t, s);
	return TUI_HANDLED | TUI_REDRAW;
}

static void
builder_done(struct tui *t)
{
	void **st = tui_state(t, TUI_SCREEN_BUILDER);
	struct builder *s = *st;
	if (s) {
		tui_builder_free(s->b);
		free(s);
		*st = NULL;
	}
}

const struct tui_screen_ops tui_screen_builder = {
	.id = TUI_SCREEN_BUILDER,
	.enter = builder_enter,
	.draw = builder_draw,
	.handle = builder_handle,
	.tick = builder_tick,
	.done = builder_done,
};
