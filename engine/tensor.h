/*
 * tensor: arenas, the contiguous float storage behind a model's parameters,
 * their gradients and the optimizer's state.
 *
 * An arena is laid out before it is allocated: tensors are added to one of
 * three regions, each tensor starting on a 64-byte boundary (16 floats), and
 * the regions follow one another in a fixed order:
 *
 *   [ ARENA_DECAY: conv/linear weights | ARENA_PLAIN: biases, BN gamma/beta |
 *     ARENA_BUFFER: BN running statistics ]
 *
 * so the trainable values are the prefix [0, start[ARENA_BUFFER]) and the
 * weight-decayed ones the prefix [0, start[ARENA_PLAIN]). A gradient arena and
 * an optimizer-state arena laid out with the same layout line up element by
 * element with the parameters, which lets an optimizer update the whole model
 * in one loop. Padding between tensors is zero and stays zero under every
 * update (zero gradient, zero state, zero value).
 *
 * Invariants: data is 64-byte aligned and zero-initialised; start[] is
 * non-decreasing and start[ARENA_REGION_COUNT] == size; every region length is
 * a multiple of 16 floats.
 */
#ifndef QB_TENSOR_H
#define QB_TENSOR_H

#include <stddef.h>

enum arena_region { ARENA_DECAY, ARENA_PLAIN, ARENA_BUFFER, ARENA_REGION_COUNT };

/* Floats per 64-byte line: every tensor in an arena starts on a multiple of this. */
#define ARENA_ALIGN_FLOATS 16

/* Sizes of the regions while tensors are being added. Zero-initialise it. */
struct arena_layout {
	size_t len[ARENA_REGION_COUNT];
};

struct arena {
	float *data; /* (size) floats, 64-byte aligned, owned */
	size_t size;
	size_t start[ARENA_REGION_COUNT + 1]; /* region r is [start[r], start[r+1]) */
};

/*
 * Adds a tensor of n floats to region r of the layout and returns its offset
 * inside that region (turn it into a pointer with arena_ptr() once the arena
 * exists). n is rounded up to a multiple of ARENA_ALIGN_FLOATS.
 */
size_t arena_layout_add(struct arena_layout *l, enum arena_region r, size_t n);

/*
 * Allocates a zeroed arena for the regions of l up to and including region
 * `last` (e.g. ARENA_PLAIN for gradients: buffers have none). Never fails
 * (aborts on out-of-memory). Release with arena_done().
 */
void arena_init(struct arena *a, const struct arena_layout *l, enum arena_region last);

/* Pointer to the tensor at offset off of region r (an offset from arena_layout_add). */
float *arena_ptr(const struct arena *a, enum arena_region r, size_t off);

/* Frees the storage; the arena is left empty and may be initialised again. */
void arena_done(struct arena *a);

/* Rounds n floats up to a multiple of ARENA_ALIGN_FLOATS. */
size_t arena_round(size_t n);

#endif
