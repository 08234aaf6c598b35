/*
 * screen_runs: the Runs screen: the results table of `qbench ls` (the model
 * is app/tui/table.c), sortable on any column, searchable, filterable with
 * the filter language, taggable, grouped over seeds, or pivoted, with an
 * export dialog. The table reloads from the database every two seconds, so
 * runs finishing elsewhere appear; the cursor stays on its run.
 *
 * The column under the cursor (for s and the header highlight) is a layout
 * entry; Left and Right move it, scrolling the table sideways at the edges.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/tui/table.h"
#include "app/tui/tui.h"
#include "engine/util.h"

#define RUNS_RELOAD_S 2

struct runs {
	struct tui_table *table;
	int col;		/* the column under the cursor (a table column) */
	int height;		/* rows drawn last time */
	int width;
	time_t loaded;
};

static struct runs *
runs_of(struct tui *t)
{
	void **st = tui_state(t, TUI_SCREEN_RUNS);
	if (!*st) {
		struct runs *r = xcalloc(1, sizeof *r);
		r->table = tui_table_new();
		r->col = -1;
		*st = r;
	}
	return *st;
}

static void
runs_load(struct tui *t, struct runs *r)
{
	char *cause = NULL;
	if (tui_table_load(r->table, tui_db(t), &cause) < 0)
		tui_message(t, 1, "%s", cause);
	free(cause);
	r->loaded = time(NULL);
}

static void
runs_enter(struct tui *t)
{
	runs_load(t, runs_of(t));
}

static int
runs_tick(struct tui *t)
{
	struct runs *r = runs_of(t);
	if (time(NULL) - r->loaded < RUNS_RELOAD_S)
		return 0;
	runs_load(t, r);
	return TUI_REDRAW;
}

int
tui_runs_selection(struct tui *t, int64_t **ids, int *tagged)
{
	struct runs *r = runs_of(t);
	int n = 0;
	if (!tui_table_total_rows(r->table))
		runs_load(t, r);
	tui_table_tags(r->table, ids, &n);
	*tagged = n > 0;
	if (n > 0)
		return n;
	free(*ids);
	*ids = NULL;
	const int64_t *row;
	int nr = tui_table_row_runs(r->table, tui_table_cursor(r->table), &row);
	if (nr <= 0)
		return 0;
	*ids = xmalloc((size_t)nr * sizeof **ids);
	memcpy(*ids, row, (size_t)nr * sizeof **ids);
	return nr;
}

const char *
tui_runs_filter(struct tui *t)
{
	return tui_table_filter(runs_of(t)->table);
}

static const char *
row_glyph(struct tui *t, enum tui_table_status s, enum tui_color *c)
{
	static const char *const names[TUI_TABLE_STATUS_COUNT] = {
		[TUI_TABLE_QUEUED] = "queued",	     [TUI_TABLE_RUNNING] = "running",
		[TUI_TABLE_DONE] = "done",	     [TUI_TABLE_FAILED] = "failed",
		[TUI_TABLE_DIVERGED] = "diverged", [TUI_TABLE_CANCELLED] = "cancelled",
	};
	*c = s == TUI_TABLE_DONE ? TUI_COLOR_OK
	     : s == TUI_TABLE_RUNNING || s == TUI_TABLE_QUEUED ? TUI_COLOR_BUSY
	     : s == TUI_TABLE_NONE || s == TUI_TABLE_MIXED ? TUI_COLOR_DIM
							     : TUI_COLOR_BAD;
	if (s == TUI_TABLE_MIXED)
		return "*";
	return s > TUI_TABLE_NONE && s < TUI_TABLE_STATUS_COUNT && names[s]
		       ? tui_status_glyph(t, names[s])
		       : " ";
}

