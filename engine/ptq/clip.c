/*
 * clip: clipping thresholds for post-training quantization (METHODS §4.2-§4.4).
 *
 * The histogram methods follow the OCS reference (dnn-quant-ocs, clip.py)
 * value for value: histograms are numpy.histogram's uniform bins (edges
 * lo + k·(hi - lo)/nb with the last edge exactly hi, a value v in bin k when
 * edges[k] <= v < edges[k+1], the last bin closed), densities are
 * count/width/N, and every quantizer rounds half to even. All statistics are
 * computed in double, except the KL divergences, which round as the
 * reference's float32 arrays do (see the kl section). Each method is one or two
 * passes over the values plus work on a histogram of at most 1001 bins, so
 * the cost is O(n) whatever the method (pct: expected O(n) selection on a
 * copy of |x|).
 *
 * Choices where the references leave a case undefined (documented in clip.h):
 *   - all-zero or empty input gives alpha 0 for every method;
 *   - aciq on values without spread (a single value, or all values equal)
 *     has both fits at 0 and returns max|x|;
 *   - kl above 9 bits: the reference's 1001-bin histogram has no candidate
 *     threshold (2^(b-1) - 1 > 500 bins per side), so the clip is max|x|
 *     (no clipping) with divergence 0;
 *   - aciq above 8 bits: the constants are the minimisers of the objective
 *     the tabulated ones minimise (clip_aciq_solve).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ptq/clip.h"
#include "engine/util.h"

/* ---- names ---- */

/* The methods as written on the command line ("pct" takes ":P"). */
static const char *const clip_names[] = {"max", "pct", "mse", "aciq", "aciq:orig", "kl"};
#define NCLIP_NAMES (sizeof clip_names / sizeof clip_names[0])
#define CLIP_EXPECTED "max, pct:P, mse, aciq, aciq:orig or kl"

int
clip_parse(const char *text, struct clip_spec *out, char **cause)
{
	struct clip_spec c = {.method = CLIP_MAX, .pct = 0, .table = CLIP_ACIQ_OCS};

	if (!text || !*text)
		return err_set(cause, "empty clip method (expected " CLIP_EXPECTED ")");
	if (strcmp(text, "max") == 0) {
		c.method = CLIP_MAX;
	} else if (strcmp(text, "mse") == 0) {
		c.method = CLIP_MSE;
	} else if (strcmp(text, "aciq") == 0) {
		c.method = CLIP_ACIQ;
	} else if (strcmp(text, "aciq:orig") == 0) {
		c.method = CLIP_ACIQ;
		c.table = CLIP_ACIQ_ORIG;
	} else if (strcmp(text, "kl") == 0) {
		c.method = CLIP_KL;
	} else if (strcmp(text, "pct") == 0) {
		return err_set(cause, "clip method 'pct' needs a percentile: pct:P with 0 < P <= 100");
	} else if (strncmp(text, "pct:", 4) == 0) {
		char *end = NULL;
		double p = strtod(text + 4, &end);
		if (!text[4] || *end || !(p > 0 && p <= 100))
			return err_set(cause,
				       "clip method '%s': the percentile P of pct:P must be a number "
				       "with 0 < P <= 100",
				       text);
		c.method = CLIP_PCT;
		c.pct = p;
	} else {
		const char *near = util_nearest(text, clip_names, NCLIP_NAMES);
		const char *colon = strchr(text, ':');
		if (!near && colon) {
			/* "pt:99.9": suggest the method nearest to the part before ':' */
			char head[32];
			snprintf(head, sizeof head, "%.*s", (int)(colon - text), text);
			const char *h = util_nearest(head, clip_names, NCLIP_NAMES);
			if (h && strcmp(h, "pct") == 0)
				return err_set(cause, "unknown clip method '%s' (did you mean 'pct%s'?)",
					       text, colon);
			if (h)
				near = h;
		}
		if (near && strcmp(near, "pct") == 0)
			near = "pct:P";
		if (near)
			return err_set(cause, "unknown clip method '%s' (did you mean '%s'?)", text,
				       near);
		return err_set(cause, "unknown clip method '%s' (expected " CLIP_EXPECTED ")", text);
	}
	*out = c;
	return 0;
}

