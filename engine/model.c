/*
 * model: the layer graph, its arenas and per-batch buffers, and the forward
 * and backward passes (the layer arithmetic itself is in engine/layers.h).
 *
 * Invariants:
 * - layers[i].in (and .in2 for a residual add) is MODEL_INPUT or < i, so one
 *   pass in index order is a topological order and backward runs in reverse.
 * - A flatten layer owns no storage: its out and dout are its input's. root
 *   names the layer whose output gradient a layer's gradient is (itself
 *   unless flatten).
 * - A ReLU that is the only reader of its input (not a flatten, not the model
 *   input) runs in place: its output overwrites its input's, since no
 *   backward pass needs a pre-activation (conv, linear, BN, pools, add and
 *   dropout keep what they need; ReLU's own backward uses its output).
 * - Backward functions accumulate into their input gradients, so each output
 *   gradient buffer is zeroed just before the first layer (in reverse order)
 *   writes to it: last_user is that layer, computed once in model_finish().
 *   The output layer's gradient is written by the caller instead.
 * - needs_grad is set for layers whose output depends on a trainable
 *   parameter; backward skips the others and passes no input gradient to the
 *   layers that read them (the first layer gets dinp == NULL).
 * - Output gradients live only from their first writer to their layer's
 *   own backward step, [i, last_user]; buffers whose intervals do not
 *   overlap share a gradient slot (model_assign_slots()).
 * - The per-batch storage (activations, gradient slots, scratch) is one
 *   aligned block plus one int32 block for max-pool indices, laid out by
 *   model_plan() for cap_batch examples; nothing is allocated during a pass.
 */
#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/layers.h"
#include "engine/model.h"
#include "engine/rng.h"
#include "engine/tensor.h"
#include "engine/util.h"
#include "engine/zoo.h"

/* PyTorch's defaults for batch norm. */
#define BN_MOMENTUM 0.1f
#define BN_EPS 1e-5f
/* Shift-based batch norm's running-statistics momentum (QNN's Torch7 code, METHODS §3.4). */
#define BN_SHIFT_MOMENTUM 0.125f

enum layer_kind {
	LAYER_CONV2D,
	LAYER_LINEAR,
	LAYER_BATCHNORM,
	LAYER_RELU,
	LAYER_HARDTANH,
	LAYER_MAXPOOL,
	LAYER_AVGPOOL,
	LAYER_GLOBALAVGPOOL,
	LAYER_FLATTEN,
	LAYER_DROPOUT,
	LAYER_RESIDUAL,
	LAYER_CHANDUP,
	LAYER_KIND_COUNT
};

/* name: reported kind; tag: the group-name suffix in model files ("03_conv"). */
static const struct {
	const char *name;
	const char *tag;
} layer_kinds[LAYER_KIND_COUNT] = {
	[LAYER_CONV2D] = {"conv2d", "conv"},
	[LAYER_LINEAR] = {"linear", "fc"},
	[LAYER_BATCHNORM] = {"batchnorm", "bn"},
	[LAYER_RELU] = {"relu", "relu"},
	[LAYER_HARDTANH] = {"hardtanh", "htanh"},
	[LAYER_MAXPOOL] = {"maxpool", "maxpool"},
	[LAYER_AVGPOOL] = {"avgpool", "avgpool"},
	[LAYER_GLOBALAVGPOOL] = {"globalavgpool", "gap"},
	[LAYER_FLATTEN] = {"flatten", "flatten"},
	[LAYER_DROPOUT] = {"dropout", "dropout"},
	[LAYER_RESIDUAL] = {"residual", "add"},
	[LAYER_CHANDUP] = {"chandup", "dup"},
};

struct layer {
	enum layer_kind kind;
	int in, in2;	      /* producers: MODEL_INPUT or an earlier layer; in2 for residual */
	int c, h, w;	      /* input shape per example */
	int oc, oh, ow;	      /* output shape per example */
	int k, stride, pad;   /* conv2d and pools */
	int bias;	      /* conv2d/linear: has a bias */
	float p;	      /* dropout probability */
	int32_t *dup_src;     /* chandup: source channel of each output channel (oc), owned */
	float *dup_factor;    /* chandup: its factor (oc), owned */
	size_t in_size;	      /* c*h*w */
	size_t out_size;      /* oc*oh*ow */
	size_t w_size;	      /* conv/linear weight, or BN gamma, elements */
	size_t w_off, b_off;  /* region offsets (weight in ARENA_DECAY, or gamma in ARENA_PLAIN) */
	size_t rm_off, rv_off; /* BN running statistics, in ARENA_BUFFER */

	/* Parameters (NULL when absent) and their gradients, in the arenas. */
	float *wt, *b, *dwt, *db; /* conv/linear weight and bias, or BN gamma and beta */
	float *run_mean, *run_var;

	/* Per-batch storage from model_plan(). */
	float *out, *dout; /* (B, out_size); dout only when training, in a gradient slot */
	float *save;	   /* BN: mean (oc) then rstd (oc); dropout: mask (B, out_size) */
	int32_t *argmax;   /* maxpool: (B, out_size) */
	float *qx, *dqx;   /* with aq: quantised input and its gradient, (B, in_size) */

	/* Quantization (conv2d and linear only; NULL when float). */
	const struct model_quantizer *wq, *aq;
	float *qw, *dqw; /* with wq: quantised weight and its gradient (w_size), owned */

	int root;	/* layer owning this output's gradient (itself unless flatten) */
	int needs_grad; /* output depends on a trainable parameter */
	int last_user;	/* first layer of the backward pass to write dout (see header) */
	int in_place;	/* ReLU overwriting its input's output */
	int slot;	/* gradient slot of dout (-1: none) */
	char group[16];
	struct model_layer_info info;
};

struct model {
	char *arch;
	int c, h, w, classes;
	struct layer *layers;
	int n_layers, cap_layers;
	char *error; /* first building error */
	int finished;
	int has_relu;
	int bn_shift; /* batch norm layers are shift-based (QNN) */
	int input_grad; /* backward also computes the gradient of the input */

	struct arena_layout layout;
	struct arena params, grads;
	struct model_tensor *tensors;
	int n_tensors;
	long n_params, macs;

	/* Gradient slots: slot_size[s] floats per example, at slot_ptr[s]. */
	size_t *slot_size;
	float **slot_ptr;
	int n_slots;

	/* Per-batch storage for up to cap_batch examples (with gradients if cap_train). */
	int cap_batch, cap_train;
	float *block;
	int32_t *iblock;
	float *input;	/* (cap_batch, c, h, w) */
	float *dinput;	/* with input_grad, when training: its gradient */
	float *scratch; /* conv scratch, shared by all conv layers */
};

/* ---------------------------------------------------------------------------
 * Building
 * ------------------------------------------------------------------------- */

