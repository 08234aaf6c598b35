/*
 * test_model: the zoo's shapes, parameter counts and MACs against values
 * worked out by hand from the architectures, initialisation, the tensor
 * enumeration and arena layout, forward passes, a whole-model gradient check
 * against central differences, and the quantizer hooks. Derived models:
 * batch-norm folding, channel duplication (chandup) with weights split or
 * activations halved, slices against the whole model's activations, and the
 * input gradient of a slice against central differences.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/layers.h"
#include "engine/model.h"
#include "engine/rng.h"
#include "engine/util.h"
#include "tests/unit/tap.h"

static struct model *
zoo(const char *arch, int c, int h, int w)
{
	char *cause = NULL;
	struct model *m = model_new(arch, c, h, w, 10, 42, &cause);
	if (!m) {
		tap_diag("model_new(%s): %s", arch, cause);
		free(cause);
	}
	return m;
}

static long
sum_macs(const struct model *m)
{
	long s = 0;
	for (int i = 0; i < model_layer_count(m); i++)
		s += model_layer_at(m, i)->macs;
	return s;
}

static const struct model_tensor *
find_tensor(const struct model *m, const char *group, const char *name)
{
	for (int i = 0; i < model_tensor_count(m); i++) {
		const struct model_tensor *t = model_tensor_at(m, i);
		if (strcmp(t->group, group) == 0 && strcmp(t->name, name) == 0)
			return t;
	}
	return NULL;
}

static void
test_counts(void)
{
	struct model *m = zoo("mlp", 1, 28, 28);
	/* fc 784x256 + 256, fc 256x256 + 256, fc 256x10 + 10 */
	long want_p = 784 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10;
	long want_macs = 784 * 256 + 256 * 256 + 256 * 10;
	tap_eq_int(model_param_count(m), 269322, "mlp: 269,322 parameters");
	tap_eq_int(model_param_count(m), want_p, "mlp: parameters by formula");
	tap_eq_int(model_macs(m), want_macs, "mlp: MACs 784*256 + 256*256 + 256*10");
	tap_eq_int(model_layer_count(m), 6, "mlp: flatten + 3 x (fc, relu) - 1 layers");
	tap_eq_str(model_layer_at(m, 5)->group, "05_fc", "mlp: last layer group 05_fc");
	tap_eq_str(model_layer_at(m, 1)->kind, "linear", "mlp: layer 1 is linear");
	tap_eq_int(model_tensor_count(m), 6, "mlp: 3 weights + 3 biases");
	const struct model_tensor *t = find_tensor(m, "01_fc", "weight");
	tap_ok(t && t->ndim == 2 && t->shape[0] == 256 && t->shape[1] == 784 && t->size == 200704,
	       "mlp: 01_fc/weight is 256x784");
	model_free(m);

	m = zoo("lenet5", 1, 28, 28);
	/* conv 6x1x5x5+6, conv 16x6x5x5+16, fc 400x120+120, fc 120x84+84, fc 84x10+10 */
	want_p = (6 * 25 + 6) + (16 * 6 * 25 + 16) + (400 * 120 + 120) + (120 * 84 + 84) +
		 (84 * 10 + 10);
	/* conv: OC*OH*OW*C*K*K: 6*28*28*1*25, 16*10*10*6*25; fc: IN*OUT */
	want_macs = 6L * 28 * 28 * 25 + 16L * 10 * 10 * 6 * 25 + 400 * 120 + 120 * 84 + 84 * 10;
	tap_eq_int(model_param_count(m), want_p, "lenet5: %ld parameters", want_p);
	tap_eq_int(model_param_count(m), 61706, "lenet5: 61,706 parameters");
	tap_eq_int(model_macs(m), want_macs, "lenet5: %ld MACs", want_macs);
	const struct model_layer_info *li = model_layer_at(m, 5);
	tap_ok(li->out_shape[0] == 16 && li->out_shape[1] == 5 && li->out_shape[2] == 5,
	       "lenet5: second pool gives 16x5x5 (got %dx%dx%d)", li->out_shape[0],
	       li->out_shape[1], li->out_shape[2]);
	tap_eq_int(model_layer_at(m, 6)->out_shape[0], 400, "lenet5: flatten gives 400");
	model_free(m);

	m = zoo("cnn", 1, 28, 28);
	/* conv 32x1x3x3, conv 64x32x3x3 (no bias), BN 2*32 + 2*64, fc 9216x128+128, fc 128x10+10 */
	want_p = 288 + 18432 + (2 * 32 + 2 * 64) + (9216 * 128 + 128) + (128 * 10 + 10);
	tap_eq_int(want_p, 288 + 18432 + 192 + 1179776 + 1290, "cnn: hand sums agree");
	tap_eq_int(model_param_count(m), want_p, "cnn: %ld parameters", want_p);
	want_macs = 32L * 26 * 26 * 1 * 9 + 64L * 24 * 24 * 32 * 9 + 9216L * 128 + 128 * 10;
	tap_eq_int(model_macs(m), want_macs, "cnn: %ld MACs", want_macs);
	tap_eq_int(sum_macs(m), model_macs(m), "cnn: layer MACs add up");
	tap_eq_str(model_layer_at(m, 1)->group, "01_bn", "cnn: 01_bn");
	t = find_tensor(m, "01_bn", "running_var");
	tap_ok(t && !t->trainable && t->size == 32, "cnn: 01_bn/running_var is a 32-value buffer");
	t = find_tensor(m, "00_conv", "weight");
	tap_ok(t && t->ndim == 4 && t->shape[0] == 32 && t->shape[1] == 1 && t->shape[2] == 3 &&
		       t->shape[3] == 3,
	       "cnn: 00_conv/weight is 32x1x3x3");
	tap_ok(find_tensor(m, "00_conv", "bias") == NULL, "cnn: convs have no bias");
	tap_eq_int(model_layer_at(m, 7)->out_shape[0], 9216, "cnn: flatten gives 9216");
	model_free(m);

	m = zoo("resnet20", 1, 28, 28);
	/* conv3x3(a->b) = a*b*9 weights, BN(c) = 2c, 1x1 shortcut a*b; convs have no bias */
	long stem = 1 * 16 * 9 + 2 * 16;
	long stage1 = 3 * (2 * (16 * 16 * 9) + 2 * (2 * 16));
	long stage2 = (16 * 32 * 9 + 32 * 32 * 9 + 2 * (2 * 32) + 16 * 32 + 2 * 32) +
		      2 * (2 * (32 * 32 * 9) + 2 * (2 * 32));
	long stage3 = (32 * 64 * 9 + 64 * 64 * 9 + 2 * (2 * 64) + 32 * 64 + 2 * 64) +
		      2 * (2 * (64 * 64 * 9) + 2 * (2 * 64));
	long fc = 64 * 10 + 10;
	want_p = stem + stage1 + stage2 + stage3 + fc;
	tap_eq_int(model_param_count(m), want_p, "resnet20: %ld parameters", want_p);
	tap_eq_int(model_param_count(m), 272186, "resnet20: 272,186 parameters");
	/* MACs: OC*OH*OW*C*K*K; maps 28x28, 14x14, 7x7 */
	long m_stem = 16L * 28 * 28 * 1 * 9;
	long m_s1 = 6 * (16L * 28 * 28 * 16 * 9);
	long m_s2 = 32L * 14 * 14 * 16 * 9 + 32L * 14 * 14 * 16 + 5 * (32L * 14 * 14 * 32 * 9);
	long m_s3 = 64L * 7 * 7 * 32 * 9 + 64L * 7 * 7 * 32 + 5 * (64L * 7 * 7 * 64 * 9);
	want_macs = m_stem + m_s1 + m_s2 + m_s3 + 64 * 10;
	tap_eq_int(model_macs(m), want_macs, "resnet20: %ld MACs", want_macs);
	int n = model_layer_count(m);
	/* stem 3, 9 blocks x 7 (conv bn relu conv bn add relu), 2 x 2 shortcut layers, gap, fc */
	tap_eq_int(n, 3 + 9 * 7 + 2 * 2 + 2, "resnet20: layer count");
	li = model_layer_at(m, n - 2);
	tap_ok(strcmp(li->kind, "globalavgpool") == 0 && li->out_shape[0] == 64 &&
		       li->out_shape[1] == 1,
	       "resnet20: global average pool of 64 channels");
	li = model_layer_at(m, n - 3);
	tap_ok(li->out_shape[0] == 64 && li->out_shape[1] == 7 && li->out_shape[2] == 7,
	       "resnet20: last block gives 64x7x7");
	int shortcuts = 0, adds = 0;
	for (int i = 0; i < n; i++) {
		li = model_layer_at(m, i);
		shortcuts += strcmp(li->kind, "conv2d") == 0 && li->macs > 0 &&
			     (li->macs == 32L * 14 * 14 * 16 || li->macs == 64L * 7 * 7 * 32);
		adds += strcmp(li->kind, "residual") == 0;
	}
	tap_eq_int(shortcuts, 2, "resnet20: two 1x1 projection shortcuts (option B)");
	tap_eq_int(adds, 9, "resnet20: nine residual adds");
	model_free(m);
}

