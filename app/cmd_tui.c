/*
 * cmd_tui: `qbench tui`, the workbench (app/tui/) on a terminal; `qbench`
 * alone opens it too when stdin and stdout are terminals. Without a
 * terminal, `qbench tui` says so and exits 0, so that a script can end with
 * it and stay headless.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "app/cmd.h"
#include "app/tui/tui.h"
#include "engine/io_h5.h"

int
cmd_tui_open(const struct cmd_ctx *ctx)
{
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	exe[n > 0 ? n : 0] = '\0';
	const char *no_color = getenv("NO_COLOR");
	char *quick = cmd_find_sweep("quick");
	struct tui_options o = {
		.db_path = ctx->db_path,
		.exe = n > 0 ? exe : "qbench",
		.sweep_file = quick,
		.mono = ctx->mono || (no_color && *no_color),
	};
	char *cause = NULL;
	io_h5_quiet();
	int ret = tui_run(&o, &cause) < 0 ? cmd_error(CMD_EXIT_IO, "%s", cause) : CMD_EXIT_OK;
	free(cause);
	free(quick);
	return ret;
}

static int
tui_exec(const struct cmd_ctx *ctx, int argc, char **argv)
{
	(void)argv;
	if (argc > 0)
		return cmd_error(CMD_EXIT_USAGE, "usage: qbench tui [--mono]");
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		if (!ctx->quiet)
			fprintf(stderr, "qbench: no terminal here, so no workbench; the runs are in %s "
					"('qbench ls')\n",
				ctx->db_path);
		return CMD_EXIT_OK;
	}
	return cmd_tui_open(ctx);
}

const struct cmd_entry cmd_tui_entry = {
	.name = "tui",
	.args = "",
	.options = CMD_OPT_MONO | CMD_OPT_QUIET,
	.summary = "the workbench on a terminal (also 'qbench' alone)",
	.help = "Opens the workbench: 1 Builder (compose a sweep, count its points, launch it), "
		"2 Runs (the results table: sort, / search, f filter, Space tag, g group over "
		"seeds, p pivot, e export), 3 Jobs (progress, ETA, cancel, retry, resume), 4 "
		"Compare (tagged runs side by side), 5 Plots (gnuplot in the terminal, e to a "
		"file). Tab cycles the screens, ? lists the keys, : runs a qbench command line, Q "
		"quits (running sweeps go on). A new database is created, and the builder starts "
		"with the quick sweep.\n"
		"Without a terminal it says so and exits 0 (a script can end with it). --mono, or "
		"NO_COLOR in the environment, draws without colours; outside a UTF-8 locale the "
		"glyphs are ASCII. See docs/tui.md.",
	.exec = tui_exec,
};
