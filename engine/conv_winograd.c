/*
 * conv_winograd: 3x3 stride-1 convolution by Winograd F(4x4, 3x3)
 * (Lavin & Gray 2016, "Fast Algorithms for Convolutional Neural Networks").
 *
 * The output is cut into 4x4 tiles, TH x TW of them per plane (partial tiles
 * at the bottom and right edges are computed whole and cropped); tile t =
 * th*TW + tw reads the 6x6 input patch whose top-left corner is, in padded
 * coordinates, (4*th, 4*tw). With the 6x6 transforms (xi = 6*i + j indexes
 * the 36 points of the transformed domain)
 *   U[xi][oc][c] = (G g G^T)[i][j]           g = w[oc][c] (3, 3)
 *   V[xi][c][t]  = (B^T d B)[i][j]           d = the input patch of tile t
 *   M[xi][oc][t] = sum_c U[xi][oc][c] V[xi][c][t]     (36 GEMMs)
 *   y            = A^T M A                   the 4x4 output tile
 * and for the gradients (the exact adjoints of the same computation, so that
 * the transformed output gradient Z serves both):
 *   Z[xi][oc][t] = (A dy A^T)[i][j]          dy = the 4x4 tile of dout
 *   dU[xi][oc][c] = sum_t Z[xi][oc][t] V[xi][c][t]    dw += G^T dU G
 *   X[xi][c][t]  = sum_oc U[xi][oc][c] Z[xi][oc][t]   dd = B X B^T
 * where dd (6x6) is added into dinp at the tile's input patch (patches of
 * neighbouring tiles overlap by two rows or columns; padding is dropped).
 * U and the weight gradient are computed in double from the float weights
 * and sums.
 *
 * Parallel plan: the batch is split into contiguous blocks of images, one
 * per thread (static), as in layer_conv. Each thread works through its block
 * in chunks of whole images (the chunk size depends on the shape only) in its
 * own slot of the scratch: transforms, then the 36 products as
 * single-threaded GEMMs over the whole chunk (OC x C by C x tiles), then the
 * inverse transforms. The only barriers are after the filter transform and
 * before the weight gradient, so a thread that loses its core for a while
 * delays the others once per call, not once per chunk. Each output or input
 * gradient value is computed by one thread in an order fixed by the shape;
 * the weight gradient adds the threads' partial dU in thread order. Results
 * are therefore bit-identical for a given thread count (and, but for dw, do
 * not depend on it). With fewer images than threads, one thread per image
 * (conv2d sends such batches to im2col anyway: conv_winograd_pays).
 *
 * Layout: the transformed data V, Z (or M) and X hold, for each xi and
 * channel, a row of the chunk's tiles, image-major, so that the GEMMs are
 * plain row-major products and the transforms run, one channel of a chunk at
 * a time, at unit stride over all its tiles. They go through buffers of the
 * same layout, D[r*6 + k][t] = element (r, k) of tile t's input patch (or
 * output tile), which row functions gather from and scatter to the image
 * rows with vector shuffles, 8 tiles at a time.
 *
 * Scratch: U (36*OC*C), then one slot per processor (omp_get_num_procs(),
 * fixed for the process) holding a thread's dU (36*OC*C), V/X (36*C*tc) and
 * Z/M (36*OC*tc), tc the tiles of a chunk, and the transform buffers.
 */
#include <omp.h>
#include <string.h>

#include "engine/conv_winograd.h"
#include "engine/gemm.h"

enum {
	WINO_XI = 36,		 /* points of the transformed 6x6 domain */
	WINO_CHUNK_TILES = 144,	 /* tiles per chunk (whole images, at least one) */
	WINO_MIN_CHANNELS = 4,	 /* crossover: C and OC at least this */
	WINO_BLOCK = 8,		 /* tiles per block of the row functions */
};

/* F(4x4, 3x3) filter transform G (6, 3) (Lavin & Gray 2016, section 4.2). */
static const double wino_g[6][3] = {
	{1.0 / 4, 0.0, 0.0},
	{-1.0 / 6, -1.0 / 6, -1.0 / 6},
	{-1.0 / 6, 1.0 / 6, -1.0 / 6},
	{1.0 / 24, 1.0 / 12, 1.0 / 6},
	{1.0 / 24, -1.0 / 12, 1.0 / 6},
	{0.0, 0.0, 1.0},
};

struct wino_shape {
	int C, H, W, OC, pad;
	int OH, OW;
	int TH, TW, TT;	   /* tile grid of a plane; TT = TH*TW */
	int nb;		   /* images per chunk */
	size_t tc;	   /* tiles per chunk, nb*TT: the row length of V, Z, X */
	size_t tcb;	   /* tc and room for a block: the row length of the transform buffers */
	size_t u_floats;   /* U or a dU: 36*OC*C, rounded */
	size_t v_floats;   /* V or X: 36*C*tc, rounded */
	size_t z_floats;   /* Z or M: 36*OC*tc, rounded */
	size_t buf_floats; /* transform buffers of a chunk's channel */
	size_t slot;	   /* a thread's slot: dU, V, Z, transform buffers */
};

/* A thread's part of the scratch. */
struct wino_slot {
	float *dU, *V, *Z, *buf;
};

/* Rounds a float count up to a multiple of 16 (64 bytes), keeping buffers aligned. */
static size_t
round16(size_t n)
{
	return (n + 15) & ~(size_t)15;
}

/*
 * Floats of a padded row buffer: what the row functions touch, 4 columns per
 * tile in whole blocks plus the two columns of the last patch, rounded.
 */
