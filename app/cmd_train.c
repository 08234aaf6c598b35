/*
 * cmd_train: `qbench train k=v ...`, one float training job.
 *
 * Order: configuration, database and run lookup (a finished run with the
 * same key is reported, not rerun), data, model, then the run is created and
 * trained. Exit codes: 0 done (or already done), 1 cancelled, diverged or
 * failed while running, 2 usage, 3 bad configuration, 4 files or database.
 */
#include <stdlib.h>
#include <string.h>

#include "app/cmd.h"
#include "app/job.h"
#include "app/progress.h"
#include "engine/data.h"
#include "engine/model.h"
#include "engine/quant/qat.h"
#include "engine/threads.h"
#include "engine/train.h"
#include "engine/util.h"

/* Loads both splits; CMD_EXIT_OK or CMD_EXIT_IO after printing the error. */
static int
train_load_data(struct job *j, struct dataset **train, struct dataset **test)
{
	char *cause = NULL;
	const char *spec = config_get(j->cfg, "dataset");
	int ret = CMD_EXIT_OK;
	if (dataset_load(train, spec, DATA_TRAIN, (int)config_get_int(j->cfg, "train.n"), &cause) <
		    0 ||
	    dataset_load(test, spec, DATA_TEST, (int)config_get_int(j->cfg, "test.n"), &cause) < 0)
		ret = cmd_error(CMD_EXIT_IO, "%s", cause);
	free(cause);
	return ret;
}

static int
train_exec(const struct cmd_ctx *ctx, int argc, char **argv)
{
	struct job j;
	struct dataset *train = NULL, *test = NULL;
	struct model *m = NULL;
	char *cause = NULL;
	int cached = 0, ret;

	job_init(&j, ctx, "train");
	if ((ret = job_configure(&j, argc, argv)) != CMD_EXIT_OK ||
	    (ret = job_open(&j, &cached)) != CMD_EXIT_OK)
		goto out;
	if (cached) {
		ret = job_report(&j, 1);
		goto out;
	}
	int threads = threads_init((int)config_get_int(j.cfg, "threads"));
	if ((ret = train_load_data(&j, &train, &test)) != CMD_EXIT_OK ||
	    (ret = job_model(&j, train, &m)) != CMD_EXIT_OK)
		goto out;
	j.epochs = (int)config_get_int(j.cfg, "epochs");
	struct qat_config qc;
	config_to_qat(j.cfg, &qc);
	model_set_bn_shift(m, strcmp(config_get(j.cfg, "bn"), "shift") == 0);
	if (qat_config_active(&qc) &&
	    qat_new(&j.qat, m, &qc, train, QAT_CALIB_N, &cause) < 0) {
		ret = cmd_error(CMD_EXIT_CONFIG, "%s", cause);
		goto out;
	}
	if ((ret = job_start(&j, m)) != CMD_EXIT_OK)
		goto out;

	struct train_opts opts;
	struct train_result res;
	struct engine_events ev;
	memset(&res, 0, sizeof res);
	config_to_train_opts(j.cfg, &opts);
	job_events(&j, &ev);
	job_signals_install();
	struct train_plugin plug;
	if (j.qat)
		qat_train_plugin(j.qat, config_get_float(j.cfg, "q.lr"), &plug);
	int rc = train_run(m, train, test, &opts, j.qat ? &plug : NULL, &ev, &res, &cause);
	if (rc == 0 && res.status == TRAIN_DONE && j.qat)
		qat_report(j.qat, res.epochs_done, 1, &ev);
	job_signals_restore();
	job_flush(&j);
	if (rc < 0) {
		ret = job_fail(&j, RUN_FAILED, CMD_EXIT_CONFIG, "%s", cause);
		goto out;
	}
	if (j.error) {
		ret = job_fail(&j, RUN_FAILED, CMD_EXIT_IO, "%s", j.error);
		goto out;
	}
	if (res.status == TRAIN_CANCELLED) {
		ret = job_fail(&j, RUN_CANCELLED, CMD_EXIT_FAILED,
			       "interrupted after %d of %d epochs (the metrics so far are kept)",
			       res.epochs_done, opts.epochs);
		goto out;
	}
	if (res.status == TRAIN_DIVERGED) {
		ret = job_fail(&j, RUN_DIVERGED, CMD_EXIT_FAILED,
			       "the loss became NaN or infinite in epoch %d; try a smaller lr",
			       res.epochs_done + 1);
		goto out;
	}
	double params = (double)model_param_count(m);
	struct qat_cost cost;
	qat_cost(j.qat, m, &cost);
	const char *names[] = {"test_acc",     "test_loss",	    "train_acc", "train_loss",
			       "params",       "macs",		    "size_bits", "bitops",
			       "shift_adds",   "time_s",	    "images_per_s",
			       "eval_images_per_s", "epochs",	    "threads"};
	const double values[] = {res.test_acc,
				 res.test_loss,
				 res.train_acc,
				 res.train_loss,
				 params,
				 (double)model_macs(m),
				 cost.size_bits,
				 cost.bitops,
				 cost.shift_adds,
				 res.time_s,
				 res.images_per_s,
				 res.eval_images_per_s,
				 res.epochs_done,
				 threads};
	progress_clear(j.progress);
	if ((ret = job_finish(&j, m, names, values, (int)(sizeof values / sizeof values[0]), 1)) ==
	    CMD_EXIT_OK)
		ret = job_report(&j, 0);
out:
	job_model_free(&j, m);
	dataset_free(train);
	dataset_free(test);
	free(cause);
	job_done(&j);
	return ret;
}

const struct cmd_entry cmd_train_entry = {
	.name = "train",
	.args = "[k=v ...]",
	.options = CMD_OPT_QUIET | CMD_OPT_JSON | CMD_OPT_FORCE,
	.summary = "train a model and record the run",
	.help = "Trains a model (float) with the given keys (see 'qbench help keys'), records "
		"the run in the database with its configuration, per-epoch metrics, per-layer "
		"costs and final results, and saves the model as runs/ID/model.h5 beside the "
		"database.\n"
		"model= names a zoo architecture trained from scratch, or a model file or "
		"run:ID to fine-tune (dataset= then defaults to that run's). A run is "
		"identified by its fully resolved configuration: "
		"if the same configuration already ran to the end, its result is shown "
		"instead (--force trains again, replacing it).\n"
		"Progress goes to stderr: a bar on a terminal, one line per epoch otherwise. "
		"Ctrl-C stops after the current batch and marks the run cancelled (a second "
		"Ctrl-C ends qbench at once). A loss that becomes NaN or infinite ends the run "
		"as diverged.\n"
		"Example: qbench train model=lenet5 epochs=5 lr=0.1 optim=sgd",
	.exec = train_exec,
};
