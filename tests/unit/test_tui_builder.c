/*
 * test_tui_builder: the Sweep builder's model (app/tui/builder.c), without
 * curses: loading the shipped sweeps and getting back the same sweep,
 * toggling axis values and the point count, free lines and directives kept
 * in order, completion of keys and values, the sweep parser's messages for
 * bad lines, the summary against a database where some points are done, and
 * saving through a temporary file.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "app/tui/builder.h"
#include "db/db.h"
#include "db/runs.h"
#include "engine/util.h"
#include "experiments/config.h"
#include "experiments/runner.h"
#include "experiments/sweep.h"
#include "tests/unit/tap.h"

static const char *const shipped[] = {"quick", "apot-vs-uniform", "lcq", "qnn", "ocs-vs-clip",
				      "borders"};

static char *
read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = xmalloc(1 << 20);
	size_t n = fread(buf, 1, (1 << 20) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* The spec of text parsed as sweep name (malloc'd), or the parser's message. */
static char *
spec_of(const char *name, const char *text)
{
	struct sweep *s = NULL;
	char *cause = NULL, *file = xasprintf("%s.sweep", name);
	char *spec = sweep_parse_text(&s, file, name, text, &cause) == 0 ? xstrdup(sweep_spec(s))
									  : cause;
	if (s)
		free(cause);
	sweep_free(s);
	free(file);
	return spec;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * The expanded points of text, one line each (the configuration's JSON and
 * its parent's), sorted: the same set for two texts of the same sweep.
 */
static char *
points_of(const char *text)
{
	struct sweep *s = NULL;
	struct sweep_points pts = {0};
	char *cause = NULL, *out;
	if (sweep_parse_text(&s, "t.sweep", "t", text, &cause) < 0 ||
	    sweep_expand(s, &pts, &cause) < 0) {
		sweep_free(s);
		return cause;
	}
	char **v = xmalloc(((size_t)pts.n + 1) * sizeof *v);
	for (int i = 0; i < pts.n; i++) {
		char *a = config_json(pts.v[i].cfg);
		char *p = pts.v[i].parent ? config_json(pts.v[i].parent) : xstrdup("-");
		v[i] = xasprintf("%s %s\n", a, p);
		free(a);
		free(p);
	}
	qsort(v, (size_t)pts.n, sizeof *v, cmp_str);
	out = xstrdup("");
	for (int i = 0; i < pts.n; i++) {
		char *t = xasprintf("%s%s", out, v[i]);
		free(out);
		free(v[i]);
		out = t;
	}
	free(v);
	sweep_points_done(&pts);
	sweep_free(s);
	return out;
}

/* The values on of axis key, "2,3,4" (static buffer). */
static const char *
on_values(const struct tui_builder *b, const char *key)
{
	static char buf[256];
	int a = tui_builder_axis_find(b, key);
	buf[0] = '\0';
	for (int i = 0; a >= 0 && i < tui_builder_value_count(b, a); i++)
		if (tui_builder_value_on(b, a, i))
			snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s", buf[0] ? "," : "",
				 tui_builder_value(b, a, i));
	return buf;
}

/* Index of value among the candidates of axis key (-1 when missing). */
static int
value_index(const struct tui_builder *b, const char *key, const char *value)
{
	int a = tui_builder_axis_find(b, key);
	for (int i = 0; a >= 0 && i < tui_builder_value_count(b, a); i++)
		if (strcmp(tui_builder_value(b, a, i), value) == 0)
			return i;
	return -1;
}

static void
toggle(struct tui_builder *b, const char *key, const char *value)
{
	int a = tui_builder_axis_find(b, key), i = value_index(b, key, value);
	if (a < 0 || i < 0) {
		tap_ok(0, "%s=%s is a candidate", key, value);
		return;
	}
	tui_builder_toggle(b, a, i);
}

/* Sets key=value on b; a failure is a failed check. */
static void
set(struct tui_builder *b, const char *key, const char *value)
{
	char *cause = NULL;
	if (tui_builder_set(b, key, value, &cause) < 0)
		tap_ok(0, "set %s=%s: %s", key, value ? value : "(unset)", cause);
	free(cause);
}

static void
test_shipped(void)
{
	for (size_t i = 0; i < sizeof shipped / sizeof shipped[0]; i++) {
		char rel[64], *cause = NULL;
		snprintf(rel, sizeof rel, "experiments/%s.sweep", shipped[i]);
		char *orig = read_file(tap_srcpath(rel));
		struct tui_builder *b = tui_builder_new();
		int rc = tui_builder_load_file(b, tap_srcpath(rel), &cause);
		tap_ok(orig && rc == 0, "%s: loads (%s)", shipped[i], cause ? cause : "ok");
		char *text = tui_builder_text(b);
		char *want = points_of(orig ? orig : ""), *got = points_of(text);
		tap_ok(strcmp(got, want) == 0 && strchr(want, '{'),
		       "%s: the builder's text expands to the same points", shipped[i]);
		tap_eq_str(tui_builder_name(b), shipped[i], "%s: named after its file", shipped[i]);
		tap_ok(!tui_builder_modified(b), "%s: not modified after loading", shipped[i]);
		struct tui_builder *c = tui_builder_new();
		char *again = NULL;
		if (tui_builder_load_text(c, shipped[i], text, &cause) == 0)
			again = tui_builder_text(c);
		tap_eq_str(again, text, "%s: loading the builder's text gives it back", shipped[i]);
		free(again);
		free(want);
		free(got);
		free(text);
		free(orig);
		free(cause);
		tui_builder_free(b);
		tui_builder_free(c);
	}
}

static void
test_quick(void)
{
	const char *path = tap_srcpath("experiments/quick.sweep");
	struct tui_builder *b = tui_builder_new();
	char *cause = NULL, *orig = read_file(path);
	tap_eq_int(tui_builder_default(b, path, &cause), 0, "the default state loads quick.sweep");
	char *text = tui_builder_text(b);
	char *want = spec_of("quick", orig ? orig : ""), *got = spec_of("quick", text);
	tap_eq_str(got, want, "quick: the builder's text has the same spec");
	tap_eq_str(text, want, "quick: the builder's text is the canonical spec");
	tap_eq_str(tui_builder_get(b, "job"), "ptq", "quick: job");
	tap_eq_str(tui_builder_get(b, "model"), "cnn", "quick: model");
	tap_ok(tui_builder_get(b, "dataset") == NULL, "quick: dataset unset");
	tap_eq_str(on_values(b, "w.scheme"), "uniform,pot,apot", "quick: w.scheme axis");
	tap_eq_str(on_values(b, "w.bits"), "2,3,4", "quick: w.bits axis");
	tap_eq_str(on_values(b, "a.bits"), "8", "quick: a.bits single value");
	tap_eq_str(on_values(b, "w.clip"), "mse", "quick: w.clip");
	tap_eq_str(on_values(b, "ocs.ratio"), "0,0.02", "quick: ocs.ratio");
	tap_eq_str(on_values(b, "border"), "nearest,adaround", "quick: border");
	tap_eq_str(on_values(b, "seed"), "", "quick: no seed");
	tap_eq_int(tui_builder_line_count(b), 3, "quick: three free lines");
	if (tui_builder_line_count(b) == 3) {
		tap_eq_str(tui_builder_line(b, 0), "recon.iters=300", "quick: free line 1");
		tap_eq_str(tui_builder_line(b, 1), "calib.n=512", "quick: free line 2");
		tap_eq_str(tui_builder_line(b, 2),
			   ":where ocs.ratio=0 and border=nearest or w.scheme=uniform and w.bits=3",
			   "quick: the :where line last");
	}
	/* candidates: the table's, in numeric order */
	int a = tui_builder_axis_find(b, "w.bits");
	tap_eq_int(tui_builder_value_count(b, a), 9, "w.bits: 1..8 and 32");
	tap_eq_str(tui_builder_value(b, a, 8), "32", "w.bits: 32 last");
	a = tui_builder_axis_find(b, "g.bits");
	tap_eq_str(a >= 0 ? tui_builder_value(b, a, 0) : "", "2", "g.bits: 1 is not allowed");
	a = tui_builder_axis_find(b, "clip");
	tap_eq_str(a >= 0 ? tui_builder_value(b, a, 1) : "", "pct:99.9", "clip: the methods");
	a = tui_builder_axis_find(b, "ocs.ratio");
	tap_eq_int(tui_builder_value_count(b, a), 5, "ocs.ratio: five candidates");
	tap_ok(tui_builder_axis_find(b, "lr") < 0, "lr is not an axis");
	free(want);
	free(got);
	free(text);
	free(orig);
	free(cause);
	tui_builder_free(b);
}

static void
test_toggle(void)
{
	struct tui_builder *b = tui_builder_new();
	char *text;
	set(b, "job", "ptq");
	set(b, "model", "cnn");
	toggle(b, "w.bits", "4");
	toggle(b, "w.bits", "2");
	toggle(b, "w.bits", "3");
	toggle(b, "scheme", "uniform");
	toggle(b, "scheme", "apot");
	tap_ok(tui_builder_modified(b), "toggling marks the builder modified");
	text = tui_builder_text(b);
	tap_eq_str(text, "job=ptq\nmodel=cnn\nscheme=uniform,apot\nw.bits=2,3,4\n",
		   "toggled values are written in candidate order, axes in table order");
	free(text);
	char *pts = points_of((text = tui_builder_text(b)));
	int n = 0;
	for (const char *p = pts; (p = strchr(p, '\n')); p++)
		n++;
	tap_eq_int(n, 6, "w.bits 2,3,4 x scheme 2 = 6 points");
	free(pts);
	free(text);
	toggle(b, "w.bits", "3");
	tap_eq_str(on_values(b, "w.bits"), "2,4", "toggling a value on turns it off");
	pts = points_of((text = tui_builder_text(b)));
	n = 0;
	for (const char *p = pts; (p = strchr(p, '\n')); p++)
		n++;
	tap_eq_int(n, 4, "w.bits 2,4 x scheme 2 = 4 points");
	free(pts);
	free(text);

	/* the order of a loaded line is kept: a :zip pairs values by position */
	char *cause = NULL;
	tap_eq_int(tui_builder_load_text(b, "z", "job=ptq\nmodel=cnn\nw.bits=3,2\na.bits=3,4\n"
					     ":zip(w.bits,a.bits)\nseed=1..3\n", &cause),
		   0, "load a zipped sweep");
	text = tui_builder_text(b);
	tap_eq_str(text, "job=ptq\nmodel=cnn\nw.bits=3,2\na.bits=3,4\nseed=1..3\n:zip(w.bits,a.bits)\n",
		   "loaded axes keep their order and their ranges");
	free(text);
	toggle(b, "w.bits", "4");
	toggle(b, "w.bits", "1");
	tap_eq_str(on_values(b, "w.bits"), "1,2,3,4", "w.bits: four values on");
	text = tui_builder_text(b);
	tap_ok(strstr(text, "\nw.bits=1,3,2,4\n") != NULL,
	       "a value turned on goes after the values before it: w.bits=1,3,2,4");
	free(text);
	toggle(b, "seed", "2");
	text = tui_builder_text(b);
	tap_ok(strstr(text, "\nseed=1,3\n") != NULL, "a changed range is written as a list");
	free(text);
	int a = tui_builder_axis_find(b, "w.bits");
	int i = tui_builder_add_value(b, a, "16", &cause);
	tap_eq_str(i >= 0 ? tui_builder_value(b, a, i) : "", "16", "a value added to w.bits");
	tap_eq_str(tui_builder_value(b, a, 8), "16", "an added number goes in numeric order");
	tap_ok(tui_builder_value_on(b, a, i), "an added value is on");
	tap_eq_int(tui_builder_add_value(b, a, "33", &cause), -1, "w.bits=33 is refused");
	tap_eq_str(cause, "bad value '33' for w.bits: expected an integer in 1..32",
		   "w.bits=33: the configuration's message");
	free(cause);
	tui_builder_free(b);
}

static void
test_set(void)
{
	struct tui_builder *b = tui_builder_new();
	char *cause = NULL, *text;
	tui_builder_load_file(b, tap_srcpath("experiments/quick.sweep"), &cause);
	set(b, "recon.iters", "500");
	tap_eq_str(tui_builder_line_count(b) ? tui_builder_line(b, 0) : "", "recon.iters=500",
		   "set replaces the free line of its key in place");
	set(b, "lr", ".1");
	tap_eq_str(tui_builder_line(b, tui_builder_line_count(b) - 1), "lr=0.1",
		   "set appends a free line for another key, canonical");
	set(b, "lr", NULL);
	tap_eq_int(tui_builder_line_count(b), 3, "unset removes that line");
	set(b, "w.bits", "5");
	tap_eq_str(on_values(b, "w.bits"), "5", "set on an axis: that one value");
	set(b, "model", "run:7");
	tap_eq_str(tui_builder_get(b, "model"), "run:7", "set model=run:7");
	set(b, "dataset", "fmnist");
	set(b, "job", NULL);
	text = tui_builder_text(b);
	tap_ok(strncmp(text, "model=run:7\ndataset=fmnist\nepochs=2\n", 35) == 0,
	       "model, dataset, then the axes; job unset");
	free(text);
	tap_eq_int(tui_builder_set(b, "epoch", "2", &cause), -1, "an unknown key is refused");
	tap_eq_str(cause, "unknown key 'epoch' (did you mean 'epochs'?)", "unknown key: message");
	tap_eq_int(tui_builder_set(b, "model", "cnnn", &cause), -1, "a bad model is refused");
	tap_ok(cause && strstr(cause, "did you mean 'cnn'?"), "bad model: message (%s)", cause);
	tap_eq_str(tui_builder_get(b, "model"), "run:7", "a refused value changes nothing");
	const char *const *models = tui_builder_choices("model");
	int has_cnn = 0;
	for (; models && *models; models++)
		has_cnn |= strcmp(*models, "cnn") == 0;
	tap_ok(has_cnn, "model choices: the zoo");
	tap_eq_str(tui_builder_choices("job")[1], "ptq", "job choices: train, ptq");

	/* a value that needs quotes reads back */
	set(b, "model", "my model.h5");
	text = tui_builder_text(b);
	tap_ok(strstr(text, "model=\"my model.h5\"\n") != NULL, "a model path with a space is quoted");
	struct tui_builder *c = tui_builder_new();
	tap_eq_int(tui_builder_load_text(c, "q", text, &cause), 0, "the quoted text loads");
	tap_eq_str(tui_builder_get(c, "model"), "my model.h5", "the quoted model reads back");
	tui_builder_free(c);
	free(text);
	tap_ok(tui_builder_choices("lr") == NULL, "no choices for lr");
	free(cause);
	tui_builder_free(b);
}

static void
test_free_lines(void)
{
	static const char text_in[] =
		"# a comment kept for saving\n"
		"job=train\n"
		"model=cnn\n"
		"parent.epochs=6\n"
		"lr = .01\n"
		"epochs=2\n"
		"scheme=uniform,apot\n"
		"w.bits=2,3\n"
		"a.bits=2,3\n"
		":zip(w.bits,a.bits)\n"
		":exclude scheme=apot,w.bits=2\n"
		":where lr <= 0.1 and not scheme=qnn   # trailing comment\n";
	struct tui_builder *b = tui_builder_new();
	char *cause = NULL, *text;
	tap_eq_int(tui_builder_load_text(b, "t", text_in, &cause), 0, "load lines and directives");
	text = tui_builder_text(b);
	tap_eq_str(text,
		   "job=train\nmodel=cnn\nepochs=2\nscheme=uniform,apot\nw.bits=2,3\na.bits=2,3\n"
		   "parent.epochs=6\nlr=0.01\n:zip(w.bits,a.bits)\n:exclude scheme=apot,w.bits=2\n"
		   ":where lr<=0.1 and not scheme=qnn\n",
		   "free lines and directives kept in order, canonical, after the axes");
	char *want = points_of(text_in), *got = points_of(text);
	tap_ok(strcmp(got, want) == 0 && strchr(want, '{'), "the same points as the input");
	free(want);
	free(got);
	free(text);

	tap_eq_int(tui_builder_line_add(b, " :where w.bits >= 2 ", &cause), 0, "add a :where line");
	tap_eq_str(tui_builder_line(b, 5), ":where w.bits>=2", "an added line is canonical");
	tap_eq_int(tui_builder_line_set(b, 1, "lr=0.02,0.05", &cause), 0, "edit a line");
	tap_eq_str(tui_builder_line(b, 1), "lr=0.02,0.05", "the edited line");
	tui_builder_line_move(b, 5, 0);
	tap_eq_str(tui_builder_line(b, 0), ":where w.bits>=2", "move a line to the top");
	tap_eq_str(tui_builder_line(b, 1), "parent.epochs=6", "the others keep their order");
	tui_builder_line_remove(b, 0);
	tap_eq_int(tui_builder_line_count(b), 5, "remove a line");
	tap_eq_str(tui_builder_line(b, 0), "parent.epochs=6", "the first line after removing");

	/* a line that sets an axis, job, model or dataset is taken into them */
	tap_eq_int(tui_builder_line_add(b, "seed=1..3", &cause), 0, "add seed=1..3 as a line");
	tap_eq_str(on_values(b, "seed"), "1,2,3", "seed=1..3 becomes the seed axis");
	tap_eq_int(tui_builder_line_count(b), 5, "and not a free line");
	tap_eq_int(tui_builder_line_set(b, 1, "model=lenet5", &cause), 0, "edit a line into model=");
	tap_eq_str(tui_builder_get(b, "model"), "lenet5", "the line sets the model");
	tap_eq_str(tui_builder_line(b, 1), ":zip(w.bits,a.bits)", "and leaves the free lines");
	tap_eq_int(tui_builder_line_add(b, "model=cnn,mlp", &cause), 0, "several models: a free line");
	tap_ok(tui_builder_get(b, "model") == NULL, "several models: model unset");
	tap_eq_str(tui_builder_line(b, tui_builder_line_count(b) - 1), "model=cnn,mlp",
		   "several models: kept as a line");

	/* refused lines leave the builder as it was */
	text = tui_builder_text(b);
	tap_eq_int(tui_builder_line_add(b, "", &cause), -1, "a blank line is refused");
	tap_eq_int(tui_builder_line_add(b, "# note", &cause), -1, "a comment alone is refused");
	tap_eq_int(tui_builder_line_add(b, "lr=0.1\nseed=2", &cause), -1, "two lines are refused");
	tap_eq_int(tui_builder_line_add(b, "parent.epochs=5", &cause), -1,
		   "a key given twice is refused");
	tap_eq_str(cause, "t.sweep:12:1: parent.epochs is given twice (line 7 and line 12)",
		   "given twice: the parser's message");
	tap_eq_int(tui_builder_line_set(b, 2, ":where", &cause), -1, "an empty :where is refused");
	tap_eq_str(cause, "t.sweep:9:7: expected an expression after :where",
		   "empty :where: the parser's message, naming the builder's line");
	char *after = tui_builder_text(b);
	tap_eq_str(after, text, "refused lines change nothing");
	free(after);
	free(text);
	free(cause);
	tui_builder_free(b);
}

/* The completions of prefix joined with '|'. */
static char *
completions(const struct tui_builder *b, const char *prefix)
{
	char **v = NULL, *s = xstrdup("");
	int n = -1;
	int r = tui_builder_complete(b, prefix, &v, &n);
	for (int i = 0; i < n; i++) {
		char *t = xasprintf("%s%s%s", s, i ? "|" : "", v[i]);
		free(s);
		s = t;
	}
	if (r != n) {
		free(s);
		s = xstrdup("(bad count)");
	}
	tui_builder_strings_free(v, n);
	return s;
}

static void
check_completion(const struct tui_builder *b, const char *prefix, const char *want)
{
	char *got = completions(b, prefix);
	tap_eq_str(got, want, "complete '%s'", prefix);
	free(got);
}

static void
test_complete(void)
{
	struct tui_builder *b = tui_builder_new();
	check_completion(b, "w.bi", "w.bits=");
	check_completion(b, "recon.i", "recon.iters=");
	check_completion(b, "ocs.", "ocs.clipsrc=|ocs.ratio=|ocs.split=|ocs.target=");
	check_completion(b, "pa", "parent.");
	check_completion(b, "parent.ep", "parent.epochs=");
	check_completion(b, "parent.w.b", "");
	check_completion(b, ":", ":exclude |:where |:zip(");
	check_completion(b, ":w", ":where ");
	check_completion(b, "zz", "");
	check_completion(b, "w.bits=", "w.bits=1|w.bits=2|w.bits=3|w.bits=4|w.bits=5|w.bits=6|"
				       "w.bits=7|w.bits=8|w.bits=32");
	check_completion(b, "w.bits=2,3", "w.bits=2,3|w.bits=2,32");
	check_completion(b, "border=a", "border=adaround|border=aquant");
	check_completion(b, "nesterov=", "nesterov=false|nesterov=true");
	check_completion(b, "parent.optim=s", "parent.optim=sgd|parent.optim=shift-adamax");
	check_completion(b, "a.clip=m", "a.clip=max|a.clip=mse");
	check_completion(b, "model=l", "model=lenet5");
	check_completion(b, "lr=0", "");
	check_completion(b, "nokey=", "");
	char *cause = NULL;
	tui_builder_add_value(b, tui_builder_axis_find(b, "epochs"), "3", &cause);
	check_completion(b, "epochs=", "epochs=1|epochs=2|epochs=3|epochs=5|epochs=10|epochs=15|"
				       "epochs=20");
	free(cause);
	tui_builder_free(b);
}

static void
test_errors(void)
{
	struct tui_builder *b = tui_builder_new();
	char *cause = NULL, *text;
	struct tui_builder_summary sum;
	tui_builder_load_file(b, tap_srcpath("experiments/quick.sweep"), &cause);
	text = tui_builder_text(b);
	tap_eq_int(tui_builder_line_add(b, "w.bit=3", &cause), -1, "a bad free line is refused");
	tap_eq_str(cause, "quick.sweep:14:1: unknown key 'w.bit' (did you mean 'w.bits'?)",
		   "a bad free line: the sweep parser's message");
	char *after = tui_builder_text(b);
	tap_eq_str(after, text, "a refused line changes nothing");
	free(after);
	free(text);

	/* a toggle that breaks a :zip: the summary gives the parser's message */
	tui_builder_load_file(b, tap_srcpath("experiments/apot-vs-uniform.sweep"), &cause);
	toggle(b, "w.bits", "8");
	text = tui_builder_text(b);
	char *want = spec_of("apot-vs-uniform", text);
	tap_eq_int(tui_builder_summary(b, NULL, &sum, &cause), -1, "a broken :zip: no summary");
	tap_eq_str(cause, want, "a broken :zip: the parser's message");
	tap_ok(cause && strstr(cause, "w.bits has 4 values but a.bits has 3"),
	       "a broken :zip: names the axes (%s)", cause);
	tap_eq_int(sum.points, 0, "a failed summary is zeroed");
	tap_eq_int(tui_builder_save(b, "/nonexistent/x.sweep", &cause), -1,
		   "a sweep that does not parse is not saved");
	/* while the sweep fails, a line cannot be checked: kept, or taken into an axis */
	tap_eq_int(tui_builder_line_add(b, "seed=1..2", &cause), 0,
		   "a line is taken while an earlier line fails");
	tap_eq_str(on_values(b, "seed"), "1,2", "and still becomes an axis");
	toggle(b, "w.bits", "8");
	tap_eq_int(tui_builder_summary(b, NULL, &sum, &cause), 0,
		   "the :zip mended: a summary without a database");
	tap_eq_int(sum.points, 12, "2 schemes x 3 zipped bit-widths x 2 seeds = 12 points");
	tap_ok(sum.runs == 0 && isnan(sum.estimate_s), "no database: only the points");
	free(want);
	free(text);

	/* an expansion error */
	tap_eq_int(tui_builder_load_text(b, "e", "job=train\nmodel=cnn\nborder=adaround\n", &cause),
		   0, "load a sweep that parses");
	tap_eq_int(tui_builder_summary(b, NULL, &sum, &cause), -1, "but does not expand");
	tap_ok(cause && strstr(cause, "border"), "the expansion's message names the key (%s)",
	       cause);
	tap_eq_int(tui_builder_load_text(b, "e", "job=ptq\nw.bit=2\n", &cause), -1,
		   "a bad sweep does not load");
	tap_eq_str(cause, "e.sweep:2:1: unknown key 'w.bit' (did you mean 'w.bits'?)",
		   "a bad sweep: the parser's message");
	tap_eq_str(tui_builder_get(b, "model"), "cnn", "a sweep that does not load changes nothing");
	free(cause);
	tui_builder_free(b);
}

/* tui_builder_summary, called again while estimates are pending (as a screen would). */
static int
summary(struct tui_builder *b, struct db *db, struct tui_builder_summary *sum, char **cause)
{
	int rc, calls = 0;
	do
		rc = tui_builder_summary(b, db, sum, cause);
	while (rc == 0 && sum->pending && ++calls < 1000);
	return rc;
}

/* Moves run id to done with time_s. */
static int
finish_run(struct db *db, int64_t id, double time_s)
{
	const char *name = "time_s";
	char *cause = NULL;
	int rc = runs_set_status(db, id, RUN_RUNNING, NULL, &cause) == 0 &&
		 runs_set_status(db, id, RUN_DONE, NULL, &cause) == 0 &&
		 runs_set_results(db, id, &name, &time_s, 1, &cause) == 0;
	if (!rc)
		tap_diag("finish run %lld: %s", (long long)id, cause);
	free(cause);
	return rc;
}

static void
test_summary(void)
{
	struct db *db = NULL;
	struct tui_builder *b = tui_builder_new();
	struct tui_builder_summary sum;
	struct sweep *s = NULL;
	struct sweep_points pts = {0};
	struct runner_plan plan = {0};
	char *cause = NULL, *text = NULL, *path = xasprintf("%s/builder.db", tap_tmpdir());
	if (db_open(&db, path, DB_OPEN_CREATE, &cause) < 0) {
		tap_ok(0, "open %s: %s", path, cause);
		goto out;
	}
	set(b, "job", "train");
	set(b, "model", "mlp");
	set(b, "epochs", "1");
	toggle(b, "seed", "1");
	toggle(b, "seed", "2");
	toggle(b, "seed", "3");
	tap_eq_int(summary(b, db, &sum, &cause), 0, "summary on an empty database");
	tap_eq_int(sum.points, 3, "empty database: 3 points");
	tap_eq_int(sum.runs, 3, "empty database: 3 runs (no parent)");
	tap_eq_int(sum.to_run, 3, "empty database: all to run");
	tap_eq_int(sum.unknown, 3, "empty database: no estimate");
	tap_ok(isnan(sum.estimate_s), "empty database: the estimate is NaN");

	/* record the sweep's runs, then finish two of them */
	text = tui_builder_text(b);
	if (sweep_parse_text(&s, "untitled.sweep", "untitled", text, &cause) < 0 ||
	    sweep_expand(s, &pts, &cause) < 0 ||
	    runner_plan(db, sweep_name(s), sweep_spec(s), &pts, 1, &plan, &cause) < 0) {
		tap_ok(0, "plan the sweep: %s", cause);
		goto out;
	}
	tap_ok(plan.n == 3 && finish_run(db, plan.v[0].run_id, 10) &&
		       finish_run(db, plan.v[1].run_id, 20),
	       "two runs done, in 10 and 20 s");
	tap_eq_int(summary(b, db, &sum, &cause), 0, "summary with two runs done");
	tap_eq_int(sum.points, 3, "3 points");
	tap_eq_int(sum.done, 2, "2 done");
	tap_eq_int(sum.to_run, 1, "1 to run");
	tap_eq_int(sum.unknown, 0, "its estimate is known");
	tap_near(sum.estimate_s, 15, 1e-9, "estimated from the other seeds: 15 s");

	toggle(b, "seed", "4");
	tap_eq_int(summary(b, db, &sum, &cause), 0, "summary with a seed more");
	tap_eq_int(sum.points, 4, "4 points");
	tap_eq_int(sum.done, 2, "still 2 done");
	tap_eq_int(sum.to_run, 2, "2 to run");
	tap_near(sum.estimate_s, 30, 1e-9, "2 x 15 s");

	/* the same figures as the plan's own summary */
	struct runner_summary rs;
	double est[3] = {0, 0, 0};
	runner_plan_done(&plan);
	if (runner_plan(db, sweep_name(s), sweep_spec(s), &pts, 0, &plan, &cause) == 0) {
		runner_plan_summary(db, &plan, NULL, 0, est, &rs);
		tap_ok(rs.runs == 3 && rs.done == 2 && rs.to_run == 1 && isnan(est[0]) &&
			       isnan(est[1]) && fabs(est[2] - 15) < 1e-9,
		       "runner_plan_summary: per-run estimates, NaN for done runs");
	} else {
		tap_ok(0, "dry plan: %s", cause);
	}

	/* a memo and a time budget: at least one new estimate per call, then pending */
	struct sweep *s3 = NULL;
	struct sweep_points pts3 = {0};
	struct runner_plan plan3 = {0};
	struct runner_estimates *memo = runner_estimates_new();
	if (sweep_parse_text(&s3, "t.sweep", "t", "model=mlp\nepochs=1\nlr=0.1,0.2,0.3\n",
			     &cause) == 0 &&
	    sweep_expand(s3, &pts3, &cause) == 0 &&
	    runner_plan(db, "t", sweep_spec(s3), &pts3, 0, &plan3, &cause) == 0) {
		int pending[3];
		for (int k = 0; k < 3; k++) {
			runner_plan_summary(db, &plan3, memo, 1e-12, NULL, &rs);
			pending[k] = rs.pending;
		}
		tap_ok(pending[0] == 2 && pending[1] == 1 && pending[2] == 0,
		       "a tiny budget: one new estimate per call (pending %d, %d, %d)", pending[0],
		       pending[1], pending[2]);
		tap_ok(rs.to_run == 3 && rs.unknown == 0 && fabs(rs.estimate_s - 45) < 1e-9,
		       "the memo keeps the earlier estimates: 3 x 15 s");
	} else {
		tap_ok(0, "plan lr=0.1,0.2,0.3: %s", cause);
	}
	runner_estimates_free(memo);
	runner_plan_done(&plan3);
	sweep_points_done(&pts3);
	sweep_free(s3);

	/* a few hundred points, as on every keypress */
	int a = tui_builder_axis_find(b, "seed");
	for (int i = 5; i <= 300; i++) {
		char v[16];
		snprintf(v, sizeof v, "%d", i);
		tui_builder_add_value(b, a, v, &cause);
	}
	double t0 = util_now();
	int rc = summary(b, db, &sum, &cause);
	double dt = util_now() - t0;
	tap_ok(rc == 0 && sum.points == 300 && sum.done == 2 && sum.to_run == 298 &&
		       sum.pending == 0 && fabs(sum.estimate_s - 298 * 15) < 1e-6,
	       "300 points: 2 done, 298 to run, 298 x 15 s");
	tap_diag("summary of 300 points: %.3f s", dt);
out:
	runner_plan_done(&plan);
	sweep_points_done(&pts);
	sweep_free(s);
	db_close(db);
	free(text);
	free(path);
	free(cause);
	tui_builder_free(b);
}

static void
test_save(void)
{
	struct tui_builder *b = tui_builder_new(), *c = tui_builder_new();
	char *cause = NULL, *path = xasprintf("%s/mine.sweep", tap_tmpdir());
	char *tmp = xasprintf("%s.tmp", path), *text, *file;
	struct stat st;
	tui_builder_load_file(b, tap_srcpath("experiments/quick.sweep"), &cause);
	toggle(b, "seed", "2");
	tap_eq_int(tui_builder_save(b, path, &cause), 0, "save");
	tap_ok(stat(tmp, &st) < 0, "no temporary file is left");
	tap_eq_str(tui_builder_name(b), "mine", "the sweep is named after the file");
	tap_ok(!tui_builder_modified(b), "saved: not modified");
	file = read_file(path);
	tap_ok(file && strncmp(file, "# mine: ", 8) == 0, "the file starts with a comment naming it");
	tap_ok(file && strstr(file, "\n# quick: a first tour") != NULL,
	       "the loaded comment follows");
	text = tui_builder_text(b);
	tap_ok(file && strlen(file) > strlen(text) &&
		       strcmp(file + strlen(file) - strlen(text), text) == 0,
	       "then the text");
	tap_eq_int(tui_builder_load_file(c, path, &cause), 0, "reload the saved sweep");
	char *again = tui_builder_text(c);
	tap_eq_str(again, text, "the reloaded sweep is the same");
	char *s1 = spec_of("mine", text), *s2 = spec_of("mine", file ? file : "");
	tap_eq_str(s2, s1, "the file has the builder's spec");
	free(s1);
	free(s2);
	free(again);
	free(file);

	/* saving again keeps a single naming comment */
	tap_eq_int(tui_builder_save(c, path, &cause), 0, "save the reloaded sweep");
	file = read_file(path);
	tap_ok(file && strncmp(file, "# mine: ", 8) == 0 && !strstr(file + 1, "# mine: "),
	       "one comment names the sweep");
	free(file);

	/* a new sweep gets a comment naming it */
	struct tui_builder *fresh = tui_builder_new();
	char *fresh_path = xasprintf("%s/fresh.sweep", tap_tmpdir());
	set(fresh, "model", "mlp");
	set(fresh, "seed", "3");
	tap_eq_int(tui_builder_save(fresh, fresh_path, &cause), 0, "save a new sweep");
	file = read_file(fresh_path);
	tap_eq_str(file, "# fresh: a sweep saved by the qbench sweep builder\nmodel=mlp\nseed=3\n",
		   "a new sweep: a naming comment, then the text");
	free(file);
	free(fresh_path);
	tui_builder_free(fresh);

	/* a failed save leaves the file as it was */
	struct tui_builder *empty = tui_builder_new();
	tap_eq_int(tui_builder_save(empty, path, &cause), -1, "an empty sweep is not saved");
	char *want = xasprintf("%s: the sweep sets no key (expected key=value lines)", path);
	tap_eq_str(cause, want, "empty sweep: the parser's message");
	free(want);
	file = read_file(path);
	tap_ok(file && strstr(file, text) != NULL, "the file is unchanged");
	free(file);
	char *bad = xasprintf("%s/no/dir/x.sweep", tap_tmpdir());
	tap_eq_int(tui_builder_save(b, bad, &cause), -1, "a missing directory fails");
	tap_ok(cause && strstr(cause, "No such file"), "missing directory: message (%s)", cause);
	free(bad);
	tui_builder_free(empty);
	free(text);
	free(tmp);
	free(path);
	free(cause);
	tui_builder_free(b);
	tui_builder_free(c);
}

int
main(void)
{
	test_shipped();
	test_quick();
	test_toggle();
	test_set();
	test_free_lines();
	test_complete();
	test_errors();
	test_summary();
	test_save();
	return tap_done();
}
