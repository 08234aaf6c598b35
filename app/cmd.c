/*
 * cmd: the command and option tables, and what every command shares:
 * usage lines, error messages, opening the database, run references.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/cmd.h"
#include "app/table.h"
#include "db/db.h"
#include "db/query.h"
#include "db/results.h"
#include "engine/util.h"

static const struct cmd_entry *const cmd_table[] = {
	&cmd_train_entry,  &cmd_ptq_entry,   &cmd_eval_entry, &cmd_sweep_entry,
	&cmd_job_entry,	   &cmd_ls_entry,    &cmd_show_entry, &cmd_compare_entry,
	&cmd_export_entry, &cmd_plot_entry,  &cmd_levels_entry, &cmd_quant_entry,
	&cmd_tui_entry,	   &cmd_help_entry,
};
#define CMD_COUNT ((int)(sizeof cmd_table / sizeof cmd_table[0]))

static const struct cmd_option_info cmd_options[] = {
	{"--db", NULL, "FILE", CMD_OPT_DB,
	 "the database (default: $QBENCH_DB, else qbench.db in the current directory); "
	 "models are saved under runs/ beside it"},
	{"--quiet", "-q", NULL, CMD_OPT_QUIET, "no progress output: only the final result"},
	{"--json", NULL, NULL, CMD_OPT_JSON, "print the result as JSON on stdout"},
	{"--force", NULL, NULL, CMD_OPT_FORCE,
	 "run again even when a run with the same configuration exists (it is replaced)"},
	{"--in", NULL, "FILE", CMD_OPT_IN, "the input HDF5 file"},
	{"--out", "-o", "FILE", CMD_OPT_OUT,
	 "the output file (written to a temporary name, then renamed)"},
	{"--format", NULL, "FMT", CMD_OPT_FORMAT, "export format: csv, md, latex or json"},
	{"--pivot", NULL, "ROWS:COLS:METRIC", CMD_OPT_PIVOT,
	 "a pivot table: one row per value of ROWS, one column per value of COLS, METRIC in "
	 "the cells (mean \u00b1 std over the runs that fall in a cell)"},
	{"--group", NULL, "KEYS", CMD_OPT_GROUP,
	 "one row per group of runs that differ only in KEYS (comma-separated), with mean "
	 "\u00b1 std (n) of each result; all-but-seed averages over seeds"},
	{"--sort", NULL, "COLUMN", CMD_OPT_SORT,
	 "sort rows by a column (a key or a result; -COLUMN sorts descending)"},
	{"--all", NULL, NULL, CMD_OPT_ALL, "show every configuration key, also those that do not vary"},
	{"--jobs", "-j", "N", CMD_OPT_JOBS,
	 "run N points at a time (default: one per core, at most the points to run)"},
	{"--dry-run", NULL, NULL, CMD_OPT_DRY_RUN,
	 "print the points, how many are done and an estimated time; run nothing"},
	{"--resume", NULL, NULL, CMD_OPT_RESUME,
	 "also run the points that failed, were cancelled, or whose worker is gone"},
	{"--mono", NULL, NULL, CMD_OPT_MONO,
	 "the workbench without colours (also when NO_COLOR is set)"},
	{"--version", NULL, NULL, CMD_OPT_VERSION, "print qbench's version and exit"},
	{"--help", "-h", NULL, CMD_OPT_HELP, "print the command's help and exit"},
};
#define CMD_OPTION_COUNT ((int)(sizeof cmd_options / sizeof cmd_options[0]))

/* The last message cmd_error printed (qbench job records it in the run). */
static char cmd_last_error_buf[4096];

int
cmd_count(void)
{
	return CMD_COUNT;
}

const struct cmd_entry *
cmd_at(int i)
{
	return i >= 0 && i < CMD_COUNT ? cmd_table[i] : NULL;
}

const struct cmd_entry *
cmd_find(const char *name)
{
	for (int i = 0; i < CMD_COUNT; i++)
		if (strcmp(cmd_table[i]->name, name) == 0)
			return cmd_table[i];
	return NULL;
}

const char *
cmd_nearest(const char *name)
{
	const char *names[CMD_COUNT];
	for (int i = 0; i < CMD_COUNT; i++)
		names[i] = cmd_table[i]->name;
	return util_nearest(name, names, CMD_COUNT);
}

int
cmd_option_count(void)
{
	return CMD_OPTION_COUNT;
}

const struct cmd_option_info *
cmd_option_at(int i)
{
	return i >= 0 && i < CMD_OPTION_COUNT ? &cmd_options[i] : NULL;
}