struct model *
model_begin(const char *arch, int c, int h, int w, int classes)
{
	struct model *m = xcalloc(1, sizeof *m);
	m->arch = xstrdup(arch);
	m->c = c;
	m->h = h;
	m->w = w;
	m->classes = classes;
	if (c < 1 || h < 1 || w < 1 || classes < 1)
		m->error = xasprintf("%s: bad input shape %dx%dx%d or class count %d", arch, c, h,
				     w, classes);
	return m;
}

/* Records the first building error (printf-style); returns -1. */
static int __attribute__((format(printf, 2, 3)))
build_error(struct model *m, const char *fmt, ...)
{
	if (!m->error) {
		char buf[256];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(buf, sizeof buf, fmt, ap);
		va_end(ap);
		m->error = xasprintf("%s: layer %d: %s", m->arch, m->n_layers, buf);
	}
	return -1;
}

/*
 * Appends a layer of the given kind reading `from`, with its input shape
 * filled in and its output shape equal to the input's; returns NULL (with the
 * error recorded) if the model already failed or `from` is not valid.
 */
static struct layer *
layer_push(struct model *m, enum layer_kind kind, int from)
{
	if (m->error || m->finished)
		return NULL;
	if (from == MODEL_PREV)
		from = m->n_layers - 1;
	if (from < MODEL_INPUT || from >= m->n_layers) {
		build_error(m, "input %d is not an earlier layer", from);
		return NULL;
	}
	if (m->n_layers == m->cap_layers) {
		m->cap_layers = m->cap_layers ? 2 * m->cap_layers : 16;
		m->layers = xrealloc(m->layers, (size_t)m->cap_layers * sizeof *m->layers);
	}
	struct layer *l = &m->layers[m->n_layers];
	memset(l, 0, sizeof *l);
	l->kind = kind;
	l->in = from;
	l->in2 = MODEL_INPUT;
	if (from == MODEL_INPUT) {
		l->c = m->c;
		l->h = m->h;
		l->w = m->w;
	} else {
		const struct layer *src = &m->layers[from];
		l->c = src->oc;
		l->h = src->oh;
		l->w = src->ow;
	}
	l->oc = l->c;
	l->oh = l->h;
	l->ow = l->w;
	return l;
}

/* Finishes the layer on top of the stack: sizes, group name; returns its index. */
static int
layer_commit(struct model *m, struct layer *l)
{
	l->in_size = (size_t)l->c * l->h * l->w;
	l->out_size = (size_t)l->oc * l->oh * l->ow;
	int i = m->n_layers++;
	snprintf(l->group, sizeof l->group, "%02d_%s", i, layer_kinds[l->kind].tag);
	return i;
}

int
model_add_conv2d(struct model *m, int from, int oc, int k, int stride, int pad, int bias)
{
	struct layer *l = layer_push(m, LAYER_CONV2D, from);
	if (!l)
		return -1;
	if (oc < 1 || k < 1 || stride < 1 || pad < 0)
		return build_error(m, "bad conv2d (oc %d, k %d, stride %d, pad %d)", oc, k, stride,
				   pad);
	l->oh = conv2d_out_size(l->h, k, stride, pad);
	l->ow = conv2d_out_size(l->w, k, stride, pad);
	if (l->oh < 1 || l->ow < 1)
		return build_error(m, "conv2d %dx%d (pad %d) does not fit a %dx%d input", k, k, pad,
				   l->h, l->w);
	l->oc = oc;
	l->k = k;
	l->stride = stride;
	l->pad = pad;
	l->bias = bias != 0;
	l->w_size = (size_t)oc * l->c * k * k;
	l->w_off = arena_layout_add(&m->layout, ARENA_DECAY, l->w_size);
	if (l->bias)
		l->b_off = arena_layout_add(&m->layout, ARENA_PLAIN, (size_t)oc);
	return layer_commit(m, l);
}

int
model_add_linear(struct model *m, int from, int out, int bias)
{
	struct layer *l = layer_push(m, LAYER_LINEAR, from);
	if (!l)
		return -1;
	if (out < 1)
		return build_error(m, "bad linear width %d", out);
	l->oc = out;
	l->oh = l->ow = 1;
	l->bias = bias != 0;
	l->w_size = (size_t)out * l->c * l->h * l->w;
	l->w_off = arena_layout_add(&m->layout, ARENA_DECAY, l->w_size);
	if (l->bias)
		l->b_off = arena_layout_add(&m->layout, ARENA_PLAIN, (size_t)out);
	return layer_commit(m, l);
}

int
model_add_batchnorm(struct model *m, int from)
{
	struct layer *l = layer_push(m, LAYER_BATCHNORM, from);
	if (!l)
		return -1;
	size_t C = (size_t)l->c;
	l->w_size = C;
	l->w_off = arena_layout_add(&m->layout, ARENA_PLAIN, C);
	l->b_off = arena_layout_add(&m->layout, ARENA_PLAIN, C);
	l->rm_off = arena_layout_add(&m->layout, ARENA_BUFFER, C);
	l->rv_off = arena_layout_add(&m->layout, ARENA_BUFFER, C);
	return layer_commit(m, l);
}

static int
add_elementwise(struct model *m, enum layer_kind kind, int from)
{
	struct layer *l = layer_push(m, kind, from);
	if (!l)
		return -1;
	if (kind == LAYER_RELU)
		m->has_relu = 1;
	return layer_commit(m, l);
}

int
model_add_relu(struct model *m, int from)
{
	return add_elementwise(m, LAYER_RELU, from);
}

int
model_add_hardtanh(struct model *m, int from)
{
	return add_elementwise(m, LAYER_HARDTANH, from);
}

static int
add_pool(struct model *m, enum layer_kind kind, int from, int k, int s)
{
	struct layer *l = layer_push(m, kind, from);
	if (!l)
		return -1;
	if (k < 1 || s < 1 || k > l->h || k > l->w)
		return build_error(m, "%s %dx%d stride %d does not fit a %dx%d input",
				   layer_kinds[kind].name, k, k, s, l->h, l->w);
	l->k = k;
	l->stride = s;
	l->oh = (l->h - k) / s + 1;
	l->ow = (l->w - k) / s + 1;
	return layer_commit(m, l);
}

int
model_add_maxpool(struct model *m, int from, int k, int s)
{
	return add_pool(m, LAYER_MAXPOOL, from, k, s);
}

int
model_add_avgpool(struct model *m, int from, int k, int s)
{
	return add_pool(m, LAYER_AVGPOOL, from, k, s);
}

int
model_add_globalavgpool(struct model *m, int from)
{
	struct layer *l = layer_push(m, LAYER_GLOBALAVGPOOL, from);
	if (!l)
		return -1;
	l->oh = l->ow = 1;
	return layer_commit(m, l);
}

int
model_add_flatten(struct model *m, int from)
{
	struct layer *l = layer_push(m, LAYER_FLATTEN, from);
	if (!l)
		return -1;
	l->oc = l->c * l->h * l->w;
	l->oh = l->ow = 1;
	return layer_commit(m, l);
}

