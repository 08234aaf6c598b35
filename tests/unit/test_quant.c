/*
 * test_quant: every quantizer against every case of the golden fixtures
 * (tests/fixtures/apot.h5, lcq.h5, qnn.h5 and the lsq cases of adaround.h5),
 * the optimised paths against the scalar _ref ones, the registry's
 * validation, and the test properties of METHODS §1.7, §2.6, §3.8.
 *
 * Tolerances (fixtures README): outputs and element gradients 1e-6 relative
 * (plus 1e-6 absolute for values near 0); summed parameter gradients 1e-5
 * relative. Optimised vs _ref: outputs and input gradients bit-identical,
 * parameter gradients (double sums in another order) within 1e-9 relative.
 */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/layers.h"
#include "engine/quant/quant.h"
#include "engine/util.h"
#include "tests/unit/fixture.h"
#include "tests/unit/tap.h"

static struct quant *
make(const struct quant_config *c, const char *path)
{
	struct quant *q = NULL;
	char *cause = NULL;
	if (quant_new(&q, c, &cause) < 0) {
		tap_ok(0, "%s: quant_new: %s", path, cause);
		free(cause);
		return NULL;
	}
	return q;
}

static int
rel_ok(double got, double want, double rtol)
{
	return fabs(got - want) <= rtol * fmax(1.0, fabs(want));
}

/*
 * Runs q forward and backward on the case's x and grad_out, checks y and
 * grad_x against the case, and the optimised path against _ref. Leaves the
 * parameter gradients of the optimised pass in q.
 */
static void
check_fwd_bwd(struct quant *q, hid_t g, const char *path)
{
	size_t n, n2;
	float *x = fixture_floats(g, "x", &n), *y = fixture_floats(g, "y", &n2);
	float *go = fixture_floats(g, "grad_out", NULL), *gx = fixture_floats(g, "grad_x", NULL);
	float *yo = xcalloc(n, sizeof *yo), *yr = xcalloc(n, sizeof *yr);
	float *dxo = xcalloc(n, sizeof *dxo), *dxr = xcalloc(n, sizeof *dxr);
	quant_forward(q, yo, x, n, 0);
	quant_forward_ref(q, yr, x, n, 0);
	tap_near_arrays(yo, y, n, 1e-6, 1e-6, "%s: y", path);
	tap_same_floats(yo, yr, n, "%s: y optimised == ref", path);
	if (go && gx) {
		quant_zero_grad(q);
		quant_backward_ref(q, dxr, go, x, n);
		double da_ref = q->dalpha, ds_ref = q->dscale[0], dt_ref = q->dtheta[3];
		quant_zero_grad(q);
		quant_backward(q, dxo, go, x, n);
		tap_near_arrays(dxo, gx, n, 1e-7, 1e-6, "%s: grad_x", path);
		tap_same_floats(dxo, dxr, n, "%s: grad_x optimised == ref", path);
		tap_ok(rel_ok(q->dalpha, da_ref, 1e-9) && rel_ok(q->dscale[0], ds_ref, 1e-9) &&
			       rel_ok(q->dtheta[3], dt_ref, 1e-9),
		       "%s: parameter gradients optimised ~ ref (%.9g %.9g)", path, q->dalpha,
		       da_ref);
	}
	free(x);
	free(y);
	free(go);
	free(gx);
	free(yo);
	free(yr);
	free(dxo);
	free(dxr);
}

/* ---- apot.h5 ---- */

