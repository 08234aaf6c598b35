/*
 * test_ptq: the post-training quantization pipeline (engine/ptq/ptq.c) on a
 * small trained network and synthetic data: configuration checks and their
 * messages, W8A8 accuracy against the float model, float equivalence of
 * outlier channel splitting of whole models (weights split naively and
 * quantization-aware, activations halved), the rounding borders (nearest,
 * stochastic, AdaRound, the AQuant-style border) and their reconstruction,
 * determinism, the /quant round trip through a model file (bit-identical
 * logits, codes times scales equal to the quantized weights, corrupt
 * groups), errors, costs against sums by hand, and the reconstruction
 * units of a residual network.
 *
 * The network is the zoo cnn on 1x8x8 blobs of 4 classes (conv 6x6x32,
 * conv 4x4x64, max-pool, fc 256-128-4), trained for three epochs; the
 * reconstructions that are compared with nearest rounding take 500
 * iterations, the others fewer. Everything runs on one thread except one
 * determinism check on two; the whole file takes about ten seconds (twice
 * that with sanitizers).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/data.h"
#include "engine/io_h5.h"
#include "engine/model.h"
#include "engine/ptq/ptq.h"
#include "engine/quant/qat.h"
#include "engine/threads.h"
#include "engine/train.h"
#include "engine/util.h"
#include "tests/unit/tap.h"
#include "tests/unit/testdata.h"

#define SIDE 8
#define CLASSES 4
#define NOISE 0.9
#define N_TRAIN 2048
#define N_TEST 2000
#define CALIB 256
#define ITERS 500

/* the cnn's conv/linear layers: groups and indices in the original model */
static const char *const gemm_group[4] = {"00_conv", "03_conv", "08_fc", "10_fc"};
static const int gemm_index[4] = {0, 3, 8, 10};

/* ---- helpers ---- */

static struct ptq_config
pcfg(const char *scheme, int wb, int ab)
{
	struct ptq_config c;
	ptq_config_default(&c);
	c.w_scheme = c.a_scheme = scheme;
	c.w_bits = wb;
	c.a_bits = ab;
	c.calib_n = CALIB;
	c.recon_iters = ITERS;
	c.seed = 1;
	return c;
}

/* ptq_run that must succeed (the test stops otherwise). */
static struct ptq *
ptq_make(const struct model *m, const struct ptq_config *c, const struct dataset *train,
	 const struct engine_events *ev)
{
	struct ptq *p = NULL;
	char *cause = NULL;
	if (ptq_run(&p, m, c, train, ev, &cause) < 0) {
		tap_diag("ptq_run: %s", cause);
		free(cause);
		exit(1);
	}
	return p;
}

/* Eval-mode logits of m on n examples x (chw floats each), in batches; caller frees. */
static float *
logits_of(struct model *m, const float *x, int n)
{
	int c, h, w, K = model_classes(m);
	model_input_shape(m, &c, &h, &w);
	size_t chw = (size_t)c * h * w;
	float *out = xmalloc((size_t)n * K * sizeof *out);
	model_reserve(m, 256, 0);
	for (int b0 = 0; b0 < n; b0 += 256) {
		int B = n - b0 < 256 ? n - b0 : 256;
		memcpy(model_input(m), x + (size_t)b0 * chw, (size_t)B * chw * sizeof *x);
		const float *y = model_forward(m, B, 0, NULL);
		memcpy(out + (size_t)b0 * K, y, (size_t)B * K * sizeof *out);
	}
	return out;
}

static double
mse(const float *a, const float *b, size_t n)
{
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
	return s / (double)n;
}

static double
max_abs(const float *x, size_t n)
{
	double m = 0;
	for (size_t i = 0; i < n; i++)
		m = fabs(x[i]) > m ? fabs(x[i]) : m;
	return m;
}

static double
accuracy(struct model *m, const struct dataset *d)
{
	double loss = NAN, acc = NAN;
	char *cause = NULL;
	if (train_evaluate(m, d, 256, LOSS_XENT, NULL, &loss, &acc, NULL, &cause) < 0) {
		tap_diag("train_evaluate: %s", cause);
		free(cause);
	}
	return acc;
}

/* The k-th conv2d/linear layer of m (-1 if none). */
static int
nth_gemm(const struct model *m, int k)
{
	for (int i = 0; i < model_layer_count(m); i++) {
		const char *kind = model_layer_at(m, i)->kind;
		if ((strcmp(kind, "conv2d") == 0 || strcmp(kind, "linear") == 0) && k-- == 0)
			return i;
	}
	return -1;
}

/* ---- events ---- */

#define CAP_MAX 512

struct cap_row {
	int layer;
	char group[32], name[48];
	double v;
};

struct capture {
	struct cap_row rows[CAP_MAX];
	int n;
	int calib, recon;  /* progress reports per phase */
	int stop_after;	   /* should_stop answers 1 after this many polls (-1: never) */
	int stop_in_recon; /* should_stop answers 1 once the reconstruction has begun */
	int polls;
};

static void
cap_stat(void *ctx, int layer, const char *group, const char *name, double v)
{
	struct capture *c = ctx;
	if (c->n == CAP_MAX)
		return;
	struct cap_row *r = &c->rows[c->n++];
	r->layer = layer;
	snprintf(r->group, sizeof r->group, "%s", group);
	snprintf(r->name, sizeof r->name, "%s", name);
	r->v = v;
}

static void
cap_progress(void *ctx, const char *phase, long done, long total)
{
	struct capture *c = ctx;
	(void)done;
	(void)total;
	c->calib += strcmp(phase, "calib") == 0;
	c->recon += strcmp(phase, "recon") == 0;
}

static int
cap_stop(void *ctx)
{
	struct capture *c = ctx;
	if (c->stop_in_recon)
		return c->recon > 0;
	return c->stop_after >= 0 && c->polls++ >= c->stop_after;
}

static struct engine_events
cap_events(struct capture *c)
{
	memset(c, 0, sizeof *c);
	c->stop_after = -1;
	return (struct engine_events){c, cap_progress, NULL, cap_stat, cap_stop};
}

/* The layer_stat (group, name): value into *v, model index into *layer. Returns found. */
static int
stat_get(const struct capture *c, const char *group, const char *name, double *v, int *layer)
{
	int found = 0;
	for (int i = 0; i < c->n; i++)
		if (strcmp(c->rows[i].group, group) == 0 && strcmp(c->rows[i].name, name) == 0) {
			*v = c->rows[i].v;
			if (layer)
				*layer = c->rows[i].layer;
			found = 1;
		}
	return found;
}

/* Sum of the layer_stat name over every layer. */
static double
stat_sum(const struct capture *c, const char *name)
{
	double s = 0;
	for (int i = 0; i < c->n; i++)
		if (strcmp(c->rows[i].name, name) == 0)
			s += c->rows[i].v;
	return s;
}


/* Element i of dataset d as a double, whatever its type. */
static double
dval(const struct io_h5_data *d, size_t i)
{
	switch (d->type) {
	case IO_H5_F32:
		return ((const float *)d->data)[i];
	case IO_H5_I8:
		return ((const int8_t *)d->data)[i];
	case IO_H5_I32:
		return ((const int32_t *)d->data)[i];
	}
	return NAN;
}

/* ======================================================================== */

