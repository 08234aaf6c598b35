/*
 * tui/table: the Runs screen's table model (see app/tui/table.h).
 *
 * A load keeps the db/results table of the selected runs, built with every
 * configuration key and every result (struct results *res); a grid is then
 * derived from it for the current mode: the columns shown, every cell's text
 * in one string pool, the sort keys, each row's status and runs. Switching
 * columns or the pivot derives a new grid from res without reading the
 * database again.
 *
 * Invariants, between calls:
 * - grid: nrows x ncols cells; text[] are offsets into pool (never NULL, a
 *   missing value reads "-"); missing[] marks the cells that sort last;
 *   num[] is the sort key of numeric columns; cols[].width is the widest of
 *   the header and every row's cell (all rows, not only the visible ones,
 *   so widths do not jump while searching), between 1 and
 *   TUI_TABLE_MAX_WIDTH; row i's runs are ids[start[i] .. start[i + 1]),
 *   ascending, never empty in runs mode;
 * - order is a permutation of the grid's rows (the sort); view is order
 *   without the rows the search hides; nview <= grid.nrows;
 * - 0 <= top <= cursor < nview, or cursor = top = 0 when nview is 0;
 * - 0 <= hoff <= max(0, ncols - nfrozen - 1);
 * - tags: ascending, distinct; independent of the grid;
 * - sort_name is the sort column's header (NULL: natural order) and
 *   sort_col its index in the grid, or -1.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/tui/table.h"
#include "db/export.h"
#include "db/query.h"
#include "db/results.h"
#include "db/runs.h"
#include "engine/util.h"

/* A column of the grid. */
struct tt_col {
	char *name;
	int numeric;	/* sorts by num[], right-aligned */
	int width;	/* characters: see the invariants */
};

/* The table as shown, before sort and search. */
struct tt_grid {
	int nrows, ncols, nfrozen;
	struct tt_col *cols;		/* ncols */
	size_t *text;			/* nrows x ncols offsets into pool */
	double *num;			/* nrows x ncols: numeric sort keys */
	unsigned char *missing;		/* nrows x ncols */
	unsigned char *status;		/* nrows: enum tui_table_status */
	int64_t *ids;			/* every row's runs, row after row */
	int *start;			/* nrows + 1 offsets into ids */
	char *pool;
	size_t pool_len, pool_cap;
};

struct tui_table {
	/* settings */
	struct query *q;
	char *filter;
	int grouped, all_columns;
	char *pivot_rows, *pivot_cols, *pivot_metric;	/* all NULL: runs mode */
	char *pivot_error;
	char *sort_name;
	int sort_col, descending;
	char *search;
	int64_t *tags;
	int ntags;

	/* the last load, and what is derived from it */
	struct results *res;
	struct tt_grid g;
	int *order, *view;
	int nview;
	int cursor, top, hoff;
};

/* ---- text helpers -------------------------------------------------------- */

/* Display width of s: UTF-8 characters (continuation bytes do not count). */
static int
text_width(const char *s)
{
	int w = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		w += (*p & 0xc0) != 0x80;
	return w;
}

/* A parameter for a narrow column: the last component of a path. */
static const char *
short_value(const char *v)
{
	const char *slash = strrchr(v, '/');
	return slash && slash[1] ? slash + 1 : v;
}

/*
 * Compares text with runs of digits as numbers ("run:2" < "run:10"); the
 * digits after a decimal point (a '.' between digits) compare as a
 * fraction (pct:99.9 after pct:99.10). Letters compare without regard to ASCII case; strcmp()
 * breaks what is still a tie, so the order is total.
 */
static int
natural_cmp(const char *a, const char *b)
{
	const char *a0 = a, *b0 = b;
	while (*a && *b) {
		if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
			int fraction = a - a0 >= 2 && b - b0 >= 2 && a[-1] == '.' &&
				       b[-1] == '.' && isdigit((unsigned char)a[-2]) &&
				       isdigit((unsigned char)b[-2]);
			size_t la = 0, lb = 0;
			if (!fraction) {
				while (*a == '0' && isdigit((unsigned char)a[1]))
					a++;
				while (*b == '0' && isdigit((unsigned char)b[1]))
					b++;
			}
			while (isdigit((unsigned char)a[la]))
				la++;
			while (isdigit((unsigned char)b[lb]))
				lb++;
			if (!fraction && la != lb)
				return la < lb ? -1 : 1;
			int c = memcmp(a, b, la < lb ? la : lb);
			if (c)
				return c < 0 ? -1 : 1;
			if (la != lb)
				return la < lb ? -1 : 1;
			a += la;
			b += lb;
			continue;
		}
		int ca = tolower((unsigned char)*a), cb = tolower((unsigned char)*b);
		if (ca != cb)
			return ca < cb ? -1 : 1;
		a++;
		b++;
	}
	if (*a || *b)
		return *a ? 1 : -1;
	int c = strcmp(a0, b0);
	return (c > 0) - (c < 0);
}

