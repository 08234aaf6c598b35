/*
 * query: filter terms compiled to one SQL condition on the runs table.
 *
 * Invariants of a compiled query:
 * - every term is one condition that is 0 or 1 for every run, never NULL
 *   (EXISTS over params, results or sweep_runs; ifnull() around the nullable
 *   parent column), so KEY!=V is written NOT (KEY=V) and, as the contract
 *   says, matches the runs that lack the key;
 * - the SQL text holds only the fixed fragments of this file: every value a
 *   user typed, and every key, is a bound parameter, numbered in the order
 *   of q->binds;
 * - configuration values are bound in canonical text (the form the params
 *   table stores), so equality is a text comparison that can use the
 *   params(key, value) index; order comparisons and ranges CAST the stored
 *   text to REAL.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "db/db.h"
#include "db/query.h"
#include "db/runs.h"
#include "engine/util.h"
#include "experiments/config.h"

enum query_op { QUERY_EQ, QUERY_NE, QUERY_LT, QUERY_LE, QUERY_GT, QUERY_GE };

static const char *const query_op_sql[] = {"=", "!=", "<", "<=", ">", ">="};

/* What a key refers to. */
enum query_kind {
	QUERY_ID,     /* runs.id */
	QUERY_STATUS, /* runs.status */
	QUERY_PARENT, /* runs.parent_run_id */
	QUERY_SWEEP,  /* sweep_runs joined to sweeps, by name or id */
	QUERY_PARAM,  /* a params row */
	QUERY_RESULT  /* a results row */
};

/* The run columns a filter may name, for "did you mean". */
static const char *const query_run_keys[] = {"id", "status", "parent", "sweep"};
#define QUERY_NRUN_KEYS 4

/* A bound value: text (owned) or a number. */
struct query_bind {
	char *text; /* NULL for a number */
	double num;
};

struct query {
	char *where; /* the condition, "1" for no terms (owned) */
	size_t len, cap;
	struct query_bind *binds;
	int nbinds, bind_cap;
};

/* One term being compiled. */
struct query_term {
	const char *text; /* the term as given, for messages */
	char *key;
	enum query_op op;
	const char *value;
	enum query_kind kind;
	const struct config_key *ck; /* QUERY_PARAM */
	int numeric;                 /* values compare as numbers */
};

static void
sql_add(struct query *q, const char *s)
{
	size_t n = strlen(s);
	if (q->len + n + 1 > q->cap) {
		q->cap = (q->len + n + 1) * 2;
		q->where = xrealloc(q->where, q->cap);
	}
	memcpy(q->where + q->len, s, n + 1);
	q->len += n;
}

static void
bind_add(struct query *q, const char *text, double num)
{
	if (q->nbinds == q->bind_cap) {
		q->bind_cap = q->bind_cap ? 2 * q->bind_cap : 8;
		q->binds = xrealloc(q->binds, (size_t)q->bind_cap * sizeof *q->binds);
	}
	q->binds[q->nbinds].text = text ? xstrdup(text) : NULL;
	q->binds[q->nbinds].num = num;
	q->nbinds++;
}

/* Nonzero for the characters that start an operator. */
static int
is_op_char(char c)
{
	return c == '=' || c == '<' || c == '>' || c == '!';
}

/*
 * Splits "KEY OP VALUE": the key is everything before the first operator
 * character. Returns the operator's length (1 or 2) and sets *op and *keylen,
 * or 0 when s is not a term.
 */
static int
split_term(const char *s, size_t *keylen, enum query_op *op)
{
	size_t k = 0;
	while (s[k] && !is_op_char(s[k]))
		k++;
	if (k == 0 || !s[k])
		return 0;
	*keylen = k;
	switch (s[k]) {
	case '=':
		*op = QUERY_EQ;
		return 1;
	case '!':
		if (s[k + 1] != '=')
			return 0;
		*op = QUERY_NE;
		return 2;
	case '<':
		*op = s[k + 1] == '=' ? QUERY_LE : QUERY_LT;
		return s[k + 1] == '=' ? 2 : 1;
	default: /* '>' */
		*op = s[k + 1] == '=' ? QUERY_GE : QUERY_GT;
		return s[k + 1] == '=' ? 2 : 1;
	}
}