static void
expect_reject(const struct ptq_config *c, const char *want, const char *what)
{
	char *cause = NULL;
	int rc = ptq_check(c, &cause);
	tap_ok(rc == -1 && cause && strcmp(cause, want) == 0, "ptq_check rejects %s", what);
	if (!(rc == -1 && cause && strcmp(cause, want) == 0))
		tap_diag("rc %d, message: %s\n#   want: %s", rc, cause ? cause : "(none)", want);
	free(cause);
}

/* ptq_check: every rule, with its message. */
static void
test_check(const struct model *m, const struct dataset *train)
{
	struct ptq_config c = pcfg("uniform", 4, 4);
	char *cause = NULL;
	tap_ok(ptq_check(&c, &cause) == 0, "ptq_check accepts uniform W4A4");
	free(cause);
	cause = NULL;
	c.border = PTQ_AQUANT;
	c.ocs_ratio = 0.05;
	c.ocs_split = OCS_SPLIT_QA;
	tap_ok(ptq_check(&c, &cause) == 0, "ptq_check accepts aquant with quantization-aware OCS");
	free(cause);
	cause = NULL;

	c = pcfg("uniform", 4, 4);
	c.a_scheme = "apot";
	c.border = PTQ_AQUANT;
	expect_reject(&c, "border=aquant learns borders on a uniform grid: a.scheme=apot is not "
			  "uniform",
		      "border=aquant with a.scheme=apot");
	c = pcfg("apot", 4, 8);
	c.a_scheme = "uniform";
	c.border = PTQ_ADAROUND;
	expect_reject(&c, "border=adaround rounds on a uniform grid: w.scheme=apot is not uniform",
		      "border=adaround with w.scheme=apot");
	c = pcfg("uniform", 4, 32);
	c.border = PTQ_AQUANT;
	expect_reject(&c, "border=aquant learns activation borders: set a.bits",
		      "border=aquant with float activations");
	c = pcfg("uniform", 4, 4);
	c.w_channel = 1;
	c.ocs_ratio = 0.1;
	c.ocs_split = OCS_SPLIT_QA;
	expect_reject(&c, "ocs.split=qa needs ocs.target=w, w.scheme=uniform and w.gran=tensor",
		      "ocs.split=qa with per-channel weights");
	c = pcfg("uniform", 32, 8);
	c.ocs_ratio = 0.1;
	expect_reject(&c, "ocs.target=w splits quantized weights: set w.bits",
		      "OCS of float weights");
	c = pcfg("uniform", 8, 32);
	c.ocs_ratio = 0.1;
	c.ocs_target = PTQ_OCS_ACTS;
	expect_reject(&c, "ocs.target=a splits quantized activations: set a.bits",
		      "OCS of float activations");
	c = pcfg("uniform", 8, 8);
	c.ocs_ratio = 1.5;
	expect_reject(&c, "ocs.ratio must be in [0, 1] (got 1.5)", "ocs.ratio=1.5");
	c = pcfg("uniform", 8, 8);
	c.calib_n = 0;
	expect_reject(&c, "calib.n must be at least 1 (got 0)", "calib.n=0");
	c = pcfg("uniform", 8, 8);
	c.a_scheme = "apot";
	c.a_bits = 4;
	c.a_signed = 1;
	expect_reject(&c, "a.signed=1 needs a.scheme=uniform (got apot)", "a.signed with apot");

	/* ptq_run checks first: nothing is returned */
	struct ptq *p = (struct ptq *)1;
	c = pcfg("uniform", 32, 8);
	c.ocs_ratio = 0.1;
	int rc = ptq_run(&p, m, &c, train, NULL, &cause);
	tap_ok(rc == -1 && p == NULL && cause && strstr(cause, "ocs.target=w"),
	       "ptq_run refuses a configuration ptq_check refuses: %s", cause ? cause : "(none)");
	free(cause);

	const char *const *names = ptq_border_names();
	tap_ok(names[PTQ_NEAREST] && strcmp(names[PTQ_NEAREST], "nearest") == 0 &&
		       strcmp(names[PTQ_STOCHASTIC], "stochastic") == 0 &&
		       strcmp(names[PTQ_ADAROUND], "adaround") == 0 &&
		       strcmp(names[PTQ_AQUANT], "aquant") == 0 && names[PTQ_BORDER_COUNT] == NULL,
	       "ptq_border_names lines up with enum ptq_border");
}

/* ======================================================================== */

/* W8A8, nearest, max clips: the accuracy of the float model within 0.3 points. */
static void
test_w8a8(const struct model *m, const struct dataset *train, const struct dataset *test,
	  double float_acc)
{
	struct ptq_config c = pcfg("uniform", 8, 8);
	struct capture *cap = xmalloc(sizeof *cap);
	struct engine_events ev = cap_events(cap);
	struct ptq *p = ptq_make(m, &c, train, &ev);
	tap_ok(cap->calib > 0 && cap->recon == 0, "W8A8: progress in phase calib (%d), no recon",
	       cap->calib);
	double acc_f = accuracy(ptq_float_model(p), test);
	double acc_q = accuracy(ptq_model(p), test);
	tap_near(acc_f, float_acc, 1.0 / N_TEST + 1e-9,
		 "W8A8: the folded float model keeps the accuracy (%.4f vs %.4f)", acc_f,
		 float_acc);
	tap_near(acc_q, float_acc, 0.003, "W8A8: quantized accuracy %.4f within 0.003 of float %.4f",
		 acc_q, float_acc);
	tap_eq_int(model_layer_count(ptq_float_model(p)), 9,
		   "W8A8: the folded model has lost its two batch norms");
	tap_eq_int(model_layer_count(ptq_model(p)), 9, "W8A8: no OCS, no chandup layers");

	ptq_report(p, &ev);
	int rows = 0, layers_ok = 1;
	for (int k = 0; k < 4; k++) {
		double bw = NAN, ba = NAN, sw = NAN, sa = NAN, cw = NAN;
		int li = -1;
		stat_get(cap, gemm_group[k], "bits_w", &bw, &li);
		stat_get(cap, gemm_group[k], "bits_a", &ba, NULL);
		stat_get(cap, gemm_group[k], "sqnr_w", &sw, NULL);
		stat_get(cap, gemm_group[k], "clip_w", &cw, NULL);
		int has_a = stat_get(cap, gemm_group[k], "sqnr_a", &sa, NULL);
		int ok = li == gemm_index[k] && sw > 30 && cw > 0 && (k == 0 ? !has_a : sa > 25);
		rows += bw == 8 && ba == 8;
		layers_ok &= ok;
		if (!ok)
			tap_diag("%s: layer %d, sqnr_w %.2f, sqnr_a %.2f, clip_w %g", gemm_group[k],
				 li, sw, sa, cw);
	}
	tap_eq_int(rows, 4, "W8A8 report: bits_w 8 and bits_a 8 for every layer (the image at 8)");
	tap_ok(layers_ok, "W8A8 report: original layer indices, SQNR of weights > 30 dB and inputs "
			  "> 25 dB, no input quantizer on the image");
	double v;
	tap_ok(!stat_get(cap, "03_conv", "ocs_splits", &v, NULL) &&
		       !stat_get(cap, "03_conv", "recon_loss", &v, NULL),
	       "W8A8 report: no ocs_splits, no recon_loss");
	ptq_free(p);

	/* signed activation grids; calib.n above the training set takes all of it */
	c.a_signed = 1;
	c.calib_n = 100000;
	p = ptq_make(m, &c, train, NULL);
	struct io_h5_groups gs = {0};
	ptq_export(p, &gs);
	const struct io_h5_group *root = io_h5_groups_find(&gs, "quant");
	const struct io_h5_data *ci = root ? io_h5_group_dataset(root, "calib_indices") : NULL;
	tap_ok(testdata_attr_num(root, "calib_n") == N_TRAIN && ci && ci->size == N_TRAIN,
	       "calib.n=100000 on %d images: every image, calib_n %g", N_TRAIN,
	       testdata_attr_num(root, "calib_n"));
	int sgn = 0;
	for (int k = 1; k < 4; k++)
		sgn += testdata_attr_num(testdata_quant_group(&gs, gemm_group[k]), "signed_a") == 1;
	tap_eq_int(sgn, 3, "a.signed=1: every quantized input on a signed grid");
	double acc_s = accuracy(ptq_model(p), test);
	tap_near(acc_s, float_acc, 0.005, "a.signed=1 W8A8: accuracy %.4f (float %.4f)", acc_s,
		 float_acc);
	io_h5_groups_free(&gs);
	ptq_free(p);
	free(cap);
}

