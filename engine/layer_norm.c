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

/* sum dy and sum dy * (x - mu[c]) of every channel (see norm_grad_sums). */
static void
norm_batch_grad_sums(double *sdy, double *sdx, const float *dout, const float *inp,
		     const double *mu, int B, int C, int HW)
{
	size_t plane = (size_t)HW, stride = (size_t)C * HW;
	if (HW < NORM_STREAM_MIN_HW) {
#pragma omp parallel for schedule(static)
		for (int c = 0; c < C; c++)
			norm_grad_sums(&sdy[c], &sdx[c], dout + c * plane, inp + c * plane, B, plane,
				       stride, mu[c]);
		return;
	}
	long planes = (long)B * C;
	double *p1 = xmalloc(sizeof(double) * 2 * planes), *p2 = p1 + planes;
#pragma omp parallel
	{
#pragma omp for schedule(static)
		for (long bc = 0; bc < planes; bc++)
			norm_grad_sums(&p1[bc], &p2[bc], dout + bc * plane, inp + bc * plane, 1,
				       plane, plane, mu[bc % C]);
#pragma omp for schedule(static)
		for (int c = 0; c < C; c++) {
			double t1 = 0.0, t2 = 0.0;
			for (int b = 0; b < B; b++) {
				t1 += p1[(long)b * C + c];
				t2 += p2[(long)b * C + c];
			}
			sdy[c] = t1;
			sdx[c] = t2;
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
	size_t plane = (size_t)HW, stride = (size_t)C * HW;
	double n = (double)B * HW;
	double *mu = xmalloc(sizeof(double) * 3 * (C > 0 ? C : 1));
	double *sdy = mu + C, *sdx = sdy + C;
	for (int c = 0; c < C; c++)
		mu[c] = mean[c];
	norm_batch_grad_sums(sdy, sdx, dout, inp, mu, B, C, HW);
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
	if (dinp && HW < NORM_STREAM_MIN_HW) {
#pragma omp parallel for schedule(static)
		for (int c = 0; c < C; c++) {
			const float *k = coef + 4 * c;
			norm_grad_input(dinp + c * plane, dout + c * plane, inp + c * plane, B, plane,
					stride, k[0], k[1], k[2], k[3]);
		}
	} else if (dinp) {
		long planes = (long)B * C;
#pragma omp parallel for schedule(static)
		for (long bc = 0; bc < planes; bc++) {
			const float *k = coef + 4 * (bc % C);
			norm_grad_input(dinp + bc * plane, dout + bc * plane, inp + bc * plane, 1,
					plane, plane, k[0], k[1], k[2], k[3]);
		}
	}
	free(coef);
	free(mu);
}
