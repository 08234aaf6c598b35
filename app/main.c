/*
 * main: qbench's entry point. Parses the options (they may come anywhere
 * before a lone "--", the first other word being the command), checks them
 * against what the command takes, and runs the command from the table in
 * app/cmd.c. Everything after the command name, options removed, goes to the
 * command.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/cmd.h"
#include "engine/io_h5.h"
#include "engine/util.h"

/* The option row matching arg ("--db", "--db=FILE", "-q"), or NULL. */
static const struct cmd_option_info *
find_option(const char *arg, const char **value)
{
	*value = NULL;
	for (int i = 0; i < cmd_option_count(); i++) {
		const struct cmd_option_info *o = cmd_option_at(i);
		size_t n = strlen(o->name);
		if (strcmp(arg, o->name) == 0 || (o->alias && strcmp(arg, o->alias) == 0))
			return o;
		if (o->arg && strncmp(arg, o->name, n) == 0 && arg[n] == '=') {
			*value = arg + n + 1;
			return o;
		}
	}
	return NULL;
}

static int
unknown_option(const char *arg)
{
	const char *names[32];
	int n = 0;
	for (int i = 0; i < cmd_option_count() && n < 32; i++)
		names[n++] = cmd_option_at(i)->name;
	const char *near = util_nearest(arg, names, (size_t)n);
	if (near)
		return cmd_error(CMD_EXIT_USAGE, "unknown option '%s' (did you mean '%s'?)", arg, near);
	return cmd_error(CMD_EXIT_USAGE, "unknown option '%s'", arg);
}

int
main(int argc, char **argv)
{
	struct cmd_ctx ctx = {0};
	char **args = xcalloc((size_t)argc + 1, sizeof *args);
	int nargs = 0, ret = CMD_EXIT_USAGE, dashdash = 0;
	const char *env = getenv("QBENCH_DB");
	ctx.db_path = env && *env ? env : "qbench.db";

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (dashdash || a[0] != '-' || a[1] == '\0') {
			args[nargs++] = argv[i];
			continue;
		}
		if (strcmp(a, "--") == 0) {
			dashdash = 1;
			continue;
		}
		const char *value;
		const struct cmd_option_info *o = find_option(a, &value);
		if (!o) {
			ret = unknown_option(a);
			goto out;
		}
		if (o->arg && !value) {
			if (i + 1 >= argc) {
				ret = cmd_error(CMD_EXIT_USAGE, "option %s needs an argument (%s)", o->name,
						o->arg);
				goto out;
			}
			value = argv[++i];
		} else if (!o->arg && value) {
			ret = cmd_error(CMD_EXIT_USAGE, "option %s takes no argument", o->name);
			goto out;
		}
		ctx.given |= o->flag;
		if (o->flag == CMD_OPT_DB)
			ctx.db_path = value;
		if (o->flag == CMD_OPT_IN)
			ctx.in_path = value;
		if (o->flag == CMD_OPT_OUT)
			ctx.out_path = value;
		if (o->flag == CMD_OPT_FORMAT)
			ctx.format = value;
		if (o->flag == CMD_OPT_PIVOT)
			ctx.pivot = value;
		if (o->flag == CMD_OPT_GROUP)
			ctx.group = value;
		if (o->flag == CMD_OPT_SORT)
			ctx.sort = value;
		if (o->flag == CMD_OPT_JOBS) {
			char *end;
			long n = strtol(value, &end, 10);
			if (*value == '\0' || *end || n < 1 || n > 256) {
				ret = cmd_error(CMD_EXIT_USAGE,
						"option %s needs a number of jobs in 1..256, got '%s'",
						o->name, value);
				goto out;
			}
			ctx.jobs = (int)n;
		}
		ctx.mono |= o->flag == CMD_OPT_MONO;
		ctx.dry_run |= o->flag == CMD_OPT_DRY_RUN;
		ctx.resume |= o->flag == CMD_OPT_RESUME;
		ctx.all |= o->flag == CMD_OPT_ALL;
		ctx.quiet |= o->flag == CMD_OPT_QUIET;
		ctx.json |= o->flag == CMD_OPT_JSON;
		ctx.force |= o->flag == CMD_OPT_FORCE;
	}
	if (ctx.given & CMD_OPT_VERSION) {
		printf("qbench %s\n", PACKAGE_VERSION);
		ret = CMD_EXIT_OK;
		goto out;
	}
	if (nargs == 0) {
		if (ctx.given & CMD_OPT_HELP) {
			cmd_print_overview(stdout);
			ret = CMD_EXIT_OK;
		} else if (isatty(STDIN_FILENO) && isatty(STDOUT_FILENO)) {
			ret = cmd_tui_open(&ctx);
		} else {
			cmd_print_overview(stderr);
			ret = CMD_EXIT_USAGE;
		}
		goto out;
	}
	const struct cmd_entry *e = cmd_find(args[0]);
	if (!e) {
		const char *near = cmd_nearest(args[0]);
		if (near)
			ret = cmd_error(CMD_EXIT_USAGE,
					"unknown command '%s' (did you mean '%s'?); see 'qbench help'",
					args[0], near);
		else
			ret = cmd_error(CMD_EXIT_USAGE, "unknown command '%s'; see 'qbench help'",
					args[0]);
		goto out;
	}
	if (ctx.given & CMD_OPT_HELP) {
		char *help_argv[] = {args[0], NULL};
		ret = cmd_help_entry.exec(&ctx, 1, help_argv);
		goto out;
	}
	for (int i = 0; i < cmd_option_count(); i++) {
		const struct cmd_option_info *o = cmd_option_at(i);
		if ((ctx.given & o->flag) && !((e->options | CMD_OPT_GLOBAL) & o->flag)) {
			ret = cmd_error(CMD_EXIT_USAGE, "'qbench %s' does not take %s", e->name, o->name);
			goto out;
		}
	}
	io_h5_quiet();
	ret = e->exec(&ctx, nargs - 1, args + 1);
out:
	free(args);
	fflush(stdout);
	return ret;
}
