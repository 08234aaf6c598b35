/*
 * config: the key table and configurations over it.
 *
 * The table below is the vocabulary: adding a key is adding a row (and, if
 * the engine reads it, a line in config_to_train_opts()). Every value is kept
 * as canonical text, so printing, JSON, params rows and hashing all agree:
 *   int    decimal, no sign for positives, no leading zeros ("10")
 *   float  the shortest %g text that reads back as the same double ("0.1", "1e-05")
 *   bool   "true" or "false" (accepted: true/false, 1/0, yes/no, on/off)
 *   enum   one of the listed values
 *   string as given, after the key's validator accepted it
 * Number parsing and printing assume the C locale's decimal point (qbench
 * never changes LC_NUMERIC).
 */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/model.h"
#include "engine/ptq/ptq.h"
#include "engine/quant/qat.h"
#include "engine/quant/quant.h"
#include "engine/train.h"
#include "engine/util.h"
#include "experiments/config.h"

#define CONFIG_ENGINE_VERSION "qbench-engine " PACKAGE_VERSION

static const char *const job_values[] = {"train", "eval", "ptq", NULL};
static const char *const optim_values[] = {"sgd", "adam", "adamax", "shift-adamax", NULL};
static const char *const sched_values[] = {"constant", "step", "cosine", NULL};
static const char *const loss_values[] = {"xent", "sqhinge", NULL};
static const char *const scheme_values[] = {"float", "uniform", "pot", "apot", "lcq", "qnn", NULL};
static const char *const role_scheme_values[] = {"same",  "float", "uniform", "pot",
						 "apot",  "lcq",   "qnn",     NULL};
static const char *const gran_values[] = {"tensor", "channel", NULL};
static const char *const firstlast_values[] = {"8", "fp", "same", NULL};
static const char *const gscale_values[] = {"none", "lsq", "sqrt", NULL};
static const char *const bn_values[] = {"standard", "shift", NULL};
static const char *const split_values[] = {"naive", "qa", NULL};
static const char *const target_values[] = {"w", "a", NULL};
static const char *const clipsrc_values[] = {"split", "orig", NULL};
static const char *const border_values[] = {"nearest", "stochastic", "adaround", "aquant", NULL};
static const char *const aquant_kind_values[] = {"bin", "linear", NULL};
static const char *const recon_mode_values[] = {"layer", "block", NULL};

static int check_model(const char *value, char **cause);
static int check_dataset(const char *value, char **cause);
static int check_variant(const char *value, char **cause);
static int check_clip(const char *value, char **cause);
static int check_clip_method(const char *value, char **cause);

#define T CONFIG_JOB_TRAIN
#define E CONFIG_JOB_EVAL
#define P CONFIG_JOB_PTQ