static void
test_errors(void)
{
	char *cause = NULL;
	struct model *m = model_new("resnet2", 1, 28, 28, 10, 1, &cause);
	tap_ok(!m && cause && strstr(cause, "resnet20"), "unknown arch suggests the nearest: %s",
	       cause ? cause : "(none)");
	free(cause);
	cause = NULL;
	m = model_new("zzzzzzzz", 1, 28, 28, 10, 1, &cause);
	tap_ok(!m && cause && strstr(cause, "mlp") && strstr(cause, "resnet20"),
	       "unknown arch lists the known ones: %s", cause ? cause : "(none)");
	free(cause);
	cause = NULL;
	m = model_new("lenet5", 1, 8, 8, 10, 1, &cause);
	tap_ok(!m && cause != NULL, "lenet5 rejects an 8x8 input: %s", cause ? cause : "(none)");
	free(cause);
	cause = NULL;

	m = model_begin("custom", 3, 8, 8, 5);
	model_add_conv2d(m, MODEL_INPUT, 4, 3, 1, 0, 1);
	int bad = model_add_residual(m, 0, MODEL_INPUT);
	int after = model_add_relu(m, MODEL_PREV);
	tap_ok(bad == -1 && after == -1, "a residual of mismatched shapes fails, and so do later adds");
	tap_ok(model_finish(m, 1, &cause) == -1 && cause && strstr(cause, "residual"),
	       "model_finish reports the first error: %s", cause ? cause : "(none)");
	free(cause);
	cause = NULL;
	model_free(m);

	m = model_begin("custom", 1, 4, 4, 3);
	model_add_flatten(m, MODEL_INPUT);
	model_add_linear(m, MODEL_PREV, 4, 1);
	tap_ok(model_finish(m, 1, &cause) == -1 && cause && strstr(cause, "3 classes"),
	       "a network ending in the wrong width is refused: %s", cause ? cause : "(none)");
	free(cause);
	model_free(m);

	const char *const *names = model_arch_names();
	int k = 0, all_help = 1;
	for (; names[k]; k++)
		all_help &= model_arch_help(names[k]) != NULL;
	tap_ok(k == 4 && all_help, "four zoo names, each with help");
	tap_ok(model_arch_help("nope") == NULL, "no help for an unknown arch");
}

/* Mean and standard deviation of n floats. */
static void
moments(const float *x, size_t n, double *mean, double *sd)
{
	double s = 0, s2 = 0;
	for (size_t i = 0; i < n; i++) {
		s += x[i];
		s2 += (double)x[i] * x[i];
	}
	*mean = s / n;
	*sd = sqrt(s2 / n - *mean * *mean);
}

