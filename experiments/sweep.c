/*
 * sweep: parsing the sweep language (see sweep.h) into a struct sweep (see
 * sweep_int.h); sweep_expand.c expands it into points.
 *
 * Parsing validates everything it can, line by line, so that expansion meets
 * no syntax error, unknown key or bad value: the records it builds keep the
 * invariants listed in sweep_int.h. Each line becomes one record and appends
 * its canonical text to the spec. The canonical text of a value reads back
 * as the same value (it is quoted when a bare word would not), so the spec
 * parses back to itself.
 *
 * Columns in messages are 1-based byte offsets into the line as written.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/util.h"
#include "experiments/config.h"
#include "experiments/sweep.h"
#include "experiments/sweep_int.h"

/* Most values a range may give. */
#define SWEEP_MAX_VALUES 100000
/* Largest .sweep file read (1 MiB). */
#define SWEEP_MAX_FILE (1 << 20)

/* ---- growing strings ---- */

/* Appends the n bytes at s to b; b->s stays NUL-terminated. */
static void
sb_addn(struct strbuf *b, const char *s, size_t n)
{
	while (b->len + n + 1 > b->cap) {
		b->cap = b->cap ? 2 * b->cap : 64;
		b->s = xrealloc(b->s, b->cap);
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void
sweep_sb_add(struct strbuf *b, const char *s)
{
	sb_addn(b, s, strlen(s));
}

char *
sweep_sb_take(struct strbuf *b)
{
	char *s = b->s ? b->s : xstrdup("");
	memset(b, 0, sizeof *b);
	return s;
}

/*
 * Bare values and expression words stop at these characters, '..' makes a
 * range and '#' a comment: a value holding any of them is quoted.
 */
void
sweep_sb_add_value(struct strbuf *b, const char *v, int force)
{
	int quote = force || !*v || strstr(v, "..");
	for (const char *c = v; *c && !quote; c++)
		quote = isspace((unsigned char)*c) || strchr(",\"#\\()=!<>", *c);
	if (!quote) {
		sweep_sb_add(b, v);
		return;
	}
	sweep_sb_add(b, "\"");
	for (const char *c = v; *c; c++) {
		if (*c == '"' || *c == '\\')
			sweep_sb_add(b, "\\");
		sb_addn(b, c, 1);
	}
	sweep_sb_add(b, "\"");
}

/* ---- the parsed sweep ---- */

static void
expr_free(struct expr *e)
{
	if (!e)
		return;
	expr_free(e->a);
	expr_free(e->b);
	free(e->l.text);
	free(e->r.text);
	free(e);
}

static void
sweep_key_done(struct sweep_key *k)
{
	for (int i = 0; i < k->n; i++)
		free(k->v[i]);
	free(k->v);
	free(k->name);
	free(k->text);
}

void
sweep_free(struct sweep *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->nkeys; i++)
		sweep_key_done(&s->keys[i]);
	for (int i = 0; i < s->nzips; i++)
		free(s->zips[i].keys);
	for (int i = 0; i < s->nfilters; i++)
		expr_free(s->filters[i]);
	free(s->keys);
	free(s->zips);
	free(s->filters);
	free(s->axes);
	free(s->spec.s);
	free(s->name);
	free(s);
}

const char *
sweep_name(const struct sweep *s)
{
	return s->name;
}

const char *
sweep_spec(const struct sweep *s)
{
	return s->spec.s ? s->spec.s : "";
}

int
sweep_axis_count(const struct sweep *s)
{
	return s->naxes;
}

const char *
sweep_axis_key(const struct sweep *s, int i)
{
	return i >= 0 && i < s->naxes ? s->keys[s->axes[i]].name : NULL;
}

/* Index of vocabulary key name, or -1 (shared with sweep_expand.c). */
int
sweep_vocab_index(const char *name)
{
	const struct config_key *k = config_key_find(name);
	return k ? (int)(k - config_key_at(0)) : -1;
}

/* The line setting name (as written), or -1. */
static int
sweep_key_find(const struct sweep *s, const char *name)
{
	for (int i = 0; i < s->nkeys; i++)
		if (strcmp(s->keys[i].name, name) == 0)
			return i;
	return -1;
}

static void
add_filter(struct sweep *s, struct expr *x)
{
	s->filters = xrealloc(s->filters, (size_t)(s->nfilters + 1) * sizeof *s->filters);
	s->filters[s->nfilters++] = x;
}

/* ---- parser state, messages and words ---- */

struct parser {
	struct sweep *s;
	const char *file; /* NULL for command-line arguments */
	int line;	  /* line or argument number, from 1 */
	const char *buf;  /* the current line (columns count from here) */
	char **cause;
};

/* Prefixes *cause with the place of `at` in the current line; returns -1. */
static int
perr_at(struct parser *p, const char *at)
{
	int col = (int)(at - p->buf) + 1;
	if (p->file)
		return err_wrap(p->cause, "%s:%d:%d", p->file, p->line, col);
	return err_wrap(p->cause, "argument %d, column %d", p->line, col);
}

static int perr(struct parser *p, const char *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A message about the text at `at`, with its place; returns -1. */
static int
perr(struct parser *p, const char *at, const char *fmt, ...)
{
	va_list ap, aq;
	va_start(ap, fmt);
	va_copy(aq, ap);
	int n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	char *msg = xmalloc((size_t)(n > 0 ? n : 0) + 1);
	vsnprintf(msg, (size_t)(n > 0 ? n : 0) + 1, fmt, ap);
	va_end(ap);
	err_set(p->cause, "%s", msg);
	free(msg);
	return perr_at(p, at);
}

/* "line 3" or "argument 3", for messages naming another line. */
static const char *
line_name(const struct parser *p, int line, char *buf, size_t n)
{
	snprintf(buf, n, "%s %d", p->file ? "line" : "argument", line);
	return buf;
}

static const char *
skip_ws(const char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	return s;
}

/* Length of the word at s: up to white space, the end, or a byte of stops. */
static int
word_len(const char *s, const char *stops)
{
	int n = 0;
	while (s[n] && !isspace((unsigned char)s[n]) && !strchr(stops, s[n]))
		n++;
	return n;
}

/* The word at *sp (see word_len), malloc'd; *sp moves past it. */
static char *
read_word(const char **sp, const char *stops)
{
	int n = word_len(*sp, stops);
	char *w = xasprintf("%.*s", n, *sp);
	*sp += n;
	return w;
}

/* "found 'x'" text for the word at s (at most 40 bytes of it). */
#define FOUND(s) (word_len((s), ",") < 40 ? word_len((s), ",") : 40), (s)

/* Cuts line at a '#' outside double quotes (a '\' in quotes escapes the next byte). */
static void
strip_comment(char *line)
{
	int quoted = 0;
	for (char *c = line; *c; c++) {
		if (quoted && *c == '\\' && c[1])
			c++;
		else if (*c == '"')
			quoted = !quoted;
		else if (*c == '#' && !quoted) {
			*c = '\0';
			return;
		}
	}
}

/*
 * Reads the double-quoted text at *sp (at its opening quote) into *out
 * (malloc'd) and moves *sp past the closing quote; \" is a quote and \\ a
 * backslash.
 */
static int
read_quoted(struct parser *p, const char **sp, char **out)
{
	struct strbuf b = {0};
	const char *s = *sp + 1;
	for (; *s != '"'; s++) {
		if (!*s) {
			free(b.s);
			return perr(p, *sp, "unterminated quoted value");
		}
		if (*s == '\\' && (s[1] == '"' || s[1] == '\\'))
			s++;
		sb_addn(&b, s, 1);
	}
	*sp = s + 1;
	*out = sweep_sb_take(&b);
	return 0;
}

/* A value at *sp: quoted (*quoted set), or a bare word up to ',' or white space. */
static int
read_value(struct parser *p, const char **sp, char **out, int *quoted)
{
	*quoted = **sp == '"';
	if (*quoted)
		return read_quoted(p, sp, out);
	const char *s = *sp + word_len(*sp, ",\"");
	if (*s == '"')
		return perr(p, s, "a quote inside a value: quote the whole value");
	*out = read_word(sp, ",\"");
	return 0;
}

/* "unknown key" for name at `at`, suggesting the nearest key (parent.KEY if allowed). */
static int
unknown_key(struct parser *p, const char *at, const char *name, int allow_parent)
{
	int parent = allow_parent && strncmp(name, "parent.", 7) == 0;
	const char *near = config_nearest_key(parent ? name + 7 : name);
	if (near)
		return perr(p, at, "unknown key '%s' (did you mean '%s%s'?)", name,
			    parent ? "parent." : "", near);
	return perr(p, at, "unknown key '%s'", name);
}

/*
 * Resolves sk->name (written at `at`) to a vocabulary key. parent.KEY needs
 * a key that float training reads, other than job and model (the parent's
 * are fixed): not a quantization key.
 */
static int
resolve_key(struct parser *p, const char *at, struct sweep_key *sk)
{
	sk->parent = strncmp(sk->name, "parent.", 7) == 0;
	const char *base = sk->name + (sk->parent ? 7 : 0);
	sk->key = sweep_vocab_index(base);
	if (sk->key < 0)
		return unknown_key(p, at, sk->name, 1);
	const struct config_key *k = config_key_at(sk->key);
	if (!sk->parent)
		return 0;
	if (strcmp(base, "job") == 0 || strcmp(base, "model") == 0)
		return perr(p, at, "%s cannot be set: the parent trains the point's model= with "
				   "job=train", sk->name);
	if (!(k->jobs & CONFIG_JOB_TRAIN))
		return perr(p, at, "%s cannot be set: %s does not apply to job=train", sk->name,
			    base);
	if (k->quant)
		return perr(p, at, "%s cannot be set: the parent trains in float and %s is a "
				   "quantization key", sk->name, base);
	return 0;
}

/* ---- key=values lines ---- */

/* The values of a key being parsed, with where each was written. */
struct values {
	char **v;
	const char **at;
	int n, cap;
};

/* Appends the canonical text of value (for key sk, written at `at`). */
static int
add_value(struct parser *p, const struct sweep_key *sk, struct values *vs, const char *at,
	  const char *value)
{
	char *canon = NULL;
	if (config_canonical(config_key_at(sk->key)->name, value, &canon, p->cause) < 0)
		return perr_at(p, at);
	if (vs->n == vs->cap) {
		vs->cap = vs->cap ? 2 * vs->cap : 8;
		vs->v = xrealloc(vs->v, (size_t)vs->cap * sizeof *vs->v);
		vs->at = xrealloc(vs->at, (size_t)vs->cap * sizeof *vs->at);
	}
	vs->v[vs->n] = canon;
	vs->at[vs->n++] = at;
	return 0;
}

struct ranked {
	const char *v;
	int i;
};

static int
cmp_ranked(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;
	int c = strcmp(x->v, y->v);
	return c ? c : (x->i > y->i) - (x->i < y->i);
}

/* -1 when a value repeats an earlier one; the first repetition is named. */
static int
check_distinct(struct parser *p, const struct sweep_key *sk, const struct values *vs)
{
	struct ranked *r = xmalloc((size_t)vs->n * sizeof *r);
	for (int i = 0; i < vs->n; i++)
		r[i] = (struct ranked){vs->v[i], i};
	qsort(r, (size_t)vs->n, sizeof *r, cmp_ranked);
	/* sorted by value, then position: the second of a run repeats the first */
	int dup = -1;
	for (int i = 1; i < vs->n; i++)
		if (!strcmp(r[i].v, r[i - 1].v) && (i < 2 || strcmp(r[i - 2].v, r[i].v)) &&
		    (dup < 0 || r[i].i < dup))
			dup = r[i].i;
	free(r);
	if (dup >= 0)
		return perr(p, vs->at[dup], "value %s appears twice in %s", vs->v[dup], sk->name);
	return 0;
}

/* Reads a decimal integer (optional sign, digits) at s, which must end at end. */
static int
parse_ll(const char *s, const char *end, long long *out)
{
	char *e;
	if (!isdigit((unsigned char)s[*s == '-' || *s == '+']))
		return -1;
	errno = 0;
	*out = strtoll(s, &e, 10);
	return e == end && !errno ? 0 : -1;
}

/* The bare item lo..hi (written at `at`): its values, and its canonical text. */
static int
parse_int_range(struct parser *p, const struct sweep_key *sk, struct values *vs, const char *at,
		const char *item, struct strbuf *text)
{
	const char *dots = strstr(item, "..");
	long long lo, hi;
	char buf[48];
	if (parse_ll(item, dots, &lo) < 0 || parse_ll(dots + 2, dots + strlen(dots), &hi) < 0)
		return perr(p, at, "bad range '%s': expected lo..hi with integers (quote a value "
				   "that holds '..')", item);
	if (lo > hi)
		return perr(p, at, "bad range '%s': lo is greater than hi", item);
	if ((double)hi - (double)lo >= SWEEP_MAX_VALUES)
		return perr(p, at, "range %s has more than %d values", item, SWEEP_MAX_VALUES);
	for (long long v = lo; v <= hi; v++) {
		snprintf(buf, sizeof buf, "%lld", v);
		if (add_value(p, sk, vs, at, buf) < 0)
			return -1;
	}
	snprintf(buf, sizeof buf, "%lld..%lld", lo, hi);
	sweep_sb_add(text, buf);
	return 0;
}

/*
 * range(a,b,step) at s, the whole value: a, a+step, ... while within
 * 1e-9*|step| of b, each rounded to 12 significant digits (and within
 * 1e-9*|step| of 0 to 0), so that a float step gives the values one would
 * write: range(0,0.05,0.01) ends on 0.05, not 0.05000000000000001.
 */
static int
parse_range_call(struct parser *p, const struct sweep_key *sk, struct values *vs, const char *s,
		 struct strbuf *text)
{
	const char *start = s, *xat[3];
	double x[3];
	char f[3][40], buf[160];
	s = skip_ws(s + 5) + 1;
	for (int i = 0; i < 3; i++) {
		s = skip_ws(s);
		xat[i] = s;
		char *t = read_word(&s, ",)"), *end;
		x[i] = strtod(t, &end);
		int bad = !*t || *end || !isfinite(x[i]);
		free(t);
		if (bad && s == xat[i])
			return perr(p, s, "range(a,b,step) needs three numbers");
		if (bad)
			return perr(p, xat[i], "bad number '%.*s' in range(a,b,step)",
				    (int)(s - xat[i]), xat[i]);
		config_format_double(f[i], sizeof f[i], x[i]);
		s = skip_ws(s);
		if (i == 2 && *s == ',')
			return perr(p, s, "range(a,b,step) takes three numbers");
		if (*s++ != (i < 2 ? ',' : ')'))
			return perr(p, s - 1, "expected '%c' in range(a,b,step)",
				    i < 2 ? ',' : ')');
	}
	s = skip_ws(s);
	if (*s)
		return perr(p, s, "unexpected '%.*s' after range(...)", FOUND(s));
	snprintf(buf, sizeof buf, "range(%s,%s,%s)", f[0], f[1], f[2]);
	if (x[2] == 0)
		return perr(p, xat[2], "%s: the step must not be 0", buf);
	if ((x[1] - x[0]) * x[2] < 0)
		return perr(p, xat[2], "%s: a step of %s never reaches %s", buf, f[2], f[1]);
	if ((x[1] - x[0]) / x[2] >= SWEEP_MAX_VALUES)
		return perr(p, start, "%s has more than %d values", buf, SWEEP_MAX_VALUES);
	sweep_sb_add(text, buf);
	double tol = 1e-9 * fabs(x[2]);
	for (int i = 0;; i++) {
		double v = x[0] + i * x[2];
		if (x[2] > 0 ? v > x[1] + tol : v < x[1] - tol)
			return 0;
		snprintf(buf, sizeof buf, "%.12g", fabs(v) <= tol ? 0.0 : v);
		config_format_double(f[0], sizeof f[0], strtod(buf, NULL));
		if (add_value(p, sk, vs, start, f[0]) < 0)
			return -1;
	}
}

/*
 * The values after '=' at s: range(...), or a list of bare or quoted items,
 * each a value or (bare) an integer range lo..hi. Syntax is checked before
 * values, so "a b" is a syntax error, not a bad value 'a'.
 */
static int
parse_values(struct parser *p, const struct sweep_key *sk, struct values *vs, const char *s,
	     struct strbuf *text)
{
	s = skip_ws(s);
	if (strncmp(s, "range", 5) == 0 && *skip_ws(s + 5) == '(')
		return parse_range_call(p, sk, vs, s, text);
	for (int first = 1;; first = 0) {
		s = skip_ws(s);
		const char *at = s;
		char *item;
		int quoted, r;
		if (read_value(p, &s, &item, &quoted) < 0)
			return -1;
		s = skip_ws(s);
		if ((!*item && !quoted && (*s || !first)) || (*s && *s != ',')) {
			free(item);
			if (!*s || *s == ',')
				return perr(p, at, "empty value in the list of %s", sk->name);
			return perr(p, s, "expected ',' between values, found '%.*s' (quote a "
					  "value that holds spaces)", FOUND(s));
		}
		sweep_sb_add(text, first ? "" : ",");
		if (!quoted && strstr(item, "..")) {
			r = parse_int_range(p, sk, vs, at, item, text);
		} else {
			r = add_value(p, sk, vs, at, item);
			if (r == 0)
				sweep_sb_add_value(text, vs->v[vs->n - 1], 0);
		}
		free(item);
		if (r < 0 || !*s++)
			return r;
	}
}

/* key=values at s. */
static int
parse_key_line(struct parser *p, const char *s)
{
	const char *at = s;
	struct sweep_key sk = {.name = read_word(&s, "="), .zip = -1, .line = p->line};
	struct values vs = {0};
	struct strbuf text = {0};
	char l1[32], l2[32];
	int prev, r = -1;
	s = skip_ws(s);
	if (!*sk.name)
		perr(p, at, "expected key=value");
	else if (*s != '=')
		perr(p, s, "expected '=' after '%s'", sk.name);
	else if (resolve_key(p, at, &sk) == 0) {
		if ((prev = sweep_key_find(p->s, sk.name)) >= 0)
			perr(p, at, "%s is given twice (%s and %s)", sk.name,
			     line_name(p, p->s->keys[prev].line, l1, sizeof l1),
			     line_name(p, p->line, l2, sizeof l2));
		else if (parse_values(p, &sk, &vs, s + 1, &text) == 0)
			r = check_distinct(p, &sk, &vs);
	}
	if (r == 0) {
		struct sweep *sw = p->s;
		sk.v = vs.v;
		sk.n = vs.n;
		sk.text = sweep_sb_take(&text);
		vs.v = NULL;
		vs.n = 0;
		sw->keys = xrealloc(sw->keys, (size_t)(sw->nkeys + 1) * sizeof *sw->keys);
		sw->keys[sw->nkeys++] = sk;
		sweep_sb_add(&sw->spec, sk.name);
		sweep_sb_add(&sw->spec, "=");
		sweep_sb_add(&sw->spec, sk.text);
		sweep_sb_add(&sw->spec, "\n");
	} else {
		sweep_key_done(&sk);
	}
	for (int i = 0; i < vs.n; i++)
		free(vs.v[i]);
	free(vs.v);
	free(vs.at);
	free(text.s);
	return r;
}

/* ---- :zip and :exclude ---- */

/* Checks that the key `name` (line j, or -1; written at `at`) may join zip z. */
static int
zip_check_key(struct parser *p, const struct sweep_zip *z, int j, const char *at,
	      const char *name)
{
	const struct sweep *s = p->s;
	char buf[32];
	if (j < 0) {
		int parent = strncmp(name, "parent.", 7) == 0;
		if (sweep_vocab_index(name + (parent ? 7 : 0)) < 0)
			return unknown_key(p, at, name, 1);
		return perr(p, at, "%s is not an axis: give %s=v1,v2,... before the :zip", name,
			    name);
	}
	const struct sweep_key *k = &s->keys[j], *k0 = z->n ? &s->keys[z->keys[0]] : k;
	if (k->n < 2)
		return perr(p, at, "%s has a single value: only axes can be zipped", name);
	if (k->zip >= 0)
		return perr(p, at, "%s is already in a :zip (%s)", name,
			    line_name(p, s->zips[k->zip].line, buf, sizeof buf));
	for (int i = 0; i < z->n; i++)
		if (z->keys[i] == j)
			return perr(p, at, "%s appears twice in the :zip", name);
	if (k0->n != k->n)
		return perr(p, at, "%s has %d values but %s has %d: zipped axes need equal lengths",
			    k0->name, k0->n, name, k->n);
	return 0;
}

/* :zip(k1,k2,...), s after "zip". */
static int
parse_zip(struct parser *p, const char *s)
{
	const char *start = s;
	struct sweep_zip z = {.line = p->line};
	s = skip_ws(s);
	if (*s++ != '(')
		return perr(p, s - 1, "expected '(' after :zip");
	for (;;) {
		s = skip_ws(s);
		const char *at = s;
		char *name = read_word(&s, ",()");
		int j = sweep_key_find(p->s, name), r = 0;
		if (!*name)
			r = perr(p, at, "expected a key in :zip(...)");
		else
			r = zip_check_key(p, &z, j, at, name);
		free(name);
		if (r < 0)
			goto fail;
		z.keys = xrealloc(z.keys, (size_t)(z.n + 1) * sizeof *z.keys);
		z.keys[z.n++] = j;
		s = skip_ws(s);
		if (*s == ')')
			break;
		if (*s++ != ',') {
			perr(p, s - 1, "expected ',' or ')' in :zip(...)");
			goto fail;
		}
	}
	s = skip_ws(s + 1);
	if (*s || z.n < 2) {
		if (*s)
			perr(p, s, "unexpected '%.*s' after :zip(...)", FOUND(s));
		else
			perr(p, start, "a :zip needs at least two axes");
		goto fail;
	}
	struct sweep *sw = p->s;
	sweep_sb_add(&sw->spec, ":zip(");
	for (int i = 0; i < z.n; i++) {
		sw->keys[z.keys[i]].zip = sw->nzips;
		sweep_sb_add(&sw->spec, i ? "," : "");
		sweep_sb_add(&sw->spec, sw->keys[z.keys[i]].name);
	}
	sweep_sb_add(&sw->spec, ")\n");
	sw->zips = xrealloc(sw->zips, (size_t)(sw->nzips + 1) * sizeof *sw->zips);
	sw->zips[sw->nzips++] = z;
	return 0;
fail:
	free(z.keys);
	return -1;
}

static struct expr *
expr_node(enum expr_kind kind, struct expr *a, struct expr *b)
{
	struct expr *e = xcalloc(1, sizeof *e);
	e->kind = kind;
	e->a = a;
	e->b = b;
	return e;
}

/* The comparison key=value (value canonical for key). */
static struct expr *
expr_equals(int key, char *value)
{
	struct expr *x = expr_node(EXPR_CMP, NULL, NULL);
	x->op = EXPR_EQ;
	x->l.key = key;
	x->r.key = -1;
	x->r.text = value;
	return x;
}

/* Nonzero when x, an AND of comparisons, compares key k. */
static int
expr_has_key(const struct expr *x, int k)
{
	if (!x)
		return 0;
	if (x->kind == EXPR_CMP)
		return x->l.key == k;
	return expr_has_key(x->a, k) || expr_has_key(x->b, k);
}

/* One k=v of an :exclude at *sp: ANDed to *x, its canonical text added to text. */
static int
parse_exclude_pair(struct parser *p, struct expr **x, struct strbuf *text, const char **sp)
{
	const char *s = skip_ws(*sp), *at = s, *vat;
	char *name = read_word(&s, "=,"), *raw = NULL, *canon = NULL;
	int k = sweep_vocab_index(name), quoted, r = -1;
	s = skip_ws(s);
	if (!*name)
		perr(p, at, "expected key=value in :exclude");
	else if (k < 0)
		unknown_key(p, at, name, 0);
	else if (expr_has_key(*x, k))
		perr(p, at, "%s appears twice in the :exclude", name);
	else if (*s != '=')
		perr(p, s, "expected '=' after '%s'", name);
	else {
		s = vat = skip_ws(s + 1);
		if (read_value(p, &s, &raw, &quoted) == 0 &&
		    (r = config_canonical(name, raw, &canon, p->cause)) < 0)
			perr_at(p, vat);
	}
	if (r == 0) {
		sweep_sb_add(text, *x ? "," : "");
		sweep_sb_add(text, name);
		sweep_sb_add(text, "=");
		sweep_sb_add_value(text, canon, 0);
		struct expr *eq = expr_equals(k, canon);
		*x = *x ? expr_node(EXPR_AND, *x, eq) : eq;
		*sp = s;
	}
	free(name);
	free(raw);
	return r;
}

/* :exclude k=v,..., s after "exclude": kept as the filter not (k=v and ...). */
static int
parse_exclude(struct parser *p, const char *s)
{
	struct expr *x = NULL;
	struct strbuf text = {0};
	sweep_sb_add(&text, ":exclude ");
	while (parse_exclude_pair(p, &x, &text, &s) == 0) {
		s = skip_ws(s);
		if (!*s) {
			sweep_sb_add(&p->s->spec, text.s);
			sweep_sb_add(&p->s->spec, "\n");
			free(text.s);
			add_filter(p->s, expr_node(EXPR_NOT, x, NULL));
			return 0;
		}
		if (*s++ != ',') {
			perr(p, s - 1, "expected ',' between key=value pairs, found '%.*s'",
			     FOUND(s - 1));
			break;
		}
	}
	expr_free(x);
	free(text.s);
	return -1;
}

/* ---- :where expressions ---- */

enum tok_kind { TOK_END, TOK_LPAREN, TOK_RPAREN, TOK_OP, TOK_WORD, TOK_STRING };

struct token {
	enum tok_kind kind;
	enum expr_op op; /* TOK_OP */
	const char *at;
	char *text;	/* TOK_WORD, TOK_STRING: the text (malloc'd) */
	char show[48];	/* for messages: "'w.bits'", "the end of the line" */
};

/* A recursive-descent parser over tokens; t[n - 1] is TOK_END. */
struct eparser {
	struct parser *p;
	struct token *t;
	int n, i;
};

/* Splits the expression at s into e->t. */
static int
lex(struct eparser *e, const char *s)
{
	static const char op_chars[] = "=!<>";
	for (;;) {
		s = skip_ws(s);
		struct token t = {.kind = TOK_OP, .at = s};
		if (!*s) {
			t.kind = TOK_END;
		} else if (*s == '(' || *s == ')') {
			t.kind = *s++ == '(' ? TOK_LPAREN : TOK_RPAREN;
		} else if (*s == '"') {
			t.kind = TOK_STRING;
			if (read_quoted(e->p, &s, &t.text) < 0)
				return -1;
		} else if (strchr(op_chars, *s)) {
			/* = or ==, !=, < or <=, > or >= */
			static const enum expr_op one[] = {EXPR_EQ, EXPR_NE, EXPR_LT, EXPR_GT};
			static const enum expr_op two[] = {EXPR_EQ, EXPR_NE, EXPR_LE, EXPR_GE};
			int o = (int)(strchr(op_chars, *s) - op_chars), eq = s[1] == '=';
			if (*s == '!' && !eq)
				return perr(e->p, s, "unexpected '!' (use != or not)");
			t.op = eq ? two[o] : one[o];
			s += 1 + eq;
		} else {
			t.kind = TOK_WORD;
			t.text = read_word(&s, "()=!<>\"");
		}
		if (t.kind == TOK_END)
			snprintf(t.show, sizeof t.show, "the end of the line");
		else
			snprintf(t.show, sizeof t.show, "'%.*s'", (int)(s - t.at), t.at);
		e->t = xrealloc(e->t, (size_t)(e->n + 1) * sizeof *e->t);
		e->t[e->n++] = t;
		if (t.kind == TOK_END)
			return 0;
	}
}

/* Reads s as a whole finite number (shared with sweep_expand.c). */
int
sweep_as_number(const char *s, double *x)
{
	char *end;
	*x = strtod(s, &end);
	return *s && !isspace((unsigned char)*s) && !*end && isfinite(*x);
}

static int
is_keyword(const struct token *t, const char *kw)
{
	return t->kind == TOK_WORD && strcmp(t->text, kw) == 0;
}

static int
is_operand(const struct token *t)
{
	return t->kind == TOK_STRING || (t->kind == TOK_WORD && !is_keyword(t, "and") &&
					 !is_keyword(t, "or") && !is_keyword(t, "not"));
}

/*
 * The literal side t of a comparison with key: compared with = or !=, the
 * key's canonical text of it (so a typo is an error and lr=.1 matches 0.1);
 * in an ordering, a number's canonical text, or the text as written.
 */
static int
literal_text(struct eparser *e, int key, enum expr_op op, const struct token *t, char **out)
{
	char buf[40];
	double x;
	if (op == EXPR_EQ || op == EXPR_NE) {
		if (config_canonical(config_key_at(key)->name, t->text, out, e->p->cause) < 0)
			return perr_at(e->p, t->at);
		return 0;
	}
	if (sweep_as_number(t->text, &x))
		config_format_double(buf, sizeof buf, x);
	*out = xstrdup(sweep_as_number(t->text, &x) ? buf : t->text);
	return 0;
}

/* operand op operand, where a word that is a vocabulary key is that key. */
static int
parse_cmp(struct eparser *e, struct expr **out)
{
	/* each token checked is not the last, TOK_END, so the next one exists */
	const struct token *l = &e->t[e->i];
	if (!is_operand(l))
		return perr(e->p, l->at, "expected a key or a value, found %s", l->show);
	const struct token *op = l + 1;
	if (op->kind != TOK_OP)
		return perr(e->p, op->at, "expected = != < <= > or >= after %s, found %s", l->show,
			    op->show);
	const struct token *r = op + 1;
	if (!is_operand(r))
		return perr(e->p, r->at, "expected a key or a value after %s, found %s", op->show,
			    r->show);
	e->i += 3;
	int lk = l->kind == TOK_WORD ? sweep_vocab_index(l->text) : -1;
	int rk = r->kind == TOK_WORD ? sweep_vocab_index(r->text) : -1;
	if (lk < 0 && rk < 0) {
		/* a constant comparison is a typo: name the key it was meant to be */
		for (const struct token *t = l; t <= r; t += 2) {
			const char *near = t->kind == TOK_WORD ? config_nearest_key(t->text) : NULL;
			if (near)
				return perr(e->p, t->at, "'%s' is not a key (did you mean '%s'?)",
					    t->text, near);
		}
		return perr(e->p, l->at, "neither '%s' nor '%s' is a key", l->text, r->text);
	}
	struct expr *x = expr_node(EXPR_CMP, NULL, NULL);
	x->op = op->op;
	x->l.key = lk;
	x->r.key = rk;
	if ((lk < 0 && literal_text(e, rk, op->op, l, &x->l.text) < 0) ||
	    (rk < 0 && literal_text(e, lk, op->op, r, &x->r.text) < 0)) {
		expr_free(x);
		return -1;
	}
	*out = x;
	return 0;
}

static int parse_expr(struct eparser *e, struct expr **out, int level);

/* not X | ( EXPR ) | comparison */
static int
parse_unary(struct eparser *e, struct expr **out)
{
	struct expr *a;
	if (is_keyword(&e->t[e->i], "not")) {
		e->i++;
		if (parse_unary(e, &a) < 0)
			return -1;
		*out = expr_node(EXPR_NOT, a, NULL);
		return 0;
	}
	if (e->t[e->i].kind != TOK_LPAREN)
		return parse_cmp(e, out);
	e->i++;
	if (parse_expr(e, &a, 0) < 0)
		return -1;
	if (e->t[e->i].kind != TOK_RPAREN) {
		expr_free(a);
		return perr(e->p, e->t[e->i].at, "expected ')', found %s", e->t[e->i].show);
	}
	e->i++;
	*out = a;
	return 0;
}

/* Level 0: terms of level 1 joined by or; level 1: unary terms joined by and. */
static int
parse_expr(struct eparser *e, struct expr **out, int level)
{
	static const char *const kw[] = {"or", "and"};
	struct expr *a, *b;
	if (level == 2)
		return parse_unary(e, out);
	if (parse_expr(e, &a, level + 1) < 0)
		return -1;
	while (is_keyword(&e->t[e->i], kw[level])) {
		e->i++;
		if (parse_expr(e, &b, level + 1) < 0) {
			expr_free(a);
			return -1;
		}
		a = expr_node(level ? EXPR_AND : EXPR_OR, a, b);
	}
	*out = a;
	return 0;
}

/* The operators as the canonical text writes them, by enum expr_op. */
static const char *const expr_op_text[] = {"=", "!=", "<", "<=", ">", ">="};

/* Binding strength: or < and < not < comparison. */
static int
expr_prec(const struct expr *x)
{
	static const int prec[] = {[EXPR_OR] = 1, [EXPR_AND] = 2, [EXPR_NOT] = 3, [EXPR_CMP] = 4};
	return prec[x->kind];
}

static void
operand_print(struct strbuf *b, const struct operand *o)
{
	if (o->key >= 0) {
		sweep_sb_add(b, config_key_at(o->key)->name);
		return;
	}
	/* a literal that would read as a key or a keyword keeps its quotes */
	sweep_sb_add_value(b, o->text, sweep_vocab_index(o->text) >= 0 ||
				      !strcmp(o->text, "and") || !strcmp(o->text, "or") ||
				      !strcmp(o->text, "not"));
}

/* Canonical text of x: single spaces around keywords, parentheses only where needed. */
static void
expr_print(struct strbuf *b, const struct expr *x, int min_prec)
{
	int prec = expr_prec(x);
	sweep_sb_add(b, prec < min_prec ? "(" : "");
	if (x->kind == EXPR_CMP) {
		operand_print(b, &x->l);
		sweep_sb_add(b, expr_op_text[x->op]);
		operand_print(b, &x->r);
	} else if (x->kind == EXPR_NOT) {
		sweep_sb_add(b, "not ");
		expr_print(b, x->a, prec);
	} else {
		expr_print(b, x->a, prec);
		sweep_sb_add(b, x->kind == EXPR_OR ? " or " : " and ");
		expr_print(b, x->b, prec + 1);
	}
	sweep_sb_add(b, prec < min_prec ? ")" : "");
}

/* :where EXPR, s after "where". */
static int
parse_where(struct parser *p, const char *s)
{
	struct eparser e = {.p = p};
	struct expr *x = NULL;
	int r = lex(&e, s);
	if (r == 0 && e.t[0].kind == TOK_END)
		r = perr(p, e.t[0].at, "expected an expression after :where");
	if (r == 0)
		r = parse_expr(&e, &x, 0);
	if (r == 0 && e.t[e.i].kind != TOK_END) {
		r = perr(p, e.t[e.i].at, "unexpected %s", e.t[e.i].show);
		expr_free(x);
	}
	if (r == 0) {
		sweep_sb_add(&p->s->spec, ":where ");
		expr_print(&p->s->spec, x, 0);
		sweep_sb_add(&p->s->spec, "\n");
		add_filter(p->s, x);
	}
	for (int i = 0; i < e.n; i++)
		free(e.t[i].text);
	free(e.t);
	return r;
}

/* ---- lines and sources ---- */

/* The directives: each parser gets the text after the name. */
static const struct directive {
	const char *name;
	int (*parse)(struct parser *p, const char *s);
} directives[] = {{"zip", parse_zip}, {"where", parse_where}, {"exclude", parse_exclude}};
#define NDIRECTIVES ((int)(sizeof directives / sizeof directives[0]))

/* :NAME ... at s. */
static int
parse_directive(struct parser *p, const char *s)
{
	const char *at = s++, *names[NDIRECTIVES];
	int n = 0;
	while (isalpha((unsigned char)s[n]))
		n++;
	for (int i = 0; i < NDIRECTIVES; i++) {
		names[i] = directives[i].name;
		if (n && (int)strlen(names[i]) == n && strncmp(names[i], s, (size_t)n) == 0)
			return directives[i].parse(p, s + n);
	}
	char *name = xasprintf("%.*s", n, s);
	const char *near = util_nearest(name, names, NDIRECTIVES);
	if (near)
		perr(p, at, "unknown directive ':%s' (did you mean ':%s'?)", name, near);
	else
		perr(p, at, "unknown directive ':%s' (expected :zip, :where or :exclude)", name);
	free(name);
	return -1;
}

/* One line (or argument) of n bytes at text. */
static int
parse_line(struct parser *p, const char *text, size_t n)
{
	char *buf = xasprintf("%.*s", (int)n, text);
	strip_comment(buf);
	p->buf = buf;
	const char *s = skip_ws(buf);
	int r = *s == ':' ? parse_directive(p, s) : *s ? parse_key_line(p, s) : 0;
	free(buf);
	return r;
}

/* After the last line: the sweep must set a key; finds its axes. */
static int
parse_finish(struct parser *p, struct sweep **out)
{
	struct sweep *s = p->s;
	if (s->nkeys == 0) {
		if (p->file)
			err_set(p->cause, "%s: the sweep sets no key (expected key=value lines)",
				p->file);
		else
			err_set(p->cause, "the sweep sets no key (expected key=value arguments)");
		sweep_free(s);
		return -1;
	}
	s->axes = xmalloc((size_t)s->nkeys * sizeof *s->axes);
	for (int i = 0; i < s->nkeys; i++)
		if (s->keys[i].n > 1)
			s->axes[s->naxes++] = i;
	*out = s;
	return 0;
}

/* Parses n lines: text split at newlines when argv is NULL, else argv[0..n). */
static int
parse_lines(struct sweep **out, const char *file, const char *name, const char *text,
	    int argc, char *const *argv, char **cause)
{
	struct sweep *s = xcalloc(1, sizeof *s);
	struct parser p = {.s = s, .file = file, .cause = cause};
	s->name = xstrdup(name ? name : "");
	*out = NULL;
	for (const char *next = text; argv ? p.line < argc : *next != '\0';) {
		const char *line = argv ? argv[p.line] : next;
		const char *nl = argv ? NULL : strchr(line, '\n');
		size_t n = nl ? (size_t)(nl - line) : strlen(line);
		p.line++;
		if (parse_line(&p, line, n) < 0) {
			sweep_free(s);
			return -1;
		}
		next = line + n + (nl != NULL);
	}
	return parse_finish(&p, out);
}

int
sweep_parse_text(struct sweep **out, const char *file, const char *name, const char *text,
		 char **cause)
{
	return parse_lines(out, file ? file : "sweep", name, text, 0, NULL, cause);
}

int
sweep_parse_args(struct sweep **out, int argc, char *const *argv, char **cause)
{
	return parse_lines(out, NULL, "cli", "", argc, argv, cause);
}

int
sweep_parse_file(struct sweep **out, const char *path, char **cause)
{
	*out = NULL;
	FILE *f = fopen(path, "rb");
	if (!f)
		return err_set(cause, "%s: %s", path, strerror(errno));
	char *buf = xmalloc(SWEEP_MAX_FILE + 2);
	size_t n = fread(buf, 1, SWEEP_MAX_FILE + 1, f);
	int rerr = ferror(f) ? errno : 0, r = -1;
	fclose(f);
	if (rerr) {
		err_set(cause, "%s: %s", path, strerror(rerr));
	} else if (n > SWEEP_MAX_FILE) {
		err_set(cause, "%s: too large for a sweep file (over 1 MiB)", path);
	} else if (memchr(buf, '\0', n)) {
		err_set(cause, "%s: holds a NUL byte: not a sweep file", path);
	} else {
		buf[n] = '\0';
		const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
		size_t len = strlen(base);
		if (len > 6 && strcmp(base + len - 6, ".sweep") == 0)
			len -= 6;
		char *name = xasprintf("%.*s", (int)len, base);
		r = sweep_parse_text(out, path, name, buf, cause);
		free(name);
	}
	free(buf);
	return r;
}