static const struct config_key config_keys[] = {
	{"job", CONFIG_ENUM, "train", 0, 0, 0, job_values, T | E | P, NULL,
	 "what to run: train a model, eval(uate) a trained one, or ptq (post-training "
	 "quantization; set by the command)", NULL, 0},
	{"model", CONFIG_STRING, "mlp", 0, 0, 0, NULL, T | E | P, "ZOO, FILE.h5 or run:ID",
	 "a zoo architecture (mlp, lenet5, cnn, resnet20) trained from scratch, a model file, "
	 "or run:ID for the model a run saved (train then fine-tunes it)",
	 check_model, 0},
	{"dataset", CONFIG_STRING, "fmnist", 0, 0, 0, NULL, T | E | P, "fmnist, idx:DIR or h5:FILE",
	 "fmnist (Fashion-MNIST), idx:DIR (MNIST-format IDX files in DIR) or h5:FILE",
	 check_dataset, 0},
	{"epochs", CONFIG_INT, "10", 1, 10000, 0, NULL, T, NULL, "training epochs", NULL, 0},
	{"batch", CONFIG_INT, "128", 1, 65536, 0, NULL, T, NULL, "training batch size", NULL, 0},
	{"lr", CONFIG_FLOAT, "0.05", 0, 10, CONFIG_OPEN_MIN, NULL, T, NULL,
	 "peak learning rate", NULL, 0},
	{"optim", CONFIG_ENUM, "sgd", 0, 0, 0, optim_values, T, NULL,
	 "optimizer: SGD (with momentum), Adam, AdaMax, or QNN's shift-based AdaMax (powers "
	 "of two, Glorot learning-rate scales on conv/linear weights)",
	 NULL, 0},
	{"momentum", CONFIG_FLOAT, "0.9", 0, 1, CONFIG_OPEN_MAX, NULL, T, NULL,
	 "optim=sgd: momentum", NULL, 0},
	{"nesterov", CONFIG_BOOL, "true", 0, 0, 0, NULL, T, NULL,
	 "optim=sgd: Nesterov momentum", NULL, 0},
	{"wd", CONFIG_FLOAT, "0.0005", 0, 1, 0, NULL, T, NULL,
	 "weight decay (L2) on conv and linear weights (not on biases or batch norm)", NULL, 0},
	{"sched", CONFIG_ENUM, "cosine", 0, 0, 0, sched_values, T, NULL,
	 "learning-rate schedule after warm-up: constant; step (times step.gamma every "
	 "step.size epochs); cosine (down to 0 at the last epoch)",
	 NULL, 0},
	{"warmup", CONFIG_FLOAT, "1", 0, 1000, 0, NULL, T, NULL,
	 "epochs of linear learning-rate warm-up (may be fractional; at most epochs)", NULL, 0},
	{"step.size", CONFIG_INT, "10", 1, 10000, 0, NULL, T, NULL,
	 "sched=step: epochs between decays", NULL, 0},
	{"step.gamma", CONFIG_FLOAT, "0.1", 0, 1, CONFIG_OPEN_MIN, NULL, T, NULL,
	 "sched=step: decay factor", NULL, 0},
	{"loss", CONFIG_ENUM, "xent", 0, 0, 0, loss_values, T | E | P, NULL,
	 "softmax cross-entropy, or squared hinge (as in BinaryNet)", NULL, 0},
	{"aug.pad", CONFIG_INT, "0", 0, 16, 0, NULL, T, NULL,
	 "augmentation: random crop after zero padding by this many pixels (0 = off)", NULL, 0},
	{"aug.flip", CONFIG_BOOL, "false", 0, 0, 0, NULL, T, NULL,
	 "augmentation: random horizontal flip", NULL, 0},
	{"seed", CONFIG_INT, "1", 0, 4294967295.0, 0, NULL, T | P, NULL,
	 "seed of initialisation, shuffling, augmentation and dropout; for ptq, of the "
	 "calibration images, stochastic rounding, reconstruction batches and QDrop", NULL, 0},
	{"threads", CONFIG_INT, "0", 0, 1024, 0, NULL, T | E | P, NULL,
	 "threads (0 = $OMP_NUM_THREADS when set, else one per core); a seed and a thread "
	 "count give bit-identical results",
	 NULL, 0},
	{"train.n", CONFIG_INT, "0", 0, 2147483647.0, 0, NULL, T | P, NULL,
	 "use only the first N training examples (0 = all; ptq draws its calibration "
	 "images from them)", NULL, 0},
	{"test.n", CONFIG_INT, "0", 0, 2147483647.0, 0, NULL, T | E | P, NULL,
	 "use only the first N test examples (0 = all)", NULL, 0},
	{"eval.batch", CONFIG_INT, "256", 1, 65536, 0, NULL, E | P, NULL, "evaluation batch size",
	 NULL, 0},
	{"scheme", CONFIG_ENUM, "float", 0, 0, 0, scheme_values, T | P, NULL,
	 "quantizer family of weights and activations (quantization-aware training when "
	 "w.bits or a.bits < 32, or post-training quantization with qbench ptq); see 'qbench "
	 "levels'",
	 NULL, 1},
	{"w.scheme", CONFIG_ENUM, "same", 0, 0, 0, role_scheme_values, T | P, NULL,
	 "weight quantizer family (same = scheme)", NULL, 1},
	{"a.scheme", CONFIG_ENUM, "same", 0, 0, 0, role_scheme_values, T | P, NULL,
	 "activation quantizer family (same = scheme); in training, qnn turns ReLUs into "
	 "hardtanh", NULL, 1},
	{"w.bits", CONFIG_INT, "32", 1, 32, 0, NULL, T | P, NULL,
	 "weight bits: 1..8, or 32 for float", NULL, 1},
	{"a.bits", CONFIG_INT, "32", 1, 32, 0, NULL, T | P, NULL,
	 "activation bits (inputs of conv and linear layers): 1..8, or 32 for float", NULL, 1},
	{"g.bits", CONFIG_INT, "32", 2, 32, 0, NULL, T, NULL,
	 "weight-gradient bits (QNN LogQuant, per tensor): 2..8, or 32 for float", NULL, 1},
	{"w.gran", CONFIG_ENUM, "tensor", 0, 0, 0, gran_values, T | P, NULL,
	 "weight scale granularity: one per tensor, or one per output channel (uniform)", NULL, 1},
	{"w.variant", CONFIG_STRING, "default", 0, 0, 0, NULL, T, "a variant of w.scheme",
	 "weight quantizer variant: uniform lsq|clip, apot/pot imagenet|cifar, qnn det|stoch "
	 "(1 bit) or linear|log (default: the scheme's first)",
	 check_variant, 1},
	{"a.variant", CONFIG_STRING, "default", 0, 0, 0, NULL, T, "a variant of a.scheme",
	 "activation quantizer variant (as w.variant)", check_variant, 1},
	{"firstlast", CONFIG_ENUM, "8", 0, 0, 0, firstlast_values, T | P, NULL,
	 "first and last conv/linear layers: 8-bit weights (and 8-bit input to the last), "
	 "float, or the same as the others",
	 NULL, 1},
	{"lcq.gscale", CONFIG_ENUM, "none", 0, 0, 0, gscale_values, T, NULL,
	 "LCQ gradient scale of alpha and theta: none, LSQ-style, or sqrt(Qp/N)", NULL, 1},
	{"q.lr", CONFIG_FLOAT, "1", 0, 100, CONFIG_OPEN_MIN, NULL, T, NULL,
	 "learning rate of the quantizers' clips, steps and theta, times lr", NULL, 1},
	{"bn", CONFIG_ENUM, "standard", 0, 0, 0, bn_values, T, NULL,
	 "batch norm: standard, or shift-based (QNN: powers of two instead of multiplies)",
	 NULL, 0},
	{"clip", CONFIG_STRING, "max", 0, 0, 0, NULL, P, "max, pct:P, mse, aciq, aciq:orig or kl",
	 "post-training clipping of weights and activations: max|x|, the P-th percentile "
	 "of |x|, MSE-optimal, ACIQ (OCS constants; aciq:orig the original ones), or KL "
	 "divergence (see w.clip, a.clip)",
	 check_clip_method, 1},
	{"w.clip", CONFIG_STRING, "same", 0, 0, 0, NULL, P, "same or a clip= method",
	 "weight clipping (same = clip)", check_clip, 1},
	{"a.clip", CONFIG_STRING, "same", 0, 0, 0, NULL, P, "same or a clip= method",
	 "activation clipping (same = clip)", check_clip, 1},
	{"a.signed", CONFIG_BOOL, "false", 0, 0, 0, NULL, P, NULL,
	 "quantize every activation on a signed grid, as the OCS reference does (default: "
	 "unsigned after a ReLU)",
	 NULL, 1},
	{"ocs.ratio", CONFIG_FLOAT, "0", 0, 1, 0, NULL, P, NULL,
	 "outlier channel splitting: expansion ratio r (ceil(r*channels) splits per layer; 0 "
	 "= off)",
	 NULL, 1},
	{"ocs.split", CONFIG_ENUM, "naive", 0, 0, 0, split_values, P, NULL,
	 "OCS split rule: halves, or quantization-aware halves", NULL, 1},
	{"ocs.target", CONFIG_ENUM, "w", 0, 0, 0, target_values, P, NULL,
	 "OCS splits weights (w) or activations (a)", NULL, 1},
	{"ocs.clipsrc", CONFIG_ENUM, "split", 0, 0, 0, clipsrc_values, P, NULL,
	 "OCS: automatic weight clips on the split weights, or on the original ones (the "
	 "reference code's order)",
	 NULL, 1},
	{"border", CONFIG_ENUM, "nearest", 0, 0, 0, border_values, P, NULL,
	 "rounding border: nearest; stochastic (weights); adaround (learned weight rounding); "
	 "aquant (AQuant-style learned activation borders with AdaRound weights)",
	 NULL, 1},
	{"aquant.kind", CONFIG_ENUM, "bin", 0, 0, 0, aquant_kind_values, P, NULL,
	 "border=aquant: a border per channel and bin, or per channel linear in the value",
	 NULL, 1},
	{"aquant.mu", CONFIG_FLOAT, "1", 0, 1000, 0, NULL, P, NULL,
	 "border=aquant: weight of the global term (KL of the float and quantized outputs)",
	 NULL, 1},
	{"calib.n", CONFIG_INT, "1024", 1, 1000000, 0, NULL, P, NULL,
	 "calibration images drawn from the training set (with seed)", NULL, 1},
	{"recon.iters", CONFIG_INT, "2000", 0, 1000000, 0, NULL, P, NULL,
	 "reconstruction iterations per unit (border=adaround, aquant)", NULL, 1},
	{"recon.mode", CONFIG_ENUM, "layer", 0, 0, 0, recon_mode_values, P, NULL,
	 "reconstruction unit: each conv/linear layer, or blocks (e.g. residual blocks)",
	 NULL, 1},
	{"recon.batch", CONFIG_INT, "32", 1, 4096, 0, NULL, P, NULL,
	 "reconstruction batch size", NULL, 1},
	{"recon.lr", CONFIG_FLOAT, "0.001", 0, 10, CONFIG_OPEN_MIN, NULL, P, NULL,
	 "reconstruction: Adam learning rate of rounding variables and borders", NULL, 1},
	{"recon.lambda", CONFIG_FLOAT, "0.01", 0, 100, 0, NULL, P, NULL,
	 "AdaRound: weight of the rounding regulariser", NULL, 1},
	{"recon.drop", CONFIG_FLOAT, "0.5", 0, 1, CONFIG_OPEN_MIN, NULL, P, NULL,
	 "reconstruction: probability that an activation keeps its quantization (QDrop; 1 = "
	 "no dropping)",
	 NULL, 1},
};