static size_t
wino_row_floats(int TW)
{
	int blocks = (TW + WINO_BLOCK - 1) / WINO_BLOCK;
	return 4 * (size_t)WINO_BLOCK * blocks + 8;
}

static int
wino_slots(void)
{
	int p = omp_get_num_procs();
	return p < 1 ? 1 : p;
}

static void
wino_shape_init(struct wino_shape *s, int C, int H, int W, int OC, int pad)
{
	s->C = C;
	s->H = H;
	s->W = W;
	s->OC = OC;
	s->pad = pad;
	s->OH = H + 2 * pad - 2;
	s->OW = W + 2 * pad - 2;
	s->TH = (s->OH + 3) / 4;
	s->TW = (s->OW + 3) / 4;
	s->TT = s->TH * s->TW;
	s->nb = WINO_CHUNK_TILES / s->TT;
	if (s->nb < 1)
		s->nb = 1;
	s->tc = (size_t)s->nb * s->TT;
	s->u_floats = round16((size_t)WINO_XI * OC * C);
	s->v_floats = round16((size_t)WINO_XI * C * s->tc);
	s->z_floats = round16((size_t)WINO_XI * OC * s->tc);
	/*
	 * The largest users: two 36-row buffers of a chunk, and a padded plane.
	 * The row functions work in blocks of 8 tiles, so rows get room for 7
	 * tiles past the chunk's last.
	 */
	s->tcb = round16(s->tc + WINO_BLOCK);
	s->buf_floats = 2 * WINO_XI * s->tcb +
			round16((size_t)(4 * s->TH + 2) * wino_row_floats(s->TW));
	s->slot = s->u_floats + s->v_floats + s->z_floats + s->buf_floats;
}

/* Scratch: U, then one slot per processor. */
static struct wino_slot
wino_slot_of(const struct wino_shape *s, float *scratch, int t)
{
	struct wino_slot w;
	w.dU = scratch + s->u_floats + s->slot * (size_t)t;
	w.V = w.dU + s->u_floats;
	w.Z = w.V + s->v_floats;
	w.buf = w.Z + s->z_floats;
	return w;
}

/*
 * Measured on 2 cores (Zen 4) against im2col + GEMM, forward + backward at
 * batch 128, 28x28 to 3x3 outputs: Winograd is 1.4-2.7x faster from 4
 * channels in and out (e.g. 2.5x for 32 -> 64 channels at 24x24, 2.2x for
 * 4 -> 4), about even with 2 input channels and slower with 1 (the
 * transforms then cost more than the products they save); it is still 1.15x
 * faster on a 5x5 output, where 39% of the computed 4x4 tiles lies inside
 * the output, and 1.5x slower on 2x2 (25%).
 */
int
conv_winograd_fits(int C, int H, int W, int OC, int K, int stride, int pad)
{
	if (K != 3 || stride != 1 || C < WINO_MIN_CHANNELS || OC < WINO_MIN_CHANNELS)
		return 0;
	long OH = (long)H + 2 * pad - 2, OW = (long)W + 2 * pad - 2;
	if (OH < 1 || OW < 1)
		return 0;
	long computed = 16 * ((OH + 3) / 4) * ((OW + 3) / 4);
	return 3 * OH * OW >= computed;
}

/*
 * Threads of the parallel regions: the pool, at most one per scratch slot.
 * With no more images than that, some threads would idle through the
 * transforms, and im2col + GEMM is faster (measured: 2.5x at batch 1, 1.1x
 * at batch 2 on 2 cores for the 32 -> 64 channel shape above).
 */
static int
wino_pool(void)
{
	int nt = omp_get_max_threads(), slots = wino_slots();
	return nt > slots ? slots : nt < 1 ? 1 : nt;
}

int
conv_winograd_pays(int B, int C, int H, int W, int OC, int K, int stride, int pad)
{
	return B > wino_pool() && conv_winograd_fits(C, H, W, OC, K, stride, pad);
}

size_t
conv_winograd_scratch_floats(int C, int H, int W, int OC, int pad)
{
	struct wino_shape s;
	wino_shape_init(&s, C, H, W, OC, pad);
	return s.u_floats + s.slot * (size_t)wino_slots();
}

/* ---- 1-D transforms over n tiles at once: o[.][t] from d[.][t] ---- */

/*
 * The transforms are compiled for the widest vector unit found at run time.
 * Each output is the same expression in every version (no reassociation, and
 * no FMA contraction: GCC's default in ISO C mode, asked of clang below), so
 * the results do not depend on which runs.
 */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif
#if defined(__GNUC__) && defined(__x86_64__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define WINO_VECTOR __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#endif
#ifndef WINO_VECTOR
#define WINO_VECTOR
#endif
/* Helpers of the WINO_VECTOR functions, compiled into each version. */
#if defined(__GNUC__)
#define WINO_INLINE static inline __attribute__((always_inline))
#else
#define WINO_INLINE static inline
#endif

/* o (6) = B^T d (6): the data transform. */
WINO_VECTOR static void
wino_bt(float *const o[6], const float *const d[6], int n)
{
	const float *d0 = d[0], *d1 = d[1], *d2 = d[2], *d3 = d[3], *d4 = d[4], *d5 = d[5];
	float *o0 = o[0], *o1 = o[1], *o2 = o[2], *o3 = o[3], *o4 = o[4], *o5 = o[5];
#pragma omp simd
	for (int t = 0; t < n; t++) {
		float a1 = d1[t], a2 = d2[t], a3 = d3[t], a4 = d4[t];
		float s12 = a1 + a2, s34 = a3 + a4, m12 = a1 - a2, m43 = a4 - a3;
		float m42 = a4 - a2, m31 = a3 - a1;
		o0[t] = 4.0f * d0[t] + (a4 - 5.0f * a2);
		o1[t] = s34 - 4.0f * s12;
		o2[t] = m43 + 4.0f * m12;
		o3[t] = m42 + 2.0f * m31;
		o4[t] = m42 - 2.0f * m31;
		o5[t] = 4.0f * a1 + (d5[t] - 5.0f * a3);
	}
}

