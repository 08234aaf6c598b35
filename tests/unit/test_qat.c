/*
 * test_qat: quantization-aware training (engine/quant/qat.c) on small zoo
 * networks and synthetic data: configuration checks, which layers get which
 * quantizers and bit-widths, quantized weights on their level sets and their
 * integer codes (docs/formats.md), the gradient through weight normalisation
 * against central differences, gradient quantization, QNN's hardtanh and
 * weight clipping, training through train_run (determinism, learned clips),
 * the /quant round trip through a model file, and costs.
 *
 * Inputs are 1x8x8 (cnn: conv 6x6x32, conv 4x4x64, pool, fc 256-128-4) so the
 * whole file runs in a few seconds.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/data.h"
#include "engine/io_h5.h"
#include "engine/model.h"
#include "engine/quant/qat.h"
#include "engine/rng.h"
#include "engine/threads.h"
#include "engine/train.h"
#include "engine/util.h"
#include "tests/unit/tap.h"
#include "tests/unit/testdata.h"

#define SIDE 8
#define CLASSES 4
#define CALIB 16

/* ---- helpers ---- */

static struct model *
zoo(const char *arch, uint64_t seed)
{
	char *cause = NULL;
	struct model *m = model_new(arch, 1, SIDE, SIDE, CLASSES, seed, &cause);
	if (!m) {
		tap_diag("model_new %s: %s", arch, cause);
		free(cause);
		exit(1);
	}
	return m;
}

static struct qat_config
qcfg(const char *ws, int wb, const char *as, int ab, enum qat_firstlast fl)
{
	struct qat_config c = {0};
	c.w_scheme = ws;
	c.w_bits = wb;
	c.a_scheme = as;
	c.a_bits = ab;
	c.g_bits = 32;
	c.firstlast = fl;
	c.seed = 1;
	return c;
}

/* qat_new that must succeed (the test stops otherwise). */
static struct qat *
qat_make(struct model *m, const struct qat_config *c, const struct dataset *calib)
{
	struct qat *q = NULL;
	char *cause = NULL;
	if (qat_new(&q, m, c, calib, calib ? CALIB : 0, &cause) < 0) {
		tap_diag("qat_new: %s", cause);
		free(cause);
		exit(1);
	}
	return q;
}

/* The weight tensor of layer group g and its gradient (NULL when absent). */
static const struct model_tensor *
weight_of(struct model *m, const char *g, float **grad)
{
	size_t nd, nt;
	float *params = model_params(m, &nd, &nt);
	for (int i = 0; i < model_tensor_count(m); i++) {
		const struct model_tensor *t = model_tensor_at(m, i);
		if (strcmp(t->group, g) == 0 && strcmp(t->name, "weight") == 0) {
			if (grad)
				*grad = model_grads(m) + (t->data - params);
			return t;
		}
	}
	return NULL;
}

/* Mean and unbiased standard deviation of x (n), in double. */
static void
mean_std(const float *x, size_t n, double *mean, double *std)
{
	double s = 0, ss = 0;
	for (size_t i = 0; i < n; i++)
		s += x[i];
	*mean = s / (double)n;
	for (size_t i = 0; i < n; i++)
		ss += (x[i] - *mean) * (x[i] - *mean);
	*std = sqrt(ss / (double)(n - 1));
}

/* Eval-mode logits of m on the first B examples of d (caller frees). */
static float *
eval_logits(struct model *m, const struct dataset *d, int B)
{
	size_t chw = (size_t)d->c * d->h * d->w;
	model_reserve(m, B, 0);
	memcpy(model_input(m), d->x, (size_t)B * chw * sizeof(float));
	const float *out = model_forward(m, B, 0, NULL);
	float *copy = xmalloc((size_t)B * model_classes(m) * sizeof *copy);
	memcpy(copy, out, (size_t)B * model_classes(m) * sizeof *copy);
	return copy;
}

static int
count_distinct(const float *x, size_t n)
{
	float *s = xmalloc(n * sizeof *s);
	memcpy(s, x, n * sizeof *s);
	int k = 0;
	for (size_t i = 0; i < n; i++) {
		size_t j = 0;
		while (j < (size_t)k && s[j] != x[i])
			j++;
		if (j == (size_t)k)
			s[k++] = x[i];
	}
	free(s);
	return k;
}

/* ---- events ---- */

#define CAP_MAX 2048

struct cap_row {
	int step, layer; /* layer -1 for metrics */
	char group[32], name[48];
	double v;
};

struct capture {
	struct cap_row rows[CAP_MAX];
	int n;
};

static void
cap_metric(void *ctx, int step, const char *name, double v)
{
	struct capture *c = ctx;
	if (c->n == CAP_MAX)
		return;
	struct cap_row *r = &c->rows[c->n++];
	r->step = step;
	r->layer = -1;
	r->group[0] = 0;
	snprintf(r->name, sizeof r->name, "%s", name);
	r->v = v;
}

static void
cap_stat(void *ctx, int layer, const char *group, const char *name, double v)
{
	struct capture *c = ctx;
	if (c->n == CAP_MAX)
		return;
	struct cap_row *r = &c->rows[c->n++];
	r->step = 0;
	r->layer = layer;
	snprintf(r->group, sizeof r->group, "%s", group);
	snprintf(r->name, sizeof r->name, "%s", name);
	r->v = v;
}

static struct engine_events
cap_events(struct capture *c)
{
	c->n = 0;
	return (struct engine_events){c, NULL, cap_metric, cap_stat, NULL};
}

/* The last layer_stat row (group, name); *layer gets its model index. Returns found. */
static int
cap_stat_get(const struct capture *c, const char *group, const char *name, double *v, int *layer)
{
	int found = 0;
	for (int i = 0; i < c->n; i++)
		if (c->rows[i].layer >= 0 && strcmp(c->rows[i].group, group) == 0 &&
		    strcmp(c->rows[i].name, name) == 0) {
			*v = c->rows[i].v;
			if (layer)
				*layer = c->rows[i].layer;
			found = 1;
		}
	return found;
}

/* The metric name at step. Returns found. */
static int
cap_metric_get(const struct capture *c, int step, const char *name, double *v)
{
	for (int i = 0; i < c->n; i++)
		if (c->rows[i].layer < 0 && c->rows[i].step == step &&
		    strcmp(c->rows[i].name, name) == 0) {
			*v = c->rows[i].v;
			return 1;
		}
	return 0;
}


/* ======================================================================== */

static void
expect_reject(const struct qat_config *c, const char *want1, const char *want2, const char *what)
{
	char *cause = NULL;
	int rc = qat_check(c, &cause);
	int ok = rc == -1 && cause && strstr(cause, want1) && (!want2 || strstr(cause, want2));
	tap_ok(ok, "qat_check rejects %s, naming \"%s\"", what, want1);
	if (!ok)
		tap_diag("rc %d, message: %s", rc, cause ? cause : "(none)");
	free(cause);
}

static void
expect_accept(const struct qat_config *c, const char *what)
{
	char *cause = NULL;
	int rc = qat_check(c, &cause);
	tap_ok(rc == 0, "qat_check accepts %s", what);
	if (rc)
		tap_diag("message: %s", cause ? cause : "(none)");
	free(cause);
}

