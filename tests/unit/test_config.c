/*
 * test_config: the key table's defaults, parsing into canonical text, every
 * kind of error with its exact message, canonical JSON independent of the
 * order keys are set in, a hash that changes with every value, and the
 * mapping to the engine's training options and post-training quantization
 * settings.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/model.h"
#include "engine/ptq/ptq.h"
#include "engine/train.h"
#include "engine/util.h"
#include "experiments/config.h"
#include "tests/unit/tap.h"

static const char default_json[] =
	"{\"aug.flip\":false,\"aug.pad\":0,\"batch\":128,\"bn\":\"standard\",\"dataset\":\"fmnist\",\"epochs\":10,"
	"\"job\":\"train\",\"loss\":\"xent\",\"lr\":0.05,\"model\":\"mlp\",\"momentum\":0.9,"
	"\"nesterov\":true,\"optim\":\"sgd\",\"sched\":\"cosine\",\"seed\":1,\"step.gamma\":0.1,"
	"\"step.size\":10,\"test.n\":0,\"threads\":0,\"train.n\":0,\"warmup\":1,\"wd\":0.0005}";

/* config_set(kv) must fail with exactly `want` and leave cfg's JSON unchanged. */
static void
check_error(struct config *cfg, const char *kv, const char *want)
{
	char *before = config_json(cfg);
	char *cause = NULL;
	int rc = config_set(cfg, kv, &cause);
	char *after = config_json(cfg);
	tap_ok(rc == -1, "'%s' is refused", kv);
	tap_eq_str(cause, want, "'%s': message", kv);
	tap_ok(strcmp(before, after) == 0, "'%s': configuration unchanged", kv);
	free(before);
	free(after);
	free(cause);
}

static void
check_value(const char *kv, const char *key, const char *want)
{
	struct config *cfg = config_new();
	char *cause = NULL;
	int rc = config_set(cfg, kv, &cause);
	tap_ok(rc == 0 && strcmp(config_get(cfg, key), want) == 0, "'%s' reads as '%s' (got '%s'%s%s)",
	       kv, want, config_get(cfg, key), cause ? ": " : "", cause ? cause : "");
	tap_ok(config_is_set(cfg, key), "'%s' marks %s as set", kv, key);
	free(cause);
	config_free(cfg);
}

/* A valid value for k other than its default (text in buf). */
static const char *
other_value(const struct config_key *k, char *buf, size_t n)
{
	switch (k->type) {
	case CONFIG_INT:
		snprintf(buf, n, "%lld", (long long)k->min + (atof(k->def) == k->min ? 1 : 0));
		return buf;
	case CONFIG_FLOAT:
		snprintf(buf, n, "%.17g", atof(k->def) == 0.25 * k->max ? 0.5 * k->max : 0.25 * k->max);
		return buf;
	case CONFIG_BOOL:
		return strcmp(k->def, "true") == 0 ? "false" : "true";
	case CONFIG_ENUM:
		return strcmp(k->values[0], k->def) == 0 ? k->values[1] : k->values[0];
	case CONFIG_STRING:
		if (strcmp(k->name, "model") == 0)
			return "run:3";
		return "idx:/nowhere";
	}
	return "";
}

