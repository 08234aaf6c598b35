/*
 * train: the training loop (shuffled mini-batches, forward, loss, backward,
 * optimizer step, per-iteration learning rate) and the evaluation loop.
 *
 * Invariants:
 * - Nothing is allocated inside the loop over batches: the model's per-batch
 *   storage, the labels, the softmax buffer and the example order are set up
 *   before the first batch (engine/model.h model_reserve()).
 * - Randomness comes from opts->seed only, through independent streams for
 *   shuffling, augmentation and dropout (rng_split), so the same seed and the
 *   same thread count give bit-identical weights.
 * - Every example is seen once per epoch; the last batch may be partial, and
 *   its loss is its own mean (as every batch's).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/data.h"
#include "engine/layers.h"
#include "engine/model.h"
#include "engine/optim.h"
#include "engine/rng.h"
#include "engine/train.h"
#include "engine/util.h"

/* Batch size of the evaluation after each epoch. */
#define TRAIN_EVAL_BATCH 256
/* Adam/AdaMax epsilon (Kingma & Ba 2015; PyTorch's default). */
#define TRAIN_ADAM_EPS 1e-8

/* Random streams split from the seed. */
enum { STREAM_SHUFFLE, STREAM_AUGMENT, STREAM_DROPOUT };

void
train_opts_default(struct train_opts *o)
{
	memset(o, 0, sizeof *o);
	o->epochs = 10;
	o->batch = 128;
	o->lr = 0.05;
	o->optim = OPTIM_SGD;
	o->momentum = 0.9;
	o->nesterov = 1;
	o->wd = 5e-4;
	o->beta1 = 0.9;
	o->beta2 = 0.999;
	o->sched = SCHED_COSINE;
	o->warmup = 1;
	o->step_size = 10;
	o->step_gamma = 0.1;
	o->loss = LOSS_XENT;
	o->aug_pad = 0;
	o->aug_flip = 0;
	o->seed = 1;
}

static int
check_opts(const struct train_opts *o, char **cause)
{
	if (o->epochs < 0)
		return err_set(cause, "epochs must be >= 0 (got %d)", o->epochs);
	if (o->batch < 1)
		return err_set(cause, "batch must be >= 1 (got %d)", o->batch);
	if (!(o->lr >= 0.0 && isfinite(o->lr)))
		return err_set(cause, "lr must be a finite value >= 0 (got %g)", o->lr);
	if (o->optim < 0 || o->optim >= OPTIM_COUNT)
		return err_set(cause, "unknown optimizer %d", (int)o->optim);
	if (!(o->momentum >= 0.0 && o->momentum < 1.0))
		return err_set(cause, "momentum must be in [0, 1) (got %g)", o->momentum);
	if (!(o->wd >= 0.0 && isfinite(o->wd)))
		return err_set(cause, "wd must be a finite value >= 0 (got %g)", o->wd);
	if (!(o->beta1 >= 0.0 && o->beta1 < 1.0) || !(o->beta2 >= 0.0 && o->beta2 < 1.0))
		return err_set(cause, "beta1 and beta2 must be in [0, 1) (got %g, %g)", o->beta1,
			       o->beta2);
	if (o->sched < 0 || o->sched >= SCHED_COUNT)
		return err_set(cause, "unknown schedule %d", (int)o->sched);
	if (!(o->warmup >= 0.0 && o->warmup <= o->epochs))
		return err_set(cause, "warmup must be in [0, epochs] (got %g)", o->warmup);
	if (o->sched == SCHED_STEP && (o->step_size < 1 || !(o->step_gamma > 0.0)))
		return err_set(cause, "step schedule needs step_size >= 1 and gamma > 0 (got %d, %g)",
			       o->step_size, o->step_gamma);
	if (o->loss < 0 || o->loss >= LOSS_COUNT)
		return err_set(cause, "unknown loss %d", (int)o->loss);
	if (o->aug_pad < 0)
		return err_set(cause, "augmentation padding must be >= 0 (got %d)", o->aug_pad);
	return 0;
}

/* 0 when d's examples fit m's input and its labels fit m's outputs. */
static int
check_fit(const struct model *m, const struct dataset *d, char **cause)
{
	int c, h, w;
	model_input_shape(m, &c, &h, &w);
	if (d->n < 1)
		return err_set(cause, "%s: no examples", d->source);
	if (d->c != c || d->h != h || d->w != w)
		return err_set(cause, "%s: images are %dx%dx%d but model %s takes %dx%dx%d",
			       d->source, d->c, d->h, d->w, model_arch(m), c, h, w);
	if (d->classes > model_classes(m))
		return err_set(cause, "%s: %d classes but model %s has %d outputs", d->source,
			       d->classes, model_arch(m), model_classes(m));
	return 0;
}

/*
 * Mean loss of logits (B, K) against labels (B); with dlogits non-NULL also
 * writes its gradient there (B, K). probs (B, K) is scratch for the softmax.
 */
