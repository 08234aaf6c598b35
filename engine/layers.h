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
