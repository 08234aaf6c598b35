/*
 * cmd_ls: `qbench ls [key=value ...]`, the runs as a table, oldest first.
 *
 * A filter compares a run's status, its id, or one of its configuration
 * params; values are compared in canonical form, so lr=.1 finds lr=0.1.
 * Several filters must all hold.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "app/cmd.h"
#include "app/json.h"
#include "app/table.h"
#include "db/db.h"
#include "db/runs.h"
#include "engine/util.h"
#include "experiments/config.h"

static const char *const ls_params[] = {"job", "model", "dataset", "epochs"};
static const char *const ls_results[] = {"test_acc", "time_s"};
#define LS_NPARAMS 4
#define LS_NRESULTS 2

/* Checks one filter: its key and canonical value go to *key and *value (malloc'd). */
static int
ls_filter(const char *arg, char **key, char **value)
{
	char *cause = NULL;
	int ret = CMD_EXIT_OK;
	const char *eq = strchr(arg, '=');
	*value = NULL;
	if (!eq || eq == arg)
		return cmd_error(CMD_EXIT_USAGE, "expected a filter key=value, got '%s'", arg);
	*key = xasprintf("%.*s", (int)(eq - arg), arg);
	const char *v = eq + 1;
	if (strcmp(*key, "status") == 0) {
		enum run_status st;
		const char *names[RUN_STATUS_COUNT];
		for (int i = 0; i < RUN_STATUS_COUNT; i++)
			names[i] = run_status_name((enum run_status)i);
		const char *near = util_nearest(v, names, RUN_STATUS_COUNT);
		if (run_status_parse(v, &st) == 0)
			*value = xstrdup(v);
		else if (near)
			ret = cmd_error(CMD_EXIT_CONFIG,
					"bad value '%s' for status: expected queued, running, done, "
					"failed, diverged or cancelled (did you mean '%s'?)",
					v, near);
		else
			ret = cmd_error(CMD_EXIT_CONFIG,
					"bad value '%s' for status: expected queued, running, done, "
					"failed, diverged or cancelled",
					v);
	} else if (strcmp(*key, "id") == 0) {
		long long id;
		if (cmd_parse_run_id(v, &id) == 0)
			*value = xasprintf("%lld", id);
		else
			ret = cmd_error(CMD_EXIT_CONFIG, "bad value '%s' for id: expected a run number",
					v);
	} else if (config_canonical(*key, v, value, &cause) < 0) {
		ret = cmd_error(CMD_EXIT_CONFIG, "%s", cause);
	}
	free(cause);
	return ret;
}

/* The last path component of a model file, for a narrow column. */
static const char *
short_model(const char *model)
{
	const char *slash = model ? strrchr(model, '/') : NULL;
	return slash ? slash + 1 : model;
}

static void
ls_print_json(const struct run_table *t)
{
	struct json js;
	json_begin(&js, stdout);
	json_array(&js, NULL);
	for (int i = 0; i < t->nrows; i++) {
		const struct run_info *r = &t->info[i];
		char *const *p = &t->params[(size_t)i * LS_NPARAMS];
		const double *v = &t->results[(size_t)i * LS_NRESULTS];
		json_object(&js, NULL);
		json_int(&js, "id", r->id);
		json_string(&js, "status", run_status_name(r->status));
		json_string(&js, "key", r->key);
		for (int k = 0; k < LS_NPARAMS; k++) {
			if (strcmp(ls_params[k], "epochs") == 0 && p[k])
				json_int(&js, ls_params[k], atoll(p[k]));
			else
				json_string(&js, ls_params[k], p[k]);
		}
		for (int k = 0; k < LS_NRESULTS; k++)
			json_number(&js, ls_results[k], v[k]);
		json_string(&js, "created_at", r->created_at);
		json_object_end(&js);
	}
	json_array_end(&js);
	json_end(&js);
}

static void
ls_print_table(const struct run_table *t)
{
	static const char *const headers[] = {"id",	"status",   "job",  "model",  "dataset",
					      "epochs", "test_acc", "time", "created"};
	struct table *tb = table_new(9, headers);
	table_align_right(tb, 0);
	table_align_right(tb, 5);
	table_align_right(tb, 6);
	table_align_right(tb, 7);
	for (int i = 0; i < t->nrows; i++) {
		const struct run_info *r = &t->info[i];
		char *const *p = &t->params[(size_t)i * LS_NPARAMS];
		const double *v = &t->results[(size_t)i * LS_NRESULTS];
		char id[32], acc[32] = "-", time[32] = "-";
		snprintf(id, sizeof id, "%lld", (long long)r->id);
		if (isfinite(v[0]))
			snprintf(acc, sizeof acc, "%.4f", v[0]);
		if (isfinite(v[1]))
			snprintf(time, sizeof time, "%.1fs", v[1]);
		const char *row[] = {id,    run_status_name(r->status), p[0], short_model(p[1]), p[2],
				     p[3], acc, time, r->created_at};
		table_add_row(tb, row);
	}
	table_print(tb, stdout, "");
	table_free(tb);
}

static int
ls_exec(const struct cmd_ctx *ctx, int argc, char **argv)
{
	struct run_filter *filters = xcalloc((size_t)argc + 1, sizeof *filters);
	char **keys = xcalloc((size_t)argc + 1, sizeof *keys);
	char **values = xcalloc((size_t)argc + 1, sizeof *values);
	struct db *db = NULL;
	struct run_table *t = NULL;
	char *cause = NULL;
	int ret = CMD_EXIT_OK, nf = 0;
	for (; nf < argc && ret == CMD_EXIT_OK; nf++) {
		ret = ls_filter(argv[nf], &keys[nf], &values[nf]);
		filters[nf].key = keys[nf];
		filters[nf].value = values[nf];
	}
	if (ret != CMD_EXIT_OK || (ret = cmd_open_db(ctx, 0, &db)) != CMD_EXIT_OK)
		goto out;
	if (runs_list(db, filters, nf, ls_params, LS_NPARAMS, ls_results, LS_NRESULTS, &t, &cause) <
	    0) {
		ret = cmd_error(CMD_EXIT_IO, "%s", cause);
		goto out;
	}
	if (ctx->json)
		ls_print_json(t);
	else
		ls_print_table(t);
out:
	for (int i = 0; i < nf; i++) {
		free(keys[i]);
		free(values[i]);
	}
	free(keys);
	free(filters);
	free(values);
	run_table_free(t);
	db_close(db);
	free(cause);
	return ret;
}

const struct cmd_entry cmd_ls_entry = {
	.name = "ls",
	.args = "[key=value ...]",
	.options = CMD_OPT_JSON,
	.summary = "list runs as a table, oldest first",
	.help = "Lists the runs in the database: id, status, job, model, dataset, epochs, test "
		"accuracy, training time and creation time (UTC). Filters keep the runs whose "
		"status, id or configuration key has the given value, e.g. 'qbench ls "
		"status=done optim=adam'; numbers match in any spelling (lr=.1 is lr=0.1).",
	.exec = ls_exec,
};
