/*
 * sweep_expand: a parsed sweep (sweep_int.h) into its points (see sweep.h).
 *
 * Expansion walks the cross product of the dimensions (an axis, or a zip
 * group in the place of its first key) like an odometer whose last
 * dimension turns fastest. Each combination is filtered by :where and
 * :exclude on its raw values (a key's default where the sweep sets none)
 * before a configuration is built, so that a filter can drop combinations
 * config_check() would refuse.
 *
 * A kept combination becomes a point, with its float parent when chained,
 * and is checked as the runner will run it. The keys that have no effect on
 * a point are left out of it, and points that coincide once they are left
 * out are kept once. A key the sweep sets that stays on no point (or on no
 * point's parent), and a parent.KEY line when no point is chained, are
 * errors: such a line has no effect.
 *
 * The sweep is only read: parsing guarantees the invariants of sweep_int.h,
 * so expansion meets no syntax error, unknown key or bad value, only points
 * whose configuration is invalid. The points own everything they hold.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/model.h"
#include "engine/util.h"
#include "experiments/config.h"
#include "experiments/sweep.h"
#include "experiments/sweep_int.h"

/* Most combinations a sweep may expand to. */
#define SWEEP_MAX_POINTS 100000

/* The value of vocabulary key k in a combination: the sweep's, else the default. */
static const char *
value_of(const char *const *vals, int k)
{
	return vals[k] ? vals[k] : config_key_at(k)->def;
}

/* The value of the vocabulary key called name (see value_of). */
static const char *
value_named(const char *const *vals, const char *name)
{
	return value_of(vals, sweep_vocab_index(name));
}

/* Nonzero when the combination vals passes x (see sweep.h for how sides compare). */
static int
expr_eval(const struct expr *x, const char *const *vals)
{
	double a, b;
	if (x->kind == EXPR_OR)
		return expr_eval(x->a, vals) || expr_eval(x->b, vals);
	if (x->kind == EXPR_AND)
		return expr_eval(x->a, vals) && expr_eval(x->b, vals);
	if (x->kind == EXPR_NOT)
		return !expr_eval(x->a, vals);
	const char *l = x->l.key >= 0 ? value_of(vals, x->l.key) : x->l.text;
	const char *r = x->r.key >= 0 ? value_of(vals, x->r.key) : x->r.text;
	int c = sweep_as_number(l, &a) && sweep_as_number(r, &b) ? (a > b) - (a < b) : strcmp(l, r);
	switch (x->op) {
	case EXPR_EQ:
		return c == 0;
	case EXPR_NE:
		return c != 0;
	case EXPR_LT:
		return c < 0;
	case EXPR_LE:
		return c <= 0;
	case EXPR_GT:
		return c > 0;
	case EXPR_GE:
		return c >= 0;
	}
	return 0;
}

/* The CONFIG_JOB_* bit of a job= value (job= is canonical: train, ptq or eval). */
static unsigned
job_bit(const char *job)
{
	if (strcmp(job, "ptq") == 0)
		return CONFIG_JOB_PTQ;
	return strcmp(job, "eval") == 0 ? CONFIG_JOB_EVAL : CONFIG_JOB_TRAIN;
}

/* Nonzero when a combination starts from a float parent (see sweep.h). */
static int
is_chained(const char *const *vals)
{
	unsigned job = job_bit(value_named(vals, "job"));
	int quant = atoi(value_named(vals, "w.bits")) < 32 ||
		    atoi(value_named(vals, "a.bits")) < 32 ||
		    atoi(value_named(vals, "g.bits")) < 32;
	if (job != CONFIG_JOB_PTQ && !(job == CONFIG_JOB_TRAIN && quant))
		return 0;
	for (const char *const *a = model_arch_names(); *a; a++)
		if (strcmp(*a, value_named(vals, "model")) == 0)
			return 1;
	return 0;
}

/* "key=value ..." of the axes at the chosen values, without those cfg left out (malloc'd). */
static char *
point_label(const struct sweep *s, const int *chosen, const struct config *cfg,
	    const struct config *parent)
{
	struct strbuf b = {0};
	for (int i = 0, n = 0; i < s->naxes; i++) {
		const struct sweep_key *k = &s->keys[s->axes[i]];
		const char *name = config_key_at(k->key)->name;
		/* an axis left out of this point (no effect on it) is not in its label,
		 * except the bit-widths, which say why the others were left out */
		size_t len = strlen(name);
		if (cfg && !k->parent && !config_is_set(cfg, name) &&
		    !(parent && config_is_set(parent, name)) &&
		    !(len > 5 && strcmp(name + len - 5, ".bits") == 0))
			continue;
		sweep_sb_add(&b, n++ ? " " : "");
		sweep_sb_add(&b, k->name);
		sweep_sb_add(&b, "=");
		sweep_sb_add_value(&b, k->v[chosen[s->axes[i]]], 0);
	}
	return sweep_sb_take(&b);
}