static void
test_defaults(void)
{
	struct config *cfg = config_new();
	char *json = config_json(cfg);
	tap_eq_str(json, default_json, "default configuration as canonical JSON");
	free(json);
	int ok = 1;
	for (int i = 0; i < config_key_count(); i++) {
		const struct config_key *k = config_key_at(i);
		char *canon = NULL, *cause = NULL;
		if (k->type != CONFIG_STRING && (config_canonical(k->name, k->def, &canon, &cause) < 0 ||
						 strcmp(canon, k->def) != 0)) {
			tap_diag("default of %s: '%s' is not canonical (%s)", k->name, k->def,
				 cause ? cause : canon);
			ok = 0;
		}
		if (!k->help || !*k->help || config_is_set(cfg, k->name)) {
			tap_diag("key %s: no help, or set by default", k->name);
			ok = 0;
		}
		if (k->type == CONFIG_STRING && config_set_value(cfg, k->name, k->def, &cause) < 0) {
			tap_diag("default of %s is refused: %s", k->name, cause);
			ok = 0;
		}
		free(canon);
		free(cause);
	}
	tap_ok(ok, "every default is valid and canonical, every key has help");
	tap_ok(config_key_find("epochs") && !config_key_find("Epochs") && !config_key_find("epochs "),
	       "keys are found by exact name");

	struct train_opts want, got;
	train_opts_default(&want);
	config_to_train_opts(cfg, &got);
	tap_eq_int(got.epochs, want.epochs, "default epochs agree with the engine");
	tap_eq_int(got.batch, want.batch, "default batch agrees with the engine");
	tap_near(got.lr, want.lr, 0, "default lr agrees with the engine");
	tap_eq_int(got.optim, want.optim, "default optim agrees with the engine");
	tap_near(got.momentum, want.momentum, 0, "default momentum agrees with the engine");
	tap_eq_int(got.nesterov, want.nesterov, "default nesterov agrees with the engine");
	tap_near(got.wd, want.wd, 0, "default wd agrees with the engine");
	tap_eq_int(got.sched, want.sched, "default sched agrees with the engine");
	tap_near(got.warmup, want.warmup, 0, "default warmup agrees with the engine");
	tap_eq_int(got.step_size, want.step_size, "default step.size agrees with the engine");
	tap_near(got.step_gamma, want.step_gamma, 0, "default step.gamma agrees with the engine");
	tap_eq_int(got.loss, want.loss, "default loss agrees with the engine");
	tap_eq_int(got.aug_pad, want.aug_pad, "default aug.pad agrees with the engine");
	tap_eq_int(got.aug_flip, want.aug_flip, "default aug.flip agrees with the engine");
	tap_eq_int((long)got.seed, (long)want.seed, "default seed agrees with the engine");
	config_free(cfg);
}

static void
test_parse(void)
{
	check_value("epochs=3", "epochs", "3");
	check_value("epochs=+007", "epochs", "7");
	check_value("lr=.1", "lr", "0.1");
	check_value("lr=1e-3", "lr", "0.001");
	check_value("lr=0.00001", "lr", "1e-05");
	check_value("lr=2.50", "lr", "2.5");
	check_value("lr=10", "lr", "10");
	check_value("warmup=1000.0", "warmup", "1000");
	check_value("warmup=0.0001", "warmup", "0.0001");
	check_value("wd=0", "wd", "0");
	check_value("wd=-0", "wd", "0");
	check_value("momentum=0.95", "momentum", "0.95");
	check_value("nesterov=yes", "nesterov", "true");
	check_value("nesterov=1", "nesterov", "true");
	check_value("aug.flip=off", "aug.flip", "false");
	check_value("optim=adamax", "optim", "adamax");
	check_value("model=run:7", "model", "run:7");
	check_value("model=weights/best.h5", "model", "weights/best.h5");
	check_value("model=resnet20", "model", "resnet20");
	check_value("dataset=idx:/data/mnist", "dataset", "idx:/data/mnist");
	check_value("dataset=h5:x.h5", "dataset", "h5:x.h5");
	check_value("seed=4294967295", "seed", "4294967295");
	check_value("model=a=b.h5", "model", "a=b.h5");

	struct config *cfg = config_new();
	char *cause = NULL;
	config_set(cfg, "optim=adam", &cause);
	config_set(cfg, "sched=step", &cause);
	config_set(cfg, "loss=sqhinge", &cause);
	config_set(cfg, "aug.pad=4", &cause);
	config_set(cfg, "seed=99", &cause);
	config_set(cfg, "step.size=5", &cause);
	struct train_opts o;
	config_to_train_opts(cfg, &o);
	tap_ok(o.optim == OPTIM_ADAM && o.sched == SCHED_STEP && o.loss == LOSS_SQHINGE &&
		       o.aug_pad == 4 && o.seed == 99 && o.step_size == 5,
	       "values reach the training options");
	tap_eq_int(config_get_int(cfg, "aug.pad"), 4, "config_get_int");
	char *canon = NULL;
	tap_ok(config_canonical("lr", "1E-1", &canon, &cause) == 0 && strcmp(canon, "0.1") == 0,
	       "config_canonical");
	free(canon);
	config_free(cfg);
}

