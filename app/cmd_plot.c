/*
 * cmd_plot: `qbench plot KIND ... [-o FILE.png|svg|pdf]`, figures through
 * gnuplot. Each kind is a row of plot_kinds: it reads its arguments,
 * gathers its data from the database and, through plot_data.h, from the
 * runs' model files and the engine, hands plain arrays to plots/ (plot.h),
 * and the figure is drawn on the terminal (gnuplot's dumb terminal at the
 * window's size) or into FILE with FILE.gp and FILE.dat beside it. Only
 * this file prints; plot_data and plots/ return their errors.
 *
 * Every kind takes size=WxH (characters on the terminal, pixels in a file).
 * Exit codes: 2 for a bad command line (unknown kind, bad -o extension),
 * 3 for a bad key, value, run or layer, 4 when a model file or the data
 * cannot be read or the figure's directory cannot be written, 1 when
 * gnuplot is missing or fails.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/cmd.h"
#include "app/plot_data.h"
#include "db/db.h"
#include "db/query.h"
#include "db/results.h"
#include "db/runs.h"
#include "engine/data.h"
#include "engine/model.h"
#include "engine/ptq/ptq.h"
#include "engine/quant/quant.h"
#include "engine/util.h"
#include "plots/gnuplot.h"
#include "plots/plot.h"

/* Most runs a curve or pareto figure reads, and most k=v arguments. */
#define PLOT_MAX_ARGS 256

/* What every kind gets: the command's context, the figure, and the database once opened. */
struct plot_req {
	const struct cmd_ctx *ctx;
	struct gnuplot *g;
	struct db *db;
};

/* ---------------------------------------------------------------------------
 * Arguments
 * ------------------------------------------------------------------------- */

/*
 * One kind's command line: values of its own keys (by index into its key
 * list; NULL when not given), positional arguments (no '='), and the other
 * terms (filters, for the kinds that take them).
 */
struct plot_args {
	const char *val[16];
	char *pos[PLOT_MAX_ARGS];
	int npos;
	char *other[PLOT_MAX_ARGS];
	int nother;
};

/*
 * Sorts argv into a: a term whose text before '=' is one of keys (nkeys <=
 * 16) sets that key; other terms with a comparison are `other`, the rest
 * positional. Returns CMD_EXIT_OK, or prints and returns CMD_EXIT_CONFIG for
 * a key given twice or CMD_EXIT_USAGE for too many arguments.
 */
static int
args_split(const char *kind, int argc, char **argv, const char *const *keys, int nkeys,
	   struct plot_args *a)
{
	memset(a, 0, sizeof *a);
	if (argc > PLOT_MAX_ARGS)
		return cmd_error(CMD_EXIT_USAGE, "plot %s: too many arguments (at most %d)", kind,
				 PLOT_MAX_ARGS);
	for (int i = 0; i < argc; i++) {
		const char *eq = strchr(argv[i], '=');
		int k = -1;
		for (int j = 0; eq && j < nkeys && k < 0; j++)
			if (strlen(keys[j]) == (size_t)(eq - argv[i]) &&
			    strncmp(keys[j], argv[i], (size_t)(eq - argv[i])) == 0)
				k = j;
		if (k >= 0) {
			if (a->val[k])
				return cmd_error(CMD_EXIT_CONFIG, "plot %s: key '%s' given twice",
						 kind, keys[k]);
			a->val[k] = eq + 1;
		} else if (strpbrk(argv[i], "=<>!")) {
			a->other[a->nother++] = argv[i];
		} else {
			a->pos[a->npos++] = argv[i];
		}
	}
	return CMD_EXIT_OK;
}

/* Refuses the other terms of a kind that takes no filter: the first names the nearest key. */
static int
args_no_other(const char *kind, const struct plot_args *a, const char *const *keys, int nkeys)
{
	if (a->nother == 0)
		return CMD_EXIT_OK;
	const char *t = a->other[0];
	size_t klen = strcspn(t, "=<>!");
	char key[64];
	snprintf(key, sizeof key, "%.*s", (int)klen, t);
	const char *near = util_nearest(key, keys, (size_t)nkeys);
	if (near)
		return cmd_error(CMD_EXIT_CONFIG, "plot %s: unknown key '%s' (did you mean '%s'?)",
				 kind, key, near);
	char list[256] = "";
	for (int j = 0; j < nkeys; j++)
		snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", j ? ", " : "",
			 keys[j]);
	return cmd_error(CMD_EXIT_CONFIG, "plot %s: unknown key '%s' (keys: %s, size)", kind, key,
			 list);
}

/* Splits a comma-separated list into at most cap owned strings. */
static int
split_list(const char *s, char **out, int cap)
{
	int n = 0;
	for (const char *p = s; *p && n < cap;) {
		size_t len = strcspn(p, ",");
		if (len)
			out[n++] = xasprintf("%.*s", (int)len, p);
		p += len;
		if (*p == ',')
			p++;
	}
	return n;
}

static void
free_list(char **v, int n)
{
	for (int i = 0; i < n; i++)
		free(v[i]);
}

static int
opt_role(const char *kind, const char *v, const char *a_name, int *is_act)
{
	*is_act = 0;
	if (!v || strcmp(v, "w") == 0)
		return CMD_EXIT_OK;
	if (strcmp(v, "a") == 0) {
		*is_act = 1;
		return CMD_EXIT_OK;
	}
	return cmd_error(CMD_EXIT_CONFIG, "plot %s: %s: '%s' is not w or a", kind, a_name, v);
}