/* qat_check: supported bit-widths, variants and granularity, messages naming the key. */
static void
test_check(void)
{
	struct qat_config c = qcfg("apot", 7, NULL, 32, QAT_FIRSTLAST_8);
	expect_reject(&c, "w.scheme=apot", "supports 2..6", "apot w.bits=7");
	c = qcfg("lcq", 1, NULL, 32, QAT_FIRSTLAST_8);
	expect_reject(&c, "w.scheme=lcq", "lcq", "lcq w.bits=1");
	c = qcfg(NULL, 32, "lcq", 1, QAT_FIRSTLAST_8);
	expect_reject(&c, "a.scheme=lcq", "lcq", "lcq a.bits=1");
	c = qcfg("qnn", 2, NULL, 32, QAT_FIRSTLAST_8);
	c.w_variant = "det";
	expect_reject(&c, "w.scheme=qnn", "bits=1", "qnn det at 2 bits");
	c = qcfg("apot", 4, "apot", 4, QAT_FIRSTLAST_8);
	c.w_channel = 1;
	expect_reject(&c, "w.gran=channel", "apot", "per-channel apot");
	c = qcfg("uniform", 4, "uniform", 4, QAT_FIRSTLAST_8);
	c.g_bits = 1;
	expect_reject(&c, "g.bits", "got 1", "g.bits=1");
	c.g_bits = 9;
	expect_reject(&c, "g.bits", "got 9", "g.bits=9");

	c = qcfg("uniform", 4, "uniform", 4, QAT_FIRSTLAST_8);
	expect_accept(&c, "uniform 4/4");
	c.w_channel = 1;
	expect_accept(&c, "uniform 4/4 per channel");
	c = qcfg("apot", 3, "apot", 3, QAT_FIRSTLAST_8);
	expect_accept(&c, "apot 3/3");
	c = qcfg("lcq", 2, "lcq", 2, QAT_FIRSTLAST_8);
	expect_accept(&c, "lcq 2/2");
	c = qcfg("qnn", 1, "qnn", 1, QAT_FIRSTLAST_8);
	expect_accept(&c, "qnn 1/1");
	c = qcfg("qnn", 1, "qnn", 2, QAT_FIRSTLAST_8);
	expect_accept(&c, "qnn 1/2");
	c = qcfg("uniform", 4, "uniform", 4, QAT_FIRSTLAST_8);
	c.g_bits = 4;
	expect_accept(&c, "uniform 4/4 with g.bits=4");

	c = qcfg(NULL, 32, NULL, 32, QAT_FIRSTLAST_8);
	tap_ok(!qat_config_active(&c), "qat_config_active: no schemes, 32 bits: inactive");
	c = qcfg("float", 32, "float", 32, QAT_FIRSTLAST_8);
	tap_ok(!qat_config_active(&c), "qat_config_active: float/float: inactive");
	c = qcfg("uniform", 32, "apot", 32, QAT_FIRSTLAST_8);
	tap_ok(!qat_config_active(&c), "qat_config_active: schemes at 32 bits: inactive");
	c = qcfg("uniform", 4, NULL, 32, QAT_FIRSTLAST_8);
	tap_ok(qat_config_active(&c), "qat_config_active: 4-bit weights: active");
	c = qcfg(NULL, 32, "uniform", 4, QAT_FIRSTLAST_8);
	tap_ok(qat_config_active(&c), "qat_config_active: 4-bit activations: active");
	c = qcfg(NULL, 32, NULL, 32, QAT_FIRSTLAST_8);
	c.g_bits = 4;
	tap_ok(qat_config_active(&c), "qat_config_active: 4-bit gradients only: active");
}

/* ======================================================================== */

/* cnn's conv/linear layers on 1x8x8 */
static const char *const cnn_gemm[4] = {"00_conv", "03_conv", "08_fc", "10_fc"};
static const int cnn_gemm_index[4] = {0, 3, 8, 10};

/* Which layers get quantizers under each firstlast mode, and the bits qat_report gives. */
static void
test_construction(const struct dataset *d)
{
	static const char *const fl_name[3] = {"8", "fp", "same"};
	/* expected per firstlast mode, per layer: quantized weight?, bits_w, bits_a */
	static const int quantized[3][4] = {{1, 1, 1, 1}, {0, 1, 1, 0}, {1, 1, 1, 1}};
	static const int bits_w[3][4] = {{8, 4, 4, 8}, {32, 4, 4, 32}, {4, 4, 4, 4}};
	static const int bits_a[3][4] = {{8, 4, 4, 8}, {32, 4, 4, 32}, {8, 4, 4, 4}};
	tap_ok(qat_firstlast_parse("8") == QAT_FIRSTLAST_8 &&
		       qat_firstlast_parse("fp") == QAT_FIRSTLAST_FP &&
		       qat_firstlast_parse("same") == QAT_FIRSTLAST_SAME &&
		       qat_firstlast_parse("16") == -1,
	       "qat_firstlast_parse: 8, fp, same; others -1");
	struct model *m0 = zoo("cnn", 3);
	int layout = 1;
	for (int k = 0; k < 4; k++)
		layout &= strcmp(model_layer_at(m0, cnn_gemm_index[k])->group, cnn_gemm[k]) == 0;
	tap_ok(layout, "cnn's conv/linear layers are 00_conv, 03_conv, 08_fc, 10_fc");
	model_free(m0);
	for (int f = 0; f < 3; f++) {
		struct model *m = zoo("cnn", 3);
		struct qat_config c = qcfg("uniform", 4, "uniform", 4, (enum qat_firstlast)f);
		struct qat *q = qat_make(m, &c, d);
		tap_ok(qat_config(q)->w_bits == 4 &&
			       strcmp(qat_config(q)->w_scheme, "uniform") == 0 &&
			       qat_config(q)->firstlast == (enum qat_firstlast)f,
		       "firstlast=%s: qat_config returns the configuration", fl_name[f]);
		struct capture *cap = xmalloc(sizeof *cap);
		struct engine_events ev = cap_events(cap);
		qat_report(q, 0, 1, &ev);
		for (int k = 0; k < 4; k++) {
			const char *g = cnn_gemm[k];
			const struct model_tensor *t = weight_of(m, g, NULL);
			float *y = xalloc_floats(t->size);
			size_t n = qat_quantized_weight(q, g, y);
			tap_eq_int((long)n, quantized[f][k] ? (long)t->size : 0,
				   "firstlast=%s: %s %s", fl_name[f], g,
				   quantized[f][k] ? "has a quantized weight" : "stays float");
			xfree_aligned(y);
			double bw = NAN, ba = NAN;
			int lw = -1, la = -1;
			int found = cap_stat_get(cap, g, "bits_w", &bw, &lw) &&
				    cap_stat_get(cap, g, "bits_a", &ba, &la);
			tap_ok(found && bw == bits_w[f][k] && ba == bits_a[f][k] &&
				       lw == cnn_gemm_index[k] && la == cnn_gemm_index[k],
			       "firstlast=%s: %s reports bits_w %d, bits_a %d at layer %d",
			       fl_name[f], g, bits_w[f][k], bits_a[f][k], cnn_gemm_index[k]);
			if (!(found && bw == bits_w[f][k] && ba == bits_a[f][k]))
				tap_diag("got bits_w %g bits_a %g (layer %d)", bw, ba, lw);
		}
		double v;
		tap_ok(!cap_stat_get(cap, "00_conv", "clip_a", &v, NULL),
		       "firstlast=%s: the image is not requantized (no clip_a on 00_conv)",
		       fl_name[f]);
		free(cap);
		qat_free(q);
		model_free(m);
	}

	/*
	 * mlp reads the image through a flatten layer: it must still count as the
	 * model input (never requantized; 8-bit image in the costs).
	 */
	for (int f = 0; f < 3; f += 2) {
		struct model *m = zoo("mlp", 3);
		struct qat_config c = qcfg("uniform", 4, "uniform", 4, (enum qat_firstlast)f);
		struct qat *q = qat_make(m, &c, d);
		struct capture *cap = xmalloc(sizeof *cap);
		struct engine_events ev = cap_events(cap);
		qat_report(q, 0, 1, &ev);
		double ba = NAN, clip;
		cap_stat_get(cap, "01_fc", "bits_a", &ba, NULL);
		int has_clip = cap_stat_get(cap, "01_fc", "clip_a", &clip, NULL);
		char name[96];
		TAP_NAME(name, "mlp, firstlast=%s: the image behind flatten is not requantized",
			 fl_name[f]);
		if (!tap_ok(ba == 8 && !has_clip, "%s", name))
			tap_diag("01_fc: bits_a %g, %s activation quantizer", ba,
				 has_clip ? "an" : "no");
		free(cap);
		qat_free(q);
		model_free(m);
	}
}

