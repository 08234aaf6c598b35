/*
 * cmd_export: `qbench export`, the runs matching a filter as a CSV,
 * Markdown, LaTeX or JSON table, or as a pivot of one result over two keys
 * (db/export.h has the formats). The output goes to stdout, or with -o FILE
 * to FILE.tmp renamed to FILE once complete, so FILE is never half written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/cmd.h"
#include "db/db.h"
#include "db/export.h"
#include "db/query.h"
#include "db/results.h"
#include "engine/util.h"

/* The format from --format, else from -o's extension; a usage error otherwise. */
static int
export_pick_format(const struct cmd_ctx *ctx, enum export_format *f)
{
	char *cause = NULL;
	if (ctx->format) {
		if (export_format_parse(ctx->format, f, &cause) == 0)
			return CMD_EXIT_OK;
		int ret = cmd_error(CMD_EXIT_USAGE, "%s", cause);
		free(cause);
		return ret;
	}
	if (ctx->out_path && export_format_from_path(ctx->out_path, f) == 0)
		return CMD_EXIT_OK;
	if (ctx->out_path)
		return cmd_error(
			CMD_EXIT_USAGE,
			"cannot tell the format from '%s': give --format csv, md, latex or "
			"json (or a file name ending in .csv, .md, .tex or .json)",
			ctx->out_path);
	return cmd_error(CMD_EXIT_USAGE, "export needs --format csv, md, latex or json (or -o "
					 "FILE ending in .csv, .md, .tex or .json)");
}

/* Writes the table or the pivot to out. */
static int
export_write(FILE *out, enum export_format f, const struct results *r, const struct export_pivot *p,
	     char **cause)
{
	return p ? export_pivot_write(out, f, p, cause) : export_table(out, f, r, cause);
}

static int
export_exec(const struct cmd_ctx *ctx, int argc, char **argv)
{
	struct db *db = NULL;
	struct results *r = NULL;
	struct export_pivot *p = NULL;
	char *cause = NULL, *prows = NULL, *pcols = NULL, *pmetric = NULL;
	int ret;
	enum export_format f;
	/* a pivot needs its keys as columns, even when they do not vary */
	struct results_opts o = {.all_params = ctx->all || ctx->pivot};
	if ((ret = export_pick_format(ctx, &f)) != CMD_EXIT_OK)
		return ret;
	if (ctx->pivot && ctx->group) {
		ret = cmd_error(CMD_EXIT_USAGE,
				"--pivot and --group do not go together: a pivot cell "
				"already averages every run in it");
		goto out;
	}
	if (ctx->pivot && export_pivot_parse(ctx->pivot, &prows, &pcols, &pmetric, &cause) < 0) {
		ret = cmd_error(CMD_EXIT_USAGE, "%s", cause);
		goto out;
	}
	if ((ret = cmd_results(ctx, argc, argv, &o, &db, &r)) != CMD_EXIT_OK)
		goto out;
	if (ctx->pivot && export_pivot_build(&p, r, prows, pcols, pmetric, &cause) < 0) {
		ret = cmd_error(CMD_EXIT_CONFIG, "%s", cause);
		goto out;
	}
	if (!ctx->out_path) {
		if (export_write(stdout, f, r, p, &cause) < 0)
			ret = cmd_error(CMD_EXIT_IO, "standard output: %s", cause);
		goto out;
	}
	FILE *out = NULL;
	if (export_file_open(ctx->out_path, &out, &cause) < 0) {
		ret = cmd_error(CMD_EXIT_IO, "%s", cause);
		goto out;
	}
	if (export_write(out, f, r, p, &cause) < 0) {
		export_file_close(ctx->out_path, out, 0, NULL);
		ret = cmd_error(CMD_EXIT_IO, "%s: %s", ctx->out_path, cause);
		goto out;
	}
	if (export_file_close(ctx->out_path, out, 1, &cause) < 0)
		ret = cmd_error(CMD_EXIT_IO, "%s", cause);
out:
	export_pivot_free(p);
	results_free(r);
	db_close(db);
	free(prows);
	free(pcols);
	free(pmetric);
	free(cause);
	return ret;
}

const struct cmd_entry cmd_export_entry = {
	.name = "export",
	.args = "[FILTER ...]",
	.options = CMD_OPT_FORMAT | CMD_OPT_PIVOT | CMD_OPT_GROUP | CMD_OPT_SORT | CMD_OPT_ALL |
		   CMD_OPT_OUT,
	.summary = "export runs as CSV, Markdown, LaTeX or JSON, or a pivot table",
	.help = "Writes the runs matching the filters (as in 'qbench ls') as a table: id, status, "
		"the configuration keys that vary (every key with --all) and every result. "
		"--format is csv (RFC 4180, full precision), md (a Markdown pipe table), latex (a "
		"booktabs tabular of keys and results, the best value of each result in bold, the "
		"definitions of the results in comment lines above) or json (an array of objects); "
		"without --format, -o FILE's extension (.csv, .md, .tex, .json) decides. "
		"--group all-but-seed (or --group KEYS) merges the runs that differ only in those "
		"keys and gives each result as mean, sample std and count. --sort COLUMN orders "
		"the rows (-COLUMN: descending); by default by the varying keys, then id.\n"
		"--pivot ROWS:COLS:METRIC gives one row per value of the key ROWS, one column per "
		"value of the key COLS, and in each cell METRIC's mean \u00b1 std over the runs "
		"there, e.g. 'qbench export --format md --pivot w.bits:a.bits:test_acc "
		"scheme=apot'.\n"
		"With -o FILE the table is written to FILE.tmp and renamed to FILE when complete; "
		"otherwise it goes to standard output. Examples: 'qbench export -o runs.csv "
		"status=done', 'qbench export --format latex --group all-but-seed sweep=bits -o "
		"table.tex'.",
	.exec = export_exec,
};
