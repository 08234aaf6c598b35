/*
 * optim: SGD (momentum, Nesterov), Adam and AdaMax as fused elementwise loops
 * over the parameter arena, and the learning-rate schedules (formulas in
 * optim.h).
 *
 * Arithmetic is in float, as the parameters; the per-step scalars (bias
 * corrections) are computed in double. Each update is one OpenMP loop with a
 * static schedule: every element is updated by exactly one thread with the
 * same operations, so the result is the same for any thread count. Padding
 * between tensors (zero value, gradient and state) stays zero.
 */
#include <assert.h>
#include <math.h>
#include <stdlib.h>

#include "engine/optim.h"
#include "engine/util.h"

#ifdef __SSE__
#include <xmmintrin.h>
#endif

/* Elements per Adam block (see adam_tile()). */
#define ADAM_TILE 256

static const char *const optim_kind_list[OPTIM_COUNT + 1] = {
	[OPTIM_SGD] = "sgd", [OPTIM_ADAM] = "adam", [OPTIM_ADAMAX] = "adamax", NULL};
static const char *const optim_sched_list[SCHED_COUNT + 1] = {
	[SCHED_CONSTANT] = "constant", [SCHED_STEP] = "step", [SCHED_COSINE] = "cosine", NULL};

const char *const *
optim_kind_names(void)
{
	return optim_kind_list;
}

const char *const *
optim_sched_names(void)
{
	return optim_sched_list;
}

struct optim {
	struct optim_hparams h;
	float *param;
	const float *grad;
	size_t n_decay, n;
	float *state; /* slots of n floats: SGD buf; Adam m, v; AdaMax m, u (owned) */
	long t;	      /* steps taken */
};

struct optim *
optim_new(const struct optim_hparams *h, float *param, const float *grad, size_t n_decay, size_t n)
{
	assert(h->kind >= 0 && h->kind < OPTIM_COUNT && n_decay <= n);
	struct optim *o = xcalloc(1, sizeof *o);
	o->h = *h;
	o->param = param;
	o->grad = grad;
	o->n_decay = n_decay;
	o->n = n;
	size_t slots = h->kind == OPTIM_SGD ? 1 : 2;
	o->state = xalloc_floats(slots * n);
	return o;
}

void
optim_free(struct optim *o)
{
	if (!o)
		return;
	xfree_aligned(o->state);
	free(o);
}

/*
 * Each update runs as one parallel region over the arena. SGD and AdaMax:
 * the weight-decayed prefix [0, n_decay) and the rest are two work-shared
 * loops with the same element function (wd = 0 for the rest), so every
 * element is visited once; Adam: one loop over blocks (adam_tile()).
 */

/* SGD: d = nesterov ? g + mu*buf : buf, written as a*g + c*buf (exact either way). */
struct sgd_k {
	float lr, mu, wd, a, c;
};

static inline void
sgd_elem(const struct sgd_k *k, float wd, float *restrict p, float *restrict buf,
	 const float *restrict grad, size_t i)
{
	float g = grad[i] + wd * p[i];
	float b = k->mu * buf[i] + g;
	buf[i] = b;
	p[i] -= k->lr * (k->a * g + k->c * b);
}

static void
sgd_update(struct optim *o, double lr)
{
	float *restrict p = o->param, *restrict buf = o->state;
	const float *restrict grad = o->grad;
	const struct sgd_k k = {
		.lr = (float)lr,
		.mu = (float)o->h.momentum,
		.wd = (float)o->h.wd,
		.a = o->h.nesterov ? 1.0f : 0.0f,
		.c = o->h.nesterov ? (float)o->h.momentum : 1.0f,
	};
	const size_t n = o->n, nd = o->n_decay;
#pragma omp parallel
	{
#pragma omp for simd schedule(static) nowait
		for (size_t i = 0; i < nd; i++)
			sgd_elem(&k, k.wd, p, buf, grad, i);
#pragma omp for simd schedule(static)
		for (size_t i = nd; i < n; i++)
			sgd_elem(&k, 0.0f, p, buf, grad, i);
	}
}

/* Adam and AdaMax: constants of one step. */
struct adam_k {
	float b1, b2, eps, step, rsqrt_bc2;
};

/* Square roots of x (n) in place (SSE when the compiler targets it; same IEEE results). */
static void
sqrt_floats(float *x, size_t n)
{
	size_t j = 0;
#ifdef __SSE__
	for (; j + 4 <= n; j += 4)
		_mm_storeu_ps(x + j, _mm_sqrt_ps(_mm_loadu_ps(x + j)));
#endif
	for (; j < n; j++)
		x[j] = sqrtf(x[j]);
}