int
model_add_dropout(struct model *m, int from, float p)
{
	struct layer *l = layer_push(m, LAYER_DROPOUT, from);
	if (!l)
		return -1;
	if (!(p >= 0.0f && p < 1.0f))
		return build_error(m, "dropout probability %g is not in [0, 1)", (double)p);
	l->p = p;
	return layer_commit(m, l);
}

int
model_add_residual(struct model *m, int a, int b)
{
	if (b == MODEL_PREV)
		b = m->n_layers - 1;
	struct layer *l = layer_push(m, LAYER_RESIDUAL, a);
	if (!l)
		return -1;
	if (b < MODEL_INPUT || b >= m->n_layers)
		return build_error(m, "input %d is not an earlier layer", b);
	int bc = b == MODEL_INPUT ? m->c : m->layers[b].oc;
	int bh = b == MODEL_INPUT ? m->h : m->layers[b].oh;
	int bw = b == MODEL_INPUT ? m->w : m->layers[b].ow;
	if (bc != l->c || bh != l->h || bw != l->w)
		return build_error(m, "residual add of %dx%dx%d and %dx%dx%d", l->c, l->h, l->w, bc,
				   bh, bw);
	l->in2 = b;
	return layer_commit(m, l);
}

int
model_add_chandup(struct model *m, int from, int oc, const int32_t *src, const float *factor)
{
	struct layer *l = layer_push(m, LAYER_CHANDUP, from);
	if (!l)
		return -1;
	if (oc < 1)
		return build_error(m, "bad chandup width %d", oc);
	for (int o = 0; o < oc; o++)
		if (src[o] < 0 || src[o] >= l->c)
			return build_error(m, "chandup channel %d reads channel %d of %d", o,
					   (int)src[o], l->c);
	l->oc = oc;
	l->dup_src = xmalloc((size_t)oc * sizeof *l->dup_src);
	l->dup_factor = xmalloc((size_t)oc * sizeof *l->dup_factor);
	memcpy(l->dup_src, src, (size_t)oc * sizeof *src);
	for (int o = 0; o < oc; o++)
		l->dup_factor[o] = factor ? factor[o] : 1.0f;
	return layer_commit(m, l);
}

/* ---------------------------------------------------------------------------
 * Finishing: arenas, tensors, graph bookkeeping, initialisation
 * ------------------------------------------------------------------------- */

static void model_mark_in_place(struct model *m);

static void
tensor_push(struct model *m, const struct layer *l, const char *name, float *data, int trainable,
	    int ndim, int d0, int d1, int d2, int d3)
{
	struct model_tensor *t = &m->tensors[m->n_tensors++];
	t->group = l->group;
	t->name = name;
	t->data = data;
	t->trainable = trainable;
	t->ndim = ndim;
	t->shape[0] = d0;
	t->shape[1] = d1;
	t->shape[2] = d2;
	t->shape[3] = d3;
	t->size = 1;
	for (int d = 0; d < ndim; d++)
		t->size *= (size_t)t->shape[d];
}

/* Points parameters into the arenas and lists them as tensors, in layer order. */
static void
model_bind_tensors(struct model *m)
{
	m->tensors = xcalloc((size_t)m->n_layers * 4, sizeof *m->tensors);
	for (int i = 0; i < m->n_layers; i++) {
		struct layer *l = &m->layers[i];
		switch (l->kind) {
		case LAYER_CONV2D:
		case LAYER_LINEAR:
			l->wt = arena_ptr(&m->params, ARENA_DECAY, l->w_off);
			l->dwt = arena_ptr(&m->grads, ARENA_DECAY, l->w_off);
			if (l->kind == LAYER_CONV2D)
				tensor_push(m, l, "weight", l->wt, 1, 4, l->oc, l->c, l->k, l->k);
			else
				tensor_push(m, l, "weight", l->wt, 1, 2, l->oc, (int)l->in_size, 0, 0);
			if (l->bias) {
				l->b = arena_ptr(&m->params, ARENA_PLAIN, l->b_off);
				l->db = arena_ptr(&m->grads, ARENA_PLAIN, l->b_off);
				tensor_push(m, l, "bias", l->b, 1, 1, l->oc, 0, 0, 0);
			}
			break;
		case LAYER_BATCHNORM:
			l->wt = arena_ptr(&m->params, ARENA_PLAIN, l->w_off);
			l->dwt = arena_ptr(&m->grads, ARENA_PLAIN, l->w_off);
			l->b = arena_ptr(&m->params, ARENA_PLAIN, l->b_off);
			l->db = arena_ptr(&m->grads, ARENA_PLAIN, l->b_off);
			l->run_mean = arena_ptr(&m->params, ARENA_BUFFER, l->rm_off);
			l->run_var = arena_ptr(&m->params, ARENA_BUFFER, l->rv_off);
			tensor_push(m, l, "gamma", l->wt, 1, 1, l->oc, 0, 0, 0);
			tensor_push(m, l, "beta", l->b, 1, 1, l->oc, 0, 0, 0);
			tensor_push(m, l, "running_mean", l->run_mean, 0, 1, l->oc, 0, 0, 0);
			tensor_push(m, l, "running_var", l->run_var, 0, 1, l->oc, 0, 0, 0);
			break;
		default:
			break;
		}
	}
}

/* root, needs_grad, last_user, and the reported layer information. */
static void
model_link(struct model *m)
{
	for (int i = 0; i < m->n_layers; i++) {
		struct layer *l = &m->layers[i];
		l->root = l->kind == LAYER_FLATTEN && l->in >= 0 ? m->layers[l->in].root : i;
		int has_params = l->wt != NULL;
		l->needs_grad = has_params || (l->in >= 0 && m->layers[l->in].needs_grad) ||
				(l->in2 >= 0 && m->layers[l->in2].needs_grad) ||
				(m->input_grad && (l->in == MODEL_INPUT ||
						   (l->kind == LAYER_RESIDUAL && l->in2 == MODEL_INPUT)));
		l->last_user = -1;

		struct model_layer_info *info = &l->info;
		info->group = l->group;
		info->kind = layer_kinds[l->kind].name;
		info->out_shape[0] = l->oc;
		info->out_shape[1] = l->oh;
		info->out_shape[2] = l->ow;
		info->params = 0;
		info->macs = 0;
		if (l->kind == LAYER_CONV2D || l->kind == LAYER_LINEAR) {
			info->params = (long)l->w_size + (l->bias ? l->oc : 0);
			/* conv: OC*OH*OW * C*K*K; linear: OUT * IN */
			info->macs = (long)l->w_size * l->oh * l->ow;
		} else if (l->kind == LAYER_BATCHNORM) {
			info->params = 2L * l->oc;
		}
		m->n_params += info->params;
		m->macs += info->macs;
	}
	for (int i = 0; i < m->n_layers; i++) {
		const struct layer *l = &m->layers[i];
		if (l->kind == LAYER_FLATTEN)
			continue;
		int ins[2] = {l->in, l->in2};
		for (int j = 0; j < 2; j++) {
			if (ins[j] < 0 || !m->layers[ins[j]].needs_grad)
				continue;
			struct layer *r = &m->layers[m->layers[ins[j]].root];
			if (r->last_user < i)
				r->last_user = i;
		}
	}
	/* The caller writes the output gradient; no layer zeroes it. */
	m->layers[m->layers[m->n_layers - 1].root].last_user = m->n_layers;

	model_mark_in_place(m);
}

