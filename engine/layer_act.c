/*
 * layer_act: elementwise layers: ReLU, hardtanh, inverted dropout, the
 * residual add and channel duplication, forward and backward.
 *
 * Every loop is a static-schedule parallel loop over the values (serial below
 * ACT_PAR_MIN values, where starting threads costs more than it saves), and
 * each value depends only on its own inputs, so results never depend on the
 * thread count. Dropout draws its mask in fixed chunks of DROPOUT_CHUNK values,
 * chunk k from stream k of the caller's generator (rng_split), then advances
 * the generator by one draw: the mask depends on the seed only.
 */
#include <stddef.h>
#include <string.h>

#include "engine/layers.h"
#include "engine/rng.h"

enum { ACT_PAR_MIN = 1 << 15, DROPOUT_CHUNK = 1 << 14 };

void
relu_forward(float *out, const float *inp, size_t N)
{
	/* may run in place (out == inp): each value is read before it is written */
	float *y = out;
	const float *x = inp;
#pragma omp parallel for simd schedule(static) if (N >= ACT_PAR_MIN)
	for (size_t i = 0; i < N; i++) {
		float v = x[i];
		y[i] = v > 0.0f ? v : 0.0f;
	}
}

void
relu_backward(float *dinp, const float *dout, const float *out, size_t N)
{
	float *restrict dx = dinp;
	const float *restrict dy = dout, *restrict y = out;
#pragma omp parallel for simd schedule(static) if (N >= ACT_PAR_MIN)
	for (size_t i = 0; i < N; i++) {
		float g = dy[i]; /* loaded unconditionally so the select vectorises */
		dx[i] += y[i] > 0.0f ? g : 0.0f;
	}
}

void
hardtanh_forward(float *out, const float *inp, size_t N)
{
	float *y = out;
	const float *x = inp;
#pragma omp parallel for simd schedule(static) if (N >= ACT_PAR_MIN)
	for (size_t i = 0; i < N; i++) {
		float v = x[i] < -1.0f ? -1.0f : x[i];
		y[i] = v > 1.0f ? 1.0f : v;
	}
}

void
hardtanh_backward(float *dinp, const float *dout, const float *inp, size_t N)
{
	float *restrict dx = dinp;
	const float *restrict dy = dout, *restrict x = inp;
#pragma omp parallel for simd schedule(static) if (N >= ACT_PAR_MIN)
	for (size_t i = 0; i < N; i++) {
		float g = dy[i], v = x[i];
		dx[i] += v >= -1.0f && v <= 1.0f ? g : 0.0f;
	}
}

void
dropout_forward(float *out, float *mask, const float *inp, size_t N, float p, int training,
		struct rng *rng)
{
	if (!training || p <= 0.0f) {
		if (out != inp)
			memmove(out, inp, N * sizeof(float));
		if (training) {
			for (size_t i = 0; i < N; i++)
				mask[i] = 1.0f;
			rng_next(rng);
		}
		return;
	}
	float keep = p >= 1.0f ? 0.0f : 1.0f / (1.0f - p);
	size_t chunks = (N + DROPOUT_CHUNK - 1) / DROPOUT_CHUNK;
#pragma omp parallel for schedule(static) if (N >= ACT_PAR_MIN)
	for (size_t k = 0; k < chunks; k++) {
		struct rng r;
		rng_split(&r, rng, k);
		size_t end = (k + 1) * DROPOUT_CHUNK < N ? (k + 1) * DROPOUT_CHUNK : N;
		for (size_t i = k * DROPOUT_CHUNK; i < end; i++) {
			float m = rng_uniform(&r) >= p ? keep : 0.0f;
			mask[i] = m;
			out[i] = inp[i] * m;
		}
	}
	rng_next(rng);
}

void
dropout_backward(float *dinp, const float *dout, const float *mask, size_t N)
{
	float *restrict dx = dinp;
	const float *restrict dy = dout, *restrict m = mask;
#pragma omp parallel for simd schedule(static) if (N >= ACT_PAR_MIN)
	for (size_t i = 0; i < N; i++)
		dx[i] += dy[i] * m[i];
}

void
residual_forward(float *out, const float *a, const float *b, size_t N)
{
#pragma omp parallel for simd schedule(static) if (N >= ACT_PAR_MIN)
	for (size_t i = 0; i < N; i++)
		out[i] = a[i] + b[i];
}

void
residual_backward(float *da, float *db, const float *dout, size_t N)
{
	const float *restrict dy = dout;
	if (da) {
		float *restrict d = da;
#pragma omp parallel for simd schedule(static) if (N >= ACT_PAR_MIN)
		for (size_t i = 0; i < N; i++)
			d[i] += dy[i];
	}
	if (db) {
		float *restrict d = db;
#pragma omp parallel for simd schedule(static) if (N >= ACT_PAR_MIN)
		for (size_t i = 0; i < N; i++)
			d[i] += dy[i];
	}
}

void
chandup_forward(float *out, const float *inp, const int32_t *src, const float *factor, int B,
		int C, int OC, size_t P)
{
#pragma omp parallel for collapse(2) schedule(static) if ((size_t)B * OC * P >= ACT_PAR_MIN)
	for (int b = 0; b < B; b++)
		for (int o = 0; o < OC; o++) {
			const float *x = inp + ((size_t)b * C + (size_t)src[o]) * P;
			float *y = out + ((size_t)b * OC + (size_t)o) * P, f = factor[o];
			if (f == 1.0f) {
				memcpy(y, x, P * sizeof *y);
				continue;
			}
			for (size_t i = 0; i < P; i++)
				y[i] = f * x[i];
		}
}

void
chandup_backward(float *dinp, const float *dout, const int32_t *src, const float *factor, int B,
		 int C, int OC, size_t P)
{
	/* several output channels may share a source: parallel over examples only */
#pragma omp parallel for schedule(static) if ((size_t)B * OC * P >= ACT_PAR_MIN)
	for (int b = 0; b < B; b++)
		for (int o = 0; o < OC; o++) {
			float *dx = dinp + ((size_t)b * C + (size_t)src[o]) * P, f = factor[o];
			const float *dy = dout + ((size_t)b * OC + (size_t)o) * P;
			for (size_t i = 0; i < P; i++)
				dx[i] += f * dy[i];
		}
}
