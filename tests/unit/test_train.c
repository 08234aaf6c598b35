/*
 * test_train: the training loop on small synthetic data: bit-identical
 * weights for the same seed and thread count, learning a separable problem,
 * events, cancellation, divergence and option checking.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/data.h"
#include "engine/model.h"
#include "engine/rng.h"
#include "engine/threads.h"
#include "engine/train.h"
#include "engine/util.h"
#include "tests/unit/tap.h"
#include "tests/unit/testdata.h"

/* A small network with every source of randomness: BN, dropout, flatten. */
static struct model *
small_net(uint64_t init_seed)
{
	struct model *m = model_begin("small", 1, 4, 4, 4);
	model_add_flatten(m, MODEL_INPUT);
	model_add_linear(m, MODEL_PREV, 32, 1);
	model_add_batchnorm(m, MODEL_PREV);
	model_add_relu(m, MODEL_PREV);
	model_add_dropout(m, MODEL_PREV, 0.2f);
	model_add_linear(m, MODEL_PREV, 4, 1);
	if (model_finish(m, init_seed, NULL) < 0) {
		model_free(m);
		return NULL;
	}
	return m;
}

/* Trains a fresh model (arch, or small_net) and returns its tensors. */
static float *
train_once(const char *arch, const struct dataset *tr, uint64_t seed, int aug, size_t *n)
{
	struct model *m = arch ? model_new(arch, 1, tr->h, tr->w, 4, 5, NULL) : small_net(5);
	struct train_opts o;
	train_opts_default(&o);
	o.epochs = 3;
	o.batch = 64;
	o.seed = seed;
	o.aug_pad = aug;
	o.aug_flip = aug;
	struct train_result r;
	char *cause = NULL;
	if (train_run(m, tr, NULL, &o, NULL, NULL, &r, &cause) < 0) {
		tap_diag("train_run: %s", cause);
		free(cause);
	}
	float *s = snapshot(m, n);
	model_free(m);
	return s;
}

static void
test_determinism(void)
{
	/* 600 examples at batch 64: 10 batches per epoch, the last one partial. */
	struct dataset *tr = blobs(600, 4, 4, 0.3, 1), *tr8 = blobs(600, 4, 8, 0.3, 1);
	static const int thread_counts[2] = {1, 2};
	static const char *const whats[4] = {"mlp", "bn+dropout net", "bn+dropout net, augmented",
					     "cnn on 8x8"};
	for (int k = 0; k < 2; k++) {
		int th = threads_init(thread_counts[k]);
		for (int variant = 0; variant < 4; variant++) {
			const char *arch = variant == 0 ? "mlp" : variant == 3 ? "cnn" : NULL;
			int aug = variant == 2;
			const char *what = whats[variant];
			const struct dataset *d = variant == 3 ? tr8 : tr;
			size_t n1, n2, n3;
			float *a = train_once(arch, d, 11, aug, &n1);
			float *b = train_once(arch, d, 11, aug, &n2);
			float *c = train_once(arch, d, 12, aug, &n3);
			tap_ok(n1 == n2 && n1 == n3, "%s: same tensor sizes", what);
			tap_same_floats(b, a, n1, "%s, %d thread%s: same seed, bit-identical weights",
					what, th, th > 1 ? "s" : "");
			size_t differ = 0;
			for (size_t i = 0; i < n1; i++)
				differ += a[i] != c[i];
			tap_ok(differ > n1 / 2, "%s, %d thread%s: another seed, other weights (%zu of %zu differ)",
			       what, th, th > 1 ? "s" : "", differ, n1);
			free(a);
			free(b);
			free(c);
		}
	}
	threads_init(0);
	free_blobs(tr);
	free_blobs(tr8);
}

struct recorder {
	int metrics[8];
	double last_test_acc, last_lr;
	long progress_train, progress_test, last_done;
	int polls, stop_after;
};

static const char *const metric_names[6] = {"train_loss", "train_acc", "test_loss",
					    "test_acc",	  "lr",	       "epoch_time_s"};

static void
rec_metric(void *ctx, int step, const char *name, double value)
{
	struct recorder *r = ctx;
	(void)step;
	for (int i = 0; i < 6; i++)
		if (strcmp(name, metric_names[i]) == 0)
			r->metrics[i]++;
	if (strcmp(name, "test_acc") == 0)
		r->last_test_acc = value;
	if (strcmp(name, "lr") == 0)
		r->last_lr = value;
}

static void
rec_progress(void *ctx, const char *phase, long done, long total)
{
	struct recorder *r = ctx;
	(void)total;
	if (strcmp(phase, "train") == 0)
		r->progress_train++;
	else
		r->progress_test++;
	r->last_done = done;
}

static int
rec_stop(void *ctx)
{
	struct recorder *r = ctx;
	return ++r->polls > r->stop_after;
}

