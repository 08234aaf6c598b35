/*
 * round: rounding borders for post-training quantization (METHODS §5.2-§5.4).
 *
 * AdaRound (Nagel et al. 2020, as BRECQ/QDrop implement it, METHODS §5.3)
 * learns one rounding variable V per weight: the soft weight is
 * s·(clamp(floor(w/s) + h(V) + zp, qmin, qmax) - zp) and the hard one rounds
 * up where V >= 0. The arithmetic follows the float32 reference step by step
 * (quotient, floor, h, zero point, clamp, step) so that the golden fixture
 * adaround.h5 is matched to the last bits.
 *
 * The AQuant-style border (the engine's design, METHODS §5.4; no reference
 * code exists) makes the rounding border of activations a learned function
 * of the channel and the bin (BIN) or of the value (LINEAR). Invariants:
 * - B is in [ROUND_BORDER_EPS, 1 - ROUND_BORDER_EPS], so every decision
 *   threshold lies strictly inside its bin and the thresholds increase;
 * - the output of the hard decision is always on the uniform grid;
 * - B == 0.5 reproduces the registry's uniform quantizer bit for bit: the
 *   quotient is x / s as there (uniform.c lsq_element), and the code is
 *   built in the same float operations ((f + up) + zp, clamp, (q - zp)·s).
 *
 * Floats: every operation is a float32 operation in its own expression,
 * which relies on FLT_EVAL_METHOD == 0 and on no contraction into fused
 * multiply-adds (-std=c11 gives both on the supported targets).
 */
#include <assert.h>
#include <math.h>
#include <stdlib.h>

#include "engine/ptq/round.h"
#include "engine/util.h"

/* ζ - γ as the reference computes it (1.2 rounded to float32). */
#define ZG (ROUND_ZETA - ROUND_GAMMA)

/* Elements per parallel chunk of the border's forward pass. */
#define BORDER_CHUNK 4096
/* Below this many elements the border runs on one thread. */
#define BORDER_PAR_MIN 65536

static inline float
sigmoidf(float z)
{
	return 1.0f / (1.0f + expf(-z));
}

static inline float
clampf(float u, float lo, float hi)
{
	return u < lo ? lo : u > hi ? hi : u;
}

static inline float
grid_zp(const struct round_grid *g, int c)
{
	return g->zero_point ? (float)g->zero_point[c] : 0.0f;
}

/* ---- AdaRound ---- */

float
round_h(float v)
{
	float u = ZG * sigmoidf(v) + ROUND_GAMMA;
	return clampf(u, 0.0f, 1.0f);
}

float
round_dh(float v)
{
	float sg = sigmoidf(v);
	float u = ZG * sg + ROUND_GAMMA;
	if (!(u >= 0.0f && u <= 1.0f))
		return 0.0f;
	return ZG * sg * (1.0f - sg);
}

/* Element-wise loops run in parallel from this many elements. */
#define ADA_PAR_MIN (1 << 15)

/* Elements per channel of a weight tensor of n elements (leading-axis channels). */
static size_t
per_channel(size_t n, const struct round_grid *g)
{
	size_t per = n / (size_t)g->channels;
	assert(g->channels >= 1 && per * (size_t)g->channels == n);
	return per;
}

void
round_ada_init(float *v, const float *w, size_t n, const struct round_grid *g)
{
	size_t per = per_channel(n, g);
	for (size_t i = 0; i < n; i++) {
		float s = g->scale[i / per];
		float t = w[i] / s;
		float frac = t - floorf(t);
		/* h(V) = frac, solved on the unclamped branch of h (METHODS §5.3) */
		v[i] = -logf(ZG / (frac - ROUND_GAMMA) - 1.0f);
	}
}

/* The unclamped soft code floor(w/s) + h(V) + zp of one weight. */
static inline float
ada_code(float w, float v, float s, float zp)
{
	float fl = floorf(w / s);
	return fl + round_h(v) + zp;
}

void
round_ada_soft(float *y, const float *w, const float *v, size_t n, const struct round_grid *g)
{
	size_t per = per_channel(n, g);
	float qmin = (float)g->qmin, qmax = (float)g->qmax;
#pragma omp parallel for schedule(static) if (n >= ADA_PAR_MIN)
	for (size_t i = 0; i < n; i++) {
		int c = (int)(i / per);
		float s = g->scale[c], zp = grid_zp(g, c);
		float q = clampf(ada_code(w[i], v[i], s, zp), qmin, qmax);
		y[i] = (q - zp) * s;
	}
}