/* ======================================================================== */

/* sign(c)·lv[|c|] (binarization, a single level: c·1). */
static double
level_of(int code, const float *lv, size_t nl)
{
	int a = code < 0 ? -code : code;
	if (nl == 1)
		return code;
	if ((size_t)a >= nl)
		return NAN;
	return (code < 0 ? -1.0 : code > 0 ? 1.0 : 0.0) * lv[a];
}

/*
 * The weight layer g computes with, from its codes in gs (docs/formats.md),
 * into rec (n); oc output channels. Returns 0, or -1 when something is missing.
 */
static int reconstruct_codes(const struct io_h5_group *qg, const int32_t *cd, float *rec,
			     size_t n, int oc);

static int
reconstruct(const struct io_h5_groups *gs, const char *g, float *rec, size_t n, int oc)
{
	const struct io_h5_group *qg = testdata_quant_group(gs, g);
	const struct io_h5_data *codes = qg ? io_h5_group_dataset(qg, "codes_w") : NULL;
	/* int8, or int32 when a code does not fit (APoT's unclamped 8-bit rule) */
	if (!codes || (codes->type != IO_H5_I8 && codes->type != IO_H5_I32) || codes->size != n)
		return -1;
	int32_t *cd = xmalloc(n * sizeof *cd);
	for (size_t i = 0; i < n; i++)
		cd[i] = codes->type == IO_H5_I8 ? ((const int8_t *)codes->data)[i]
						: ((const int32_t *)codes->data)[i];
	int rc = reconstruct_codes(qg, cd, rec, n, oc);
	free(cd);
	return rc;
}

static int
reconstruct_codes(const struct io_h5_group *qg, const int32_t *cd, float *rec, size_t n, int oc)
{
	const char *kind = testdata_attr_str(qg, "w_kind");
	if (strcmp(kind, "fl8") == 0) {
		double s = testdata_attr_num(qg, "scale_w_codes");
		for (size_t i = 0; i < n; i++)
			rec[i] = (float)(cd[i] * s);
		return 0;
	}
	double factor = testdata_attr_num(qg, "factor_w");
	if (strcmp(testdata_attr_str(qg, "w_scheme"), "uniform") == 0) {
		const struct io_h5_data *sc = io_h5_group_dataset(qg, "scale_w");
		if (!sc || (sc->size != 1 && sc->size != (size_t)oc))
			return -1;
		const float *s = sc->data;
		size_t per = n / sc->size;
		for (size_t i = 0; i < n; i++)
			rec[i] = (float)(cd[i] * (double)s[i / per] * factor);
		return 0;
	}
	const struct io_h5_data *lv = io_h5_group_dataset(qg, "levels_w");
	if (!lv)
		return -1;
	for (size_t i = 0; i < n; i++)
		rec[i] = (float)(level_of(cd[i], lv->data, lv->size) * factor);
	return 0;
}

/* Index + 1 of the first element where rec and y differ by more than 1e-6 relative, or 0. */
static size_t
first_mismatch(const float *rec, const float *y, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!(fabs(rec[i] - y[i]) <= 1e-6 * fabs(y[i]) + 1e-12))
			return i + 1;
	return 0;
}

struct level_case {
	const char *name, *scheme, *variant;
	int bits, channel;
	/* expected factor_w of 03_conv (BN after), 08_fc (ReLU after): 0 one, 1 std, 2 mean|W| */
	int factor[2];
};

/* Is every element of y (n) / factor ± a level of lv? Reports the first that is not. */
static int
on_levels(const float *y, size_t n, double factor, const struct io_h5_data *lv)
{
	const float *l = lv->data;
	for (size_t i = 0; i < n; i++) {
		double a = fabs((double)y[i] / factor), best = INFINITY;
		for (size_t j = 0; j < lv->size; j++)
			best = fmin(best, fabs(a - l[j]) / fmax(l[j], 1e-12));
		if (!(best <= 1e-6)) {
			tap_diag("[%zu] %.9g / %.9g is no level", i, y[i], factor);
			return 0;
		}
	}
	return lv->size > 0;
}

/* Is every element of y (n) an integer in [qmin, qmax] times its channel's step · factor? */
static int
on_grid(const float *y, size_t n, double factor, const struct io_h5_data *sc, int qmin, int qmax)
{
	size_t per = n / sc->size;
	for (size_t i = 0; i < n; i++) {
		double st = ((const float *)sc->data)[i / per] * factor;
		double r = y[i] / st, ri = nearbyint(r);
		if (!(fabs(r - ri) <= 1e-5 && ri >= qmin && ri <= qmax)) {
			tap_diag("[%zu] %.9g / step %.9g = %.9g", i, y[i], st, r);
			return 0;
		}
	}
	return 1;
}

/* Layer k of cnn (03_conv or 08_fc), quantized by lc and exported into gs. */
static void
check_quant_layer(struct model *m, struct qat *q, const struct io_h5_groups *gs,
		  const struct level_case *lc, int k)
{
	static const char *const factor_names[3] = {"1", "the weight std", "mean |W|"};
	const char *g = cnn_gemm[k];
	const struct model_tensor *t = weight_of(m, g, NULL);
	size_t n = t->size;
	float *y = xalloc_floats(n), *rec = xalloc_floats(n);
	char name[160];
	tap_eq_int((long)qat_quantized_weight(q, g, y), (long)n, "%s: %s quantized", lc->name, g);
	const struct io_h5_group *qg = testdata_quant_group(gs, g);
	tap_ok(qg && strcmp(testdata_attr_str(qg, "w_kind"), "quant") == 0 &&
		       strcmp(testdata_attr_str(qg, "w_scheme"), lc->scheme) == 0,
	       "%s: /quant/%s has w_kind=quant, w_scheme=%s", lc->name, g, lc->scheme);

	/* factor_w: 1, the weight's std or its mean |W| */
	double mean, std, mabs = 0;
	mean_std(t->data, n, &mean, &std);
	for (size_t i = 0; i < n; i++)
		mabs += fabs(t->data[i]);
	mabs /= (double)n;
	int fk = lc->factor[k - 1];
	double want = fk == 1 ? std : fk == 2 ? mabs : 1.0, factor = testdata_attr_num(qg, "factor_w");
	tap_near(factor, want, 1e-6 * want, "%s: %s factor_w is %s", lc->name, g, factor_names[fk]);

	/* on the level set: y/factor = ±level; uniform: an integer number of steps */
	if (strcmp(lc->scheme, "uniform") != 0) {
		const struct io_h5_data *lv = io_h5_group_dataset(qg, "levels_w");
		tap_ok(lv && on_levels(y, n, factor, lv),
		       "%s: %s every element is ± a level of levels_w", lc->name, g);
	} else {
		const struct io_h5_data *sc = io_h5_group_dataset(qg, "scale_w");
		int qmin = -(1 << (lc->bits - 1)), qmax = (1 << (lc->bits - 1)) - 1;
		size_t nsc = lc->channel ? (size_t)t->shape[0] : 1;
		TAP_NAME(name, "%s: %s every element is an integer multiple of scale_w in [%d, %d]",
			 lc->name, g, qmin, qmax);
		tap_ok(sc && sc->size == nsc && on_grid(y, n, factor, sc, qmin, qmax), "%s",
		       name);
	}

	int nd = count_distinct(y, n);
	tap_ok(nd >= 2 && nd <= (1 << lc->bits) * (lc->channel ? t->shape[0] : 1),
	       "%s: %s %d distinct values, at most 2^%d%s", lc->name, g, nd, lc->bits,
	       lc->channel ? " per channel" : "");

	int rc = reconstruct(gs, g, rec, n, t->shape[0]);
	tap_ok(rc == 0, "%s: %s has codes_w and what they need", lc->name, g);
	size_t bad = rc == 0 ? first_mismatch(rec, y, n) : 1;
	TAP_NAME(name, "%s: %s codes_w reconstruct the quantized weight", lc->name, g);
	tap_ok(!bad, "%s", name);
	if (bad && rc == 0)
		tap_diag("[%zu] from codes %.9g, weight %.9g", bad - 1, rec[bad - 1], y[bad - 1]);
	xfree_aligned(y);
	xfree_aligned(rec);
}

