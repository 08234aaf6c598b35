/*
 * test_round: the rounding borders of engine/ptq/round against the golden
 * fixture tests/fixtures/adaround.h5 (rectified sigmoid, AdaRound init, soft
 * and hard rounding; its LSQ cases test the registry in test_quant), the
 * AdaRound gradients by central differences, and the
 * invariants of the AQuant-style border (METHODS §5.4): φ = 0 is the uniform
 * quantizer bit for bit, thresholds increase, outputs stay on the grid, the
 * soft decision tends to the hard one, its gradients match central
 * differences, the two-number optimum minimises the product error, and the
 * result does not depend on the number of threads.
 *
 * Tolerances (fixtures README): outputs and element gradients 1e-6 relative
 * (plus 1e-6 absolute near 0), summed gradients 1e-5 relative. `on_grid`
 * entries of the adaround cases are left out of v_init, h_init and grad_v,
 * whose values there hinge on whether frac(x/s) came out as 0 or 1 - ε.
 */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "engine/ptq/round.h"
#include "engine/quant/quant.h"
#include "engine/rng.h"
#include "engine/util.h"
#include "tests/unit/fixture.h"
#include "tests/unit/tap.h"

static struct rng g_rng;

static float *
zeros(size_t n)
{
	return xcalloc(n ? n : 1, sizeof(float));
}

static float
uniform(float lo, float hi)
{
	return lo + (hi - lo) * rng_uniform(&g_rng);
}

/* ---- adaround.h5: rectified_sigmoid ---- */

static void
rsig_case(hid_t g, const char *path, void *ctx)
{
	(void)ctx;
	size_t n;
	float *x = fixture_floats(g, "x", &n), *y = fixture_floats(g, "y", NULL);
	float *go = fixture_floats(g, "grad_out", NULL), *gx = fixture_floats(g, "grad_x", NULL);
	float *h = zeros(n), *dv = zeros(n);
	for (size_t i = 0; i < n; i++) {
		h[i] = round_h(x[i]);
		dv[i] = go[i] * round_dh(x[i]);
	}
	tap_near_arrays(h, y, n, 1e-6, 1e-6, "%s: h(V)", path);
	tap_near_arrays(dv, gx, n, 1e-7, 1e-6, "%s: dL/dV", path);
	free(x), free(y), free(go), free(gx), free(h), free(dv);
}

/* ---- adaround.h5: adaround ---- */

/* got[i] = want[i] where mask[i]: leaves those entries out of a comparison. */
static void
mask_out(float *got, const float *want, const int32_t *mask, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (mask[i])
			got[i] = want[i];
}

static void
ada_case(hid_t g, const char *path, void *ctx)
{
	(void)ctx;
	size_t n, nc;
	float *x = fixture_floats(g, "x", &n), *scale = fixture_floats(g, "scale", &nc);
	int32_t *zp = fixture_ints(g, "zero_point", NULL);
	int32_t *on_grid = fixture_ints(g, "on_grid", NULL);
	float *v_init = fixture_floats(g, "v_init", NULL);
	float *h_init = fixture_floats(g, "h_init", NULL);
	float *y = fixture_floats(g, "y", NULL), *go = fixture_floats(g, "grad_out", NULL);
	float *grad_v = fixture_floats(g, "grad_v", NULL);
	float *y_hard = fixture_floats(g, "y_hard", NULL);
	struct round_grid gr = {.channels = (int)nc,
				.scale = scale,
				.zero_point = zp,
				.qmin = (int)fixture_attr(g, "quant_min"),
				.qmax = (int)fixture_attr(g, "quant_max")};
	float *v = zeros(n), *h = zeros(n), *got = zeros(n), *codesf = zeros(n);
	int32_t *codes = xcalloc(n, sizeof *codes);
	size_t grid_pts = 0;
	for (size_t i = 0; i < n; i++)
		grid_pts += on_grid[i] != 0;

	round_ada_init(v, x, n, &gr);
	for (size_t i = 0; i < n; i++)
		h[i] = round_h(v[i]);
	mask_out(v, v_init, on_grid, n);
	mask_out(h, h_init, on_grid, n);
	tap_near_arrays(v, v_init, n, 1e-5, 1e-5, "%s: v_init (%zu on-grid entries left out)",
			path, grid_pts);
	tap_near_arrays(h, h_init, n, 1e-6, 1e-6, "%s: h(v_init) = frac(x/s)", path);

	round_ada_soft(got, x, v_init, n, &gr);
	tap_near_arrays(got, y, n, 1e-6, 1e-6, "%s: soft y", path);

	memset(got, 0, n * sizeof *got);
	round_ada_soft_backward(got, go, x, v_init, n, &gr);
	mask_out(got, grad_v, on_grid, n);
	tap_near_arrays(got, grad_v, n, 1e-7, 1e-6, "%s: grad_v", path);

	round_ada_hard(got, codes, x, v_init, n, &gr);
	tap_near_arrays(got, y_hard, n, 1e-6, 1e-6, "%s: y_hard", path);
	size_t per = n / nc;
	for (size_t i = 0; i < n; i++)
		codesf[i] = (float)codes[i] * scale[i / per];
	tap_same_floats(codesf, got, n, "%s: y_hard = codes·s", path);
	/* at initialisation the hard rounding is round-to-nearest, on the grid too */
	round_ada_init(v, x, n, &gr);
	round_ada_hard(got, NULL, x, v, n, &gr);
	tap_near_arrays(got, y_hard, n, 1e-6, 1e-6, "%s: y_hard from our own init (all entries)",
			path);

	free(x), free(scale), free(zp), free(on_grid), free(v_init), free(h_init), free(y);
	free(go), free(grad_v), free(y_hard), free(v), free(h), free(got), free(codesf);
	free(codes);
}

