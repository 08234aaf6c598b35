/*
 * cmd_show: `qbench show RUN`, everything recorded about one run: its row,
 * its configuration (params), final results, the per-epoch curve (metrics
 * pivoted to one row per step) and the per-layer table (layer statistics
 * pivoted to one row per layer).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "app/cmd.h"
#include "app/job.h"
#include "app/json.h"
#include "app/table.h"
#include "db/db.h"
#include "db/export.h"
#include "db/runs.h"
#include "engine/io_h5.h"
#include "engine/model.h"
#include "engine/ptq/ptq.h"
#include "engine/util.h"

/* Bins shown per border layer (wider grids are summarised in one row). */
#define SHOW_BORDER_BINS 16

/* Everything show prints, read from the database. */
struct show_data {
	struct run_info *run;
	char **keys, **values;
	int nparams;
	struct run_values results, metrics, layers;
	struct model *model; /* a PTQ run's saved model, when it has learned borders */
	struct ptq *ptq;
};

static void
show_data_done(struct show_data *d)
{
	run_info_free(d->run);
	run_params_free(d->keys, d->values, d->nparams);
	run_values_done(&d->results);
	run_values_done(&d->metrics);
	run_values_done(&d->layers);
	ptq_free(d->ptq);
	model_free(d->model);
}

/*
 * Loads the PTQ model of run r when it has learned activation borders (file
 * below db_file's directory); a file that cannot be read is reported in
 * *cause (show then goes on without the borders).
 */
static void
load_borders(struct show_data *d, const char *db_file, char **cause)
{
	if (!d->run->model_path)
		return;
	char *path = job_db_relative(db_file, d->run->model_path);
	struct io_h5_groups gs = {0};
	if (io_h5_read_groups(path, "quant", &gs, cause) == 0 && ptq_is_ptq(&gs) &&
	    io_h5_load_model(&d->model, path, cause) == 0 &&
	    ptq_import(&d->ptq, d->model, &gs, path, cause) == 0 &&
	    ptq_border_layers(d->ptq) == 0) {
		ptq_free(d->ptq);
		d->ptq = NULL;
	}
	io_h5_groups_free(&gs);
	free(path);
}

/* The learned activation borders, per layer and bin (mean, min, max over channels). */
static void
show_borders(const struct show_data *d)
{
	printf("\nactivation borders (B per bin over channels; 0.5 = round to nearest):\n");
	struct table *t = table_new(5, (const char *const[]){"layer", "bin", "mean", "min", "max"});
	for (int c = 1; c < 5; c++)
		table_align_right(t, c);
	double mean[256], lo[256], hi[256];
	for (int i = 0; i < ptq_border_layers(d->ptq); i++) {
		const char *group;
		int bins = ptq_border_stats(d->ptq, i, &group, mean, lo, hi, 256);
		char b[16], m[32], l[32], h[32];
		if (bins > SHOW_BORDER_BINS) {
			double sm = 0, sl = 1, sh = 0;
			for (int k = 0; k < bins; k++) {
				sm += mean[k] / bins;
				sl = lo[k] < sl ? lo[k] : sl;
				sh = hi[k] > sh ? hi[k] : sh;
			}
			snprintf(b, sizeof b, "all %d", bins);
			snprintf(m, sizeof m, "%.4f", sm);
			snprintf(l, sizeof l, "%.4f", sl);
			snprintf(h, sizeof h, "%.4f", sh);
			table_add_row(t, (const char *const[]){group, b, m, l, h});
			continue;
		}
		for (int k = 0; k < bins; k++) {
			snprintf(b, sizeof b, "%d", k);
			snprintf(m, sizeof m, "%.4f", mean[k]);
			snprintf(l, sizeof l, "%.4f", lo[k]);
			snprintf(h, sizeof h, "%.4f", hi[k]);
			table_add_row(t, (const char *const[]){k ? "" : group, b, m, l, h});
		}
	}
	table_print(t, stdout, "  ");
	table_free(t);
}

/* The layer a statistic belongs to ("" if none). */
static const char *
layer_of(const struct run_value *v)
{
	return v->layer ? v->layer : "";
}

/* Sort rank of a curve column: the usual metrics first, epoch time last. */
static int
metric_rank(const char *name)
{
	static const char *const order[] = {"train_loss", "train_acc", "test_loss", "test_acc", "lr"};
	for (int i = 0; i < 5; i++)
		if (strcmp(name, order[i]) == 0)
			return i;
	return strcmp(name, "epoch_time_s") == 0 ? 7 : 6;
}

