/*
 * cmd_help: `qbench help [COMMAND|keys|man]`, generated from the command
 * table (app/cmd.c), the option table and the key table
 * (experiments/config.c); `help man` writes the manual page as roff, which is
 * how docs/qbench.1 is made (make update-man), so the page and the program
 * cannot disagree.
 */
#include <stdlib.h>
#include <string.h>

#include "app/cmd.h"
#include "engine/model.h"
#include "engine/util.h"
#include "experiments/config.h"

#define HELP_WIDTH 79

static const char help_description[] =
	"qbench trains and evaluates small image classifiers and records every run in an "
	"SQLite database: its fully resolved configuration, per-epoch metrics, per-layer "
	"costs and final results. A run is identified by a hash of its configuration, so "
	"the same configuration is not run twice unless forced.\n"
	"Everything is configured with key=value arguments; 'qbench help keys' lists the "
	"keys, their values and defaults.";

static const char *const help_datasets[][2] = {
	{"fmnist", "Fashion-MNIST from /usr/share/datasets/fashion-mnist, or $QBENCH_FMNIST_DIR"},
	{"idx:DIR", "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and "
		    "t10k-labels-idx1-ubyte in DIR (each may be gzip'd)"},
	{"h5:FILE", "an HDF5 file with the train and test splits (see docs/formats.md)"},
};

static const char *const help_exit[][2] = {
	{"0", "success"},
	{"1", "the job failed, diverged or was cancelled"},
	{"2", "bad command line"},
	{"3", "bad key, value or run reference"},
	{"4", "a file or the database could not be read or written"},
};

static const char *const help_environment[][2] = {
	{"QBENCH_DB", "the database when --db is not given (default qbench.db)"},
	{"QBENCH_FMNIST_DIR", "where dataset=fmnist reads Fashion-MNIST"},
};

/* Prints text wrapped to HELP_WIDTH columns, each line indented; '\n' separates paragraphs. */
static void
print_wrapped(FILE *f, const char *text, int indent, int first_col)
{
	int col = first_col;
	const char *p = text;
	if (col < indent) {
		fprintf(f, "%*s", indent - col, "");
		col = indent;
	}
	while (*p) {
		if (*p == '\n') {
			fprintf(f, "\n\n%*s", indent, "");
			col = indent;
			p++;
			continue;
		}
		size_t n = strcspn(p, " \n");
		if (col > indent && col + 1 + (int)n > HELP_WIDTH) {
			fprintf(f, "\n%*s", indent, "");
			col = indent;
		} else if (col > indent) {
			fputc(' ', f);
			col++;
		}
		fprintf(f, "%.*s", (int)n, p);
		col += (int)n;
		p += n;
		while (*p == ' ')
			p++;
	}
	fputc('\n', f);
}

static const char *
key_jobs(const struct config_key *k)
{
	static char buf[32];
	static const char *const names[] = {"train", "eval", "ptq"};
	buf[0] = '\0';
	for (int b = 0; b < 3; b++)
		if (k->jobs & (1u << b)) {
			if (buf[0])
				strcat(buf, ", ");
			strcat(buf, names[b]);
		}
	return buf;
}

static void
help_option_line(FILE *f, const struct cmd_option_info *o)
{
	char name[48];
	snprintf(name, sizeof name, "%s%s%s%s%s", o->alias ? o->alias : "", o->alias ? ", " : "",
		 o->name, o->arg ? " " : "", o->arg ? o->arg : "");
	fprintf(f, "  %-16s", name);
	print_wrapped(f, o->help, 20, 2 + (int)(strlen(name) > 16 ? strlen(name) : 16));
}

static void
help_command(FILE *f, const struct cmd_entry *e)
{
	cmd_print_usage(f, e);
	fputc('\n', f);
	print_wrapped(f, e->help, 0, 0);
	fprintf(f, "\noptions:\n");
	for (int i = 0; i < cmd_option_count(); i++) {
		const struct cmd_option_info *o = cmd_option_at(i);
		if ((e->options | CMD_OPT_GLOBAL) & o->flag)
			help_option_line(f, o);
	}
}

