/*
 * bench: qbench's speed report (`make bench`).
 *
 * Measures, on this machine and in this environment:
 *  - the BLAS library and kernel that ran, and its peak: the best sgemm
 *    GFLOP/s over large square products ("OpenBLAS peak"), next to the
 *    theoretical FP32 peak when QB_PEAK_GFLOPS gives it;
 *  - engine GEMM (engine/gemm.h) on the shapes the zoo's layers use, as a
 *    fraction of that peak;
 *  - training (batch 128) and inference (batch 256) images/s of the zoo
 *    models on Fashion-MNIST, through the same train_run/train_evaluate that
 *    `qbench train` uses.
 * Every figure printed is measured here; nothing is typed in.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/data.h"
#include "engine/gemm.h"
#include "engine/model.h"
#include "engine/threads.h"
#include "engine/train.h"
#include "engine/util.h"

/* Runs fn until at least min_s seconds have passed; returns calls per second. */
static double
bench_rate(void (*fn)(void *), void *arg, double min_s)
{
	fn(arg); /* warm-up */
	long calls = 0;
	double t0 = util_now(), t;
	do {
		fn(arg);
		calls++;
		t = util_now() - t0;
	} while (t < min_s);
	return (double)calls / t;
}

struct gemm_case {
	const char *what;
	int transa, transb, M, N, K;
	float *A, *B, *C;
};

static void
gemm_call(void *arg)
{
	struct gemm_case *g = arg;
	int lda = g->transa ? g->M : g->K;
	int ldb = g->transb ? g->K : g->N;
	gemm(g->transa, g->transb, g->M, g->N, g->K, 1.0f, g->A, lda, g->B, ldb, 0.0f, g->C, g->N);
}

static double
gemm_gflops(struct gemm_case *g)
{
	size_t na = (size_t)g->M * g->K, nb = (size_t)g->K * g->N, nc = (size_t)g->M * g->N;
	g->A = xalloc_floats(na);
	g->B = xalloc_floats(nb);
	g->C = xalloc_floats(nc);
	for (size_t i = 0; i < na; i++)
		g->A[i] = (float)((i * 7) % 13) * 0.01f;
	for (size_t i = 0; i < nb; i++)
		g->B[i] = (float)((i * 5) % 11) * 0.01f;
	double rate = bench_rate(gemm_call, g, 0.5);
	xfree_aligned(g->A);
	xfree_aligned(g->B);
	xfree_aligned(g->C);
	return rate * 2.0 * g->M * g->N * g->K / 1e9;
}

static void
bench_gemm(double *peak_out)
{
	char info[512];
	printf("BLAS: %s\n", threads_blas_info(info, sizeof info));
	double peak = 0;
	static const int squares[] = {1024, 2048, 3072};
	for (size_t i = 0; i < sizeof squares / sizeof squares[0]; i++) {
		int n = squares[i];
		struct gemm_case g = {"square", 0, 0, n, n, n, NULL, NULL, NULL};
		double gf = gemm_gflops(&g);
		printf("  sgemm %5d^3                     %8.1f GFLOP/s\n", n, gf);
		if (gf > peak)
			peak = gf;
	}
	printf("  OpenBLAS peak (best of the above)  %8.1f GFLOP/s\n", peak);
	const char *theo = getenv("QB_PEAK_GFLOPS");
	if (theo && atof(theo) > 0)
		printf("  theoretical FP32 peak (QB_PEAK_GFLOPS) %5.1f GFLOP/s: OpenBLAS reaches %.0f%%\n",
		       atof(theo), 100.0 * peak / atof(theo));

	/* The products behind the zoo's heaviest layers at batch 128 (im2col layout). */
	struct gemm_case shapes[] = {
		{"cnn conv2 fwd   W(64x288)*col", 0, 0, 64, 128 * 576, 288, NULL, NULL, NULL},
		{"cnn conv2 dW    dout*col^T", 0, 1, 64, 288, 128 * 576, NULL, NULL, NULL},
		{"cnn conv2 dcol  W^T*dout", 1, 0, 288, 128 * 576, 64, NULL, NULL, NULL},
		{"cnn fc1 fwd     x*W^T", 0, 1, 128, 128, 9216, NULL, NULL, NULL},
		{"mlp fc1 fwd     x*W^T", 0, 1, 128, 256, 784, NULL, NULL, NULL},
		{"mlp fc1 dW      dout^T*x", 1, 0, 256, 784, 128, NULL, NULL, NULL},
		{"mlp fc2 fwd     x*W^T", 0, 1, 128, 256, 256, NULL, NULL, NULL},
	};
	printf("  engine gemm on layer shapes (M x N x K):\n");
	for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
		struct gemm_case *g = &shapes[i];
		double gf = gemm_gflops(g);
		printf("    %-30s %5d x %6d x %6d %8.1f GFLOP/s %5.0f%% of peak\n", g->what, g->M,
		       g->N, g->K, gf, 100.0 * gf / peak);
	}
	*peak_out = peak;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/*
 * Trains arch for one epoch over train (a slice of the training set) BENCH_TRIALS
 * times from the same initial weights, then times inference over the whole test
 * set as often; prints the median and the best of each. Shared vCPUs make single
 * timings swing by 2x, so the median is the figure to quote, the best the
 * machine's capability.
 */