static void
test_init_and_arenas(void)
{
	struct model *m = zoo("cnn", 1, 28, 28);
	double mean, sd;
	const struct model_tensor *t = find_tensor(m, "08_fc", "weight");
	moments(t->data, t->size, &mean, &sd);
	tap_near(sd, sqrt(2.0 / 9216), 0.02 * sqrt(2.0 / 9216), "cnn: He std of 08_fc is sqrt(2/9216)");
	tap_near(mean, 0.0, 0.05 * sqrt(2.0 / 9216), "cnn: He mean 0");
	t = find_tensor(m, "03_conv", "weight");
	moments(t->data, t->size, &mean, &sd);
	tap_near(sd, sqrt(2.0 / (32 * 9)), 0.03 * sqrt(2.0 / (32 * 9)), "cnn: He std of 03_conv (fan_in 288)");

	int ok_bn = 1, ok_bias = 1, aligned = 1;
	long trainable = 0;
	size_t n_decay, n_train;
	float *base = model_params(m, &n_decay, &n_train);
	int regions_ok = 1;
	for (int i = 0; i < model_tensor_count(m); i++) {
		t = model_tensor_at(m, i);
		aligned &= ((uintptr_t)t->data % 64) == 0;
		size_t off = (size_t)(t->data - base);
		if (strcmp(t->name, "weight") == 0)
			regions_ok &= off + t->size <= n_decay;
		else if (t->trainable)
			regions_ok &= off >= n_decay && off + t->size <= n_train;
		else
			regions_ok &= off >= n_train;
		for (size_t j = 0; j < t->size; j++) {
			if (strcmp(t->name, "gamma") == 0 || strcmp(t->name, "running_var") == 0)
				ok_bn &= t->data[j] == 1.0f;
			if (strcmp(t->name, "beta") == 0 || strcmp(t->name, "running_mean") == 0)
				ok_bn &= t->data[j] == 0.0f;
			if (strcmp(t->name, "bias") == 0)
				ok_bias &= t->data[j] == 0.0f;
		}
		if (t->trainable)
			trainable += (long)t->size;
	}
	tap_ok(ok_bn, "cnn: BN gamma 1, beta 0, running mean 0, running var 1");
	tap_ok(ok_bias, "cnn: biases 0");
	tap_ok(aligned, "every tensor is 64-byte aligned");
	tap_ok(regions_ok, "weights, other trainables and buffers lie in their regions");
	tap_eq_int(trainable, model_param_count(m), "trainable tensor sizes add up to the count");

	struct model *m2 = zoo("cnn", 1, 28, 28);
	t = find_tensor(m, "03_conv", "weight");
	const struct model_tensor *t2 = find_tensor(m2, "03_conv", "weight");
	tap_same_floats(t->data, t2->data, t->size, "same seed, same weights");
	model_free(m2);
	model_free(m);

	/* A network without ReLU takes Glorot uniform: limit sqrt(6/(fan_in+fan_out)). */
	m = model_begin("tanhnet", 1, 1, 200, 100);
	model_add_linear(m, MODEL_INPUT, 300, 1);
	model_add_hardtanh(m, MODEL_PREV);
	model_add_linear(m, MODEL_PREV, 100, 1);
	char *cause = NULL;
	tap_ok(model_finish(m, 3, &cause) == 0, "custom hardtanh network builds");
	t = model_tensor_at(m, 0);
	double lim = sqrt(6.0 / (200 + 300));
	float lo = 0, hi = 0;
	for (size_t j = 0; j < t->size; j++) {
		lo = t->data[j] < lo ? t->data[j] : lo;
		hi = t->data[j] > hi ? t->data[j] : hi;
	}
	moments(t->data, t->size, &mean, &sd);
	tap_ok(lo >= -lim && hi <= lim && hi > 0.98 * lim, "Glorot: values within +-%.4f", lim);
	tap_near(sd, lim / sqrt(3.0), 0.02 * lim, "Glorot: std limit/sqrt(3)");
	model_free(m);
}

static void
fill_normal(float *x, size_t n, uint64_t seed)
{
	struct rng r;
	rng_seed(&r, seed);
	for (size_t i = 0; i < n; i++)
		x[i] = rng_normal(&r);
}

static void
test_forward(void)
{
	const char *const *names = model_arch_names();
	for (int k = 0; names[k]; k++) {
		struct model *m = zoo(names[k], 1, 28, 28);
		model_reserve(m, 3, 0);
		fill_normal(model_input(m), 3 * 784, 5);
		const float *y = model_forward(m, 3, 0, NULL);
		float first[10];
		int finite = 1;
		for (int i = 0; i < 30; i++)
			finite &= isfinite(y[i]);
		memcpy(first, y + 10, sizeof first);
		tap_ok(finite, "%s: forward gives 3x10 finite logits", names[k]);
		/* Eval mode is per example: example 1 alone gives the same logits. */
		memmove(model_input(m), model_input(m) + 784, 784 * sizeof(float));
		y = model_forward(m, 1, 0, NULL);
		tap_near_arrays(y, first, 10, 1e-5, 1e-4, "%s: eval logits do not depend on the batch",
				names[k]);
		/* Growing the batch keeps the model working. */
		model_reserve(m, 7, 1);
		fill_normal(model_input(m), 7 * 784, 6);
		y = model_forward(m, 7, 1, NULL);
		finite = 1;
		for (int i = 0; i < 70; i++)
			finite &= isfinite(y[i]);
		tap_ok(finite, "%s: training forward at a grown batch of 7", names[k]);
		model_free(m);
	}
}

/* Mean cross-entropy of the model on its current input (training mode), in double. */
static double
model_loss(struct model *m, int B, const int32_t *labels, const struct rng *drop)
{
	struct rng r = *drop;
	int K = model_classes(m);
	const float *y = model_forward(m, B, 1, &r);
	double sum = 0;
	for (int b = 0; b < B; b++) {
		const float *row = y + (size_t)b * K;
		double mx = row[0], z = 0;
		for (int k = 1; k < K; k++)
			mx = row[k] > mx ? row[k] : mx;
		for (int k = 0; k < K; k++)
			z += exp(row[k] - mx);
		sum += mx + log(z) - row[labels[b]];
	}
	return sum / B;
}

/* Central difference of the loss with respect to p[j], step h. */
static double
central_diff(struct model *m, float *p, size_t j, double h, int B, const int32_t *labels,
	     const struct rng *drop)
{
	float save = p[j];
	p[j] = save + (float)h;
	double lp = model_loss(m, B, labels, drop);
	p[j] = save - (float)h;
	double lm = model_loss(m, B, labels, drop);
	p[j] = save;
	return (lp - lm) / (2 * h);
}

/*
 * Central differences of the loss for `count` random trainable parameters of m
 * against model_backward(). ReLU, max-pool and hardtanh make the loss
 * piecewise smooth: a parameter whose differences at steps h and h/2 disagree
 * straddles a kink, and another one is drawn in its place (at most `count`
 * times).
 */
static void
gradient_check(struct model *m, int B, int count, double h, double rtol, const char *what)
{
	int K = model_classes(m);
	int32_t labels[16];
	float probs[16 * 16];
	int c, hh, w;
	model_input_shape(m, &c, &hh, &w);
	model_reserve(m, B, 1);
	fill_normal(model_input(m), (size_t)B * c * hh * w, 11);
	for (int b = 0; b < B; b++)
		labels[b] = b % K;
	struct rng drop;
	rng_seed(&drop, 99);

	struct rng r = drop;
	const float *y = model_forward(m, B, 1, &r);
	softmax_xent_forward(probs, y, labels, B, K);
	memset(model_output_grad(m), 0, (size_t)B * K * sizeof(float));
	softmax_xent_backward(model_output_grad(m), probs, labels, B, K);
	model_zero_grad(m);
	model_backward(m, B);

	size_t n_decay, n_train;
	float *p = model_params(m, &n_decay, &n_train);
	float *g = model_grads(m);
	float *num = xmalloc((size_t)count * sizeof *num), *ana = xmalloc((size_t)count * sizeof *ana);
	struct rng pick;
	rng_seed(&pick, 1234);
	int nt = model_tensor_count(m), got = 0, kinks = 0;
	while (got < count && kinks < count) {
		const struct model_tensor *t;
		do
			t = model_tensor_at(m, (int)rng_below(&pick, (uint32_t)nt));
		while (!t->trainable);
		size_t j = (size_t)(t->data - p) + rng_below(&pick, (uint32_t)t->size);
		double d1 = central_diff(m, p, j, h, B, labels, &drop);
		double d2 = central_diff(m, p, j, h / 2, B, labels, &drop);
		if (fabs(d1 - d2) > 5e-4 + 5e-3 * fabs(d2)) {
			kinks++;
			continue;
		}
		num[got] = (float)d2;
		ana[got] = g[j];
		got++;
	}
	tap_ok(got == count, "%s: %d parameters checked, %d replaced at kinks", what, got, kinks);
	tap_near_arrays(ana, num, (size_t)got, 1e-3, rtol,
			"%s: backward matches central differences", what);
	free(num);
	free(ana);
}

