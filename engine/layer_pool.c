/*
 * layer_pool: max, average and global average pooling over NCHW planes,
 * K x K windows with stride S and no padding, OH = (H - K) / S + 1.
 *
 * Planes (b, c) are independent and are split across threads with a static
 * schedule; within a plane one thread does all the work in a fixed order, so
 * overlapping windows (S < K) accumulate their gradients deterministically.
 * Max pooling keeps the first maximum of a window (row-major order) and
 * records its flat index h*W + w in the input plane.
 */
#include <stddef.h>
#include <stdint.h>

#include "engine/layers.h"

enum { POOL_PAR_MIN = 1 << 14 };

static int
pool_out(int in, int K, int S)
{
	return in < K ? 0 : (in - K) / S + 1;
}

/*
 * One plane of 2x2 windows with stride 2, the common case, written as
 * selects so that it vectorises; same result as the general loop (strict >,
 * first maximum in row-major order wins).
 */
static void
maxpool2x2_plane(float *y, int32_t *am, const float *x, int W, int OH, int OW)
{
	for (int oh = 0; oh < OH; oh++) {
		const float *r0 = x + (size_t)(2 * oh) * W, *r1 = r0 + W;
		float *yo = y + (size_t)oh * OW;
		int32_t *ao = am + (size_t)oh * OW, base = 2 * oh * W;
#pragma omp simd
		for (int ow = 0; ow < OW; ow++) {
			float a = r0[2 * ow], b = r0[2 * ow + 1], c = r1[2 * ow], d = r1[2 * ow + 1];
			int32_t i = base + 2 * ow, mi = i;
			float m = a;
			mi = b > m ? i + 1 : mi;
			m = b > m ? b : m;
			mi = c > m ? i + W : mi;
			m = c > m ? c : m;
			mi = d > m ? i + W + 1 : mi;
			m = d > m ? d : m;
			yo[ow] = m;
			ao[ow] = mi;
		}
	}
}

void
maxpool2d_forward(float *out, int32_t *argmax, const float *inp, int B, int C, int H, int W,
		  int K, int S)
{
	/* out, argmax (B, C, OH, OW); inp (B, C, H, W) */
	int OH = pool_out(H, K, S), OW = pool_out(W, K, S);
	long planes = (long)B * C;
	size_t in_plane = (size_t)H * W, out_plane = (size_t)OH * OW;
#pragma omp parallel for schedule(static) if (planes * in_plane >= POOL_PAR_MIN)
	for (long p = 0; p < planes; p++) {
		const float *x = inp + p * in_plane;
		float *y = out + p * out_plane;
		int32_t *am = argmax + p * out_plane;
		if (K == 2 && S == 2) {
			maxpool2x2_plane(y, am, x, W, OH, OW);
			continue;
		}
		for (int oh = 0; oh < OH; oh++) {
			for (int ow = 0; ow < OW; ow++) {
				int h0 = oh * S, w0 = ow * S;
				int32_t best_i = h0 * W + w0;
				float best = x[best_i];
				for (int kh = 0; kh < K; kh++) {
					const float *row = x + (size_t)(h0 + kh) * W + w0;
					for (int kw = 0; kw < K; kw++) {
						if (row[kw] > best) {
							best = row[kw];
							best_i = (h0 + kh) * W + w0 + kw;
						}
					}
				}
				y[oh * OW + ow] = best;
				am[oh * OW + ow] = best_i;
			}
		}
	}
}

void
maxpool2d_backward(float *dinp, const float *dout, const int32_t *argmax, int B, int C, int H,
		   int W, int K, int S)
{
	int OH = pool_out(H, K, S), OW = pool_out(W, K, S);
	long planes = (long)B * C;
	size_t in_plane = (size_t)H * W, out_plane = (size_t)OH * OW;
#pragma omp parallel for schedule(static) if (planes * in_plane >= POOL_PAR_MIN)
	for (long p = 0; p < planes; p++) {
		float *dx = dinp + p * in_plane;
		const float *dy = dout + p * out_plane;
		const int32_t *am = argmax + p * out_plane;
		for (size_t i = 0; i < out_plane; i++)
			dx[am[i]] += dy[i];
	}
}

void
avgpool2d_forward(float *out, const float *inp, int B, int C, int H, int W, int K, int S)
{
	int OH = pool_out(H, K, S), OW = pool_out(W, K, S);
	long planes = (long)B * C;
	size_t in_plane = (size_t)H * W, out_plane = (size_t)OH * OW;
	float inv = 1.0f / (float)(K * K);
#pragma omp parallel for schedule(static) if (planes * in_plane >= POOL_PAR_MIN)
	for (long p = 0; p < planes; p++) {
		const float *x = inp + p * in_plane;
		float *y = out + p * out_plane;
		for (int oh = 0; oh < OH; oh++) {
			for (int ow = 0; ow < OW; ow++) {
				float s = 0.0f;
				for (int kh = 0; kh < K; kh++) {
					const float *row = x + (size_t)(oh * S + kh) * W + ow * S;
					for (int kw = 0; kw < K; kw++)
						s += row[kw];
				}
				y[oh * OW + ow] = s * inv;
			}
		}
	}
}

void
avgpool2d_backward(float *dinp, const float *dout, int B, int C, int H, int W, int K, int S)
{
	int OH = pool_out(H, K, S), OW = pool_out(W, K, S);
	long planes = (long)B * C;
	size_t in_plane = (size_t)H * W, out_plane = (size_t)OH * OW;
	float inv = 1.0f / (float)(K * K);
#pragma omp parallel for schedule(static) if (planes * in_plane >= POOL_PAR_MIN)
	for (long p = 0; p < planes; p++) {
		float *dx = dinp + p * in_plane;
		const float *dy = dout + p * out_plane;
		for (int oh = 0; oh < OH; oh++) {
			for (int ow = 0; ow < OW; ow++) {
				float g = dy[oh * OW + ow] * inv;
				for (int kh = 0; kh < K; kh++) {
					float *row = dx + (size_t)(oh * S + kh) * W + ow * S;
					for (int kw = 0; kw < K; kw++)
						row[kw] += g;
				}
			}
		}
	}
}

void
globalavgpool_forward(float *out, const float *inp, int B, int C, int HW)
{
	/* out (B, C) = mean over HW of inp (B, C, HW), summed in double */
	long planes = (long)B * C;
#pragma omp parallel for schedule(static) if (planes * HW >= POOL_PAR_MIN)
	for (long p = 0; p < planes; p++) {
		const float *x = inp + p * HW;
		double s = 0.0;
		for (int i = 0; i < HW; i++)
			s += x[i];
		out[p] = (float)(s / HW);
	}
}

void
globalavgpool_backward(float *dinp, const float *dout, int B, int C, int HW)
{
	long planes = (long)B * C;
	float inv = 1.0f / (float)HW;
#pragma omp parallel for schedule(static) if (planes * HW >= POOL_PAR_MIN)
	for (long p = 0; p < planes; p++) {
		float *dx = dinp + p * HW;
		float g = dout[p] * inv;
		for (int i = 0; i < HW; i++)
			dx[i] += g;
	}
}
