/*
 * pot: powers-of-two quantization, APoT's non-additive level set
 * {0} ∪ {2^-1, ..., 2^-(2^B - 1)} normalised to max 1 (METHODS §1.1,
 * build_power_value with additive=False), with the same reparameterized
 * clipping function, variants and gradients as apot (apot.c).
 */
#include "engine/quant/quant.h"

static void
pot_init(struct quant *q)
{
	quant_rcf_levels_init(q, 0);
}

/* One shift per MAC: every non-zero level is a single power of two. */
static struct quant_cost
pot_cost(const struct quant *q)
{
	(void)q;
	return (struct quant_cost){0, 1};
}

const struct quant_scheme quant_scheme_pot = {
	.name = "pot",
	.help = "powers-of-two levels {0, 2^-k} with a learnable clip (RCF)",
	.min_bits = 2,
	.max_bits = 6,
	.variants = quant_apot_variants,
	.check = quant_apot_check,
	.init = pot_init,
	.forward = quant_rcf_forward,
	.forward_ref = quant_rcf_forward_ref,
	.backward = quant_rcf_backward,
	.backward_ref = quant_rcf_backward_ref,
	.levels = quant_rcf_levels,
	.cost = pot_cost,
};
