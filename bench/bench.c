/*
 * bench: qbench's speed report (`make bench`).
 *
 * Measures, on this machine and in this environment:
 *  - the BLAS library and kernel that ran, and its peak: the best sgemm
 *    GFLOP/s over large square products ("OpenBLAS peak"), next to the
 *    theoretical FP32 peak when QB_PEAK_GFLOPS gives it;
 *  - engine GEMM (engine/gemm.h) on the shapes the zoo's layers use, as a
 *    fraction of that peak;
 *  - quantizer throughput (engine/quant/quant.h): forward and backward
 *    elements/s of each scheme on a 1M-element tensor, and the forward
 *    speed-up of the optimised path over the scalar _ref path;
 *  - post-training quantization primitives: clipping methods, OCS splitting
 *    of the cnn's largest layer, AdaRound's soft rounding and the
 *    AQuant-style border, in elements/s;
 *  - the sweep runner's overhead per point: wall time of `qbench sweep -j 1`
 *    over many trivial points (an evaluation of 16 images) minus the time the
 *    jobs themselves report, i.e. spawning the worker, opening the database,
 *    claiming, loading, and recording the results;
 *  - the workbench: one redraw of the Runs screen (200x60, full repaint)
 *    over a database of 10,000 runs;
 *  - training (batch 128) and inference (batch 256) images/s of the zoo
 *    models on Fashion-MNIST, and of the cnn under quantization-aware
 *    training (uniform W4A4, APoT W3A3, LCQ W2A2, QNN W1A1), through the
 *    same train_run/train_evaluate that `qbench train` uses.
 * Every figure printed is measured here; nothing is typed in.
 *
 * Usage: bench [gemm | quant | ptq | runner | tui | models | MODEL]: no argument runs every
 * section (`make bench`); a section name runs that one, a zoo model name the
 * models section for that model alone. `bench --help` lists the sections.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "engine/data.h"
#include "engine/gemm.h"
#include "engine/io_h5.h"
#include "engine/model.h"
#include "engine/ptq/clip.h"
#include "engine/ptq/ocs.h"
#include "engine/ptq/round.h"
#include "engine/quant/qat.h"
#include "engine/quant/quant.h"
#include "engine/rng.h"
#include "engine/threads.h"
#include "engine/train.h"
#include "engine/util.h"
#include "app/tui/tui.h"
#include "db/db.h"
#include "tests/unit/testdata.h"

/* Calls fn until at least min_s seconds have passed (no warm-up); returns calls per second. */
static double
bench_loop(void (*fn)(void *), void *arg, double min_s)
{
	long calls = 0;
	double t0 = util_now(), t;
	do {
		fn(arg);
		calls++;
		t = util_now() - t0;
	} while (t < min_s);
	return (double)calls / t;
}

