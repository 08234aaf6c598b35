/*
 * quant: the scheme registry, construction and validation of quantizers, and
 * the dispatch to each scheme's forward/backward (see quant.h).
 *
 * Invariants: a struct quant is only built by quant_new after its scheme's
 * bit range, variant and parameters were checked, so the per-element code of
 * the schemes never validates anything.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/quant/quant.h"
#include "engine/util.h"

static const struct quant_scheme *const quant_table[] = {
	&quant_scheme_uniform, &quant_scheme_pot, &quant_scheme_apot,
	&quant_scheme_lcq,     &quant_scheme_qnn,
};
#define QUANT_NSCHEMES (sizeof quant_table / sizeof quant_table[0])

size_t
quant_scheme_count(void)
{
	return QUANT_NSCHEMES;
}

const struct quant_scheme *
quant_scheme_at(size_t i)
{
	return i < QUANT_NSCHEMES ? quant_table[i] : NULL;
}

const struct quant_scheme *
quant_scheme_find(const char *name, char **cause)
{
	const char *names[QUANT_NSCHEMES];
	for (size_t i = 0; i < QUANT_NSCHEMES; i++) {
		if (strcmp(quant_table[i]->name, name) == 0)
			return quant_table[i];
		names[i] = quant_table[i]->name;
	}
	const char *near = util_nearest(name, names, QUANT_NSCHEMES);
	if (near)
		err_set(cause, "unknown quantization scheme '%s' (did you mean '%s'?)", name, near);
	else
		err_set(cause, "unknown quantization scheme '%s'", name);
	return NULL;
}

float
quant_round(float v)
{
	return nearbyintf(v);
}

int
quant_new(struct quant **out, const struct quant_config *c, char **cause)
{
	*out = NULL;
	const struct quant_scheme *s = quant_scheme_find(c->scheme, cause);
	if (!s)
		return -1;
	if (c->bits < s->min_bits && c->bits >= 1)
		return err_set(cause, "%s needs at least %d bits (got %d)", s->name, s->min_bits,
			       c->bits);
	if (c->bits < s->min_bits || c->bits > s->max_bits)
		return err_set(cause, "%s supports %d..%d bits (got %d)", s->name, s->min_bits,
			       s->max_bits, c->bits);
	int variant = 0;
	if (c->variant) {
		const char *const *v = s->variants;
		while (v[variant] && strcmp(v[variant], c->variant) != 0)
			variant++;
		if (!v[variant]) {
			size_t nv = (size_t)variant;
			const char *near = util_nearest(c->variant, v, nv);
			return err_set(cause, "%s has no variant '%s'%s%s%s", s->name, c->variant,
				       near ? " (did you mean '" : "", near ? near : "",
				       near ? "'?)" : "");
		}
	}
	if (s->check(c, variant, cause) < 0)
		return -1;
	struct quant *q = xcalloc(1, sizeof *q);
	q->scheme = s;
	q->bits = c->bits;
	q->variant = variant;
	q->role = c->role;
	q->alpha = c->alpha;
	q->grad_scale = c->grad_scale;
	q->zero_point = c->zero_point;
	q->sign0_zero = c->sign0_zero;
	q->seed = c->seed;
	q->channels = c->channels > 0 ? c->channels : 1;
	q->scale = xcalloc((size_t)q->channels, sizeof *q->scale);
	q->dscale = xcalloc((size_t)q->channels, sizeof *q->dscale);
	int is_signed = c->is_signed >= 0 ? c->is_signed : c->role == QUANT_ROLE_WEIGHT;
	if (is_signed) {
		q->qmin = -(1 << (c->bits - 1));
		q->qmax = (1 << (c->bits - 1)) - 1;
	} else {
		q->qmin = 0;
		q->qmax = (1 << c->bits) - 1;
	}
	for (int i = 0; i < q->channels; i++)
		q->scale[i] = c->scale ? c->scale[i] : c->alpha / (float)q->qmax;
	if (s->init)
		s->init(q);
	*out = q;
	return 0;
}

void
quant_free(struct quant *q)
{
	if (!q)
		return;
	free(q->scale);
	free(q->dscale);
	free(q);
}

void
quant_forward(struct quant *q, float *y, const float *x, size_t n, int training)
{
	q->scheme->forward(q, y, x, n, training);
	q->calls++;
}

void
quant_forward_ref(struct quant *q, float *y, const float *x, size_t n, int training)
{
	q->scheme->forward_ref(q, y, x, n, training);
	q->calls++;
}

void
quant_backward(struct quant *q, float *dx, const float *dy, const float *x, size_t n)
{
	q->scheme->backward(q, dx, dy, x, n);
}

void
quant_backward_ref(struct quant *q, float *dx, const float *dy, const float *x, size_t n)
{
	q->scheme->backward_ref(q, dx, dy, x, n);
}

void
quant_zero_grad(struct quant *q)
{
	q->dalpha = 0;
	memset(q->dtheta, 0, sizeof q->dtheta);
	memset(q->dgamma, 0, sizeof q->dgamma);
	memset(q->dbeta, 0, sizeof q->dbeta);
	memset(q->dscale, 0, (size_t)q->channels * sizeof *q->dscale);
}

struct quant_cost
quant_cost(const struct quant *q)
{
	return q->scheme->cost(q);
}

int
quant_levels(const struct quant *q, float *out, int cap)
{
	return q->scheme->levels(q, out, cap);
}

static void
hook_forward(void *ctx, float *y, const float *x, size_t n, int training)
{
	quant_forward(ctx, y, x, n, training);
}

static void
hook_backward(void *ctx, float *dx, const float *dy, const float *x, size_t n)
{
	quant_backward(ctx, dx, dy, x, n);
}

void
quant_hook(struct quant *q, struct model_quantizer *h)
{
	h->ctx = q;
	h->forward = hook_forward;
	h->backward = hook_backward;
}

double
quant_sqnr_db(double sig, double noise)
{
	if (!(sig > 0))
		return NAN;
	if (!(noise > 0))
		return INFINITY;
	return 10.0 * log10(sig / noise);
}