/* ---------------------------------------------------------------------------
 * Runs and layers (their data: plot_data.h)
 * ------------------------------------------------------------------------- */

static int
open_db(struct plot_req *r)
{
	return r->db ? CMD_EXIT_OK : cmd_open_db(r->ctx, 0, &r->db);
}

/*
 * Reads run ref ("7" or "run:7") into p and, with need_model, its model
 * file, /quant and (QAT) its quantizers. Returns CMD_EXIT_OK or prints and
 * returns the code; free p with plot_data_run_done() either way.
 */
static int
run_open(struct plot_req *r, const char *kind, const char *ref, int need_model,
	 struct plot_data_run *p)
{
	char *cause = NULL;
	long long id;
	int ret;
	memset(p, 0, sizeof *p);
	if (cmd_parse_run_id(ref, &id) < 0)
		return cmd_error(CMD_EXIT_USAGE,
				 "plot %s: expected a run number (7 or run:7), got '%s'", kind,
				 ref);
	if ((ret = open_db(r)) != CMD_EXIT_OK)
		return ret;
	if (plot_data_run_open(p, r->db, id, &cause) < 0) {
		/* a run the database does not have is the user's; anything else the database's */
		ret = cmd_error(strncmp(cause, "no run ", 7) == 0 ? CMD_EXIT_CONFIG : CMD_EXIT_IO,
				"%s", cause);
		goto out;
	}
	if (!need_model)
		goto out;
	if (!p->info->model_path) {
		ret = cmd_error(CMD_EXIT_CONFIG, "plot %s: run %lld has no saved model (status %s)",
				kind, p->id, run_status_name(p->info->status));
		goto out;
	}
	if (plot_data_run_load(p, db_path(r->db), &cause) < 0)
		ret = cmd_error(CMD_EXIT_IO, "%s", cause);
out:
	free(cause);
	return ret;
}

/* Resolves layer=L (NULL: the default) of p's model into *out; prints and returns the exit code. */
static int
resolve_layer(const char *kind, const struct plot_data_run *p, const char *spec, int act, int *out)
{
	char *cause = NULL;
	if (plot_data_run_layer(p, spec, act, out, &cause) < 0) {
		int ret = cmd_error(CMD_EXIT_CONFIG, "plot %s: %s", kind, cause);
		free(cause);
		return ret;
	}
	return CMD_EXIT_OK;
}

/* ---------------------------------------------------------------------------
 * dist
 * ------------------------------------------------------------------------- */

static int
kind_dist(struct plot_req *r, int argc, char **argv)
{
	static const char *const keys[] = {"layer", "what", "bins", "scale"};
	struct plot_args a;
	struct plot_data_run p;
	struct plot_data_dist v;
	struct dataset *data = NULL;
	char *cause = NULL;
	int ret, act = 0, L;
	memset(&p, 0, sizeof p);
	plot_data_dist_init(&v);
	if ((ret = args_split("dist", argc, argv, keys, 4, &a)) != CMD_EXIT_OK ||
	    (ret = args_no_other("dist", &a, keys, 4)) != CMD_EXIT_OK)
		return ret;
	if (a.npos != 1)
		return cmd_error(CMD_EXIT_USAGE,
				 "plot dist: expected one RUN, got %d (usage: qbench "
				 "plot dist RUN [layer=L] [what=w|a])",
				 a.npos);
	if (a.val[1] && strcmp(a.val[1], "w") && strcmp(a.val[1], "a"))
		return cmd_error(CMD_EXIT_CONFIG,
				 "plot dist: what: '%s' is not w (weights) or a "
				 "(input activations)",
				 a.val[1]);
	act = a.val[1] && a.val[1][0] == 'a';
	int bins = 0;
	if (a.val[2]) {
		char *end;
		long b = strtol(a.val[2], &end, 10);
		if (!*a.val[2] || *end || b < 2 || b > 10000)
			return cmd_error(CMD_EXIT_CONFIG,
					 "plot dist: bins: '%s' is not a number of "
					 "bins (2..10000)",
					 a.val[2]);
		bins = (int)b;
	}
	if (a.val[3] && strcmp(a.val[3], "log") && strcmp(a.val[3], "linear"))
		return cmd_error(CMD_EXIT_CONFIG, "plot dist: scale: '%s' is not log or linear",
				 a.val[3]);
	/* activations after a ReLU pile up at 0: counts on a log scale by default */
	int logy = a.val[3] ? strcmp(a.val[3], "log") == 0 : act;
	if ((ret = run_open(r, "dist", a.pos[0], 1, &p)) != CMD_EXIT_OK ||
	    (ret = resolve_layer("dist", &p, a.val[0], act, &L)) != CMD_EXIT_OK)
		goto out;
	if (act) {
		if (plot_data_run_dataset(&p, &data, &cause) < 0) {
			ret = cmd_error(CMD_EXIT_IO, "plot dist: %s", cause);
			goto out;
		}
		if (plot_data_dist_acts(&v, &p, L, data, &cause) < 0) {
			ret = cmd_error(CMD_EXIT_CONFIG, "plot dist: %s", cause);
			goto out;
		}
	} else if (plot_data_dist_weights(&v, &p, L, &cause) < 0) {
		ret = cmd_error(CMD_EXIT_CONFIG, "plot dist: %s", cause);
		goto out;
	}
	char run[32];
	snprintf(run, sizeof run, "run %lld", p.id);
	struct plot_dist d = {
		.run = run,
		.layer = model_layer_at(p.m, L)->group,
		.what = v.what,
		.scheme = v.bits > 0 && v.bits < 32 ? v.scheme : NULL,
		.bits = v.bits,
		.x = v.x,
		.n = v.n,
		.q = v.q,
		.nq = v.nq,
		.split = v.split,
		.nsplit = v.nsplit,
		.levels = v.levels,
		.nlevels = v.nlevels,
		.clip_lo = v.clip_lo,
		.clip_hi = v.clip_hi,
		.bins = bins,
		.logy = logy,
	};
	if (plot_dist(r->g, &d, &cause) < 0)
		ret = cmd_error(CMD_EXIT_CONFIG, "plot dist: run %lld: %s", p.id, cause);
out:
	plot_data_dist_done(&v);
	dataset_free(data);
	plot_data_run_done(&p);
	free(cause);
	return ret;
}

