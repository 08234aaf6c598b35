/*
 * layers: forward and backward passes of every layer family, as plain
 * functions over raw float arrays (outputs first, shapes in the comments).
 *
 * Conventions for every function here:
 * - Tensors are float32, row-major, NCHW for images; B is the batch size.
 * - Linear and conv weights use the PyTorch layout: linear w is (OUT, IN),
 *   conv w is (OC, C, K, K). Biases may be NULL (no bias).
 * - Backward functions ACCUMULATE (+=) into dinp and into parameter gradients;
 *   the caller zeroes them before a step. Any gradient pointer may be NULL when
 *   that gradient is not wanted (e.g. dinp of the first layer).
 * - Functions parallelise internally with OpenMP and/or multi-threaded BLAS;
 *   results are bit-identical for a given thread count.
 * - Scratch buffers are owned by the caller and sized by the *_scratch_floats()
 *   helpers; they carry no state between calls.
 */
#ifndef QB_LAYERS_H
#define QB_LAYERS_H

#include <stddef.h>
#include <stdint.h>

struct rng;

/* ---- linear: out (B, OUT) = inp (B, IN) @ w^T (IN, OUT) + b (OUT) ---- */
void linear_forward(float *out, const float *inp, const float *w, const float *b, int B, int IN,
		    int OUT);
void linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
		     const float *w, int B, int IN, int OUT);

/* ---- conv2d: out (B, OC, OH, OW), inp (B, C, H, W), w (OC, C, K, K), square kernel,
 *      OH = (H + 2*pad - K) / stride + 1, likewise OW. ---- */
/* 0 when the kernel does not fit the padded input (or stride < 1). */
int conv2d_out_size(int in, int k, int stride, int pad);
/* Scratch for forward and backward alike; depends on the shapes and on the number of
 * processors, not on B or the thread count (threads_init may change after sizing). */
size_t conv2d_scratch_floats(int B, int C, int H, int W, int OC, int K, int stride, int pad);
void conv2d_forward(float *out, const float *inp, const float *w, const float *b, int B, int C,
		    int H, int W, int OC, int K, int stride, int pad, float *scratch);
void conv2d_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
		     const float *w, int B, int C, int H, int W, int OC, int K, int stride, int pad,
		     float *scratch);

/* ---- batch norm over (B, C, HW) (HW = 1 for features): per-channel statistics;
 * gamma and beta may be NULL (1 and 0).
 * training: normalises with the batch statistics, saves mean and rstd (C each) for
 * backward, and updates the running statistics with `momentum` (PyTorch convention:
 * running = (1-momentum)*running + momentum*batch, unbiased variance).
 * eval: normalises with the running statistics (mean/rstd saves are not written). ---- */
void batchnorm_forward(float *out, float *mean, float *rstd, const float *inp,
		       const float *gamma, const float *beta, float *running_mean,
		       float *running_var, int B, int C, int HW, float momentum, float eps,
		       int training);
void batchnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
			const float *inp, const float *gamma, const float *mean,
			const float *rstd, int B, int C, int HW);

/* ---- shift-based batch norm (QNN, Hubara et al. 2018, METHODS §3.4; the Torch7
 * BatchNormalizationShiftPow2), over (B, C, HW) like batchnorm_*, per channel,
 * with AP2 = ap2() below and gamma, beta possibly NULL (1 and 0):
 * training: mu = mean(x), C = x - mu, var = mean(C * AP2(C)), inv = 1/sqrt(var + eps),
 *           s = AP2(inv), out = AP2(gamma) * C * s + beta; saves mean = mu and scale = s
 *           (C each) for backward. Running statistics with `momentum` m:
 *           running_mean = (1-m)*running_mean + m*mu, and the reference's running inverse
 *           standard deviation running_inv = (1-m)*running_inv + m*inv. running_inv is
 *           kept in running_var as the variance it stands for, so that models keep the
 *           layout of batchnorm_*: running_inv = 1/sqrt(running_var + eps) (decode) and
 *           running_var = max(1/running_inv^2 - eps, 0) (encode, after the update).
 * eval:     out = AP2(gamma) * (x - running_mean) * AP2(1/sqrt(running_var + eps)) + beta
 *           (mean and scale are not written).
 * Since s and AP2(gamma) are powers of two, the output is C times a power of two, plus beta.
 * ---- */
void batchnorm_shift_forward(float *out, float *mean, float *scale, const float *inp,
			     const float *gamma, const float *beta, float *running_mean,
			     float *running_var, int B, int C, int HW, float momentum, float eps,
			     int training);
/* The reference's backward (as coded, not the exact gradient of the forward): with
 * n = B*HW, C = x - mean, Chat = AP2(C), s = scale, g = dout, per channel
 *   dx += AP2(gamma) * s * (g - sum(g)/n - s^2 * Chat * sum(Chat * g)/n),
 *   dgamma += sum(AP2(C * s) * g), dbeta += sum(g).
 * When every C and inv are powers of two this is batchnorm_backward's gradient. */
void batchnorm_shift_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
			      const float *inp, const float *gamma, const float *mean,
			      const float *scale, int B, int C, int HW);

