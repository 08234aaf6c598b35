/*
 * screen_view: the Compare and Plots screens, two views of a command's
 * output for the runs selected on the Runs screen (the tagged runs, or the
 * run under the cursor):
 * - Compare shows `qbench compare RUNS` (config differences, results,
 *   per-layer table), or `qbench show RUN` for one run; e exports the
 *   selected runs' table;
 * - Plots shows `qbench plot KIND ...` drawn by gnuplot's dumb terminal at
 *   the panel's size; k cycles the kind, e writes the same plot to a PNG,
 *   SVG or PDF file (with its .gp and .dat).
 * The output is computed again only when what it depends on changes (the
 * runs, the kind, the panel's size), so redraws cost nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/tui/tui.h"
#include "engine/util.h"

#define VIEW_MAX_ARGS 48

static const char *const plot_kinds[] = {"pareto", "curve", "dist", "grid", "border", "heatmap"};
#define NKINDS ((int)(sizeof plot_kinds / sizeof plot_kinds[0]))

struct view {
	struct tui_pane pane;
	char *key;	/* what the pane shows: the command line and size it came from */
	char *search;
	int kind;	/* Plots: index in plot_kinds */
	int all;	/* Compare: every key */
	int h, w;	/* the panel's size at the last draw */
};

static struct view *
view_of(struct tui *t, enum tui_screen s)
{
	void **st = tui_state(t, s);
	if (!*st)
		*st = xcalloc(1, sizeof(struct view));
	return *st;
}

/* The command for the screen; args point into ids_buf (n ids). Returns the arg count. */
static int
view_args(struct tui *t, enum tui_screen s, struct view *v, const char **args, char *ids_buf,
	  size_t ids_len, char **filter_copy)
{
	int64_t *ids = NULL;
	int tagged, n = tui_runs_selection(t, &ids, &tagged), k = 0;
	size_t used = 0;
	/* the ids, each NUL-terminated, in ids_buf */
	const char *id_args[16];
	int nid = 0;
	for (int i = 0; i < n && nid < 16; i++) {
		int len = snprintf(ids_buf + used, ids_len - used, "%lld", (long long)ids[i]);
		if (len < 0 || used + (size_t)len + 1 >= ids_len)
			break;
		id_args[nid++] = ids_buf + used;
		used += (size_t)len + 1;
	}
	free(ids);
	*filter_copy = NULL;
	if (s == TUI_SCREEN_COMPARE) {
		args[k++] = nid >= 2 ? "compare" : "show";
		for (int i = 0; i < nid && (nid >= 2 || i < 1); i++)
			args[k++] = id_args[i];
		if (v->all && nid >= 2)
			args[k++] = "--all";
		args[k] = NULL;
		return nid ? k : 0;
	}
	const char *kind = plot_kinds[v->kind];
	args[k++] = "plot";
	args[k++] = kind;
	if (!strcmp(kind, "pareto") || !strcmp(kind, "heatmap")) {
		*filter_copy = xstrdup(tui_runs_filter(t));
		for (char *tok = strtok(*filter_copy, " "); tok && k < VIEW_MAX_ARGS - 4;
		     tok = strtok(NULL, " "))
			args[k++] = tok;
	} else if (!strcmp(kind, "grid")) {
		args[k++] = "scheme=uniform,pot,apot,lcq";
		args[k++] = "bits=3";
	} else {
		if (!nid)
			return 0;
		for (int i = 0; i < nid && (!strcmp(kind, "curve") || i < 1); i++)
			args[k++] = id_args[i];
	}
	args[k] = NULL;
	return k;
}

/* Runs the screen's command again when what it depends on changed. */
static void
view_refresh(struct tui *t, enum tui_screen s, int force)
{
	struct view *v = view_of(t, s);
	const char *args[VIEW_MAX_ARGS];
	char ids[512], *filter = NULL;
	int n = view_args(t, s, v, args, ids, sizeof ids, &filter);
	if (n == 0) {
		tui_pane_set(&v->pane, s == TUI_SCREEN_COMPARE
					       ? "no run selected: tag runs on the Runs screen (2, Space)"
					       : "no run selected for this plot: tag runs on the Runs "
						 "screen (2, Space), or k for another kind");
		free(v->key);
		v->key = NULL;
		free(filter);
		return;
	}
	char key[1024];
	size_t len = (size_t)snprintf(key, sizeof key, "%dx%d", v->w, v->h);
	for (int i = 0; i < n && len < sizeof key; i++)
		len += (size_t)snprintf(key + len, sizeof key - len, " %s", args[i]);
	if (!force && v->key && !strcmp(v->key, key)) {
		free(filter);
		return;
	}
	free(v->key);
	v->key = xstrdup(key);
	char *out = NULL, *err = NULL;
	int rc = tui_command(t, args, v->w, v->h, &out, &err);
	if (rc != 0 || !*out) {
		char *msg = xasprintf("%s%s", out, err);
		tui_pane_set(&v->pane, msg);
		free(msg);
	} else {
		tui_pane_set(&v->pane, out);
	}
	free(out);
	free(err);
	free(filter);
}

static void
view_draw(struct tui *t, enum tui_screen s, int top, int h, int w)
{
	struct view *v = view_of(t, s);
	char title[160];
	if (s == TUI_SCREEN_PLOTS)
		snprintf(title, sizeof title, "plot %s  (k: next kind, e: export to a file)",
			 plot_kinds[v->kind]);
	else
		snprintf(title, sizeof title, "tagged runs side by side, or the run under the cursor%s",
			 v->all ? "  (every key)" : "");
	attron(A_BOLD);
	tui_text(top, 0, w, title, 1);
	attroff(A_BOLD);
	if (v->h != h - 1 || v->w != w) {
		v->h = h - 1;
		v->w = w;
		view_refresh(t, s, 0);
	}
	tui_pane_draw(t, &v->pane, top + 1, h - 1, w, v->search);
}