const char *
clip_format(const struct clip_spec *c, char *buf, size_t n)
{
	switch (c->method) {
	case CLIP_MAX:
		snprintf(buf, n, "max");
		break;
	case CLIP_PCT:
		/* the shortest of %.15g / %.17g that reads back as the same double */
		snprintf(buf, n, "pct:%.15g", c->pct);
		if (strtod(buf + 4, NULL) != c->pct)
			snprintf(buf, n, "pct:%.17g", c->pct);
		break;
	case CLIP_MSE:
		snprintf(buf, n, "mse");
		break;
	case CLIP_ACIQ:
		snprintf(buf, n, "%s", c->table == CLIP_ACIQ_ORIG ? "aciq:orig" : "aciq");
		break;
	case CLIP_KL:
		snprintf(buf, n, "kl");
		break;
	}
	return buf;
}

/* ---- histograms (numpy.histogram with uniform bins) ---- */

/* edges[0..nb] of nb equal bins over [lo, hi], as numpy.linspace computes them. */
static void
hist_edges(double *edges, int nb, double lo, double hi)
{
	double step = (hi - lo) / nb;
	for (int k = 0; k < nb; k++)
		edges[k] = (double)k * step + lo;
	edges[nb] = hi;
}

/*
 * Counts of the n values x into the nb bins of edges (count zeroed here).
 * Values outside [edges[0], edges[nb]] are not counted. The index is
 * computed from the value's position and then corrected against the edges,
 * so the bin of a value next to an edge is the one the edges say.
 */
static void
hist_count(double *count, const float *x, size_t n, const double *edges, int nb)
{
	double lo = edges[0], hi = edges[nb];
	double norm = nb / (hi - lo);
	memset(count, 0, (size_t)nb * sizeof *count);
	for (size_t i = 0; i < n; i++) {
		double v = x[i];
		if (!(v >= lo && v <= hi))
			continue;
		long k = (long)((v - lo) * norm);
		if (k >= nb)
			k = nb - 1;
		if (k > 0 && v < edges[k])
			k--;
		else if (k < nb - 1 && v >= edges[k + 1])
			k++;
		count[k] += 1;
	}
}

/* Densities count/width/total into p and bin centres into c (nb each). */
static void
hist_density(double *p, double *c, const double *count, const double *edges, int nb)
{
	double total = 0;
	for (int k = 0; k < nb; k++)
		total += count[k];
	for (int k = 0; k < nb; k++) {
		p[k] = total > 0 ? count[k] / (edges[k + 1] - edges[k]) / total : 0;
		c[k] = 0.5 * (edges[k] + edges[k + 1]);
	}
}

/*
 * The histogram MSE of clipping at alpha and quantizing on the signed
 * symmetric b-bit grid (§4.2 step 3): bins with |c| > alpha contribute
 * p·(|c| - alpha)^2, the others p·(c - Q(c))^2 with Q(c) =
 * clamp(round(c·s), -2^(b-1), 2^(b-1) - 1)/s, s = (2^(b-1) - 1)/alpha.
 * At alpha <= 0 every non-zero centre is clipped to 0.
 */
static double
hist_mse(const double *c, const double *p, int nb, int bits, double alpha)
{
	double qmax = ldexp(1.0, bits - 1) - 1, clipped = 0, quant = 0;
	if (!(alpha > 0)) {
		for (int k = 0; k < nb; k++)
			clipped += c[k] * c[k] * p[k];
		return clipped;
	}
	double s = qmax / alpha;
	for (int k = 0; k < nb; k++) {
		double a = fabs(c[k]);
		if (a > alpha) {
			clipped += (a - alpha) * (a - alpha) * p[k];
		} else {
			double q = nearbyint(s * c[k]);
			q = q < -qmax - 1 ? -qmax - 1 : q > qmax ? qmax : q;
			double e = c[k] - q / s;
			quant += e * e * p[k];
		}
	}
	return clipped + quant;
}

/* ---- statistics ---- */

/* Pairwise sum of x[i] (absdev 0) or |x[i] - shift| (absdev 1), in double. */
static double
sum_pairwise(const float *x, size_t n, double shift, int absdev)
{
	if (n <= 256) {
		double s = 0;
		for (size_t i = 0; i < n; i++)
			s += absdev ? fabs((double)x[i] - shift) : (double)x[i];
		return s;
	}
	size_t h = n / 2;
	return sum_pairwise(x, h, shift, absdev) + sum_pairwise(x + h, n - h, shift, absdev);
}