/*
 * The first layer, 8-bit with firstlast=8: the grid of max|W|/127, or of the
 * signed max m/127 without a clamp for APoT (METHODS §1.4), where an element
 * set to -1.5m takes the code -190; codes_w · scale_w_codes give it back.
 */
static void
check_fl8_layer(struct model *m, struct qat *q, struct io_h5_groups *gs,
		const struct level_case *lc)
{
	const struct model_tensor *t = weight_of(m, "00_conv", NULL);
	size_t n = t->size;
	float *y = xalloc_floats(n), *rec = xalloc_floats(n);
	int apot = strcmp(lc->scheme, "apot") == 0;
	float mx = -INFINITY, mabs = 0;
	if (apot) {
		for (size_t i = 0; i < n; i++)
			mx = t->data[i] > mx ? t->data[i] : mx;
		t->data[0] = -1.5f * mx;
		io_h5_groups_free(gs);
		qat_export(q, gs);
	}
	for (size_t i = 0; i < n; i++)
		mabs = fmaxf(mabs, fabsf(t->data[i]));
	qat_quantized_weight(q, "00_conv", y);
	double step = (apot ? mx : mabs) / 127.0;
	size_t off = 0;
	for (size_t i = 0; i < n && !off; i++)
		if (!(fabs(y[i] / step - nearbyint(y[i] / step)) <= 1e-3))
			off = i + 1;
	tap_ok(!off && (!apot || fabs(y[0] / step + 190) <= 1e-3),
	       "%s: 00_conv (fl8) lies on the grid of %s/127%s", lc->name,
	       apot ? "the signed max" : "max |W|", apot ? ", unclamped below -m" : "");
	const struct io_h5_group *qg = testdata_quant_group(gs, "00_conv");
	tap_ok(qg && strcmp(testdata_attr_str(qg, "w_kind"), "fl8") == 0 && !io_h5_group_attr(qg, "w_scheme"),
	       "%s: /quant/00_conv is fl8 with no weight quantizer", lc->name);
	int rc = reconstruct(gs, "00_conv", rec, n, t->shape[0]);
	size_t bad = rc == 0 ? first_mismatch(rec, y, n) : 1;
	char name[160];
	TAP_NAME(name, "%s: 00_conv (fl8%s) codes_w · scale_w_codes reconstruct the weight",
		 lc->name, apot ? ", an element at -1.5 max" : "");
	tap_ok(!bad, "%s", name);
	if (bad && rc == 0)
		tap_diag("[%zu] from codes %.9g, weight %.9g", bad - 1, rec[bad - 1], y[bad - 1]);
	xfree_aligned(y);
	xfree_aligned(rec);
}

/* Quantized weights on their level sets, factor_w, and codes_w per docs/formats.md. */
static void
test_levels(const struct dataset *d)
{
	static const struct level_case cases[] = {
		{"uniform 4-bit per tensor", "uniform", NULL, 4, 0, {0, 0}},
		{"uniform 4-bit per channel", "uniform", NULL, 4, 1, {0, 0}},
		{"apot 3-bit", "apot", NULL, 3, 0, {0, 1}},
		{"lcq 3-bit", "lcq", NULL, 3, 0, {1, 1}},
		{"qnn 1-bit", "qnn", NULL, 1, 0, {0, 2}},
		{"uniform clip 4-bit", "uniform", "clip", 4, 0, {0, 0}},
	};
	for (size_t cs = 0; cs < sizeof cases / sizeof cases[0]; cs++) {
		const struct level_case *lc = &cases[cs];
		struct model *m = zoo("cnn", 4);
		struct qat_config c = qcfg(lc->scheme, lc->bits, NULL, 32, QAT_FIRSTLAST_8);
		c.w_variant = lc->variant;
		c.w_channel = lc->channel;
		struct qat *q = qat_make(m, &c, d);
		struct io_h5_groups gs = {0};
		qat_export(q, &gs);
		check_quant_layer(m, q, &gs, lc, 1);
		check_quant_layer(m, q, &gs, lc, 2);
		check_fl8_layer(m, q, &gs, lc);
		io_h5_groups_free(&gs);
		qat_free(q);
		model_free(m);
	}
}

/* ======================================================================== */

/*
 * Weight normalisation with the std restored (a layer with no batch norm
 * after it): y = Q((W - mean)/std)·std, on a network of a single linear
 * layer 16 -> 4 (64 weights). The rounding makes y piecewise constant in the
 * normalised weight, so finite differences see only the paths through the
 * mean and the std; the straight-through path is checked against the chain
 * rule where every element lies inside the clip.
 */
#define WN_IN 16
#define WN_OUT 4

struct wn_case {
	const char *scheme;
	struct model *m;
	struct qat *q;
	float *W, *grad; /* the layer's weight and its gradient (model arenas) */
	size_t n;
	float *y, *G; /* scratch: quantized weight, output gradient (n) */
	struct rng r;
};

static void
wn_setup(struct wn_case *w, const char *scheme, uint64_t seed)
{
	w->scheme = scheme;
	w->m = model_begin("lin", 1, 4, 4, WN_OUT);
	model_add_flatten(w->m, MODEL_INPUT);
	model_add_linear(w->m, MODEL_PREV, WN_OUT, 1);
	char *cause = NULL;
	if (model_finish(w->m, 9, &cause) < 0) {
		tap_diag("model_finish: %s", cause);
		exit(1);
	}
	struct qat_config c = qcfg(scheme, 3, NULL, 32, QAT_FIRSTLAST_SAME);
	w->q = qat_make(w->m, &c, NULL);
	const struct model_tensor *t = weight_of(w->m, "01_fc", &w->grad);
	w->W = t->data;
	w->n = t->size;
	w->y = xalloc_floats(w->n);
	w->G = xmalloc(w->n * sizeof *w->G);
	rng_seed(&w->r, seed);
}

static void
wn_done(struct wn_case *w)
{
	xfree_aligned(w->y);
	free(w->G);
	qat_free(w->q);
	model_free(w->m);
}

/* Σ G·y over the current quantized weight y, in double. */
static double
wn_loss(struct wn_case *w)
{
	qat_quantized_weight(w->q, "01_fc", w->y);
	double s = 0;
	for (size_t i = 0; i < w->n; i++)
		s += (double)w->G[i] * w->y[i];
	return s;
}

