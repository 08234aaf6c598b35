/*
 * tensor: arena layout and allocation (see tensor.h for the region order and
 * the alignment invariants).
 */
#include <assert.h>
#include <string.h>

#include "engine/tensor.h"
#include "engine/util.h"

size_t
arena_round(size_t n)
{
	return (n + ARENA_ALIGN_FLOATS - 1) / ARENA_ALIGN_FLOATS * ARENA_ALIGN_FLOATS;
}

size_t
arena_layout_add(struct arena_layout *l, enum arena_region r, size_t n)
{
	assert(r >= 0 && r < ARENA_REGION_COUNT);
	size_t off = l->len[r];
	l->len[r] += arena_round(n);
	return off;
}

void
arena_init(struct arena *a, const struct arena_layout *l, enum arena_region last)
{
	assert(last >= 0 && last < ARENA_REGION_COUNT);
	size_t at = 0;
	for (int r = 0; r < ARENA_REGION_COUNT; r++) {
		a->start[r] = at;
		if (r <= (int)last)
			at += l->len[r];
	}
	a->start[ARENA_REGION_COUNT] = at;
	a->size = at;
	a->data = xalloc_floats(at);
}

float *
arena_ptr(const struct arena *a, enum arena_region r, size_t off)
{
	assert(r >= 0 && r < ARENA_REGION_COUNT);
	assert(a->start[r] + off < a->start[r + 1] || (off == 0 && a->start[r] == a->start[r + 1]));
	return a->data + a->start[r] + off;
}

void
arena_done(struct arena *a)
{
	xfree_aligned(a->data);
	memset(a, 0, sizeof *a);
}