/* o (6) = B x (6): the adjoint of wino_bt. */
WINO_VECTOR static void
wino_b(float *const o[6], const float *const d[6], int n)
{
	const float *d0 = d[0], *d1 = d[1], *d2 = d[2], *d3 = d[3], *d4 = d[4], *d5 = d[5];
	float *o0 = o[0], *o1 = o[1], *o2 = o[2], *o3 = o[3], *o4 = o[4], *o5 = o[5];
#pragma omp simd
	for (int t = 0; t < n; t++) {
		float x0 = d0[t], x1 = d1[t], x2 = d2[t], x3 = d3[t], x4 = d4[t], x5 = d5[t];
		o0[t] = 4.0f * x0;
		o1[t] = 4.0f * ((x2 - x1) + x5) + 2.0f * (x4 - x3);
		o2[t] = -5.0f * x0 - 4.0f * (x1 + x2) - (x3 + x4);
		o3[t] = (x1 - x2) + 2.0f * (x3 - x4) - 5.0f * x5;
		o4[t] = x0 + (x1 + x2) + (x3 + x4);
		o5[t] = x5;
	}
}

/* o (4) = A^T m (6): the output transform. */
WINO_VECTOR static void
wino_at(float *const o[4], const float *const d[6], int n)
{
	const float *d0 = d[0], *d1 = d[1], *d2 = d[2], *d3 = d[3], *d4 = d[4], *d5 = d[5];
	float *o0 = o[0], *o1 = o[1], *o2 = o[2], *o3 = o[3];
#pragma omp simd
	for (int t = 0; t < n; t++) {
		float s12 = d1[t] + d2[t], m12 = d1[t] - d2[t];
		float s34 = d3[t] + d4[t], m34 = d3[t] - d4[t];
		o0[t] = d0[t] + s12 + s34;
		o1[t] = m12 + 2.0f * m34;
		o2[t] = s12 + 4.0f * s34;
		o3[t] = (m12 + 8.0f * m34) + d5[t];
	}
}

/* o (6) = A y (4): the adjoint of wino_at. */
WINO_VECTOR static void
wino_a(float *const o[6], const float *const d[4], int n)
{
	const float *d0 = d[0], *d1 = d[1], *d2 = d[2], *d3 = d[3];
	float *o0 = o[0], *o1 = o[1], *o2 = o[2], *o3 = o[3], *o4 = o[4], *o5 = o[5];
#pragma omp simd
	for (int t = 0; t < n; t++) {
		float y0 = d0[t], y1 = d1[t], y2 = d2[t], y3 = d3[t];
		float e = y0 + y2, od = y1 + y3;
		float e4 = y0 + 4.0f * y2, od4 = 2.0f * y1 + 8.0f * y3;
		o0[t] = y0;
		o1[t] = e + od;
		o2[t] = e - od;
		o3[t] = e4 + od4;
		o4[t] = e4 - od4;
		o5[t] = y3;
	}
}

/* ---- between image rows and tile phases ---- */

/*
 * A row of an image and the phases of its tiles: p[k][l] = row[4*l + k],
 * k < 4 for an output tile, k < 6 for an input patch (whose last two columns
 * are the first two of the next tile). These run 8 tiles at a time with
 * vector shuffles where the compiler has them; a block may read or write up
 * to 7 tiles past the row's last one (the buffers leave room for that, see
 * wino_shape_init).
 */
#if defined(__has_builtin)
#if __has_builtin(__builtin_shufflevector)
#define WINO_SHUFFLE 1
typedef float wino_v8 __attribute__((vector_size(32)));
typedef float wino_v16 __attribute__((vector_size(64)));
typedef int wino_i8 __attribute__((vector_size(32)));
typedef int wino_i16 __attribute__((vector_size(64)));
#define WINO_EVERY4(k) k, k + 4, k + 8, k + 12, k + 16, k + 20, k + 24, k + 28
/* the pairs (a[l], b[l]), l < 8, of two 8-float vectors */
#define WINO_ZIP8 0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15
/* quads (t01[2j], t01[2j+1], t23[2j], t23[2j+1]) of two zipped pairs, j < 4 and j >= 4 */
#define WINO_QUADS_LO 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23
#define WINO_QUADS_HI 8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31
#endif
#endif

/*
 * dst[X] = src[X - pad] for X < len, 0 where X - pad lies outside [0, W) or
 * src is NULL (a row of padding): one row of the padded image.
 */
WINO_INLINE void
wino_pad_row(float *dst, const float *src, int W, int pad, int len)
{
	int lo = src ? pad : len, hi = src ? pad + W : len;
	for (int X = 0; X < lo; X++)
		dst[X] = 0.0f;
#pragma omp simd
	for (int X = lo; X < hi; X++)
		dst[X] = src[X - lo];
	for (int X = hi; X < len; X++)
		dst[X] = 0.0f;
}

/*
 * p[k][l] = row[4*l + k] for k < np (4 or 6), l < n. May write p[k] up to
 * round8(n) (whole blocks) and read row up to 4*round8(n) + 4.
 */
