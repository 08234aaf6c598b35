/*
 * test_clip: the clipping thresholds of engine/ptq/clip against every case
 * and bit-width of tests/fixtures/clip.h5 and the table of METHODS §4.6
 * item 7, the ACIQ constants against their defining objectives, the
 * properties of §4.6 item 5, and the parser, pct, max and edge cases.
 *
 * Tolerances: the histogram statistics are double computations in the same
 * order as the reference, up to summation order: alphas and MSE values
 * 1e-9 relative. The KL divergences round as the reference's float32 code
 * does and match exactly. The deterministic Laplace sample is stored in
 * float64 and rounded to float32 here (clip_find reads floats), so its
 * alphas match to 2e-6 relative, its MSE values to 1e-5 and its
 * divergences to 1e-4.
 */
#include <float.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ptq/clip.h"
#include "engine/util.h"
#include "tests/unit/fixture.h"
#include "tests/unit/tap.h"

static int
rel_ok(double got, double want, double rtol)
{
	return fabs(got - want) <= rtol * fmax(fabs(want), 1e-300);
}

static const struct clip_spec spec_max = {.method = CLIP_MAX};
static const struct clip_spec spec_mse = {.method = CLIP_MSE};
static const struct clip_spec spec_aciq = {.method = CLIP_ACIQ, .table = CLIP_ACIQ_OCS};
static const struct clip_spec spec_kl = {.method = CLIP_KL};

/* clip_find that must succeed (a failure is reported and gives NaN). */
static double
find(const struct clip_spec *c, const float *x, size_t n, int bits, struct clip_detail *d)
{
	double a = NAN;
	char *cause = NULL;
	if (clip_find(c, x, n, bits, &a, d, &cause) < 0) {
		tap_ok(0, "clip_find failed: %s", cause);
		free(cause);
		return NAN;
	}
	return a;
}

/* ---- every fixture case and bit-width ---- */

/*
 * Checks one case of clip.h5: every bit-width of its `bits` dataset, every
 * method. ctx points to rtol, the tolerance of alphas (tighter for float32
 * inputs).
 */