/* Small deterministic generator for the selection's pivots. */
static uint64_t
xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/*
 * The k-th smallest (0-based) of v[0..n), reordering v so that v[k] holds
 * it, everything before it is <= and everything after it >= (quickselect
 * with random pivots and a three-way partition, so long runs of equal values
 * such as the zeros of post-ReLU activations cost nothing extra; expected
 * O(n)).
 */
static float
select_kth(float *v, size_t n, size_t k)
{
	size_t lo = 0, hi = n; /* the answer is in v[lo..hi) */
	uint64_t seed = 0x9e3779b97f4a7c15u;
	while (hi - lo > 1) {
		float p = v[lo + (size_t)(xorshift(&seed) % (hi - lo))];
		/* v[lo..lt) < p, v[lt..i) == p, v[gt..hi) > p */
		size_t lt = lo, i = lo, gt = hi;
		while (i < gt) {
			float t = v[i];
			if (t < p) {
				v[i++] = v[lt];
				v[lt++] = t;
			} else if (t > p) {
				v[i] = v[--gt];
				v[gt] = t;
			} else {
				i++;
			}
		}
		if (k < lt)
			hi = lt;
		else if (k >= gt)
			lo = gt;
		else
			return v[k];
	}
	return v[k];
}

/*
 * The P-th percentile of |x| by linear interpolation between order
 * statistics (numpy.percentile's default "linear" method): with a_0 <= ...
 * <= a_(n-1) the sorted |x| and h = (n - 1)·P/100, the result is
 * a_floor(h) + (h - floor(h))·(a_(floor(h)+1) - a_floor(h)).
 */
static double
percentile_abs(const float *x, size_t n, double pct)
{
	float *v = xmalloc(n * sizeof *v);
	for (size_t i = 0; i < n; i++)
		v[i] = fabsf(x[i]);
	double h = (double)(n - 1) * (pct / 100.0);
	size_t k = (size_t)floor(h);
	if (k > n - 1)
		k = n - 1;
	double frac = h - (double)k;
	double a = select_kth(v, n, k), r = a;
	if (frac > 0 && k + 1 < n) {
		/* after the selection everything past k is >= a: the next order statistic is their minimum */
		float b = v[k + 1];
		for (size_t i = k + 2; i < n; i++)
			if (v[i] < b)
				b = v[i];
		r = a + frac * ((double)b - a);
	}
	free(v);
	return r;
}

/* ---- mse (§4.2) ---- */

#define MSE_BINS 201

static double
find_mse(const float *x, size_t n, double xmin, double xmax, double max_abs, int bits,
	 double *curve)
{
	double edges[MSE_BINS + 1], count[MSE_BINS], p[MSE_BINS], c[MSE_BINS];
	double lo = xmin, hi = xmax;
	if (lo == hi) {
		/* numpy widens an empty range to [v - 0.5, v + 0.5] */
		lo -= 0.5;
		hi += 0.5;
	}
	hist_edges(edges, MSE_BINS, lo, hi);
	hist_count(count, x, n, edges, MSE_BINS);
	hist_density(p, c, count, edges, MSE_BINS);
	/* the reference renormalises the densities to sum 1 */
	double sum = 0;
	for (int k = 0; k < MSE_BINS; k++)
		sum += p[k];
	for (int k = 0; k < MSE_BINS; k++)
		p[k] /= sum;

	double best = 0, best_err = INFINITY;
	for (int i = 0; i < CLIP_MSE_CANDIDATES; i++) {
		/* numpy.arange(0.01, 1, 0.01): start + i·step, step 0.01 */
		double alpha = (0.01 + (double)i * 0.01) * max_abs;
		double e = hist_mse(c, p, MSE_BINS, bits, alpha);
		if (curve)
			curve[i] = e;
		if (e < best_err) { /* the first minimum wins */
			best_err = e;
			best = alpha;
		}
	}
	return best;
}

/* ---- aciq (§4.3) ---- */

#define ACIQ_BINS 101
#define ACIQ_TABLE_BITS 8

/* alpha/scale at 2..8 bits: [table][dist][bits - 2] (OCS repository, original ACIQ repository). */
static const double aciq_table[2][2][ACIQ_TABLE_BITS - 1] = {
	[CLIP_ACIQ_OCS] = {
		[CLIP_GAUSS] = {1.47818312, 1.80489289, 2.19227856, 2.57733584, 2.94451183,
				3.29076248, 3.61691335},
		[CLIP_LAPLACE] = {2.33152939, 3.04528770, 4.00378631, 5.08252088, 6.23211675,
				  7.42700429, 8.65265030},
	},
	[CLIP_ACIQ_ORIG] = {
		[CLIP_GAUSS] = {1.71063519, 2.15159277, 2.55913646, 2.93620062, 3.28691474,
				3.6151146, 3.92403714},
		[CLIP_LAPLACE] = {2.83068299, 3.89722946, 5.02864014, 6.20476633, 7.41312622,
				  8.64561995, 9.89675982},
	},
};

