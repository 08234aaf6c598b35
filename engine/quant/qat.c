/*
 * qat: quantizers attached to a model (see qat.h for the per-layer rules).
 *
 * Invariants:
 * - A layer's weight hook writes the weight the layer computes with, in the
 *   layer's own units; its backward turns the gradient with respect to that
 *   weight into the gradient with respect to the real (latent) weight, through
 *   the normalisation when there is one.
 * - Statistics are gathered only while q->stats is set (qat_report's pass on
 *   the calibration batch), so training passes pay nothing for them.
 * - The learnable parameters live in the quantizers (struct quant); before a
 *   step they are gathered into one vector for an optimizer of their own and
 *   scattered back after it, clips kept positive.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/data.h"
#include "engine/io_h5.h"
#include "engine/model.h"
#include "engine/optim.h"
#include "engine/quant/qat.h"
#include "engine/quant/quant.h"
#include "engine/train.h"
#include "engine/util.h"

/* Candidates of the clip search, and the most elements it looks at. */
#define QAT_GRID 64
#define QAT_SEARCH_MAX 262144
/* Smallest clip or step a step of the optimizer may leave. */
#define QAT_MIN_CLIP 1e-6f

enum wkind { W_FLOAT, W_FL8, W_QUANT };
enum norm { NORM_NONE, NORM_WN, NORM_WN_DETACHED, NORM_LWN };
static const char *const wkind_names[] = {"float", "fl8", "quant"};
static const char *const norm_names[] = {"none", "wn", "wn-detached", "lwn"};
static const char *const firstlast_names[] = {"8", "fp", "same", NULL};

struct qlayer {
	struct qat *owner;
	int index;	   /* model layer */
	const char *group; /* "03_conv" (owned by the model) */
	enum wkind wkind;
	enum norm norm;
	int restore;	   /* the normalised weight gets its std back */
	int qnn_scale;	   /* binary weight scaled by mean|W| */
	int apot_rule;	   /* FL8 with the APoT signed-max rule */
	struct quant *wq, *aq;
	float *w, *dw;	   /* the real weight and its gradient (model arenas) */
	size_t w_size;
	int oc;
	long macs;
	int a_from_input;  /* the layer reads the model input */
	/* weight path: normalised weight, quantizer output (normalised units), scratch */
	float *what, *qbuf, *gbuf, *dsrc;
	float mean, std, factor; /* factor: output = qbuf · factor */
	float fl_m;		 /* FL8 scale m */
	struct model_quantizer hw, ha;
	double sw_sig, sw_noise, sa_sig, sa_noise;
};

/* One learnable parameter array of a quantizer. */
struct qslot {
	float *value;
	double *grad;
	int n;
	int positive; /* a clip or a step: kept > 0 */
};

struct qat {
	struct qat_config cfg;
	char *w_scheme, *a_scheme, *w_variant, *a_variant;
	struct model *m;
	struct qlayer *layers;
	int n_layers;
	int stats;
	/* calibration batch: inputs (calib_n examples) */
	float *calib_x;
	int calib_n;
	/* learnable parameters */
	struct qslot *slots;
	int n_slots;
	float *qp, *qg;
	size_t nq;
	struct optim *opt;
	double lr_scale;
};

int
qat_firstlast_parse(const char *name)
{
	for (int f = 0; firstlast_names[f]; f++)
		if (strcmp(firstlast_names[f], name) == 0)
			return f;
	return -1;
}

static int
scheme_is_float(const char *s, int bits)
{
	return !s || !*s || strcmp(s, "float") == 0 || bits >= 32;
}

/* uniform's lsq variant: learned steps (scale) instead of a clip α */
static int
is_lsq(const struct quant *q)
{
	return strcmp(q->scheme->name, "uniform") == 0 && q->variant == 0;
}

int
qat_config_active(const struct qat_config *c)
{
	return !scheme_is_float(c->w_scheme, c->w_bits) || !scheme_is_float(c->a_scheme, c->a_bits) ||
	       c->g_bits < 32;
}

/* The variant a quantizer of scheme s at bits gets when none is named. */
static const char *
default_variant(const char *s, int bits)
{
	if (strcmp(s, "qnn") == 0)
		return bits == 1 ? "det" : "linear";
	return NULL;
}

/* Checks one role's scheme, bits and variant by building a throwaway quantizer. */
static int
check_role(const char *role, const char *scheme, int bits, const char *variant,
	   enum quant_role qrole, char **cause)
{
	if (scheme_is_float(scheme, bits))
		return 0;
	struct quant_config qc = {
		.scheme = scheme,
		.bits = bits,
		.role = qrole,
		.variant = variant ? variant : default_variant(scheme, bits),
		.alpha = 1.0f,
		.is_signed = -1,
	};
	struct quant *q = NULL;
	char *why = NULL;
	if (quant_new(&q, &qc, &why) < 0) {
		err_set(cause, "%s.scheme=%s %s.bits=%d: %s", role, scheme, role, bits, why);
		free(why);
		return -1;
	}
	quant_free(q);
	return 0;
}

int
qat_check(const struct qat_config *c, char **cause)
{
	if (c->w_bits < 1 || c->a_bits < 1)
		return err_set(cause, "bits must be 1..8 or 32 (got w.bits=%d a.bits=%d)", c->w_bits,
			       c->a_bits);
	if (check_role("w", c->w_scheme, c->w_bits, c->w_variant, QUANT_ROLE_WEIGHT, cause) < 0 ||
	    check_role("a", c->a_scheme, c->a_bits, c->a_variant, QUANT_ROLE_ACT, cause) < 0)
		return -1;
	if (c->w_channel && !scheme_is_float(c->w_scheme, c->w_bits) &&
	    strcmp(c->w_scheme, "uniform") != 0)
		return err_set(cause, "w.gran=channel needs w.scheme=uniform (got %s)", c->w_scheme);
	if (c->g_bits < 32 && (c->g_bits < 2 || c->g_bits > 8))
		return err_set(cause, "g.bits must be 2..8 or 32 (got %d)", c->g_bits);
	if (!scheme_is_float(c->a_scheme, c->a_bits) && strcmp(c->a_scheme, "qnn") == 0 &&
	    !scheme_is_float(c->w_scheme, c->w_bits) && strcmp(c->w_scheme, "qnn") != 0)
		return err_set(cause, "a.scheme=qnn turns the network's ReLUs into hardtanh; pair it "
				      "with w.scheme=qnn (got w.scheme=%s)",
			       c->w_scheme);
	return 0;
}