static void
help_keys(FILE *f)
{
	int w1 = 0, w2 = 0;
	for (int i = 0; i < config_key_count(); i++) {
		const struct config_key *k = config_key_at(i);
		char *allowed = config_key_allowed(k);
		int n1 = (int)(strlen(k->name) + 1 + strlen(k->def));
		int n2 = (int)strlen(allowed);
		w1 = n1 > w1 ? n1 : w1;
		w2 = n2 > w2 ? n2 : w2;
		free(allowed);
	}
	fprintf(f, "keys (key=default, allowed values, jobs that use the key):\n\n");
	for (int i = 0; i < config_key_count(); i++) {
		const struct config_key *k = config_key_at(i);
		char *allowed = config_key_allowed(k);
		char *kd = xasprintf("%s=%s", k->name, k->def);
		fprintf(f, "  %-*s  %-*s  %s\n", w1, kd, w2, allowed, key_jobs(k));
		print_wrapped(f, k->help, 6, 0);
		free(kd);
		free(allowed);
	}
	fprintf(f, "\nmodels (model=):\n");
	for (const char *const *a = model_arch_names(); *a; a++) {
		const char *h = model_arch_help(*a);
		fprintf(f, "  %-10s", *a);
		print_wrapped(f, h ? h : "", 14, 12);
	}
	fprintf(f, "  %-10s", "FILE.h5");
	print_wrapped(f, "a model file written by qbench (runs/ID/model.h5 or your own)", 14, 12);
	fprintf(f, "  %-10s", "run:ID");
	print_wrapped(f, "the model saved by run ID", 14, 12);
	fprintf(f, "\ndatasets (dataset=):\n");
	for (size_t i = 0; i < sizeof help_datasets / sizeof help_datasets[0]; i++) {
		fprintf(f, "  %-10s", help_datasets[i][0]);
		print_wrapped(f, help_datasets[i][1], 14, 12);
	}
}

/*
 * Writes s escaped for roff: backslashes, minus signs, and dots or quotes at
 * line starts; a newline starts a new paragraph with the request para
 * (".PP" at the top level, ".IP" inside a tagged paragraph).
 */
static void
roff_para(FILE *f, const char *s, const char *para)
{
	int bol = 1;
	for (; *s; s++) {
		if (bol && (*s == '.' || *s == '\''))
			fputs("\\&", f);
		if (*s == '\\')
			fputs("\\e", f);
		else if (*s == '-')
			fputs("\\-", f);
		else if (*s == '\n')
			fprintf(f, "\n%s\n", para);
		else
			fputc(*s, f);
		bol = *s == '\n';
	}
}

static void
roff(FILE *f, const char *s)
{
	roff_para(f, s, ".IP");
}

static void
roff_pairs(FILE *f, const char *const (*pairs)[2], size_t n)
{
	for (size_t i = 0; i < n; i++) {
		fputs(".TP\n.B ", f);
		roff(f, pairs[i][0]);
		fputc('\n', f);
		roff(f, pairs[i][1]);
		fputc('\n', f);
	}
}