int
query_is_term(const char *arg)
{
	size_t keylen;
	enum query_op op;
	return split_term(arg, &keylen, &op) > 0;
}

/* Parses a whole, finite number (no blanks); -1 when s is not one. */
static int
parse_number(const char *s, double *x)
{
	char *end;
	if (!*s || *s == ' ' || *s == '\t')
		return -1;
	errno = 0;
	*x = strtod(s, &end);
	return *end || errno == ERANGE || !isfinite(*x) ? -1 : 0;
}

/* Parses a run reference, "7" or "run:7"; -1 when s is neither. */
static int
parse_run_id(const char *s, double *x)
{
	if (strncmp(s, "run:", 4) == 0)
		s += 4;
	if (!*s)
		return -1;
	for (const char *p = s; *p; p++)
		if (*p < '0' || *p > '9')
			return -1;
	*x = strtod(s, NULL);
	return *x > 0 && *x < 9007199254740992.0 ? 0 : -1;
}

/*
 * Parses "LO..HI" of two numbers into lo and hi. Returns 1 for a range, 0
 * when s holds no "..", -1 for a malformed range.
 */
static int
parse_range(const char *s, double *lo, double *hi)
{
	const char *dots = strstr(s, "..");
	if (!dots)
		return 0;
	char *a = xasprintf("%.*s", (int)(dots - s), s);
	int bad = parse_number(a, lo) < 0 || parse_number(dots + 2, hi) < 0;
	free(a);
	return bad ? -1 : 1;
}

