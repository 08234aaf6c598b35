/*
 * table: aligned plain-text tables.
 *
 * Rows are stored as arrays of owned strings; row 0 is the header when there
 * is one. Widths are computed at print time, so rows may be added in any
 * order of width.
 */
#include <stdlib.h>
#include <string.h>

#include "app/table.h"
#include "engine/util.h"

struct table {
	int ncols;
	int has_header;
	unsigned char *right; /* ncols flags */
	char **cells;	      /* nrows x ncols, owned */
	int nrows, cap;
};

/* Display width of s: UTF-8 characters (continuation bytes do not count). */
static size_t
text_width(const char *s)
{
	size_t w = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		w += (*p & 0xc0) != 0x80;
	return w;
}

static void
table_push(struct table *t, const char *const *cells)
{
	if (t->nrows == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 16;
		t->cells = xrealloc(t->cells, (size_t)t->cap * (size_t)t->ncols * sizeof *t->cells);
	}
	for (int j = 0; j < t->ncols; j++)
		t->cells[(size_t)t->nrows * (size_t)t->ncols + (size_t)j] =
			xstrdup(cells[j] ? cells[j] : "-");
	t->nrows++;
}

struct table *
table_new(int ncols, const char *const *headers)
{
	struct table *t = xcalloc(1, sizeof *t);
	t->ncols = ncols;
	t->right = xcalloc((size_t)ncols, 1);
	if (headers) {
		t->has_header = 1;
		table_push(t, headers);
	}
	return t;
}

void
table_free(struct table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < (size_t)t->nrows * (size_t)t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t->right);
	free(t);
}

void
table_align_right(struct table *t, int col)
{
	if (col >= 0 && col < t->ncols)
		t->right[col] = 1;
}

void
table_add_row(struct table *t, const char *const *cells)
{
	table_push(t, cells);
}

int
table_rows(const struct table *t)
{
	return t->nrows - t->has_header;
}

void
table_print(const struct table *t, FILE *f, const char *indent)
{
	size_t *width = xcalloc((size_t)t->ncols, sizeof *width);
	for (int i = 0; i < t->nrows; i++)
		for (int j = 0; j < t->ncols; j++) {
			size_t w = text_width(t->cells[(size_t)i * (size_t)t->ncols + (size_t)j]);
			if (w > width[j])
				width[j] = w;
		}
	for (int i = 0; i < t->nrows; i++) {
		char *const *row = &t->cells[(size_t)i * (size_t)t->ncols];
		/* the last column with text: nothing is printed after it */
		int last = t->ncols - 1;
		while (last > 0 && row[last][0] == '\0')
			last--;
		fputs(indent, f);
		for (int j = 0; j <= last; j++) {
			size_t pad = width[j] - text_width(row[j]);
			if (j > 0)
				fputs("  ", f);
			if (t->right[j])
				fprintf(f, "%*s", (int)pad, "");
			fputs(row[j], f);
			if (!t->right[j] && j < last)
				fprintf(f, "%*s", (int)pad, "");
		}
		fputc('\n', f);
	}
	free(width);
}