static void
test_fixtures(void)
{
	hid_t f = fixture_open("adaround.h5");
	if (f < 0)
		return;
	tap_ok(fixture_each(f, "rectified_sigmoid", rsig_case, NULL) > 0,
	       "rectified_sigmoid has cases");
	tap_ok(fixture_each(f, "adaround", ada_case, NULL) > 0, "adaround has cases");
	H5Fclose(f);
}

/* ---- AdaRound gradients ---- */

/* h(V) in double, from its definition. */
static double
h_double(double v)
{
	double u = (1.1 - -0.1) / (1.0 + exp(-v)) - 0.1;
	return u < 0 ? 0 : u > 1 ? 1 : u;
}

static void
test_ada_reg(void)
{
	enum { N = 24 };
	float v[N], dv[N];
	for (int i = 0; i < N; i++)
		v[i] = uniform(-2.3f, 2.3f);
	v[0] = 0.0f;  /* h = 1/2: the term is 1 */
	v[1] = 5.0f;  /* h = 1: the term is 0 */
	v[2] = -5.0f; /* h = 0 */
	const float betas[] = {2.0f, 3.5f, 20.0f}, lambda = 0.01f;
	for (size_t b = 0; b < sizeof betas / sizeof betas[0]; b++) {
		float beta = betas[b];
		double want = 0;
		for (int i = 0; i < N; i++)
			want += 1.0 - pow(fabs(2.0 * h_double(v[i]) - 1.0), beta);
		want *= lambda;
		memset(dv, 0, sizeof dv);
		double got = round_ada_reg(v, N, beta, lambda, dv);
		tap_near(got, want, 1e-6 * fabs(want), "reg beta %g: value %.9g, want %.9g",
			 (double)beta, got, want);
		tap_near(round_ada_reg(v, 3, beta, lambda, NULL), lambda, 1e-6,
			 "reg beta %g: h = 1/2, 1, 0 give lambda·(1 + 0 + 0)", (double)beta);
		/* central differences with the perturbation actually representable */
		double worst = 0;
		int bad = -1;
		for (int i = 0; i < N; i++) {
			float hp = v[i] + 1e-3f, hm = v[i] - 1e-3f;
			double fp = round_ada_reg(&hp, 1, beta, lambda, NULL);
			double fm = round_ada_reg(&hm, 1, beta, lambda, NULL);
			double fd = (fp - fm) / ((double)hp - (double)hm);
			double err = fabs(fd - dv[i]) / (1e-6 + 1e-3 * fabs(fd));
			if (err > worst) {
				worst = err;
				bad = i;
			}
		}
		tap_ok(worst <= 1.0, "reg beta %g: gradient = central differences (worst %.3g at %d)",
		       (double)beta, worst, bad);
	}
}

static void
test_ada_soft_gradient(void)
{
	enum { C = 4, PER = 30, N = C * PER };
	float scale[C], w[N], v[N], vp[N], vm[N], dy[N], yp[N], ym[N], dv[N];
	int32_t zp[C];
	struct round_grid gr = {.channels = C, .scale = scale, .zero_point = zp, .qmin = 0,
				.qmax = 15};
	int outside = 0;
	for (int c = 0; c < C; c++) {
		scale[c] = uniform(0.05f, 0.5f);
		zp[c] = c + 2;
	}
	for (int i = 0; i < N; i++) {
		int c = i / PER;
		float lo = (float)(gr.qmin - zp[c]), hi = (float)(gr.qmax - zp[c] - 1);
		float t = uniform(lo, hi);
		if (i % 10 == 3) { /* clamped: floor + h + zp below qmin or above qmax */
			t = (i % 20 == 3) ? lo - 2.5f : hi + 2.5f;
			outside++;
		}
		w[i] = t * scale[c];
		v[i] = uniform(-2.0f, 2.0f);
		vp[i] = v[i] + 1e-2f;
		vm[i] = v[i] - 1e-2f;
		dy[i] = uniform(-1.0f, 1.0f);
		dv[i] = 0.5f;
	}
	round_ada_soft_backward(dv, dy, w, v, N, &gr);
	round_ada_soft(yp, w, vp, N, &gr);
	round_ada_soft(ym, w, vm, N, &gr);
	double worst = 0;
	int bad = -1, zero_ok = 1;
	for (int i = 0; i < N; i++) {
		float s = scale[i / PER];
		double fd = (double)dy[i] * ((double)yp[i] - ym[i]) / ((double)vp[i] - vm[i]);
		double g = (double)dv[i] - 0.5; /* accumulates onto 0.5 */
		double err = fabs(g - fd) / (1e-3 * (fabs(fd) + s * fabs(dy[i])));
		if (err > worst) {
			worst = err;
			bad = i;
		}
		if (i % 10 == 3)
			zero_ok &= dv[i] == 0.5f && fd == 0;
	}
	tap_ok(worst <= 1.0, "ada soft backward = central differences (worst %.3g at %d)", worst,
	       bad);
	tap_ok(zero_ok && outside > 0, "ada soft backward: %d clamped weights get no gradient",
	       outside);
}