const struct qat_config *
qat_config(const struct qat *q)
{
	return &q->cfg;
}

/* ---------------------------------------------------------------------------
 * Hooks
 * ------------------------------------------------------------------------- */

static void
accumulate_sqnr(double *sig, double *noise, const float *x, const float *y, size_t n)
{
	double s = 0, e = 0;
	for (size_t i = 0; i < n; i++) {
		s += (double)x[i] * x[i];
		e += (double)(x[i] - y[i]) * (x[i] - y[i]);
	}
	*sig += s;
	*noise += e;
}

static float
max_abs(const float *x, size_t n)
{
	float m = 0;
	for (size_t i = 0; i < n; i++)
		m = fabsf(x[i]) > m ? fabsf(x[i]) : m;
	return m;
}

/* FL8: symmetric 8-bit, m = max|x| (or the signed max of APoT §1.4). */
static void
fl8_forward(struct qlayer *L, float *y, const float *x, size_t n)
{
	if (L->apot_rule) {
		float m = -INFINITY;
		for (size_t i = 0; i < n; i++)
			m = x[i] > m ? x[i] : m;
		L->fl_m = m;
		if (m > 0) {
			quant_apot_first_last(y, x, n);
			return;
		}
	} else {
		L->fl_m = max_abs(x, n);
	}
	float m = L->fl_m;
	if (!(m > 0)) {
		memcpy(y, x, n * sizeof *y);
		return;
	}
	for (size_t i = 0; i < n; i++)
		y[i] = quant_round(x[i] / m * 127.0f) / 127.0f * m;
}

static void
weight_forward(void *ctx, float *y, const float *x, size_t n, int training)
{
	struct qlayer *L = ctx;
	if (L->wkind == W_FL8) {
		fl8_forward(L, y, x, n);
		if (L->owner->stats)
			accumulate_sqnr(&L->sw_sig, &L->sw_noise, x, y, n);
		return;
	}
	const float *src = x;
	if (L->norm != NORM_NONE) {
		quant_wn_forward(L->what, &L->mean, &L->std, x, n);
		src = L->what;
	}
	quant_forward(L->wq, L->qbuf, src, n, training);
	if (L->owner->stats)
		accumulate_sqnr(&L->sw_sig, &L->sw_noise, src, L->qbuf, n);
	L->factor = 1.0f;
	if (L->restore)
		L->factor = L->std;
	else if (L->qnn_scale) {
		double s = 0;
#pragma omp parallel for schedule(static) reduction(+ : s) if (n > 65536)
		for (size_t i = 0; i < n; i++)
			s += fabsf(x[i]);
		L->factor = (float)(s / (double)n);
	}
	const float f = L->factor, *qb = L->qbuf;
#pragma omp parallel for schedule(static) if (n > 65536)
	for (size_t i = 0; i < n; i++)
		y[i] = qb[i] * f;
}

static void
weight_backward(void *ctx, float *dx, const float *dy, const float *x, size_t n)
{
	struct qlayer *L = ctx;
	if (L->wkind == W_FL8) {
#pragma omp parallel for schedule(static) if (n > 65536)
		for (size_t i = 0; i < n; i++)
			dx[i] += dy[i];
		return;
	}
	const float *src = L->norm != NORM_NONE ? L->what : x;
	const float f = L->factor, *qb = L->qbuf;
	float *gb = L->gbuf, *ds = L->dsrc;
	double dstd = 0;
#pragma omp parallel for schedule(static) reduction(+ : dstd) if (n > 65536)
	for (size_t i = 0; i < n; i++) {
		gb[i] = dy[i] * f;
		dstd += (double)dy[i] * qb[i];
		ds[i] = 0;
	}
	quant_backward(L->wq, L->dsrc, L->gbuf, src, n);
	switch (L->norm) {
	case NORM_NONE:
#pragma omp parallel for schedule(static) if (n > 65536)
		for (size_t i = 0; i < n; i++)
			dx[i] += ds[i];
		break;
	case NORM_WN_DETACHED:
#pragma omp parallel for schedule(static) if (n > 65536)
		for (size_t i = 0; i < n; i++)
			dx[i] += ds[i] / L->std;
		break;
	case NORM_WN:
	case NORM_LWN:
		quant_wn_backward(dx, L->dsrc, L->what, L->std, n);
		if (L->restore) {
			/* d std / d W_i = what_i / (n - 1) */
			const float k = (float)(dstd / (double)(n - 1)), *wh = L->what;
#pragma omp parallel for schedule(static) if (n > 65536)
			for (size_t i = 0; i < n; i++)
				dx[i] += k * wh[i];
		}
		break;
	}
}

static void
act_forward(void *ctx, float *y, const float *x, size_t n, int training)
{
	struct qlayer *L = ctx;
	quant_forward(L->aq, y, x, n, training);
	if (L->owner->stats)
		accumulate_sqnr(&L->sa_sig, &L->sa_noise, x, y, n);
}

static void
act_backward(void *ctx, float *dx, const float *dy, const float *x, size_t n)
{
	struct qlayer *L = ctx;
	quant_backward(L->aq, dx, dy, x, n);
}

/* ---------------------------------------------------------------------------
 * Building
 * ------------------------------------------------------------------------- */