static void
test_errors(void)
{
	struct config *cfg = config_new();
	check_error(cfg, "epoch=3", "unknown key 'epoch' (did you mean 'epochs'?)");
	check_error(cfg, "step_size=3", "unknown key 'step_size' (did you mean 'step.size'?)");
	check_error(cfg, "colour=red", "unknown key 'colour'");
	check_error(cfg, "Epochs=3", "unknown key 'Epochs' (did you mean 'epochs'?)");
	check_error(cfg, "epochs", "expected key=value, got 'epochs'");
	check_error(cfg, "=3", "expected key=value, got '=3'");
	check_error(cfg, "epochs=1.5", "bad value '1.5' for epochs: expected an integer in 1..10000");
	check_error(cfg, "epochs=0", "bad value '0' for epochs: expected an integer in 1..10000");
	check_error(cfg, "epochs=", "bad value '' for epochs: expected an integer in 1..10000");
	check_error(cfg, "epochs= 3", "bad value ' 3' for epochs: expected an integer in 1..10000");
	check_error(cfg, "epochs=99999999999999999999",
		    "bad value '99999999999999999999' for epochs: expected an integer in 1..10000");
	check_error(cfg, "train.n=-1", "bad value '-1' for train.n: expected an integer >= 0");
	check_error(cfg, "lr=0", "bad value '0' for lr: expected a number in (0, 10]");
	check_error(cfg, "lr=fast", "bad value 'fast' for lr: expected a number in (0, 10]");
	check_error(cfg, "lr=nan", "bad value 'nan' for lr: expected a number in (0, 10]");
	check_error(cfg, "lr=inf", "bad value 'inf' for lr: expected a number in (0, 10]");
	check_error(cfg, "lr=0.1x", "bad value '0.1x' for lr: expected a number in (0, 10]");
	check_error(cfg, "momentum=1", "bad value '1' for momentum: expected a number in [0, 1)");
	check_error(cfg, "optim=adm",
		    "bad value 'adm' for optim: expected sgd, adam, adamax or shift-adamax (did you mean 'adam'?)");
	check_error(cfg, "optim=rmsprop", "bad value 'rmsprop' for optim: expected sgd, adam, adamax or shift-adamax");
	check_error(cfg, "sched=cosin",
		    "bad value 'cosin' for sched: expected constant, step or cosine (did you mean "
		    "'cosine'?)");
	check_error(cfg, "nesterov=maybe", "bad value 'maybe' for nesterov: expected true or false");
	check_error(cfg, "job=qat", "bad value 'qat' for job: expected train, eval or ptq");

	char *archs = xstrdup("");
	for (const char *const *a = model_arch_names(); *a; a++) {
		char *t = xasprintf("%s%s%s", archs, *archs ? (a[1] ? ", " : " or ") : "", *a);
		free(archs);
		archs = t;
	}
	char *want = xasprintf("bad value 'mpl' for model: expected a zoo model (%s), FILE.h5 or "
			       "run:ID (did you mean 'mlp'?)",
			       archs);
	check_error(cfg, "model=mpl", want);
	free(want);
	want = xasprintf("bad value 'vgg16-imagenet' for model: expected a zoo model (%s), FILE.h5 "
			 "or run:ID",
			 archs);
	check_error(cfg, "model=vgg16-imagenet", want);
	free(want);
	free(archs);
	check_error(cfg, "model=run:x", "bad value 'run:x' for model: run:ID needs a run number, as in run:7");
	check_error(cfg, "model=run:0", "bad value 'run:0' for model: run:ID needs a run number, as in run:7");
	check_error(cfg, "model=", "bad value '' for model: expected ZOO, FILE.h5 or run:ID");
	check_error(cfg, "dataset=mnist",
		    "bad value 'mnist' for dataset: expected fmnist, idx:DIR or h5:FILE (did you mean "
		    "'fmnist'?)");
	check_error(cfg, "dataset=idx:", "bad value 'idx:' for dataset: expected fmnist, idx:DIR or h5:FILE");

	/* whole-configuration checks */
	char *cause = NULL;
	tap_eq_int(config_check(cfg, &cause), 0, "defaults pass config_check");
	config_set(cfg, "epochs=3", &cause);
	config_set(cfg, "job=eval", &cause);
	config_set(cfg, "model=run:1", &cause);
	tap_eq_int(config_check(cfg, &cause), -1, "a training key in an eval job is refused");
	tap_eq_str(cause, "key 'epochs' does not apply to job=eval", "training key in eval: message");
	free(cause);
	cause = NULL;
	config_free(cfg);
	cfg = config_new();
	config_set(cfg, "job=eval", &cause);
	tap_eq_int(config_check(cfg, &cause), -1, "eval of an untrained zoo model is refused");
	tap_eq_str(cause,
		   "job=eval needs a trained model: model=FILE.h5 or model=run:ID, not the untrained "
		   "zoo model 'mlp'",
		   "untrained eval: message");
	free(cause);
	config_free(cfg);
}