/* ---- AQuant-style border ---- */

/* A border over C channels of P elements with one grid, and its writable step and zero point. */
struct tborder {
	struct round_border b;
	float *scale;
	int32_t *zp;
};

/* Free with tborder_free. */
static struct tborder
tborder_make(enum round_border_kind kind, int C, int P, int qmin, int qmax)
{
	struct tborder t = {.b = {.kind = kind, .plane = P, .bins = qmax - qmin}};
	t.scale = xcalloc((size_t)C, sizeof *t.scale);
	t.zp = xcalloc((size_t)C, sizeof *t.zp);
	t.b.grid = (struct round_grid){.channels = C, .scale = t.scale, .zero_point = t.zp,
				       .qmin = qmin, .qmax = qmax};
	size_t m = (size_t)C * round_border_params(&t.b);
	t.b.phi = xcalloc(m, sizeof *t.b.phi);
	t.b.dphi = xcalloc(m, sizeof *t.b.dphi);
	return t;
}

static void
tborder_free(struct tborder *t)
{
	free(t->scale);
	free(t->zp);
	free(t->b.phi);
	free(t->b.dphi);
}

static size_t
border_nphi(const struct round_border *b)
{
	return (size_t)b->grid.channels * round_border_params(b);
}

static void
random_phi(struct round_border *b)
{
	size_t m = border_nphi(b);
	for (size_t j = 0; j < m; j++) {
		if (b->kind == ROUND_BORDER_BIN)
			b->phi[j] = j % 11 == 5 ? (j % 2 ? 20.0f : -20.0f) : 2.0f * rng_normal(&g_rng);
		else
			b->phi[j] = j % 2 == 0 ? uniform(-1.5f, 1.5f) : uniform(-0.7f, 0.7f);
	}
}

/* Channel of element i. */
static int
chan_of(const struct round_border *b, size_t i)
{
	return (int)((i / (size_t)b->plane) % (size_t)b->grid.channels);
}

/*
 * Scalar model of the hard decision written from the header's contract,
 * through round_border_value.
 */
static float
border_ref(const struct round_border *b, float x, int c)
{
	float s = b->grid.scale[c], zp = (float)b->grid.zero_point[c];
	float v = x / s, f = floorf(v), r = v - f;
	int k = (int)fminf(fmaxf(f + zp - (float)b->grid.qmin, 0.0f), (float)(b->bins - 1));
	float bd = round_border_value(b, c, k, v);
	float up = r > bd || (r == bd && fmodf(f, 2.0f) != 0.0f) ? 1.0f : 0.0f;
	float q = f + up + zp, qmin = (float)b->grid.qmin, qmax = (float)b->grid.qmax;
	q = q < qmin ? qmin : q > qmax ? qmax : q;
	return (q - zp) * s;
}

/* Random activation for channel c: inside the grid mostly, some beyond, ties and grid points. */
static float
random_x(const struct round_border *b, int c, int i)
{
	float s = b->grid.scale[c];
	int zp = b->grid.zero_point[c];
	float lo = (float)(b->grid.qmin - zp), hi = (float)(b->grid.qmax - zp);
	int k = (int)floorf(uniform(lo - 2.0f, hi + 2.0f));
	switch (i % 5) {
	case 0:
		return ((float)k + 0.5f) * s; /* a tie of round-to-nearest */
	case 1:
		return (float)k * s; /* on the grid */
	default:
		return uniform(lo - 3.0f, hi + 3.0f) * s;
	}
}