/* Marks the ReLUs that may overwrite their input: its only reader, not a flatten view. */
static void
model_mark_in_place(struct model *m)
{
	int *readers = xcalloc((size_t)m->n_layers, sizeof *readers);
	for (int i = 0; i < m->n_layers; i++) {
		const struct layer *l = &m->layers[i];
		if (l->in >= 0)
			readers[l->in]++;
		if (l->in2 >= 0)
			readers[l->in2]++;
	}
	for (int i = 0; i < m->n_layers; i++) {
		struct layer *l = &m->layers[i];
		l->in_place = l->kind == LAYER_RELU && l->in >= 0 &&
			      m->layers[l->in].kind != LAYER_FLATTEN && readers[l->in] == 1;
	}
	free(readers);
}

/*
 * Gives every layer that owns an output gradient a slot, reusing slots whose
 * occupants' lifetimes are over. Backward visits layers from the last down;
 * the gradient of layer r is live from step last_user(r) down to step r, so
 * intervals are taken by decreasing last_user, and a slot is free again once
 * its occupant's step r has passed (r > the new interval's last_user).
 */
static void
model_assign_slots(struct model *m)
{
	int n = m->n_layers;
	int *order = xmalloc((size_t)n * sizeof *order), k = 0;
	for (int i = 0; i < n; i++) {
		struct layer *l = &m->layers[i];
		l->slot = -1;
		int owns = l->root == i && (l->kind != LAYER_FLATTEN || l->in >= 0);
		if (owns && (l->needs_grad || i == n - 1))
			order[k++] = i;
	}
	/* insertion sort by decreasing last_user (n is small) */
	for (int a = 1; a < k; a++)
		for (int b = a; b > 0 && m->layers[order[b]].last_user >
					     m->layers[order[b - 1]].last_user; b--) {
			int t = order[b];
			order[b] = order[b - 1];
			order[b - 1] = t;
		}
	m->slot_size = xcalloc((size_t)n, sizeof *m->slot_size);
	int *owner = xmalloc((size_t)n * sizeof *owner); /* layer in each slot */
	m->n_slots = 0;
	for (int a = 0; a < k; a++) {
		struct layer *l = &m->layers[order[a]];
		/* among free slots, the one that grows least, then the smallest */
		int best = -1;
		size_t best_grow = 0;
		for (int s = 0; s < m->n_slots; s++) {
			if (owner[s] <= l->last_user)
				continue; /* its occupant is still live */
			size_t size = m->slot_size[s];
			size_t grow = l->out_size > size ? l->out_size - size : 0;
			if (best < 0 || grow < best_grow ||
			    (grow == best_grow && size < m->slot_size[best])) {
				best = s;
				best_grow = grow;
			}
		}
		if (best < 0)
			best = m->n_slots++;
		if (m->slot_size[best] < l->out_size)
			m->slot_size[best] = l->out_size;
		owner[best] = order[a];
		l->slot = best;
	}
	m->slot_ptr = xcalloc((size_t)n, sizeof *m->slot_ptr);
	free(order);
	free(owner);
}

static void
model_init_params(struct model *m, uint64_t seed)
{
	struct rng r;
	rng_seed(&r, seed);
	for (int i = 0; i < m->n_layers; i++) {
		struct layer *l = &m->layers[i];
		if (l->kind == LAYER_BATCHNORM) {
			for (int c = 0; c < l->oc; c++) {
				l->wt[c] = 1.0f;
				l->run_var[c] = 1.0f;
			}
			continue;
		}
		if (l->kind != LAYER_CONV2D && l->kind != LAYER_LINEAR)
			continue;
		int kk = l->kind == LAYER_CONV2D ? l->k * l->k : 1;
		double fan_in = (double)l->in_size, fan_out = (double)l->oc;
		if (l->kind == LAYER_CONV2D) {
			fan_in = (double)l->c * kk;
			fan_out = (double)l->oc * kk;
		}
		if (m->has_relu) {
			double std = sqrt(2.0 / fan_in);
			for (size_t j = 0; j < l->w_size; j++)
				l->wt[j] = (float)(std * rng_normal(&r));
		} else {
			double lim = sqrt(6.0 / (fan_in + fan_out));
			for (size_t j = 0; j < l->w_size; j++)
				l->wt[j] = (float)(lim * (2.0 * rng_uniform(&r) - 1.0));
		}
	}
}

int
model_finish(struct model *m, uint64_t seed, char **cause)
{
	assert(!m->finished);
	if (m->error)
		return err_set(cause, "%s", m->error);
	if (m->n_layers == 0)
		return err_set(cause, "%s: the network has no layers", m->arch);
	const struct layer *last = &m->layers[m->n_layers - 1];
	if (last->out_size != (size_t)m->classes)
		return err_set(cause, "%s: the last layer gives %dx%dx%d values, not %d classes",
			       m->arch, last->oc, last->oh, last->ow, m->classes);
	arena_init(&m->params, &m->layout, ARENA_BUFFER);
	arena_init(&m->grads, &m->layout, ARENA_PLAIN);
	model_bind_tensors(m);
	model_link(m);
	model_assign_slots(m);
	model_init_params(m, seed);
	m->finished = 1;
	return 0;
}

struct model *
model_new(const char *arch, int c, int h, int w, int classes, uint64_t seed, char **cause)
{
	struct model *m = model_begin(arch, c, h, w, classes);
	if (zoo_build(m, arch, cause) < 0 || model_finish(m, seed, cause) < 0) {
		model_free(m);
		return NULL;
	}
	return m;
}

void
model_free(struct model *m)
{
	if (!m)
		return;
	for (int i = 0; i < m->n_layers; i++) {
		xfree_aligned(m->layers[i].qw);
		xfree_aligned(m->layers[i].dqw);
		free(m->layers[i].dup_src);
		free(m->layers[i].dup_factor);
	}
	free(m->layers);
	free(m->tensors);
	free(m->slot_size);
	free(m->slot_ptr);
	arena_done(&m->params);
	arena_done(&m->grads);
	xfree_aligned(m->block);
	free(m->iblock);
	free(m->error);
	free(m->arch);
	free(m);
}

/* ---------------------------------------------------------------------------
 * Queries
 * ------------------------------------------------------------------------- */