/* Nonzero when a batch norm reads layer i's output. */
static int
feeds_batchnorm(const struct model *m, int i)
{
	for (int j = i + 1; j < model_layer_count(m); j++)
		if (model_layer_input(m, j) == i &&
		    strcmp(model_layer_at(m, j)->kind, "batchnorm") == 0)
			return 1;
	return 0;
}

/* The weight tensor of layer group g, and its gradient. */
static const struct model_tensor *
weight_tensor(struct model *m, const char *group, float **grad)
{
	size_t nd, nt;
	float *params = model_params(m, &nd, &nt);
	for (int i = 0; i < model_tensor_count(m); i++) {
		const struct model_tensor *t = model_tensor_at(m, i);
		if (strcmp(t->group, group) == 0 && strcmp(t->name, "weight") == 0) {
			*grad = model_grads(m) + (t->data - params);
			return t;
		}
	}
	return NULL;
}

/* uniform: the grid step of channel c (lsq: learned; clip: α/n for the level set {k/n}). */
static float
uniform_step(const struct quant *q, int c)
{
	return is_lsq(q) ? q->scale[c] : q->alpha / (float)(q->n_levels - 1);
}

static float
quant_clip_of(const struct quant *q)
{
	if (is_lsq(q)) {
		double s = 0;
		for (int c = 0; c < q->channels; c++)
			s += q->scale[c];
		return (float)(s / q->channels * q->qmax);
	}
	return q->alpha;
}

/* Scheme-specific default clip before any search (METHODS §1.2, §2.4). */
static float
default_alpha(const char *scheme, enum quant_role role)
{
	if (strcmp(scheme, "qnn") == 0)
		return 1.0f;
	return role == QUANT_ROLE_WEIGHT ? 3.0f : 6.0f;
}

static int
make_quant(struct quant **out, const char *scheme, int bits, const char *variant,
	   enum quant_role role, int channels, const struct qat_config *c, uint64_t seed,
	   char **cause)
{
	struct quant_config qc = {
		.scheme = scheme,
		.bits = bits,
		.role = role,
		.variant = variant ? variant : default_variant(scheme, bits),
		.alpha = default_alpha(scheme, role),
		.channels = channels,
		.is_signed = -1,
		/* LSQ scales its step gradient by 1/sqrt(N·Qp) (Esser et al. 2020) */
		.grad_scale = strcmp(scheme, "lcq") == 0 ? c->lcq_gscale
			      : strcmp(scheme, "uniform") == 0 ? 1
								: 0,
		.seed = seed,
	};
	return quant_new(out, &qc, cause);
}

/* Whether quantizer q has a learnable clip (qnn's is fixed; binarizers have none). */
static int
has_learned_clip(const struct quant *q)
{
	return strcmp(q->scheme->name, "qnn") != 0;
}

/* Sets q's clip to a (uniform lsq: per-channel steps frac·max_c/qmax when chmax). */
static void
set_clip(struct quant *q, float a, const float *chmax, float frac)
{
	if (is_lsq(q)) {
		for (int c = 0; c < q->channels; c++)
			q->scale[c] = (chmax ? frac * chmax[c] : a) / (float)q->qmax;
		return;
	}
	q->alpha = a;
}

/*
 * Sets q's clip to the grid value minimising Σ(q(x) - x)² over a strided
 * sample of x (n elements; per-channel lsq with channels of n/channels).
 */
static void
search_clip(struct quant *q, const float *x, size_t n)
{
	if (!has_learned_clip(q) || n == 0)
		return;
	int per_ch = is_lsq(q) && q->channels > 1;
	float *chmax = NULL;
	size_t per = n / (size_t)q->channels;
	if (per_ch) {
		chmax = xmalloc((size_t)q->channels * sizeof *chmax);
		for (int c = 0; c < q->channels; c++) {
			chmax[c] = max_abs(x + (size_t)c * per, per);
			if (!(chmax[c] > 0))
				chmax[c] = 1e-8f;
		}
	}
	/* per-channel scales follow the channel layout, so they search the whole tensor */
	size_t stride = per_ch || n <= QAT_SEARCH_MAX ? 1 : n / QAT_SEARCH_MAX;
	size_t ns = (n + stride - 1) / stride;
	float *s = xalloc_floats(ns), *y = xalloc_floats(ns);
	for (size_t i = 0; i < ns; i++)
		s[i] = x[i * stride];
	float top = max_abs(s, ns);
	if (top > 0) {
		double best = INFINITY;
		float best_a = top, best_f = 1;
		for (int k = 1; k <= QAT_GRID; k++) {
			float f = (float)k / QAT_GRID, a = top * f;
			set_clip(q, a, chmax, f);
			quant_forward(q, y, s, ns, 0);
			double e = 0;
			for (size_t i = 0; i < ns; i++)
				e += (double)(y[i] - s[i]) * (y[i] - s[i]);
			if (e < best) {
				best = e;
				best_a = a;
				best_f = f;
			}
		}
		set_clip(q, best_a, chmax, best_f);
	}
	xfree_aligned(s);
	xfree_aligned(y);
	free(chmax);
}

static void
add_slot(struct qat *q, float *value, double *grad, int n, int positive)
{
	q->slots = xrealloc(q->slots, (size_t)(q->n_slots + 1) * sizeof *q->slots);
	q->slots[q->n_slots++] = (struct qslot){value, grad, n, positive};
	q->nq += (size_t)n;
}

static void
add_quant_slots(struct qat *q, struct quant *z)
{
	if (!z || !has_learned_clip(z))
		return;
	if (is_lsq(z)) {
		add_slot(q, z->scale, z->dscale, z->channels, 1);
		return;
	}
	add_slot(q, &z->alpha, &z->dalpha, 1, 1);
	if (strcmp(z->scheme->name, "lcq") == 0)
		add_slot(q, z->theta, z->dtheta, QUANT_LCQ_K, 0);
}