/* ---------------------------------------------------------------------------
 * grid
 * ------------------------------------------------------------------------- */

static int
kind_grid(struct plot_req *r, int argc, char **argv)
{
	static const char *const keys[] = {"scheme",  "bits", "role", "alpha",
					   "variant", "run",  "layer"};
	struct plot_args a;
	struct plot_data_grid gs;
	struct plot_data_run p;
	char *schemes[64], *bitss[64], *cause = NULL;
	int ns = 0, nb = 0, act = 0, ret;
	memset(&p, 0, sizeof p);
	plot_data_grid_init(&gs);
	if ((ret = args_split("grid", argc, argv, keys, 7, &a)) != CMD_EXIT_OK ||
	    (ret = args_no_other("grid", &a, keys, 7)) != CMD_EXIT_OK ||
	    (ret = opt_role("grid", a.val[2], "role", &act)) != CMD_EXIT_OK)
		return ret;
	if (a.npos)
		return cmd_error(CMD_EXIT_USAGE,
				 "plot grid: unexpected argument '%s' (usage: qbench "
				 "plot grid scheme=S[,S...] bits=B[,B...] [role=w|a] "
				 "[run=ID])",
				 a.pos[0]);
	if (!a.val[0] && !a.val[5])
		return cmd_error(CMD_EXIT_CONFIG, "plot grid: scheme= (e.g. scheme=uniform,apot "
						  "bits=3) or run= is required");
	if (a.val[0] && !a.val[1])
		return cmd_error(CMD_EXIT_CONFIG, "plot grid: bits= is required with scheme=");
	if (a.val[6] && !a.val[5])
		return cmd_error(CMD_EXIT_CONFIG, "plot grid: layer= needs run=");
	ns = a.val[0] ? split_list(a.val[0], schemes, 64) : 0;
	nb = a.val[1] ? split_list(a.val[1], bitss, 64) : 0;
	double alpha = 1;
	for (int i = 0; i < ns; i++)
		for (int k = 0; k < nb; k++) {
			char sarg[96], barg[96], rarg[16], aarg[96], varg[96];
			char *qa[5] = {sarg, barg, rarg, aarg, varg};
			int nq = 3;
			snprintf(sarg, sizeof sarg, "scheme=%s", schemes[i]);
			snprintf(barg, sizeof barg, "bits=%s", bitss[k]);
			snprintf(rarg, sizeof rarg, "role=%s", act ? "a" : "w");
			if (a.val[3])
				snprintf(qa[nq++], 96, "alpha=%s", a.val[3]);
			if (a.val[4])
				snprintf(qa[nq++], 96, "variant=%s", a.val[4]);
			struct quant *q;
			if (cmd_quant_spec(&q, nq, qa, &cause) < 0) {
				ret = cmd_error(CMD_EXIT_CONFIG, "plot grid: %s", cause);
				goto out;
			}
			alpha = q->alpha;
			plot_data_grid_add_quant(&gs, xasprintf("%s %d bits", schemes[i], q->bits), q);
			quant_free(q);
		}
	if (a.val[5]) {
		int L = -1;
		if ((ret = run_open(r, "grid", a.val[5], 1, &p)) != CMD_EXIT_OK)
			goto out;
		if (a.val[6] && (ret = resolve_layer("grid", &p, a.val[6], act, &L)) != CMD_EXIT_OK)
			goto out;
		if (plot_data_grid_add_run(&gs, &p, L, act) == 0) {
			/* no recorded quantizer: the registry's for the run's scheme and bits */
			const char *sc = plot_data_run_param(&p, act ? "a.scheme" : "w.scheme");
			const char *b = plot_data_run_param(&p, act ? "a.bits" : "w.bits");
			if (!sc || strcmp(sc, "same") == 0)
				sc = plot_data_run_param(&p, "scheme");
			if (!sc || !b || strcmp(sc, "float") == 0 || atoi(b) >= 32) {
				ret = cmd_error(CMD_EXIT_CONFIG,
						"plot grid: run %lld quantizes no %s "
						"(a float run): no levels to draw",
						p.id, act ? "activations" : "weights");
				goto out;
			}
			char sarg[96], barg[96], rarg[16];
			char *qa[3] = {sarg, barg, rarg};
			snprintf(sarg, sizeof sarg, "scheme=%s", sc);
			snprintf(barg, sizeof barg, "bits=%s", b);
			snprintf(rarg, sizeof rarg, "role=%s", act ? "a" : "w");
			struct quant *q;
			if (cmd_quant_spec(&q, 3, qa, &cause) < 0) {
				ret = cmd_error(CMD_EXIT_CONFIG, "plot grid: run %lld: %s", p.id,
						cause);
				goto out;
			}
			plot_data_grid_add_quant(
				&gs,
				xasprintf("run %lld: %s %d bits (registry)", p.id, sc, q->bits), q);
			quant_free(q);
		}
	}
	if (gs.n == 0) {
		ret = cmd_error(CMD_EXIT_CONFIG, "plot grid: no quantizer to draw");
		goto out;
	}
	/* a quarter of the widest level beyond each end, so the clipping shows */
	double ext = fmax(fabs(gs.lo), fabs(gs.hi));
	if (!(ext > 0))
		ext = 1;
	char *title = a.val[5] && !ns ? xasprintf("transfer functions, role %s (run %lld)",
						  act ? "a" : "w", p.id)
				      : xasprintf("transfer functions, role %s, alpha %g",
						  act ? "a" : "w", alpha);
	struct plot_grid d = {.title = title,
			      .q = gs.s,
			      .nq = gs.n,
			      .xmin = gs.lo < 0 ? -1.25 * ext : -0.25 * ext,
			      .xmax = 1.25 * ext};
	if (plot_grid(r->g, &d, &cause) < 0)
		ret = cmd_error(CMD_EXIT_CONFIG, "plot grid: %s", cause);
	free(title);
out:
	free_list(schemes, ns);
	free_list(bitss, nb);
	plot_data_grid_done(&gs);
	plot_data_run_done(&p);
	free(cause);
	return ret;
}