/*
 * The weight c of the alpha^2 (rounding noise) term of the objective a
 * table minimises at `bits`: 1/(3·4^b) for the original ACIQ table (the
 * rounding noise of 2^b levels over [-alpha, alpha]); (2^(b-1) - 1)/(3·8^(b-1))
 * for the OCS table (a fit to its printed digits, METHODS §4.3).
 */
static double
aciq_noise_weight(enum clip_aciq_table table, int bits)
{
	if (table == CLIP_ACIQ_ORIG)
		return 1.0 / (3.0 * ldexp(1.0, 2 * bits));
	return (ldexp(1.0, bits - 1) - 1) / (3.0 * ldexp(1.0, 3 * (bits - 1)));
}

/*
 * d/dalpha of clip_err(alpha) + c·alpha^2 at unit scale: Laplace (b = 1)
 * clip_err = 2e^(-alpha); Gaussian (sigma = 1) clip_err = (1 + alpha^2)·
 * erfc(alpha/sqrt 2) - sqrt(2/pi)·alpha·e^(-alpha^2/2), whose derivative
 * simplifies to 2·alpha·erfc(alpha/sqrt 2) - 2·sqrt(2/pi)·e^(-alpha^2/2).
 */
static double
aciq_slope(enum clip_dist dist, double c, double a)
{
	if (dist == CLIP_LAPLACE)
		return -2.0 * exp(-a) + 2.0 * c * a;
	return 2.0 * a * erfc(a / M_SQRT2) - 2.0 * sqrt(2.0 / M_PI) * exp(-0.5 * a * a) +
	       2.0 * c * a;
}

double
clip_aciq_solve(enum clip_aciq_table table, enum clip_dist dist, int bits)
{
	/*
	 * The objective is convex (its second derivative is 2·erfc(alpha/sqrt 2)
	 * + 2c, or 2e^(-alpha) + 2c) with a negative slope at 0, so its minimiser
	 * is the single root of the slope: bisect until the bracket cannot shrink.
	 */
	double c = aciq_noise_weight(table, bits), lo = 0, hi = 1;
	while (aciq_slope(dist, c, hi) < 0)
		hi *= 2;
	for (int it = 0; it < 200; it++) {
		double mid = 0.5 * (lo + hi);
		if (mid <= lo || mid >= hi)
			break;
		if (aciq_slope(dist, c, mid) < 0)
			lo = mid;
		else
			hi = mid;
	}
	return 0.5 * (lo + hi);
}

double
clip_aciq_constant(enum clip_aciq_table table, enum clip_dist dist, int bits)
{
	if (bits >= 2 && bits <= ACIQ_TABLE_BITS)
		return aciq_table[table][dist][bits - 2];
	return clip_aciq_solve(table, dist, bits);
}

static double
find_aciq(const float *x, size_t n, double xmin, double xmax, double max_abs, int bits,
	  enum clip_aciq_table table, struct clip_detail *d)
{
	/* Gaussian: the ACIQ code's range-based sigma estimate */
	double g = (0.5 * 0.35) * (1 + sqrt(M_PI * log(4.0)));
	double sigma = n > 1 ? ((xmax - xmin) * g) / sqrt(2 * log((double)n)) : 0;
	double ag = clip_aciq_constant(table, CLIP_GAUSS, bits) * sigma;
	/* Laplace: b = mean |x - mean(x)| */
	double mean = sum_pairwise(x, n, 0, 0) / (double)n;
	double b = sum_pairwise(x, n, mean, 1) / (double)n;
	double al = clip_aciq_constant(table, CLIP_LAPLACE, bits) * b;

