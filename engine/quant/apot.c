/*
 * apot: Additive Powers-of-Two quantization (Li, Dong, Wang, ICLR 2020;
 * METHODS §1) and the reparameterized clipping function (RCF) shared with
 * pot.c and the clip variant of uniform.c.
 *
 * Level sets Λ_B (B = 2..6) are every sum of one term from each of up to three
 * sets of powers of two, normalised to max 1 (METHODS §1.1). Weights at b bits
 * project sign(c)·P(|c|) onto Λ_{b-1} (b = 2: ternary with "calibrated"
 * gradients, unmasked); activations project P(c) onto Λ_b. Variant "imagenet"
 * (default) clamps activations to [0, 1] and masks the input gradient with
 * inclusive bounds; variant "cifar" clamps activations only from above and
 * passes the weight gradient unmasked. The alpha gradient is the RCF closed
 * form of METHODS §1.3. Projection ties go to the lower level.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/quant/quant.h"
#include "engine/util.h"

/* Exponents of the term sets of Λ_B (METHODS §1.1 table); 0 ends a set, each set holds 0. */
static const int apot_terms[7][3][4] = {
	[2] = {{1, 2, 3, 0}, {0}, {0}},
	[3] = {{1, 2, 4, 0}, {3, 0}, {0}},
	[4] = {{1, 3, 5, 0}, {2, 4, 6, 0}, {0}},
	[5] = {{1, 3, 6, 0}, {2, 4, 7, 0}, {5, 0}},
	[6] = {{1, 4, 7, 0}, {2, 5, 8, 0}, {3, 6, 9, 0}},
};
/* Additive terms per level (shift-adds per MAC) for B = 0..6. */
static const int apot_nterms[7] = {0, 1, 1, 2, 2, 3, 3};

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/*
 * out (2^B) <- Λ_B ascending. B must be in 1..6 (B = 1, used for 2-bit
 * weights, is the ternary magnitude set {0, 1}). Returns the count.
 */
int
quant_apot_build_levels(float *out, int B, int additive)
{
	double sets[3][64];
	int len[3] = {1, 1, 1};
	for (int s = 0; s < 3; s++)
		sets[s][0] = 0;
	if (B == 1) {
		out[0] = 0;
		out[1] = 1;
		return 2;
	}
	if (additive) {
		for (int s = 0; s < 3; s++)
			for (int k = 0; k < 4 && apot_terms[B][s][k]; k++)
				sets[s][len[s]++] = ldexp(1.0, -apot_terms[B][s][k]);
	} else {
		for (int e = 1; e <= (1 << B) - 1; e++)
			sets[0][len[0]++] = ldexp(1.0, -e);
	}
	double all[64 * 4 * 4];
	int n = 0;
	for (int a = 0; a < len[0]; a++)
		for (int b = 0; b < len[1]; b++)
			for (int c = 0; c < len[2]; c++)
				all[n++] = sets[0][a] + sets[1][b] + sets[2][c];
	qsort(all, (size_t)n, sizeof all[0], cmp_double);
	int m = 0;
	for (int i = 0; i < n; i++)
		if (m == 0 || all[i] != all[m - 1])
			all[m++] = all[i];
	for (int i = 0; i < m; i++)
		out[i] = (float)(all[i] / all[m - 1]);
	return m;
}

/* The level nearest to c (levels ascending; plain scan); ties go to the lower one. */
static inline float
nearest_ref(const float *lv, int nl, float c)
{
	int best = 0;
	float bd = fabsf(c - lv[0]);
	for (int i = 1; i < nl; i++) {
		float d = fabsf(c - lv[i]);
		if (d < bd) {
			bd = d;
			best = i;
		}
	}
	return lv[best];
}

/*
 * The same through the lookup table: b = floor(c·BINS) is exact (BINS is a power
 * of two), so levels[lut[b]] <= b/BINS <= c; a short walk up brackets c between
 * adjacent levels and the same distance comparison decides. Bit-identical to
 * nearest_ref, NaN included (it gives lv[0]).
 */
static inline float
nearest_lut(const uint16_t *lut, const float *lv, int nl, float c)
{
	if (!(c > lv[0]))
		return lv[0];
	if (c >= lv[nl - 1])
		return lv[nl - 1];
	int lo = lut[(int)(c * (float)QUANT_LUT_BINS)];
	while (lv[lo + 1] <= c)
		lo++;
	return fabsf(c - lv[lo + 1]) < fabsf(c - lv[lo]) ? lv[lo + 1] : lv[lo];
}