/* Builds layer i's quantizers per c; first/last say where it sits. */
static int
build_layer(struct qat *q, struct qlayer *L, int i, int first, int last, char **cause)
{
	struct model *m = q->m;
	const struct qat_config *c = &q->cfg;
	const struct model_layer_info *li = model_layer_at(m, i);
	const struct model_tensor *t = weight_tensor(m, li->group, &L->dw);
	L->owner = q;
	L->index = i;
	L->group = li->group;
	L->w = t->data;
	L->w_size = t->size;
	L->oc = t->shape[0];
	L->macs = li->macs;
	L->factor = 1.0f;
	L->a_from_input = model_layer_reads_input(m, i);
	int edge = first || last;
	enum qat_firstlast fl = c->firstlast;
	uint64_t seed = c->seed * 1000003u + (uint64_t)i * 2u;

	/* weights */
	if (scheme_is_float(c->w_scheme, c->w_bits) || (edge && fl == QAT_FIRSTLAST_FP)) {
		L->wkind = W_FLOAT;
	} else if (edge && fl == QAT_FIRSTLAST_8) {
		L->wkind = W_FL8;
		L->apot_rule = strcmp(c->w_scheme, "apot") == 0;
	} else {
		L->wkind = W_QUANT;
		const char *s = c->w_scheme;
		int channels = c->w_channel ? L->oc : 1;
		if (make_quant(&L->wq, s, c->w_bits, c->w_variant, QUANT_ROLE_WEIGHT, channels, c,
			       seed, cause) < 0)
			return -1;
		int bn = feeds_batchnorm(m, i);
		if (!strcmp(s, "apot") || !strcmp(s, "pot")) {
			L->norm = L->wq->variant == 1 ? NORM_WN_DETACHED : NORM_WN;
			L->restore = !bn;
		} else if (!strcmp(s, "lcq")) {
			L->norm = NORM_LWN;
			L->restore = 1;
		} else if (!strcmp(s, "qnn")) {
			L->qnn_scale = !bn;
		}
		L->what = xalloc_floats(L->w_size);
		L->qbuf = xalloc_floats(L->w_size);
		L->gbuf = xalloc_floats(L->w_size);
		L->dsrc = xalloc_floats(L->w_size);
		const float *src = L->w;
		if (L->norm != NORM_NONE) {
			quant_wn_forward(L->what, &L->mean, &L->std, L->w, L->w_size);
			src = L->what;
		}
		search_clip(L->wq, src, L->w_size);
	}

	/* input activations */
	int a_float = scheme_is_float(c->a_scheme, c->a_bits) || L->a_from_input ||
		      (edge && fl == QAT_FIRSTLAST_FP);
	if (!a_float) {
		int nonneg = model_layer_input_nonneg(m, i);
		const char *s = c->a_scheme, *v = c->a_variant;
		int bits = c->a_bits;
		if (edge && fl == QAT_FIRSTLAST_8) {
			s = "uniform";
			bits = 8;
			v = NULL;
		}
		enum quant_role role = nonneg ? QUANT_ROLE_ACT : QUANT_ROLE_WEIGHT;
		/* binarized activations keep the hardtanh STE of the activation role */
		if (!strcmp(s, "qnn") && bits == 1)
			role = QUANT_ROLE_ACT;
		if (make_quant(&L->aq, s, bits, v, role, 1, c, seed + 1, cause) < 0)
			return -1;
	}
	L->hw = (struct model_quantizer){L, weight_forward, weight_backward};
	L->ha = (struct model_quantizer){L, act_forward, act_backward};
	return 0;
}

/* Runs the float model on the calibration batch and searches the activation clips. */
static void
calibrate_activations(struct qat *q)
{
	struct model *m = q->m;
	model_reserve(m, q->calib_n, 0);
	int c, h, w;
	model_input_shape(m, &c, &h, &w);
	memcpy(model_input(m), q->calib_x, (size_t)q->calib_n * c * h * w * sizeof(float));
	model_forward(m, q->calib_n, 0, NULL);
	for (int k = 0; k < q->n_layers; k++) {
		struct qlayer *L = &q->layers[k];
		if (!L->aq)
			continue;
		int in = model_layer_input(m, L->index);
		const struct model_layer_info *li = model_layer_at(m, in);
		size_t per = (size_t)li->out_shape[0] * li->out_shape[1] * li->out_shape[2];
		search_clip(L->aq, model_activation(m, in), per * (size_t)q->calib_n);
	}
}

int
qat_new(struct qat **out, struct model *m, const struct qat_config *c,
	const struct dataset *calib, int calib_n, char **cause)
{
	*out = NULL;
	if (qat_check(c, cause) < 0)
		return -1;
	struct qat *q = xcalloc(1, sizeof *q);
	q->cfg = *c;
	q->w_scheme = c->w_scheme ? xstrdup(c->w_scheme) : NULL;
	q->a_scheme = c->a_scheme ? xstrdup(c->a_scheme) : NULL;
	q->w_variant = c->w_variant ? xstrdup(c->w_variant) : NULL;
	q->a_variant = c->a_variant ? xstrdup(c->a_variant) : NULL;
	q->cfg.w_scheme = q->w_scheme;
	q->cfg.a_scheme = q->a_scheme;
	q->cfg.w_variant = q->w_variant;
	q->cfg.a_variant = q->a_variant;
	q->m = m;
	if (!scheme_is_float(c->a_scheme, c->a_bits) && strcmp(c->a_scheme, "qnn") == 0 &&
	    model_set_activation(m, "hardtanh", cause) < 0)
		goto fail;

	int first = -1, last = -1, n = 0;
	for (int i = 0; i < model_layer_count(m); i++)
		if (model_layer_is_gemm(m, i)) {
			first = first < 0 ? i : first;
			last = i;
			n++;
		}
	q->layers = xcalloc((size_t)(n ? n : 1), sizeof *q->layers);
	for (int i = 0; i < model_layer_count(m); i++)
		if (model_layer_is_gemm(m, i) &&
		    build_layer(q, &q->layers[q->n_layers++], i, i == first, i == last, cause) < 0)
			goto fail;

	if (calib && calib_n > 0) {
		int cn = calib_n < calib->n ? calib_n : calib->n;
		int cc, ch, cw;
		model_input_shape(m, &cc, &ch, &cw);
		q->calib_n = cn;
		q->calib_x = xalloc_floats((size_t)cn * cc * ch * cw);
		int *idx = xmalloc((size_t)cn * sizeof *idx);
		int32_t *labels = xmalloc((size_t)cn * sizeof *labels);
		/* evenly spread over the split, the same examples every time */
		for (int k = 0; k < cn; k++)
			idx[k] = (int)((long long)k * calib->n / cn);
		dataset_gather(calib, idx, cn, q->calib_x, labels, 0, 0, NULL);
		free(idx);
		free(labels);
		calibrate_activations(q);
	}

	for (int k = 0; k < q->n_layers; k++) {
		struct qlayer *L = &q->layers[k];
		add_quant_slots(q, L->wq);
		add_quant_slots(q, L->aq);
		if (model_set_quantizers(m, L->index, L->wkind == W_FLOAT ? NULL : &L->hw,
					 L->aq ? &L->ha : NULL, cause) < 0)
			goto fail;
	}
	q->qp = xalloc_floats(q->nq ? q->nq : 1);
	q->qg = xalloc_floats(q->nq ? q->nq : 1);
	*out = q;
	return 0;
fail:
	qat_free(q);
	return -1;
}

