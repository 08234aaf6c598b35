/*
 * test_sweep: the sweep language, driven by tests/unit/sweep_cases.txt, and
 * reading .sweep files.
 *
 * The cases file holds cases separated by "=== NAME" lines; '#' lines
 * before the first case are comments. A case has sections, each opened by a
 * "--- KIND" line and running to the next "---" or "===" line (in the
 * sections of expected results, blank lines and '#' lines are skipped):
 *   text       the input as a .sweep file named t.sweep (verbatim, comments
 *              and blank lines included)
 *   args       the input as command-line arguments, one per line
 *   error      the exact message of parsing or expanding
 *   points     one line per point: its label ("(none)" without axes), and
 *              for a chained point " | parent: " and the keys set on the
 *              parent, sorted, except job (always train)
 *   set        one line per point: the keys set on the point, sorted
 *   spec       the canonical text
 *   same-spec  another text of the sweep, which must give the same spec
 *   axes       the axis keys, space-separated
 * Every case that parses is also checked to give the same spec when its
 * spec is parsed again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/util.h"
#include "experiments/config.h"
#include "experiments/sweep.h"
#include "tests/unit/tap.h"

enum section { SEC_TEXT, SEC_ARGS, SEC_ERROR, SEC_POINTS, SEC_SET, SEC_SPEC, SEC_SAME, SEC_AXES,
	       SEC_COUNT };
static const char *const section_names[] = {"text", "args",	 "error",     "points",
					    "set",  "spec",	 "same-spec", "axes"};

struct lines {
	char **v;
	int n;
};

struct tcase {
	char *name;
	int line; /* of the === line in the cases file */
	int has[SEC_COUNT];
	struct lines sec[SEC_COUNT];
};

static void
lines_add(struct lines *l, const char *s, size_t n)
{
	l->v = xrealloc(l->v, (size_t)(l->n + 1) * sizeof *l->v);
	l->v[l->n++] = xasprintf("%.*s", (int)n, s);
}

