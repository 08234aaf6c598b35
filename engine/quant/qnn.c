/*
 * qnn: binarization and k-bit quantization of QNN/BNN (Hubara et al., JMLR
 * 2018; METHODS §3).
 *
 * Variants (1 bit): "det" y = sign(x) with sign(0) = +1 (the paper; sign0_zero
 * selects PyTorch's 0); "stoch" y = +1 with probability clip((x+1)/2, 0, 1) in
 * training passes (deterministic otherwise), drawn from the quantizer's seed,
 * its call count and the element's block of 4096, so results do not depend on
 * the thread count. Backward: weights pass the gradient unchanged (it is
 * applied to the real weights, which quant_qnn_clip_weights keeps in [-1, 1]);
 * activations use the hardtanh STE dy·1[|x| < 1] (strict, as PyTorch).
 * Variants (k >= 2 bits), the engine's reading of §3.3: "linear" y =
 * clip(Δ·round(x/Δ), minV, maxV), Δ = (maxV - minV)/(2^k - 1), [minV, maxV] =
 * [-α, α] for weights, [0, α] for activations; "log" y = sign(x)·2^e with e =
 * clip(round(log2|x|), e_max - 2^(k-1) + 1, e_max), e_max = round(log2 α),
 * y(0) = 0. Both pass dy inside [minV, maxV] (|x| <= α for log); α is fixed.
 * Shift-based batch norm and AdaMax (§3.4, §3.5) belong to training.
 */
#include <math.h>

#include "engine/quant/quant.h"
#include "engine/util.h"

enum { QNN_DET, QNN_STOCH, QNN_LINEAR, QNN_LOG };
static const char *const qnn_variants[] = {"det", "stoch", "linear", "log", NULL};
#define QNN_BLOCK 4096

static int
qnn_check(const struct quant_config *c, int variant, char **cause)
{
	if (variant <= QNN_STOCH && c->bits != 1)
		return err_set(cause, "qnn %s binarizes: it needs bits=1 (got %d)",
			       qnn_variants[variant], c->bits);
	if (variant >= QNN_LINEAR && c->bits < 2)
		return err_set(cause, "qnn %s needs at least 2 bits (got %d)",
			       qnn_variants[variant], c->bits);
	if (variant >= QNN_LINEAR && !(c->alpha > 0))
		return err_set(cause, "qnn %s needs alpha > 0 (got %g)", qnn_variants[variant],
			       (double)c->alpha);
	return 0;
}

float
quant_ap2(float x)
{
	if (x == 0)
		return 0;
	double e = nearbyint(log2(fabs((double)x)));
	return (float)copysign(ldexp(1.0, (int)e), (double)x);
}

static inline float
log_element(float x, int emin, int emax)
{
	if (x == 0)
		return 0;
	int e = (int)nearbyint(log2(fabs((double)x)));
	e = e < emin ? emin : e > emax ? emax : e;
	return (float)copysign(ldexp(1.0, e), (double)x);
}

struct qnn_params {
	float lo, hi, delta, sign0;
	int emin, emax;
};

static void
qnn_params(const struct quant *q, struct qnn_params *p)
{
	p->sign0 = q->sign0_zero ? 0.0f : 1.0f;
	p->hi = q->alpha;
	p->lo = q->role == QUANT_ROLE_WEIGHT ? -q->alpha : 0.0f;
	p->delta = (p->hi - p->lo) / (float)((1 << q->bits) - 1);
	p->emax = q->alpha > 0 ? (int)nearbyint(log2((double)q->alpha)) : 0;
	p->emin = p->emax - (1 << (q->bits - 1)) + 1;
}

static inline float
qnn_element(const struct quant *q, const struct qnn_params *p, float x)
{
	switch (q->variant) {
	case QNN_LINEAR: {
		float v = p->delta * quant_round(x / p->delta);
		return v < p->lo ? p->lo : v > p->hi ? p->hi : v;
	}
	case QNN_LOG:
		return log_element(x, p->emin, p->emax);
	default:
		return x > 0 ? 1.0f : x < 0 ? -1.0f : p->sign0;
	}
}

/* Stochastic binarization of x[b0, b1) with its own stream. */
static void
stoch_block(const struct quant *q, float *y, const float *x, size_t b0, size_t b1, size_t blk)
{
	struct rng parent, r;
	rng_seed(&parent, q->seed);
	rng_split(&r, &parent, (q->calls << 32) ^ (uint64_t)blk);
	for (size_t i = b0; i < b1; i++) {
		float p = (x[i] + 1.0f) * 0.5f;
		p = p < 0 ? 0 : p > 1 ? 1 : p;
		y[i] = rng_uniform(&r) < p ? 1.0f : -1.0f;
	}
}