static void
apot_case(hid_t g, const char *path, void *ctx)
{
	(void)ctx;
	char fn[128], mode[64], variant[64];
	fixture_attr_str(g, "function", fn, sizeof fn);
	fixture_attr_str(g, "mode", mode, sizeof mode);
	fixture_attr_str(g, "variant", variant, sizeof variant);
	double additive = fixture_attr(g, "additive");
	struct quant_config c = {0};
	c.bits = (int)fixture_attr(g, "bits");
	c.alpha = (float)fixture_attr(g, "alpha");
	c.role = strcmp(mode, "weight") == 0 ? QUANT_ROLE_WEIGHT : QUANT_ROLE_ACT;
	c.is_signed = -1;
	if (strcmp(fn, "uniform_quantization") == 0) {
		c.scheme = "uniform";
		c.variant = "clip";
	} else {
		c.scheme = additive == 0 ? "pot" : "apot";
		c.variant = variant[0] ? variant : NULL;
	}
	struct quant *q = make(&c, path);
	if (!q)
		return;
	check_fwd_bwd(q, g, path);
	double dalpha = fixture_attr(g, "dalpha");
	tap_ok(rel_ok(q->dalpha, dalpha, 1e-5), "%s: dalpha %.9g, want %.9g", path, q->dalpha,
	       dalpha);
	quant_free(q);
}

static void
apot_levels_case(hid_t g, const char *path, void *ctx)
{
	(void)ctx;
	size_t n;
	float *v = fixture_floats(g, "values", &n), got[64];
	int B = (int)fixture_attr(g, "B"), additive = (int)fixture_attr(g, "additive");
	int m = quant_apot_build_levels(got, B, additive);
	tap_eq_int(m, (long)n, "%s: level count", path);
	if ((size_t)m == n)
		tap_near_arrays(got, v, n, 1e-7, 0, "%s: levels", path);
	free(v);
}

static void
first_last_case(hid_t g, const char *path, void *ctx)
{
	(void)ctx;
	size_t n;
	float *x = fixture_floats(g, "x", &n), *y = fixture_floats(g, "y", NULL);
	float *yo = xmalloc(n * sizeof *yo);
	quant_apot_first_last(yo, x, n);
	tap_near_arrays(yo, y, n, 1e-7, 1e-6, "%s: y", path);
	free(x);
	free(y);
	free(yo);
}

/*
 * QuantConv2d: Ŵ = WN(W), weight and input quantizers, conv (no bias); the
 * backward goes through the quantizers' STEs and the normalisation.
 */
static void
conv_case(hid_t g, const char *path, void *ctx)
{
	(void)ctx;
	size_t nx, nw, ny;
	float *x = fixture_floats(g, "x", &nx), *w = fixture_floats(g, "weight", &nw);
	float *y = fixture_floats(g, "y", &ny), *go = fixture_floats(g, "grad_out", NULL);
	float *gx = fixture_floats(g, "grad_x", NULL), *gw = fixture_floats(g, "grad_weight", NULL);
	int bits = (int)fixture_attr(g, "bits"), power = (int)fixture_attr(g, "power");
	int stride = (int)fixture_attr(g, "stride"), pad = (int)fixture_attr(g, "padding");
	int B = 2, C = 4, H = 5, W = 5, OC = 3, K = 3;
	tap_ok(nx == (size_t)(B * C * H * W) && nw == (size_t)(OC * C * K * K), "%s: shapes", path);
	int additive = (int)fixture_attr(g, "additive");
	struct quant_config cw = {.scheme = !power ? "uniform" : additive ? "apot" : "pot",
				  .variant = power ? NULL : "clip",
				  .bits = bits,
				  .role = QUANT_ROLE_WEIGHT,
				  .alpha = (float)fixture_attr(g, "weight_alpha"),
				  .is_signed = -1};
	struct quant_config ca = cw;
	ca.role = QUANT_ROLE_ACT;
	ca.alpha = (float)fixture_attr(g, "act_alpha");
	struct quant *qw = make(&cw, path), *qa = make(&ca, path);
	float *what = xmalloc(nw * 4), *wq = xmalloc(nw * 4), *xq = xmalloc(nx * 4);
	float *yo = xmalloc(ny * 4), *dxq = xcalloc(nx, 4), *dwq = xcalloc(nw, 4);
	float *dwhat = xcalloc(nw, 4), *dw = xcalloc(nw, 4), *dx = xcalloc(nx, 4);
	float *scratch = xcalloc(conv2d_scratch_floats(B, C, H, W, OC, K, stride, pad) + 1, 4);
	float mean, sd;
	quant_wn_forward(what, &mean, &sd, w, nw);
	quant_forward(qw, wq, what, nw, 1);
	quant_forward(qa, xq, x, nx, 1);
	conv2d_forward(yo, xq, wq, NULL, B, C, H, W, OC, K, stride, pad, scratch);
	tap_near_arrays(yo, y, ny, 1e-5, 1e-5, "%s: y", path);
	conv2d_backward(dxq, dwq, NULL, go, xq, wq, B, C, H, W, OC, K, stride, pad, scratch);
	quant_zero_grad(qw);
	quant_zero_grad(qa);
	quant_backward(qa, dx, dxq, x, nx);
	quant_backward(qw, dwhat, dwq, what, nw);
	quant_wn_backward(dw, dwhat, what, sd, nw);
	tap_near_arrays(dx, gx, nx, 1e-5, 1e-5, "%s: grad_x", path);
	tap_near_arrays(dw, gw, nw, 1e-4, 1e-4, "%s: grad_weight", path);
	double dwa = fixture_attr(g, "dweight_alpha"), daa = fixture_attr(g, "dact_alpha");
	tap_ok(rel_ok(qw->dalpha, dwa, 1e-4), "%s: dweight_alpha %.9g, want %.9g", path,
	       qw->dalpha, dwa);
	tap_ok(rel_ok(qa->dalpha, daa, 1e-4), "%s: dact_alpha %.9g, want %.9g", path, qa->dalpha,
	       daa);
	quant_free(qw);
	quant_free(qa);
	free(x), free(w), free(y), free(go), free(gx), free(gw), free(what), free(wq);
	free(xq), free(yo), free(dxq), free(dwq), free(dwhat), free(dw), free(dx), free(scratch);
}