void
round_ada_soft_backward(float *dv, const float *dy, const float *w, const float *v, size_t n,
			const struct round_grid *g)
{
	size_t per = per_channel(n, g);
	float qmin = (float)g->qmin, qmax = (float)g->qmax;
#pragma omp parallel for schedule(static) if (n >= ADA_PAR_MIN)
	for (size_t i = 0; i < n; i++) {
		int c = (int)(i / per);
		float s = g->scale[c], zp = grid_zp(g, c);
		float q = ada_code(w[i], v[i], s, zp);
		if (q >= qmin && q <= qmax)
			dv[i] += dy[i] * s * round_dh(v[i]);
	}
}

void
round_ada_hard(float *y, int32_t *codes, const float *w, const float *v, size_t n,
	       const struct round_grid *g)
{
	size_t per = per_channel(n, g);
	float qmin = (float)g->qmin, qmax = (float)g->qmax;
	for (size_t i = 0; i < n; i++) {
		int c = (int)(i / per);
		float s = g->scale[c], zp = grid_zp(g, c);
		float fl = floorf(w[i] / s);
		float q = clampf(fl + (v[i] >= 0.0f ? 1.0f : 0.0f) + zp, qmin, qmax);
		/* q is an integer in [qmin, qmax] (a NaN weight gives NaN: no code) */
		if (codes)
			codes[i] = q == q ? (int32_t)q - (int32_t)zp : 0;
		y[i] = (q - zp) * s;
	}
}

double
round_ada_reg(const float *v, size_t n, float beta, float lambda, float *dv)
{
	/*
	 * |t|^β = |t|^(β-1)·|t| with one exp/log per element, in double; each
	 * gradient element depends on its own V only, so dv does not depend on
	 * the thread count (the returned sum may, in its last bits).
	 */
	double sum = 0, b = beta;
#pragma omp parallel for reduction(+ : sum) schedule(static) if (n >= ADA_PAR_MIN)
	for (size_t i = 0; i < n; i++) {
		double t = 2.0 * (double)round_h(v[i]) - 1.0;
		double a = fabs(t);
		double p1 = a > 0 ? exp((b - 1.0) * log(a)) : (b == 1.0 ? 1.0 : 0.0);
		sum += 1.0 - p1 * a;
		if (dv && a > 0) {
			/* d/dV (1 - |t|^β) = -β·|t|^(β-1)·sign(t)·2·dh/dV */
			double g = -b * p1 * (t > 0 ? 2.0 : -2.0);
			dv[i] += (float)((double)lambda * g * (double)round_dh(v[i]));
		}
	}
	return (double)lambda * sum;
}

/* ---- AQuant-style border ---- */

/* BIN border of parameter φ; *db = dB/dφ (0 where the clamp is active) when db != NULL. */
static inline float
bin_border(float phi, float *db)
{
	float t = tanhf(phi);
	float u = 0.5f + 0.5f * t;
	if (db)
		*db = u >= ROUND_BORDER_EPS && u <= 1.0f - ROUND_BORDER_EPS ?
			      0.5f * (1.0f - t * t) : 0.0f;
	return clampf(u, ROUND_BORDER_EPS, 1.0f - ROUND_BORDER_EPS);
}

/*
 * LINEAR border at v; *ga = dB/da, *gd = dB/dd when ga != NULL (0 where the
 * clamp, or for a the slope cap, is active).
 */
static inline float
linear_border(float a, float d, float v, float *ga, float *gd)
{
	float ae = a > ROUND_BORDER_SLOPE_MAX ? ROUND_BORDER_SLOPE_MAX : a;
	float u = 0.5f + ae * v + d;
	if (ga) {
		int in = u >= ROUND_BORDER_EPS && u <= 1.0f - ROUND_BORDER_EPS;
		*ga = in && a <= ROUND_BORDER_SLOPE_MAX ? v : 0.0f;
		*gd = in ? 1.0f : 0.0f;
	}
	return clampf(u, ROUND_BORDER_EPS, 1.0f - ROUND_BORDER_EPS);
}

size_t
round_border_params(const struct round_border *b)
{
	return b->kind == ROUND_BORDER_BIN ? (size_t)b->bins : 2;
}

