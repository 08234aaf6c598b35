/*
 * ptq: the post-training quantization pipeline (see ptq.h for the steps).
 *
 * Three models take part: f, the original model with its batch norms folded
 * (float); q, f with OCS chandup layers and split weights, which becomes the
 * quantized model (its weights are replaced by their quantized values, and
 * activation quantizers are attached to it); and fp, a float copy of q taken
 * before quantization, which gives the reconstruction targets. Each
 * conv2d/linear layer is a `struct player`; indices into the three models
 * (and the original) are kept per player.
 *
 * Invariants:
 * - q's weight of a player holds exactly the values its codes give (uniform:
 *   code·step, the product the registry's quantizer computes; others: the
 *   level the code indexes), so a model file that stores the codes restores
 *   the same model bit for bit (ptq_import).
 * - An activation quantizer sees its layer's input after channel duplication;
 *   its hook quantizes and, while a unit is reconstructed (soft set), draws
 *   which elements keep their quantization (QDrop) and uses the soft border.
 * - Calibration inputs are captured before the layer's own activation
 *   quantizer (model_activation of the producer), so the input of a unit in
 *   q carries every earlier unit's quantization error and nothing else.
 */
#include <assert.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/data.h"
#include "engine/io_h5.h"
#include "engine/model.h"
#include "engine/optim.h"
#include "engine/ptq/ptq.h"
#include "engine/quant/quant.h"
#include "engine/rng.h"
#include "engine/util.h"

/* Examples per forward pass over the calibration set. */
#define PTQ_PASS_BATCH 128
/* AdaRound's β schedule and warm-up (METHODS §5.3), the border's temperature. */
#define ADA_BETA_START 20.0
#define ADA_BETA_END 2.0
#define ADA_WARMUP 0.2
#define BORDER_TAU_START 1.0
#define BORDER_TAU_END 0.01
/* Random streams (rng_split) of one run. */
enum { STREAM_CALIB = 1, STREAM_STOCH, STREAM_RECON, STREAM_DROP };

static const char *const border_names[] = {"nearest", "stochastic", "adaround", "aquant", NULL};

const char *const *
ptq_border_names(void)
{
	return border_names;
}

struct player {
	int orig, fidx, qidx;	/* in the original, folded and quantized models */
	int dup;		/* q index of its chandup layer, or -1 */
	const char *group;	/* the original model's group name */
	int first, last;	/* first / last conv2d-linear layer of the model */
	int w_bits, a_bits;	/* 32: float */
	const char *w_scheme, *a_scheme;
	int uniform_w, uniform_a;
	int a_signed;
	int input_is_image;	/* reads the model input (never requantized) */
	int O, I0, I, K;	/* weight O x I x K after splitting; I0 before */
	int C, P;		/* input channels (after splitting) and plane size */
	/* splitting: the chandup map (n_out = I, or 0 without) */
	int n_out, n_split;
	int32_t *src;
	float *factor;
	/* weights */
	int channels;		/* weight clips: 1 or O */
	float *w_clip;		/* channels */
	float *w_step;		/* uniform: step per channel */
	int32_t *codes;		/* O·I·K: grid codes (uniform) or level indices */
	float *levels;		/* non-uniform: the distinct weight values, ascending */
	int n_levels;
	/* activations */
	float a_clip, a_step;
	int a_qmin, a_qmax;
	struct quant *aq;	/* nearest (registry) */
	int has_border;		/* aquant */
	struct round_border border;
	float *b_steps;		/* the border grid's steps (C) */
	struct model_quantizer a_hook, w_hook;
	/* reconstruction */
	int recon_w;		/* AdaRound weights */
	struct round_grid grid;
	float *v, *dv;		/* AdaRound V and its gradient (into the unit's arrays) */
	int soft;		/* inside a reconstruction: QDrop and learning */
	float tau;		/* border: temperature of the sigmoid surrogate in backward */
	double keep;		/* QDrop: probability of keeping the quantization */
	struct rng drop_rng;
	unsigned char *mask;
	float *tmp;
	size_t mask_cap;
	/* statistics */
	double sqnr_w, sqnr_w_noocs, sqnr_a, sqnr_a_noocs, recon_loss;
	int recon;
};

struct ptq {
	struct ptq_config cfg;
	char *w_scheme, *a_scheme; /* owned copies */
	const struct model *m0;
	struct model *f, *q, *fp;
	int *fmap, *qmap;
	struct player *L;
	int nL;
	int32_t *calib_idx;
	int calib_n;
	float *calib_x; /* calib_n images (run only) */
	size_t chw;
};

/* ---------------------------------------------------------------------------
 * Configuration
 * ------------------------------------------------------------------------- */

void
ptq_config_default(struct ptq_config *c)
{
	memset(c, 0, sizeof *c);
	c->w_scheme = c->a_scheme = "uniform";
	c->w_bits = c->a_bits = 32;
	c->firstlast = QAT_FIRSTLAST_8;
	c->w_clip.method = c->a_clip.method = CLIP_MAX;
	c->ocs_split = OCS_SPLIT_NAIVE;
	c->ocs_target = PTQ_OCS_WEIGHTS;
	c->border = PTQ_NEAREST;
	c->aquant_kind = ROUND_BORDER_BIN;
	c->calib_n = PTQ_CALIB_N;
	c->recon_iters = 2000;
	c->recon_batch = 32;
	c->recon_lr = 1e-3;
	c->recon_lambda = 0.01;
	c->recon_drop = 0.5;
	c->aquant_mu = 1.0;
}

static int
is_float(const char *scheme, int bits)
{
	return !scheme || strcmp(scheme, "float") == 0 || bits >= 32;
}

static int
is_uniform(const char *scheme)
{
	return scheme && strcmp(scheme, "uniform") == 0;
}

int
ptq_check(const struct ptq_config *c, char **cause)
{
	struct qat_config qc = {
		.w_scheme = c->w_scheme, .a_scheme = c->a_scheme, .w_bits = c->w_bits,
		.a_bits = c->a_bits, .g_bits = 32, .w_channel = c->w_channel,
		.firstlast = c->firstlast,
	};
	if (qat_check(&qc, cause) < 0)
		return -1;
	int wq = !is_float(c->w_scheme, c->w_bits), aq = !is_float(c->a_scheme, c->a_bits);
	if (c->border == PTQ_STOCHASTIC || c->border == PTQ_ADAROUND || c->border == PTQ_AQUANT) {
		if (wq && !is_uniform(c->w_scheme))
			return err_set(cause, "border=%s rounds on a uniform grid: w.scheme=%s is "
				       "not uniform", border_names[c->border], c->w_scheme);
	}
	if (c->border == PTQ_AQUANT && aq && !is_uniform(c->a_scheme))
		return err_set(cause, "border=aquant learns borders on a uniform grid: a.scheme=%s "
			       "is not uniform", c->a_scheme);
	if (c->border == PTQ_AQUANT && !aq)
		return err_set(cause, "border=aquant learns activation borders: set a.bits");
	if (c->a_signed && aq && !is_uniform(c->a_scheme))
		return err_set(cause, "a.signed=1 needs a.scheme=uniform (got %s)", c->a_scheme);
	if (!(c->ocs_ratio >= 0 && c->ocs_ratio <= 1))
		return err_set(cause, "ocs.ratio must be in [0, 1] (got %g)", c->ocs_ratio);
	if (c->ocs_ratio > 0) {
		if (c->ocs_target == PTQ_OCS_WEIGHTS && !wq)
			return err_set(cause, "ocs.target=w splits quantized weights: set w.bits");
		if (c->ocs_target == PTQ_OCS_ACTS && !aq)
			return err_set(cause, "ocs.target=a splits quantized activations: set a.bits");
		if (c->ocs_split == OCS_SPLIT_QA &&
		    (c->ocs_target != PTQ_OCS_WEIGHTS || !is_uniform(c->w_scheme) || c->w_channel))
			return err_set(cause, "ocs.split=qa needs ocs.target=w, w.scheme=uniform "
				       "and w.gran=tensor");
	}
	if (c->calib_n < 1)
		return err_set(cause, "calib.n must be at least 1 (got %d)", c->calib_n);
	if (c->recon_iters < 0 || c->recon_batch < 1)
		return err_set(cause, "recon.iters must be >= 0 and the batch >= 1");
	if (!(c->recon_drop > 0 && c->recon_drop <= 1))
		return err_set(cause, "recon.drop must be in (0, 1] (got %g)", c->recon_drop);
	return 0;
}

/* ---------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------- */

static size_t
layer_in_size(const struct model *m, int i)
{
	int c, h, w;
	model_layer_input_shape(m, i, &c, &h, &w);
	return (size_t)c * h * w;
}

static size_t
layer_out_size(const struct model *m, int i)
{
	const int *s = model_layer_at(m, i)->out_shape;
	return (size_t)s[0] * s[1] * s[2];
}

static double
sqnr_of(const float *x, const float *y, size_t n)
{
	double sig = 0, noise = 0;
	for (size_t i = 0; i < n; i++) {
		double d = (double)y[i] - x[i];
		sig += (double)x[i] * x[i];
		noise += d * d;
	}
	return quant_sqnr_db(sig, noise);
}

/* Parameters of a whole border (every channel). */
static size_t
border_size(const struct round_border *b)
{
	return (size_t)b->grid.channels * round_border_params(b);
}

static void
grow(struct player *L, size_t n)
{
	if (n <= L->mask_cap)
		return;
	free(L->mask);
	xfree_aligned(L->tmp);
	L->mask = xmalloc(n);
	L->tmp = xalloc_floats(n);
	L->mask_cap = n;
}

