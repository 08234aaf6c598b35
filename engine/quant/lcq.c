/*
 * lcq: Learnable Companding Quantization (Yamamoto, CVPR 2021; METHODS §2).
 *
 * A piecewise-linear compressor g on [0, 1] with K = 16 intervals of width
 * 1/K, slopes γ = K·softmax(θ) and offsets β = [0, cumsum(softmax(θ))[0:K-1]],
 * a uniform rounding of g(|x|/α) to s steps, and the expander g⁻¹:
 *   |x| < α:  z = sign(x)·α·g⁻¹(round(g(|x|/α)·s)/s),   |x| >= α:  z = sign(x)·α
 * with s = 2^b - 1 for activations, 2^(b-1) - 1 for weights; 2-bit weights are
 * ternary without companding. Interval indices follow searchsorted(right) - 1
 * for |x|/α in the knots k/K and for the rounded value in β. Backward (METHODS
 * §2.2): dx = dy·1[|x| < α]; dα = gs·Σ dy·(z/α - x/α inside, sign(x) outside);
 * γ and β receive the compressor and expander paths separately, then θ gets
 * them through the softmax; Σ dθ = 0. gs is 1 (grad_scale 0), 1/sqrt(n·s)
 * (1, LSQ) or sqrt(s/n) (2). dgamma and dbeta accumulate like dalpha; dtheta
 * is recomputed from them after every backward.
 */
#include <math.h>
#include <string.h>

#include "engine/quant/quant.h"
#include "engine/util.h"

#define K QUANT_LCQ_K

static const char *const lcq_variants[] = {"default", NULL};

static int
lcq_check(const struct quant_config *c, int variant, char **cause)
{
	(void)variant;
	if (!(c->alpha > 0))
		return err_set(cause, "lcq needs alpha > 0 (got %g)", (double)c->alpha);
	if (c->grad_scale < 0 || c->grad_scale > 2)
		return err_set(cause, "lcq gradient scale must be 0 (none), 1 (lsq) or 2 (sqrt)");
	return 0;
}

void
quant_lcq_gamma_beta(float *gamma, float *beta, const float *theta)
{
	float mx = theta[0], p[K], sum = 0;
	for (int k = 1; k < K; k++)
		mx = theta[k] > mx ? theta[k] : mx;
	for (int k = 0; k < K; k++) {
		p[k] = expf(theta[k] - mx);
		sum += p[k];
	}
	float acc = 0;
	for (int k = 0; k < K; k++) {
		p[k] /= sum;
		gamma[k] = p[k] * (float)K;
		beta[k] = acc;
		acc += p[k];
	}
}

/* Largest j with beta[j] <= v (beta[0] = 0 <= v). */
static inline int
beta_index(const float *beta, float v)
{
	int j = 0;
	for (int k = 1; k < K; k++)
		j = beta[k] <= v ? k : j;
	return j;
}

/* Most positive steps s of any bit-width (8-bit activations: 255). */
#define LCQ_MAX_STEPS 255

struct lcq_state {
	float gamma[K], beta[K];
	float alpha, s;
	int companding;
	/* per rounded step r = 0..s: y_q = r/s, its interval j and the expander value */
	int ns;
	float yq_tab[LCQ_MAX_STEPS + 1], e_tab[LCQ_MAX_STEPS + 1];
	int j_tab[LCQ_MAX_STEPS + 1];
};

static void
lcq_state(const struct quant *q, struct lcq_state *st)
{
	quant_lcq_gamma_beta(st->gamma, st->beta, q->theta);
	st->alpha = q->alpha;
	st->companding = !(q->role == QUANT_ROLE_WEIGHT && q->bits == 2);
	st->s = (float)(q->role == QUANT_ROLE_WEIGHT ? (1 << (q->bits - 1)) - 1
						    : (1 << q->bits) - 1);
	/* the expander sees only s + 1 values: tabulate it with the same operations */
	st->ns = (int)st->s;
	for (int r = 0; st->companding && r <= st->ns; r++) {
		float yq = (float)r / st->s;
		int j = beta_index(st->beta, yq);
		st->yq_tab[r] = yq;
		st->j_tab[r] = j;
		st->e_tab[r] = (yq - st->beta[j]) / st->gamma[j] + (float)j / (float)K;
	}
}

