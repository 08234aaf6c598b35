/*
 * testdata: synthetic datasets and model snapshots for the unit tests (see
 * testdata.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/data.h"
#include "engine/io_h5.h"
#include "engine/model.h"
#include "engine/rng.h"
#include "engine/util.h"
#include "tests/unit/testdata.h"

/*
 * n examples of `classes` Gaussian blobs in (1, side, side): each class has a
 * fixed random centre (the same for every call), examples add noise drawn
 * from `seed`. Freed with free_blobs().
 */
struct dataset *
blobs(int n, int classes, int side, double noise, uint64_t seed)
{
	struct dataset *d = xcalloc(1, sizeof *d);
	size_t chw = (size_t)side * side;
	d->source = xasprintf("blobs:%llu", (unsigned long long)seed);
	d->n = n;
	d->c = 1;
	d->h = d->w = side;
	d->classes = classes;
	d->x = xalloc_floats((size_t)n * chw);
	d->y = xmalloc((size_t)n * sizeof *d->y);
	float *centre = xmalloc((size_t)classes * chw * sizeof *centre);
	struct rng r;
	rng_seed(&r, 777);
	for (size_t i = 0; i < (size_t)classes * chw; i++)
		centre[i] = rng_uniform(&r);
	rng_seed(&r, seed);
	for (int i = 0; i < n; i++) {
		int k = (int)rng_below(&r, (uint32_t)classes);
		d->y[i] = k;
		for (size_t j = 0; j < chw; j++)
			d->x[(size_t)i * chw + j] =
				centre[(size_t)k * chw + j] + (float)(noise * rng_normal(&r));
	}
	free(centre);
	return d;
}

void
free_blobs(struct dataset *d)
{
	free(d->source);
	xfree_aligned(d->x);
	free(d->y);
	free(d);
}

/* Every stored tensor of m, concatenated (caller frees). */
float *
snapshot(const struct model *m, size_t *n_out)
{
	size_t n = 0;
	for (int i = 0; i < model_tensor_count(m); i++)
		n += model_tensor_at(m, i)->size;
	float *s = xmalloc(n * sizeof *s), *p = s;
	for (int i = 0; i < model_tensor_count(m); i++) {
		const struct model_tensor *t = model_tensor_at(m, i);
		memcpy(p, t->data, t->size * sizeof *p);
		p += t->size;
	}
	*n_out = n;
	return s;
}


const struct io_h5_group *
testdata_quant_group(const struct io_h5_groups *gs, const char *group)
{
	char p[64];
	snprintf(p, sizeof p, "quant/%s", group);
	return io_h5_groups_find(gs, p);
}

double
testdata_attr_num(const struct io_h5_group *g, const char *name)
{
	const struct io_h5_attr *a = g ? io_h5_group_attr(g, name) : NULL;
	return a && !a->str ? a->num : NAN;
}

const char *
testdata_attr_str(const struct io_h5_group *g, const char *name)
{
	const struct io_h5_attr *a = g ? io_h5_group_attr(g, name) : NULL;
	return a && a->str ? a->str : "";
}
