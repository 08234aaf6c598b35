/*
 * loss: the two training objectives over logits (B, K) and labels (B):
 * mean softmax cross-entropy, and the squared hinge of BinaryNet (Courbariaux
 * et al. 2016). Loss values are accumulated in double, in batch order; the
 * work is O(B*K), small next to any layer, so it runs on the calling thread.
 * Labels must lie in [0, K) (asserted).
 */
#include <assert.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/layers.h"

float
softmax_xent_forward(float *probs, const float *logits, const int32_t *labels, int B, int K)
{
	/* probs (B, K) = softmax(logits) row by row, shifted by the row maximum */
	double total = 0.0;
	for (int i = 0; i < B; i++) {
		const float *z = logits + (size_t)i * K;
		float *p = probs + (size_t)i * K;
		float zmax = z[0];
		for (int k = 1; k < K; k++)
			zmax = z[k] > zmax ? z[k] : zmax;
		double sum = 0.0;
		for (int k = 0; k < K; k++) {
			double e = exp((double)z[k] - zmax);
			p[k] = (float)e; /* in (0, 1]: no overflow, relative rounding only */
			sum += e;
		}
		for (int k = 0; k < K; k++)
			p[k] = (float)((double)p[k] / sum);
		assert(labels[i] >= 0 && labels[i] < K);
		/* -log softmax(z)[label] = log(sum exp(z - zmax)) - (z[label] - zmax) */
		total += log(sum) - ((double)z[labels[i]] - zmax);
	}
	return B > 0 ? (float)(total / B) : 0.0f;
}

void
softmax_xent_backward(float *dlogits, const float *probs, const int32_t *labels, int B, int K)
{
	float inv = 1.0f / (float)B;
	for (int i = 0; i < B; i++) {
		const float *p = probs + (size_t)i * K;
		float *d = dlogits + (size_t)i * K;
		for (int k = 0; k < K; k++)
			d[k] += (p[k] - (k == labels[i] ? 1.0f : 0.0f)) * inv;
	}
}

float
sqhinge_forward(const float *logits, const int32_t *labels, int B, int K)
{
	/* mean over B*K of max(0, 1 - t*y)^2, t = +1 for the label, -1 otherwise */
	double total = 0.0;
	for (int i = 0; i < B; i++) {
		const float *y = logits + (size_t)i * K;
		assert(labels[i] >= 0 && labels[i] < K);
		for (int k = 0; k < K; k++) {
			double t = k == labels[i] ? 1.0 : -1.0;
			double m = 1.0 - t * y[k];
			if (m > 0.0)
				total += m * m;
		}
	}
	return B > 0 && K > 0 ? (float)(total / ((double)B * K)) : 0.0f;
}

void
sqhinge_backward(float *dlogits, const float *logits, const int32_t *labels, int B, int K)
{
	/* d/dy of max(0, 1 - t*y)^2 / (B*K) = -2 t max(0, 1 - t*y) / (B*K) */
	float scale = 2.0f / ((float)B * (float)K);
	for (int i = 0; i < B; i++) {
		const float *y = logits + (size_t)i * K;
		float *d = dlogits + (size_t)i * K;
		for (int k = 0; k < K; k++) {
			float t = k == labels[i] ? 1.0f : -1.0f;
			float m = 1.0f - t * y[k];
			if (m > 0.0f)
				d[k] -= scale * t * m;
		}
	}
}