#undef T
#undef E
#undef P

#define CONFIG_NKEYS ((int)(sizeof config_keys / sizeof config_keys[0]))

/* The enum keys line up with the engine's enums. */
_Static_assert(sizeof optim_values / sizeof optim_values[0] == OPTIM_COUNT + 1, "optim values");
_Static_assert(sizeof sched_values / sizeof sched_values[0] == SCHED_COUNT + 1, "sched values");
_Static_assert(sizeof loss_values / sizeof loss_values[0] == LOSS_COUNT + 1, "loss values");

struct config_value {
	char *text; /* canonical text (owned) */
	double num; /* CONFIG_INT, CONFIG_FLOAT, CONFIG_BOOL: the value */
	int set;    /* given by config_set */
};

struct config {
	struct config_value v[CONFIG_NKEYS];
};

int
config_key_count(void)
{
	return CONFIG_NKEYS;
}

const struct config_key *
config_key_at(int i)
{
	assert(i >= 0 && i < CONFIG_NKEYS);
	return &config_keys[i];
}

static int
config_key_index(const char *name)
{
	for (int i = 0; i < CONFIG_NKEYS; i++)
		if (strcmp(config_keys[i].name, name) == 0)
			return i;
	return -1;
}

const struct config_key *
config_key_find(const char *name)
{
	int i = config_key_index(name);
	return i < 0 ? NULL : &config_keys[i];
}