static void
test_gradients(void)
{
	struct model *m = model_new("lenet5", 1, 28, 28, 10, 7, NULL);
	gradient_check(m, 2, 40, 1e-3, 1e-2, "lenet5 B=2");
	model_free(m);

	m = model_new("cnn", 1, 8, 8, 10, 7, NULL);
	gradient_check(m, 2, 40, 1e-3, 1e-2, "cnn on 8x8 B=2");
	model_free(m);

	/* 20 layers of BN and ReLU: the differences are noisier, hence 10%. */
	m = model_new("resnet20", 1, 12, 12, 10, 7, NULL);
	gradient_check(m, 3, 40, 1e-3, 0.1, "resnet20 on 12x12 B=3");
	model_free(m);

	/* Every other layer kind: residual, avg pool, hardtanh, global pool, dropout. */
	m = model_begin("mix", 2, 6, 6, 5);
	int a = model_add_conv2d(m, MODEL_INPUT, 4, 3, 1, 1, 1);
	model_add_batchnorm(m, MODEL_PREV);
	a = model_add_relu(m, MODEL_PREV);
	model_add_conv2d(m, a, 4, 3, 1, 1, 0);
	int b = model_add_batchnorm(m, MODEL_PREV);
	model_add_residual(m, b, a);
	model_add_relu(m, MODEL_PREV);
	model_add_maxpool(m, MODEL_PREV, 2, 2);
	model_add_conv2d(m, MODEL_PREV, 6, 3, 1, 1, 0);
	model_add_hardtanh(m, MODEL_PREV);
	model_add_avgpool(m, MODEL_PREV, 2, 1);
	model_add_globalavgpool(m, MODEL_PREV);
	model_add_dropout(m, MODEL_PREV, 0.25f);
	model_add_linear(m, MODEL_PREV, 5, 1);
	char *cause = NULL;
	if (model_finish(m, 5, &cause) < 0)
		tap_diag("%s", cause);
	gradient_check(m, 4, 40, 1e-3, 1e-2, "mixed network B=4");
	model_free(m);
	free(cause);
}

/* A test quantizer: rounds to multiples of 1/8, straight-through gradient. */
struct q8 {
	int calls_fwd, calls_bwd;
	int identity; /* copy instead of rounding */
};

static void
q8_forward(void *ctx, float *y, const float *x, size_t n, int training)
{
	struct q8 *q = ctx;
	(void)training;
	q->calls_fwd++;
	for (size_t i = 0; i < n; i++)
		y[i] = q->identity ? x[i] : roundf(x[i] * 8.0f) / 8.0f;
}

static void
q8_backward(void *ctx, float *dx, const float *dy, const float *x, size_t n)
{
	struct q8 *q = ctx;
	(void)x;
	q->calls_bwd++;
	if (dx)
		for (size_t i = 0; i < n; i++)
			dx[i] += dy[i];
}

static void
grads_of(struct model *m, int B, const float *x, float *logits_out, float *grads_out)
{
	int K = model_classes(m);
	int32_t labels[4] = {0, 1, 2, 3};
	float probs[4 * 10];
	size_t n_train;
	model_params(m, NULL, &n_train);
	model_reserve(m, B, 1);
	memcpy(model_input(m), x, (size_t)B * 784 * sizeof(float));
	const float *y = model_forward(m, B, 1, NULL);
	memcpy(logits_out, y, (size_t)B * K * sizeof(float));
	softmax_xent_forward(probs, y, labels, B, K);
	memset(model_output_grad(m), 0, (size_t)B * K * sizeof(float));
	softmax_xent_backward(model_output_grad(m), probs, labels, B, K);
	model_zero_grad(m);
	model_backward(m, B);
	memcpy(grads_out, model_grads(m), n_train * sizeof(float));
}

static void
test_quantizers(void)
{
	const int B = 4;
	float *x = xmalloc((size_t)B * 784 * sizeof *x), *xq = xmalloc((size_t)B * 784 * sizeof *xq);
	fill_normal(x, (size_t)B * 784, 21);
	for (int i = 0; i < B * 784; i++)
		xq[i] = roundf(x[i] * 8.0f) / 8.0f;

	/* Model A: quantizers on every weight and on the first layer's input. */
	struct model *a = model_new("lenet5", 1, 28, 28, 10, 3, NULL);
	struct model *f = model_new("lenet5", 1, 28, 28, 10, 3, NULL);
	struct q8 qs = {0, 0, 0};
	struct model_quantizer wq = {&qs, q8_forward, q8_backward};
	char *cause = NULL;
	int set = 0;
	for (int i = 0; i < model_layer_count(a); i++) {
		const char *kind = model_layer_at(a, i)->kind;
		if (strcmp(kind, "conv2d") == 0 || strcmp(kind, "linear") == 0)
			set += model_set_quantizers(a, i, &wq, i == 0 ? &wq : NULL, NULL) == 0;
	}
	tap_eq_int(set, 5, "quantizers attach to the 5 conv/linear layers of lenet5");
	tap_ok(model_set_quantizers(a, 1, &wq, NULL, &cause) == -1 && cause,
	       "a relu takes no quantizer: %s", cause ? cause : "");
	free(cause);

	/* Model F: float, with the weights and input rounded by hand. */
	for (int i = 0; i < model_tensor_count(f); i++) {
		const struct model_tensor *t = model_tensor_at(f, i);
		if (strcmp(t->name, "weight") == 0)
			for (size_t j = 0; j < t->size; j++)
				t->data[j] = roundf(t->data[j] * 8.0f) / 8.0f;
	}
	size_t n_train;
	model_params(a, NULL, &n_train);
	float la[40], lf[40];
	float *ga = xmalloc(n_train * sizeof *ga), *gf = xmalloc(n_train * sizeof *gf);
	grads_of(a, B, x, la, ga);
	grads_of(f, B, xq, lf, gf);
	tap_same_floats(la, lf, 40, "quantised forward = float forward on rounded weights and input");
	tap_same_floats(ga, gf, n_train, "straight-through gradients = gradients at the rounded point");
	tap_eq_int(qs.calls_fwd, 6, "one weight quantization per layer and one input quantization");
	tap_eq_int(qs.calls_bwd, 6, "and as many backward calls");
	model_free(a);
	model_free(f);

	/* An identity quantizer on inner inputs changes nothing, gradients included. */
	a = model_new("lenet5", 1, 28, 28, 10, 3, NULL);
	f = model_new("lenet5", 1, 28, 28, 10, 3, NULL);
	struct q8 qi = {0, 0, 1};
	struct model_quantizer id = {&qi, q8_forward, q8_backward};
	model_set_quantizers(a, 3, NULL, &id, NULL);
	model_set_quantizers(a, 7, &id, &id, NULL);
	grads_of(a, B, x, la, ga);
	grads_of(f, B, x, lf, gf);
	tap_same_floats(la, lf, 40, "identity quantizers on inner layers: same logits");
	tap_same_floats(ga, gf, n_train, "identity quantizers on inner layers: same gradients");
	model_free(a);
	model_free(f);
	free(ga);
	free(gf);
	free(x);
	free(xq);
}

