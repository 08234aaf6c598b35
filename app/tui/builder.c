/*
 * builder: the Sweep builder's state and the sweep text it stands for (see
 * builder.h for the contract).
 *
 * The builder reads sweeps through the sweep parser only: a text is parsed
 * first, and its canonical spec (one canonical line per line of the input)
 * is what gets split into job, model, dataset, axes and free lines. So every
 * value taken into the builder is canonical, and the values of a line are
 * read back from canonical text only: lists of bare or double-quoted values,
 * integer ranges lo..hi and range(a,b,step), which is computed the way the
 * parser computes it. An axis keeps the right-hand side it was loaded with
 * ("1..5") until it changes, so that an untouched sweep keeps its spec.
 *
 * Changes that may break the sweep (free lines) are made on a copy of the
 * builder, whose text is parsed before the copy replaces the builder: a
 * refused change leaves the builder as it was.
 */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/tui/builder.h"
#include "engine/model.h"
#include "engine/util.h"
#include "experiments/config.h"
#include "experiments/runner.h"
#include "experiments/sweep.h"

/* Largest .sweep file read (as the sweep parser's limit, 1 MiB). */
#define BUILDER_MAX_FILE (1 << 20)
/* Seconds a summary spends on new estimates before it leaves the rest pending. */
#define BUILDER_ESTIMATE_BUDGET_S 0.1

/* ---- the axes the screen offers ---- */

static const char *const bits_values[] = {"1", "2", "3", "4", "5", "6", "7", "8", "32", NULL};
static const char *const ratio_values[] = {"0", "0.01", "0.02", "0.05", "0.1", NULL};
static const char *const seed_values[] = {"1", "2", "3", "4", "5", NULL};
static const char *const epochs_values[] = {"1", "2", "5", "10", "15", "20", NULL};
static const char *const clip_values[] = {"max", "pct:99.9", "mse", "aciq", "kl", NULL};
static const char *const wclip_values[] = {"same", "max", "pct:99.9", "mse", "aciq", "kl", NULL};

/*
 * One axis: its key and its first candidates (NULL: the key's enum values);
 * a value the key does not allow (g.bits=1) is left out. The order of the
 * table is the order of the axes in the text; numeric candidates ascend.
 */
static const struct axis_def {
	const char *key;
	const char *const *values;
} axis_defs[] = {
	{"epochs", epochs_values}, {"scheme", NULL},	 {"w.scheme", NULL},
	{"w.bits", bits_values},   {"a.bits", bits_values}, {"g.bits", bits_values},
	{"clip", clip_values},	   {"w.clip", wclip_values}, {"ocs.ratio", ratio_values},
	{"ocs.split", NULL},	   {"border", NULL},	     {"seed", seed_values},
};
#define NAXES ((int)(sizeof axis_defs / sizeof axis_defs[0]))

/* The single keys, in the order of the text. */
static const char *const slot_keys[] = {"job", "model", "dataset"};
#define NSLOTS ((int)(sizeof slot_keys / sizeof slot_keys[0]))

static const char *const job_choices[] = {"train", "ptq", NULL};
static const char *const dataset_choices[] = {"fmnist", NULL};
static const char *const bool_values[] = {"false", "true", NULL};
static const char *const directives[] = {":exclude ", ":where ", ":zip(", NULL};

struct axis {
	const char *key;	/* axis_defs[].key (static) */
	int numeric;		/* an int or float key: candidates in numeric order */
	char **cand;		/* candidate values, canonical, distinct */
	int ncand;
	int *on;		/* indices into cand of the values on, as written */
	int non;
	char *text;		/* the right-hand side as loaded, while unchanged; or NULL */
};

struct tui_builder {
	char *name;
	char *comment;		/* comment lines at the top of the loaded text, or NULL */
	char *slot[NSLOTS];	/* job, model, dataset: canonical values, NULL when unset */
	struct axis axes[NAXES];
	char **lines;		/* free lines */
	int nlines;
	int modified;
	struct runner_estimates *memo; /* estimates made by summaries, or NULL */
};

/* ---- strings ---- */

/* A growing NUL-terminated string. */
struct text {
	char *s;
	size_t len, cap;
};

static void
text_addn(struct text *t, const char *s, size_t n)
{
	while (t->len + n + 1 > t->cap) {
		t->cap = t->cap ? 2 * t->cap : 128;
		t->s = xrealloc(t->s, t->cap);
	}
	memcpy(t->s + t->len, s, n);
	t->len += n;
	t->s[t->len] = '\0';
}

static void
text_add(struct text *t, const char *s)
{
	text_addn(t, s, strlen(s));
}

/* The string built (malloc'd, "" when empty); t is left empty. */
static char *
text_take(struct text *t)
{
	char *s = t->s ? t->s : xstrdup("");
	memset(t, 0, sizeof *t);
	return s;
}