/*
 * Runs m (eval mode) over n examples of X (chw floats each) and copies the
 * input of layer s (before its own quantizer) into in, and the output of
 * layer e into out (either may be NULL). Returns -1 when ev asks to stop.
 */
static int
capture(struct model *m, const float *X, int n, size_t chw, int s, float *in, int e, float *out,
	const struct engine_events *ev)
{
	model_reserve(m, PTQ_PASS_BATCH, 0);
	int ps = s >= 0 ? model_layer_input(m, s) : MODEL_INPUT;
	size_t isz = s >= 0 ? layer_in_size(m, s) : 0, osz = e >= 0 ? layer_out_size(m, e) : 0;
	for (int b0 = 0; b0 < n; b0 += PTQ_PASS_BATCH) {
		if (event_should_stop(ev))
			return -1;
		int B = n - b0 < PTQ_PASS_BATCH ? n - b0 : PTQ_PASS_BATCH;
		memcpy(model_input(m), X + (size_t)b0 * chw, (size_t)B * chw * sizeof *X);
		const float *logits = model_forward(m, B, 0, NULL);
		if (in) {
			const float *src = ps == MODEL_INPUT ? model_input(m) : model_activation(m, ps);
			memcpy(in + (size_t)b0 * isz, src, (size_t)B * isz * sizeof *in);
		}
		if (out) {
			const float *src = e == model_layer_count(m) - 1 ? logits
									 : model_activation(m, e);
			memcpy(out + (size_t)b0 * osz, src, (size_t)B * osz * sizeof *out);
		}
	}
	return 0;
}

/* ---------------------------------------------------------------------------
 * Quantizer hooks
 * ------------------------------------------------------------------------- */

/* Activation: nearest or border; inside a reconstruction, QDrop keeps each
 * element's quantization with probability keep. */
static void
act_forward(void *ctx, float *y, const float *x, size_t n, int training)
{
	(void)training;
	struct player *L = ctx;
	if (L->has_border)
		round_border_forward(&L->border, y, x, n, 0.0f);
	else
		quant_forward(L->aq, y, x, n, 0);
	if (!L->soft || L->keep >= 1.0)
		return;
	grow(L, n);
	/* four 16-bit draws per generator step */
	uint32_t thr = (uint32_t)(L->keep * 65536.0);
	uint64_t r = 0;
	for (size_t i = 0; i < n; i++) {
		if ((i & 3) == 0)
			r = rng_next(&L->drop_rng);
		L->mask[i] = (uint32_t)(r & 0xffff) < thr;
		r >>= 16;
		if (!L->mask[i])
			y[i] = x[i];
	}
}

static void
act_backward(void *ctx, float *dx, const float *dy, const float *x, size_t n)
{
	struct player *L = ctx;
	int drop = L->soft && L->keep < 1.0;
	const float *g = dy;
	if (drop) {
		for (size_t i = 0; i < n; i++)
			L->tmp[i] = L->mask[i] ? dy[i] : 0.0f;
		g = L->tmp;
	}
	if (L->has_border && L->soft)
		round_border_backward(&L->border, dx, g, x, n, L->tau);
	else if (dx)
		quant_backward(L->aq, dx, g, x, n);
	if (drop && dx)
		for (size_t i = 0; i < n; i++)
			if (!L->mask[i])
				dx[i] += dy[i];
}

/* AdaRound weights: soft inside a reconstruction, hard otherwise; the
 * weights themselves stay fixed (no gradient), V learns. */
static void
ada_forward(void *ctx, float *y, const float *w, size_t n, int training)
{
	(void)training;
	struct player *L = ctx;
	if (L->soft)
		round_ada_soft(y, w, L->v, n, &L->grid);
	else
		round_ada_hard(y, NULL, w, L->v, n, &L->grid);
}

static void
ada_backward(void *ctx, float *dw, const float *dy, const float *w, size_t n)
{
	(void)dw;
	struct player *L = ctx;
	round_ada_soft_backward(L->dv, dy, w, L->v, n, &L->grid);
}

/* ---------------------------------------------------------------------------
 * Players
 * ------------------------------------------------------------------------- */

static void
player_free(struct player *L)
{
	free(L->src);
	free(L->factor);
	free(L->w_clip);
	free(L->w_step);
	free(L->codes);
	free(L->levels);
	quant_free(L->aq);
	free(L->b_steps);
	free(L->border.phi);
	free(L->border.dphi);
	free(L->mask);
	xfree_aligned(L->tmp);
}

/* The players of f (every conv2d/linear layer), with roles and bits per c. */
static void
make_players(struct ptq *p)
{
	const struct ptq_config *c = &p->cfg;
	int n = model_layer_count(p->f), k = 0;
	for (int i = 0; i < n; i++)
		k += model_layer_is_gemm(p->f, i);
	p->L = xcalloc((size_t)k, sizeof *p->L);
	p->nL = k;
	int *inv = xmalloc((size_t)n * sizeof *inv);
	for (int i = 0; i < n; i++)
		inv[i] = -1;
	for (int i = 0; i < model_layer_count(p->m0); i++)
		if (inv[p->fmap[i]] < 0 || model_layer_is_gemm(p->m0, i))
			inv[p->fmap[i]] = i;
	k = 0;
	for (int i = 0; i < n; i++) {
		if (!model_layer_is_gemm(p->f, i))
			continue;
		struct player *L = &p->L[k];
		L->fidx = i;
		L->orig = inv[i];
		L->group = model_layer_at(p->m0, L->orig)->group;
		L->first = k == 0;
		L->last = k == p->nL - 1;
		L->dup = -1;
		L->input_is_image = model_layer_reads_input(p->f, i);
		int wq = !is_float(c->w_scheme, c->w_bits), aq = !is_float(c->a_scheme, c->a_bits);
		int edge = (L->first || L->last) && c->firstlast != QAT_FIRSTLAST_SAME;
		L->w_bits = L->a_bits = 32;
		if (wq) {
			L->w_bits = edge ? (c->firstlast == QAT_FIRSTLAST_8 ? 8 : 32) : c->w_bits;
			L->w_scheme = edge ? "uniform" : c->w_scheme;
		}
		if (aq && !L->input_is_image) {
			L->a_bits = edge ? (c->firstlast == QAT_FIRSTLAST_8 ? 8 : 32) : c->a_bits;
			L->a_scheme = edge ? "uniform" : c->a_scheme;
		}
		L->uniform_w = L->w_bits < 32 && is_uniform(L->w_scheme);
		L->uniform_a = L->a_bits < 32 && is_uniform(L->a_scheme);
		L->a_signed = c->a_signed || !model_layer_input_nonneg(p->f, i);
		size_t wn;
		model_layer_weight(p->f, i, &wn);
		L->O = model_layer_at(p->f, i)->out_shape[0];
		int ci, hi, wi;
		model_layer_input_shape(p->f, i, &ci, &hi, &wi);
		int conv = strcmp(model_layer_at(p->f, i)->kind, "conv2d") == 0;
		L->I0 = L->I = conv ? ci : ci * hi * wi;
		L->K = (int)(wn / ((size_t)L->O * L->I0));
		L->C = L->I;
		L->P = conv ? hi * wi : 1;
		/* a linear layer over a flattened feature map: its borders follow the map's channels */
		int src = model_layer_input(p->f, i);
		if (!conv && src >= 0 && strcmp(model_layer_at(p->f, src)->kind, "flatten") == 0) {
			int c2, h2, w2;
			model_layer_input_shape(p->f, src, &c2, &h2, &w2);
			if (h2 * w2 > 1) {
				L->C = c2;
				L->P = h2 * w2;
			}
		}
		k++;
	}
	free(inv);
}

/* Splitting applies to this player (a quantized middle layer, or any with firstlast=same). */
static int
splits(const struct ptq *p, const struct player *L)
{
	const struct ptq_config *c = &p->cfg;
	if (c->ocs_ratio <= 0)
		return 0;
	if ((L->first || L->last) && c->firstlast != QAT_FIRSTLAST_SAME)
		return 0;
	return c->ocs_target == PTQ_OCS_WEIGHTS ? L->w_bits < 32 : L->a_bits < 32;
}

/* The clip of method spec for n values at `bits` of a signed grid (1 bit: mean |x|). */
static int
find_clip(const struct clip_spec *spec, const float *x, size_t n, int bits, float *alpha,
	  char **cause)
{
	double a = 0;
	if (bits < CLIP_MIN_BITS) {
		for (size_t i = 0; i < n; i++)
			a += fabs((double)x[i]);
		a = n ? a / (double)n : 0;
	} else if (clip_find(spec, x, n, bits > CLIP_MAX_BITS ? CLIP_MAX_BITS : bits, &a, NULL,
			     cause) < 0) {
		return -1;
	}
	*alpha = a > 0 ? (float)a : 1.0f; /* all-zero input: any clip gives zero codes */
	return 0;
}

/* ---------------------------------------------------------------------------
 * Outlier channel splitting
 * ------------------------------------------------------------------------- */