void
cmd_print_usage(FILE *f, const struct cmd_entry *e)
{
	fprintf(f, "usage: qbench %s%s%s", e->name, *e->args ? " " : "", e->args);
	for (int i = 0; i < CMD_OPTION_COUNT; i++) {
		const struct cmd_option_info *o = &cmd_options[i];
		if ((e->options & o->flag) && !(o->flag & CMD_OPT_GLOBAL))
			fprintf(f, " [%s%s%s]", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
	}
	fputc('\n', f);
}

void
cmd_print_overview(FILE *f)
{
	fprintf(f, "usage: qbench [--db FILE] COMMAND [ARGS ...] [OPTIONS]\n\ncommands:\n");
	struct table *t = table_new(3, NULL);
	for (int i = 0; i < CMD_COUNT; i++) {
		const struct cmd_entry *e = cmd_table[i];
		table_add_row(t, (const char *const[]){e->name, e->args, e->summary});
	}
	table_print(t, f, "  ");
	table_free(t);
	fprintf(f, "\n'qbench help COMMAND' explains a command, 'qbench help keys' the k=v keys.\n");
}

int
cmd_error(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd_last_error_buf, sizeof cmd_last_error_buf, fmt, ap);
	va_end(ap);
	fflush(stdout);
	fprintf(stderr, "qbench: %s\n", cmd_last_error_buf);
	return code;
}

const char *
cmd_last_error(void)
{
	return cmd_last_error_buf[0] ? cmd_last_error_buf : NULL;
}

char *
cmd_find_sweep(const char *name)
{
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	char *exedir = NULL;
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash)
			exedir = xasprintf("%.*s/experiments", (int)(slash - exe), exe);
	}
	const char *dirs[] = {getenv("QBENCH_SWEEPS"), exedir, QB_PKGDATADIR "/experiments"};
	const char *ext = strstr(name, ".sweep") ? "" : ".sweep";
	char *found = NULL;
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0] && !found; i++) {
		struct stat st;
		if (!dirs[i] || !*dirs[i])
			continue;
		char *path = xasprintf("%s/%s%s", dirs[i], name, ext);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			found = path;
		else
			free(path);
	}
	free(exedir);
	return found;
}

int
cmd_open_db(const struct cmd_ctx *ctx, int create, struct db **out)
{
	char *cause = NULL;
	if (db_open(out, ctx->db_path, create ? DB_OPEN_CREATE : 0, &cause) < 0) {
		cmd_error(CMD_EXIT_IO, "%s", cause);
		free(cause);
		return CMD_EXIT_IO;
	}
	return CMD_EXIT_OK;
}

/* The exit code of a failed query or table: database errors name the file. */
static int
results_fail(struct db *db, const char *cause)
{
	size_t n = strlen(db_path(db));
	int io = strncmp(cause, db_path(db), n) == 0 && cause[n] == ':';
	return cmd_error(io ? CMD_EXIT_IO : CMD_EXIT_CONFIG, "%s", cause);
}

int
cmd_results(const struct cmd_ctx *ctx, int argc, char **argv, struct results_opts *o,
	    struct db **db, struct results **out)
{
	struct query *q = NULL;
	char **group = NULL, *cause = NULL;
	int ngroup = 0, ret = CMD_EXIT_OK;
	*db = NULL;
	*out = NULL;
	/* a word that is not a filter is a usage error, found before the database is opened */
	for (int i = 0; i < argc; i++)
		if (!query_is_term(argv[i])) {
			query_parse(&q, NULL, 1, &argv[i], &cause);
			ret = cmd_error(CMD_EXIT_USAGE, "%s", cause);
			goto out;
		}
	if (ctx->group && results_group_parse(ctx->group, &group, &ngroup, &cause) < 0) {
		ret = cmd_error(CMD_EXIT_USAGE, "%s", cause);
		goto out;
	}
	if ((ret = cmd_open_db(ctx, 0, db)) != CMD_EXIT_OK)
		goto out;
	if (query_parse(&q, *db, argc, argv, &cause) < 0) {
		ret = results_fail(*db, cause);
		goto out;
	}
	o->group_over = (const char *const *)group;
	o->ngroup_over = ngroup;
	if (ctx->sort) {
		o->descending = ctx->sort[0] == '-';
		o->sort = ctx->sort + o->descending;
	}
	if (results_build(*db, q, o, out, &cause) < 0)
		ret = results_fail(*db, cause);
out:
	o->group_over = NULL;
	o->ngroup_over = 0;
	results_group_free(group, ngroup);
	query_free(q);
	free(cause);
	if (ret != CMD_EXIT_OK) {
		db_close(*db);
		*db = NULL;
	}
	return ret;
}

int
cmd_parse_run_id(const char *s, long long *id)
{
	if (strncmp(s, "run:", 4) == 0)
		s += 4;
	if (*s < '0' || *s > '9')
		return -1;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || v <= 0)
		return -1;
	*id = v;
	return 0;
}