static void
test_apot_fixtures(void)
{
	hid_t f = fixture_open("apot.h5");
	if (f < 0)
		return;
	static const char *const groups[] = {"act",   "weight", "pot",    "uniform",
					     "cifar", "golden", "weight2_calibrated"};
	for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++)
		tap_ok(fixture_each(f, groups[i], apot_case, NULL) > 0, "apot.h5 %s has cases",
		       groups[i]);
	fixture_each(f, "levels", apot_levels_case, NULL);
	fixture_each(f, "first_last", first_last_case, NULL);
	fixture_each(f, "conv", conv_case, NULL);
	H5Fclose(f);
}

/* ---- lcq.h5 ---- */

static void
lcq_case(hid_t g, const char *path, void *ctx)
{
	(void)ctx;
	char mode[64];
	fixture_attr_str(g, "mode", mode, sizeof mode);
	struct quant_config c = {.scheme = "lcq",
				 .bits = (int)fixture_attr(g, "bits"),
				 .alpha = (float)fixture_attr(g, "alpha"),
				 .role = strcmp(mode, "weight") == 0 ? QUANT_ROLE_WEIGHT
								     : QUANT_ROLE_ACT};
	struct quant *q = make(&c, path);
	if (!q)
		return;
	float *theta = fixture_floats(g, "theta", NULL);
	if (theta)
		memcpy(q->theta, theta, sizeof q->theta);
	size_t nl;
	float *lv = fixture_floats(g, "levels", &nl), got[QUANT_MAX_LEVELS];
	int m = quant_levels(q, got, QUANT_MAX_LEVELS);
	tap_eq_int(m, (long)nl, "%s: level count", path);
	if ((size_t)m == nl)
		tap_near_arrays(got, lv, nl, 1e-6, 1e-6, "%s: levels", path);
	check_fwd_bwd(q, g, path);
	double dalpha = fixture_attr(g, "dalpha");
	tap_ok(rel_ok(q->dalpha, dalpha, 1e-5), "%s: dalpha %.9g, want %.9g", path, q->dalpha,
	       dalpha);
	if (theta) {
		float *gam = fixture_floats(g, "gamma", NULL);
		float *bet = fixture_floats(g, "beta", NULL);
		float *dth = fixture_floats(g, "dtheta", NULL);
		float *dga = fixture_floats(g, "dgamma", NULL);
		float *dbe = fixture_floats(g, "dbeta", NULL), gg[QUANT_LCQ_K], bb[QUANT_LCQ_K];
		float t[QUANT_LCQ_K], tg[QUANT_LCQ_K], tb[QUANT_LCQ_K];
		quant_lcq_gamma_beta(gg, bb, q->theta);
		tap_near_arrays(gg, gam, QUANT_LCQ_K, 1e-6, 1e-6, "%s: gamma", path);
		tap_near_arrays(bb, bet, QUANT_LCQ_K, 1e-6, 1e-6, "%s: beta", path);
		double sum = 0, asum = 0, mx = 0;
		for (int k = 0; k < QUANT_LCQ_K; k++) {
			t[k] = (float)q->dtheta[k];
			tg[k] = (float)q->dgamma[k];
			tb[k] = (float)q->dbeta[k];
			sum += q->dtheta[k];
			asum += fabs(q->dtheta[k]);
			mx = fmax(mx, fabs(dga[k]));
		}
		double tol = 1e-5 * fmax(1.0, mx);
		/*
		 * dgamma[k] adds compressor-path and expander-path terms of opposite
		 * signs that largely cancel, so the float32 reference carries ~1e-4 of
		 * the largest entry there; dtheta itself is held to the 1e-5 bound.
		 */
		tap_near_arrays(tg, dga, QUANT_LCQ_K, 1e-4 * fmax(1.0, mx), 1e-5, "%s: dgamma", path);
		tap_near_arrays(tb + 1, dbe + 1, QUANT_LCQ_K - 1, tol, 1e-5, "%s: dbeta[1:]", path);
		tap_near_arrays(t, dth, QUANT_LCQ_K, tol, 1e-5, "%s: dtheta", path);
		/* softmax sums to 1 only to float precision: Σ dθ = (1 - Σp)·(p·dp) */
		tap_ok(fabs(sum) < 1e-6 * fmax(1.0, asum), "%s: sum dtheta = %g ~ 0", path, sum);
		free(gam), free(bet), free(dth), free(dga), free(dbe);
	}
	free(theta);
	free(lv);
	quant_free(q);
}

