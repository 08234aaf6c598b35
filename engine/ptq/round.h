/*
 * round: rounding border functions for post-training quantization on a
 * uniform grid (METHODS §5.2-§5.4).
 *
 * A grid is a step s and an integer zero point z per channel with codes in
 * [qmin, qmax]: q(x) = s·(clamp(k + zp, qmin, qmax) - zp), k an integer. With
 * v = x/s, f = floor(v) and r = v - f, rounding picks k = f + 1[r >= B]: the
 * border B is 0.5 for round-to-nearest (ties: half to even, as nearbyint),
 * random for stochastic rounding, learned per weight for AdaRound, and a
 * learned function of the channel and bin for the AQuant-style activation
 * border.
 *
 * Channels: weights (O x ...) have their channel on the leading axis (n/channels
 * elements each); activations (B x C x P) have `channels` = C planes of P
 * elements per example, so element i is in channel (i / P) % C.
 *
 * Arithmetic: v = x/s is the IEEE float32 quotient (never x times 1/s), the
 * same quotient as the uniform quantizer of engine/quant/uniform.c, so the
 * border with B = 0.5 and that quantizer agree bit for bit. Clamps of a
 * differentiable quantity pass the gradient on their bounds (lo <= u <= hi,
 * as torch.clamp) and block it strictly outside.
 */
#ifndef QB_PTQ_ROUND_H
#define QB_PTQ_ROUND_H

#include <stddef.h>
#include <stdint.h>

/* AdaRound's stretch of the sigmoid (METHODS §5.3). */
#define ROUND_ZETA 1.1f
#define ROUND_GAMMA (-0.1f)

struct round_grid {
	int channels;		/* 1 = per tensor */
	const float *scale;	/* step per channel */
	const int32_t *zero_point; /* per channel, or NULL for 0 */
	int qmin, qmax;
};

/* ---- AdaRound (weights; leading-axis channels) ---- */

/* h(V) = clamp(sigmoid(V)·(ζ - γ) + γ, 0, 1), and dh/dV (0 strictly outside [0, 1]). */
float round_h(float v);
float round_dh(float v);

/* V such that h(V) = frac(w/s) per element: -ln((ζ - γ)/(frac - γ) - 1). */
void round_ada_init(float *v, const float *w, size_t n, const struct round_grid *g);

/* y = s·(clamp(floor(w/s) + h(V) + zp, qmin, qmax) - zp) */
void round_ada_soft(float *y, const float *w, const float *v, size_t n,
		    const struct round_grid *g);
/*
 * dv (n) += dL/dV = dy·s·dh/dV given dy (n) = dL/dy of round_ada_soft; 0
 * where the grid clamp is active, i.e. floor(w/s) + h(V) + zp is strictly
 * below qmin or above qmax (on a bound the gradient passes, as torch.clamp).
 */
void round_ada_soft_backward(float *dv, const float *dy, const float *w, const float *v,
			     size_t n, const struct round_grid *g);
/*
 * Hard rounding: codes = clamp(floor(w/s) + 1[V >= 0] + zp, qmin, qmax) - zp
 * (codes may be NULL) and y = s·codes.
 */
void round_ada_hard(float *y, int32_t *codes, const float *w, const float *v, size_t n,
		    const struct round_grid *g);

/*
 * The rounding regulariser λ·Σ(1 - |2h(V) - 1|^β); accumulates its gradient
 * into dv (n) when dv is non-NULL. Returns its value.
 */
double round_ada_reg(const float *v, size_t n, float beta, float lambda, float *dv);

/* ---- AQuant-style activation border (engine's design, METHODS §5.4) ---- */

/*
 * Every border is clamped to [EPS, 1 - EPS], so each decision threshold
 * t_k = s·(k + B) lies strictly inside its own bin: the thresholds increase
 * strictly with k and a value on the grid is never moved. The LINEAR slope is
 * capped at SLOPE_MAX < 1 so that r - B(k + r) increases with r: each bin then
 * has exactly one threshold (a larger x never gets a smaller code).
 */
#define ROUND_BORDER_EPS 1e-3f
#define ROUND_BORDER_SLOPE_MAX 0.5f

enum round_border_kind {
	/* B[c][k] = clamp(0.5 + 0.5·tanh(φ[c][k])), one per channel and bin */
	ROUND_BORDER_BIN,
	/* B_c(v) = clamp(0.5 + min(a_c, SLOPE_MAX)·v + d_c), φ[c] = (a_c, d_c) */
	ROUND_BORDER_LINEAR,
};

struct round_border {
	enum round_border_kind kind;
	struct round_grid grid; /* activation grid; grid.channels = C */
	int plane;		/* P: elements per channel per example */
	int bins;		/* qmax - qmin: the integer bins between the codes */
	float *phi;		/* BIN: C·bins values, bin k = f + zp - qmin; LINEAR: 2·C */
	double *dphi;		/* gradients, the size of phi */
};

/* Parameters of one channel's border: bins (BIN) or 2 (LINEAR). */
size_t round_border_params(const struct round_border *b);

/*
 * The border B in [EPS, 1 - EPS] channel c applies to a value in bin k
 * (clamped to [0, bins - 1]) at v = x/s; BIN reads k, LINEAR reads v.
 */
float round_border_value(const struct round_border *b, int c, int k, float v);

/*
 * Quantizes x (n = B·C·P) into y (n) with the border: tau == 0: hard decision
 * k = f + 1[r > B]; tau > 0: soft decision f + sigmoid((r - B)/tau); then
 * y = s·(clamp(k + zp, qmin, qmax) - zp). A value exactly on its border
 * (r == B) goes to the even one of f and f + 1, so with every B = 0.5 (φ = 0)
 * the hard decision is bit-identical to the registry's uniform quantizer
 * (round-to-nearest, ties to even) with the same step and zero point. BIN
 * values below or above the grid use the first or last bin's border.
 */
void round_border_forward(const struct round_border *b, float *y, const float *x, size_t n,
			  float tau);
/*
 * Backward of the soft decision (tau > 0), accumulating: dx (n; NULL to skip)
 * += dy where the soft code f + sigmoid + zp lies in [qmin, qmax] (bounds
 * included; straight-through), and there dphi += dy·s·sigmoid'·(-1/tau)·dB/dφ
 * (dB/dφ = 0 where the border's clamp or the slope cap is active).
 * Deterministic: each channel's gradient is summed by one thread in element
 * order, whatever the number of threads.
 */
void round_border_backward(struct round_border *b, float *dx, const float *dy, const float *x,
			   size_t n, float tau);

/*
 * The two-number optimum (METHODS §5.2): for w·x with quantized weight wq
 * (wq != 0) and activation step s, the border B* = 0.5 - (x/s)·(w - wq)/wq
 * at which rounding x up minimises |w·x - wq·x_q|.
 */
float round_border_pair(float w, float wq, float x, float s);

#endif