static void
test_learning(void)
{
	struct dataset *tr = blobs(1000, 4, 4, 0.35, 2), *te = blobs(400, 4, 4, 0.35, 3);
	struct model *m = model_new("mlp", 1, 4, 4, 4, 1, NULL);
	struct train_opts o;
	train_opts_default(&o);
	o.epochs = 4;
	o.batch = 32;
	struct recorder rec = {.stop_after = 1 << 30};
	struct engine_events ev = {&rec, rec_progress, rec_metric, NULL, rec_stop};
	struct train_result r;
	char *cause = NULL;
	int rc = train_run(m, tr, te, &o, NULL, &ev, &r, &cause);
	tap_ok(rc == 0 && r.status == TRAIN_DONE && r.epochs_done == 4, "mlp trains 4 epochs");
	tap_ok(r.test_acc > 0.95, "mlp learns separable blobs: test accuracy %.3f > 0.95", r.test_acc);
	tap_ok(r.train_loss < 0.3, "mlp: final train loss %.3f < 0.3", r.train_loss);
	int each = 1;
	for (int i = 0; i < 6; i++)
		each &= rec.metrics[i] == 4;
	tap_ok(each, "six metrics per epoch, four epochs");
	tap_near(rec.last_test_acc, r.test_acc, 0, "metric test_acc is the result's");
	/* 1000/32 -> 32 batches per epoch (last partial); 400/256 -> 2 test batches. */
	tap_eq_int(rec.progress_train, 4 * 32, "one train progress event per batch");
	tap_eq_int(rec.progress_test, 4 * 2, "one test progress event per batch");
	tap_ok(rec.last_lr < 0.05 * 0.01, "cosine schedule ends near 0 (last lr %g)", rec.last_lr);
	tap_ok(r.images_per_s > 0 && r.eval_images_per_s > 0 && r.time_s > 0, "throughputs reported");

	double loss, acc, acc7;
	tap_ok(train_evaluate(m, te, 256, LOSS_XENT, NULL, &loss, &acc, NULL, NULL) == 0,
	       "train_evaluate runs");
	tap_near(acc, r.test_acc, 0, "train_evaluate gives the final test accuracy");
	tap_near(loss, r.test_loss, 1e-6, "and the final test loss");
	train_evaluate(m, te, 7, LOSS_XENT, NULL, &loss, &acc7, NULL, NULL);
	tap_near(acc7, acc, 0, "evaluation accuracy does not depend on the batch size");
	model_free(m);

	/* A conv net with BN on 8x8 images, with Adam and the squared hinge loss. */
	struct dataset *tr8 = blobs(800, 4, 8, 0.4, 4), *te8 = blobs(300, 4, 8, 0.4, 5);
	m = model_new("cnn", 1, 8, 8, 4, 1, NULL);
	o.epochs = 3;
	o.optim = OPTIM_ADAM;
	o.lr = 1e-3;
	o.loss = LOSS_SQHINGE;
	o.warmup = 0.5;
	rc = train_run(m, tr8, te8, &o, NULL, NULL, &r, &cause);
	tap_ok(rc == 0 && r.test_acc > 0.9, "cnn + Adam + squared hinge learns: test accuracy %.3f",
	       r.test_acc);
	model_free(m);

	m = model_new("lenet5", 1, 28, 28, 10, 1, NULL);
	rc = train_run(m, tr8, te8, &o, NULL, NULL, &r, &cause);
	tap_ok(rc == -1 && cause && strstr(cause, "blobs:4") && strstr(cause, "28x28"),
	       "a dataset of the wrong shape is refused: %s", cause ? cause : "");
	free(cause);
	cause = NULL;
	model_free(m);
	free_blobs(tr8);
	free_blobs(te8);
	free_blobs(tr);
	free_blobs(te);
}

static void
test_stop_and_diverge(void)
{
	struct dataset *tr = blobs(500, 4, 4, 0.3, 6);
	struct model *m = model_new("mlp", 1, 4, 4, 4, 1, NULL);
	struct train_opts o;
	train_opts_default(&o);
	o.epochs = 2;
	o.batch = 50;
	struct recorder rec = {.stop_after = 4};
	struct engine_events ev = {&rec, rec_progress, rec_metric, NULL, rec_stop};
	struct train_result r;
	char *cause = NULL;
	int rc = train_run(m, tr, NULL, &o, NULL, &ev, &r, &cause);
	tap_ok(rc == 0 && r.status == TRAIN_CANCELLED && r.epochs_done == 0,
	       "should_stop cancels (status %d, epochs %d)", (int)r.status, r.epochs_done);
	tap_eq_int(rec.progress_train, 4, "four batches ran before the stop");
	tap_eq_int(rec.metrics[0], 0, "no epoch metrics for the unfinished epoch");
	model_free(m);

	m = model_new("mlp", 1, 4, 4, 4, 1, NULL);
	o.lr = 1e6;
	o.momentum = 0;
	o.nesterov = 0;
	rc = train_run(m, tr, NULL, &o, NULL, NULL, &r, &cause);
	tap_ok(rc == 0 && r.status == TRAIN_DIVERGED && !isfinite(r.train_loss),
	       "lr=1e6 diverges (status %d, loss %g)", (int)r.status, r.train_loss);

	train_opts_default(&o);
	o.batch = 0;
	rc = train_run(m, tr, NULL, &o, NULL, NULL, &r, &cause);
	tap_ok(rc == -1 && cause && strstr(cause, "batch"), "batch 0 is refused: %s",
	       cause ? cause : "");
	free(cause);
	cause = NULL;
	train_opts_default(&o);
	o.sched = SCHED_STEP;
	o.step_size = 0;
	rc = train_run(m, tr, NULL, &o, NULL, NULL, &r, &cause);
	tap_ok(rc == -1 && cause && strstr(cause, "step_size"), "step_size 0 is refused: %s",
	       cause ? cause : "");
	free(cause);
	model_free(m);
	free_blobs(tr);
}

int
main(void)
{
	test_determinism();
	test_learning();
	test_stop_and_diverge();
	return tap_done();
}