/* ======================================================================== */

/*
 * Splits every conv/linear layer of the folded float model f with the public
 * pieces: weights (naive or QA halves of ocs_split_weights, chandup factors
 * 1) or activations (channels chosen by ocs_split_activations from the input
 * maxima on x, halved by chandup factors 0.5, weight columns duplicated).
 * Returns the split model (caller frees), or NULL.
 */
static struct model *
split_whole(struct model *f, int style, const float *x, int nx)
{
	int n = model_layer_count(f);
	struct model_dup *dups = xcalloc((size_t)n, sizeof *dups);
	float **wsplit = xcalloc((size_t)n, sizeof *wsplit);
	int32_t **srcs = xcalloc((size_t)n, sizeof *srcs);
	float **facs = xcalloc((size_t)n, sizeof *facs);
	if (style == 2) {
		/* the inputs of every layer on x (at most 256 examples) */
		model_reserve(f, nx, 0);
		int c, h, w;
		model_input_shape(f, &c, &h, &w);
		memcpy(model_input(f), x, (size_t)nx * c * h * w * sizeof *x);
		model_forward(f, nx, 0, NULL);
	}
	for (int i = 0; i < n; i++) {
		const char *kind = model_layer_at(f, i)->kind;
		int conv = strcmp(kind, "conv2d") == 0;
		if (!conv && strcmp(kind, "linear") != 0)
			continue;
		int c, h, w;
		model_layer_input_shape(f, i, &c, &h, &w);
		int O = model_layer_at(f, i)->out_shape[0], I = conv ? c : c * h * w;
		int P = conv ? h * w : 1;
		size_t wn;
		const float *wt = model_layer_weight(f, i, &wn);
		int K = (int)(wn / ((size_t)O * I));
		int ns = ocs_split_count(0.1, I);
		int32_t *src = srcs[i] = xmalloc((size_t)(I + ns) * sizeof *src);
		float *fac = facs[i] = xmalloc((size_t)(I + ns) * sizeof *fac);
		float *ws = wsplit[i] = xmalloc((size_t)O * (I + ns) * K * sizeof *ws);
		for (int o = 0; o < I; o++) {
			src[o] = o;
			fac[o] = 1.0f;
		}
		if (style < 2) {
			int32_t *ch = xmalloc((size_t)ns * sizeof *ch);
			float scale = (float)(7.0 / max_abs(wt, wn)); /* a 4-bit grid */
			ocs_split_weights(ws, ch, wt, O, I, K, ns,
					  style ? OCS_SPLIT_QA : OCS_SPLIT_NAIVE, scale);
			for (int k = 0; k < ns; k++) {
				src[I + k] = ch[k];
				fac[I + k] = 1.0f;
			}
			free(ch);
		} else {
			int in = model_layer_input(f, i);
			const float *a = in == MODEL_INPUT ? model_input(f) : model_activation(f, in);
			float *cmax = xcalloc((size_t)I, sizeof *cmax);
			for (int b = 0; b < nx; b++)
				for (int ch = 0; ch < I; ch++)
					for (int j = 0; j < P; j++) {
						float v = fabsf(a[((size_t)b * I + ch) * P + j]);
						cmax[ch] = v > cmax[ch] ? v : cmax[ch];
					}
			int32_t *picks = xmalloc((size_t)ns * sizeof *picks);
			ocs_split_activations(picks, cmax, I, ns);
			for (int k = 0; k < ns; k++) {
				fac[picks[k]] *= 0.5f;
				src[I + k] = src[picks[k]];
				fac[I + k] = fac[picks[k]];
			}
			for (int o = 0; o < O; o++)
				for (int j = 0; j < I + ns; j++)
					memcpy(ws + ((size_t)o * (I + ns) + j) * K,
					       wt + ((size_t)o * I + src[j]) * K, (size_t)K * sizeof *ws);
			free(picks);
			free(cmax);
		}
		dups[i] = (struct model_dup){I + ns, src, fac};
	}
	char *cause = NULL;
	int *map = xmalloc((size_t)n * sizeof *map);
	struct model *q = model_derive(f, 0, dups, map, &cause);
	if (!q) {
		tap_diag("model_derive: %s", cause);
		free(cause);
	}
	for (int i = 0; i < n; i++) {
		if (q && wsplit[i]) {
			size_t wn;
			float *w = model_layer_weight(q, map[i], &wn);
			memcpy(w, wsplit[i], wn * sizeof *w);
		}
		free(wsplit[i]);
		free(srcs[i]);
		free(facs[i]);
	}
	free(map);
	free(wsplit);
	free(srcs);
	free(facs);
	free(dups);
	return q;
}

/*
 * OCS: the split models compute the folded model's function; ptq_run splits
 * ceil(0.1·I) channels of the middle layers and reports them.
 */