/* ---------------------------------------------------------------------------
 * curve
 * ------------------------------------------------------------------------- */

static int
is_loss(const char *name)
{
	size_t n = strlen(name);
	return n >= 4 && strcmp(name + n - 4, "loss") == 0;
}

/* Appends name to a ", "-separated list (once). */
static void
list_add(char **list, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = *list; p && (p = strstr(p, name)); p += n)
		if ((p == *list || p[-1] == ' ') && (p[n] == ',' || p[n] == '\0'))
			return;
	char *t = xasprintf("%s%s%s", *list ? *list : "", *list ? ", " : "", name);
	free(*list);
	*list = t;
}

static int
kind_curve(struct plot_req *r, int argc, char **argv)
{
	static const char *const keys[] = {"what"};
	struct plot_args a;
	char *what[64], *cause = NULL, *ylabel = NULL, *y2label = NULL, *runs = NULL;
	char *have = NULL;
	int nw, ret;
	struct run_values *vals = NULL;
	struct plot_series *s = NULL;
	char **names = NULL; /* the series' names, owned */
	double *xy = NULL;
	int nser = 0;
	if ((ret = args_split("curve", argc, argv, keys, 1, &a)) != CMD_EXIT_OK ||
	    (ret = args_no_other("curve", &a, keys, 1)) != CMD_EXIT_OK)
		return ret;
	if (a.npos < 1)
		return cmd_error(CMD_EXIT_USAGE,
				 "plot curve: expected one or more RUNs (usage: "
				 "qbench plot curve RUN... [what=test_acc,train_loss])");
	nw = split_list(a.val[0] ? a.val[0] : "test_acc,train_loss", what, 64);
	if (nw == 0)
		return cmd_error(CMD_EXIT_CONFIG, "plot curve: what: no metric named");
	vals = xcalloc((size_t)a.npos, sizeof *vals);
	int nloss = 0;
	for (int k = 0; k < nw; k++)
		nloss += is_loss(what[k]);
	int split_axes = nloss > 0 && nloss < nw;
	s = xcalloc((size_t)(a.npos * nw), sizeof *s);
	names = xcalloc((size_t)(a.npos * nw), sizeof *names);
	size_t total = 0;
	for (int i = 0; i < a.npos; i++) {
		struct plot_data_run p;
		if ((ret = run_open(r, "curve", a.pos[i], 0, &p)) != CMD_EXIT_OK)
			goto out;
		long long id = p.id;
		plot_data_run_done(&p);
		if (runs_get_metrics(r->db, id, &vals[i], &cause) < 0) {
			ret = cmd_error(CMD_EXIT_IO, "%s", cause);
			goto out;
		}
		total += (size_t)vals[i].n;
		char buf[32];
		snprintf(buf, sizeof buf, "%lld", id);
		list_add(&runs, buf);
	}
	xy = xmalloc((2 * total + 1) * sizeof *xy);
	size_t used = 0;
	for (int i = 0; i < a.npos; i++) {
		long long id;
		cmd_parse_run_id(a.pos[i], &id);
		for (int k = 0; k < nw; k++) {
			double *x = xy + used;
			int n = 0;
			for (int j = 0; j < vals[i].n; j++)
				if (strcmp(vals[i].v[j].name, what[k]) == 0)
					x[n++] = (double)vals[i].v[j].step;
			if (n == 0)
				continue;
			double *y = x + n;
			int m = 0;
			for (int j = 0; j < vals[i].n; j++)
				if (strcmp(vals[i].v[j].name, what[k]) == 0)
					y[m++] = vals[i].v[j].value;
			used += 2 * (size_t)n;
			int right = split_axes && is_loss(what[k]);
			names[nser] = a.npos > 1 ? xasprintf("run %lld %s", id, what[k])
						 : xstrdup(what[k]);
			/* a colour per run, a dash type per metric */
			s[nser] = (struct plot_series){names[nser], x, y, n, right, i + 1, k + 1};
			nser++;
			list_add(right ? &y2label : &ylabel, what[k]);
		}
	}
	if (nser == 0) {
		for (int i = 0; i < a.npos; i++)
			for (int j = 0; j < vals[i].n; j++)
				if (!strchr(vals[i].v[j].name, '/'))
					list_add(&have, vals[i].v[j].name);
		char *wl = NULL;
		for (int k = 0; k < nw; k++)
			list_add(&wl, what[k]);
		ret = cmd_error(
			CMD_EXIT_CONFIG, "plot curve: run%s %s recorded no %s per epoch (%s%s)",
			a.npos > 1 ? "s" : "", runs, wl,
			have ? "metrics: " : "it recorded no per-epoch metrics", have ? have : "");
		free(wl);
		goto out;
	}
	char *title = xasprintf("run%s %s", a.npos > 1 ? "s" : "", runs);
	struct plot_curve d = {.title = title,
			       .xlabel = "epoch",
			       .ylabel = ylabel,
			       .y2label = y2label,
			       .s = s,
			       .ns = nser};
	if (plot_curve(r->g, &d, &cause) < 0)
		ret = cmd_error(CMD_EXIT_CONFIG, "plot curve: %s", cause);
	free(title);
out:
	for (int i = 0; i < nser; i++)
		free(names[i]);
	free(names);
	free(s);
	for (int i = 0; vals && i < a.npos; i++)
		run_values_done(&vals[i]);
	free(vals);
	free(xy);
	free_list(what, nw);
	free(ylabel);
	free(y2label);
	free(runs);
	free(have);
	free(cause);
	return ret;
}

