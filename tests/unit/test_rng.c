/*
 * test_rng: the PRNG is deterministic, splits into independent streams and
 * has the moments it promises.
 */
#include <math.h>
#include <stdio.h>

#include "engine/rng.h"
#include "tests/unit/tap.h"

int
main(void)
{
	struct rng a, b;
	rng_seed(&a, 42);
	rng_seed(&b, 42);
	int same = 1;
	for (int i = 0; i < 1000; i++)
		same &= rng_next(&a) == rng_next(&b);
	tap_ok(same, "same seed gives the same stream");

	rng_seed(&b, 43);
	int differ = 0;
	for (int i = 0; i < 16; i++)
		differ += rng_next(&a) != rng_next(&b);
	tap_ok(differ == 16, "different seeds give different streams");

	struct rng c1, c2;
	rng_seed(&a, 7);
	rng_split(&c1, &a, 0);
	rng_split(&c2, &a, 1);
	tap_ok(rng_next(&c1) != rng_next(&c2), "split streams differ");

	const int n = 200000;
	double su = 0, sn = 0, sn2 = 0;
	float umin = 1, umax = 0;
	rng_seed(&a, 1);
	for (int i = 0; i < n; i++) {
		float u = rng_uniform(&a);
		su += u;
		umin = u < umin ? u : umin;
		umax = u > umax ? u : umax;
		double z = rng_normal(&a);
		sn += z;
		sn2 += z * z;
	}
	tap_ok(umin >= 0.0f && umax < 1.0f, "uniform lies in [0,1)");
	tap_near(su / n, 0.5, 0.005, "uniform mean 0.5");
	tap_near(sn / n, 0.0, 0.01, "normal mean 0");
	tap_near(sn2 / n, 1.0, 0.02, "normal variance 1");

	int hist[10] = {0};
	for (int i = 0; i < 100000; i++)
		hist[rng_below(&a, 10)]++;
	int flat = 1;
	for (int i = 0; i < 10; i++)
		flat &= hist[i] > 9500 && hist[i] < 10500;
	tap_ok(flat, "rng_below(10) is uniform");

	int idx[100], seen[100] = {0};
	for (int i = 0; i < 100; i++)
		idx[i] = i;
	rng_shuffle(&a, idx, 100);
	int perm = 1, moved = 0;
	for (int i = 0; i < 100; i++) {
		perm &= !seen[idx[i]]++;
		moved += idx[i] != i;
	}
	tap_ok(perm && moved > 80, "shuffle is a permutation that moves most items");
	return tap_done();
}