static double
batch_loss(enum loss_kind loss, const float *logits, const int32_t *labels, int B, int K,
	   float *probs, float *dlogits)
{
	double value;
	if (loss == LOSS_XENT)
		value = softmax_xent_forward(probs, logits, labels, B, K);
	else
		value = sqhinge_forward(logits, labels, B, K);
	if (dlogits) {
		memset(dlogits, 0, (size_t)B * K * sizeof *dlogits);
		if (loss == LOSS_XENT)
			softmax_xent_backward(dlogits, probs, labels, B, K);
		else
			sqhinge_backward(dlogits, logits, labels, B, K);
	}
	return value;
}

/*
 * Shift-based AdaMax's per-parameter learning-rate scales (METHODS §3.5): conv and
 * linear weights AP2(1/sqrt(1.5/(fan_in + fan_out))), everything else 1 (n values
 * lined up with params).
 */
static float *
glorot_scales(const struct model *m, const float *params, size_t n)
{
	float *s = xmalloc(n * sizeof *s);
	for (size_t i = 0; i < n; i++)
		s[i] = 1.0f;
	for (int t = 0; t < model_tensor_count(m); t++) {
		const struct model_tensor *mt = model_tensor_at(m, t);
		if (!mt->trainable || strcmp(mt->name, "weight") != 0 || mt->ndim < 2)
			continue;
		int field = mt->ndim == 4 ? mt->shape[2] * mt->shape[3] : 1;
		float g = optim_glorot_lr_scale(mt->shape[1] * field, mt->shape[0] * field);
		size_t off = (size_t)(mt->data - params);
		for (size_t i = 0; i < mt->size && off + i < n; i++)
			s[off + i] = g;
	}
	return s;
}

/* Number of rows of logits (B, K) whose first maximum is at the label. */
static long
batch_correct(const float *logits, const int32_t *labels, int B, int K)
{
	long correct = 0;
	for (int b = 0; b < B; b++) {
		const float *row = logits + (size_t)b * K;
		int best = 0;
		for (int k = 1; k < K; k++)
			if (row[k] > row[best])
				best = k;
		correct += best == labels[b];
	}
	return correct;
}

/* Evaluation with caller-provided buffers; see train_evaluate(). */
static void
evaluate(struct model *m, const struct dataset *d, int batch, enum loss_kind loss,
	 const struct engine_events *ev, int *idx, int32_t *labels, float *probs,
	 double *loss_out, double *acc_out, double *seconds)
{
	int K = model_classes(m);
	double t0 = util_now(), loss_sum = 0;
	long correct = 0;
	model_reserve(m, batch, 0);
	for (int start = 0; start < d->n; start += batch) {
		int b = d->n - start < batch ? d->n - start : batch;
		for (int i = 0; i < b; i++)
			idx[i] = start + i;
		dataset_gather(d, idx, b, model_input(m), labels, 0, 0, NULL);
		const float *logits = model_forward(m, b, 0, NULL);
		loss_sum += batch_loss(loss, logits, labels, b, K, probs, NULL) * b;
		correct += batch_correct(logits, labels, b, K);
		event_progress(ev, "test", start + b, d->n);
	}
	*loss_out = loss_sum / d->n;
	*acc_out = (double)correct / d->n;
	*seconds = util_now() - t0;
}

/* The evaluation on the test split inside train_run(), into res. */
static void
evaluate_test(struct model *m, const struct dataset *test, int batch, enum loss_kind loss,
	      const struct engine_events *ev, int *idx, int32_t *labels, float *probs,
	      struct train_result *res)
{
	double seconds;
	evaluate(m, test, batch, loss, ev, idx, labels, probs, &res->test_loss, &res->test_acc,
		 &seconds);
	res->eval_images_per_s = seconds > 0 ? test->n / seconds : 0;
}

int
train_evaluate(struct model *m, const struct dataset *d, int batch, enum loss_kind loss,
	       const struct engine_events *ev, double *loss_out, double *acc_out,
	       double *images_per_s, char **cause)
{
	if (batch < 1)
		return err_set(cause, "batch must be >= 1 (got %d)", batch);
	if (loss < 0 || loss >= LOSS_COUNT)
		return err_set(cause, "unknown loss %d", (int)loss);
	if (check_fit(m, d, cause) < 0)
		return -1;
	int K = model_classes(m);
	int *idx = xmalloc((size_t)batch * sizeof *idx);
	int32_t *labels = xmalloc((size_t)batch * sizeof *labels);
	float *probs = xalloc_floats((size_t)batch * K);
	double seconds;
	evaluate(m, d, batch, loss, ev, idx, labels, probs, loss_out, acc_out, &seconds);
	if (images_per_s)
		*images_per_s = seconds > 0 ? d->n / seconds : 0;
	free(idx);
	free(labels);
	xfree_aligned(probs);
	return 0;
}

