/*
 * test_gemm: gemm() agrees with the plain double-accumulating gemm_ref() for
 * all four transpose combinations, odd and padded shapes, several alpha/beta
 * (beta == 0 ignores NaN in C), with 1 and 2 threads, and is bit-identical
 * from run to run for a given thread count.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/gemm.h"
#include "engine/rng.h"
#include "engine/threads.h"
#include "engine/util.h"
#include "tests/unit/tap.h"

struct shape {
	int M, N, K;
};

static const struct shape shapes[] = {
	{1, 1, 1},     {7, 5, 3},     {37, 29, 53},   {64, 3, 200},	 {3, 70, 9},
	{128, 256, 33}, {128, 10, 256}, {256, 784, 128}, {128, 256, 784}, {5, 6, 0},
};

static void
fill(float *x, size_t n, struct rng *r)
{
	for (size_t i = 0; i < n; i++)
		x[i] = 2.0f * rng_uniform(r) - 1.0f;
}

/* One case: returns nothing, reports one TAP check comparing against gemm_ref. */
static void
check_case(const struct shape *s, int ta, int tb, float alpha, float beta, int nan_c, int pad,
	   int nthreads, struct rng *r)
{
	int M = s->M, N = s->N, K = s->K;
	/* stored A is (M, K) or (K, M), B is (K, N) or (N, K); rows padded by `pad` */
	int arows = ta ? K : M, acols = ta ? M : K;
	int brows = tb ? N : K, bcols = tb ? K : N;
	int lda = (acols > 0 ? acols : 1) + pad, ldb = (bcols > 0 ? bcols : 1) + pad;
	int ldc = N + pad;
	size_t na = (size_t)arows * lda + 1, nb = (size_t)brows * ldb + 1, nc = (size_t)M * ldc;
	float *A = xmalloc(na * sizeof(float));
	float *Bm = xmalloc(nb * sizeof(float));
	float *C = xmalloc((nc + 1) * sizeof(float));
	float *Cref = xmalloc((nc + 1) * sizeof(float));
	fill(A, na, r);
	fill(Bm, nb, r);
	fill(C, nc + 1, r);
	if (nan_c) /* the M x N result only: padding must stay untouched and finite */
		for (int i = 0; i < M; i++)
			for (int j = 0; j < N; j++)
				C[(size_t)i * ldc + j] = NAN;
	memcpy(Cref, C, (nc + 1) * sizeof(float));

	gemm(ta, tb, M, N, K, alpha, A, lda, Bm, ldb, beta, C, ldc);
	gemm_ref(ta, tb, M, N, K, alpha, A, lda, Bm, ldb, beta, Cref, ldc);
	/* terms are products of values in [-1, 1]: float rounding grows with K */
	double atol = 1e-6 * (K + 1) * (fabs(alpha) + 1.0) + 1e-6 * fabs(beta);
	char name[160];
	tap_near_arrays(C, Cref, nc + 1, atol, 1e-5,
			"%s", TAP_NAME(name, "gemm %c%c M=%d N=%d K=%d alpha=%g beta=%g%s pad=%d "
					     "threads=%d",
				       ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, alpha, beta,
				       nan_c ? " (NaN C)" : "", pad, nthreads));
	free(A);
	free(Bm);
	free(C);
	free(Cref);
}

/* gemm twice on the same inputs gives the same bits. */
static void
check_repeatable(int M, int N, int K, int nthreads, struct rng *r)
{
	float *A = xmalloc((size_t)M * K * sizeof(float));
	float *Bm = xmalloc((size_t)K * N * sizeof(float));
	float *C1 = xmalloc((size_t)M * N * sizeof(float));
	float *C2 = xmalloc((size_t)M * N * sizeof(float));
	fill(A, (size_t)M * K, r);
	fill(Bm, (size_t)K * N, r);
	gemm(0, 1, M, N, K, 1.0f, A, K, Bm, K, 0.0f, C1, N);
	gemm(0, 1, M, N, K, 1.0f, A, K, Bm, K, 0.0f, C2, N);
	tap_same_floats(C1, C2, (size_t)M * N, "gemm %dx%dx%d repeatable with %d threads", M, N,
			K, nthreads);
	free(A);
	free(Bm);
	free(C1);
	free(C2);
}

int
main(void)
{
	struct rng r;
	rng_seed(&r, 1234);
	char info[512];
	tap_diag("%s", threads_blas_info(info, sizeof(info)));

	static const int thread_counts[] = {1, 2};
	for (size_t t = 0; t < sizeof(thread_counts) / sizeof(thread_counts[0]); t++) {
		int nt = threads_init(thread_counts[t]);
		tap_eq_int(threads_count(), nt, "threads_init(%d) takes effect", thread_counts[t]);
		for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
			for (int ta = 0; ta < 2; ta++)
				for (int tb = 0; tb < 2; tb++)
					check_case(&shapes[i], ta, tb, 1.0f, 0.0f, 0, 0, nt, &r);
		for (int ta = 0; ta < 2; ta++)
			for (int tb = 0; tb < 2; tb++) {
				check_case(&shapes[2], ta, tb, 0.5f, -1.5f, 0, 3, nt, &r);
				check_case(&shapes[7], ta, tb, -2.0f, 1.0f, 0, 1, nt, &r);
				check_case(&shapes[2], ta, tb, 1.0f, 0.0f, 1, 2, nt, &r);
			}
		check_repeatable(128, 256, 784, nt, &r);
		check_repeatable(256, 784, 128, nt, &r);
		check_repeatable(61, 1000, 300, nt, &r);
	}

	/* gemm_ref itself on a hand-computed product: [1 2; 3 4] @ [5 6; 7 8] */
	const float a[] = {1, 2, 3, 4}, b[] = {5, 6, 7, 8}, want[] = {19, 22, 43, 50};
	float c[4];
	gemm_ref(0, 0, 2, 2, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2);
	tap_same_floats(c, want, 4, "gemm_ref 2x2 by hand");
	/* K == 0: C = beta * C */
	float c0[2] = {2.0f, -4.0f}, w0[2] = {1.0f, -2.0f};
	gemm(0, 0, 1, 2, 0, 1.0f, a, 1, b, 2, 0.5f, c0, 2);
	tap_same_floats(c0, w0, 2, "gemm with K=0 scales C by beta");
	return tap_done();
}