void
quant_rcf_build_lut(struct quant *q)
{
	int i = 0;
	for (int b = 0; b <= QUANT_LUT_BINS; b++) {
		double edge = (double)b / QUANT_LUT_BINS;
		while (i + 1 < q->n_levels && (double)q->levels[i + 1] <= edge)
			i++;
		q->lut[b] = (uint16_t)i;
	}
}

/* Normalised, clipped input c and its signed projection qv for x; returns t = x/alpha. */
#define RCF_ELEMENT(NEAREST)                                                          \
	float t = x[i] / alpha, c, qv;                                                \
	if (w) {                                                                      \
		c = t < -1 ? -1 : t > 1 ? 1 : t;                                      \
		float m = NEAREST(lv, nl, fabsf(c));                                  \
		qv = c < 0 ? -m : m;                                                  \
	} else {                                                                      \
		c = t > 1 ? 1 : (!top && t < 0) ? 0 : t;                              \
		qv = NEAREST(lv, nl, c);                                              \
	}
/* nearest() through the quantizer's table (lut in scope) */
#define NEAREST_LUT(lv, nl, c) nearest_lut(lut, lv, nl, c)

void
quant_rcf_forward_ref(struct quant *q, float *y, const float *x, size_t n, int training)
{
	(void)training;
	const float *lv = q->levels, alpha = q->alpha;
	int nl = q->n_levels, w = q->role == QUANT_ROLE_WEIGHT, top = q->rcf_clamp_top;
	for (size_t i = 0; i < n; i++) {
		RCF_ELEMENT(nearest_ref)
		(void)c;
		y[i] = qv * alpha;
	}
}

void
quant_rcf_forward(struct quant *q, float *y, const float *x, size_t n, int training)
{
	(void)training;
	const float *lv = q->levels, alpha = q->alpha;
	const uint16_t *lut = q->lut;
	int nl = q->n_levels, w = q->role == QUANT_ROLE_WEIGHT, top = q->rcf_clamp_top;
#pragma omp parallel for schedule(static) if (n > 65536)
	for (size_t i = 0; i < n; i++) {
		RCF_ELEMENT(NEAREST_LUT)
		(void)c;
		y[i] = qv * alpha;
	}
}

/* Per element: input-gradient mask and alpha-gradient term (METHODS §1.3). */
#define RCF_GRAD(NEAREST)                                                             \
	RCF_ELEMENT(NEAREST)                                                          \
	(void)c;                                                                      \
	float mask, term;                                                             \
	if (w) {                                                                      \
		mask = (unm || (t >= -1 && t <= 1)) ? 1.0f : 0.0f;                    \
		term = t > 1 ? 1.0f : t < -1 ? -1.0f : qv - t;                        \
	} else if (top) {                                                             \
		mask = t <= 1 ? 1.0f : 0.0f;                                          \
		term = t > 1 ? 1.0f : qv - t;                                         \
	} else {                                                                      \
		mask = (t >= 0 && t <= 1) ? 1.0f : 0.0f;                              \
		term = t > 1 ? 1.0f : t < 0 ? 0.0f : qv - t;                          \
	}

void
quant_rcf_backward_ref(struct quant *q, float *dx, const float *dy, const float *x, size_t n)
{
	const float *lv = q->levels, alpha = q->alpha;
	int nl = q->n_levels, w = q->role == QUANT_ROLE_WEIGHT, top = q->rcf_clamp_top;
	int unm = q->rcf_unmasked;
	double da = 0;
	for (size_t i = 0; i < n; i++) {
		RCF_GRAD(nearest_ref)
		if (dx)
			dx[i] += dy[i] * mask;
		da += (double)(dy[i] * term);
	}
	q->dalpha += da;
}