/* Weight splitting of player L (f's weight w): the chandup map and split weights into *out. */
static int
split_weights(struct ptq *p, struct player *L, const float *w, float **out, char **cause)
{
	int n = ocs_split_count(p->cfg.ocs_ratio, L->I0);
	int32_t *ch = xmalloc((size_t)(n ? n : 1) * sizeof *ch);
	size_t sz = (size_t)L->O * (L->I0 + n) * L->K;
	float *w1 = xalloc_floats(sz);
	ocs_split_weights(w1, ch, w, L->O, L->I0, L->K, n, OCS_SPLIT_NAIVE, 0);
	if (p->cfg.ocs_split == OCS_SPLIT_QA) {
		/* §4.1: the clip of the naive split (or of the unsplit weights) gives the scale */
		const struct clip_spec *cs = &p->cfg.w_clip;
		int orig = p->cfg.ocs_clip_orig && cs->method != CLIP_MAX;
		float clip;
		if (find_clip(cs, orig ? w : w1, orig ? (size_t)L->O * L->I0 * L->K : sz, L->w_bits,
			      &clip, cause) < 0) {
			free(ch);
			xfree_aligned(w1);
			return -1;
		}
		float scale = (float)((1 << (L->w_bits - 1)) - 1) / clip;
		ocs_split_weights(w1, ch, w, L->O, L->I0, L->K, n, OCS_SPLIT_QA, scale);
		/* the QA halves are placed for this clip: quantize with it (§4.1 step 6) */
		L->channels = 1;
		L->w_clip = xmalloc(sizeof *L->w_clip);
		L->w_clip[0] = clip;
	}
	L->n_split = n;
	L->n_out = L->I0 + n;
	L->src = xmalloc((size_t)L->n_out * sizeof *L->src);
	L->factor = xmalloc((size_t)L->n_out * sizeof *L->factor);
	for (int o = 0; o < L->n_out; o++) {
		L->src[o] = o < L->I0 ? o : ch[o - L->I0];
		L->factor[o] = 1.0f;
	}
	free(ch);
	*out = w1;
	return 0;
}

/*
 * Activation splitting of player L from its float input X (n examples): the
 * channels with the largest max|x| are halved and duplicated; the split
 * weights (columns duplicated unchanged) into *out.
 */
static void
split_acts(struct ptq *p, struct player *L, const float *w, const float *X, int n, float **out)
{
	int C = L->I0, ns = ocs_split_count(p->cfg.ocs_ratio, C);
	int P = L->C == L->I0 ? L->P : 1; /* linear layers split features */
	float *cmax = xcalloc((size_t)C, sizeof *cmax);
	for (int b = 0; b < n; b++)
		for (int c = 0; c < C; c++) {
			const float *x = X + ((size_t)b * C + c) * P;
			for (int i = 0; i < P; i++)
				if (fabsf(x[i]) > cmax[c])
					cmax[c] = fabsf(x[i]);
		}
	int32_t *picks = xmalloc((size_t)(ns ? ns : 1) * sizeof *picks);
	ocs_split_activations(picks, cmax, C, ns);
	L->n_split = ns;
	L->n_out = C + ns;
	L->src = xmalloc((size_t)L->n_out * sizeof *L->src);
	L->factor = xmalloc((size_t)L->n_out * sizeof *L->factor);
	for (int o = 0; o < C; o++) {
		L->src[o] = o;
		L->factor[o] = 1.0f;
	}
	for (int k = 0; k < ns; k++) {
		int c = picks[k];
		L->factor[c] *= 0.5f;
		L->src[C + k] = L->src[c];
		L->factor[C + k] = L->factor[c];
	}
	size_t row = (size_t)L->n_out * L->K, row0 = (size_t)C * L->K;
	float *w1 = xalloc_floats((size_t)L->O * row);
	for (int o = 0; o < L->O; o++)
		for (int j = 0; j < L->n_out; j++)
			memcpy(w1 + o * row + (size_t)j * L->K, w + o * row0 + (size_t)L->src[j] * L->K,
			       (size_t)L->K * sizeof *w1);
	free(picks);
	free(cmax);
	*out = w1;
}

/* ---------------------------------------------------------------------------
 * Weights
 * ------------------------------------------------------------------------- */

/* Clips of player L's weights w (q's, split) per channel; orig: f's unsplit weights. */
static int
weight_clips(struct ptq *p, struct player *L, const float *w, const float *orig, char **cause)
{
	const struct clip_spec *cs = &p->cfg.w_clip;
	if (L->w_clip)
		return 0; /* set by the quantization-aware split */
	L->channels = p->cfg.w_channel && L->uniform_w ? L->O : 1;
	L->w_clip = xmalloc((size_t)L->channels * sizeof *L->w_clip);
	int use_orig = orig && p->cfg.ocs_clip_orig && cs->method != CLIP_MAX;
	size_t row = (size_t)L->I * L->K, row0 = (size_t)L->I0 * L->K;
	if (use_orig) {
		w = orig;
		row = row0;
	}
	size_t per = L->channels == 1 ? row * L->O : row;
	for (int c = 0; c < L->channels; c++)
		if (find_clip(cs, w + c * per, per, L->w_bits, &L->w_clip[c], cause) < 0)
			return err_wrap(cause, "weights of %s", L->group);
	return 0;
}

static int
float_cmp(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return (x > y) - (x < y);
}

/* Codes and values of non-uniform weights y (n): levels = the distinct values. */
static void
index_levels(struct player *L, const float *y, size_t n)
{
	float *s = xmalloc(n * sizeof *s);
	memcpy(s, y, n * sizeof *s);
	qsort(s, n, sizeof *s, float_cmp);
	int k = 0;
	for (size_t i = 0; i < n; i++)
		if (k == 0 || s[i] != s[k - 1])
			s[k++] = s[i];
	L->levels = xrealloc(s, (size_t)k * sizeof *s);
	L->n_levels = k;
	L->codes = xmalloc(n * sizeof *L->codes);
	for (size_t i = 0; i < n; i++) {
		int lo = 0, hi = k - 1;
		while (lo < hi) {
			int mid = (lo + hi) / 2;
			if (L->levels[mid] < y[i])
				lo = mid + 1;
			else
				hi = mid;
		}
		L->codes[i] = lo;
	}
}

/*
 * Quantizes player L's weight w (n, q's float split weight) in place with the
 * nearest or stochastic border, or prepares AdaRound (V initialised, w kept
 * float until the unit is reconstructed).
 */
static int
quantize_weights(struct ptq *p, struct player *L, float *w, size_t n, struct rng *stoch,
		 char **cause)
{
	int bits = L->w_bits;
	if (!L->uniform_w) {
		/* registry quantizer at clip 1 on w / alpha: alpha·Q(w/alpha) */
		struct quant_config qc = {.scheme = L->w_scheme, .bits = bits,
					  .role = QUANT_ROLE_WEIGHT, .alpha = 1.0f, .channels = 1,
					  .is_signed = -1};
		struct quant *z;
		if (quant_new(&z, &qc, cause) < 0)
			return err_wrap(cause, "weights of %s", L->group);
		float a = L->w_clip[0];
		for (size_t i = 0; i < n; i++)
			w[i] /= a;
		quant_forward(z, w, w, n, 0);
		for (size_t i = 0; i < n; i++)
			w[i] *= a;
		quant_free(z);
		index_levels(L, w, n);
		return 0;
	}
	int qmax = (1 << (bits - 1)) - 1, qmin = -(1 << (bits - 1));
	L->w_step = xmalloc((size_t)L->channels * sizeof *L->w_step);
	for (int c = 0; c < L->channels; c++)
		L->w_step[c] = L->w_clip[c] / (float)qmax;
	L->grid = (struct round_grid){.channels = L->channels, .scale = L->w_step,
				      .zero_point = NULL, .qmin = qmin, .qmax = qmax};
	L->codes = xmalloc(n * sizeof *L->codes);
	if (p->cfg.border == PTQ_ADAROUND || p->cfg.border == PTQ_AQUANT) {
		L->recon_w = 1;
		return 0; /* rounded when its unit is reconstructed */
	}
	size_t per = n / (size_t)L->channels;
	if (p->cfg.border == PTQ_STOCHASTIC) {
		for (size_t i = 0; i < n; i++) {
			float s = L->w_step[i / per], t = w[i] / s, f = floorf(t);
			float code = f + (rng_uniform(stoch) < t - f ? 1.0f : 0.0f);
			code = code < (float)qmin ? (float)qmin : code > (float)qmax ? (float)qmax : code;
			L->codes[i] = (int32_t)code;
			w[i] = code * s;
		}
		return 0;
	}
	struct quant_config qc = {.scheme = "uniform", .bits = bits, .role = QUANT_ROLE_WEIGHT,
				  .channels = L->channels, .scale = L->w_step, .is_signed = 1};
	struct quant *z;
	if (quant_new(&z, &qc, cause) < 0)
		return err_wrap(cause, "weights of %s", L->group);
	quant_forward(z, w, w, n, 0);
	quant_free(z);
	for (size_t i = 0; i < n; i++)
		L->codes[i] = (int32_t)nearbyintf(w[i] / L->w_step[i / per]);
	return 0;
}

/* The effective unsplit weight (O x I0 x K) of a split one (O x I x K). */
static void
merge_weights(const struct player *L, float *out, const float *w)
{
	size_t row = (size_t)L->I * L->K, row0 = (size_t)L->I0 * L->K;
	memset(out, 0, (size_t)L->O * row0 * sizeof *out);
	for (int o = 0; o < L->O; o++)
		for (int j = 0; j < L->I; j++) {
			int s = L->n_out ? L->src[j] : j;
			float f = L->n_out ? L->factor[j] : 1.0f;
			for (int k = 0; k < L->K; k++)
				out[o * row0 + (size_t)s * L->K + k] += f * w[o * row + (size_t)j * L->K + k];
		}
}

