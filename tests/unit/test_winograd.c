/*
 * test_winograd: the Winograd F(4x4, 3x3) convolution of conv_winograd.h.
 *
 * Forward, input gradient, weight gradient and bias gradient against a direct
 * 7-loop convolution accumulated in double, over: the cnn's conv2 shape,
 * padding 0, 1 and 2, odd sizes (partial tiles), channel counts that are
 * multiples of nothing, one image, a 1x1 output, and batches spanning several
 * chunks with a partial last one. Also: against the im2col path of conv2d on
 * a shape below the crossover, conv2d's dispatch, NULL gradients, accumulation
 * (a second backward doubles every gradient), and bit-identical results from
 * run to run with 1 and with 2 threads.
 *
 * Tolerance. Winograd's transforms mix values of different magnitudes
 * (entries of B^T up to 5, of A^T up to 8, of G down to 1/24), so its float
 * error is larger than a direct sum's and grows with the magnitudes of the
 * terms, not of the result. Errors are therefore measured relative to the
 * largest |value| of each reference array and printed as diagnostics; with
 * inputs and weights uniform in [-1, 1] they measure at most 5e-6 of that
 * scale on every shape here (forward and gradients alike), where the im2col
 * path measures 1e-7 to 3e-7. The checks allow WINO_TOL = 3e-5, six times the
 * largest error seen and still far below what a wrong transform, tile offset
 * or padding would give (errors of order 1).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/conv_winograd.h"
#include "engine/layers.h"
#include "engine/rng.h"
#include "engine/threads.h"
#include "engine/util.h"
#include "tests/unit/tap.h"

#define WINO_TOL 3e-5

static struct rng g_rng;

/* n values uniform in [-1, 1]; caller frees with xfree_aligned. */
static float *
rand_floats(size_t n)
{
	float *x = xalloc_floats(n ? n : 1);
	for (size_t i = 0; i < n; i++)
		x[i] = 2.0f * rng_uniform(&g_rng) - 1.0f;
	return x;
}

static float *
zeros(size_t n)
{
	return xalloc_floats(n ? n : 1);
}

struct shape {
	int B, C, H, W, OC, pad, bias;
};

struct wcase {
	struct shape s;
	int OH, OW;
	size_t nx, nw, no;
	float *x, *w, *b, *dy, *scratch;
	/* references, in double then rounded */
	float *ref_out, *ref_dx, *ref_dw, *ref_db;
};

/* Direct convolution and its gradients in double: the references. */
static void
direct(struct wcase *c)
{
	const struct shape *s = &c->s;
	double *out = xcalloc(c->no, sizeof(double)), *dx = xcalloc(c->nx, sizeof(double));
	double *dw = xcalloc(c->nw, sizeof(double)), *db = xcalloc((size_t)s->OC, sizeof(double));
	for (int b = 0; b < s->B; b++)
		for (int oc = 0; oc < s->OC; oc++)
			for (int oh = 0; oh < c->OH; oh++)
				for (int ow = 0; ow < c->OW; ow++) {
					size_t o = (((size_t)b * s->OC + oc) * c->OH + oh) * c->OW + ow;
					double acc = s->bias ? c->b[oc] : 0.0, g = c->dy[o];
					db[oc] += g;
					for (int ci = 0; ci < s->C; ci++)
						for (int kh = 0; kh < 3; kh++)
							for (int kw = 0; kw < 3; kw++) {
								int y = oh + kh - s->pad, x = ow + kw - s->pad;
								if (y < 0 || y >= s->H || x < 0 || x >= s->W)
									continue;
								size_t i = (((size_t)b * s->C + ci) * s->H + y) *
									   s->W + x;
								size_t k = (((size_t)oc * s->C + ci) * 3 + kh) * 3 + kw;
								acc += (double)c->x[i] * c->w[k];
								dx[i] += g * c->w[k];
								dw[k] += g * c->x[i];
							}
					out[o] = acc;
				}
	c->ref_out = zeros(c->no);
	c->ref_dx = zeros(c->nx);
	c->ref_dw = zeros(c->nw);
	c->ref_db = zeros((size_t)s->OC);
	for (size_t i = 0; i < c->no; i++)
		c->ref_out[i] = (float)out[i];
	for (size_t i = 0; i < c->nx; i++)
		c->ref_dx[i] = (float)dx[i];
	for (size_t i = 0; i < c->nw; i++)
		c->ref_dw[i] = (float)dw[i];
	for (int i = 0; i < s->OC; i++)
		c->ref_db[i] = (float)db[i];
	free(out);
	free(dx);
	free(dw);
	free(db);
}