const char *const *
model_arch_names(void)
{
	return zoo_names();
}

const char *
model_arch_help(const char *arch)
{
	return zoo_help(arch);
}

const char *
model_arch(const struct model *m)
{
	return m->arch;
}

int
model_classes(const struct model *m)
{
	return m->classes;
}

void
model_input_shape(const struct model *m, int *c, int *h, int *w)
{
	*c = m->c;
	*h = m->h;
	*w = m->w;
}

int
model_tensor_count(const struct model *m)
{
	return m->n_tensors;
}

const struct model_tensor *
model_tensor_at(const struct model *m, int i)
{
	assert(i >= 0 && i < m->n_tensors);
	return &m->tensors[i];
}

int
model_layer_count(const struct model *m)
{
	return m->n_layers;
}

const struct model_layer_info *
model_layer_at(const struct model *m, int i)
{
	assert(i >= 0 && i < m->n_layers);
	return &m->layers[i].info;
}

long
model_param_count(const struct model *m)
{
	return m->n_params;
}

long
model_macs(const struct model *m)
{
	return m->macs;
}

float *
model_params(struct model *m, size_t *n_decay, size_t *n_trainable)
{
	if (n_decay)
		*n_decay = m->params.start[ARENA_PLAIN];
	if (n_trainable)
		*n_trainable = m->params.start[ARENA_BUFFER];
	return m->params.data;
}

float *
model_grads(struct model *m)
{
	return m->grads.data;
}

void
model_zero_grad(struct model *m)
{
	memset(m->grads.data, 0, m->grads.size * sizeof(float));
}

/* ---------------------------------------------------------------------------
 * Per-batch storage
 * ------------------------------------------------------------------------- */

/* Takes n floats at *at from base (only counts when base is NULL). */
static float *
carve(float *base, size_t *at, size_t n)
{
	float *p = base ? base + *at : NULL;
	*at += arena_round(n);
	return p;
}

/*
 * Lays out the per-batch storage for B examples in base (floats) and ibase
 * (int32), or only counts when base is NULL. Returns the float count and
 * stores the int32 count in *n_int.
 */
static size_t
model_plan(struct model *m, int B, int training, float *base, int32_t *ibase, size_t *n_int)
{
	size_t at = 0, iat = 0, scratch = 0;
	m->input = carve(base, &at, (size_t)B * m->c * m->h * m->w);
	m->dinput = training && m->input_grad ? carve(base, &at, (size_t)B * m->c * m->h * m->w)
					      : NULL;
	float **slots = m->slot_ptr;
	for (int s = 0; s < m->n_slots; s++)
		slots[s] = training ? carve(base, &at, (size_t)B * m->slot_size[s]) : NULL;
	for (int i = 0; i < m->n_layers; i++) {
		struct layer *l = &m->layers[i];
		size_t n_out = (size_t)B * l->out_size, n_in = (size_t)B * l->in_size;
		l->dout = l->slot >= 0 ? slots[l->slot] : NULL;
		if (l->kind == LAYER_FLATTEN) {
			l->out = l->in >= 0 ? m->layers[l->in].out : m->input;
			l->dout = l->in >= 0 ? m->layers[l->in].dout : m->dinput;
			continue;
		}
		l->out = l->in_place ? m->layers[l->in].out : carve(base, &at, n_out);
		l->save = NULL;
		if (l->kind == LAYER_BATCHNORM)
			l->save = carve(base, &at, 2 * (size_t)l->oc);
		else if (l->kind == LAYER_DROPOUT)
			l->save = carve(base, &at, n_out);
		l->argmax = NULL;
		if (l->kind == LAYER_MAXPOOL) {
			l->argmax = ibase ? ibase + iat : NULL;
			iat += n_out;
		}
		l->qx = l->dqx = NULL;
		if (l->aq) {
			l->qx = carve(base, &at, n_in);
			if (training)
				l->dqx = carve(base, &at, n_in);
		}
		if (l->kind == LAYER_CONV2D) {
			size_t s = conv2d_scratch_floats(B, l->c, l->h, l->w, l->oc, l->k, l->stride,
							 l->pad);
			scratch = s > scratch ? s : scratch;
		}
	}
	m->scratch = carve(base, &at, scratch);
	*n_int = iat;
	return at;
}

void
model_reserve(struct model *m, int B, int training)
{
	assert(m->finished && B >= 1);
	training = training || m->cap_train;
	if (B <= m->cap_batch && training == m->cap_train)
		return;
	if (B < m->cap_batch)
		B = m->cap_batch;
	xfree_aligned(m->block);
	free(m->iblock);
	size_t n_int;
	size_t n = model_plan(m, B, training, NULL, NULL, &n_int);
	m->block = xalloc_floats(n);
	m->iblock = xmalloc((n_int ? n_int : 1) * sizeof *m->iblock);
	model_plan(m, B, training, m->block, m->iblock, &n_int);
	m->cap_batch = B;
	m->cap_train = training;
}

float *
model_input(struct model *m)
{
	assert(m->cap_batch > 0);
	return m->input;
}

const float *
model_activation(const struct model *m, int i)
{
	assert(i >= 0 && i < m->n_layers);
	return m->layers[i].out;
}

float *
model_output_grad(struct model *m)
{
	assert(m->cap_train);
	return m->layers[m->n_layers - 1].dout;
}

int
model_set_quantizers(struct model *m, int i, const struct model_quantizer *wq,
		     const struct model_quantizer *aq, char **cause)
{
	assert(m->finished);
	if (i < 0 || i >= m->n_layers)
		return err_set(cause, "%s: no layer %d", m->arch, i);
	struct layer *l = &m->layers[i];
	if (l->kind != LAYER_CONV2D && l->kind != LAYER_LINEAR)
		return err_set(cause, "%s: layer %s is %s, not conv2d or linear", m->arch,
			       l->group, layer_kinds[l->kind].name);
	if (wq && !l->qw) {
		l->qw = xalloc_floats(l->w_size);
		l->dqw = xalloc_floats(l->w_size);
	}
	l->wq = wq;
	l->aq = aq;
	/* The activation buffers change: the next model_reserve() lays them out again. */
	m->cap_batch = 0;
	return 0;
}

int
model_layer_input(const struct model *m, int i)
{
	assert(i >= 0 && i < m->n_layers);
	return m->layers[i].in;
}

int
model_set_activation(struct model *m, const char *kind, char **cause)
{
	enum layer_kind k;
	if (strcmp(kind, "relu") == 0)
		k = LAYER_RELU;
	else if (strcmp(kind, "hardtanh") == 0)
		k = LAYER_HARDTANH;
	else
		return err_set(cause, "unknown activation '%s' (relu or hardtanh)", kind);
	for (int i = 0; i < m->n_layers; i++) {
		struct layer *l = &m->layers[i];
		if (l->kind != LAYER_RELU && l->kind != LAYER_HARDTANH)
			continue;
		l->kind = k;
		l->info.kind = layer_kinds[k].name;
		/* hardtanh's backward reads its input: only ReLU runs in place */
		if (k != LAYER_RELU)
			l->in_place = 0;
	}
	if (k == LAYER_RELU)
		model_mark_in_place(m);
	m->has_relu = k == LAYER_RELU;
	m->cap_batch = 0;
	return 0;
}