/* Sort rank of a layer column: out shape, params, macs, then the rest. */
static int
layer_stat_rank(const char *name)
{
	static const char *const order[] = {"out_c", "out_h", "out_w", "params", "macs"};
	for (int i = 0; i < 5; i++)
		if (strcmp(name, order[i]) == 0)
			return i;
	return 5;
}

/* Distinct names of vals in first-seen order (pointers into vals). */
static int
distinct_names(const struct run_values *vals, const char **names, int (*rank)(const char *))
{
	int n = 0;
	for (int i = 0; i < vals->n; i++) {
		int seen = 0;
		for (int k = 0; k < n && !seen; k++)
			seen = strcmp(names[k], vals->v[i].name) == 0;
		if (!seen)
			names[n++] = vals->v[i].name;
	}
	/* insertion sort by rank, then by name */
	for (int i = 1; i < n; i++)
		for (int k = i; k > 0; k--) {
			int ra = rank(names[k - 1]), rb = rank(names[k]);
			if (ra < rb || (ra == rb && strcmp(names[k - 1], names[k]) <= 0))
				break;
			const char *t = names[k];
			names[k] = names[k - 1];
			names[k - 1] = t;
		}
	return n;
}

/* A value as export_number() writes it, "-" when missing. */
static void
format_value(char *buf, size_t n, const char *name, double v)
{
	if (!isfinite(v))
		snprintf(buf, n, "-");
	else
		export_number(buf, n, name, v);
}

static void
show_row(struct table *t, const char *label, const char *value)
{
	if (value)
		table_add_row(t, (const char *const[]){label, value});
}

/* Per-layer metrics are named "LAYER/NAME" (quantized runs). */
static int
is_layer_metric(const char *name)
{
	return strchr(name, '/') != NULL;
}

/* Removes the names that keep(name) rejects; returns the new count. */
static int
filter_names(const char **names, int n, int keep_layer_metrics)
{
	int m = 0;
	for (int k = 0; k < n; k++)
		if (is_layer_metric(names[k]) == keep_layer_metrics)
			names[m++] = names[k];
	return m;
}

static void
show_curve(const struct show_data *d)
{
	const char **names = xcalloc((size_t)d->metrics.n + 1, sizeof *names);
	int nn = filter_names(names, distinct_names(&d->metrics, names, metric_rank), 0);
	const char **head = xcalloc((size_t)nn + 1, sizeof *head);
	char **cells = xcalloc((size_t)nn + 1, sizeof *cells);
	head[0] = "epoch";
	for (int k = 0; k < nn; k++)
		head[k + 1] = names[k];
	struct table *t = table_new(nn + 1, head);
	for (int k = 0; k <= nn; k++)
		table_align_right(t, k);
	for (int i = 0; i < d->metrics.n;) {
		int64_t step = d->metrics.v[i].step;
		for (int k = 0; k <= nn; k++) {
			free(cells[k]);
			cells[k] = NULL;
		}
		cells[0] = xasprintf("%lld", (long long)step);
		for (; i < d->metrics.n && d->metrics.v[i].step == step; i++)
			for (int k = 0; k < nn; k++)
				if (strcmp(names[k], d->metrics.v[i].name) == 0) {
					char buf[64];
					format_value(buf, sizeof buf, names[k], d->metrics.v[i].value);
					free(cells[k + 1]);
					cells[k + 1] = xstrdup(buf);
				}
		table_add_row(t, (const char *const *)cells);
	}
	printf("\nepochs:\n");
	table_print(t, stdout, "  ");
	table_free(t);
	for (int k = 0; k <= nn; k++)
		free(cells[k]);
	free(cells);
	free(head);
	free(names);
}

/*
 * The quantizers' per-epoch values (clips, SQNR) as rows LAYER METRIC with one
 * column per epoch (at most SHOW_MAX_EPOCH_COLUMNS, evenly spaced, first and
 * last included). LCQ's θ is left to --json.
 */
