/*
 * cmd_levels: `qbench levels scheme=S bits=B [role=w|a] [alpha=A]
 * [variant=V] [--json]`, the output levels of one quantizer, ascending.
 * Also holds the quantizer-spec parser that `qbench quant` shares.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "app/cmd.h"
#include "app/json.h"
#include "engine/quant/quant.h"
#include "engine/util.h"

static const char *const spec_keys[] = {"scheme", "bits", "role", "alpha", "variant"};
#define NSPEC_KEYS (sizeof spec_keys / sizeof spec_keys[0])

int
cmd_quant_spec(struct quant **out, int argc, char **argv, char **cause)
{
	struct quant_config c = {.role = QUANT_ROLE_WEIGHT, .alpha = 1.0f, .is_signed = -1};
	int have_scheme = 0, have_bits = 0;
	for (int i = 0; i < argc; i++) {
		const char *eq = strchr(argv[i], '=');
		if (!eq || eq == argv[i])
			return err_set(cause, "'%s' is not key=value", argv[i]);
		size_t klen = (size_t)(eq - argv[i]);
		const char *v = eq + 1;
		char key[32];
		snprintf(key, sizeof key, "%.*s", (int)klen, argv[i]);
		char *end = NULL;
		if (strcmp(key, "scheme") == 0) {
			c.scheme = v;
			have_scheme = 1;
		} else if (strcmp(key, "bits") == 0) {
			long b = strtol(v, &end, 10);
			if (!*v || *end || b < 0 || b > 64)
				return err_set(cause, "bits: '%s' is not a bit-width", v);
			c.bits = (int)b;
			have_bits = 1;
		} else if (strcmp(key, "role") == 0) {
			if (strcmp(v, "w") != 0 && strcmp(v, "a") != 0)
				return err_set(cause, "role: '%s' is not w or a", v);
			c.role = v[0] == 'w' ? QUANT_ROLE_WEIGHT : QUANT_ROLE_ACT;
		} else if (strcmp(key, "alpha") == 0) {
			double a = strtod(v, &end);
			if (!*v || *end || !(a > 0) || !isfinite(a))
				return err_set(cause, "alpha: '%s' is not a positive number", v);
			c.alpha = (float)a;
		} else if (strcmp(key, "variant") == 0) {
			c.variant = v;
		} else {
			const char *near = util_nearest(key, spec_keys, NSPEC_KEYS);
			if (near)
				return err_set(cause, "unknown key '%s' (did you mean '%s'?)", key,
					       near);
			return err_set(cause, "unknown key '%s'", key);
		}
	}
	if (!have_scheme || !have_bits)
		return err_set(cause, "scheme= and bits= are required");
	return quant_new(out, &c, cause);
}

/* 1 when the quantizer's output set is symmetric (it maps large negative inputs below 0). */
int
cmd_quant_is_signed(struct quant *q)
{
	float x = -1e30f, y = 0;
	quant_forward_ref(q, &y, &x, 1, 0);
	return y < 0;
}

static int
levels_exec(const struct cmd_ctx *ctx, int argc, char **argv)
{
	struct quant *q = NULL;
	char *cause = NULL;
	float lv[QUANT_MAX_LEVELS];
	int ret = CMD_EXIT_OK;
	if (argc == 0) {
		cmd_print_usage(stderr, &cmd_levels_entry);
		return CMD_EXIT_USAGE;
	}
	if (cmd_quant_spec(&q, argc, argv, &cause) < 0) {
		ret = cmd_error(CMD_EXIT_CONFIG, "%s", cause);
		goto out;
	}
	int n = quant_levels(q, lv, QUANT_MAX_LEVELS);
	if (n < 0) {
		ret = cmd_error(CMD_EXIT_CONFIG, "more than %d levels", QUANT_MAX_LEVELS);
		goto out;
	}
	int sgn = cmd_quant_is_signed(q);
	/* the full output set: the mirrored negative levels (without -0), then the levels */
	float *all = xmalloc((size_t)(2 * n) * sizeof *all);
	int m = 0;
	if (sgn)
		for (int i = n - 1; i >= 0; i--)
			if (lv[i] != 0)
				all[m++] = -lv[i];
	for (int i = 0; i < n; i++)
		all[m++] = lv[i];
	struct quant_cost cost = quant_cost(q);
	if (ctx->json) {
		struct json j;
		json_begin(&j, stdout);
		json_object(&j, NULL);
		json_string(&j, "scheme", q->scheme->name);
		json_string(&j, "variant", q->scheme->variants[q->variant]);
		json_int(&j, "bits", q->bits);
		json_string(&j, "role", q->role == QUANT_ROLE_WEIGHT ? "w" : "a");
		json_number(&j, "alpha", q->alpha);
		json_int(&j, "count", m);
		json_int(&j, "mult_bits", cost.mult_bits);
		json_int(&j, "shift_adds", cost.shift_adds);
		json_array(&j, "levels");
		for (int i = 0; i < m; i++)
			json_number(&j, NULL, all[i]);
		json_array_end(&j);
		json_object_end(&j);
		json_end(&j);
	} else {
		printf("%s %s, %d bits, role %s, alpha %.9g: %d levels (per MAC: ", q->scheme->name,
		       q->scheme->variants[q->variant], q->bits,
		       q->role == QUANT_ROLE_WEIGHT ? "w" : "a", (double)q->alpha, m);
		if (cost.mult_bits)
			printf("%d-bit multiply)\n", cost.mult_bits);
		else
			printf("%d shift-add%s)\n", cost.shift_adds, cost.shift_adds == 1 ? "" : "s");
		for (int i = 0; i < m; i++)
			printf("%.9g\n", (double)all[i]);
	}
	free(all);
out:
	quant_free(q);
	free(cause);
	return ret;
}

const struct cmd_entry cmd_levels_entry = {
	.name = "levels",
	.args = "scheme=S bits=B [k=v ...]",
	.options = CMD_OPT_JSON,
	.summary = "print the level set of a quantizer",
	.help = "Prints the output levels of one quantizer, ascending, with its cost per "
		"multiply-accumulate. Schemes: uniform (variants lsq, clip), pot and apot "
		"(imagenet, cifar), lcq (at theta = 0 it is uniform), qnn (det and stoch "
		"binarize with bits=1; linear and log). Keys: scheme, bits, variant (default: "
		"the first listed), role=w (default, weights, signed) or role=a (activations), "
		"alpha (default 1), the clipping value.\n"
		"Example: qbench levels scheme=apot bits=4 role=a alpha=2",
	.exec = levels_exec,
};