static void
test_ocs(const struct model *m, const struct dataset *train, const struct dataset *test)
{
	static const char *const style_name[3] = {"weights naive", "weights qa",
						  "activations halved"};
	char *cause = NULL;
	struct model *f = model_derive(m, 1, NULL, NULL, &cause);
	if (!f) {
		tap_ok(0, "fold: %s", cause);
		free(cause);
		return;
	}
	const int B = 256;
	float *want = logits_of(f, test->x, B);
	double mx = max_abs(want, (size_t)B * CLASSES);
	for (int style = 0; style < 3; style++) {
		struct model *q = split_whole(f, style, train->x, B);
		if (!q) {
			tap_ok(0, "OCS %s: the split model builds", style_name[style]);
			continue;
		}
		tap_eq_int(model_layer_count(q), model_layer_count(f) + 4,
			   "OCS %s: a chandup in front of each of the 4 layers", style_name[style]);
		float *got = logits_of(q, test->x, B);
		tap_near_arrays(got, want, (size_t)B * CLASSES, 1e-5 * mx, 1e-5,
				"OCS %s of every layer: the folded model's logits (max |y| %.3g)",
				style_name[style], mx);
		free(got);
		model_free(q);
	}
	free(want);
	model_free(f);

	/* the pipeline: splits of the middle layers (first and last at 8 bits are not split) */
	static const struct {
		const char *name;
		enum ocs_split split;
		enum ptq_ocs_target target;
	} cases[3] = {{"w naive", OCS_SPLIT_NAIVE, PTQ_OCS_WEIGHTS},
		      {"w qa", OCS_SPLIT_QA, PTQ_OCS_WEIGHTS},
		      {"a", OCS_SPLIT_NAIVE, PTQ_OCS_ACTS}};
	struct capture *cap = xmalloc(sizeof *cap);
	for (int k = 0; k < 3; k++) {
		struct ptq_config c = pcfg("uniform", 6, 6);
		c.ocs_ratio = 0.1;
		c.ocs_split = cases[k].split;
		c.ocs_target = cases[k].target;
		struct engine_events ev = cap_events(cap);
		struct ptq *p = ptq_make(m, &c, train, &ev);
		ptq_report(p, &ev);
		double s0 = NAN, s1 = NAN, s2 = NAN, s3 = NAN;
		int has0 = stat_get(cap, "00_conv", "ocs_splits", &s0, NULL);
		stat_get(cap, "03_conv", "ocs_splits", &s1, NULL);
		stat_get(cap, "08_fc", "ocs_splits", &s2, NULL);
		int has3 = stat_get(cap, "10_fc", "ocs_splits", &s3, NULL);
		tap_ok(!has0 && !has3 && s1 == ocs_split_count(0.1, 32) &&
			       s2 == ocs_split_count(0.1, 256),
		       "OCS %s: %g and %g splits in 03_conv and 08_fc (ceil(0.1·I)), none in the "
		       "first and last",
		       cases[k].name, s1, s2);
		struct model *q = ptq_model(p);
		int i1 = nth_gemm(q, 1), i2 = nth_gemm(q, 2);
		tap_ok(model_layer_count(q) == 11 && i1 > 0 &&
			       strcmp(model_layer_at(q, i1 - 1)->kind, "chandup") == 0 &&
			       model_layer_at(q, i1 - 1)->out_shape[0] == 36 &&
			       strcmp(model_layer_at(q, i2 - 1)->kind, "chandup") == 0 &&
			       model_layer_at(q, i2 - 1)->out_shape[0] == 282,
		       "OCS %s: the quantized model has chandups of 36 and 282 channels",
		       cases[k].name);
		double sq = NAN, sq0 = NAN;
		const char *which = cases[k].target == PTQ_OCS_WEIGHTS ? "sqnr_w" : "sqnr_a";
		const char *which0 =
			cases[k].target == PTQ_OCS_WEIGHTS ? "sqnr_w_noocs" : "sqnr_a_noocs";
		int ok = stat_get(cap, "03_conv", which, &sq, NULL) &&
			 stat_get(cap, "03_conv", which0, &sq0, NULL);
		/* a smaller range, a finer grid (activations: the top channels are close) */
		int better = cases[k].target == PTQ_OCS_WEIGHTS ? sq > sq0 + 0.5 : sq >= sq0;
		tap_ok(ok && isfinite(sq) && isfinite(sq0) && better,
		       "OCS %s: 03_conv %s %.2f dB with splitting, %.2f dB without", cases[k].name,
		       which, sq, sq0);
		/* 6-bit quantized, still close to the float model */
		double acc = accuracy(q, test), acc_f = accuracy(ptq_float_model(p), test);
		tap_ok(acc > acc_f - 0.02, "OCS %s W6A6: accuracy %.4f (float %.4f)", cases[k].name,
		       acc, acc_f);
		ptq_free(p);
	}
	free(cap);
}

/* ======================================================================== */

/* The calibration images of p (from its export) into a malloc'd array; count in *n. */
static float *
calib_images(const struct ptq *p, const struct dataset *train, int *n)
{
	struct io_h5_groups gs = {0};
	ptq_export(p, &gs);
	const struct io_h5_data *d = io_h5_group_dataset(io_h5_groups_find(&gs, "quant"),
							 "calib_indices");
	*n = d ? (int)d->size : 0;
	int *idx = xmalloc((size_t)(*n ? *n : 1) * sizeof *idx);
	for (int i = 0; i < *n; i++)
		idx[i] = (int)dval(d, (size_t)i);
	size_t chw = (size_t)train->c * train->h * train->w;
	float *x = xmalloc((size_t)(*n ? *n : 1) * chw * sizeof *x);
	int32_t *y = xmalloc((size_t)(*n ? *n : 1) * sizeof *y);
	if (*n)
		dataset_gather(train, idx, *n, x, y, 0, 0, NULL);
	free(y);
	free(idx);
	io_h5_groups_free(&gs);
	return x;
}

/* MSE of p's quantized logits against its float model's on n images x. */
static double
output_mse(struct ptq *p, const float *x, int n)
{
	float *q = logits_of(ptq_model(p), x, n), *f = logits_of(ptq_float_model(p), x, n);
	double e = mse(q, f, (size_t)n * CLASSES);
	free(q);
	free(f);
	return e;
}