/*
 * Adam on [lo, hi), at most ADAM_TILE elements: moments first, then the
 * square roots of v in a block (sqrtf with errno semantics does not
 * vectorise), then the parameters.
 */
static void
adam_tile(const struct adam_k *k, float wd, float *restrict p, float *restrict m,
	  float *restrict v, const float *restrict grad, size_t lo, size_t hi)
{
	float den[ADAM_TILE];
	const size_t len = hi - lo;
#pragma omp simd
	for (size_t j = 0; j < len; j++) {
		size_t i = lo + j;
		float g = grad[i] + wd * p[i];
		float mi = k->b1 * m[i] + (1.0f - k->b1) * g;
		float vi = k->b2 * v[i] + (1.0f - k->b2) * g * g;
		m[i] = mi;
		v[i] = vi;
		den[j] = vi;
	}
	sqrt_floats(den, len);
#pragma omp simd
	for (size_t j = 0; j < len; j++) {
		size_t i = lo + j;
		p[i] -= k->step * m[i] / (den[j] * k->rsqrt_bc2 + k->eps);
	}
}

static inline void
adamax_elem(const struct adam_k *k, float wd, float *restrict p, float *restrict m,
	    float *restrict u, const float *restrict grad, size_t i)
{
	float g = grad[i] + wd * p[i];
	float mi = k->b1 * m[i] + (1.0f - k->b1) * g;
	float decayed = k->b2 * u[i], fresh = fabsf(g) + k->eps;
	float ui = decayed > fresh ? decayed : fresh; /* NaN propagates, as torch.maximum */
	m[i] = mi;
	u[i] = ui;
	p[i] -= k->step * mi / ui;
}

static void
adam_update(struct optim *o, double lr)
{
	float *restrict p = o->param, *restrict m = o->state, *restrict v = o->state + o->n;
	const float *restrict grad = o->grad;
	const double t = (double)o->t;
	const struct adam_k k = {
		.b1 = (float)o->h.beta1,
		.b2 = (float)o->h.beta2,
		.eps = (float)o->h.eps,
		/* lr / (1 - b1^t) and 1 / sqrt(1 - b2^t): the bias corrections */
		.step = (float)(lr / (1.0 - pow(o->h.beta1, t))),
		.rsqrt_bc2 = (float)(1.0 / sqrt(1.0 - pow(o->h.beta2, t))),
	};
	const float wd = (float)o->h.wd;
	const size_t n = o->n, nd = o->n_decay;
	if (o->h.kind == OPTIM_ADAM) {
		/* one loop over tiles; a tile straddling n_decay is split in two */
		const size_t tiles = (n + ADAM_TILE - 1) / ADAM_TILE;
#pragma omp parallel for schedule(static)
		for (size_t t_i = 0; t_i < tiles; t_i++) {
			size_t lo = t_i * ADAM_TILE, hi = lo + ADAM_TILE < n ? lo + ADAM_TILE : n;
			if (lo < nd)
				adam_tile(&k, wd, p, m, v, grad, lo, hi < nd ? hi : nd);
			if (hi > nd)
				adam_tile(&k, 0.0f, p, m, v, grad, lo > nd ? lo : nd, hi);
		}
	} else {
#pragma omp parallel
		{
#pragma omp for simd schedule(static) nowait
			for (size_t i = 0; i < nd; i++)
				adamax_elem(&k, wd, p, m, v, grad, i);
#pragma omp for simd schedule(static)
			for (size_t i = nd; i < n; i++)
				adamax_elem(&k, 0.0f, p, m, v, grad, i);
		}
	}
}

void
optim_step(struct optim *o, double lr)
{
	o->t++;
	switch (o->h.kind) {
	case OPTIM_SGD:
		sgd_update(o, lr);
		break;
	case OPTIM_ADAM:
	case OPTIM_ADAMAX:
		adam_update(o, lr);
		break;
	case OPTIM_COUNT:
		assert(0);
	}
}

double
optim_sched_lr(const struct optim_sched *s, long it)
{
	if (it < s->warmup_iters)
		return s->lr * (double)(it + 1) / (double)s->warmup_iters;
	switch (s->kind) {
	case SCHED_STEP: {
		long epoch = s->iters_per_epoch > 0 ? it / s->iters_per_epoch : 0;
		long drops = s->step_size > 0 ? epoch / s->step_size : 0;
		return s->lr * pow(s->gamma, (double)drops);
	}
	case SCHED_COSINE: {
		long span = s->total_iters - s->warmup_iters;
		if (span <= 0)
			return s->lr;
		double frac = (double)(it - s->warmup_iters) / (double)span;
		return 0.5 * s->lr * (1.0 + cos(M_PI * frac));
	}
	case SCHED_CONSTANT:
	case SCHED_COUNT:
		break;
	}
	return s->lr;
}
