/*
 * clip: clipping thresholds for post-training quantization (METHODS §4.2-§4.4),
 * computed from a set of values (weights, or profiled activations):
 *   max       max|x|
 *   pct:P     the P-th percentile of |x| (0 < P <= 100)
 *   mse       the histogram MSE-optimal clip on the 1 % grid of max|x| (§4.2)
 *   aciq      ACIQ: Gaussian or Laplace fit, whichever clip has the lower
 *             histogram MSE (§4.3), with the OCS repository's constants;
 *             aciq:orig uses the original ACIQ repository's constants
 *   kl        the TensorRT-style KL-divergence threshold (§4.4)
 *
 * Every method targets the signed symmetric b-bit grid of the references,
 * s = (2^(b-1) - 1)/alpha. An unsigned b-bit grid over non-negative values is
 * the same grid as the signed (b+1)-bit one over those values, so callers pass
 * bits + 1 for unsigned quantizers. All statistics are computed in double,
 * except that the KL divergences round as the reference's float32 code
 * does (its candidates are often closer than float32 resolution, and this
 * keeps the same choice). Every method costs O(n) plus work on a histogram
 * of at most 1001 bins.
 *
 * Where the references leave a case undefined:
 *   - pct interpolates linearly between order statistics (numpy's default):
 *     with a_0 <= ... <= a_(n-1) the sorted |x| and h = (n - 1)·P/100,
 *     alpha = a_floor(h) + frac(h)·(a_(floor(h)+1) - a_floor(h));
 *   - aciq on values without spread (a single value, or all equal) has both
 *     fits at 0 and returns max|x|; its alpha can exceed max|x| otherwise
 *     (it comes from a distribution fit) and is not clamped;
 *   - kl above 9 bits has no candidate threshold in the reference's
 *     1001-bin histogram (2^(b-1) - 1 > 500 bins per side): alpha is then
 *     max|x| with divergence 0. kl and mse never exceed max|x|;
 *   - aciq above 8 bits uses clip_aciq_solve's constants.
 */
#ifndef QB_PTQ_CLIP_H
#define QB_PTQ_CLIP_H

#include <stddef.h>

enum clip_method { CLIP_MAX, CLIP_PCT, CLIP_MSE, CLIP_ACIQ, CLIP_KL };
enum clip_aciq_table { CLIP_ACIQ_OCS, CLIP_ACIQ_ORIG };
enum clip_dist { CLIP_GAUSS, CLIP_LAPLACE };

/* Bit-widths the methods accept (the grid's signed width). */
#define CLIP_MIN_BITS 2
#define CLIP_MAX_BITS 16
/* MSE candidates: fractions 0.01 .. 0.99 of max|x| (§4.2). */
#define CLIP_MSE_CANDIDATES 99

struct clip_spec {
	enum clip_method method;
	double pct;			/* CLIP_PCT: the percentile P */
	enum clip_aciq_table table;	/* CLIP_ACIQ */
};

/* What a method found besides alpha (fields of other methods are left 0). */
struct clip_detail {
	int aciq_choice;			/* 0 Gaussian, 1 Laplace */
	double aciq_alpha_gauss, aciq_alpha_laplace;
	double aciq_mse_gauss, aciq_mse_laplace;
	double kl_divergence;			/* the minimal divergence */
	double mse_curve[CLIP_MSE_CANDIDATES];	/* histogram MSE of each candidate */
};

/*
 * Parses "max", "pct:P", "mse", "aciq", "aciq:orig" or "kl" into *out.
 * Returns 0, or -1 with *cause quoting text (and suggesting the nearest
 * method for an unknown name).
 */
int clip_parse(const char *text, struct clip_spec *out, char **cause);

/* The canonical text of c ("pct:99.99", "aciq:orig", ...) into buf (n). */
const char *clip_format(const struct clip_spec *c, char *buf, size_t n);

/*
 * The clip threshold of method c for the n values x at `bits`
 * (CLIP_MIN_BITS..CLIP_MAX_BITS; max and pct ignore bits) into *alpha, and
 * the method's intermediate results into *d when d is non-NULL (zeroed
 * first). All-zero or empty input gives alpha 0. x is not modified (pct
 * selects on a copy). Returns 0, or -1 with *cause for bits out of range, a
 * pct:P spec with P outside (0, 100], or a non-finite value in x.
 */
int clip_find(const struct clip_spec *c, const float *x, size_t n, int bits, double *alpha,
	      struct clip_detail *d, char **cause);

/*
 * The ACIQ constant A such that alpha = A·scale for distribution `dist` at
 * `bits` (2..CLIP_MAX_BITS): the tabulated value for 2..8 bits, and above
 * that clip_aciq_solve(table, dist, bits).
 */
double clip_aciq_constant(enum clip_aciq_table table, enum clip_dist dist, int bits);

/*
 * The minimiser over alpha of the objective a table's values minimise, at
 * unit scale (sigma = 1, b = 1): clip_err(alpha) + c·alpha^2 with c =
 * 1/(3·4^bits) for CLIP_ACIQ_ORIG and c = (2^(bits-1) - 1)/(3·8^(bits-1))
 * for CLIP_ACIQ_OCS (METHODS §4.3), clip_err the expected clipping error
 * of the distribution. Any bits >= 1. The objective is convex, and the
 * result is its exact minimiser in double (the root of its derivative).
 * The printed tables came from a Brent search with relative tolerance
 * 1.48e-8 on an objective evaluated in double, so they agree with it to
 * their printed digits up to that search's resolution (about 1e-7, and up
 * to 2e-6 for the flat Gaussian objective at 8 bits; test_clip checks the
 * bound for every entry).
 */
double clip_aciq_solve(enum clip_aciq_table table, enum clip_dist dist, int bits);

#endif
