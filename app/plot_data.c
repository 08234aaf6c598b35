/*
 * plot_data: the runs, layers, values and level sets `qbench plot` draws
 * (see plot_data.h). A layer's quantizer is read back from the attributes
 * and data sets of its group under /quant in the run's model file, as PTQ
 * and QAT write them (docs/formats.md): PTQ keeps the calibrated grid
 * (scales or levels, integer codes, clips, OCS's duplicated channels), QAT
 * the learned quantizer (scheme, bits, clip, LSQ step, LCQ θ, levels).
 *
 * Invariants: level arrays ascend; a layer without a group, or quantized
 * at 32 bits or more, is a float layer (no levels, no quantized values).
 * Nothing here prints.
 */
#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "app/cmd.h"
#include "app/job.h"
#include "app/plot_data.h"
#include "db/db.h"
#include "db/runs.h"
#include "engine/data.h"
#include "engine/io_h5.h"
#include "engine/model.h"
#include "engine/ptq/ocs.h"
#include "engine/ptq/ptq.h"
#include "engine/quant/qat.h"
#include "engine/quant/quant.h"
#include "engine/threads.h"
#include "engine/util.h"

/* Training images forwarded for the activations of a run that has no calibration set. */
#define PLOT_DATA_ACT_IMAGES 256
/* Examples per forward pass when capturing activations. */
#define PLOT_DATA_ACT_BATCH 64

/* ---------------------------------------------------------------------------
 * Runs, model files, layers
 * ------------------------------------------------------------------------- */

int
plot_data_run_open(struct plot_data_run *p, struct db *db, long long id, char **cause)
{
	memset(p, 0, sizeof *p);
	p->id = id;
	if (runs_get(db, p->id, &p->info, cause) < 0 ||
	    runs_get_params(db, p->id, &p->keys, &p->values, &p->nparams, cause) < 0)
		return -1;
	return 0;
}

int
plot_data_run_load(struct plot_data_run *p, const char *db_path, char **cause)
{
	assert(p->info && p->info->model_path);
	p->path = job_db_relative(db_path, p->info->model_path);
	if (io_h5_load_model(&p->m, p->path, cause) < 0 ||
	    io_h5_read_groups(p->path, "quant", &p->gs, cause) < 0)
		return -1;
	p->root = io_h5_groups_find(&p->gs, "quant");
	p->is_ptq = p->root && ptq_is_ptq(&p->gs);
	if (p->root && !p->is_ptq && qat_import(&p->qat, p->m, &p->gs, p->path, cause) < 0)
		return -1;
	return 0;
}

void
plot_data_run_done(struct plot_data_run *p)
{
	run_info_free(p->info);
	run_params_free(p->keys, p->values, p->nparams);
	qat_free(p->qat);
	model_free(p->m);
	io_h5_groups_free(&p->gs);
	free(p->path);
	memset(p, 0, sizeof *p);
}

const char *
plot_data_run_param(const struct plot_data_run *p, const char *key)
{
	for (int i = 0; i < p->nparams; i++)
		if (strcmp(p->keys[i], key) == 0)
			return p->values[i];
	return NULL;
}

static const char *
gattr_str(const struct io_h5_group *g, const char *name)
{
	const struct io_h5_attr *a = g ? io_h5_group_attr(g, name) : NULL;
	return a && a->str ? a->str : NULL;
}

static int
gattr_num(const struct io_h5_group *g, const char *name, double *v)
{
	const struct io_h5_attr *a = g ? io_h5_group_attr(g, name) : NULL;
	if (!a || a->str)
		return -1;
	*v = a->num;
	return 0;
}

static const struct io_h5_data *
gdata(const struct io_h5_group *g, const char *name)
{
	return g ? io_h5_group_dataset(g, name) : NULL;
}

/* The /quant group of layer i of p's model, or NULL. */
static const struct io_h5_group *
layer_group(const struct plot_data_run *p, int i)
{
	char path[64];
	snprintf(path, sizeof path, "quant/%s", model_layer_at(p->m, i)->group);
	return io_h5_groups_find(&p->gs, path);
}

