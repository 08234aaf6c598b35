/*
 * optim: optimizers over a model's parameter arena, and learning-rate
 * schedules.
 *
 * An optimizer updates n parameters in place from the n gradients lined up
 * with them (engine/tensor.h): the first n_decay take weight decay (conv and
 * linear weights), the rest (biases, BN gamma and beta) do not. Its state (one
 * or two slots of n floats: momentum, or Adam's moments) is one arena of its
 * own, lined up with the parameters as well, so a step is one parallel loop
 * over the arena. Updates are elementwise, so results do not depend on the
 * thread count. An optional per-element learning-rate scale (QNN's Glorot
 * learning rates) multiplies every update.
 */
#ifndef QB_OPTIM_H
#define QB_OPTIM_H

#include <stddef.h>

enum optim_kind { OPTIM_SGD, OPTIM_ADAM, OPTIM_ADAMAX, OPTIM_SHIFT_ADAMAX, OPTIM_COUNT };
enum sched_kind { SCHED_CONSTANT, SCHED_STEP, SCHED_COSINE, SCHED_COUNT };

/* Key names ("sgd", "adam", "adamax", "shift-adamax"; "constant", "step",
 * "cosine"), indexed by the enums and NULL-terminated (static). */
const char *const *optim_kind_names(void);
const char *const *optim_sched_names(void);

struct optim_hparams {
	enum optim_kind kind;
	double momentum; /* SGD */
	int nesterov;	 /* SGD */
	double wd;	 /* L2 weight decay, added to the gradient (coupled, as PyTorch) */
	double beta1, beta2, eps; /* Adam, AdaMax, shift-AdaMax (eps 0: see below) */
};

/*
 * Shift-AdaMax's eps, the reference's default (Torch7 adaMax_binary_clip_shift):
 * used when hparams eps is 0; training passes it for shift-adamax.
 */
#define OPTIM_SHIFT_ADAMAX_EPS 0x1p-27

struct optim;

/*
 * An optimizer for param (n) with gradients grad (n), weight decay on
 * [0, n_decay). The arrays stay owned by the caller and must outlive the
 * optimizer. State starts at zero (step count 0). Never NULL; free with
 * optim_free().
 *
 * Updates, for each element with g = grad + wd*param (wd = 0 past n_decay):
 *   SGD (PyTorch semantics, dampening 0):
 *     buf = momentum*buf + g;  d = nesterov ? g + momentum*buf : buf;
 *     param -= lr*d
 *   Adam (Kingma & Ba 2015, algorithm 1; t = step count from 1):
 *     m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2;
 *     param -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
 *   AdaMax (Kingma & Ba 2015, algorithm 2; eps keeps u > 0 as PyTorch):
 *     m = b1*m + (1-b1)*g;  u = max(b2*u, |g| + eps);
 *     param -= lr/(1-b1^t) * m / u
 *   shift-AdaMax (QNN, Hubara et al. 2018, METHODS §3.5; the Torch7
 *   adaMax_binary_clip_shift), with AP2(x) = sign(x) 2^round(log2|x|) (ap2() in
 *   engine/layers.h) and eps OPTIM_SHIFT_ADAMAX_EPS when hparams eps is 0:
 *     m = b1*m + (1-b1)*g;  v = AP2(max(b2*v, |g|)) + eps (stored as the state);
 *     param -= AP2(lr/(1-b1^t)) * (m / v)
 *   so the step taken is a power of two (times m/v and the scale below).
 * With a learning-rate scale (optim_set_lr_scale), each element's update above is
 * multiplied by scale[i], for every kind. Parameter clipping is the caller's.
 */
struct optim *optim_new(const struct optim_hparams *h, float *param, const float *grad,
			size_t n_decay, size_t n);
void optim_free(struct optim *o);

/*
 * Sets the per-element learning-rate scale: scale (n floats, lined up with the
 * parameters, finite everywhere including padding) multiplies each element's
 * update; NULL (the default) means 1 everywhere. The array stays owned by the
 * caller and must outlive the optimizer (or the next call).
 */
void optim_set_lr_scale(struct optim *o, const float *scale);

/*
 * QNN's Glorot learning-rate scale of a binary layer (METHODS §3.5, from the
 * Torch7 BinaryNet code): AP2(1/sqrt(1.5/(fan_in + fan_out))), a power of two; conv
 * fans are channels * kh * kw. fan_in + fan_out must be > 0.
 */
float optim_glorot_lr_scale(int fan_in, int fan_out);

/*
 * Slot `slot` of the optimizer's state (n floats, owned by the optimizer: SGD
 * buf; Adam m, v; AdaMax m, u; shift-AdaMax m, v), or NULL past the kind's
 * slots. For inspection and tests.
 */
const float *optim_state(const struct optim *o, int slot);

/* One update of every parameter with learning rate lr. */
void optim_step(struct optim *o, double lr);

/*
 * A learning-rate schedule over iterations it = 0 .. total_iters-1
 * (iters_per_epoch per epoch):
 *   warm-up   it < warmup_iters: lr * (it+1) / warmup_iters (linear)
 *   constant  lr
 *   step      lr * gamma^floor(epoch / step_size), epoch = floor(it / iters_per_epoch)
 *   cosine    lr * (1 + cos(pi * (it - warmup_iters) / (total_iters - warmup_iters))) / 2,
 *             which reaches 0 at it = total_iters (Loshchilov & Hutter 2017, no restarts)
 */
struct optim_sched {
	enum sched_kind kind;
	double lr;
	long warmup_iters;
	long total_iters;
	long iters_per_epoch;
	int step_size;
	double gamma;
};

/* The learning rate at iteration it. */
double optim_sched_lr(const struct optim_sched *s, long it);

#endif
