/*
 * config: the configuration-key vocabulary (one table for the command line,
 * sweeps, the database and exports) and configurations built from it.
 *
 * A configuration holds one value for every key of the table, as canonical
 * text: defaults until config_set() changes them. Values are validated when
 * set; config_check() then validates the configuration as a whole (keys that
 * do not apply to its job, a model an eval job cannot use). The canonical
 * JSON of a configuration has the keys that apply to its job, sorted, with
 * defaults filled in and numbers formatted canonically, so two equal
 * configurations give byte-equal JSON and the same hash (the run key).
 *
 * Nothing here prints or exits: errors come back as -1 and a message in *cause.
 */
#ifndef QB_CONFIG_H
#define QB_CONFIG_H

#include <stddef.h>

struct train_opts;
struct qat_config;
struct ptq_config;
struct config;

enum config_type { CONFIG_INT, CONFIG_FLOAT, CONFIG_BOOL, CONFIG_ENUM, CONFIG_STRING };

/* The jobs a key applies to (bit mask). */
enum config_job { CONFIG_JOB_TRAIN = 1, CONFIG_JOB_EVAL = 2, CONFIG_JOB_PTQ = 4 };
#define CONFIG_JOB_ALL (CONFIG_JOB_TRAIN | CONFIG_JOB_EVAL | CONFIG_JOB_PTQ)

/* Range ends excluded, for CONFIG_FLOAT (bit mask). */
enum config_open { CONFIG_OPEN_MIN = 1, CONFIG_OPEN_MAX = 2 };

/* One key of the vocabulary (a row of the static table in config.c). */
struct config_key {
	const char *name;
	enum config_type type;
	const char *def;	   /* default, as canonical text */
	double min, max;	   /* CONFIG_INT, CONFIG_FLOAT: allowed range */
	int open;		   /* CONFIG_FLOAT: enum config_open bits */
	const char *const *values; /* CONFIG_ENUM: allowed values, NULL-terminated */
	unsigned jobs;		   /* enum config_job bits */
	const char *values_help;   /* CONFIG_STRING: what is allowed, for help */
	const char *help;
	/* CONFIG_STRING: validator; on a bad value returns -1 with *cause saying
	 * what is allowed (the caller prefixes the key and the value). */
	int (*check)(const char *value, char **cause);
	/* a quantization key: applies only when w.bits, a.bits or g.bits < 32 */
	int quant;
};

/* Length of a configuration hash in hex digits. */
#define CONFIG_HASH_LEN 16

/* The key table: count, i-th key (i in [0, count)), and lookup by name (NULL if none). */
int config_key_count(void);
const struct config_key *config_key_at(int i);
const struct config_key *config_key_find(const char *name);
/* The key nearest to an unknown name, for "did you mean" (NULL when none is close). */
const char *config_nearest_key(const char *name);
/* What values key k allows, e.g. "an integer in 1..10000" (malloc'd; caller frees). */
char *config_key_allowed(const struct config_key *k);
/*
 * Writes the canonical text of a number into buf (n bytes): the shortest %g
 * text that reads back as v, without an exponent when the decimal exponent is
 * in [-4, 17), "0" for zeros. Used for float values, JSON and exports.
 */
void config_format_double(char *buf, size_t n, double v);
/* The string hashed with every configuration: qbench's engine version (static). */
const char *config_engine_version(void);

/* A configuration with every key at its default. Never NULL; free with config_free(). */
struct config *config_new(void);
/* A copy of cfg (free with config_free()). */
struct config *config_dup(const struct config *cfg);
void config_free(struct config *cfg);

/*
 * Sets one key from "key=value" text. Returns 0, or -1 with *cause for text
 * without '=', an unknown key ("unknown key 'epoch' (did you mean 'epochs'?)")
 * or a bad value (naming the key, the value, what is allowed and the nearest
 * allowed value); cfg is unchanged on error.
 */
int config_set(struct config *cfg, const char *kv, char **cause);
/* Like config_set with the key and the value apart. */
int config_set_value(struct config *cfg, const char *key, const char *value, char **cause);

/*
 * Checks the configuration as a whole: every key set explicitly must apply
 * to the job, and an eval job needs model=FILE.h5 or model=run:ID. Returns 0,
 * or -1 with *cause naming the key.
 */
int config_check(const struct config *cfg, char **cause);

/*
 * Canonical text of value for key (e.g. "0.1" for lr=.1, "true" for a bool
 * given as "yes"): malloc'd into *out. -1 with *cause as config_set would.
 */
int config_canonical(const char *key, const char *value, char **out, char **cause);

/* Canonical text of key's value (owned by cfg). key must be in the table (asserted). */
const char *config_get(const struct config *cfg, const char *key);
long long config_get_int(const struct config *cfg, const char *key);
double config_get_float(const struct config *cfg, const char *key);
int config_get_bool(const struct config *cfg, const char *key);
/* Nonzero when key was given by config_set (not left at its default). */
int config_is_set(const struct config *cfg, const char *key);
/* Puts key back to its default and marks it not set. key must be in the table. */
void config_unset(struct config *cfg, const char *key);
/*
 * Unsets the keys that are set and belong to cfg's job but have no effect in
 * it (recon.* without a learned border, ocs.split without ocs.ratio > 0, a
 * quantization key when nothing is quantized): what a sweep does for the
 * points its lines do not concern. Their names go to *dropped (an array of n
 * malloc'd strings the caller frees, NULL when none). Returns how many. With
 * dropped NULL, only counts them and changes nothing.
 */
int config_drop_inert(struct config *cfg, char ***dropped, int *n);
/* Nonzero when key k applies to cfg's job (and so is part of its JSON and hash). */
int config_applies(const struct config *cfg, const struct config_key *k);

/* Canonical JSON of cfg, one line, no spaces (malloc'd; caller frees). */
char *config_json(const struct config *cfg);
/*
 * Content hash of cfg: 64-bit FNV-1a of the canonical JSON, a newline and
 * config_engine_version(), as CONFIG_HASH_LEN lowercase hex digits in out.
 */
void config_hash(const struct config *cfg, char out[CONFIG_HASH_LEN + 1]);

/*
 * Training options from cfg: train_opts_default(), then every key that maps
 * to a field (epochs, batch, lr, optim, momentum, nesterov, wd, sched, warmup,
 * step.size, step.gamma, loss, aug.pad, aug.flip, seed). Never fails.
 */
void config_to_train_opts(const struct config *cfg, struct train_opts *opts);

/*
 * Quantization settings from cfg (scheme, w./a.scheme, w./a./g.bits,
 * w./a.variant, w.gran, firstlast, lcq.gscale, seed). Strings point into cfg.
 */
void config_to_qat(const struct config *cfg, struct qat_config *qc);

/*
 * Post-training quantization settings from cfg (the keys of config_to_qat
 * that apply, clip, w.clip, a.clip, a.signed, ocs.*, border, aquant.*,
 * calib.n, recon.*, seed). The strings point into cfg.
 */
void config_to_ptq(const struct config *cfg, struct ptq_config *pc);

#endif