WINO_INLINE void
wino_split(float *const *p, int np, const float *row, int n)
{
#ifdef WINO_SHUFFLE
	for (int l = 0; l < n; l += WINO_BLOCK, row += 4 * WINO_BLOCK) {
		wino_v16 a, b;
		memcpy(&a, row, sizeof a);
		memcpy(&b, row + 16, sizeof b);
		wino_v8 v0 = __builtin_shufflevector(a, b, WINO_EVERY4(0));
		wino_v8 v1 = __builtin_shufflevector(a, b, WINO_EVERY4(1));
		wino_v8 v2 = __builtin_shufflevector(a, b, WINO_EVERY4(2));
		wino_v8 v3 = __builtin_shufflevector(a, b, WINO_EVERY4(3));
		memcpy(p[0] + l, &v0, sizeof v0);
		memcpy(p[1] + l, &v1, sizeof v1);
		memcpy(p[2] + l, &v2, sizeof v2);
		memcpy(p[3] + l, &v3, sizeof v3);
		if (np > 4) {
			memcpy(&a, row + 4, sizeof a);
			memcpy(&b, row + 20, sizeof b);
			v0 = __builtin_shufflevector(a, b, WINO_EVERY4(0));
			v1 = __builtin_shufflevector(a, b, WINO_EVERY4(1));
			memcpy(p[4] + l, &v0, sizeof v0);
			memcpy(p[5] + l, &v1, sizeof v1);
		}
	}
#else
	for (int l = 0; l < n; l++)
		for (int k = 0; k < np; k++)
			p[k][l] = row[4 * l + k];
#endif
}

/*
 * row[4*l + v] = e[v][l] for v < 4, l < n: output tiles' phases back into an
 * image row. May read e[v] up to round8(n) and write row up to 4*round8(n).
 */
WINO_INLINE void
wino_merge4(float *row, const float *const *e, int n)
{
#ifdef WINO_SHUFFLE
	for (int l = 0; l < n; l += WINO_BLOCK, row += 4 * WINO_BLOCK) {
		wino_v8 e0, e1, e2, e3;
		memcpy(&e0, e[0] + l, sizeof e0);
		memcpy(&e1, e[1] + l, sizeof e1);
		memcpy(&e2, e[2] + l, sizeof e2);
		memcpy(&e3, e[3] + l, sizeof e3);
		wino_v16 t01 = __builtin_shufflevector(e0, e1, WINO_ZIP8);
		wino_v16 t23 = __builtin_shufflevector(e2, e3, WINO_ZIP8);
		wino_v16 lo = __builtin_shufflevector(t01, t23, WINO_QUADS_LO);
		wino_v16 hi = __builtin_shufflevector(t01, t23, WINO_QUADS_HI);
		memcpy(row, &lo, sizeof lo);
		memcpy(row + 16, &hi, sizeof hi);
	}
#else
	for (int l = 0; l < n; l++)
		for (int v = 0; v < 4; v++)
			row[4 * l + v] = e[v][l];
#endif
}

/*
 * One padded row of input gradient from one or two rows of patches (b may
 * be NULL): row[4*l + k] gets (a[k][l] + b[k][l]) for k < 6, l < n, where
 * columns 4 and 5 of patch l are columns 0 and 1 of patch l + 1 (added
 * after them). Writes row[0 .. 4*n + 2), may write up to 4*round8(n) + 2
 * and read a[k] and b[k] up to round8(n) (lanes past n count as 0).
 */
WINO_INLINE void
wino_merge6(float *row, const float *const *a, const float *const *b, int n)
{
#ifdef WINO_SHUFFLE
	const wino_i8 lane = {0, 1, 2, 3, 4, 5, 6, 7};
	const wino_i16 pairs = {-1, -1, 0, 0, -1, -1, 0, 0, -1, -1, 0, 0, -1, -1, 0, 0};
	wino_v16 carry = {0}; /* the previous block's (e4, e5) pairs */
	for (int l = 0; l < n; l += WINO_BLOCK, row += 4 * WINO_BLOCK) {
		wino_v8 e[6];
		for (int k = 0; k < 6; k++) {
			memcpy(&e[k], a[k] + l, sizeof e[k]);
			if (b) {
				wino_v8 f;
				memcpy(&f, b[k] + l, sizeof f);
				e[k] += f;
			}
		}
		if (n - l < WINO_BLOCK) {
			wino_i8 keep = lane < (n - l);
			for (int k = 0; k < 6; k++)
				e[k] = (wino_v8)((wino_i8)e[k] & keep);
		}
		wino_v16 t01 = __builtin_shufflevector(e[0], e[1], WINO_ZIP8);
		wino_v16 t23 = __builtin_shufflevector(e[2], e[3], WINO_ZIP8);
		wino_v16 t45 = __builtin_shufflevector(e[4], e[5], WINO_ZIP8);
		wino_v16 lo = __builtin_shufflevector(t01, t23, WINO_QUADS_LO);
		wino_v16 hi = __builtin_shufflevector(t01, t23, WINO_QUADS_HI);
		/* pair j lands at 4j + 4: tiles 0..6 here, tile 7 of the previous block first */
		wino_v16 slo = __builtin_shufflevector(t45, carry, 30, 31, 0, 0, 0, 1, 0, 0, 2, 3, 0,
						       0, 4, 5, 0, 0);
		wino_v16 shi = __builtin_shufflevector(t45, t45, 6, 7, 0, 0, 8, 9, 0, 0, 10, 11, 0, 0,
						       12, 13, 0, 0);
		lo += (wino_v16)((wino_i16)slo & pairs);
		hi += (wino_v16)((wino_i16)shi & pairs);
		memcpy(row, &lo, sizeof lo);
		memcpy(row + 16, &hi, sizeof hi);
		carry = t45;
	}
	row[0] = carry[14];
	row[1] = carry[15];
#else
	for (int X = 0; X < 4 * n + 2; X++)
		row[X] = 0.0f;
	for (int l = 0; l < n; l++)
		for (int k = 0; k < 6; k++)
			row[4 * l + k] += b ? a[k][l] + b[k][l] : a[k][l];
#endif
}

