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
 * thread count.
 */
#ifndef QB_OPTIM_H
#define QB_OPTIM_H

#include <stddef.h>

enum optim_kind { OPTIM_SGD, OPTIM_ADAM, OPTIM_ADAMAX, OPTIM_COUNT };
enum sched_kind { SCHED_CONSTANT, SCHED_STEP, SCHED_COSINE, SCHED_COUNT };

/* Key names ("sgd", "adam", "adamax"; "constant", "step", "cosine"), indexed
 * by the enums and NULL-terminated (static). */
const char *const *optim_kind_names(void);
const char *const *optim_sched_names(void);

struct optim_hparams {
	enum optim_kind kind;
	double momentum; /* SGD */
	int nesterov;	 /* SGD */
	double wd;	 /* L2 weight decay, added to the gradient (coupled, as PyTorch) */
	double beta1, beta2, eps; /* Adam, AdaMax */
};

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
 */
struct optim *optim_new(const struct optim_hparams *h, float *param, const float *grad,
			size_t n_decay, size_t n);
void optim_free(struct optim *o);

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