static void
check_case(hid_t g, const char *path, void *ctx)
{
	double rtol = *(const double *)ctx;
	size_t n = 0, nb = 0;
	float *x = fixture_floats(g, "x", &n);
	int32_t *bits = fixture_ints(g, "bits", &nb);
	double *mse_alpha = fixture_doubles(g, "mse_alpha", NULL);
	double *mse_curve = fixture_doubles(g, "mse_curve", NULL);
	double *aciq_alpha = fixture_doubles(g, "aciq_alpha", NULL);
	double *ag = fixture_doubles(g, "aciq_alpha_gauss", NULL);
	double *al = fixture_doubles(g, "aciq_alpha_laplace", NULL);
	double *mg = fixture_doubles(g, "aciq_mse_gauss", NULL);
	double *ml = fixture_doubles(g, "aciq_mse_laplace", NULL);
	double *kl_alpha = fixture_doubles(g, "kl_alpha", NULL);
	double *kl_div = fixture_doubles(g, "kl_divergence", NULL);
	int32_t *choice = fixture_ints(g, "aciq_choice", NULL);
	double max_abs = 0, curve_rtol = rtol > 1e-9 ? 1e-5 : 1e-9;
	/* float32 inputs: the divergence rounds exactly as the reference's */
	double kl_rtol = rtol > 1e-9 ? 1e-4 : 0;

	tap_ok(x && bits && mse_curve && choice && nb > 0, "%s: fixture datasets present", path);
	if (!x || !bits || !mse_curve || !choice)
		goto out;
	/* max|x| of the values as clip_find sees them (float32) */
	for (size_t i = 0; i < n; i++)
		max_abs = fmax(max_abs, fabs((double)x[i]));
	tap_near(max_abs, fixture_attr(g, "max_abs"), rtol * max_abs, "%s: max|x| attribute", path);
	tap_near(find(&spec_max, x, n, 0, NULL), max_abs, 0, "%s: max = max|x|", path);
	for (size_t b = 0; b < nb; b++) {
		struct clip_detail d;
		int B = bits[b];
		const double *curve = mse_curve + b * CLIP_MSE_CANDIDATES;

		/* mse: the curve, then alpha (or, at a near tie, the fixture's curve at both) */
		double a = find(&spec_mse, x, n, B, &d);
		double worst = 0;
		int worst_i = 0;
		for (int i = 0; i < CLIP_MSE_CANDIDATES; i++) {
			double e = fabs(d.mse_curve[i] - curve[i]) / curve[i];
			if (e > worst) {
				worst = e;
				worst_i = i;
			}
		}
		if (!tap_ok(worst <= curve_rtol, "%s b%d: mse_curve (max rel diff %.3g)", path, B,
			    worst))
			tap_diag("candidate %d: got %.17g want %.17g", worst_i,
				 d.mse_curve[worst_i], curve[worst_i]);
		if (rel_ok(a, mse_alpha[b], rtol)) {
			tap_ok(1, "%s b%d: mse alpha %.9g", path, B, a);
		} else {
			int ia = (int)lround(a / max_abs * 100) - 1;
			int iw = (int)lround(mse_alpha[b] / max_abs * 100) - 1;
			int tie = ia >= 0 && ia < CLIP_MSE_CANDIDATES &&
				  rel_ok(curve[ia], curve[iw], curve_rtol);
			tap_ok(tie, "%s b%d: mse alpha %.9g vs %.9g is a near tie of the curve",
			       path, B, a, mse_alpha[b]);
		}
		tap_ok(a <= max_abs, "%s b%d: mse alpha %.9g <= max|x| %.9g", path, B, a, max_abs);
		double pctg = a / max_abs * 100;
		tap_ok(fabs(pctg - nearbyint(pctg)) < 1e-6 && nearbyint(pctg) >= 1 &&
			       nearbyint(pctg) <= 99,
		       "%s b%d: mse alpha on the 1%% grid (%.9g%%)", path, B, pctg);

		/* aciq: both fits, their histogram MSEs, the choice */
		a = find(&spec_aciq, x, n, B, &d);
		tap_near(d.aciq_alpha_gauss, ag[b], rtol * ag[b], "%s b%d: aciq alpha_gauss", path,
			 B);
		tap_near(d.aciq_alpha_laplace, al[b], rtol * al[b], "%s b%d: aciq alpha_laplace",
			 path, B);
		tap_near(d.aciq_mse_gauss, mg[b], curve_rtol * mg[b], "%s b%d: aciq mse_gauss", path,
			 B);
		tap_near(d.aciq_mse_laplace, ml[b], curve_rtol * ml[b], "%s b%d: aciq mse_laplace",
			 path, B);
		tap_eq_int(d.aciq_choice, choice[b], "%s b%d: aciq choice", path, B);
		tap_near(a, aciq_alpha[b], rtol * aciq_alpha[b], "%s b%d: aciq alpha", path, B);

		/* kl */
		a = find(&spec_kl, x, n, B, &d);
		tap_near(a, kl_alpha[b], rtol * kl_alpha[b], "%s b%d: kl alpha", path, B);
		tap_near(d.kl_divergence, kl_div[b], kl_rtol * kl_div[b], "%s b%d: kl divergence",
			 path, B);
		tap_ok(a <= max_abs, "%s b%d: kl alpha %.9g <= max|x| %.9g", path, B,
		       a, max_abs);
	}
out:
	free(x), free(bits), free(mse_alpha), free(mse_curve), free(aciq_alpha), free(ag);
	free(al), free(mg), free(ml), free(kl_alpha), free(kl_div), free(choice);
}