/* ---------------------------------------------------------------------------
 * Activations
 * ------------------------------------------------------------------------- */

/* Builds player L's activation quantizer from its float input X (m values). */
static int
build_act(struct ptq *p, struct player *L, const float *X, size_t m, char **cause)
{
	int bits = L->a_bits, sgn = L->a_signed;
	/* an unsigned b-bit grid over non-negative values is the signed (b+1)-bit one */
	if (find_clip(&p->cfg.a_clip, X, m, sgn ? bits : bits + 1, &L->a_clip, cause) < 0)
		return err_wrap(cause, "input of %s", L->group);
	L->a_qmin = sgn ? -(1 << (bits - 1)) : 0;
	L->a_qmax = sgn ? (1 << (bits - 1)) - 1 : (1 << bits) - 1;
	L->a_step = L->a_clip / (float)(sgn ? (1 << (bits - 1)) - 1 : (1 << bits) - 1);
	struct quant_config qc = {.scheme = L->a_scheme, .bits = bits, .role = QUANT_ROLE_ACT,
				  .alpha = L->a_clip, .channels = 1, .scale = &L->a_step,
				  .is_signed = sgn};
	if (L->uniform_a && p->cfg.border == PTQ_AQUANT) {
		struct round_border *b = &L->border;
		b->kind = p->cfg.aquant_kind;
		L->b_steps = xmalloc((size_t)L->C * sizeof *L->b_steps);
		for (int c = 0; c < L->C; c++)
			L->b_steps[c] = L->a_step;
		b->grid = (struct round_grid){.channels = L->C, .scale = L->b_steps, .zero_point = NULL,
					      .qmin = L->a_qmin, .qmax = L->a_qmax};
		b->plane = L->P;
		b->bins = L->a_qmax - L->a_qmin;
		size_t np = border_size(b);
		b->phi = xcalloc(np, sizeof *b->phi);
		b->dphi = xcalloc(np, sizeof *b->dphi);
		L->has_border = 1;
	}
	if (quant_new(&L->aq, &qc, cause) < 0)
		return err_wrap(cause, "input of %s", L->group);
	L->a_hook = (struct model_quantizer){.ctx = L, .forward = act_forward,
					     .backward = act_backward};
	L->keep = 1.0;
	return 0;
}

/* ---------------------------------------------------------------------------
 * Reconstruction (AdaRound, AQuant-style borders)
 * ------------------------------------------------------------------------- */

/* Softmax of logits (K) into prob, in double. */
static void
softmax(double *prob, const float *logits, int K)
{
	double mx = logits[0], z = 0;
	for (int k = 1; k < K; k++)
		mx = logits[k] > mx ? logits[k] : mx;
	for (int k = 0; k < K; k++)
		z += prob[k] = exp((double)logits[k] - mx);
	for (int k = 0; k < K; k++)
		prob[k] /= z;
}

/* The players whose layers lie in q's layers [s, e]. */
static int
unit_players(struct ptq *p, int s, int e, struct player **out)
{
	int n = 0;
	for (int k = 0; k < p->nL; k++)
		if (p->L[k].qidx >= s && p->L[k].qidx <= e)
			out[n++] = &p->L[k];
	return n;
}

/* The first layer of player k's unit: its chandup layer, or the layer itself. */
static int
unit_start(const struct ptq *p, int k)
{
	return p->L[k].dup >= 0 ? p->L[k].dup : p->L[k].qidx;
}


/*
 * Reconstructs the unit of q's layers [s, e] (players U, nu of them): AdaRound
 * V and borders are learned with Adam on the calibration set, then the hard
 * decisions are written into q. Returns 0, or -1 with *cause.
 */