/*
 * The row functions use a padded copy of the plane (4*TH + 2 rows of
 * wino_row_floats(TW)), filled completely before it is read: reading a row
 * just written, at other offsets than it was written, would stall on store
 * forwarding.
 */

/*
 * The input patches of one image plane x (H, W): D[r*6 + k][th*TW + tw] =
 * x at padded (4th + r, 4tw + k), rows ld floats apart. Padded row Y is row
 * Y%4 of tile row Y/4 and, when Y%4 < 2, row Y%4 + 4 of tile row Y/4 - 1;
 * tile rows are written in increasing order, so a block written past a tile
 * row's end is overwritten by the next tile row.
 */
WINO_VECTOR static void
wino_gather_patches(float *D, size_t ld, const float *x, const struct wino_shape *s,
		    float *plane)
{
	int TW = s->TW, len = (int)wino_row_floats(TW), rows = 4 * s->TH + 2;
	for (int Y = 0; Y < rows; Y++) {
		int y = Y - s->pad;
		wino_pad_row(plane + (size_t)Y * len, y >= 0 && y < s->H ? x + (size_t)y * s->W : NULL,
			     s->W, s->pad, len);
	}
	for (int Y = 0; Y < rows; Y++) {
		int th = Y >> 2, r = Y & 3;
		const float *row = plane + (size_t)Y * len;
		for (int pass = 0; pass < 2; pass++) {
			int rr = pass ? r + 4 : r, t = pass ? th - 1 : th;
			if (t < 0 || t >= s->TH || rr >= 6)
				continue;
			float *p[6];
			for (int k = 0; k < 6; k++)
				p[k] = D + (size_t)(rr * 6 + k) * ld + (size_t)t * TW;
			wino_split(p, 6, row, TW);
		}
	}
}

/*
 * The output-gradient tiles of one image plane dy (OH, OW): D[u*4 + v]
 * [th*TW + tw] = dy[4th + u][4tw + v], 0 beyond the edges; rows ld apart.
 */
WINO_VECTOR static void
wino_gather_tiles(float *D, size_t ld, const float *dy, const struct wino_shape *s,
		  float *plane)
{
	int TW = s->TW, len = (int)wino_row_floats(TW);
	for (int oh = 0; oh < 4 * s->TH; oh++)
		wino_pad_row(plane + (size_t)oh * len, oh < s->OH ? dy + (size_t)oh * s->OW : NULL,
			     s->OW, 0, len);
	for (int oh = 0; oh < 4 * s->TH; oh++) {
		int th = oh >> 2, u = oh & 3;
		const float *row = plane + (size_t)oh * len;
		float *p[4];
		for (int v = 0; v < 4; v++)
			p[v] = D + (size_t)(u * 4 + v) * ld + (size_t)th * TW;
		wino_split(p, 4, row, TW);
	}
}

/*
 * One output plane y (OH, OW) from its tiles' phases O[u*4 + v][th*TW + tw]
 * (rows ld apart), plus bias when not NULL; partial tiles are cropped.
 */
WINO_VECTOR static void
wino_scatter_tiles(float *y, const float *O, size_t ld, const struct wino_shape *s,
		   const float *bias, float *plane)
{
	int TW = s->TW, len = (int)wino_row_floats(TW);
	for (int oh = 0; oh < s->OH; oh++) {
		const float *e[4];
		for (int v = 0; v < 4; v++)
			e[v] = O + (size_t)((oh & 3) * 4 + v) * ld + (size_t)(oh >> 2) * TW;
		wino_merge4(plane + (size_t)oh * len, e, TW);
	}
	for (int oh = 0; oh < s->OH; oh++) {
		const float *row = plane + (size_t)oh * len;
		float *dst = y + (size_t)oh * s->OW;
		if (bias) {
			float b = *bias;
#pragma omp simd
			for (int ow = 0; ow < s->OW; ow++)
				dst[ow] = row[ow] + b;
		} else {
			memcpy(dst, row, sizeof(float) * (size_t)s->OW);
		}
	}
}

/*
 * dx (H, W) of one image plane += its patches' gradients R[r*6 + k]
 * [th*TW + tw] (rows ld apart), added at the patches' places (the adjoint of
 * wino_gather_patches); padding is dropped.
 */
WINO_VECTOR static void
wino_scatter_patches(float *dx, const float *R, size_t ld, const struct wino_shape *s,
		     float *plane)
{
	int TW = s->TW, len = (int)wino_row_floats(TW);
	for (int y = 0; y < s->H; y++) {
		int Y = y + s->pad, th = Y >> 2, r = Y & 3;
		/* row r of tile row th and, for r < 2, row r + 4 of tile row th - 1 */
		const float *e[2][6];
		int m = 0;
		for (int pass = 0; pass < 2; pass++) {
			int rr = pass ? r + 4 : r, t = pass ? th - 1 : th;
			if (t < 0 || t >= s->TH || rr >= 6)
				continue;
			for (int k = 0; k < 6; k++)
				e[m][k] = R + (size_t)(rr * 6 + k) * ld + (size_t)t * TW;
			m++;
		}
		wino_merge6(plane + (size_t)y * len, e[0], m > 1 ? e[1] : NULL, TW);
	}
	for (int y = 0; y < s->H; y++) {
		float *dst = dx + (size_t)y * s->W;
		const float *src = plane + (size_t)y * len + s->pad;
#pragma omp simd
		for (int x = 0; x < s->W; x++)
			dst[x] += src[x];
	}
}

