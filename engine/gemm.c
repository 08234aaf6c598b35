/*
 * gemm: row-major SGEMM through CBLAS (OpenBLAS) and a plain reference.
 *
 * Threading. OpenBLAS's OpenMP build runs a call made inside an active
 * parallel region on the calling thread, and a call made outside on
 * omp_get_max_threads() threads of libgomp's pool (the pool our own loops use,
 * so the two never compete for cores). Its level-3 threading splits C into
 * blocks of rows and columns and never splits K, so every element of C is
 * computed by one thread in one order: results depend on the thread count
 * only. The same holds for the split done here.
 */
#include <cblas.h>
#include <omp.h>
#include <stddef.h>

#include "engine/gemm.h"

/*
 * Below this many multiply-adds (M*N*K) a product is split across the pool
 * here, one single-threaded BLAS call per block of C: measured on 2 cores,
 * OpenBLAS's own threading costs more than it saves on such sizes (e.g.
 * 128x10x256 runs 4x faster split), while on larger ones it is as good or
 * better (it shares packed panels between threads).
 */
#define GEMM_SPLIT_MAX_MACS (64.0 * 1024 * 1024)
/* Blocks of C are multiples of this many rows or columns (kernel-friendly). */
enum { GEMM_SPLIT_ALIGN = 16 };

static inline enum CBLAS_TRANSPOSE
cblas_trans(int t)
{
	return t ? CblasTrans : CblasNoTrans;
}

static void
gemm_blas(int transa, int transb, int M, int N, int K, float alpha, const float *A, int lda,
	  const float *B, int ldb, float beta, float *C, int ldc)
{
	cblas_sgemm(CblasRowMajor, cblas_trans(transa), cblas_trans(transb), M, N, K, alpha, A,
		    lda, B, ldb, beta, C, ldc);
}

/*
 * Number of blocks to split a side of `len` into for nt threads: each block
 * at least GEMM_SPLIT_ALIGN long. Depends on the sizes and nt only.
 */
static int
gemm_split_parts(int len, int nt)
{
	int parts = len / GEMM_SPLIT_ALIGN;
	return parts < nt ? (parts < 1 ? 1 : parts) : nt;
}

/* Start of block p of `parts` over [0, len), aligned to GEMM_SPLIT_ALIGN. */
static int
gemm_split_start(int len, int parts, int p)
{
	if (p >= parts)
		return len;
	long units = (len + GEMM_SPLIT_ALIGN - 1) / GEMM_SPLIT_ALIGN;
	int start = (int)(units * p / parts) * GEMM_SPLIT_ALIGN;
	return start < len ? start : len;
}

/*
 * C split into blocks of rows (when M >= N) or columns across the pool; each
 * thread makes one single-threaded BLAS call (OpenBLAS runs single-threaded
 * inside an active parallel region) on its block. Every element of C is
 * computed by exactly one call, over the whole of K.
 */
static void
gemm_split(int nt, int transa, int transb, int M, int N, int K, float alpha, const float *A,
	   int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
	int by_rows = M >= N;
	int len = by_rows ? M : N;
	int parts = gemm_split_parts(len, nt);
#pragma omp parallel num_threads(parts)
	{
		int p = omp_get_thread_num();
		int s = gemm_split_start(len, parts, p), e = gemm_split_start(len, parts, p + 1);
		if (e > s) {
			if (by_rows) {
				/* rows s..e of op(A) and of C */
				const float *a = transa ? A + s : A + (size_t)s * lda;
				gemm_blas(transa, transb, e - s, N, K, alpha, a, lda, B, ldb, beta,
					  C + (size_t)s * ldc, ldc);
			} else {
				/* columns s..e of op(B) and of C */
				const float *b = transb ? B + (size_t)s * ldb : B + s;
				gemm_blas(transa, transb, M, e - s, K, alpha, A, lda, b, ldb, beta,
					  C + s, ldc);
			}
		}
	}
}

void
gemm(int transa, int transb, int M, int N, int K, float alpha, const float *A, int lda,
     const float *B, int ldb, float beta, float *C, int ldc)
{
	if (M <= 0 || N <= 0)
		return;
	if (K <= 0) {
		/* an empty sum: C = beta * C (CBLAS would reject lda or ldb of 0) */
		for (int i = 0; i < M; i++)
			for (int j = 0; j < N; j++) {
				float *c = &C[(size_t)i * ldc + j];
				*c = beta == 0.0f ? 0.0f : beta * *c;
			}
		return;
	}
	int nt = omp_in_parallel() ? 1 : omp_get_max_threads();
	/* a BLAS not threaded by OpenMP runs on one thread (threads_init): split always */
	int small = (double)M * N * K <= GEMM_SPLIT_MAX_MACS || openblas_get_parallel() != 2;
	if (nt > 1 && small && gemm_split_parts(M >= N ? M : N, nt) > 1) {
		gemm_split(nt, transa, transb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
		return;
	}
	gemm_blas(transa, transb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void
gemm_ref(int transa, int transb, int M, int N, int K, float alpha, const float *A, int lda,
	 const float *B, int ldb, float beta, float *C, int ldc)
{
	for (int i = 0; i < M; i++) {
		for (int j = 0; j < N; j++) {
			double s = 0.0;
			for (int k = 0; k < K; k++) {
				/* op(A)[i][k] and op(B)[k][j] */
				double a = transa ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
				double b = transb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
				s += a * b;
			}
			float *c = &C[(size_t)i * ldc + j];
			double prev = beta == 0.0f ? 0.0 : (double)beta * *c;
			*c = (float)((double)alpha * s + prev);
		}
	}
}