/* One element: z, and (inside) the intervals i, j, u = |x|/α and the rounded y_q. */
static inline float
lcq_element_t(const struct lcq_state *st, float x, int *inside, int *pi, int *pj, float *pu,
	      float *pyq, int tab)
{
	float ax = fabsf(x), sg = x > 0 ? 1.0f : x < 0 ? -1.0f : 0.0f;
	*inside = ax < st->alpha;
	*pi = *pj = 0;
	*pu = *pyq = 0;
	if (!*inside)
		return sg * st->alpha;
	float u = ax / st->alpha;
	if (!st->companding)
		return sg * st->alpha * quant_round(u);
	int i = (int)(u * (float)K);
	i = i > K - 1 ? K - 1 : i;
	float di = (float)i / (float)K;
	float yv = st->gamma[i] * (u - di) + st->beta[i];
	float r = quant_round(yv * st->s), yq, e;
	int j;
	if (tab && r >= 0 && r <= (float)st->ns) {
		/* bit-identical: the table was filled by the same operations on r/s */
		int ri = (int)r;
		yq = st->yq_tab[ri];
		j = st->j_tab[ri];
		e = st->e_tab[ri];
	} else {
		yq = r / st->s;
		j = beta_index(st->beta, yq);
		e = (yq - st->beta[j]) / st->gamma[j] + (float)j / (float)K;
	}
	*pi = i;
	*pj = j;
	*pu = u;
	*pyq = yq;
	return sg * st->alpha * e;
}

/* The plain path (lcq_element) and the tabulated one (lcq_element_tab). */
#define lcq_element(st, x, in, i, j, u, yq) lcq_element_t(st, x, in, i, j, u, yq, 0)
#define lcq_element_tab(st, x, in, i, j, u, yq) lcq_element_t(st, x, in, i, j, u, yq, 1)

static void
lcq_forward_ref(struct quant *q, float *y, const float *x, size_t n, int training)
{
	(void)training;
	struct lcq_state st;
	lcq_state(q, &st);
	for (size_t k = 0; k < n; k++) {
		int in, i, j;
		float u, yq;
		y[k] = lcq_element(&st, x[k], &in, &i, &j, &u, &yq);
	}
}

static void
lcq_forward(struct quant *q, float *y, const float *x, size_t n, int training)
{
	(void)training;
	struct lcq_state st;
	lcq_state(q, &st);
#pragma omp parallel for schedule(static) if (n > 65536)
	for (size_t k = 0; k < n; k++) {
		int in, i, j;
		float u, yq;
		y[k] = lcq_element_tab(&st, x[k], &in, &i, &j, &u, &yq);
	}
}

static double
lcq_gscale(const struct quant *q, const struct lcq_state *st, size_t n)
{
	if (q->grad_scale == 1)
		return 1.0 / sqrt((double)n * st->s);
	if (q->grad_scale == 2)
		return sqrt(st->s / (double)n);
	return 1.0;
}

/* dtheta from the accumulated dgamma, dbeta through γ = K p, β_k = Σ_{i<k} p_i, p = softmax(θ). */
static void
lcq_chain(struct quant *q)
{
	float gamma[K], beta[K];
	quant_lcq_gamma_beta(gamma, beta, q->theta);
	double p[K], dp[K], tail = 0, dot = 0;
	for (int k = K - 1; k >= 0; k--) {
		p[k] = gamma[k] / (double)K;
		dp[k] = (double)K * q->dgamma[k] + tail;
		tail += q->dbeta[k];
	}
	for (int k = 0; k < K; k++)
		dot += p[k] * dp[k];
	for (int k = 0; k < K; k++)
		q->dtheta[k] = p[k] * (dp[k] - dot);
}