static int
recon_unit(struct ptq *p, int s, int e, struct player **U, int nu, struct rng *rng,
	   const float *logits_fp, const struct engine_events *ev, char **cause)
{
	const struct ptq_config *c = &p->cfg;
	int n = p->calib_n, B = c->recon_batch < n ? c->recon_batch : n;
	size_t isz = layer_in_size(p->q, s), osz = layer_out_size(p->q, e);
	int ret = -1, nlayers = model_layer_count(p->q);
	int classes = model_classes(p->q);
	float *Xq = xalloc_floats((size_t)n * isz), *Y = xalloc_floats((size_t)n * osz);
	struct model *S = NULL, *R = NULL;
	struct optim *opt = NULL;
	float *par = NULL, *grad = NULL;
	size_t np = 0;
	int *idx = xmalloc((size_t)B * sizeof *idx);
	double *pq = xmalloc(2 * (size_t)classes * sizeof *pq), *pf = pq + classes;
	if (capture(p->q, p->calib_x, n, p->chw, s, Xq, -1, NULL, ev) < 0 ||
	    capture(p->fp, p->calib_x, n, p->chw, -1, NULL, e, Y, ev) < 0) {
		err_set(cause, "stopped");
		goto out;
	}
	if (!(S = model_slice(p->q, s, e, 0, cause)))
		goto out;
	int global = c->border == PTQ_AQUANT && c->aquant_mu > 0;
	if (global && e < nlayers - 1 && !(R = model_slice(p->fp, e + 1, nlayers - 1, 1, cause)))
		goto out;
	/* parameters: V of AdaRound weights, then the borders */
	for (int k = 0; k < nu; k++) {
		size_t wn;
		model_layer_weight(p->q, U[k]->qidx, &wn);
		np += U[k]->recon_w ? wn : 0;
		np += U[k]->has_border ? border_size(&U[k]->border) : 0;
	}
	par = xcalloc(np ? np : 1, sizeof *par);
	grad = xcalloc(np ? np : 1, sizeof *grad);
	size_t at = 0;
	for (int k = 0; k < nu; k++) {
		struct player *L = U[k];
		size_t wn;
		float *w = model_layer_weight(p->q, L->qidx, &wn);
		if (L->recon_w) {
			L->v = par + at;
			L->dv = grad + at;
			round_ada_init(L->v, w, wn, &L->grid);
			at += wn;
		}
		if (L->has_border) {
			size_t nb = border_size(&L->border);
			memcpy(par + at, L->border.phi, nb * sizeof *par);
			free(L->border.phi);
			L->border.phi = par + at; /* handed back after the loop */
			at += nb;
		}
		L->w_hook = (struct model_quantizer){.ctx = L, .forward = ada_forward,
						     .backward = ada_backward};
		if (model_set_quantizers(S, L->qidx - s, L->recon_w ? &L->w_hook : NULL,
					 L->a_bits < 32 ? &L->a_hook : NULL, cause) < 0)
			goto out;
		rng_split(&L->drop_rng, rng, STREAM_DROP + (uint64_t)k);
		L->keep = c->recon_drop;
	}
	struct optim_hparams h = {.kind = OPTIM_ADAM, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
	opt = optim_new(&h, par, grad, 0, np);
	model_reserve(S, B, 1);
	if (R)
		model_reserve(R, B, 1);
	int iters = c->recon_iters, warm = (int)(ADA_WARMUP * iters);
	const int *oshape = model_layer_at(p->q, e)->out_shape;
	double norm = (double)B * oshape[1] * oshape[2]; /* sum over channels, mean over the rest */
	for (int it = 0; it < iters; it++) {
		if (it % 50 == 0) {
			if (event_should_stop(ev)) {
				err_set(cause, "stopped");
				goto out;
			}
			event_progress(ev, "recon", it, iters);
		}
		double frac = iters > 1 ? (double)it / (iters - 1) : 1.0;
		float tau = (float)(BORDER_TAU_START * pow(BORDER_TAU_END / BORDER_TAU_START, frac));
		for (int k = 0; k < nu; k++) {
			U[k]->soft = 1;
			U[k]->tau = tau;
			if (U[k]->has_border)
				memset(U[k]->border.dphi, 0,
				       border_size(&U[k]->border) * sizeof(double));
		}
		for (int b = 0; b < B; b++)
			idx[b] = (int)rng_below(rng, (uint32_t)n);
		float *in = model_input(S);
		for (int b = 0; b < B; b++)
			memcpy(in + (size_t)b * isz, Xq + (size_t)idx[b] * isz, isz * sizeof *in);
		const float *out = model_forward(S, B, 1, NULL);
		float *dout = model_output_grad(S);
		for (int b = 0; b < B; b++)
			for (size_t i = 0; i < osz; i++) {
				size_t j = (size_t)b * osz + i;
				dout[j] = (float)(2.0 * (out[j] - Y[(size_t)idx[b] * osz + i]) / norm);
			}
		if (global) {
			/* μ·KL(p_fp || p_q) over the batch: dlogits = μ (p_q - p_fp) / B */
			const float *lq = out;
			if (R) {
				memcpy(model_input(R), out, (size_t)B * osz * sizeof *out);
				lq = model_forward(R, B, 1, NULL);
			}
			float *dl = R ? model_output_grad(R) : dout;
			for (int b = 0; b < B; b++) {
				softmax(pq, lq + (size_t)b * classes, classes);
				softmax(pf, logits_fp + (size_t)idx[b] * classes, classes);
				for (int k = 0; k < classes; k++) {
					float d = (float)(c->aquant_mu * (pq[k] - pf[k]) / B);
					if (R)
						dl[(size_t)b * classes + k] = d;
					else
						dl[(size_t)b * classes + k] += d;
				}
			}
			if (R) {
				model_zero_grad(R);
				model_backward(R, B);
				const float *gi = model_input_grad(R);
				for (size_t j = 0; j < (size_t)B * osz; j++)
					dout[j] += gi[j];
			}
		}
		memset(grad, 0, np * sizeof *grad);
		model_zero_grad(S);
		model_backward(S, B);
		if (it >= warm) {
			double beta = ADA_BETA_START - (ADA_BETA_START - ADA_BETA_END) *
							       (double)(it - warm) /
							       (iters - warm > 1 ? iters - warm - 1 : 1);
			for (int k = 0; k < nu; k++)
				if (U[k]->recon_w) {
					size_t wn;
					model_layer_weight(p->q, U[k]->qidx, &wn);
					round_ada_reg(U[k]->v, wn, (float)beta, (float)c->recon_lambda,
						      U[k]->dv);
				}
		}
		for (int k = 0; k < nu; k++) {
			if (!U[k]->has_border)
				continue;
			size_t nb = border_size(&U[k]->border);
			float *g = grad + (U[k]->border.phi - par);
			for (size_t j = 0; j < nb; j++)
				g[j] = (float)U[k]->border.dphi[j];
		}
		optim_step(opt, c->recon_lr);
	}
	event_progress(ev, "recon", iters, iters);
	/* hard decisions into q, and the loss they give on the calibration set */
	double loss = 0;
	for (int k = 0; k < nu; k++) {
		struct player *L = U[k];
		L->soft = 0;
		L->keep = 1.0;
		if (L->recon_w) {
			size_t wn;
			float *w = model_layer_weight(p->q, L->qidx, &wn);
			float *ws = model_layer_weight(S, L->qidx - s, NULL);
			round_ada_hard(ws, L->codes, w, L->v, wn, &L->grid);
			memcpy(w, ws, wn * sizeof *w);
			model_set_quantizers(S, L->qidx - s, NULL, L->a_bits < 32 ? &L->a_hook : NULL,
					     NULL);
		}
	}
	model_reserve(S, PTQ_PASS_BATCH, 0);
	for (int b0 = 0; b0 < n; b0 += PTQ_PASS_BATCH) {
		int nb = n - b0 < PTQ_PASS_BATCH ? n - b0 : PTQ_PASS_BATCH;
		memcpy(model_input(S), Xq + (size_t)b0 * isz, (size_t)nb * isz * sizeof(float));
		const float *o = model_forward(S, nb, 0, NULL);
		for (size_t j = 0; j < (size_t)nb * osz; j++) {
			double d = (double)o[j] - Y[(size_t)b0 * osz + j];
			loss += d * d;
		}
	}
	loss /= (double)n * oshape[1] * oshape[2];
	for (int k = 0; k < nu; k++) {
		U[k]->recon_loss = loss;
		U[k]->recon = 1;
	}
	ret = 0;
out:
	for (int k = 0; k < nu; k++) {
		struct player *L = U[k];
		L->soft = 0;
		L->keep = 1.0;
		L->v = L->dv = NULL;
		if (L->has_border && par && L->border.phi >= par && L->border.phi < par + (np ? np : 1)) {
			size_t nb = border_size(&L->border);
			float *phi = xmalloc(nb * sizeof *phi);
			memcpy(phi, L->border.phi, nb * sizeof *phi);
			L->border.phi = phi;
		}
	}
	optim_free(opt);
	free(par);
	free(grad);
	model_free(S);
	model_free(R);
	xfree_aligned(Xq);
	xfree_aligned(Y);
	free(idx);
	free(pq);
	return ret;
}

/* ---------------------------------------------------------------------------
 * Statistics helpers
 * ------------------------------------------------------------------------- */

/*
 * The SQNR of player L's activation quantizer on its input in model m (layer
 * idx) over the calibration images, into *out. With build non-NULL, L's
 * quantizer is first built from that input per build's configuration.
 * Returns 0, or -1 with *cause.
 */
static int
input_sqnr(struct ptq *p, struct model *m, int idx, struct player *L, struct ptq *build,
	   double *out, char **cause)
{
	size_t nx = (size_t)p->calib_n * layer_in_size(m, idx);
	float *X = xalloc_floats(nx), *Y = xalloc_floats(nx);
	capture(m, p->calib_x, p->calib_n, p->chw, idx, X, -1, NULL, NULL);
	int rc = build ? build_act(build, L, X, nx, cause) : 0;
	if (rc == 0) {
		act_forward(L, Y, X, nx, 0);
		*out = sqnr_of(X, Y, nx);
	}
	xfree_aligned(Y);
	xfree_aligned(X);
	return rc;
}

/* M: player L's roles and shapes before splitting, owning nothing yet. */
static void
player_unsplit(struct player *M, const struct player *L)
{
	memset(M, 0, sizeof *M);
	M->orig = L->orig;
	M->fidx = L->fidx;
	M->qidx = L->qidx;
	M->dup = -1;
	M->group = L->group;
	M->first = L->first;
	M->last = L->last;
	M->w_bits = L->w_bits;
	M->a_bits = L->a_bits;
	M->w_scheme = L->w_scheme;
	M->a_scheme = L->a_scheme;
	M->uniform_w = L->uniform_w;
	M->uniform_a = L->uniform_a;
	M->a_signed = L->a_signed;
	M->input_is_image = L->input_is_image;
	M->O = L->O;
	M->I0 = M->I = M->C = L->I0;
	M->K = L->K;
	M->P = L->P;
}

/* ---------------------------------------------------------------------------
 * The pipeline
 * ------------------------------------------------------------------------- */

static struct ptq *
ptq_alloc(const struct model *m, const struct ptq_config *c)
{
	struct ptq *p = xcalloc(1, sizeof *p);
	p->cfg = *c;
	p->w_scheme = xstrdup(c->w_scheme ? c->w_scheme : "float");
	p->a_scheme = xstrdup(c->a_scheme ? c->a_scheme : "float");
	p->cfg.w_scheme = p->w_scheme;
	p->cfg.a_scheme = p->a_scheme;
	p->m0 = m;
	p->fmap = xmalloc((size_t)model_layer_count(m) * sizeof *p->fmap);
	int c0, h0, w0;
	model_input_shape(m, &c0, &h0, &w0);
	p->chw = (size_t)c0 * h0 * w0;
	return p;
}

void
ptq_free(struct ptq *p)
{
	if (!p)
		return;
	for (int k = 0; k < p->nL; k++)
		player_free(&p->L[k]);
	free(p->L);
	model_free(p->q);
	model_free(p->fp);
	model_free(p->f);
	free(p->fmap);
	free(p->qmap);
	free(p->calib_idx);
	xfree_aligned(p->calib_x);
	free(p->w_scheme);
	free(p->a_scheme);
	free(p);
}

int
ptq_calib_count(const struct ptq *p)
{
	return p->calib_n;
}

struct model *
ptq_model(struct ptq *p)
{
	return p->q;
}

struct model *
ptq_float_model(struct ptq *p)
{
	return p->f;
}

/* Builds q from f and the players' chandup maps; map from f to q indices. */
static int
build_q(struct ptq *p, char **cause)
{
	int nf = model_layer_count(p->f);
	struct model_dup *dups = xcalloc((size_t)nf, sizeof *dups);
	for (int k = 0; k < p->nL; k++) {
		struct player *L = &p->L[k];
		if (L->n_out)
			dups[L->fidx] = (struct model_dup){L->n_out, L->src, L->factor};
	}
	p->qmap = xmalloc((size_t)nf * sizeof *p->qmap);
	p->q = model_derive(p->f, 0, dups, p->qmap, cause);
	free(dups);
	if (!p->q)
		return -1;
	for (int k = 0; k < p->nL; k++) {
		struct player *L = &p->L[k];
		L->qidx = p->qmap[L->fidx];
		L->dup = L->n_out ? model_layer_input(p->q, L->qidx) : -1;
		if (L->n_out) {
			/* duplicated inputs: channels of their own (features for linear layers) */
			if (L->C != L->I)
				L->P = 1;
			L->I = L->n_out;
			L->C = L->n_out;
		}
	}
	return 0;
}

/* Attaches every player's activation quantizer to q. */
static int
attach_acts(struct ptq *p, char **cause)
{
	for (int k = 0; k < p->nL; k++) {
		struct player *L = &p->L[k];
		if (L->a_bits < 32 &&
		    model_set_quantizers(p->q, L->qidx, NULL, &L->a_hook, cause) < 0)
			return -1;
	}
	return 0;
}

/* Draws the calibration images: calib_n distinct indices from the seed. */
static void
draw_calib(struct ptq *p, const struct dataset *train)
{
	int n = p->cfg.calib_n < train->n ? p->cfg.calib_n : train->n;
	int *all = xmalloc((size_t)train->n * sizeof *all);
	for (int i = 0; i < train->n; i++)
		all[i] = i;
	struct rng r0, r;
	rng_seed(&r0, p->cfg.seed);
	rng_split(&r, &r0, STREAM_CALIB);
	for (int i = 0; i < n; i++) { /* partial Fisher-Yates */
		int j = i + (int)rng_below(&r, (uint32_t)(train->n - i));
		int t = all[i];
		all[i] = all[j];
		all[j] = t;
	}
	p->calib_n = n;
	p->calib_idx = xmalloc((size_t)n * sizeof *p->calib_idx);
	for (int i = 0; i < n; i++)
		p->calib_idx[i] = all[i];
	p->calib_x = xalloc_floats((size_t)n * p->chw);
	int32_t *y = xmalloc((size_t)n * sizeof *y);
	dataset_gather(train, all, n, p->calib_x, y, 0, 0, NULL);
	free(y);
	free(all);
}

/* Non-finite values in x (n) make an error naming where. */
static int
check_finite(const float *x, size_t n, const char *what, const char *group, char **cause)
{
	for (size_t i = 0; i < n; i++)
		if (!isfinite(x[i]))
			return err_set(cause, "%s of %s holds a non-finite value (%g)", what,
				       group, (double)x[i]);
	return 0;
}

int
ptq_run(struct ptq **out, const struct model *m, const struct ptq_config *c,
	const struct dataset *train, const struct engine_events *ev, char **cause)
{
	*out = NULL;
	if (ptq_check(c, cause) < 0)
		return -1;
	struct ptq *p = ptq_alloc(m, c);
	float *X = NULL;
	struct rng r0, stoch, recon;
	rng_seed(&r0, c->seed);
	rng_split(&stoch, &r0, STREAM_STOCH);
	rng_split(&recon, &r0, STREAM_RECON);
	if (!(p->f = model_derive(m, 1, NULL, p->fmap, cause)))
		goto fail;
	make_players(p);
	draw_calib(p, train);
	int n = p->calib_n;
	event_progress(ev, "calib", 0, p->nL);

	/* 1. splitting decisions and split weights (f's indices, q not built yet) */
	float **wsplit = xcalloc((size_t)p->nL, sizeof *wsplit);
	for (int k = 0; k < p->nL; k++) {
		struct player *L = &p->L[k];
		if (!splits(p, L))
			continue;
		const float *w = model_layer_weight(p->f, L->fidx, NULL);
		if (c->ocs_target == PTQ_OCS_WEIGHTS) {
			if (split_weights(p, L, w, &wsplit[k], cause) < 0)
				goto fail_split;
		} else {
			size_t isz = layer_in_size(p->f, L->fidx);
			X = xalloc_floats((size_t)n * isz);
			if (capture(p->f, p->calib_x, n, p->chw, L->fidx, X, -1, NULL, ev) < 0) {
				err_set(cause, "stopped");
				goto fail_split;
			}
			if (check_finite(X, (size_t)n * isz, "the calibration input", L->group, cause) < 0)
				goto fail_split;
			split_acts(p, L, w, X, n, &wsplit[k]);
			xfree_aligned(X);
			X = NULL;
		}
	}
	if (build_q(p, cause) < 0)
		goto fail_split;
	for (int k = 0; k < p->nL; k++)
		if (wsplit[k]) {
			size_t wn;
			float *w = model_layer_weight(p->q, p->L[k].qidx, &wn);
			memcpy(w, wsplit[k], wn * sizeof *w);
			xfree_aligned(wsplit[k]);
			wsplit[k] = NULL;
		}
	free(wsplit);
	wsplit = NULL;
	if (!(p->fp = model_derive(p->q, 0, NULL, NULL, cause)))
		goto fail;

	/* 2. weights: clips and rounding (AdaRound waits for its unit) */
	for (int k = 0; k < p->nL; k++) {
		struct player *L = &p->L[k];
		if (L->w_bits >= 32)
			continue;
		size_t wn;
		float *w = model_layer_weight(p->q, L->qidx, &wn);
		const float *w0 = model_layer_weight(p->f, L->fidx, NULL);
		if (check_finite(w, wn, "the weight", L->group, cause) < 0 ||
		    weight_clips(p, L, w, L->n_out ? w0 : NULL, cause) < 0 ||
		    quantize_weights(p, L, w, wn, &stoch, cause) < 0)
			goto fail;
	}

	/* 3. activation quantizers from the float inputs (after duplication) */
	for (int k = 0; k < p->nL; k++) {
		struct player *L = &p->L[k];
		event_progress(ev, "calib", k, p->nL);
		if (L->a_bits >= 32)
			continue;
		size_t isz = layer_in_size(p->q, L->qidx);
		X = xalloc_floats((size_t)n * isz);
		if (capture(p->fp, p->calib_x, n, p->chw, L->qidx, X, -1, NULL, ev) < 0) {
			err_set(cause, "stopped");
			goto fail;
		}
		if (check_finite(X, (size_t)n * isz, "the calibration input", L->group, cause) < 0 ||
		    build_act(p, L, X, (size_t)n * isz, cause) < 0)
			goto fail;
		xfree_aligned(X);
		X = NULL;
	}
	event_progress(ev, "calib", p->nL, p->nL);
	if (attach_acts(p, cause) < 0)
		goto fail;

	/* 4. reconstruction, unit by unit */
	if (c->border == PTQ_ADAROUND || c->border == PTQ_AQUANT) {
		float *logits = NULL;
		int nl = model_layer_count(p->q), classes = model_classes(p->q);
		if (c->border == PTQ_AQUANT) {
			logits = xalloc_floats((size_t)n * classes);
			if (capture(p->fp, p->calib_x, n, p->chw, -1, NULL, nl - 1, logits, ev) < 0) {
				xfree_aligned(logits);
				err_set(cause, "stopped");
				goto fail;
			}
		}
		struct player **U = xmalloc((size_t)p->nL * sizeof *U);
		int rc = 0;
		for (int k = 0; k < p->nL && rc == 0;) {
			int s = unit_start(p, k), e, j = k + 1;
			if (c->recon_block) {
				/* up to the next start the rest of the network can begin at */
				while (j < p->nL && model_slice_check(p->q, unit_start(p, j), nl - 1, NULL) < 0)
					j++;
				e = j < p->nL ? unit_start(p, j) - 1 : nl - 1;
			} else {
				/* the layer and what follows it, as far as it reads nothing else */
				e = j < p->nL ? unit_start(p, j) - 1 : nl - 1;
				while (e > p->L[k].qidx && model_slice_check(p->q, s, e, NULL) < 0)
					e--;
			}
			int nu = unit_players(p, s, e, U), learn = 0;
			for (int u = 0; u < nu; u++)
				learn |= U[u]->recon_w || U[u]->has_border;
			if (learn)
				rc = recon_unit(p, s, e, U, nu, &recon, logits, ev, cause);
			k = j;
		}
		free(U);
		xfree_aligned(logits);
		if (rc < 0)
			goto fail;
	}

	/* 5. statistics on the calibration set */
	struct ptq_config c0 = *c; /* the same quantizers without splitting */
	c0.ocs_ratio = 0;
	c0.border = PTQ_NEAREST;
	struct ptq unsplit = {.cfg = c0, .f = p->f};
	for (int k = 0; k < p->nL; k++) {
		struct player *L = &p->L[k];
		size_t wn0 = (size_t)L->O * L->I0 * L->K;
		const float *w0 = model_layer_weight(p->f, L->fidx, NULL);
		if (L->w_bits < 32) {
			float *we = xalloc_floats(wn0);
			merge_weights(L, we, model_layer_weight(p->q, L->qidx, NULL));
			L->sqnr_w = sqnr_of(w0, we, wn0);
			xfree_aligned(we);
		}
		if (L->a_bits < 32)
			input_sqnr(p, p->fp, L->qidx, L, NULL, &L->sqnr_a, NULL);
		if (!L->n_out)
			continue;
		struct player M;
		player_unsplit(&M, L);
		int rc = 0;
		if (L->w_bits < 32) {
			float *w = xalloc_floats(wn0);
			memcpy(w, w0, wn0 * sizeof *w);
			rc = weight_clips(&unsplit, &M, w, NULL, cause);
			if (rc == 0)
				rc = quantize_weights(&unsplit, &M, w, wn0, &stoch, cause);
			if (rc == 0)
				L->sqnr_w_noocs = sqnr_of(w0, w, wn0);
			xfree_aligned(w);
		}
		if (rc == 0 && L->a_bits < 32)
			rc = input_sqnr(p, p->f, L->fidx, &M, &unsplit, &L->sqnr_a_noocs, cause);
		player_free(&M);
		if (rc < 0)
			goto fail;
	}
	xfree_aligned(p->calib_x);
	p->calib_x = NULL;
	*out = p;
	return 0;

fail_split:
	for (int k = 0; k < p->nL; k++)
		xfree_aligned(wsplit[k]);
	free(wsplit);
fail:
	xfree_aligned(X);
	ptq_free(p);
	return -1;
}

/* ---------------------------------------------------------------------------
 * Statistics and costs
 * ------------------------------------------------------------------------- */

static double
max_of(const float *x, int n)
{
	double m = 0;
	for (int i = 0; i < n; i++)
		m = x[i] > m ? x[i] : m;
	return m;
}

/* Input bits of player L as computed: the image counts as 8-bit data when anything is quantized. */
static int
input_bits(const struct ptq *p, const struct player *L)
{
	if (L->a_bits < 32)
		return L->a_bits;
	const struct ptq_config *c = &p->cfg;
	int any = !is_float(c->w_scheme, c->w_bits) || !is_float(c->a_scheme, c->a_bits);
	if (L->input_is_image && any && c->firstlast != QAT_FIRSTLAST_FP)
		return 8;
	return 32;
}

void
ptq_report(const struct ptq *p, const struct engine_events *ev)
{
	for (int k = 0; k < p->nL; k++) {
		const struct player *L = &p->L[k];
		double macs = (double)model_layer_at(p->q, L->qidx)->macs;
		event_layer_stat(ev, L->orig, L->group, "bits_w", L->w_bits);
		event_layer_stat(ev, L->orig, L->group, "bits_a", input_bits(p, L));
		if (L->w_bits < 32) {
			event_layer_stat(ev, L->orig, L->group, "clip_w",
					 max_of(L->w_clip, L->channels));
			event_layer_stat(ev, L->orig, L->group, "sqnr_w", L->sqnr_w);
		}
		if (L->a_bits < 32) {
			event_layer_stat(ev, L->orig, L->group, "clip_a", L->a_clip);
			event_layer_stat(ev, L->orig, L->group, "sqnr_a", L->sqnr_a);
		}
		if (L->n_out) {
			event_layer_stat(ev, L->orig, L->group, "ocs_splits", L->n_split);
			if (L->w_bits < 32)
				event_layer_stat(ev, L->orig, L->group, "sqnr_w_noocs",
						 L->sqnr_w_noocs);
			if (L->a_bits < 32)
				event_layer_stat(ev, L->orig, L->group, "sqnr_a_noocs",
						 L->sqnr_a_noocs);
		}
		if (L->recon)
			event_layer_stat(ev, L->orig, L->group, "recon_loss", L->recon_loss);
		event_layer_stat(ev, L->orig, L->group, "macs_split", macs);
		event_layer_stat(ev, L->orig, L->group, "bitops",
				 macs * L->w_bits * input_bits(p, L));
	}
}

void
ptq_cost(const struct ptq *p, struct ptq_cost *out)
{
	memset(out, 0, sizeof *out);
	for (int k = 0; k < p->nL; k++) {
		const struct player *L = &p->L[k];
		double macs = (double)model_layer_at(p->q, L->qidx)->macs;
		out->bitops += macs * L->w_bits * input_bits(p, L);
		if (L->w_bits < 32 && !L->uniform_w &&
		    (!strcmp(L->w_scheme, "pot") || !strcmp(L->w_scheme, "apot"))) {
			struct quant_config qc = {.scheme = L->w_scheme, .bits = L->w_bits,
						  .role = QUANT_ROLE_WEIGHT, .alpha = 1.0f};
			struct quant *z;
			if (quant_new(&z, &qc, NULL) == 0) {
				out->shift_adds += macs * quant_cost(z).shift_adds;
				quant_free(z);
			}
		}
		/* scales: per weight channel, one activation step, border parameters */
		if (L->w_bits < 32)
			out->size_bits += 32.0 * L->channels;
		if (L->a_bits < 32)
			out->size_bits += 32.0;
		if (L->has_border)
			out->size_bits += 32.0 * (double)border_size(&L->border);
	}
	for (int t = 0; t < model_tensor_count(p->q); t++) {
		const struct model_tensor *mt = model_tensor_at(p->q, t);
		if (!mt->trainable)
			continue;
		double bits = 32;
		for (int k = 0; k < p->nL; k++)
			if (!strcmp(mt->name, "weight") &&
			    !strcmp(mt->group, model_layer_at(p->q, p->L[k].qidx)->group))
				bits = p->L[k].w_bits;
		out->size_bits += bits * (double)mt->size;
	}
	out->macs = (double)model_macs(p->q);
	out->macs_float = (double)model_macs(p->f);
	out->ocs_overhead = out->macs_float > 0 ? out->macs / out->macs_float - 1 : 0;
	out->params = (double)model_param_count(p->q);
}

/* ---------------------------------------------------------------------------
 * Files
 * ------------------------------------------------------------------------- */

void
ptq_export(const struct ptq *p, struct io_h5_groups *gs)
{
	const struct ptq_config *c = &p->cfg;
	char buf[64];
	struct io_h5_group *g = io_h5_groups_add(gs, "quant");
	io_h5_group_str(g, "kind", "ptq");
	io_h5_group_str(g, "w_scheme", p->w_scheme);
	io_h5_group_str(g, "a_scheme", p->a_scheme);
	io_h5_group_int(g, "w_bits", c->w_bits);
	io_h5_group_int(g, "a_bits", c->a_bits);
	io_h5_group_str(g, "w_gran", c->w_channel ? "channel" : "tensor");
	io_h5_group_str(g, "firstlast", c->firstlast == QAT_FIRSTLAST_8	 ? "8"
					: c->firstlast == QAT_FIRSTLAST_FP ? "fp"
									   : "same");
	io_h5_group_str(g, "w_clip", clip_format(&c->w_clip, buf, sizeof buf));
	io_h5_group_str(g, "a_clip", clip_format(&c->a_clip, buf, sizeof buf));
	io_h5_group_int(g, "a_signed", c->a_signed);
	io_h5_group_num(g, "ocs_ratio", c->ocs_ratio);
	io_h5_group_str(g, "ocs_split", c->ocs_split == OCS_SPLIT_QA ? "qa" : "naive");
	io_h5_group_str(g, "ocs_target", c->ocs_target == PTQ_OCS_ACTS ? "a" : "w");
	io_h5_group_str(g, "border", border_names[c->border]);
	io_h5_group_str(g, "aquant_kind", c->aquant_kind == ROUND_BORDER_LINEAR ? "linear" : "bin");
	io_h5_group_int(g, "calib_n", p->calib_n);
	io_h5_group_int(g, "recon_iters", c->recon_iters);
	io_h5_group_int(g, "seed", (long long)c->seed);
	long dims[1] = {p->calib_n};
	io_h5_group_data(g, "calib_indices", IO_H5_I32, p->calib_idx, 1, dims);
	for (int k = 0; k < p->nL; k++) {
		const struct player *L = &p->L[k];
		if (L->w_bits >= 32 && L->a_bits >= 32 && !L->n_out)
			continue;
		char path[64];
		snprintf(path, sizeof path, "quant/%s", L->group);
		struct io_h5_group *lg = io_h5_groups_add(gs, path);
		io_h5_group_int(lg, "bits_w", L->w_bits);
		io_h5_group_int(lg, "bits_a", L->a_bits);
		if (L->n_out) {
			long d[1] = {L->n_out};
			io_h5_group_int(lg, "ocs_splits", L->n_split);
			io_h5_group_data(lg, "dup_src", IO_H5_I32, L->src, 1, d);
			io_h5_group_data(lg, "dup_factor", IO_H5_F32, L->factor, 1, d);
		}
		if (L->w_bits < 32) {
			io_h5_group_str(lg, "scheme_w", L->w_scheme);
			long d[4] = {L->O, L->I, L->K, 0};
			int wide = 0;
			size_t n = (size_t)L->O * L->I * L->K;
			for (size_t i = 0; i < n; i++)
				wide |= L->codes[i] < -128 || L->codes[i] > 127;
			if (wide) {
				io_h5_group_data(lg, "codes_w", IO_H5_I32, L->codes, 3, d);
			} else {
				int8_t *c8 = xmalloc(n);
				for (size_t i = 0; i < n; i++)
					c8[i] = (int8_t)L->codes[i];
				io_h5_group_data(lg, "codes_w", IO_H5_I8, c8, 3, d);
				free(c8);
			}
			long dc[1] = {L->channels};
			io_h5_group_data(lg, "clip_w", IO_H5_F32, L->w_clip, 1, dc);
			if (L->uniform_w) {
				io_h5_group_data(lg, "scale_w", IO_H5_F32, L->w_step, 1, dc);
			} else {
				long dl[1] = {L->n_levels};
				io_h5_group_data(lg, "levels_w", IO_H5_F32, L->levels, 1, dl);
			}
		}
		if (L->a_bits < 32) {
			io_h5_group_str(lg, "scheme_a", L->a_scheme);
			io_h5_group_int(lg, "signed_a", L->a_signed);
			io_h5_group_num(lg, "clip_a", L->a_clip);
			io_h5_group_num(lg, "scale_a", L->a_step);
			if (L->has_border) {
				long d[2] = {L->C, (long)round_border_params(&L->border)};
				io_h5_group_data(lg, "border_phi", IO_H5_F32, L->border.phi, 2, d);
			}
		}
	}
}

int
ptq_is_ptq(const struct io_h5_groups *gs)
{
	const struct io_h5_group *g = io_h5_groups_find(gs, "quant");
	const struct io_h5_attr *a = g ? io_h5_group_attr(g, "kind") : NULL;
	return a && a->str && strcmp(a->str, "ptq") == 0;
}

static int
attr_int(const struct io_h5_group *g, const char *name, int *v, const char *path, char **cause)
{
	const struct io_h5_attr *a = io_h5_group_attr(g, name);
	if (!a || a->str)
		return err_set(cause, "%s: /%s lacks the numeric attribute %s", path, g->path, name);
	*v = (int)a->num;
	return 0;
}

static const char *
attr_text(const struct io_h5_group *g, const char *name)
{
	const struct io_h5_attr *a = io_h5_group_attr(g, name);
	return a && a->str ? a->str : NULL;
}

static const struct io_h5_data *
need_data(const struct io_h5_group *g, const char *name, size_t size, const char *path,
	  char **cause)
{
	const struct io_h5_data *d = io_h5_group_dataset(g, name);
	if (!d)
		err_set(cause, "%s: /%s lacks the dataset %s", path, g->path, name);
	else if (d->size != size)
		err_set(cause, "%s: /%s/%s has %zu values, not %zu", path, g->path, name, d->size,
			size);
	return d && d->size == size ? d : NULL;
}

int
ptq_import(struct ptq **out, const struct model *m, const struct io_h5_groups *gs,
	   const char *path, char **cause)
{
	*out = NULL;
	const struct io_h5_group *root = io_h5_groups_find(gs, "quant");
	if (!root || !ptq_is_ptq(gs))
		return err_set(cause, "%s: /quant does not describe a post-training quantization",
			       path);
	struct ptq_config c;
	ptq_config_default(&c);
	c.w_scheme = attr_text(root, "w_scheme");
	c.a_scheme = attr_text(root, "a_scheme");
	const char *border = attr_text(root, "border"), *kind = attr_text(root, "aquant_kind");
	int wb = 0, ab = 0;
	if (!c.w_scheme || !c.a_scheme || !border || attr_int(root, "w_bits", &wb, path, cause) ||
	    attr_int(root, "a_bits", &ab, path, cause))
		return err_set(cause, "%s: /quant lacks its scheme attributes", path);
	c.w_bits = wb;
	c.a_bits = ab;
	for (int b = 0; b < PTQ_BORDER_COUNT; b++)
		if (strcmp(border, border_names[b]) == 0)
			c.border = (enum ptq_border)b;
	c.aquant_kind = kind && strcmp(kind, "linear") == 0 ? ROUND_BORDER_LINEAR
							     : ROUND_BORDER_BIN;
	const char *fl = attr_text(root, "firstlast"), *gran = attr_text(root, "w_gran");
	if (fl && qat_firstlast_parse(fl) >= 0)
		c.firstlast = (enum qat_firstlast)qat_firstlast_parse(fl);
	c.w_channel = gran && strcmp(gran, "channel") == 0;
	int sgn_all = 0;
	if (io_h5_group_attr(root, "a_signed") && attr_int(root, "a_signed", &sgn_all, path, cause) == 0)
		c.a_signed = sgn_all;
	struct ptq *p = ptq_alloc(m, &c);
	if (!(p->f = model_derive(m, 1, NULL, p->fmap, cause)))
		goto fail;
	make_players(p);
	/* per layer: bits, splitting maps */
	for (int k = 0; k < p->nL; k++) {
		struct player *L = &p->L[k];
		char gp[64];
		snprintf(gp, sizeof gp, "quant/%s", L->group);
		const struct io_h5_group *g = io_h5_groups_find(gs, gp);
		L->w_bits = L->a_bits = 32;
		if (!g)
			continue;
		if (attr_int(g, "bits_w", &L->w_bits, path, cause) ||
		    attr_int(g, "bits_a", &L->a_bits, path, cause))
			goto fail;
		const struct io_h5_data *ds = io_h5_group_dataset(g, "dup_src");
		if (ds) {
			const struct io_h5_data *df = need_data(g, "dup_factor", ds->size, path, cause);
			if (!df)
				goto fail;
			L->n_out = (int)ds->size;
			L->n_split = L->n_out - L->I0;
			L->src = xmalloc(ds->size * sizeof *L->src);
			L->factor = xmalloc(ds->size * sizeof *L->factor);
			for (size_t i = 0; i < ds->size; i++) {
				float v = ((const float *)ds->data)[i];
				if (!(v >= 0 && v < (float)L->I0))
					goto bad_src;
				L->src[i] = (int32_t)v;
				L->factor[i] = ((const float *)df->data)[i];
			}
		}
	}
	if (build_q(p, cause) < 0)
		goto fail;
	for (int k = 0; k < p->nL; k++) {
		struct player *L = &p->L[k];
		char gp[64];
		snprintf(gp, sizeof gp, "quant/%s", L->group);
		const struct io_h5_group *g = io_h5_groups_find(gs, gp);
		if (!g)
			continue;
		if (L->w_bits < 32) {
			size_t wn;
			float *w = model_layer_weight(p->q, L->qidx, &wn);
			const char *sch = attr_text(g, "scheme_w");
			L->uniform_w = sch && is_uniform(sch);
			const struct io_h5_data *cd = need_data(g, "codes_w", wn, path, cause);
			const struct io_h5_data *cl = io_h5_group_dataset(g, "clip_w");
			if (!cd || !cl)
				goto fail_missing;
			L->channels = (int)cl->size;
			L->w_clip = xmalloc(cl->size * sizeof *L->w_clip);
			memcpy(L->w_clip, cl->data, cl->size * sizeof *L->w_clip);
			L->codes = xmalloc(wn * sizeof *L->codes);
			for (size_t i = 0; i < wn; i++)
				L->codes[i] = (int32_t)((const float *)cd->data)[i];
			size_t per = wn / (size_t)L->channels;
			if (L->uniform_w) {
				const struct io_h5_data *sd =
					need_data(g, "scale_w", (size_t)L->channels, path, cause);
				if (!sd)
					goto fail;
				L->w_step = xmalloc((size_t)L->channels * sizeof *L->w_step);
				memcpy(L->w_step, sd->data, (size_t)L->channels * sizeof *L->w_step);
				for (size_t i = 0; i < wn; i++)
					w[i] = (float)L->codes[i] * L->w_step[i / per];
			} else {
				const struct io_h5_data *ld = io_h5_group_dataset(g, "levels_w");
				if (!ld)
					goto fail_missing;
				L->n_levels = (int)ld->size;
				L->levels = xmalloc(ld->size * sizeof *L->levels);
				memcpy(L->levels, ld->data, ld->size * sizeof *L->levels);
				for (size_t i = 0; i < wn; i++) {
					if (L->codes[i] < 0 || L->codes[i] >= L->n_levels) {
						err_set(cause, "%s: /%s/codes_w indexes level %d of %d",
							path, gp, (int)L->codes[i], L->n_levels);
						goto fail;
					}
					w[i] = L->levels[L->codes[i]];
				}
			}
		}
		if (L->a_bits < 32) {
			const char *sch = attr_text(g, "scheme_a");
			const struct io_h5_attr *cl = io_h5_group_attr(g, "clip_a");
			const struct io_h5_attr *sc = io_h5_group_attr(g, "scale_a");
			int sgn = 0;
			if (!sch || !cl || !sc || attr_int(g, "signed_a", &sgn, path, cause))
				goto fail_missing;
			L->a_scheme = is_uniform(sch) ? "uniform" : p->a_scheme;
			L->uniform_a = is_uniform(sch);
			L->a_signed = sgn;
			int bits = L->a_bits;
			L->a_clip = (float)cl->num;
			L->a_step = (float)sc->num;
			L->a_qmin = sgn ? -(1 << (bits - 1)) : 0;
			L->a_qmax = sgn ? (1 << (bits - 1)) - 1 : (1 << bits) - 1;
			struct quant_config qc = {.scheme = L->a_scheme, .bits = bits,
						  .role = QUANT_ROLE_ACT, .alpha = L->a_clip,
						  .channels = 1, .scale = &L->a_step, .is_signed = sgn};
			if (quant_new(&L->aq, &qc, cause) < 0) {
				err_wrap(cause, "%s: /%s", path, gp);
				goto fail;
			}
			const struct io_h5_data *bd = io_h5_group_dataset(g, "border_phi");
			if (bd) {
				struct round_border *b = &L->border;
				b->kind = p->cfg.aquant_kind;
				L->b_steps = xmalloc((size_t)L->C * sizeof *L->b_steps);
				for (int ch = 0; ch < L->C; ch++)
					L->b_steps[ch] = L->a_step;
				b->grid = (struct round_grid){.channels = L->C, .scale = L->b_steps,
							      .qmin = L->a_qmin, .qmax = L->a_qmax};
				b->plane = L->P;
				b->bins = L->a_qmax - L->a_qmin;
				size_t np = border_size(b);
				if (!need_data(g, "border_phi", np, path, cause))
					goto fail;
				b->phi = xmalloc(np * sizeof *b->phi);
				b->dphi = xcalloc(np, sizeof *b->dphi);
				memcpy(b->phi, bd->data, np * sizeof *b->phi);
				L->has_border = 1;
			}
			L->a_hook = (struct model_quantizer){.ctx = L, .forward = act_forward,
							     .backward = act_backward};
			L->keep = 1.0;
		}
	}
	if (attach_acts(p, cause) < 0)
		goto fail;
	*out = p;
	return 0;
bad_src:
	err_set(cause, "%s: a /quant dup_src entry is not an input channel", path);
	goto fail;
fail_missing:
	if (!*cause)
		err_set(cause, "%s: /quant of a layer lacks its quantizer data", path);
fail:
	ptq_free(p);
	return -1;
}

/* ---------------------------------------------------------------------------
 * Borders, for reports and plots
 * ------------------------------------------------------------------------- */

static const struct player *
border_player(const struct ptq *p, int i)
{
	for (int k = 0; k < p->nL; k++)
		if (p->L[k].has_border && i-- == 0)
			return &p->L[k];
	return NULL;
}

int
ptq_border_layers(const struct ptq *p)
{
	int n = 0;
	for (int k = 0; k < p->nL; k++)
		n += p->L[k].has_border;
	return n;
}

int
ptq_border_stats(const struct ptq *p, int i, const char **group, double *mean, double *lo,
		 double *hi, int cap)
{
	const struct player *L = border_player(p, i);
	if (!L)
		return -1;
	const struct round_border *b = &L->border;
	*group = L->group;
	int bins = b->bins < cap ? b->bins : cap;
	for (int k = 0; k < bins; k++) {
		mean[k] = 0;
		lo[k] = 1;
		hi[k] = 0;
		/* a bin's border at its middle value (LINEAR borders depend on the value) */
		float v = (float)(k + b->grid.qmin) + 0.5f;
		for (int c = 0; c < b->grid.channels; c++) {
			double B = round_border_value(b, c, k, v);
			mean[k] += B / b->grid.channels;
			lo[k] = B < lo[k] ? B : lo[k];
			hi[k] = B > hi[k] ? B : hi[k];
		}
	}
	return bins;
}