const char *
config_nearest_key(const char *name)
{
	const char *names[CONFIG_NKEYS];
	for (int i = 0; i < CONFIG_NKEYS; i++)
		names[i] = config_keys[i].name;
	return util_nearest(name, names, CONFIG_NKEYS);
}

const char *
config_engine_version(void)
{
	return CONFIG_ENGINE_VERSION;
}

void
config_format_double(char *buf, size_t n, double v)
{
	if (v == 0) {
		snprintf(buf, n, "0");
		return;
	}
	int prec = 1;
	for (; prec < 17; prec++) {
		snprintf(buf, n, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	char e[40];
	snprintf(e, sizeof e, "%.*e", prec - 1, v);
	const char *x = strchr(e, 'e');
	int exp10 = x ? atoi(x + 1) : 0;
	snprintf(buf, n, "%.*g", exp10 >= prec && exp10 < 17 ? exp10 + 1 : prec, v);
}

/* "a, b or c" of a NULL-terminated list (malloc'd). */
static char *
join_values(const char *const *values)
{
	char *s = xstrdup("");
	for (int i = 0; values[i]; i++) {
		const char *sep = i == 0 ? "" : values[i + 1] ? ", " : " or ";
		char *t = xasprintf("%s%s%s", s, sep, values[i]);
		free(s);
		s = t;
	}
	return s;
}

char *
config_key_allowed(const struct config_key *k)
{
	char lo[32], hi[32];
	config_format_double(lo, sizeof lo, k->min);
	config_format_double(hi, sizeof hi, k->max);
	switch (k->type) {
	case CONFIG_INT:
		if (k->max >= 2147483647.0)
			return xasprintf("an integer >= %s", lo);
		return xasprintf("an integer in %s..%s", lo, hi);
	case CONFIG_FLOAT:
		return xasprintf("a number in %c%s, %s%c", k->open & CONFIG_OPEN_MIN ? '(' : '[', lo,
				 hi, k->open & CONFIG_OPEN_MAX ? ')' : ']');
	case CONFIG_BOOL:
		return xstrdup("true or false");
	case CONFIG_ENUM:
		return join_values(k->values);
	case CONFIG_STRING:
		return xstrdup(k->values_help ? k->values_help : "any text");
	}
	return xstrdup("?");
}

static int
check_model(const char *value, char **cause)
{
	const char *const *arch = model_arch_names();
	size_t narch = 0;
	for (; arch[narch]; narch++)
		if (strcmp(arch[narch], value) == 0)
			return 0;
	if (strncmp(value, "run:", 4) == 0) {
		const char *p = value + 4;
		char *end;
		errno = 0;
		long long id = isdigit((unsigned char)*p) ? strtoll(p, &end, 10) : 0;
		if (id > 0 && errno == 0 && *end == '\0')
			return 0;
		return err_set(cause, "run:ID needs a run number, as in run:7");
	}
	size_t n = strlen(value);
	struct stat st;
	if ((n > 3 && strcmp(value + n - 3, ".h5") == 0) ||
	    (stat(value, &st) == 0 && S_ISREG(st.st_mode)))
		return 0;
	char *list = join_values(arch);
	const char *near = util_nearest(value, arch, narch);
	if (near)
		err_set(cause, "expected a zoo model (%s), FILE.h5 or run:ID (did you mean '%s'?)",
			list, near);
	else
		err_set(cause, "expected a zoo model (%s), FILE.h5 or run:ID", list);
	free(list);
	return -1;
}

/* A variant name of some scheme (the pairing with the scheme is checked by config_check). */
static int
check_variant(const char *value, char **cause)
{
	if (strcmp(value, "default") == 0)
		return 0;
	const char *names[64];
	size_t n = 0;
	for (size_t i = 0; i < quant_scheme_count(); i++)
		for (const char *const *v = quant_scheme_at(i)->variants; *v && n < 64; v++) {
			if (strcmp(*v, value) == 0)
				return 0;
			names[n++] = *v;
		}
	const char *near = util_nearest(value, names, n);
	if (near)
		return err_set(cause, "no scheme has this variant (did you mean '%s'?)", near);
	return err_set(cause, "no scheme has this variant");
}

static int
check_clip_method(const char *value, char **cause)
{
	struct clip_spec c;
	return clip_parse(value, &c, cause);
}

/* w.clip, a.clip: a method, or "same" as clip. */
static int
check_clip(const char *value, char **cause)
{
	struct clip_spec c;
	if (strcmp(value, "same") == 0)
		return 0;
	return clip_parse(value, &c, cause);
}

static int
check_dataset(const char *value, char **cause)
{
	if (strcmp(value, "fmnist") == 0 || (strncmp(value, "idx:", 4) == 0 && value[4]) ||
	    (strncmp(value, "h5:", 3) == 0 && value[3]))
		return 0;
	const char *const names[] = {"fmnist"};
	const char *near = util_nearest(value, names, 1);
	if (near)
		return err_set(cause, "expected fmnist, idx:DIR or h5:FILE (did you mean '%s'?)",
			       near);
	return err_set(cause, "expected fmnist, idx:DIR or h5:FILE");
}

/*
 * Parses value for key k into canonical text (*text, malloc'd) and number
 * (*num). Returns 0, or -1 with the full "bad value" message in *cause.
 */
static int
config_parse(const struct config_key *k, const char *value, char **text, double *num,
	     char **cause)
{
	char *end = NULL;
	char buf[40];
	*num = 0;
	switch (k->type) {
	case CONFIG_INT: {
		errno = 0;
		long long v = 0;
		if (*value && !isspace((unsigned char)*value))
			v = strtoll(value, &end, 10);
		if (!end || end == value || *end || errno || (double)v < k->min || (double)v > k->max)
			break;
		*num = (double)v;
		*text = xasprintf("%lld", v);
		return 0;
	}
	case CONFIG_FLOAT: {
		double v = 0;
		if (*value && !isspace((unsigned char)*value))
			v = strtod(value, &end);
		if (!end || end == value || *end || !isfinite(v) || v < k->min || v > k->max ||
		    (v == k->min && (k->open & CONFIG_OPEN_MIN)) ||
		    (v == k->max && (k->open & CONFIG_OPEN_MAX)))
			break;
		if (v == 0)
			v = 0; /* no "-0" */
		config_format_double(buf, sizeof buf, v);
		*num = v;
		*text = xstrdup(buf);
		return 0;
	}
	case CONFIG_BOOL: {
		static const char *const yes[] = {"true", "1", "yes", "on"};
		static const char *const no[] = {"false", "0", "no", "off"};
		for (int i = 0; i < 4; i++)
			if (strcmp(value, yes[i]) == 0 || strcmp(value, no[i]) == 0) {
				*num = strcmp(value, yes[i]) == 0;
				*text = xstrdup(*num ? "true" : "false");
				return 0;
			}
		break;
	}
	case CONFIG_ENUM: {
		size_t n = 0;
		for (; k->values[n]; n++)
			if (strcmp(k->values[n], value) == 0) {
				*num = (double)n;
				*text = xstrdup(value);
				return 0;
			}
		const char *near = util_nearest(value, k->values, n);
		char *list = join_values(k->values);
		if (near)
			err_set(cause, "bad value '%s' for %s: expected %s (did you mean '%s'?)", value,
				k->name, list, near);
		else
			err_set(cause, "bad value '%s' for %s: expected %s", value, k->name, list);
		free(list);
		return -1;
	}
	case CONFIG_STRING: {
		char *why = NULL;
		if (!*value) {
			why = config_key_allowed(k);
			err_set(cause, "bad value '' for %s: expected %s", k->name, why);
			free(why);
			return -1;
		}
		if (k->check && k->check(value, &why) < 0) {
			err_set(cause, "bad value '%s' for %s: %s", value, k->name, why);
			free(why);
			return -1;
		}
		*text = xstrdup(value);
		return 0;
	}
	}
	char *allowed = config_key_allowed(k);
	err_set(cause, "bad value '%s' for %s: expected %s", value, k->name, allowed);
	free(allowed);
	return -1;
}

struct config *
config_new(void)
{
	struct config *cfg = xcalloc(1, sizeof *cfg);
	for (int i = 0; i < CONFIG_NKEYS; i++) {
		const struct config_key *k = &config_keys[i];
		char *why = NULL;
		/* The defaults are valid by construction (checked by the tests). */
		if (k->type == CONFIG_STRING) {
			cfg->v[i].text = xstrdup(k->def);
		} else if (config_parse(k, k->def, &cfg->v[i].text, &cfg->v[i].num, &why) < 0) {
			assert(!"invalid default in the key table");
			free(why);
			cfg->v[i].text = xstrdup(k->def);
		}
	}
	return cfg;
}

struct config *
config_dup(const struct config *cfg)
{
	struct config *c = xcalloc(1, sizeof *c);
	for (int i = 0; i < CONFIG_NKEYS; i++) {
		c->v[i] = cfg->v[i];
		c->v[i].text = xstrdup(cfg->v[i].text);
	}
	return c;
}

void
config_free(struct config *cfg)
{
	if (!cfg)
		return;
	for (int i = 0; i < CONFIG_NKEYS; i++)
		free(cfg->v[i].text);
	free(cfg);
}

/* The index of key, or -1 with the "unknown key" message. */
static int
config_lookup(const char *key, char **cause)
{
	int i = config_key_index(key);
	if (i >= 0)
		return i;
	const char *near = config_nearest_key(key);
	if (near)
		return err_set(cause, "unknown key '%s' (did you mean '%s'?)", key, near);
	return err_set(cause, "unknown key '%s'", key);
}

int
config_set_value(struct config *cfg, const char *key, const char *value, char **cause)
{
	int i = config_lookup(key, cause);
	if (i < 0)
		return -1;
	char *text = NULL;
	double num;
	if (config_parse(&config_keys[i], value, &text, &num, cause) < 0)
		return -1;
	free(cfg->v[i].text);
	cfg->v[i].text = text;
	cfg->v[i].num = num;
	cfg->v[i].set = 1;
	return 0;
}

int
config_set(struct config *cfg, const char *kv, char **cause)
{
	const char *eq = strchr(kv, '=');
	if (!eq || eq == kv)
		return err_set(cause, "expected key=value, got '%s'", kv);
	char *key = xasprintf("%.*s", (int)(eq - kv), kv);
	int ret = config_set_value(cfg, key, eq + 1, cause);
	free(key);
	return ret;
}

int
config_canonical(const char *key, const char *value, char **out, char **cause)
{
	int i = config_lookup(key, cause);
	double num;
	*out = NULL;
	if (i < 0)
		return -1;
	return config_parse(&config_keys[i], value, out, &num, cause);
}

static unsigned
config_job(const struct config *cfg)
{
	int i = config_key_index("job");
	if (strcmp(cfg->v[i].text, "eval") == 0)
		return CONFIG_JOB_EVAL;
	return strcmp(cfg->v[i].text, "ptq") == 0 ? CONFIG_JOB_PTQ : CONFIG_JOB_TRAIN;
}

/* Nonzero when cfg quantizes weights, activations or gradients. */
static int
quantizing(const struct config *cfg)
{
	return config_get_int(cfg, "w.bits") < 32 || config_get_int(cfg, "a.bits") < 32 ||
	       config_get_int(cfg, "g.bits") < 32;
}

/*
 * Keys that only matter under another key's value (PTQ): the reconstruction
 * keys with a learned border, the aquant keys with border=aquant, the OCS
 * keys with ocs.ratio > 0. NULL when k has no such condition, else the
 * condition's text when it does not hold (for the message), or "" when it
 * holds.
 */
static const char *
unmet_condition(const struct config *cfg, const struct config_key *k)
{
	const char *border = config_get(cfg, "border");
	if (!strncmp(k->name, "recon.", 6))
		return strcmp(border, "adaround") && strcmp(border, "aquant")
			       ? "border=adaround or border=aquant"
			       : "";
	if (!strncmp(k->name, "aquant.", 7))
		return strcmp(border, "aquant") ? "border=aquant" : "";
	if (!strncmp(k->name, "ocs.", 4) && strcmp(k->name, "ocs.ratio"))
		return config_get_float(cfg, "ocs.ratio") > 0 ? "" : "ocs.ratio > 0";
	return NULL;
}

int
config_applies(const struct config *cfg, const struct config_key *k)
{
	if ((k->jobs & config_job(cfg)) == 0)
		return 0;
	if (k->quant && !quantizing(cfg))
		return 0;
	const char *cond = unmet_condition(cfg, k);
	return !cond || !*cond;
}

int
config_check(const struct config *cfg, char **cause)
{
	const char *job = config_get(cfg, "job");
	for (int i = 0; i < CONFIG_NKEYS; i++) {
		const struct config_key *k = &config_keys[i];
		if (!cfg->v[i].set || config_applies(cfg, k))
			continue;
		const char *cond = unmet_condition(cfg, k);
		if ((k->jobs & config_job(cfg)) && quantizing(cfg) && cond && *cond)
			return err_set(cause, "%s=%s has no effect without %s", k->name,
				       cfg->v[i].text, cond);
		if ((k->jobs & config_job(cfg)) && k->quant)
			return err_set(cause,
				       "%s=%s has no effect: nothing is quantized (set w.bits and/or "
				       "a.bits below 32, e.g. w.bits=4 a.bits=4)",
				       k->name, cfg->v[i].text);
		return err_set(cause, "key '%s' does not apply to job=%s", k->name, job);
	}
	if (config_job(cfg) == CONFIG_JOB_PTQ) {
		if (!quantizing(cfg))
			return err_set(cause, "job=ptq quantizes: set w.bits and/or a.bits below 32 "
					      "(e.g. scheme=uniform w.bits=8 a.bits=8)");
		struct ptq_config pc;
		config_to_ptq(cfg, &pc);
		const char *bits[] = {"w.bits", "a.bits"};
		for (int k = 0; k < 2; k++) {
			long long b = config_get_int(cfg, bits[k]);
			if (b > 8 && b < 32)
				return err_set(cause, "%s=%lld: bits must be 1..8, or 32 for float",
					       bits[k], b);
		}
		if ((config_get_int(cfg, "w.bits") < 32 && !strcmp(pc.w_scheme, "float")) ||
		    (config_get_int(cfg, "a.bits") < 32 && !strcmp(pc.a_scheme, "float")))
			return err_set(cause, "w.bits/a.bits below 32 need a scheme: scheme=uniform, "
					      "pot, apot, lcq or qnn (or w.scheme/a.scheme)");
		if (ptq_check(&pc, cause) < 0)
			return -1;
	}
	if (config_job(cfg) == CONFIG_JOB_TRAIN) {
		const char *bits[] = {"w.bits", "a.bits", "g.bits"};
		for (int k = 0; k < 3; k++) {
			long long b = config_get_int(cfg, bits[k]);
			if (b > 8 && b < 32)
				return err_set(cause, "%s=%lld: bits must be 1..8, or 32 for float",
					       bits[k], b);
		}
		struct qat_config qc;
		config_to_qat(cfg, &qc);
		if (qat_check(&qc, cause) < 0)
			return -1;
		if ((config_get_int(cfg, "w.bits") < 32 && !strcmp(qc.w_scheme, "float")) ||
		    (config_get_int(cfg, "a.bits") < 32 && !strcmp(qc.a_scheme, "float")))
			return err_set(cause, "w.bits/a.bits below 32 need a scheme: scheme=uniform, "
					      "pot, apot, lcq or qnn (or w.scheme/a.scheme)");
	}
	const char *model = config_get(cfg, "model");
	if (config_job(cfg) != CONFIG_JOB_TRAIN) {
		for (const char *const *a = model_arch_names(); *a; a++)
			if (strcmp(*a, model) == 0)
				return err_set(cause,
					       "job=%s needs a trained model: model=FILE.h5 or "
					       "model=run:ID, not the untrained zoo model '%s'",
					       config_get(cfg, "job"), model);
	}
	return 0;
}

static int
config_index_checked(const char *key)
{
	int i = config_key_index(key);
	assert(i >= 0 && "key not in the table");
	return i < 0 ? 0 : i;
}

const char *
config_get(const struct config *cfg, const char *key)
{
	return cfg->v[config_index_checked(key)].text;
}

long long
config_get_int(const struct config *cfg, const char *key)
{
	return (long long)cfg->v[config_index_checked(key)].num;
}

double
config_get_float(const struct config *cfg, const char *key)
{
	return cfg->v[config_index_checked(key)].num;
}

int
config_get_bool(const struct config *cfg, const char *key)
{
	return cfg->v[config_index_checked(key)].num != 0;
}

int
config_is_set(const struct config *cfg, const char *key)
{
	return cfg->v[config_index_checked(key)].set;
}

void
config_unset(struct config *cfg, const char *key)
{
	int i = config_index_checked(key);
	const struct config_key *k = &config_keys[i];
	char *text = NULL, *why = NULL;
	double num = 0;
	if (k->type == CONFIG_STRING || config_parse(k, k->def, &text, &num, &why) < 0) {
		free(why);
		free(text);
		text = xstrdup(k->def);
	}
	free(cfg->v[i].text);
	cfg->v[i].text = text;
	cfg->v[i].num = num;
	cfg->v[i].set = 0;
}

int
config_drop_inert(struct config *cfg, char ***dropped, int *n)
{
	int count = 0;
	if (dropped)
		*dropped = NULL;
	for (int i = 0; i < CONFIG_NKEYS; i++) {
		const struct config_key *k = &config_keys[i];
		if (!cfg->v[i].set || !(k->jobs & config_job(cfg)) || config_applies(cfg, k))
			continue;
		const char *cond = unmet_condition(cfg, k);
		if (!k->quant && !(cond && *cond))
			continue;
		if (dropped) {
			*dropped = xrealloc(*dropped, (size_t)(count + 1) * sizeof **dropped);
			(*dropped)[count] = xstrdup(k->name);
		}
		count++;
	}
	/* unset after the loop: unsetting one key could change whether another applies */
	for (int i = 0; dropped && i < count; i++)
		config_unset(cfg, (*dropped)[i]);
	if (n)
		*n = count;
	return count;
}

static int
cmp_key_names(const void *a, const void *b)
{
	return strcmp(config_keys[*(const int *)a].name, config_keys[*(const int *)b].name);
}

/* Appends s to the growing buffer *buf (length *len, capacity *cap). */
static void
buf_add(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
	if (*len + n + 1 > *cap) {
		while (*len + n + 1 > *cap)
			*cap = *cap ? 2 * *cap : 256;
		*buf = xrealloc(*buf, *cap);
	}
	memcpy(*buf + *len, s, n);
	*len += n;
	(*buf)[*len] = '\0';
}

/* Appends s as a JSON string literal. */
static void
buf_add_json_string(char **buf, size_t *len, size_t *cap, const char *s)
{
	buf_add(buf, len, cap, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char esc[8];
		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			buf_add(buf, len, cap, esc, 2);
		} else if (*p < 0x20) {
			snprintf(esc, sizeof esc, "\\u%04x", *p);
			buf_add(buf, len, cap, esc, 6);
		} else {
			buf_add(buf, len, cap, (const char *)p, 1);
		}
	}
	buf_add(buf, len, cap, "\"", 1);
}

char *
config_json(const struct config *cfg)
{
	int order[CONFIG_NKEYS];
	for (int i = 0; i < CONFIG_NKEYS; i++)
		order[i] = i;
	qsort(order, CONFIG_NKEYS, sizeof order[0], cmp_key_names);
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int first = 1;
	buf_add(&buf, &len, &cap, "{", 1);
	for (int j = 0; j < CONFIG_NKEYS; j++) {
		int i = order[j];
		const struct config_key *k = &config_keys[i];
		if (!config_applies(cfg, k))
			continue;
		if (!first)
			buf_add(&buf, &len, &cap, ",", 1);
		first = 0;
		buf_add_json_string(&buf, &len, &cap, k->name);
		buf_add(&buf, &len, &cap, ":", 1);
		const char *t = cfg->v[i].text;
		if (k->type == CONFIG_ENUM || k->type == CONFIG_STRING)
			buf_add_json_string(&buf, &len, &cap, t);
		else
			buf_add(&buf, &len, &cap, t, strlen(t));
	}
	buf_add(&buf, &len, &cap, "}", 1);
	return buf;
}

/* 64-bit FNV-1a (Fowler, Noll, Vo), continuing from h. */
static uint64_t
fnv1a(uint64_t h, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		h ^= *p;
		h *= 0x100000001b3ULL;
	}
	return h;
}

