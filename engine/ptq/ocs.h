/*
 * ocs: outlier channel splitting of weights (METHODS §4.1) and the channel
 * choice of activation splitting.
 *
 * A weight w of shape O x I x K (K = kh·kw, or 1 for a linear layer) is split
 * along the input-channel axis: n = ocs_split_count(ratio, I) times the
 * channel holding the largest |w| (appended channels included; ties go to
 * the highest index) is divided into two halves, the first overwriting the
 * channel and the second appended as a new last channel. The layer's input
 * is then extended at run time with the channels listed (original indices),
 * so that in exact arithmetic the split layer computes the same function.
 * Arithmetic follows the reference: float32, round half to even.
 */
#ifndef QB_PTQ_OCS_H
#define QB_PTQ_OCS_H

#include <stddef.h>
#include <stdint.h>

enum ocs_split { OCS_SPLIT_NAIVE, OCS_SPLIT_QA };

/*
 * ceil(ratio·I): the number of channels split at expansion ratio `ratio` (0 for
 * ratio <= 0 or NaN). A product within 1e-9 (relative) above an integer counts
 * as that integer: 0.07·100 is 7.000000000000001 in double and gives 7.
 */
int ocs_split_count(double ratio, int I);

/*
 * Splits w (O x I x K) n times into out (O x (I+n) x K, caller-allocated) and
 * writes into channels (n) the original input channel each appended channel
 * duplicates. naive: both halves w/2. qa: with quantization scale `scale`
 * (grid units x = w·scale), halves (x/2 - 1/4)/scale and (x/2 + 1/4)/scale,
 * zeros staying zero (scale is ignored for naive, must be > 0 for qa).
 *
 * channels[k] < I always: when step k splits an appended channel I + j, the
 * new copy inherits channels[j]. The split layer's input is
 * concat(X, X[:, channels]). n = 0 copies w and leaves channels untouched.
 * Weights are assumed finite. Cost O(n·(O·K + I + n)): the channel maxima
 * are kept up to date rather than rescanned; a temporary of I+n floats is
 * allocated (aborts on out-of-memory, like every x*alloc).
 */
void ocs_split_weights(float *out, int32_t *channels, const float *w, int O, int I, int K, int n,
		       enum ocs_split split, float scale);

/*
 * Integer codes of the reference pipeline: codes[i] = clamp(round(w[i]·scale),
 * -2^(bits-1), 2^(bits-1) - 1) with a float32 product and round half to even
 * (bits 2..8). A NaN gets code 0.
 */
void ocs_codes(int8_t *codes, const float *w, size_t n, float scale, int bits);

/*
 * Activation splitting (the paper's variant): given the profiled maximum
 * |activation| of each of C channels, chooses n splits greedily in the same
 * way (the channel with the largest current maximum, appended channels
 * included, highest index on ties; splitting halves the channel and appends
 * a copy with the same halved maximum). picks[k] is the current index of the
 * channel split at step k (< C + k); the appended copy of step k gets index
 * C + k. The maxima are assumed finite and non-negative; n = 0 writes nothing.
 */
void ocs_split_activations(int32_t *picks, const float *chan_max, int C, int n);

#endif