/* Nonzero when hay contains needle (already lower case, nlen bytes), ASCII case ignored. */
static int
contains_nocase(const char *hay, const char *needle, size_t nlen)
{
	if (nlen == 0)
		return 1;
	for (; *hay; hay++) {
		size_t k = 0;
		while (k < nlen && hay[k] && tolower((unsigned char)hay[k]) == needle[k])
			k++;
		if (k == nlen)
			return 1;
	}
	return 0;
}

static int
id_cmp(const void *x, const void *y)
{
	int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
	return (a > b) - (a < b);
}

/* Nonzero when id is in the ascending array v[0..n). */
static int
has_id(const int64_t *v, int n, int64_t id)
{
	return n > 0 && bsearch(&id, v, (size_t)n, sizeof *v, id_cmp) != NULL;
}

/* ---- the grid ------------------------------------------------------------ */

static void
grid_done(struct tt_grid *g)
{
	for (int c = 0; c < g->ncols; c++)
		free(g->cols[c].name);
	free(g->cols);
	free(g->text);
	free(g->num);
	free(g->missing);
	free(g->status);
	free(g->ids);
	free(g->start);
	free(g->pool);
	memset(g, 0, sizeof *g);
}

/* Allocates a grid of nrows x ncols cells and nids run ids; columns and cells unset. */
static void
grid_alloc(struct tt_grid *g, int nrows, int ncols, size_t nids)
{
	size_t ncells = (size_t)nrows * (size_t)ncols;
	memset(g, 0, sizeof *g);
	g->nrows = nrows;
	g->ncols = ncols;
	g->cols = xcalloc((size_t)ncols + 1, sizeof *g->cols);
	g->text = xcalloc(ncells + 1, sizeof *g->text);
	g->num = xcalloc(ncells + 1, sizeof *g->num);
	g->missing = xcalloc(ncells + 1, 1);
	g->status = xcalloc((size_t)nrows + 1, 1);
	g->ids = xcalloc(nids + 1, sizeof *g->ids);
	g->start = xcalloc((size_t)nrows + 1, sizeof *g->start);
	g->pool_cap = ncells * 8 + 64;
	g->pool = xmalloc(g->pool_cap);
}

/* Copies s into the pool; returns its offset. */
static size_t
pool_add(struct tt_grid *g, const char *s)
{
	size_t n = strlen(s) + 1, off = g->pool_len;
	if (g->pool_len + n > g->pool_cap) {
		while (g->pool_len + n > g->pool_cap)
			g->pool_cap *= 2;
		g->pool = xrealloc(g->pool, g->pool_cap);
	}
	memcpy(g->pool + off, s, n);
	g->pool_len += n;
	return off;
}

/* Sets cell (row, col): its text ("-" when missing), numeric key and missing flag. */
static void
grid_set(struct tt_grid *g, int row, int col, const char *text, double num, int missing)
{
	size_t k = (size_t)row * (size_t)g->ncols + (size_t)col;
	g->text[k] = pool_add(g, missing || !text ? "-" : text);
	g->num[k] = num;
	g->missing[k] = (unsigned char)(missing != 0);
}

static const char *
grid_text(const struct tt_grid *g, int row, int col)
{
	return g->pool + g->text[(size_t)row * (size_t)g->ncols + (size_t)col];
}

/* The widths of the columns: see the invariants. */
static void
grid_widths(struct tt_grid *g)
{
	for (int c = 0; c < g->ncols; c++) {
		int w = text_width(g->cols[c].name);
		for (int i = 0; i < g->nrows && w < TUI_TABLE_MAX_WIDTH; i++) {
			int cw = text_width(grid_text(g, i, c));
			if (cw > w)
				w = cw;
		}
		g->cols[c].width = w < 1 ? 1 : w > TUI_TABLE_MAX_WIDTH ? TUI_TABLE_MAX_WIDTH : w;
	}
}

static enum tui_table_status
status_of(const char *s)
{
	static const enum tui_table_status map[RUN_STATUS_COUNT] = {
		[RUN_QUEUED] = TUI_TABLE_QUEUED,	 [RUN_RUNNING] = TUI_TABLE_RUNNING,
		[RUN_DONE] = TUI_TABLE_DONE,		 [RUN_FAILED] = TUI_TABLE_FAILED,
		[RUN_DIVERGED] = TUI_TABLE_DIVERGED,	 [RUN_CANCELLED] = TUI_TABLE_CANCELLED,
	};
	enum run_status rs;
	if (s && run_status_parse(s, &rs) == 0)
		return map[rs];
	return s && !strcmp(s, "mixed") ? TUI_TABLE_MIXED : TUI_TABLE_NONE;
}