void
config_hash(const struct config *cfg, char out[CONFIG_HASH_LEN + 1])
{
	char *json = config_json(cfg);
	uint64_t h = 0xcbf29ce484222325ULL;
	h = fnv1a(h, json);
	h = fnv1a(h, "\n");
	h = fnv1a(h, CONFIG_ENGINE_VERSION);
	snprintf(out, CONFIG_HASH_LEN + 1, "%016llx", (unsigned long long)h);
	free(json);
}

void
config_to_train_opts(const struct config *cfg, struct train_opts *o)
{
	train_opts_default(o);
	o->epochs = (int)config_get_int(cfg, "epochs");
	o->batch = (int)config_get_int(cfg, "batch");
	o->lr = config_get_float(cfg, "lr");
	o->optim = (enum optim_kind)config_get_int(cfg, "optim");
	o->momentum = config_get_float(cfg, "momentum");
	o->nesterov = config_get_bool(cfg, "nesterov");
	o->wd = config_get_float(cfg, "wd");
	o->sched = (enum sched_kind)config_get_int(cfg, "sched");
	o->warmup = config_get_float(cfg, "warmup");
	o->step_size = (int)config_get_int(cfg, "step.size");
	o->step_gamma = config_get_float(cfg, "step.gamma");
	o->loss = (enum loss_kind)config_get_int(cfg, "loss");
	o->aug_pad = (int)config_get_int(cfg, "aug.pad");
	o->aug_flip = config_get_bool(cfg, "aug.flip");
	o->seed = (uint64_t)config_get_int(cfg, "seed");
}