static void
compare_draw(struct tui *t, int top, int h, int w)
{
	view_draw(t, TUI_SCREEN_COMPARE, top, h, w);
}

static void
plots_draw(struct tui *t, int top, int h, int w)
{
	view_draw(t, TUI_SCREEN_PLOTS, top, h, w);
}

static void
compare_enter(struct tui *t)
{
	view_refresh(t, TUI_SCREEN_COMPARE, 0);
}

static void
plots_enter(struct tui *t)
{
	view_refresh(t, TUI_SCREEN_PLOTS, 0);
}

/* e on Plots: the same plot into a file. */
static void
plots_export(struct tui *t, struct view *v)
{
	char *path = tui_prompt(t, "export the plot to (.png, .svg or .pdf): ", "plot.png", NULL,
				NULL);
	if (!path || !*path) {
		free(path);
		return;
	}
	const char *args[VIEW_MAX_ARGS + 3];
	char ids[512], *filter = NULL;
	int n = view_args(t, TUI_SCREEN_PLOTS, v, args, ids, sizeof ids, &filter);
	if (n > 0) {
		args[n++] = "-o";
		args[n++] = path;
		args[n] = NULL;
		char *out = NULL, *err = NULL;
		int rc = tui_command(t, args, 0, 0, &out, &err);
		char *nl = strchr(err, '\n');
		if (nl)
			*nl = '\0';
		if (rc == 0)
			tui_message(t, 0, "wrote %s (and its .gp and .dat)", path);
		else
			tui_message(t, 1, "%s", *err ? err : "the plot failed");
		free(out);
		free(err);
	} else {
		tui_message(t, 1, "no run selected for this plot");
	}
	free(filter);
	free(path);
}

/* e on Compare: the selected runs' table, as on the Runs screen's export. */
static void
compare_export(struct tui *t)
{
	const char *format = NULL;
	char *path = NULL;
	int64_t *ids = NULL;
	int tagged, n = tui_runs_selection(t, &ids, &tagged);
	if (n == 0 || tui_export_dialog(t, "the runs", "compare", &format, &path) < 0) {
		free(ids);
		return;
	}
	if (path && *path) {
		char filter[1024] = "id=";
		size_t len = 3;
		for (int k = 0; k < n && len < sizeof filter; k++)
			len += (size_t)snprintf(filter + len, sizeof filter - len, "%s%lld", k ? "," : "",
						(long long)ids[k]);
		const char *args[] = {"export", "--format", format, "--all", "-o", path, filter, NULL};
		char *out = NULL, *err = NULL;
		int rc = tui_command(t, args, 0, 0, &out, &err);
		char *nl = strchr(err, '\n');
		if (nl)
			*nl = '\0';
		if (rc == 0)
			tui_message(t, 0, "exported %d runs to %s", n, path);
		else
			tui_message(t, 1, "%s", *err ? err : "the export failed");
		free(out);
		free(err);
	}
	free(path);
	free(ids);
}

static int
view_handle(struct tui *t, enum tui_screen s, enum tui_action a)
{
	struct view *v = view_of(t, s);
	int flags = tui_pane_scroll(&v->pane, a, v->h, v->w);
	if (flags)
		return flags;
	switch (a) {
	case TUI_ACT_SEARCH: {
		char *text = tui_prompt(t, "find: ", v->search, NULL, NULL);
		if (text) {
			free(v->search);
			v->search = text;
			if (!tui_pane_find(&v->pane, text))
				tui_message(t, 1, "'%s' is not in the text", text);
		}
		break;
	}
	case TUI_ACT_ALL_COLUMNS:
		v->all = !v->all;
		view_refresh(t, s, 1);
		break;
	case TUI_ACT_PLOT_KIND:
		v->kind = (v->kind + 1) % NKINDS;
		v->pane.top = v->pane.left = 0;
		view_refresh(t, s, 1);
		break;
	case TUI_ACT_PLOT_EXPORT:
		plots_export(t, v);
		break;
	case TUI_ACT_EXPORT:
		compare_export(t);
		break;
	case TUI_ACT_SORT:
	case TUI_ACT_REVERSE:
		tui_message(t, 0, "sort the runs on the Runs screen (2)");
		break;
	default:
		return 0;
	}
	return TUI_HANDLED | TUI_REDRAW;
}

static int
compare_handle(struct tui *t, enum tui_action a, int key)
{
	(void)key;
	return view_handle(t, TUI_SCREEN_COMPARE, a);
}

static int
plots_handle(struct tui *t, enum tui_action a, int key)
{
	(void)key;
	return view_handle(t, TUI_SCREEN_PLOTS, a);
}

static void
view_done(struct tui *t, enum tui_screen s)
{
	void **st = tui_state(t, s);
	struct view *v = *st;
	if (v) {
		tui_pane_clear(&v->pane);
		free(v->key);
		free(v->search);
		free(v);
		*st = NULL;
	}
}

static void
compare_done(struct tui *t)
{
	view_done(t, TUI_SCREEN_COMPARE);
}

static void
plots_done(struct tui *t)
{
	view_done(t, TUI_SCREEN_PLOTS);
}

const struct tui_screen_ops tui_screen_compare = {
	.id = TUI_SCREEN_COMPARE,
	.enter = compare_enter,
	.draw = compare_draw,
	.handle = compare_handle,
	.done = compare_done,
};

const struct tui_screen_ops tui_screen_plots = {
	.id = TUI_SCREEN_PLOTS,
	.enter = plots_enter,
	.draw = plots_draw,
	.handle = plots_handle,
	.done = plots_done,
};
