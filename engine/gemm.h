/*
 * gemm: single-precision matrix multiply, row-major, through CBLAS, plus a
 * plain reference implementation that the tests hold the fast path against.
 *
 *   C (M, N) = alpha * op(A) (M, K) * op(B) (K, N) + beta * C
 *
 * op(X) is X when trans == 0 and X^T otherwise. Leading dimensions are the row
 * strides of the matrices as stored: A is (M, K) with lda >= K, or (K, M) with
 * lda >= M when transposed; likewise B. When beta == 0, C is overwritten and
 * its previous contents (even NaN) are ignored.
 *
 * Invariants: the result for given inputs depends only on the thread count
 * (threads_init), never on scheduling; no element of C is ever a sum of
 * partial products computed by different threads.
 */
#ifndef QB_GEMM_H
#define QB_GEMM_H

/*
 * The fast multiply. Called outside an OpenMP parallel region it uses every
 * thread of the pool (OpenBLAS's threading for large products, a split of C
 * across threads with single-threaded BLAS calls for small ones); called from
 * inside a parallel region it runs on the calling thread alone. Never fails;
 * M, N or K of 0 are allowed (K == 0 scales C by beta).
 */
void gemm(int transa, int transb, int M, int N, int K, float alpha, const float *A, int lda,
	  const float *B, int ldb, float beta, float *C, int ldc);

/*
 * The same product as a plain triple loop accumulating in double; slow, for
 * tests only. Same arguments and beta == 0 semantics as gemm().
 */
void gemm_ref(int transa, int transb, int M, int N, int K, float alpha, const float *A, int lda,
	      const float *B, int ldb, float beta, float *C, int ldc);

#endif