/* "00_fc, 03_fc, ..." : the conv/linear layers of m (malloc'd). */
static char *
layer_list(const struct model *m)
{
	char *s = xstrdup("");
	for (int i = 0; i < model_layer_count(m); i++)
		if (model_layer_is_gemm(m, i)) {
			char *t =
				xasprintf("%s%s%s", s, *s ? ", " : "", model_layer_at(m, i)->group);
			free(s);
			s = t;
		}
	return s;
}

/*
 * The conv/linear layer named spec (see plot_data_run_layer). Returns the
 * index, or -1 with *cause listing the layers.
 */
static int
find_layer(const struct model *m, const char *spec, char **cause)
{
	int n = model_layer_count(m), found = -1, matches = 0;
	char *end;
	long idx = strtol(spec, &end, 10);
	for (int i = 0; i < n; i++) {
		const struct model_layer_info *l = model_layer_at(m, i);
		const char *tag = strchr(l->group, '_');
		int hit = strcmp(l->group, spec) == 0 || (*spec && !*end && idx == i);
		if (hit) {
			if (!model_layer_is_gemm(m, i)) {
				char *list = layer_list(m);
				err_set(cause, "layer %s (%s) has no weights (layers: %s)",
					l->group, l->kind, list);
				free(list);
				return -1;
			}
			return i;
		}
		if (model_layer_is_gemm(m, i) &&
		    (strcmp(l->kind, spec) == 0 || (tag && strcmp(tag + 1, spec) == 0))) {
			found = i;
			matches++;
		}
	}
	char *list = layer_list(m);
	if (matches == 1) {
		free(list);
		return found;
	}
	if (matches > 1)
		err_set(cause, "layer '%s' is ambiguous: give one of %s", spec, list);
	else
		err_set(cause, "unknown layer '%s' (layers: %s)", spec, list);
	free(list);
	return -1;
}

/* The bits of layer i's weight (act 0) or input (act 1) quantizer in p's file; 32 for float. */
static int
layer_bits(const struct plot_data_run *p, int i, int act)
{
	const struct io_h5_group *g = layer_group(p, i);
	double v;
	if (!g)
		return 32;
	if (p->is_ptq)
		return gattr_num(g, act ? "bits_a" : "bits_w", &v) == 0 ? (int)v : 32;
	if (act)
		return gattr_num(g, "a_bits", &v) == 0 ? (int)v : 32;
	const char *kind = gattr_str(g, "w_kind");
	if (kind && strcmp(kind, "fl8") == 0)
		return 8;
	return gattr_num(g, "w_bits", &v) == 0 ? (int)v : 32;
}

/*
 * The layer a figure shows by default (see plot_data_run_layer); 0 when
 * the model has no conv/linear layer at all.
 */
static int
default_layer(const struct plot_data_run *p, int act)
{
	const char *b = plot_data_run_param(p, act ? "a.bits" : "w.bits");
	int want = b ? atoi(b) : 32, first_q = -1, first = -1;
	for (int i = 0; i < model_layer_count(p->m); i++) {
		if (!model_layer_is_gemm(p->m, i))
			continue;
		int bits = layer_bits(p, i, act);
		if (bits < 32 && bits == want)
			return i;
		if (bits < 32 && first_q < 0)
			first_q = i;
		if (first < 0 && (!act || !model_layer_reads_input(p->m, i)))
			first = i;
	}
	if (first_q >= 0)
		return first_q;
	return first >= 0 ? first : 0;
}