#define SHOW_MAX_EPOCH_COLUMNS 10
static void
show_layer_curves(const struct show_data *d)
{
	const char **names = xcalloc((size_t)d->metrics.n + 1, sizeof *names);
	int nn = filter_names(names, distinct_names(&d->metrics, names, metric_rank), 1), m = 0;
	for (int k = 0; k < nn; k++)
		if (!strstr(names[k], "/theta_"))
			names[m++] = names[k];
	nn = m;
	int64_t *steps = xcalloc((size_t)d->metrics.n + 1, sizeof *steps);
	int ns = 0;
	for (int i = 0; i < d->metrics.n; i++)
		if (ns == 0 || steps[ns - 1] != d->metrics.v[i].step)
			steps[ns++] = d->metrics.v[i].step;
	if (nn == 0 || ns == 0)
		goto out;
	int nc = ns < SHOW_MAX_EPOCH_COLUMNS ? ns : SHOW_MAX_EPOCH_COLUMNS;
	int64_t *cols = xcalloc((size_t)nc, sizeof *cols);
	for (int c = 0; c < nc; c++)
		cols[c] = steps[nc == 1 ? ns - 1 : (int)((long long)c * (ns - 1) / (nc - 1))];
	const char **head = xcalloc((size_t)nc + 2, sizeof *head);
	char **labels = xcalloc((size_t)nc, sizeof *labels);
	head[0] = "layer";
	head[1] = "metric";
	for (int c = 0; c < nc; c++) {
		labels[c] = xasprintf("epoch %lld", (long long)cols[c]);
		head[c + 2] = labels[c];
	}
	struct table *t = table_new(nc + 2, head);
	for (int c = 0; c < nc; c++)
		table_align_right(t, c + 2);
	char **cells = xcalloc((size_t)nc + 2, sizeof *cells);
	for (int k = 0; k < nn; k++) {
		const char *slash = strchr(names[k], '/');
		cells[0] = xasprintf("%.*s", (int)(slash - names[k]), names[k]);
		cells[1] = xstrdup(slash + 1);
		for (int c = 0; c < nc; c++) {
			char buf[64] = "-";
			for (int i = 0; i < d->metrics.n; i++)
				if (d->metrics.v[i].step == cols[c] &&
				    strcmp(d->metrics.v[i].name, names[k]) == 0)
					format_value(buf, sizeof buf, slash + 1, d->metrics.v[i].value);
			cells[c + 2] = xstrdup(buf);
		}
		table_add_row(t, (const char *const *)cells);
		for (int c = 0; c < nc + 2; c++) {
			free(cells[c]);
			cells[c] = NULL;
		}
	}
	printf("\nquantizers per epoch (clips; SQNR in dB on the calibration batch):\n");
	table_print(t, stdout, "  ");
	table_free(t);
	for (int c = 0; c < nc; c++)
		free(labels[c]);
	free(labels);
	free(cells);
	free(head);
	free(cols);
out:
	free(steps);
	free(names);
}

static void
show_layers(const struct show_data *d)
{
	const char **names = xcalloc((size_t)d->layers.n + 1, sizeof *names);
	int nn = distinct_names(&d->layers, names, layer_stat_rank);
	/* columns: layer, kind, out, then every statistic but the out_* ones */
	const char **head = xcalloc((size_t)nn + 3, sizeof *head);
	int ncol = 0, first_stat;
	head[ncol++] = "layer";
	head[ncol++] = "kind";
	head[ncol++] = "out";
	first_stat = ncol;
	for (int k = 0; k < nn; k++)
		if (strncmp(names[k], "out_", 4) != 0)
			head[ncol++] = names[k];
	struct table *t = table_new(ncol, head);
	for (int k = first_stat; k < ncol; k++)
		table_align_right(t, k);
	char **cells = xcalloc((size_t)ncol, sizeof *cells);
	for (int i = 0; i < d->layers.n;) {
		const char *layer = layer_of(&d->layers.v[i]);
		const char *us = strchr(layer, '_');
		double oc = NAN, oh = NAN, ow = NAN;
		for (int k = 0; k < ncol; k++) {
			free(cells[k]);
			cells[k] = NULL;
		}
		cells[0] = xstrdup(layer);
		cells[1] = xstrdup(us ? us + 1 : "");
		for (; i < d->layers.n && strcmp(layer_of(&d->layers.v[i]), layer) == 0; i++) {
			const struct run_value *v = &d->layers.v[i];
			if (!strcmp(v->name, "out_c"))
				oc = v->value;
			else if (!strcmp(v->name, "out_h"))
				oh = v->value;
			else if (!strcmp(v->name, "out_w"))
				ow = v->value;
			for (int k = first_stat; k < ncol; k++)
				if (strcmp(head[k], v->name) == 0) {
					char buf[64];
					format_value(buf, sizeof buf, v->name, v->value);
					free(cells[k]);
					cells[k] = xstrdup(buf);
				}
		}
		if (isfinite(oc) && oh == 1 && ow == 1)
			cells[2] = xasprintf("%.0f", oc);
		else if (isfinite(oc) && isfinite(oh) && isfinite(ow))
			cells[2] = xasprintf("%.0fx%.0fx%.0f", oc, oh, ow);
		table_add_row(t, (const char *const *)cells);
	}
	printf("\nlayers:\n");
	table_print(t, stdout, "  ");
	table_free(t);
	for (int k = 0; k < ncol; k++)
		free(cells[k]);
	free(cells);
	free(head);
	free(names);
}

