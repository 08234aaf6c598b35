/*
 * test_optim: a few steps of each optimizer against the update formulas
 * evaluated here in double (with and without a learning-rate scale), the
 * first Adam step worked out by hand, shift-AdaMax's powers of two
 * (METHODS §3.8, property 7), thread independence, and each
 * learning-rate schedule at chosen iterations.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/layers.h"
#include "engine/optim.h"
#include "engine/threads.h"
#include "engine/util.h"
#include "tests/unit/tap.h"

#define N 7	  /* parameters */
#define N_DECAY 4 /* the first 4 take weight decay */
#define STEPS 5

/* The gradient fed at step t (from 1) to element i. */
static double
grad_at(int t, int i)
{
	return sin(1.3 * i + 0.7 * t) * (i % 2 ? 0.5 : 2.0) + 0.1 * (i == 3 ? 0 : 1);
}

static double
p0_at(int i)
{
	return 0.3 * (i - 3) + 0.05;
}

/* AP2 in double from its definition: sign(x) 2^round(log2|x|), half to even. */
static double
ref_ap2(double x)
{
	if (x == 0.0)
		return 0.0;
	return copysign(exp2(nearbyint(log2(fabs(x)))), x);
}

static int
is_pow2(double x)
{
	int e;
	return x != 0.0 && isfinite(x) && frexp(fabs(x), &e) == 0.5;
}

/*
 * Runs the optimizer STEPS times from p0 with the gradients above and a
 * per-step learning rate lr*(1 - 0.1 t), and the same formulas in double;
 * scale (N, or NULL) is the learning-rate scale.
 */
static void
check(const struct optim_hparams *h, double lr, const float *scale, const char *what)
{
	float p[N], g[N] = {0};
	double rp[N], s1[N] = {0}, s2[N] = {0};
	for (int i = 0; i < N; i++)
		p[i] = (float)(rp[i] = p0_at(i));
	struct optim *o = optim_new(h, p, g, N_DECAY, N);
	optim_set_lr_scale(o, scale);
	for (int t = 1; t <= STEPS; t++) {
		double lrt = lr * (1.0 - 0.1 * t);
		for (int i = 0; i < N; i++)
			g[i] = (float)grad_at(t, i);
		optim_step(o, lrt);
		for (int i = 0; i < N; i++) {
			double gi = (double)(float)grad_at(t, i) + (i < N_DECAY ? h->wd : 0.0) * rp[i];
			double sc = scale ? scale[i] : 1.0, lri = lrt * sc;
			switch (h->kind) {
			case OPTIM_SGD: {
				/* buf = mu*buf + g; d = nesterov ? g + mu*buf : buf; p -= lr*d */
				s1[i] = h->momentum * s1[i] + gi;
				double d = h->nesterov ? gi + h->momentum * s1[i] : s1[i];
				rp[i] -= lri * d;
				break;
			}
			case OPTIM_ADAM: {
				/* m, v moments; p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps) */
				s1[i] = h->beta1 * s1[i] + (1 - h->beta1) * gi;
				s2[i] = h->beta2 * s2[i] + (1 - h->beta2) * gi * gi;
				double bc1 = 1 - pow(h->beta1, t), bc2 = 1 - pow(h->beta2, t);
				rp[i] -= lri / bc1 * s1[i] / (sqrt(s2[i]) / sqrt(bc2) + h->eps);
				break;
			}
			case OPTIM_ADAMAX: {
				/* m; u = max(b2*u, |g| + eps); p -= lr/(1-b1^t) * m / u */
				s1[i] = h->beta1 * s1[i] + (1 - h->beta1) * gi;
				s2[i] = fmax(h->beta2 * s2[i], fabs(gi) + h->eps);
				rp[i] -= lri / (1 - pow(h->beta1, t)) * s1[i] / s2[i];
				break;
			}
			case OPTIM_SHIFT_ADAMAX: {
				/* m; v = AP2(max(b2*v, |g|)) + eps; p -= AP2(lr/(1-b1^t)) * m / v */
				double eps = h->eps > 0 ? h->eps : OPTIM_SHIFT_ADAMAX_EPS;
				s1[i] = h->beta1 * s1[i] + (1 - h->beta1) * gi;
				s2[i] = ref_ap2(fmax(h->beta2 * s2[i], fabs(gi))) + eps;
				double step = ref_ap2(lrt / (1 - pow(h->beta1, t)));
				rp[i] -= step * sc * s1[i] / s2[i];
				break;
			}
			case OPTIM_COUNT:
				break;
			}
		}
	}
	float want[N];
	for (int i = 0; i < N; i++)
		want[i] = (float)rp[i];
	tap_near_arrays(p, want, N, 1e-6, 1e-5, "%s: %d steps match the formulas", what, STEPS);
	optim_free(o);
}