/* Runs fn once to warm up, then until at least min_s seconds have passed; returns calls per second. */
static double
bench_rate(void (*fn)(void *), void *arg, double min_s)
{
	fn(arg);
	return bench_loop(fn, arg, min_s);
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
 * Quantizer throughput. Each case quantizes one tensor of QBENCH_N floats, the
 * size of a 1024x1024 weight matrix or of a batch of activations: weights are
 * N(0, 1) draws (the normalised weights the schemes expect) with clip alpha
 * 1.5, activations relu(N(0, 1)) with alpha 3; binarized activations are
 * N(0, 1), as the signed hardtanh outputs a BNN binarizes. Upstream
 * gradients are N(0, 1). Each figure is the median of QBENCH_TRIALS timings
 * of QBENCH_MIN_S seconds after one warm-up call, in elements per second;
 * backward includes quant_zero_grad, as in one training step. The trials of
 * forward, backward and forward _ref take turns, so that a burst of load from
 * another process on shared vCPUs lands on one trial of each path rather than
 * on every trial of one, and the speed-up compares like with like.
 */
#define QBENCH_N ((size_t)1 << 20)
#define QBENCH_TRIALS 5
#define QBENCH_MIN_S 0.025

enum qbench_data { QBENCH_NORMAL, QBENCH_RELU };

struct qbench_case {
	struct quant_config cfg; /* is_signed -1: signedness from the role */
	enum qbench_data data;
	int training;            /* forward in training mode (qnn stoch draws) */
	const char *note;        /* shown after alpha, or NULL */
};

#define QB_W QUANT_ROLE_WEIGHT
#define QB_A QUANT_ROLE_ACT
static const struct qbench_case qbench_cases[] = {
	{{.scheme = "uniform", .variant = "lsq", .bits = 4, .role = QB_W, .alpha = 1.5f,
	  .is_signed = -1, .grad_scale = 1}, QBENCH_NORMAL, 0, "per tensor"},
	{{.scheme = "uniform", .variant = "lsq", .bits = 4, .role = QB_W, .alpha = 1.5f,
	  .channels = 64, .is_signed = -1, .grad_scale = 1}, QBENCH_NORMAL, 0, "64 channels"},
	{{.scheme = "uniform", .variant = "lsq", .bits = 8, .role = QB_A, .alpha = 3.0f,
	  .is_signed = -1, .grad_scale = 1}, QBENCH_RELU, 0, NULL},
	{{.scheme = "uniform", .variant = "clip", .bits = 4, .role = QB_W, .alpha = 1.5f,
	  .is_signed = -1}, QBENCH_NORMAL, 0, NULL},
	{{.scheme = "pot", .bits = 4, .role = QB_W, .alpha = 1.5f, .is_signed = -1},
	 QBENCH_NORMAL, 0, NULL},
	{{.scheme = "apot", .bits = 3, .role = QB_W, .alpha = 1.5f, .is_signed = -1},
	 QBENCH_NORMAL, 0, NULL},
	{{.scheme = "apot", .bits = 4, .role = QB_W, .alpha = 1.5f, .is_signed = -1},
	 QBENCH_NORMAL, 0, NULL},
	{{.scheme = "apot", .bits = 4, .role = QB_A, .alpha = 3.0f, .is_signed = -1},
	 QBENCH_RELU, 0, NULL},
	{{.scheme = "lcq", .bits = 2, .role = QB_W, .alpha = 1.5f, .is_signed = -1},
	 QBENCH_NORMAL, 0, "ternary"},
	{{.scheme = "lcq", .bits = 3, .role = QB_A, .alpha = 3.0f, .is_signed = -1},
	 QBENCH_RELU, 0, "companding"},
	{{.scheme = "lcq", .bits = 4, .role = QB_A, .alpha = 3.0f, .is_signed = -1},
	 QBENCH_RELU, 0, "companding"},
	{{.scheme = "qnn", .variant = "det", .bits = 1, .role = QB_W, .is_signed = -1},
	 QBENCH_NORMAL, 0, NULL},
	{{.scheme = "qnn", .variant = "stoch", .bits = 1, .role = QB_A, .is_signed = -1,
	  .seed = 1}, QBENCH_NORMAL, 1, "training"},
	{{.scheme = "qnn", .variant = "linear", .bits = 2, .role = QB_A, .alpha = 3.0f,
	  .is_signed = -1}, QBENCH_RELU, 0, NULL},
	{{.scheme = "qnn", .variant = "log", .bits = 4, .role = QB_W, .alpha = 1.5f,
	  .is_signed = -1}, QBENCH_NORMAL, 0, NULL},
};
#undef QB_W
#undef QB_A

/* One timed call's operands: x, dy, y, dx are (n). */
struct qbench_run {
	struct quant *q;
	const float *x, *dy;
	float *y, *dx;
	size_t n;
	int training;
};

static void
qbench_forward(void *arg)
{
	struct qbench_run *r = arg;
	quant_forward(r->q, r->y, r->x, r->n, r->training);
}

static void
qbench_forward_ref(void *arg)
{
	struct qbench_run *r = arg;
	quant_forward_ref(r->q, r->y, r->x, r->n, r->training);
}

/* dx accumulates over calls; it only grows by |dy| a call, far from overflow. */
static void
qbench_backward(void *arg)
{
	struct qbench_run *r = arg;
	quant_zero_grad(r->q);
	quant_backward(r->q, r->dx, r->dy, r->x, r->n);
}

/* The paths timed for each case, in the order their trials take turns. */
enum { QBENCH_FWD, QBENCH_BWD, QBENCH_REF, QBENCH_NPATHS };
static void (*const qbench_paths[QBENCH_NPATHS])(void *) = {
	[QBENCH_FWD] = qbench_forward,
	[QBENCH_BWD] = qbench_backward,
	[QBENCH_REF] = qbench_forward_ref,
};

/* rate[p] <- median elements/s of path p over QBENCH_TRIALS interleaved timings. */
static void
qbench_rates(double rate[QBENCH_NPATHS], struct qbench_run *r)
{
	double t[QBENCH_NPATHS][QBENCH_TRIALS];
	for (int p = 0; p < QBENCH_NPATHS; p++)
		qbench_paths[p](r); /* warm-up */
	for (int k = 0; k < QBENCH_TRIALS; k++)
		for (int p = 0; p < QBENCH_NPATHS; p++)
			t[p][k] = bench_loop(qbench_paths[p], r, QBENCH_MIN_S) * (double)r->n;
	for (int p = 0; p < QBENCH_NPATHS; p++) {
		qsort(t[p], QBENCH_TRIALS, sizeof t[p][0], cmp_double);
		rate[p] = t[p][QBENCH_TRIALS / 2];
	}
}

static int
bench_quant(int threads)
{
	size_t n = QBENCH_N;
	float *xn = xalloc_floats(n), *xr = xalloc_floats(n), *dy = xalloc_floats(n);
	float *y = xalloc_floats(n), *dx = xalloc_floats(n);
	struct rng g;
	rng_seed(&g, 1);
	for (size_t i = 0; i < n; i++) {
		xn[i] = rng_normal(&g);
		xr[i] = xn[i] > 0 ? xn[i] : 0.0f;
		dy[i] = rng_normal(&g);
		dx[i] = 0;
	}
	printf("Quantizers on %zu floats, Melem/s (median of %d; %d threads):\n", n, QBENCH_TRIALS,
	       threads);
	printf("  %-7s %-8s %-4s %-11s %-24s %8s %8s %8s %7s\n", "scheme", "variant", "bits",
	       "data", "setting", "forward", "backward", "fwd ref", "fwd/ref");
	int rc = 0;
	for (size_t i = 0; i < sizeof qbench_cases / sizeof qbench_cases[0]; i++) {
		const struct qbench_case *c = &qbench_cases[i];
		char *cause = NULL;
		struct quant *q;
		if (quant_new(&q, &c->cfg, &cause) < 0) {
			fprintf(stderr, "bench: %s\n", cause);
			free(cause);
			rc = -1;
			continue;
		}
		/* LCQ starts from theta = 0 (uniform); a sloped compander exercises every interval. */
		if (strcmp(c->cfg.scheme, "lcq") == 0)
			for (int k = 0; k < QUANT_LCQ_K; k++)
				q->theta[k] = 1.0f - 2.0f * (float)k / (float)(QUANT_LCQ_K - 1);
		struct qbench_run r = {q, c->data == QBENCH_RELU ? xr : xn, dy, y, dx, n,
				       c->training};
		double rate[QBENCH_NPATHS];
		qbench_rates(rate, &r);
		char bits[16], setting[64];
		snprintf(bits, sizeof bits, "%c%d", c->cfg.role == QUANT_ROLE_WEIGHT ? 'w' : 'a',
			 c->cfg.bits);
		if (c->cfg.alpha > 0)
			snprintf(setting, sizeof setting, "alpha %g%s%s", (double)c->cfg.alpha,
				 c->note ? ", " : "", c->note ? c->note : "");
		else
			snprintf(setting, sizeof setting, "%s", c->note ? c->note : "-");
		printf("  %-7s %-8s %-4s %-11s %-24s %8.1f %8.1f %8.1f %6.1fx\n", q->scheme->name,
		       q->scheme->variants[q->variant], bits,
		       c->data == QBENCH_RELU ? "relu N(0,1)" : "N(0,1)", setting,
		       rate[QBENCH_FWD] / 1e6, rate[QBENCH_BWD] / 1e6, rate[QBENCH_REF] / 1e6,
		       rate[QBENCH_FWD] / rate[QBENCH_REF]);
		quant_free(q);
	}
	xfree_aligned(xn);
	xfree_aligned(xr);
	xfree_aligned(dy);
	xfree_aligned(y);
	xfree_aligned(dx);
	return rc;
}

/* ---- post-training quantization primitives ---- */

struct pbench {
	const float *x, *dy;
	float *y, *dx, *v;
	size_t n;
	struct clip_spec clip;
	struct round_grid grid;
	struct round_border border;
	float tau;
	/* OCS */
	const float *w;
	float *ws;
	int32_t *ch;
	int O, I, K, splits;
};

static void
pb_clip(void *arg)
{
	struct pbench *b = arg;
	double a;
	clip_find(&b->clip, b->x, b->n, 4, &a, NULL, NULL);
}

static void
pb_ada_soft(void *arg)
{
	struct pbench *b = arg;
	round_ada_soft(b->y, b->x, b->v, b->n, &b->grid);
}

static void
pb_ada_back(void *arg)
{
	struct pbench *b = arg;
	round_ada_soft_backward(b->dx, b->dy, b->x, b->v, b->n, &b->grid);
}

static void
pb_border(void *arg)
{
	struct pbench *b = arg;
	round_border_forward(&b->border, b->y, b->x, b->n, b->tau);
}

static void
pb_border_back(void *arg)
{
	struct pbench *b = arg;
	round_border_backward(&b->border, b->dx, b->dy, b->x, b->n, b->tau);
}

static void
pb_ocs(void *arg)
{
	struct pbench *b = arg;
	ocs_split_weights(b->ws, b->ch, b->w, b->O, b->I, b->K, b->splits, OCS_SPLIT_QA, 20.0f);
}

/* Median rate (calls/s) of fn over QBENCH_TRIALS timings. */
static double
pb_rate(void (*fn)(void *), void *arg)
{
	double t[QBENCH_TRIALS];
	fn(arg);
	for (int k = 0; k < QBENCH_TRIALS; k++)
		t[k] = bench_loop(fn, arg, QBENCH_MIN_S);
	qsort(t, QBENCH_TRIALS, sizeof t[0], cmp_double);
	return t[QBENCH_TRIALS / 2];
}

static int
bench_ptq(void)
{
	size_t n = QBENCH_N;
	float *x = xalloc_floats(n), *dy = xalloc_floats(n), *y = xalloc_floats(n);
	float *dx = xalloc_floats(n), *v = xalloc_floats(n);
	struct rng g;
	rng_seed(&g, 2);
	for (size_t i = 0; i < n; i++) {
		x[i] = rng_normal(&g);
		dy[i] = rng_normal(&g);
		v[i] = rng_normal(&g);
		dx[i] = 0;
	}
	struct pbench b = {.x = x, .dy = dy, .y = y, .dx = dx, .v = v, .n = n};
	printf("\nPost-training quantization on %zu floats N(0,1), Melem/s (median of %d):\n", n,
	       QBENCH_TRIALS);
	static const char *const clips[] = {"max", "pct:99.99", "mse", "aciq", "kl"};
	for (size_t i = 0; i < sizeof clips / sizeof clips[0]; i++) {
		clip_parse(clips[i], &b.clip, NULL);
		printf("  clip %-10s (4 bits)            %9.1f\n", clips[i],
		       pb_rate(pb_clip, &b) * (double)n / 1e6);
	}
	float step = 0.25f;
	b.grid = (struct round_grid){.channels = 1, .scale = &step, .qmin = -8, .qmax = 7};
	printf("  adaround soft forward (w4)         %9.1f\n", pb_rate(pb_ada_soft, &b) * n / 1e6);
	printf("  adaround soft backward (w4)        %9.1f\n", pb_rate(pb_ada_back, &b) * n / 1e6);
	/* the cnn's conv2 input: 32 channels of 26x26, a 3-bit unsigned grid */
	enum { C = 32 };
	float steps[C];
	for (int c = 0; c < C; c++)
		steps[c] = 0.3f;
	b.border = (struct round_border){.kind = ROUND_BORDER_BIN, .plane = 26 * 26, .bins = 7};
	b.border.grid = (struct round_grid){.channels = C, .scale = steps, .qmin = 0, .qmax = 7};
	b.border.phi = xcalloc((size_t)C * 7, sizeof *b.border.phi);
	b.border.dphi = xcalloc((size_t)C * 7, sizeof *b.border.dphi);
	for (int k = 0; k < C * 7; k++)
		b.border.phi[k] = 0.3f * rng_normal(&g);
	size_t keep = b.n;
	b.n = (n / ((size_t)C * 676)) * C * 676;
	b.tau = 0;
	printf("  border forward, hard (a3)          %9.1f\n", pb_rate(pb_border, &b) * b.n / 1e6);
	b.tau = 0.1f;
	printf("  border forward, soft (a3)          %9.1f\n", pb_rate(pb_border, &b) * b.n / 1e6);
	printf("  border backward (a3)               %9.1f\n",
	       pb_rate(pb_border_back, &b) * b.n / 1e6);
	b.n = keep;
	/* OCS: the cnn's fc1 (128 x 9216), 5 % of its inputs split, quantization-aware */
	b.O = 128;
	b.I = 9216;
	b.K = 1;
	b.splits = ocs_split_count(0.05, b.I);
	float *w = xalloc_floats((size_t)b.O * b.I);
	for (size_t i = 0; i < (size_t)b.O * b.I; i++)
		w[i] = 0.05f * rng_normal(&g);
	b.w = w;
	b.ws = xalloc_floats((size_t)b.O * (b.I + b.splits));
	b.ch = xmalloc((size_t)b.splits * sizeof *b.ch);
	double r = pb_rate(pb_ocs, &b);
	printf("  ocs split 128x9216, %d splits (qa)  %9.1f  (%.1f ms per layer)\n", b.splits,
	       r * b.O * b.I / 1e6, 1e3 / r);
	free(b.border.phi);
	free(b.border.dphi);
	free(b.ch);
	xfree_aligned(b.ws);
	xfree_aligned(w);
	xfree_aligned(x);
	xfree_aligned(dy);
	xfree_aligned(y);
	xfree_aligned(dx);
	xfree_aligned(v);
	return 0;
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
bench_model(const char *arch, const struct qat_config *qc, const struct dataset *train,
	    const struct dataset *test)
{
	char *cause = NULL;
	struct model *m = model_new(arch, train->c, train->h, train->w, train->classes, 1, &cause);
	struct qat *q = NULL;
	struct train_plugin plug;
	if (!m || (qc && qat_new(&q, m, qc, train, QAT_CALIB_N, &cause) < 0)) {
		fprintf(stderr, "bench: %s\n", cause);
		free(cause);
		model_free(m);
		return -1;
	}
	if (q)
		qat_train_plugin(q, 1.0, &plug);
	char label[64];
	if (qc)
		snprintf(label, sizeof label, "%s W%dA%d %s", arch, qc->w_bits, qc->a_bits,
			 qc->w_scheme);
	else
		snprintf(label, sizeof label, "%s", arch);
	struct train_opts o;
	train_opts_default(&o);
	o.epochs = 1;
	o.batch = 128;
	o.lr = 0.01;
	o.warmup = 0;
	double tr[BENCH_TRIALS], inf[BENCH_TRIALS];
	for (int t = 0; t < BENCH_TRIALS; t++) {
		struct train_result r;
		if (train_run(m, train, NULL, &o, q ? &plug : NULL, NULL, &r, &cause) < 0) {
			fprintf(stderr, "bench: %s: %s\n", label, cause);
			free(cause);
			qat_free(q);
			model_free(m);
			return -1;
		}
		tr[t] = r.images_per_s;
		double loss, acc;
		train_evaluate(m, test, 256, LOSS_XENT, NULL, &loss, &acc, &inf[t], NULL);
	}
	qsort(tr, BENCH_TRIALS, sizeof tr[0], cmp_double);
	qsort(inf, BENCH_TRIALS, sizeof inf[0], cmp_double);
	printf("  %-20s %9.0f %9.0f %11.0f %9.0f %10.1f   (%d x %d images; infer %d)\n", label,
	       tr[BENCH_TRIALS / 2], tr[BENCH_TRIALS - 1], inf[BENCH_TRIALS / 2],
	       inf[BENCH_TRIALS - 1], 2.0 * (double)model_macs(m) / 1e6, BENCH_TRIALS, train->n,
	       test->n);
	qat_free(q);
	model_free(m);
	return 0;
}

/* Each trial trains for a few seconds: the whole epoch, or a slice for slow models. */
static const struct {
	const char *arch;
	int images; /* training images a trial (0: the whole set) */
	/* quantization-aware training: weight scheme and bits (NULL: float) */
	const char *scheme;
	int w_bits, a_bits;
} bench_models_table[] = {
	{"mlp", 0, NULL, 32, 32},	     {"lenet5", 0, NULL, 32, 32},
	{"cnn", 12800, NULL, 32, 32},	     {"resnet20", 2560, NULL, 32, 32},
	{"cnn", 12800, "uniform", 4, 4},     {"cnn", 12800, "apot", 3, 3},
	{"cnn", 12800, "lcq", 2, 2},	     {"cnn", 12800, "qnn", 1, 1},
};
#define BENCH_NMODELS (sizeof bench_models_table / sizeof bench_models_table[0])

/* The models section, for every zoo model or only for arch (non-NULL). */
static int
bench_models(const char *arch)
{
	char *cause = NULL;
	struct dataset *train = NULL, *test = NULL;
	if (dataset_load(&train, "fmnist", DATA_TRAIN, 0, &cause) < 0 ||
	    dataset_load(&test, "fmnist", DATA_TEST, 0, &cause) < 0) {
		fprintf(stderr, "bench: %s\n", cause);
		free(cause);
		dataset_free(train);
		return -1;
	}
	printf("Models on Fashion-MNIST, images/s (train batch 128, inference batch 256):\n");
	printf("  %-20s %9s %9s %11s %9s %10s\n", "model", "train med", "best", "infer med", "best",
	       "MFLOP/img");
	int rc = 0;
	for (size_t i = 0; i < BENCH_NMODELS; i++) {
		if (arch && strcmp(arch, bench_models_table[i].arch) != 0)
			continue;
		struct dataset part = *train;
		if (bench_models_table[i].images > 0 && bench_models_table[i].images < part.n)
			part.n = bench_models_table[i].images;
		struct qat_config qc = {
			.w_scheme = bench_models_table[i].scheme,
			.a_scheme = bench_models_table[i].scheme,
			.w_bits = bench_models_table[i].w_bits,
			.a_bits = bench_models_table[i].a_bits,
			.g_bits = 32,
			.firstlast = QAT_FIRSTLAST_8,
			.seed = 1,
		};
		if (bench_model(bench_models_table[i].arch, qc.w_scheme ? &qc : NULL, &part, test) < 0)
			rc = -1;
	}
	dataset_free(train);
	dataset_free(test);
	return rc;
}

/* Writes an IDX file: magic type 0x08 (unsigned bytes), ndims big-endian dims, then data. */
static int
write_idx(const char *path, const int *dims, int ndims, const uint8_t *data, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	uint8_t magic[4] = {0, 0, 8, (uint8_t)ndims};
	int ok = fwrite(magic, 1, 4, f) == 4;
	for (int i = 0; i < ndims; i++) {
		uint8_t d[4] = {(uint8_t)(dims[i] >> 24), (uint8_t)(dims[i] >> 16),
				(uint8_t)(dims[i] >> 8), (uint8_t)dims[i]};
		ok &= fwrite(d, 1, 4, f) == 4;
	}
	ok &= fwrite(data, 1, n, f) == n;
	return fclose(f) == 0 && ok ? 0 : -1;
}

/* Runs a shell command; 0 when it exited with status 0. */
static int
run_quiet(const char *cmd)
{
	int st = system(cmd);
	return st == 0 ? 0 : -1;
}

/* Sum of a result over the done runs of the database at path; -1 on error. */
static double
sum_result(const char *path, const char *name, int *n)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	double sum = -1;
	*n = 0;
	if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(h,
			       "SELECT count(*), sum(x.value) FROM results x JOIN runs r ON "
			       "r.id = x.run_id WHERE r.status = 'done' AND x.name = ?1",
			       -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW) {
			*n = sqlite3_column_int(st, 0);
			sum = sqlite3_column_double(st, 1);
		}
	}
	sqlite3_finalize(st);
	sqlite3_close(h);
	return sum;
}