static void
test_lcq_fixtures(void)
{
	hid_t f = fixture_open("lcq.h5");
	if (f < 0)
		return;
	static const char *const groups[] = {"act", "weight", "golden"};
	for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++)
		tap_ok(fixture_each(f, groups[i], lcq_case, NULL) > 0, "lcq.h5 %s has cases",
		       groups[i]);
	H5Fclose(f);
}

/* ---- qnn.h5 ---- */

/*
 * Deterministic binarization (det/) and its hardtanh STE (ste_hardtanh/):
 * ctx points to the quantizer's role, weight or activation.
 */
static void
qnn_det_case(hid_t g, const char *path, void *ctx)
{
	struct quant_config c = {.scheme = "qnn", .bits = 1, .variant = "det",
				 .role = *(const enum quant_role *)ctx, .sign0_zero = 1};
	struct quant *q = make(&c, path);
	if (!q)
		return;
	check_fwd_bwd(q, g, path);
	quant_free(q);
}

/* Stochastic binarization: empirical P(+1) within 5 binomial sigmas of sigma(x). */
static void
qnn_stoch_case(hid_t g, const char *path, void *ctx)
{
	(void)ctx;
	size_t n;
	float *x = fixture_floats(g, "x", &n), *sig = fixture_floats(g, "sigma", NULL);
	struct quant_config c = {.scheme = "qnn", .bits = 1, .variant = "stoch",
				 .role = QUANT_ROLE_ACT, .seed = 11};
	struct quant *q = make(&c, path);
	enum { DRAWS = 2000 };
	float *xs = xmalloc(n * DRAWS * sizeof *xs), *ys = xmalloc(n * DRAWS * sizeof *ys);
	for (size_t d = 0; d < DRAWS; d++)
		memcpy(xs + d * n, x, n * sizeof *x);
	quant_forward(q, ys, xs, n * DRAWS, 1);
	int bad = 0;
	size_t first = 0;
	double worst = 0;
	for (size_t i = 0; i < n; i++) {
		double plus = 0;
		for (size_t d = 0; d < DRAWS; d++)
			plus += ys[d * n + i] > 0;
		double p = sig[i], sd = sqrt(p * (1 - p) / DRAWS), z = fabs(plus / DRAWS - p);
		if (z > 5 * sd + 1e-12) {
			if (!bad)
				first = i;
			bad++;
			worst = fmax(worst, z);
		}
	}
	tap_ok(!bad, "%s: P(+1) = sigma(x) within 5 sigma (%d bad, first %zu, worst %g)", path,
	       bad, first, worst);
	quant_free(q);
	free(x), free(sig), free(xs), free(ys);
}