static void
test_updates(void)
{
	struct optim_hparams h = {.kind = OPTIM_SGD, .momentum = 0, .wd = 0};
	check(&h, 0.1, NULL, "plain SGD");
	h.wd = 0.01;
	check(&h, 0.1, NULL, "SGD + weight decay");
	h.momentum = 0.9;
	check(&h, 0.1, NULL, "SGD momentum 0.9 + wd");
	h.nesterov = 1;
	check(&h, 0.1, NULL, "SGD Nesterov 0.9 + wd");

	struct optim_hparams a = {.kind = OPTIM_ADAM, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
	check(&a, 0.01, NULL, "Adam");
	a.wd = 0.05;
	check(&a, 0.01, NULL, "Adam + L2");
	a.kind = OPTIM_ADAMAX;
	check(&a, 0.01, NULL, "AdaMax + L2");
	a.wd = 0;
	check(&a, 0.002, NULL, "AdaMax");
	a.kind = OPTIM_SHIFT_ADAMAX;
	a.eps = 0; /* OPTIM_SHIFT_ADAMAX_EPS */
	check(&a, 0x1p-6, NULL, "shift-AdaMax");
	a.wd = 0.05;
	a.eps = 1e-6;
	check(&a, 0x1p-6, NULL, "shift-AdaMax + L2, eps 1e-6");

	/* a learning-rate scale, with every kind (powers of two or not) */
	static const float scale[N] = {2.0f, 0.5f, 1.0f, 0.3f, 2.0f, 1.5f, 0.125f};
	check(&h, 0.1, scale, "SGD Nesterov 0.9 + wd, lr scale");
	a.kind = OPTIM_ADAM;
	a.eps = 1e-8;
	check(&a, 0.01, scale, "Adam + L2, lr scale");
	a.kind = OPTIM_ADAMAX;
	check(&a, 0.01, scale, "AdaMax + L2, lr scale");
	a.kind = OPTIM_SHIFT_ADAMAX;
	a.eps = 0;
	check(&a, 0x1p-6, scale, "shift-AdaMax + L2, lr scale");

	/* By hand: plain SGD, p = 1, g = 0.5, wd 0.1 on it: p - lr*(g + wd*p) = 1 - 0.1*0.6 = 0.94. */
	float p[2] = {1.0f, 1.0f}, g[2] = {0.5f, 0.5f};
	struct optim_hparams s = {.kind = OPTIM_SGD, .wd = 0.1};
	struct optim *o = optim_new(&s, p, g, 1, 2);
	optim_step(o, 0.1);
	tap_near(p[0], 0.94, 1e-7, "SGD by hand: decayed weight 1 -> 0.94");
	tap_near(p[1], 0.95, 1e-7, "SGD by hand: undecayed value 1 -> 0.95");
	/* Momentum 0.9, second step with the same g: buf = 0.9*0.5 + 0.5 = 0.95. */
	optim_free(o);
	p[0] = p[1] = 1.0f;
	s.wd = 0;
	s.momentum = 0.9;
	o = optim_new(&s, p, g, 0, 2);
	optim_step(o, 0.1);
	optim_step(o, 0.1);
	tap_near(p[0], 1.0 - 0.05 - 0.095, 1e-7, "SGD momentum by hand: 1 - 0.1*0.5 - 0.1*0.95");
	optim_free(o);
	/* Nesterov: d = g + mu*buf: step 1 d = 0.5 + 0.45 = 0.95, step 2 d = 0.5 + 0.855 = 1.355. */
	p[0] = p[1] = 1.0f;
	s.nesterov = 1;
	o = optim_new(&s, p, g, 0, 2);
	optim_step(o, 0.1);
	optim_step(o, 0.1);
	tap_near(p[0], 1.0 - 0.095 - 0.1355, 1e-7, "Nesterov by hand: 1 - 0.1*0.95 - 0.1*1.355");
	optim_free(o);

	/* By hand: Adam's first step is lr * sign(g) (m/(1-b1) = g, sqrt(v/(1-b2)) = |g|). */
	float q[3] = {0.5f, -0.25f, 2.0f}, gq[3] = {3.0f, -0.001f, 1e-3f};
	struct optim_hparams ad = {.kind = OPTIM_ADAM, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
	o = optim_new(&ad, q, gq, 0, 3);
	optim_step(o, 0.01);
	float want[3] = {0.49f, -0.24f, 1.99f};
	tap_near_arrays(q, want, 3, 2e-6, 0, "Adam by hand: first step moves each value by lr*sign(g)");
	optim_free(o);
	/* AdaMax's first step too: m/(1-b1) = g, u = |g| + eps. */
	float r[2] = {1.0f, 1.0f}, gr[2] = {-4.0f, 0.5f};
	ad.kind = OPTIM_ADAMAX;
	o = optim_new(&ad, r, gr, 0, 2);
	optim_step(o, 0.002);
	float want_r[2] = {1.002f, 0.998f};
	tap_near_arrays(r, want_r, 2, 1e-7, 0, "AdaMax by hand: first step is lr*sign(g)");
	optim_free(o);
}

/*
 * Shift-AdaMax (QNN, METHODS §3.5): the step taken is a power
 * of two, v is stored as a power of two plus eps, a hand-worked first step,
 * three steps of two elements against the formulas in double, and the
 * Glorot learning-rate scales.
 */
static void
test_shift_adamax(void)
{
	const double eps = OPTIM_SHIFT_ADAMAX_EPS;
	/* property 7, one element: p is reset to 0 before each step, so -p is the
	 * update step * (m/v) * scale exactly, with m, v read back from the state */
	static const float grads[] = {0.3f, -0.02f, 0.7f, 1e-4f, -2.5f, 0.0f, 0.011f};
	float p[1] = {0}, g[1], sc[1] = {optim_glorot_lr_scale(288, 576)};
	struct optim_hparams h = {.kind = OPTIM_SHIFT_ADAMAX, .beta1 = 0.9, .beta2 = 0.999};
	struct optim *o = optim_new(&h, p, g, 0, 1);
	optim_set_lr_scale(o, sc);
	const float *m = optim_state(o, 0), *v = optim_state(o, 1);
	int step_pow2 = 1, v_pow2 = 1, step_ap2 = 1;
	const double lr = 0.0123;
	for (size_t t = 1; t <= sizeof grads / sizeof grads[0]; t++) {
		p[0] = 0.0f;
		g[0] = grads[t - 1];
		optim_step(o, lr);
		float q = m[0] / v[0] * sc[0];
		double step = q != 0.0f ? -(double)p[0] / q : 0.0;
		double want = ref_ap2(lr / (1.0 - pow(0.9, (double)t)));
		if (q != 0.0f) {
			step_pow2 &= is_pow2(step);
			step_ap2 &= step == want;
		}
		double pw = ref_ap2(v[0] - eps);
		v_pow2 &= is_pow2(pw) && v[0] == (float)(pw + eps);
		if (!is_pow2(step) || step != want || !is_pow2(pw))
			tap_diag("step %zu: step %a (want %a), v %a", t, step, want, (double)v[0]);
	}
	tap_ok(step_pow2, "shift-AdaMax: every step taken is a power of two");
	tap_ok(step_ap2, "shift-AdaMax: the step is AP2(lr / (1 - b1^t))");
	tap_ok(v_pow2, "shift-AdaMax: stored v is a power of two plus eps");
	tap_ok(optim_state(o, 2) == NULL, "shift-AdaMax has two state slots");
	optim_free(o);

	/* by hand, lr 2^-6, g = 0.3: m = 0.03, v = AP2(0.3) + eps = 0.25 + eps,
	 * step = AP2(2^-6 / 0.1) = AP2(0.15625) = 0.125: p -= 0.125 * 0.03 / 0.25 */
	float r[1] = {1.0f}, gr[1] = {0.3f};
	o = optim_new(&h, r, gr, 0, 1);
	optim_step(o, 0x1p-6);
	tap_near(r[0], 1.0 - 0.015, 1e-7, "shift-AdaMax by hand: 1 - 0.125 * 0.03 / 0.25");
	optim_free(o);

	/* three steps, two elements (weight decay on the first), scales 4 and 0.5 */
	static const float g3[3][2] = {{0.3f, -0.02f}, {-0.1f, 0.05f}, {0.2f, 1e-9f}};
	float p2[2] = {0.5f, -0.25f}, gg[2], sc2[2] = {4.0f, 0.5f};
	double rp[2] = {0.5, -0.25}, rm[2] = {0}, rv[2] = {0};
	struct optim_hparams hw = h;
	hw.wd = 0.01;
	o = optim_new(&hw, p2, gg, 1, 2);
	optim_set_lr_scale(o, sc2);
	for (int t = 1; t <= 3; t++) {
		for (int i = 0; i < 2; i++) {
			gg[i] = g3[t - 1][i];
			double gi = g3[t - 1][i] + (i == 0 ? 0.01 * rp[i] : 0.0);
			rm[i] = 0.9 * rm[i] + 0.1 * gi;
			rv[i] = ref_ap2(fmax(0.999 * rv[i], fabs(gi))) + eps;
			rp[i] -= ref_ap2(0x1p-6 / (1.0 - pow(0.9, t))) * rm[i] / rv[i] * sc2[i];
		}
		optim_step(o, 0x1p-6);
	}
	float want[2] = {(float)rp[0], (float)rp[1]};
	tap_near_arrays(p2, want, 2, 1e-7, 1e-6, "shift-AdaMax: 3 steps of 2 elements, wd, scales");
	optim_free(o);

	/* a power-of-two scale multiplies the first update exactly, for every kind */
	for (int k = 0; k < OPTIM_COUNT; k++) {
		struct optim_hparams hk = {.kind = k, .momentum = 0.9, .beta1 = 0.9, .beta2 = 0.999,
					   .eps = 1e-8};
		float a[2] = {0}, b[2] = {0}, ga[2] = {0.37f, -0.011f}, s4[2] = {4.0f, 0.25f};
		struct optim *oa = optim_new(&hk, a, ga, 0, 2), *ob = optim_new(&hk, b, ga, 0, 2);
		optim_set_lr_scale(ob, s4);
		optim_step(oa, 0.01);
		optim_step(ob, 0.01);
		tap_ok(a[0] != 0.0f && b[0] == 4.0f * a[0] && b[1] == 0.25f * a[1],
		       "%s: lr scale 4, 1/4 scales the update exactly (%g -> %g, %g -> %g)",
		       optim_kind_names()[k], a[0], b[0], a[1], b[1]);
		optim_free(oa);
		optim_free(ob);
	}

	/* Glorot scales: 1/sqrt(1.5/(in+out)), rounded to a power of two */
	tap_near(optim_glorot_lr_scale(288, 576), 32.0, 0, "Glorot scale 288, 576: 24 -> 32");
	tap_near(optim_glorot_lr_scale(1, 1), 1.0, 0, "Glorot scale 1, 1: 1.155 -> 1");
	tap_near(optim_glorot_lr_scale(27, 1152), 32.0, 0, "Glorot scale 27, 1152: 28.04 -> 32");
	tap_near(optim_glorot_lr_scale(4096, 10), 64.0, 0, "Glorot scale 4096, 10: 52.3 -> 64");
	tap_near(optim_glorot_lr_scale(784, 2048), 32.0, 0, "Glorot scale 784, 2048: 43.5 -> 32");
	tap_ok(ap2(3.0f) == 4.0f, "ap2 is visible to the optimizer");
}

/* The same updates on a large arena with 1 and 2 threads give the same bits. */
static void
test_threads(void)
{
	const size_t n = 300007;
	float *p1 = xalloc_floats(n), *p2 = xalloc_floats(n), *g = xalloc_floats(n);
	for (size_t i = 0; i < n; i++) {
		p1[i] = p2[i] = (float)sin(0.001 * (double)i);
		g[i] = (float)cos(0.0007 * (double)i);
	}
	for (int k = 0; k < OPTIM_COUNT; k++) {
		struct optim_hparams h = {.kind = k, .momentum = 0.9, .nesterov = 1, .wd = 1e-3,
					  .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
		threads_init(1);
		struct optim *o = optim_new(&h, p1, g, n / 2, n);
		for (int t = 0; t < 3; t++)
			optim_step(o, 0.01);
		optim_free(o);
		threads_init(2);
		o = optim_new(&h, p2, g, n / 2, n);
		for (int t = 0; t < 3; t++)
			optim_step(o, 0.01);
		optim_free(o);
		tap_same_floats(p2, p1, n, "%s: 2 threads give the bits of 1 thread",
				optim_kind_names()[k]);
	}
	xfree_aligned(p1);
	xfree_aligned(p2);
	xfree_aligned(g);
}

static void
test_schedules(void)
{
	/* 10 epochs of 10 iterations, peak 0.1. */
	struct optim_sched s = {.kind = SCHED_CONSTANT, .lr = 0.1, .warmup_iters = 0,
				.total_iters = 100, .iters_per_epoch = 10, .step_size = 3,
				.gamma = 0.5};
	tap_near(optim_sched_lr(&s, 0), 0.1, 1e-15, "constant: 0.1 at 0");
	tap_near(optim_sched_lr(&s, 99), 0.1, 1e-15, "constant: 0.1 at 99");
	s.warmup_iters = 20;
	tap_near(optim_sched_lr(&s, 0), 0.1 * 1 / 20, 1e-15, "constant + warm-up: lr/20 at 0");
	tap_near(optim_sched_lr(&s, 9), 0.1 * 10 / 20, 1e-15, "constant + warm-up: lr/2 at 9");
	tap_near(optim_sched_lr(&s, 19), 0.1, 1e-15, "constant + warm-up: lr at 19");
	tap_near(optim_sched_lr(&s, 20), 0.1, 1e-15, "constant + warm-up: lr at 20");

	s.kind = SCHED_STEP;
	s.warmup_iters = 0;
	tap_near(optim_sched_lr(&s, 29), 0.1, 1e-15, "step: lr until epoch 3 (it 29)");
	tap_near(optim_sched_lr(&s, 30), 0.05, 1e-15, "step: lr*0.5 from epoch 3 (it 30)");
	tap_near(optim_sched_lr(&s, 65), 0.025, 1e-15, "step: lr*0.25 in epoch 6 (it 65)");
	tap_near(optim_sched_lr(&s, 99), 0.0125, 1e-15, "step: lr*0.125 in epoch 9 (it 99)");
	s.warmup_iters = 5;
	tap_near(optim_sched_lr(&s, 2), 0.1 * 3 / 5, 1e-15, "step + warm-up: 3/5 lr at 2");
	tap_near(optim_sched_lr(&s, 31), 0.05, 1e-15, "step + warm-up: epochs still count from 0");

	s.kind = SCHED_COSINE;
	s.warmup_iters = 0;
	tap_near(optim_sched_lr(&s, 0), 0.1, 1e-15, "cosine: lr at 0");
	tap_near(optim_sched_lr(&s, 25), 0.05 * (1 + cos(M_PI / 4)), 1e-15,
		 "cosine: lr*(1+cos(pi/4))/2 at 25");
	tap_near(optim_sched_lr(&s, 50), 0.05, 1e-15, "cosine: lr/2 at half way");
	tap_near(optim_sched_lr(&s, 100), 0.0, 1e-15, "cosine: 0 at the end");
	tap_near(optim_sched_lr(&s, 99), 0.05 * (1 + cos(M_PI * 0.99)), 1e-15,
		 "cosine: lr*(1+cos(0.99 pi))/2 at the last iteration");
	s.warmup_iters = 10;
	tap_near(optim_sched_lr(&s, 4), 0.1 * 5 / 10, 1e-15, "cosine + warm-up: lr/2 at 4");
	tap_near(optim_sched_lr(&s, 10), 0.1, 1e-15, "cosine + warm-up: peak at 10");
	tap_near(optim_sched_lr(&s, 55), 0.05, 1e-15, "cosine + warm-up: lr/2 at 55");

	tap_eq_str(optim_kind_names()[OPTIM_ADAMAX], "adamax", "optimizer names");
	tap_eq_str(optim_kind_names()[OPTIM_SHIFT_ADAMAX], "shift-adamax", "optimizer names");
	tap_ok(optim_kind_names()[OPTIM_COUNT] == NULL, "optimizer names end with NULL");
	tap_eq_str(optim_sched_names()[SCHED_COSINE], "cosine", "schedule names");
}

int
main(void)
{
	test_updates();
	test_shift_adamax();
	test_threads();
	test_schedules();
	return tap_done();
}