static void
wcase_init(struct wcase *c, const struct shape *s)
{
	memset(c, 0, sizeof *c);
	c->s = *s;
	c->OH = conv2d_out_size(s->H, 3, 1, s->pad);
	c->OW = conv2d_out_size(s->W, 3, 1, s->pad);
	c->nx = (size_t)s->B * s->C * s->H * s->W;
	c->nw = (size_t)s->OC * s->C * 9;
	c->no = (size_t)s->B * s->OC * c->OH * c->OW;
	c->x = rand_floats(c->nx);
	c->w = rand_floats(c->nw);
	c->b = s->bias ? rand_floats((size_t)s->OC) : NULL;
	c->dy = rand_floats(c->no);
	c->scratch = xalloc_floats(conv_winograd_scratch_floats(s->C, s->H, s->W, s->OC, s->pad));
	direct(c);
}

static void
wcase_free(struct wcase *c)
{
	xfree_aligned(c->x);
	xfree_aligned(c->w);
	xfree_aligned(c->b);
	xfree_aligned(c->dy);
	xfree_aligned(c->scratch);
	xfree_aligned(c->ref_out);
	xfree_aligned(c->ref_dx);
	xfree_aligned(c->ref_dw);
	xfree_aligned(c->ref_db);
}

static double
max_abs(const float *x, size_t n)
{
	double m = 0.0;
	for (size_t i = 0; i < n; i++)
		m = fabs(x[i]) > m ? fabs(x[i]) : m;
	return m;
}

/* got against want within WINO_TOL of want's largest |value|; prints the error as a diag. */
static void
check_scaled(const float *got, const float *want, size_t n, const char *what, const char *tag)
{
	double scale = max_abs(want, n), err = 0.0;
	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)got[i] - want[i]);
		err = d > err || d != d ? d : err;
	}
	tap_diag("%s %s: max abs error %.3g, relative to max |ref| %.3g: %.3g", tag, what, err,
		 scale, scale > 0 ? err / scale : err);
	tap_near_arrays(got, want, n, WINO_TOL * (scale > 0 ? scale : 1.0), 0.0, "%s %s", tag,
			what);
}

static void
run_forward(float *out, const struct wcase *c)
{
	const struct shape *s = &c->s;
	conv_winograd_forward(out, c->x, c->w, c->b, s->B, s->C, s->H, s->W, s->OC, s->pad,
			      c->scratch);
}

static void
run_backward(float *dx, float *dw, float *db, const struct wcase *c)
{
	const struct shape *s = &c->s;
	conv_winograd_backward(dx, dw, db, c->dy, c->x, c->w, s->B, s->C, s->H, s->W, s->OC,
			       s->pad, c->scratch);
}

static void
test_shape(const struct shape *s)
{
	struct wcase c;
	wcase_init(&c, s);
	char tag[96];
	TAP_NAME(tag, "B=%d C=%d %dx%d OC=%d pad=%d%s", s->B, s->C, s->H, s->W, s->OC, s->pad,
		 s->bias ? " bias" : "");

	/* the output is overwritten: start from garbage */
	float *out = zeros(c.no);
	for (size_t i = 0; i < c.no; i++)
		out[i] = NAN;
	run_forward(out, &c);
	check_scaled(out, c.ref_out, c.no, "forward", tag);

	float *dx = zeros(c.nx), *dw = zeros(c.nw), *db = zeros((size_t)s->OC);
	run_backward(dx, dw, db, &c);
	check_scaled(dx, c.ref_dx, c.nx, "dinp", tag);
	check_scaled(dw, c.ref_dw, c.nw, "dw", tag);
	check_scaled(db, c.ref_db, (size_t)s->OC, "db", tag);

	/* each gradient alone: the same values */
	float *dx1 = zeros(c.nx), *dw1 = zeros(c.nw), *db1 = zeros((size_t)s->OC);
	run_backward(dx1, NULL, NULL, &c);
	run_backward(NULL, dw1, NULL, &c);
	run_backward(NULL, NULL, db1, &c);
	tap_same_floats(dx1, dx, c.nx, "%s dinp alone = dinp with dw and db", tag);
	tap_same_floats(dw1, dw, c.nw, "%s dw alone = dw with dinp and db", tag);
	tap_same_floats(db1, db, (size_t)s->OC, "%s db alone = db with dinp and dw", tag);

	/* accumulation: a second call doubles */
	for (size_t i = 0; i < c.nx; i++)
		dx1[i] = 2.0f * dx[i];
	for (size_t i = 0; i < c.nw; i++)
		dw1[i] = 2.0f * dw[i];
	for (int i = 0; i < s->OC; i++)
		db1[i] = 2.0f * db[i];
	run_backward(dx, dw, db, &c);
	tap_near_arrays(dx, dx1, c.nx, 0.0, 1e-6, "%s second backward doubles dinp", tag);
	tap_near_arrays(dw, dw1, c.nw, 0.0, 1e-6, "%s second backward doubles dw", tag);
	tap_near_arrays(db, db1, (size_t)s->OC, 0.0, 1e-6, "%s second backward doubles db", tag);

	xfree_aligned(out);
	xfree_aligned(dx);
	xfree_aligned(dw);
	xfree_aligned(db);
	xfree_aligned(dx1);
	xfree_aligned(dw1);
	xfree_aligned(db1);
	wcase_free(&c);
}

