/*
 * test_quant_props: the registry's validation, the test properties of
 * METHODS §1.7 (APoT), §2.6 (LCQ) and §3.8 (QNN), central-difference checks
 * of LCQ's θ and α gradients, optimised vs _ref on tensors large enough to
 * run the OpenMP paths, determinism of stochastic binarization, and the
 * model hook.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "engine/quant/quant.h"
#include "engine/rng.h"
#include "engine/util.h"
#include "tests/unit/tap.h"

static struct quant *
mk(const char *scheme, const char *variant, int bits, enum quant_role role, float alpha)
{
	struct quant_config c = {.scheme = scheme, .variant = variant, .bits = bits,
				 .role = role, .alpha = alpha, .is_signed = -1, .seed = 5};
	struct quant *q = NULL;
	char *cause = NULL;
	if (quant_new(&q, &c, &cause) < 0) {
		tap_ok(0, "quant_new %s %d bits: %s", scheme, bits, cause);
		free(cause);
		exit(tap_done());
	}
	return q;
}

static void
expect_error(const struct quant_config *c, const char *want)
{
	struct quant *q = NULL;
	char *cause = NULL;
	int rc = quant_new(&q, c, &cause);
	tap_ok(rc < 0 && cause && strstr(cause, want), "rejects %s/%d: '%s' contains '%s'",
	       c->scheme, c->bits, cause ? cause : "(none)", want);
	free(cause);
	quant_free(q);
}

static void
test_registry(void)
{
	char *cause = NULL;
	tap_ok(quant_scheme_find("apott", &cause) == NULL && cause &&
		       strstr(cause, "did you mean 'apot'"),
	       "unknown scheme suggests the nearest: %s", cause ? cause : "");
	free(cause);
	for (size_t i = 0; i < quant_scheme_count(); i++) {
		const struct quant_scheme *s = quant_scheme_at(i);
		tap_ok(quant_scheme_find(s->name, NULL) == s && s->help && s->variants[0],
		       "scheme %s is found by name", s->name);
	}
	tap_ok(quant_scheme_at(quant_scheme_count()) == NULL, "past the table is NULL");
	expect_error(&(struct quant_config){.scheme = "apot", .bits = 7, .alpha = 1},
		     "apot supports 2..6 bits (got 7)");
	expect_error(&(struct quant_config){.scheme = "lcq", .bits = 1, .alpha = 1},
		     "lcq needs at least 2 bits (got 1)");
	expect_error(&(struct quant_config){.scheme = "qnn", .variant = "det", .bits = 2},
		     "needs bits=1");
	expect_error(&(struct quant_config){.scheme = "apot", .variant = "cifr", .bits = 3,
					    .alpha = 1},
		     "did you mean 'cifar'");
	expect_error(&(struct quant_config){.scheme = "pot", .bits = 3, .alpha = 0},
		     "alpha > 0");
}

/* ---- METHODS §1.7 ---- */

static int
popcount_u64(uint64_t v)
{
	int c = 0;
	for (; v; v &= v - 1)
		c++;
	return c;
}

