/*
 * cmd_compare: `qbench compare RUN RUN...`, runs side by side, one column
 * per run in the order given: the status and the configuration keys whose
 * values differ (every key with --all), the results, then the main
 * per-layer statistics (layers x runs).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "app/cmd.h"
#include "app/json.h"
#include "app/table.h"
#include "db/db.h"
#include "db/export.h"
#include "db/query.h"
#include "db/results.h"
#include "db/runs.h"
#include "engine/util.h"

/* The per-layer statistics compared, in this order (those some run has). */
static const char *const compare_layer_stats[] = {"sqnr_w", "sqnr_a", "bits_w",
						  "bits_a", "clip_w", "ocs_splits"};
#define COMPARE_NSTATS 6

/* Everything compare shows. */
struct compare_data {
	int nruns;
	long long *ids;            /* as given */
	int *row;                  /* per run, its row of res */
	struct results *res;       /* one row per distinct run, every key */
	struct run_values *layers; /* per run */
	char **layer_names;        /* every layer any run has, by index */
	int nlayers;
	int stat_present[COMPARE_NSTATS];
};

static void
compare_data_done(struct compare_data *d)
{
	for (int i = 0; d->layers && i < d->nruns; i++)
		run_values_done(&d->layers[i]);
	free(d->layers);
	for (int i = 0; i < d->nlayers; i++)
		free(d->layer_names[i]);
	free(d->layer_names);
	results_free(d->res);
	free(d->row);
}

/* Layer order: numeric prefix, then name. */
static int
layer_cmp(const char *a, const char *b)
{
	long x = strtol(a, NULL, 10), y = strtol(b, NULL, 10);
	if (x != y)
		return x < y ? -1 : 1;
	return strcmp(a, b);
}

/* The union of the runs' layers (those with a compared statistic), in layer order. */
static void
collect_layers(struct compare_data *d)
{
	for (int i = 0; i < d->nruns; i++)
		for (int k = 0; k < d->layers[i].n; k++) {
			const struct run_value *v = &d->layers[i].v[k];
			int stat = -1, seen = 0;
			for (int s = 0; s < COMPARE_NSTATS; s++)
				if (strcmp(v->name, compare_layer_stats[s]) == 0)
					stat = s;
			if (stat < 0 || !v->layer)
				continue;
			d->stat_present[stat] = 1;
			for (int j = 0; j < d->nlayers && !seen; j++)
				seen = strcmp(d->layer_names[j], v->layer) == 0;
			if (seen)
				continue;
			d->layer_names = xrealloc(d->layer_names, (size_t)(d->nlayers + 1) *
									  sizeof *d->layer_names);
			int j = d->nlayers++;
			for (; j > 0 && layer_cmp(d->layer_names[j - 1], v->layer) > 0; j--)
				d->layer_names[j] = d->layer_names[j - 1];
			d->layer_names[j] = xstrdup(v->layer);
		}
}

/* Run i's value of stat in layer, NaN when it has none. */
static double
layer_value(const struct compare_data *d, int i, const char *layer, const char *stat)
{
	for (int k = 0; k < d->layers[i].n; k++) {
		const struct run_value *v = &d->layers[i].v[k];
		if (v->layer && strcmp(v->layer, layer) == 0 && strcmp(v->name, stat) == 0)
			return v->value;
	}
	return NAN;
}

/* Nonzero when some run has stat in layer. */
static int
layer_has(const struct compare_data *d, const char *layer, const char *stat)
{
	for (int i = 0; i < d->nruns; i++)
		if (!isnan(layer_value(d, i, layer, stat)))
			return 1;
	return 0;
}

/* Nonzero when result column c has a value for some run. */
static int
result_present(const struct compare_data *d, int c)
{
	for (int i = 0; i < d->res->nrows; i++)
		if (!isnan(results_cell(d->res, i, c)->mean))
			return 1;
	return 0;
}

/* Whether param column c is shown (it differs, or --all). */
static int
param_shown(const struct compare_data *d, int c, int all)
{
	return d->res->cols[c].kind == RESULTS_COL_PARAM && (all || d->res->cols[c].varies);
}

/* A table with a label column and one column per run. */
static struct table *
runs_table(const struct compare_data *d, const char *first, int extra)
{
	const char **head = xcalloc((size_t)d->nruns + 2, sizeof *head);
	char **labels = xcalloc((size_t)d->nruns + 1, sizeof *labels);
	head[0] = first;
	if (extra)
		head[1] = "stat";
	for (int i = 0; i < d->nruns; i++) {
		labels[i] = xasprintf("run %lld", d->ids[i]);
		head[i + 1 + extra] = labels[i];
	}
	struct table *t = table_new(d->nruns + 1 + extra, head);
	for (int i = 0; i < d->nruns; i++) {
		table_align_right(t, i + 1 + extra);
		free(labels[i]);
	}
	free(labels);
	free(head);
	return t;
}

