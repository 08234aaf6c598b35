/*
 * conv_winograd: 3x3, stride-1 convolution by Winograd minimal filtering
 * F(4x4, 3x3) (Lavin & Gray 2016, "Fast Algorithms for Convolutional Neural
 * Networks"), private to the engine: layer_conv dispatches here for the shapes
 * and batch sizes where it is faster than im2col + GEMM (conv_winograd_pays).
 *
 * Same conventions as conv2d in layers.h: inp (B, C, H, W), w (OC, C, 3, 3),
 * out (B, OC, OH, OW) with OH = H + 2*pad - 2, OW = W + 2*pad - 2; backward
 * ACCUMULATES into dinp, dw and db, and any of them may be NULL; scratch is
 * owned by the caller and sized by conv_winograd_scratch_floats (it depends on
 * the shape and the number of processors, not on B or the thread count).
 * Call from outside any OpenMP parallel region.
 *
 * Results are bit-identical for a given thread count. In float32, F(4x4, 3x3)
 * errors are 10-20 times those of a direct sum (about 5e-6 of the output's
 * scale; tests/unit/test_winograd.c measures them).
 */
#ifndef QB_CONV_WINOGRAD_H
#define QB_CONV_WINOGRAD_H

#include <stddef.h>

/*
 * True when a conv2d of this shape (K x K kernel, given stride) runs faster
 * on the Winograd path than by im2col + GEMM on this engine for large enough
 * batches (measured crossover); false for any K != 3 or stride != 1. Never
 * fails.
 */
int conv_winograd_fits(int C, int H, int W, int OC, int K, int stride, int pad);

/*
 * True when a batch of B images of this shape is faster on the Winograd path:
 * conv_winograd_fits and more images than threads (with the current thread
 * count). Never fails.
 */
int conv_winograd_pays(int B, int C, int H, int W, int OC, int K, int stride, int pad);

/* Scratch floats for forward and backward of a 3x3 stride-1 conv2d of this shape. */
size_t conv_winograd_scratch_floats(int C, int H, int W, int OC, int pad);

/*
 * out (B, OC, OH, OW) = conv(inp, w) + b, b (OC) or NULL. The output must be
 * at least 1x1 (H + 2*pad >= 3, likewise W). Never fails.
 */
void conv_winograd_forward(float *out, const float *inp, const float *w, const float *b, int B,
			   int C, int H, int W, int OC, int pad, float *scratch);

/*
 * Given dout (B, OC, OH, OW): dinp (B, C, H, W) += the gradient of the
 * input, dw (OC, C, 3, 3) += the weight gradient, db (OC) += the sum of dout
 * over images and positions; each may be NULL to skip it. Never fails.
 */
void conv_winograd_backward(float *dinp, float *dw, float *db, const float *dout,
			    const float *inp, const float *w, int B, int C, int H, int W, int OC,
			    int pad, float *scratch);

#endif