/*
 * The weight gradient of Σ G·Wq into w->grad: with one-hot inputs x_b = e_b
 * (B = WN_IN examples), the output gradient G[o][b] of example b becomes the
 * gradient of the quantized weight, dWq = G.
 */
static void
wn_backward(struct wn_case *w)
{
	model_reserve(w->m, WN_IN, 1);
	float *x = model_input(w->m);
	memset(x, 0, (size_t)WN_IN * WN_IN * sizeof *x);
	for (int b = 0; b < WN_IN; b++)
		x[b * WN_IN + b] = 1;
	model_zero_grad(w->m);
	qat_zero_grad(w->q);
	model_forward(w->m, WN_IN, 1, NULL);
	float *dout = model_output_grad(w->m);
	for (int b = 0; b < WN_IN; b++)
		for (int o = 0; o < WN_OUT; o++)
			dout[b * WN_OUT + o] = w->G[o * WN_IN + b];
	model_backward(w->m, WN_IN);
}

/* W -> mean + a(W - mean) keeps the normalised weight and scales y by a; W + c keeps y. */
static void
wn_directions(struct wn_case *w)
{
	const char *sc = w->scheme;
	size_t n = w->n;
	float *W0 = xmalloc(n * sizeof *W0);
	memcpy(W0, w->W, n * sizeof *W0);
	double mean, std;
	mean_std(w->W, n, &mean, &std);

	struct io_h5_groups gs = {0};
	qat_export(w->q, &gs);
	const struct io_h5_group *qg = testdata_quant_group(&gs, "01_fc");
	tap_ok(qg && strcmp(testdata_attr_str(qg, "w_norm"), strcmp(sc, "lcq") ? "wn" : "lwn") == 0 &&
		       fabs(testdata_attr_num(qg, "factor_w") - std) <= 1e-6 * std,
	       "%s: the single linear layer is normalised, its std restored", sc);
	io_h5_groups_free(&gs);

	for (size_t i = 0; i < n; i++)
		w->G[i] = 2 * rng_uniform(&w->r) - 1;
	wn_backward(w);
	double gsum = 0, gabs = 0, gscale = 0, gscale_abs = 0;
	for (size_t i = 0; i < n; i++) {
		gsum += w->grad[i];
		gabs += fabs(w->grad[i]);
		gscale += w->grad[i] * (W0[i] - mean);
		gscale_abs += fabs(w->grad[i] * (W0[i] - mean));
	}
	const double h = 1e-3;
	for (size_t i = 0; i < n; i++)
		w->W[i] = (float)(mean + (1 + h) * (W0[i] - mean));
	double lp = wn_loss(w);
	for (size_t i = 0; i < n; i++)
		w->W[i] = (float)(mean + (1 - h) * (W0[i] - mean));
	double lm = wn_loss(w);
	double fd = (lp - lm) / (2 * h);
	tap_ok(gabs > 0 && isfinite(gabs), "%s: the weight gradient is finite and nonzero", sc);
	tap_near(gscale, fd, 1e-4 * gscale_abs + 1e-9,
		 "%s: gradient along W - mean matches central differences", sc);
	tap_near(gsum, 0, 1e-5 * gabs, "%s: gradient along a constant shift is zero", sc);

	for (size_t i = 0; i < n; i++)
		w->W[i] = W0[i] + (float)(1e-2 * std);
	lp = wn_loss(w);
	memcpy(w->W, W0, n * sizeof *W0);
	lm = wn_loss(w);
	tap_near(lp, lm, 1e-5 * fabs(lm), "%s: shifting W leaves the quantized loss unchanged", sc);
	free(W0);
}

/*
 * Sets W (scale std0) so that every normalised element is ±a (a level) or
 * ±b, inside the clip and at least margin from every rounding threshold (the
 * midpoints of the levels: nearest-level projection for APoT, and for LCQ
 * with its compander at θ = 0, the identity). Unbiased std 1 fixes b from
 * n - 1 = na·a² + (n - na)·b². Returns the clip α, or 0 when no such b exists.
 */
static double
wn_design(struct wn_case *w, double std0, double margin)
{
	struct io_h5_groups gs = {0};
	qat_export(w->q, &gs);
	const struct io_h5_group *qg = testdata_quant_group(&gs, "01_fc");
	const struct io_h5_data *lv = qg ? io_h5_group_dataset(qg, "levels_w") : NULL;
	const float *l = lv ? lv->data : NULL;
	size_t nl = lv ? lv->size : 0, n = w->n, na = 0;
	double alpha = nl ? l[nl - 1] : 0, a = 0, b = 0;
	for (size_t k = 1; k + 1 < nl && !b; k++) {
		for (size_t c = 2; c + 2 <= n; c += 2) {
			double b2 = ((double)n - 1 - (double)c * l[k] * l[k]) / (double)(n - c);
			double bb = b2 > 0 ? sqrt(b2) : 0;
			int safe = bb > 0 && bb <= alpha - margin && fabs(bb - l[k]) > margin;
			for (size_t j = 0; safe && j + 1 < nl; j++)
				safe = fabs(bb - 0.5 * (l[j] + l[j + 1])) >= margin;
			if (safe) {
				a = l[k];
				b = bb;
				na = c;
				break;
			}
		}
	}
	/* pairs of opposite signs keep the mean at 0 */
	for (size_t i = 0; i < n; i++)
		w->W[i] = (float)(std0 * (i % 2 ? 1 : -1) * (i < na ? a : b));
	double mean, std, wmax = 0, near = INFINITY;
	mean_std(w->W, n, &mean, &std);
	for (size_t i = 0; i < n; i++) {
		double wh = fabs((w->W[i] - mean) / std);
		wmax = fmax(wmax, wh);
		for (size_t j = 0; j + 1 < nl; j++)
			near = fmin(near, fabs(wh - 0.5 * (l[j] + l[j + 1])));
	}
	int ok = b > 0 && wmax < alpha - 0.5 * margin && near > 0.5 * margin;
	tap_ok(ok, "%s: |what| in {%.4f, %.4f}: inside the clip %.4f, %.4f from any threshold",
	       w->scheme, a, b, alpha, near);
	io_h5_groups_free(&gs);
	return ok ? alpha : 0;
}

/*
 * Element-wise, with the designed weights: G = what makes the STE path
 * Q'·G·std project to zero through the normalisation, and what is left, the
 * restore path (Σ G·Q/(n-1))·what_i, is what central differences see as
 * long as no element changes its level (checked).
 */
static void
wn_elements(struct wn_case *w, double alpha)
{
	const char *sc = w->scheme;
	size_t n = w->n, checked = 0, skipped = 0;
	float *W0 = xmalloc(n * sizeof *W0), *base = xalloc_floats(n);
	float *fd = xmalloc(n * sizeof *fd), *an = xmalloc(n * sizeof *an);
	memcpy(W0, w->W, n * sizeof *W0);
	double m0, s0;
	mean_std(W0, n, &m0, &s0);
	for (size_t i = 0; i < n; i++)
		w->G[i] = (float)((W0[i] - m0) / s0);
	wn_backward(w);
	qat_quantized_weight(w->q, "01_fc", base);
	double fdmax = 0;
	const double h = 3e-2 * s0;
	for (size_t i = 0; i < n; i++) {
		double l[2];
		int crossed = 0;
		for (int sg = 0; sg < 2; sg++) {
			memcpy(w->W, W0, n * sizeof *W0);
			w->W[i] = (float)(W0[i] + (sg ? -h : h));
			double dm, ds;
			mean_std(w->W, n, &dm, &ds);
			l[sg] = wn_loss(w);
			for (size_t j = 0; j < n; j++)
				crossed |= fabs(w->y[j] / ds - base[j] / s0) > 1e-3 * alpha;
		}
		if (crossed) {
			skipped++;
			continue;
		}
		fd[checked] = (float)((l[0] - l[1]) / (2 * h));
		an[checked] = w->grad[i];
		fdmax = fmax(fdmax, fabs(fd[checked]));
		checked++;
	}
	memcpy(w->W, W0, n * sizeof *W0);
	tap_ok(skipped == 0 && fdmax > 0.1,
	       "%s: %zu of %zu elements keep their levels under ±%.3g (max |difference| %.3g)", sc,
	       checked, n, h, fdmax);
	tap_near_arrays(an, fd, checked, 1e-3 * fdmax, 2e-3,
			"%s: element-wise weight gradient matches central differences", sc);
	free(W0);
	xfree_aligned(base);
	free(fd);
	free(an);
}