/* Nonzero when s is a non-empty string of digits. */
static int
all_digits(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

/*
 * The "unknown key" message, with the nearest run column, configuration key
 * or (with db) result name recorded in the database.
 */
static int
unknown_key(struct db *db, const struct query_term *t, char **cause)
{
	static const char sql[] = "SELECT DISTINCT name FROM results ORDER BY name";
	const char **names =
		xcalloc((size_t)QUERY_NRUN_KEYS + (size_t)config_key_count(), sizeof *names);
	char **results = NULL;
	size_t n = 0, nres = 0, cap = 0;
	for (int i = 0; i < QUERY_NRUN_KEYS; i++)
		names[n++] = query_run_keys[i];
	for (int i = 0; i < config_key_count(); i++)
		names[n++] = config_key_at(i)->name;
	sqlite3_stmt *st = db ? db_stmt(db, sql, NULL) : NULL;
	while (st && sqlite3_step(st) == SQLITE_ROW) {
		const unsigned char *s = sqlite3_column_text(st, 0);
		if (!s)
			continue;
		if (nres == cap) {
			cap = cap ? 2 * cap : 16;
			results = xrealloc(results, cap * sizeof *results);
		}
		results[nres++] = xstrdup((const char *)s);
	}
	if (st)
		sqlite3_reset(st);
	names = xrealloc(names, (n + nres + 1) * sizeof *names);
	for (size_t i = 0; i < nres; i++)
		names[n++] = results[i];
	const char *near = util_nearest(t->key, names, n);
	if (near)
		err_set(cause, "unknown key '%s' in filter '%s' (did you mean '%s'?)", t->key,
			t->text, near);
	else
		err_set(cause, "unknown key '%s' in filter '%s'", t->key, t->text);
	for (size_t i = 0; i < nres; i++)
		free(results[i]);
	free(results);
	free(names);
	return -1;
}

/* Nonzero when some run recorded result name; -1 with *cause on a database error. */
static int
result_known(struct db *db, const char *name, char **cause)
{
	static const char sql[] = "SELECT 1 FROM results WHERE name = ?1 LIMIT 1";
	sqlite3_stmt *st = db_stmt(db, sql, cause);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_fail(db, cause, "cannot read result names");
	return rc == SQLITE_ROW;
}

/* Sets t->kind (and t->ck, t->numeric) from t->key; -1 with *cause for an unknown key. */
static int
term_classify(struct db *db, struct query_term *t, char **cause)
{
	t->ck = NULL;
	t->numeric = 1;
	if (strcmp(t->key, "id") == 0) {
		t->kind = QUERY_ID;
	} else if (strcmp(t->key, "parent") == 0) {
		t->kind = QUERY_PARENT;
	} else if (strcmp(t->key, "status") == 0) {
		t->kind = QUERY_STATUS;
		t->numeric = 0;
	} else if (strcmp(t->key, "sweep") == 0) {
		t->kind = QUERY_SWEEP;
		t->numeric = 0;
	} else if ((t->ck = config_key_find(t->key)) != NULL) {
		t->kind = QUERY_PARAM;
		t->numeric = t->ck->type == CONFIG_INT || t->ck->type == CONFIG_FLOAT;
	} else {
		t->kind = QUERY_RESULT;
		if (db) {
			int known = result_known(db, t->key, cause);
			if (known < 0)
				return -1;
			if (!known)
				return unknown_key(db, t, cause);
		}
	}
	return 0;
}

/* "bad value 'V' for KEY in filter 'TERM': what". */
static int
bad_value(const struct query_term *t, const char *v, const char *what, char **cause)
{
	return err_set(cause, "bad value '%s' for %s in filter '%s': %s", v, t->key, t->text, what);
}

/*
 * The same from config_canonical's message msg (freed here): " in filter
 * 'TERM'" goes after its "bad value 'V' for KEY" head.
 */
static int
bad_config_value(const struct query_term *t, const char *v, char *msg, char **cause)
{
	char *head = xasprintf("bad value '%s' for %s", v, t->key);
	size_t n = strlen(head);
	if (msg && strncmp(msg, head, n) == 0)
		err_set(cause, "%s in filter '%s'%s", head, t->text, msg + n);
	else
		err_set(cause, "filter '%s': %s", t->text, msg ? msg : "bad value");
	free(head);
	free(msg);
	return -1;
}

/* The status names as "queued, running, ... or cancelled" (static). */
static const char *
status_list(void)
{
	return "queued, running, done, failed, diverged or cancelled";
}

/*
 * Checks that sweep v (a name, or an id when all digits) exists; -1 with
 * *cause naming the nearest sweep name otherwise.
 */
static int
sweep_check(struct db *db, const struct query_term *t, const char *v, char **cause)
{
	static const char sql[] = "SELECT id, name FROM sweeps ORDER BY id";
	sqlite3_stmt *st = db_stmt(db, sql, cause);
	char **names = NULL;
	size_t n = 0, cap = 0;
	int found = 0, rc;
	if (!st)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 1);
		char id[32];
		snprintf(id, sizeof id, "%lld", (long long)sqlite3_column_int64(st, 0));
		if ((name && strcmp(name, v) == 0) || strcmp(id, v) == 0)
			found = 1;
		if (!name)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			names = xrealloc(names, cap * sizeof *names);
		}
		names[n++] = xstrdup(name);
	}
	sqlite3_reset(st);
	int ret = 0;
	if (rc != SQLITE_DONE) {
		ret = db_fail(db, cause, "cannot read sweeps");
	} else if (!found) {
		const char *near = util_nearest(v, (const char *const *)names, n);
		if (near)
			ret = err_set(cause, "no sweep '%s' in filter '%s' (did you mean '%s'?)", v,
				      t->text, near);
		else
			ret = err_set(cause, "no sweep '%s' in filter '%s'", v, t->text);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return ret;
}

/* The column expression compared for t (params: the CAST when numeric is asked). */
static const char *
term_column(const struct query_term *t, int as_number)
{
	switch (t->kind) {
	case QUERY_ID:
		return "runs.id";
	case QUERY_PARENT:
		return "runs.parent_run_id";
	case QUERY_STATUS:
		return "runs.status";
	case QUERY_PARAM:
		return as_number ? "CAST(p.value AS REAL)" : "p.value";
	case QUERY_RESULT:
		return "r.value";
	case QUERY_SWEEP:
		break;
	}
	return "s.name";
}

/*
 * Appends the condition for one alternative v of an = or != term (a value,
 * or LO..HI for a numeric key).
 */