static void
test_fixtures(void)
{
	/* golden/ is float64 data read as float32: see the file comment */
	double dist_rtol = 1e-9, golden_rtol = 2e-6;
	hid_t f = fixture_open("clip.h5");
	if (f < 0)
		return;
	int cases = fixture_each(f, "dist", check_case, &dist_rtol);
	cases += fixture_each(f, "golden", check_case, &golden_rtol);
	tap_eq_int(cases, 6, "clip.h5 has 5 dist cases and 1 golden case");
	H5Fclose(f);
}

/* ---- METHODS §4.6 item 7 ---- */

static void
test_methods_table(void)
{
	enum { N = 10001 };
	static const struct {
		int bits;
		double mse, aciq, kl;
		int laplace;
	} rows[] = {
		{2, 1.934192, 2.331368, 5.713969, 1},
		{3, 3.592072, 3.045077, 6.082019, 1},
		{4, 4.789429, 5.082908, 6.818118, 0},
		{8, 8.749918, 8.652051, 9.210440, 1},
	};
	float *x = xmalloc(N * sizeof *x);
	double amax = 0, mean = 0, dev = 0;
	for (int i = 0; i < N; i++) {
		double u = (i + 0.5) / N - 0.5;
		double v = -(u > 0 ? 1 : u < 0 ? -1 : 0) * log(1 - 2 * fabs(u));
		x[i] = (float)v;
		amax = fmax(amax, fabs(v));
		mean += v;
	}
	mean /= N;
	for (int i = 0; i < N; i++)
		dev += fabs(x[i] - mean);
	tap_near(amax, 9.210440, 5e-7, "det Laplace: max|x| = 9.210440");
	tap_near(dev / N, 0.999931, 5e-7, "det Laplace: mean|x - mean| = 0.999931");
	/* printed to 6 decimals, input rounded to float32: 2e-6 */
	for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
		struct clip_detail d;
		int b = rows[r].bits;
		tap_near(find(&spec_mse, x, N, b, NULL), rows[r].mse, 2e-6, "§4.6.7 b%d: mse", b);
		tap_near(find(&spec_aciq, x, N, b, &d), rows[r].aciq, 2e-6, "§4.6.7 b%d: aciq", b);
		tap_eq_int(d.aciq_choice, rows[r].laplace, "§4.6.7 b%d: aciq chooses %s", b,
			   rows[r].laplace ? "Laplace" : "Gaussian");
		tap_near(find(&spec_kl, x, N, b, NULL), rows[r].kl, 2e-6, "§4.6.7 b%d: kl", b);
	}
	free(x);
}

/* ---- ACIQ constants ---- */

/* Half a unit in the last printed digit of s. */
static double
half_ulp_printed(const char *s)
{
	const char *dot = strchr(s, '.');
	int dec = dot ? (int)strlen(dot + 1) : 0;
	return 0.5 * pow(10, -dec);
}

/*
 * How closely a printed table value pins down the minimiser. The tables were
 * printed from scipy's minimize_scalar (Brent, relative x tolerance
 * 1.48e-8, so up to about 2·1.48e-8·alpha off) on the objective evaluated
 * in double. For the Gaussian the objective is also flat to within its own
 * rounding there: (1 + alpha^2)·(1 - erf(alpha/sqrt 2)) carries about
 * (1 + alpha^2)·DBL_EPSILON of error, which hides alpha within
 * sqrt(2·that/f'') with f'' = 2·erfc(alpha/sqrt 2) + 2c. The exact
 * minimiser must lie within half a unit of the last printed digit plus
 * those.
 */
static double
table_tolerance(int dist, double alpha, double c, const char *printed)
{
	double tol = half_ulp_printed(printed) + 2 * 1.48e-8 * alpha;
	if (dist == CLIP_GAUSS)
		tol += sqrt(2 * (1 + alpha * alpha) * DBL_EPSILON /
			    (2 * erfc(alpha / M_SQRT2) + 2 * c));
	return tol;
}

