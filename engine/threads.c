/*
 * threads: thread count of the OpenMP pool and of OpenBLAS, and a description
 * of the BLAS build for run records and benchmarks.
 *
 * Invariant: after threads_init(n), omp_get_max_threads() == n, and BLAS uses
 * n threads when called outside a parallel region with the OpenMP variant
 * (OpenBLAS follows omp_get_max_threads() there), 1 thread otherwise.
 */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "engine/threads.h"

/* openblas_get_parallel(): 0 sequential build, 1 pthreads, 2 OpenMP. */
static const char *const blas_parallel_names[] = {"sequential", "pthreads", "OpenMP"};

int
threads_init(int n)
{
	if (n <= 0) {
		/* OMP_NUM_THREADS (the sweep runner sets it for its workers), else the cores */
		const char *env = getenv("OMP_NUM_THREADS");
		n = env && atoi(env) > 0 ? omp_get_max_threads() : omp_get_num_procs();
	}
	if (n < 1)
		n = 1;
	omp_set_num_threads(n);
#ifdef HAVE_OPENBLAS_SET_NUM_THREADS
	/* A pthreads OpenBLAS has its own pool: keep it to one thread so that it
	 * never competes with ours; gemm() splits products across our pool. */
	openblas_set_num_threads(openblas_get_parallel() == 2 ? n : 1);
#endif
	return n;
}

int
threads_count(void)
{
	return omp_get_max_threads();
}

char *
threads_blas_info(char *buf, size_t n)
{
	if (n == 0)
		return buf;
	int par = openblas_get_parallel();
	const char *par_name = par >= 0 && par < 3 ? blas_parallel_names[par] : "unknown";
	const char *core = "unknown";
#ifdef HAVE_OPENBLAS_GET_CORENAME
	core = openblas_get_corename();
#endif
	const char *coretype = getenv("OPENBLAS_CORETYPE");
	const char *wait = getenv("OMP_WAIT_POLICY");
	snprintf(buf, n, "%s; core %s; %s threading; %d threads; OPENBLAS_CORETYPE %s%s; "
		 "OMP_WAIT_POLICY %s",
		 openblas_get_config(), core ? core : "unknown", par_name, threads_count(),
		 coretype ? "=" : "unset", coretype ? coretype : "", wait ? wait : "default");
	return buf;
}