static void
lines_done(struct lines *l)
{
	for (int i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* The lines joined, each followed by a newline (malloc'd). */
static char *
lines_text(const struct lines *l)
{
	char *s = xstrdup("");
	for (int i = 0; i < l->n; i++) {
		char *t = xasprintf("%s%s\n", s, l->v[i]);
		free(s);
		s = t;
	}
	return s;
}

static char *
read_all(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t n = 0, cap = 4096;
	char *buf = xmalloc(cap);
	for (size_t got; (got = fread(buf + n, 1, cap - n - 1, f)) > 0;) {
		n += got;
		if (n + 1 == cap)
			buf = xrealloc(buf, cap *= 2);
	}
	fclose(f);
	buf[n] = '\0';
	return buf;
}

/* Splits the cases file into *cases; returns their number. A format error fails a check. */
static int
load_cases(const char *text, struct tcase **cases)
{
	int n = 0, lineno = 0, sec = -1;
	*cases = NULL;
	for (const char *line = text; *line;) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		lineno++;
		if (len >= 4 && strncmp(line, "=== ", 4) == 0) {
			*cases = xrealloc(*cases, (size_t)(n + 1) * sizeof **cases);
			memset(&(*cases)[n], 0, sizeof **cases);
			(*cases)[n].name = xasprintf("%.*s", (int)len - 4, line + 4);
			(*cases)[n++].line = lineno;
			sec = -1;
		} else if (len >= 4 && strncmp(line, "--- ", 4) == 0) {
			sec = -1;
			for (int i = 0; i < SEC_COUNT; i++)
				if (strlen(section_names[i]) == len - 4 &&
				    strncmp(line + 4, section_names[i], len - 4) == 0)
					sec = i;
			if (sec < 0 || n == 0)
				tap_ok(0, "sweep_cases.txt:%d: bad section '%.*s'", lineno, (int)len,
				       line);
			else
				(*cases)[n - 1].has[sec] = 1;
		} else if (sec == SEC_TEXT || sec == SEC_ARGS) {
			lines_add(&(*cases)[n - 1].sec[sec], line, len);
		} else if (sec >= 0 && len > 0 && line[0] != '#') {
			lines_add(&(*cases)[n - 1].sec[sec], line, len);
		} else if (sec < 0 && len > 0 && line[0] != '#') {
			tap_ok(0, "sweep_cases.txt:%d: text outside a section", lineno);
		}
		line += len + (nl != NULL);
	}
	return n;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "k=v k=v" of the keys set on cfg, sorted, without job when skip_job (malloc'd). */
static char *
set_keys(const struct config *cfg, int skip_job)
{
	int nk = config_key_count(), m = 0;
	char **kv = xmalloc((size_t)nk * sizeof *kv);
	for (int i = 0; i < nk; i++) {
		const char *name = config_key_at(i)->name;
		if (config_is_set(cfg, name) && !(skip_job && strcmp(name, "job") == 0))
			kv[m++] = xasprintf("%s=%s", name, config_get(cfg, name));
	}
	qsort(kv, (size_t)m, sizeof *kv, cmp_str);
	char *s = xstrdup("");
	for (int i = 0; i < m; i++) {
		char *t = xasprintf("%s%s%s", s, i ? " " : "", kv[i]);
		free(s);
		free(kv[i]);
		s = t;
	}
	free(kv);
	return s;
}

/* Compares got with want line by line; on a mismatch prints both in full. */
static void
check_lines(const struct tcase *c, const char *what, const struct lines *got,
	    const struct lines *want)
{
	int first = -1;
	for (int i = 0; i < got->n || i < want->n; i++)
		if (first < 0 && (i >= got->n || i >= want->n || strcmp(got->v[i], want->v[i])))
			first = i;
	if (tap_ok(first < 0, "%s: %s (%d)", c->name, what, want->n))
		return;
	tap_diag("first difference at line %d (case at sweep_cases.txt:%d)", first + 1, c->line);
	for (int i = 0; i < want->n; i++)
		tap_diag("want: %s", want->v[i]);
	for (int i = 0; i < got->n; i++)
		tap_diag("got:  %s", got->v[i]);
}

/* Parses the lines as arguments, or as the text of t.sweep. */
static int
parse_input(const struct lines *in, int args, struct sweep **s, char **cause)
{
	if (args)
		return sweep_parse_args(s, in->n, in->v, cause);
	char *text = lines_text(in);
	int r = sweep_parse_text(s, "t.sweep", "t", text, cause);
	free(text);
	return r;
}

/* The spec of s parses again to itself. */
static void
check_round_trip(const struct tcase *c, const struct sweep *s)
{
	struct sweep *again = NULL;
	char *cause = NULL;
	if (sweep_parse_text(&again, "spec", "t", sweep_spec(s), &cause) < 0)
		tap_ok(0, "%s: spec parses again: %s", c->name, cause);
	else
		tap_eq_str(sweep_spec(again), sweep_spec(s), "%s: spec reads back as itself",
			   c->name);
	free(cause);
	sweep_free(again);
}

static void
check_points(const struct tcase *c, const struct sweep_points *pts)
{
	struct lines got = {0}, set = {0};
	for (int i = 0; i < pts->n; i++) {
		const struct sweep_point *pt = &pts->v[i];
		char *line;
		if (pt->parent) {
			char *pk = set_keys(pt->parent, 1);
			line = xasprintf("%s | parent: %s", *pt->label ? pt->label : "(none)", pk);
			free(pk);
		} else {
			line = xstrdup(*pt->label ? pt->label : "(none)");
		}
		lines_add(&got, line, strlen(line));
		free(line);
		line = set_keys(pt->cfg, 0);
		lines_add(&set, line, strlen(line));
		free(line);
	}
	if (c->has[SEC_POINTS])
		check_lines(c, "points", &got, &c->sec[SEC_POINTS]);
	if (c->has[SEC_SET])
		check_lines(c, "keys set on the points", &set, &c->sec[SEC_SET]);
	lines_done(&got);
	lines_done(&set);
}

static void
run_case(const struct tcase *c)
{
	int args = c->has[SEC_ARGS];
	const struct lines *in = &c->sec[args ? SEC_ARGS : SEC_TEXT];
	struct sweep *s = NULL;
	struct sweep_points pts = {0};
	char *cause = NULL;
	int r = parse_input(in, args, &s, &cause);
	if (r == 0)
		r = sweep_expand(s, &pts, &cause);
	if (c->has[SEC_ERROR]) {
		tap_ok(r < 0, "%s: refused", c->name);
		tap_eq_str(cause, c->sec[SEC_ERROR].n ? c->sec[SEC_ERROR].v[0] : "",
			   "%s: message", c->name);
		goto out;
	}
	if (!tap_ok(r == 0, "%s: parses and expands", c->name)) {
		tap_diag("%s (case at sweep_cases.txt:%d)", cause, c->line);
		goto out;
	}
	check_round_trip(c, s);
	check_points(c, &pts);
	if (c->has[SEC_SPEC]) {
		char *want = lines_text(&c->sec[SEC_SPEC]);
		tap_eq_str(sweep_spec(s), want, "%s: spec", c->name);
		free(want);
	}
	if (c->has[SEC_SAME]) {
		struct sweep *other = NULL;
		char *why = NULL;
		if (parse_input(&c->sec[SEC_SAME], args, &other, &why) < 0)
			tap_ok(0, "%s: the other text parses: %s", c->name, why);
		else
			tap_eq_str(sweep_spec(other), sweep_spec(s), "%s: same spec", c->name);
		free(why);
		sweep_free(other);
	}
	if (c->has[SEC_AXES]) {
		char *axes = xstrdup("");
		for (int i = 0; i < sweep_axis_count(s); i++) {
			char *t = xasprintf("%s%s%s", axes, i ? " " : "", sweep_axis_key(s, i));
			free(axes);
			axes = t;
		}
		tap_eq_str(axes, c->sec[SEC_AXES].n ? c->sec[SEC_AXES].v[0] : "", "%s: axes",
			   c->name);
		free(axes);
	}
out:
	sweep_points_done(&pts);
	sweep_free(s);
	free(cause);
}

static void
test_cases(void)
{
	const char *path = tap_srcpath("tests/unit/sweep_cases.txt");
	char *text = read_all(path);
	if (!tap_ok(text != NULL, "read tests/unit/sweep_cases.txt")) {
		tap_diag("cannot read %s (is QB_SRCDIR the source tree?)", path);
		return;
	}
	struct tcase *cases;
	int n = load_cases(text, &cases);
	tap_ok(n >= 60, "sweep_cases.txt holds at least 60 cases (%d)", n);
	for (int i = 0; i < n; i++) {
		if (cases[i].has[SEC_TEXT] == cases[i].has[SEC_ARGS])
			tap_ok(0, "%s: needs one of --- text and --- args", cases[i].name);
		else
			run_case(&cases[i]);
	}
	for (int i = 0; i < n; i++) {
		for (int j = 0; j < SEC_COUNT; j++)
			lines_done(&cases[i].sec[j]);
		free(cases[i].name);
	}
	free(cases);
	free(text);
}

/* Writes n bytes of data to dir/name; returns the path (static). */
static const char *
write_file(const char *name, const char *data, size_t n)
{
	static char path[4200];
	snprintf(path, sizeof path, "%s/%s", tap_tmpdir(), name);
	FILE *f = fopen(path, "wb");
	if (f) {
		fwrite(data, 1, n, f);
		fclose(f);
	}
	return path;
}

static void
test_files(void)
{
	struct sweep *s = NULL;
	char *cause = NULL;
	char want[4400];

	tap_ok(sweep_parse_file(&s, "/nonexistent/q.sweep", &cause) < 0 && s == NULL,
	       "a missing file is refused");
	tap_eq_str(cause, "/nonexistent/q.sweep: No such file or directory",
		   "missing file: message");
	free(cause);
	cause = NULL;

	static const char nul[] = "model=cnn\n\0w.bits=2\n";
	const char *path = write_file("nul.sweep", nul, sizeof nul - 1);
	tap_ok(sweep_parse_file(&s, path, &cause) < 0, "a file with a NUL byte is refused");
	snprintf(want, sizeof want, "%s: holds a NUL byte: not a sweep file", path);
	tap_eq_str(cause, want, "NUL byte: message");
	free(cause);
	cause = NULL;

	size_t big = (1 << 20) + 1;
	char *data = xmalloc(big);
	memset(data, '#', big);
	data[0] = '\n';
	path = write_file("big.sweep", data, big);
	free(data);
	tap_ok(sweep_parse_file(&s, path, &cause) < 0, "a file over 1 MiB is refused");
	snprintf(want, sizeof want, "%s: too large for a sweep file (over 1 MiB)", path);
	tap_eq_str(cause, want, "large file: message");
	free(cause);
	cause = NULL;

	static const char good[] = "model=cnn  # the model\nw.bits = 2, 3\n";
	static const char bad[] = "model=cnn  # the model\nw.bits = 2, 3\nzzzzzz=1\n";
	path = write_file("my-first.sweep", bad, sizeof bad - 1);
	tap_ok(sweep_parse_file(&s, path, &cause) < 0, "a file's error is refused");
	snprintf(want, sizeof want, "%s:3:1: unknown key 'zzzzzz'", path);
	tap_eq_str(cause, want, "a file's error names the path, line and column");
	free(cause);
	cause = NULL;

	path = write_file("my-first.sweep", good, sizeof good - 1);
	if (tap_ok(sweep_parse_file(&s, path, &cause) == 0, "a file parses")) {
		tap_eq_str(sweep_name(s), "my-first", "the name is the base name without .sweep");
		tap_eq_str(sweep_spec(s), "model=cnn\nw.bits=2,3\n", "the file's spec");
	} else {
		tap_diag("%s", cause);
	}
	sweep_free(s);
	free(cause);
	cause = NULL;

	static const char crlf[] = "model=cnn\r\nw.bits = 2, 3 # bits\r\n";
	path = write_file("crlf.sweep", crlf, sizeof crlf - 1);
	s = NULL;
	if (tap_ok(sweep_parse_file(&s, path, &cause) == 0, "a file with CRLF line ends parses"))
		tap_eq_str(sweep_spec(s), "model=cnn\nw.bits=2,3\n", "CRLF: the same spec");
	else
		tap_diag("%s", cause);
	sweep_free(s);
	free(cause);
	cause = NULL;

	char arg[] = "w.bits=2,3";
	char *argv[] = {arg};
	s = NULL;
	if (tap_ok(sweep_parse_args(&s, 1, argv, &cause) == 0, "arguments parse"))
		tap_eq_str(sweep_name(s), "cli", "the arguments' sweep is named cli");
	sweep_free(s);
	free(cause);
	sweep_free(NULL);
}

int
main(void)
{
	test_cases();
	test_files();
	return tap_done();
}