/* Borders on W3A8: nearest, stochastic, AdaRound (reconstructed), and determinism. */
static void
test_borders(const struct model *m, const struct dataset *train, const struct dataset *test)
{
	static const char *const names[3] = {"nearest", "stochastic", "adaround"};
	struct ptq *p[3];
	struct capture *cap = xmalloc(sizeof *cap);
	double acc[3], err[3];
	float *x = NULL;
	int nx = 0;
	for (int b = 0; b < 3; b++) {
		struct ptq_config c = pcfg("uniform", 3, 8);
		c.border = (enum ptq_border)b;
		struct engine_events ev = cap_events(cap);
		p[b] = ptq_make(m, &c, train, &ev);
		ptq_report(p[b], &ev);
		if (b == 0)
			x = calib_images(p[0], train, &nx);
		acc[b] = accuracy(ptq_model(p[b]), test);
		err[b] = output_mse(p[b], x, nx);
		tap_diag("W3A8 %s: accuracy %.4f, output MSE on the calibration images %.5g",
			 names[b], acc[b], err[b]);
		int found = 0, finite = 1;
		for (int k = 0; k < 4; k++) {
			double v = NAN;
			if (stat_get(cap, gemm_group[k], "recon_loss", &v, NULL)) {
				found++;
				finite &= isfinite(v) && v >= 0;
			}
		}
		if (b == PTQ_ADAROUND) {
			tap_ok(found == 4 && finite,
			       "adaround: recon_loss reported and finite for all 4 layers");
			tap_ok(cap->recon > 0, "adaround: progress in phase recon (%d)", cap->recon);
		} else {
			tap_ok(found == 0 && cap->recon == 0, "%s: no reconstruction", names[b]);
		}
	}
	tap_eq_int(nx, CALIB, "calib_indices has calib.n entries");
	tap_ok(err[PTQ_ADAROUND] < err[PTQ_NEAREST],
	       "adaround fits the float outputs better than nearest (MSE %.5g < %.5g)",
	       err[PTQ_ADAROUND], err[PTQ_NEAREST]);
	tap_ok(acc[PTQ_ADAROUND] >= acc[PTQ_NEAREST] - 0.005,
	       "adaround's accuracy %.4f is not below nearest's %.4f (tolerance 0.005)",
	       acc[PTQ_ADAROUND], acc[PTQ_NEAREST]);
	/* stochastic rounding moves some weights to the other neighbour */
	size_t wn, differ = 0, far = 0;
	int i1 = nth_gemm(ptq_model(p[0]), 1);
	const float *wa = model_layer_weight(ptq_model(p[PTQ_NEAREST]), i1, &wn);
	const float *wb = model_layer_weight(ptq_model(p[PTQ_STOCHASTIC]), i1, NULL);
	const float *wf = model_layer_weight(ptq_float_model(p[0]), i1, NULL);
	double step = 0;
	for (size_t i = 0; i < wn; i++)
		step = fabs(wa[i]) > step ? fabs(wa[i]) : step;
	step /= 3; /* 3 bits: codes up to 3 */
	for (size_t i = 0; i < wn; i++) {
		differ += wa[i] != wb[i];
		far += fabs(wb[i] - wf[i]) > step * (1 + 1e-5) && fabs(wf[i]) < 3 * step;
	}
	tap_ok(differ > wn / 20 && far == 0,
	       "stochastic: %zu of %zu weights of 03_conv differ from nearest, none farther than "
	       "a step (%zu)",
	       differ, wn, far);

	/* determinism: adaround twice (shorter), stochastic again and with another seed */
	struct ptq_config c = pcfg("uniform", 3, 8);
	c.border = PTQ_ADAROUND;
	c.recon_iters = 100;
	struct ptq *once = ptq_make(m, &c, train, NULL);
	struct ptq *again = ptq_make(m, &c, train, NULL);
	float *l1 = logits_of(ptq_model(once), test->x, 256);
	float *l2 = logits_of(ptq_model(again), test->x, 256);
	tap_same_floats(l2, l1, (size_t)256 * CLASSES,
			"adaround twice with the same seed: bit-identical logits");
	ptq_free(again);
	free(l2);
	ptq_free(once);
	free(l1);
	/*
	 * Two threads (shorter still: a busy machine makes every parallel region
	 * wait): the parallel loops of the rounding (08_fc has 2^15 weights) and
	 * of the layers.
	 */
	c.recon_iters = 5;
	c.calib_n = 64;
	once = ptq_make(m, &c, train, NULL);
	threads_init(2);
	struct ptq *two = ptq_make(m, &c, train, NULL);
	again = ptq_make(m, &c, train, NULL);
	threads_init(1);
	l1 = logits_of(ptq_model(once), test->x, 256);
	float *t1 = logits_of(ptq_model(two), test->x, 256);
	l2 = logits_of(ptq_model(again), test->x, 256);
	tap_same_floats(l2, t1, (size_t)256 * CLASSES,
			"adaround twice with the same seed on two threads: bit-identical logits");
	size_t nd2 = 0;
	for (size_t i = 0; i < (size_t)256 * CLASSES; i++)
		nd2 += fabsf(t1[i] - l1[i]) > 0.05f * (1 + fabsf(l1[i]));
	tap_ok(nd2 == 0, "adaround on two threads and on one: the same model up to rounding (%zu "
			 "logits differ by more than 5%%)",
	       nd2);
	ptq_free(once);
	ptq_free(two);
	ptq_free(again);
	free(t1);
	free(l1);
	free(l2);
	c.recon_iters = ITERS;
	c.calib_n = CALIB;
	c.border = PTQ_STOCHASTIC;
	again = ptq_make(m, &c, train, NULL);
	l1 = logits_of(ptq_model(p[PTQ_STOCHASTIC]), test->x, 256);
	l2 = logits_of(ptq_model(again), test->x, 256);
	tap_same_floats(l2, l1, (size_t)256 * CLASSES,
			"stochastic twice with the same seed: bit-identical logits");
	ptq_free(again);
	free(l2);
	c.seed = 2;
	again = ptq_make(m, &c, train, NULL);
	l2 = logits_of(ptq_model(again), test->x, 256);
	size_t nd = 0;
	for (size_t i = 0; i < (size_t)256 * CLASSES; i++)
		nd += l1[i] != l2[i];
	tap_ok(nd > 0, "stochastic with another seed: other logits (%zu of %d differ)", nd,
	       256 * CLASSES);
	ptq_free(again);
	free(l1);
	free(l2);
	for (int b = 0; b < 3; b++)
		ptq_free(p[b]);
	free(x);
	free(cap);
}

/* ======================================================================== */

/*
 * The AQuant-style border on W3A4: it learns (border_phi leaves 0), and its
 * reconstruction fits the float outputs better than nearest rounding.
 */
static void
test_aquant(const struct model *m, const struct dataset *train, const struct dataset *test)
{
	struct ptq_config c = pcfg("uniform", 3, 4);
	struct ptq *pn = ptq_make(m, &c, train, NULL);
	c.border = PTQ_AQUANT;
	struct capture *cap = xmalloc(sizeof *cap);
	struct engine_events ev = cap_events(cap);
	struct ptq *pa = ptq_make(m, &c, train, &ev);
	ptq_report(pa, &ev);
	int nx;
	float *x = calib_images(pn, train, &nx);
	double en = output_mse(pn, x, nx), ea = output_mse(pa, x, nx);
	double an = accuracy(ptq_model(pn), test), aa = accuracy(ptq_model(pa), test);
	tap_diag("W3A4 nearest: accuracy %.4f, MSE %.5g; aquant: accuracy %.4f, MSE %.5g", an, en,
		 aa, ea);
	tap_ok(ea < en, "aquant fits the float outputs better than nearest (MSE %.5g < %.5g)", ea,
	       en);
	tap_ok(aa >= an - 0.005, "aquant's accuracy %.4f is not below nearest's %.4f (0.005)", aa,
	       an);
	int recon = 0;
	for (int k = 0; k < 4; k++) {
		double v;
		recon += stat_get(cap, gemm_group[k], "recon_loss", &v, NULL) && isfinite(v);
	}
	tap_eq_int(recon, 4, "aquant: a finite recon_loss for each layer");

	struct io_h5_groups gs = {0};
	ptq_export(pa, &gs);
	tap_eq_str(testdata_attr_str(io_h5_groups_find(&gs, "quant"), "border"), "aquant",
		   "aquant export: /quant border=aquant");
	const struct io_h5_group *g0 = testdata_quant_group(&gs, "00_conv");
	tap_ok(g0 && !io_h5_group_dataset(g0, "border_phi"),
	       "aquant: the first layer (reading the image) has no border");
	/* 08_fc reads a flattened 64x2x2 map: its borders follow the 64 channels */
	static const int channels[3] = {32, 64, 128};
	for (int k = 1; k < 4; k++) {
		const struct io_h5_group *g = testdata_quant_group(&gs, gemm_group[k]);
		const struct io_h5_data *d = g ? io_h5_group_dataset(g, "border_phi") : NULL;
		size_t nz = 0, finite = 0;
		for (size_t i = 0; d && i < d->size; i++) {
			nz += dval(d, i) != 0;
			finite += isfinite(dval(d, i));
		}
		/* bits of the input: 4 in the middle, 8 for the last layer (firstlast=8) */
		long bins = k == 3 ? 255 : 15;
		tap_ok(d && d->ndim == 2 && d->dims[0] == channels[k - 1] && d->dims[1] == bins &&
			       finite == d->size && nz > 0,
		       "aquant: %s border_phi is %ldx%ld (channels x bins), %zu of %zu entries "
		       "learned away from 0",
		       gemm_group[k], d ? d->dims[0] : -1L, d ? d->dims[1] : -1L, nz,
		       d ? d->size : 0);
	}
	io_h5_groups_free(&gs);
	free(x);
	free(cap);
	ptq_free(pn);
	ptq_free(pa);
}