static void
qnn_ap2_case(hid_t g, const char *path, void *ctx)
{
	(void)ctx;
	size_t n;
	float *x = fixture_floats(g, "x", &n), *y = fixture_floats(g, "y", NULL);
	float *yo = xmalloc(n * sizeof *yo);
	for (size_t i = 0; i < n; i++)
		yo[i] = quant_ap2(x[i]);
	tap_near_arrays(yo, y, n, 0, 0, "%s: AP2", path);
	free(x), free(y), free(yo);
}

/* BinarizeLinear: y = sign(x) sign(W)^T + b with identity STEs on both binarizations. */
static void
qnn_linear_case(hid_t g, const char *path, void *ctx)
{
	(void)ctx;
	size_t nx, nw, no;
	float *x = fixture_floats(g, "x", &nx), *w = fixture_floats(g, "weight", &nw);
	float *b = fixture_floats(g, "bias", &no), *y = fixture_floats(g, "y", NULL);
	float *go = fixture_floats(g, "grad_out", NULL), *gx = fixture_floats(g, "grad_x", NULL);
	float *gw = fixture_floats(g, "grad_weight", NULL);
	float *gb = fixture_floats(g, "grad_bias", NULL);
	int O = (int)no, I = (int)(nw / no), N = (int)(nx / (size_t)I);
	struct quant_config c = {.scheme = "qnn", .bits = 1, .variant = "det",
				 .role = QUANT_ROLE_WEIGHT, .sign0_zero = 1};
	struct quant *q = make(&c, path);
	float *xb = xmalloc(nx * 4), *wb = xmalloc(nw * 4), *yo = xmalloc((size_t)(N * O) * 4);
	float *dxb = xcalloc(nx, 4), *dwb = xcalloc(nw, 4), *dx = xcalloc(nx, 4);
	float *dw = xcalloc(nw, 4), *db = xcalloc(no, 4);
	quant_forward(q, xb, x, nx, 0);
	quant_forward(q, wb, w, nw, 0);
	linear_forward(yo, xb, wb, b, N, I, O);
	tap_near_arrays(yo, y, (size_t)(N * O), 1e-6, 1e-6, "%s: y", path);
	linear_backward(dxb, dwb, db, go, xb, wb, N, I, O);
	quant_backward(q, dx, dxb, x, nx);
	quant_backward(q, dw, dwb, w, nw);
	tap_near_arrays(dx, gx, nx, 1e-6, 1e-6, "%s: grad_x", path);
	tap_near_arrays(dw, gw, nw, 1e-6, 1e-6, "%s: grad_weight", path);
	tap_near_arrays(db, gb, no, 1e-6, 1e-6, "%s: grad_bias", path);
	quant_free(q);
	free(x), free(w), free(b), free(y), free(go), free(gx), free(gw), free(gb);
	free(xb), free(wb), free(yo), free(dxb), free(dwb), free(dx), free(dw), free(db);
}