/* Against the im2col path: conv2d on a shape below the crossover. */
static void
test_vs_im2col(void)
{
	struct shape s = {4, 3, 13, 10, 6, 1, 1};
	tap_ok(!conv_winograd_fits(s.C, s.H, s.W, s.OC, 3, 1, s.pad),
	       "C=%d OC=%d is below the crossover (conv2d uses im2col)", s.C, s.OC);
	struct wcase c;
	wcase_init(&c, &s);
	size_t ns = conv2d_scratch_floats(s.B, s.C, s.H, s.W, s.OC, 3, 1, s.pad);
	float *scr = xalloc_floats(ns);
	float *out = zeros(c.no), *dx = zeros(c.nx), *dw = zeros(c.nw), *db = zeros((size_t)s.OC);
	conv2d_forward(out, c.x, c.w, c.b, s.B, s.C, s.H, s.W, s.OC, 3, 1, s.pad, scr);
	conv2d_backward(dx, dw, db, c.dy, c.x, c.w, s.B, s.C, s.H, s.W, s.OC, 3, 1, s.pad, scr);
	check_scaled(out, c.ref_out, c.no, "forward", "im2col");
	check_scaled(dx, c.ref_dx, c.nx, "dinp", "im2col");
	check_scaled(dw, c.ref_dw, c.nw, "dw", "im2col");

	float *wout = zeros(c.no), *wdx = zeros(c.nx), *wdw = zeros(c.nw);
	run_forward(wout, &c);
	run_backward(wdx, wdw, NULL, &c);
	check_scaled(wout, out, c.no, "forward = im2col forward", "winograd");
	check_scaled(wdx, dx, c.nx, "dinp = im2col dinp", "winograd");
	check_scaled(wdw, dw, c.nw, "dw = im2col dw", "winograd");

	xfree_aligned(scr);
	xfree_aligned(out);
	xfree_aligned(dx);
	xfree_aligned(dw);
	xfree_aligned(db);
	xfree_aligned(wout);
	xfree_aligned(wdx);
	xfree_aligned(wdw);
	wcase_free(&c);
}

/* conv2d dispatches the cnn's conv2 here, and gives the same bits as the direct call. */
static void
test_dispatch(void)
{
	/* more images than threads */
	struct shape s = {threads_count() + 1, 32, 26, 26, 64, 0, 0};
	tap_ok(conv_winograd_fits(s.C, s.H, s.W, s.OC, 3, 1, s.pad), "cnn conv2 shape fits");
	tap_ok(conv_winograd_pays(s.B, s.C, s.H, s.W, s.OC, 3, 1, s.pad), "%d images pay", s.B);
	tap_ok(!conv_winograd_pays(1, s.C, s.H, s.W, s.OC, 3, 1, s.pad), "one image does not");
	tap_ok(!conv_winograd_fits(32, 26, 26, 64, 3, 2, 1), "stride 2 does not fit");
	tap_ok(!conv_winograd_fits(32, 26, 26, 64, 5, 1, 1), "5x5 does not fit");
	tap_ok(!conv_winograd_fits(1, 28, 28, 32, 3, 1, 0), "one input channel does not fit");
	tap_ok(conv_winograd_fits(4, 28, 28, 4, 3, 1, 1), "4 channels in and out fit");
	tap_ok(!conv_winograd_fits(64, 2, 2, 64, 3, 1, 1), "a 2x2 output (1/4 of a tile) does not fit");
	tap_ok(conv_winograd_fits(64, 5, 5, 64, 3, 1, 1), "a 5x5 output (25/64 of 4 tiles) fits");
	struct wcase c;
	wcase_init(&c, &s);
	size_t ns = conv2d_scratch_floats(s.B, s.C, s.H, s.W, s.OC, 3, 1, s.pad);
	tap_ok(ns >= conv_winograd_scratch_floats(s.C, s.H, s.W, s.OC, s.pad),
	       "conv2d_scratch_floats covers the Winograd scratch");
	float *scr = xalloc_floats(ns);
	float *out = zeros(c.no), *dx = zeros(c.nx), *dw = zeros(c.nw);
	float *wout = zeros(c.no), *wdx = zeros(c.nx), *wdw = zeros(c.nw);
	conv2d_forward(out, c.x, c.w, NULL, s.B, s.C, s.H, s.W, s.OC, 3, 1, s.pad, scr);
	conv2d_backward(dx, dw, NULL, c.dy, c.x, c.w, s.B, s.C, s.H, s.W, s.OC, 3, 1, s.pad, scr);
	run_forward(wout, &c);
	run_backward(wdx, wdw, NULL, &c);
	tap_same_floats(out, wout, c.no, "conv2d forward = Winograd forward");
	tap_same_floats(dx, wdx, c.nx, "conv2d dinp = Winograd dinp");
	tap_same_floats(dw, wdw, c.nw, "conv2d dw = Winograd dw");
	xfree_aligned(scr);
	xfree_aligned(out);
	xfree_aligned(dx);
	xfree_aligned(dw);
	xfree_aligned(wout);
	xfree_aligned(wdx);
	xfree_aligned(wdw);
	wcase_free(&c);
}

