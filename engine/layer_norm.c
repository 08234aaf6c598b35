/*
 * layer_norm: batch normalisation (Ioffe & Szegedy 2015) over (B, C, HW),
 * per channel, with PyTorch's conventions:
 *   training  y = (x - mu_B) / sqrt(var_B + eps) * gamma + beta, var_B biased;
 *             running = (1 - momentum) * running + momentum * batch statistic,
 *             with the unbiased variance var_B * n / (n - 1) (n = B*HW);
 *   eval      y = (x - running_mean) / sqrt(running_var + eps) * gamma + beta.
 * gamma or beta may be NULL (1 and 0).
 *
 * Statistics are accumulated in double over fixed lanes, so that the loops
 * vectorise while the order of additions stays the same on every machine and
 * thread count; the variance comes from one pass over values shifted by the
 * channel's first value (sums of d and d^2, d = x - x0), which in double loses
 * nothing unless |mean - x0| is ~1e6 standard deviations. Channels are
 * independent: they are split across threads with a static schedule.
 *
 * Also QNN's shift-based batch norm (Hubara et al. 2018; formulas and the
 * encoding of its running inverse standard deviation in layers.h), on the same
 * per-channel machinery: every scale it applies is a power of two (AP2).
 */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>

#include "engine/layers.h"
#include "engine/util.h"

enum { NORM_LANES = 8 };

/*
 * Per-channel kernels are compiled for several instruction sets and chosen at
 * load time. Their additions happen in the same order in every version (fixed
 * lanes; ISO C mode contracts no multiply-add into FMA), so all versions give
 * the same bits.
 */
#define NORM_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))

/*
 * Moments of one channel: x holds B segments of HW values, `stride` apart.
 * s1 = sum (x - shift), s2 = sum (x - shift)^2, accumulated in double over
 * NORM_LANES fixed lanes. Shifting by a value of the channel keeps the
 * one-pass variance s2/n - (s1/n)^2 accurate.
 */
NORM_CLONES static void
norm_moments(double *s1, double *s2, const float *x, int B, size_t HW, size_t stride,
	     double shift)
{
	double a[NORM_LANES] = {0}, q[NORM_LANES] = {0};
	for (int b = 0; b < B; b++) {
		const float *p = x + b * stride;
		size_t i = 0;
		for (; i + NORM_LANES <= HW; i += NORM_LANES)
			for (int j = 0; j < NORM_LANES; j++) {
				double d = (double)p[i + j] - shift;
				a[j] += d;
				q[j] += d * d;
			}
		for (int j = 0; i < HW; i++, j++) {
			double d = (double)p[i] - shift;
			a[j] += d;
			q[j] += d * d;
		}
	}
	double t1 = 0.0, t2 = 0.0;
	for (int j = 0; j < NORM_LANES; j++) {
		t1 += a[j];
		t2 += q[j];
	}
	*s1 = t1;
	*s2 = t2;
}

/* y = x * scale + shift over the B segments of one channel. */
NORM_CLONES static void
norm_affine(float *y, const float *x, int B, size_t HW, size_t stride, float scale, float shift)
{
	for (int b = 0; b < B; b++) {
		float *restrict yo = y + b * stride;
		const float *restrict xi = x + b * stride;
#pragma omp simd
		for (size_t i = 0; i < HW; i++)
			yo[i] = xi[i] * scale + shift;
	}
}

/* sdy = sum dy, sdx = sum dy * (x - mu) over one channel, in double. */
NORM_CLONES static void
norm_grad_sums(double *sdy, double *sdx, const float *dy, const float *x, int B, size_t HW,
	       size_t stride, double mu)
{
	double a[NORM_LANES] = {0}, q[NORM_LANES] = {0};
	for (int b = 0; b < B; b++) {
		const float *g = dy + b * stride, *p = x + b * stride;
		size_t i = 0;
		for (; i + NORM_LANES <= HW; i += NORM_LANES)
			for (int j = 0; j < NORM_LANES; j++) {
				double d = g[i + j];
				a[j] += d;
				q[j] += d * ((double)p[i + j] - mu);
			}
		for (int j = 0; i < HW; i++, j++) {
			double d = g[i];
			a[j] += d;
			q[j] += d * ((double)p[i] - mu);
		}
	}
	double t1 = 0.0, t2 = 0.0;
	for (int j = 0; j < NORM_LANES; j++) {
		t1 += a[j];
		t2 += q[j];
	}
	*sdy = t1;
	*sdx = t2;
}