static void
test_canonical_json(void)
{
	const char *a[] = {"lr=0.1", "epochs=3", "optim=adam", "model=cnn", "seed=7", "wd=1e-4"};
	const int n = (int)(sizeof a / sizeof a[0]);
	struct config *c1 = config_new(), *c2 = config_new();
	char *cause = NULL;
	for (int i = 0; i < n; i++) {
		config_set(c1, a[i], &cause);
		config_set(c2, a[n - 1 - i], &cause);
	}
	char *j1 = config_json(c1), *j2 = config_json(c2);
	tap_eq_str(j2, j1, "canonical JSON does not depend on the order keys are set in");
	char h1[CONFIG_HASH_LEN + 1], h2[CONFIG_HASH_LEN + 1];
	config_hash(c1, h1);
	config_hash(c2, h2);
	tap_eq_str(h2, h1, "nor does the hash");
	int hex = strlen(h1) == CONFIG_HASH_LEN;
	for (const char *p = h1; *p; p++)
		hex &= (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f');
	tap_ok(hex, "hash is %d lowercase hex digits (%s)", CONFIG_HASH_LEN, h1);
	config_set(c2, "lr=.1", &cause);
	config_set(c2, "wd=0.0001", &cause);
	config_hash(c2, h2);
	tap_eq_str(h2, h1, "equal values spelt differently hash the same");
	struct config *c3 = config_dup(c1);
	char *j3 = config_json(c3);
	tap_eq_str(j3, j1, "config_dup copies every value");
	free(j1);
	free(j2);
	free(j3);
	config_free(c1);
	config_free(c2);
	config_free(c3);

	struct config *e = config_new();
	config_set(e, "job=eval", &cause);
	config_set(e, "model=run:2", &cause);
	char *je = config_json(e);
	tap_eq_str(je,
		   "{\"dataset\":\"fmnist\",\"eval.batch\":256,\"job\":\"eval\",\"loss\":\"xent\","
		   "\"model\":\"run:2\",\"test.n\":0,\"threads\":0}",
		   "an eval configuration holds only the keys that apply to eval");
	free(je);
	config_free(e);

	struct config *s = config_new();
	config_set(s, "model=odd \"name\"\\.h5", &cause);
	char *js = config_json(s);
	tap_ok(strstr(js, "\"model\":\"odd \\\"name\\\"\\\\.h5\"") != NULL,
	       "strings are escaped in JSON (%s)", js);
	free(js);
	config_free(s);
	free(cause);
}

static void
test_hash_changes(void)
{
	for (int job = 0; job < 2; job++) {
		struct config *base = config_new();
		char *cause = NULL;
		if (job == 1) {
			config_set(base, "job=eval", &cause);
			config_set(base, "model=x.h5", &cause);
		}
		char h0[CONFIG_HASH_LEN + 1];
		config_hash(base, h0);
		int changed = 0, unchanged = 0, total = 0;
		for (int i = 0; i < config_key_count(); i++) {
			const struct config_key *k = config_key_at(i);
			if (strcmp(k->name, "job") == 0)
				continue;
			struct config *c = config_dup(base);
			char buf[64], h[CONFIG_HASH_LEN + 1];
			const char *v = other_value(k, buf, sizeof buf);
			if (config_set_value(c, k->name, v, &cause) < 0) {
				tap_diag("%s=%s refused: %s", k->name, v, cause);
				config_free(c);
				continue;
			}
			config_hash(c, h);
			int differs = strcmp(h, h0) != 0;
			int applies = config_applies(c, k);
			if (applies && !differs)
				tap_diag("%s=%s does not change the hash", k->name, v);
			if (!applies && differs)
				tap_diag("%s=%s changes the hash of a job it does not apply to", k->name, v);
			changed += applies && differs;
			unchanged += !applies && !differs;
			total++;
			config_free(c);
		}
		tap_eq_int(changed + unchanged, total,
			   "%s: every key that applies changes the hash, the others do not",
			   job ? "eval" : "train");
		free(cause);
		config_free(base);
	}
	struct config *c = config_new();
	char *cause = NULL, h0[CONFIG_HASH_LEN + 1], h1[CONFIG_HASH_LEN + 1];
	config_hash(c, h0);
	config_set(c, "lr=0.05000000000000001", &cause);
	config_hash(c, h1);
	tap_ok(strcmp(h0, h1) != 0 && strcmp(config_get(c, "lr"), "0.05") != 0,
	       "the last bit of a float changes the hash (lr %s)", config_get(c, "lr"));
	free(cause);
	config_free(c);
}

static void
test_table(void)
{
	int ok = 1;
	for (int i = 0; i < config_key_count(); i++) {
		const struct config_key *k = config_key_at(i);
		char *allowed = config_key_allowed(k);
		ok &= allowed && *allowed && config_key_find(k->name) == k;
		free(allowed);
	}
	tap_ok(ok, "every key describes its values and is found by name");
	char *a = config_key_allowed(config_key_find("optim"));
	tap_eq_str(a, "sgd, adam, adamax or shift-adamax", "allowed values of an enum");
	free(a);
	tap_eq_str(config_nearest_key("test_n"), "test.n", "nearest key");
	tap_ok(strstr(config_engine_version(), PACKAGE_VERSION) != NULL, "engine version '%s'",
	       config_engine_version());
}

/* A configuration from key=value texts (each must be accepted). */
static struct config *
config_of(const char *const *kv, int n)
{
	struct config *cfg = config_new();
	for (int i = 0; i < n; i++) {
		char *cause = NULL;
		if (config_set(cfg, kv[i], &cause) < 0) {
			tap_diag("'%s': %s", kv[i], cause);
			free(cause);
		}
	}
	return cfg;
}

/* config_check of kv must fail with exactly want. */
static void
check_whole(const char *const *kv, int n, const char *want, const char *what)
{
	struct config *cfg = config_of(kv, n);
	char *cause = NULL;
	int rc = config_check(cfg, &cause);
	tap_ok(rc == -1, "%s is refused", what);
	tap_eq_str(cause, want, "%s: message", what);
	free(cause);
	config_free(cfg);
}

/* The post-training quantization keys: which job they apply to, checks, config_to_ptq. */
static void
test_ptq_keys(void)
{
	const char *no_bits[] = {"job=ptq", "model=run:1"};
	check_whole(no_bits, 2,
		    "job=ptq quantizes: set w.bits and/or a.bits below 32 (e.g. scheme=uniform "
		    "w.bits=8 a.bits=8)",
		    "job=ptq without bits");
	const char *no_bits_border[] = {"job=ptq", "model=run:1", "border=adaround"};
	check_whole(no_bits_border, 3,
		    "border=adaround has no effect: nothing is quantized (set w.bits and/or a.bits "
		    "below 32, e.g. w.bits=4 a.bits=4)",
		    "job=ptq with border= but no bits");
	const char *in_train[] = {"scheme=uniform", "w.bits=4", "border=adaround"};
	check_whole(in_train, 3, "key 'border' does not apply to job=train",
		    "a ptq key in a train job");
	const char *calib_train[] = {"scheme=uniform", "w.bits=4", "calib.n=64"};
	check_whole(calib_train, 3, "key 'calib.n' does not apply to job=train",
		    "calib.n in a train job");
	const char *variant_ptq[] = {"job=ptq", "model=run:1", "scheme=uniform", "w.bits=4",
				     "w.variant=lsq"};
	check_whole(variant_ptq, 5, "key 'w.variant' does not apply to job=ptq",
		    "a training-only quantization key in a ptq job");
	const char *zoo[] = {"job=ptq", "model=cnn", "scheme=uniform", "w.bits=8"};
	check_whole(zoo, 4,
		    "job=ptq needs a trained model: model=FILE.h5 or model=run:ID, not the "
		    "untrained zoo model 'cnn'",
		    "ptq of a zoo model");
	const char *apot[] = {"job=ptq", "model=run:1", "scheme=uniform", "w.bits=4", "a.bits=4",
			      "a.scheme=apot", "border=aquant"};
	check_whole(apot, 7,
		    "border=aquant learns borders on a uniform grid: a.scheme=apot is not uniform",
		    "border=aquant with a.scheme=apot");
	const char *wide[] = {"job=ptq", "model=run:1", "scheme=uniform", "w.bits=12"};
	check_whole(wide, 4, "w.bits=12: bits must be 1..8, or 32 for float", "ptq w.bits=12");
	const char *schemeless[] = {"job=ptq", "model=run:1", "w.bits=8"};
	check_whole(schemeless, 3,
		    "w.bits/a.bits below 32 need a scheme: scheme=uniform, pot, apot, lcq or qnn (or "
		    "w.scheme/a.scheme)",
		    "ptq bits without a scheme");
	const char *good[] = {"job=ptq", "model=run:1", "scheme=uniform", "w.bits=8", "a.bits=8",
			      "border=adaround", "clip=mse"};
	struct config *cfg = config_of(good, 7);
	char *cause = NULL;
	tap_ok(config_check(cfg, &cause) == 0, "a ptq configuration passes config_check%s%s",
	       cause ? ": " : "", cause ? cause : "");
	free(cause);
	cause = NULL;
	char *json = config_json(cfg);
	tap_ok(strstr(json, "\"border\":\"adaround\"") && strstr(json, "\"calib.n\":1024") &&
		       strstr(json, "\"clip\":\"mse\"") && !strstr(json, "\"epochs\"") &&
		       !strstr(json, "\"g.bits\""),
	       "ptq JSON: its keys with defaults, no training keys: %s", json);
	free(json);
	config_free(cfg);

	cfg = config_new();
	check_error(cfg, "clip=msee", "bad value 'msee' for clip: unknown clip method 'msee' (did "
				      "you mean 'mse'?)");
	check_error(cfg, "w.clip=pct:101",
		    "bad value 'pct:101' for w.clip: clip method 'pct:101': the percentile P of "
		    "pct:P must be a number with 0 < P <= 100");
	check_error(cfg, "border=adarond",
		    "bad value 'adarond' for border: expected nearest, stochastic, adaround or "
		    "aquant (did you mean 'adaround'?)");
	check_error(cfg, "ocs.ratio=1.5", "bad value '1.5' for ocs.ratio: expected a number in [0, 1]");
	check_error(cfg, "recon.drop=0", "bad value '0' for recon.drop: expected a number in (0, 1]");
	check_error(cfg, "calib.n=0", "bad value '0' for calib.n: expected an integer in 1..1000000");
	/* "same" names the clip key itself; clip has nothing to be the same as */
	int rc = config_set(cfg, "clip=same", &cause);
	tap_ok(rc == -1 && cause && strstr(cause, "clip"), "clip=same is refused: %s",
	       cause ? cause : "(accepted)");
	free(cause);
	cause = NULL;
	config_free(cfg);

	/* w.clip=same and a.clip=same resolve to clip */
	const char *same[] = {"job=ptq", "model=run:1", "scheme=uniform", "w.bits=4",
			      "clip=pct:99.5", "a.clip=kl"};
	cfg = config_of(same, 6);
	struct ptq_config pc;
	config_to_ptq(cfg, &pc);
	tap_ok(pc.w_clip.method == CLIP_PCT && pc.w_clip.pct == 99.5 && pc.a_clip.method == CLIP_KL,
	       "w.clip=same is clip (pct:99.5); a.clip=kl is its own");
	config_free(cfg);

	/* every key reaches its field */
	const char *all[] = {"job=ptq",	       "model=run:1",	  "scheme=uniform",
			     "w.scheme=apot",  "w.bits=4",	  "a.bits=6",
			     "w.gran=channel", "firstlast=fp",	  "clip=aciq:orig",
			     "w.clip=mse",     "a.signed=true",	  "ocs.ratio=0.05",
			     "ocs.split=qa",   "ocs.target=a",	  "ocs.clipsrc=orig",
			     "border=aquant",  "aquant.kind=linear", "aquant.mu=0.5",
			     "calib.n=64",     "recon.iters=123", "recon.mode=block",
			     "recon.batch=16", "recon.lr=0.01",	  "recon.lambda=0.1",
			     "recon.drop=0.75", "seed=9"};
	cfg = config_of(all, (int)(sizeof all / sizeof all[0]));
	config_to_ptq(cfg, &pc);
	tap_ok(strcmp(pc.w_scheme, "apot") == 0 && strcmp(pc.a_scheme, "uniform") == 0 &&
		       pc.w_bits == 4 && pc.a_bits == 6 && pc.w_channel == 1 &&
		       pc.firstlast == QAT_FIRSTLAST_FP,
	       "config_to_ptq: schemes, bits, granularity, firstlast");
	tap_ok(pc.w_clip.method == CLIP_MSE && pc.a_clip.method == CLIP_ACIQ &&
		       pc.a_clip.table == CLIP_ACIQ_ORIG && pc.a_signed == 1,
	       "config_to_ptq: w.clip, a.clip (= clip), a.signed");
	tap_ok(pc.ocs_ratio == 0.05 && pc.ocs_split == OCS_SPLIT_QA &&
		       pc.ocs_target == PTQ_OCS_ACTS && pc.ocs_clip_orig == 1,
	       "config_to_ptq: ocs.ratio, ocs.split, ocs.target, ocs.clipsrc");
	tap_ok(pc.border == PTQ_AQUANT && pc.aquant_kind == ROUND_BORDER_LINEAR &&
		       pc.aquant_mu == 0.5,
	       "config_to_ptq: border, aquant.kind, aquant.mu");
	tap_ok(pc.calib_n == 64 && pc.recon_iters == 123 && pc.recon_block == 1 &&
		       pc.recon_batch == 16 && pc.recon_lr == 0.01 && pc.recon_lambda == 0.1 &&
		       pc.recon_drop == 0.75 && pc.seed == 9,
	       "config_to_ptq: calib.n, recon.*, seed");
	config_free(cfg);

	/* the keys' defaults are the engine's */
	const char *dflt[] = {"job=ptq", "model=run:1", "scheme=uniform", "w.bits=8"};
	cfg = config_of(dflt, 4);
	config_to_ptq(cfg, &pc);
	struct ptq_config want;
	ptq_config_default(&want);
	tap_ok(pc.a_bits == 32 && pc.firstlast == want.firstlast &&
		       pc.w_clip.method == want.w_clip.method &&
		       pc.a_clip.method == want.a_clip.method && pc.a_signed == want.a_signed &&
		       pc.ocs_ratio == want.ocs_ratio && pc.ocs_split == want.ocs_split &&
		       pc.ocs_target == want.ocs_target && pc.ocs_clip_orig == want.ocs_clip_orig &&
		       pc.border == want.border && pc.aquant_kind == want.aquant_kind &&
		       pc.aquant_mu == want.aquant_mu && pc.calib_n == want.calib_n &&
		       pc.recon_iters == want.recon_iters && pc.recon_block == want.recon_block &&
		       pc.recon_batch == want.recon_batch && pc.recon_lr == want.recon_lr &&
		       pc.recon_lambda == want.recon_lambda && pc.recon_drop == want.recon_drop,
	       "config_to_ptq of the defaults is ptq_config_default");
	config_free(cfg);
}

/* Keys without effect on a configuration are left out; unset keys read their default. */
static void
test_drop_inert(void)
{
	struct config *c = config_new();
	char *cause = NULL, **dropped = NULL;
	int n = -1;
	config_set(c, "job=ptq", &cause);
	config_set(c, "model=run:1", &cause);
	config_set(c, "scheme=uniform", &cause);
	config_set(c, "w.bits=4", &cause);
	config_set(c, "recon.iters=5", &cause);
	config_set(c, "ocs.split=qa", &cause);
	config_set(c, "calib.n=64", &cause);
	tap_eq_int(config_drop_inert(c, NULL, NULL), 2, "two keys have no effect (counted only)");
	tap_ok(config_is_set(c, "recon.iters"), "counting changes nothing");
	tap_eq_int(config_drop_inert(c, &dropped, &n), 2, "two keys left out");
	tap_ok(n == 2 && dropped && !strcmp(dropped[0], "ocs.split") &&
		       !strcmp(dropped[1], "recon.iters"),
	       "they are ocs.split and recon.iters");
	tap_ok(!config_is_set(c, "recon.iters") && !strcmp(config_get(c, "recon.iters"), "2000"),
	       "a left-out key is unset, at its default");
	tap_ok(config_is_set(c, "calib.n"), "a key with effect stays");
	tap_eq_int(config_check(c, &cause), 0, "the configuration is then valid");
	for (int i = 0; i < n; i++)
		free(dropped[i]);
	free(dropped);
	config_set(c, "w.bits=32", &cause);
	tap_eq_int(config_drop_inert(c, NULL, NULL), 3,
		   "nothing quantized: scheme, w.bits=32 and calib.n have no effect");
	free(cause);
	config_free(c);
}

int
main(void)
{
	test_defaults();
	test_parse();
	test_errors();
	test_canonical_json();
	test_hash_changes();
	test_table();
	test_ptq_keys();
	test_drop_inert();
	return tap_done();
}