/*
 * The columns of r shown in runs mode, into src (r's column index, or -1
 * for a result no run has, shown blank) and name; returns their count.
 * With all: every column. Else ls's: id, status, the params with two values
 * or more, test_acc, bitops (or size_bits) when some row has it, time_s.
 */
static int
runs_columns(const struct results *r, int all, int *src, const char **name)
{
	int n = 0;
	for (int c = 0; c < r->ncols; c++) {
		enum results_col_kind k = r->cols[c].kind;
		if (all || k == RESULTS_COL_ID || k == RESULTS_COL_STATUS ||
		    (k == RESULTS_COL_PARAM && results_col_distinct(r, c))) {
			src[n] = c;
			name[n++] = r->cols[c].name;
		}
	}
	if (all)
		return n;
	int bitops = results_col_find(r, "bitops"), size = results_col_find(r, "size_bits");
	src[n] = results_col_find(r, "test_acc");
	name[n++] = "test_acc";
	if (bitops >= 0 && results_col_has_value(r, bitops)) {
		src[n] = bitops;
		name[n++] = "bitops";
	} else if (size >= 0 && results_col_has_value(r, size)) {
		src[n] = size;
		name[n++] = "size_bits";
	}
	src[n] = results_col_find(r, "time_s");
	name[n++] = "time_s";
	return n;
}

/* The grid of runs mode: one row per row of r. */
static void
grid_runs(struct tt_grid *g, const struct results *r, int all)
{
	int *src = xcalloc((size_t)r->ncols + 4, sizeof *src);
	const char **name = xcalloc((size_t)r->ncols + 4, sizeof *name);
	int nc = runs_columns(r, all, src, name);
	size_t nids = 0;
	char buf[160];
	for (int i = 0; i < r->nrows; i++)
		nids += (size_t)r->row_nids[i];
	grid_alloc(g, r->nrows, nc, nids);
	g->nfrozen = 2;
	for (int k = 0; k < nc; k++) {
		g->cols[k].name = xstrdup(name[k]);
		g->cols[k].numeric = src[k] < 0 || r->cols[src[k]].kind != RESULTS_COL_STATUS;
		if (src[k] >= 0 && r->cols[src[k]].kind == RESULTS_COL_PARAM)
			g->cols[k].numeric = r->cols[src[k]].numeric;
	}
	for (int i = 0; i < r->nrows; i++) {
		g->start[i + 1] = g->start[i] + r->row_nids[i];
		memcpy(g->ids + g->start[i], r->row_ids[i],
		       (size_t)r->row_nids[i] * sizeof *g->ids);
		/* results_build() puts the id, then the status first */
		g->status[i] = (unsigned char)status_of(results_cell(r, i, 1)->text);
		for (int k = 0; k < nc; k++) {
			if (src[k] < 0) {
				grid_set(g, i, k, NULL, NAN, 1);
				continue;
			}
			const struct results_col *col = &r->cols[src[k]];
			const struct results_cell *c = results_cell(r, i, src[k]);
			switch (col->kind) {
			case RESULTS_COL_ID:
			case RESULTS_COL_STATUS:
				grid_set(g, i, k, c->text, c->mean, !c->text);
				break;
			case RESULTS_COL_PARAM:
				grid_set(g, i, k, c->text ? short_value(c->text) : NULL, c->mean,
					 g->cols[k].numeric ? isnan(c->mean) : !c->text);
				break;
			case RESULTS_COL_RESULT:
				if (r->grouped)
					export_short_stats(buf, sizeof buf, col->name, c->mean, c->std,
						     c->n, 0);
				else
					export_short(buf, sizeof buf, col->name, c->mean);
				grid_set(g, i, k, buf, c->mean, isnan(c->mean));
				break;
			}
		}
	}
	free(src);
	free(name);
}

/* The column of r named key: a result column when want_result, else another kind. */
static int
find_col(const struct results *r, const char *key, int want_result)
{
	for (int c = 0; c < r->ncols; c++)
		if (!strcmp(r->cols[c].name, key) &&
		    (r->cols[c].kind == RESULTS_COL_RESULT) == want_result)
			return c;
	return -1;
}

static int
label_find(char *const *labels, int n, const char *s)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(labels[i], s))
			return i;
	return -1;
}