/* dx += k * (dy - mdy - (x - mu) * c2) over one channel. */
NORM_CLONES static void
norm_grad_input(float *dx, const float *dy, const float *x, int B, size_t HW, size_t stride,
		float k, float mdy, float mu, float c2)
{
	for (int b = 0; b < B; b++) {
		float *restrict d = dx + b * stride;
		const float *restrict g = dy + b * stride, *restrict p = x + b * stride;
#pragma omp simd
		for (size_t i = 0; i < HW; i++)
			d[i] += k * (g[i] - mdy - (p[i] - mu) * c2);
	}
}

/*
 * Planes of at least this many values are processed in memory order, one
 * (b, c) plane at a time with per-plane partial sums (streaming access is
 * about twice as fast as walking one channel across the batch); smaller
 * planes (HW = 1 for features) are processed one channel at a time.
 */
enum { NORM_STREAM_MIN_HW = 64 };

/*
 * Batch moments of every channel into s1, s2 (C each, see norm_moments), all
 * shifted by shift[c]. Per-plane partials are added in batch order, so the
 * result does not depend on the thread count.
 */
static void
norm_batch_moments(double *s1, double *s2, const float *inp, const double *shift, int B, int C,
		   int HW)
{
	size_t plane = (size_t)HW, stride = (size_t)C * HW;
	if (HW < NORM_STREAM_MIN_HW) {
#pragma omp parallel for schedule(static)
		for (int c = 0; c < C; c++)
			norm_moments(&s1[c], &s2[c], inp + c * plane, B, plane, stride, shift[c]);
		return;
	}
	long planes = (long)B * C;
	double *p1 = xmalloc(sizeof(double) * 2 * planes), *p2 = p1 + planes;
#pragma omp parallel
	{
#pragma omp for schedule(static)
		for (long bc = 0; bc < planes; bc++)
			norm_moments(&p1[bc], &p2[bc], inp + bc * plane, 1, plane, plane,
				     shift[bc % C]);
#pragma omp for schedule(static)
		for (int c = 0; c < C; c++) {
			double t1 = 0.0, t2 = 0.0;
			for (int b = 0; b < B; b++) {
				t1 += p1[(long)b * C + c];
				t2 += p2[(long)b * C + c];
			}
			s1[c] = t1;
			s2[c] = t2;
		}
	}
	free(p1);
}

/*
 * A per-channel kernel of two sums over the B segments of one channel (`stride`
 * apart) of dy and x, around mu: norm_grad_sums and the shift kernels below.
 */
typedef void norm_sums_fn(double *s1, double *s2, const float *dy, const float *x, int B,
			  size_t HW, size_t stride, double mu);

/*
 * The sums fn of every channel c into s1[c], s2[c], around mu[c]; dy may be NULL
 * when fn does not read it. Like norm_batch_moments, per-plane partials are added
 * in batch order, so the result does not depend on the thread count.
 */
static void
norm_batch_sums(norm_sums_fn *fn, double *s1, double *s2, const float *dy, const float *x,
		const double *mu, int B, int C, int HW)
{
	size_t plane = (size_t)HW, stride = (size_t)C * HW;
	if (HW < NORM_STREAM_MIN_HW) {
#pragma omp parallel for schedule(static)
		for (int c = 0; c < C; c++)
			fn(&s1[c], &s2[c], dy ? dy + c * plane : NULL, x + c * plane, B, plane,
			   stride, mu[c]);
		return;
	}
	long planes = (long)B * C;
	double *p1 = xmalloc(sizeof(double) * 2 * planes), *p2 = p1 + planes;
#pragma omp parallel
	{
#pragma omp for schedule(static)
		for (long bc = 0; bc < planes; bc++)
			fn(&p1[bc], &p2[bc], dy ? dy + bc * plane : NULL, x + bc * plane, 1, plane,
			   plane, mu[bc % C]);
#pragma omp for schedule(static)
		for (int c = 0; c < C; c++) {
			double t1 = 0.0, t2 = 0.0;
			for (int b = 0; b < B; b++) {
				t1 += p1[(long)b * C + c];
				t2 += p2[(long)b * C + c];
			}
			s1[c] = t1;
			s2[c] = t2;
		}
	}
	free(p1);
}