static void
test_apot_props(void)
{
	static const double rawmax[7] = {0, 0, 0.5, 0.625, 0.75, 0.78125, 0.875};
	static const int terms[7] = {0, 0, 1, 2, 2, 3, 3};
	for (int B = 2; B <= 6; B++) {
		float lv[64];
		int n = quant_apot_build_levels(lv, B, 1);
		int ok = n == 1 << B && lv[0] == 0 && lv[n - 1] == 1, sums = 1;
		for (int i = 1; i < n; i++)
			ok &= lv[i] > lv[i - 1];
		for (int i = 0; i < n; i++) {
			double v = (double)lv[i] * rawmax[B] * 4096.0; /* every term is k/2^12 */
			uint64_t k = (uint64_t)llround(v);
			sums &= fabs(v - (double)k) < 1e-3 && popcount_u64(k) <= terms[B];
		}
		tap_ok(ok, "Λ_%d: 2^%d ascending levels from 0 to 1", B, B);
		tap_ok(sums, "Λ_%d: levels are sums of at most %d powers of two", B, terms[B]);
	}
	float l3[8], want3[8] = {0, .1f, .2f, .3f, .4f, .6f, .8f, 1};
	quant_apot_build_levels(l3, 3, 1);
	tap_near_arrays(l3, want3, 8, 1e-7, 0, "Λ_3 = {0,.1,.2,.3,.4,.6,.8,1}");

	/* projection is nearest, inside alpha·(±Λ), idempotent; 2-bit gradient is g */
	struct rng r;
	rng_seed(&r, 3);
	enum { N = 4096 };
	float *x = xmalloc(N * 4), *y = xmalloc(N * 4), *yy = xmalloc(N * 4), *g = xmalloc(N * 4);
	float *dx = xcalloc(N, 4);
	for (int i = 0; i < N; i++) {
		x[i] = 2.5f * rng_normal(&r);
		g[i] = rng_normal(&r);
	}
	for (int bits = 2; bits <= 6; bits++) {
		for (int role = 0; role < 2; role++) {
			struct quant *q = mk("apot", NULL, bits, role, 1.5f);
			float lv[QUANT_MAX_LEVELS];
			int nl = quant_levels(q, lv, QUANT_MAX_LEVELS), in = 1, near = 1;
			quant_forward(q, y, x, N, 0);
			quant_forward(q, yy, y, N, 0);
			for (int i = 0; i < N; i++) {
				float a = fabsf(y[i]);
				int found = 0;
				for (int k = 0; k < nl; k++)
					found |= a == lv[k];
				in &= found && a <= 1.5f && (role == 0 || y[i] >= 0);
				float c = x[i] / 1.5f;
				c = role == 0 ? fmaxf(-1, fminf(1, c)) : fmaxf(0, fminf(1, c));
				for (int k = 0; k < nl; k++) {
					float l = role == 0 && c < 0 ? -lv[k] : lv[k];
					near &= fabsf(c * 1.5f - y[i]) <= fabsf(c * 1.5f - l) + 1e-6f;
				}
			}
			tap_ok(in, "apot %d-bit %s: outputs in alpha·Λ, |y| <= alpha", bits,
			       role ? "act" : "weight");
			tap_ok(near, "apot %d-bit %s: projection is nearest", bits,
			       role ? "act" : "weight");
			tap_near_arrays(yy, y, N, 0, 0, "apot %d-bit %s: Q(Q(x)) = Q(x)", bits,
					role ? "act" : "weight");
			if (bits == 2 && role == 0) {
				quant_backward(q, dx, g, x, N);
				tap_same_floats(dx, g, N, "apot 2-bit weights: grad_x = g unmasked");
			}
			quant_free(q);
		}
	}
	float mean, sd, *w = xmalloc(N * 4);
	for (int i = 0; i < N; i++)
		x[i] = 0.3f + 0.05f * rng_normal(&r);
	quant_wn_forward(w, &mean, &sd, x, N);
	double m = 0, v = 0;
	for (int i = 0; i < N; i++)
		m += w[i];
	m /= N;
	for (int i = 0; i < N; i++)
		v += (w[i] - m) * (w[i] - m);
	tap_near(m, 0, 1e-6, "weight normalisation: mean 0");
	tap_near(sqrt(v / (N - 1)), 1, 1e-6, "weight normalisation: unbiased std 1");
	free(x), free(y), free(yy), free(g), free(dx), free(w);
}

/* ---- METHODS §2.6 and gradient checks ---- */