/* Border with φ = 0 against the registry's uniform quantizer with the same grid. */
static void
check_nearest(enum round_border_kind kind, int is_signed, int zp, int per_channel, float s0)
{
	const int bits = 4, Bn = per_channel ? 1 : 4, C = 3, P = 50;
	size_t n = (size_t)Bn * C * P;
	float scale[3];
	for (int c = 0; c < C; c++)
		scale[c] = per_channel ? s0 * (1.0f + 0.37f * (float)c) : s0;
	struct quant_config qc = {.scheme = "uniform",
				  .variant = "lsq",
				  .bits = bits,
				  .role = is_signed ? QUANT_ROLE_WEIGHT : QUANT_ROLE_ACT,
				  .channels = per_channel ? C : 1,
				  .scale = scale,
				  .zero_point = zp,
				  .is_signed = is_signed};
	struct quant *q = NULL;
	char *cause = NULL;
	if (quant_new(&q, &qc, &cause) < 0) {
		tap_ok(0, "uniform quantizer: %s", cause);
		free(cause);
		return;
	}
	struct tborder tb = tborder_make(kind, C, P, q->qmin, q->qmax);
	for (int c = 0; c < C; c++) {
		tb.scale[c] = scale[c];
		tb.zp[c] = zp;
	}
	float *x = zeros(n), *yb = zeros(n), *yq = zeros(n);
	int ties = 0;
	for (size_t i = 0; i < n; i++) {
		int c = chan_of(&tb.b, i);
		x[i] = random_x(&tb.b, c, (int)i);
		float v = x[i] / scale[c];
		ties += v - floorf(v) == 0.5f;
	}
	x[0] = -0.0f;
	x[1] = -0.5f * scale[0];
	round_border_forward(&tb.b, yb, x, n, 0.0f);
	quant_forward(q, yq, x, n, 0);
	tap_same_floats(yb, yq, n,
			"%s border, phi = 0, %s grid [%d, %d] zp %d, step %g%s: bit-identical to "
			"uniform (%d ties)",
			kind == ROUND_BORDER_BIN ? "BIN" : "LINEAR", is_signed ? "signed" : "unsigned",
			q->qmin, q->qmax, zp, (double)s0, per_channel ? " per channel" : "", ties);
	tap_ok(ties > 0, "  the inputs hold exact ties (%d of %zu)", ties, n);
	free(x), free(yb), free(yq);
	tborder_free(&tb);
	quant_free(q);
}

static void
test_border_nearest(void)
{
	for (int kind = 0; kind < 2; kind++)
		for (int is_signed = 0; is_signed < 2; is_signed++)
			for (int pc = 0; pc < 2; pc++) {
				int zp = is_signed ? -1 : 3;
				check_nearest(kind, is_signed, 0, pc, 0.0625f);
				check_nearest(kind, is_signed, zp, pc, 0.173f);
			}
}

/*
 * Locates the decision threshold of every bin of every channel by bisection
 * and checks: one switch per bin (a scan of NS points is non-decreasing),
 * a grid point stays, the thresholds lie strictly inside their bins and
 * increase, and they sit where the border says.
 */
static void
check_thresholds(enum round_border_kind kind, int bits, int is_signed, int zp, int C)
{
	enum { NS = 32 };
	int qmin = is_signed ? -(1 << (bits - 1)) : 0;
	int qmax = is_signed ? (1 << (bits - 1)) - 1 : (1 << bits) - 1;
	int bins = qmax - qmin;
	struct tborder tb = tborder_make(kind, C, bins * NS, qmin, qmax);
	for (int c = 0; c < C; c++) {
		tb.scale[c] = uniform(0.05f, 0.6f);
		tb.zp[c] = zp;
	}
	random_phi(&tb.b);
	const char *kn = kind == ROUND_BORDER_BIN ? "BIN" : "LINEAR";
	size_t n = (size_t)C * bins * NS;
	float *x = zeros(n), *y = zeros(n);
	/* scan: NS points inside each bin, r = (j + 1/2)/NS */
	for (int c = 0; c < C; c++)
		for (int k = 0; k < bins; k++)
			for (int j = 0; j < NS; j++) {
				float f = (float)(k + qmin - zp);
				x[((size_t)c * bins + k) * NS + j] =
					(f + ((float)j + 0.5f) / NS) * tb.b.grid.scale[c];
			}
	round_border_forward(&tb.b, y, x, n, 0.0f);
	int monotone = 1;
	for (int c = 0; c < C; c++)
		for (int k = 0; k < bins; k++) {
			float s = tb.b.grid.scale[c];
			double prev = -INFINITY;
			for (int j = 0; j < NS; j++) {
				double code = nearbyint((double)y[((size_t)c * bins + k) * NS + j] / s) + zp;
				monotone &= code >= prev && (code == k + qmin || code == k + qmin + 1);
				prev = code;
			}
		}
	tap_ok(monotone, "%s %d-bit %s: inside each bin the code goes from k to k+1 once", kn, bits,
	       is_signed ? "signed" : "unsigned");
	free(x), free(y);

	/* bisection on x, one probe per bin and channel per round */
	tb.b.plane = bins;
	n = (size_t)C * bins;
	x = zeros(n), y = zeros(n);
	float *lo = zeros(n), *hi = zeros(n), *down = zeros(n);
	for (int c = 0; c < C; c++)
		for (int k = 0; k < bins; k++) {
			float s = tb.b.grid.scale[c], f = (float)(k + qmin - zp);
			lo[c * bins + k] = f * s;
			down[c * bins + k] = f * s; /* the output of rounding down */
			hi[c * bins + k] = (f + 0.9999f) * s;
		}
	round_border_forward(&tb.b, y, lo, n, 0.0f);
	int stays = 1;
	for (size_t i = 0; i < n; i++)
		stays &= y[i] == lo[i];
	round_border_forward(&tb.b, y, hi, n, 0.0f);
	for (size_t i = 0; i < n; i++) {
		float s = tb.b.grid.scale[chan_of(&tb.b, i)];
		stays &= fabsf(y[i] - (lo[i] + s)) <= 1e-5f * s * (1.0f + fabsf(lo[i] / s));
	}
	tap_ok(stays, "%s %d-bit: a grid point keeps its code, r = 0.9999 rounds up", kn, bits);
	for (int it = 0; it < 40; it++) {
		for (size_t i = 0; i < n; i++)
			x[i] = lo[i] + 0.5f * (hi[i] - lo[i]);
		round_border_forward(&tb.b, y, x, n, 0.0f);
		for (size_t i = 0; i < n; i++) {
			if (x[i] == lo[i] || x[i] == hi[i])
				continue;
			if (y[i] == down[i])
				lo[i] = x[i];
			else
				hi[i] = x[i];
		}
	}
	int inside = 1, increasing = 1, where = 1;
	double worst = 0;
	for (int c = 0; c < C; c++) {
		float s = tb.b.grid.scale[c];
		for (int k = 0; k < bins; k++) {
			size_t i = (size_t)c * bins + k;
			double f = k + qmin - zp, t = hi[i] / s;
			inside &= t > f && t < f + 1;
			if (k > 0)
				increasing &= hi[i] > hi[i - 1];
			double bd = round_border_value(&tb.b, c, k, (float)t);
			double err = fabs(t - (f + bd));
			worst = fmax(worst, err);
			where &= err <= 1e-4 * (1.0 + fabs(t) * 0.01);
		}
	}
	tap_ok(inside && increasing,
	       "%s %d-bit: thresholds t_k strictly inside their bins and increasing", kn, bits);
	tap_ok(where, "%s %d-bit: t_k = s·(k + B_k) (worst %.3g steps)", kn, bits, worst);
	free(x), free(y), free(lo), free(hi), free(down);
	tborder_free(&tb);
}