#define BENCH_TRIALS 3
static int
bench_model(const char *arch, const struct dataset *train, const struct dataset *test)
{
	char *cause = NULL;
	struct model *m = model_new(arch, train->c, train->h, train->w, train->classes, 1, &cause);
	if (!m) {
		fprintf(stderr, "bench: %s\n", cause);
		free(cause);
		return -1;
	}
	struct train_opts o;
	train_opts_default(&o);
	o.epochs = 1;
	o.batch = 128;
	o.lr = 0.01;
	o.warmup = 0;
	double tr[BENCH_TRIALS], inf[BENCH_TRIALS];
	for (int t = 0; t < BENCH_TRIALS; t++) {
		struct train_result r;
		if (train_run(m, train, NULL, &o, NULL, &r, &cause) < 0) {
			fprintf(stderr, "bench: %s: %s\n", arch, cause);
			free(cause);
			model_free(m);
			return -1;
		}
		tr[t] = r.images_per_s;
		double loss, acc;
		train_evaluate(m, test, 256, LOSS_XENT, NULL, &loss, &acc, &inf[t], NULL);
	}
	qsort(tr, BENCH_TRIALS, sizeof tr[0], cmp_double);
	qsort(inf, BENCH_TRIALS, sizeof inf[0], cmp_double);
	printf("  %-9s %9.0f %9.0f %11.0f %9.0f %10.1f   (%d x %d images; infer %d)\n", arch,
	       tr[BENCH_TRIALS / 2], tr[BENCH_TRIALS - 1], inf[BENCH_TRIALS / 2],
	       inf[BENCH_TRIALS - 1], 2.0 * (double)model_macs(m) / 1e6, BENCH_TRIALS, train->n,
	       test->n);
	model_free(m);
	return 0;
}

int
main(int argc, char **argv)
{
	int threads = threads_init(0);
	const char *only = argc > 1 ? argv[1] : NULL;
	printf("qbench bench: %d threads%s%s\n", threads, getenv("OPENBLAS_CORETYPE") ? ", OPENBLAS_CORETYPE=" : "",
	       getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : "");
	double peak = 0;
	if (!only || strcmp(only, "gemm") == 0)
		bench_gemm(&peak);
	if (only && strcmp(only, "gemm") == 0)
		return 0;

	char *cause = NULL;
	struct dataset *train = NULL, *test = NULL;
	if (dataset_load(&train, "fmnist", DATA_TRAIN, 0, &cause) < 0 ||
	    dataset_load(&test, "fmnist", DATA_TEST, 0, &cause) < 0) {
		fprintf(stderr, "bench: %s\n", cause);
		free(cause);
		dataset_free(train);
		return 1;
	}
	printf("Models on Fashion-MNIST, images/s (train batch 128, inference batch 256):\n");
	printf("  %-9s %9s %9s %11s %9s %10s\n", "model", "train med", "best", "infer med", "best",
	       "MFLOP/img");
	/* Each trial trains for a few seconds: the whole epoch, or a slice for slow models. */
	static const struct {
		const char *arch;
		int images;
	} models[] = {{"mlp", 0}, {"lenet5", 0}, {"cnn", 12800}, {"resnet20", 2560}};
	int rc = 0;
	for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
		if (only && strcmp(only, models[i].arch) != 0)
			continue;
		struct dataset part = *train;
		if (models[i].images > 0 && models[i].images < part.n)
			part.n = models[i].images;
		rc |= bench_model(models[i].arch, &part, test) < 0;
	}
	dataset_free(train);
	dataset_free(test);
	return rc;
}
