/*
 * threads: the one thread pool of the engine.
 *
 * Every parallel loop of the engine (OpenMP) and every multi-threaded BLAS
 * call run on libgomp's pool: the build links OpenBLAS's OpenMP variant, whose
 * worker threads are libgomp's own. The engine never calls BLAS with more than
 * one thread from inside a parallel region, so there is never more than one
 * runnable worker per thread of the pool. With another OpenBLAS variant
 * (its own pthreads pool), threads_init() pins BLAS to one thread and the
 * engine's GEMM splits products across the OpenMP pool itself.
 *
 * Idle workers spin for a short while (libgomp's default OMP_WAIT_POLICY)
 * before sleeping, which keeps the start of back-to-back parallel regions
 * cheap; since BLAS uses the same workers, no second pool spins against them.
 */
#ifndef QB_THREADS_H
#define QB_THREADS_H

#include <stddef.h>

/*
 * Sets the number of threads used by the engine's OpenMP loops and by BLAS.
 * n <= 0 means $OMP_NUM_THREADS when it is set, else one per available core.
 * Call it outside any parallel region
 * (scratch sizes of layers do not depend on it, so it may change between
 * calls). Returns the thread count now in effect. Never fails.
 */
int threads_init(int n);

/* The thread count the next parallel region will use (>= 1). */
int threads_count(void);

/*
 * Writes a one-line, NUL-terminated description of the BLAS library into
 * buf (at most n bytes, truncated if needed): build configuration, the kernel
 * (core) chosen at run time, its threading model (sequential, pthreads or
 * OpenMP), the thread count, and whether OPENBLAS_CORETYPE or OMP_WAIT_POLICY
 * override the defaults. Returns buf. Never fails.
 */
char *threads_blas_info(char *buf, size_t n);

#endif