/* ======================= derived models ======================= */

/* Uniform value in [lo, hi). */
static float
uniform_in(struct rng *r, float lo, float hi)
{
	return lo + (hi - lo) * rng_uniform(r);
}

/*
 * Gives m non-trivial biases and batch-norm parameters and statistics (gamma
 * in [0.5, 1.5), beta and running mean N(0, 0.3²), running variance in
 * [0.3, 2)), so that folding has something to fold.
 */
static void
randomise_bn(struct model *m, uint64_t seed)
{
	struct rng r;
	rng_seed(&r, seed);
	for (int i = 0; i < model_tensor_count(m); i++) {
		const struct model_tensor *t = model_tensor_at(m, i);
		for (size_t j = 0; j < t->size; j++) {
			if (strcmp(t->name, "gamma") == 0)
				t->data[j] = uniform_in(&r, 0.5f, 1.5f);
			else if (strcmp(t->name, "running_var") == 0)
				t->data[j] = uniform_in(&r, 0.3f, 2.0f);
			else if (strcmp(t->name, "beta") == 0 || strcmp(t->name, "running_mean") == 0 ||
				 strcmp(t->name, "bias") == 0)
				t->data[j] = 0.3f * rng_normal(&r);
		}
	}
}

/* Eval-mode logits of m on x (B examples), malloc'd. */
static float *
eval_copy(struct model *m, const float *x, int B)
{
	int c, h, w;
	model_input_shape(m, &c, &h, &w);
	model_reserve(m, B, 0);
	memcpy(model_input(m), x, (size_t)B * c * h * w * sizeof *x);
	const float *y = model_forward(m, B, 0, NULL);
	size_t n = (size_t)B * model_classes(m);
	float *out = xmalloc(n * sizeof *out);
	memcpy(out, y, n * sizeof *out);
	return out;
}

static double
max_abs(const float *x, size_t n)
{
	double mx = 0;
	for (size_t i = 0; i < n; i++)
		mx = fabs(x[i]) > mx ? fabs(x[i]) : mx;
	return mx;
}

static int
count_kind(const struct model *m, const char *kind)
{
	int n = 0;
	for (int i = 0; i < model_layer_count(m); i++)
		n += strcmp(model_layer_at(m, i)->kind, kind) == 0;
	return n;
}

/*
 * Folding: a network with a conv with bias, a conv without, a batch norm
 * over features after a linear layer (all three folded), and a batch norm
 * whose conv also feeds a residual add (not folded: the conv has two readers).
 */
static void
test_fold_bn(void)
{
	struct model *m = model_begin("foldnet", 3, 6, 6, 5);
	model_add_conv2d(m, MODEL_INPUT, 4, 3, 1, 1, 1); /* 0: 4x6x6 */
	model_add_batchnorm(m, MODEL_PREV);		 /* 1 */
	model_add_relu(m, MODEL_PREV);			 /* 2 */
	model_add_conv2d(m, MODEL_PREV, 6, 3, 1, 0, 0);	 /* 3: 6x4x4 */
	model_add_batchnorm(m, MODEL_PREV);		 /* 4 */
	model_add_relu(m, MODEL_PREV);			 /* 5 */
	int c6 = model_add_conv2d(m, MODEL_PREV, 6, 1, 1, 0, 0); /* 6 */
	int b7 = model_add_batchnorm(m, MODEL_PREV);		 /* 7 */
	model_add_residual(m, b7, c6);				 /* 8 */
	model_add_relu(m, MODEL_PREV);				 /* 9 */
	model_add_flatten(m, MODEL_PREV);			 /* 10: 96 */
	model_add_linear(m, MODEL_PREV, 8, 1);			 /* 11 */
	model_add_batchnorm(m, MODEL_PREV);			 /* 12 */
	model_add_relu(m, MODEL_PREV);				 /* 13 */
	model_add_linear(m, MODEL_PREV, 5, 1);			 /* 14 */
	char *cause = NULL;
	if (model_finish(m, 3, &cause) < 0) {
		tap_diag("foldnet: %s", cause);
		free(cause);
		model_free(m);
		tap_ok(0, "foldnet builds");
		return;
	}
	randomise_bn(m, 17);
	const int B = 4, n0 = model_layer_count(m);
	float *x = xmalloc((size_t)B * 3 * 36 * sizeof *x);
	fill_normal(x, (size_t)B * 3 * 36, 18);
	float *want = eval_copy(m, x, B);

	int map[15];
	struct model *d = model_derive(m, 1, NULL, map, &cause);
	tap_ok(d != NULL, "fold_bn: model_derive succeeds%s%s", cause ? ": " : "",
	       cause ? cause : "");
	free(cause);
	cause = NULL;
	if (d) {
		float *got = eval_copy(d, x, B);
		double mx = max_abs(want, (size_t)B * 5);
		tap_near_arrays(got, want, (size_t)B * 5, 1e-5 * mx, 1e-5,
				"fold_bn: eval outputs equal the unfolded model's (max |y| %.3g)", mx);
		free(got);
		tap_eq_int(model_layer_count(d), n0 - 3, "fold_bn: three of four batch norms are gone");
		tap_eq_int(count_kind(d, "batchnorm"), 1, "fold_bn: the one with a shared conv stays");
		tap_ok(map[1] == map[0] && map[4] == map[3] && map[12] == map[11],
		       "fold_bn: folded batch norms map to their producers (%d %d, %d %d, %d %d)",
		       map[1], map[0], map[4], map[3], map[12], map[11]);
		int ok = 1;
		for (int i = 1; i < n0; i++)
			ok &= map[i] >= map[i - 1] && map[i] <= map[i - 1] + 1;
		tap_ok(ok && map[14] == model_layer_count(d) - 1,
		       "fold_bn: map is non-decreasing and the last layer maps to the last");
		tap_ok(strcmp(model_layer_at(d, map[7])->kind, "batchnorm") == 0 &&
			       map[7] == map[6] + 1 && strcmp(model_layer_at(d, map[8])->kind, "residual") == 0,
		       "fold_bn: the kept batch norm and the residual keep their places");
		tap_ok(model_layer_bias(d, map[0]) && model_layer_bias(d, map[3]) &&
			       model_layer_bias(d, map[11]),
		       "fold_bn: every folded conv/linear has a bias (03_conv had none)");
		tap_ok(model_layer_bias(d, map[6]) == NULL,
		       "fold_bn: the conv whose batch norm stays gains no bias");
		/* the folded bias of one channel by hand: beta + (b - mean)·gamma/sqrt(var + eps) */
		const struct model_tensor *bn = find_tensor(m, "04_bn", "gamma");
		const struct model_tensor *be = find_tensor(m, "04_bn", "beta");
		const struct model_tensor *mu = find_tensor(m, "04_bn", "running_mean");
		const struct model_tensor *va = find_tensor(m, "04_bn", "running_var");
		if (bn && be && mu && va) {
			double g = bn->data[2] / sqrt((double)va->data[2] + 1e-5);
			double want_b = be->data[2] - mu->data[2] * g;
			tap_near(model_layer_bias(d, map[3])[2], want_b, 1e-6 * (1 + fabs(want_b)),
				 "fold_bn: 03_conv's new bias[2] is beta - mean·gamma/sqrt(var + eps)");
		} else {
			tap_ok(0, "fold_bn: 04_bn's tensors are found");
		}
		model_free(d);
	}

	/* without fold_bn the derived model is a copy */
	d = model_derive(m, 0, NULL, map, &cause);
	if (d) {
		float *got = eval_copy(d, x, B);
		tap_same_floats(got, want, (size_t)B * 5, "no edits: the derived model is a copy");
		free(got);
		tap_eq_int(model_layer_count(d), n0, "no edits: same layer count");
		model_free(d);
	} else {
		tap_ok(0, "no edits: model_derive succeeds: %s", cause);
		free(cause);
		cause = NULL;
	}
	/* shift-based batch norm cannot be folded */
	model_set_bn_shift(m, 1);
	d = model_derive(m, 1, NULL, NULL, &cause);
	tap_ok(d == NULL && cause && strstr(cause, "shift"),
	       "fold_bn of shift-based batch norm is refused: %s", cause ? cause : "(none)");
	free(cause);
	model_free(d);
	free(want);
	free(x);
	model_free(m);
}