/*
 * Appends value v as the sweep language reads it back: bare, or in double
 * quotes (with \" and \\) when it is empty or holds '..', white space or a
 * byte that ends a bare word (the parser's rule, so the text stays canonical).
 */
static void
text_add_value(struct text *t, const char *v)
{
	int quote = !*v || strstr(v, "..");
	for (const char *c = v; *c && !quote; c++)
		quote = isspace((unsigned char)*c) || strchr(",\"#\\()=!<>", *c);
	if (!quote) {
		text_add(t, v);
		return;
	}
	text_add(t, "\"");
	for (const char *c = v; *c; c++) {
		if (*c == '"' || *c == '\\')
			text_add(t, "\\");
		text_addn(t, c, 1);
	}
	text_add(t, "\"");
}

/* Inserts s (owned from now on) at position i of the array *v of *n strings. */
static void
strv_insert(char ***v, int *n, int i, char *s)
{
	*v = xrealloc(*v, (size_t)(*n + 1) * sizeof **v);
	memmove(*v + i + 1, *v + i, (size_t)(*n - i) * sizeof **v);
	(*v)[i] = s;
	(*n)++;
}

static void
strv_remove(char **v, int *n, int i)
{
	free(v[i]);
	memmove(v + i, v + i + 1, (size_t)(*n - i - 1) * sizeof *v);
	(*n)--;
}