/*
 * The straight-through part, which differences cannot see: for
 * y = Q(what)·std with Q' = 1 inside the clip (every element here), the
 * chain rule gives, for any G,
 *   dL/dW_i = G_i - mean(G) - what_i Σ G_j what_j/(n-1) + what_i Σ G_j Q_j/(n-1),
 * Q_j = y_j/std.
 */
static void
wn_chain_rule(struct wn_case *w)
{
	size_t n = w->n;
	float *want = xmalloc(n * sizeof *want);
	double mean, std, gm = 0, gw = 0, gq = 0;
	mean_std(w->W, n, &mean, &std);
	for (size_t i = 0; i < n; i++)
		w->G[i] = 2 * rng_uniform(&w->r) - 1;
	wn_backward(w);
	qat_quantized_weight(w->q, "01_fc", w->y);
	for (size_t i = 0; i < n; i++) {
		double wh = (w->W[i] - mean) / std;
		gm += w->G[i];
		gw += w->G[i] * wh;
		gq += w->G[i] * w->y[i] / std;
	}
	gm /= (double)n;
	for (size_t i = 0; i < n; i++) {
		double wh = (w->W[i] - mean) / std;
		want[i] = (float)(w->G[i] - gm + wh * (gq - gw) / (double)(n - 1));
	}
	tap_near_arrays(w->grad, want, n, 1e-5, 1e-4,
			"%s: weight gradient for a generic G is the chain rule with the STE",
			w->scheme);
	free(want);
}

/* The weight gradient through normalisation and the restored std, APoT and LCQ. */
static void
test_wn_gradient(void)
{
	static const char *const schemes[2] = {"apot", "lcq"};
	for (int s = 0; s < 2; s++) {
		struct wn_case w;
		wn_setup(&w, schemes[s], 31 + (uint64_t)s);
		double mean, std;
		mean_std(w.W, w.n, &mean, &std);
		wn_directions(&w);
		double alpha = wn_design(&w, std, 0.05);
		if (alpha > 0) {
			wn_elements(&w, alpha);
			wn_chain_rule(&w);
		}
		wn_done(&w);
	}
}

/* ======================================================================== */

/* Is v zero or ± a power of two? */
static int
is_pow2_or_zero(float v)
{
	if (v == 0)
		return 1;
	int e;
	return fabsf(frexpf(v, &e)) == 0.5f;
}

/* g.bits=4: after backward every quantized layer's weight gradient is LogQuant'ed. */
static void
test_grad_quant(const struct dataset *d)
{
	struct model *m = zoo("mlp", 5);
	struct qat_config c = qcfg("uniform", 4, "uniform", 4, QAT_FIRSTLAST_SAME);
	c.g_bits = 4;
	struct qat *q = qat_make(m, &c, d);
	const int B = 16;
	model_reserve(m, B, 1);
	memcpy(model_input(m), d->x, (size_t)B * SIDE * SIDE * sizeof(float));
	model_zero_grad(m);
	qat_zero_grad(q);
	model_forward(m, B, 1, NULL);
	float *dout = model_output_grad(m);
	struct rng r;
	rng_seed(&r, 17);
	for (int i = 0; i < B * CLASSES; i++)
		dout[i] = rng_normal(&r) / B;
	model_backward(m, B);
	static const char *const groups[3] = {"01_fc", "03_fc", "05_fc"};
	float *before[3];
	for (int k = 0; k < 3; k++) {
		float *gr;
		const struct model_tensor *t = weight_of(m, groups[k], &gr);
		before[k] = xmalloc(t->size * sizeof(float));
		memcpy(before[k], gr, t->size * sizeof(float));
	}
	qat_after_backward(q);
	for (int k = 0; k < 3; k++) {
		float *gr;
		const struct model_tensor *t = weight_of(m, groups[k], &gr);
		size_t n = t->size, not_pow2 = 0, bad = 0;
		float mb = 0, ma = 0;
		for (size_t i = 0; i < n; i++) {
			not_pow2 += !is_pow2_or_zero(before[k][i]);
			bad += !is_pow2_or_zero(gr[i]);
			mb = fmaxf(mb, fabsf(before[k][i]));
			ma = fmaxf(ma, fabsf(gr[i]));
		}
		/* distinct nonzero magnitudes */
		float *mag = xmalloc(n * sizeof *mag);
		size_t nz = 0;
		for (size_t i = 0; i < n; i++)
			if (gr[i] != 0)
				mag[nz++] = fabsf(gr[i]);
		int nd = count_distinct(mag, nz);
		free(mag);
		tap_ok(not_pow2 > n / 2,
		       "g.bits=4: %s gradient before quantization is generic (%zu of %zu)",
		       groups[k], not_pow2, n);
		tap_ok(bad == 0,
		       "g.bits=4: %s every gradient element is 0 or ± a power of two (%zu not)",
		       groups[k], bad);
		tap_ok(nd >= 2 && nd <= 8,
		       "g.bits=4: %s %d distinct nonzero magnitudes, at most 2^3", groups[k], nd);
		tap_ok(ma == (float)ldexp(1.0, (int)nearbyint(log2(mb))),
		       "g.bits=4: %s largest magnitude %.6g is 2^round(log2 %.6g)", groups[k], ma,
		       mb);
		free(before[k]);
	}
	qat_free(q);
	model_free(m);
}

/* ======================================================================== */

static struct train_opts
small_opts(int epochs, uint64_t seed)
{
	struct train_opts o;
	train_opts_default(&o);
	o.epochs = epochs;
	o.batch = 32;
	o.seed = seed;
	return o;
}

/* train_run with q's plugin; returns the status (or -1 on error). */
static int
train_with(struct model *m, struct qat *q, const struct dataset *d, int epochs, uint64_t seed,
	   const struct engine_events *ev, struct train_result *res)
{
	struct train_opts o = small_opts(epochs, seed);
	struct train_plugin plug;
	qat_train_plugin(q, 1.0, &plug);
	char *cause = NULL;
	if (train_run(m, d, NULL, &o, &plug, ev, res, &cause) < 0) {
		tap_diag("train_run: %s", cause);
		free(cause);
		return -1;
	}
	return (int)res->status;
}