/*
 * The grid of pivot p (built from r): the row labels, then a column per
 * label of p's columns. A row's runs are those of r's rows that count in
 * one of its cells (a value of both keys and of the metric).
 */
static void
grid_pivot(struct tt_grid *g, const struct results *r, const struct export_pivot *p)
{
	int cr = find_col(r, p->rows_key, 0), cc = find_col(r, p->cols_key, 0);
	int cm = find_col(r, p->metric, 1);
	int *label = xcalloc((size_t)r->nrows + 1, sizeof *label);
	size_t nids = 0;
	char buf[160];
	/* which pivot row each row of r feeds, or -1 */
	for (int i = 0; i < r->nrows; i++) {
		const char *a = results_cell(r, i, cr)->text, *b = results_cell(r, i, cc)->text;
		label[i] = -1;
		if (a && b && isfinite(results_cell(r, i, cm)->mean)) {
			label[i] = label_find(p->row_labels, p->nrows, a);
			nids += (size_t)r->row_nids[i];
		}
	}
	grid_alloc(g, p->nrows, p->ncols + 1, nids);
	g->nfrozen = 1;
	g->cols[0].name = xstrdup(p->rows_key);
	g->cols[0].numeric = p->rows_numeric;
	for (int j = 0; j < p->ncols; j++) {
		g->cols[j + 1].name = xasprintf("%s=%s", p->cols_key, p->col_labels[j]);
		g->cols[j + 1].numeric = 1;
	}
	for (int i = 0; i < r->nrows; i++)
		if (label[i] >= 0)
			g->start[label[i] + 1] += r->row_nids[i];
	for (int i = 0; i < p->nrows; i++)
		g->start[i + 1] += g->start[i];
	int *fill = xcalloc((size_t)p->nrows + 1, sizeof *fill);
	for (int i = 0; i < r->nrows; i++) {
		if (label[i] < 0)
			continue;
		int64_t *dst = g->ids + g->start[label[i]] + fill[label[i]];
		memcpy(dst, r->row_ids[i], (size_t)r->row_nids[i] * sizeof *dst);
		fill[label[i]] += r->row_nids[i];
	}
	for (int i = 0; i < p->nrows; i++) {
		qsort(g->ids + g->start[i], (size_t)(g->start[i + 1] - g->start[i]), sizeof *g->ids,
		      id_cmp);
		g->status[i] = TUI_TABLE_NONE;
		double label_num = p->rows_numeric ? strtod(p->row_labels[i], NULL) : NAN;
		grid_set(g, i, 0, p->row_labels[i], label_num, 0);
		for (int j = 0; j < p->ncols; j++) {
			const struct export_pivot_cell *c =
				&p->cells[(size_t)i * (size_t)p->ncols + (size_t)j];
			export_short_stats(buf, sizeof buf, p->metric, c->mean, c->std, c->n, 1);
			grid_set(g, i, j + 1, buf, c->mean, c->n == 0);
		}
	}
	free(fill);
	free(label);
}

/* The grid of a pivot that cannot be built: its row key as the one column, no rows. */
static void
grid_empty_pivot(struct tt_grid *g, const char *rows_key)
{
	grid_alloc(g, 0, 1, 0);
	g->nfrozen = 1;
	g->cols[0].name = xstrdup(rows_key);
}

/* ---- deriving the view ---------------------------------------------------- */

/* Sorting context: the grid, the column (-1: natural order) and the direction. */
struct sort_ctx {
	const struct tt_grid *g;
	int col, descending;
};

static int
row_cmp(const void *ctx, int x, int y)
{
	const struct sort_ctx *s = ctx;
	const struct tt_grid *g = s->g;
	if (s->col >= 0) {
		size_t kx = (size_t)x * (size_t)g->ncols + (size_t)s->col;
		size_t ky = (size_t)y * (size_t)g->ncols + (size_t)s->col;
		int mx = g->missing[kx], my = g->missing[ky];
		if (mx || my) {
			if (mx != my)
				return mx - my;
		} else {
			int v = g->cols[s->col].numeric
					? (g->num[kx] > g->num[ky]) - (g->num[kx] < g->num[ky])
					: natural_cmp(g->pool + g->text[kx], g->pool + g->text[ky]);
			if (v)
				return s->descending ? -v : v;
		}
	}
	return (x > y) - (x < y);
}

/* The grid row of visible row `row`, or -1. */
static int
grid_row(const struct tui_table *t, int row)
{
	return row >= 0 && row < t->nview ? t->view[row] : -1;
}

/* The run the cursor is on (the smallest of its row's), or 0. */
static int64_t
cursor_run(const struct tui_table *t)
{
	int i = grid_row(t, t->cursor);
	return i >= 0 && t->g.start[i + 1] > t->g.start[i] ? t->g.ids[t->g.start[i]] : 0;
}

