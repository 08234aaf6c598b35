/*
 * cmd_ls: `qbench ls [FILTER...]`, the runs as a table, oldest first.
 *
 * The table comes from db/results (the filter language is db/query's): id,
 * status, the configuration keys that take different values in the rows,
 * and the main results (test accuracy, BitOPs or model size, time). A key
 * that only some rows have, with one value wherever it is set, is not a
 * column (a train and a ptq run differ in every ptq key, which says nothing
 * the job column does not); --all shows every key. --group merges the runs
 * that differ only in the keys named (all-but-seed: the seed) and shows each
 * result as mean ± std (runs).
 *
 * cmd_print_results() is the same table for other commands (sweep).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "app/cmd.h"
#include "app/table.h"
#include "db/db.h"
#include "db/export.h"
#include "db/query.h"
#include "db/results.h"
#include "engine/util.h"

/* A result cell: the value, or grouped "mean ± std (n)". */
static void
ls_result(char *buf, size_t n, const char *name, const struct results_cell *c, int grouped)
{
	if (!grouped)
		export_short(buf, n, name, c->mean);
	else
		export_short_stats(buf, n, name, c->mean, c->std, c->n, 0);
}


/* A parameter for a narrow column: the last component of a path. */
static const char *
short_value(const char *v)
{
	const char *slash = v ? strrchr(v, '/') : NULL;
	return slash && slash[1] ? slash + 1 : v;
}

/*
 * Prints r as ls does: id, status, the param columns (with all, every one
 * r has; else those with two values or more), then test_acc, bitops (or
 * size_bits) when some row has it, and time_s.
 */
static void
ls_print(const struct results *r, FILE *f, int all)
{
	int *cols = xcalloc((size_t)r->ncols + 4, sizeof *cols);
	const char **head = xcalloc((size_t)r->ncols + 4, sizeof *head);
	const char **cells = xcalloc((size_t)r->ncols + 4, sizeof *cells);
	char **bufs = xcalloc((size_t)r->ncols + 4, sizeof *bufs);
	int n = 0;
	/* column i of the printed table shows r's column cols[i], or a blank result when -1 */
	for (int c = 0; c < r->ncols; c++)
		if (r->cols[c].kind == RESULTS_COL_ID || r->cols[c].kind == RESULTS_COL_STATUS ||
		    (r->cols[c].kind == RESULTS_COL_PARAM && (all || results_col_distinct(r, c)))) {
			cols[n] = c;
			head[n++] = r->cols[c].name;
		}
	int acc = results_col_find(r, "test_acc"), bitops = results_col_find(r, "bitops");
	int size = results_col_find(r, "size_bits"), time = results_col_find(r, "time_s");
	int cost = bitops >= 0 && results_col_has_value(r, bitops) ? bitops
		   : size >= 0 && results_col_has_value(r, size)   ? size
						       : -1;
	int first_result = n;
	cols[n] = acc;
	head[n++] = "test_acc";
	if (cost >= 0) {
		cols[n] = cost;
		head[n++] = r->cols[cost].name;
	}
	cols[n] = time;
	head[n++] = "time_s";

	struct table *t = table_new(n, head);
	for (int k = 0; k < n; k++)
		if (k >= first_result || r->cols[cols[k]].numeric)
			table_align_right(t, k);
	for (int i = 0; i < r->nrows; i++) {
		for (int k = 0; k < n; k++) {
			free(bufs[k]);
			bufs[k] = NULL;
			if (k < first_result) {
				cells[k] = short_value(results_cell(r, i, cols[k])->text);
				continue;
			}
			char buf[160] = "-";
			if (cols[k] >= 0)
				ls_result(buf, sizeof buf, head[k], results_cell(r, i, cols[k]),
					  r->grouped);
			cells[k] = bufs[k] = xstrdup(buf);
		}
		table_add_row(t, cells);
	}
	table_print(t, f, "");
	table_free(t);
	for (int k = 0; k < n; k++)
		free(bufs[k]);
	free(bufs);
	free(cells);
	free(head);
	free(cols);
}

void
cmd_print_results(const struct results *r, FILE *f)
{
	ls_print(r, f, 0);
}

static int
ls_exec(const struct cmd_ctx *ctx, int argc, char **argv)
{
	struct db *db = NULL;
	struct results *r = NULL;
	char *cause = NULL;
	struct results_opts o = {.all_params = ctx->all || ctx->json, .sort = "id"};
	int ret = cmd_results(ctx, argc, argv, &o, &db, &r);
	if (ret != CMD_EXIT_OK)
		goto out;
	if (ctx->json) {
		if (export_table(stdout, EXPORT_JSON, r, &cause) < 0)
			ret = cmd_error(CMD_EXIT_IO, "%s", cause);
	} else {
		ls_print(r, stdout, ctx->all);
	}
out:
	results_free(r);
	db_close(db);
	free(cause);
	return ret;
}

const struct cmd_entry cmd_ls_entry = {
	.name = "ls",
	.args = "[FILTER ...]",
	.options = CMD_OPT_JSON | CMD_OPT_GROUP | CMD_OPT_SORT | CMD_OPT_ALL,
	.summary = "list runs as a table, oldest first",
	.help = "Lists the runs in the database: id, status, the configuration keys whose values "
		"differ between the runs shown, test accuracy, BitOPs (or model size) and time in "
		"seconds. --all shows every configuration key.\n"
		"A FILTER is KEY OP VALUE with OP one of = != < <= > >=; several filters must all "
		"hold. KEY is id, status, parent (the run a run started from), sweep (a sweep's "
		"name or id), a configuration key (qbench help keys) or a result (test_acc, "
		"bitops, ...). Values are compared in canonical form (lr=.1 is lr=0.1), numbers as "
		"numbers; KEY=V1,V2 is any of the values, KEY=LO..HI a range; a run without the "
		"key matches only !=. Examples: 'qbench ls status=done optim=adam', "
		"'qbench ls w.bits<=4 test_acc>0.85', 'qbench ls id=3..9 scheme!=float', "
		"'qbench ls sweep=quick'.\n"
		"--group all-but-seed gives one row per configuration with each result as mean "
		"\u00b1 sample std (runs) over its seeds; --group KEYS averages over other keys "
		"(comma-separated). --sort COLUMN orders the rows by a key or a result "
		"(--sort -test_acc: descending). --json prints every key and result of each row.",
	.exec = ls_exec,
};