static void
test_border_thresholds(void)
{
	for (int kind = 0; kind < 2; kind++) {
		check_thresholds(kind, 3, 0, 2, 3);
		check_thresholds(kind, 3, 1, 0, 3);
		check_thresholds(kind, 8, 0, 7, 2);
	}
	/* the bounds: saturated φ and a steep slope stay inside (0, 1) */
	struct tborder tb = tborder_make(ROUND_BORDER_BIN, 1, 1, 0, 3);
	tb.b.phi[0] = 50.0f;
	tb.b.phi[1] = -50.0f;
	float b0 = round_border_value(&tb.b, 0, 0, 0.5f), b1 = round_border_value(&tb.b, 0, 1, 1.5f);
	tap_ok(b0 == 1.0f - ROUND_BORDER_EPS && b1 == ROUND_BORDER_EPS,
	       "BIN border clamped to [EPS, 1 - EPS] (%g, %g)", (double)b0, (double)b1);
	tap_ok(round_border_value(&tb.b, 0, -4, 0) == b0 && round_border_value(&tb.b, 0, 9, 0) ==
						       round_border_value(&tb.b, 0, 2, 0),
	       "BIN bins below and above the grid use the first and last border");
	tborder_free(&tb);
	tb = tborder_make(ROUND_BORDER_LINEAR, 1, 1, 0, 3);
	tb.b.phi[0] = 3.0f;
	tb.b.phi[1] = -0.8f;
	float l = round_border_value(&tb.b, 0, 0, 1.0f);
	tap_near(l, 0.5 + ROUND_BORDER_SLOPE_MAX - 0.8, 1e-6,
		 "LINEAR slope capped at SLOPE_MAX (a = 3, d = -0.8: B(1) = %g)", (double)l);
	tborder_free(&tb);
}

/* Hard outputs on the grid, within one step of x inside the range; forward = scalar model. */
static void
check_on_grid(enum round_border_kind kind, int is_signed, int bits)
{
	const int Bn = 11, C = 7, P = 1000;
	int qmin = is_signed ? -(1 << (bits - 1)) : 0;
	int qmax = is_signed ? (1 << (bits - 1)) - 1 : (1 << bits) - 1;
	struct tborder tb = tborder_make(kind, C, P, qmin, qmax);
	for (int c = 0; c < C; c++) {
		tb.scale[c] = uniform(0.01f, 1.0f);
		tb.zp[c] = is_signed ? 0 : c % 4;
	}
	random_phi(&tb.b);
	size_t n = (size_t)Bn * C * P; /* 77000: the parallel path, chunks across planes */
	float *x = zeros(n), *y = zeros(n), *yr = zeros(n);
	for (size_t i = 0; i < n; i++)
		x[i] = random_x(&tb.b, chan_of(&tb.b, i), (int)i);
	round_border_forward(&tb.b, y, x, n, 0.0f);
	int on = 1, range = 1, near = 1;
	for (size_t i = 0; i < n; i++) {
		int c = chan_of(&tb.b, i);
		double s = tb.b.grid.scale[c], zp = tb.b.grid.zero_point[c];
		double code = (double)y[i] / s + zp, rc = nearbyint(code);
		on &= fabs(code - rc) <= 1e-6 * (1.0 + fabs(rc));
		range &= rc >= qmin && rc <= qmax;
		double f = floor((double)(x[i] / (float)s));
		if (f + zp >= qmin && f + zp + 1 <= qmax)
			near &= rc - zp == f || rc - zp == f + 1;
		yr[i] = border_ref(&tb.b, x[i], c);
	}
	const char *kn = kind == ROUND_BORDER_BIN ? "BIN" : "LINEAR";
	tap_ok(on && range, "%s %d-bit %s: hard outputs on the grid, codes in [%d, %d]", kn, bits,
	       is_signed ? "signed" : "unsigned", qmin, qmax);
	tap_ok(near, "%s %d-bit: inside the range the code is floor(x/s) or the next one", kn,
	       bits);
	tap_same_floats(y, yr, n, "%s %d-bit: forward (%zu elements) = scalar model", kn, bits, n);
	free(x), free(y), free(yr);
	tborder_free(&tb);
}

