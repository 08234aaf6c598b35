/*
 * optim: SGD (momentum, Nesterov), Adam, AdaMax and QNN's shift-AdaMax as
 * fused elementwise loops over the parameter arena, and the learning-rate
 * schedules (formulas in optim.h).
 *
 * Arithmetic is in float, as the parameters; the per-step scalars (bias
 * corrections) are computed in double. Each update is one OpenMP loop with a
 * static schedule: every element is updated by exactly one thread with the
 * same operations, so the result is the same for any thread count. Padding
 * between tensors (zero value and gradient) keeps a zero value; its state
 * stays zero too, except shift-AdaMax's v, which holds eps there.
 *
 * The learning-rate scale is a loop-invariant choice: every update has a
 * version of its loops without it (the element functions take scale == NULL
 * as a constant once inlined), so the unscaled loops are the plain ones.
 */
#include <assert.h>
#include <math.h>
#include <stdlib.h>

#include "engine/layers.h"
#include "engine/optim.h"
#include "engine/util.h"

#ifdef __SSE__
#include <xmmintrin.h>
#endif

/* Elements per Adam block (see adam_tile()). */
#define ADAM_TILE 256

static const char *const optim_kind_list[OPTIM_COUNT + 1] = {
	[OPTIM_SGD] = "sgd",
	[OPTIM_ADAM] = "adam",
	[OPTIM_ADAMAX] = "adamax",
	[OPTIM_SHIFT_ADAMAX] = "shift-adamax",
	NULL,
};
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
	float *state; /* slots of n floats: SGD buf; Adam m, v; AdaMax m, u;
			 shift-AdaMax m, v (owned) */
	const float *lr_scale; /* n per-element multipliers, or NULL (not owned) */
	long t;		       /* steps taken */
};

static int
optim_slots(enum optim_kind kind)
{
	return kind == OPTIM_SGD ? 1 : 2;
}

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
	if (h->kind == OPTIM_SHIFT_ADAMAX && o->h.eps == 0.0)
		o->h.eps = OPTIM_SHIFT_ADAMAX_EPS;
	o->state = xalloc_floats((size_t)optim_slots(h->kind) * n);
	return o;
}

void
optim_set_lr_scale(struct optim *o, const float *scale)
{
	o->lr_scale = scale;
}

float
optim_glorot_lr_scale(int fan_in, int fan_out)
{
	assert(fan_in + fan_out > 0);
	return ap2((float)(1.0 / sqrt(1.5 / ((double)fan_in + fan_out))));
}

const float *
optim_state(const struct optim *o, int slot)
{
	if (slot < 0 || slot >= optim_slots(o->h.kind))
		return NULL;
	return o->state + (size_t)slot * o->n;
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
 * Each update runs as one parallel region over the arena. SGD and the
 * AdaMaxes: the weight-decayed prefix [0, n_decay) and the rest are two
 * work-shared loops with the same element function (wd = 0 for the rest), so
 * every element is visited once; Adam: one loop over blocks (adam_tile()).
 * The *_loops functions are work-sharing loops called inside a parallel
 * region; they are always inlined so that a NULL scale is a constant there.
 */
#define OPTIM_INLINE static inline __attribute__((always_inline))

/* SGD: d = nesterov ? g + mu*buf : buf, written as a*g + c*buf (exact either way). */
struct sgd_k {
	float lr, mu, wd, a, c;
};

OPTIM_INLINE void
sgd_elem(const struct sgd_k *k, float wd, const float *restrict scale, float *restrict p,
	 float *restrict buf, const float *restrict grad, size_t i)
{
	float g = grad[i] + wd * p[i];
	float b = k->mu * buf[i] + g;
	float lr = scale ? k->lr * scale[i] : k->lr;
	buf[i] = b;
	p[i] -= lr * (k->a * g + k->c * b);
}

OPTIM_INLINE void
sgd_loops(const struct sgd_k *k, const float *restrict scale, float *restrict p,
	  float *restrict buf, const float *restrict grad, size_t nd, size_t n)
{
#pragma omp for simd schedule(static) nowait
	for (size_t i = 0; i < nd; i++)
		sgd_elem(k, k->wd, scale, p, buf, grad, i);
#pragma omp for simd schedule(static)
	for (size_t i = nd; i < n; i++)
		sgd_elem(k, 0.0f, scale, p, buf, grad, i);
}

static void
sgd_update(struct optim *o, double lr)
{
	float *restrict p = o->param, *restrict buf = o->state;
	const float *restrict grad = o->grad, *restrict scale = o->lr_scale;
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
		if (scale)
			sgd_loops(&k, scale, p, buf, grad, nd, n);
		else
			sgd_loops(&k, NULL, p, buf, grad, nd, n);
	}
}

/* Adam and the AdaMaxes: constants of one step. */
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