/* ---- transforms of one channel of a chunk ---- */

/*
 * Input transform of channel c of a chunk of nb images, x the channel's
 * plane (H, W) in the first image, consecutive images in_sz floats apart:
 * V[xi][c][i*TT + t] = (B^T d B)[xi], d the 6x6 input patch of tile t of
 * image i.
 */
static void
wino_input_chunk(float *V, const float *x, size_t in_sz, const struct wino_shape *s, int nb,
		 int c, float *buf)
{
	int n = nb * s->TT;
	size_t ld = s->tcb;
	float *D = buf, *tmp = D + WINO_XI * ld, *plane = tmp + WINO_XI * ld;
	for (int i = 0; i < nb; i++)
		wino_gather_patches(D + (size_t)i * s->TT, ld, x + (size_t)i * in_sz, s, plane);
	/* rows: tmp[r*6 + j] = (d B)[r][j] */
	for (int r = 0; r < 6; r++) {
		const float *d[6];
		float *o[6];
		for (int k = 0; k < 6; k++) {
			d[k] = D + (size_t)(r * 6 + k) * ld;
			o[k] = tmp + (size_t)(r * 6 + k) * ld;
		}
		wino_bt(o, d, n);
	}
	/* columns: V[i*6 + j] = (B^T tmp)[i][j] */
	for (int j = 0; j < 6; j++) {
		const float *d[6];
		float *o[6];
		for (int i = 0; i < 6; i++) {
			d[i] = tmp + (size_t)(i * 6 + j) * ld;
			o[i] = V + ((size_t)(i * 6 + j) * s->C + c) * s->tc;
		}
		wino_bt(o, d, n);
	}
}

/*
 * Output transform of channel oc of a chunk of nb images: the planes
 * y (OH, OW) of consecutive images, out_sz floats apart, = A^T M A + bias,
 * where M is M[xi][oc][i*TT + t].
 */
static void
wino_output_chunk(float *y, size_t out_sz, const float *M, const struct wino_shape *s, int nb,
		  int oc, const float *bias, float *buf)
{
	int n = nb * s->TT;
	size_t ld = s->tcb;
	float *tmp = buf, *O = tmp + 24 * ld, *plane = tmp + 2 * WINO_XI * ld;
	/* columns: tmp[u*6 + j] = (A^T M)[u][j], u < 4 */
	for (int j = 0; j < 6; j++) {
		const float *d[6];
		float *o[4];
		for (int i = 0; i < 6; i++)
			d[i] = M + ((size_t)(i * 6 + j) * s->OC + oc) * s->tc;
		for (int u = 0; u < 4; u++)
			o[u] = tmp + (size_t)(u * 6 + j) * ld;
		wino_at(o, d, n);
	}
	/* rows: O[u*4 + v] = (tmp A)[u][v], the output phase (u, v) of every tile */
	for (int u = 0; u < 4; u++) {
		const float *d[6];
		float *o[4];
		for (int j = 0; j < 6; j++)
			d[j] = tmp + (size_t)(u * 6 + j) * ld;
		for (int v = 0; v < 4; v++)
			o[v] = O + (size_t)(u * 4 + v) * ld;
		wino_at(o, d, n);
	}
	for (int i = 0; i < nb; i++)
		wino_scatter_tiles(y + (size_t)i * out_sz, O + (size_t)i * s->TT, ld, s, bias, plane);
}

/*
 * Transform of channel oc of the output gradient of a chunk of nb images,
 * dy the channel's plane (OH, OW) in the first image, consecutive images
 * out_sz floats apart: Z[xi][oc][i*TT + t] = (A dy_t A^T)[xi], dy_t the 4x4
 * tile t of image i, zero beyond the output's edges.
 */
static void
wino_grad_chunk(float *Z, const float *dy, size_t out_sz, const struct wino_shape *s, int nb,
		int oc, float *buf)
{
	int n = nb * s->TT;
	size_t ld = s->tcb;
	float *D = buf, *tmp = D + 16 * ld, *plane = buf + 2 * WINO_XI * ld;
	for (int i = 0; i < nb; i++)
		wino_gather_tiles(D + (size_t)i * s->TT, ld, dy + (size_t)i * out_sz, s, plane);
	/* rows: tmp[u*6 + j] = (dy A^T)[u][j] */
	for (int u = 0; u < 4; u++) {
		const float *d[4];
		float *o[6];
		for (int v = 0; v < 4; v++)
			d[v] = D + (size_t)(u * 4 + v) * ld;
		for (int j = 0; j < 6; j++)
			o[j] = tmp + (size_t)(u * 6 + j) * ld;
		wino_a(o, d, n);
	}
	/* columns: Z[i*6 + j] = (A tmp)[i][j] */
	for (int j = 0; j < 6; j++) {
		const float *d[4];
		float *o[6];
		for (int u = 0; u < 4; u++)
			d[u] = tmp + (size_t)(u * 6 + j) * ld;
		for (int i = 0; i < 6; i++)
			o[i] = Z + ((size_t)(i * 6 + j) * s->OC + oc) * s->tc;
		wino_a(o, d, n);
	}
}

/*
 * Input-gradient transform of channel c of a chunk of nb images: the planes
 * dx (H, W) of consecutive images, in_sz floats apart, += the sum over tiles
 * of B X_t B^T placed at each tile's input patch, X_t = X[xi][c][i*TT + t].
 */