/* ---------------------------------------------------------------------------
 * border
 * ------------------------------------------------------------------------- */

static int
kind_border(struct plot_req *r, int argc, char **argv)
{
	static const char *const keys[] = {"layer"};
	struct plot_args a;
	struct plot_data_run p;
	struct ptq *ptq = NULL;
	char *cause = NULL, *list = NULL, *title = NULL;
	int ret;
	memset(&p, 0, sizeof p);
	if ((ret = args_split("border", argc, argv, keys, 1, &a)) != CMD_EXIT_OK ||
	    (ret = args_no_other("border", &a, keys, 1)) != CMD_EXIT_OK)
		return ret;
	if (a.npos != 1)
		return cmd_error(CMD_EXIT_USAGE,
				 "plot border: expected one RUN, got %d (usage: "
				 "qbench plot border RUN [layer=L])",
				 a.npos);
	if ((ret = run_open(r, "border", a.pos[0], 1, &p)) != CMD_EXIT_OK)
		goto out;
	if (!p.is_ptq || ptq_import(&ptq, p.m, &p.gs, p.path, &cause) < 0 ||
	    ptq_border_layers(ptq) == 0) {
		if (cause)
			ret = cmd_error(CMD_EXIT_IO, "plot border: %s", cause);
		else
			ret = cmd_error(CMD_EXIT_CONFIG,
					"plot border: run %lld has no learned "
					"activation borders (a ptq run with "
					"border=aquant has them)",
					p.id);
		goto out;
	}
	int L = -1, want = -1;
	if (a.val[0] && (ret = resolve_layer("border", &p, a.val[0], 1, &L)) != CMD_EXIT_OK)
		goto out;
	double mean[256], lo[256], hi[256];
	const char *group = NULL;
	for (int i = 0; i < ptq_border_layers(ptq); i++) {
		const char *gname;
		ptq_border_stats(ptq, i, &gname, mean, lo, hi, 256);
		list_add(&list, gname);
		if (want < 0 && (L < 0 || strcmp(gname, model_layer_at(p.m, L)->group) == 0))
			want = i;
	}
	if (want < 0) {
		ret = cmd_error(CMD_EXIT_CONFIG,
				"plot border: run %lld: layer %s has no learned "
				"border (layers with one: %s)",
				p.id, model_layer_at(p.m, L)->group, list);
		goto out;
	}
	int bins = ptq_border_stats(ptq, want, &group, mean, lo, hi, 256);
	if (bins <= 0) {
		ret = cmd_error(CMD_EXIT_CONFIG, "plot border: run %lld: no border bins", p.id);
		goto out;
	}
	const char *ab = plot_data_run_param(&p, "a.bits");
	title = xasprintf("run %lld, %s: learned activation border%s%s%s", p.id, group,
			  ab ? " (a.bits " : "", ab ? ab : "", ab ? ")" : "");
	struct plot_border d = {.title = title, .mean = mean, .lo = lo, .hi = hi, .bins = bins};
	if (plot_border(r->g, &d, &cause) < 0)
		ret = cmd_error(CMD_EXIT_CONFIG, "plot border: %s", cause);
out:
	ptq_free(ptq);
	plot_data_run_done(&p);
	free(title);
	free(list);
	free(cause);
	return ret;
}

/* ---------------------------------------------------------------------------
 * pareto and heatmap: results of many runs
 * ------------------------------------------------------------------------- */

/*
 * The results table of the runs matching the filter terms, averaged over
 * seeds, with every configuration key and the named results. Returns
 * CMD_EXIT_OK or prints and returns the code.
 */
static int
results_of(struct plot_req *r, const char *kind, char **terms, int nterms, const char *const *names,
	   int nnames, struct results **out)
{
	struct query *q = NULL;
	char *cause = NULL;
	int ret;
	*out = NULL;
	if ((ret = open_db(r)) != CMD_EXIT_OK)
		return ret;
	static const char *const over[] = {"seed"};
	struct results_opts o = {.group_over = over,
				 .ngroup_over = 1,
				 .all_params = 1,
				 .result_names = names,
				 .nresults = nnames};
	if (query_parse(&q, r->db, nterms, terms, &cause) < 0) {
		ret = cmd_error(CMD_EXIT_CONFIG, "plot %s: %s", kind, cause);
		goto out;
	}
	if (results_build(r->db, q, &o, out, &cause) < 0) {
		ret = cmd_error(CMD_EXIT_IO, "plot %s: %s", kind, cause);
		goto out;
	}
	if ((*out)->nrows == 0) {
		ret = cmd_error(CMD_EXIT_CONFIG, "plot %s: no run matches%s", kind,
				nterms ? " the filter" : " (the database has no runs)");
		results_free(*out);
		*out = NULL;
	}
out:
	query_free(q);
	free(cause);
	return ret;
}