static void
qnn_forward_ref(struct quant *q, float *y, const float *x, size_t n, int training)
{
	struct qnn_params p;
	qnn_params(q, &p);
	if (q->variant == QNN_STOCH && training) {
		for (size_t b = 0; b * QNN_BLOCK < n; b++) {
			size_t e = (b + 1) * QNN_BLOCK;
			stoch_block(q, y, x, b * QNN_BLOCK, e < n ? e : n, b);
		}
		return;
	}
	for (size_t i = 0; i < n; i++)
		y[i] = qnn_element(q, &p, x[i]);
}

static void
qnn_forward(struct quant *q, float *y, const float *x, size_t n, int training)
{
	struct qnn_params p;
	qnn_params(q, &p);
	if (q->variant == QNN_STOCH && training) {
		size_t nb = (n + QNN_BLOCK - 1) / QNN_BLOCK;
#pragma omp parallel for schedule(static) if (nb > 4)
		for (size_t b = 0; b < nb; b++) {
			size_t e = (b + 1) * QNN_BLOCK;
			stoch_block(q, y, x, b * QNN_BLOCK, e < n ? e : n, b);
		}
		return;
	}
#pragma omp parallel for schedule(static) if (n > 65536)
	for (size_t i = 0; i < n; i++)
		y[i] = qnn_element(q, &p, x[i]);
}

static inline float
qnn_mask(const struct quant *q, const struct qnn_params *p, float x)
{
	switch (q->variant) {
	case QNN_LINEAR:
		return x >= p->lo && x <= p->hi ? 1.0f : 0.0f;
	case QNN_LOG:
		return fabsf(x) <= p->hi ? 1.0f : 0.0f;
	default:
		if (q->role == QUANT_ROLE_WEIGHT)
			return 1.0f;
		return fabsf(x) < 1.0f ? 1.0f : 0.0f;
	}
}

static void
qnn_backward_ref(struct quant *q, float *dx, const float *dy, const float *x, size_t n)
{
	struct qnn_params p;
	qnn_params(q, &p);
	if (!dx)
		return;
	for (size_t i = 0; i < n; i++)
		dx[i] += dy[i] * qnn_mask(q, &p, x[i]);
}

static void
qnn_backward(struct quant *q, float *dx, const float *dy, const float *x, size_t n)
{
	struct qnn_params p;
	qnn_params(q, &p);
	if (!dx)
		return;
#pragma omp parallel for simd schedule(static) if (n > 65536)
	for (size_t i = 0; i < n; i++)
		dx[i] += dy[i] * qnn_mask(q, &p, x[i]);
}

void
quant_qnn_grad(float *g, size_t n, int bits)
{
	float m = 0;
	for (size_t i = 0; i < n; i++)
		m = fabsf(g[i]) > m ? fabsf(g[i]) : m;
	if (m == 0)
		return;
	int emax = (int)nearbyint(log2((double)m));
	int emin = emax - (1 << (bits - 1)) + 1;
	for (size_t i = 0; i < n; i++)
		g[i] = log_element(g[i], emin, emax);
}

void
quant_qnn_clip_weights(float *w, size_t n)
{
	for (size_t i = 0; i < n; i++)
		w[i] = w[i] < -1 ? -1 : w[i] > 1 ? 1 : w[i];
}

static int
qnn_levels(const struct quant *q, float *out, int cap)
{
	struct qnn_params p;
	qnn_params(q, &p);
	int n = 0;
	if (q->variant <= QNN_STOCH) {
		if (cap < 1)
			return -1;
		out[0] = 1;
		return 1;
	}
	if (q->variant == QNN_LOG) {
		if (cap < p.emax - p.emin + 2)
			return -1;
		out[n++] = 0;
		for (int e = p.emin; e <= p.emax; e++)
			out[n++] = ldexpf(1.0f, e);
		return n;
	}
	for (int k = 0;; k++) {
		float v = qnn_element(q, &p, (float)k * p.delta);
		if (n == cap)
			return -1;
		out[n++] = v;
		if (v >= p.hi)
			break;
	}
	return n;
}

/* Binary: XNOR-popcount (1-bit operands); log: one shift per MAC. */
static struct quant_cost
qnn_cost(const struct quant *q)
{
	if (q->variant <= QNN_STOCH)
		return (struct quant_cost){1, 0};
	if (q->variant == QNN_LOG)
		return (struct quant_cost){0, 1};
	return (struct quant_cost){q->bits, 0};
}

const struct quant_scheme quant_scheme_qnn = {
	.name = "qnn",
	.help = "QNN/BNN: sign binarization (det, stoch) or k-bit linear/log quantization",
	.min_bits = 1,
	.max_bits = 8,
	.variants = qnn_variants,
	.check = qnn_check,
	.init = NULL,
	.forward = qnn_forward,
	.forward_ref = qnn_forward_ref,
	.backward = qnn_backward,
	.backward_ref = qnn_backward_ref,
	.levels = qnn_levels,
	.cost = qnn_cost,
};