/*
 * The runner section: a sweep of BENCH_RUNNER_POINTS evaluations of an mlp on
 * 16 images, run with -j 1 by the qbench next to this program ($QBENCH, else
 * ./qbench). Overhead per point = (wall - sum of the jobs' time_s) / points.
 */
#define BENCH_RUNNER_POINTS 40
static int
bench_runner(void)
{
	const char *qbench = getenv("QBENCH") ? getenv("QBENCH") : "./qbench";
	char dir[] = "/tmp/qbench-bench-XXXXXX";
	char *cause = NULL;
	int rc = -1;
	printf("Sweep runner, %d trivial points with -j 1 (evaluating an mlp on 16 images):\n",
	       BENCH_RUNNER_POINTS);
	if (access(qbench, X_OK) < 0) {
		printf("  skipped: %s is not there (set QBENCH)\n", qbench);
		return 0;
	}
	if (!mkdtemp(dir)) {
		fprintf(stderr, "bench: mkdtemp: %s\n", strerror(errno));
		return -1;
	}
	uint8_t px[16 * 28 * 28], lb[16];
	for (int i = 0; i < 16 * 28 * 28; i++)
		px[i] = (uint8_t)((i * 37) % 251);
	for (int i = 0; i < 16; i++)
		lb[i] = (uint8_t)(i % 10);
	int idims[3] = {16, 28, 28}, ldims[1] = {16};
	const char *splits[] = {"train", "t10k"};
	char path[512], cmd[2048];
	for (int s = 0; s < 2; s++) {
		snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte", dir, splits[s]);
		if (write_idx(path, idims, 3, px, sizeof px) < 0)
			goto out;
		snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte", dir, splits[s]);
		if (write_idx(path, ldims, 1, lb, sizeof lb) < 0)
			goto out;
	}
	struct model *m = model_new("mlp", 1, 28, 28, 10, 1, &cause);
	snprintf(path, sizeof path, "%s/mlp.h5", dir);
	int saved = m && io_h5_save_model(m, path, &cause) == 0;
	model_free(m);
	if (!saved) {
		fprintf(stderr, "bench: %s\n", cause);
		goto out;
	}
	snprintf(cmd, sizeof cmd,
		 "OMP_NUM_THREADS=1 %s --db %s/runner.db sweep job=eval model=%s dataset=idx:%s "
		 "eval.batch=1..%d -j 1 --quiet >/dev/null",
		 qbench, dir, path, dir, BENCH_RUNNER_POINTS);
	double t0 = util_now();
	if (run_quiet(cmd) < 0) {
		fprintf(stderr, "bench: the runner sweep failed: %s\n", cmd);
		goto out;
	}
	double wall = util_now() - t0;
	snprintf(path, sizeof path, "%s/runner.db", dir);
	int n;
	double jobs = sum_result(path, "time_s", &n);
	if (n != BENCH_RUNNER_POINTS || jobs < 0) {
		fprintf(stderr, "bench: %d of %d points done\n", n, BENCH_RUNNER_POINTS);
		goto out;
	}
	printf("  wall %.2f s, jobs' own time %.3f s: runner overhead %.1f ms per point "
	       "(spawn, open, claim, load, record)\n",
	       wall, jobs, 1e3 * (wall - jobs) / n);
	rc = 0;
out:
	free(cause);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	run_quiet(cmd);
	return rc;
}

