/*
 * rng: qbench's own seeded pseudo-random generator (xoshiro256**, seeded
 * through splitmix64), so that the same seed gives the same stream on every
 * machine and libc. Not thread-safe: give each thread its own state, derived
 * with rng_split().
 */
#ifndef QB_RNG_H
#define QB_RNG_H

#include <stdint.h>

struct rng {
	uint64_t s[4];
};

void rng_seed(struct rng *r, uint64_t seed);
/* A new independent stream for sub-task `stream` (same parent state, same result). */
void rng_split(struct rng *child, const struct rng *parent, uint64_t stream);
uint64_t rng_next(struct rng *r);
/* Uniform in [0, 1) with 24 random bits. */
float rng_uniform(struct rng *r);
/* Uniform integer in [0, n), unbiased; n > 0. */
uint32_t rng_below(struct rng *r, uint32_t n);
/* Standard normal (Box-Muller, double precision internally). */
float rng_normal(struct rng *r);
/* Fisher-Yates shuffle of idx[0..n). */
void rng_shuffle(struct rng *r, int *idx, int n);

#endif