void
model_set_bn_shift(struct model *m, int shift)
{
	m->bn_shift = shift != 0;
}

int
model_bn_shift(const struct model *m)
{
	return m->bn_shift;
}

/* ---------------------------------------------------------------------------
 * Passes
 * ------------------------------------------------------------------------- */

static const float *
layer_input(const struct model *m, int j)
{
	return j == MODEL_INPUT ? m->input : m->layers[j].out;
}

/*
 * The gradient buffer layer i accumulates into for its input j, or NULL when
 * j needs none; zeroed first when i is the first writer of the backward pass.
 */
static float *
layer_input_grad(struct model *m, int j, int i, int B)
{
	if (j == MODEL_INPUT)
		return m->dinput; /* NULL unless input_grad; zeroed by model_backward() */
	if (!m->layers[j].needs_grad)
		return NULL;
	struct layer *r = &m->layers[m->layers[j].root];
	if (r->last_user == i)
		memset(r->dout, 0, (size_t)B * r->out_size * sizeof(float));
	return m->layers[j].dout;
}

const float *
model_forward(struct model *m, int B, int training, struct rng *rng)
{
	assert(m->finished && B >= 1 && B <= m->cap_batch);
	for (int i = 0; i < m->n_layers; i++) {
		struct layer *l = &m->layers[i];
		const float *x = layer_input(m, l->in);
		const float *wt = l->wt;
		size_t n = (size_t)B * l->out_size;
		if (l->wq) {
			l->wq->forward(l->wq->ctx, l->qw, l->wt, l->w_size, training);
			wt = l->qw;
		}
		if (l->aq) {
			l->aq->forward(l->aq->ctx, l->qx, x, (size_t)B * l->in_size, training);
			x = l->qx;
		}
		switch (l->kind) {
		case LAYER_CONV2D:
			conv2d_forward(l->out, x, wt, l->b, B, l->c, l->h, l->w, l->oc, l->k,
				       l->stride, l->pad, m->scratch);
			break;
		case LAYER_LINEAR:
			linear_forward(l->out, x, wt, l->b, B, (int)l->in_size, l->oc);
			break;
		case LAYER_BATCHNORM:
			if (m->bn_shift)
				batchnorm_shift_forward(l->out, l->save, l->save + l->oc, x, l->wt,
							l->b, l->run_mean, l->run_var, B, l->oc,
							l->oh * l->ow, BN_SHIFT_MOMENTUM, BN_EPS,
							training);
			else
				batchnorm_forward(l->out, l->save, l->save + l->oc, x, l->wt, l->b,
						  l->run_mean, l->run_var, B, l->oc, l->oh * l->ow,
						  BN_MOMENTUM, BN_EPS, training);
			break;
		case LAYER_RELU:
			relu_forward(l->out, x, n);
			break;
		case LAYER_HARDTANH:
			hardtanh_forward(l->out, x, n);
			break;
		case LAYER_MAXPOOL:
			maxpool2d_forward(l->out, l->argmax, x, B, l->c, l->h, l->w, l->k, l->stride);
			break;
		case LAYER_AVGPOOL:
			avgpool2d_forward(l->out, x, B, l->c, l->h, l->w, l->k, l->stride);
			break;
		case LAYER_GLOBALAVGPOOL:
			globalavgpool_forward(l->out, x, B, l->c, l->h * l->w);
			break;
		case LAYER_FLATTEN:
			break;
		case LAYER_DROPOUT:
			dropout_forward(l->out, l->save, x, n, l->p, training, rng);
			break;
		case LAYER_RESIDUAL:
			residual_forward(l->out, x, layer_input(m, l->in2), n);
			break;
		case LAYER_CHANDUP:
			chandup_forward(l->out, x, l->dup_src, l->dup_factor, B, l->c, l->oc,
					(size_t)l->h * l->w);
			break;
		case LAYER_KIND_COUNT:
			assert(0);
		}
	}
	return m->layers[m->n_layers - 1].out;
}

/*
 * Backward of a conv2d or linear layer, through its quantizers if any: the
 * layer function sees the quantised weight and input and writes their
 * gradients to dqw/dqx, which the quantizers turn into the float ones.
 */
static void
layer_backward_gemm(struct model *m, int i, int B)
{
	struct layer *l = &m->layers[i];
	const float *x = layer_input(m, l->in);
	float *dx = layer_input_grad(m, l->in, i, B);
	size_t n_in = (size_t)B * l->in_size;
	const float *xq = l->aq ? l->qx : x, *wt = l->wq ? l->qw : l->wt;
	float *dxq = dx, *dwt = l->dwt;
	if (l->aq) {
		dxq = l->dqx;
		memset(dxq, 0, n_in * sizeof(float));
	}
	if (l->wq) {
		dwt = l->dqw;
		memset(dwt, 0, l->w_size * sizeof(float));
	}
	if (l->kind == LAYER_CONV2D)
		conv2d_backward(dxq, dwt, l->db, l->dout, xq, wt, B, l->c, l->h, l->w, l->oc, l->k,
				l->stride, l->pad, m->scratch);
	else
		linear_backward(dxq, dwt, l->db, l->dout, xq, wt, B, (int)l->in_size, l->oc);
	if (l->wq)
		l->wq->backward(l->wq->ctx, l->dwt, l->dqw, l->wt, l->w_size);
	if (l->aq)
		l->aq->backward(l->aq->ctx, dx, l->dqx, x, n_in);
}