static inline int
clamp_bin(const struct round_border *b, int k)
{
	return k < 0 ? 0 : k > b->bins - 1 ? b->bins - 1 : k;
}

float
round_border_value(const struct round_border *b, int c, int k, float v)
{
	if (b->kind == ROUND_BORDER_BIN)
		return bin_border(b->phi[(size_t)c * (size_t)b->bins + (size_t)clamp_bin(b, k)], NULL);
	return linear_border(b->phi[2 * c], b->phi[2 * c + 1], v, NULL, NULL);
}

/* What one channel needs per element: its grid and its border parameters. */
struct chan {
	enum round_border_kind kind;
	float s, zp, qmin, qmax;
	float zq;	    /* zp - qmin: bin k = f + zq */
	float kmax;	    /* bins - 1 */
	const float *tab;   /* BIN: the channel's borders, one per bin */
	const float *dtab;  /* BIN: dB/dφ per bin (backward) */
	float a, d;	    /* LINEAR */
};

static void
chan_init(struct chan *ch, const struct round_border *b, const float *tab, const float *dtab,
	  int c)
{
	const struct round_grid *g = &b->grid;
	ch->kind = b->kind;
	ch->s = g->scale[c];
	ch->zp = grid_zp(g, c);
	ch->qmin = (float)g->qmin;
	ch->qmax = (float)g->qmax;
	ch->zq = (float)((g->zero_point ? g->zero_point[c] : 0) - g->qmin);
	ch->kmax = (float)(b->bins - 1);
	ch->tab = tab ? tab + (size_t)c * (size_t)b->bins : NULL;
	ch->dtab = dtab ? dtab + (size_t)c * (size_t)b->bins : NULL;
	ch->a = b->kind == ROUND_BORDER_LINEAR ? b->phi[2 * c] : 0.0f;
	ch->d = b->kind == ROUND_BORDER_LINEAR ? b->phi[2 * c + 1] : 0.0f;
}

/* BIN: every channel's borders (C·bins) and, when dtab != NULL, dB/dφ. */
static void
border_table(const struct round_border *b, float *tab, float *dtab)
{
	size_t m = (size_t)b->grid.channels * (size_t)b->bins;
	for (size_t j = 0; j < m; j++)
		tab[j] = bin_border(b->phi[j], dtab ? &dtab[j] : NULL);
}

/* One element: v = x/s, f = floor(v), r = v - f, its bin and its border. */
struct elem {
	float v, f, r, bd;
	int k;
	float ga, gd; /* LINEAR: dB/da, dB/dd (when asked) */
};

static inline void
elem_eval(struct elem *e, const struct chan *ch, float x, int grads)
{
	/* the IEEE quotient, exactly as the uniform quantizer's lsq_element */
	e->v = x / ch->s;
	e->f = floorf(e->v);
	e->r = e->v - e->f;
	if (ch->kind == ROUND_BORDER_BIN) {
		/* bins below or above the grid use the first or last border */
		float k = clampf(e->f + ch->zq, 0.0f, ch->kmax);
		e->k = k == k ? (int)k : 0;
		e->bd = ch->tab[e->k];
		e->ga = e->gd = 0.0f;
	} else {
		e->k = 0;
		e->bd = linear_border(ch->a, ch->d, e->v, grads ? &e->ga : NULL, &e->gd);
	}
}

/*
 * Hard decision: 1 to round up. On the border itself the even one of f and
 * f + 1 wins, which for B = 0.5 is round-half-to-even (nearbyint): r is
 * exact for v >= 0 and v <= -1, and for v in (-1, 0) where v + 1 may round,
 * it never rounds across 0.5 and a rounded tie goes to 0, the even neighbour.
 */
static inline float
hard_up(float r, float bd, float f)
{
	if (r > bd)
		return 1.0f;
	if (r == bd && fmodf(f, 2.0f) != 0.0f)
		return 1.0f;
	return 0.0f;
}

static inline float
border_element(const struct chan *ch, float x, float tau)
{
	struct elem e;
	elem_eval(&e, ch, x, 0);
	float up = tau > 0 ? sigmoidf((e.r - e.bd) / tau) : hard_up(e.r, e.bd, e.f);
	float q = clampf(e.f + up + ch->zp, ch->qmin, ch->qmax);
	return (q - ch->zp) * ch->s;
}