/*
 * Puts the cursor on the visible row holding run id when there is one, else
 * at index old (clamped); keeps top at or above it.
 */
static void
restore_cursor(struct tui_table *t, int64_t id, int old)
{
	int found = -1;
	for (int r = 0; id > 0 && r < t->nview && found < 0; r++) {
		int i = t->view[r];
		if (has_id(t->g.ids + t->g.start[i], t->g.start[i + 1] - t->g.start[i], id))
			found = r;
	}
	t->cursor = found >= 0 ? found : old;
	if (t->cursor >= t->nview)
		t->cursor = t->nview - 1;
	if (t->cursor < 0)
		t->cursor = 0;
	if (t->top > t->cursor)
		t->top = t->cursor;
	if (t->top < 0)
		t->top = 0;
}

/* Recomputes view from order and the search; the cursor follows its run. */
static void
apply_search(struct tui_table *t, int64_t keep, int old)
{
	const struct tt_grid *g = &t->g;
	const char *needle = t->search ? t->search : "";
	size_t nlen = strlen(needle);
	t->nview = 0;
	for (int r = 0; r < g->nrows; r++) {
		int i = t->order[r], match = nlen == 0;
		for (int c = 0; c < g->ncols && !match; c++)
			match = !g->missing[(size_t)i * (size_t)g->ncols + (size_t)c] &&
				contains_nocase(grid_text(g, i, c), needle, nlen);
		if (match)
			t->view[t->nview++] = i;
	}
	restore_cursor(t, keep, old);
}

/* Recomputes order from the sort column, then the view. */
static void
apply_sort(struct tui_table *t, int64_t keep, int old)
{
	struct sort_ctx s = {&t->g, t->sort_col, t->descending};
	for (int i = 0; i < t->g.nrows; i++)
		t->order[i] = i;
	util_sort_ints(t->order, t->g.nrows, row_cmp, &s);
	apply_search(t, keep, old);
}

/*
 * Derives the grid from res for the current mode, and the order and view
 * from it; the cursor follows its run. Without res, an empty grid.
 */
static void
rebuild(struct tui_table *t)
{
	int64_t keep = cursor_run(t);
	int old = t->cursor;
	grid_done(&t->g);
	free(t->pivot_error);
	t->pivot_error = NULL;
	if (!t->res) {
		grid_alloc(&t->g, 0, 0, 0);
	} else if (t->pivot_rows) {
		struct export_pivot *p = NULL;
		if (export_pivot_build(&p, t->res, t->pivot_rows, t->pivot_cols, t->pivot_metric,
				       &t->pivot_error) < 0)
			grid_empty_pivot(&t->g, t->pivot_rows);
		else
			grid_pivot(&t->g, t->res, p);
		export_pivot_free(p);
	} else {
		grid_runs(&t->g, t->res, t->all_columns);
	}
	grid_widths(&t->g);

	t->sort_col = -1;
	for (int c = 0; t->sort_name && c < t->g.ncols && t->sort_col < 0; c++)
		if (!strcmp(t->g.cols[c].name, t->sort_name))
			t->sort_col = c;
	if (t->sort_col < 0) {
		free(t->sort_name);
		t->sort_name = NULL;
	}
	int nscroll = t->g.ncols - t->g.nfrozen;
	if (t->hoff > nscroll - 1)
		t->hoff = nscroll > 0 ? nscroll - 1 : 0;
	free(t->order);
	free(t->view);
	t->order = xcalloc((size_t)t->g.nrows + 1, sizeof *t->order);
	t->view = xcalloc((size_t)t->g.nrows + 1, sizeof *t->view);
	apply_sort(t, keep, old);
}

/* ---- public: building ---------------------------------------------------- */

struct tui_table *
tui_table_new(void)
{
	struct tui_table *t = xcalloc(1, sizeof *t);
	t->sort_col = -1;
	rebuild(t);
	return t;
}

void
tui_table_free(struct tui_table *t)
{
	if (!t)
		return;
	query_free(t->q);
	free(t->filter);
	free(t->pivot_rows);
	free(t->pivot_cols);
	free(t->pivot_metric);
	free(t->pivot_error);
	free(t->sort_name);
	free(t->search);
	free(t->tags);
	results_free(t->res);
	grid_done(&t->g);
	free(t->order);
	free(t->view);
	free(t);
}