void
model_backward(struct model *m, int B)
{
	assert(m->cap_train && B >= 1 && B <= m->cap_batch);
	if (m->dinput)
		memset(m->dinput, 0, (size_t)B * m->c * m->h * m->w * sizeof(float));
	for (int i = m->n_layers - 1; i >= 0; i--) {
		struct layer *l = &m->layers[i];
		if (!l->needs_grad || l->kind == LAYER_FLATTEN)
			continue;
		if (l->kind == LAYER_CONV2D || l->kind == LAYER_LINEAR) {
			layer_backward_gemm(m, i, B);
			continue;
		}
		const float *x = layer_input(m, l->in);
		size_t n = (size_t)B * l->out_size;
		float *dx = layer_input_grad(m, l->in, i, B);
		if (l->kind == LAYER_BATCHNORM) {
			if (m->bn_shift)
				batchnorm_shift_backward(dx, l->dwt, l->db, l->dout, x, l->wt,
							 l->save, l->save + l->oc, B, l->oc,
							 l->oh * l->ow);
			else
				batchnorm_backward(dx, l->dwt, l->db, l->dout, x, l->wt, l->save,
						   l->save + l->oc, B, l->oc, l->oh * l->ow);
			continue;
		}
		if (l->kind == LAYER_RESIDUAL) {
			float *dx2 = layer_input_grad(m, l->in2, i, B);
			residual_backward(dx, dx2, l->dout, n);
			continue;
		}
		if (!dx)
			continue;
		switch (l->kind) {
		case LAYER_RELU:
			relu_backward(dx, l->dout, l->out, n);
			break;
		case LAYER_HARDTANH:
			hardtanh_backward(dx, l->dout, x, n);
			break;
		case LAYER_MAXPOOL:
			maxpool2d_backward(dx, l->dout, l->argmax, B, l->c, l->h, l->w, l->k,
					   l->stride);
			break;
		case LAYER_AVGPOOL:
			avgpool2d_backward(dx, l->dout, B, l->c, l->h, l->w, l->k, l->stride);
			break;
		case LAYER_GLOBALAVGPOOL:
			globalavgpool_backward(dx, l->dout, B, l->c, l->h * l->w);
			break;
		case LAYER_DROPOUT:
			dropout_backward(dx, l->dout, l->save, n);
			break;
		case LAYER_CHANDUP:
			chandup_backward(dx, l->dout, l->dup_src, l->dup_factor, B, l->c, l->oc,
					 (size_t)l->h * l->w);
			break;
		default:
			assert(0);
		}
	}
}

/* ---------------------------------------------------------------------------
 * Derived models: batch norm folding, channel duplication, slices
 * ------------------------------------------------------------------------- */

/* Re-adds old layer l of some model to m reading new indices in/in2; returns its index. */
static int
readd_layer(struct model *m, const struct layer *l, int in, int in2, int bias)
{
	switch (l->kind) {
	case LAYER_CONV2D:
		return model_add_conv2d(m, in, l->oc, l->k, l->stride, l->pad, bias);
	case LAYER_LINEAR:
		return model_add_linear(m, in, l->oc, bias);
	case LAYER_BATCHNORM:
		return model_add_batchnorm(m, in);
	case LAYER_RELU:
		return model_add_relu(m, in);
	case LAYER_HARDTANH:
		return model_add_hardtanh(m, in);
	case LAYER_MAXPOOL:
		return model_add_maxpool(m, in, l->k, l->stride);
	case LAYER_AVGPOOL:
		return model_add_avgpool(m, in, l->k, l->stride);
	case LAYER_GLOBALAVGPOOL:
		return model_add_globalavgpool(m, in);
	case LAYER_FLATTEN:
		return model_add_flatten(m, in);
	case LAYER_DROPOUT:
		return model_add_dropout(m, in, l->p);
	case LAYER_RESIDUAL:
		return model_add_residual(m, in, in2);
	case LAYER_CHANDUP:
		return model_add_chandup(m, in, l->oc, l->dup_src, l->dup_factor);
	case LAYER_KIND_COUNT:
		break;
	}
	assert(0);
	return -1;
}

/* Readers of each layer's output (n_layers counts, malloc'd). */
static int *
count_readers(const struct model *m)
{
	int *readers = xcalloc((size_t)m->n_layers, sizeof *readers);
	for (int i = 0; i < m->n_layers; i++) {
		if (m->layers[i].in >= 0)
			readers[m->layers[i].in]++;
		if (m->layers[i].in2 >= 0)
			readers[m->layers[i].in2]++;
	}
	return readers;
}

/*
 * Copies the weight of old conv/linear layer o into new layer n, whose input
 * has n->c (conv) or n->in_size (linear) channels, the first of them o's own
 * (the rest start at zero); scale[oc] (or NULL) multiplies each output row.
 */
static void
copy_weight(struct layer *n, const struct layer *o, const double *scale)
{
	size_t kk = o->kind == LAYER_CONV2D ? (size_t)o->k * o->k : 1;
	size_t in_o = o->kind == LAYER_CONV2D ? (size_t)o->c : o->in_size;
	size_t in_n = n->kind == LAYER_CONV2D ? (size_t)n->c : n->in_size;
	memset(n->wt, 0, n->w_size * sizeof *n->wt);
	for (int r = 0; r < o->oc; r++) {
		const float *src = o->wt + (size_t)r * in_o * kk;
		float *dst = n->wt + (size_t)r * in_n * kk;
		for (size_t j = 0; j < in_o * kk; j++)
			dst[j] = scale ? (float)(src[j] * scale[r]) : src[j];
	}
}

struct model *
model_derive(const struct model *m, int fold_bn, const struct model_dup *dups, int *map,
	     char **cause)
{
	assert(m->finished);
	if (fold_bn && m->bn_shift) {
		err_set(cause, "%s: shift-based batch norm cannot be folded", m->arch);
		return NULL;
	}
	int *readers = count_readers(m);
	/* fold[j]: the batch norm folded into conv/linear j, or -1 */
	int *fold = xmalloc((size_t)m->n_layers * sizeof *fold);
	int *to = xmalloc((size_t)m->n_layers * sizeof *to);
	for (int i = 0; i < m->n_layers; i++)
		fold[i] = -1;
	for (int i = 0; fold_bn && i < m->n_layers; i++) {
		const struct layer *l = &m->layers[i];
		if (l->kind != LAYER_BATCHNORM || l->in < 0 || readers[l->in] != 1)
			continue;
		enum layer_kind k = m->layers[l->in].kind;
		if (k == LAYER_CONV2D || k == LAYER_LINEAR)
			fold[l->in] = i;
	}
	struct model *d = model_begin(m->arch, m->c, m->h, m->w, m->classes);
	d->bn_shift = m->bn_shift;
	for (int i = 0; i < m->n_layers; i++) {
		const struct layer *l = &m->layers[i];
		int in = l->in >= 0 ? to[l->in] : MODEL_INPUT;
		int in2 = l->in2 >= 0 ? to[l->in2] : MODEL_INPUT;
		if (l->kind == LAYER_BATCHNORM && l->in >= 0 && fold[l->in] == i) {
			to[i] = in; /* folded into its producer */
			continue;
		}
		const struct model_dup *dup = dups && dups[i].n_out > 0 ? &dups[i] : NULL;
		if (dup && (l->kind == LAYER_CONV2D || l->kind == LAYER_LINEAR)) {
			int hw = in >= 0 ? d->layers[in].oh * d->layers[in].ow : d->h * d->w;
			if (l->kind == LAYER_LINEAR && hw > 1)
				in = model_add_flatten(d, in);
			in = model_add_chandup(d, in, dup->n_out, dup->src, dup->factor);
		}
		to[i] = readd_layer(d, l, in, in2, l->bias || fold[i] >= 0);
	}
	free(readers);
	if (model_finish(d, 0, cause) < 0) {
		model_free(d);
		free(fold);
		free(to);
		return NULL;
	}
	/* parameters: weights (folded, widened), biases, unfolded batch norms */
	for (int i = 0; i < m->n_layers; i++) {
		const struct layer *l = &m->layers[i];
		struct layer *n = &d->layers[to[i]];
		if (l->kind == LAYER_BATCHNORM) {
			if (l->in >= 0 && fold[l->in] == i)
				continue;
			memcpy(n->wt, l->wt, (size_t)l->oc * sizeof *l->wt);
			memcpy(n->b, l->b, (size_t)l->oc * sizeof *l->b);
			memcpy(n->run_mean, l->run_mean, (size_t)l->oc * sizeof *l->b);
			memcpy(n->run_var, l->run_var, (size_t)l->oc * sizeof *l->b);
			continue;
		}
		if (l->kind != LAYER_CONV2D && l->kind != LAYER_LINEAR)
			continue;
		if (fold[i] < 0) {
			copy_weight(n, l, NULL);
			if (l->bias)
				memcpy(n->b, l->b, (size_t)l->oc * sizeof *l->b);
			continue;
		}
		/* W' = W·g, b' = beta + (b - mean)·g with g = gamma/sqrt(var + eps) */
		const struct layer *bn = &m->layers[fold[i]];
		double *g = xmalloc((size_t)l->oc * sizeof *g);
		for (int o = 0; o < l->oc; o++) {
			g[o] = bn->wt[o] / sqrt((double)bn->run_var[o] + (double)BN_EPS);
			double b = l->bias ? l->b[o] : 0.0;
			n->b[o] = (float)(bn->b[o] + (b - bn->run_mean[o]) * g[o]);
		}
		copy_weight(n, l, g);
		free(g);
	}
	if (map)
		memcpy(map, to, (size_t)m->n_layers * sizeof *map);
	free(fold);
	free(to);
	return d;
}

