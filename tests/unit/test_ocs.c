/*
 * test_ocs: outlier channel splitting (engine/ptq/ocs.c) against every case
 * of tests/fixtures/ocs.h5 (groups split/, split_clip/, golden/), the golden
 * example of METHODS §4.6.6 by hand, and the properties of §4.6: float
 * equivalence of the split layer (1x1 and 3x3 convolutions, a linear layer),
 * shapes, max|W| non-increasing, the QA sum-of-codes property, plus the
 * incremental channel maxima against a literal full-rescan greedy and the
 * activation-splitting choice.
 *
 * Tolerances: the splits and codes follow the reference's float32
 * arithmetic, so split weights, channel lists and codes must match the
 * fixtures exactly. Float equivalence is checked twice: with a plain
 * double-precision convolution, where naive halves are exact (1e-12 of
 * max|y|) and only the float32 rounding of the QA halves remains (1e-6),
 * and with the engine's conv2d_forward and linear_forward, whose float32
 * sums (and Winograd transforms for 3x3) add their own rounding (1e-5 of
 * max|y|).
 */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/layers.h"
#include "engine/ptq/ocs.h"
#include "engine/rng.h"
#include "engine/threads.h"
#include "engine/util.h"
#include "tests/unit/fixture.h"
#include "tests/unit/tap.h"

static struct rng g_rng;

/* ---- helpers ---- */

/* Equal int32 lists, reporting the first difference. */
static int
same_ints(const int32_t *got, const int32_t *want, size_t n, const char *what)
{
	size_t i = 0;
	while (i < n && got[i] == want[i])
		i++;
	tap_ok(i == n, "%s", what);
	if (i < n)
		tap_diag("  first difference at [%zu] of %zu: got %ld, want %ld", i, n,
			 (long)got[i], (long)want[i]);
	return i == n;
}

/* Equal int8 codes, reporting the first difference. */
static int
same_codes(const int8_t *got, const int8_t *want, size_t n, const char *what)
{
	size_t bad = 0, first = n;
	for (size_t i = 0; i < n; i++)
		if (got[i] != want[i] && bad++ == 0)
			first = i;
	tap_ok(bad == 0, "%s", what);
	if (bad)
		tap_diag("  %zu of %zu differ; first at [%zu]: got %d, want %d", bad, n, first,
			 got[first], want[first]);
	return bad == 0;
}

static float
max_abs(const float *v, size_t n)
{
	float m = 0.0f;
	for (size_t i = 0; i < n; i++)
		if (fabsf(v[i]) > m)
			m = fabsf(v[i]);
	return m;
}

/*
 * Heavy-tailed weights: normal·0.05, one in `every` multiplied by 4..12 (an
 * outlier); every = 0 for none.
 */
static void
fill_weights(float *w, size_t n, int every)
{
	for (size_t i = 0; i < n; i++) {
		w[i] = 0.05f * rng_normal(&g_rng);
		if (every > 0 && rng_below(&g_rng, (uint32_t)every) == 0)
			w[i] *= 4.0f + 8.0f * rng_uniform(&g_rng);
	}
}

/* Every entry of the channel list is an original channel (checked before indexing with it). */
static int
list_ok(const int32_t *channels, int n, int I)
{
	for (int j = 0; j < n; j++)
		if (channels[j] < 0 || channels[j] >= I)
			return 0;
	return 1;
}

/*
 * The number of (o, c, k) of the original weight for which the integer
 * codes round(piece·s) (unclamped, half to even) of all pieces of its split
 * chain (channel c and every appended channel j with channels[j] == c) do
 * not sum to round(w·s); -1 when the list holds a channel outside [0, I).
 */
static long
code_sum_mismatches(const float *out, const int32_t *channels, const float *w, int O, int I,
		    int K, int n, float s)
{
	size_t J = (size_t)I + (size_t)n;
	if (!list_ok(channels, n, I))
		return -1;
	long *acc = xcalloc((size_t)O * I * K, sizeof *acc);
	for (int o = 0; o < O; o++)
		for (size_t c = 0; c < J; c++) {
			int orig = c < (size_t)I ? (int)c : channels[c - (size_t)I];
			for (int k = 0; k < K; k++) {
				float x = out[((size_t)o * J + c) * K + k] * s;
				acc[((size_t)o * I + orig) * K + k] += (long)nearbyintf(x);
			}
		}
	long bad = 0;
	for (size_t i = 0; i < (size_t)O * I * K; i++) {
		float x = w[i] * s;
		if (acc[i] != (long)nearbyintf(x))
			bad++;
	}
	free(acc);
	return bad;
}

/* ---- ocs_split_count ---- */