/* Per element: dx mask, dα term and the γ/β contributions (METHODS §2.2). */
#define LCQ_GRAD_ELEMENT(ELEMENT)                                                     \
	int in, i, j;                                                                 \
	float u, yq;                                                                  \
	float z = ELEMENT(&st, x[k], &in, &i, &j, &u, &yq);                           \
	float g = dy[k];                                                              \
	if (dx && in)                                                                 \
		dx[k] += g;                                                           \
	da += in ? (double)g * ((double)z / st.alpha - (double)x[k] / st.alpha)       \
		 : (double)g * (z > 0 ? 1.0 : z < 0 ? -1.0 : 0.0);                    \
	if (in && st.companding) {                                                    \
		double sa = (x[k] > 0 ? 1.0 : x[k] < 0 ? -1.0 : 0.0) * st.alpha * g;  \
		double gj = st.gamma[j];                                              \
		dg[i] += sa * ((double)u - (double)i / K) / gj;                       \
		db[i] += sa / gj;                                                     \
		dg[j] -= sa * ((double)yq - st.beta[j]) / (gj * gj);                  \
		db[j] -= sa / gj;                                                     \
	}

static void
lcq_finish(struct quant *q, const struct lcq_state *st, size_t n, double da, const double *dg,
	   const double *db)
{
	double gs = lcq_gscale(q, st, n);
	q->dalpha += gs * da;
	if (st->companding) {
		for (int k = 0; k < K; k++) {
			q->dgamma[k] += gs * dg[k];
			q->dbeta[k] += gs * db[k];
		}
		lcq_chain(q);
	}
}

static void
lcq_backward_ref(struct quant *q, float *dx, const float *dy, const float *x, size_t n)
{
	struct lcq_state st;
	lcq_state(q, &st);
	double da = 0, dg[K] = {0}, db[K] = {0};
	for (size_t k = 0; k < n; k++) {
		LCQ_GRAD_ELEMENT(lcq_element)
	}
	lcq_finish(q, &st, n, da, dg, db);
}

static void
lcq_backward(struct quant *q, float *dx, const float *dy, const float *x, size_t n)
{
	struct lcq_state st;
	lcq_state(q, &st);
	double da = 0, dg[K] = {0}, db[K] = {0};
#pragma omp parallel for schedule(static) reduction(+ : da, dg[:K], db[:K]) if (n > 65536)
	for (size_t k = 0; k < n; k++) {
		LCQ_GRAD_ELEMENT(lcq_element_tab)
	}
	lcq_finish(q, &st, n, da, dg, db);
}

/* alpha·g⁻¹(k/s), k = 0..s (ternary {0, alpha} for 2-bit weights). */
static int
lcq_levels(const struct quant *q, float *out, int cap)
{
	struct lcq_state st;
	lcq_state(q, &st);
	int s = (int)st.s;
	if (s + 1 > cap)
		return -1;
	for (int k = 0; k <= s; k++) {
		float yq = (float)k / st.s;
		if (!st.companding) {
			out[k] = st.alpha * yq;
			continue;
		}
		int j = beta_index(st.beta, yq);
		out[k] = st.alpha * ((yq - st.beta[j]) / st.gamma[j] + (float)j / (float)K);
	}
	return s + 1;
}

/* Non-uniform levels: codes index a table, the MAC runs at full precision. */
static struct quant_cost
lcq_cost(const struct quant *q)
{
	(void)q;
	return (struct quant_cost){32, 0};
}

const struct quant_scheme quant_scheme_lcq = {
	.name = "lcq",
	.help = "learnable companding (K=16 piecewise-linear compander, theta and alpha)",
	.min_bits = 2,
	.max_bits = 8,
	.variants = lcq_variants,
	.check = lcq_check,
	.init = NULL,
	.forward = lcq_forward,
	.forward_ref = lcq_forward_ref,
	.backward = lcq_backward,
	.backward_ref = lcq_backward_ref,
	.levels = lcq_levels,
	.cost = lcq_cost,
};