/* The column `name` of res into *col, or prints that no run has it (listing what there is). */
static int
need_col(const char *kind, const struct results *res, const char *name, const char *what, int *col)
{
	if ((*col = results_col_find(res, name)) >= 0)
		return CMD_EXIT_OK;
	char *have = NULL;
	for (int c = 0; c < res->ncols; c++)
		if (res->cols[c].kind == RESULTS_COL_RESULT ||
		    res->cols[c].kind == RESULTS_COL_PARAM)
			list_add(&have, res->cols[c].name);
	int ret = cmd_error(CMD_EXIT_CONFIG, "plot %s: %s '%s': no matching run has it (%s)", kind,
			    what, name, have ? have : "no columns");
	free(have);
	return ret;
}

static int
kind_pareto(struct plot_req *r, int argc, char **argv)
{
	static const char *const keys[] = {"x", "y", "by"};
	struct plot_args a;
	struct results *res = NULL;
	char *cause = NULL, *title = NULL, *xlabel = NULL;
	const char **groups = NULL;
	struct plot_point *pts = NULL;
	int ret;
	if ((ret = args_split("pareto", argc, argv, keys, 3, &a)) != CMD_EXIT_OK)
		return ret;
	if (a.npos)
		return cmd_error(CMD_EXIT_USAGE,
				 "plot pareto: '%s' is not a filter term (KEY=V, "
				 "KEY<V, ...)",
				 a.pos[0]);
	const char *x = a.val[0] ? a.val[0] : "bitops", *y = a.val[1] ? a.val[1] : "test_acc";
	const char *by = a.val[2] ? a.val[2] : "scheme";
	const char *names[2] = {y, x};
	int cx, cy, cb;
	if ((ret = results_of(r, "pareto", a.other, a.nother, names, 2, &res)) != CMD_EXIT_OK ||
	    (ret = need_col("pareto", res, x, "x", &cx)) != CMD_EXIT_OK ||
	    (ret = need_col("pareto", res, y, "y", &cy)) != CMD_EXIT_OK ||
	    (a.val[2] && (ret = need_col("pareto", res, by, "by", &cb)) != CMD_EXIT_OK))
		goto out;
	/* the default grouping (scheme) falls back to one group when no run has a scheme */
	if (!a.val[2])
		cb = results_col_find(res, by);
	groups = xcalloc((size_t)res->nrows, sizeof *groups);
	pts = xcalloc((size_t)res->nrows, sizeof *pts);
	int ng = 0, runs = 0;
	char *none = xasprintf("(no %s)", by);
	for (int i = 0; i < res->nrows; i++) {
		const struct results_cell *gx = results_cell(res, i, cx),
					  *gy = results_cell(res, i, cy);
		const struct results_cell *gb = cb >= 0 ? results_cell(res, i, cb) : NULL;
		const char *name = gb && gb->text ? gb->text : none;
		int k = 0;
		while (k < ng && strcmp(groups[k], name) != 0)
			k++;
		if (k == ng)
			groups[ng++] = name;
		pts[i] = (struct plot_point){gx->mean, gy->mean, gy->std, k};
		runs += gy->n;
	}
	title = xasprintf("%s vs %s (%d point%s, %d run%s; by %s, mean and std over seeds)", y, x,
			  res->nrows, res->nrows == 1 ? "" : "s", runs, runs == 1 ? "" : "s", by);
	xlabel = xasprintf("%s (log scale)", x);
	struct plot_pareto d = {.title = title,
				.xlabel = xlabel,
				.ylabel = y,
				.groups = groups,
				.ngroups = ng,
				.p = pts,
				.n = res->nrows,
				.xlog = 1};
	if (plot_pareto(r->g, &d, &cause) < 0)
		ret = cmd_error(CMD_EXIT_CONFIG, "plot pareto: %s", cause);
	free(none);
out:
	free(groups);
	free(pts);
	free(title);
	free(xlabel);
	results_free(res);
	free(cause);
	return ret;
}

/* Ascending, numerically when both are numbers. */
static int
cmp_label(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	char *ex, *ey;
	double u = strtod(x, &ex), v = strtod(y, &ey);
	if (*x && *y && !*ex && !*ey && u != v)
		return u < v ? -1 : 1;
	return strcmp(x, y);
}

/* The distinct texts of column c (pointers into res), sorted; their count. */
static int
distinct_texts(const struct results *res, int c, const char **out)
{
	int n = 0;
	for (int i = 0; i < res->nrows; i++) {
		const char *t = results_cell(res, i, c)->text;
		int seen = !t;
		for (int k = 0; k < n && !seen; k++)
			seen = strcmp(out[k], t) == 0;
		if (!seen)
			out[n++] = t;
	}
	qsort(out, (size_t)n, sizeof *out, cmp_label);
	return n;
}