/* QNN 1/1: hardtanh for ReLU, binarized layers' real weights kept in [-1, 1]. */
static void
test_qnn(const struct dataset *d)
{
	struct model *m = zoo("mlp", 6);
	int relus[16], nrelu = 0;
	for (int i = 0; i < model_layer_count(m); i++)
		if (strcmp(model_layer_at(m, i)->kind, "relu") == 0 && nrelu < 16)
			relus[nrelu++] = i;
	struct qat_config c = qcfg("qnn", 1, "qnn", 1, QAT_FIRSTLAST_8);
	struct qat *q = qat_make(m, &c, d);
	int hard = 0;
	for (int k = 0; k < nrelu; k++)
		hard += strcmp(model_layer_at(m, relus[k])->kind, "hardtanh") == 0;
	tap_ok(nrelu == 2 && hard == nrelu, "qnn: all %d ReLUs became hardtanh (%d)", nrelu, hard);

	/* binarized layers: those whose weight quantizer is qnn */
	struct io_h5_groups gs = {0};
	qat_export(q, &gs);
	int nbin = 0;
	char bin[4][32];
	for (int i = 0; i < model_layer_count(m); i++) {
		const struct io_h5_group *g = testdata_quant_group(&gs, model_layer_at(m, i)->group);
		if (g && strcmp(testdata_attr_str(g, "w_scheme"), "qnn") == 0 && nbin < 4)
			snprintf(bin[nbin++], sizeof bin[0], "%s", model_layer_at(m, i)->group);
	}
	io_h5_groups_free(&gs);
	tap_ok(nbin == 1 && strcmp(bin[0], "03_fc") == 0,
	       "qnn, firstlast=8: the middle layer is binarized");
	/* real weights outside [-1, 1], which the first step must clip */
	for (int k = 0; k < nbin; k++) {
		const struct model_tensor *t = weight_of(m, bin[k], NULL);
		for (size_t i = 0; i < t->size; i += 3)
			t->data[i] = i % 2 ? 3.0f : -3.0f;
	}
	struct train_result res;
	int st = train_with(m, q, d, 1, 3, NULL, &res);
	tap_ok(st == TRAIN_DONE && isfinite(res.train_loss), "qnn: training runs (loss %g)",
	       res.train_loss);
	for (int k = 0; k < nbin; k++) {
		const struct model_tensor *t = weight_of(m, bin[k], NULL);
		size_t out = 0, at_one = 0;
		for (size_t i = 0; i < t->size; i++) {
			out += !(t->data[i] >= -1 && t->data[i] <= 1);
			at_one += fabsf(t->data[i]) == 1;
		}
		tap_ok(out == 0 && at_one > 0,
		       "qnn: %s real weights within [-1, 1] (%zu outside, %zu at ±1)", bin[k], out,
		       at_one);
	}
	/* the float first layer is not clipped */
	const struct model_tensor *t0 = weight_of(m, "01_fc", NULL);
	t0->data[0] = 2.5f;
	qat_step(q, 0.0);
	tap_ok(t0->data[0] == 2.5f, "qnn: qat_step leaves the 8-bit first layer's weights alone");
	qat_free(q);
	tap_ok(strcmp(model_layer_at(m, relus[0])->kind, "hardtanh") == 0,
	       "qnn: the model keeps hardtanh after qat_free");
	model_free(m);
}

/* ======================================================================== */

/* The first training run of scheme s: status, losses, learned clips, statistics. */
static void
check_training_run(const char *s, int st, const struct train_result *res, const struct capture *cap)
{
	static const char *const clips[3] = {"03_conv/clip_w", "08_fc/clip_w", "03_conv/clip_a"};
	tap_ok(st == TRAIN_DONE && res->epochs_done == 2 && isfinite(res->train_loss),
	       "%s 4/4: two epochs, finite loss %g", s, res->train_loss);
	double l1 = NAN, l2 = NAN, v = NAN;
	cap_metric_get(cap, 1, "train_loss", &l1);
	cap_metric_get(cap, 2, "train_loss", &l2);
	tap_ok(isfinite(l1) && isfinite(l2), "%s 4/4: epoch losses %g, %g finite", s, l1, l2);
	for (int k = 0; k < 3; k++) {
		double a = NAN, b = NAN;
		int ok = cap_metric_get(cap, 1, clips[k], &a) &&
			 cap_metric_get(cap, 2, clips[k], &b);
		tap_ok(ok && isfinite(a) && isfinite(b) && a > 0 && b > 0 && a != b,
		       "%s 4/4: %s learned: %.9g after epoch 1, %.9g after 2", s, clips[k], a, b);
	}
	int has = cap_metric_get(cap, 2, "03_conv/sqnr_w", &v);
	tap_ok(has && v > 0, "%s 4/4: 03_conv/sqnr_w reported (%.2f dB)", s, v);
	if (strcmp(s, "lcq") == 0)
		tap_ok(cap_metric_get(cap, 2, "08_fc/theta_w.0", &v) &&
			       cap_metric_get(cap, 2, "08_fc/theta_a.15", &v),
		       "lcq: theta_w.K and theta_a.K reported");
}

/* Do a and b hold the same clip metrics? */
static int
same_clips(const struct capture *a, const struct capture *b)
{
	if (a->n != b->n)
		return 0;
	for (int i = 0; i < a->n; i++)
		if (strstr(a->rows[i].name, "/clip_") &&
		    (strcmp(a->rows[i].name, b->rows[i].name) != 0 || a->rows[i].v != b->rows[i].v))
			return 0;
	return 1;
}

/* Two epochs of cnn W4A4 per scheme: runs 0 and 1 share a seed, run 2 has another. */
static void
test_training(const struct dataset *d)
{
	static const char *const schemes[2] = {"uniform", "lcq"};
	for (int s = 0; s < 2; s++) {
		float *snap[3];
		size_t ns[3];
		struct capture *cap[3];
		for (int run = 0; run < 3; run++) {
			struct model *m = zoo("cnn", 7);
			struct qat_config c = qcfg(schemes[s], 4, schemes[s], 4, QAT_FIRSTLAST_8);
			struct qat *q = qat_make(m, &c, d);
			cap[run] = xmalloc(sizeof *cap[run]);
			struct engine_events ev = cap_events(cap[run]);
			struct train_result res;
			int st = train_with(m, q, d, 2, run == 2 ? 12 : 11, &ev, &res);
			if (run == 0)
				check_training_run(schemes[s], st, &res, cap[0]);
			snap[run] = snapshot(m, &ns[run]);
			qat_free(q);
			model_free(m);
		}
		tap_ok(ns[0] == ns[1] && memcmp(snap[0], snap[1], ns[0] * sizeof(float)) == 0,
		       "%s 4/4: same seed, bit-identical parameters", schemes[s]);
		tap_ok(same_clips(cap[0], cap[1]), "%s 4/4: same seed, identical learned clips",
		       schemes[s]);
		size_t differ = 0;
		for (size_t i = 0; i < ns[0] && ns[0] == ns[2]; i++)
			differ += snap[0][i] != snap[2][i];
		tap_ok(differ > ns[0] / 2, "%s 4/4: another seed, other parameters (%zu of %zu)",
		       schemes[s], differ, ns[0]);
		for (int run = 0; run < 3; run++) {
			free(snap[run]);
			free(cap[run]);
		}
	}
}

/* ======================================================================== */

