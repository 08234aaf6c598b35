/*
 * layer_conv: 2-D convolution (cross-correlation, as PyTorch) by im2col + GEMM.
 * Shapes and batches where Winograd filtering is faster (3x3, stride 1,
 * enough channels and images: conv_winograd_pays) go to conv_winograd
 * instead; the scratch then covers both paths.
 *
 * For one image, with L = OH*OW output positions and CKK = C*K*K:
 *   col (CKK, L)       col[(c*K + kh)*K + kw][oh*OW + ow] = x[c][oh*S - P + kh][ow*S - P + kw]
 *                      (0 outside the image)
 *   forward   y (OC, L)   = w (OC, CKK) @ col (CKK, L) + b
 *   backward  dw (OC, CKK) += dy (OC, L) @ col^T (L, CKK)
 *             dcol (CKK, L) = w^T (CKK, OC) @ dy (OC, L), then col2im adds dcol into dx
 *
 * Parallel plan: the batch is split into contiguous blocks of images, one per
 * thread (static schedule); each thread works on its own slot of the caller's
 * scratch (its column buffer stays in its core's cache) and makes
 * single-threaded GEMM calls whose results land directly in NCHW layout.
 * Weight and bias gradients are summed per thread into its slot and the slots
 * are then added in thread order, so results depend on the thread count only.
 * When the batch is smaller than the pool, images are processed one after the
 * other with multi-threaded GEMMs instead.
 *
 * Scratch: one slot per processor (omp_get_num_procs(), fixed for the
 * process), so scratch sizes do not change with threads_init(). A slot holds
 * the column buffer (CKK*L floats, reused for dcol in backward) and the
 * thread's partial weight and bias gradients (OC*CKK + OC floats).
 */
#include <omp.h>
#include <string.h>

#include "engine/conv_winograd.h"
#include "engine/gemm.h"
#include "engine/layers.h"

/* Rounds a float count up to a multiple of 16 (64 bytes), keeping slots aligned. */
static size_t
round16(size_t n)
{
	return (n + 15) & ~(size_t)15;
}

static int
conv_slots(void)
{
	int p = omp_get_num_procs();
	return p < 1 ? 1 : p;
}

int
conv2d_out_size(int in, int k, int stride, int pad)
{
	if (stride < 1 || in + 2 * pad < k)
		return 0;
	return (in + 2 * pad - k) / stride + 1;
}

/* True when col would equal the image itself (1x1 kernel, stride 1, no padding). */
static int
conv_is_pointwise(int K, int stride, int pad)
{
	return K == 1 && stride == 1 && pad == 0;
}

static size_t
conv_slot_floats(int C, int OH, int OW, int OC, int K)
{
	size_t ckk = (size_t)C * K * K;
	return round16(ckk * OH * OW) + round16(ckk * OC + OC);
}

size_t
conv2d_scratch_floats(int B, int C, int H, int W, int OC, int K, int stride, int pad)
{
	(void)B;
	int OH = conv2d_out_size(H, K, stride, pad), OW = conv2d_out_size(W, K, stride, pad);
	size_t n = conv_slot_floats(C, OH, OW, OC, K) * (size_t)conv_slots();
	if (conv_winograd_fits(C, H, W, OC, K, stride, pad)) {
		size_t nw = conv_winograd_scratch_floats(C, H, W, OC, pad);
		n = nw > n ? nw : n;
	}
	return n;
}

/*
 * Range [*lo, *hi) of output columns ow whose input column ow*S - P + k lies
 * in [0, W).
 */
static void
conv_valid_range(int *lo, int *hi, int W, int OW, int k, int S, int P)
{
	int a = P - k; /* need ow*S >= a */
	int l = a <= 0 ? 0 : (a + S - 1) / S;
	int b = W - 1 + P - k; /* need ow*S <= b */
	int h = b < 0 ? 0 : b / S + 1;
	if (h > OW)
		h = OW;
	if (l > h)
		l = h;
	*lo = l;
	*hi = h;
}