/* Σ g·z̃ with the rounding offsets, intervals i, j frozen (the STE surrogate), in double. */
static double
lcq_surrogate(const double *theta, double alpha, const float *x, const float *g, int n, double s,
	      const double *c, const int *ii, const int *jj)
{
	double p[QUANT_LCQ_K], mx = theta[0], sum = 0, beta[QUANT_LCQ_K], acc = 0, L = 0;
	for (int k = 1; k < QUANT_LCQ_K; k++)
		mx = fmax(mx, theta[k]);
	for (int k = 0; k < QUANT_LCQ_K; k++)
		sum += p[k] = exp(theta[k] - mx);
	for (int k = 0; k < QUANT_LCQ_K; k++) {
		p[k] /= sum;
		beta[k] = acc;
		acc += p[k];
	}
	for (int e = 0; e < n; e++) {
		double ax = fabs(x[e]), sg = x[e] > 0 ? 1 : -1;
		if (ax >= alpha) {
			L += g[e] * sg * alpha;
			continue;
		}
		int i = ii[e], j = jj[e];
		double u = ax / alpha, y = QUANT_LCQ_K * p[i] * (u - (double)i / QUANT_LCQ_K) + beta[i];
		L += g[e] * sg * alpha *
		     ((y + c[e] - beta[j]) / (QUANT_LCQ_K * p[j]) + (double)j / QUANT_LCQ_K);
	}
	(void)s;
	return L;
}

static void
test_lcq_props(void)
{
	struct rng r;
	rng_seed(&r, 9);
	enum { N = 512 };
	float *x = xmalloc(N * 4), *y = xmalloc(N * 4), *g = xmalloc(N * 4), *dx = xcalloc(N, 4);
	for (int i = 0; i < N; i++) {
		x[i] = 1.2f * rng_normal(&r);
		g[i] = rng_normal(&r);
	}
	/* θ = 0 is the uniform quantizer */
	for (int bits = 2; bits <= 4; bits++) {
		struct quant *q = mk("lcq", NULL, bits, QUANT_ROLE_ACT, 2.0f);
		float s = (float)((1 << bits) - 1), *u = xmalloc(N * 4);
		quant_forward(q, y, x, N, 0);
		for (int i = 0; i < N; i++) {
			float a = fabsf(x[i]) < 2 ? 2 * quant_round(fabsf(x[i]) / 2 * s) / s : 2;
			u[i] = x[i] < 0 ? -a : a;
		}
		tap_near_arrays(y, u, N, 1e-6, 1e-6, "lcq %d-bit theta=0 equals uniform", bits);
		free(u);
		quant_free(q);
	}
	/* learned θ: monotone levels, outputs in the level set, mask, Σ dθ = 0, FD */
	struct quant *q = mk("lcq", NULL, 3, QUANT_ROLE_ACT, 2.0f);
	for (int k = 0; k < QUANT_LCQ_K; k++)
		q->theta[k] = 0.7f * rng_normal(&r);
	float lv[QUANT_MAX_LEVELS];
	int nl = quant_levels(q, lv, QUANT_MAX_LEVELS), mono = nl == 8 && lv[0] == 0;
	for (int k = 1; k < nl; k++)
		mono &= lv[k] > lv[k - 1];
	tap_ok(mono && fabsf(lv[nl - 1] - 2.0f) < 1e-6f, "lcq levels increase from 0 to alpha");
	quant_forward(q, y, x, N, 0);
	int in = 1, mask = 1;
	for (int i = 0; i < N; i++) {
		int found = 0;
		for (int k = 0; k < nl; k++)
			found |= fabsf(fabsf(y[i]) - lv[k]) <= 1e-6f * 2;
		/* g⁻¹(1) = (1 - β_15)/γ_15 + 15/16 is 1 only to float rounding */
		in &= found && fabsf(y[i]) <= 2.0f * (1 + 1e-6f);
	}
	tap_ok(in, "lcq outputs are ±levels, |z| <= alpha (1 + 1e-6)");
	quant_zero_grad(q);
	quant_backward(q, dx, g, x, N);
	for (int i = 0; i < N; i++)
		mask &= dx[i] == (fabsf(x[i]) < 2.0f ? g[i] : 0.0f);
	tap_ok(mask, "lcq grad_x masked by |x| < alpha");
	double sum = 0;
	for (int k = 0; k < QUANT_LCQ_K; k++)
		sum += q->dtheta[k];
	tap_near(sum, 0, 1e-6, "lcq sum of dtheta is 0");

	/* frozen rounding: intervals and offsets from a double forward */
	double th[QUANT_LCQ_K], c[N];
	int ii[N], jj[N];
	float gam[QUANT_LCQ_K], bet[QUANT_LCQ_K];
	quant_lcq_gamma_beta(gam, bet, q->theta);
	for (int k = 0; k < QUANT_LCQ_K; k++)
		th[k] = q->theta[k];
	for (int e = 0; e < N; e++) {
		double u = fabs(x[e]) / 2.0;
		int i = (int)(u * QUANT_LCQ_K);
		i = i > 15 ? 15 : i;
		double yv = gam[i] * (u - (double)i / 16) + bet[i];
		double yq = nearbyint(yv * 7) / 7;
		int j = 0;
		for (int k = 1; k < QUANT_LCQ_K; k++)
			j = bet[k] <= yq ? k : j;
		ii[e] = i, jj[e] = j, c[e] = yq - yv;
	}
	float fd[QUANT_LCQ_K], an[QUANT_LCQ_K];
	double h = 1e-4;
	for (int k = 0; k < QUANT_LCQ_K; k++) {
		double save = th[k];
		th[k] = save + h;
		double lp = lcq_surrogate(th, 2.0, x, g, N, 7, c, ii, jj);
		th[k] = save - h;
		double lm = lcq_surrogate(th, 2.0, x, g, N, 7, c, ii, jj);
		th[k] = save;
		fd[k] = (float)((lp - lm) / (2 * h));
		an[k] = (float)q->dtheta[k];
	}
	tap_near_arrays(an, fd, QUANT_LCQ_K, 1e-3, 1e-3, "lcq dtheta = central differences");
	quant_free(q);

	/* α at θ = 0 (where the α formula is the surrogate's exact derivative) */
	q = mk("lcq", NULL, 3, QUANT_ROLE_ACT, 2.0f);
	memset(th, 0, sizeof th);
	for (int e = 0; e < N; e++) {
		double u = fabs(x[e]) / 2.0;
		int i = (int)(u * QUANT_LCQ_K);
		i = i > 15 ? 15 : i;
		double yq = nearbyint(u * 7) / 7;
		ii[e] = i, jj[e] = (int)fmin(15, floor(yq * 16 + 1e-9)), c[e] = yq - u;
	}
	quant_zero_grad(q);
	quant_backward(q, NULL, g, x, N);
	double ap = 2.0 + 1e-5, am = 2.0 - 1e-5;
	/* keep the clip decisions and codes fixed: no |x| within 1e-5 of alpha here */
	double fda = (lcq_surrogate(th, ap, x, g, N, 7, c, ii, jj) -
		      lcq_surrogate(th, am, x, g, N, 7, c, ii, jj)) /
		     2e-5;
	tap_near(q->dalpha, fda, 1e-3 * fmax(1, fabs(fda)), "lcq dalpha (theta = 0) = %g, FD %g",
		 q->dalpha, fda);
	quant_free(q);
	free(x), free(y), free(g), free(dx);
}