static int
kind_heatmap(struct plot_req *r, int argc, char **argv)
{
	static const char *const keys[] = {"metric", "rows", "cols"};
	struct plot_args a;
	struct results *res = NULL;
	char *cause = NULL, *title = NULL;
	const char **xs = NULL, **ys = NULL;
	double *z = NULL;
	int *cnt = NULL, ret;
	if ((ret = args_split("heatmap", argc, argv, keys, 3, &a)) != CMD_EXIT_OK)
		return ret;
	if (a.npos)
		return cmd_error(CMD_EXIT_USAGE,
				 "plot heatmap: '%s' is not a filter term (KEY=V, "
				 "KEY<V, ...)",
				 a.pos[0]);
	const char *metric = a.val[0] ? a.val[0] : "test_acc";
	const char *rows = a.val[1] ? a.val[1] : "w.bits", *cols = a.val[2] ? a.val[2] : "a.bits";
	const char *names[1] = {metric};
	int cm, cr, cc;
	if ((ret = results_of(r, "heatmap", a.other, a.nother, names, 1, &res)) != CMD_EXIT_OK ||
	    (ret = need_col("heatmap", res, metric, "metric", &cm)) != CMD_EXIT_OK ||
	    (ret = need_col("heatmap", res, rows, "rows", &cr)) != CMD_EXIT_OK ||
	    (ret = need_col("heatmap", res, cols, "cols", &cc)) != CMD_EXIT_OK)
		goto out;
	xs = xcalloc((size_t)res->nrows, sizeof *xs);
	ys = xcalloc((size_t)res->nrows, sizeof *ys);
	int nx = distinct_texts(res, cc, xs), ny = distinct_texts(res, cr, ys);
	if (nx == 0 || ny == 0) {
		ret = cmd_error(CMD_EXIT_CONFIG, "plot heatmap: no run has both %s and %s", rows,
				cols);
		goto out;
	}
	z = xcalloc((size_t)nx * (size_t)ny, sizeof *z);
	cnt = xcalloc((size_t)nx * (size_t)ny, sizeof *cnt);
	int shared = 0;
	for (int i = 0; i < res->nrows; i++) {
		const char *tx = results_cell(res, i, cc)->text,
			   *ty = results_cell(res, i, cr)->text;
		double v = results_cell(res, i, cm)->mean;
		if (!tx || !ty || !isfinite(v))
			continue;
		int ix = 0, iy = 0;
		while (strcmp(xs[ix], tx) != 0)
			ix++;
		while (strcmp(ys[iy], ty) != 0)
			iy++;
		size_t k = (size_t)iy * (size_t)nx + (size_t)ix;
		z[k] += v;
		shared |= ++cnt[k] > 1;
	}
	for (size_t k = 0; k < (size_t)nx * (size_t)ny; k++)
		z[k] = cnt[k] ? z[k] / cnt[k] : NAN;
	title = xasprintf("%s, %s x %s (%s)", metric, rows, cols,
			  shared ? "cells: mean of their runs" : "mean over seeds");
	struct plot_heatmap d = {.title = title,
				 .xlabel = cols,
				 .ylabel = rows,
				 .zlabel = metric,
				 .xs = xs,
				 .nx = nx,
				 .ys = ys,
				 .ny = ny,
				 .z = z,
				 .fmt = "%.3f"};
	for (size_t k = 0; k < (size_t)nx * (size_t)ny; k++)
		if (isfinite(z[k]) && fabs(z[k]) >= 1000)
			d.fmt = "%.3g";
	if (plot_heatmap(r->g, &d, &cause) < 0)
		ret = cmd_error(CMD_EXIT_CONFIG, "plot heatmap: %s", cause);
out:
	free(xs);
	free(ys);
	free(z);
	free(cnt);
	free(title);
	results_free(res);
	free(cause);
	return ret;
}

/* ---------------------------------------------------------------------------
 * The command
 * ------------------------------------------------------------------------- */

struct plot_kind {
	const char *name;
	const char *args;
	int (*exec)(struct plot_req *r, int argc, char **argv);
};

static const struct plot_kind plot_kinds[] = {
	{"dist", "RUN [layer=L] [what=w|a] [bins=N] [scale=linear|log]", kind_dist},
	{"grid", "scheme=S[,S...] bits=B[,B...] [role=w|a] [alpha=A] [run=ID [layer=L]]",
	 kind_grid},
	{"pareto", "[FILTER] [x=bitops|size_bits] [y=test_acc] [by=scheme]", kind_pareto},
	{"curve", "RUN... [what=test_acc,train_loss]", kind_curve},
	{"border", "RUN [layer=L]", kind_border},
	{"heatmap", "[FILTER] [metric=test_acc] [rows=w.bits] [cols=a.bits]", kind_heatmap},
};
#define PLOT_KIND_COUNT ((int)(sizeof plot_kinds / sizeof plot_kinds[0]))

/* Parses size=WxH out of argv (removing it); returns CMD_EXIT_OK or prints the error. */
static int
take_size(int *argc, char **argv, int *w, int *h)
{
	*w = *h = 0;
	for (int i = 0; i < *argc; i++) {
		if (strncmp(argv[i], "size=", 5) != 0)
			continue;
		const char *s = argv[i] + 5;
		char *end;
		long a = strtol(s, &end, 10), b = 0;
		if (*end == 'x')
			b = strtol(end + 1, &end, 10);
		if (*end || a < 10 || b < 5 || a > 10000 || b > 10000)
			return cmd_error(CMD_EXIT_CONFIG,
					 "plot: size: '%s' is not WIDTHxHEIGHT (e.g. "
					 "size=1200x800, or 100x30 on the terminal)",
					 s);
		*w = (int)a;
		*h = (int)b;
		for (int k = i; k + 1 < *argc; k++)
			argv[k] = argv[k + 1];
		(*argc)--;
		i--;
	}
	return CMD_EXIT_OK;
}