/* col (C*K*K, OH*OW) from one image img (C, H, W). */
static void
im2col(float *col, const float *img, int C, int H, int W, int K, int S, int P, int OH, int OW)
{
	size_t L = (size_t)OH * OW;
	for (int c = 0; c < C; c++) {
		const float *plane = img + (size_t)c * H * W;
		for (int kh = 0; kh < K; kh++) {
			for (int kw = 0; kw < K; kw++) {
				float *dst = col + ((size_t)(c * K + kh) * K + kw) * L;
				int lo, hi;
				conv_valid_range(&lo, &hi, W, OW, kw, S, P);
				for (int oh = 0; oh < OH; oh++) {
					float *d = dst + (size_t)oh * OW;
					int ih = oh * S - P + kh;
					if (ih < 0 || ih >= H) {
						memset(d, 0, sizeof(float) * OW);
						continue;
					}
					const float *s = plane + (size_t)ih * W - P + kw;
					for (int ow = 0; ow < lo; ow++)
						d[ow] = 0.0f;
					if (S == 1) {
						/* rows are short: an inline vector copy beats memcpy */
#pragma omp simd
						for (int ow = lo; ow < hi; ow++)
							d[ow] = s[ow];
					} else {
						for (int ow = lo; ow < hi; ow++)
							d[ow] = s[(size_t)ow * S];
					}
					for (int ow = hi; ow < OW; ow++)
						d[ow] = 0.0f;
				}
			}
		}
	}
}

/* img (C, H, W) += the columns col (C*K*K, OH*OW) folded back (inverse scatter of im2col). */
static void
col2im_add(float *img, const float *col, int C, int H, int W, int K, int S, int P, int OH, int OW)
{
	size_t L = (size_t)OH * OW;
	for (int c = 0; c < C; c++) {
		float *plane = img + (size_t)c * H * W;
		for (int kh = 0; kh < K; kh++) {
			for (int kw = 0; kw < K; kw++) {
				const float *src = col + ((size_t)(c * K + kh) * K + kw) * L;
				int lo, hi;
				conv_valid_range(&lo, &hi, W, OW, kw, S, P);
				for (int oh = 0; oh < OH; oh++) {
					int ih = oh * S - P + kh;
					if (ih < 0 || ih >= H)
						continue;
					const float *s = src + (size_t)oh * OW;
					float *d = plane + (size_t)ih * W - P + kw;
					if (S == 1) {
#pragma omp simd
						for (int ow = lo; ow < hi; ow++)
							d[ow] += s[ow];
					} else {
						for (int ow = lo; ow < hi; ow++)
							d[(size_t)ow * S] += s[ow];
					}
				}
			}
		}
	}
}

/* Sum of x[0..n) over CONV_LANES fixed lanes (vectorises; order fixed), in float. */
enum { CONV_LANES = 16 };

static float
conv_sum(const float *x, int n)
{
	float acc[CONV_LANES] = {0};
	int i = 0;
	for (; i + CONV_LANES <= n; i += CONV_LANES)
		for (int j = 0; j < CONV_LANES; j++)
			acc[j] += x[i + j];
	for (int j = 0; i < n; i++, j++)
		acc[j] += x[i];
	float s = 0.0f;
	for (int j = 0; j < CONV_LANES; j++)
		s += acc[j];
	return s;
}

/* Threads to use for a batch of B images: 1 means "serial loop, threaded GEMMs". */
static int
conv_threads(int B)
{
	int nt = omp_get_max_threads();
	int slots = conv_slots();
	if (nt > slots)
		nt = slots;
	if (B < nt)
		nt = 1;
	return nt < 1 ? 1 : nt;
}

/* y (OC, L) = w (OC, CKK) @ col (CKK, L) + b for one image. */
static void
conv_forward_image(float *y, const float *x, const float *w, const float *b, int C, int H, int W,
		   int OC, int K, int S, int P, int OH, int OW, float *col)
{
	int L = OH * OW, ckk = C * K * K;
	const float *cols = col;
	if (conv_is_pointwise(K, S, P))
		cols = x;
	else
		im2col(col, x, C, H, W, K, S, P, OH, OW);
	float beta = 0.0f;
	if (b) {
		for (int oc = 0; oc < OC; oc++) {
			float *row = y + (size_t)oc * L, v = b[oc];
#pragma omp simd
			for (int l = 0; l < L; l++)
				row[l] = v;
		}
		beta = 1.0f;
	}
	gemm(0, 0, OC, L, ckk, 1.0f, w, ckk, cols, L, beta, y, L);
}

void
conv2d_forward(float *out, const float *inp, const float *w, const float *b, int B, int C,
	       int H, int W, int OC, int K, int stride, int pad, float *scratch)
{
	/* out (B, OC, OH, OW), inp (B, C, H, W), w (OC, C, K, K), b (OC) or NULL */
	if (conv_winograd_pays(B, C, H, W, OC, K, stride, pad)) {
		conv_winograd_forward(out, inp, w, b, B, C, H, W, OC, pad, scratch);
		return;
	}
	int OH = conv2d_out_size(H, K, stride, pad), OW = conv2d_out_size(W, K, stride, pad);
	size_t in_sz = (size_t)C * H * W, out_sz = (size_t)OC * OH * OW;
	size_t slot = conv_slot_floats(C, OH, OW, OC, K);
	int nt = conv_threads(B);
	if (nt == 1) {
		for (int i = 0; i < B; i++)
			conv_forward_image(out + i * out_sz, inp + i * in_sz, w, b, C, H, W, OC, K,
					   stride, pad, OH, OW, scratch);
		return;
	}
#pragma omp parallel num_threads(nt)
	{
		float *col = scratch + slot * omp_get_thread_num();
#pragma omp for schedule(static)
		for (int i = 0; i < B; i++)
			conv_forward_image(out + i * out_sz, inp + i * in_sz, w, b, C, H, W, OC, K,
					   stride, pad, OH, OW, col);
	}
}