	/* densities over [-max|x|, max|x|], not renormalised */
	double edges[ACIQ_BINS + 1], count[ACIQ_BINS], p[ACIQ_BINS], c[ACIQ_BINS];
	hist_edges(edges, ACIQ_BINS, -max_abs, max_abs);
	hist_count(count, x, n, edges, ACIQ_BINS);
	hist_density(p, c, count, edges, ACIQ_BINS);
	double mg = hist_mse(c, p, ACIQ_BINS, bits, ag);
	double ml = hist_mse(c, p, ACIQ_BINS, bits, al);
	int choice = mg < ml ? CLIP_GAUSS : CLIP_LAPLACE; /* ties go to Laplace */
	if (d) {
		d->aciq_choice = choice;
		d->aciq_alpha_gauss = ag;
		d->aciq_alpha_laplace = al;
		d->aciq_mse_gauss = mg;
		d->aciq_mse_laplace = ml;
	}
	double alpha = choice == CLIP_GAUSS ? ag : al;
	/* values without spread: both fits are 0; the values themselves are exact at max|x| */
	return alpha > 0 ? alpha : max_abs;
}

/* ---- kl (§4.4) ---- */

#define KL_BINS 1001
#define KL_ZERO (KL_BINS / 2)
#define KL_EPS 1e-4

/*
 * The divergences of the candidate thresholds differ by less than float32
 * resolution near their minimum, and the reference computes them in
 * float32 (numpy float32 arrays, scipy.stats.entropy on them). To choose
 * the same threshold, the smoothing, the normalisations, the per-bin terms
 * and their sums below round as the reference's float32 code does; the
 * counts, the merging and the thresholds are exact in double.
 */

/* numpy's pairwise float32 sum: blocks of at most 128 summed with 8 accumulators. */
static float
sum_f32(const float *a, size_t n)
{
	if (n < 8) {
		float r = 0;
		for (size_t i = 0; i < n; i++)
			r += a[i];
		return r;
	}
	if (n <= 128) {
		float r[8];
		size_t i;
		for (int j = 0; j < 8; j++)
			r[j] = a[j];
		for (i = 8; i < n - n % 8; i += 8)
			for (int j = 0; j < 8; j++)
				r[j] += a[i + j];
		float res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
		for (; i < n; i++)
			res += a[i];
		return res;
	}
	size_t h = n / 2;
	h -= h % 8;
	return sum_f32(a, h) + sum_f32(a + h, n - h);
}

/*
 * Smooths v (len) in place as the reference does: zeros become eps, the
 * non-zero entries give up eps1 = eps·(#zeros)/(#non-zeros) each (float32
 * arithmetic, eps1 computed in double). Returns 0, or -1 when every entry is
 * zero (the distribution is malformed).
 */
static int
kl_smooth(float *v, int len)
{
	int zeros = 0;
	for (int k = 0; k < len; k++)
		zeros += v[k] == 0;
	if (zeros == len)
		return -1;
	double eps1 = KL_EPS * (double)zeros / (double)(len - zeros);
	float add_zero = (float)KL_EPS, add_nonzero = (float)-eps1;
	for (int k = 0; k < len; k++)
		v[k] += v[k] == 0 ? add_zero : add_nonzero;
	return 0;
}

/*
 * KL(p || q) with p and q (len, smoothed, so positive) each normalised to
 * sum 1 (scipy.stats.entropy): each term p·ln(p/q) is evaluated in double
 * from the float32 operands and rounded to float32, as scipy's float32 loop
 * does. p and q are normalised in place; t is scratch (len).
 */
static double
kl_divergence(float *p, float *q, float *t, int len)
{
	float sp = sum_f32(p, (size_t)len), sq = sum_f32(q, (size_t)len);
	for (int k = 0; k < len; k++) {
		p[k] = p[k] / sp;
		q[k] = q[k] / sq;
	}
	for (int k = 0; k < len; k++) {
		double a = p[k], b = q[k];
		t[k] = a > 0 ? (float)(a * log(a / b)) : 0.0f;
	}
	return sum_f32(t, (size_t)len);
}