/* Nonzero when key k belongs in a float parent: training reads it, it quantizes nothing. */
static int
parent_key(const struct config_key *k)
{
	return (k->jobs & CONFIG_JOB_TRAIN) && !k->quant && strcmp(k->name, "job") != 0 &&
	       strcmp(k->name, "model") != 0;
}

/*
 * Sets the configuration of a combination (chosen[j]: the value index of
 * line j; vals: its values by vocabulary key) on cfg, and on parent when
 * chained: a key float training reads (not job or model) goes to the
 * parent too, and only there when the point's job does not read it; the
 * parent.KEY lines come last, so that they win.
 */
static int
set_point(const struct sweep *s, const int *chosen, const char *const *vals,
	  struct config *cfg, struct config *parent, char **cause)
{
	unsigned job = job_bit(value_named(vals, "job"));
	int r = 0;
	if (parent)
		r = config_set_value(parent, "job", "train", cause) ||
		    config_set_value(parent, "model", value_named(vals, "model"), cause);
	for (int pass = 0; pass < 2 && r == 0; pass++)
		for (int j = 0; j < s->nkeys && r == 0; j++) {
			const struct sweep_key *sk = &s->keys[j];
			const struct config_key *k = config_key_at(sk->key);
			const char *v = sk->v[chosen[j]];
			int to_parent = parent && (sk->parent || parent_key(k));
			if (sk->parent != pass)
				continue;
			if (!sk->parent && !(to_parent && !(k->jobs & job)))
				r = config_set_value(cfg, k->name, v, cause);
			if (r == 0 && to_parent)
				r = config_set_value(parent, k->name, v, cause);
		}
	return r ? -1 : 0;
}

/*
 * Leaves out of cfg the keys that have no effect on this point
 * (config_drop_inert), and marks in applied[] (by vocabulary index) the keys
 * that stay set on the point or on its parent.
 */
static void
drop_inert(struct config *cfg, const struct config *parent, int *applied)
{
	char **dropped = NULL;
	int n = 0;
	config_drop_inert(cfg, &dropped, &n);
	for (int i = 0; i < n; i++)
		free(dropped[i]);
	free(dropped);
	for (int i = 0; i < config_key_count(); i++)
		if (config_is_set(cfg, config_key_at(i)->name) ||
		    (parent && config_is_set(parent, config_key_at(i)->name)))
			applied[i] = 1;
}

/* Builds and checks the point of a combination into *pt (see set_point). */
static int
build_point(const struct sweep *s, const int *chosen, const char *const *vals,
	    struct sweep_point *pt, int *applied, char **cause)
{
	int chained = is_chained(vals);
	struct config *cfg = config_new(), *parent = chained ? config_new() : NULL, *check;
	char *label = NULL;
	int r = set_point(s, chosen, vals, cfg, parent, cause);
	if (r == 0)
		drop_inert(cfg, parent, applied);
	label = point_label(s, chosen, r == 0 ? cfg : NULL, parent);
	/* a chained point is checked as the runner will run it, from its parent's run */
	check = chained ? config_dup(cfg) : cfg;
	if (r == 0 && chained)
		r = config_set_value(check, "model", "run:1", cause);
	if (r == 0)
		r = config_check(check, cause);
	if (r == 0 && parent && config_check(parent, cause) < 0)
		r = err_wrap(cause, "parent");
	if (check != cfg)
		config_free(check);
	if (r < 0) {
		if (*label)
			err_wrap(cause, "point %s", label);
		config_free(cfg);
		config_free(parent);
		free(label);
		return -1;
	}
	*pt = (struct sweep_point){cfg, parent, label};
	return 0;
}

void
sweep_points_done(struct sweep_points *p)
{
	for (int i = 0; i < p->n; i++) {
		config_free(p->v[i].cfg);
		config_free(p->v[i].parent);
		free(p->v[i].label);
	}
	free(p->v);
	p->v = NULL;
	p->n = 0;
}

/*
 * The dimensions of the cross product, in axis order: dims[d] is the line
 * of an axis, or -1 - z for zip z (in the place of its first key).
 */
static int
build_dims(const struct sweep *s, int *dims, int *sizes)
{
	int nd = 0;
	for (int i = 0; i < s->naxes; i++) {
		int j = s->axes[i], z = s->keys[j].zip;
		if (z < 0 || s->zips[z].keys[0] == j) {
			sizes[nd] = s->keys[j].n;
			dims[nd++] = z < 0 ? j : -1 - z;
		}
	}
	return nd;
}

/*
 * The points kept so far, as a hash set of their configurations (the point's
 * and its parent's run keys), so that points that coincide once inert keys
 * are left out are kept once.
 */
struct seen {
	char **keys;
	size_t cap, n;
};

