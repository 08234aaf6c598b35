/*
 * tui/table: the model behind the TUI's Runs screen, without curses.
 *
 * It holds the results table of `qbench ls` (db/results.h) as the screen
 * shows it: every cell's text formatted once, when the table is (re)built,
 * column widths over every row, a sort order, a text search, tags, a cursor
 * and a scroll position. A view draws a rectangle of it by asking for a
 * layout (which columns fit in a width) and for the texts of the visible
 * cells; nothing a redraw needs allocates memory.
 *
 * What the table shows:
 * - runs mode: one row per run (grouped: per set of runs that differ only in
 *   the seed, like `qbench ls --group all-but-seed`), columns id, status,
 *   the configuration keys with two values or more, then test_acc, bitops
 *   (or size_bits) and time_s, all as ls prints them: results as k/M/G
 *   counts or 4-decimal fractions, grouped results as "mean ± std (n)",
 *   paths by their last component, a missing value as "-". With all
 *   columns on, every configuration key and every result is a column.
 * - pivot mode (ROWS:COLS:METRIC, as `qbench export --pivot`): one row per
 *   value of ROWS, a column per value of COLS headed "COLS=value", and in
 *   each cell the mean of METRIC ("mean ± std (n)" over two runs or more).
 *   A pivot row stands for the runs behind its cells.
 * The first columns are frozen (id and status; a pivot's row labels): they
 * stay on the left when the other columns scroll horizontally.
 *
 * Rows are addressed by their index among the visible rows: the rows in sort
 * order, without those the search hides. A row stands for one or more runs;
 * its id is the smallest. Tags are run ids kept apart from the table: they
 * survive sorting, searching, filtering and reloading, and only
 * tui_table_toggle_tag() and tui_table_clear_tags() change them.
 *
 * Pointers returned into the model (texts, run ids) stay valid until the
 * next call that changes the table (load, filter, grouping, columns, pivot,
 * sort, search). Nothing here prints; errors are -1 with a malloc'd *cause.
 */
#ifndef QB_TUI_TABLE_H
#define QB_TUI_TABLE_H

#include <stddef.h>
#include <stdint.h>

struct db;
struct tui_table;

/* The widest a column gets, in characters; longer cells are cut with a marker. */
#define TUI_TABLE_MAX_WIDTH 24
/* Blank characters between two columns. */
#define TUI_TABLE_GAP 1
/* The most columns one layout holds. */
#define TUI_TABLE_LAYOUT_MAX 128

/* What a row's status glyph shows. */
enum tui_table_status {
	TUI_TABLE_NONE,		/* a pivot row, or a run deleted since the query */
	TUI_TABLE_QUEUED,
	TUI_TABLE_RUNNING,
	TUI_TABLE_DONE,
	TUI_TABLE_FAILED,
	TUI_TABLE_DIVERGED,
	TUI_TABLE_CANCELLED,
	TUI_TABLE_MIXED,	/* a group whose runs differ in status */
	TUI_TABLE_STATUS_COUNT
};

/*
 * Which columns a width shows: entry k is table column col[k], drawn from
 * screen column x[k] (0 = the layout's left edge) over width[k] characters,
 * right-aligned when right[k] (numbers). The first nfrozen entries are the
 * frozen columns; the others start at the horizontal offset. more_left and
 * more_right say that columns are hidden on that side (the view's < and >
 * markers). used is the characters the columns take, gaps included.
 */
struct tui_table_layout {
	int ncols, nfrozen;
	int col[TUI_TABLE_LAYOUT_MAX];
	int x[TUI_TABLE_LAYOUT_MAX];
	int width[TUI_TABLE_LAYOUT_MAX];
	unsigned char right[TUI_TABLE_LAYOUT_MAX];
	int more_left, more_right;
	int used;
	int utf8;	/* cut cells end in U+2026 (else '~'; other non-ASCII shows as '?') */
};

/* An empty model: runs mode, no filter, not grouped. Never NULL; free with tui_table_free(). */
struct tui_table *tui_table_new(void);
/* tui_table_free(NULL) is a no-op. */
void tui_table_free(struct tui_table *t);

/*
 * (Re)builds the table from db with the current filter, grouping, columns
 * and pivot, then applies the sort (when its column still exists) and the
 * search. The cursor stays on the row holding the run it was on when that
 * run is still shown, else at the same index (clamped). Returns -1 with
 * *cause (naming the database) when reading fails; the table is then left
 * as it was. A pivot whose keys the runs no longer have leaves the table
 * without rows; tui_table_pivot_error() says why.
 */
int tui_table_load(struct tui_table *t, struct db *db, char **cause);

/*
 * Sets the filter, text holding space-separated terms of the filter
 * language (db/query.h; NULL or "" = every run), and reloads. A bad term
 * returns -1 with the query's message in *cause, as does a failed reload;
 * the previous filter and table then stay.
 */
int tui_table_set_filter(struct tui_table *t, struct db *db, const char *text, char **cause);
/* The filter text in force ("" when none; owned by t). */
const char *tui_table_filter(const struct tui_table *t);

/*
 * Groups (on) the runs that differ only in the seed, or not, and reloads.
 * -1 with *cause when reloading fails (the grouping is then unchanged).
 */
int tui_table_set_grouped(struct tui_table *t, struct db *db, int on, char **cause);
int tui_table_grouped(const struct tui_table *t);

/* Shows every configuration key and result (on), or ls's columns. No reload needed. */
void tui_table_set_all_columns(struct tui_table *t, int on);
int tui_table_all_columns(const struct tui_table *t);

/*
 * Pivot mode for spec "ROWS:COLS:METRIC", or runs mode when spec is NULL or
 * "". -1 with *cause for a malformed spec or, once a table is loaded, keys
 * the table does not have (export_pivot_build()'s message); the mode is then
 * unchanged. No reload needed.
 */