static int
term_alternative(struct query *q, struct db *db, const struct query_term *t, const char *v,
		 char **cause)
{
	double lo, hi, x;
	char *canon = NULL, *msg = NULL;
	if (!*v)
		return err_set(cause, "empty value in filter '%s'", t->text);
	int range = t->numeric ? parse_range(v, &lo, &hi) : 0;
	if (range < 0)
		return bad_value(t, v, "expected a range LO..HI of two numbers", cause);
	if (range > 0) {
		sql_add(q, term_column(t, 1));
		sql_add(q, " BETWEEN ? AND ?");
		bind_add(q, NULL, lo);
		bind_add(q, NULL, hi);
		return 0;
	}
	switch (t->kind) {
	case QUERY_ID:
	case QUERY_PARENT:
		if (parse_run_id(v, &x) < 0)
			return bad_value(t, v,
					 "expected a run number (7 or run:7) or a range LO..HI",
					 cause);
		sql_add(q, term_column(t, 1));
		sql_add(q, " = ?");
		bind_add(q, NULL, x);
		return 0;
	case QUERY_RESULT:
		if (parse_number(v, &x) < 0)
			return bad_value(t, v, "expected a number or a range LO..HI", cause);
		sql_add(q, "r.value = ?");
		bind_add(q, NULL, x);
		return 0;
	case QUERY_STATUS: {
		enum run_status s;
		if (run_status_parse(v, &s) == 0) {
			sql_add(q, "runs.status = ?");
			bind_add(q, v, 0);
			return 0;
		}
		const char *names[RUN_STATUS_COUNT];
		for (int i = 0; i < RUN_STATUS_COUNT; i++)
			names[i] = run_status_name((enum run_status)i);
		const char *near = util_nearest(v, names, RUN_STATUS_COUNT);
		char *what =
			near ? xasprintf("expected %s (did you mean '%s'?)", status_list(), near)
			     : xasprintf("expected %s", status_list());
		bad_value(t, v, what, cause);
		free(what);
		return -1;
	}
	case QUERY_SWEEP:
		if (db && sweep_check(db, t, v, cause) < 0)
			return -1;
		/* a name is its latest sweep: editing a .sweep file and running it
		 * again makes a new sweep of the same name, which replaces the old */
		if (all_digits(v)) {
			sql_add(q, "(s.id = ? OR s.id = (SELECT max(id) FROM sweeps WHERE name = ?))");
			bind_add(q, NULL, strtod(v, NULL));
		} else {
			sql_add(q, "s.id = (SELECT max(id) FROM sweeps WHERE name = ?)");
		}
		bind_add(q, v, 0);
		return 0;
	case QUERY_PARAM:
		if (config_canonical(t->key, v, &canon, &msg) < 0)
			return bad_config_value(t, v, msg, cause);
		sql_add(q, "p.value = ?");
		bind_add(q, canon, 0);
		free(canon);
		return 0;
	}
	return 0;
}

/* Appends the condition of an order comparison (<, <=, >, >=). */
static int
term_compare(struct query *q, const struct query_term *t, char **cause)
{
	double x;
	if (!t->numeric)
		return err_set(cause,
			       "cannot compare %s with '%s' in filter '%s': its values are not "
			       "numbers (use = or !=)",
			       t->key, query_op_sql[t->op], t->text);
	if (!*t->value)
		return err_set(cause, "empty value in filter '%s'", t->text);
	if (strchr(t->value, ','))
		return err_set(cause, "a list of values needs = or != in filter '%s'", t->text);
	if (parse_number(t->value, &x) < 0)
		return bad_value(t, t->value, "expected a number", cause);
	sql_add(q, term_column(t, 1));
	sql_add(q, " ");
	sql_add(q, query_op_sql[t->op]);
	sql_add(q, " ?");
	bind_add(q, NULL, x);
	return 0;
}