/*
 * QNN's approximate power of two (METHODS §3.3): AP2(x) = sign(x) 2^round(log2|x|),
 * AP2(+-0) = +-0, AP2(+-inf) = +-inf, AP2(NaN) is NaN; the same values as quant_ap2()
 * (engine/quant/quant.h, which rounds log2|x| half to even with nearbyint), written here
 * for the layers and optimizers, which must not depend on the quantizers. log2|x| of a float is never exactly halfway
 * (|x| = 2^(k+1/2) is irrational), so the rounding is a comparison of the significand
 * 1.f with sqrt(2): up iff the 23-bit fraction f >= 0x3504f4 (1 + 0x3504f3/2^23 is the
 * last float below sqrt(2)). Rounding up adds one to the exponent field (the largest
 * floats go to inf, as quant_ap2's float result); subnormals are scaled by 2^64 first
 * and back after (exact both ways).
 */
static inline float
ap2(float x)
{
	union {
		float f;
		uint32_t u;
	} v = {.f = x}, k, w;
	/* k = 2^64 for zero and subnormals, else 1 (integer selects only, and no result
	 * is computed conditionally, so that loops over ap2 vectorise) */
	uint32_t tiny = (uint32_t)((v.u & 0x7fffffffu) < 0x00800000u) << 29;
	k.u = 0x3f800000u + tiny;
	w.f = x * k.f;
	/* finite w: clear the fraction, rounding up iff it is past sqrt(2); inf, NaN stay */
	uint32_t fin = (w.u & 0x7f800000u) != 0x7f800000u;
	uint32_t up = fin & ((w.u & 0x007fffffu) >= 0x3504f4u);
	w.u = (w.u & (0xff800000u | ((fin - 1u) & 0x007fffffu))) + (up << 23);
	k.u = 0x3f800000u - tiny; /* 2^-64 or 1 */
	return w.f * k.f;
}

/* ---- elementwise activations over N values (forward may run in place, out == inp) ---- */
void relu_forward(float *out, const float *inp, size_t N);
/* out is relu's forward output (relu'(x) = out > 0). */
void relu_backward(float *dinp, const float *dout, const float *out, size_t N);
/* hardtanh: clamp to [-1, 1]; gradient passes where -1 <= x <= 1 (the QNN STE). */
void hardtanh_forward(float *out, const float *inp, size_t N);
void hardtanh_backward(float *dinp, const float *dout, const float *inp, size_t N);

/* ---- pooling: inp (B, C, H, W) -> out (B, C, OH, OW), window K, stride S, no padding ---- */
/* argmax (B*C*OH*OW) stores the flat index in the input plane of each maximum. */
void maxpool2d_forward(float *out, int32_t *argmax, const float *inp, int B, int C, int H, int W,
		       int K, int S);
void maxpool2d_backward(float *dinp, const float *dout, const int32_t *argmax, int B, int C,
			int H, int W, int K, int S);
void avgpool2d_forward(float *out, const float *inp, int B, int C, int H, int W, int K, int S);
void avgpool2d_backward(float *dinp, const float *dout, int B, int C, int H, int W, int K, int S);
/* global average pool: inp (B, C, HW) -> out (B, C) */
void globalavgpool_forward(float *out, const float *inp, int B, int C, int HW);
void globalavgpool_backward(float *dinp, const float *dout, int B, int C, int HW);

/* ---- dropout (inverted): keeps each value with probability 1-p and scales by 1/(1-p);
 * mask (N) records the multiplier. training == 0 copies inp to out. The mask depends
 * on the state of rng only (not on the thread count); a training call advances rng by
 * one draw. ---- */
void dropout_forward(float *out, float *mask, const float *inp, size_t N, float p, int training,
		     struct rng *rng);
void dropout_backward(float *dinp, const float *dout, const float *mask, size_t N);

/*
 * ---- channel duplication (outlier channel splitting): out (B, OC, P) has
 * channel o = factor[o]·inp channel src[o] of inp (B, C, P); backward
 * accumulates factor[o]·dout into the source channels ----
 */
void chandup_forward(float *out, const float *inp, const int32_t *src, const float *factor,
		     int B, int C, int OC, size_t P);
void chandup_backward(float *dinp, const float *dout, const int32_t *src, const float *factor,
		      int B, int C, int OC, size_t P);

/* ---- residual add: out = a + b (N); backward adds dout to both ---- */
void residual_forward(float *out, const float *a, const float *b, size_t N);
void residual_backward(float *da, float *db, const float *dout, size_t N);

/* ---- losses over logits (B, K) and integer labels (B) ---- */
/* Mean softmax cross-entropy; probs (B, K) receives the softmax (for backward). */
float softmax_xent_forward(float *probs, const float *logits, const int32_t *labels, int B, int K);
/* dlogits += (probs - onehot) / B */
void softmax_xent_backward(float *dlogits, const float *probs, const int32_t *labels, int B, int K);
/* Squared hinge (QNN, Courbariaux et al. 2016): targets t = +1 for the label, -1 otherwise,
 * loss = mean over all B*K entries of max(0, 1 - t*y)^2 (as BinaryNet). */
float sqhinge_forward(const float *logits, const int32_t *labels, int B, int K);
void sqhinge_backward(float *dlogits, const float *logits, const int32_t *labels, int B, int K);

#endif