void
qat_free(struct qat *q)
{
	if (!q)
		return;
	for (int k = 0; k < q->n_layers; k++) {
		struct qlayer *L = &q->layers[k];
		if (q->m)
			model_set_quantizers(q->m, L->index, NULL, NULL, NULL);
		quant_free(L->wq);
		quant_free(L->aq);
		if (L->what) {
			xfree_aligned(L->what);
			xfree_aligned(L->qbuf);
			xfree_aligned(L->gbuf);
			xfree_aligned(L->dsrc);
		}
	}
	if (q->calib_x)
		xfree_aligned(q->calib_x);
	if (q->qp) {
		xfree_aligned(q->qp);
		xfree_aligned(q->qg);
	}
	optim_free(q->opt);
	free(q->slots);
	free(q->layers);
	free(q->w_scheme);
	free(q->a_scheme);
	free(q->w_variant);
	free(q->a_variant);
	free(q);
}

size_t
qat_quantized_weight(struct qat *q, const char *group, float *out)
{
	for (int k = 0; k < q->n_layers; k++) {
		struct qlayer *L = &q->layers[k];
		if (strcmp(L->group, group) != 0 || L->wkind == W_FLOAT)
			continue;
		weight_forward(L, out, L->w, L->w_size, 0);
		return L->w_size;
	}
	return 0;
}

/* ---------------------------------------------------------------------------
 * Training hooks
 * ------------------------------------------------------------------------- */

void
qat_zero_grad(struct qat *q)
{
	for (int k = 0; k < q->n_layers; k++) {
		if (q->layers[k].wq)
			quant_zero_grad(q->layers[k].wq);
		if (q->layers[k].aq)
			quant_zero_grad(q->layers[k].aq);
	}
}

void
qat_after_backward(struct qat *q)
{
	if (q->cfg.g_bits >= 32)
		return;
	for (int k = 0; k < q->n_layers; k++)
		if (q->layers[k].wkind == W_QUANT)
			quant_qnn_grad(q->layers[k].dw, q->layers[k].w_size, q->cfg.g_bits);
}

void
qat_set_optimizer(struct qat *q, const struct optim_hparams *h)
{
	struct optim_hparams hp = *h;
	hp.wd = 0;
	optim_free(q->opt);
	q->opt = q->nq ? optim_new(&hp, q->qp, q->qg, 0, q->nq) : NULL;
	size_t at = 0;
	for (int s = 0; s < q->n_slots; s++)
		for (int k = 0; k < q->slots[s].n; k++)
			q->qp[at++] = q->slots[s].value[k];
}

void
qat_step(struct qat *q, double lr)
{
	if (q->opt) {
		/* qp holds the values since qat_set_optimizer; only the gradients move in */
		size_t at = 0;
		for (int s = 0; s < q->n_slots; s++)
			for (int k = 0; k < q->slots[s].n; k++)
				q->qg[at++] = (float)q->slots[s].grad[k];
		optim_step(q->opt, lr);
		at = 0;
		for (int s = 0; s < q->n_slots; s++)
			for (int k = 0; k < q->slots[s].n; k++, at++) {
				if (q->slots[s].positive && !(q->qp[at] > QAT_MIN_CLIP))
					q->qp[at] = QAT_MIN_CLIP;
				q->slots[s].value[k] = q->qp[at];
			}
	}
	for (int k = 0; k < q->n_layers; k++) {
		struct qlayer *L = &q->layers[k];
		if (L->wq && strcmp(L->wq->scheme->name, "qnn") == 0)
			quant_qnn_clip_weights(L->w, L->w_size);
	}
}

static void
plug_setup(void *ctx, const struct optim_hparams *h)
{
	qat_set_optimizer(ctx, h);
}

static void
plug_zero_grad(void *ctx)
{
	qat_zero_grad(ctx);
}

static void
plug_after_backward(void *ctx)
{
	qat_after_backward(ctx);
}

static void
plug_step(void *ctx, double lr)
{
	struct qat *q = ctx;
	qat_step(q, lr * q->lr_scale);
}

static void
plug_epoch_end(void *ctx, int epoch, const struct engine_events *ev)
{
	qat_report(ctx, epoch, 0, ev);
}

void
qat_train_plugin(struct qat *q, double lr_scale, struct train_plugin *out)
{
	q->lr_scale = lr_scale;
	*out = (struct train_plugin){q, plug_setup, plug_zero_grad, plug_after_backward, plug_step,
				     plug_epoch_end};
}

/* ---------------------------------------------------------------------------
 * Statistics and costs
 * ------------------------------------------------------------------------- */