/*
 * One image of backward: dw (OC, CKK) and db (OC) accumulate (either may be
 * NULL); dx (C, H, W) accumulates when not NULL.
 */
static void
conv_backward_image(float *dx, float *dw, float *db, const float *dy, const float *x,
		    const float *w, int C, int H, int W, int OC, int K, int S, int P, int OH,
		    int OW, float *col)
{
	int L = OH * OW, ckk = C * K * K;
	int pointwise = conv_is_pointwise(K, S, P);
	if (dw) {
		const float *cols = x;
		if (!pointwise) {
			im2col(col, x, C, H, W, K, S, P, OH, OW);
			cols = col;
		}
		/* dw (OC, CKK) += dy (OC, L) @ col^T (L, CKK) */
		gemm(0, 1, OC, ckk, L, 1.0f, dy, L, cols, L, 1.0f, dw, ckk);
	}
	if (db)
		for (int oc = 0; oc < OC; oc++)
			db[oc] += conv_sum(dy + (size_t)oc * L, L);
	if (dx) {
		if (pointwise) {
			/* dx (C, L) += w^T (C, OC) @ dy (OC, L) */
			gemm(1, 0, ckk, L, OC, 1.0f, w, ckk, dy, L, 1.0f, dx, L);
		} else {
			/* dcol (CKK, L) = w^T (CKK, OC) @ dy (OC, L), folded into dx */
			gemm(1, 0, ckk, L, OC, 1.0f, w, ckk, dy, L, 0.0f, col, L);
			col2im_add(dx, col, C, H, W, K, S, P, OH, OW);
		}
	}
}

void
conv2d_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
		const float *w, int B, int C, int H, int W, int OC, int K, int stride, int pad,
		float *scratch)
{
	if (conv_winograd_pays(B, C, H, W, OC, K, stride, pad)) {
		conv_winograd_backward(dinp, dw, db, dout, inp, w, B, C, H, W, OC, pad, scratch);
		return;
	}
	int OH = conv2d_out_size(H, K, stride, pad), OW = conv2d_out_size(W, K, stride, pad);
	size_t in_sz = (size_t)C * H * W, out_sz = (size_t)OC * OH * OW;
	size_t ckk = (size_t)C * K * K;
	size_t slot = conv_slot_floats(C, OH, OW, OC, K);
	size_t col_floats = round16(ckk * OH * OW);
	int nt = conv_threads(B);
	if (nt == 1) {
		for (int i = 0; i < B; i++)
			conv_backward_image(dinp ? dinp + i * in_sz : NULL, dw, db,
					    dout + i * out_sz, inp + i * in_sz, w, C, H, W, OC, K,
					    stride, pad, OH, OW, scratch);
		return;
	}
#pragma omp parallel num_threads(nt)
	{
		int t = omp_get_thread_num();
		float *col = scratch + slot * t;
		float *pdw = dw ? col + col_floats : NULL;
		float *pdb = db ? col + col_floats + ckk * OC : NULL;
		if (pdw)
			memset(pdw, 0, sizeof(float) * ckk * OC);
		if (pdb)
			memset(pdb, 0, sizeof(float) * OC);
#pragma omp for schedule(static)
		for (int i = 0; i < B; i++)
			conv_backward_image(dinp ? dinp + i * in_sz : NULL, pdw, pdb,
					    dout + i * out_sz, inp + i * in_sz, w, C, H, W, OC, K,
					    stride, pad, OH, OW, col);
		/* implicit barrier: every partial is complete; add them in thread order */
		size_t n = dw ? ckk * OC : 0;
#pragma omp for schedule(static)
		for (size_t j = 0; j < n; j++) {
			float s = dw[j];
			for (int u = 0; u < nt; u++)
				s += scratch[slot * u + col_floats + j];
			dw[j] = s;
		}
		if (db) {
#pragma omp for schedule(static)
			for (int oc = 0; oc < OC; oc++) {
				float s = db[oc];
				for (int u = 0; u < nt; u++)
					s += scratch[slot * u + col_floats + ckk * OC + oc];
				db[oc] = s;
			}
		}
	}
}