/* One row: label (and stat), then the runs' texts. */
static void
add_row(struct table *t, const struct compare_data *d, const char *label, const char *stat,
	char **texts)
{
	const char **cells = xcalloc((size_t)d->nruns + 2, sizeof *cells);
	int k = 0;
	cells[k++] = label;
	if (stat)
		cells[k++] = stat;
	for (int i = 0; i < d->nruns; i++)
		cells[k++] = texts[i];
	table_add_row(t, cells);
	free(cells);
}

static void
compare_text(const struct compare_data *d, int all)
{
	const struct results *r = d->res;
	char **texts = xcalloc((size_t)d->nruns + 1, sizeof *texts);
	struct table *t = runs_table(d, "", 0);
	int status = results_col_find(r, "status");
	for (int c = 0; c < r->ncols; c++) {
		int shown = c == status || param_shown(d, c, all) ||
			    (r->cols[c].kind == RESULTS_COL_RESULT && result_present(d, c));
		if (!shown)
			continue;
		for (int i = 0; i < d->nruns; i++) {
			const struct results_cell *cell = results_cell(r, d->row[i], c);
			char buf[64] = "-";
			if (r->cols[c].kind == RESULTS_COL_RESULT) {
				if (!isnan(cell->mean))
					export_number(buf, sizeof buf, r->cols[c].name, cell->mean);
				texts[i] = xstrdup(buf);
			} else {
				texts[i] = cell->text ? xstrdup(cell->text) : NULL;
			}
		}
		add_row(t, d, r->cols[c].name, NULL, texts);
		for (int i = 0; i < d->nruns; i++) {
			free(texts[i]);
			texts[i] = NULL;
		}
	}
	table_print(t, stdout, "");
	table_free(t);
	if (d->nlayers == 0)
		goto out;
	printf("\nlayers:\n");
	t = runs_table(d, "layer", 1);
	for (int l = 0; l < d->nlayers; l++) {
		int first = 1;
		for (int s = 0; s < COMPARE_NSTATS; s++) {
			const char *stat = compare_layer_stats[s];
			if (!d->stat_present[s] || !layer_has(d, d->layer_names[l], stat))
				continue;
			for (int i = 0; i < d->nruns; i++) {
				char buf[64] = "-";
				double v = layer_value(d, i, d->layer_names[l], stat);
				if (!isnan(v))
					export_number(buf, sizeof buf, stat, v);
				texts[i] = xstrdup(buf);
			}
			add_row(t, d, first ? d->layer_names[l] : "", stat, texts);
			first = 0;
			for (int i = 0; i < d->nruns; i++) {
				free(texts[i]);
				texts[i] = NULL;
			}
		}
	}
	table_print(t, stdout, "  ");
	table_free(t);
out:
	free(texts);
}

static void
compare_json(const struct compare_data *d, int all)
{
	const struct results *r = d->res;
	struct json js;
	json_begin(&js, stdout);
	json_object(&js, NULL);
	json_array(&js, "runs");
	for (int i = 0; i < d->nruns; i++)
		json_int(&js, NULL, d->ids[i]);
	json_array_end(&js);
	json_array(&js, "status");
	for (int i = 0; i < d->nruns; i++)
		json_string(&js, NULL,
			    results_cell(r, d->row[i], results_col_find(r, "status"))->text);
	json_array_end(&js);
	json_object(&js, "config");
	for (int c = 0; c < r->ncols; c++) {
		if (!param_shown(d, c, all))
			continue;
		json_array(&js, r->cols[c].name);
		for (int i = 0; i < d->nruns; i++) {
			const struct results_cell *cell = results_cell(r, d->row[i], c);
			if (r->cols[c].numeric && cell->text)
				json_number(&js, NULL, cell->mean);
			else
				json_string(&js, NULL, cell->text);
		}
		json_array_end(&js);
	}
	json_object_end(&js);
	json_object(&js, "results");
	for (int c = 0; c < r->ncols; c++) {
		if (r->cols[c].kind != RESULTS_COL_RESULT || !result_present(d, c))
			continue;
		json_array(&js, r->cols[c].name);
		for (int i = 0; i < d->nruns; i++)
			json_number(&js, NULL, results_cell(r, d->row[i], c)->mean);
		json_array_end(&js);
	}
	json_object_end(&js);
	json_array(&js, "layers");
	for (int l = 0; l < d->nlayers; l++) {
		json_object(&js, NULL);
		json_string(&js, "layer", d->layer_names[l]);
		for (int s = 0; s < COMPARE_NSTATS; s++) {
			if (!d->stat_present[s] ||
			    !layer_has(d, d->layer_names[l], compare_layer_stats[s]))
				continue;
			json_array(&js, compare_layer_stats[s]);
			for (int i = 0; i < d->nruns; i++)
				json_number(&js, NULL,
					    layer_value(d, i, d->layer_names[l],
							compare_layer_stats[s]));
			json_array_end(&js);
		}
		json_object_end(&js);
	}
	json_array_end(&js);
	json_object_end(&js);
	json_end(&js);
}