int tui_table_set_pivot(struct tui_table *t, const char *spec, char **cause);
/* Nonzero in pivot mode. */
int tui_table_pivoted(const struct tui_table *t);
/* Why the pivot has no rows after the last load (owned by t), or NULL. */
const char *tui_table_pivot_error(const struct tui_table *t);

/*
 * Search: hides the rows none of whose cell texts contains text, compared
 * without regard to ASCII case (over the whole texts, also where a column
 * cuts them; the "-" of a missing value is no text). NULL or "" shows every
 * row. The search stays in force across
 * reloads.
 */
void tui_table_set_search(struct tui_table *t, const char *text);
/* The search text ("" when none; owned by t). */
const char *tui_table_search(const struct tui_table *t);

/*
 * Sorts the rows on column col (descending when descending is nonzero):
 * numeric columns by value (a grouped result by its mean), others by text
 * with runs of digits compared as numbers (run:2 before run:10); missing
 * values last in both directions; ties in the natural order (runs by id, a
 * pivot's rows by label). col outside the columns restores the natural
 * order. The sort follows the column's header across reloads while a
 * column of that name exists.
 */
void tui_table_sort(struct tui_table *t, int col, int descending);
/* The sort column (-1 when none) and, in *descending when not NULL, its direction. */
int tui_table_sort_col(const struct tui_table *t, int *descending);

/*
 * Tags or untags the runs of the row under the cursor (all of a group's or
 * a pivot row's runs): untags them when every one is tagged, else tags them
 * all. Returns 1 when they are now tagged, 0 untagged, -1 when there is no
 * row.
 */
int tui_table_toggle_tag(struct tui_table *t);
/* Nonzero when every run of visible row `row` is tagged. */
int tui_table_is_tagged(const struct tui_table *t, int row);
/* The tagged run ids, ascending, in *ids (malloc'd, caller frees; NULL when none). */
void tui_table_tags(const struct tui_table *t, int64_t **ids, int *n);
int tui_table_ntags(const struct tui_table *t);
void tui_table_clear_tags(struct tui_table *t);

/*
 * The cursor is a visible row index in [0, rows) (0 when there are none);
 * top is the first row drawn. Moves clamp at the ends.
 */
void tui_table_move(struct tui_table *t, int delta);
void tui_table_home(struct tui_table *t);
void tui_table_end(struct tui_table *t);
void tui_table_set_cursor(struct tui_table *t, int row);
/* Moves the cursor and the top by a page of `rows` rows: dir > 0 down, dir < 0 up. */
void tui_table_page(struct tui_table *t, int rows, int dir);
/*
 * Adjusts top so that the cursor is among visible_rows rows drawn from top,
 * scrolling as little as possible, and no blank rows show below the last
 * row when the table has enough rows to fill them.
 */
void tui_table_scroll_into_view(struct tui_table *t, int visible_rows);
int tui_table_cursor(const struct tui_table *t);
int tui_table_top(const struct tui_table *t);

/*
 * Moves the horizontal offset (the first non-frozen column shown) by delta
 * columns, clamped so that it stays in the table and does not scroll past
 * the point where, at this width, the last column is in view.
 */
void tui_table_hscroll(struct tui_table *t, int delta, int width);
int tui_table_hoffset(const struct tui_table *t);

/* Visible rows (after the search), and every row of the table. */
int tui_table_rows(const struct tui_table *t);
int tui_table_total_rows(const struct tui_table *t);
/* Columns, and how many of the first ones are frozen. */
int tui_table_cols(const struct tui_table *t);
int tui_table_frozen(const struct tui_table *t);
/* A column's header; "" outside the table. Owned by t. */
const char *tui_table_header(const struct tui_table *t, int col);
/* A column's width (max of header and every row's cell, capped) and whether it holds numbers. */
int tui_table_col_width(const struct tui_table *t, int col);
int tui_table_col_numeric(const struct tui_table *t, int col);
/* The full text of a cell of visible row `row`; "" outside the table. Owned by t. */
const char *tui_table_cell(const struct tui_table *t, int row, int col);
/* The row's run id (the smallest of its runs), 0 outside the table. */
int64_t tui_table_row_id(const struct tui_table *t, int row);
/* The row's runs, ascending, in *ids (owned by t); returns their count (0 outside the table). */
int tui_table_row_runs(const struct tui_table *t, int row, const int64_t **ids);
enum tui_table_status tui_table_row_status(const struct tui_table *t, int row);

/*
 * Lays out the columns in width characters: the frozen columns, then the
 * others from the horizontal offset while they fit whole, except that the
 * first of them is cut to the room left when it alone does not fit. utf8
 * chooses the cut marker (see struct tui_table_layout). Fills *out and
 * returns out->ncols.
 */
int tui_table_layout(const struct tui_table *t, int width, int utf8,
		     struct tui_table_layout *out);

/*
 * Writes text into buf (n bytes, NUL-terminated) as exactly width
 * characters: padded with blanks on the left (right) or the right,
 * or cut to width - 1 characters and the marker when longer (utf8: U+2026,
 * else '~', and every other non-ASCII character as '?'). A buffer of
 * 4 * width + 1 bytes always holds the whole result; a smaller one ends it
 * early. Returns the bytes written.
 */
size_t tui_table_fit(char *buf, size_t n, const char *text, int width, int right, int utf8);
/*
 * The text of layout entry k for visible row `row` (row -1: the header),
 * fitted as tui_table_fit() does into buf; returns buf.
 */
const char *tui_table_cell_fit(const struct tui_table *t, const struct tui_table_layout *l,
			       int row, int k, char *buf, size_t n);

#endif
