/*
 * table: aligned plain-text tables for the command line (ls, show, help).
 *
 * Cells are copied strings; a column is as wide as its widest cell (counted
 * in UTF-8 characters) and is left-aligned unless set right-aligned (numbers).
 * Columns are separated by two spaces; trailing blanks are never printed.
 */
#ifndef QB_TABLE_H
#define QB_TABLE_H

#include <stdio.h>

struct table;

/*
 * A table of ncols columns. headers (ncols strings) is the first row, printed
 * as is; NULL for a table without a header. Never NULL; free with table_free().
 */
struct table *table_new(int ncols, const char *const *headers);
void table_free(struct table *t);

/* Right-aligns column col (numbers). */
void table_align_right(struct table *t, int col);

/* Appends a row of ncols cells (copied); a NULL cell prints as "-". */
void table_add_row(struct table *t, const char *const *cells);

/* Number of rows added (not counting the header). */
int table_rows(const struct table *t);

/* Prints the table to f, each line starting with indent (may be ""). */
void table_print(const struct table *t, FILE *f, const char *indent);

#endif