/* ---- METHODS §3.8 ---- */

static void
test_qnn_props(void)
{
	float x[7] = {-2, -1, -0.3f, 0, 0.2f, 1, 3}, y[7];
	struct quant *q = mk("qnn", "det", 1, QUANT_ROLE_ACT, 0);
	quant_forward(q, y, x, 7, 0);
	float want[7] = {-1, -1, -1, 1, 1, 1, 1};
	tap_same_floats(y, want, 7, "sign outputs ±1, sign(0) = +1");
	quant_free(q);
	q = mk("qnn", "stoch", 1, QUANT_ROLE_ACT, 0);
	enum { N = 50000 };
	float *xs = xmalloc(N * 4), *ys = xmalloc(N * 4), *y2 = xmalloc(N * 4);
	for (int i = 0; i < N; i++)
		xs[i] = (i % 2) ? 1.0f + (float)(i % 7) : -1.0f - (float)(i % 5);
	quant_forward(q, ys, xs, N, 1);
	int ok = 1;
	for (int i = 0; i < N; i++)
		ok &= ys[i] == (xs[i] >= 1 ? 1.0f : -1.0f);
	tap_ok(ok, "stochastic: x >= 1 always +1, x <= -1 always -1");
	quant_free(q);
	/* determinism: same seed, call count and data give the same draws at any thread count */
	struct rng r;
	rng_seed(&r, 1);
	for (int i = 0; i < N; i++)
		xs[i] = 2 * rng_uniform(&r) - 1;
	struct quant *a = mk("qnn", "stoch", 1, QUANT_ROLE_ACT, 0);
	struct quant *b = mk("qnn", "stoch", 1, QUANT_ROLE_ACT, 0);
#ifdef _OPENMP
	int nt = omp_get_max_threads();
	omp_set_num_threads(1);
	quant_forward(a, ys, xs, N, 1);
	omp_set_num_threads(nt > 1 ? nt : 2);
#else
	quant_forward(a, ys, xs, N, 1);
#endif
	quant_forward_ref(b, y2, xs, N, 1);
	tap_same_floats(ys, y2, N, "stochastic: same seed gives the same draws (1 thread, ref)");
	quant_forward(a, ys, xs, N, 1);
	int differ = memcmp(ys, y2, N * 4) != 0;
	tap_ok(differ, "stochastic: the next call draws anew");
	quant_free(a), quant_free(b);

	tap_ok(quant_ap2(3) == 4 && quant_ap2(0.75f) == 1 && quant_ap2(-0.3f) == -0.25f &&
		       quant_ap2(0) == 0,
	       "AP2(3) = 4, AP2(0.75) = 1, AP2(-0.3) = -0.25, AP2(0) = 0");
	int pow2 = 1;
	for (int i = 0; i < N; i++) {
		float v = xs[i] * 10, p = quant_ap2(v);
		int e;
		pow2 &= v == 0 || (fabsf(frexpf(p, &e)) == 0.5f &&
				   fabs(log2(fabs(p)) - log2(fabs(v))) <= 0.5 + 1e-6);
	}
	tap_ok(pow2, "AP2 gives ±2^n within half an octave");
	float w[4] = {-3, -0.5f, 0.5f, 2};
	quant_qnn_clip_weights(w, 4);
	tap_ok(w[0] == -1 && w[1] == -0.5f && w[3] == 1, "real weights clipped to [-1, 1]");
	/* binary dot = 2·popcount(xnor) - n */
	int dot = 0, agree = 0, n = 64;
	for (int i = 0; i < n; i++) {
		float s1 = (i * 37 % 11) < 5 ? -1.0f : 1.0f, s2 = (i * 13 % 7) < 3 ? -1.0f : 1.0f;
		dot += (int)(s1 * s2);
		agree += s1 == s2;
	}
	tap_eq_int(dot, 2 * agree - n, "binary dot = 2 popcount(xnor) - n");
	/* k-bit linear and log; gradient quantizer */
	q = mk("qnn", "linear", 3, QUANT_ROLE_ACT, 1.0f);
	float lx[4] = {-0.5f, 0.3f, 0.95f, 2}, ly[4];
	quant_forward(q, ly, lx, 4, 0);
	tap_ok(ly[0] == 0 && fabsf(ly[1] - 2.0f / 7) < 1e-7f && ly[2] == 1 && ly[3] == 1,
	       "linear 3-bit on [0, 1]: step 1/7, clipped");
	quant_free(q);
	q = mk("qnn", "log", 3, QUANT_ROLE_WEIGHT, 1.0f);
	float gx[4] = {-0.01f, 0.3f, 0.7f, 5}, gy[4];
	quant_forward(q, gy, gx, 4, 0);
	tap_ok(gy[0] == -0.125f && gy[1] == 0.25f && gy[2] == 0.5f && gy[3] == 1,
	       "log 3-bit: sign and exponents -3..0");
	quant_free(q);
	float gg[5] = {0.9f, -0.2f, 0.01f, 0, 1e-6f};
	quant_qnn_grad(gg, 5, 3);
	tap_ok(gg[0] == 1 && gg[1] == -0.25f && gg[2] == 0.125f && gg[3] == 0 && gg[4] == 0.125f,
	       "gradient LogQuant 3 bits: powers of two in [2^-3, 2^0]");
	free(xs), free(ys), free(y2);
}

