/*
 * layer_linear: fully connected layer, y = x W^T + b, with W in PyTorch's
 * (OUT, IN) layout. Every product is one gemm() call over the whole batch,
 * so the work is as large a GEMM as the layer allows; bias work is a short
 * fixed-order loop. Backward accumulates into its outputs (see layers.h).
 */
#include <stddef.h>

#include "engine/gemm.h"
#include "engine/layers.h"

void
linear_forward(float *out, const float *inp, const float *w, const float *b, int B, int IN,
	       int OUT)
{
	/* out (B, OUT), inp (B, IN), w (OUT, IN), b (OUT) */
	float beta = 0.0f;
	if (b) {
		for (int i = 0; i < B; i++) {
			float *row = out + (size_t)i * OUT;
#pragma omp simd
			for (int o = 0; o < OUT; o++)
				row[o] = b[o];
		}
		beta = 1.0f;
	}
	gemm(0, 1, B, OUT, IN, 1.0f, inp, IN, w, IN, beta, out, OUT);
}

void
linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
		const float *w, int B, int IN, int OUT)
{
	/* dinp (B, IN) += dout (B, OUT) @ w (OUT, IN) */
	if (dinp)
		gemm(0, 0, B, IN, OUT, 1.0f, dout, OUT, w, IN, 1.0f, dinp, IN);
	/* dw (OUT, IN) += dout^T (OUT, B) @ inp (B, IN) */
	if (dw)
		gemm(1, 0, OUT, IN, B, 1.0f, dout, OUT, inp, IN, 1.0f, dw, IN);
	/* db (OUT) += column sums of dout, rows added in batch order */
	if (db) {
		for (int i = 0; i < B; i++) {
			const float *row = dout + (size_t)i * OUT;
#pragma omp simd
			for (int o = 0; o < OUT; o++)
				db[o] += row[o];
		}
	}
}
