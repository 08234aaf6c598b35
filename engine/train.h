/*
 * train: the training and evaluation loops. They report through
 * engine/event.h only: per-epoch metrics, progress and should-stop.
 */
#ifndef QB_TRAIN_H
#define QB_TRAIN_H

#include <stdint.h>

#include "engine/event.h"
#include "engine/optim.h" /* enum optim_kind, enum sched_kind */

struct model;
struct dataset;

enum loss_kind { LOSS_XENT, LOSS_SQHINGE, LOSS_COUNT };

struct train_opts {
	int epochs;
	int batch;
	double lr;		/* peak learning rate */
	enum optim_kind optim;
	double momentum;	/* SGD */
	int nesterov;		/* SGD */
	double wd;		/* weight decay (L2, on weights only, not BN or biases) */
	double beta1, beta2;	/* Adam/AdaMax */
	enum sched_kind sched;
	double warmup;		/* epochs of linear warm-up (may be fractional) */
	int step_size;		/* SCHED_STEP: epochs between decays */
	double step_gamma;	/* SCHED_STEP: decay factor */
	enum loss_kind loss;
	int aug_pad;		/* random-crop padding (0 = off) */
	int aug_flip;		/* random horizontal flip */
	uint64_t seed;		/* shuffling, augmentation, dropout */
};

/* Fills opts with qbench's defaults (documented in `qbench help keys`). */
void train_opts_default(struct train_opts *opts);

/*
 * Extra trainable state beside the model's parameters (the quantizers of
 * engine/quant/qat.h): train_run calls these hooks, any of which may be NULL.
 * setup gets the optimizer settings once before the first step; zero_grad
 * runs before each backward pass, after_backward after it (before the
 * model's step), step after the model's step with the same learning rate,
 * and epoch_end after each epoch's evaluation (step = epoch).
 */
struct optim_hparams;
struct train_plugin {
	void *ctx;
	void (*setup)(void *ctx, const struct optim_hparams *h);
	void (*zero_grad)(void *ctx);
	void (*after_backward)(void *ctx);
	void (*step)(void *ctx, double lr);
	void (*epoch_end)(void *ctx, int epoch, const struct engine_events *ev);
};

enum train_status { TRAIN_DONE, TRAIN_CANCELLED, TRAIN_DIVERGED };

struct train_result {
	enum train_status status;
	int epochs_done;
	double train_loss, train_acc; /* last epoch */
	double test_loss, test_acc;   /* final evaluation on the test split */
	double time_s;		      /* wall time of training epochs (not evaluation) */
	double images_per_s;	      /* training throughput */
	double eval_images_per_s;     /* inference throughput of the final evaluation */
};

/*
 * Trains m on train for opts->epochs, evaluating on test after each epoch.
 * Reports per epoch (step = epoch, 1-based) the metrics train_loss, train_acc,
 * test_loss, test_acc, lr and epoch_time_s; progress for phases "train" and "test".
 * Stops early (status TRAIN_CANCELLED) when should_stop answers nonzero, and
 * with TRAIN_DIVERGED when the loss becomes NaN or infinite. plug (may be
 * NULL) trains extra state alongside (see struct train_plugin). Returns 0 (also
 * when cancelled or diverged: see res->status), or -1 with *cause on invalid
 * options or a dataset that does not fit the model.
 */
int train_run(struct model *m, const struct dataset *train, const struct dataset *test,
	      const struct train_opts *opts, const struct train_plugin *plug,
	      const struct engine_events *ev, struct train_result *res, char **cause);

/*
 * Evaluates m (eval mode) on d in batches of `batch`: mean loss and accuracy.
 * images_per_s may be NULL. Returns 0, or -1 with *cause if d does not fit m.
 */
int train_evaluate(struct model *m, const struct dataset *d, int batch, enum loss_kind loss,
		   const struct engine_events *ev, double *loss_out, double *acc_out,
		   double *images_per_s, char **cause);

#endif