int
tui_table_load(struct tui_table *t, struct db *db, char **cause)
{
	static const char *const seed[] = {"seed"};
	struct results_opts o = {0};
	struct results *r = NULL;
	/* every key and result, so that columns and pivots need no second read */
	o.all_params = 1;
	o.sort = "id";
	if (t->grouped) {
		o.group_over = seed;
		o.ngroup_over = 1;
	}
	if (results_build(db, t->q, &o, &r, cause) < 0)
		return -1;
	results_free(t->res);
	t->res = r;
	rebuild(t);
	return 0;
}

int
tui_table_set_filter(struct tui_table *t, struct db *db, const char *text, char **cause)
{
	char *copy = xstrdup(text ? text : ""), *save = NULL, **argv = NULL;
	struct query *q = NULL, *old_q = t->q;
	char *old_filter = t->filter;
	int argc = 0, ret = -1;
	argv = xcalloc(strlen(copy) / 2 + 2, sizeof *argv);
	for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
		argv[argc++] = w;
	if (argc > 0 && query_parse(&q, db, argc, argv, cause) < 0)
		goto out;
	t->q = q;
	t->filter = argc > 0 ? xstrdup(text) : NULL;
	if (tui_table_load(t, db, cause) < 0) {
		free(t->filter);
		query_free(q);
		t->q = old_q;
		t->filter = old_filter;
		goto out;
	}
	query_free(old_q);
	free(old_filter);
	ret = 0;
out:
	free(argv);
	free(copy);
	return ret;
}

const char *
tui_table_filter(const struct tui_table *t)
{
	return t->filter ? t->filter : "";
}

int
tui_table_set_grouped(struct tui_table *t, struct db *db, int on, char **cause)
{
	int old = t->grouped;
	t->grouped = on != 0;
	if (tui_table_load(t, db, cause) < 0) {
		t->grouped = old;
		return -1;
	}
	return 0;
}

int
tui_table_grouped(const struct tui_table *t)
{
	return t->grouped;
}

void
tui_table_set_all_columns(struct tui_table *t, int on)
{
	t->all_columns = on != 0;
	rebuild(t);
}

int
tui_table_all_columns(const struct tui_table *t)
{
	return t->all_columns;
}

int
tui_table_set_pivot(struct tui_table *t, const char *spec, char **cause)
{
	char *rows = NULL, *cols = NULL, *metric = NULL;
	if (spec && *spec) {
		if (export_pivot_parse(spec, &rows, &cols, &metric, cause) < 0)
			return -1;
		struct export_pivot *p = NULL;
		if (t->res && export_pivot_build(&p, t->res, rows, cols, metric, cause) < 0) {
			free(rows);
			free(cols);
			free(metric);
			return -1;
		}
		export_pivot_free(p);
	}
	free(t->pivot_rows);
	free(t->pivot_cols);
	free(t->pivot_metric);
	t->pivot_rows = rows;
	t->pivot_cols = cols;
	t->pivot_metric = metric;
	rebuild(t);
	return 0;
}

int
tui_table_pivoted(const struct tui_table *t)
{
	return t->pivot_rows != NULL;
}

const char *
tui_table_pivot_error(const struct tui_table *t)
{
	return t->pivot_error;
}

void
tui_table_set_search(struct tui_table *t, const char *text)
{
	int64_t keep = cursor_run(t);
	free(t->search);
	t->search = NULL;
	if (text && *text) {
		t->search = xstrdup(text);
		for (char *p = t->search; *p; p++)
			*p = (char)tolower((unsigned char)*p);
	}
	apply_search(t, keep, t->cursor);
}

const char *
tui_table_search(const struct tui_table *t)
{
	return t->search ? t->search : "";
}

void
tui_table_sort(struct tui_table *t, int col, int descending)
{
	int64_t keep = cursor_run(t);
	free(t->sort_name);
	t->sort_name = NULL;
	t->sort_col = -1;
	t->descending = 0;
	if (col >= 0 && col < t->g.ncols) {
		t->sort_name = xstrdup(t->g.cols[col].name);
		t->sort_col = col;
		t->descending = descending != 0;
	}
	apply_sort(t, keep, t->cursor);
}

int
tui_table_sort_col(const struct tui_table *t, int *descending)
{
	if (descending)
		*descending = t->descending;
	return t->sort_col;
}

/* ---- public: tags -------------------------------------------------------- */