static void
test_aciq_constants(void)
{
	/* the tables as printed (METHODS §4.3), bits 2..8 */
	static const char *const tab[2][2][7] = {
		[CLIP_ACIQ_OCS] = {
			[CLIP_GAUSS] = {"1.47818312", "1.80489289", "2.19227856", "2.57733584",
					"2.94451183", "3.29076248", "3.61691335"},
			[CLIP_LAPLACE] = {"2.33152939", "3.04528770", "4.00378631", "5.08252088",
					  "6.23211675", "7.42700429", "8.65265030"},
		},
		[CLIP_ACIQ_ORIG] = {
			[CLIP_GAUSS] = {"1.71063519", "2.15159277", "2.55913646", "2.93620062",
					"3.28691474", "3.6151146", "3.92403714"},
			[CLIP_LAPLACE] = {"2.83068299", "3.89722946", "5.02864014", "6.20476633",
					  "7.41312622", "8.64561995", "9.89675982"},
		},
	};
	static const char *const tname[2] = {"ocs", "orig"}, *const dname[2] = {"gauss", "laplace"};
	for (int t = 0; t < 2; t++) {
		for (int dist = 0; dist < 2; dist++) {
			for (int b = 2; b <= 8; b++) {
				const char *s = tab[t][dist][b - 2];
				double want = strtod(s, NULL);
				double got = clip_aciq_solve(t, dist, b);
				double c = t == CLIP_ACIQ_ORIG ? 1.0 / (3 * pow(4, b))
							       : (pow(2, b - 1) - 1) / (3 * pow(8, b - 1));
				tap_near(got, want, table_tolerance(dist, got, c, s),
					 "aciq %s %s b%d: the minimiser %.10f gives %s", tname[t],
					 dname[dist], b, got, s);
				/* and not the other table's value: the objectives differ */
				tap_ok(fabs(clip_aciq_solve(!t, dist, b) - want) > 1e-3,
				       "aciq %s %s b%d: the other objective misses %s", tname[t],
				       dname[dist], b, s);
				tap_near(clip_aciq_constant(t, dist, b), want, 0,
					 "aciq %s %s b%d: the table value", tname[t], dname[dist], b);
			}
			/* above the table: the minimiser, increasing with bits */
			double prev = clip_aciq_constant(t, dist, 8);
			int incr = 1, same = 1;
			for (int b = 9; b <= CLIP_MAX_BITS; b++) {
				double a = clip_aciq_constant(t, dist, b);
				incr &= a > prev;
				same &= a == clip_aciq_solve(t, dist, b);
				prev = a;
			}
			tap_ok(incr && same,
			       "aciq %s %s b9..%d: the minimiser, increasing with bits (b%d: %.6f)",
			       tname[t], dname[dist], CLIP_MAX_BITS, CLIP_MAX_BITS, prev);
		}
	}
}

/* ---- pct, max ---- */

static int
cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return (x > y) - (x < y);
}