void
quant_rcf_backward(struct quant *q, float *dx, const float *dy, const float *x, size_t n)
{
	const float *lv = q->levels, alpha = q->alpha;
	const uint16_t *lut = q->lut;
	int nl = q->n_levels, w = q->role == QUANT_ROLE_WEIGHT, top = q->rcf_clamp_top;
	int unm = q->rcf_unmasked;
	double da = 0;
#pragma omp parallel for schedule(static) reduction(+ : da) if (n > 65536)
	for (size_t i = 0; i < n; i++) {
		RCF_GRAD(NEAREST_LUT)
		if (dx)
			dx[i] += dy[i] * mask;
		da += (double)(dy[i] * term);
	}
	q->dalpha += da;
}

void
quant_apot_first_last(float *y, const float *x, size_t n)
{
	float m = -INFINITY;
	for (size_t i = 0; i < n; i++)
		m = x[i] > m ? x[i] : m;
	for (size_t i = 0; i < n; i++)
		y[i] = quant_round(x[i] / m * 127.0f) / 127.0f * m;
}

void
quant_wn_forward(float *what, float *mean, float *std, const float *w, size_t n)
{
	double s = 0, ss = 0;
#pragma omp parallel for schedule(static) reduction(+ : s) if (n > 65536)
	for (size_t i = 0; i < n; i++)
		s += w[i];
	double mu = s / (double)n;
#pragma omp parallel for schedule(static) reduction(+ : ss) if (n > 65536)
	for (size_t i = 0; i < n; i++)
		ss += (w[i] - mu) * (w[i] - mu);
	double sd = sqrt(ss / (double)(n - 1));
#pragma omp parallel for schedule(static) if (n > 65536)
	for (size_t i = 0; i < n; i++)
		what[i] = (float)((w[i] - mu) / sd);
	*mean = (float)mu;
	*std = (float)sd;
}

/* dw = (g - mean(g) - what * sum(g what) / (n - 1)) / std, the derivative of (w - mu)/sigma. */
void
quant_wn_backward(float *dw, const float *dwhat, const float *what, float std, size_t n)
{
	double sg = 0, sgx = 0;
#pragma omp parallel for schedule(static) reduction(+ : sg, sgx) if (n > 65536)
	for (size_t i = 0; i < n; i++) {
		sg += dwhat[i];
		sgx += (double)dwhat[i] * what[i];
	}
	double mg = sg / (double)n, k = sgx / (double)(n - 1);
#pragma omp parallel for schedule(static) if (n > 65536)
	for (size_t i = 0; i < n; i++)
		dw[i] += (float)((dwhat[i] - mg - what[i] * k) / std);
}

const char *const quant_apot_variants[] = {"imagenet", "cifar", NULL};

int
quant_apot_check(const struct quant_config *c, int variant, char **cause)
{
	(void)variant;
	if (!(c->alpha > 0))
		return err_set(cause, "%s needs alpha > 0 (got %g)", c->scheme, (double)c->alpha);
	return 0;
}

void
quant_rcf_levels_init(struct quant *q, int additive)
{
	int w = q->role == QUANT_ROLE_WEIGHT;
	int B = w ? q->bits - 1 : q->bits;
	q->n_levels = quant_apot_build_levels(q->levels, B, additive);
	quant_rcf_build_lut(q);
	q->rcf_unmasked = w && (q->bits == 2 || q->variant == 1);
	q->rcf_clamp_top = !w && q->variant == 1;
}

int
quant_rcf_levels(const struct quant *q, float *out, int cap)
{
	if (q->n_levels > cap)
		return -1;
	for (int i = 0; i < q->n_levels; i++)
		out[i] = q->levels[i] * q->alpha;
	return q->n_levels;
}

static void
apot_init(struct quant *q)
{
	quant_rcf_levels_init(q, 1);
}

static struct quant_cost
apot_cost(const struct quant *q)
{
	int B = q->role == QUANT_ROLE_WEIGHT ? q->bits - 1 : q->bits;
	return (struct quant_cost){0, apot_nterms[B]};
}

const struct quant_scheme quant_scheme_apot = {
	.name = "apot",
	.help = "additive powers-of-two levels with a learnable clip (RCF)",
	.min_bits = 2,
	.max_bits = 6,
	.variants = quant_apot_variants,
	.check = quant_apot_check,
	.init = apot_init,
	.forward = quant_rcf_forward,
	.forward_ref = quant_rcf_forward_ref,
	.backward = quant_rcf_backward,
	.backward_ref = quant_rcf_backward_ref,
	.levels = quant_rcf_levels,
	.cost = apot_cost,
};
