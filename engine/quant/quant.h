/*
 * quant: the registry of fake quantizers (uniform/LSQ, PoT, APoT, LCQ, QNN).
 *
 * A scheme is one row of a static const table (quant.c): name, help, the
 * bit-widths it supports, its variants, forward (fake quantization), backward
 * (its straight-through estimator plus the gradients of its own learnable
 * parameters), its level set and its cost per multiply-accumulate. A
 * `struct quant` is one configured instance (scheme, bits, role, parameters
 * and their accumulated gradients); it plugs into a layer through
 * quant_hook(), which fills a struct model_quantizer.
 *
 * Invariants: rounding is round-half-to-even (nearbyint in the default
 * floating-point environment); forward is element-wise, so the tensor shape
 * does not matter except for per-channel scales (channel = leading axis);
 * backward ACCUMULATES into dx and into the parameter gradients (dalpha,
 * dtheta, dscale) until quant_zero_grad(); every optimised path has a plain
 * scalar `_ref` twin: outputs are bit-identical, parameter gradients (summed
 * in double) agree to 1e-9 relative.
 */
#ifndef QB_QUANT_H
#define QB_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "engine/model.h"
#include "engine/rng.h"

enum quant_role { QUANT_ROLE_WEIGHT, QUANT_ROLE_ACT };

/* LCQ: number of intervals of the piecewise-linear compander (METHODS §2.1). */
#define QUANT_LCQ_K 16
/* Largest level set of any scheme (APoT 6 bits: 64 magnitudes). */
#define QUANT_MAX_LEVELS 256
/* Bins of the nearest-level lookup table over [0, 1] (a power of two, so c·bins is exact). */
#define QUANT_LUT_BINS 1024

/* How a quantizer is built; fields a scheme does not use are ignored. */
struct quant_config {
	const char *scheme;   /* "uniform", "pot", "apot", "lcq", "qnn" */
	int bits;
	enum quant_role role; /* weights are signed, activations unsigned */
	const char *variant;  /* NULL = the scheme's first (default) variant */
	float alpha;          /* clip (pot, apot, lcq, uniform clip, qnn multi-bit) */
	/* uniform lsq: step per channel (channels >= 1 values; NULL = alpha / qmax) */
	int channels;
	const float *scale;
	int zero_point;
	int is_signed;        /* uniform lsq: -1 = from role, 0 unsigned, 1 signed */
	int grad_scale;       /* uniform lsq: 1 = LSQ gradient scale; lcq: 0 none, 1 lsq, 2 sqrt */
	int sign0_zero;       /* qnn binarization: 0: sign(0) = +1 (paper), 1: sign(0) = 0 (PyTorch) */
	uint64_t seed;        /* qnn stochastic binarization */
};

struct quant;

/* Per-MAC cost of a quantized layer: operand width and shift-adds per MAC. */
struct quant_cost {
	int mult_bits;  /* multiplier width needed (0: no multiplier) */
	int shift_adds; /* shift-and-add operations per MAC (0: plain multiply) */
};

struct quant_scheme {
	const char *name;
	const char *help;
	int min_bits, max_bits;
	const char *const *variants; /* NULL-terminated; [0] is the default */
	int (*check)(const struct quant_config *c, int variant, char **cause);
	void (*init)(struct quant *q);
	void (*forward)(struct quant *q, float *y, const float *x, size_t n, int training);
	void (*forward_ref)(struct quant *q, float *y, const float *x, size_t n, int training);
	void (*backward)(struct quant *q, float *dx, const float *dy, const float *x, size_t n);
	void (*backward_ref)(struct quant *q, float *dx, const float *dy, const float *x, size_t n);
	/* non-negative output levels in output units, ascending; count or -1 if > cap */
	int (*levels)(const struct quant *q, float *out, int cap);
	struct quant_cost (*cost)(const struct quant *q);
};

/* A configured quantizer: public so that schemes and tests can read it. */
struct quant {
	const struct quant_scheme *scheme;
	int bits, variant;
	enum quant_role role;
	float alpha;
	double dalpha;
	/* level magnitudes in [0, 1] ascending (pot, apot), scaled by alpha */
	float levels[QUANT_MAX_LEVELS];
	int n_levels;
	/* lut[b]: the largest level index with levels[i] <= b/QUANT_LUT_BINS (rcf schemes) */
	uint16_t lut[QUANT_LUT_BINS + 1];
	/* RCF projection (apot, pot, uniform clip): gradient masks of METHODS §1.3 */
	int rcf_unmasked;  /* input gradient passes everywhere (2-bit, CIFAR weights) */
	int rcf_clamp_top; /* activations clamped from above only (CIFAR) */
	/* lcq */
	float theta[QUANT_LCQ_K];
	double dtheta[QUANT_LCQ_K];
	double dgamma[QUANT_LCQ_K], dbeta[QUANT_LCQ_K];
	int grad_scale;
	/* uniform lsq */
	int channels, zero_point, qmin, qmax;
	float *scale;
	double *dscale;
	/* qnn */
	int sign0_zero;
	uint64_t seed;
	uint64_t calls;
};