static void
runs_draw(struct tui *t, int top, int h, int w)
{
	struct runs *r = runs_of(t);
	struct tui_table *tb = r->table;
	int utf8 = !tui_ascii(t);
	char info[256];
	const char *filter = tui_table_filter(tb), *search = tui_table_search(tb);
	snprintf(info, sizeof info, "%d of %d rows%s%s%s%s%s%s  %d tagged", tui_table_rows(tb),
		 tui_table_total_rows(tb), *filter ? "  filter: " : "", filter,
		 *search ? "  search: " : "", search, tui_table_grouped(tb) ? "  grouped" : "",
		 tui_table_pivoted(tb) ? "  pivot" : "", tui_table_ntags(tb));
	attron(A_BOLD);
	tui_text(top, 0, w, info, 1);
	attroff(A_BOLD);
	/* two leading columns: the tag mark and the status glyph */
	int x0 = 4, tw = w - x0 - 1;
	struct tui_table_layout l;
	tui_table_layout(tb, tw, utf8, &l);
	char buf[4 * TUI_TABLE_MAX_WIDTH + 8];
	tui_color(t, TUI_COLOR_HEADER, 1);
	attron(A_BOLD);
	tui_text(top + 1, 0, x0, l.more_left ? "<" : "", 1);
	for (int k = 0; k < l.ncols; k++) {
		if (l.col[k] == r->col)
			attron(A_UNDERLINE);
		tui_text(top + 1, x0 + l.x[k], l.width[k],
			 tui_table_cell_fit(tb, &l, -1, k, buf, sizeof buf), 0);
		if (l.col[k] == r->col)
			attroff(A_UNDERLINE);
	}
	if (l.more_right)
		tui_text(top + 1, w - 1, 1, ">", 0);
	attroff(A_BOLD);
	tui_color(t, TUI_COLOR_HEADER, 0);
	int rows = h - 2;
	r->height = rows;
	r->width = tw;
	tui_table_scroll_into_view(tb, rows);
	int first = tui_table_top(tb), cursor = tui_table_cursor(tb);
	for (int i = 0; i < rows; i++) {
		int row = first + i, y = top + 2 + i;
		if (row >= tui_table_rows(tb)) {
			const char *why = tui_table_pivot_error(tb);
			tui_text(y, 0, w, i == 0 && why ? why : i == 0 && !tui_table_rows(tb) ? "  no runs" : "", 1);
			continue;
		}
		enum tui_color c;
		const char *glyph = row_glyph(t, tui_table_row_status(tb, row), &c);
		int here = row == cursor;
		if (here)
			attron(A_REVERSE);
		tui_text(y, 0, 2, tui_table_is_tagged(tb, row) ? (utf8 ? "\u25cf" : "*") : " ", 1);
		if (!here)
			tui_color(t, c, 1);
		tui_text(y, 2, 2, glyph, 1);
		if (!here)
			tui_color(t, c, 0);
		tui_text(y, x0, tw + 1, "", 1);
		for (int k = 0; k < l.ncols; k++)
			tui_text(y, x0 + l.x[k], l.width[k],
				 tui_table_cell_fit(tb, &l, row, k, buf, sizeof buf), 0);
		if (here)
			attroff(A_REVERSE);
	}
}

/* The layout entry of the column under the cursor, or -1. */
static int
col_entry(const struct tui_table_layout *l, int col)
{
	for (int k = 0; k < l->ncols; k++)
		if (l->col[k] == col)
			return k;
	return -1;
}

/* Moves the column cursor by dir, scrolling sideways at the edges. */
static void
runs_col(struct tui *t, struct runs *r, int dir)
{
	struct tui_table_layout l;
	tui_table_layout(r->table, r->width, !tui_ascii(t), &l);
	int k = col_entry(&l, r->col);
	if (k < 0) {
		r->col = l.ncols ? l.col[dir > 0 ? 0 : l.ncols - 1] : -1;
		return;
	}
	if (k + dir >= 0 && k + dir < l.ncols) {
		r->col = l.col[k + dir];
		return;
	}
	tui_table_hscroll(r->table, dir, r->width);
	tui_table_layout(r->table, r->width, !tui_ascii(t), &l);
	if (l.ncols)
		r->col = l.col[dir > 0 ? l.ncols - 1 : l.nfrozen < l.ncols ? l.nfrozen : 0];
}

/* The export dialog: format, then file (written atomically by qbench export). */
static void
runs_export(struct tui *t, struct runs *r)
{
	const char *format;
	char *path;
	if (tui_export_dialog(t, "the table", "runs", &format, &path) < 0)
		return;
	/* the same rows: the filter's terms, grouping, pivot */
	const char *args[64];
	int n = 0;
	args[n++] = "export";
	args[n++] = "--format";
	args[n++] = format;
	args[n++] = "-o";
	args[n++] = path;
	if (tui_table_grouped(r->table) && !tui_table_pivoted(r->table)) {
		args[n++] = "--group";
		args[n++] = "all-but-seed";
	}
	char *filter = xstrdup(tui_table_filter(r->table));
	for (char *tok = strtok(filter, " "); tok && n < 60; tok = strtok(NULL, " "))
		args[n++] = tok;
	args[n] = NULL;
	char *out = NULL, *err = NULL;
	int rc = tui_command(t, args, 0, 0, &out, &err);
	char *nl = err ? strchr(err, '\n') : NULL;
	if (nl)
		*nl = '\0';
	if (rc == 0)
		tui_message(t, 0, "exported %d rows to %s", tui_table_rows(r->table), path);
	else
		tui_message(t, 1, "%s", err && *err ? err : "the export failed");
	free(out);
	free(err);
	free(filter);
	free(path);
}