/* ======================================================================== */

/* Saves p with m, loads the file back and imports it; returns the import (or NULL). */
static struct ptq *
round_trip(struct ptq *p, const struct model *m, const char *path, struct model **m2,
	   struct io_h5_groups *gs2)
{
	struct io_h5_groups gs = {0};
	ptq_export(p, &gs);
	char *cause = NULL;
	struct ptq *p2 = NULL;
	int rc = io_h5_save_model_with(m, &gs, path, &cause);
	io_h5_groups_free(&gs);
	if (rc == 0)
		rc = io_h5_load_model(m2, path, &cause);
	if (rc == 0)
		rc = io_h5_read_groups(path, "quant", gs2, &cause);
	if (rc == 0)
		rc = ptq_import(&p2, *m2, gs2, path, &cause);
	if (rc < 0) {
		tap_diag("round trip of %s: %s", path, cause);
		free(cause);
	}
	return p2;
}

/* Expects ptq_import of gs to fail with a message holding want1 and want2. */
static void
expect_import_error(const struct model *m, const struct io_h5_groups *gs, const char *path,
		    const char *want1, const char *want2, const char *what)
{
	struct ptq *p = (struct ptq *)1;
	char *cause = NULL;
	int rc = ptq_import(&p, m, gs, path, &cause);
	int ok = rc == -1 && p == NULL && cause && strstr(cause, path) && strstr(cause, want1) &&
		 (!want2 || strstr(cause, want2));
	tap_ok(ok, "import of %s: an error naming the file and %s: %s", what, want1,
	       cause ? cause : "(none)");
	if (rc == 0)
		ptq_free(p);
	free(cause);
}

static void
test_files(const struct model *m, const struct dataset *train, const struct dataset *test)
{
	static const struct {
		const char *name, *scheme;
		int wb, ab, channel;
		double ocs;
		enum ptq_ocs_target target;
		enum ptq_border border;
		enum qat_firstlast fl;
	} cases[] = {
		{"uniform W4A4 per channel, nearest", "uniform", 4, 4, 1, 0, PTQ_OCS_WEIGHTS,
		 PTQ_NEAREST, QAT_FIRSTLAST_8},
		{"uniform W4A4, OCS w", "uniform", 4, 4, 0, 0.1, PTQ_OCS_WEIGHTS, PTQ_NEAREST,
		 QAT_FIRSTLAST_8},
		{"uniform W4A4, OCS a", "uniform", 4, 4, 0, 0.1, PTQ_OCS_ACTS, PTQ_NEAREST,
		 QAT_FIRSTLAST_8},
		{"uniform W3A4, aquant", "uniform", 3, 4, 0, 0, PTQ_OCS_WEIGHTS, PTQ_AQUANT,
		 QAT_FIRSTLAST_8},
		{"apot W4A4", "apot", 4, 4, 0, 0, PTQ_OCS_WEIGHTS, PTQ_NEAREST, QAT_FIRSTLAST_8},
		{"uniform W4A4, firstlast=fp", "uniform", 4, 4, 0, 0, PTQ_OCS_WEIGHTS, PTQ_NEAREST,
		 QAT_FIRSTLAST_FP},
	};
	const int B = 256;
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		struct ptq_config c = pcfg(cases[k].scheme, cases[k].wb, cases[k].ab);
		c.w_channel = cases[k].channel;
		c.ocs_ratio = cases[k].ocs;
		c.ocs_target = cases[k].target;
		c.border = cases[k].border;
		c.firstlast = cases[k].fl;
		c.recon_iters = 50;
		struct ptq *p = ptq_make(m, &c, train, NULL);
		char *path = xasprintf("%s/ptq-%zu.h5", tap_tmpdir(), k);
		struct model *m2 = NULL;
		struct io_h5_groups gs2 = {0};
		struct ptq *p2 = round_trip(p, m, path, &m2, &gs2);
		tap_ok(p2 != NULL, "%s: saved, loaded and imported", cases[k].name);
		tap_ok(ptq_is_ptq(&gs2), "%s: /quant says kind=ptq", cases[k].name);
		if (p2) {
			float *want = logits_of(ptq_model(p), test->x, B);
			float *got = logits_of(ptq_model(p2), test->x, B);
			tap_same_floats(got, want, (size_t)B * CLASSES,
					"%s: the imported model's logits are bit-identical",
					cases[k].name);
			free(want);
			free(got);
			tap_eq_int(model_layer_count(ptq_model(p2)), model_layer_count(ptq_model(p)),
				   "%s: the same layers (chandups included)", cases[k].name);
			/* what eval of the saved model reports */
			struct ptq_cost c1, c2;
			ptq_cost(p, &c1);
			ptq_cost(p2, &c2);
			tap_ok(c2.bitops == c1.bitops && c2.size_bits == c1.size_bits &&
				       c2.shift_adds == c1.shift_adds && c2.macs == c1.macs &&
				       c2.macs_float == c1.macs_float &&
				       c2.ocs_overhead == c1.ocs_overhead && c2.params == c1.params,
			       "%s: the import's costs are the original's (bitops %.0f, %.0f; size "
			       "%.0f, %.0f)",
			       cases[k].name, c2.bitops, c1.bitops, c2.size_bits, c1.size_bits);
		}
		/* codes within their range; uniform codes times scales are the weights */
		int codes_ok = 1, product_ok = 1, levels_ok = 1;
		for (int g = 0; g < 4; g++) {
			const struct io_h5_group *qg = testdata_quant_group(&gs2, gemm_group[g]);
			const struct io_h5_data *cd = qg ? io_h5_group_dataset(qg, "codes_w") : NULL;
			int bits = (int)testdata_attr_num(qg, "bits_w");
			int qi = nth_gemm(ptq_model(p), g);
			size_t wn = 0;
			const float *w = qi >= 0 ? model_layer_weight(ptq_model(p), qi, &wn) : NULL;
			if (cases[k].fl == QAT_FIRSTLAST_FP && (g == 0 || g == 3)) {
				/* float layers: no codes, the folded float weights */
				const float *wf = model_layer_weight(ptq_float_model(p), qi, NULL);
				codes_ok &= !cd && w && wf && memcmp(w, wf, wn * sizeof *w) == 0;
				continue;
			}
			if (!cd || !w || cd->size != wn || !(bits >= 2 && bits <= 8)) {
				codes_ok = 0;
				tap_diag("%s: codes_w of %s missing or %zu values for %zu weights",
					 cases[k].name, gemm_group[g], cd ? cd->size : 0, wn);
				continue;
			}
			const struct io_h5_data *sc = io_h5_group_dataset(qg, "scale_w");
			const struct io_h5_data *lv = io_h5_group_dataset(qg, "levels_w");
			int uniform = strcmp(testdata_attr_str(qg, "scheme_w"), "uniform") == 0;
			double lo = uniform ? -(1 << (bits - 1)) : 0;
			double hi = uniform ? (1 << (bits - 1)) - 1 : (lv ? (double)lv->size - 1 : -1);
			size_t per = sc ? wn / sc->size : 1;
			for (size_t i = 0; i < wn; i++) {
				double code = dval(cd, i);
				codes_ok &= code >= lo && code <= hi && code == floor(code);
				if (uniform && sc)
					product_ok &= (float)code * (float)dval(sc, i / per) == w[i];
				else if (lv && code >= 0 && code < (double)lv->size)
					levels_ok &= (float)dval(lv, (size_t)code) == w[i];
			}
			if (uniform)
				product_ok &= sc && (sc->size == 1 ||
						     (cases[k].channel &&
						      sc->size == (size_t)model_layer_at(ptq_model(p), qi)
									  ->out_shape[0]));
			else
				levels_ok &= lv && lv->size <= (1u << bits);
		}
		tap_ok(codes_ok, "%s: every layer's codes_w are integers of its grid", cases[k].name);
		tap_ok(product_ok && levels_ok,
		       "%s: codes_w times scale_w (or levels_w[codes_w]) are the quantized weights, "
		       "bit for bit",
		       cases[k].name);
		const struct io_h5_data *ci =
			io_h5_group_dataset(io_h5_groups_find(&gs2, "quant"), "calib_indices");
		int distinct = ci && ci->size == CALIB;
		for (size_t i = 0; distinct && i < ci->size; i++) {
			distinct &= dval(ci, i) >= 0 && dval(ci, i) < N_TRAIN;
			for (size_t j = 0; j < i && distinct; j++)
				distinct &= dval(ci, i) != dval(ci, j);
		}
		tap_ok(distinct, "%s: calib_indices holds %d distinct training indices",
		       cases[k].name, CALIB);

		/* corrupt groups, from the file just read */
		if (k == 1 && p2) {
			struct io_h5_group *g = io_h5_groups_find(&gs2, "quant/03_conv");
			struct io_h5_data *cd = NULL, *ds = NULL;
			for (int i = 0; g && i < g->ndata; i++) {
				if (strcmp(g->data[i].name, "codes_w") == 0)
					cd = &g->data[i];
				if (strcmp(g->data[i].name, "dup_src") == 0)
					ds = &g->data[i];
			}
			tap_ok(cd && ds, "OCS file: 03_conv has codes_w and dup_src");
			if (cd && ds) {
				size_t size = cd->size;
				cd->size = size - 1;
				expect_import_error(m2, &gs2, path, "quant/03_conv/codes_w",
						    "values", "codes_w of the wrong size");
				cd->size = size;
				cd->name[0] = 'x';
				expect_import_error(m2, &gs2, path, "/quant/03_conv", "codes_w",
						    "a missing codes_w");
				cd->name[0] = 'c';
				float save = ((float *)ds->data)[ds->size - 1];
				((float *)ds->data)[ds->size - 1] = 1e6f;
				expect_import_error(m2, &gs2, path, "dup_src", NULL,
						    "a dup_src out of range");
				((float *)ds->data)[ds->size - 1] = save;
				/* intact again */
				struct ptq *p3 = NULL;
				char *cause = NULL;
				tap_ok(ptq_import(&p3, m2, &gs2, path, &cause) == 0 && p3,
				       "the repaired groups import again");
				free(cause);
				ptq_free(p3);
			}
			struct io_h5_groups none = {0};
			expect_import_error(m2, &none, path, "/quant", NULL, "a file without /quant");
		}
		ptq_free(p2);
		model_free(m2);
		io_h5_groups_free(&gs2);
		free(path);
		ptq_free(p);
	}
}