static void
help_man(FILE *f)
{
	fprintf(f, ".\\\" Generated by 'qbench help man' from qbench's command, option and key\n"
		   ".\\\" tables: edit those, then run 'make update-man'.\n");
	fprintf(f, ".TH QBENCH 1 \"\" \"qbench %s\" \"User Commands\"\n", PACKAGE_VERSION);
	fprintf(f, ".SH NAME\nqbench \\- terminal workbench for neural-network quantization "
		   "research\n");
	fprintf(f, ".SH SYNOPSIS\n.B qbench\n[\\fB\\-\\-db\\fR \\fIFILE\\fR] \\fICOMMAND\\fR "
		   "[\\fIARGS\\fR ...] [\\fIOPTIONS\\fR]\n");
	fprintf(f, ".SH DESCRIPTION\n");
	roff_para(f, help_description, ".PP");
	fprintf(f, "\n.SH COMMANDS\n");
	for (int i = 0; i < cmd_count(); i++) {
		const struct cmd_entry *e = cmd_at(i);
		fprintf(f, ".TP\n\\fBqbench %s\\fR ", e->name);
		roff(f, e->args);
		fputc('\n', f);
		roff(f, e->help);
		fputc('\n', f);
	}
	fprintf(f, ".SH OPTIONS\n");
	for (int i = 0; i < cmd_option_count(); i++) {
		const struct cmd_option_info *o = cmd_option_at(i);
		fputs(".TP\n", f);
		if (o->alias) {
			fputs("\\fB", f);
			roff(f, o->alias);
			fputs("\\fR, ", f);
		}
		fputs("\\fB", f);
		roff(f, o->name);
		fputs("\\fR", f);
		if (o->arg) {
			fputs(" \\fI", f);
			roff(f, o->arg);
			fputs("\\fR", f);
		}
		fputc('\n', f);
		roff(f, o->help);
		fputc('\n', f);
	}
	fprintf(f, ".SH KEYS\n");
	for (int i = 0; i < config_key_count(); i++) {
		const struct config_key *k = config_key_at(i);
		char *allowed = config_key_allowed(k);
		fputs(".TP\n\\fB", f);
		roff(f, k->name);
		fputs("\\fR=\\fI", f);
		roff(f, k->def);
		fputs("\\fR\n", f);
		roff(f, k->help);
		fputs(". Allowed: ", f);
		roff(f, allowed);
		fputs("; used by ", f);
		roff(f, key_jobs(k));
		fputs(".\n", f);
		free(allowed);
	}
	fprintf(f, ".SH MODELS\n");
	for (const char *const *a = model_arch_names(); *a; a++) {
		const char *h = model_arch_help(*a);
		fputs(".TP\n.B ", f);
		roff(f, *a);
		fputc('\n', f);
		roff(f, h ? h : "");
		fputc('\n', f);
	}
	fprintf(f, ".SH DATASETS\n");
	roff_pairs(f, help_datasets, sizeof help_datasets / sizeof help_datasets[0]);
	fprintf(f, ".SH FILES\n.TP\n.B qbench.db\nThe database (SQLite, WAL mode); "
		   "docs/database.md describes its tables.\n"
		   ".TP\n.B runs/ID/model.h5\nThe model trained by run ID, beside the database "
		   "(HDF5; docs/formats.md).\n");
	fprintf(f, ".SH ENVIRONMENT\n");
	roff_pairs(f, help_environment, sizeof help_environment / sizeof help_environment[0]);
	fprintf(f, ".SH EXIT STATUS\n");
	roff_pairs(f, help_exit, sizeof help_exit / sizeof help_exit[0]);
	fprintf(f, ".SH SEE ALSO\n.BR sqlite3 (1),\n.BR h5dump (1)\n");
}

static int
help_exec(const struct cmd_ctx *ctx, int argc, char **argv)
{
	(void)ctx;
	if (argc == 0) {
		cmd_print_overview(stdout);
		return CMD_EXIT_OK;
	}
	if (argc > 1) {
		cmd_print_usage(stderr, &cmd_help_entry);
		return CMD_EXIT_USAGE;
	}
	const char *topic = argv[0];
	const struct cmd_entry *e = cmd_find(topic);
	if (e) {
		help_command(stdout, e);
		return CMD_EXIT_OK;
	}
	if (strcmp(topic, "keys") == 0) {
		help_keys(stdout);
		return CMD_EXIT_OK;
	}
	if (strcmp(topic, "man") == 0) {
		help_man(stdout);
		return CMD_EXIT_OK;
	}
	const char *names[34];
	int n = 0;
	for (int i = 0; i < cmd_count() && n < 32; i++)
		names[n++] = cmd_at(i)->name;
	names[n++] = "keys";
	names[n++] = "man";
	const char *near = util_nearest(topic, names, (size_t)n);
	if (near)
		return cmd_error(CMD_EXIT_USAGE, "no help on '%s' (did you mean '%s'?)", topic, near);
	return cmd_error(CMD_EXIT_USAGE, "no help on '%s'; try 'qbench help'", topic);
}

const struct cmd_entry cmd_help_entry = {
	.name = "help",
	.args = "[COMMAND|keys|man]",
	.options = 0,
	.summary = "help on commands and keys; the manual page",
	.help = "Without an argument, lists the commands. 'qbench help COMMAND' explains one "
		"command and its options; 'qbench help keys' lists every key=value key with its "
		"default, allowed values and meaning, and the models and datasets; 'qbench help "
		"man' prints the manual page (roff).",
	.exec = help_exec,
};
