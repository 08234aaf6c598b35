/*
 * test_layers: every layer and loss of engine/layers.h.
 *
 * Gradients: central differences of the objective L = sum(out * R) (R fixed
 * random, L summed in double) with respect to the input and every parameter,
 * compared with the backward pass run on dout = R. Inputs of piecewise-linear
 * layers are kept away from their kinks by more than the step. Also: conv2d
 * forward against a direct 7-loop convolution, batch norm's running statistics
 * and eval mode, dropout's mask, accumulation (a second backward call doubles
 * every gradient), and bit-identical repeated runs with 1 and 2 threads.
 * QNN's shift-based batch norm is checked against its formulas evaluated here
 * in double (not a gradient: its backward is the reference's approximation),
 * against batch norm where AP2 is exact, and ap2() against quant_ap2().
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/layers.h"
#include "engine/quant/quant.h"
#include "engine/rng.h"
#include "engine/threads.h"
#include "engine/util.h"
#include "tests/unit/tap.h"

static struct rng g_rng;

/* ---- helpers ---------------------------------------------------------- */

/* n values uniform in [-scale, scale]; caller frees. */
static float *
rand_floats(size_t n, float scale)
{
	float *x = xmalloc((n ? n : 1) * sizeof(float));
	for (size_t i = 0; i < n; i++)
		x[i] = scale * (2.0f * rng_uniform(&g_rng) - 1.0f);
	return x;
}

static float *
zeros(size_t n)
{
	return xcalloc(n ? n : 1, sizeof(float));
}

static float *
dup_floats(const float *x, size_t n)
{
	float *y = xmalloc((n ? n : 1) * sizeof(float));
	memcpy(y, x, n * sizeof(float));
	return y;
}

/* sum(out * R) in double */
static double
dot_r(const float *out, const float *R, size_t n)
{
	double s = 0.0;
	for (size_t i = 0; i < n; i++)
		s += (double)out[i] * R[i];
	return s;
}

/* Keeps every value at least `gap` away from each kink in kinks[0..nk). */
static void
avoid_kinks(float *x, size_t n, const float *kinks, int nk, float gap)
{
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < nk; k++)
			if (fabsf(x[i] - kinks[k]) < gap)
				x[i] = kinks[k] + (x[i] >= kinks[k] ? gap : -gap);
}

typedef double (*objective_fn)(void *ctx);

/*
 * Compares grad (n) with central differences of f with respect to x (n),
 * perturbing x[i] by +-h (the step actually taken in float is used).
 */
static void
gradcheck(const char *name, objective_fn f, void *ctx, float *x, const float *grad, size_t n,
	  float h, double atol, double rtol)
{
	float *num = zeros(n);
	for (size_t i = 0; i < n; i++) {
		float save = x[i];
		float xp = save + h, xm = save - h;
		x[i] = xp;
		double lp = f(ctx);
		x[i] = xm;
		double lm = f(ctx);
		x[i] = save;
		num[i] = (float)((lp - lm) / ((double)xp - (double)xm));
	}
	tap_near_arrays(grad, num, n, atol, rtol, "%s", name);
	free(num);
}

/* A second backward call into the same buffers doubled the first one's gradient. */
static void
check_doubled(const char *name, const float *twice, const float *once, size_t n)
{
	float *want = zeros(n);
	for (size_t i = 0; i < n; i++)
		want[i] = 2.0f * once[i];
	tap_near_arrays(twice, want, n, 1e-6, 1e-5, "%s accumulates", name);
	free(want);
}

/* ---- linear ----------------------------------------------------------- */

struct linear_case {
	int B, IN, OUT;
	float *x, *w, *b, *out, *R;
};

static double
linear_obj(void *p)
{
	struct linear_case *c = p;
	linear_forward(c->out, c->x, c->w, c->b, c->B, c->IN, c->OUT);
	return dot_r(c->out, c->R, (size_t)c->B * c->OUT);
}

static void
test_linear(int with_bias)
{
	struct linear_case c = {.B = 3, .IN = 7, .OUT = 5};
	size_t nx = (size_t)c.B * c.IN, nw = (size_t)c.OUT * c.IN, no = (size_t)c.B * c.OUT;
	c.x = rand_floats(nx, 1.0f);
	c.w = rand_floats(nw, 1.0f);
	c.b = with_bias ? rand_floats(c.OUT, 1.0f) : NULL;
	c.out = zeros(no);
	c.R = rand_floats(no, 1.0f);

	/* forward against the definition */
	linear_obj(&c);
	float *want = zeros(no);
	for (int i = 0; i < c.B; i++)
		for (int o = 0; o < c.OUT; o++) {
			double s = c.b ? c.b[o] : 0.0;
			for (int k = 0; k < c.IN; k++)
				s += (double)c.x[i * c.IN + k] * c.w[o * c.IN + k];
			want[i * c.OUT + o] = (float)s;
		}
	tap_near_arrays(c.out, want, no, 1e-5, 1e-5, "linear forward%s", with_bias ? "" : " (no bias)");

	float *dx = zeros(nx), *dw = zeros(nw), *db = zeros(c.OUT);
	linear_backward(dx, dw, c.b ? db : NULL, c.R, c.x, c.w, c.B, c.IN, c.OUT);
	char name[96];
	gradcheck(TAP_NAME(name, "linear d/dinp%s", with_bias ? "" : " (no bias)"), linear_obj, &c,
		  c.x, dx, nx, 1e-2f, 1e-3, 1e-3);
	gradcheck(TAP_NAME(name, "linear d/dw%s", with_bias ? "" : " (no bias)"), linear_obj, &c,
		  c.w, dw, nw, 1e-2f, 1e-3, 1e-3);
	if (c.b) {
		gradcheck("linear d/db", linear_obj, &c, c.b, db, c.OUT, 1e-2f, 1e-3, 1e-3);
		float *dx1 = dup_floats(dx, nx), *dw1 = dup_floats(dw, nw), *db1 = dup_floats(db, c.OUT);
		linear_backward(dx, dw, db, c.R, c.x, c.w, c.B, c.IN, c.OUT);
		check_doubled("linear dinp", dx, dx1, nx);
		check_doubled("linear dw", dw, dw1, nw);
		check_doubled("linear db", db, db1, c.OUT);
		free(dx1);
		free(dw1);
		free(db1);
	}
	free(want);
	free(dx);
	free(dw);
	free(db);
	free(c.x);
	free(c.w);
	free(c.b);
	free(c.out);
	free(c.R);
}

/* ---- conv2d ----------------------------------------------------------- */

struct conv_case {
	int B, C, H, W, OC, K, S, P, OH, OW;
	float *x, *w, *b, *out, *R, *scratch;
};

static size_t
conv_nout(const struct conv_case *c)
{
	return (size_t)c->B * c->OC * c->OH * c->OW;
}

static double
conv_obj(void *p)
{
	struct conv_case *c = p;
	conv2d_forward(c->out, c->x, c->w, c->b, c->B, c->C, c->H, c->W, c->OC, c->K, c->S, c->P,
		       c->scratch);
	return dot_r(c->out, c->R, conv_nout(c));
}

/* The definition, seven loops deep, accumulated in double. */
static void
conv_direct(float *out, const struct conv_case *c)
{
	for (int b = 0; b < c->B; b++)
		for (int oc = 0; oc < c->OC; oc++)
			for (int oh = 0; oh < c->OH; oh++)
				for (int ow = 0; ow < c->OW; ow++) {
					double s = c->b ? c->b[oc] : 0.0;
					for (int ic = 0; ic < c->C; ic++)
						for (int kh = 0; kh < c->K; kh++)
							for (int kw = 0; kw < c->K; kw++) {
								int ih = oh * c->S - c->P + kh;
								int iw = ow * c->S - c->P + kw;
								if (ih < 0 || ih >= c->H || iw < 0 ||
								    iw >= c->W)
									continue;
								s += (double)c->w[((oc * c->C + ic) * c->K + kh) * c->K + kw] *
								     c->x[((b * c->C + ic) * c->H + ih) * c->W + iw];
							}
					out[((b * c->OC + oc) * c->OH + oh) * c->OW + ow] = (float)s;
				}
}