/* Adds pt to the set; 0 when an equal point is there already. */
static int
seen_add(struct seen *set, const struct sweep_point *pt)
{
	char a[CONFIG_HASH_LEN + 1], b[CONFIG_HASH_LEN + 1] = "";
	config_hash(pt->cfg, a);
	if (pt->parent)
		config_hash(pt->parent, b);
	char *key = xasprintf("%s/%s", a, b);
	if (2 * (set->n + 1) > set->cap) {
		struct seen grown = {xcalloc(set->cap ? 2 * set->cap : 64, sizeof(char *)),
				     set->cap ? 2 * set->cap : 64, 0};
		for (size_t i = 0; i < set->cap; i++)
			if (set->keys[i]) {
				size_t h = strtoull(set->keys[i], NULL, 16) % grown.cap;
				while (grown.keys[h])
					h = (h + 1) % grown.cap;
				grown.keys[h] = set->keys[i];
				grown.n++;
			}
		free(set->keys);
		*set = grown;
	}
	size_t h = strtoull(key, NULL, 16) % set->cap;
	for (; set->keys[h]; h = (h + 1) % set->cap)
		if (strcmp(set->keys[h], key) == 0) {
			free(key);
			return 0;
		}
	set->keys[h] = key;
	set->n++;
	return 1;
}

static void
seen_done(struct seen *set)
{
	for (size_t i = 0; i < set->cap; i++)
		free(set->keys[i]);
	free(set->keys);
}

/*
 * The error for a sweep key left out of every point: config_check's reason
 * on the first point with the key put back.
 */
static void
inert_error(const struct sweep *s, const struct sweep_key *sk, const struct sweep_point *pt,
	    char **cause)
{
	struct config *c = config_dup(pt->cfg);
	const char *name = config_key_at(sk->key)->name;
	(void)s;
	if (config_set_value(c, name, sk->v[0], cause) == 0 &&
	    config_set_value(c, "model", pt->parent ? "run:1" : config_get(c, "model"),
			     cause) == 0 &&
	    config_check(c, cause) == 0)
		err_set(cause, "%s=%s has no effect on any point", name, sk->text);
	else
		err_wrap(cause, "no point uses it");
	config_free(c);
}

int
sweep_expand(const struct sweep *s, struct sweep_points *out, char **cause)
{
	int nk = config_key_count(), cap = 0, r = -1, chained = 0;
	int *dims = xmalloc((size_t)(s->naxes + 1) * sizeof *dims);
	int *sizes = xmalloc((size_t)(s->naxes + 1) * sizeof *sizes);
	int nd = build_dims(s, dims, sizes);
	int *idx = xcalloc((size_t)nd + 1, sizeof *idx);
	int *chosen = xcalloc((size_t)s->nkeys, sizeof *chosen);
	const char **vals = xcalloc((size_t)nk, sizeof *vals);
	int *applied = xcalloc((size_t)nk, sizeof *applied);
	struct seen seen = {0};
	double total = 1;
	for (int d = 0; d < nd; d++)
		total *= sizes[d];
	out->v = NULL;
	out->n = 0;
	if (total > SWEEP_MAX_POINTS) {
		err_set(cause, "the sweep expands to %.0f combinations, more than %d", total,
			SWEEP_MAX_POINTS);
		goto out;
	}
	for (long c = 0; c < (long)total; c++) {
		for (int d = 0; d < nd; d++) {
			const struct sweep_zip *z = dims[d] < 0 ? &s->zips[-1 - dims[d]] : NULL;
			for (int i = 0; i < (z ? z->n : 1); i++)
				chosen[z ? z->keys[i] : dims[d]] = idx[d];
		}
		for (int j = 0; j < s->nkeys; j++)
			if (!s->keys[j].parent)
				vals[s->keys[j].key] = s->keys[j].v[chosen[j]];
		int keep = 1;
		for (int i = 0; i < s->nfilters && keep; i++)
			keep = expr_eval(s->filters[i], vals);
		if (keep) {
			if (out->n == cap) {
				cap = cap ? 2 * cap : 16;
				out->v = xrealloc(out->v, (size_t)cap * sizeof *out->v);
			}
			if (build_point(s, chosen, vals, &out->v[out->n], applied, cause) < 0)
				goto out;
			if (seen_add(&seen, &out->v[out->n])) {
				chained |= out->v[out->n++].parent != NULL;
			} else {
				/* the same point as an earlier one once inert keys are left out */
				config_free(out->v[out->n].cfg);
				config_free(out->v[out->n].parent);
				free(out->v[out->n].label);
			}
		}
		for (int d = nd - 1; d >= 0 && ++idx[d] == sizes[d]; d--)
			idx[d] = 0;
	}
	if (out->n == 0) {
		err_set(cause, "the sweep has no points left after :where/:exclude");
		goto out;
	}
	for (int j = 0; j < s->nkeys; j++)
		if (!s->keys[j].parent && !applied[s->keys[j].key]) {
			inert_error(s, &s->keys[j], &out->v[0], cause);
			goto out;
		}
	for (int j = 0; j < s->nkeys && !chained; j++)
		if (s->keys[j].parent) {
			err_set(cause, "%s=%s has no effect: no point starts from a float parent",
				s->keys[j].name, s->keys[j].text);
			goto out;
		}
	r = 0;
out:
	if (r < 0)
		sweep_points_done(out);
	free(dims);
	free(sizes);
	free(idx);
	free(chosen);
	free(vals);
	free(applied);
	seen_done(&seen);
	return r;
}