int
plot_data_run_layer(const struct plot_data_run *p, const char *spec, int act, int *out,
		    char **cause)
{
	char *why = NULL;
	if (!spec) {
		*out = default_layer(p, act);
		if (!model_layer_is_gemm(p->m, *out)) {
			err_set(cause, "run %lld's model has no conv or linear layer", p->id);
			return -1;
		}
		return 0;
	}
	if ((*out = find_layer(p->m, spec, &why)) < 0) {
		err_set(cause, "run %lld: %s", p->id, why);
		free(why);
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------------------
 * Level sets
 * ------------------------------------------------------------------------- */

/*
 * The full output set from a quantizer's non-negative levels lv (n):
 * mirrored without -0 when signed (binarization's {1} gives {-1, 1}), else
 * lv itself; times factor. Writes into out (2n) and returns the count.
 */
static int
full_levels(const float *lv, int n, int is_signed, float factor, float *out)
{
	int m = 0;
	if (is_signed)
		for (int i = n - 1; i >= 0; i--)
			if (lv[i] != 0)
				out[m++] = -lv[i] * factor;
	for (int i = 0; i < n; i++)
		out[m++] = lv[i] * factor;
	return m;
}

/* The uniform grid k·step for k in [qmin, qmax] into a new array. */
static float *
grid_levels(double step, int bits, int is_signed, int *n)
{
	int qmin = is_signed ? -(1 << (bits - 1)) : 0;
	int qmax = is_signed ? (1 << (bits - 1)) - 1 : (1 << bits) - 1;
	float *lv = xmalloc((size_t)(qmax - qmin + 1) * sizeof *lv);
	*n = 0;
	for (int k = qmin; k <= qmax; k++)
		lv[(*n)++] = (float)(k * step);
	return lv;
}

/* The level of lv (n, ascending) nearest to v (v itself when n is 0). */
static float
nearest_level(const float *lv, int n, float v)
{
	if (n == 0 || !isfinite(v))
		return v;
	int lo = 0, hi = n - 1;
	while (hi - lo > 1) {
		int mid = (lo + hi) / 2;
		if (lv[mid] <= v)
			lo = mid;
		else
			hi = mid;
	}
	return fabsf(v - lv[lo]) <= fabsf(lv[hi] - v) ? lv[lo] : lv[hi];
}

/*
 * Where q's output steps from lv[i] to lv[i + 1] (n - 1 thresholds into t),
 * found by bisection on the reference forward pass: exact for companders
 * and for any rounding rule; the midpoint when q does not map the levels to
 * themselves.
 */
static void
quant_thresholds(struct quant *q, const float *lv, int n, float *t)
{
	for (int i = 0; i + 1 < n; i++) {
		float a = lv[i], b = lv[i + 1], ya, yb;
		quant_forward_ref(q, &ya, &a, 1, 0);
		quant_forward_ref(q, &yb, &b, 1, 0);
		if (!(ya < lv[i + 1] && yb >= lv[i + 1])) {
			t[i] = 0.5f * (a + b);
			continue;
		}
		for (int it = 0; it < 64; it++) {
			float mid = a + 0.5f * (b - a), y;
			if (mid <= a || mid >= b)
				break;
			quant_forward_ref(q, &y, &mid, 1, 0);
			if (y >= lv[i + 1])
				b = mid;
			else
				a = mid;
		}
		t[i] = b;
	}
}

/* ---------------------------------------------------------------------------
 * dist
 * ------------------------------------------------------------------------- */

void
plot_data_dist_init(struct plot_data_dist *v)
{
	memset(v, 0, sizeof *v);
	v->clip_lo = v->clip_hi = NAN;
}

void
plot_data_dist_done(struct plot_data_dist *v)
{
	free(v->x);
	free(v->q);
	free(v->split);
	free(v->levels);
}

static float *
copy_floats(const float *x, size_t n)
{
	float *y = xmalloc((n ? n : 1) * sizeof *y);
	memcpy(y, x, n * sizeof *y);
	return y;
}

/* Clip lines at the outermost levels (signed: both sides; unsigned: the top). */
static void
clip_from_levels(struct plot_data_dist *v, int is_signed)
{
	if (v->nlevels == 0)
		return;
	v->clip_hi = v->levels[v->nlevels - 1];
	if (is_signed)
		v->clip_lo = v->levels[0];
}

/*
 * Weights of a PTQ layer: the folded float weight, the quantized one from
 * the integer codes, the levels, the clips and, when the layer's weights
 * were split, the split float weight.
 */
static int
dist_ptq_weights(struct plot_data_dist *v, const struct plot_data_run *p, int L, char **cause)
{
	int nl = model_layer_count(p->m);
	int *map = xmalloc((size_t)nl * sizeof *map);
	struct model *f = model_derive(p->m, 1, NULL, map, cause);
	if (!f) {
		free(map);
		return -1;
	}
	size_t n;
	const float *w = model_layer_weight(f, map[L], &n);
	int O = model_layer_at(f, map[L])->out_shape[0];
	v->x = copy_floats(w, n);
	v->n = n;
	const struct io_h5_group *g = layer_group(p, L);
	double bits;
	if (!g || gattr_num(g, "bits_w", &bits) < 0 || bits >= 32)
		goto out;
	v->scheme = gattr_str(g, "scheme_w");
	v->bits = (int)bits;
	const struct io_h5_data *codes = gdata(g, "codes_w"), *clip = gdata(g, "clip_w");
	const struct io_h5_data *scale = gdata(g, "scale_w"), *lev = gdata(g, "levels_w");
	if (codes && clip && clip->size > 0 && (scale || lev)) {
		const float *c = codes->data;
		size_t per = codes->size / clip->size;
		v->nq = codes->size;
		v->q = xmalloc(v->nq * sizeof *v->q);
		for (size_t i = 0; i < v->nq; i++) {
			if (scale) {
				size_t ch = scale->size > 1 ? i / per : 0;
				v->q[i] = c[i] *
					  ((const float *)scale->data)[ch < scale->size ? ch : 0];
			} else {
				long k = (long)c[i];
				k = k < 0 ? 0 : k >= (long)lev->size ? (long)lev->size - 1 : k;
				v->q[i] = ((const float *)lev->data)[k];
			}
		}
		double cm = 0;
		for (size_t k = 0; k < clip->size; k++)
			cm = fmax(cm, ((const float *)clip->data)[k]);
		v->clip_lo = -cm;
		v->clip_hi = cm;
		/* per-channel grids differ per channel: levels only for one tensor-wide grid */
		if (scale && scale->size == 1)
			v->levels = grid_levels(((const float *)scale->data)[0], v->bits, 1,
						&v->nlevels);
		else if (lev) {
			v->levels = copy_floats(lev->data, lev->size);
			v->nlevels = (int)lev->size;
		}
	}
	/* weight splitting: the folded weight split again as the run split it */
	const struct io_h5_data *src = gdata(g, "dup_src");
	const char *target = gattr_str(p->root, "ocs_target"),
		   *how = gattr_str(p->root, "ocs_split");
	double ns;
	if (src && (!target || strcmp(target, "w") == 0) && gattr_num(g, "ocs_splits", &ns) == 0 &&
	    ns > 0 && O > 0) {
		int I0 = (int)src->size - (int)ns;
		int K = I0 > 0 ? (int)(n / ((size_t)O * (size_t)I0)) : 0;
		if (K > 0 && (size_t)O * (size_t)I0 * (size_t)K == n) {
			enum ocs_split kind =
				how && strcmp(how, "qa") == 0 ? OCS_SPLIT_QA : OCS_SPLIT_NAIVE;
			float s = scale && ((const float *)scale->data)[0] > 0
					  ? 1.0f / ((const float *)scale->data)[0]
					  : 1.0f;
			if (kind == OCS_SPLIT_QA && !scale)
				kind = OCS_SPLIT_NAIVE;
			v->nsplit = (size_t)O * (size_t)(I0 + (int)ns) * (size_t)K;
			v->split = xmalloc(v->nsplit * sizeof *v->split);
			int32_t *ch = xmalloc((size_t)ns * sizeof *ch);
			ocs_split_weights(v->split, ch, w, O, I0, K, (int)ns, kind, s);
			free(ch);
		}
	}
out:
	model_free(f);
	free(map);
	return 0;
}

/*
 * Weights of a QAT layer: the real weights, the weights the layer computes
 * with, the quantizer's levels. Normalised layers (apot, pot, lcq) are shown
 * in the quantizer's units, (W - mean)/std, where the levels live.
 */
static void
dist_qat_weights(struct plot_data_dist *v, const struct plot_data_run *p, int L)
{
	size_t n;
	const char *group = model_layer_at(p->m, L)->group;
	const float *w = model_layer_weight(p->m, L, &n);
	const struct io_h5_group *g = layer_group(p, L);
	const char *kind = gattr_str(g, "w_kind"), *norm = gattr_str(g, "w_norm");
	v->x = copy_floats(w, n);
	v->n = n;
	if (!g || !kind || strcmp(kind, "float") == 0)
		return;
	v->q = xmalloc(n * sizeof *v->q);
	v->nq = qat_quantized_weight(p->qat, group, v->q);
	double factor = 1, bits = 0, step;
	gattr_num(g, "factor_w", &factor);
	if (strcmp(kind, "fl8") == 0) {
		v->scheme = "uniform";
		v->bits = 8;
		if (gattr_num(g, "scale_w_codes", &step) == 0) {
			v->levels = grid_levels(step, 8, 1, &v->nlevels);
			clip_from_levels(v, 1);
		}
		return;
	}
	v->scheme = gattr_str(g, "w_scheme");
	if (gattr_num(g, "w_bits", &bits) == 0)
		v->bits = (int)bits;
	const struct io_h5_data *lev = gdata(g, "levels_w");
	int normalised = norm && strcmp(norm, "none") != 0;
	if (normalised) {
		float mean, std;
		quant_wn_forward(v->x, &mean, &std, w, n);
		for (size_t i = 0; factor != 0 && i < v->nq; i++)
			v->q[i] = (float)(v->q[i] / factor);
		v->what = "weights, normalised (W - mean) / std";
		factor = 1;
	}
	if (lev && lev->size > 0) {
		v->levels = xmalloc(2 * lev->size * sizeof *v->levels);
		v->nlevels = full_levels(lev->data, (int)lev->size, 1, (float)factor, v->levels);
		clip_from_levels(v, 1);
	}
}

int
plot_data_dist_weights(struct plot_data_dist *v, const struct plot_data_run *p, int L,
		       char **cause)
{
	v->what = "weights";
	if (p->is_ptq)
		return dist_ptq_weights(v, p, L, cause);
	if (p->qat) {
		dist_qat_weights(v, p, L);
		return 0;
	}
	size_t n;
	const float *w = model_layer_weight(p->m, L, &n);
	v->x = copy_floats(w, n);
	v->n = n;
	return 0;
}

/* The quantizer of a PTQ layer's input: levels; *is_signed. */
static void
ptq_act_levels(const struct io_h5_group *g, struct plot_data_dist *v, int *is_signed)
{
	double bits, sgn = 0, clip = NAN, step;
	*is_signed = 0;
	if (gattr_num(g, "bits_a", &bits) < 0 || bits >= 32)
		return;
	v->bits = (int)bits;
	v->scheme = gattr_str(g, "scheme_a");
	gattr_num(g, "signed_a", &sgn);
	gattr_num(g, "clip_a", &clip);
	*is_signed = sgn != 0;
	if (v->scheme && strcmp(v->scheme, "uniform") == 0 && gattr_num(g, "scale_a", &step) == 0) {
		v->levels = grid_levels(step, v->bits, *is_signed, &v->nlevels);
	} else if (v->scheme && isfinite(clip) && clip > 0) {
		/* the registry's quantizer with the stored clip (docs/formats.md) */
		struct quant_config qc = {.scheme = v->scheme,
					  .bits = v->bits,
					  .role = *is_signed ? QUANT_ROLE_WEIGHT : QUANT_ROLE_ACT,
					  .alpha = (float)clip,
					  .is_signed = -1};
		struct quant *q;
		float lv[QUANT_MAX_LEVELS];
		if (quant_new(&q, &qc, NULL) == 0) {
			int n = quant_levels(q, lv, QUANT_MAX_LEVELS);
			if (n > 0) {
				v->levels = xmalloc((size_t)(2 * n) * sizeof *v->levels);
				v->nlevels = full_levels(lv, n, *is_signed, 1, v->levels);
			}
			quant_free(q);
		}
	}
	if (isfinite(clip)) {
		v->clip_hi = clip;
		if (*is_signed)
			v->clip_lo = -clip;
	} else {
		clip_from_levels(v, *is_signed);
	}
}

/* The quantizer of a QAT layer's input: levels; *is_signed. */
static void
qat_act_levels(const struct plot_data_run *p, int L, const struct io_h5_group *g,
	       struct plot_data_dist *v, int *is_signed)
{
	double bits;
	*is_signed = 0;
	if (!g || gattr_num(g, "a_bits", &bits) < 0 || bits >= 32)
		return;
	v->bits = (int)bits;
	v->scheme = gattr_str(g, "a_scheme");
	*is_signed = !model_layer_input_nonneg(p->m, L);
	const struct io_h5_data *lev = gdata(g, "levels_a");
	if (lev && lev->size > 0) {
		v->levels = xmalloc(2 * lev->size * sizeof *v->levels);
		v->nlevels = full_levels(lev->data, (int)lev->size, *is_signed, 1, v->levels);
	}
	clip_from_levels(v, *is_signed);
}

int
plot_data_run_dataset(const struct plot_data_run *p, struct dataset **out, char **cause)
{
	const char *spec = plot_data_run_param(p, "dataset");
	const char *tn = plot_data_run_param(p, "train.n");
	return dataset_load(out, spec ? spec : "fmnist", DATA_TRAIN, tn ? atoi(tn) : 0, cause);
}

int
plot_data_dist_acts(struct plot_data_dist *v, const struct plot_data_run *p, int L,
		    const struct dataset *d, char **cause)
{
	int ret = -1, *idx = NULL, n = 0;
	int c, h, w;
	v->what = "input activations";
	model_input_shape(p->m, &c, &h, &w);
	if (d->c != c || d->h != h || d->w != w) {
		err_set(cause, "%s has %dx%dx%d images, run %lld's model takes %dx%dx%d",
			d->source, d->c, d->h, d->w, p->id, c, h, w);
		goto out;
	}
	const struct io_h5_data *ci = p->is_ptq ? gdata(p->root, "calib_indices") : NULL;
	if (ci) {
		idx = xmalloc((ci->size ? ci->size : 1) * sizeof *idx);
		for (size_t i = 0; i < ci->size; i++) {
			float f = ((const float *)ci->data)[i];
			if (!(f >= 0 && f < (float)d->n)) {
				err_set(cause,
					"%s: calibration index %g is outside the %d training "
					"images",
					p->path, (double)f, d->n);
				goto out;
			}
			idx[n++] = (int)f;
		}
	} else {
		n = d->n < PLOT_DATA_ACT_IMAGES ? d->n : PLOT_DATA_ACT_IMAGES;
		idx = xmalloc((size_t)(n ? n : 1) * sizeof *idx);
		for (int i = 0; i < n; i++)
			idx[i] = i;
	}
	/* the layer's input: the output of the layer it reads, or the image */
	int src = model_layer_input(p->m, L);
	size_t per = (size_t)c * h * w;
	if (src != MODEL_INPUT) {
		const int *s = model_layer_at(p->m, src)->out_shape;
		per = (size_t)s[0] * s[1] * s[2];
	}
	// v->x is (n, per): example e's input to layer L at e·per
	v->n = (size_t)n * per;
	v->x = xmalloc((v->n ? v->n : 1) * sizeof *v->x);
	int32_t *labels = xmalloc(PLOT_DATA_ACT_BATCH * sizeof *labels);
	threads_init(0);
	model_reserve(p->m, PLOT_DATA_ACT_BATCH, 0);
	for (int b = 0; b < n; b += PLOT_DATA_ACT_BATCH) {
		int B = n - b < PLOT_DATA_ACT_BATCH ? n - b : PLOT_DATA_ACT_BATCH;
		dataset_gather(d, idx + b, B, model_input(p->m), labels, 0, 0, NULL);
		model_forward(p->m, B, 0, NULL);
		const float *a =
			src == MODEL_INPUT ? model_input(p->m) : model_activation(p->m, src);
		memcpy(v->x + (size_t)b * per, a, (size_t)B * per * sizeof *v->x);
	}
	free(labels);

	const struct io_h5_group *g = layer_group(p, L);
	int is_signed = 0;
	if (p->is_ptq)
		ptq_act_levels(g, v, &is_signed);
	else if (p->qat)
		qat_act_levels(p, L, g, v, &is_signed);
	if (v->nlevels > 0) {
		v->q = xmalloc(v->n * sizeof *v->q);
		v->nq = v->n;
		/* nearest level: the grid's ends clamp (at 0 too for an unsigned grid) */
		for (size_t i = 0; i < v->n; i++)
			v->q[i] = nearest_level(v->levels, v->nlevels, v->x[i]);
	}
	/* activation splitting: channel j of the split input is dup_factor[j]·x[dup_src[j]] */
	const struct io_h5_data *ds = gdata(g, "dup_src"), *df = gdata(g, "dup_factor");
	const char *target = gattr_str(p->root, "ocs_target");
	if (p->is_ptq && ds && df && df->size == ds->size && target && strcmp(target, "a") == 0) {
		double ns = 0;
		gattr_num(g, "ocs_splits", &ns);
		size_t I0 = ds->size - (size_t)ns, I = ds->size;
		size_t sp = I0 > 0 ? per / I0 : 0;
		if (sp > 0 && sp * I0 == per) {
			v->nsplit = (size_t)n * I * sp;
			v->split = xmalloc(v->nsplit * sizeof *v->split);
			size_t k = 0;
			for (int e = 0; e < n; e++)
				for (size_t j = 0; j < I; j++) {
					size_t from = (size_t)((const float *)ds->data)[j];
					float fac = ((const float *)df->data)[j];
					const float *x = v->x + (size_t)e * per +
							 (from < I0 ? from : 0) * sp;
					for (size_t s = 0; s < sp; s++)
						v->split[k++] = fac * x[s];
				}
		}
	}
	ret = 0;
out:
	free(idx);
	return ret;
}

/* ---------------------------------------------------------------------------
 * grid
 * ------------------------------------------------------------------------- */

void
plot_data_grid_init(struct plot_data_grid *gs)
{
	gs->n = 0;
	gs->lo = INFINITY;
	gs->hi = -INFINITY;
}

void
plot_data_grid_done(struct plot_data_grid *gs)
{
	for (int i = 0; i < gs->n; i++) {
		free(gs->names[i]);
		free(gs->levels[i]);
		free(gs->thresholds[i]);
	}
}

/* Adds a series (taking name, levels and thresholds); ignored when full. */
static void
grid_add(struct plot_data_grid *gs, char *name, float *lv, int n, float *t)
{
	if (gs->n >= PLOT_DATA_MAX_SERIES || n < 1) {
		free(name);
		free(lv);
		free(t);
		return;
	}
	gs->names[gs->n] = name;
	gs->levels[gs->n] = lv;
	gs->thresholds[gs->n] = t;
	gs->s[gs->n++] = (struct plot_levels){name, lv, n, t};
	gs->lo = fmin(gs->lo, lv[0]);
	gs->hi = fmax(gs->hi, lv[n - 1]);
}

void
plot_data_grid_add_quant(struct plot_data_grid *gs, char *name, struct quant *q)
{
	float lv[QUANT_MAX_LEVELS];
	int n = quant_levels(q, lv, QUANT_MAX_LEVELS);
	if (n <= 0) {
		free(name);
		return;
	}
	float *all = xmalloc((size_t)(2 * n) * sizeof *all);
	int m = full_levels(lv, n, cmd_quant_is_signed(q), 1, all);
	float *t = xmalloc((size_t)(m > 1 ? m - 1 : 1) * sizeof *t);
	quant_thresholds(q, all, m, t);
	grid_add(gs, name, all, m, t);
}

/*
 * Rebuilds a QAT layer's quantizer for role ("w" or "a") from its group: the
 * registry's scheme with the learned clip, LSQ step (first channel) and LCQ
 * θ. Returns NULL when the layer has none; else the caller frees it with
 * quant_free().
 */
static struct quant *
qat_layer_quant(const struct io_h5_group *g, const char *role)
{
	char k[32];
	double bits, alpha = 1;
	snprintf(k, sizeof k, "%s_scheme", role);
	const char *scheme = gattr_str(g, k);
	snprintf(k, sizeof k, "%s_bits", role);
	if (!scheme || gattr_num(g, k, &bits) < 0)
		return NULL;
	snprintf(k, sizeof k, "%s_variant", role);
	const char *variant = gattr_str(g, k);
	snprintf(k, sizeof k, "alpha_%s", role);
	gattr_num(g, k, &alpha);
	snprintf(k, sizeof k, "scale_%s", role);
	const struct io_h5_data *scale = gdata(g, k);
	snprintf(k, sizeof k, "theta_%s", role);
	const struct io_h5_data *theta = gdata(g, k);
	struct quant_config qc = {
		.scheme = scheme,
		.bits = (int)bits,
		.role = role[0] == 'w' ? QUANT_ROLE_WEIGHT : QUANT_ROLE_ACT,
		.variant = variant && *variant ? variant : NULL,
		.alpha = (float)alpha,
		.channels = 1,
		.scale = scale && scale->size ? scale->data : NULL,
		.is_signed = -1,
	};
	struct quant *q;
	if (quant_new(&q, &qc, NULL) < 0)
		return NULL;
	if (theta && theta->size == QUANT_LCQ_K)
		memcpy(q->theta, theta->data, sizeof q->theta);
	return q;
}

int
plot_data_grid_add_run(struct plot_data_grid *gs, const struct plot_data_run *p, int L, int act)
{
	int added = 0;
	for (int i = 0; i < model_layer_count(p->m); i++) {
		if (!model_layer_is_gemm(p->m, i) || (L >= 0 && i != L))
			continue;
		const struct io_h5_group *g = layer_group(p, i);
		const char *group = model_layer_at(p->m, i)->group;
		if (!g || layer_bits(p, i, act) >= 32)
			continue;
		if (p->is_ptq) {
			struct plot_data_dist v;
			plot_data_dist_init(&v);
			int sgn = 1;
			if (act) {
				ptq_act_levels(g, &v, &sgn);
			} else {
				double bits;
				const struct io_h5_data *scale = gdata(g, "scale_w"),
							*lev = gdata(g, "levels_w");
				v.scheme = gattr_str(g, "scheme_w");
				v.bits = gattr_num(g, "bits_w", &bits) == 0 ? (int)bits : 0;
				if (scale && scale->size >= 1) {
					v.levels = grid_levels(((const float *)scale->data)[0],
							       v.bits, 1, &v.nlevels);
				} else if (lev && lev->size) {
					v.levels = copy_floats(lev->data, lev->size);
					v.nlevels = (int)lev->size;
				}
			}
			char *name = xasprintf("run %lld %s %s: %s %d bits", p->id, group,
					       act ? "a" : "w", v.scheme ? v.scheme : "?", v.bits);
			/* PTQ rounds to the nearest level: midpoints */
			grid_add(gs, name, v.levels, v.nlevels, NULL);
			v.levels = NULL;
			plot_data_dist_done(&v);
			added++;
			continue;
		}
		struct quant *q = qat_layer_quant(g, act ? "a" : "w");
		if (q) {
			plot_data_grid_add_quant(
				gs,
				xasprintf("run %lld %s %s: %s %d bits", p->id, group,
					  act ? "a" : "w", q->scheme->name, q->bits),
				q);
			quant_free(q);
			added++;
		}
	}
	return added;
}