static void
conv_case_init(struct conv_case *c, int B, int C, int H, int W, int OC, int K, int S, int P,
	       int with_bias)
{
	*c = (struct conv_case){.B = B, .C = C, .H = H, .W = W, .OC = OC, .K = K, .S = S, .P = P};
	c->OH = conv2d_out_size(H, K, S, P);
	c->OW = conv2d_out_size(W, K, S, P);
	c->x = rand_floats((size_t)B * C * H * W, 1.0f);
	c->w = rand_floats((size_t)OC * C * K * K, 1.0f);
	c->b = with_bias ? rand_floats(OC, 1.0f) : NULL;
	c->out = zeros(conv_nout(c));
	c->R = rand_floats(conv_nout(c), 1.0f);
	c->scratch = xalloc_floats(conv2d_scratch_floats(B, C, H, W, OC, K, S, P));
}

static void
conv_case_free(struct conv_case *c)
{
	free(c->x);
	free(c->w);
	free(c->b);
	free(c->out);
	free(c->R);
	xfree_aligned(c->scratch);
}

static void
test_conv(int B, int C, int H, int W, int OC, int K, int S, int P, int with_bias)
{
	struct conv_case c;
	conv_case_init(&c, B, C, H, W, OC, K, S, P, with_bias);
	char tag[96], name[160];
	TAP_NAME(tag, "conv2d B=%d C=%d %dx%d OC=%d K=%d stride=%d pad=%d%s", B, C, H, W, OC, K, S,
		 P, with_bias ? "" : " no bias");
	size_t nx = (size_t)B * C * H * W, nw = (size_t)OC * C * K * K, no = conv_nout(&c);

	conv_obj(&c);
	float *want = zeros(no);
	conv_direct(want, &c);
	tap_near_arrays(c.out, want, no, 1e-5, 1e-5, "%s forward = direct convolution", tag);

	float *dx = zeros(nx), *dw = zeros(nw), *db = zeros(OC);
	conv2d_backward(dx, dw, c.b ? db : NULL, c.R, c.x, c.w, B, C, H, W, OC, K, S, P, c.scratch);
	gradcheck(TAP_NAME(name, "%s d/dinp", tag), conv_obj, &c, c.x, dx, nx, 1e-2f, 1e-3, 1e-3);
	gradcheck(TAP_NAME(name, "%s d/dw", tag), conv_obj, &c, c.w, dw, nw, 1e-2f, 1e-3, 1e-3);
	if (c.b)
		gradcheck(TAP_NAME(name, "%s d/db", tag), conv_obj, &c, c.b, db, OC, 1e-2f, 1e-3,
			  1e-3);

	/* without dinp the parameter gradients are the same */
	float *dw2 = zeros(nw), *db2 = zeros(OC);
	conv2d_backward(NULL, dw2, c.b ? db2 : NULL, c.R, c.x, c.w, B, C, H, W, OC, K, S, P,
			c.scratch);
	tap_near_arrays(dw2, dw, nw, 0.0, 1e-6, "%s dw without dinp", tag);

	float *dx1 = dup_floats(dx, nx), *dw1 = dup_floats(dw, nw), *db1 = dup_floats(db, OC);
	conv2d_backward(dx, dw, c.b ? db : NULL, c.R, c.x, c.w, B, C, H, W, OC, K, S, P, c.scratch);
	check_doubled(TAP_NAME(name, "%s dinp", tag), dx, dx1, nx);
	check_doubled(TAP_NAME(name, "%s dw", tag), dw, dw1, nw);
	if (c.b)
		check_doubled(TAP_NAME(name, "%s db", tag), db, db1, OC);
	free(dx1);
	free(dw1);
	free(db1);
	free(dw2);
	free(db2);
	free(want);
	free(dx);
	free(dw);
	free(db);
	conv_case_free(&c);
}

/* ---- batch norm ------------------------------------------------------- */

struct bn_case {
	int B, C, HW;
	float *x, *gamma, *beta, *rm, *rv, *mean, *rstd, *out, *R;
};

static double
bn_obj(void *p)
{
	struct bn_case *c = p;
	batchnorm_forward(c->out, c->mean, c->rstd, c->x, c->gamma, c->beta, c->rm, c->rv, c->B,
			  c->C, c->HW, 0.1f, 1e-5f, 1);
	return dot_r(c->out, c->R, (size_t)c->B * c->C * c->HW);
}

static void
test_batchnorm(int B, int C, int HW)
{
	struct bn_case c = {.B = B, .C = C, .HW = HW};
	size_t n = (size_t)B * C * HW;
	char tag[64], name[128];
	TAP_NAME(tag, "batchnorm B=%d C=%d HW=%d", B, C, HW);
	c.x = rand_floats(n, 2.0f);
	for (size_t i = 0; i < n; i++)
		c.x[i] += 0.5f; /* a non-zero mean */
	c.gamma = rand_floats(C, 1.0f);
	c.beta = rand_floats(C, 1.0f);
	c.rm = rand_floats(C, 0.5f);
	c.rv = rand_floats(C, 0.5f);
	for (int i = 0; i < C; i++)
		c.rv[i] += 1.0f;
	c.mean = zeros(C);
	c.rstd = zeros(C);
	c.out = zeros(n);
	c.R = rand_floats(n, 1.0f);

	/* running statistics and saved statistics against the definition (double) */
	float *rm0 = dup_floats(c.rm, C), *rv0 = dup_floats(c.rv, C);
	bn_obj(&c);
	float *want_rm = zeros(C), *want_rv = zeros(C), *want_mean = zeros(C), *want_rstd = zeros(C);
	float *want_out = zeros(n);
	double cnt = (double)B * HW;
	for (int ch = 0; ch < C; ch++) {
		double s = 0, ss = 0;
		for (int b = 0; b < B; b++)
			for (int i = 0; i < HW; i++)
				s += c.x[((size_t)b * C + ch) * HW + i];
		double mu = s / cnt;
		for (int b = 0; b < B; b++)
			for (int i = 0; i < HW; i++) {
				double d = c.x[((size_t)b * C + ch) * HW + i] - mu;
				ss += d * d;
			}
		double var = ss / cnt;
		want_mean[ch] = (float)mu;
		want_rstd[ch] = (float)(1.0 / sqrt(var + 1e-5));
		want_rm[ch] = (float)(0.9 * rm0[ch] + 0.1 * mu);
		want_rv[ch] = (float)(0.9 * rv0[ch] + 0.1 * ss / (cnt - 1.0));
		for (int b = 0; b < B; b++)
			for (int i = 0; i < HW; i++) {
				size_t j = ((size_t)b * C + ch) * HW + i;
				want_out[j] = (float)((c.x[j] - mu) / sqrt(var + 1e-5) * c.gamma[ch] +
						      c.beta[ch]);
			}
	}
	tap_near_arrays(c.out, want_out, n, 1e-5, 1e-5, "%s training forward", tag);
	tap_near_arrays(c.mean, want_mean, C, 1e-6, 1e-6, "%s saved mean", tag);
	tap_near_arrays(c.rstd, want_rstd, C, 1e-6, 1e-6, "%s saved rstd", tag);
	tap_near_arrays(c.rm, want_rm, C, 1e-6, 1e-6, "%s running mean (momentum 0.1)", tag);
	tap_near_arrays(c.rv, want_rv, C, 1e-6, 1e-6, "%s running var (unbiased)", tag);

	/* eval: running statistics, no writes to mean/rstd, running stats unchanged */
	float *mean_before = dup_floats(c.mean, C), *rm_before = dup_floats(c.rm, C);
	float *eval_out = zeros(n);
	memset(c.mean, 0x7f, C * sizeof(float));
	float *mean_poison = dup_floats(c.mean, C);
	batchnorm_forward(eval_out, c.mean, c.rstd, c.x, c.gamma, c.beta, c.rm, c.rv, B, C, HW,
			  0.1f, 1e-5f, 0);
	for (int ch = 0; ch < C; ch++)
		for (int b = 0; b < B; b++)
			for (int i = 0; i < HW; i++) {
				size_t j = ((size_t)b * C + ch) * HW + i;
				want_out[j] = (float)((c.x[j] - (double)c.rm[ch]) /
							      sqrt((double)c.rv[ch] + 1e-5) * c.gamma[ch] +
						      c.beta[ch]);
			}
	tap_near_arrays(eval_out, want_out, n, 1e-5, 1e-5, "%s eval uses running stats", tag);
	tap_same_floats(c.rm, rm_before, C, "%s eval leaves running stats", tag);
	tap_same_floats(c.mean, mean_poison, C, "%s eval does not write mean", tag);
	memcpy(c.mean, mean_before, C * sizeof(float));

	/* gradients (training mode) */
	bn_obj(&c);
	float *dx = zeros(n), *dg = zeros(C), *dbt = zeros(C);
	batchnorm_backward(dx, dg, dbt, c.R, c.x, c.gamma, c.mean, c.rstd, B, C, HW);
	/* measured central-difference error is below 1e-4 here */
	gradcheck(TAP_NAME(name, "%s d/dinp", tag), bn_obj, &c, c.x, dx, n, 1e-2f, 3e-4, 1e-3);
	gradcheck(TAP_NAME(name, "%s d/dgamma", tag), bn_obj, &c, c.gamma, dg, C, 1e-2f, 3e-4,
		  1e-3);
	gradcheck(TAP_NAME(name, "%s d/dbeta", tag), bn_obj, &c, c.beta, dbt, C, 1e-2f, 3e-4,
		  1e-3);
	bn_obj(&c); /* restore mean/rstd of the unperturbed input */
	float *dx1 = dup_floats(dx, n), *dg1 = dup_floats(dg, C), *db1 = dup_floats(dbt, C);
	batchnorm_backward(dx, dg, dbt, c.R, c.x, c.gamma, c.mean, c.rstd, B, C, HW);
	check_doubled(TAP_NAME(name, "%s dinp", tag), dx, dx1, n);
	check_doubled(TAP_NAME(name, "%s dgamma", tag), dg, dg1, C);
	check_doubled(TAP_NAME(name, "%s dbeta", tag), dbt, db1, C);

	free(dx1);
	free(dg1);
	free(db1);
	free(dx);
	free(dg);
	free(dbt);
	free(mean_before);
	free(rm_before);
	free(mean_poison);
	free(eval_out);
	free(rm0);
	free(rv0);
	free(want_rm);
	free(want_rv);
	free(want_mean);
	free(want_rstd);
	free(want_out);
	free(c.x);
	free(c.gamma);
	free(c.beta);
	free(c.rm);
	free(c.rv);
	free(c.mean);
	free(c.rstd);
	free(c.out);
	free(c.R);
}