/*
 * The network of the duplication tests: a conv reading a ReLU (4 channels), a
 * linear layer reading a (5, 2, 2) pooling output directly (model_derive
 * flattens it first) and a linear layer reading a flatten layer.
 */
static struct model *
dup_net(void)
{
	struct model *m = model_begin("dupnet", 2, 6, 6, 4);
	model_add_conv2d(m, MODEL_INPUT, 4, 3, 1, 1, 1); /* 0: 4x6x6 */
	model_add_relu(m, MODEL_PREV);			 /* 1 */
	model_add_conv2d(m, MODEL_PREV, 5, 3, 1, 0, 1);	 /* 2: 5x4x4, input 4 channels */
	model_add_relu(m, MODEL_PREV);			 /* 3 */
	model_add_maxpool(m, MODEL_PREV, 2, 2);		 /* 4: 5x2x2 */
	model_add_linear(m, MODEL_PREV, 8, 1);		 /* 5: 20 features in */
	model_add_relu(m, MODEL_PREV);			 /* 6 */
	model_add_flatten(m, MODEL_PREV);		 /* 7 */
	model_add_linear(m, MODEL_PREV, 4, 1);		 /* 8: 8 features in */
	char *cause = NULL;
	if (model_finish(m, 9, &cause) < 0) {
		tap_diag("dupnet: %s", cause);
		free(cause);
		model_free(m);
		return NULL;
	}
	randomise_bn(m, 10); /* biases */
	return m;
}

/*
 * Fills the weight of new layer j (split input, I + extra channels of K values
 * per output row, O rows) from old weight w (O x I x K) for duplicated
 * channels src[I..]: halves (style 0, chandup factors 1: the weight is split
 * in two) or copies (style 1, chandup factors 0.5 on both copies: the
 * activation is split in two).
 */
static void
fill_split(float *wn, const float *w, int O, int I, int K, const int32_t *src, int extra,
	   int style)
{
	int In = I + extra;
	for (int o = 0; o < O; o++) {
		float *row = wn + (size_t)o * In * K;
		memcpy(row, w + (size_t)o * I * K, (size_t)I * K * sizeof *row);
		for (int j = 0; j < extra; j++) {
			int s = src[I + j];
			for (int k = 0; k < K; k++) {
				if (style == 0)
					row[(size_t)s * K + k] *= 0.5f;
				row[(size_t)(I + j) * K + k] = row[(size_t)s * K + k];
				if (style == 1)
					row[(size_t)(I + j) * K + k] = w[((size_t)o * I + s) * K + k];
			}
		}
	}
}