static void
wino_dinput_chunk(float *dx, size_t in_sz, const float *X, const struct wino_shape *s, int nb,
		  int c, float *buf)
{
	int n = nb * s->TT;
	size_t ld = s->tcb;
	float *tmp = buf, *R = tmp + WINO_XI * ld, *plane = R + WINO_XI * ld;
	/* rows: tmp[i*6 + k] = (X B^T)[i][k] */
	for (int i = 0; i < 6; i++) {
		const float *d[6];
		float *o[6];
		for (int j = 0; j < 6; j++) {
			d[j] = X + ((size_t)(i * 6 + j) * s->C + c) * s->tc;
			o[j] = tmp + (size_t)(i * 6 + j) * ld;
		}
		wino_b(o, d, n);
	}
	/* columns: R[r*6 + k] = (B tmp)[r][k], element (r, k) of every tile's patch gradient */
	for (int k = 0; k < 6; k++) {
		const float *d[6];
		float *o[6];
		for (int r = 0; r < 6; r++) {
			d[r] = tmp + (size_t)(r * 6 + k) * ld;
			o[r] = R + (size_t)(r * 6 + k) * ld;
		}
		wino_b(o, d, n);
	}
	for (int i = 0; i < nb; i++)
		wino_scatter_patches(dx + (size_t)i * in_sz, R + (size_t)i * s->TT, ld, s, plane);
}

/* ---- weights ---- */

/* U[xi][q] = (G g_q G^T)[xi] for the OC*C kernels g_q = w[q] (3, 3); parallel loop. */
static void
wino_weights(float *U, const float *w, int n)
{
#pragma omp for schedule(static)
	for (int q = 0; q < n; q++) {
		const float *g = w + (size_t)q * 9;
		double gg[6][3]; /* G g */
		for (int i = 0; i < 6; i++)
			for (int kw = 0; kw < 3; kw++)
				gg[i][kw] = wino_g[i][0] * g[kw] + wino_g[i][1] * g[3 + kw] +
					    wino_g[i][2] * g[6 + kw];
		for (int i = 0; i < 6; i++)
			for (int j = 0; j < 6; j++)
				U[(size_t)(i * 6 + j) * n + q] =
					(float)(gg[i][0] * wino_g[j][0] + gg[i][1] * wino_g[j][1] +
						gg[i][2] * wino_g[j][2]);
	}
}

/*
 * dw[q] (3, 3) += G^T dU[.][q] G for the OC*C kernels, dU the sum of the
 * partial dU of threads 0..nt-1 in thread order; parallel loop.
 */
static void
wino_weight_grad(float *dw, const struct wino_shape *s, float *scratch, int nt)
{
	int n = s->OC * s->C;
#pragma omp for schedule(static)
	for (int q = 0; q < n; q++) {
		double m[6][6], mg[6][3];
		for (int xi = 0; xi < WINO_XI; xi++) {
			double acc = 0.0;
			for (int t = 0; t < nt; t++)
				acc += wino_slot_of(s, scratch, t).dU[(size_t)xi * n + q];
			m[xi / 6][xi % 6] = acc;
		}
		for (int i = 0; i < 6; i++)
			for (int kw = 0; kw < 3; kw++) {
				double acc = 0.0;
				for (int j = 0; j < 6; j++)
					acc += m[i][j] * wino_g[j][kw];
				mg[i][kw] = acc;
			}
		float *g = dw + (size_t)q * 9;
		for (int kh = 0; kh < 3; kh++)
			for (int kw = 0; kw < 3; kw++) {
				double acc = 0.0;
				for (int i = 0; i < 6; i++)
					acc += wino_g[i][kh] * mg[i][kw];
				g[kh * 3 + kw] = (float)((double)g[kh * 3 + kw] + acc);
			}
	}
}

/* Sum of x[0..n) over 16 fixed lanes (vectorises; order fixed). */
static float
wino_sum(const float *x, size_t n)
{
	float acc[16] = {0};
	size_t i = 0;
	for (; i + 16 <= n; i += 16)
		for (int j = 0; j < 16; j++)
			acc[j] += x[i + j];
	for (int j = 0; i < n; i++, j++)
		acc[j] += x[i];
	float s = 0.0f;
	for (int j = 0; j < 16; j++)
		s += acc[j];
	return s;
}

/* Threads for a batch of B images: at most one per image. */
static int
wino_threads(int B)
{
	int nt = wino_pool();
	return nt > B ? (B < 1 ? 1 : B) : nt;
}

/* The images [*lo, *hi) of thread t of nt: contiguous blocks, static. */
static void
wino_images(int *lo, int *hi, int B, int t, int nt)
{
	*lo = (int)((long)B * t / nt);
	*hi = (int)((long)B * (t + 1) / nt);
}

/* The arguments of a call, shared by the threads. */
struct wino_call {
	struct wino_shape s;
	int B;
	float *out, *dinp, *dw, *db, *scratch;
	const float *inp, *w, *b, *dout;
};

/*
 * Thread t of nt of a forward call. Run by each thread of a parallel region,
 * or alone outside any (nt == 1): the products then use the whole pool.
 */