/* The tui section: the Runs screen redrawn over 10,000 runs. */
#define BENCH_TUI_RUNS 10000
static int
bench_tui(void)
{
	char dir[] = "/tmp/qbench-bench-XXXXXX";
	char *cause = NULL, *path = NULL;
	struct db *db = NULL;
	int rc = -1;
	printf("Workbench, Runs screen of %d runs, 200x60, full repaint:\n", BENCH_TUI_RUNS);
	if (!mkdtemp(dir)) {
		fprintf(stderr, "bench: mkdtemp: %s\n", strerror(errno));
		return -1;
	}
	path = xasprintf("%s/tui.db", dir);
	if (db_open(&db, path, DB_OPEN_CREATE, &cause) < 0 ||
	    testdata_runs_db(db, BENCH_TUI_RUNS, &cause) < 0) {
		fprintf(stderr, "bench: %s\n", cause ? cause : "?");
		goto out;
	}
	db_close(db);
	db = NULL;
	struct tui_options o = {.db_path = path, .exe = "qbench"};
	double load0 = util_now(), draw_s;
	if (tui_bench_draw(&o, TUI_SCREEN_RUNS, 60, 200, 1, &draw_s, &cause) < 0) {
		fprintf(stderr, "bench: %s\n", cause);
		goto out;
	}
	double first = util_now() - load0;
	if (tui_bench_draw(&o, TUI_SCREEN_RUNS, 60, 200, 200, &draw_s, &cause) < 0) {
		fprintf(stderr, "bench: %s\n", cause);
		goto out;
	}
	printf("  open and first draw %.1f ms; redraw %.2f ms (target: under 20 ms)\n",
	       1e3 * first, 1e3 * draw_s);
	rc = 0;
out:
	db_close(db);
	free(cause);
	if (path)
		unlink(path);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	run_quiet(cmd);
	free(path);
	return rc;
}