static void
test_derive_dups(void)
{
	struct model *m = dup_net();
	if (!m) {
		tap_ok(0, "dupnet builds");
		return;
	}
	const int B = 3, n0 = model_layer_count(m);
	float *x = xmalloc((size_t)B * 72 * sizeof *x);
	fill_normal(x, (size_t)B * 72, 31);
	float *want = eval_copy(m, x, B);
	double mx = max_abs(want, (size_t)B * 4);
	/* duplicated channels per layer (2: conv, 5: linear on 20 features, 8: linear on 8) */
	static const int layers[3] = {2, 5, 8}, I[3] = {4, 20, 8}, K[3] = {9, 1, 1};
	static const int32_t extra_w[3][3] = {{1, 3, 1}, {7, 19, 0}, {5, 5, 2}};
	static const int32_t extra_a[3][3] = {{2, 0, 3}, {11, 4, 16}, {6, 1, 7}};
	for (int style = 0; style < 2; style++) {
		const char *what = style ? "activation-style (factors 0.5, copied columns)"
					 : "weight-style (factors 1, halved weights)";
		struct model_dup dups[9];
		int32_t src[3][32];
		float fac[3][32];
		memset(dups, 0, sizeof dups);
		for (int k = 0; k < 3; k++) {
			for (int o = 0; o < I[k]; o++) {
				src[k][o] = o;
				fac[k][o] = 1.0f;
			}
			for (int j = 0; j < 3; j++) {
				src[k][I[k] + j] = style ? extra_a[k][j] : extra_w[k][j];
				fac[k][I[k] + j] = 1.0f;
				if (style) {
					fac[k][src[k][I[k] + j]] = 0.5f;
					fac[k][I[k] + j] = 0.5f;
				}
			}
			dups[layers[k]] = (struct model_dup){I[k] + 3, src[k], style ? fac[k] : NULL};
		}
		int map[9];
		char *cause = NULL;
		struct model *d = model_derive(m, 0, dups, map, &cause);
		tap_ok(d != NULL, "dups %s: model_derive succeeds%s%s", what, cause ? ": " : "",
		       cause ? cause : "");
		free(cause);
		if (!d)
			continue;
		/* one chandup per edited layer, and a flatten before the linear reading (5, 2, 2) */
		tap_eq_int(model_layer_count(d), n0 + 4, "dups %s: three chandups and a flatten",
			   what);
		int placed = 1;
		for (int k = 0; k < 3; k++) {
			int j = map[layers[k]];
			placed &= model_layer_input(d, j) == j - 1 &&
				  strcmp(model_layer_at(d, j - 1)->kind, "chandup") == 0 &&
				  model_layer_at(d, j - 1)->out_shape[0] == I[k] + 3;
		}
		placed &= strcmp(model_layer_at(d, map[5] - 2)->kind, "flatten") == 0 &&
			  model_layer_at(d, map[5] - 2)->out_shape[0] == 20;
		placed &= strcmp(model_layer_at(d, map[8] - 2)->kind, "flatten") == 0 &&
			  map[8] - 2 == map[7];
		tap_ok(placed, "dups %s: chandup right before each edited layer", what);
		/* new weights: original values kept, appended columns zero */
		int kept = 1;
		for (int k = 0; k < 3; k++) {
			size_t nw;
			const float *w = model_layer_weight(m, layers[k], NULL);
			float *wd = model_layer_weight(d, map[layers[k]], &nw);
			int O = model_layer_at(m, layers[k])->out_shape[0];
			kept &= nw == (size_t)O * (I[k] + 3) * K[k];
			for (int o = 0; o < O && kept; o++)
				for (int i = 0; i < (I[k] + 3) * K[k]; i++) {
					float v = wd[(size_t)o * (I[k] + 3) * K[k] + i];
					kept &= i < I[k] * K[k] ? v == w[(size_t)o * I[k] * K[k] + i]
								: v == 0.0f;
				}
		}
		tap_ok(kept, "dups %s: widened weights keep the old values, appended ones are 0",
		       what);
		for (int k = 0; k < 3; k++) {
			int O = model_layer_at(m, layers[k])->out_shape[0];
			fill_split(model_layer_weight(d, map[layers[k]], NULL),
				   model_layer_weight(m, layers[k], NULL), O, I[k], K[k], src[k], 3,
				   style);
		}
		float *got = eval_copy(d, x, B);
		tap_near_arrays(got, want, (size_t)B * 4, 1e-5 * mx, 1e-5,
				"dups %s: the same outputs as the original", what);
		free(got);
		if (style == 1)
			gradient_check(d, 3, 30, 1e-3, 1e-2, "derived model with chandup layers");
		model_free(d);
	}
	free(want);
	free(x);
	model_free(m);

	/* a chandup with other factors inside a network: gradients through it */
	m = model_begin("dupgrad", 2, 5, 5, 3);
	model_add_conv2d(m, MODEL_INPUT, 3, 3, 1, 1, 1);
	model_add_relu(m, MODEL_PREV);
	static const int32_t s5[5] = {2, 0, 1, 2, 0};
	static const float f5[5] = {1.0f, -0.5f, 2.0f, 0.25f, 1.0f};
	model_add_chandup(m, MODEL_PREV, 5, s5, f5);
	model_add_conv2d(m, MODEL_PREV, 4, 3, 1, 0, 1);
	model_add_relu(m, MODEL_PREV);
	model_add_flatten(m, MODEL_PREV);
	model_add_linear(m, MODEL_PREV, 3, 1);
	char *cause = NULL;
	if (model_finish(m, 4, &cause) < 0) {
		tap_ok(0, "dupgrad builds: %s", cause);
		free(cause);
	} else {
		tap_eq_str(model_layer_at(m, 2)->kind, "chandup", "a chandup layer reports its kind");
		tap_ok(model_layer_at(m, 2)->out_shape[0] == 5 && model_layer_at(m, 2)->params == 0 &&
			       model_layer_at(m, 2)->macs == 0,
		       "chandup: 5 channels out, no parameters, no MACs");
		randomise_bn(m, 5); /* biases away from 0: no ReLU input sits at its kink */
		gradient_check(m, 3, 30, 1e-3, 1e-2, "network with a chandup (factors -0.5..2)");
	}
	model_free(m);

	/* a chandup reading a channel that does not exist */
	m = model_begin("dupbad", 2, 5, 5, 3);
	static const int32_t bad[3] = {0, 1, 2};
	int r = model_add_chandup(m, MODEL_INPUT, 3, bad, NULL);
	int fin = model_finish(m, 1, &cause);
	tap_ok(r == -1 && fin == -1 && cause && strstr(cause, "chandup"),
	       "a chandup reading channel 2 of 2 is refused: %s", cause ? cause : "(none)");
	free(cause);
	model_free(m);
}

/* Copy of m's activation of layer i (B examples; the model input for MODEL_INPUT). */
static float *
activation_copy(struct model *m, int i, int B)
{
	int c, h, w;
	size_t n;
	const float *src;
	if (i == MODEL_INPUT) {
		model_input_shape(m, &c, &h, &w);
		n = (size_t)c * h * w;
		src = model_input(m);
	} else {
		const int *s = model_layer_at(m, i)->out_shape;
		n = (size_t)s[0] * s[1] * s[2];
		src = model_activation(m, i);
	}
	float *out = xmalloc((size_t)B * n * sizeof *out);
	memcpy(out, src, (size_t)B * n * sizeof *out);
	return out;
}

/* Index of the first layer of kind at or after `from` (-1 if none). */
static int
next_kind(const struct model *m, int from, const char *kind)
{
	for (int i = from; i < model_layer_count(m); i++)
		if (strcmp(model_layer_at(m, i)->kind, kind) == 0)
			return i;
	return -1;
}