static void
test_border_grid(void)
{
	for (int kind = 0; kind < 2; kind++) {
		check_on_grid(kind, 0, 4);
		check_on_grid(kind, 1, 3);
	}
}

/* The soft decision approaches the hard one as tau -> 0, element by element. */
static void
check_soft_limit(enum round_border_kind kind)
{
	const int C = 3, P = 400;
	size_t n = (size_t)2 * C * P;
	struct tborder tb = tborder_make(kind, C, P, 0, 15);
	for (int c = 0; c < C; c++) {
		tb.scale[c] = uniform(0.05f, 0.5f);
		tb.zp[c] = 2;
	}
	random_phi(&tb.b);
	float *x = zeros(n), *yh = zeros(n), *ys = zeros(n);
	for (size_t i = 0; i < n; i++)
		x[i] = random_x(&tb.b, chan_of(&tb.b, i), 2 + (int)(i % 3));
	round_border_forward(&tb.b, yh, x, n, 0.0f);
	const float taus[] = {0.3f, 0.1f, 0.03f, 0.01f, 1e-3f, 1e-4f};
	double prev = INFINITY, far = 0;
	int decreasing = 1;
	for (size_t t = 0; t < sizeof taus / sizeof taus[0]; t++) {
		round_border_forward(&tb.b, ys, x, n, taus[t]);
		double mean = 0;
		for (size_t i = 0; i < n; i++) {
			int c = chan_of(&tb.b, i);
			double s = tb.b.grid.scale[c], d = fabs((double)ys[i] - yh[i]) / s;
			mean += d / (double)n;
			if (t == sizeof taus / sizeof taus[0] - 1) {
				float v = x[i] / (float)s, f = floorf(v);
				int k = (int)fminf(fmaxf(f + 2.0f, 0.0f), 14.0f);
				if (fabsf(v - f - round_border_value(&tb.b, c, k, v)) > 1e-2f)
					far = fmax(far, d);
			}
		}
		decreasing &= mean <= prev * (1 + 1e-6) + 1e-9;
		prev = mean;
	}
	const char *kn = kind == ROUND_BORDER_BIN ? "BIN" : "LINEAR";
	tap_ok(decreasing, "%s: mean |soft - hard| shrinks as tau decreases (last %.3g steps)", kn,
	       prev);
	tap_ok(far <= 1e-5, "%s: tau = 1e-4, 1e-2 away from the border: soft = hard (%.3g steps)",
	       kn, far);
	free(x), free(yh), free(ys);
	tborder_free(&tb);
}

/* L = Σ dy·y of the soft forward, in double. */
static double
soft_loss(const struct round_border *b, const float *x, const float *dy, float *y, size_t n,
	  float tau)
{
	round_border_forward(b, y, x, n, tau);
	double l = 0;
	for (size_t i = 0; i < n; i++)
		l += (double)dy[i] * y[i];
	return l;
}

/*
 * dphi of the soft decision against central differences of the soft forward;
 * dx is dy inside the grid and 0 beyond. Inputs stay off the kinks: inside
 * [qmin - zp, qmax - zp) or more than a bin beyond it, borders unclamped
 * except where a channel is set to be clamped (its gradient must be 0).
 */