/* ---- optimised vs reference on large tensors, hook ---- */

static void
test_opt_vs_ref(void)
{
	enum { N = 200003 };
	struct rng r;
	rng_seed(&r, 21);
	float *x = xmalloc(N * 4), *g = xmalloc(N * 4), *y1 = xmalloc(N * 4), *y2 = xmalloc(N * 4);
	float *d1 = xcalloc(N, 4), *d2 = xcalloc(N, 4);
	for (int i = 0; i < N; i++) {
		x[i] = 1.5f * rng_normal(&r);
		g[i] = rng_normal(&r);
	}
	static const struct {
		const char *s, *v;
		int bits, role;
	} cs[] = {{"uniform", "lsq", 4, 0}, {"uniform", "clip", 3, 1}, {"pot", NULL, 4, 0},
		  {"apot", NULL, 5, 0},     {"apot", "cifar", 4, 1},    {"lcq", NULL, 4, 0},
		  {"lcq", NULL, 2, 0},      {"qnn", "det", 1, 1},       {"qnn", "log", 4, 0},
		  {"lcq", NULL, 8, 1},      {"lcq", NULL, 3, 1},        {"apot", NULL, 6, 0},
		  {"apot", NULL, 6, 1},     {"pot", NULL, 2, 1}};
	for (size_t k = 0; k < sizeof cs / sizeof cs[0]; k++) {
		struct quant *q = mk(cs[k].s, cs[k].v, cs[k].bits, cs[k].role, 2.0f);
		for (int t = 0; t < QUANT_LCQ_K; t++)
			q->theta[t] = 0.1f * (float)(t % 5) - 0.2f;
		quant_forward(q, y1, x, N, 0);
		quant_forward_ref(q, y2, x, N, 0);
		tap_same_floats(y1, y2, N, "%s %s %d-bit: forward optimised == ref", cs[k].s,
				cs[k].v ? cs[k].v : "", cs[k].bits);
		memset(d1, 0, N * 4), memset(d2, 0, N * 4);
		quant_zero_grad(q);
		quant_backward_ref(q, d2, g, x, N);
		double da = q->dalpha, ds = q->dscale[0], dt = q->dtheta[5];
		quant_zero_grad(q);
		quant_backward(q, d1, g, x, N);
		tap_same_floats(d1, d2, N, "%s %d-bit: grad_x optimised == ref", cs[k].s,
				cs[k].bits);
		tap_ok(fabs(q->dalpha - da) <= 1e-9 * fmax(1, fabs(da)) &&
			       fabs(q->dscale[0] - ds) <= 1e-9 * fmax(1, fabs(ds)) &&
			       fabs(q->dtheta[5] - dt) <= 1e-9 * fmax(1, fabs(dt)),
		       "%s %d-bit: parameter gradients optimised ~ ref (1e-9)", cs[k].s,
		       cs[k].bits);
		struct quant_cost cost = quant_cost(q);
		tap_ok(cost.mult_bits > 0 || cost.shift_adds > 0, "%s: cost per MAC is set",
		       cs[k].s);
		quant_free(q);
	}
	/* through the model hook: forward writes, backward accumulates */
	struct quant *q = mk("apot", NULL, 4, QUANT_ROLE_ACT, 2.0f);
	struct model_quantizer h;
	quant_hook(q, &h);
	h.forward(h.ctx, y1, x, 1000, 1);
	quant_forward_ref(q, y2, x, 1000, 1);
	tap_same_floats(y1, y2, 1000, "hook forward = quant_forward");
	for (int i = 0; i < 1000; i++)
		d1[i] = 1;
	memset(d2, 0, 1000 * 4);
	quant_zero_grad(q);
	h.backward(h.ctx, d1, g, x, 1000);
	double da = q->dalpha;
	quant_zero_grad(q);
	quant_backward_ref(q, d2, g, x, 1000);
	int acc = 1;
	for (int i = 0; i < 1000; i++)
		acc &= d1[i] == 1 + d2[i];
	tap_ok(acc && da == q->dalpha, "hook backward accumulates into dx and dalpha");
	quant_free(q);
	free(x), free(g), free(y1), free(y2), free(d1), free(d2);
}

int
main(void)
{
	test_registry();
	test_apot_props();
	test_lcq_props();
	test_qnn_props();
	test_opt_vs_ref();
	return tap_done();
}
