/*
 * ptq: post-training quantization of a trained float model (METHODS §4-§5).
 *
 * Pipeline (ptq_run):
 * 1. Batch norms are folded into the conv2d/linear layers before them.
 * 2. calib_n training images are drawn without replacement with the seed
 *    (their indices are kept and exported).
 * 3. Outlier channel splitting (ocs_ratio > 0) of every quantized layer:
 *    target w splits weights (§4.1: a naive pass gives the clip, hence the
 *    scale for the quantization-aware pass); target a splits the input
 *    channels with the largest profiled activations, halving them (the
 *    weight columns are duplicated unchanged). Either way a chandup layer in
 *    front of the layer duplicates its input at run time, and the split model
 *    computes the folded model's function (checked in the tests).
 * 4. Clips: weights per tensor or per output channel, activations per tensor
 *    from the calibration images, with any method of clip.h.
 * 5. Weights are rounded with the border: nearest (any scheme of the
 *    registry), stochastic or AdaRound (uniform grids); activations are
 *    quantized to the nearest level, or with the AQuant-style learned border
 *    (uniform grids).
 * 6. AdaRound and AQuant learn on the calibration images, unit by unit in
 *    order: in layer mode a conv2d/linear layer with what follows it up to
 *    the next one, as far as those layers read nothing from outside the
 *    unit; in block mode the spans between the points the rest of the
 *    network can start from (one live tensor, e.g. between residual blocks).
 *    Each unit's output, with the quantized model's input (the propagated
 *    error) and QDrop-style randomly dropped activation quantization, is
 *    fitted to the float model's output with Adam; aquant adds μ times the
 *    KL divergence between the float model's and the quantized model's
 *    output distributions (the units after this one run in float).
 *
 * First and last layers follow firstlast (8: 8-bit uniform weights and an
 * 8-bit input to the last layer; fp: float; same: like the others). The
 * model input (the image) is not requantized.
 */
#ifndef QB_PTQ_PTQ_H
#define QB_PTQ_PTQ_H

#include <stddef.h>
#include <stdint.h>

#include "engine/event.h"
#include "engine/ptq/clip.h"
#include "engine/ptq/ocs.h"
#include "engine/ptq/round.h"
#include "engine/quant/qat.h"

struct model;
struct dataset;
struct io_h5_groups;
struct ptq;

/* Calibration images by default (METHODS §5.3). */
#define PTQ_CALIB_N 1024

enum ptq_border { PTQ_NEAREST, PTQ_STOCHASTIC, PTQ_ADAROUND, PTQ_AQUANT, PTQ_BORDER_COUNT };
enum ptq_ocs_target { PTQ_OCS_WEIGHTS, PTQ_OCS_ACTS };

struct ptq_config {
	const char *w_scheme, *a_scheme; /* registry schemes, or "float" / NULL */
	int w_bits, a_bits;		 /* 32 = float */
	int w_channel;			 /* per-output-channel weight clips */
	enum qat_firstlast firstlast;
	struct clip_spec w_clip, a_clip;
	int a_signed;			 /* 0: unsigned after a ReLU (else signed); 1: always signed */
	double ocs_ratio;		 /* 0 = no splitting */
	enum ocs_split ocs_split;
	enum ptq_ocs_target ocs_target;
	int ocs_clip_orig;		 /* weight auto-clips on the unsplit weights (reference) */
	enum ptq_border border;
	enum round_border_kind aquant_kind;
	int calib_n;
	int recon_iters;		 /* per unit */
	int recon_block;		 /* units are blocks instead of layers */
	int recon_batch;
	double recon_lr;		 /* Adam learning rate of AdaRound's V and the borders */
	double recon_lambda;		 /* AdaRound regulariser weight */
	double recon_drop;		 /* probability of keeping an activation's quantization */
	double aquant_mu;		 /* weight of the global (output KL) term */
	uint64_t seed;
};

/* Names of the borders ("nearest", ...), indexed by enum ptq_border, NULL-terminated. */
const char *const *ptq_border_names(void);

/* Fills c with the defaults (uniform, float bits, max clips, nearest, ...). */
void ptq_config_default(struct ptq_config *c);

/*
 * Checks c without a model: schemes and bit-widths, borders that need a
 * uniform grid, OCS settings. Returns 0 or -1 with *cause naming the key.
 */
int ptq_check(const struct ptq_config *c, char **cause);

/*
 * Quantizes the float model m per c, calibrating on train; m is not changed
 * (and must outlive the ptq). Reports progress (phases "calib", "recon")
 * and, per layer of m, layer_stat rows (see ptq_report). Returns 0 and *out
 * (free with ptq_free), or -1 with *cause (a quantized or shift-BN model, a
 * model the edits do not fit, NaN in the calibration activations, or a stop
 * request: then *cause is "stopped").
 */
int ptq_run(struct ptq **out, const struct model *m, const struct ptq_config *c,
	    const struct dataset *train, const struct engine_events *ev, char **cause);
void ptq_free(struct ptq *p);

/* Calibration images drawn (calib_n, or fewer when the training set is smaller). */
int ptq_calib_count(const struct ptq *p);

/* The quantized model (folded, split, quantized weights, activation quantizers attached). */
struct model *ptq_model(struct ptq *p);
/* The folded float model the quantized one approximates. */
struct model *ptq_float_model(struct ptq *p);

/*
 * Per conv2d/linear layer of the original model, as layer_stat rows: bits_w,
 * bits_a, clip_w (max over channels), clip_a, sqnr_w, sqnr_a (dB, on the
 * calibration set; weights compared as the effective unsplit weights),
 * sqnr_w_noocs and sqnr_a_noocs (the same quantizers without splitting,
 * when OCS is on), ocs_splits, recon_loss (when reconstructed), macs and
 * bitops (after splitting).
 */
void ptq_report(const struct ptq *p, const struct engine_events *ev);

struct ptq_cost {
	double bitops;	     /* per example, after splitting */
	double size_bits;    /* weights at their bits; scales, biases at 32 */
	double shift_adds;
	double macs;	     /* per example, after splitting */
	double macs_float;   /* per example, before splitting */
	double ocs_overhead; /* macs / macs_float - 1 */
	double params;	     /* after splitting */
};
void ptq_cost(const struct ptq *p, struct ptq_cost *out);

/*
 * Fills gs with the /quant groups of a PTQ model (kind "ptq"; integer codes,
 * scales, split channels, borders; docs/formats.md). The model file itself
 * holds the float model the PTQ started from.
 */
void ptq_export(const struct ptq *p, struct io_h5_groups *gs);
/* Layers with a learned (AQuant-style) activation border. */
int ptq_border_layers(const struct ptq *p);
/*
 * Border layer i (0 <= i < ptq_border_layers): its original group name, and
 * for each integer bin k of its grid (up to cap) the border B (0.5 = round to
 * nearest) over its channels: mean, min and max (a linear border is taken at
 * the bin's middle). Returns the number of bins written, or -1.
 */
int ptq_border_stats(const struct ptq *p, int i, const char **group, double *mean, double *lo,
		     double *hi, int cap);

/* Nonzero when gs (a file's /quant) describes a PTQ model. */
int ptq_is_ptq(const struct io_h5_groups *gs);
/*
 * Rebuilds the quantized model of a PTQ file from its float model m and the
 * groups gs. Returns 0 and *out, or -1 with *cause naming path and object.
 */
int ptq_import(struct ptq **out, const struct model *m, const struct io_h5_groups *gs,
	       const char *path, char **cause);

#endif