/* ======================================================================== */

/* NaN weights, shift-based batch norm and stop requests give errors. */
static void
test_errors(struct model *m, const struct dataset *train)
{
	struct ptq_config c = pcfg("uniform", 8, 8);
	float *w = model_layer_weight(m, gemm_index[1], NULL);
	float save = w[7];
	w[7] = NAN;
	struct ptq *p = (struct ptq *)1;
	char *cause = NULL;
	int rc = ptq_run(&p, m, &c, train, NULL, &cause);
	tap_ok(rc == -1 && p == NULL && cause && strstr(cause, "03_conv"),
	       "a NaN weight: an error naming the layer: %s", cause ? cause : "(none)");
	free(cause);
	cause = NULL;
	w[7] = save;

	model_set_bn_shift(m, 1);
	p = (struct ptq *)1;
	rc = ptq_run(&p, m, &c, train, NULL, &cause);
	tap_ok(rc == -1 && p == NULL && cause && strstr(cause, "shift"),
	       "shift-based batch norm is refused: %s", cause ? cause : "(none)");
	free(cause);
	cause = NULL;
	model_set_bn_shift(m, 0);

	struct capture *cap = xmalloc(sizeof *cap);
	struct engine_events ev = cap_events(cap);
	cap->stop_after = 0;
	p = (struct ptq *)1;
	rc = ptq_run(&p, m, &c, train, &ev, &cause);
	tap_ok(rc == -1 && p == NULL && cause && strcmp(cause, "stopped") == 0,
	       "a stop request: -1 with \"stopped\" (%s)", cause ? cause : "(none)");
	free(cause);
	cause = NULL;
	c.border = PTQ_ADAROUND;
	c.w_bits = 4;
	ev = cap_events(cap);
	cap->stop_in_recon = 1;
	p = (struct ptq *)1;
	rc = ptq_run(&p, m, &c, train, &ev, &cause);
	tap_ok(rc == -1 && p == NULL && cause && strcmp(cause, "stopped") == 0 && cap->recon > 0,
	       "a stop request during the reconstruction: \"stopped\" (%s)",
	       cause ? cause : "(none)");
	free(cause);
	free(cap);
}

/* ======================================================================== */