static int
plot_exec(const struct cmd_ctx *ctx, int argc, char **argv)
{
	struct plot_req r = {.ctx = ctx};
	char *cause = NULL, *text = NULL, *prog = NULL;
	int ret;
	if (argc == 0) {
		cmd_print_usage(stderr, &cmd_plot_entry);
		return CMD_EXIT_USAGE;
	}
	const struct plot_kind *k = NULL;
	const char *names[PLOT_KIND_COUNT];
	for (int i = 0; i < PLOT_KIND_COUNT; i++) {
		names[i] = plot_kinds[i].name;
		if (strcmp(argv[0], plot_kinds[i].name) == 0)
			k = &plot_kinds[i];
	}
	if (!k) {
		const char *near = util_nearest(argv[0], names, PLOT_KIND_COUNT);
		if (near)
			return cmd_error(CMD_EXIT_USAGE,
					 "unknown plot kind '%s' (did you mean '%s'?)", argv[0],
					 near);
		return cmd_error(CMD_EXIT_USAGE,
				 "unknown plot kind '%s' (kinds: dist, grid, pareto, "
				 "curve, border, heatmap)",
				 argv[0]);
	}
	struct gnuplot_out o = {.path = ctx->out_path};
	enum gnuplot_format f;
	if (o.path && gnuplot_format_of(o.path, &f, &cause) < 0) {
		ret = cmd_error(CMD_EXIT_USAGE, "%s", cause);
		goto out;
	}
	if (o.path) {
		/* FILE, FILE.gp and FILE.dat go into FILE's directory: it must take them */
		const char *slash = strrchr(o.path, '/');
		char *dir =
			slash ? xasprintf("%.*s", (int)(slash - o.path) + (slash == o.path), o.path)
			      : xstrdup(".");
		int ok = access(dir, W_OK | X_OK) == 0;
		if (!ok)
			ret = cmd_error(CMD_EXIT_IO, "%s: cannot write into %s: %s", o.path, dir,
					strerror(errno));
		free(dir);
		if (!ok)
			goto out;
	}
	argc--;
	argv++;
	if ((ret = take_size(&argc, argv, &o.width, &o.height)) != CMD_EXIT_OK)
		goto out;
	/* before any work: without gnuplot there is nothing to draw on */
	if (gnuplot_find(&prog, &cause) < 0) {
		ret = cmd_error(CMD_EXIT_FAILED, "%s", cause);
		goto out;
	}
	r.g = gnuplot_new();
	if ((ret = k->exec(&r, argc, argv)) != CMD_EXIT_OK)
		goto out;
	if (gnuplot_render(r.g, &o, &text, &cause) < 0) {
		ret = cmd_error(CMD_EXIT_FAILED, "plot %s: %s", k->name, cause);
		goto out;
	}
	if (text)
		fputs(text, stdout);
out:
	gnuplot_free(r.g);
	db_close(r.db);
	free(text);
	free(prog);
	free(cause);
	return ret;
}

const struct cmd_entry cmd_plot_entry = {
	.name = "plot",
	.args = "KIND [ARGS ...]",
	.options = CMD_OPT_OUT,
	.summary = "draw a figure with gnuplot (terminal, PNG, SVG or PDF)",
	.help = "Draws a figure with gnuplot: on the terminal (its size, or $COLUMNS x $LINES), "
		"or with -o FILE.png, FILE.svg or FILE.pdf into that file, with FILE.gp (the "
		"gnuplot script) and FILE.dat (its data) beside it: `gnuplot FILE.gp` draws the "
		"figure again. size=WxH sets the size (characters on the terminal, pixels in a "
		"file; default 900x600).\n"
		"dist RUN [layer=L] [what=w|a] [bins=N] [scale=linear|log]: histogram of a "
		"layer's weights (w, the default; PTQ runs: the folded weights) or input "
		"activations (a: on the run's calibration images, else the first 256 training "
		"images; counts on a log scale unless scale=linear), with the quantizer's "
		"levels, the clips (dashed), the quantized values and, when the run split the "
		"layer's channels (OCS), the histogram after splitting. L is a group name "
		"(03_fc), a layer index (3) or a kind (fc) when only one layer has it; default: "
		"the first layer quantized at the run's bits.\n"
		"grid scheme=S[,S...] bits=B[,B...] [role=w|a] [alpha=A] [variant=V]: transfer "
		"functions x -> Q(x) of the registry's quantizers; run=ID [layer=L] adds the "
		"quantizers a run learned (QAT) or calibrated (PTQ).\n"
		"pareto [FILTER] [x=bitops|size_bits] [y=test_acc] [by=scheme]: y against x "
		"(log scale) for the runs matching FILTER (as in ls), averaged over seeds (error "
		"bars: std), one marker per value of by, with the Pareto frontier.\n"
		"curve RUN... [what=test_acc,train_loss]: metrics per epoch of one or more runs "
		"(losses on the right axis).\n"
		"border RUN [layer=L]: the activation border a PTQ run learned (border=aquant) per "
		"bin: mean and min..max over channels, against 0.5 (round to nearest).\n"
		"heatmap [FILTER] [metric=test_acc] [rows=w.bits] [cols=a.bits]: a result over "
		"two keys, averaged over seeds.\n"
		"gnuplot is the program on PATH or $QBENCH_GNUPLOT (Debian: gnuplot-nox). "
		"Examples: qbench plot grid scheme=uniform,pot,apot,lcq bits=3; qbench plot dist 7 "
		"what=a -o act.png",
	.exec = plot_exec,
};