/*
 * Bit-identical results on rerun with 1 and 2 threads; both right. (The
 * weight gradient sums per-thread partials, so it depends on the thread
 * count.)
 */
static void
test_determinism(void)
{
	/* 17 images of 26x26: several chunks per thread, the last one partial */
	struct shape s = {17, 19, 26, 26, 21, 1, 1};
	struct wcase c;
	wcase_init(&c, &s);
	float *res[2][2][4];
	static const int counts[] = {1, 2};
	for (int t = 0; t < 2; t++) {
		int nt = threads_init(counts[t]);
		for (int r = 0; r < 2; r++) {
			float **o = res[t][r];
			o[0] = zeros(c.no);
			o[1] = zeros(c.nx);
			o[2] = zeros(c.nw);
			o[3] = zeros((size_t)s.OC);
			run_forward(o[0], &c);
			run_backward(o[1], o[2], o[3], &c);
		}
		int same = !memcmp(res[t][0][0], res[t][1][0], c.no * sizeof(float)) &&
			   !memcmp(res[t][0][1], res[t][1][1], c.nx * sizeof(float)) &&
			   !memcmp(res[t][0][2], res[t][1][2], c.nw * sizeof(float)) &&
			   !memcmp(res[t][0][3], res[t][1][3], (size_t)s.OC * sizeof(float));
		tap_ok(same, "forward/backward bit-identical on rerun, %d threads", nt);
	}
	for (int t = 0; t < 2; t++) {
		char tag[48];
		TAP_NAME(tag, "B=%d, %d thread%s", s.B, counts[t], counts[t] > 1 ? "s" : "");
		check_scaled(res[t][0][0], c.ref_out, c.no, "forward", tag);
		check_scaled(res[t][0][1], c.ref_dx, c.nx, "dinp", tag);
		check_scaled(res[t][0][2], c.ref_dw, c.nw, "dw", tag);
		check_scaled(res[t][0][3], c.ref_db, (size_t)s.OC, "db", tag);
	}
	for (int t = 0; t < 2; t++)
		for (int r = 0; r < 2; r++)
			for (int k = 0; k < 4; k++)
				xfree_aligned(res[t][r][k]);
	threads_init(0);
	wcase_free(&c);
}

int
main(void)
{
	rng_seed(&g_rng, 4343);
	threads_init(0);
	static const struct shape shapes[] = {
		/* B, C, H, W, OC, pad, bias */
		{3, 32, 26, 26, 64, 0, 0}, /* the cnn's conv2 */
		{2, 17, 11, 9, 19, 1, 1},  /* odd sizes: partial tiles both ways */
		{2, 16, 7, 7, 16, 1, 0},   /* resnet20's smallest stage */
		{1, 5, 7, 6, 3, 2, 1},	   /* one image, padding 2 */
		{2, 3, 10, 13, 2, 0, 1},   /* partial tiles, padding 0 */
		{1, 2, 3, 3, 1, 0, 1},	   /* a 1x1 output */
		{1, 3, 1, 2, 2, 1, 0},	   /* input smaller than the kernel, padded */
		{3, 2, 90, 90, 3, 1, 1},   /* large planes: one image per chunk */
	};
	for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
		test_shape(&shapes[i]);
	test_vs_im2col();
	test_dispatch();
	test_determinism();
	return tap_done();
}