/* Squared-free hinge loss mean(max(0, 1 - x t)) and its gradient: the BNN output loss. */
static void
qnn_hinge_case(hid_t g, const char *path, void *ctx)
{
	(void)ctx;
	size_t n;
	float *x = fixture_floats(g, "x", &n), *t = fixture_floats(g, "target", NULL);
	float *gx = fixture_floats(g, "grad_x", NULL), *d = xcalloc(n, 4);
	double loss = 0;
	for (size_t i = 0; i < n; i++) {
		float m = 1.0f - x[i] * t[i];
		loss += m > 0 ? m : 0;
		d[i] = m > 0 ? -t[i] / (float)n : 0.0f;
	}
	loss /= (double)n;
	tap_ok(rel_ok(loss, fixture_attr(g, "loss"), 1e-6), "%s: loss %.9g", path, loss);
	tap_near_arrays(d, gx, n, 1e-9, 1e-6, "%s: grad_x", path);
	free(x), free(t), free(gx), free(d);
}

static void
test_qnn_fixtures(void)
{
	enum quant_role weight = QUANT_ROLE_WEIGHT, act = QUANT_ROLE_ACT;
	hid_t f = fixture_open("qnn.h5");
	if (f < 0)
		return;
	tap_ok(fixture_each(f, "det", qnn_det_case, &weight) > 0, "qnn.h5 det has cases");
	tap_ok(fixture_each(f, "ste_hardtanh", qnn_det_case, &act) > 0,
	       "qnn.h5 ste_hardtanh has cases");
	tap_ok(fixture_each(f, "stoch_prob", qnn_stoch_case, NULL) > 0,
	       "qnn.h5 stoch_prob has cases");
	tap_ok(fixture_each(f, "ap2", qnn_ap2_case, NULL) > 0, "qnn.h5 ap2 has cases");
	tap_ok(fixture_each(f, "binarize_linear", qnn_linear_case, NULL) > 0,
	       "qnn.h5 binarize_linear");
	tap_ok(fixture_each(f, "hinge", qnn_hinge_case, NULL) > 0, "qnn.h5 hinge has cases");
	H5Fclose(f);
}

/* ---- adaround.h5 lsq ---- */

static void
lsq_case(hid_t g, const char *path, void *ctx)
{
	(void)ctx;
	size_t ns;
	float *scale = fixture_floats(g, "scale", &ns), *gs = fixture_floats(g, "grad_scale", NULL);
	struct quant_config c = {.scheme = "uniform",
				 .variant = "lsq",
				 .bits = (int)fixture_attr(g, "bits"),
				 .role = QUANT_ROLE_WEIGHT,
				 .channels = (int)ns,
				 .scale = scale,
				 .zero_point = (int)fixture_attr(g, "zero_point"),
				 .is_signed = (int)fixture_attr(g, "symmetric"),
				 .grad_scale = (int)fixture_attr(g, "use_grad_scaling")};
	struct quant *q = make(&c, path);
	if (!q)
		return;
	tap_ok(q->qmin == (int)fixture_attr(g, "quant_min") &&
		       q->qmax == (int)fixture_attr(g, "quant_max"),
	       "%s: grid [%d, %d]", path, q->qmin, q->qmax);
	check_fwd_bwd(q, g, path);
	float *ds = xmalloc(ns * sizeof *ds);
	double mx = 0;
	for (size_t i = 0; i < ns; i++) {
		ds[i] = (float)q->dscale[i];
		mx = fmax(mx, fabs(gs[i]));
	}
	tap_near_arrays(ds, gs, ns, 1e-5 * fmax(mx, 1e-3), 1e-5, "%s: grad_scale", path);
	free(ds), free(scale), free(gs);
	quant_free(q);
}

static void
test_lsq_fixtures(void)
{
	hid_t f = fixture_open("adaround.h5");
	if (f < 0)
		return;
	tap_ok(fixture_each(f, "lsq", lsq_case, NULL) > 0, "adaround.h5 lsq has cases");
	H5Fclose(f);
}

int
main(void)
{
	test_apot_fixtures();
	test_lcq_fixtures();
	test_qnn_fixtures();
	test_lsq_fixtures();
	return tap_done();
}
