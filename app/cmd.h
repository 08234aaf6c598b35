/*
 * cmd: the command table. Each subcommand is one `const struct cmd_entry`
 * (defined in its own app/cmd_<name>.c) with its usage, help and the options
 * it takes; main() parses the global options, finds the entry and calls it.
 * `qbench help` and the manual page are generated from this table and the
 * option table, so they cannot drift from what the program accepts.
 *
 * Commands print (results on stdout; progress, warnings and errors on
 * stderr, errors as "qbench: ...") and return an exit code from enum
 * cmd_exit; nothing below app/ prints.
 */
#ifndef QB_CMD_H
#define QB_CMD_H

#include <stdio.h>

struct db;

/* Exit codes, as documented in the manual page. */
enum cmd_exit {
	CMD_EXIT_OK = 0,     /* success */
	CMD_EXIT_FAILED = 1, /* the job failed, diverged or was cancelled */
	CMD_EXIT_USAGE = 2,  /* bad command line */
	CMD_EXIT_CONFIG = 3, /* bad key, value or spec */
	CMD_EXIT_IO = 4	     /* a file or the database could not be read or written */
};

/* Command-line options (bit mask); those a command does not list are refused. */
enum cmd_option {
	CMD_OPT_DB = 1,
	CMD_OPT_QUIET = 2,
	CMD_OPT_JSON = 4,
	CMD_OPT_FORCE = 8,
	CMD_OPT_VERSION = 16,
	CMD_OPT_HELP = 32,
	CMD_OPT_IN = 64,
	CMD_OPT_OUT = 128,
	CMD_OPT_FORMAT = 256,
	CMD_OPT_PIVOT = 512,
	CMD_OPT_GROUP = 1024,
	CMD_OPT_JOBS = 2048,
	CMD_OPT_DRY_RUN = 4096,
	CMD_OPT_RESUME = 8192,
	CMD_OPT_SORT = 16384,
	CMD_OPT_ALL = 32768,
	CMD_OPT_MONO = 65536
};
/* Options every command takes. */
#define CMD_OPT_GLOBAL (CMD_OPT_DB | CMD_OPT_VERSION | CMD_OPT_HELP)

/* One option (a row of the option table in cmd.c). */
struct cmd_option_info {
	const char *name;  /* "--db" */
	const char *alias; /* "-q", or NULL */
	const char *arg;   /* "FILE", or NULL for a flag */
	enum cmd_option flag;
	const char *help;
};

/* What main() parsed, handed to every command. */
struct cmd_ctx {
	const char *db_path; /* --db, $QBENCH_DB or "qbench.db" */
	int quiet, json, force;
	const char *in_path, *out_path; /* --in, --out/-o (NULL when not given) */
	const char *format;	     /* --format (NULL when not given) */
	const char *pivot;	     /* --pivot ROWS:COLS:METRIC */
	const char *group;	     /* --group all-but-seed, or keys averaged over */
	const char *sort;	     /* --sort COLUMN (a leading '-' sorts descending) */
	int jobs;		     /* -j N (0 when not given) */
	int dry_run, resume, all;    /* --dry-run, --resume, --all */
	int mono;		     /* --mono (or NO_COLOR set) */
	long long run_id;	     /* qbench job: the run this process claimed (0 otherwise) */
	unsigned given;	     /* enum cmd_option bits given on the command line */
};

struct cmd_entry {
	const char *name;
	const char *args;    /* usage after the name: "[k=v ...]" */
	unsigned options;    /* enum cmd_option bits beyond CMD_OPT_GLOBAL */
	const char *summary; /* one line, lower case, no full stop */
	const char *help;    /* paragraphs for `qbench help NAME` and the manual */
	/* Runs the command on its arguments (options removed); returns enum cmd_exit. */
	int (*exec)(const struct cmd_ctx *ctx, int argc, char **argv);
};