/* ---- shift-based batch norm (QNN) and AP2 ----------------------------- */

/* AP2 in double from its definition: sign(x) 2^round(log2|x|), half to even. */
static double
ref_ap2(double x)
{
	if (x == 0.0)
		return 0.0;
	return copysign(exp2(nearbyint(log2(fabs(x)))), x);
}

static int
is_pow2(double x)
{
	int e;
	return x != 0.0 && isfinite(x) && frexp(fabs(x), &e) == 0.5;
}

static float
float_of_bits(uint32_t u)
{
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

struct ap2_tally {
	long tried, bad;
	float first;
};

static void
ap2_try(struct ap2_tally *t, float x)
{
	float got = ap2(x), want = quant_ap2(x);
	t->tried++;
	if (got != want && t->bad++ == 0)
		t->first = x;
}

/*
 * ap2() (layers.h, on the bits) against quant_ap2() (engine/quant, nearbyint
 * of log2): every float of [1, 2), the values either side of sqrt(2) * 2^e for
 * every exponent, the small subnormals, random subnormals and random finite
 * floats of either sign.
 */
static void
test_ap2(void)
{
	struct ap2_tally t = {0};
	for (uint32_t u = 0x3f800000u; u < 0x40000000u; u++)
		ap2_try(&t, float_of_bits(u));
	static const uint32_t fracs[] = {0, 1, 0x3504f2, 0x3504f3, 0x3504f4, 0x3504f5, 0x7fffff};
	for (uint32_t e = 1; e < 255; e++)
		for (size_t k = 0; k < sizeof fracs / sizeof fracs[0]; k++)
			for (uint32_t sign = 0; sign < 2; sign++)
				ap2_try(&t, float_of_bits(sign << 31 | e << 23 | fracs[k]));
	for (uint32_t m = 1; m < 65536; m++)
		ap2_try(&t, float_of_bits(m));
	for (int p = 0; p < 23; p++) {
		uint32_t m = (uint32_t)floor(ldexp(M_SQRT2, p));
		for (uint32_t d = 0; d < 3; d++)
			if (m + d > 0 && m + d < 0x800000u)
				ap2_try(&t, -float_of_bits(m + d));
	}
	for (int i = 0; i < 200000; i++)
		ap2_try(&t, float_of_bits((uint32_t)(rng_next(&g_rng) & 0x807fffffu)));
	for (int i = 0; i < 2000000; i++) {
		uint32_t u = (uint32_t)rng_next(&g_rng);
		if ((u & 0x7f800000u) != 0x7f800000u)
			ap2_try(&t, float_of_bits(u));
	}
	if (t.bad)
		tap_diag("first mismatch: x = %a, ap2 %a, quant_ap2 %a", (double)t.first,
			 (double)ap2(t.first), (double)quant_ap2(t.first));
	tap_ok(t.bad == 0, "ap2 equals quant_ap2 on %ld floats (%ld differ)", t.tried, t.bad);
	tap_ok(ap2(3.0f) == 4.0f && ap2(0.75f) == 1.0f && ap2(-0.3f) == -0.25f && ap2(0.0f) == 0.0f,
	       "ap2: 3 -> 4, 0.75 -> 1, -0.3 -> -0.25, 0 -> 0");
	tap_ok(ap2(INFINITY) == INFINITY && ap2(-INFINITY) == -INFINITY && isnan(ap2(NAN)) &&
		       ap2(FLT_MAX) == INFINITY && ap2(0x1p-149f) == 0x1p-149f,
	       "ap2: inf, NaN, FLT_MAX -> inf, smallest subnormal");
}

/* Value j of channel ch: offset + scale * (uniform, cubed uniform or sum of three). */
static float
sbn_value(int ch, float scale, float offset)
{
	float u = 2.0f * rng_uniform(&g_rng) - 1.0f;
	switch (ch % 3) {
	case 1:
		u = 3.0f * u * u * u;
		break;
	case 2:
		u += 2.0f * rng_uniform(&g_rng) - 1.0f + 2.0f * rng_uniform(&g_rng) - 1.0f;
		break;
	}
	return offset + scale * u;
}

/* Forward (training) and backward of SBN, for the thread-count comparison. */
static void
sbn_run(float *out, float *dx, float *dg, float *db, const float *x, const float *gamma,
	const float *beta, const float *R, int B, int C, int HW)
{
	size_t n = (size_t)B * C * HW;
	float *mean = zeros(C), *s = zeros(C), *rm = zeros(C), *rv = zeros(C);
	for (int i = 0; i < C; i++)
		rv[i] = 1.0f;
	batchnorm_shift_forward(out, mean, s, x, gamma, beta, rm, rv, B, C, HW, 0.125f, 1e-5f, 1);
	memset(dx, 0, n * sizeof(float));
	memset(dg, 0, C * sizeof(float));
	memset(db, 0, C * sizeof(float));
	batchnorm_shift_backward(dx, dg, db, R, x, gamma, mean, s, B, C, HW);
	free(mean);
	free(s);
	free(rm);
	free(rv);
}

static void
test_batchnorm_shift(int B, int C, int HW, float scale, float offset)
{
	const float mom = 0.125f, eps = 1e-5f;
	size_t n = (size_t)B * C * HW;
	double cnt = (double)B * HW;
	char tag[96], name[160];
	TAP_NAME(tag, "shift BN B=%d C=%d HW=%d x ~ %g + %g u", B, C, HW, offset, scale);
	float *x = zeros(n);
	for (int b = 0; b < B; b++)
		for (int ch = 0; ch < C; ch++)
			for (int i = 0; i < HW; i++)
				x[((size_t)b * C + ch) * HW + i] = sbn_value(ch, scale, offset);
	float *gamma = rand_floats(C, 2.0f), *beta = rand_floats(C, 1.0f);
	float *rm = rand_floats(C, 0.5f), *rv = rand_floats(C, 0.5f);
	for (int i = 0; i < C; i++)
		rv[i] += 1.0f;
	float *rm0 = dup_floats(rm, C), *rv0 = dup_floats(rv, C);
	float *out = zeros(n), *mean = zeros(C), *s = zeros(C), *want = zeros(n);

	/* property 6: gamma = 1, beta = 0: per-channel mean 0, std in [2^-3/4, 2^3/4] */
	batchnorm_shift_forward(out, mean, s, x, NULL, NULL, rm, rv, B, C, HW, mom, eps, 1);
	double worst_mean = 0.0, lo_std = INFINITY, hi_std = 0.0;
	int s_pow2 = 1;
	for (int ch = 0; ch < C; ch++) {
		double s1 = 0.0, s2 = 0.0;
		for (int b = 0; b < B; b++)
			for (int i = 0; i < HW; i++)
				s1 += out[((size_t)b * C + ch) * HW + i];
		double m = s1 / cnt;
		for (int b = 0; b < B; b++)
			for (int i = 0; i < HW; i++) {
				double d = out[((size_t)b * C + ch) * HW + i] - m;
				s2 += d * d;
			}
		double sd = sqrt(s2 / cnt);
		worst_mean = fmax(worst_mean, fabs(m));
		lo_std = fmin(lo_std, sd);
		hi_std = fmax(hi_std, sd);
		s_pow2 &= is_pow2(s[ch]);
	}
	/* the mean is off by the rounding of mu and of x - mu, relative to |mu|/std */
	double mean_tol = 1e-5 * (1.0 + fabs(offset) / scale);
	tap_ok(worst_mean <= mean_tol, "%s: gamma 1 beta 0 output means within %g of 0 (worst %g)",
	       tag, mean_tol, worst_mean);
	tap_ok(lo_std >= pow(2.0, -0.75) && hi_std <= pow(2.0, 0.75),
	       "%s: output stds in [2^-0.75, 2^0.75] (got %.4f .. %.4f)", tag, lo_std, hi_std);
	tap_ok(s_pow2, "%s: saved scales are powers of two", tag);

	/* training with gamma, beta against the definition in double */
	memcpy(rm, rm0, C * sizeof(float));
	memcpy(rv, rv0, C * sizeof(float));
	batchnorm_shift_forward(out, mean, s, x, gamma, beta, rm, rv, B, C, HW, mom, eps, 1);
	float *want_mean = zeros(C), *want_s = zeros(C), *want_rm = zeros(C);
	int k_pow2 = 1;
	double worst_inv = 0.0;
	for (int ch = 0; ch < C; ch++) {
		double sum = 0.0, sq = 0.0;
		for (int b = 0; b < B; b++)
			for (int i = 0; i < HW; i++)
				sum += x[((size_t)b * C + ch) * HW + i];
		double mu = sum / cnt;
		float mf = (float)mu;
		for (int b = 0; b < B; b++)
			for (int i = 0; i < HW; i++) {
				double c = x[((size_t)b * C + ch) * HW + i] - mf; /* C as in float */
				sq += c * ref_ap2(c);
			}
		double inv = 1.0 / sqrt(sq / cnt + eps), sr = ref_ap2(inv), g2 = ref_ap2(gamma[ch]);
		want_mean[ch] = mf;
		want_s[ch] = (float)sr;
		want_rm[ch] = (float)((1.0 - mom) * rm0[ch] + mom * mu);
		double want_inv = (1.0 - mom) / sqrt((double)rv0[ch] + eps) + mom * inv;
		double got_inv = 1.0 / sqrt((double)rv[ch] + eps);
		worst_inv = fmax(worst_inv, fabs(got_inv / want_inv - 1.0));
		size_t big = (size_t)ch * HW; /* the element of largest |C| */
		for (int b = 0; b < B; b++)
			for (int i = 0; i < HW; i++) {
				size_t j = ((size_t)b * C + ch) * HW + i;
				float c = x[j] - mf;
				want[j] = (float)(g2 * c * sr + beta[ch]);
				if (fabsf(c) > fabsf(x[big] - mf))
					big = j;
			}
		/* (out - beta) / C is AP2(gamma) * s, a power of two */
		double ratio = ((double)out[big] - beta[ch]) / (double)(x[big] - mf);
		k_pow2 &= fabs(ratio / (g2 * sr) - 1.0) < 1e-4 && is_pow2(g2 * sr);
	}
	tap_near_arrays(out, want, n, 1e-5, 1e-5, "%s: training forward = AP2(g) C AP2(inv) + b",
			tag);
	tap_near_arrays(mean, want_mean, C, 1e-6, 1e-6, "%s: saved mean", tag);
	tap_near_arrays(s, want_s, C, 0.0, 0.0, "%s: saved scale = AP2(1/sqrt(var + eps))", tag);
	tap_ok(k_pow2, "%s: (out - beta) / C is AP2(gamma) * s, a power of two", tag);
	tap_near_arrays(rm, want_rm, C, 1e-6, 1e-6, "%s: running mean (momentum 1/8)", tag);
	tap_ok(worst_inv <= 1e-5,
	       "%s: running inverse std round-trips through running_var (rel. error %.2g)", tag,
	       worst_inv);

	/* eval: running statistics, mean and scale not written, running stats unchanged */
	float *rm_before = dup_floats(rm, C), *rv_before = dup_floats(rv, C);
	float *mean_saved = dup_floats(mean, C), *s_saved = dup_floats(s, C);
	memset(mean, 0x7f, C * sizeof(float));
	memset(s, 0x7f, C * sizeof(float));
	float *poison = dup_floats(mean, C), *eval_out = zeros(n);
	batchnorm_shift_forward(eval_out, mean, s, x, gamma, beta, rm, rv, B, C, HW, mom, eps, 0);
	for (int ch = 0; ch < C; ch++) {
		double k = ref_ap2(gamma[ch]) * ref_ap2(1.0 / sqrt((double)rv[ch] + eps));
		for (int b = 0; b < B; b++)
			for (int i = 0; i < HW; i++) {
				size_t j = ((size_t)b * C + ch) * HW + i;
				want[j] = (float)(k * ((double)x[j] - rm[ch]) + beta[ch]);
			}
	}
	tap_near_arrays(eval_out, want, n, 1e-5, 1e-5,
			"%s: eval = AP2(g) (x - rm) AP2(1/sqrt(rv + eps)) + b", tag);
	tap_ok(!memcmp(rm, rm_before, C * sizeof(float)) &&
		       !memcmp(rv, rv_before, C * sizeof(float)) &&
		       !memcmp(mean, poison, C * sizeof(float)) &&
		       !memcmp(s, poison, C * sizeof(float)),
	       "%s: eval writes neither running stats nor mean, scale", tag);
	memcpy(mean, mean_saved, C * sizeof(float));
	memcpy(s, s_saved, C * sizeof(float));

	/* backward against the coded formula in double */
	float *R = rand_floats(n, 1.0f), *dx = zeros(n), *dg = zeros(C), *db = zeros(C);
	float *want_dg = zeros(C), *want_db = zeros(C);
	batchnorm_shift_backward(dx, dg, db, R, x, gamma, mean, s, B, C, HW);
	double dx_max = 0.0;
	for (int ch = 0; ch < C; ch++) {
		double sg = 0.0, scg = 0.0, sxg = 0.0, sc = s[ch];
		for (int b = 0; b < B; b++)
			for (int i = 0; i < HW; i++) {
				size_t j = ((size_t)b * C + ch) * HW + i;
				float c = x[j] - mean[ch];
				sg += R[j];
				scg += ref_ap2(c) * R[j];
				sxg += ref_ap2((double)c * sc) * R[j];
			}
		double k = ref_ap2(gamma[ch]) * sc;
		for (int b = 0; b < B; b++)
			for (int i = 0; i < HW; i++) {
				size_t j = ((size_t)b * C + ch) * HW + i;
				double ch_ = ref_ap2(x[j] - mean[ch]);
				want[j] = (float)(k * (R[j] - sg / cnt - sc * sc * ch_ * scg / cnt));
				dx_max = fmax(dx_max, fabs(want[j]));
			}
		want_dg[ch] = (float)sxg;
		want_db[ch] = (float)sg;
	}
	tap_near_arrays(dx, want, n, 1e-5 * dx_max, 1e-4, "%s: dinp = coded formula", tag);
	tap_near_arrays(dg, want_dg, C, 1e-4, 1e-5, "%s: dgamma = sum AP2(xhat) g", tag);
	tap_near_arrays(db, want_db, C, 1e-4, 1e-5, "%s: dbeta = sum g", tag);
	float *dx1 = dup_floats(dx, n), *dg1 = dup_floats(dg, C), *db1 = dup_floats(db, C);
	batchnorm_shift_backward(dx, dg, db, R, x, gamma, mean, s, B, C, HW);
	check_doubled(TAP_NAME(name, "%s dinp", tag), dx, dx1, n);
	check_doubled(TAP_NAME(name, "%s dgamma", tag), dg, dg1, C);
	check_doubled(TAP_NAME(name, "%s dbeta", tag), db, db1, C);

	/* the same bits with 1 and 2 threads */
	float *o1 = zeros(n), *x1 = zeros(n), *g1 = zeros(C), *b1 = zeros(C);
	float *o2 = zeros(n), *x2 = zeros(n), *g2 = zeros(C), *b2 = zeros(C);
	threads_init(1);
	sbn_run(o1, x1, g1, b1, x, gamma, beta, R, B, C, HW);
	threads_init(2);
	sbn_run(o2, x2, g2, b2, x, gamma, beta, R, B, C, HW);
	tap_ok(!memcmp(o1, o2, n * sizeof(float)) && !memcmp(x1, x2, n * sizeof(float)) &&
		       !memcmp(g1, g2, C * sizeof(float)) && !memcmp(b1, b2, C * sizeof(float)),
	       "%s: 1 and 2 threads give the same bits", tag);

	float *bufs[] = {x,	 gamma,	   beta,      rm,     rv,     rm0,    rv0,   out,
			 mean,	 s,	   want,      want_mean, want_s, want_rm, rm_before,
			 rv_before, mean_saved, s_saved, poison, eval_out, R,   dx,    dg,
			 db,	 want_dg,  want_db,   dx1,    dg1,    db1,    o1,    x1,
			 g1,	 b1,	   o2,	      x2,     g2,     b2};
	for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
		free(bufs[i]);
}

/*
 * When every C = x - mu and inv are powers of two (and eps = 0, gamma powers
 * of two), AP2 changes nothing: shift BN is batch norm, forward and backward.
 * Each channel holds +-4 once, +-2 three times and +-1 four times (mean 0,
 * mean square 4), times 2^j, shuffled, plus a mean.
 */
static void
test_batchnorm_shift_exact(void)
{
	enum { EB = 4, EC = 3, EHW = 4, EN = EB * EC * EHW };
	static const float base[16] = {4, -4, 2, -2, 2, -2, 2, -2, 1, -1, 1, -1, 1, -1, 1, -1};
	static const float mu[EC] = {0.75f, -3.5f, 10.25f}, sc[EC] = {0.25f, 1.0f, 8.0f};
	float gamma[EC] = {0.5f, 2.0f, -1.0f}, beta[EC] = {0.1f, -0.2f, 0.3f};
	float x[EN], out1[EN], out2[EN], R[EN], dx1[EN] = {0}, dx2[EN] = {0};
	float mean1[EC], rstd1[EC], mean2[EC], s2[EC], rm1[EC] = {0}, rm2[EC] = {0};
	float rv1[EC] = {1, 1, 1}, rv2[EC] = {1, 1, 1}, want_s[EC];
	float dg1[EC] = {0}, dg2[EC] = {0}, db1[EC] = {0}, db2[EC] = {0};
	for (int b = 0; b < EB; b++)
		for (int c = 0; c < EC; c++)
			for (int i = 0; i < EHW; i++) {
				int k = ((b * EHW + i) * 5 + c * 3) % 16; /* a permutation */
				x[(b * EC + c) * EHW + i] = mu[c] + sc[c] * base[k];
			}
	for (int c = 0; c < EC; c++)
		want_s[c] = 0.5f / sc[c];
	for (int i = 0; i < EN; i++)
		R[i] = 2.0f * rng_uniform(&g_rng) - 1.0f;
	batchnorm_forward(out1, mean1, rstd1, x, gamma, beta, rm1, rv1, EB, EC, EHW, 0.125f, 0.0f,
			  1);
	batchnorm_shift_forward(out2, mean2, s2, x, gamma, beta, rm2, rv2, EB, EC, EHW, 0.125f,
				0.0f, 1);
	tap_same_floats(mean2, mu, EC, "shift BN on powers of two: exact mean");
	tap_same_floats(s2, want_s, EC, "shift BN on powers of two: scale = 1/std exactly");
	tap_same_floats(rstd1, want_s, EC, "batch norm on powers of two: rstd = 1/std exactly");
	tap_near_arrays(out2, out1, EN, 1e-6, 1e-6, "shift BN on powers of two = batch norm");
	batchnorm_backward(dx1, dg1, db1, R, x, gamma, mean1, rstd1, EB, EC, EHW);
	batchnorm_shift_backward(dx2, dg2, db2, R, x, gamma, mean2, s2, EB, EC, EHW);
	tap_near_arrays(dx2, dx1, EN, 1e-6, 1e-5, "shift BN backward on powers of two: dinp = BN's");
	tap_near_arrays(dg2, dg1, EC, 1e-6, 1e-5, "shift BN backward on powers of two: dgamma");
	tap_near_arrays(db2, db1, EC, 1e-6, 1e-5, "shift BN backward on powers of two: dbeta");
}

/* ---- elementwise layers ----------------------------------------------- */

enum ew_kind { EW_RELU, EW_HARDTANH, EW_DROPOUT };

struct ew_case {
	enum ew_kind kind;
	size_t n;
	float *x, *out, *mask, *R;
	uint64_t seed;
};

static double
ew_obj(void *p)
{
	struct ew_case *c = p;
	switch (c->kind) {
	case EW_RELU:
		relu_forward(c->out, c->x, c->n);
		break;
	case EW_HARDTANH:
		hardtanh_forward(c->out, c->x, c->n);
		break;
	case EW_DROPOUT: {
		struct rng r; /* the same mask on every call */
		rng_seed(&r, c->seed);
		dropout_forward(c->out, c->mask, c->x, c->n, 0.3f, 1, &r);
		break;
	}
	}
	return dot_r(c->out, c->R, c->n);
}

static void
test_elementwise(enum ew_kind kind)
{
	static const char *const names[] = {"relu", "hardtanh", "dropout"};
	static const float kinks[] = {0.0f, -1.0f, 1.0f};
	struct ew_case c = {.kind = kind, .n = 300, .seed = 99};
	c.x = rand_floats(c.n, 2.0f);
	avoid_kinks(c.x, c.n, kinks, 3, 0.05f);
	c.out = zeros(c.n);
	c.mask = zeros(c.n);
	c.R = rand_floats(c.n, 1.0f);
	ew_obj(&c);

	float *want = zeros(c.n);
	int mask_ok = 1;
	size_t kept = 0;
	for (size_t i = 0; i < c.n; i++) {
		float v = c.x[i];
		if (kind == EW_RELU)
			want[i] = v > 0 ? v : 0;
		else if (kind == EW_HARDTANH)
			want[i] = v < -1 ? -1 : v > 1 ? 1 : v;
		else {
			mask_ok &= c.mask[i] == 0.0f || c.mask[i] == 1.0f / 0.7f;
			kept += c.mask[i] != 0.0f;
			want[i] = v * c.mask[i];
		}
	}
	tap_same_floats(c.out, want, c.n, "%s forward", names[kind]);
	if (kind == EW_DROPOUT) {
		tap_ok(mask_ok, "dropout mask is 0 or 1/(1-p)");
		tap_ok(kept > 150 && kept < 270, "dropout keeps about 1-p (%zu of %zu)", kept, c.n);
		float *ev = zeros(c.n);
		dropout_forward(ev, c.mask, c.x, c.n, 0.3f, 0, &g_rng);
		tap_same_floats(ev, c.x, c.n, "dropout eval copies its input");
		free(ev);
		ew_obj(&c); /* the training mask again */
	}

	float *dx = zeros(c.n);
	for (int rep = 0; rep < 2; rep++) {
		if (kind == EW_RELU)
			relu_backward(dx, c.R, c.out, c.n);
		else if (kind == EW_HARDTANH)
			hardtanh_backward(dx, c.R, c.x, c.n);
		else
			dropout_backward(dx, c.R, c.mask, c.n);
		if (rep == 0) {
			char name[64];
			gradcheck(TAP_NAME(name, "%s d/dinp", names[kind]), ew_obj, &c, c.x, dx, c.n,
				  1e-2f, 1e-4, 1e-3);
			memcpy(want, dx, c.n * sizeof(float));
		}
	}
	check_doubled(names[kind], dx, want, c.n);
	free(dx);
	free(want);
	free(c.x);
	free(c.out);
	free(c.mask);
	free(c.R);
}

struct dup_case {
	int B, C, OC;
	size_t P;
	int32_t src[6];
	float factor[6];
	float *x, *out, *R;
};

static double
dup_obj(void *p)
{
	struct dup_case *c = p;
	chandup_forward(c->out, c->x, c->src, c->factor, c->B, c->C, c->OC, c->P);
	return dot_r(c->out, c->R, (size_t)c->B * c->OC * c->P);
}

/* Channel duplication: forward by hand, backward by finite differences. */
static void
test_chandup(void)
{
	/* 4 channels, appended: a weight-split copy of 2 (factor 1) and a halved channel 1 */
	struct dup_case c = {.B = 3, .C = 4, .OC = 6, .P = 5,
			     .src = {0, 1, 2, 3, 2, 1}, .factor = {1, 0.5f, 1, 1, 1, 0.5f}};
	size_t nx = (size_t)c.B * c.C * c.P, ny = (size_t)c.B * c.OC * c.P;
	c.x = rand_floats(nx, 1.0f);
	c.out = zeros(ny);
	c.R = rand_floats(ny, 1.0f);
	chandup_forward(c.out, c.x, c.src, c.factor, c.B, c.C, c.OC, c.P);
	int bad = 0;
	for (int b = 0; b < c.B; b++)
		for (int o = 0; o < c.OC; o++)
			for (size_t i = 0; i < c.P; i++) {
				float want = c.factor[o] * c.x[((size_t)b * c.C + c.src[o]) * c.P + i];
				bad += c.out[((size_t)b * c.OC + o) * c.P + i] != want;
			}
	tap_eq_int(bad, 0, "chandup forward copies and scales the source channels");
	float *dx = zeros(nx);
	chandup_backward(dx, c.R, c.src, c.factor, c.B, c.C, c.OC, c.P);
	gradcheck("chandup d/dx", dup_obj, &c, c.x, dx, nx, 1e-2f, 1e-4, 1e-3);
	free(dx);
	free(c.x);
	free(c.out);
	free(c.R);
}

struct res_case {
	size_t n;
	float *a, *b, *out, *R;
};

static double
res_obj(void *p)
{
	struct res_case *c = p;
	residual_forward(c->out, c->a, c->b, c->n);
	return dot_r(c->out, c->R, c->n);
}

static void
test_residual(void)
{
	struct res_case c = {.n = 200};
	c.a = rand_floats(c.n, 1.0f);
	c.b = rand_floats(c.n, 1.0f);
	c.out = zeros(c.n);
	c.R = rand_floats(c.n, 1.0f);
	float *da = zeros(c.n), *db = zeros(c.n);
	residual_backward(da, db, c.R, c.n);
	gradcheck("residual d/da", res_obj, &c, c.a, da, c.n, 1e-2f, 1e-4, 1e-3);
	gradcheck("residual d/db", res_obj, &c, c.b, db, c.n, 1e-2f, 1e-4, 1e-3);
	float *da1 = dup_floats(da, c.n);
	residual_backward(da, NULL, c.R, c.n);
	check_doubled("residual da", da, da1, c.n);
	free(da1);
	free(da);
	free(db);
	free(c.a);
	free(c.b);
	free(c.out);
	free(c.R);
}

/* ---- pooling ---------------------------------------------------------- */

enum pool_kind { POOL_MAX, POOL_AVG, POOL_GLOBAL };

struct pool_case {
	enum pool_kind kind;
	int B, C, H, W, K, S, OH, OW;
	float *x, *out, *R;
	int32_t *argmax;
};

static size_t
pool_nout(const struct pool_case *c)
{
	return c->kind == POOL_GLOBAL ? (size_t)c->B * c->C : (size_t)c->B * c->C * c->OH * c->OW;
}

static double
pool_obj(void *p)
{
	struct pool_case *c = p;
	if (c->kind == POOL_MAX)
		maxpool2d_forward(c->out, c->argmax, c->x, c->B, c->C, c->H, c->W, c->K, c->S);
	else if (c->kind == POOL_AVG)
		avgpool2d_forward(c->out, c->x, c->B, c->C, c->H, c->W, c->K, c->S);
	else
		globalavgpool_forward(c->out, c->x, c->B, c->C, c->H * c->W);
	return dot_r(c->out, c->R, pool_nout(c));
}

static void
test_pool(enum pool_kind kind, int K, int S)
{
	static const char *const names[] = {"maxpool", "avgpool", "globalavgpool"};
	struct pool_case c = {.kind = kind, .B = 2, .C = 3, .H = 7, .W = 6, .K = K, .S = S};
	c.OH = kind == POOL_GLOBAL ? 1 : (c.H - K) / S + 1;
	c.OW = kind == POOL_GLOBAL ? 1 : (c.W - K) / S + 1;
	size_t nx = (size_t)c.B * c.C * c.H * c.W, no = pool_nout(&c);
	c.x = zeros(nx);
	if (kind == POOL_MAX) {
		/* distinct values 0.05 apart, shuffled: no near-ties within the step */
		int *idx = xmalloc(nx * sizeof(int));
		for (size_t i = 0; i < nx; i++)
			idx[i] = (int)i;
		rng_shuffle(&g_rng, idx, (int)nx);
		for (size_t i = 0; i < nx; i++)
			c.x[i] = 0.05f * (float)idx[i] - 5.0f;
		free(idx);
	} else {
		free(c.x);
		c.x = rand_floats(nx, 1.0f);
	}
	c.out = zeros(no);
	c.R = rand_floats(no, 1.0f);
	c.argmax = xcalloc(no, sizeof(int32_t));
	pool_obj(&c);

	/* forward against the definition */
	float *want = zeros(no);
	int am_ok = 1;
	for (int p = 0; p < c.B * c.C; p++) {
		const float *x = c.x + (size_t)p * c.H * c.W;
		if (kind == POOL_GLOBAL) {
			double s = 0;
			for (int i = 0; i < c.H * c.W; i++)
				s += x[i];
			want[p] = (float)(s / (c.H * c.W));
			continue;
		}
		for (int oh = 0; oh < c.OH; oh++)
			for (int ow = 0; ow < c.OW; ow++) {
				double s = 0, m = -INFINITY;
				int mi = -1;
				for (int kh = 0; kh < K; kh++)
					for (int kw = 0; kw < K; kw++) {
						int j = (oh * S + kh) * c.W + ow * S + kw;
						s += x[j];
						if (x[j] > m) {
							m = x[j];
							mi = j;
						}
					}
				size_t o = ((size_t)p * c.OH + oh) * c.OW + ow;
				want[o] = kind == POOL_MAX ? (float)m : (float)(s / (K * K));
				if (kind == POOL_MAX)
					am_ok &= c.argmax[o] == mi;
			}
	}
	char tag[64], name[96];
	if (kind == POOL_GLOBAL)
		TAP_NAME(tag, "%s", names[kind]);
	else
		TAP_NAME(tag, "%s K=%d S=%d", names[kind], K, S);
	tap_near_arrays(c.out, want, no, 1e-6, 1e-6, "%s forward", tag);
	if (kind == POOL_MAX)
		tap_ok(am_ok, "%s argmax", tag);

	float *dx = zeros(nx);
	float *dx1 = NULL;
	for (int rep = 0; rep < 2; rep++) {
		if (kind == POOL_MAX)
			maxpool2d_backward(dx, c.R, c.argmax, c.B, c.C, c.H, c.W, K, S);
		else if (kind == POOL_AVG)
			avgpool2d_backward(dx, c.R, c.B, c.C, c.H, c.W, K, S);
		else
			globalavgpool_backward(dx, c.R, c.B, c.C, c.H * c.W);
		if (rep == 0) {
			gradcheck(TAP_NAME(name, "%s d/dinp", tag), pool_obj, &c, c.x, dx, nx, 1e-2f,
				  1e-4, 1e-3);
			dx1 = dup_floats(dx, nx);
		}
	}
	check_doubled(tag, dx, dx1, nx);
	free(dx1);
	free(dx);
	free(want);
	free(c.x);
	free(c.out);
	free(c.R);
	free(c.argmax);
}

/* ---- losses ----------------------------------------------------------- */

struct loss_case {
	int B, K, hinge;
	float *z, *probs;
	int32_t *labels;
};

static double
loss_obj(void *p)
{
	struct loss_case *c = p;
	if (c->hinge)
		return sqhinge_forward(c->z, c->labels, c->B, c->K);
	return softmax_xent_forward(c->probs, c->z, c->labels, c->B, c->K);
}

static void
test_loss(int hinge)
{
	struct loss_case c = {.B = 5, .K = 7, .hinge = hinge};
	size_t n = (size_t)c.B * c.K;
	c.z = rand_floats(n, 2.0f);
	if (hinge) {
		/* keep every margin 1 - t*y away from 0 */
		static const float kinks[] = {-1.0f, 1.0f};
		avoid_kinks(c.z, n, kinks, 2, 0.05f);
	}
	c.probs = zeros(n);
	c.labels = xmalloc(c.B * sizeof(int32_t));
	for (int i = 0; i < c.B; i++)
		c.labels[i] = (int32_t)rng_below(&g_rng, c.K);
	const char *name = hinge ? "sqhinge" : "softmax_xent";

	double got = loss_obj(&c), want = 0;
	for (int i = 0; i < c.B; i++) {
		const float *z = c.z + (size_t)i * c.K;
		if (hinge) {
			for (int k = 0; k < c.K; k++) {
				double t = k == c.labels[i] ? 1 : -1, m = 1 - t * z[k];
				want += m > 0 ? m * m : 0;
			}
		} else {
			double s = 0;
			for (int k = 0; k < c.K; k++)
				s += exp(z[k]);
			want += -log(exp(z[c.labels[i]]) / s);
		}
	}
	want /= hinge ? (double)n : (double)c.B;
	tap_near(got, want, 1e-5 * fabs(want) + 1e-6, "%s value", name);
	if (!hinge) {
		double worst = 0;
		for (int i = 0; i < c.B; i++) {
			double s = 0;
			for (int k = 0; k < c.K; k++)
				s += c.probs[i * c.K + k];
			worst = fmax(worst, fabs(s - 1.0));
		}
		tap_near(worst, 0.0, 1e-6, "softmax rows sum to 1");
	}

	float *dz = zeros(n);
	for (int rep = 0; rep < 2; rep++) {
		if (hinge)
			sqhinge_backward(dz, c.z, c.labels, c.B, c.K);
		else
			softmax_xent_backward(dz, c.probs, c.labels, c.B, c.K);
		if (rep == 0) {
			char nm[64];
			gradcheck(TAP_NAME(nm, "%s d/dlogits", name), loss_obj, &c, c.z, dz, n, 1e-2f,
				  1e-4, 1e-2);
			loss_obj(&c); /* probs of the unperturbed logits */
		}
	}
	float *dz1 = zeros(n);
	if (hinge)
		sqhinge_backward(dz1, c.z, c.labels, c.B, c.K);
	else
		softmax_xent_backward(dz1, c.probs, c.labels, c.B, c.K);
	check_doubled(name, dz, dz1, n);
	free(dz1);
	free(dz);
	free(c.z);
	free(c.probs);
	free(c.labels);
}

/* ---- determinism with 1 and 2 threads --------------------------------- */

/* Runs one forward+backward of several layers over shapes big enough to go parallel. */
struct det_out {
	float *conv_out, *conv_dx, *conv_dw, *conv_db;
	float *bn_out, *bn_dx, *bn_dg, *bn_db;
	float *lin_out, *lin_dx, *lin_dw;
	float *act_out, *pool_dx, *drop_out;
};

enum { DB = 8, DC = 4, DH = 14, DOC = 16, DK = 3, DIN = 300, DOUT = 70, DN = 70000 };

static void
det_run(struct det_out *o, const float *x, const float *w, const float *b, const float *R,
	const float *lx, const float *lw, const float *big)
{
	int OH = conv2d_out_size(DH, DK, 1, 1);
	size_t nx = (size_t)DB * DC * DH * DH, no = (size_t)DB * DOC * OH * OH;
	size_t nw = (size_t)DOC * DC * DK * DK;
	float *scratch = xalloc_floats(conv2d_scratch_floats(DB, DC, DH, DH, DOC, DK, 1, 1));
	o->conv_out = zeros(no);
	o->conv_dx = zeros(nx);
	o->conv_dw = zeros(nw);
	o->conv_db = zeros(DOC);
	conv2d_forward(o->conv_out, x, w, b, DB, DC, DH, DH, DOC, DK, 1, 1, scratch);
	conv2d_backward(o->conv_dx, o->conv_dw, o->conv_db, R, x, w, DB, DC, DH, DH, DOC, DK, 1, 1,
			scratch);

	float gamma[DOC], beta[DOC], rm[DOC] = {0}, rv[DOC], mean[DOC], rstd[DOC];
	for (int i = 0; i < DOC; i++) {
		gamma[i] = 1.0f + 0.1f * i;
		beta[i] = 0.01f * i;
		rv[i] = 1.0f;
	}
	o->bn_out = zeros(no);
	o->bn_dx = zeros(no);
	o->bn_dg = zeros(DOC);
	o->bn_db = zeros(DOC);
	batchnorm_forward(o->bn_out, mean, rstd, o->conv_out, gamma, beta, rm, rv, DB, DOC, OH * OH,
			  0.1f, 1e-5f, 1);
	batchnorm_backward(o->bn_dx, o->bn_dg, o->bn_db, R, o->conv_out, gamma, mean, rstd, DB,
			   DOC, OH * OH);

	o->lin_out = zeros((size_t)DB * DOUT);
	o->lin_dx = zeros((size_t)DB * DIN);
	o->lin_dw = zeros((size_t)DOUT * DIN);
	linear_forward(o->lin_out, lx, lw, NULL, DB, DIN, DOUT);
	linear_backward(o->lin_dx, o->lin_dw, NULL, R, lx, lw, DB, DIN, DOUT);

	o->act_out = zeros(DN);
	relu_forward(o->act_out, big, DN);
	o->pool_dx = zeros(no);
	int32_t *am = xmalloc(no / 4 * sizeof(int32_t));
	float *pooled = zeros(no / 4);
	maxpool2d_forward(pooled, am, o->bn_out, DB, DOC, OH, OH, 2, 2);
	maxpool2d_backward(o->pool_dx, R, am, DB, DOC, OH, OH, 2, 2);
	o->drop_out = zeros(DN);
	float *mask = zeros(DN);
	struct rng r;
	rng_seed(&r, 5);
	dropout_forward(o->drop_out, mask, big, DN, 0.5f, 1, &r);
	free(mask);
	free(pooled);
	free(am);
	xfree_aligned(scratch);
}

static void
det_free(struct det_out *o)
{
	float **f[] = {&o->conv_out, &o->conv_dx, &o->conv_dw, &o->conv_db, &o->bn_out,
		       &o->bn_dx,    &o->bn_dg,   &o->bn_db,   &o->lin_out,  &o->lin_dx,
		       &o->lin_dw,   &o->act_out, &o->pool_dx, &o->drop_out};
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		free(*f[i]);
}

static void
test_determinism(void)
{
	int OH = conv2d_out_size(DH, DK, 1, 1);
	size_t nx = (size_t)DB * DC * DH * DH, no = (size_t)DB * DOC * OH * OH;
	float *x = rand_floats(nx, 1.0f), *w = rand_floats((size_t)DOC * DC * DK * DK, 1.0f);
	float *b = rand_floats(DOC, 1.0f), *R = rand_floats(no > DN ? no : DN, 1.0f);
	float *lx = rand_floats((size_t)DB * DIN, 1.0f), *lw = rand_floats((size_t)DOUT * DIN, 1.0f);
	float *big = rand_floats(DN, 1.0f);
	struct det_out first_drop = {0};
	static const int counts[] = {1, 2};
	for (int t = 0; t < 2; t++) {
		int nt = threads_init(counts[t]);
		struct det_out a, c;
		det_run(&a, x, w, b, R, lx, lw, big);
		det_run(&c, x, w, b, R, lx, lw, big);
		int same = 1;
		same &= !memcmp(a.conv_out, c.conv_out, no * sizeof(float));
		same &= !memcmp(a.conv_dx, c.conv_dx, nx * sizeof(float));
		same &= !memcmp(a.conv_dw, c.conv_dw, (size_t)DOC * DC * DK * DK * sizeof(float));
		same &= !memcmp(a.conv_db, c.conv_db, DOC * sizeof(float));
		tap_ok(same, "conv2d forward/backward bit-identical on rerun, %d threads", nt);
		same = !memcmp(a.bn_out, c.bn_out, no * sizeof(float)) &&
		       !memcmp(a.bn_dx, c.bn_dx, no * sizeof(float)) &&
		       !memcmp(a.bn_dg, c.bn_dg, DOC * sizeof(float)) &&
		       !memcmp(a.bn_db, c.bn_db, DOC * sizeof(float));
		tap_ok(same, "batchnorm forward/backward bit-identical on rerun, %d threads", nt);
		same = !memcmp(a.lin_out, c.lin_out, (size_t)DB * DOUT * sizeof(float)) &&
		       !memcmp(a.lin_dx, c.lin_dx, (size_t)DB * DIN * sizeof(float)) &&
		       !memcmp(a.lin_dw, c.lin_dw, (size_t)DOUT * DIN * sizeof(float));
		tap_ok(same, "linear forward/backward bit-identical on rerun, %d threads", nt);
		same = !memcmp(a.act_out, c.act_out, DN * sizeof(float)) &&
		       !memcmp(a.pool_dx, c.pool_dx, no * sizeof(float)) &&
		       !memcmp(a.drop_out, c.drop_out, DN * sizeof(float));
		tap_ok(same, "relu, maxpool, dropout bit-identical on rerun, %d threads", nt);
		if (t == 0) {
			first_drop.drop_out = dup_floats(a.drop_out, DN);
		} else {
			tap_same_floats(a.drop_out, first_drop.drop_out, DN,
					"dropout mask independent of the thread count");
		}
		det_free(&a);
		det_free(&c);
	}
	free(first_drop.drop_out);
	free(x);
	free(w);
	free(b);
	free(R);
	free(lx);
	free(lw);
	free(big);
}

int
main(void)
{
	rng_seed(&g_rng, 20240);

	test_linear(1);
	test_linear(0);

	/* stride 1 and 2, padding 0, 1, 2; non-square input; pointwise; one image */
	static const int conv_cfg[][9] = {
		/* B, C, H, W, OC, K, S, P, bias */
		{2, 3, 7, 6, 4, 3, 1, 0, 1}, {2, 3, 7, 6, 4, 3, 1, 1, 0}, {2, 3, 7, 6, 4, 3, 1, 2, 1},
		{2, 3, 7, 6, 4, 3, 2, 0, 1}, {2, 3, 7, 6, 4, 3, 2, 1, 1}, {2, 3, 8, 7, 4, 3, 2, 2, 0},
		{3, 2, 5, 5, 3, 2, 2, 1, 1}, {2, 4, 5, 4, 3, 1, 1, 0, 1}, {2, 4, 5, 4, 3, 1, 2, 0, 1},
		{1, 3, 6, 6, 5, 3, 1, 1, 1}, {5, 1, 6, 6, 2, 5, 1, 2, 0},
	};
	for (size_t i = 0; i < sizeof(conv_cfg) / sizeof(conv_cfg[0]); i++) {
		const int *q = conv_cfg[i];
		test_conv(q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7], q[8]);
	}
	tap_eq_int(conv2d_out_size(28, 3, 1, 0), 26, "conv2d_out_size 28 k3 s1 p0");
	tap_eq_int(conv2d_out_size(28, 3, 2, 1), 14, "conv2d_out_size 28 k3 s2 p1");

	test_batchnorm(6, 3, 1);
	test_batchnorm(3, 4, 10);
	test_batchnorm(2, 3, 70); /* planes long enough for the streaming path */

	test_ap2();
	test_batchnorm_shift(16, 3, 1, 1.0f, 0.0f);
	test_batchnorm_shift(5, 6, 10, 0.1f, 0.5f);
	test_batchnorm_shift(4, 3, 70, 30.0f, -200.0f); /* streaming path */
	test_batchnorm_shift(3, 4, 81, 1000.0f, 2500.0f);
	test_batchnorm_shift_exact();

	test_elementwise(EW_RELU);
	test_elementwise(EW_HARDTANH);
	test_elementwise(EW_DROPOUT);
	test_residual();
	test_chandup();

	test_pool(POOL_MAX, 2, 2);
	test_pool(POOL_MAX, 3, 2);
	test_pool(POOL_AVG, 2, 2);
	test_pool(POOL_AVG, 3, 1);
	test_pool(POOL_GLOBAL, 0, 0);

	test_loss(0);
	test_loss(1);

	test_determinism();
	return tap_done();
}