void
batchnorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *gamma,
		  const float *beta, float *running_mean, float *running_var, int B, int C,
		  int HW, float momentum, float eps, int training)
{
	/* out, inp (B, C, HW); mean, rstd, gamma, beta, running_* (C) */
	size_t plane = (size_t)HW, stride = (size_t)C * HW;
	double n = (double)B * HW;
	/* per channel: mu, scale, shift (3C doubles) and the moments (2C) */
	double *mu = xmalloc(sizeof(double) * 5 * (C > 0 ? C : 1));
	double *scale = mu + C, *shift = scale + C, *s1 = shift + C, *s2 = s1 + C;
	if (training) {
		for (int c = 0; c < C; c++)
			shift[c] = B > 0 && HW > 0 ? inp[c * plane] : 0.0;
		norm_batch_moments(s1, s2, inp, shift, B, C, HW);
	}
	for (int c = 0; c < C; c++) {
		double var;
		if (training) {
			double m1 = s1[c] / n;
			mu[c] = shift[c] + m1;
			var = s2[c] / n - m1 * m1;
			if (var < 0.0)
				var = 0.0;
			mean[c] = (float)mu[c];
			rstd[c] = (float)(1.0 / sqrt(var + eps));
			double unbiased = n > 1.0 ? var * n / (n - 1.0) : var;
			running_mean[c] =
				(float)((1.0 - momentum) * running_mean[c] + momentum * mu[c]);
			running_var[c] =
				(float)((1.0 - momentum) * running_var[c] + momentum * unbiased);
		} else {
			mu[c] = running_mean[c];
			var = running_var[c];
		}
		double g = gamma ? gamma[c] : 1.0, bt = beta ? beta[c] : 0.0;
		scale[c] = g / sqrt(var + eps);
		shift[c] = bt - mu[c] * scale[c];
	}
	if (HW < NORM_STREAM_MIN_HW) {
#pragma omp parallel for schedule(static)
		for (int c = 0; c < C; c++)
			norm_affine(out + c * plane, inp + c * plane, B, plane, stride,
				    (float)scale[c], (float)shift[c]);
	} else {
		long planes = (long)B * C;
#pragma omp parallel for schedule(static)
		for (long bc = 0; bc < planes; bc++)
			norm_affine(out + bc * plane, inp + bc * plane, 1, plane, plane,
				    (float)scale[bc % C], (float)shift[bc % C]);
	}
	free(mu);
}

/* An elementwise input-gradient pass over B planes of HW values `stride` apart. */
typedef void (*norm_grad_input_fn)(float *dx, const float *dy, const float *x, int B, size_t HW,
				   size_t stride, float k, float mdy, float mu, float c2);

/*
 * Runs grad (dinp += ...) over every (image, channel) plane with the channel's
 * four coefficients coef[4c..4c+3]: by channel for small planes, by plane when
 * they are large enough to stream.
 */
static void
norm_apply_grad_input(norm_grad_input_fn grad, float *dinp, const float *dout, const float *inp,
		      const float *coef, int B, int C, int HW)
{
	size_t plane = (size_t)HW, stride = (size_t)C * HW;
	if (HW < NORM_STREAM_MIN_HW) {
#pragma omp parallel for schedule(static)
		for (int c = 0; c < C; c++) {
			const float *k = coef + 4 * c;
			grad(dinp + c * plane, dout + c * plane, inp + c * plane, B, plane, stride, k[0],
			     k[1], k[2], k[3]);
		}
	} else {
		long planes = (long)B * C;
#pragma omp parallel for schedule(static)
		for (long bc = 0; bc < planes; bc++) {
			const float *k = coef + 4 * (bc % C);
			grad(dinp + bc * plane, dout + bc * plane, inp + bc * plane, 1, plane, plane,
			     k[0], k[1], k[2], k[3]);
		}
	}
}

void
batchnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout, const float *inp,
		   const float *gamma, const float *mean, const float *rstd, int B, int C, int HW)
{
	/*
	 * With xhat = (x - mu) * rstd and n = B*HW, per channel:
	 *   dbeta += sum dy,  dgamma += sum dy * xhat,
	 *   dx += gamma * rstd * (dy - sum(dy)/n - xhat * sum(dy * xhat)/n),
	 * written dx += k * (dy - mdy - (x - mu) * c2).
	 */
	double n = (double)B * HW;
	double *mu = xmalloc(sizeof(double) * 3 * (C > 0 ? C : 1));
	double *sdy = mu + C, *sdx = sdy + C;
	for (int c = 0; c < C; c++)
		mu[c] = mean[c];
	norm_batch_sums(norm_grad_sums, sdy, sdx, dout, inp, mu, B, C, HW);
	/* k, mdy, mu, c2 per channel, as floats for the elementwise pass */
	float *coef = xmalloc(sizeof(float) * 4 * (C > 0 ? C : 1));
	for (int c = 0; c < C; c++) {
		double rs = rstd[c], sum_dyxhat = sdx[c] * rs;
		if (dbeta)
			dbeta[c] += (float)sdy[c];
		if (dgamma)
			dgamma[c] += (float)sum_dyxhat;
		double g = gamma ? gamma[c] : 1.0;
		coef[4 * c] = (float)(g * rs);
		coef[4 * c + 1] = (float)(sdy[c] / n);
		coef[4 * c + 2] = mean[c];
		coef[4 * c + 3] = (float)(sum_dyxhat * rs / n);
	}
	if (dinp)
		norm_apply_grad_input(norm_grad_input, dinp, dout, inp, coef, B, C, HW);
	free(coef);
	free(mu);
}