/* The scheme of role ("w." or "a."): its own key unless "same". */
static const char *
role_scheme(const struct config *cfg, const char *key)
{
	const char *s = config_get(cfg, key);
	return strcmp(s, "same") == 0 ? config_get(cfg, "scheme") : s;
}

void
config_to_qat(const struct config *cfg, struct qat_config *qc)
{
	memset(qc, 0, sizeof *qc);
	qc->w_scheme = role_scheme(cfg, "w.scheme");
	qc->a_scheme = role_scheme(cfg, "a.scheme");
	qc->w_bits = (int)config_get_int(cfg, "w.bits");
	qc->a_bits = (int)config_get_int(cfg, "a.bits");
	qc->g_bits = (int)config_get_int(cfg, "g.bits");
	const char *wv = config_get(cfg, "w.variant"), *av = config_get(cfg, "a.variant");
	qc->w_variant = strcmp(wv, "default") ? wv : NULL;
	qc->a_variant = strcmp(av, "default") ? av : NULL;
	qc->w_channel = strcmp(config_get(cfg, "w.gran"), "channel") == 0;
	/* by name: the key's value list need not follow the enum's order */
	qc->firstlast = (enum qat_firstlast)qat_firstlast_parse(config_get(cfg, "firstlast"));
	qc->lcq_gscale = (int)config_get_int(cfg, "lcq.gscale");
	qc->seed = (uint64_t)config_get_int(cfg, "seed");
}