static void
test_pct_max(void)
{
	struct clip_spec c = {.method = CLIP_PCT};
	/* sorted |x| = 0, 1, 2, 3, 4 */
	static const float x[] = {-4, 1, 3, -2, 0};
	static const struct {
		double p, want;
	} hand[] = {{50, 2}, {90, 3.6}, {10, 0.4}, {100, 4}, {62.5, 2.5}, {1e-9, 4e-11}};
	for (size_t i = 0; i < sizeof hand / sizeof hand[0]; i++) {
		c.pct = hand[i].p;
		tap_near(find(&c, x, 5, 0, NULL), hand[i].want, 1e-12,
			 "pct:%g of |{-4, 1, 3, -2, 0}| = %g", hand[i].p, hand[i].want);
	}
	tap_near(find(&spec_max, x, 5, 0, NULL), 4, 0, "max of {-4, 1, 3, -2, 0} = 4");
	c.pct = 50;
	static const float one[] = {-2.5f};
	tap_near(find(&c, one, 1, 0, NULL), 2.5, 0, "pct:50 of one value is |value|");

	/* against a full sort, with a run of zeros (post-ReLU-like) and ties */
	enum { N = 100001 };
	float *v = xmalloc(N * sizeof *v), *s = xmalloc(N * sizeof *s), *keep;
	unsigned long long st = 12345;
	for (int i = 0; i < N; i++) {
		st = st * 6364136223846793005ull + 1442695040888963407ull;
		double u = (double)(st >> 11) / 9007199254740992.0;
		v[i] = i % 3 == 0 ? 0.0f : (float)(floor(u * 1000) / 7 - 50);
		s[i] = fabsf(v[i]);
	}
	keep = xmalloc(N * sizeof *keep);
	memcpy(keep, v, N * sizeof *v);
	qsort(s, N, sizeof *s, cmp_float);
	static const double ps[] = {0.5, 30, 33.3, 50, 99, 99.99, 99.999};
	for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
		double h = (N - 1) * (ps[i] / 100), lo = floor(h);
		double want = s[(size_t)lo] + (h - lo) * ((double)s[(size_t)lo + 1] - s[(size_t)lo]);
		c.pct = ps[i];
		tap_near(find(&c, v, N, 0, NULL), want, 1e-9 * fmax(1, want),
			 "pct:%g of %d values matches the sorted order statistics", ps[i], N);
	}
	tap_ok(memcmp(keep, v, N * sizeof *v) == 0, "pct leaves its input alone");
	free(v), free(s), free(keep);
}

/* ---- parser ---- */

static void
test_parse(void)
{
	static const char *const good[] = {"max", "mse", "aciq", "aciq:orig", "kl",
					   "pct:99.99", "pct:100", "pct:0.5", "pct:1e-3"};
	static const char *const canon[] = {"max", "mse", "aciq", "aciq:orig", "kl",
					    "pct:99.99", "pct:100", "pct:0.5", "pct:0.001"};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		struct clip_spec c, c2;
		char *cause = NULL, buf[64], buf2[64];
		int rc = clip_parse(good[i], &c, &cause);
		tap_ok(rc == 0, "parse '%s'%s%s", good[i], cause ? ": " : "", cause ? cause : "");
		free(cause);
		if (rc)
			continue;
		tap_eq_str(clip_format(&c, buf, sizeof buf), canon[i], "format '%s'", good[i]);
		cause = NULL;
		rc = clip_parse(buf, &c2, &cause);
		free(cause);
		tap_ok(rc == 0 && c2.method == c.method && c2.pct == c.pct && c2.table == c.table &&
			       strcmp(clip_format(&c2, buf2, sizeof buf2), buf) == 0,
		       "'%s' round-trips", buf);
	}
	struct clip_spec c;
	char *cause = NULL;
	tap_ok(clip_parse("aciq:orig", &c, NULL) == 0 && c.method == CLIP_ACIQ &&
		       c.table == CLIP_ACIQ_ORIG,
	       "aciq:orig selects the original table");
	tap_ok(clip_parse("pct:99.5", &c, NULL) == 0 && c.method == CLIP_PCT && c.pct == 99.5,
	       "pct:99.5 holds P");

	static const struct {
		const char *text, *msg;
	} bad[] = {
		{"msee", "unknown clip method 'msee' (did you mean 'mse'?)"},
		{"akiq:orig", "unknown clip method 'akiq:orig' (did you mean 'aciq:orig'?)"},
		{"maxx", "unknown clip method 'maxx' (did you mean 'max'?)"},
		{"pt:99.9", "unknown clip method 'pt:99.9' (did you mean 'pct:99.9'?)"},
		{"pcx", "unknown clip method 'pcx' (did you mean 'pct:P'?)"},
		{"entropy", "unknown clip method 'entropy' (expected max, pct:P, mse, aciq, "
			    "aciq:orig or kl)"},
		{"", "empty clip method (expected max, pct:P, mse, aciq, aciq:orig or kl)"},
		{"pct", "clip method 'pct' needs a percentile: pct:P with 0 < P <= 100"},
		{"pct:0", "clip method 'pct:0': the percentile P of pct:P must be a number with "
			  "0 < P <= 100"},
		{"pct:100.5", "clip method 'pct:100.5': the percentile P of pct:P must be a "
			      "number with 0 < P <= 100"},
		{"pct:abc", "clip method 'pct:abc': the percentile P of pct:P must be a number "
			    "with 0 < P <= 100"},
		{"pct:", "clip method 'pct:': the percentile P of pct:P must be a number with "
			 "0 < P <= 100"},
		{"pct:nan", "clip method 'pct:nan': the percentile P of pct:P must be a number "
			    "with 0 < P <= 100"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cause = NULL;
		int rc = clip_parse(bad[i].text, &c, &cause);
		tap_ok(rc == -1, "'%s' is refused", bad[i].text);
		tap_eq_str(cause ? cause : "(none)", bad[i].msg, "message for '%s'", bad[i].text);
		free(cause);
	}
}