/*
 * Shift-based batch norm (formulas in layers.h). Its C = x - mean is formed in
 * float from the float mean, in forward and backward alike, so that backward
 * sees the AP2(C) that forward used.
 */

/* s1 = sum C * AP2(C) over one channel, C = x - (float)mu (dy unused, s2 = 0). */
NORM_CLONES static void
shift_var_sums(double *s1, double *s2, const float *dy, const float *x, int B, size_t HW,
	       size_t stride, double mu)
{
	(void)dy;
	const float m = (float)mu;
	double a[NORM_LANES] = {0};
	for (int b = 0; b < B; b++) {
		const float *p = x + b * stride;
		size_t i = 0;
		for (; i + NORM_LANES <= HW; i += NORM_LANES)
			for (int j = 0; j < NORM_LANES; j++) {
				float c = p[i + j] - m;
				a[j] += (double)c * ap2(c);
			}
		for (int j = 0; i < HW; i++, j++) {
			float c = p[i] - m;
			a[j] += (double)c * ap2(c);
		}
	}
	double t = 0.0;
	for (int j = 0; j < NORM_LANES; j++)
		t += a[j];
	*s1 = t;
	*s2 = 0.0;
}

/* sdy = sum dy, sdc = sum dy * AP2(x - (float)mu) over one channel, in double. */
NORM_CLONES static void
shift_grad_sums(double *sdy, double *sdc, const float *dy, const float *x, int B, size_t HW,
		size_t stride, double mu)
{
	const float m = (float)mu;
	double a[NORM_LANES] = {0}, q[NORM_LANES] = {0};
	for (int b = 0; b < B; b++) {
		const float *g = dy + b * stride, *p = x + b * stride;
		size_t i = 0;
		for (; i + NORM_LANES <= HW; i += NORM_LANES)
			for (int j = 0; j < NORM_LANES; j++) {
				double d = g[i + j];
				a[j] += d;
				q[j] += d * ap2(p[i + j] - m);
			}
		for (int j = 0; i < HW; i++, j++) {
			double d = g[i];
			a[j] += d;
			q[j] += d * ap2(p[i] - m);
		}
	}
	double t1 = 0.0, t2 = 0.0;
	for (int j = 0; j < NORM_LANES; j++) {
		t1 += a[j];
		t2 += q[j];
	}
	*sdy = t1;
	*sdc = t2;
}

/* y = (x - m) * k + b over the B segments of one channel (k a power of two). */
NORM_CLONES static void
shift_affine(float *y, const float *x, int B, size_t HW, size_t stride, float m, float k, float b)
{
	for (int bi = 0; bi < B; bi++) {
		float *restrict yo = y + bi * stride;
		const float *restrict xi = x + bi * stride;
#pragma omp simd
		for (size_t i = 0; i < HW; i++)
			yo[i] = (xi[i] - m) * k + b;
	}
}

/* dx += k * (dy - mdy - AP2(x - m) * c2) over one channel. */
NORM_CLONES static void
shift_grad_input(float *dx, const float *dy, const float *x, int B, size_t HW, size_t stride,
		 float k, float mdy, float m, float c2)
{
	for (int b = 0; b < B; b++) {
		float *restrict d = dx + b * stride;
		const float *restrict g = dy + b * stride, *restrict p = x + b * stride;
#pragma omp simd
		for (size_t i = 0; i < HW; i++)
			d[i] += k * (g[i] - mdy - ap2(p[i] - m) * c2);
	}
}