void
round_border_forward(const struct round_border *b, float *y, const float *x, size_t n,
		     float tau)
{
	const struct round_grid *g = &b->grid;
	size_t P = (size_t)b->plane, C = (size_t)g->channels;
	assert(P >= 1 && C >= 1 && n % (P * C) == 0);
	assert(b->kind != ROUND_BORDER_BIN || b->bins == g->qmax - g->qmin);
	float *tab = NULL;
	if (b->kind == ROUND_BORDER_BIN) {
		tab = xmalloc(C * (size_t)b->bins * sizeof *tab);
		border_table(b, tab, NULL);
	}
	size_t nblk = (n + BORDER_CHUNK - 1) / BORDER_CHUNK;
	/* a chunk walks its planes, so (i / P) % C is computed once per plane */
#pragma omp parallel for schedule(static) if (n >= BORDER_PAR_MIN)
	for (size_t blk = 0; blk < nblk; blk++) {
		size_t i = blk * BORDER_CHUNK;
		size_t hi = i + BORDER_CHUNK < n ? i + BORDER_CHUNK : n;
		while (i < hi) {
			size_t plane = i / P;
			size_t end = (plane + 1) * P < hi ? (plane + 1) * P : hi;
			struct chan ch;
			chan_init(&ch, b, tab, NULL, (int)(plane % C));
			for (; i < end; i++)
				y[i] = border_element(&ch, x[i], tau);
		}
	}
	free(tab);
}

void
round_border_backward(struct round_border *b, float *dx, const float *dy, const float *x,
		      size_t n, float tau)
{
	const struct round_grid *g = &b->grid;
	size_t P = (size_t)b->plane, C = (size_t)g->channels;
	assert(tau > 0);
	assert(P >= 1 && C >= 1 && n % (P * C) == 0);
	assert(b->kind != ROUND_BORDER_BIN || b->bins == g->qmax - g->qmin);
	float *tab = NULL, *dtab = NULL;
	if (b->kind == ROUND_BORDER_BIN) {
		tab = xmalloc(C * (size_t)b->bins * sizeof *tab);
		dtab = xmalloc(C * (size_t)b->bins * sizeof *dtab);
		border_table(b, tab, dtab);
	}
	size_t planes = n / P;
	/*
	 * One thread per channel: the channel's planes are c, c + C, c + 2C, ...
	 * and its gradient (its own slice of dphi) is summed in element order.
	 */
#pragma omp parallel for schedule(dynamic, 1) if (n >= BORDER_PAR_MIN)
	for (int c = 0; c < (int)C; c++) {
		struct chan ch;
		chan_init(&ch, b, tab, dtab, c);
		double *dp = b->dphi + (b->kind == ROUND_BORDER_BIN ? (size_t)c * (size_t)b->bins
								     : 2 * (size_t)c);
		double da = 0, dd = 0;
		for (size_t pl = (size_t)c; pl < planes; pl += C) {
			for (size_t i = pl * P; i < (pl + 1) * P; i++) {
				struct elem e;
				elem_eval(&e, &ch, x[i], 1);
				float sg = sigmoidf((e.r - e.bd) / tau);
				float q = e.f + sg + ch.zp;
				if (!(q >= ch.qmin && q <= ch.qmax))
					continue;
				if (dx)
					dx[i] += dy[i];
				/* dL/dB = dy·s·σ'((r - B)/τ)·(-1/τ) */
				double gb = -(double)dy[i] * (double)ch.s * (double)sg *
					    (1.0 - (double)sg) / (double)tau;
				if (ch.kind == ROUND_BORDER_BIN) {
					dp[e.k] += gb * (double)ch.dtab[e.k];
				} else {
					da += gb * (double)e.ga;
					dd += gb * (double)e.gd;
				}
			}
		}
		if (ch.kind == ROUND_BORDER_LINEAR) {
			dp[0] += da;
			dp[1] += dd;
		}
	}
	free(tab);
	free(dtab);
}

float
round_border_pair(float w, float wq, float x, float s)
{
	/* |w·x - wq·s·n| is linear in n with its zero at n* = (x/s)·(w/wq): round
	 * up iff n* - f >= 1/2, i.e. r >= 1/2 - (x/s)·(w - wq)/wq (METHODS §5.2) */
	double v = (double)x / (double)s;
	return (float)(0.5 - v * ((double)w - (double)wq) / (double)wq);
}