static void
wino_forward_part(const struct wino_call *a, int t, int nt)
{
	const struct wino_shape *s = &a->s;
	int C = s->C, OC = s->OC, lo, hi;
	size_t in_sz = (size_t)C * s->H * s->W, plane = (size_t)s->OH * s->OW;
	size_t out_sz = OC * plane;
	float *U = a->scratch;
	struct wino_slot ws = wino_slot_of(s, a->scratch, t);
	wino_weights(U, a->w, OC * C); /* ends with a barrier */
	wino_images(&lo, &hi, a->B, t, nt);
	for (int b0 = lo; b0 < hi; b0 += s->nb) {
		int nb = hi - b0 < s->nb ? hi - b0 : s->nb, n = nb * s->TT;
		const float *x = a->inp + (size_t)b0 * in_sz;
		/* V (36, C, n) from the chunk's images */
		for (int c = 0; c < C; c++)
			wino_input_chunk(ws.V, x + (size_t)c * s->H * s->W, in_sz, s, nb, c, ws.buf);
		/* M[xi] (OC, n) = U[xi] (OC, C) @ V[xi] (C, n) */
		for (int xi = 0; xi < WINO_XI; xi++)
			gemm(0, 0, OC, n, C, 1.0f, U + (size_t)xi * OC * C, C,
			     ws.V + (size_t)xi * C * s->tc, (int)s->tc, 0.0f,
			     ws.Z + (size_t)xi * OC * s->tc, (int)s->tc);
		for (int oc = 0; oc < OC; oc++)
			wino_output_chunk(a->out + (size_t)b0 * out_sz + oc * plane, out_sz, ws.Z, s, nb,
					  oc, a->b ? a->b + oc : NULL, ws.buf);
	}
}

/* Thread t of nt of a backward call; as wino_forward_part. */
static void
wino_backward_part(const struct wino_call *a, int t, int nt)
{
	const struct wino_shape *s = &a->s;
	int C = s->C, OC = s->OC, B = a->B, lo, hi;
	size_t in_sz = (size_t)C * s->H * s->W, plane = (size_t)s->OH * s->OW;
	size_t out_sz = OC * plane;
	float *U = a->scratch, *dinp = a->dinp, *dw = a->dw, *db = a->db;
	struct wino_slot ws = wino_slot_of(s, a->scratch, t);
	if (dinp)
		wino_weights(U, a->w, OC * C); /* ends with a barrier */
	if (db) {
#pragma omp for schedule(static) nowait
		for (int oc = 0; oc < OC; oc++) {
			float acc = db[oc];
			for (int i = 0; i < B; i++)
				acc += wino_sum(a->dout + (size_t)i * out_sz + oc * plane, plane);
			db[oc] = acc;
		}
	}
	wino_images(&lo, &hi, B, t, nt);
	for (int b0 = lo; (dinp || dw) && b0 < hi; b0 += s->nb) {
		int nb = hi - b0 < s->nb ? hi - b0 : s->nb, n = nb * s->TT;
		const float *x = a->inp + (size_t)b0 * in_sz, *dy = a->dout + (size_t)b0 * out_sz;
		/* Z (36, OC, n) from dout and, for dw, V (36, C, n) from inp */
		for (int oc = 0; oc < OC; oc++)
			wino_grad_chunk(ws.Z, dy + oc * plane, out_sz, s, nb, oc, ws.buf);
		for (int c = 0; dw && c < C; c++)
			wino_input_chunk(ws.V, x + (size_t)c * s->H * s->W, in_sz, s, nb, c, ws.buf);
		for (int xi = 0; xi < WINO_XI; xi++) {
			const float *z = ws.Z + (size_t)xi * OC * s->tc;
			float *v = ws.V + (size_t)xi * C * s->tc;
			/* dU[xi] (OC, C) += Z[xi] (OC, n) @ V[xi]^T (n, C); the first chunk sets */
			if (dw)
				gemm(0, 1, OC, C, n, 1.0f, z, (int)s->tc, v, (int)s->tc,
				     b0 == lo ? 0.0f : 1.0f, ws.dU + (size_t)xi * OC * C, C);
			/* X[xi] (C, n) = U[xi]^T (C, OC) @ Z[xi] (OC, n), over V[xi] */
			if (dinp)
				gemm(1, 0, C, n, OC, 1.0f, U + (size_t)xi * OC * C, C, z, (int)s->tc,
				     0.0f, v, (int)s->tc);
		}
		for (int c = 0; dinp && c < C; c++)
			wino_dinput_chunk(dinp + (size_t)b0 * in_sz + (size_t)c * s->H * s->W, in_sz,
					  ws.V, s, nb, c, ws.buf);
	}
	if (dw) {
#pragma omp barrier
		wino_weight_grad(dw, s, a->scratch, nt);
	}
}

void
conv_winograd_forward(float *out, const float *inp, const float *w, const float *b, int B,
		      int C, int H, int W, int OC, int pad, float *scratch)
{
	/* out (B, OC, OH, OW), inp (B, C, H, W), w (OC, C, 3, 3), b (OC) or NULL */
	struct wino_call a = {.B = B, .out = out, .scratch = scratch, .inp = inp, .w = w, .b = b};
	wino_shape_init(&a.s, C, H, W, OC, pad);
	int nt = wino_threads(B);
	if (B < 1)
		return;
	if (nt == 1) {
		wino_forward_part(&a, 0, 1);
		return;
	}
#pragma omp parallel num_threads(nt)
	wino_forward_part(&a, omp_get_thread_num(), nt);
}

void
conv_winograd_backward(float *dinp, float *dw, float *db, const float *dout,
		       const float *inp, const float *w, int B, int C, int H, int W, int OC,
		       int pad, float *scratch)
{
	struct wino_call a = {.B = B,
			      .dinp = dinp,
			      .dw = dw,
			      .db = db,
			      .scratch = scratch,
			      .inp = inp,
			      .w = w,
			      .dout = dout};
	wino_shape_init(&a.s, C, H, W, OC, pad);
	int nt = wino_threads(B);
	if (B < 1)
		return;
	if (nt == 1) {
		wino_backward_part(&a, 0, 1);
		return;
	}
#pragma omp parallel num_threads(nt)
	wino_backward_part(&a, omp_get_thread_num(), nt);
}
