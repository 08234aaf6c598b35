/*
 * cmd_eval: `qbench eval model=FILE|run:ID [k=v ...]`, the test accuracy and
 * loss of a trained model, recorded as an eval run (its parent_run_id is ID
 * for model=run:ID).
 */
#include <stdlib.h>
#include <string.h>

#include "app/cmd.h"
#include "app/job.h"
#include "app/progress.h"
#include "engine/data.h"
#include "engine/model.h"
#include "engine/ptq/ptq.h"
#include "engine/quant/qat.h"
#include "engine/threads.h"
#include "engine/train.h"
#include "engine/util.h"

static int
eval_exec(const struct cmd_ctx *ctx, int argc, char **argv)
{
	struct job j;
	struct dataset *test = NULL;
	struct model *m = NULL;
	char *cause = NULL;
	int cached = 0, ret;

	job_init(&j, ctx, "eval");
	if (argc == 0) {
		cmd_print_usage(stderr, &cmd_eval_entry);
		ret = CMD_EXIT_USAGE;
		goto out;
	}
	if ((ret = job_configure(&j, argc, argv)) != CMD_EXIT_OK ||
	    (ret = job_open(&j, &cached)) != CMD_EXIT_OK)
		goto out;
	if (cached) {
		ret = job_report(&j, 1);
		goto out;
	}
	int threads = threads_init((int)config_get_int(j.cfg, "threads"));
	if (dataset_load(&test, config_get(j.cfg, "dataset"), DATA_TEST,
			 (int)config_get_int(j.cfg, "test.n"), &cause) < 0) {
		ret = cmd_error(CMD_EXIT_IO, "%s", cause);
		goto out;
	}
	if ((ret = job_model(&j, test, &m)) != CMD_EXIT_OK || (ret = job_start(&j, m)) != CMD_EXIT_OK)
		goto out;

	struct engine_events ev;
	double loss = 0, acc = 0, ips = 0;
	job_events(&j, &ev);
	job_signals_install();
	double t0 = util_now();
	/* a post-training quantized model runs as its folded, split, quantized derivative */
	struct model *em = j.ptq ? ptq_model(j.ptq) : m;
	int rc = train_evaluate(em, test, (int)config_get_int(j.cfg, "eval.batch"),
				(enum loss_kind)config_get_int(j.cfg, "loss"), &ev, &loss, &acc, &ips,
				&cause);
	double elapsed = util_now() - t0;
	job_signals_restore();
	progress_clear(j.progress);
	if ((ret = job_engine_end(&j, rc, CMD_EXIT_CONFIG, cause)) != CMD_EXIT_OK)
		goto out;
	double params = (double)model_param_count(em), macs = (double)model_macs(em);
	struct qat_cost cost;
	qat_cost(j.qat, m, &cost);
	if (j.ptq) {
		struct ptq_cost pc;
		ptq_cost(j.ptq, &pc);
		cost.size_bits = pc.size_bits;
		cost.bitops = pc.bitops;
		cost.shift_adds = pc.shift_adds;
	}
	const char *names[] = {"test_acc", "test_loss",  "params", "macs",
			       "size_bits", "bitops",	 "shift_adds", "time_s",
			       "eval_images_per_s", "threads"};
	const double values[] = {acc,	    loss,	 params,  macs,
				 cost.size_bits, cost.bitops, cost.shift_adds, elapsed,
				 ips,	    threads};
	if ((ret = job_finish(&j, m, names, values, (int)(sizeof values / sizeof values[0]), 0)) ==
	    CMD_EXIT_OK)
		ret = job_report(&j, 0);
out:
	job_model_free(&j, m);
	dataset_free(test);
	free(cause);
	job_done(&j);
	return ret;
}

const struct cmd_entry cmd_eval_entry = {
	.name = "eval",
	.args = "model=FILE|run:ID [k=v ...]",
	.options = CMD_OPT_QUIET | CMD_OPT_JSON | CMD_OPT_FORCE,
	.summary = "evaluate a trained model",
	.help = "Evaluates a model file, or the model a run saved (run:ID), on the test split "
		"of the dataset and records the result as an eval run (test_acc, test_loss, "
		"eval_images_per_s). For run:ID, dataset= and loss= default to the run's own. "
		"Keys: model, dataset, test.n, eval.batch, loss, threads. A model file is "
		"known by its absolute path: evaluating the same path again shows the recorded "
		"result, so use --force after changing the file.\n"
		"Example: qbench eval model=run:1 test.n=1000",
	.exec = eval_exec,
};