static void
check_border_grad(enum round_border_kind kind)
{
	const int Bn = 3, C = 3, P = 40, qmin = 0, qmax = 7;
	const float tau = 0.5f, h = 1e-2f;
	size_t n = (size_t)Bn * C * P;
	struct tborder tb = tborder_make(kind, C, P, qmin, qmax);
	for (int c = 0; c < C; c++) {
		tb.scale[c] = uniform(0.1f, 0.5f);
		tb.zp[c] = 1;
	}
	size_t m = border_nphi(&tb.b);
	for (size_t j = 0; j < m; j++) {
		if (kind == ROUND_BORDER_BIN)
			tb.b.phi[j] = 0.5f * rng_normal(&g_rng);
		else
			tb.b.phi[j] = j % 2 == 0 ? uniform(-0.04f, 0.04f) : uniform(-0.1f, 0.1f);
	}
	/* channel 2 clamped: BIN bin 3 saturated; LINEAR B >= 1 everywhere, and the slope
	 * of channel 1 above the cap */
	if (kind == ROUND_BORDER_BIN) {
		tb.b.phi[2 * 7 + 3] = 6.0f;
	} else {
		tb.b.phi[2 * 2 + 1] = 2.0f;
		tb.b.phi[2 * 1] = 0.7f;
		/* capped: B(v) = 0.4 + SLOPE_MAX·(v - 3) */
		tb.b.phi[2 * 1 + 1] = -0.1f - ROUND_BORDER_SLOPE_MAX * 3.0f;
	}
	float *x = zeros(n), *dy = zeros(n), *y = zeros(n), *dx = zeros(n);
	int beyond = 0;
	for (size_t i = 0; i < n; i++) {
		int c = chan_of(&tb.b, i);
		float s = tb.b.grid.scale[c], zp = 1.0f;
		float lo = (float)qmin - zp, hi = (float)qmax - zp;
		float v = uniform(lo, hi - 1e-3f);
		if (kind == ROUND_BORDER_LINEAR && c == 1)
			v = uniform(2.9f, 3.4f); /* the capped border stays inside (0, 1) */
		if (i % 13 == 5) {
			v = (i % 2) ? uniform(lo - 4.0f, lo - 1.2f) : uniform(hi + 1.2f, hi + 4.0f);
			beyond++;
		}
		x[i] = v * s;
		dy[i] = uniform(-1.0f, 1.0f);
	}
	memset(tb.b.dphi, 0, m * sizeof *tb.b.dphi);
	round_border_backward(&tb.b, dx, dy, x, n, tau);
	int dx_ok = 1;
	for (size_t i = 0; i < n; i++)
		dx_ok &= dx[i] == (i % 13 == 5 ? 0.0f : dy[i]);
	const char *kn = kind == ROUND_BORDER_BIN ? "BIN" : "LINEAR";
	tap_ok(dx_ok && beyond > 0, "%s: dx = dy inside the grid, 0 for the %d values beyond", kn,
	       beyond);
	double worst = 0, scale = 0;
	size_t bad = 0;
	float *fd = zeros(m), *got = zeros(m);
	for (size_t j = 0; j < m; j++) {
		float p0 = tb.b.phi[j];
		tb.b.phi[j] = p0 + h;
		double lp = soft_loss(&tb.b, x, dy, y, n, tau);
		float hp = tb.b.phi[j];
		tb.b.phi[j] = p0 - h;
		double lm = soft_loss(&tb.b, x, dy, y, n, tau);
		float hm = tb.b.phi[j];
		tb.b.phi[j] = p0;
		fd[j] = (float)((lp - lm) / ((double)hp - hm));
		got[j] = (float)tb.b.dphi[j];
		scale = fmax(scale, fabs(fd[j]));
	}
	for (size_t j = 0; j < m; j++) {
		double err = fabs((double)got[j] - fd[j]);
		if (err > worst) {
			worst = err;
			bad = j;
		}
	}
	tap_ok(worst <= 2e-3 * fmax(scale, 1e-3) + 1e-5,
	       "%s: dphi = central differences of the soft forward (worst %.3g at %zu, max %.3g)",
	       kn, worst, bad, scale);
	int clamped;
	if (kind == ROUND_BORDER_BIN)
		clamped = tb.b.dphi[2 * 7 + 3] == 0 && fabsf(fd[2 * 7 + 3]) < 1e-4f;
	else
		clamped = tb.b.dphi[2 * 2] == 0 && tb.b.dphi[2 * 2 + 1] == 0 && tb.b.dphi[2 * 1] == 0 &&
			  tb.b.dphi[2 * 1 + 1] != 0 && fabsf(fd[2 * 1]) < 1e-4f;
	tap_ok(clamped, "%s: no gradient through an active clamp or slope cap", kn);
	free(fd), free(got), free(x), free(dy), free(y), free(dx);
	tborder_free(&tb);
}