int
tui_table_toggle_tag(struct tui_table *t)
{
	const int64_t *ids;
	int n = tui_table_row_runs(t, t->cursor, &ids);
	if (n == 0)
		return -1;
	if (tui_table_is_tagged(t, t->cursor)) {
		int k = 0;
		for (int i = 0; i < t->ntags; i++)
			if (!has_id(ids, n, t->tags[i]))
				t->tags[k++] = t->tags[i];
		t->ntags = k;
		return 0;
	}
	/* merge the row's ids (ascending) into the tags (ascending, distinct) */
	int64_t *merged = xmalloc(((size_t)t->ntags + (size_t)n) * sizeof *merged);
	int i = 0, j = 0, k = 0;
	while (i < t->ntags || j < n) {
		int64_t v = j >= n || (i < t->ntags && t->tags[i] <= ids[j]) ? t->tags[i++]
									      : ids[j++];
		if (k == 0 || merged[k - 1] != v)
			merged[k++] = v;
	}
	free(t->tags);
	t->tags = merged;
	t->ntags = k;
	return 1;
}

int
tui_table_is_tagged(const struct tui_table *t, int row)
{
	const int64_t *ids;
	int n = tui_table_row_runs(t, row, &ids);
	for (int i = 0; i < n; i++)
		if (!has_id(t->tags, t->ntags, ids[i]))
			return 0;
	return n > 0;
}

void
tui_table_tags(const struct tui_table *t, int64_t **ids, int *n)
{
	*ids = NULL;
	*n = t->ntags;
	if (t->ntags > 0) {
		*ids = xmalloc((size_t)t->ntags * sizeof **ids);
		memcpy(*ids, t->tags, (size_t)t->ntags * sizeof **ids);
	}
}

int
tui_table_ntags(const struct tui_table *t)
{
	return t->ntags;
}

void
tui_table_clear_tags(struct tui_table *t)
{
	t->ntags = 0;
}

/* ---- public: cursor and scrolling ---------------------------------------- */

void
tui_table_set_cursor(struct tui_table *t, int row)
{
	t->cursor = row >= t->nview ? t->nview - 1 : row;
	if (t->cursor < 0)
		t->cursor = 0;
	if (t->top > t->cursor)
		t->top = t->cursor;
}

void
tui_table_move(struct tui_table *t, int delta)
{
	tui_table_set_cursor(t, t->cursor + delta);
}

void
tui_table_home(struct tui_table *t)
{
	tui_table_set_cursor(t, 0);
}

void
tui_table_end(struct tui_table *t)
{
	tui_table_set_cursor(t, t->nview - 1);
}

void
tui_table_page(struct tui_table *t, int rows, int dir)
{
	int step = rows > 1 ? rows : 1;
	step = dir < 0 ? -step : dir > 0 ? step : 0;
	t->top += step;
	tui_table_set_cursor(t, t->cursor + step);
	tui_table_scroll_into_view(t, rows);
}

void
tui_table_scroll_into_view(struct tui_table *t, int visible_rows)
{
	int vis = visible_rows > 1 ? visible_rows : 1;
	if (t->top > t->nview - vis)
		t->top = t->nview - vis;
	if (t->top < 0)
		t->top = 0;
	if (t->cursor < t->top)
		t->top = t->cursor;
	if (t->cursor >= t->top + vis)
		t->top = t->cursor - vis + 1;
}

int
tui_table_cursor(const struct tui_table *t)
{
	return t->cursor;
}

int
tui_table_top(const struct tui_table *t)
{
	return t->top;
}

void
tui_table_hscroll(struct tui_table *t, int delta, int width)
{
	int nscroll = t->g.ncols - t->g.nfrozen;
	int max = nscroll > 0 ? nscroll - 1 : 0, save = t->hoff;
	struct tui_table_layout l;
	/* the smallest offset that shows the last column at this width */
	for (int h = 0; h < max; h++) {
		t->hoff = h;
		tui_table_layout(t, width, 0, &l);
		if (!l.more_right) {
			max = h;
			break;
		}
	}
	t->hoff = save + delta;
	if (t->hoff > max)
		t->hoff = max;
	if (t->hoff < 0)
		t->hoff = 0;
}

int
tui_table_hoffset(const struct tui_table *t)
{
	return t->hoff;
}

/* ---- public: cells and layout -------------------------------------------- */

int
tui_table_rows(const struct tui_table *t)
{
	return t->nview;
}

int
tui_table_total_rows(const struct tui_table *t)
{
	return t->g.nrows;
}

int
tui_table_cols(const struct tui_table *t)
{
	return t->g.ncols;
}

int
tui_table_frozen(const struct tui_table *t)
{
	return t->g.nfrozen;
}

const char *
tui_table_header(const struct tui_table *t, int col)
{
	return col >= 0 && col < t->g.ncols ? t->g.cols[col].name : "";
}

int
tui_table_col_width(const struct tui_table *t, int col)
{
	return col >= 0 && col < t->g.ncols ? t->g.cols[col].width : 0;
}