static void
show_text(const struct show_data *d)
{
	const struct run_info *r = d->run;
	char buf[64];
	const char *job = NULL;
	for (int i = 0; i < d->nparams; i++)
		if (strcmp(d->keys[i], "job") == 0)
			job = d->values[i];
	printf("run %lld: %s\n", (long long)r->id, run_status_name(r->status));
	struct table *t = table_new(2, NULL);
	show_row(t, "job", job);
	show_row(t, "key", r->key);
	if (r->parent_run_id) {
		snprintf(buf, sizeof buf, "run:%lld", (long long)r->parent_run_id);
		show_row(t, "parent", buf);
	}
	show_row(t, "model file", r->model_path);
	show_row(t, "created", r->created_at);
	show_row(t, "started", r->started_at);
	show_row(t, "finished", r->finished_at);
	show_row(t, "worker", r->worker);
	if (r->status == RUN_RUNNING && isfinite(r->progress)) {
		snprintf(buf, sizeof buf, "%.0f%%%s%s (heartbeat %s)", 100 * r->progress,
			 r->stage ? ", " : "", r->stage ? r->stage : "",
			 r->heartbeat_at ? r->heartbeat_at : "-");
		show_row(t, "progress", buf);
	}
	snprintf(buf, sizeof buf, "%d", r->attempts);
	show_row(t, "attempts", buf);
	show_row(t, "error", r->error);
	table_print(t, stdout, "  ");
	table_free(t);

	printf("\nconfig:\n");
	t = table_new(2, NULL);
	for (int i = 0; i < d->nparams; i++)
		table_add_row(t, (const char *const[]){d->keys[i], d->values[i]});
	table_print(t, stdout, "  ");
	table_free(t);

	if (d->results.n > 0) {
		printf("\nresults:\n");
		t = table_new(2, NULL);
		table_align_right(t, 1);
		for (int i = 0; i < d->results.n; i++) {
			format_value(buf, sizeof buf, d->results.v[i].name, d->results.v[i].value);
			table_add_row(t, (const char *const[]){d->results.v[i].name, buf});
		}
		table_print(t, stdout, "  ");
		table_free(t);
	}
	if (d->metrics.n > 0) {
		show_curve(d);
		show_layer_curves(d);
	}
	if (d->layers.n > 0)
		show_layers(d);
	if (d->ptq)
		show_borders(d);
}