/* ---- edge cases ---- */

static void
test_edges(void)
{
	static const float zeros[64];
	static const float x[] = {0.5f, -1.25f, 0.75f, 2.0f, -0.125f, 0.0f, 1.5f, -0.625f};
	struct clip_spec all[6] = {spec_max, {.method = CLIP_PCT, .pct = 99}, spec_mse, spec_aciq,
				   {.method = CLIP_ACIQ, .table = CLIP_ACIQ_ORIG}, spec_kl};
	char *cause = NULL, name[32];
	for (int i = 0; i < 6; i++) {
		double a = -1;
		struct clip_detail d;
		clip_format(&all[i], name, sizeof name);
		int rc = clip_find(&all[i], zeros, 64, 4, &a, &d, NULL);
		tap_ok(rc == 0 && a == 0, "%s of 64 zeros is 0 (got %g)", name, a);
		a = -1;
		rc = clip_find(&all[i], zeros, 0, 4, &a, NULL, NULL);
		tap_ok(rc == 0 && a == 0, "%s of no values is 0", name);
		a = -1;
		rc = clip_find(&all[i], x, 8, 4, &a, &d, NULL);
		tap_ok(rc == 0 && a > 0 && isfinite(a), "%s of 8 values is positive (%g)", name, a);
	}
	/* bits out of range: refused by the methods that use them, ignored by max and pct */
	static const int badbits[] = {CLIP_MIN_BITS - 1, CLIP_MAX_BITS + 1, 0, -3};
	for (size_t i = 0; i < sizeof badbits / sizeof badbits[0]; i++) {
		double a = 0;
		cause = NULL;
		int rc = clip_find(&spec_mse, x, 8, badbits[i], &a, NULL, &cause);
		char want[128];
		snprintf(want, sizeof want, "clip method 'mse' needs bits in %d..%d (got %d)",
			 CLIP_MIN_BITS, CLIP_MAX_BITS, badbits[i]);
		tap_ok(rc == -1, "mse refuses bits=%d", badbits[i]);
		tap_eq_str(cause ? cause : "(none)", want, "message for mse bits=%d", badbits[i]);
		free(cause);
	}
	tap_ok(clip_find(&spec_kl, x, 8, CLIP_MAX_BITS + 1, &(double){0}, NULL, NULL) == -1 &&
		       clip_find(&spec_aciq, x, 8, 1, &(double){0}, NULL, NULL) == -1,
	       "kl and aciq refuse bits out of range");
	tap_ok(clip_find(&spec_max, x, 8, 0, &(double){0}, NULL, NULL) == 0,
	       "max ignores bits");
	/* non-finite values */
	float bad[3] = {1, NAN, 2};
	cause = NULL;
	tap_ok(clip_find(&spec_mse, bad, 3, 4, &(double){0}, NULL, &cause) == -1,
	       "a NaN is refused");
	tap_eq_str(cause ? cause : "(none)", "value 1 is not finite (nan)", "NaN message");
	free(cause);
	bad[1] = INFINITY;
	tap_ok(clip_find(&spec_max, bad, 3, 4, &(double){0}, NULL, NULL) == -1,
	       "an infinity is refused");
	/* a pct spec built by hand with P out of range */
	struct clip_spec p0 = {.method = CLIP_PCT, .pct = 0};
	tap_ok(clip_find(&p0, x, 8, 4, &(double){0}, NULL, NULL) == -1, "pct with P = 0 is refused");

	/* values without spread: aciq gives max|x|, kl and mse stay on their grids */
	float cst[100];
	for (int i = 0; i < 100; i++)
		cst[i] = -0.75f;
	struct clip_detail d;
	tap_near(find(&spec_aciq, cst, 100, 4, &d), 0.75, 0, "aciq of constant -0.75 is 0.75");
	tap_ok(d.aciq_mse_gauss == d.aciq_mse_laplace && d.aciq_choice == CLIP_LAPLACE,
	       "aciq: equal histogram MSEs choose Laplace (the reference's strict <)");
	tap_near(find(&spec_aciq, cst, 1, 4, NULL), 0.75, 0, "aciq of one value is |value|");
	double a = find(&spec_mse, cst, 100, 4, NULL);
	tap_ok(a > 0 && a <= 0.75, "mse of constant -0.75 is in (0, 0.75] (%g)", a);

	/* kl above 9 bits: max|x| (no candidate in the 1001-bin histogram) */
	tap_near(find(&spec_kl, x, 8, 10, &d), 2.0, 0, "kl at 10 bits is max|x|");
	tap_near(d.kl_divergence, 0, 0, "kl at 10 bits: divergence 0");
	a = find(&spec_kl, x, 8, 9, &d);
	tap_ok(a > 0 && a <= 2.0 && isfinite(d.kl_divergence), "kl at 9 bits has candidates (%g)",
	       a);
	/* mse and aciq at the widest grid */
	a = find(&spec_mse, x, 8, CLIP_MAX_BITS, NULL);
	tap_ok(a > 0 && a <= 2.0, "mse at %d bits (%g)", CLIP_MAX_BITS, a);
	a = find(&spec_aciq, x, 8, CLIP_MAX_BITS, &d);
	tap_ok(a > 0 && d.aciq_alpha_laplace > 0 && d.aciq_alpha_gauss > 0,
	       "aciq at %d bits (%g)", CLIP_MAX_BITS, a);
	/* details of other methods stay 0 */
	find(&spec_mse, x, 8, 4, &d);
	tap_ok(d.aciq_alpha_gauss == 0 && d.kl_divergence == 0, "mse leaves other details 0");
}

/* §4.6.5: aciq may exceed max|x| (bimodal data); it is not clamped */
static void
test_aciq_exceeds(void)
{
	enum { N = 4000 };
	float *x = xmalloc(N * sizeof *x);
	for (int i = 0; i < N; i++) {
		double u = (i + 0.5) / N;
		x[i] = (float)((i % 2 ? 2 : -2) + 0.05 * (u - 0.5));
	}
	double m = find(&spec_max, x, N, 0, NULL);
	struct clip_detail d;
	double a = find(&spec_aciq, x, N, 8, &d);
	tap_ok(a > m, "aciq on two narrow modes exceeds max|x| (%g > %g), not clamped", a, m);
	free(x);
}

int
main(void)
{
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
	test_fixtures();
	test_methods_table();
	test_aciq_constants();
	test_pct_max();
	test_parse();
	test_edges();
	test_aciq_exceeds();
	return tap_done();
}