/* ---- registry ---- */

/* Number of schemes, and scheme i (NULL past the end); static storage. */
size_t quant_scheme_count(void);
const struct quant_scheme *quant_scheme_at(size_t i);
/* The scheme named `name`, or NULL with *cause naming the nearest scheme. */
const struct quant_scheme *quant_scheme_find(const char *name, char **cause);

/*
 * Builds a quantizer from c. Returns 0 and *out (free with quant_free), or -1
 * with *cause for an unknown scheme or variant, an unsupported bit-width or an
 * impossible combination (e.g. "apot supports 2..6 bits (got 7)").
 */
int quant_new(struct quant **out, const struct quant_config *c, char **cause);
void quant_free(struct quant *q);

/* y (n) = q(x) (n); y may alias x. training selects stochastic rounding (qnn stoch). */
void quant_forward(struct quant *q, float *y, const float *x, size_t n, int training);
/*
 * Accumulates dL/dx into dx (n; NULL to skip) from dy (n) and the forward
 * input x (n), and accumulates the parameter gradients into q.
 */
void quant_backward(struct quant *q, float *dx, const float *dy, const float *x, size_t n);
/* The scalar reference versions of the two above. */
void quant_forward_ref(struct quant *q, float *y, const float *x, size_t n, int training);
void quant_backward_ref(struct quant *q, float *dx, const float *dy, const float *x, size_t n);
/* Zeroes dalpha, dtheta (and dgamma, dbeta), dscale. */
void quant_zero_grad(struct quant *q);
/*
 * Writes the quantizer's non-negative output levels (ascending, in output
 * units) into out (cap) and returns their count (the output set is these
 * levels, mirrored for signed roles; binarization returns {1}); returns -1
 * when there are more than cap.
 */
int quant_levels(const struct quant *q, float *out, int cap);
struct quant_cost quant_cost(const struct quant *q);
/* Fills h so that a model layer calls q (q must outlive the model's use of h). */
void quant_hook(struct quant *q, struct model_quantizer *h);

/* ---- helpers shared by schemes (and tests) ---- */

/* round half to even */
float quant_round(float v);
/* 10·log10(sig/noise) in dB: NAN without signal, INFINITY without noise. */
double quant_sqnr_db(double sig, double noise);
/* APoT (additive) or PoT level set Λ_B, normalised to max 1, ascending; B in 2..6 (apot.c). */
int quant_apot_build_levels(float *out, int B, int additive);
/* Weight normalisation (w - mean) / std, unbiased std (METHODS §1.2, §2.3). */
void quant_wn_forward(float *what, float *mean, float *std, const float *w, size_t n);
/* dw (n) += gradient through the normalisation given dwhat (n) and what (n). */
void quant_wn_backward(float *dw, const float *dwhat, const float *what, float std, size_t n);
/* First/last layer 8-bit quantizer: y = round(x/m*127)/127*m, m = max(x) (signed). */
void quant_apot_first_last(float *y, const float *x, size_t n);
/* QNN approximate power of two: sign(x) 2^round(log2|x|), AP2(0) = 0. */
float quant_ap2(float x);
/* QNN gradient quantizer: g (n) <- LogQuant(g) with `bits`, e_max = round(log2 max|g|). */
void quant_qnn_grad(float *g, size_t n, int bits);
/* QNN real-valued weights: w (n) <- clip(w, -1, 1) (after each optimiser step). */
void quant_qnn_clip_weights(float *w, size_t n);
/* LCQ gamma (16 softmax(theta)) and beta ([0, cumsum(softmax(theta))[0:15]]). */
void quant_lcq_gamma_beta(float *gamma, float *beta, const float *theta);

/* scheme rows (one file each) */
extern const struct quant_scheme quant_scheme_uniform, quant_scheme_pot, quant_scheme_apot,
	quant_scheme_lcq, quant_scheme_qnn;
/* RCF forward/backward over a level set (apot.c, shared with pot.c). */
void quant_rcf_forward(struct quant *q, float *y, const float *x, size_t n, int training);
void quant_rcf_forward_ref(struct quant *q, float *y, const float *x, size_t n, int training);
void quant_rcf_backward(struct quant *q, float *dx, const float *dy, const float *x, size_t n);
void quant_rcf_backward_ref(struct quant *q, float *dx, const float *dy, const float *x, size_t n);
/* Level set and gradient masks of an RCF quantizer: Λ_{b-1} (weights) or Λ_b (activations). */
void quant_rcf_levels_init(struct quant *q, int additive);
/* Variants ("imagenet", "cifar") and parameter check shared by apot and pot. */
extern const char *const quant_apot_variants[];
int quant_apot_check(const struct quant_config *c, int variant, char **cause);
int quant_rcf_levels(const struct quant *q, float *out, int cap);
/* Fills q->lut from q->levels (after the level set changes). */
void quant_rcf_build_lut(struct quant *q);

#endif
