/*
 * ocs: outlier channel splitting (Zhao et al. 2019, METHODS §4.1).
 *
 * Weights are O x I x K, row-major (PyTorch conv layout with K = kh·kw, or
 * a linear layer's O x I with K = 1); the split tensor is O x (I+n) x K with
 * the n appended channels after the I original ones, in the order they were
 * created.
 *
 * The greedy of the reference recomputes every channel's max|w| on the whole
 * tensor at each step. Only the split channel and its new copy change in a
 * step, so a per-channel maximum array updated for those two channels gives
 * the same choices at O(O·K + I + n) per step instead of O(O·(I+n)·K).
 *
 * Invariants:
 * - m[c] == max over (o, k) of |out[o][c][k]| for every channel c created so far;
 * - channels[k] < I: an appended channel split again hands its original
 *   channel on to the copy it creates.
 *
 * Float arithmetic: every operation is a float32 operation in its own
 * statement, as in the reference (numpy float32 arrays with the scale rounded
 * to float32). This relies on FLT_EVAL_METHOD == 0 and on no contraction
 * into fused multiply-adds, which -std=c11 gives on the supported targets.
 */
#include <assert.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ptq/ocs.h"
#include "engine/util.h"

/*
 * ratio·I is often not exact in binary (0.07·100 = 7.000000000000001):
 * products within this relative distance above an integer count as that
 * integer, so the count does not jump by one on rounding noise.
 */
#define OCS_COUNT_RTOL 1e-9

int
ocs_split_count(double ratio, int I)
{
	if (!(ratio > 0) || I <= 0)
		return 0;
	double p = ratio * (double)I;
	double c = ceil(p - OCS_COUNT_RTOL * p);
	if (!(c < (double)INT_MAX))
		return INT_MAX;
	return (int)c;
}

/* max |out[o][c][k]| over o, k; out has row stride `row` floats. */
static float
chan_absmax(const float *out, int O, size_t row, int c, int K)
{
	float m = 0.0f;
	for (int o = 0; o < O; o++) {
		const float *p = out + (size_t)o * row + (size_t)c * (size_t)K;
		for (int k = 0; k < K; k++) {
			float a = fabsf(p[k]);
			if (a > m)
				m = a;
		}
	}
	return m;
}

/* Index of the largest of m[0..len), the highest index among equal maxima (len >= 1). */
static int
argmax_last(const float *m, int len)
{
	int best = 0;
	for (int c = 1; c < len; c++)
		if (m[c] >= m[best])
			best = c;
	return best;
}

/*
 * Splits one element v into *a (stays in the channel) and *b (goes to the
 * copy). Only non-zero elements are split (the reference's split_threshold
 * 0 test |v| > 0); a zero stays in *a and the copy gets +0.
 */
static inline void
split_naive(float v, float *a, float *b)
{
	if (fabsf(v) > 0.0f) {
		float h = v / 2.0f;
		*a = h;
		*b = h;
	} else {
		*a = v;
		*b = 0.0f;
	}
}

/*
 * QA split in grid units x = v·s: halves (x/2 - 1/4)/s and (x/2 + 1/4)/s,
 * whose codes sum to round(x) (Hermite's identity: round(t) + round(t + 1/2)
 * = round(2t + 1/2) with t = x/2 - 1/4, up to ties). The reference scales
 * v/2, not v, so x/2 is computed as (v/2)·s.
 */
static inline void
split_qa(float v, float s, float *a, float *b)
{
	if (fabsf(v) > 0.0f) {
		float h = v / 2.0f;
		float xh = h * s;
		float lo = xh - 0.25f;
		float hi = xh + 0.25f;
		*a = lo / s;
		*b = hi / s;
	} else {
		*a = v;
		*b = 0.0f;
	}
}

void
ocs_split_weights(float *out, int32_t *channels, const float *w, int O, int I, int K, int n,
		  enum ocs_split split, float scale)
{
	assert(O >= 0 && I > 0 && K > 0 && n >= 0);
	assert(split == OCS_SPLIT_NAIVE || split == OCS_SPLIT_QA);
	size_t J = (size_t)I + (size_t)n;	/* channels after splitting */
	size_t row = J * (size_t)K;		/* floats per output row of out */
	size_t irow = (size_t)I * (size_t)K;	/* floats per output row of w */

	/* out[o][0..I) = w[o]; out[o][I..J) is written as channels are appended */
	for (int o = 0; o < O; o++)
		memcpy(out + (size_t)o * row, w + (size_t)o * irow, irow * sizeof *out);
	if (n == 0)
		return;

	float *m = xmalloc(J * sizeof *m);
	for (int c = 0; c < I; c++)
		m[c] = chan_absmax(out, O, row, c, K);

	for (int k = 0; k < n; k++) {
		int cur = I + k;	/* channels so far; the copy gets index cur */
		int c = argmax_last(m, cur);
		for (int o = 0; o < O; o++) {
			float *src = out + (size_t)o * row + (size_t)c * (size_t)K;
			float *dst = out + (size_t)o * row + (size_t)cur * (size_t)K;
			for (int j = 0; j < K; j++) {
				if (split == OCS_SPLIT_QA)
					split_qa(src[j], scale, &src[j], &dst[j]);
				else
					split_naive(src[j], &src[j], &dst[j]);
			}
		}
		/* QA halves are not exactly half the old maximum: recompute both */
		m[c] = chan_absmax(out, O, row, c, K);
		m[cur] = chan_absmax(out, O, row, cur, K);
		channels[k] = c < I ? c : channels[c - I];
	}
	free(m);
}

void
ocs_codes(int8_t *codes, const float *w, size_t n, float scale, int bits)
{
	assert(bits >= 2 && bits <= 8);
	float lo = -(float)(1 << (bits - 1)), hi = (float)((1 << (bits - 1)) - 1);
	for (size_t i = 0; i < n; i++) {
		float x = w[i] * scale;
		float r = nearbyintf(x);	/* half to even in the default rounding mode */
		if (r < lo)
			r = lo;
		else if (r > hi)
			r = hi;
		else if (r != r)
			r = 0.0f;	/* NaN has no code; keep the conversion defined */
		codes[i] = (int8_t)r;
	}
}

void
ocs_split_activations(int32_t *picks, const float *chan_max, int C, int n)
{
	assert(C > 0 && n >= 0);
	if (n == 0)
		return;
	float *m = xmalloc(((size_t)C + (size_t)n) * sizeof *m);
	memcpy(m, chan_max, (size_t)C * sizeof *m);
	for (int k = 0; k < n; k++) {
		int c = argmax_last(m, C + k);
		m[c] = m[c] / 2.0f;
		m[C + k] = m[c];
		picks[k] = c;
	}
	free(m);
}