static void
test_split_count(void)
{
	static const struct {
		double ratio;
		int I, want;
	} cases[] = {
		{0.05, 20, 1}, {0.01, 100, 1}, {0.1, 30, 3}, {0.1, 10, 1}, {0.3, 10, 3},
		{0.7, 10, 7}, {0.01, 6, 1}, {0.05, 8, 1}, {0.1, 32, 4}, {0.25, 32, 8},
		{0.5, 3, 2}, {0.02, 64, 2}, {0.02, 50, 1}, {0.02, 51, 2}, {1e-6, 10, 1},
		{1.0, 7, 7}, {0.0, 100, 0}, {-0.5, 100, 0}, {0.5, 0, 0}, {NAN, 10, 0},
		/* ratio·I lands just above an integer in double */
		{0.07, 100, 7}, {0.07, 300, 21}, {0.55, 100, 55},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		tap_eq_int(ocs_split_count(cases[i].ratio, cases[i].I), cases[i].want,
			   "split count ceil(%g·%d)", cases[i].ratio, cases[i].I);
}

/* ---- fixtures ---- */

/* ctx: a long adding up the naive sum-of-codes violations over the cases. */
static void
split_case(hid_t g, const char *path, void *ctx)
{
	long *naive_mismatches = ctx;
	hsize_t dx[4] = {0}, dy[4] = {0};
	if (fixture_dims(g, "x", dx) != 4 || fixture_dims(g, "y_qa", dy) != 4) {
		tap_ok(0, "%s: x and y_qa are 4-d", path);
		return;
	}
	int O = (int)dx[0], I = (int)dx[1], K = (int)(dx[2] * dx[3]);
	int bits = (int)fixture_attr(g, "bits"), n_split = (int)fixture_attr(g, "n_split");
	/* the reference applies the float64 scale to float32 arrays as float32 */
	float s = (float)fixture_attr(g, "scale");
	int n = ocs_split_count(fixture_attr(g, "ratio"), I);
	tap_eq_int(n, n_split, "%s: n = ceil(ratio·I)", path);
	tap_ok(dy[0] == dx[0] && dy[1] == (hsize_t)(I + n) && dy[2] == dx[2] && dy[3] == dx[3],
	       "%s: split shape %d x %d x %d", path, O, I + n, K);
	if (n != n_split || dy[1] != (hsize_t)(I + n))
		return;

	size_t nx, ny, nc, nk;
	float *x = fixture_floats(g, "x", &nx);
	size_t nout = (size_t)O * (I + n) * K;
	float *out = xmalloc(nout * sizeof *out);
	int32_t *ch = xmalloc(((size_t)n + 1) * sizeof *ch);
	int8_t *codes = xmalloc(nout);

	static const char *const tags[] = {"naive", "qa"};
	for (int qa = 0; qa <= 1; qa++) {
		char name[64];
		float *y = fixture_floats(g, TAP_NAME(name, "y_%s", tags[qa]), &ny);
		int32_t *wch = fixture_ints(g, TAP_NAME(name, "channels_%s", tags[qa]), &nc);
		int8_t *wk = fixture_int8s(g, TAP_NAME(name, "codes_%s", tags[qa]), &nk);
		int sizes = nx == (size_t)O * I * K && ny == nout && nc == (size_t)n && nk == nout;
		tap_ok(sizes, "%s: %s dataset sizes", path, tags[qa]);
		if (sizes) {
			char what[600];
			ocs_split_weights(out, ch, x, O, I, K, n,
					  qa ? OCS_SPLIT_QA : OCS_SPLIT_NAIVE, s);
			tap_near_arrays(out, y, nout, 0, 0, "%s: y_%s (exact)", path, tags[qa]);
			same_ints(ch, wch, (size_t)n,
				  TAP_NAME(what, "%s: channels_%s", path, tags[qa]));
			ocs_codes(codes, out, nout, s, bits);
			same_codes(codes, wk, nout, TAP_NAME(what, "%s: codes_%s", path, tags[qa]));
			long bad = code_sum_mismatches(out, ch, x, O, I, K, n, s);
			if (qa)
				tap_eq_int(bad, 0, "%s: QA chain codes sum to round(w·s)", path);
			else if (bad > 0)
				*naive_mismatches += bad;
		}
		free(y);
		free(wch);
		free(wk);
	}
	free(x);
	free(out);
	free(ch);
	free(codes);
}

static void
test_fixtures(void)
{
	long naive_mismatches = 0;
	hid_t f = fixture_open("ocs.h5");
	if (f < 0)
		return;
	tap_eq_int(fixture_each(f, "split", split_case, &naive_mismatches), 60,
		   "split/: case count");
	tap_eq_int(fixture_each(f, "split_clip", split_case, &naive_mismatches), 6,
		   "split_clip/: case count");
	tap_eq_int(fixture_each(f, "golden", split_case, &naive_mismatches), 1,
		   "golden/: case count");
	tap_ok(naive_mismatches > 0,
	       "naive split breaks the sum-of-codes property on the fixtures (%ld entries)",
	       naive_mismatches);
	H5Fclose(f);
}

/* ---- METHODS §4.6.6 by hand ---- */

static void
test_golden_by_hand(void)
{
	/* W (O=2, I=3, 1x1), r = 0.5 -> 2 splits, 4 bits */
	static const float w[6] = {0.10f, -0.80f, 0.30f, 0.20f, 0.50f, -0.05f};
	static const float want_naive[10] = {0.1f, -0.4f, 0.3f, -0.2f, -0.2f,
					     0.2f, 0.25f, -0.05f, 0.125f, 0.125f};
	static const float want_qa[10] = {0.1f, -0.2214286f, 0.3f, -0.3857143f, -0.1928571f,
					  0.2f, 0.1035714f, -0.05f, 0.2642857f, 0.1321429f};
	static const int8_t want_codes[10] = {2, -4, 5, -7, -3, 4, 2, -1, 5, 2};
	static const int32_t want_ch[2] = {1, 1};
	float out[10];
	int32_t ch[2];
	int8_t codes[10];

	int n = ocs_split_count(0.5, 3);
	tap_eq_int(n, 2, "golden: ceil(0.5·3) = 2 splits");
	ocs_split_weights(out, ch, w, 2, 3, 1, 2, OCS_SPLIT_NAIVE, 0.0f);
	/* the second split hits the appended copy (index 3): tie at 0.4, highest index */
	tap_near_arrays(out, want_naive, 10, 0, 0, "golden: naive W'");
	same_ints(ch, want_ch, 2, "golden: naive list [1, 1]");

	float s = 7.0f / max_abs(out, 10);
	tap_near(s, 17.5, 1e-6, "golden: s = 7/max|W'| = 17.5");
	ocs_split_weights(out, ch, w, 2, 3, 1, 2, OCS_SPLIT_QA, s);
	tap_near_arrays(out, want_qa, 10, 1e-7, 0, "golden: QA W''");
	same_ints(ch, want_ch, 2, "golden: QA list [1, 1]");
	ocs_codes(codes, out, 10, s, 4);
	same_codes(codes, want_codes, 10, "golden: QA codes");
	tap_eq_int(codes[1] + codes[3] + codes[4], -14, "golden: row 0 chain = round(-0.8·17.5)");
	tap_eq_int(codes[6] + codes[8] + codes[9], 9, "golden: row 1 chain = round(0.5·17.5)");
}

/* ---- float equivalence (§4.6.1) ---- */

/*
 * xs (B, C+n, HW) = concat(x, x[:, channels]) for x (B, C, HW). Returns 0
 * (and leaves xs unset) when the list holds a channel outside [0, C).
 */
static int
extend_input(float *xs, const float *x, const int32_t *channels, int B, int C, int n, int HW)
{
	if (!list_ok(channels, n, C))
		return 0;
	for (int b = 0; b < B; b++) {
		float *dst = xs + (size_t)b * (C + n) * HW;
		const float *src = x + (size_t)b * C * HW;
		memcpy(dst, src, (size_t)C * HW * sizeof *dst);
		for (int j = 0; j < n; j++)
			memcpy(dst + (size_t)(C + j) * HW, src + (size_t)channels[j] * HW,
			       (size_t)HW * sizeof *dst);
	}
	return 1;
}

/* out (B, OC, OH, OW) = conv(inp (B, C, H, W), w (OC, C, K, K)), stride 1, in double. */
static void
conv_ref(double *out, const float *inp, const float *w, int B, int C, int H, int W, int OC, int K,
	 int pad)
{
	int OH = H + 2 * pad - K + 1, OW = W + 2 * pad - K + 1;
	size_t npix = (size_t)OH * OW;
	for (int b = 0; b < B; b++)
		for (int oc = 0; oc < OC; oc++)
			for (size_t p = 0; p < npix; p++) {
				int oh = (int)(p / (size_t)OW), ow = (int)(p % (size_t)OW);
				double acc = 0;
				for (int c = 0; c < C; c++) {
					const float *ip = inp + ((size_t)b * C + c) * H * W;
					const float *wp = w + ((size_t)oc * C + c) * K * K;
					for (int t = 0; t < K * K; t++) {
						int h = oh + t / K - pad, v = ow + t % K - pad;
						if (h >= 0 && h < H && v >= 0 && v < W)
							acc += (double)ip[h * W + v] * wp[t];
					}
				}
				out[((size_t)b * OC + oc) * npix + p] = acc;
			}
}

/* max|got - want| / max|want| <= tol, in double */
static void
check_rel_d(const double *got, const double *want, size_t n, double tol, const char *what)
{
	double d = 0, m = 0;
	for (size_t i = 0; i < n; i++) {
		d = fmax(d, fabs(got[i] - want[i]));
		m = fmax(m, fabs(want[i]));
	}
	tap_ok(m > 0 && d <= tol * m, "%s (max diff %.3g of max|y| %.3g)", what, d, m);
}

/* max|got - want| / max|want| <= tol */
static void
check_rel(const float *got, const float *want, size_t n, double tol, const char *what)
{
	double d = 0, m = 0;
	for (size_t i = 0; i < n; i++) {
		d = fmax(d, fabs((double)got[i] - (double)want[i]));
		m = fmax(m, fabs((double)want[i]));
	}
	tap_ok(m > 0 && d <= tol * m, "%s (max diff %.3g of max|y| %.3g)", what, d, m);
}

/* Runs the unsplit (C channels) and the split (C + n) conv and compares them. */
static void
compare_convs(const float *x, const float *w, const float *xs, const float *ws, int B, int C,
	      int n, int H, int W, int OC, int K, enum ocs_split split, const char *tag)
{
	int pad = K / 2;
	int OH = conv2d_out_size(H, K, 1, pad), OW = conv2d_out_size(W, K, 1, pad);
	size_t ny = (size_t)B * OC * OH * OW;
	float *y = xmalloc(ny * sizeof *y), *ys = xmalloc(ny * sizeof *ys);
	size_t sc = conv2d_scratch_floats(B, C, H, W, OC, K, 1, pad);
	size_t scs = conv2d_scratch_floats(B, C + n, H, W, OC, K, 1, pad);
	float *scratch = xalloc_floats((sc > scs ? sc : scs) + 1);
	conv2d_forward(y, x, w, NULL, B, C, H, W, OC, K, 1, pad, scratch);
	conv2d_forward(ys, xs, ws, NULL, B, C + n, H, W, OC, K, 1, pad, scratch);
	char what[128];
	check_rel(ys, y, ny, 1e-5,
		  TAP_NAME(what, "conv2d_forward %s: split layer == layer", tag));
	double *yd = xmalloc(ny * sizeof *yd), *ysd = xmalloc(ny * sizeof *ysd);
	conv_ref(yd, x, w, B, C, H, W, OC, K, pad);
	conv_ref(ysd, xs, ws, B, C + n, H, W, OC, K, pad);
	/* naive halves are exact: only the order of the double sums differs */
	check_rel_d(ysd, yd, ny, split == OCS_SPLIT_QA ? 1e-6 : 1e-12,
		    TAP_NAME(what, "conv in double %s: split layer == layer", tag));
	free(y);
	free(ys);
	free(yd);
	free(ysd);
	xfree_aligned(scratch);
}

static void
test_conv_equivalence(int K, enum ocs_split split, double ratio)
{
	const int B = 2, C = 8, H = 6, W = 5, OC = 5;
	int n = ocs_split_count(ratio, C), HW = H * W;
	size_t nw = (size_t)OC * C * K * K, nws = (size_t)OC * (C + n) * K * K;
	float *w = xmalloc(nw * sizeof *w), *ws = xmalloc(nws * sizeof *ws);
	float *x = xmalloc((size_t)B * C * HW * sizeof *x);
	float *xs = xmalloc((size_t)B * (C + n) * HW * sizeof *xs);
	int32_t *ch = xmalloc((size_t)n * sizeof *ch);
	char tag[64];
	TAP_NAME(tag, "%dx%d %s r=%g (%d splits)", K, K, split == OCS_SPLIT_QA ? "qa" : "naive",
		 ratio, n);
	fill_weights(w, nw, 20);
	for (size_t i = 0; i < (size_t)B * C * HW; i++)
		x[i] = rng_normal(&g_rng);
	/* a realistic 4-bit scale: 7/max|naive split| */
	ocs_split_weights(ws, ch, w, OC, C, K * K, n, OCS_SPLIT_NAIVE, 0.0f);
	float s = 7.0f / max_abs(ws, nws);
	ocs_split_weights(ws, ch, w, OC, C, K * K, n, split, s);
	if (tap_ok(extend_input(xs, x, ch, B, C, n, HW), "conv %s: list in [0, C)", tag))
		compare_convs(x, w, xs, ws, B, C, n, H, W, OC, K, split, tag);
	free(w);
	free(ws);
	free(x);
	free(xs);
	free(ch);
}

static void
test_linear_equivalence(enum ocs_split split)
{
	const int B = 4, IN = 40, OUT = 7;
	const char *tag = split == OCS_SPLIT_QA ? "qa" : "naive";
	int n = ocs_split_count(0.1, IN);
	float *w = xmalloc((size_t)OUT * IN * sizeof *w);
	float *ws = xmalloc((size_t)OUT * (IN + n) * sizeof *ws);
	float *x = xmalloc((size_t)B * IN * sizeof *x);
	float *xs = xmalloc((size_t)B * (IN + n) * sizeof *xs);
	float *y = xmalloc((size_t)B * OUT * sizeof *y);
	float *ys = xmalloc((size_t)B * OUT * sizeof *ys);
	int32_t *ch = xmalloc((size_t)n * sizeof *ch);
	fill_weights(w, (size_t)OUT * IN, 15);
	for (int i = 0; i < B * IN; i++)
		x[i] = rng_normal(&g_rng);
	ocs_split_weights(ws, ch, w, OUT, IN, 1, n, OCS_SPLIT_NAIVE, 0.0f);
	float s = 31.0f / max_abs(ws, (size_t)OUT * (IN + n));	/* 6-bit scale */
	ocs_split_weights(ws, ch, w, OUT, IN, 1, n, split, s);
	char what[128];
	if (tap_ok(extend_input(xs, x, ch, B, IN, n, 1), "linear %s: list in [0, IN)", tag)) {
		linear_forward(y, x, w, NULL, B, IN, OUT);
		linear_forward(ys, xs, ws, NULL, B, IN + n, OUT);
		check_rel(ys, y, (size_t)B * OUT, 1e-5,
			  TAP_NAME(what, "linear %dx%d %s (%d splits): split layer == layer", OUT,
				   IN, tag, n));
	}
	free(w);
	free(ws);
	free(x);
	free(xs);
	free(y);
	free(ys);
	free(ch);
}

/* ---- shapes, pieces and maxima (§4.6.2, §4.6.3) ---- */

/*
 * max |w - (sum of the pieces of w)| in double over the original weight;
 * the list must be in range. Naive pieces are exact binary fractions of w,
 * so their sum is w exactly.
 */
static double
pieces_sum_error(const float *out, const int32_t *channels, const float *w, int O, int I, int K,
		 int n)
{
	size_t J = (size_t)I + (size_t)n;
	double *sum = xcalloc((size_t)O * I * K, sizeof *sum);
	for (int o = 0; o < O; o++)
		for (size_t c = 0; c < J; c++) {
			int orig = c < (size_t)I ? (int)c : channels[c - (size_t)I];
			double *dst = sum + ((size_t)o * I + orig) * K;
			const float *src = out + ((size_t)o * J + c) * K;
			for (int k = 0; k < K; k++)
				dst[k] += src[k];
		}
	double worst = 0;
	for (size_t i = 0; i < (size_t)O * I * K; i++)
		worst = fmax(worst, fabs(sum[i] - w[i]));
	free(sum);
	return worst;
}

static void
test_shapes(void)
{
	static const double ratios[] = {0.01, 0.05, 0.1, 0.25, 0.5, 1.0};
	static const int Is[] = {1, 3, 6, 17, 64};
	const int O = 5, K = 4;
	for (size_t a = 0; a < sizeof ratios / sizeof ratios[0]; a++)
		for (size_t b = 0; b < sizeof Is / sizeof Is[0]; b++) {
			int I = Is[b], n = ocs_split_count(ratios[a], I);
			size_t nw = (size_t)O * I * K, nout = (size_t)O * (I + n) * K;
			float *w = xmalloc(nw * sizeof *w), *out = xmalloc(nout * sizeof *out);
			int32_t *ch = xmalloc((size_t)n * sizeof *ch);
			fill_weights(w, nw, 10);
			for (size_t i = 0; i < nout; i++)
				out[i] = NAN;
			ocs_split_weights(out, ch, w, O, I, K, n, OCS_SPLIT_NAIVE, 0.0f);
			size_t unwritten = 0;
			for (size_t i = 0; i < nout; i++)
				unwritten += isnan(out[i]) != 0;
			int in_range = list_ok(ch, n, I);
			double worst = INFINITY;
			if (in_range)
				worst = pieces_sum_error(out, ch, w, O, I, K, n);
			tap_ok(n >= 1 && unwritten == 0 && in_range && worst == 0,
			       "shape r=%g I=%d: n=%d, I'=%d all written (%zu not), list in [0, I),"
			       " naive pieces sum to w (%.3g)",
			       ratios[a], I, n, I + n, unwritten, worst);
			free(w);
			free(out);
			free(ch);
		}
}

/* ratio 0: no split, out == w, the list untouched */
static void
test_ratio_zero(void)
{
	const int O = 3, I = 10, K = 9;
	float w[3 * 10 * 9], out[3 * 10 * 9];
	int32_t ch[1] = {-7};
	fill_weights(w, sizeof w / sizeof w[0], 10);
	int n = ocs_split_count(0.0, I);
	tap_eq_int(n, 0, "ratio 0: no split");
	ocs_split_weights(out, ch, w, O, I, K, n, OCS_SPLIT_QA, 10.0f);
	tap_same_floats(out, w, sizeof w / sizeof w[0], "ratio 0: weights unchanged");
	tap_eq_int(ch[0], -7, "ratio 0: channel list not written");
	int32_t picks[1] = {-7};
	float m[4] = {1, 2, 3, 4};
	ocs_split_activations(picks, m, 4, ocs_split_count(0.0, 4));
	tap_eq_int(picks[0], -7, "ratio 0: no activation split");
}

/*
 * max|W| never grows with one more split: naive always, QA whenever the
 * largest weight is at least half a grid step (x/2 + 1/4 <= x for x >= 1/2),
 * as with any scale from a clip.
 */
static void
test_max_nonincreasing(enum ocs_split split)
{
	const int O = 6, I = 12, K = 9, N = 24;
	const char *tag = split == OCS_SPLIT_QA ? "qa" : "naive";
	size_t nw = (size_t)O * I * K;
	float *w = xmalloc(nw * sizeof *w), *out = xmalloc((size_t)O * (I + N) * K * sizeof *out);
	int32_t ch[24];
	fill_weights(w, nw, 25);
	float s = 7.0f / max_abs(w, nw);
	float prev = max_abs(w, nw);
	int ok = 1, first_bad = -1;
	for (int n = 1; n <= N; n++) {
		ocs_split_weights(out, ch, w, O, I, K, n, split, s);
		float m = max_abs(out, (size_t)O * (I + n) * K);
		if (m > prev && ok) {
			ok = 0;
			first_bad = n;
		}
		prev = m;
	}
	tap_ok(ok, "%s: max|W| non-increasing over %d splits (first increase at %d)", tag, N,
	       first_bad);
	tap_ok(prev < max_abs(w, nw), "%s: %d splits lowered max|W| (%g -> %g)", tag, N,
	       (double)max_abs(w, nw), (double)prev);
	free(w);
	free(out);
}

static void
test_isolated_outlier(void)
{
	const int O = 4, I = 8, K = 9;
	float w[4 * 8 * 9], out[4 * 9 * 9];
	int32_t ch[1];
	for (size_t i = 0; i < sizeof w / sizeof w[0]; i++)
		w[i] = 0.1f * (2.0f * rng_uniform(&g_rng) - 1.0f);
	w[(2 * I + 5) * K + 4] = 1.0f;
	ocs_split_weights(out, ch, w, O, I, K, 1, OCS_SPLIT_NAIVE, 0.0f);
	tap_eq_int(ch[0], 5, "outlier: its channel is split");
	/* the outlier in out (O x (I+1) x K), and its half in the appended channel */
	size_t at = (size_t)(2 * (I + 1) + 5) * K + 4, copy = (size_t)(2 * (I + 1) + I) * K + 4;
	tap_ok(max_abs(out, sizeof out / sizeof out[0]) == 0.5f && out[at] == 0.5f &&
		       out[copy] == 0.5f,
	       "outlier: naive split halves max|W| to 0.5, one half in each copy");
	float s = 7.0f;
	ocs_split_weights(out, ch, w, O, I, K, 1, OCS_SPLIT_QA, s);
	/* x = 7: halves 3.25/7 and 3.75/7 */
	tap_ok(ch[0] == 5 && out[at] == 3.25f / 7.0f && out[copy] == 3.75f / 7.0f,
	       "outlier: QA halves (x/2 -+ 1/4)/s");
}

/* ---- the QA property (§4.6.4) ---- */

static void
test_code_sums(void)
{
	/* two strong outliers, ratio 0.5: long chains, appended copies split again */
	const int O = 8, I = 16, K = 9;
	int n = ocs_split_count(0.5, I);
	size_t nw = (size_t)O * I * K, nout = (size_t)O * (I + n) * K;
	float *w = xmalloc(nw * sizeof *w), *out = xmalloc(nout * sizeof *out);
	int32_t *ch = xmalloc((size_t)n * sizeof *ch);
	fill_weights(w, nw, 0);
	w[(3 * I + 2) * K + 1] = 1.3f;
	w[(5 * I + 9) * K + 7] = -0.9f;
	ocs_split_weights(out, ch, w, O, I, K, n, OCS_SPLIT_NAIVE, 0.0f);
	float s = 7.0f / max_abs(out, nout);
	ocs_split_weights(out, ch, w, O, I, K, n, OCS_SPLIT_QA, s);
	int chained = 0;
	for (int j = 0; j < n; j++)
		chained += ch[j] == 2;
	tap_ok(chained >= 3, "code sums: the outlier's channel is split %d times", chained);
	tap_eq_int(code_sum_mismatches(out, ch, w, O, I, K, n, s), 0,
		   "code sums: QA pieces of every chain sum to round(w·s)");
	/* codes within 8 bits here, so ocs_codes agrees with the unclamped codes */
	int8_t *codes = xmalloc(nout);
	ocs_codes(codes, out, nout, s, 8);
	long sum = 0;
	for (int c = 0; c < I + n; c++)
		if (c == 2 || (c >= I && ch[c - I] == 2))
			sum += codes[(3 * (I + n) + c) * K + 1];
	tap_eq_int(sum, (long)nearbyintf(1.3f * s), "code sums: outlier chain (ocs_codes)");

	ocs_split_weights(out, ch, w, O, I, K, n, OCS_SPLIT_NAIVE, 0.0f);
	long bad = code_sum_mismatches(out, ch, w, O, I, K, n, s);
	tap_ok(bad > 0, "code sums: naive split breaks the property (%ld entries)", bad);

	/* x = 3: naive halves 1.5 + 1.5 round to 2 + 2 = 4; QA 1.25 + 1.75 to 1 + 2 = 3 */
	float w1[1] = {3.0f / 8.0f}, o1[2];
	int32_t c1[1];
	int8_t k1[2];
	ocs_split_weights(o1, c1, w1, 1, 1, 1, 1, OCS_SPLIT_NAIVE, 0.0f);
	ocs_codes(k1, o1, 2, 8.0f, 8);
	tap_eq_int(k1[0] + k1[1], 4, "code sums: naive x=3 gives 2 + 2");
	ocs_split_weights(o1, c1, w1, 1, 1, 1, 1, OCS_SPLIT_QA, 8.0f);
	ocs_codes(k1, o1, 2, 8.0f, 8);
	tap_ok(k1[0] == 1 && k1[1] == 2, "code sums: QA x=3 gives 1 + 2");
	free(w);
	free(out);
	free(ch);
	free(codes);
}

/* ---- incremental maxima against the literal greedy ---- */

/* The reference greedy as written: every step rescans the whole current tensor. */
static void
split_rescan(float *out, int32_t *channels, const float *w, int O, int I, int K, int n,
	     enum ocs_split split, float s)
{
	size_t J = (size_t)I + n;
	for (int o = 0; o < O; o++)
		memcpy(out + (size_t)o * J * K, w + (size_t)o * I * K, (size_t)I * K * sizeof *out);
	for (int k = 0; k < n; k++) {
		int best = 0;
		float bm = -1.0f;
		for (int c = 0; c < I + k; c++) {
			float m = 0.0f;
			for (int o = 0; o < O; o++)
				for (int j = 0; j < K; j++)
					m = fmaxf(m, fabsf(out[((size_t)o * J + c) * K + j]));
			if (m >= bm) {
				bm = m;
				best = c;
			}
		}
		for (int o = 0; o < O; o++)
			for (int j = 0; j < K; j++) {
				float *a = &out[((size_t)o * J + best) * K + j];
				float *b = &out[((size_t)o * J + I + k) * K + j];
				float v = *a, h = v / 2.0f;
				if (v == 0.0f) {
					*b = 0.0f;
				} else if (split == OCS_SPLIT_NAIVE) {
					*a = h;
					*b = h;
				} else {
					float x = h * s;
					float lo = x - 0.25f, hi = x + 0.25f;
					*a = lo / s;
					*b = hi / s;
				}
			}
		channels[k] = best < I ? best : channels[best - I];
	}
}

static void
test_against_rescan(int O, int I, int K, double ratio, int ties)
{
	int n = ocs_split_count(ratio, I);
	size_t nw = (size_t)O * I * K, nout = (size_t)O * (I + n) * K;
	float *w = xmalloc(nw * sizeof *w);
	float *a = xmalloc(nout * sizeof *a), *b = xmalloc(nout * sizeof *b);
	int32_t *ca = xmalloc((size_t)n * sizeof *ca), *cb = xmalloc((size_t)n * sizeof *cb);
	if (ties) {
		/* few distinct magnitudes (powers of two and zeros): many equal maxima */
		static const float vals[] = {0.0f, 0.25f, -0.25f, 0.5f, -0.5f, 1.0f, -1.0f};
		for (size_t i = 0; i < nw; i++)
			w[i] = vals[rng_below(&g_rng, 7)];
	} else {
		fill_weights(w, nw, 30);
	}
	for (int qa = 0; qa <= 1; qa++) {
		enum ocs_split sp = qa ? OCS_SPLIT_QA : OCS_SPLIT_NAIVE;
		float s = qa ? 7.0f / max_abs(w, nw) : 0.0f;
		ocs_split_weights(a, ca, w, O, I, K, n, sp, s);
		split_rescan(b, cb, w, O, I, K, n, sp, s);
		int same = memcmp(a, b, nout * sizeof *a) == 0 &&
			   memcmp(ca, cb, (size_t)n * sizeof *ca) == 0;
		tap_ok(same, "%s %dx%dx%d%s, %d splits: incremental maxima == full rescan",
		       qa ? "qa" : "naive", O, I, K, ties ? " (ties)" : "", n);
	}
	free(w);
	free(a);
	free(b);
	free(ca);
	free(cb);
}

/* A large linear layer: runs quickly, stays consistent. */
static void
test_large(void)
{
	const int O = 128, I = 10000;
	int n = ocs_split_count(0.02, I);
	size_t nw = (size_t)O * I, nout = (size_t)O * (I + n);
	float *w = xmalloc(nw * sizeof *w), *out = xmalloc(nout * sizeof *out);
	int32_t *ch = xmalloc((size_t)n * sizeof *ch);
	fill_weights(w, nw, 500);
	ocs_split_weights(out, ch, w, O, I, 1, n, OCS_SPLIT_QA, 7.0f / max_abs(w, nw));
	int ok = 1;
	for (int j = 0; j < n; j++)
		ok &= ch[j] >= 0 && ch[j] < I;
	tap_ok(n == 200 && ok && max_abs(out, nout) < max_abs(w, nw),
	       "large %dx%d, %d QA splits: list in range, max|W| lowered", O, I, n);
	free(w);
	free(out);
	free(ch);
}

/* ---- codes ---- */

static void
test_codes(void)
{
	/* ties go to even; -0.5 rounds to 0 */
	static const float w[] = {1.25f, -1.25f, 1.75f, 0.25f, -0.25f, 0.0f, 2.25f, -1.75f};
	static const int8_t want[] = {2, -2, 4, 0, 0, 0, 4, -4};
	int8_t got[8];
	ocs_codes(got, w, 8, 2.0f, 8);
	same_codes(got, want, 8, "codes: round half to even");

	static const float wc[] = {100.0f, -100.0f, 7.4f, -8.4f, 7.6f, -8.6f, 0.6f};
	static const int8_t want4[] = {7, -8, 7, -8, 7, -8, 1};
	static const int8_t want2[] = {1, -2, 1, -2, 1, -2, 1};
	int8_t gc[7];
	ocs_codes(gc, wc, 7, 1.0f, 4);
	same_codes(gc, want4, 7, "codes: 4 bits clamp to [-8, 7]");
	ocs_codes(gc, wc, 7, 1.0f, 2);
	same_codes(gc, want2, 7, "codes: 2 bits clamp to [-2, 1]");
	static const float w8[] = {127.4f, 127.6f, -128.4f, -300.0f, 300.0f};
	static const int8_t want8[] = {127, 127, -128, -128, 127};
	int8_t g8[5];
	ocs_codes(g8, w8, 5, 1.0f, 8);
	same_codes(g8, want8, 5, "codes: 8 bits clamp to [-128, 127]");

	/* w·s is 3.4999998807907104 exactly but 3.5f in float32: the float product rounds to 4 */
	float wt = 3.5f / 3.0f;
	int8_t gt;
	ocs_codes(&gt, &wt, 1, 3.0f, 8);
	tap_eq_int(gt, 4, "codes: float32 product (3.5f/3)·3 -> 3.5 -> 4");
}

/* ---- activation splitting ---- */

static void
test_activations(void)
{
	/*
	 * maxima {1, 4, 2, 4}: step 0 ties 1 and 3 -> 3 (halves to 2, copy 4 = 2);
	 * step 1 -> 1 (copy 5 = 2); step 2: 1..5 tie at 2 -> 5, the copy of 1;
	 * step 3: 1..4 tie at 2 -> 4, the copy of 3.
	 */
	static const float m[4] = {1, 4, 2, 4};
	static const int32_t want[4] = {3, 1, 5, 4};
	int32_t picks[4];
	ocs_split_activations(picks, m, 4, 4);
	same_ints(picks, want, 4, "activations: ties and chains {3, 1, 5, 4}");

	/*
	 * Naive weight splitting halves the chosen channel's maximum exactly, so
	 * on the weight's channel maxima the activation greedy makes the same
	 * choices: its picks, mapped to original channels, are the weight list.
	 */
	const int O = 5, I = 20, K = 9;
	int n = ocs_split_count(0.5, I);
	size_t nw = (size_t)O * I * K;
	float *w = xmalloc(nw * sizeof *w), *out = xmalloc((size_t)O * (I + n) * K * sizeof *out);
	float cm[20] = {0};
	int32_t ch[10], pk[10], orig[30];
	fill_weights(w, nw, 15);
	for (int o = 0; o < O; o++)
		for (int c = 0; c < I; c++)
			for (int k = 0; k < K; k++)
				cm[c] = fmaxf(cm[c], fabsf(w[((size_t)o * I + c) * K + k]));
	ocs_split_weights(out, ch, w, O, I, K, n, OCS_SPLIT_NAIVE, 0.0f);
	ocs_split_activations(pk, cm, I, n);
	int ok = n == 10, again = 0;
	for (int c = 0; c < I; c++)
		orig[c] = c;
	for (int k = 0; k < n && ok; k++) {
		ok &= pk[k] < I + k;
		again += pk[k] >= I;
		orig[I + k] = orig[pk[k]];
		ok &= orig[I + k] == ch[k];
	}
	tap_ok(ok, "activations: picks on weight maxima map to the naive weight list");
	tap_ok(again > 0, "activations: some appended copies split again (%d)", again);
	free(w);
	free(out);
}

int
main(void)
{
	threads_init(1);
	rng_seed(&g_rng, 4106);
	test_split_count();
	test_fixtures();
	test_golden_by_hand();
	for (int q = 0; q <= 1; q++) {
		enum ocs_split sp = q ? OCS_SPLIT_QA : OCS_SPLIT_NAIVE;
		test_conv_equivalence(1, sp, 0.25);
		test_conv_equivalence(3, sp, 0.5);
		test_linear_equivalence(sp);
		test_max_nonincreasing(sp);
	}
	test_shapes();
	test_ratio_zero();
	test_isolated_outlier();
	test_code_sums();
	test_against_rescan(6, 24, 9, 0.5, 1);
	test_against_rescan(3, 40, 1, 1.0, 1);
	test_against_rescan(8, 64, 9, 0.25, 0);
	test_against_rescan(32, 2000, 1, 0.02, 0);
	test_large();
	test_codes();
	test_activations();
	return tap_done();
}