int
model_slice_check(const struct model *m, int first, int last, char **cause)
{
	assert(m->finished && 0 <= first && first <= last && last < m->n_layers);
	int src = m->layers[first].in;
	for (int i = first; i <= last; i++) {
		const struct layer *l = &m->layers[i];
		int ins[2] = {l->in, l->kind == LAYER_RESIDUAL ? l->in2 : first};
		for (int j = 0; j < 2; j++)
			if (ins[j] != src && (ins[j] < first || ins[j] > last))
				return err_set(cause, "%s: layers %s..%s read layer %d from outside",
					       m->arch, m->layers[first].group,
					       m->layers[last].group, ins[j]);
	}
	return 0;
}

struct model *
model_slice(const struct model *m, int first, int last, int input_grad, char **cause)
{
	if (model_slice_check(m, first, last, cause) < 0)
		return NULL;
	int src = m->layers[first].in;
	int c = src >= 0 ? m->layers[src].oc : m->c, h = src >= 0 ? m->layers[src].oh : m->h,
	    w = src >= 0 ? m->layers[src].ow : m->w;
	const struct layer *end = &m->layers[last];
	struct model *d = model_begin("slice", c, h, w, (int)end->out_size);
	d->bn_shift = m->bn_shift;
	d->input_grad = input_grad != 0;
	for (int i = first; i <= last; i++) {
		const struct layer *l = &m->layers[i];
		int in = l->in == src ? MODEL_INPUT : l->in - first;
		int in2 = l->in2 == src ? MODEL_INPUT : l->in2 - first;
		readd_layer(d, l, in, in2, l->bias);
	}
	if (model_finish(d, 0, cause) < 0) {
		model_free(d);
		return NULL;
	}
	for (int i = first; i <= last; i++) {
		const struct layer *l = &m->layers[i];
		struct layer *n = &d->layers[i - first];
		if (l->wt)
			memcpy(n->wt, l->wt, l->w_size * sizeof *l->wt);
		if (l->b)
			memcpy(n->b, l->b, (size_t)l->oc * sizeof *l->b);
		if (l->run_mean) {
			memcpy(n->run_mean, l->run_mean, (size_t)l->oc * sizeof *l->b);
			memcpy(n->run_var, l->run_var, (size_t)l->oc * sizeof *l->b);
		}
	}
	return d;
}

float *
model_input_grad(struct model *m)
{
	assert(m->input_grad && m->cap_train);
	return m->dinput;
}

float *
model_layer_weight(struct model *m, int i, size_t *n)
{
	assert(i >= 0 && i < m->n_layers);
	struct layer *l = &m->layers[i];
	if (l->kind != LAYER_CONV2D && l->kind != LAYER_LINEAR)
		return NULL;
	if (n)
		*n = l->w_size;
	return l->wt;
}

float *
model_layer_bias(struct model *m, int i)
{
	assert(i >= 0 && i < m->n_layers);
	struct layer *l = &m->layers[i];
	return l->kind == LAYER_CONV2D || l->kind == LAYER_LINEAR ? l->b : NULL;
}

void
model_layer_input_shape(const struct model *m, int i, int *c, int *h, int *w)
{
	assert(i >= 0 && i < m->n_layers);
	*c = m->layers[i].c;
	*h = m->layers[i].h;
	*w = m->layers[i].w;
}

int
model_layer_input2(const struct model *m, int i)
{
	assert(i >= 0 && i < m->n_layers);
	const struct layer *l = &m->layers[i];
	return l->kind == LAYER_RESIDUAL ? l->in2 : l->in;
}

int
model_layer_readers(const struct model *m, int i)
{
	int n = 0;
	for (int j = 0; j < m->n_layers; j++)
		n += (m->layers[j].in == i) + (m->layers[j].kind == LAYER_RESIDUAL &&
					       m->layers[j].in2 == i);
	return n;
}

int
model_layer_is_gemm(const struct model *m, int i)
{
	assert(i >= 0 && i < m->n_layers);
	return m->layers[i].kind == LAYER_CONV2D || m->layers[i].kind == LAYER_LINEAR;
}

int
model_layer_reads_input(const struct model *m, int i)
{
	int p = model_layer_input(m, i);
	while (p >= 0 && m->layers[p].kind == LAYER_FLATTEN)
		p = m->layers[p].in;
	return p == MODEL_INPUT;
}

int
model_layer_input_nonneg(const struct model *m, int i)
{
	for (int p = model_layer_input(m, i); p >= 0; p = m->layers[p].in) {
		switch (m->layers[p].kind) {
		case LAYER_RELU:
			return 1;
		case LAYER_MAXPOOL:
		case LAYER_AVGPOOL:
		case LAYER_GLOBALAVGPOOL:
		case LAYER_FLATTEN:
		case LAYER_DROPOUT:
			continue;
		case LAYER_CHANDUP: {
			/* duplication keeps signs unless a factor is negative */
			const struct layer *l = &m->layers[p];
			for (int o = 0; o < l->oc; o++)
				if (l->dup_factor[o] < 0)
					return 0;
			continue;
		}
		default:
			return 0;
		}
	}
	return 0;
}
