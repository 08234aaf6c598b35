/*
 * uniform: uniform fake quantization.
 *
 * Variant "lsq" (default): integer grid [qmin, qmax] with step s per tensor or
 * per channel (channel = leading axis, n / channels elements each) and an
 * integer zero point: y = (clamp(round(x/s) + zp, qmin, qmax) - zp)·s. Signed
 * grids are symmetric -2^(b-1)..2^(b-1)-1, unsigned ones 0..2^b-1. Backward is
 * LSQ (Esser et al. 2020): dx = dy·1[qmin <= round(x/s) + zp <= qmax] and
 * ds = f·Σ dy·(round(x/s) - x/s inside, clamped code - zp outside), with the
 * gradient scale f = 1/sqrt(numel_per_channel·qmax) when grad_scale is set,
 * else 1.
 *
 * Variant "clip": APoT's uniform alternative with a learnable clip alpha
 * (METHODS §1.1): weights α·round(clamp(x/α, -1, 1)·n)/n, n = 2^(b-1) - 1;
 * activations n = 2^b - 1 on [0, 1]; it runs through the RCF code of apot.c
 * with the level set {k/n}.
 */
#include <assert.h>
#include <math.h>

#include "engine/quant/quant.h"
#include "engine/util.h"

static const char *const uniform_variants[] = {"lsq", "clip", NULL};

static int
uniform_check(const struct quant_config *c, int variant, char **cause)
{
	if (variant == 1) {
		if (c->bits > 8)
			return err_set(cause, "uniform clip supports 2..8 bits (got %d)", c->bits);
		if (!(c->alpha > 0))
			return err_set(cause, "uniform clip needs alpha > 0 (got %g)",
				       (double)c->alpha);
		return 0;
	}
	int nch = c->channels > 0 ? c->channels : 1;
	for (int i = 0; i < nch; i++) {
		float s = c->scale ? c->scale[i] : c->alpha;
		if (!(s > 0))
			return err_set(cause, "uniform lsq needs a positive step (channel %d: %g)",
				       i, (double)s);
	}
	return 0;
}

static void
uniform_init(struct quant *q)
{
	if (q->variant != 1)
		return;
	int nsteps = q->role == QUANT_ROLE_WEIGHT ? (1 << (q->bits - 1)) - 1 : (1 << q->bits) - 1;
	for (int k = 0; k <= nsteps; k++)
		q->levels[k] = (float)k / (float)nsteps;
	q->n_levels = nsteps + 1;
	quant_rcf_build_lut(q);
}

/* y = (clamp(round(x/s) + zp) - zp)·s for one element; *r gets the unclamped code. */
static inline float
lsq_element(float x, float s, int zp, int qmin, int qmax, float *t, float *r)
{
	*t = x / s;
	*r = quant_round(*t) + (float)zp;
	float qc = *r < (float)qmin ? (float)qmin : *r > (float)qmax ? (float)qmax : *r;
	return (qc - (float)zp) * s;
}

static void
uniform_forward_ref(struct quant *q, float *y, const float *x, size_t n, int training)
{
	if (q->variant == 1) {
		quant_rcf_forward_ref(q, y, x, n, training);
		return;
	}
	size_t per = n / (size_t)q->channels;
	for (size_t i = 0; i < n; i++) {
		float t, r;
		y[i] = lsq_element(x[i], q->scale[i / per], q->zero_point, q->qmin, q->qmax, &t,
				   &r);
	}
}

static void
uniform_forward(struct quant *q, float *y, const float *x, size_t n, int training)
{
	if (q->variant == 1) {
		quant_rcf_forward(q, y, x, n, training);
		return;
	}
	size_t per = n / (size_t)q->channels;
	assert(per * (size_t)q->channels == n);
	int zp = q->zero_point, qmin = q->qmin, qmax = q->qmax;
	for (int c = 0; c < q->channels; c++) {
		float s = q->scale[c];
		const float *xc = x + (size_t)c * per;
		float *yc = y + (size_t)c * per;
#pragma omp parallel for simd schedule(static) if (per > 65536)
		for (size_t i = 0; i < per; i++) {
			float t, r;
			yc[i] = lsq_element(xc[i], s, zp, qmin, qmax, &t, &r);
		}
	}
}

static double
lsq_factor(const struct quant *q, size_t per)
{
	return q->grad_scale ? 1.0 / sqrt((double)per * (double)q->qmax) : 1.0;
}

/* Input-gradient mask and step-gradient term of one element. */
static inline float
lsq_grad(float x, float s, int zp, int qmin, int qmax, float *term)
{
	float t, r;
	(void)lsq_element(x, s, zp, qmin, qmax, &t, &r);
	int inside = r >= (float)qmin && r <= (float)qmax;
	*term = inside ? (r - (float)zp) - t : (float)((r < (float)qmin ? qmin : qmax) - zp);
	return inside ? 1.0f : 0.0f;
}

static void
uniform_backward_ref(struct quant *q, float *dx, const float *dy, const float *x, size_t n)
{
	if (q->variant == 1) {
		quant_rcf_backward_ref(q, dx, dy, x, n);
		return;
	}
	size_t per = n / (size_t)q->channels;
	double f = lsq_factor(q, per);
	for (int c = 0; c < q->channels; c++) {
		double ds = 0;
		for (size_t i = (size_t)c * per; i < (size_t)(c + 1) * per; i++) {
			float term;
			float m = lsq_grad(x[i], q->scale[c], q->zero_point, q->qmin, q->qmax, &term);
			if (dx)
				dx[i] += dy[i] * m;
			ds += (double)(dy[i] * term);
		}
		q->dscale[c] += f * ds;
	}
}

static void
uniform_backward(struct quant *q, float *dx, const float *dy, const float *x, size_t n)
{
	if (q->variant == 1) {
		quant_rcf_backward(q, dx, dy, x, n);
		return;
	}
	size_t per = n / (size_t)q->channels;
	double f = lsq_factor(q, per);
	int zp = q->zero_point, qmin = q->qmin, qmax = q->qmax;
	for (int c = 0; c < q->channels; c++) {
		double ds = 0;
		float s = q->scale[c];
		size_t base = (size_t)c * per;
#pragma omp parallel for schedule(static) reduction(+ : ds) if (per > 65536)
		for (size_t i = 0; i < per; i++) {
			float term;
			float m = lsq_grad(x[base + i], s, zp, qmin, qmax, &term);
			if (dx)
				dx[base + i] += dy[base + i] * m;
			ds += (double)(dy[base + i] * term);
		}
		q->dscale[c] += f * ds;
	}
}

static int
uniform_levels(const struct quant *q, float *out, int cap)
{
	if (q->variant == 1)
		return quant_rcf_levels(q, out, cap);
	int n = 0;
	for (int k = q->qmin; k <= q->qmax; k++) {
		float v = (float)(k - q->zero_point) * q->scale[0];
		if (v < 0)
			continue;
		if (n == cap)
			return -1;
		out[n++] = v;
	}
	return n;
}

static struct quant_cost
uniform_cost(const struct quant *q)
{
	return (struct quant_cost){q->bits, 0};
}

const struct quant_scheme quant_scheme_uniform = {
	.name = "uniform",
	.help = "uniform grid: LSQ learnable step (per tensor or channel) or a learnable clip",
	.min_bits = 2,
	.max_bits = 16,
	.variants = uniform_variants,
	.check = uniform_check,
	.init = uniform_init,
	.forward = uniform_forward,
	.forward_ref = uniform_forward_ref,
	.backward = uniform_backward,
	.backward_ref = uniform_backward_ref,
	.levels = uniform_levels,
	.cost = uniform_cost,
};
