/*
 * qat: a model's quantizers for quantization-aware training and for running a
 * quantized model: one weight quantizer and one input-activation quantizer per
 * conv2d/linear layer, built from the registry (quant.h), attached through
 * model_set_quantizers(), their learnable parameters (clip α, LSQ steps, LCQ
 * θ) trained by an optimizer of their own, their statistics (SQNR, clips,
 * bits) and costs (BitOPs, size, shift-adds) reported, and their state saved
 * to and restored from a model file's /quant group.
 *
 * Per layer (METHODS §1-§3; the engine's choices are marked as such in
 * docs/quantization.md):
 * - apot, pot: weight normalisation Ŵ = (W - mean)/std (unbiased) before the
 *   quantizer; the normalised scale is left to the batch norm that follows
 *   (§1.2). A layer with no batch norm after it gets its std back (as LCQ's
 *   limited normalisation does), or its output scale would be lost.
 * - lcq: limited weight normalisation, Q((W - mean)/std)·std (§2.3).
 * - uniform: the weights themselves, per tensor or per output channel.
 * - qnn: the real weights, kept in [-1, 1] after every step; binary layers
 *   with no batch norm after them are scaled by mean|W| (a constant in
 *   backward), the engine's choice. Activation quantizers of qnn see
 *   hardtanh outputs: the model's ReLUs become hardtanh (§3.2).
 * - Activations are quantized unsigned when the layer's input comes from a
 *   ReLU (through pools, flatten or dropout), signed otherwise.
 * - firstlast=8: the first and last layers' weights are quantized to 8 bits
 *   (apot: the signed-max rule of §1.4; others: symmetric max-abs), the last
 *   layer's input to 8 bits (uniform, learned step); firstlast=fp leaves both
 *   layers float; firstlast=same treats them as the others. The model input
 *   (the image) is never requantized.
 * - Clips (α, LSQ steps) start at the value minimising the quantizer's own
 *   squared error on the weights and on one calibration batch of
 *   activations (a grid search), so training starts from a good quantizer.
 */
#ifndef QB_QAT_H
#define QB_QAT_H

#include <stddef.h>
#include <stdint.h>

#include "engine/event.h"

struct model;
struct dataset;
struct qat;
struct io_h5_groups;
struct optim_hparams;

/* Training examples the clips are calibrated on (and statistics measured on) by default. */
#define QAT_CALIB_N 256

enum qat_firstlast { QAT_FIRSTLAST_8, QAT_FIRSTLAST_FP, QAT_FIRSTLAST_SAME };

struct qat_config {
	/* per role: scheme ("float" or NULL for none), bits (32 = float), variant (NULL = default) */
	const char *w_scheme, *a_scheme;
	int w_bits, a_bits;
	const char *w_variant, *a_variant;
	int g_bits;		/* < 32: weight gradients LogQuant'ed to g_bits (QNN §3.3) */
	int w_channel;		/* per-output-channel weight scales (uniform only) */
	enum qat_firstlast firstlast;
	int lcq_gscale;		/* 0 none, 1 lsq, 2 sqrt (METHODS §7.5) */
	uint64_t seed;		/* stochastic binarization */
};

/* The enum qat_firstlast named "8", "fp" or "same", or -1. */
int qat_firstlast_parse(const char *name);

/*
 * Checks c without a model: known schemes and variants, supported bit-widths
 * (e.g. "apot supports 2..6 bits (got 7)"), granularity. Returns 0 or -1 with
 * *cause naming the key.
 */
int qat_check(const struct qat_config *c, char **cause);

/* Nonzero when c quantizes anything. */
int qat_config_active(const struct qat_config *c);

/*
 * Builds the quantizers of every conv2d/linear layer of m per c, switches m's
 * activations to hardtanh for qnn activations, and attaches them. When calib
 * is non-NULL, clips start at their MSE-optimal values on m's weights and on
 * the first `calib_n` examples of calib (the model's float forward pass);
 * otherwise at the schemes' defaults. m must outlive the qat. Returns 0 and
 * *out (free with qat_free), or -1 with *cause.
 */
int qat_new(struct qat **out, struct model *m, const struct qat_config *c,
	    const struct dataset *calib, int calib_n, char **cause);
void qat_free(struct qat *q);

/* The configuration q was built with. */
const struct qat_config *qat_config(const struct qat *q);

/* ---- training hooks (engine/train.h calls these through struct train_plugin) ---- */

/* Zeroes the quantizers' parameter gradients (before backward). */
void qat_zero_grad(struct qat *q);
/* After backward, before the model's step: gradient quantization (g_bits). */
void qat_after_backward(struct qat *q);
/* Steps the quantizers' parameters with learning rate lr (and keeps them
 * valid); clips qnn real weights to [-1, 1]. */
void qat_step(struct qat *q, double lr);
/* The optimizer of the quantizers' parameters: h's kind and momentum, no weight decay. */
void qat_set_optimizer(struct qat *q, const struct optim_hparams *h);

/*
 * The hooks that make train_run() train q alongside its model: the
 * quantizers' learning rate is lr_scale times the model's, and each epoch
 * ends with qat_report(q, epoch, 0, ev).
 */
struct train_plugin;
void qat_train_plugin(struct qat *q, double lr_scale, struct train_plugin *out);

/*
 * Measures on the calibration batch and reports through ev, per layer:
 * metrics "GROUP/NAME" at step (clip_w, clip_a, theta_w.K, theta_a.K,
 * sqnr_w, sqnr_a), or with final nonzero instead layer_stat rows (bits_w,
 * bits_a, clip_w, clip_a, sqnr_w, sqnr_a, bitops, shift_adds, size_bits).
 */
void qat_report(struct qat *q, int step, int final, const struct engine_events *ev);

/*
 * The weight layer `group` ("03_conv") computes with, in the layer's units,
 * into out (the weight's size), from the current real weight and quantizer
 * state. Returns the number of elements, or 0 when the layer has no
 * quantized weight.
 */
size_t qat_quantized_weight(struct qat *q, const char *group, float *out);

/* ---- costs ---- */

struct qat_cost {
	double bitops;	   /* Σ MACs · weight bits · activation bits per example */
	double size_bits;  /* weights at their bits, scales, biases and BN at 32 bits */
	double shift_adds; /* Σ MACs · shift-adds per MAC (pot/apot weights) */
};

/* Costs of m as quantized by q, or as float (32/32 bits) when q is NULL. */
void qat_cost(const struct qat *q, const struct model *m, struct qat_cost *out);

/* ---- files ---- */

/*
 * Fills gs with /quant (scheme attributes) and /quant/GROUP per quantized
 * layer: attributes role-prefixed scheme, bits, variant, alpha and layout
 * attributes; datasets levels_w, codes_w (int8 integer codes of the
 * weights), scale_w, theta_w, scale_a, theta_a as apply. See
 * docs/formats.md.
 */
void qat_export(const struct qat *q, struct io_h5_groups *gs);

/*
 * Rebuilds the quantizers of a model read from a file whose /quant groups
 * were read into gs (io_h5_read_groups); *out is NULL when the file holds a
 * float model. Returns 0, or -1 with *cause naming the path and the object.
 */
int qat_import(struct qat **out, struct model *m, const struct io_h5_groups *gs,
	       const char *path, char **cause);

#endif