static int
weight_bits(const struct qlayer *L)
{
	return L->wkind == W_FLOAT ? 32 : L->wkind == W_FL8 ? 8 : L->wq->bits;
}

static int
act_bits(const struct qat *q, const struct qlayer *L)
{
	if (L->aq)
		return L->aq->bits;
	/* the model input is the dataset's 8-bit image unless first/last stay float */
	if (L->a_from_input && q->cfg.firstlast != QAT_FIRSTLAST_FP &&
	    !scheme_is_float(q->cfg.a_scheme, q->cfg.a_bits))
		return 8;
	return 32;
}

/* Bits of quantizer parameters stored with a layer (clips, steps, θ, scales). */
static double
param_bits(const struct quant *z)
{
	if (!z)
		return 0;
	if (is_lsq(z))
		return 32.0 * z->channels;
	return strcmp(z->scheme->name, "lcq") == 0 ? 32.0 * (1 + QUANT_LCQ_K) : 32.0;
}

static const struct qlayer *
find_layer(const struct qat *q, int index)
{
	for (int k = 0; q && k < q->n_layers; k++)
		if (q->layers[k].index == index)
			return &q->layers[k];
	return NULL;
}

/* Costs of layer i (conv/linear) into the three sums. */
static void
layer_cost(const struct qat *q, const struct model *m, int i, double *bitops, double *wbits,
	   double *shifts)
{
	const struct model_layer_info *li = model_layer_at(m, i);
	const struct qlayer *L = find_layer(q, i);
	double wb = L ? weight_bits(L) : 32, ab = L ? act_bits(q, L) : 32;
	*bitops = (double)li->macs * wb * ab;
	*shifts = 0;
	*wbits = 0;
	if (!L)
		return;
	if (L->wkind == W_QUANT) {
		struct quant_cost qc = quant_cost(L->wq);
		*shifts = (double)li->macs * qc.shift_adds;
		*wbits = param_bits(L->wq) + (L->restore || L->qnn_scale ? 32 : 0);
	} else if (L->wkind == W_FL8) {
		*wbits = 32;
	}
	*wbits += param_bits(L->aq);
}

void
qat_cost(const struct qat *q, const struct model *m, struct qat_cost *out)
{
	memset(out, 0, sizeof *out);
	for (int i = 0; i < model_layer_count(m); i++) {
		if (!model_layer_is_gemm(m, i))
			continue;
		double b, extra, s;
		layer_cost(q, m, i, &b, &extra, &s);
		out->bitops += b;
		out->shift_adds += s;
		out->size_bits += extra;
	}
	/* tensors: conv/linear weights at their bits, every other trainable value at 32 */
	for (int t = 0; t < model_tensor_count(m); t++) {
		const struct model_tensor *mt = model_tensor_at(m, t);
		if (!mt->trainable)
			continue;
		double bits = 32;
		if (strcmp(mt->name, "weight") == 0)
			for (int k = 0; q && k < q->n_layers; k++)
				if (strcmp(q->layers[k].group, mt->group) == 0)
					bits = weight_bits(&q->layers[k]);
		out->size_bits += bits * (double)mt->size;
	}
}

static void
metric_layer(const struct engine_events *ev, int step, const char *group, const char *name,
	     double v)
{
	char buf[96];
	snprintf(buf, sizeof buf, "%s/%s", group, name);
	event_metric(ev, step, buf, v);
}

/* Runs the calibration batch with statistics on. */
static void
measure(struct qat *q)
{
	for (int k = 0; k < q->n_layers; k++) {
		struct qlayer *L = &q->layers[k];
		L->sw_sig = L->sw_noise = L->sa_sig = L->sa_noise = 0;
	}
	if (!q->calib_n)
		return;
	int c, h, w;
	model_input_shape(q->m, &c, &h, &w);
	model_reserve(q->m, q->calib_n, 0);
	memcpy(model_input(q->m), q->calib_x, (size_t)q->calib_n * c * h * w * sizeof(float));
	q->stats = 1;
	model_forward(q->m, q->calib_n, 0, NULL);
	q->stats = 0;
}

void
qat_report(struct qat *q, int step, int final, const struct engine_events *ev)
{
	measure(q);
	for (int k = 0; k < q->n_layers; k++) {
		struct qlayer *L = &q->layers[k];
		double sw = quant_sqnr_db(L->sw_sig, L->sw_noise), sa = quant_sqnr_db(L->sa_sig, L->sa_noise);
		if (!final) {
			if (L->wq && has_learned_clip(L->wq))
				metric_layer(ev, step, L->group, "clip_w", quant_clip_of(L->wq));
			if (L->aq && has_learned_clip(L->aq))
				metric_layer(ev, step, L->group, "clip_a", quant_clip_of(L->aq));
			if (L->wq && strcmp(L->wq->scheme->name, "lcq") == 0)
				for (int t = 0; t < QUANT_LCQ_K; t++) {
					char name[32];
					snprintf(name, sizeof name, "theta_w.%d", t);
					metric_layer(ev, step, L->group, name, L->wq->theta[t]);
				}
			if (L->aq && strcmp(L->aq->scheme->name, "lcq") == 0)
				for (int t = 0; t < QUANT_LCQ_K; t++) {
					char name[32];
					snprintf(name, sizeof name, "theta_a.%d", t);
					metric_layer(ev, step, L->group, name, L->aq->theta[t]);
				}
			if (L->wkind != W_FLOAT && isfinite(sw))
				metric_layer(ev, step, L->group, "sqnr_w", sw);
			if (L->aq && isfinite(sa))
				metric_layer(ev, step, L->group, "sqnr_a", sa);
			continue;
		}
		double bitops, extra, shifts;
		layer_cost(q, q->m, L->index, &bitops, &extra, &shifts);
		event_layer_stat(ev, L->index, L->group, "bits_w", weight_bits(L));
		event_layer_stat(ev, L->index, L->group, "bits_a", act_bits(q, L));
		event_layer_stat(ev, L->index, L->group, "bitops", bitops);
		event_layer_stat(ev, L->index, L->group, "shift_adds", shifts);
		event_layer_stat(ev, L->index, L->group, "size_bits",
				 extra + (double)L->w_size * weight_bits(L));
		if (L->wq && has_learned_clip(L->wq))
			event_layer_stat(ev, L->index, L->group, "clip_w", quant_clip_of(L->wq));
		if (L->wkind == W_FL8)
			event_layer_stat(ev, L->index, L->group, "clip_w", L->fl_m);
		if (L->aq && has_learned_clip(L->aq))
			event_layer_stat(ev, L->index, L->group, "clip_a", quant_clip_of(L->aq));
		if (L->wkind != W_FLOAT && isfinite(sw))
			event_layer_stat(ev, L->index, L->group, "sqnr_w", sw);
		if (L->aq && isfinite(sa))
			event_layer_stat(ev, L->index, L->group, "sqnr_a", sa);
	}
}

