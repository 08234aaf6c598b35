/*
 * cmd_ptq: `qbench ptq model=run:ID|FILE k=v ...`, post-training quantization
 * of a trained float model (engine/ptq/ptq.h), recorded as a run whose
 * parent is the float run, evaluated on the test split, and saved as
 * runs/ID/model.h5 (the float model plus /quant with the integer codes).
 */
#include <stdlib.h>
#include <string.h>

#include "app/cmd.h"
#include "app/job.h"
#include "app/progress.h"
#include "engine/data.h"
#include "engine/model.h"
#include "engine/ptq/ptq.h"
#include "engine/threads.h"
#include "engine/train.h"
#include "engine/util.h"

static int
ptq_exec(const struct cmd_ctx *ctx, int argc, char **argv)
{
	struct job j;
	struct dataset *train = NULL, *test = NULL;
	struct model *m = NULL;
	char *cause = NULL;
	int cached = 0, ret;

	job_init(&j, ctx, "ptq");
	if (argc == 0) {
		cmd_print_usage(stderr, &cmd_ptq_entry);
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
	const char *spec = config_get(j.cfg, "dataset");
	if (dataset_load(&train, spec, DATA_TRAIN, (int)config_get_int(j.cfg, "train.n"), &cause) <
		    0 ||
	    dataset_load(&test, spec, DATA_TEST, (int)config_get_int(j.cfg, "test.n"), &cause) < 0) {
		ret = cmd_error(CMD_EXIT_IO, "%s", cause);
		goto out;
	}
	if ((ret = job_model(&j, train, &m)) != CMD_EXIT_OK || (ret = job_start(&j, m)) != CMD_EXIT_OK)
		goto out;

	struct ptq_config pc;
	config_to_ptq(j.cfg, &pc);
	struct engine_events ev;
	job_events(&j, &ev);
	job_signals_install();
	int batch = (int)config_get_int(j.cfg, "eval.batch");
	enum loss_kind loss = (enum loss_kind)config_get_int(j.cfg, "loss");
	double t0 = util_now(), float_loss = 0, float_acc = 0, qloss = 0, qacc = 0, ips = 0;
	int rc = ptq_run(&j.ptq, m, &pc, train, &ev, &cause);
	double t_quant = util_now() - t0;
	if (rc == 0)
		rc = train_evaluate(ptq_float_model(j.ptq), test, batch, loss, &ev, &float_loss,
				    &float_acc, NULL, &cause);
	if (rc == 0)
		rc = train_evaluate(ptq_model(j.ptq), test, batch, loss, &ev, &qloss, &qacc, &ips,
				    &cause);
	double elapsed = util_now() - t0;
	if (rc == 0)
		ptq_report(j.ptq, &ev);
	job_signals_restore();
	job_flush(&j);
	progress_clear(j.progress);
	if ((ret = job_engine_end(&j, rc, CMD_EXIT_FAILED, cause)) != CMD_EXIT_OK)
		goto out;
	struct ptq_cost cost;
	ptq_cost(j.ptq, &cost);
	const char *names[] = {"test_acc",    "test_loss",   "float_test_acc", "float_test_loss",
			       "params",      "macs",	     "size_bits",      "bitops",
			       "shift_adds",  "ocs_overhead", "calib_n",       "quant_time_s",
			       "time_s",      "eval_images_per_s", "threads"};
	const double values[] = {qacc,		  qloss,	    float_acc,
				 float_loss,	  cost.params,	    cost.macs,
				 cost.size_bits,  cost.bitops,	    cost.shift_adds,
				 cost.ocs_overhead, (double)ptq_calib_count(j.ptq), t_quant,
				 elapsed,	  ips,		    threads};
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

const struct cmd_entry cmd_ptq_entry = {
	.name = "ptq",
	.args = "model=run:ID|FILE [k=v ...]",
	.options = CMD_OPT_QUIET | CMD_OPT_JSON | CMD_OPT_FORCE,
	.summary = "quantize a trained model without retraining",
	.help = "Post-training quantization of a trained float model: batch norms are folded, "
		"calib.n training images calibrate the clips (clip=, w.clip=, a.clip=), outlier "
		"channel splitting (ocs.ratio=, ocs.split=, ocs.target=) splits the largest "
		"weights or activations, weights and activations are rounded with the border "
		"(border=nearest|stochastic|adaround|aquant; adaround and aquant reconstruct "
		"the output of each layer, or block with recon.mode=block, on the calibration "
		"images for recon.iters iterations), "
		"and the quantized model is evaluated on the test split. The run records "
		"test_acc and the float model's float_test_acc, bitops, size_bits, "
		"ocs_overhead and time_s, per-layer clips, SQNR, splits and reconstruction "
		"losses, and saves the model with its integer codes (runs/ID/model.h5; 'qbench "
		"eval model=run:ID' evaluates it again). Keys: see 'qbench help keys'.\n"
		"Example: qbench ptq model=run:1 scheme=uniform w.bits=4 a.bits=8 w.gran=channel "
		"clip=mse",
	.exec = ptq_exec,
};