/* The sections, in the order a full run prints them. */
enum bench_section {
	BENCH_GEMM,
	BENCH_QUANT,
	BENCH_PTQ,
	BENCH_RUNNER,
	BENCH_TUI,
	BENCH_MODELS,
	BENCH_NSECTIONS
};
static const struct {
	const char *name;
	const char *help;
} bench_sections[BENCH_NSECTIONS] = {
	[BENCH_GEMM] = {"gemm", "BLAS peak and engine GEMM on the zoo's layer shapes, GFLOP/s"},
	[BENCH_QUANT] = {"quant", "quantizers: forward and backward Melem/s, forward speed-up "
				  "over _ref"},
	[BENCH_PTQ] = {"ptq", "post-training quantization: clipping methods, OCS splitting, "
			      "AdaRound and border rounding, Melem/s"},
	[BENCH_RUNNER] = {"runner", "the sweep runner's overhead per point (spawn, claim, "
				    "record), ms"},
	[BENCH_TUI] = {"tui", "the workbench: a redraw of the Runs screen over 10,000 runs, ms"},
	[BENCH_MODELS] = {"models", "zoo models (float, and the cnn quantization-aware): "
				    "training and inference images/s on Fashion-MNIST"},
};

static void
bench_usage(FILE *f)
{
	fprintf(f, "usage: bench [SECTION | MODEL]\n"
		   "Without an argument, runs every section. Sections:\n");
	for (int i = 0; i < BENCH_NSECTIONS; i++)
		fprintf(f, "  %-8s %s\n", bench_sections[i].name, bench_sections[i].help);
	fprintf(f, "A MODEL runs the models section for that model alone:");
	for (size_t i = 0; i < BENCH_NMODELS; i++)
		fprintf(f, " %s", bench_models_table[i].arch);
	fprintf(f, "\n");
}