/* ---------------------------------------------------------------------------
 * Files
 * ------------------------------------------------------------------------- */

static void
export_quant_attrs(struct io_h5_group *g, const char *role, const struct quant *z)
{
	char name[32];
	snprintf(name, sizeof name, "%s_scheme", role);
	io_h5_group_str(g, name, z->scheme->name);
	snprintf(name, sizeof name, "%s_bits", role);
	io_h5_group_int(g, name, z->bits);
	snprintf(name, sizeof name, "%s_variant", role);
	io_h5_group_str(g, name, z->scheme->variants[z->variant]);
	snprintf(name, sizeof name, "%s_signed", role);
	io_h5_group_int(g, name, z->role == QUANT_ROLE_WEIGHT);
	snprintf(name, sizeof name, "alpha_%s", role);
	io_h5_group_num(g, name, z->alpha);
	long k = QUANT_LCQ_K, ch = z->channels;
	snprintf(name, sizeof name, "theta_%s", role);
	if (strcmp(z->scheme->name, "lcq") == 0)
		io_h5_group_data(g, name, IO_H5_F32, z->theta, 1, &k);
	snprintf(name, sizeof name, "scale_%s", role);
	if (is_lsq(z)) {
		io_h5_group_data(g, name, IO_H5_F32, z->scale, 1, &ch);
	} else if (strcmp(z->scheme->name, "uniform") == 0) {
		float step = uniform_step(z, 0);
		long one = 1;
		io_h5_group_data(g, name, IO_H5_F32, &step, 1, &one);
	}
	float lv[QUANT_MAX_LEVELS];
	long nl = quant_levels(z, lv, QUANT_MAX_LEVELS);
	snprintf(name, sizeof name, "levels_%s", role);
	if (nl > 0)
		io_h5_group_data(g, name, IO_H5_F32, lv, 1, &nl);
}

/*
 * Integer codes of layer L's quantized weight, as int8, or int32 when a code
 * does not fit (APoT's unclamped 8-bit first/last rule can go below -127).
 * An fl8 layer whose maximum is not positive is left unquantized: no codes.
 */
static void
export_codes(struct qlayer *L, struct io_h5_group *g, const struct model_tensor *t)
{
	size_t n = L->w_size;
	float *y = xalloc_floats(n);
	weight_forward(L, y, L->w, n, 0);
	int32_t *codes = xmalloc(n * sizeof *codes);
	long dims[4];
	for (int k = 0; k < t->ndim; k++)
		dims[k] = t->shape[k];
	int have = 1;
	if (L->wkind == W_FL8) {
		float m = L->fl_m;
		have = m > 0;
		for (size_t i = 0; have && i < n; i++)
			codes[i] = (int32_t)quant_round(y[i] / m * 127.0f);
		if (have)
			io_h5_group_num(g, "scale_w_codes", m / 127.0);
	} else if (strcmp(L->wq->scheme->name, "uniform") == 0) {
		size_t per = n / (size_t)L->wq->channels;
		for (size_t i = 0; i < n; i++) {
			float s = uniform_step(L->wq, L->wq->channels > 1 ? (int)(i / per) : 0) *
				  L->factor;
			codes[i] = (int32_t)quant_round(y[i] / s);
		}
	} else {
		/* index of the level: levels in layer units are factor · quantizer levels */
		float lv[QUANT_MAX_LEVELS];
		int nl = quant_levels(L->wq, lv, QUANT_MAX_LEVELS);
		for (size_t i = 0; i < n; i++) {
			float a = fabsf(y[i]) / (L->factor != 0 ? L->factor : 1);
			int best = 0;
			for (int k = 1; k < nl; k++)
				if (fabsf(lv[k] - a) < fabsf(lv[best] - a))
					best = k;
			int sgn = y[i] < 0 ? -1 : 1;
			/* binarization has the single level 1: codes ±1 */
			codes[i] = sgn * (nl == 1 ? 1 : best);
		}
	}
	if (have) {
		int narrow = 1;
		for (size_t i = 0; i < n && narrow; i++)
			narrow = codes[i] >= INT8_MIN && codes[i] <= INT8_MAX;
		if (narrow) {
			int8_t *c8 = xmalloc(n);
			for (size_t i = 0; i < n; i++)
				c8[i] = (int8_t)codes[i];
			io_h5_group_data(g, "codes_w", IO_H5_I8, c8, t->ndim, dims);
			free(c8);
		} else {
			io_h5_group_data(g, "codes_w", IO_H5_I32, codes, t->ndim, dims);
		}
	}
	io_h5_group_num(g, "factor_w", L->factor);
	free(codes);
	xfree_aligned(y);
}