static int
runs_handle(struct tui *t, enum tui_action a, int key)
{
	struct runs *r = runs_of(t);
	struct tui_table *tb = r->table;
	char *cause = NULL, *text = NULL;
	(void)key;
	switch (a) {
	case TUI_ACT_UP:
		tui_table_move(tb, -1);
		break;
	case TUI_ACT_DOWN:
		tui_table_move(tb, 1);
		break;
	case TUI_ACT_PAGE_UP:
		tui_table_page(tb, r->height, -1);
		break;
	case TUI_ACT_PAGE_DOWN:
		tui_table_page(tb, r->height, 1);
		break;
	case TUI_ACT_HOME:
		tui_table_home(tb);
		break;
	case TUI_ACT_END:
		tui_table_end(tb);
		break;
	case TUI_ACT_LEFT:
		runs_col(t, r, -1);
		break;
	case TUI_ACT_RIGHT:
		runs_col(t, r, 1);
		break;
	case TUI_ACT_TAG:
		tui_table_toggle_tag(tb);
		tui_table_move(tb, 1);
		break;
	case TUI_ACT_SORT:
	case TUI_ACT_REVERSE: {
		int desc = 0, cur = tui_table_sort_col(tb, &desc);
		int col = r->col >= 0 ? r->col : cur;
		if (a == TUI_ACT_REVERSE)
			tui_table_sort(tb, cur >= 0 ? cur : 0, !desc);
		else
			tui_table_sort(tb, col, col == cur ? !desc : 0);
		cur = tui_table_sort_col(tb, &desc);
		tui_message(t, 0, "sorted by %s, %s", tui_table_header(tb, cur),
			    desc ? "descending" : "ascending");
		break;
	}
	case TUI_ACT_SEARCH:
		text = tui_prompt(t, "search: ", tui_table_search(tb), NULL, NULL);
		if (text)
			tui_table_set_search(tb, text);
		break;
	case TUI_ACT_FILTER:
		text = tui_prompt(t, "filter (e.g. scheme=apot w.bits<=3 test_acc>0.9): ",
				  tui_table_filter(tb), NULL, NULL);
		if (text && tui_table_set_filter(tb, tui_db(t), text, &cause) < 0)
			tui_message(t, 1, "%s", cause);
		break;
	case TUI_ACT_GROUP:
		if (tui_table_set_grouped(tb, tui_db(t), !tui_table_grouped(tb), &cause) < 0)
			tui_message(t, 1, "%s", cause);
		break;
	case TUI_ACT_ALL_COLUMNS:
		tui_table_set_all_columns(tb, !tui_table_all_columns(tb));
		break;
	case TUI_ACT_PIVOT:
		if (tui_table_pivoted(tb)) {
			tui_table_set_pivot(tb, NULL, &cause);
			break;
		}
		text = tui_prompt(t, "pivot ROWS:COLS:METRIC (e.g. scheme:w.bits:test_acc): ", "",
				  NULL, NULL);
		if (text && *text && tui_table_set_pivot(tb, text, &cause) < 0)
			tui_message(t, 1, "%s", cause);
		break;
	case TUI_ACT_EXPORT:
		runs_export(t, r);
		break;
	case TUI_ACT_OPEN:
		tui_show(t, TUI_SCREEN_COMPARE);
		break;
	default:
		return 0;
	}
	free(cause);
	free(text);
	return TUI_HANDLED | TUI_REDRAW;
}

static void
runs_done(struct tui *t)
{
	void **st = tui_state(t, TUI_SCREEN_RUNS);
	struct runs *r = *st;
	if (r) {
		tui_table_free(r->table);
		free(r);
		*st = NULL;
	}
}

const struct tui_screen_ops tui_screen_runs = {
	.id = TUI_SCREEN_RUNS,
	.enter = runs_enter,
	.draw = runs_draw,
	.handle = runs_handle,
	.tick = runs_tick,
	.done = runs_done,
};