static double
find_kl(const float *x, size_t n, double max_abs, int bits, double *divergence)
{
	int nq = (1 << bits) - 1, half = nq / 2;
	if (half > KL_ZERO) {
		/* no candidate threshold at this width: see clip.h */
		*divergence = 0;
		return max_abs;
	}
	double edges[KL_BINS + 1], hist[KL_BINS], below[KL_BINS + 1];
	hist_edges(edges, KL_BINS, -max_abs, max_abs);
	hist_count(hist, x, n, edges, KL_BINS);
	/* below[k] = sum of hist[0..k) (counts: exact in double) */
	below[0] = 0;
	for (int k = 0; k < KL_BINS; k++)
		below[k + 1] = below[k] + hist[k];

	float *p = xmalloc(KL_BINS * sizeof *p), *q = xmalloc(KL_BINS * sizeof *q);
	float *t = xmalloc(KL_BINS * sizeof *t);
	double *merged = xmalloc((size_t)nq * sizeof *merged);
	double best = INFINITY, best_th = max_abs;
	for (int i = half; i <= KL_ZERO; i++) {
		/* the slice hist[start .. start+len) is centred on the zero bin */
		int start = KL_ZERO - i, len = 2 * i + 1;
		const double *sl = hist + start;
		double th = edges[start + len];

		/* p: the slice with the counts outside it folded into its end bins */
		for (int k = 0; k < len; k++)
			p[k] = (float)sl[k];
		p[0] = (float)(sl[0] + below[start]);
		p[len - 1] = (float)(sl[len - 1] + below[KL_BINS] - below[start + len]);

		/* merge the un-folded slice into nq groups of m; the remainder goes to the last */
		int m = len / nq;
		for (int j = 0; j < nq; j++) {
			double s = 0;
			for (int k = j * m; k < (j + 1) * m; k++)
				s += sl[k];
			merged[j] = s;
		}
		for (int k = nq * m; k < len; k++)
			merged[nq - 1] += sl[k];

		/*
		 * expand back over the non-empty bins of each group; the reference's
		 * last group stops before the final element (slice [j·m, -1)), which
		 * is left 0 in q
		 */
		memset(q, 0, (size_t)len * sizeof *q);
		for (int j = 0; j < nq; j++) {
			int a = j * m, b = j == nq - 1 ? len - 1 : a + m;
			int nz = 0;
			for (int k = a; k < b; k++)
				nz += sl[k] != 0;
			if (nz)
				for (int k = a; k < b; k++)
					q[k] = (float)(merged[j] / nz);
		}
		for (int k = 0; k < len; k++)
			if (sl[k] == 0)
				q[k] = 0;

		double dv = INFINITY;
		if (kl_smooth(p, len) == 0 && kl_smooth(q, len) == 0)
			dv = kl_divergence(p, q, t, len);
		if (dv < best) { /* the first minimum wins */
			best = dv;
			best_th = th;
		}
	}
	free(p), free(q), free(t), free(merged);
	*divergence = best;
	return best_th;
}

/* ---- entry point ---- */

int
clip_find(const struct clip_spec *c, const float *x, size_t n, int bits, double *alpha,
	  struct clip_detail *d, char **cause)
{
	*alpha = 0;
	if (d)
		memset(d, 0, sizeof *d);
	if (c->method != CLIP_MAX && c->method != CLIP_PCT &&
	    (bits < CLIP_MIN_BITS || bits > CLIP_MAX_BITS)) {
		char name[32];
		return err_set(cause, "clip method '%s' needs bits in %d..%d (got %d)",
			       clip_format(c, name, sizeof name), CLIP_MIN_BITS, CLIP_MAX_BITS,
			       bits);
	}
	if (c->method == CLIP_PCT && !(c->pct > 0 && c->pct <= 100))
		return err_set(cause, "clip method pct:P needs 0 < P <= 100 (got %g)", c->pct);
	double xmin = INFINITY, xmax = -INFINITY;
	for (size_t i = 0; i < n; i++) {
		double v = x[i];
		if (!isfinite(v))
			return err_set(cause, "value %zu is not finite (%g)", i, v);
		if (v < xmin)
			xmin = v;
		if (v > xmax)
			xmax = v;
	}
	double max_abs = n ? fmax(fabs(xmin), fabs(xmax)) : 0;
	if (max_abs == 0)
		return 0;

	switch (c->method) {
	case CLIP_MAX:
		*alpha = max_abs;
		break;
	case CLIP_PCT:
		*alpha = c->pct >= 100 ? max_abs : percentile_abs(x, n, c->pct);
		break;
	case CLIP_MSE:
		*alpha = find_mse(x, n, xmin, xmax, max_abs, bits, d ? d->mse_curve : NULL);
		break;
	case CLIP_ACIQ:
		*alpha = find_aciq(x, n, xmin, xmax, max_abs, bits, c->table, d);
		break;
	case CLIP_KL: {
		double dv = 0;
		*alpha = find_kl(x, n, max_abs, bits, &dv);
		if (d)
			d->kl_divergence = dv;
		break;
	}
	}
	return 0;
}