/* Slice [a, b] of m fed with the activation m's layer a reads must give m's activation of b. */
static void
check_slice(struct model *m, int a, int b, const float *x, int B, const char *what)
{
	char *cause = NULL;
	model_reserve(m, B, 0);
	int c, h, w;
	model_input_shape(m, &c, &h, &w);
	memcpy(model_input(m), x, (size_t)B * c * h * w * sizeof *x);
	model_forward(m, B, 0, NULL);
	float *in = activation_copy(m, model_layer_input(m, a), B);
	float *want = activation_copy(m, b, B); /* for the last layer: the logits */
	struct model *s = model_slice(m, a, b, 0, &cause);
	tap_ok(s != NULL, "%s: slice %d..%d builds%s%s", what, a, b, cause ? ": " : "",
	       cause ? cause : "");
	free(cause);
	if (s) {
		const int *os = model_layer_at(m, b)->out_shape;
		size_t n = (size_t)B * os[0] * os[1] * os[2];
		int sc, sh, sw;
		model_input_shape(s, &sc, &sh, &sw);
		int ic, ih, iw;
		model_layer_input_shape(m, a, &ic, &ih, &iw);
		tap_ok(sc == ic && sh == ih && sw == iw &&
			       (size_t)model_classes(s) == (size_t)os[0] * os[1] * os[2] &&
			       model_layer_count(s) == b - a + 1,
		       "%s: the slice's input is %dx%dx%d, its output %d values, %d layers", what,
		       sc, sh, sw, model_classes(s), model_layer_count(s));
		float *got = eval_copy(s, in, B);
		tap_same_floats(got, want, n, "%s: slice output = model_activation(%d)", what, b);
		free(got);
		model_free(s);
	}
	free(in);
	free(want);
}

static void
test_slice(void)
{
	struct model *m = zoo("resnet20", 1, 8, 8);
	if (!m)
		return;
	randomise_bn(m, 41);
	const int B = 3, n = model_layer_count(m);
	float *x = xmalloc((size_t)B * 64 * sizeof *x);
	fill_normal(x, (size_t)B * 64, 42);
	/* the first block: conv bn relu conv bn add relu after the stem (conv bn relu) */
	int a = next_kind(m, 1, "conv2d"), add = next_kind(m, a, "residual"), end = add + 1;
	tap_ok(a == 3 && add == 8 && strcmp(model_layer_at(m, end)->kind, "relu") == 0 &&
		       model_layer_input2(m, add) == 2,
	       "resnet20: the first block is layers 3..9, its add reads the stem's ReLU");
	check_slice(m, 0, 2, x, B, "resnet20 stem (reads the model input)");
	check_slice(m, a, end, x, B, "resnet20 first block");
	check_slice(m, a, end + 7, x, B, "resnet20 two blocks");
	check_slice(m, a, n - 1, x, B, "resnet20 to the logits");
	/* the second conv of the block: the add reads the block input from outside */
	char *cause = NULL;
	struct model *s = model_slice(m, a + 3, end, 0, &cause);
	tap_ok(s == NULL && cause && strstr(cause, "outside") && strstr(cause, "06_conv"),
	       "a slice whose residual reads across its start is refused: %s",
	       cause ? cause : "(none)");
	free(cause);
	cause = NULL;
	model_free(s);
	/* a slice ending inside a block, whose later layers read it, is still a model */
	s = model_slice(m, a, a + 2, 0, &cause);
	tap_ok(s != NULL, "a slice ending mid-block (conv bn relu) builds");
	model_free(s);
	free(cause);

	/*
	 * input_grad: the first block of the folded network (conv, ReLU, conv,
	 * the add reading the slice input too, ReLU), and the first conv and
	 * batch norm of the unfolded one (training mode: batch statistics; no
	 * ReLU, whose kinks the batch statistics would move for every value at
	 * once), against central differences of L = Σ r·y in double.
	 */
	int map[128];
	struct model *f = n <= 128 ? model_derive(m, 1, NULL, map, NULL) : NULL;
	for (int v = 0; v < 2; v++) {
		struct model *src = v ? m : f;
		int s0 = v ? a : map[a], s1 = v ? a + 1 : map[end];
		const char *what = v ? "unfolded conv + batch norm (training mode)" : "folded first block";
		if (!src) {
			tap_ok(0, "%s: model", what);
			continue;
		}
		struct model *sl = model_slice(src, s0, s1, 1, &cause);
		if (!sl) {
			tap_ok(0, "%s: input_grad slice: %s", what, cause);
			free(cause);
			cause = NULL;
			continue;
		}
		int K = model_classes(sl), c, h, w;
		model_input_shape(sl, &c, &h, &w);
		size_t ni = (size_t)B * c * h * w;
		float *r = xmalloc((size_t)B * K * sizeof *r);
		fill_normal(r, (size_t)B * K, 43);
		model_reserve(sl, B, 1);
		float *in = model_input(sl);
		fill_normal(in, ni, 44);
		model_forward(sl, B, 1, NULL);
		memcpy(model_output_grad(sl), r, (size_t)B * K * sizeof *r);
		model_zero_grad(sl);
		model_backward(sl, B);
		float *dx = xmalloc(ni * sizeof *dx);
		memcpy(dx, model_input_grad(sl), ni * sizeof *dx);
		struct rng pick;
		rng_seed(&pick, 45);
		float num[24], ana[24];
		int got = 0, kinks = 0;
		while (got < 24 && kinks < 24) {
			size_t j = rng_below(&pick, (uint32_t)ni);
			double d[2];
			for (int t = 0; t < 2; t++) {
				double hstep = t ? 5e-3 : 1e-2, l[2];
				float save = in[j];
				for (int sgn = 0; sgn < 2; sgn++) {
					in[j] = save + (float)(sgn ? -hstep : hstep);
					const float *y = model_forward(sl, B, 1, NULL);
					double sum = 0;
					for (int i = 0; i < B * K; i++)
						sum += (double)r[i] * y[i];
					l[sgn] = sum;
				}
				in[j] = save;
				d[t] = (l[0] - l[1]) / (2 * hstep);
			}
			if (fabs(d[0] - d[1]) > 1e-3 + 1e-2 * fabs(d[1])) {
				kinks++;
				continue;
			}
			num[got] = (float)d[1];
			ana[got] = dx[j];
			got++;
		}
		tap_ok(got == 24, "%s: %d inputs checked, %d replaced at kinks", what, got, kinks);
		tap_near_arrays(ana, num, (size_t)got, 2e-3, 1e-2,
				"%s: model_input_grad matches central differences", what);
		double norm = max_abs(dx, ni);
		tap_ok(norm > 0, "%s: the input gradient is not zero (max %.3g)", what, norm);
		free(dx);
		free(r);
		model_free(sl);
	}
	model_free(f);
	free(x);
	model_free(m);
}

int
main(void)
{
	test_counts();
	test_errors();
	test_init_and_arenas();
	test_forward();
	test_gradients();
	test_quantizers();
	test_fold_bn();
	test_derive_dups();
	test_slice();
	return tap_done();
}