int
train_run(struct model *m, const struct dataset *train, const struct dataset *test,
	  const struct train_opts *opts, const struct train_plugin *plug,
	  const struct engine_events *ev, struct train_result *res, char **cause)
{
	memset(res, 0, sizeof *res);
	res->status = TRAIN_DONE;
	res->train_loss = res->test_loss = NAN;
	if (check_opts(opts, cause) < 0 || check_fit(m, train, cause) < 0 ||
	    (test && check_fit(m, test, cause) < 0))
		return -1;

	const int n = train->n, B = opts->batch, K = model_classes(m);
	const int eval_B = TRAIN_EVAL_BATCH > B ? TRAIN_EVAL_BATCH : B;
	struct rng root, shuffle, augment, dropout;
	rng_seed(&root, opts->seed);
	rng_split(&shuffle, &root, STREAM_SHUFFLE);
	rng_split(&augment, &root, STREAM_AUGMENT);
	rng_split(&dropout, &root, STREAM_DROPOUT);
	int augmenting = opts->aug_pad > 0 || opts->aug_flip;

	int *order = xmalloc((size_t)n * sizeof *order);
	for (int i = 0; i < n; i++)
		order[i] = i;
	int *eval_idx = xmalloc((size_t)eval_B * sizeof *eval_idx);
	int32_t *labels = xmalloc((size_t)eval_B * sizeof *labels);
	float *probs = xalloc_floats((size_t)eval_B * K);

	size_t n_decay, n_train;
	float *params = model_params(m, &n_decay, &n_train);
	struct optim_hparams hp = {
		.kind = opts->optim,
		.momentum = opts->momentum,
		.nesterov = opts->nesterov,
		.wd = opts->wd,
		.beta1 = opts->beta1,
		.beta2 = opts->beta2,
		.eps = opts->optim == OPTIM_SHIFT_ADAMAX ? OPTIM_SHIFT_ADAMAX_EPS : TRAIN_ADAM_EPS,
	};
	struct optim *opt = optim_new(&hp, params, model_grads(m), n_decay, n_train);
	float *lr_scale = NULL;
	if (opts->optim == OPTIM_SHIFT_ADAMAX) {
		lr_scale = glorot_scales(m, params, n_train);
		optim_set_lr_scale(opt, lr_scale);
	}
	if (plug && plug->setup)
		plug->setup(plug->ctx, &hp);
	long iters_per_epoch = (n + B - 1) / B;
	struct optim_sched sched = {
		.kind = opts->sched,
		.lr = opts->lr,
		.warmup_iters = lround(opts->warmup * (double)iters_per_epoch),
		.total_iters = iters_per_epoch * opts->epochs,
		.iters_per_epoch = iters_per_epoch,
		.step_size = opts->step_size,
		.gamma = opts->step_gamma,
	};

	/* Room for the evaluation batch too, so the storage never moves again. */
	model_reserve(m, test ? eval_B : B, 1);

	long it = 0, trained = 0;
	double lr = opts->lr;
	for (int epoch = 1; epoch <= opts->epochs; epoch++) {
		rng_shuffle(&shuffle, order, n);
		double t0 = util_now(), loss_sum = 0;
		long correct = 0;
		for (int start = 0; start < n; start += B) {
			if (event_should_stop(ev)) {
				res->status = TRAIN_CANCELLED;
				break;
			}
			int b = n - start < B ? n - start : B;
			dataset_gather(train, order + start, b, model_input(m), labels, opts->aug_pad,
				       opts->aug_flip, augmenting ? &augment : NULL);
			const float *logits = model_forward(m, b, 1, &dropout);
			double loss = batch_loss(opts->loss, logits, labels, b, K, probs,
						 model_output_grad(m));
			if (!isfinite(loss)) {
				res->status = TRAIN_DIVERGED;
				res->train_loss = loss;
				break;
			}
			loss_sum += loss * b;
			correct += batch_correct(logits, labels, b, K);
			model_zero_grad(m);
			if (plug && plug->zero_grad)
				plug->zero_grad(plug->ctx);
			model_backward(m, b);
			if (plug && plug->after_backward)
				plug->after_backward(plug->ctx);
			lr = optim_sched_lr(&sched, it++);
			optim_step(opt, lr);
			if (plug && plug->step)
				plug->step(plug->ctx, lr);
			trained += b;
			event_progress(ev, "train", start + b, n);
		}
		double epoch_time = util_now() - t0;
		res->time_s += epoch_time;
		if (res->status != TRAIN_DONE)
			break;
		res->epochs_done = epoch;
		res->train_loss = loss_sum / n;
		res->train_acc = (double)correct / n;
		event_metric(ev, epoch, "train_loss", res->train_loss);
		event_metric(ev, epoch, "train_acc", res->train_acc);
		if (test) {
			evaluate_test(m, test, eval_B, opts->loss, ev, eval_idx, labels, probs, res);
			event_metric(ev, epoch, "test_loss", res->test_loss);
			event_metric(ev, epoch, "test_acc", res->test_acc);
		}
		event_metric(ev, epoch, "lr", lr);
		event_metric(ev, epoch, "epoch_time_s", epoch_time);
		if (plug && plug->epoch_end)
			plug->epoch_end(plug->ctx, epoch, ev);
	}
	if (test && opts->epochs == 0)
		evaluate_test(m, test, eval_B, opts->loss, ev, eval_idx, labels, probs, res);
	res->images_per_s = res->time_s > 0 ? trained / res->time_s : 0;

	optim_free(opt);
	free(lr_scale);
	free(order);
	free(eval_idx);
	free(labels);
	xfree_aligned(probs);
	return 0;
}