static void
show_json(const struct show_data *d)
{
	const struct run_info *r = d->run;
	struct json js;
	json_begin(&js, stdout);
	json_object(&js, NULL);
	json_int(&js, "id", r->id);
	json_string(&js, "status", run_status_name(r->status));
	json_string(&js, "key", r->key);
	json_raw(&js, "config", r->config);
	if (r->parent_run_id)
		json_int(&js, "parent_run_id", r->parent_run_id);
	else
		json_null(&js, "parent_run_id");
	if (r->sweep_id)
		json_int(&js, "sweep_id", r->sweep_id);
	else
		json_null(&js, "sweep_id");
	json_string(&js, "model_path", r->model_path);
	json_string(&js, "created_at", r->created_at);
	json_string(&js, "started_at", r->started_at);
	json_string(&js, "finished_at", r->finished_at);
	json_string(&js, "worker", r->worker);
	json_int(&js, "attempts", r->attempts);
	json_number(&js, "progress", r->progress);
	json_string(&js, "stage", r->stage);
	json_string(&js, "heartbeat_at", r->heartbeat_at);
	json_string(&js, "error", r->error);
	json_object(&js, "results");
	for (int i = 0; i < d->results.n; i++)
		json_number(&js, d->results.v[i].name, d->results.v[i].value);
	json_object_end(&js);
	json_array(&js, "metrics");
	for (int i = 0; i < d->metrics.n;) {
		int64_t step = d->metrics.v[i].step;
		json_object(&js, NULL);
		json_int(&js, "step", step);
		for (; i < d->metrics.n && d->metrics.v[i].step == step; i++)
			json_number(&js, d->metrics.v[i].name, d->metrics.v[i].value);
		json_object_end(&js);
	}
	json_array_end(&js);
	json_array(&js, "layers");
	for (int i = 0; i < d->layers.n;) {
		const char *layer = layer_of(&d->layers.v[i]);
		json_object(&js, NULL);
		json_string(&js, "layer", layer);
		for (; i < d->layers.n && strcmp(layer_of(&d->layers.v[i]), layer) == 0; i++)
			json_number(&js, d->layers.v[i].name, d->layers.v[i].value);
		json_object_end(&js);
	}
	json_array_end(&js);
	if (d->ptq) {
		json_array(&js, "borders");
		double mean[256], lo[256], hi[256];
		for (int i = 0; i < ptq_border_layers(d->ptq); i++) {
			const char *group;
			int bins = ptq_border_stats(d->ptq, i, &group, mean, lo, hi, 256);
			for (int k = 0; k < bins; k++) {
				json_object(&js, NULL);
				json_string(&js, "layer", group);
				json_int(&js, "bin", k);
				json_number(&js, "mean", mean[k]);
				json_number(&js, "min", lo[k]);
				json_number(&js, "max", hi[k]);
				json_object_end(&js);
			}
		}
		json_array_end(&js);
	}
	json_object_end(&js);
	json_end(&js);
}

static int
show_exec(const struct cmd_ctx *ctx, int argc, char **argv)
{
	struct db *db = NULL;
	struct show_data d;
	char *cause = NULL;
	long long id;
	int ret;
	memset(&d, 0, sizeof d);
	if (argc != 1) {
		cmd_print_usage(stderr, &cmd_show_entry);
		return CMD_EXIT_USAGE;
	}
	if (cmd_parse_run_id(argv[0], &id) < 0)
		return cmd_error(CMD_EXIT_USAGE, "expected a run number (7 or run:7), got '%s'",
				 argv[0]);
	if ((ret = cmd_open_db(ctx, 0, &db)) != CMD_EXIT_OK)
		return ret;
	if (runs_get(db, id, &d.run, &cause) < 0) {
		/* a missing run is a bad reference (3); anything else a database error (4) */
		ret = cmd_error(strncmp(cause, "no run ", 7) == 0 ? CMD_EXIT_CONFIG : CMD_EXIT_IO, "%s",
				cause);
		goto out;
	}
	if (runs_get_params(db, id, &d.keys, &d.values, &d.nparams, &cause) < 0 ||
	    runs_get_results(db, id, &d.results, &cause) < 0 ||
	    runs_get_metrics(db, id, &d.metrics, &cause) < 0 ||
	    runs_get_layers(db, id, &d.layers, &cause) < 0) {
		ret = cmd_error(CMD_EXIT_IO, "%s", cause);
		goto out;
	}
	load_borders(&d, db_path(db), &cause);
	if (cause) {
		/* the database holds the run; its model file is only an addition */
		(void)cmd_error(CMD_EXIT_OK, "%s (borders not shown)", cause);
		free(cause);
		cause = NULL;
	}
	if (ctx->json)
		show_json(&d);
	else
		show_text(&d);
out:
	show_data_done(&d);
	db_close(db);
	free(cause);
	return ret;
}

const struct cmd_entry cmd_show_entry = {
	.name = "show",
	.args = "RUN",
	.options = CMD_OPT_JSON,
	.summary = "one run: config, results, curve, layers",
	.help = "Shows one run (RUN is its id, 7 or run:7): status and timings (UTC), the full "
		"configuration, the final results, the per-epoch curve (loss, accuracy, learning "
		"rate, epoch time) and the per-layer table (output shape, parameters, MACs per "
		"example). For a post-training quantization with learned activation borders "
		"(border=aquant), the borders per layer and bin, read from the saved model.",
	.exec = show_exec,
};