/* /quant through a model file: the imported model computes bit-identical outputs. */
static void
test_files(const struct dataset *d)
{
	struct {
		const char *name, *scheme;
		int bits, channel;
	} cases[] = {
		{"uniform 4/4", "uniform", 4, 0},
		{"uniform 4/4 per channel", "uniform", 4, 1},
		{"apot 3/3", "apot", 3, 0},
		{"lcq 3/3", "lcq", 3, 0},
		{"qnn 1/1", "qnn", 1, 0},
	};
	const int B = 16;
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		struct model *m = zoo("cnn", 8);
		struct qat_config c = qcfg(cases[k].scheme, cases[k].bits, cases[k].scheme,
					   cases[k].bits, QAT_FIRSTLAST_8);
		c.w_channel = cases[k].channel;
		struct qat *q = qat_make(m, &c, d);
		struct train_result res;
		train_with(m, q, d, 1, 5, NULL, &res);
		float *want = eval_logits(m, d, B);

		struct io_h5_groups gs = {0};
		qat_export(q, &gs);
		char *path = xasprintf("%s/qat-%zu.h5", tap_tmpdir(), k);
		char *cause = NULL;
		int rc = io_h5_save_model_with(m, &gs, path, &cause);
		tap_ok(rc == 0, "%s: saved with /quant", cases[k].name);
		if (rc) {
			tap_diag("%s", cause);
			free(cause);
			cause = NULL;
		}
		io_h5_groups_free(&gs);

		struct model *m2 = NULL;
		struct io_h5_groups gs2 = {0};
		struct qat *q2 = NULL;
		rc = io_h5_load_model(&m2, path, &cause);
		if (rc == 0)
			rc = io_h5_read_groups(path, "quant", &gs2, &cause);
		if (rc == 0)
			rc = qat_import(&q2, m2, &gs2, path, &cause);
		tap_ok(rc == 0 && q2, "%s: loaded and imported", cases[k].name);
		if (rc) {
			tap_diag("%s", cause);
			free(cause);
			cause = NULL;
		}
		if (q2) {
			const struct qat_config *c2 = qat_config(q2);
			tap_ok(strcmp(c2->w_scheme, cases[k].scheme) == 0 &&
				       c2->w_bits == cases[k].bits &&
				       strcmp(c2->a_scheme, cases[k].scheme) == 0 &&
				       c2->a_bits == cases[k].bits &&
				       c2->w_channel == cases[k].channel &&
				       c2->firstlast == QAT_FIRSTLAST_8 && c2->g_bits == 32,
			       "%s: the imported configuration is the saved one", cases[k].name);
			float *got = eval_logits(m2, d, B);
			tap_same_floats(got, want, (size_t)B * CLASSES,
					"%s: eval outputs after the round trip are bit-identical",
					cases[k].name);
			free(got);

			/* a /quant whose layer group is missing */
			struct io_h5_group *g = io_h5_groups_find(&gs2, "quant/08_fc");
			if (g && k == 0) {
				free(g->path);
				g->path = xstrdup("quant/08_gone");
				struct qat *q3 = (struct qat *)1;
				struct model *m3 = zoo("cnn", 8);
				rc = qat_import(&q3, m3, &gs2, path, &cause);
				tap_ok(rc == -1 && q3 == NULL && cause && strstr(cause, path) &&
					       strstr(cause, "/quant/08_fc"),
				       "no /quant/08_fc: an error naming the path and the group");
				if (cause)
					tap_diag("message: %s", cause);
				free(cause);
				cause = NULL;
				model_free(m3);
			}
		}
		free(want);
		io_h5_groups_free(&gs2);
		qat_free(q2);
		model_free(m2);
		free(path);
		qat_free(q);
		model_free(m);
	}

	/* a float model file: no /quant, no quantizers */
	struct model *m = zoo("cnn", 8);
	char *path = xasprintf("%s/float.h5", tap_tmpdir());
	char *cause = NULL;
	struct io_h5_groups gs = {0};
	struct qat *q = (struct qat *)1;
	int rc = io_h5_save_model(m, path, &cause);
	if (rc == 0)
		rc = io_h5_read_groups(path, "quant", &gs, &cause);
	if (rc == 0)
		rc = qat_import(&q, m, &gs, path, &cause);
	tap_ok(rc == 0 && q == NULL && gs.n == 0, "a file without /quant imports as no quantizers");
	if (rc) {
		tap_diag("%s", cause);
		free(cause);
	}
	io_h5_groups_free(&gs);
	free(path);
	model_free(m);
}

/* ======================================================================== */

/* qat_cost against sums by hand over the cnn's layers. */
static void
test_cost(const struct dataset *d)
{
	struct model *m = zoo("cnn", 9);
	struct qat_cost fc;
	qat_cost(NULL, m, &fc);
	double macs = 0;
	for (int i = 0; i < model_layer_count(m); i++)
		macs += (double)model_layer_at(m, i)->macs;
	tap_ok(macs > 0 && fc.bitops == macs * 32 * 32, "float cnn: bitops = Σ MACs·32·32 (%.0f)",
	       fc.bitops);
	tap_ok(fc.size_bits == 32.0 * (double)model_param_count(m),
	       "float cnn: size_bits = 32·params (%.0f, %ld params)", fc.size_bits,
	       model_param_count(m));
	tap_ok(fc.shift_adds == 0, "float cnn: no shift-adds");

	/* W4A4 uniform, firstlast=8: first 8·8 (the image), middle 4·4, last 8·8 */
	struct qat_config c = qcfg("uniform", 4, "uniform", 4, QAT_FIRSTLAST_8);
	struct qat *q = qat_make(m, &c, d);
	struct qat_cost qc;
	qat_cost(q, m, &qc);
	static const int wa[4] = {64, 16, 16, 64};
	static const int wb[4] = {8, 4, 4, 8};
	double want = 0, size = 0;
	for (int k = 0; k < 4; k++)
		want += (double)model_layer_at(m, cnn_gemm_index[k])->macs * wa[k];
	for (int i = 0; i < model_tensor_count(m); i++) {
		const struct model_tensor *t = model_tensor_at(m, i);
		if (!t->trainable)
			continue;
		int bits = 32;
		for (int k = 0; k < 4; k++)
			if (strcmp(t->group, cnn_gemm[k]) == 0 && strcmp(t->name, "weight") == 0)
				bits = wb[k];
		size += bits * (double)t->size;
	}
	/* 32-bit scales: the two 8-bit weight scales, two 4-bit steps, three activation steps */
	size += 32.0 * 7;
	tap_ok(qc.bitops == want, "uniform W4A4, firstlast=8: bitops %.0f, by hand %.0f", qc.bitops,
	       want);
	tap_ok(qc.size_bits == size, "uniform W4A4, firstlast=8: size_bits %.0f, by hand %.0f",
	       qc.size_bits, size);
	tap_ok(qc.shift_adds == 0, "uniform W4A4: no shift-adds");
	qat_free(q);

	/* APoT 4-bit weights: Λ_3 levels are sums of two powers of two: 2 shift-adds per MAC */
	c = qcfg("apot", 4, "apot", 4, QAT_FIRSTLAST_8);
	q = qat_make(m, &c, d);
	qat_cost(q, m, &qc);
	double shifts =
		2.0 * ((double)model_layer_at(m, 3)->macs + (double)model_layer_at(m, 8)->macs);
	tap_ok(qc.shift_adds == shifts && qc.bitops == want,
	       "apot W4A4, firstlast=8: shift-adds %.0f (by hand %.0f), bitops as uniform",
	       qc.shift_adds, shifts);
	/*
	 * 32-bit scalars: the two 8-bit weight scales, the clips of 03_conv
	 * (weight, input), 08_fc (weight, input, and the std it restores, no
	 * batch norm after it) and 10_fc (input)
	 */
	tap_ok(qc.size_bits == size + 32.0, "apot W4A4, firstlast=8: size_bits %.0f, by hand %.0f",
	       qc.size_bits, size + 32.0);
	qat_free(q);
	model_free(m);
}

int
main(void)
{
	/*
	 * One thread: the tensors here are tiny, and qat.c has no parallel code
	 * of its own (test_train and test_layers cover the thread counts).
	 */
	threads_init(1);
	io_h5_quiet();
	struct dataset *d = blobs(128, CLASSES, SIDE, 0.3, 1);
	test_check();
	test_construction(d);
	test_levels(d);
	test_wn_gradient();
	test_grad_quant(d);
	test_qnn(d);
	test_training(d);
	test_files(d);
	test_cost(d);
	free_blobs(d);
	return tap_done();
}