void
batchnorm_shift_forward(float *out, float *mean, float *scale, const float *inp,
			const float *gamma, const float *beta, float *running_mean,
			float *running_var, int B, int C, int HW, float momentum, float eps,
			int training)
{
	/* out, inp (B, C, HW); mean, scale, gamma, beta, running_* (C) */
	size_t plane = (size_t)HW, stride = (size_t)C * HW;
	double n = (double)B * HW;
	/* per channel: mu, the moments' shift and two sums (4C doubles) */
	double *mu = xmalloc(sizeof(double) * 4 * (C > 0 ? C : 1));
	double *shift = mu + C, *s1 = shift + C, *s2 = s1 + C;
	/* per channel: the mean subtracted, AP2(gamma) * s and beta */
	float *coef = xmalloc(sizeof(float) * 3 * (C > 0 ? C : 1));
	if (training) {
		for (int c = 0; c < C; c++)
			shift[c] = B > 0 && HW > 0 ? inp[c * plane] : 0.0;
		norm_batch_moments(s1, s2, inp, shift, B, C, HW);
		for (int c = 0; c < C; c++) {
			double m = shift[c] + s1[c] / n;
			mean[c] = (float)m;
			mu[c] = mean[c];
			running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * m);
		}
		norm_batch_sums(shift_var_sums, s1, s2, NULL, inp, mu, B, C, HW);
	}
	for (int c = 0; c < C; c++) {
		float s;
		if (training) {
			/* C * AP2(C) >= 0 for every C, so var >= 0 */
			double inv = 1.0 / sqrt(s1[c] / n + eps);
			s = scale[c] = ap2((float)inv);
			double rinv = 1.0 / sqrt((double)running_var[c] + eps);
			rinv = (1.0 - momentum) * rinv + momentum * inv;
			double rv = 1.0 / (rinv * rinv) - eps;
			running_var[c] = (float)(rv > 0.0 ? rv : 0.0);
			coef[3 * c] = mean[c];
		} else {
			s = ap2((float)(1.0 / sqrt((double)running_var[c] + eps)));
			coef[3 * c] = running_mean[c];
		}
		coef[3 * c + 1] = (gamma ? ap2(gamma[c]) : 1.0f) * s;
		coef[3 * c + 2] = beta ? beta[c] : 0.0f;
	}
	if (HW < NORM_STREAM_MIN_HW) {
#pragma omp parallel for schedule(static)
		for (int c = 0; c < C; c++) {
			const float *k = coef + 3 * c;
			shift_affine(out + c * plane, inp + c * plane, B, plane, stride, k[0], k[1],
				     k[2]);
		}
	} else {
		long planes = (long)B * C;
#pragma omp parallel for schedule(static)
		for (long bc = 0; bc < planes; bc++) {
			const float *k = coef + 3 * (bc % C);
			shift_affine(out + bc * plane, inp + bc * plane, 1, plane, plane, k[0], k[1],
				     k[2]);
		}
	}
	free(coef);
	free(mu);
}

void
batchnorm_shift_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
			 const float *inp, const float *gamma, const float *mean,
			 const float *scale, int B, int C, int HW)
{
	/*
	 * With s a power of two, AP2(C * s) = AP2(C) * s (exact unless C * s leaves
	 * the normal range), so dgamma's sum is s * sum(AP2(C) * g), from the same
	 * pass as the sums of dx, written dx += k * (g - mdy - AP2(C) * c2).
	 */
	double n = (double)B * HW;
	double *mu = xmalloc(sizeof(double) * 3 * (C > 0 ? C : 1));
	double *sdy = mu + C, *sdc = sdy + C;
	for (int c = 0; c < C; c++)
		mu[c] = mean[c];
	norm_batch_sums(shift_grad_sums, sdy, sdc, dout, inp, mu, B, C, HW);
	/* k, mdy, mean, c2 per channel, as floats for the elementwise pass */
	float *coef = xmalloc(sizeof(float) * 4 * (C > 0 ? C : 1));
	for (int c = 0; c < C; c++) {
		double s = scale[c];
		if (dbeta)
			dbeta[c] += (float)sdy[c];
		if (dgamma)
			dgamma[c] += (float)(s * sdc[c]);
		coef[4 * c] = (gamma ? ap2(gamma[c]) : 1.0f) * scale[c];
		coef[4 * c + 1] = (float)(sdy[c] / n);
		coef[4 * c + 2] = mean[c];
		coef[4 * c + 3] = (float)(s * s * sdc[c] / n);
	}
	if (dinp)
		norm_apply_grad_input(shift_grad_input, dinp, dout, inp, coef, B, C, HW);
	free(coef);
	free(mu);
}