/* Compiles one term and appends it (with " AND " when not the first). */
static int
term_compile(struct query *q, struct db *db, const char *text, char **cause)
{
	struct query_term t = {.text = text};
	size_t keylen;
	int oplen = split_term(text, &keylen, &t.op), ret = -1;
	if (!oplen)
		return err_set(cause,
			       "expected a filter key=value (or key!=value, key<value, key<=value, "
			       "key>value, key>=value), got '%s'",
			       text);
	t.key = xasprintf("%.*s", (int)keylen, text);
	t.value = text + keylen + (size_t)oplen;
	if (term_classify(db, &t, cause) < 0)
		goto out;
	if (q->len > 0)
		sql_add(q, " AND ");
	if (t.op == QUERY_NE)
		sql_add(q, "NOT ");
	switch (t.kind) {
	case QUERY_PARAM:
		sql_add(q, "EXISTS (SELECT 1 FROM params p WHERE p.run_id = runs.id AND p.key = ? "
			   "AND (");
		bind_add(q, t.key, 0);
		break;
	case QUERY_RESULT:
		sql_add(q,
			"EXISTS (SELECT 1 FROM results r WHERE r.run_id = runs.id AND r.name = ? "
			"AND (");
		bind_add(q, t.key, 0);
		break;
	case QUERY_SWEEP:
		sql_add(q,
			"EXISTS (SELECT 1 FROM sweep_runs sr JOIN sweeps s ON s.id = sr.sweep_id "
			"WHERE sr.run_id = runs.id AND (");
		break;
	case QUERY_PARENT:
		sql_add(q, "ifnull((");
		break;
	case QUERY_ID:
	case QUERY_STATUS:
		sql_add(q, "((");
		break;
	}
	if (t.op == QUERY_EQ || t.op == QUERY_NE) {
		const char *v = t.value;
		for (int first = 1;; first = 0) {
			const char *comma = strchr(v, ',');
			char *alt = comma ? xasprintf("%.*s", (int)(comma - v), v) : xstrdup(v);
			if (!first)
				sql_add(q, " OR ");
			int rc = term_alternative(q, db, &t, alt, cause);
			free(alt);
			if (rc < 0)
				goto out;
			if (!comma)
				break;
			v = comma + 1;
		}
	} else if (term_compare(q, &t, cause) < 0) {
		goto out;
	}
	sql_add(q, t.kind == QUERY_PARENT ? "), 0)" : "))");
	ret = 0;
out:
	free(t.key);
	return ret;
}

int
query_parse(struct query **out, struct db *db, int argc, char *const *argv, char **cause)
{
	struct query *q = xcalloc(1, sizeof *q);
	*out = NULL;
	sql_add(q, "");
	q->len = 0;
	for (int i = 0; i < argc; i++)
		if (term_compile(q, db, argv[i], cause) < 0) {
			query_free(q);
			return -1;
		}
	*out = q;
	return 0;
}

void
query_free(struct query *q)
{
	if (!q)
		return;
	for (int i = 0; i < q->nbinds; i++)
		free(q->binds[i].text);
	free(q->binds);
	free(q->where);
	free(q);
}

int
query_run_ids(struct db *db, const struct query *q, int64_t **ids, int *n, char **cause)
{
	const char *where = q && q->len > 0 ? q->where : "1";
	char *sql = xasprintf("SELECT id FROM runs WHERE %s ORDER BY id", where);
	sqlite3_stmt *st = NULL;
	int64_t *v = NULL;
	int nv = 0, cap = 0, rc, ret = -1;
	*ids = NULL;
	*n = 0;
	if (sqlite3_prepare_v2(db_sqlite(db), sql, -1, &st, NULL) != SQLITE_OK) {
		db_fail(db, cause, "cannot select runs");
		goto out;
	}
	for (int i = 0; q && i < q->nbinds; i++) {
		if (q->binds[i].text)
			sqlite3_bind_text(st, i + 1, q->binds[i].text, -1, SQLITE_STATIC);
		else
			sqlite3_bind_double(st, i + 1, q->binds[i].num);
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (nv == cap) {
			cap = cap ? 2 * cap : 64;
			v = xrealloc(v, (size_t)cap * sizeof *v);
		}
		v[nv++] = sqlite3_column_int64(st, 0);
	}
	if (rc != SQLITE_DONE) {
		db_fail(db, cause, "cannot select runs");
		goto out;
	}
	*ids = v;
	*n = nv;
	v = NULL;
	ret = 0;
out:
	free(v);
	sqlite3_finalize(st);
	free(sql);
	return ret;
}