int
tui_table_col_numeric(const struct tui_table *t, int col)
{
	return col >= 0 && col < t->g.ncols && t->g.cols[col].numeric;
}

const char *
tui_table_cell(const struct tui_table *t, int row, int col)
{
	int i = grid_row(t, row);
	return i >= 0 && col >= 0 && col < t->g.ncols ? grid_text(&t->g, i, col) : "";
}

int64_t
tui_table_row_id(const struct tui_table *t, int row)
{
	const int64_t *ids;
	return tui_table_row_runs(t, row, &ids) > 0 ? ids[0] : 0;
}

int
tui_table_row_runs(const struct tui_table *t, int row, const int64_t **ids)
{
	int i = grid_row(t, row);
	*ids = NULL;
	if (i < 0)
		return 0;
	*ids = t->g.ids + t->g.start[i];
	return t->g.start[i + 1] - t->g.start[i];
}

enum tui_table_status
tui_table_row_status(const struct tui_table *t, int row)
{
	int i = grid_row(t, row);
	return i >= 0 ? (enum tui_table_status)t->g.status[i] : TUI_TABLE_NONE;
}

/* Appends column c at x, w wide, to l. */
static void
layout_add(struct tui_table_layout *l, const struct tt_grid *g, int c, int x, int w)
{
	l->col[l->ncols] = c;
	l->x[l->ncols] = x;
	l->width[l->ncols] = w;
	l->right[l->ncols] = (unsigned char)g->cols[c].numeric;
	l->used = x + w;
	l->ncols++;
}

int
tui_table_layout(const struct tui_table *t, int width, int utf8, struct tui_table_layout *out)
{
	const struct tt_grid *g = &t->g;
	int x = 0, c;
	out->ncols = out->nfrozen = out->used = 0;
	out->more_left = out->more_right = 0;
	out->utf8 = utf8 != 0;
	for (c = 0; c < g->nfrozen && c < TUI_TABLE_LAYOUT_MAX && x < width; c++) {
		int w = g->cols[c].width < width - x ? g->cols[c].width : width - x;
		layout_add(out, g, c, x, w);
		x += w + TUI_TABLE_GAP;
	}
	out->nfrozen = out->ncols;
	out->more_left = t->hoff > 0;
	for (c = g->nfrozen + t->hoff; c < g->ncols && out->ncols < TUI_TABLE_LAYOUT_MAX; c++) {
		int room = width - x, w = g->cols[c].width;
		if (room <= 0 || (w > room && out->ncols > out->nfrozen))
			break;
		if (w > room)
			w = room;
		layout_add(out, g, c, x, w);
		x += w + TUI_TABLE_GAP;
	}
	out->more_right = c < g->ncols;
	return out->ncols;
}

size_t
tui_table_fit(char *buf, size_t n, const char *text, int width, int right, int utf8)
{
	const unsigned char *p = (const unsigned char *)text;
	int w = text_width(text), keep = w, pad = 0, cut = 0;
	size_t len = 0;
	if (n == 0)
		return 0;
	if (width < 0)
		width = 0;
	if (w > width) {
		keep = width > 0 ? width - 1 : 0;
		cut = width > 0;
	} else {
		pad = width - w;
	}
	for (int i = 0; right && i < pad && len + 1 < n; i++)
		buf[len++] = ' ';
	/* keep characters of text: whole UTF-8 sequences, or '?' for one without utf8 */
	for (int k = 0; k < keep && *p; k++) {
		size_t seq = 1;
		while ((p[seq] & 0xc0) == 0x80)
			seq++;
		size_t out = utf8 || *p < 0x80 ? seq : 1;
		if (len + out + 1 > n)
			break;
		if (out == seq)
			memcpy(buf + len, p, seq);
		else
			buf[len] = '?';
		len += out;
		p += seq;
	}
	if (cut) {
		const char *marker = utf8 ? "\u2026" : "~";
		size_t m = strlen(marker);
		if (len + m + 1 <= n) {
			memcpy(buf + len, marker, m);
			len += m;
		}
	}
	for (int i = 0; !right && i < pad && len + 1 < n; i++)
		buf[len++] = ' ';
	buf[len] = '\0';
	return len;
}

const char *
tui_table_cell_fit(const struct tui_table *t, const struct tui_table_layout *l, int row, int k,
		   char *buf, size_t n)
{
	if (k < 0 || k >= l->ncols) {
		if (n > 0)
			buf[0] = '\0';
		return buf;
	}
	const char *text =
		row < 0 ? tui_table_header(t, l->col[k]) : tui_table_cell(t, row, l->col[k]);
	tui_table_fit(buf, n, text, l->width[k], l->right[k], l->utf8);
	return buf;
}