void
tui_builder_strings_free(char **v, int n)
{
	for (int i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Nonzero when s reads as a whole finite number, then in *x. */
static int
as_number(const char *s, double *x)
{
	char *end;
	*x = strtod(s, &end);
	return *s && !isspace((unsigned char)*s) && !*end && isfinite(*x);
}

/* ---- reading canonical right-hand sides ---- */

/* Appends the canonical text of value for key to *v; -1 when key refuses it. */
static int
push_value(const char *key, const char *value, char ***v, int *n)
{
	char *canon = NULL;
	if (config_canonical(key, value, &canon, NULL) < 0)
		return -1;
	strv_insert(v, n, *n, canon);
	return 0;
}

/*
 * range(a,b,step) (the whole right-hand side): a, a+step, ... while within
 * 1e-9*|step| of b, each rounded to 12 significant digits (0 within
 * 1e-9*|step| of 0), as the sweep parser gives them.
 */
static int
range_values(const char *key, const char *s, char ***v, int *n)
{
	double x[3];
	char *end;
	s += strlen("range(");
	for (int i = 0; i < 3; i++) {
		x[i] = strtod(s, &end);
		if (end == s || *end != (i < 2 ? ',' : ')'))
			return -1;
		s = end + 1;
	}
	if (*s || x[2] == 0 || (x[1] - x[0]) * x[2] < 0)
		return -1;
	double tol = 1e-9 * fabs(x[2]);
	for (int i = 0;; i++) {
		double y = x[0] + i * x[2];
		char buf[64], canon[40];
		if (x[2] > 0 ? y > x[1] + tol : y < x[1] - tol)
			return 0;
		snprintf(buf, sizeof buf, "%.12g", fabs(y) <= tol ? 0.0 : y);
		config_format_double(canon, sizeof canon, strtod(buf, NULL));
		if (push_value(key, canon, v, n) < 0)
			return -1;
	}
}

/* The integers lo..hi of a bare item. */
static int
int_range_values(const char *key, const char *item, char ***v, int *n)
{
	char *end;
	errno = 0;
	long long lo = strtoll(item, &end, 10);
	if (end == item || strncmp(end, "..", 2) != 0)
		return -1;
	const char *h = end + 2;
	long long hi = strtoll(h, &end, 10);
	if (end == h || *end || errno || lo > hi)
		return -1;
	for (long long i = lo; i <= hi; i++) {
		char buf[32];
		snprintf(buf, sizeof buf, "%lld", i);
		if (push_value(key, buf, v, n) < 0)
			return -1;
	}
	return 0;
}

/*
 * The values of key written as rhs, the canonical right-hand side of a
 * line: *v gets *n canonical values in order (free with
 * tui_builder_strings_free()). -1 when rhs does not read back as values of
 * key (nothing to free then).
 */
static int
rhs_values(const char *key, const char *rhs, char ***v, int *n)
{
	struct text item = {0};
	int ret = 0;
	*v = NULL;
	*n = 0;
	if (strncmp(rhs, "range(", 6) == 0) {
		ret = range_values(key, rhs, v, n);
		goto out;
	}
	for (const char *s = rhs; ret == 0;) {
		int quoted = *s == '"';
		free(text_take(&item));
		if (quoted) {
			for (s++; *s && *s != '"'; s++) {
				if (*s == '\\' && (s[1] == '"' || s[1] == '\\'))
					s++;
				text_addn(&item, s, 1);
			}
			if (*s++ != '"') {
				ret = -1;
				break;
			}
		} else {
			size_t len = strcspn(s, ",");
			text_addn(&item, s, len);
			s += len;
		}
		const char *value = item.s ? item.s : "";
		if (!quoted && strstr(value, ".."))
			ret = int_range_values(key, value, v, n);
		else
			ret = push_value(key, value, v, n);
		if (!*s)
			break;
		if (*s++ != ',')
			ret = -1;
	}
out:
	free(item.s);
	if (ret < 0) {
		tui_builder_strings_free(*v, *n);
		*v = NULL;
		*n = 0;
	}
	return ret;
}

/* ---- axes ---- */

static int
slot_index(const char *key)
{
	for (int i = 0; i < NSLOTS; i++)
		if (strcmp(slot_keys[i], key) == 0)
			return i;
	return -1;
}

static int
axis_index(const char *key)
{
	for (int i = 0; i < NAXES; i++)
		if (strcmp(axis_defs[i].key, key) == 0)
			return i;
	return -1;
}

static void
axis_init(struct axis *ax, const struct axis_def *def)
{
	const struct config_key *k = config_key_find(def->key);
	assert(k);
	memset(ax, 0, sizeof *ax);
	ax->key = def->key;
	ax->numeric = k->type == CONFIG_INT || k->type == CONFIG_FLOAT;
	for (const char *const *v = def->values ? def->values : k->values; v && *v; v++)
		push_value(def->key, *v, &ax->cand, &ax->ncand);
}

static void
axis_done(struct axis *ax)
{
	tui_builder_strings_free(ax->cand, ax->ncand);
	free(ax->on);
	free(ax->text);
	memset(ax, 0, sizeof *ax);
}

static void
axis_copy(struct axis *dst, const struct axis *src)
{
	*dst = *src;
	dst->cand = xmalloc(((size_t)src->ncand + 1) * sizeof *dst->cand);
	for (int i = 0; i < src->ncand; i++)
		dst->cand[i] = xstrdup(src->cand[i]);
	dst->on = xmalloc(((size_t)src->non + 1) * sizeof *dst->on);
	if (src->non > 0)
		memcpy(dst->on, src->on, (size_t)src->non * sizeof *dst->on);
	dst->text = src->text ? xstrdup(src->text) : NULL;
}

/* Position of candidate ci among the values on, or -1. */
static int
axis_on_pos(const struct axis *ax, int ci)
{
	for (int j = 0; j < ax->non; j++)
		if (ax->on[j] == ci)
			return j;
	return -1;
}

/*
 * Index of the canonical value among the candidates, adding it when missing:
 * a number before the first larger numeric candidate, anything else last.
 */
static int
axis_add_candidate(struct axis *ax, const char *value)
{
	double x, y;
	int pos = ax->ncand;
	for (int i = 0; i < ax->ncand; i++)
		if (strcmp(ax->cand[i], value) == 0)
			return i;
	if (ax->numeric && as_number(value, &x))
		for (int i = 0; i < ax->ncand; i++)
			if (as_number(ax->cand[i], &y) && y > x) {
				pos = i;
				break;
			}
	strv_insert(&ax->cand, &ax->ncand, pos, xstrdup(value));
	for (int j = 0; j < ax->non; j++)
		ax->on[j] += ax->on[j] >= pos;
	return pos;
}

/* Turns candidate ci on at position pos of the values on (ci is off). */
static void
axis_on_at(struct axis *ax, int ci, int pos)
{
	ax->on = xrealloc(ax->on, ((size_t)ax->non + 1) * sizeof *ax->on);
	memmove(ax->on + pos + 1, ax->on + pos, (size_t)(ax->non - pos) * sizeof *ax->on);
	ax->on[pos] = ci;
	ax->non++;
}

/* Turns candidate ci on after the values on that precede it among the candidates. */
static void
axis_turn_on(struct axis *ax, int ci)
{
	int pos = 0;
	if (axis_on_pos(ax, ci) >= 0)
		return;
	for (int j = 0; j < ax->non; j++)
		if (ax->on[j] < ci)
			pos = j + 1;
	axis_on_at(ax, ci, pos);
}

static void
axis_clear(struct axis *ax)
{
	ax->non = 0;
	free(ax->text);
	ax->text = NULL;
}

/* ---- the builder ---- */

static struct tui_builder *
builder_empty(const char *name)
{
	struct tui_builder *b = xcalloc(1, sizeof *b);
	b->name = xstrdup(name);
	for (int i = 0; i < NAXES; i++)
		axis_init(&b->axes[i], &axis_defs[i]);
	return b;
}

struct tui_builder *
tui_builder_new(void)
{
	return builder_empty("untitled");
}

void
tui_builder_free(struct tui_builder *b)
{
	if (!b)
		return;
	free(b->name);
	free(b->comment);
	for (int i = 0; i < NSLOTS; i++)
		free(b->slot[i]);
	for (int i = 0; i < NAXES; i++)
		axis_done(&b->axes[i]);
	tui_builder_strings_free(b->lines, b->nlines);
	runner_estimates_free(b->memo);
	free(b);
}

/* A deep copy of b, without the estimates. */
static struct tui_builder *
builder_copy(const struct tui_builder *b)
{
	struct tui_builder *c = xcalloc(1, sizeof *c);
	c->name = xstrdup(b->name);
	c->comment = b->comment ? xstrdup(b->comment) : NULL;
	for (int i = 0; i < NSLOTS; i++)
		c->slot[i] = b->slot[i] ? xstrdup(b->slot[i]) : NULL;
	for (int i = 0; i < NAXES; i++)
		axis_copy(&c->axes[i], &b->axes[i]);
	c->lines = xmalloc(((size_t)b->nlines + 1) * sizeof *c->lines);
	for (int i = 0; i < b->nlines; i++)
		c->lines[i] = xstrdup(b->lines[i]);
	c->nlines = b->nlines;
	c->modified = b->modified;
	return c;
}

/* Gives b the state of c (b keeps its estimates), and frees c. */
static void
builder_replace(struct tui_builder *b, struct tui_builder *c)
{
	struct tui_builder tmp = *b;
	*b = *c;
	*c = tmp;
	runner_estimates_free(b->memo);
	b->memo = c->memo;
	c->memo = NULL;
	tui_builder_free(c);
}

/* The key a key=value line sets (malloc'd, blanks trimmed), or NULL for a directive. */
static char *
line_key(const char *line)
{
	const char *eq = strchr(line, '=');
	line += strspn(line, " \t");
	if (*line == ':' || !eq)
		return NULL;
	const char *end = eq;
	while (end > line && isspace((unsigned char)end[-1]))
		end--;
	return xasprintf("%.*s", (int)(end - line), line);
}

/*
 * Takes the canonical line into job, model, dataset or an axis (replacing
 * what they held) when it sets one of them with values that read back.
 * Returns nonzero when taken.
 */
static int
absorb_line(struct tui_builder *b, const char *line)
{
	const char *eq = strchr(line, '=');
	char *key = line_key(line), **v = NULL;
	int n = 0, taken = 0;
	if (!key)
		return 0;
	int slot = slot_index(key), a = axis_index(key);
	if ((slot >= 0 || a >= 0) && rhs_values(key, eq + 1, &v, &n) == 0) {
		if (slot >= 0 && n == 1) {
			free(b->slot[slot]);
			b->slot[slot] = xstrdup(v[0]);
			taken = 1;
		} else if (a >= 0) {
			struct axis *ax = &b->axes[a];
			axis_clear(ax);
			for (int i = 0; i < n; i++)
				axis_on_at(ax, axis_add_candidate(ax, v[i]), ax->non);
			ax->text = xstrdup(eq + 1);
			taken = 1;
		}
	}
	tui_builder_strings_free(v, n);
	free(key);
	return taken;
}

/* Lines of the text before the free lines. */
static int
structured_lines(const struct tui_builder *b)
{
	int n = 0;
	for (int i = 0; i < NSLOTS; i++)
		n += b->slot[i] != NULL;
	for (int i = 0; i < NAXES; i++)
		n += b->axes[i].non > 0;
	return n;
}

char *
tui_builder_text(const struct tui_builder *b)
{
	struct text t = {0};
	for (int i = 0; i < NSLOTS; i++) {
		if (!b->slot[i])
			continue;
		text_add(&t, slot_keys[i]);
		text_add(&t, "=");
		text_add_value(&t, b->slot[i]);
		text_add(&t, "\n");
	}
	for (int i = 0; i < NAXES; i++) {
		const struct axis *ax = &b->axes[i];
		if (!ax->non)
			continue;
		text_add(&t, ax->key);
		text_add(&t, "=");
		if (ax->text) {
			text_add(&t, ax->text);
		} else {
			for (int j = 0; j < ax->non; j++) {
				text_add(&t, j ? "," : "");
				text_add_value(&t, ax->cand[ax->on[j]]);
			}
		}
		text_add(&t, "\n");
	}
	for (int i = 0; i < b->nlines; i++) {
		text_add(&t, b->lines[i]);
		text_add(&t, "\n");
	}
	return text_take(&t);
}

/* Parses text as b's sweep, naming NAME.sweep in messages. */
static int
builder_parse(const struct tui_builder *b, const char *text, struct sweep **out, char **cause)
{
	char *file = xasprintf("%s.sweep", b->name);
	int ret = sweep_parse_text(out, file, b->name, text, cause);
	free(file);
	return ret;
}

/* The next line of the spec at *s (malloc'd; *s moves past it), or NULL at its end. */
static char *
next_line(const char **s)
{
	if (!**s)
		return NULL;
	size_t n = strcspn(*s, "\n");
	char *line = xasprintf("%.*s", (int)n, *s);
	*s += n + ((*s)[n] == '\n');
	return line;
}

/* Replaces b's free lines by their canonical form in s, the parsed text of b. */
static void
canonical_lines(struct tui_builder *b, const struct sweep *s)
{
	const char *spec = sweep_spec(s);
	int skip = structured_lines(b), n = 0;
	char **v = NULL, *line;
	while ((line = next_line(&spec)))
		strv_insert(&v, &n, n, line);
	/* one spec line per line of the text: no free line is blank or a comment */
	if (n == skip + b->nlines)
		for (int i = 0; i < b->nlines; i++) {
			free(b->lines[i]);
			b->lines[i] = xstrdup(v[skip + i]);
		}
	tui_builder_strings_free(v, n);
}

/* The comment lines at the top of text, each with its newline (malloc'd), or NULL. */
static char *
leading_comment(const char *text)
{
	const char *s = text;
	while (*s == '#')
		s += strcspn(s, "\n") + (s[strcspn(s, "\n")] == '\n');
	if (s == text)
		return NULL;
	int nl = s[-1] == '\n';
	return xasprintf("%.*s%s", (int)(s - text), text, nl ? "" : "\n");
}

/* Loads text (file names it in messages) as the sweep name. */
static int
builder_load(struct tui_builder *b, const char *file, const char *name, const char *text,
	     char **cause)
{
	struct sweep *s = NULL;
	if (sweep_parse_text(&s, file, name, text, cause) < 0)
		return -1;
	struct tui_builder *c = builder_empty(name);
	c->comment = leading_comment(text);
	const char *spec = sweep_spec(s);
	char *line;
	while ((line = next_line(&spec))) {
		if (!absorb_line(c, line))
			strv_insert(&c->lines, &c->nlines, c->nlines, line);
		else
			free(line);
	}
	sweep_free(s);
	builder_replace(b, c);
	return 0;
}

int
tui_builder_load_text(struct tui_builder *b, const char *name, const char *text, char **cause)
{
	char *file = xasprintf("%s.sweep", name);
	int ret = builder_load(b, file, name, text, cause);
	free(file);
	return ret;
}

/* The sweep name of path: its base name without ".sweep" (malloc'd). */
static char *
path_name(const char *path)
{
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	size_t len = strlen(base);
	if (len > 6 && strcmp(base + len - 6, ".sweep") == 0)
		len -= 6;
	return xasprintf("%.*s", (int)len, base);
}

int
tui_builder_load_file(struct tui_builder *b, const char *path, char **cause)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return err_set(cause, "%s: %s", path, strerror(errno));
	char *buf = xmalloc(BUILDER_MAX_FILE + 2);
	size_t n = fread(buf, 1, BUILDER_MAX_FILE + 1, f);
	int rerr = ferror(f) ? errno : 0, ret = -1;
	fclose(f);
	if (rerr) {
		err_set(cause, "%s: %s", path, strerror(rerr));
	} else if (n > BUILDER_MAX_FILE) {
		err_set(cause, "%s: too large for a sweep file (over 1 MiB)", path);
	} else if (memchr(buf, '\0', n)) {
		err_set(cause, "%s: holds a NUL byte: not a sweep file", path);
	} else {
		buf[n] = '\0';
		char *name = path_name(path);
		ret = builder_load(b, path, name, buf, cause);
		free(name);
	}
	free(buf);
	return ret;
}

int
tui_builder_default(struct tui_builder *b, const char *path, char **cause)
{
	return tui_builder_load_file(b, path, cause);
}

const char *
tui_builder_name(const struct tui_builder *b)
{
	return b->name;
}

void
tui_builder_set_name(struct tui_builder *b, const char *name)
{
	assert(name && *name);
	if (strcmp(b->name, name) == 0)
		return;
	free(b->name);
	b->name = xstrdup(name);
	b->modified = 1;
}

int
tui_builder_modified(const struct tui_builder *b)
{
	return b->modified;
}

/* ---- job, model, dataset and single keys ---- */

const char *const *
tui_builder_choices(const char *key)
{
	if (strcmp(key, "job") == 0)
		return job_choices;
	if (strcmp(key, "model") == 0)
		return model_arch_names();
	if (strcmp(key, "dataset") == 0)
		return dataset_choices;
	return NULL;
}

/* Removes the free lines that set key. */
static void
remove_key_lines(struct tui_builder *b, const char *key)
{
	for (int i = b->nlines - 1; i >= 0; i--) {
		char *k = line_key(b->lines[i]);
		if (k && strcmp(k, key) == 0)
			strv_remove(b->lines, &b->nlines, i);
		free(k);
	}
}

int
tui_builder_set(struct tui_builder *b, const char *key, const char *value, char **cause)
{
	char *canon = NULL;
	if (!config_key_find(key)) {
		const char *near = config_nearest_key(key);
		if (near)
			return err_set(cause, "unknown key '%s' (did you mean '%s'?)", key, near);
		return err_set(cause, "unknown key '%s'", key);
	}
	if (value && config_canonical(key, value, &canon, cause) < 0)
		return -1;
	int slot = slot_index(key), a = axis_index(key);
	if (slot >= 0 || a >= 0)
		remove_key_lines(b, key);
	if (slot >= 0) {
		free(b->slot[slot]);
		b->slot[slot] = canon;
		canon = NULL;
	} else if (a >= 0) {
		axis_clear(&b->axes[a]);
		if (canon)
			axis_turn_on(&b->axes[a], axis_add_candidate(&b->axes[a], canon));
	} else {
		struct text t = {0};
		int at = -1;
		for (int i = 0; i < b->nlines && at < 0; i++) {
			char *k = line_key(b->lines[i]);
			if (k && strcmp(k, key) == 0)
				at = i;
			free(k);
		}
		if (canon) {
			text_add(&t, key);
			text_add(&t, "=");
			text_add_value(&t, canon);
		}
		if (canon && at >= 0) {
			free(b->lines[at]);
			b->lines[at] = text_take(&t);
		} else if (canon) {
			strv_insert(&b->lines, &b->nlines, b->nlines, text_take(&t));
		} else if (at >= 0) {
			remove_key_lines(b, key);
		}
	}
	free(canon);
	b->modified = 1;
	return 0;
}

const char *
tui_builder_get(const struct tui_builder *b, const char *key)
{
	int slot = slot_index(key);
	return slot >= 0 ? b->slot[slot] : NULL;
}

/* ---- axes ---- */

int
tui_builder_axis_count(const struct tui_builder *b)
{
	(void)b;
	return NAXES;
}

const char *
tui_builder_axis_key(const struct tui_builder *b, int axis)
{
	assert(axis >= 0 && axis < NAXES);
	return b->axes[axis].key;
}

int
tui_builder_axis_find(const struct tui_builder *b, const char *key)
{
	(void)b;
	return axis_index(key);
}

int
tui_builder_value_count(const struct tui_builder *b, int axis)
{
	assert(axis >= 0 && axis < NAXES);
	return b->axes[axis].ncand;
}

const char *
tui_builder_value(const struct tui_builder *b, int axis, int i)
{
	assert(axis >= 0 && axis < NAXES && i >= 0 && i < b->axes[axis].ncand);
	return b->axes[axis].cand[i];
}

int
tui_builder_value_on(const struct tui_builder *b, int axis, int i)
{
	assert(axis >= 0 && axis < NAXES && i >= 0 && i < b->axes[axis].ncand);
	return axis_on_pos(&b->axes[axis], i) >= 0;
}

int
tui_builder_toggle(struct tui_builder *b, int axis, int i)
{
	assert(axis >= 0 && axis < NAXES && i >= 0 && i < b->axes[axis].ncand);
	struct axis *ax = &b->axes[axis];
	int pos = axis_on_pos(ax, i);
	free(ax->text);
	ax->text = NULL;
	b->modified = 1;
	if (pos >= 0) {
		memmove(ax->on + pos, ax->on + pos + 1, (size_t)(ax->non - pos - 1) * sizeof *ax->on);
		ax->non--;
		return 0;
	}
	axis_turn_on(ax, i);
	return 1;
}

int
tui_builder_add_value(struct tui_builder *b, int axis, const char *value, char **cause)
{
	assert(axis >= 0 && axis < NAXES);
	struct axis *ax = &b->axes[axis];
	char *canon = NULL;
	if (config_canonical(ax->key, value, &canon, cause) < 0)
		return -1;
	int i = axis_add_candidate(ax, canon);
	free(canon);
	if (axis_on_pos(ax, i) < 0) {
		free(ax->text);
		ax->text = NULL;
		axis_turn_on(ax, i);
		b->modified = 1;
	}
	return i;
}

/* ---- free lines ---- */

int
tui_builder_line_count(const struct tui_builder *b)
{
	return b->nlines;
}

const char *
tui_builder_line(const struct tui_builder *b, int i)
{
	assert(i >= 0 && i < b->nlines);
	return b->lines[i];
}

/* text trimmed into *out (malloc'd): one line that is not blank or a comment alone. */
static int
clean_line(const char *text, char **out, char **cause)
{
	if (strpbrk(text, "\r\n"))
		return err_set(cause, "a line of the sweep cannot hold a line break");
	while (isspace((unsigned char)*text))
		text++;
	size_t n = strlen(text);
	while (n && isspace((unsigned char)text[n - 1]))
		n--;
	if (!n)
		return err_set(cause, "expected key=value or a :directive, not a blank line");
	if (*text == '#')
		return err_set(cause, "expected key=value or a :directive, not a comment alone");
	*out = xasprintf("%.*s", (int)n, text);
	return 0;
}

/*
 * When the sweep cannot be checked as a whole: takes line `at` of c into
 * job, model, dataset or an axis if it parses alone as such a line.
 */
static void
absorb_alone(struct tui_builder *c, int at)
{
	struct sweep *s = NULL;
	if (sweep_parse_text(&s, NULL, c->name, c->lines[at], NULL) < 0)
		return;
	const char *spec = sweep_spec(s);
	char *line = next_line(&spec);
	if (line && absorb_line(c, line))
		strv_remove(c->lines, &c->nlines, at);
	free(line);
	sweep_free(s);
}

/* Puts text as free line i of b (i == b->nlines: a new line), as tui_builder_line_add says. */
static int
line_put(struct tui_builder *b, int i, const char *text, char **cause)
{
	char *line = NULL, *key, *err = NULL, *old_err = NULL, *t;
	struct sweep *s = NULL;
	if (clean_line(text, &line, cause) < 0)
		return -1;
	struct tui_builder *c = builder_copy(b);
	if (i == c->nlines) {
		strv_insert(&c->lines, &c->nlines, i, line);
	} else {
		free(c->lines[i]);
		c->lines[i] = line;
	}
	/* a line setting a key the builder holds replaces it */
	if ((key = line_key(line)) && (slot_index(key) >= 0 || axis_index(key) >= 0)) {
		int slot = slot_index(key), a = axis_index(key);
		if (slot >= 0) {
			free(c->slot[slot]);
			c->slot[slot] = NULL;
		} else {
			axis_clear(&c->axes[a]);
		}
	}
	free(key);
	t = tui_builder_text(c);
	int ok = builder_parse(c, t, &s, &err) == 0;
	free(t);
	if (ok) {
		canonical_lines(c, s);
		if (absorb_line(c, c->lines[i]))
			strv_remove(c->lines, &c->nlines, i);
	} else {
		/* refused unless the sweep already failed so: the line cannot be checked */
		struct sweep *old = NULL;
		t = tui_builder_text(b);
		int same = builder_parse(b, t, &old, &old_err) < 0 && strcmp(err, old_err) == 0;
		free(t);
		sweep_free(old);
		if (!same) {
			err_set(cause, "%s", err);
			free(err);
			tui_builder_free(c);
			free(old_err);
			return -1;
		}
		absorb_alone(c, i);
	}
	sweep_free(s);
	free(err);
	free(old_err);
	c->modified = 1;
	builder_replace(b, c);
	return 0;
}

int
tui_builder_line_add(struct tui_builder *b, const char *text, char **cause)
{
	return line_put(b, b->nlines, text, cause);
}

int
tui_builder_line_set(struct tui_builder *b, int i, const char *text, char **cause)
{
	assert(i >= 0 && i < b->nlines);
	return line_put(b, i, text, cause);
}

void
tui_builder_line_remove(struct tui_builder *b, int i)
{
	assert(i >= 0 && i < b->nlines);
	strv_remove(b->lines, &b->nlines, i);
	b->modified = 1;
}

void
tui_builder_line_move(struct tui_builder *b, int from, int to)
{
	assert(from >= 0 && from < b->nlines && to >= 0 && to < b->nlines);
	char *line = b->lines[from];
	if (from < to)
		memmove(b->lines + from, b->lines + from + 1, (size_t)(to - from) * sizeof *b->lines);
	else
		memmove(b->lines + to + 1, b->lines + to, (size_t)(from - to) * sizeof *b->lines);
	b->lines[to] = line;
	b->modified |= from != to;
}

/* ---- completion ---- */

/* Numbers by value before words, words by bytes. */
static int
cmp_values(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	double u, v;
	int nx = as_number(x, &u), ny = as_number(y, &v);
	if (nx && ny && u != v)
		return (u > v) - (u < v);
	if (nx != ny)
		return ny - nx;
	return strcmp(x, y);
}

/* Adds word to *v when it starts with prefix and is not there yet. */
static void
offer(char ***v, int *n, const char *word, const char *prefix)
{
	if (strncmp(word, prefix, strlen(prefix)) != 0)
		return;
	for (int i = 0; i < *n; i++)
		if (strcmp((*v)[i], word) == 0)
			return;
	strv_insert(v, n, *n, xstrdup(word));
}

/* Nonzero when parent.KEY may be set: a float-training key other than job and model. */
static int
parent_key(const struct config_key *k)
{
	return (k->jobs & CONFIG_JOB_TRAIN) && !k->quant && strcmp(k->name, "job") &&
	       strcmp(k->name, "model");
}

/* The words of key's values that start with prefix, into *v (without head). */
static void
offer_values(const struct tui_builder *b, const struct config_key *k, const char *prefix,
	     char ***v, int *n)
{
	int a = axis_index(k->name);
	const char *const *list = tui_builder_choices(k->name);
	if (a >= 0)
		for (int i = 0; i < b->axes[a].ncand; i++)
			offer(v, n, b->axes[a].cand[i], prefix);
	else if (k->type == CONFIG_ENUM)
		list = k->values;
	else if (k->type == CONFIG_BOOL)
		list = bool_values;
	else if (strcmp(k->name, "a.clip") == 0)
		list = wclip_values;
	for (; list && *list; list++)
		offer(v, n, *list, prefix);
}

int
tui_builder_complete(const struct tui_builder *b, const char *prefix, char ***out, int *n)
{
	const char *eq = strchr(prefix, '=');
	char **v = NULL;
	int nv = 0;
	if (!eq && (*prefix == ':' || !*prefix)) {
		for (const char *const *d = directives; *d; d++)
			offer(&v, &nv, *d, prefix);
	}
	if (!eq && *prefix != ':') {
		int parent = strncmp(prefix, "parent.", 7) == 0;
		for (int i = 0; i < config_key_count(); i++) {
			const struct config_key *k = config_key_at(i);
			char *word = xasprintf("%s%s=", parent ? "parent." : "", k->name);
			if (!parent || parent_key(k))
				offer(&v, &nv, word, prefix);
			free(word);
		}
		if (!parent)
			offer(&v, &nv, "parent.", prefix);
	}
	if (eq) {
		char *key = line_key(prefix);
		const char *base = key && strncmp(key, "parent.", 7) == 0 ? key + 7 : key;
		const struct config_key *k = base ? config_key_find(base) : NULL;
		const char *item = strrchr(eq, ',') ? strrchr(eq, ',') + 1 : eq + 1;
		if (k && (base == key || parent_key(k)) && !strchr(item, '"')) {
			offer_values(b, k, item, &v, &nv);
			if (nv > 1)
				qsort(v, (size_t)nv, sizeof *v, cmp_values);
			for (int i = 0; i < nv; i++) {
				char *full = xasprintf("%.*s%s", (int)(item - prefix), prefix, v[i]);
				free(v[i]);
				v[i] = full;
			}
		}
		free(key);
	} else if (nv > 1) {
		qsort(v, (size_t)nv, sizeof *v, cmp_values);
	}
	*out = v;
	*n = nv;
	return nv;
}

/* ---- saving and the summary ---- */

/* Nonzero when the comment's first line names the sweep: "# NAME" or "# NAME: ...". */
static int
comment_names(const char *comment, const char *name)
{
	size_t len = strlen(name);
	return strncmp(comment, "# ", 2) == 0 && strncmp(comment + 2, name, len) == 0 &&
	       strchr(":\n", comment[2 + len]) && comment[2 + len];
}

int
tui_builder_save(struct tui_builder *b, const char *path, char **cause)
{
	char *name = path_name(path), *body = tui_builder_text(b), *tmp = NULL;
	struct sweep *s = NULL;
	struct text out = {0};
	int ret = -1;
	if (!*name) {
		err_set(cause, "%s: not a sweep file name", path);
		goto out;
	}
	if (sweep_parse_text(&s, path, name, body, cause) < 0)
		goto out;
	if (!b->comment || !comment_names(b->comment, name)) {
		text_add(&out, "# ");
		text_add(&out, name);
		text_add(&out, ": a sweep saved by the qbench sweep builder\n");
	}
	text_add(&out, b->comment ? b->comment : "");
	text_add(&out, body);
	tmp = xasprintf("%s.tmp", path);
	FILE *f = fopen(tmp, "wb");
	if (!f) {
		err_set(cause, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	int werr = fwrite(out.s, 1, out.len, f) != out.len || fflush(f) != 0 ||
		   fsync(fileno(f)) != 0 ? errno : 0;
	if (fclose(f) != 0 && !werr)
		werr = errno;
	if (werr || rename(tmp, path) != 0) {
		err_set(cause, "%s: %s", werr ? tmp : path, strerror(werr ? werr : errno));
		unlink(tmp);
		goto out;
	}
	free(b->name);
	b->name = name;
	name = NULL;
	b->modified = 0;
	ret = 0;
out:
	sweep_free(s);
	free(out.s);
	free(tmp);
	free(body);
	free(name);
	return ret;
}

int
tui_builder_summary(struct tui_builder *b, struct db *db, struct tui_builder_summary *out,
		    char **cause)
{
	struct sweep *s = NULL;
	struct sweep_points pts = {0};
	struct runner_plan plan = {0};
	struct runner_summary sum;
	char *text = tui_builder_text(b);
	int ret = -1;
	memset(out, 0, sizeof *out);
	if (builder_parse(b, text, &s, cause) < 0 || sweep_expand(s, &pts, cause) < 0)
		goto out;
	out->points = pts.n;
	out->estimate_s = NAN;
	if (!db) {
		ret = 0;
		goto out;
	}
	if (runner_plan(db, sweep_name(s), sweep_spec(s), &pts, 0, &plan, cause) < 0) {
		memset(out, 0, sizeof *out);
		goto out;
	}
	if (!b->memo)
		b->memo = runner_estimates_new();
	runner_plan_summary(db, &plan, b->memo, BUILDER_ESTIMATE_BUDGET_S, NULL, &sum);
	out->runs = sum.runs;
	out->done = sum.done;
	out->to_run = sum.to_run;
	out->unknown = sum.unknown;
	out->pending = sum.pending;
	out->estimate_s = sum.estimate_s;
	ret = 0;
out:
	runner_plan_done(&plan);
	sweep_points_done(&pts);
	sweep_free(s);
	free(text);
	return ret;
}