extern const struct cmd_entry cmd_train_entry;
extern const struct cmd_entry cmd_eval_entry;
extern const struct cmd_entry cmd_ls_entry;
extern const struct cmd_entry cmd_show_entry;
extern const struct cmd_entry cmd_help_entry;
extern const struct cmd_entry cmd_levels_entry;
extern const struct cmd_entry cmd_quant_entry;
extern const struct cmd_entry cmd_ptq_entry;
extern const struct cmd_entry cmd_sweep_entry;
extern const struct cmd_entry cmd_job_entry;
extern const struct cmd_entry cmd_compare_entry;
extern const struct cmd_entry cmd_export_entry;
extern const struct cmd_entry cmd_plot_entry;
extern const struct cmd_entry cmd_tui_entry;

/* Opens the workbench on this terminal (qbench alone, qbench tui); returns an exit code. */
int cmd_tui_open(const struct cmd_ctx *ctx);

struct results;
struct results_opts;
/*
 * The table of `ls` and `export`: argv are filter terms (a word that is not
 * one is a usage error, before the database is opened), --group and --sort
 * come from ctx, the rest of *o (all_params, a default sort) from the caller.
 * Returns CMD_EXIT_OK with the open database in *db and the table in *out
 * (the caller closes and frees both), or prints the error and returns its
 * exit code (4 for a database error, 3 for a bad key or value, 2 for usage).
 */
int cmd_results(const struct cmd_ctx *ctx, int argc, char **argv, struct results_opts *o,
		struct db **db, struct results **out);

/*
 * Prints a results table (db/results.h) to f as `qbench ls` does: id, status,
 * the columns that vary, the main results; grouped results as mean ± std (n).
 */
void cmd_print_results(const struct results *r, FILE *f);

struct quant;
/*
 * Builds the quantizer described by the k=v arguments scheme, bits, role
 * (w|a), alpha, variant (app/cmd_levels.c). Returns 0 and *out (quant_free),
 * or -1 with *cause.
 */
int cmd_quant_spec(struct quant **out, int argc, char **argv, char **cause);
/* 1 when q's output set is symmetric about 0 (large negative inputs map below 0). */
int cmd_quant_is_signed(struct quant *q);

/* The command table, in the order help lists it: count and i-th entry. */
int cmd_count(void);
const struct cmd_entry *cmd_at(int i);
/* The entry named name, or NULL. */
const struct cmd_entry *cmd_find(const char *name);
/* The command name nearest to an unknown one (NULL when none is close). */
const char *cmd_nearest(const char *name);

/* The option table: count and i-th row. */
int cmd_option_count(void);
const struct cmd_option_info *cmd_option_at(int i);

/* "usage: qbench NAME ARGS [options]" for entry e into f (one line). */
void cmd_print_usage(FILE *f, const struct cmd_entry *e);
/*
 * A shipped sweep: "quick" or "quick.sweep" in $QBENCH_SWEEPS, beside the
 * executable (the build tree's experiments/), or the installed
 * experiments/ folder. Returns the path (malloc'd), or NULL when none has it.
 */
char *cmd_find_sweep(const char *name);

/* The top-level usage: synopsis and the command list (for `qbench` and `qbench help`). */
void cmd_print_overview(FILE *f);

/*
 * Prints "qbench: " and the formatted message to stderr, then returns code
 * (so a command can `return cmd_error(CMD_EXIT_CONFIG, "%s", cause);`).
 */
int cmd_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The last message cmd_error printed (without "qbench: "), or NULL; static. */
const char *cmd_last_error(void);

/*
 * Opens the database named by ctx (creating it when create is nonzero).
 * Returns 0, or prints the error and returns CMD_EXIT_IO.
 */
int cmd_open_db(const struct cmd_ctx *ctx, int create, struct db **out);

/*
 * Parses a run reference, "7" or "run:7", into *id (> 0). Returns 0, or -1
 * when s is neither.
 */
int cmd_parse_run_id(const char *s, long long *id);

#endif