/* Reads what compare shows: the runs' table (query id=A,B,...) and their layers. */
static int
compare_load(struct db *db, struct compare_data *d, char **cause)
{
	struct query *q = NULL;
	char *term = xstrdup("id="), *t;
	int ret = -1;
	for (int i = 0; i < d->nruns; i++) {
		t = xasprintf("%s%s%lld", term, i ? "," : "", d->ids[i]);
		free(term);
		term = t;
	}
	struct results_opts o = {.all_params = 1, .sort = "id"};
	if (query_parse(&q, db, 1, &term, cause) < 0 ||
	    results_build(db, q, &o, &d->res, cause) < 0)
		goto out;
	d->row = xcalloc((size_t)d->nruns, sizeof *d->row);
	d->layers = xcalloc((size_t)d->nruns, sizeof *d->layers);
	for (int i = 0; i < d->nruns; i++) {
		for (int k = 0; k < d->res->nrows; k++)
			if (d->res->row_ids[k][0] == d->ids[i])
				d->row[i] = k;
		if (runs_get_layers(db, d->ids[i], &d->layers[i], cause) < 0)
			goto out;
	}
	collect_layers(d);
	ret = 0;
out:
	query_free(q);
	free(term);
	return ret;
}

static int
compare_exec(const struct cmd_ctx *ctx, int argc, char **argv)
{
	struct compare_data d;
	struct db *db = NULL;
	char *cause = NULL;
	int ret;
	memset(&d, 0, sizeof d);
	if (argc < 2) {
		cmd_print_usage(stderr, &cmd_compare_entry);
		return cmd_error(CMD_EXIT_USAGE, "compare needs two runs or more, got %d", argc);
	}
	d.nruns = argc;
	d.ids = xcalloc((size_t)argc, sizeof *d.ids);
	for (int i = 0; i < argc; i++)
		if (cmd_parse_run_id(argv[i], &d.ids[i]) < 0) {
			ret = cmd_error(CMD_EXIT_USAGE,
					"expected a run number (7 or run:7), got '%s'", argv[i]);
			goto out;
		}
	if ((ret = cmd_open_db(ctx, 0, &db)) != CMD_EXIT_OK)
		goto out;
	for (int i = 0; i < argc; i++) {
		struct run_info *info = NULL;
		if (runs_get(db, d.ids[i], &info, &cause) < 0) {
			ret = cmd_error(strncmp(cause, "no run ", 7) == 0 ? CMD_EXIT_CONFIG
									  : CMD_EXIT_IO,
					"%s", cause);
			goto out;
		}
		run_info_free(info);
	}
	if (compare_load(db, &d, &cause) < 0) {
		ret = cmd_error(CMD_EXIT_IO, "%s", cause);
		goto out;
	}
	if (ctx->json)
		compare_json(&d, ctx->all);
	else
		compare_text(&d, ctx->all);
out:
	compare_data_done(&d);
	free(d.ids);
	db_close(db);
	free(cause);
	return ret;
}

const struct cmd_entry cmd_compare_entry = {
	.name = "compare",
	.args = "RUN RUN [RUN ...]",
	.options = CMD_OPT_JSON | CMD_OPT_ALL,
	.summary = "runs side by side: differing keys, results, layers",
	.help = "Shows two runs or more (RUN is an id, 7 or run:7) side by side, one column per "
		"run in the order given: the status, the configuration keys whose values differ "
		"(every key with --all), every result, and per layer the main statistics that the "
		"runs recorded (sqnr_w, sqnr_a, bits_w, bits_a, clip_w, ocs_splits). Example: "
		"'qbench compare 3 7 12' to see what clipping and splitting changed between three "
		"post-training quantizations of one model.",
	.exec = compare_exec,
};