/* Adam's parameter update on [lo, lo + len), den holding sqrt(v). */
OPTIM_INLINE void
adam_apply(const struct adam_k *k, const float *restrict scale, float *restrict p,
	   const float *restrict m, const float *restrict den, size_t lo, size_t len)
{
#pragma omp simd
	for (size_t j = 0; j < len; j++) {
		size_t i = lo + j;
		float step = scale ? k->step * scale[i] : k->step;
		p[i] -= step * m[i] / (den[j] * k->rsqrt_bc2 + k->eps);
	}
}

/*
 * Adam on [lo, hi), at most ADAM_TILE elements: moments first, then the
 * square roots of v in a block (sqrtf with errno semantics does not
 * vectorise), then the parameters.
 */
static void
adam_tile(const struct adam_k *k, float wd, const float *restrict scale, float *restrict p,
	  float *restrict m, float *restrict v, const float *restrict grad, size_t lo, size_t hi)
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
	if (scale)
		adam_apply(k, scale, p, m, den, lo, len);
	else
		adam_apply(k, NULL, p, m, den, lo, len);
}

OPTIM_INLINE void
adamax_elem(const struct adam_k *k, float wd, const float *restrict scale, float *restrict p,
	    float *restrict m, float *restrict u, const float *restrict grad, size_t i)
{
	float g = grad[i] + wd * p[i];
	float mi = k->b1 * m[i] + (1.0f - k->b1) * g;
	float decayed = k->b2 * u[i], fresh = fabsf(g) + k->eps;
	float ui = decayed > fresh ? decayed : fresh; /* NaN propagates, as torch.maximum */
	float step = scale ? k->step * scale[i] : k->step;
	m[i] = mi;
	u[i] = ui;
	p[i] -= step * mi / ui;
}

/* Shift-AdaMax: k->step is already a power of two; v is stored as AP2(v) + eps. */
OPTIM_INLINE void
shift_adamax_elem(const struct adam_k *k, float wd, const float *restrict scale,
		  float *restrict p, float *restrict m, float *restrict v,
		  const float *restrict grad, size_t i)
{
	float g = grad[i] + wd * p[i];
	float mi = k->b1 * m[i] + (1.0f - k->b1) * g;
	float decayed = k->b2 * v[i], fresh = fabsf(g);
	float vi = ap2(decayed > fresh ? decayed : fresh) + k->eps;
	float step = scale ? k->step * scale[i] : k->step;
	m[i] = mi;
	v[i] = vi;
	p[i] -= step * (mi / vi);
}

/* AdaMax (shift = 0) or shift-AdaMax (shift = 1) over the arena. */
OPTIM_INLINE void
adamax_loops(const struct adam_k *k, int shift, float wd, const float *restrict scale,
	     float *restrict p, float *restrict m, float *restrict u, const float *restrict grad,
	     size_t nd, size_t n)
{
#pragma omp for simd schedule(static) nowait
	for (size_t i = 0; i < nd; i++) {
		if (shift)
			shift_adamax_elem(k, wd, scale, p, m, u, grad, i);
		else
			adamax_elem(k, wd, scale, p, m, u, grad, i);
	}
#pragma omp for simd schedule(static)
	for (size_t i = nd; i < n; i++) {
		if (shift)
			shift_adamax_elem(k, 0.0f, scale, p, m, u, grad, i);
		else
			adamax_elem(k, 0.0f, scale, p, m, u, grad, i);
	}
}

static void
adam_update(struct optim *o, double lr)
{
	float *restrict p = o->param, *restrict m = o->state, *restrict v = o->state + o->n;
	const float *restrict grad = o->grad, *restrict scale = o->lr_scale;
	const double t = (double)o->t;
	/* lr / (1 - b1^t): the first moment's bias correction */
	const double step = lr / (1.0 - pow(o->h.beta1, t));
	const int shift = o->h.kind == OPTIM_SHIFT_ADAMAX;
	const struct adam_k k = {
		.b1 = (float)o->h.beta1,
		.b2 = (float)o->h.beta2,
		.eps = (float)o->h.eps,
		.step = shift ? ap2((float)step) : (float)step,
		/* 1 / sqrt(1 - b2^t): Adam's second bias correction */
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
				adam_tile(&k, wd, scale, p, m, v, grad, lo, hi < nd ? hi : nd);
			if (hi > nd)
				adam_tile(&k, 0.0f, scale, p, m, v, grad, lo > nd ? lo : nd, hi);
		}
		return;
	}
#pragma omp parallel
	{
		if (shift && scale)
			adamax_loops(&k, 1, wd, scale, p, m, v, grad, nd, n);
		else if (shift)
			adamax_loops(&k, 1, wd, NULL, p, m, v, grad, nd, n);
		else if (scale)
			adamax_loops(&k, 0, wd, scale, p, m, v, grad, nd, n);
		else
			adamax_loops(&k, 0, wd, NULL, p, m, v, grad, nd, n);
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
	case OPTIM_SHIFT_ADAMAX:
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