/* The clip method of key (w.clip/a.clip; "same" = clip). */
static void
clip_of(const struct config *cfg, const char *key, struct clip_spec *out)
{
	const char *v = config_get(cfg, key);
	if (strcmp(v, "same") == 0)
		v = config_get(cfg, "clip");
	if (clip_parse(v, out, NULL) < 0)
		assert(0 && "clip values are checked when set");
}

void
config_to_ptq(const struct config *cfg, struct ptq_config *pc)
{
	struct qat_config qc;
	config_to_qat(cfg, &qc);
	ptq_config_default(pc);
	pc->w_scheme = qc.w_scheme;
	pc->a_scheme = qc.a_scheme;
	pc->w_bits = qc.w_bits;
	pc->a_bits = qc.a_bits;
	pc->w_channel = qc.w_channel;
	pc->firstlast = qc.firstlast;
	clip_of(cfg, "w.clip", &pc->w_clip);
	clip_of(cfg, "a.clip", &pc->a_clip);
	pc->a_signed = config_get_bool(cfg, "a.signed");
	pc->ocs_ratio = config_get_float(cfg, "ocs.ratio");
	pc->ocs_split = strcmp(config_get(cfg, "ocs.split"), "qa") == 0 ? OCS_SPLIT_QA
									 : OCS_SPLIT_NAIVE;
	pc->ocs_target = strcmp(config_get(cfg, "ocs.target"), "a") == 0 ? PTQ_OCS_ACTS
									  : PTQ_OCS_WEIGHTS;
	pc->ocs_clip_orig = strcmp(config_get(cfg, "ocs.clipsrc"), "orig") == 0;
	const char *b = config_get(cfg, "border");
	for (int i = 0; i < PTQ_BORDER_COUNT; i++)
		if (strcmp(b, ptq_border_names()[i]) == 0)
			pc->border = (enum ptq_border)i;
	pc->aquant_kind = strcmp(config_get(cfg, "aquant.kind"), "linear") == 0
				  ? ROUND_BORDER_LINEAR
				  : ROUND_BORDER_BIN;
	pc->aquant_mu = config_get_float(cfg, "aquant.mu");
	pc->calib_n = (int)config_get_int(cfg, "calib.n");
	pc->recon_iters = (int)config_get_int(cfg, "recon.iters");
	pc->recon_block = strcmp(config_get(cfg, "recon.mode"), "block") == 0;
	pc->recon_batch = (int)config_get_int(cfg, "recon.batch");
	pc->recon_lr = config_get_float(cfg, "recon.lr");
	pc->recon_lambda = config_get_float(cfg, "recon.lambda");
	pc->recon_drop = config_get_float(cfg, "recon.drop");
	pc->seed = (uint64_t)config_get_int(cfg, "seed");
}