/* ptq_cost against sums by hand (W4A8, firstlast=8), and OCS's MAC overhead. */
static void
test_cost(const struct model *m, const struct dataset *train)
{
	struct ptq_config c = pcfg("uniform", 4, 8);
	struct capture *cap = xmalloc(sizeof *cap);
	struct engine_events ev = cap_events(cap);
	struct ptq *p = ptq_make(m, &c, train, &ev);
	ptq_report(p, &ev);
	struct ptq_cost pc;
	ptq_cost(p, &pc);
	/* weights 8, 4, 4, 8 bits; inputs: the image at 8, then 8-bit activations */
	static const int wb[4] = {8, 4, 4, 8};
	double bitops = 0, macs = 0;
	for (int k = 0; k < 4; k++) {
		double mk = (double)model_layer_at(m, gemm_index[k])->macs;
		bitops += mk * wb[k] * 8;
		macs += mk;
	}
	tap_ok(pc.bitops == bitops && bitops > 0, "W4A8: bitops %.0f = Σ MACs·w_bits·a_bits %.0f",
	       pc.bitops, bitops);
	tap_ok(pc.macs == macs && pc.macs_float == macs && pc.ocs_overhead == 0,
	       "W4A8: MACs %.0f as the float model's, no OCS overhead", pc.macs);
	tap_ok(stat_sum(cap, "bitops") == pc.bitops,
	       "W4A8: the per-layer bitops of the report add up to the total");
	/* size: quantized weights at their bits, biases (the folds' too) at 32, 4 + 3 scales */
	struct model *q = ptq_model(p);
	double size = 0;
	for (int k = 0; k < 4; k++) {
		size_t wn;
		int i = nth_gemm(q, k);
		model_layer_weight(q, i, &wn);
		size += (double)wn * wb[k] + 32.0 * model_layer_at(q, i)->out_shape[0];
	}
	size += 32.0 * (4 + 3);
	tap_ok(pc.size_bits == size, "W4A8: size_bits %.0f, by hand %.0f", pc.size_bits, size);
	tap_ok(pc.params == (double)model_param_count(q) && pc.shift_adds == 0,
	       "W4A8: params of the folded model (%.0f), no shift-adds", pc.params);
	ptq_free(p);

	/* OCS on the middle layers: MACs grow by the split channels */
	c.ocs_ratio = 0.1;
	ev = cap_events(cap);
	p = ptq_make(m, &c, train, &ev);
	ptq_report(p, &ev);
	ptq_cost(p, &pc);
	double m1 = (double)model_layer_at(m, gemm_index[1])->macs;
	double m2 = (double)model_layer_at(m, gemm_index[2])->macs;
	double after = macs + m1 * ocs_split_count(0.1, 32) / 32.0 +
		       m2 * ocs_split_count(0.1, 256) / 256.0;
	tap_ok(pc.ocs_overhead > 0 && fabs(pc.ocs_overhead - (after / macs - 1)) < 1e-12,
	       "OCS 0.1: ocs_overhead %.6f = MACs after / before - 1 = %.6f", pc.ocs_overhead,
	       after / macs - 1);
	tap_ok(pc.macs == after && pc.macs_float == macs,
	       "OCS 0.1: MACs %.0f after splitting, %.0f before", pc.macs, pc.macs_float);
	tap_ok(pc.bitops == bitops + (m1 * 4 / 32.0 * 4 * 8) + (m2 * 26 / 256.0 * 4 * 8) &&
		       stat_sum(cap, "bitops") == pc.bitops,
	       "OCS 0.1: bitops count the split MACs (%.0f), as the report does", pc.bitops);
	double ms = NAN;
	int has = stat_get(cap, "03_conv", "macs_split", &ms, NULL);
	tap_ok(has && ms == m1 * 36 / 32,
	       "OCS 0.1: 03_conv macs_split %.0f = MACs·36/32", ms);
	ptq_free(p);
	free(cap);
}

/* ======================================================================== */

/*
 * ResNet-20 (untrained, 1x8x8): reconstruction units. Layer mode fits each
 * conv with what follows it as far as it reads nothing else; block mode fits
 * each residual block as one unit (its convs share one recon_loss). With OCS
 * of the weights the model goes through a file bit for bit.
 */
static void
test_resnet(const struct dataset *train, const struct dataset *test)
{
	char *cause = NULL;
	struct model *m = model_new("resnet20", 1, SIDE, SIDE, CLASSES, 5, &cause);
	if (!m) {
		tap_ok(0, "resnet20: %s", cause);
		free(cause);
		return;
	}
	/* conv/linear groups: stem, then per block conv a, conv b (and the 1x1 shortcut) */
	char groups[32][16];
	int ng = 0;
	for (int i = 0; i < model_layer_count(m) && ng < 32; i++) {
		const char *kind = model_layer_at(m, i)->kind;
		if (strcmp(kind, "conv2d") == 0 || strcmp(kind, "linear") == 0)
			snprintf(groups[ng++], sizeof groups[0], "%s", model_layer_at(m, i)->group);
	}
	tap_eq_int(ng, 22, "resnet20: 19 convs, 2 shortcuts and the fc");
	struct capture *cap = xmalloc(sizeof *cap);
	double loss[2][32];
	for (int block = 0; block < 2; block++) {
		struct ptq_config c = pcfg("uniform", 4, 8);
		c.border = PTQ_ADAROUND;
		c.recon_iters = 10;
		c.calib_n = 64;
		c.recon_block = block;
		c.ocs_ratio = block ? 0.1 : 0;
		struct engine_events ev = cap_events(cap);
		struct ptq *p = ptq_make(m, &c, train, &ev);
		ptq_report(p, &ev);
		int found = 0;
		for (int k = 0; k < ng; k++) {
			loss[block][k] = NAN;
			found += stat_get(cap, groups[k], "recon_loss", &loss[block][k], NULL) &&
				 isfinite(loss[block][k]);
		}
		tap_eq_int(found, ng, "resnet20 %s mode: a finite recon_loss for every layer",
			   block ? "block" : "layer");
		if (block) {
			/* the first block (groups 1, 2) and the first downsampling one (7, 8, 9) */
			tap_ok(loss[1][1] == loss[1][2] && loss[1][7] == loss[1][8] &&
				       loss[1][8] == loss[1][9] && loss[1][0] != loss[1][1] &&
				       loss[1][2] != loss[1][3],
			       "block mode: the convs of a residual block share their unit (%g %g, %g "
			       "%g %g)",
			       loss[1][1], loss[1][2], loss[1][7], loss[1][8], loss[1][9]);
			/* the split model through a file */
			char *path = xasprintf("%s/resnet.h5", tap_tmpdir());
			struct model *m2 = NULL;
			struct io_h5_groups gs2 = {0};
			struct ptq *p2 = round_trip(p, m, path, &m2, &gs2);
			if (p2) {
				float *want = logits_of(ptq_model(p), test->x, 64);
				float *got = logits_of(ptq_model(p2), test->x, 64);
				tap_same_floats(got, want, (size_t)64 * CLASSES,
						"resnet20 with OCS and AdaRound: bit-identical logits "
						"after the round trip");
				free(want);
				free(got);
			} else {
				tap_ok(0, "resnet20 round trip");
			}
			ptq_free(p2);
			model_free(m2);
			io_h5_groups_free(&gs2);
			free(path);
		} else {
			tap_ok(loss[0][1] != loss[0][2] && loss[0][7] != loss[0][8],
			       "layer mode: the convs of a block are units of their own (%g %g)",
			       loss[0][1], loss[0][2]);
		}
		ptq_free(p);
	}
	free(cap);
	model_free(m);
}

int
main(void)
{
	threads_init(1);
	io_h5_quiet();
	struct dataset *train = blobs(N_TRAIN, CLASSES, SIDE, NOISE, 1);
	struct dataset *test = blobs(N_TEST, CLASSES, SIDE, NOISE, 2);
	char *cause = NULL;
	struct model *m = model_new("cnn", 1, SIDE, SIDE, CLASSES, 7, &cause);
	struct train_opts o;
	train_opts_default(&o);
	o.epochs = 3;
	o.batch = 32;
	o.seed = 3;
	struct train_result res;
	if (!m || train_run(m, train, NULL, &o, NULL, NULL, &res, &cause) < 0) {
		tap_diag("float model: %s", cause);
		free(cause);
		return 1;
	}
	double float_acc = accuracy(m, test);
	tap_ok(float_acc > 0.6 && float_acc < 0.995,
	       "the float cnn learns the blobs, with errors left (test accuracy %.4f)", float_acc);

	test_check(m, train);
	test_w8a8(m, train, test, float_acc);
	test_ocs(m, train, test);
	test_borders(m, train, test);
	test_aquant(m, train, test);
	test_files(m, train, test);
	test_errors(m, train);
	test_cost(m, train);
	test_resnet(train, test);

	model_free(m);
	free_blobs(train);
	free_blobs(test);
	return tap_done();
}