/* Forward and backward give the same bits on one thread and on several. */
static void
check_threads(enum round_border_kind kind)
{
	const int Bn = 5, C = 9, P = 1800, tau_n = 2;
	size_t n = (size_t)Bn * C * P;
	struct tborder tb = tborder_make(kind, C, P, -8, 7);
	for (int c = 0; c < C; c++)
		tb.scale[c] = uniform(0.05f, 0.5f);
	random_phi(&tb.b);
	size_t m = border_nphi(&tb.b);
	float *x = zeros(n), *dy = zeros(n), *y1 = zeros(n), *y2 = zeros(n);
	float *dx1 = zeros(n), *dx2 = zeros(n);
	double *dp1 = xcalloc(m, sizeof *dp1);
	for (size_t i = 0; i < n; i++) {
		x[i] = random_x(&tb.b, chan_of(&tb.b, i), 2);
		dy[i] = uniform(-1.0f, 1.0f);
	}
	int same = 1;
#ifdef _OPENMP
	int nt = omp_get_max_threads();
	omp_set_num_threads(1);
#endif
	for (int t = 0; t < tau_n; t++) {
		round_border_forward(&tb.b, y1, x, n, t ? 0.2f : 0.0f);
		if (t) {
			memset(tb.b.dphi, 0, m * sizeof *tb.b.dphi);
			round_border_backward(&tb.b, dx1, dy, x, n, 0.2f);
			memcpy(dp1, tb.b.dphi, m * sizeof *dp1);
		}
#ifdef _OPENMP
		omp_set_num_threads(nt > 1 ? nt : 2);
#endif
		round_border_forward(&tb.b, y2, x, n, t ? 0.2f : 0.0f);
		same &= memcmp(y1, y2, n * sizeof *y1) == 0;
		if (t) {
			memset(tb.b.dphi, 0, m * sizeof *tb.b.dphi);
			round_border_backward(&tb.b, dx2, dy, x, n, 0.2f);
			same &= memcmp(dx1, dx2, n * sizeof *dx1) == 0;
			same &= memcmp(dp1, tb.b.dphi, m * sizeof *dp1) == 0;
		}
#ifdef _OPENMP
		omp_set_num_threads(1);
#endif
	}
#ifdef _OPENMP
	omp_set_num_threads(nt);
#endif
	tap_ok(same, "%s: forward (hard, soft) and backward bit-identical on 1 and N threads",
	       kind == ROUND_BORDER_BIN ? "BIN" : "LINEAR");
	free(x), free(dy), free(y1), free(y2), free(dx1), free(dx2), free(dp1);
	tborder_free(&tb);
}

/*
 * Two-number optimum: rounding x up iff r >= B* gives the smaller of the two
 * product errors |w·x - wq·x_q|, x_q in {s·f, s·(f+1)}; and a LINEAR border
 * with a = -(w - wq)/wq, d = 0 makes the same choice.
 */
static void
test_border_pair(void)
{
	enum { N = 10000 };
	const float sw = 0.25f; /* the coarse weight grid */
	int worse = 0, differ = 0, compared = 0, tried = 0;
	double worst = 0;
	struct tborder tb = tborder_make(ROUND_BORDER_LINEAR, 1, 1, -1000, 1000);
	while (tried < N) {
		float w = uniform(-2.0f, 2.0f), wq = sw * nearbyintf(w / sw);
		if (wq == 0)
			continue;
		tried++;
		float s = uniform(0.02f, 0.5f), x = uniform(-4.0f, 4.0f);
		float bs = round_border_pair(w, wq, x, s);
		float v = x / s, f = floorf(v), r = v - f;
		double xq = (double)s * (r >= bs ? f + 1.0 : f);
		double e = fabs((double)w * x - (double)wq * xq);
		double e0 = fabs((double)w * x - (double)wq * s * f);
		double e1 = fabs((double)w * x - (double)wq * s * (f + 1.0));
		double tol = 1e-5 * (fabs((double)w * x) + fabs((double)wq) * s * (fabs(f) + 1.0));
		if (e > fmin(e0, e1) + tol)
			worse++;
		worst = fmax(worst, e - fmin(e0, e1));
		/* the same border as a LINEAR border (away from its clamp and cap, and ties) */
		float a = -(w - wq) / wq;
		if (bs > 0.01f && bs < 0.99f && a <= ROUND_BORDER_SLOPE_MAX &&
		    fabsf(r - bs) > 1e-4f) {
			tb.scale[0] = s;
			tb.b.phi[0] = a;
			tb.b.phi[1] = 0.0f;
			float y;
			round_border_forward(&tb.b, &y, &x, 1, 0.0f);
			differ += y != (float)xq;
			compared++;
		}
	}
	tborder_free(&tb);
	tap_ok(worse == 0, "pair: r >= B* never loses to the other neighbour (%d of %d worse; "
	       "largest excess %.3g)", worse, N, worst);
	tap_ok(differ == 0 && compared > N / 20,
	       "pair: the LINEAR border a = -(w - wq)/wq, d = 0 decides alike (%d of %d differ)",
	       differ, compared);
	tap_near(round_border_pair(1.0f, 1.0f, 3.7f, 0.5f), 0.5, 0,
		 "pair: an exact weight gives the nearest border 1/2");
}

int
main(void)
{
	rng_seed(&g_rng, 20240611);
	test_fixtures();
	test_ada_reg();
	test_ada_soft_gradient();
	test_border_nearest();
	test_border_thresholds();
	test_border_grid();
	check_soft_limit(ROUND_BORDER_BIN);
	check_soft_limit(ROUND_BORDER_LINEAR);
	check_border_grad(ROUND_BORDER_BIN);
	check_border_grad(ROUND_BORDER_LINEAR);
	check_threads(ROUND_BORDER_BIN);
	check_threads(ROUND_BORDER_LINEAR);
	test_border_pair();
	return tap_done();
}