void
qat_export(const struct qat *q, struct io_h5_groups *gs)
{
	const struct qat_config *c = &q->cfg;
	struct io_h5_group *root = io_h5_groups_add(gs, "quant");
	io_h5_group_str(root, "w_scheme",
			scheme_is_float(c->w_scheme, c->w_bits) ? "float" : c->w_scheme);
	io_h5_group_str(root, "a_scheme",
			scheme_is_float(c->a_scheme, c->a_bits) ? "float" : c->a_scheme);
	io_h5_group_int(root, "w_bits", c->w_bits);
	io_h5_group_int(root, "a_bits", c->a_bits);
	io_h5_group_int(root, "g_bits", c->g_bits);
	io_h5_group_str(root, "w_variant", c->w_variant ? c->w_variant : "");
	io_h5_group_str(root, "a_variant", c->a_variant ? c->a_variant : "");
	io_h5_group_str(root, "w_gran", c->w_channel ? "channel" : "tensor");
	io_h5_group_str(root, "firstlast", firstlast_names[c->firstlast]);
	io_h5_group_int(root, "lcq_gscale", c->lcq_gscale);
	io_h5_group_int(root, "seed", (long long)c->seed);
	io_h5_group_str(root, "bn", model_bn_shift(q->m) ? "shift" : "standard");
	for (int k = 0; k < q->n_layers; k++) {
		struct qlayer *L = &q->layers[k];
		char path[64];
		snprintf(path, sizeof path, "quant/%s", L->group);
		struct io_h5_group *g = io_h5_groups_add(gs, path);
		io_h5_group_str(g, "w_kind", wkind_names[L->wkind]);
		io_h5_group_str(g, "w_norm", norm_names[L->norm]);
		if (L->wq)
			export_quant_attrs(g, "w", L->wq);
		if (L->aq)
			export_quant_attrs(g, "a", L->aq);
		if (L->wkind != W_FLOAT) {
			float *grad;
			const struct model_tensor *t = weight_tensor(q->m, L->group, &grad);
			export_codes(L, g, t);
		}
	}
}

/* Reads attribute name of g as a string ("" when absent). */
static const char *
attr_str(const struct io_h5_group *g, const char *name)
{
	const struct io_h5_attr *a = io_h5_group_attr(g, name);
	return a && a->str ? a->str : "";
}

static int
attr_num(const struct io_h5_group *g, const char *name, double *v)
{
	const struct io_h5_attr *a = io_h5_group_attr(g, name);
	if (!a || a->str)
		return -1;
	*v = a->num;
	return 0;
}

/* Restores quantizer z's learned parameters from g (role prefix "w" or "a"). */
static int
import_quant(struct quant *z, const struct io_h5_group *g, const char *role, const char *path,
	     char **cause)
{
	char name[32];
	double v;
	snprintf(name, sizeof name, "alpha_%s", role);
	if (attr_num(g, name, &v) < 0)
		return err_set(cause, "%s: /%s has no attribute %s", path, g->path, name);
	z->alpha = (float)v;
	snprintf(name, sizeof name, "theta_%s", role);
	const struct io_h5_data *d = io_h5_group_dataset(g, name);
	if (strcmp(z->scheme->name, "lcq") == 0) {
		if (!d || d->size != QUANT_LCQ_K)
			return err_set(cause, "%s: /%s/%s must hold %d values", path, g->path, name,
				       QUANT_LCQ_K);
		memcpy(z->theta, d->data, sizeof z->theta);
	}
	snprintf(name, sizeof name, "scale_%s", role);
	d = io_h5_group_dataset(g, name);
	if (is_lsq(z)) {
		if (!d || d->size != (size_t)z->channels)
			return err_set(cause, "%s: /%s/%s must hold %d values", path, g->path, name,
				       z->channels);
		memcpy(z->scale, d->data, (size_t)z->channels * sizeof *z->scale);
	}
	return 0;
}

int
qat_import(struct qat **out, struct model *m, const struct io_h5_groups *gs, const char *path,
	   char **cause)
{
	*out = NULL;
	const struct io_h5_group *root = io_h5_groups_find(gs, "quant");
	if (!root)
		return 0;
	struct qat_config c = {0};
	double v;
	c.w_scheme = attr_str(root, "w_scheme");
	c.a_scheme = attr_str(root, "a_scheme");
	c.w_variant = *attr_str(root, "w_variant") ? attr_str(root, "w_variant") : NULL;
	c.a_variant = *attr_str(root, "a_variant") ? attr_str(root, "a_variant") : NULL;
	c.w_channel = strcmp(attr_str(root, "w_gran"), "channel") == 0;
	c.w_bits = attr_num(root, "w_bits", &v) == 0 ? (int)v : 32;
	c.a_bits = attr_num(root, "a_bits", &v) == 0 ? (int)v : 32;
	c.g_bits = attr_num(root, "g_bits", &v) == 0 ? (int)v : 32;
	c.lcq_gscale = attr_num(root, "lcq_gscale", &v) == 0 ? (int)v : 0;
	c.seed = attr_num(root, "seed", &v) == 0 ? (uint64_t)v : 0;
	const char *fl = attr_str(root, "firstlast");
	int f = qat_firstlast_parse(fl);
	if (f < 0)
		return err_set(cause, "%s: /quant: unknown firstlast '%s'", path, fl);
	c.firstlast = (enum qat_firstlast)f;
	model_set_bn_shift(m, strcmp(attr_str(root, "bn"), "shift") == 0);
	struct qat *q = NULL;
	char *why = NULL;
	if (qat_new(&q, m, &c, NULL, 0, &why) < 0) {
		err_set(cause, "%s: /quant: %s", path, why);
		free(why);
		return -1;
	}
	for (int k = 0; k < q->n_layers; k++) {
		struct qlayer *L = &q->layers[k];
		char gp[64];
		snprintf(gp, sizeof gp, "quant/%s", L->group);
		const struct io_h5_group *g = io_h5_groups_find(gs, gp);
		if (!g) {
			qat_free(q);
			return err_set(cause, "%s: missing group /%s", path, gp);
		}
		if ((L->wq && import_quant(L->wq, g, "w", path, cause) < 0) ||
		    (L->aq && import_quant(L->aq, g, "a", path, cause) < 0)) {
			qat_free(q);
			return -1;
		}
	}
	*out = q;
	return 0;
}