int
main(int argc, char **argv)
{
	const char *only = argc > 1 ? argv[1] : NULL;
	if (only && (strcmp(only, "--help") == 0 || strcmp(only, "-h") == 0)) {
		bench_usage(stdout);
		return 0;
	}
	/* which sections run, indexed by enum bench_section; arch narrows "models" */
	int run[BENCH_NSECTIONS];
	const char *arch = NULL;
	int known = 0;
	for (int i = 0; i < BENCH_NSECTIONS; i++) {
		run[i] = !only || strcmp(only, bench_sections[i].name) == 0;
		known |= run[i];
	}
	for (size_t i = 0; only && !known && i < BENCH_NMODELS; i++) {
		if (strcmp(only, bench_models_table[i].arch) == 0) {
			arch = only;
			run[BENCH_MODELS] = known = 1;
		}
	}
	if (argc > 2 || !known) {
		bench_usage(stderr);
		return 2;
	}

	int threads = threads_init(0);
	printf("qbench bench: %d threads%s%s\n", threads, getenv("OPENBLAS_CORETYPE") ? ", OPENBLAS_CORETYPE=" : "",
	       getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : "");
	int rc = 0;
	double peak = 0;
	if (run[BENCH_GEMM])
		bench_gemm(&peak);
	if (run[BENCH_QUANT] && bench_quant(threads) < 0)
		rc = 1;
	if (run[BENCH_PTQ] && bench_ptq() < 0)
		rc = 1;
	if (run[BENCH_RUNNER] && bench_runner() < 0)
		rc = 1;
	if (run[BENCH_TUI] && bench_tui() < 0)
		rc = 1;
	if (run[BENCH_MODELS] && bench_models(arch) < 0)
		rc = 1;
	return rc;
}
