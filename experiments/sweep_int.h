/*
 * sweep_int: the parsed form of a sweep, private to the sweep module.
 *
 * sweep.h keeps struct sweep opaque; only sweep.c (which parses a sweep and
 * builds these records) and sweep_expand.c (which reads them to expand the
 * sweep into points) include this header. It exists because the module is
 * split in two files, not to widen its interface: nothing else may include
 * it, and the records may change with the parser.
 *
 * A parsed sweep holds one record per line that is not blank or a comment.
 * Parsing checks everything it can, so that expansion meets no syntax
 * error, unknown key or bad value, and expansion relies on these invariants
 * without checking them again:
 *   struct sweep_key  key=values: the values canonical and distinct, n >= 1
 *   struct sweep_zip  :zip(...): at least two axes of equal length; an axis
 *                     is in at most one zip
 *   struct expr       :where EXPR, and :exclude k=v,... as the expression
 *                     `not (k=v and ...)`; one side of every comparison is a
 *                     key, a literal compared with = or != is canonical
 * A parsed sweep sets at least one key, and is never changed after parsing.
 */
#ifndef QB_SWEEP_INT_H
#define QB_SWEEP_INT_H

#include <stddef.h>

/* ---- growing strings ---- */

struct strbuf {
	char *s; /* NULL until something is added, then NUL-terminated */
	size_t len, cap;
};

/* Appends the string s to b. */
void sweep_sb_add(struct strbuf *b, const char *s);
/*
 * Appends the value v as a sweep reads it back: bare, or in double quotes
 * (with \" and \\) when force is set or when a bare word would not read
 * back as v.
 */
void sweep_sb_add_value(struct strbuf *b, const char *v, int force);
/* The text of b ("" when empty), malloc'd (the caller frees it); b is left empty. */
char *sweep_sb_take(struct strbuf *b);

/* ---- the parsed sweep ---- */

/* A key=values line. */
struct sweep_key {
	char *name; /* as written: "w.bits" or "parent.epochs" */
	int key;    /* index of the vocabulary key (KEY for parent.KEY) */
	int parent; /* a parent.KEY line */
	char **v;   /* canonical values, distinct; an axis when n > 1 */
	int n;
	char *text; /* canonical right-hand side: "1..3", "2,4", "range(0,1,0.5)" */
	int line;   /* line (argument) number */
	int zip;    /* index of its :zip, or -1 */
};

/* A :zip line: indices into sweep.keys. */
struct sweep_zip {
	int *keys;
	int n;
	int line;
};

enum expr_kind { EXPR_OR, EXPR_AND, EXPR_NOT, EXPR_CMP };
enum expr_op { EXPR_EQ, EXPR_NE, EXPR_LT, EXPR_LE, EXPR_GT, EXPR_GE };

/* A side of a comparison: vocabulary key `key`, or the literal text (key < 0). */
struct operand {
	int key;
	char *text;
};

struct expr {
	enum expr_kind kind;
	enum expr_op op;     /* EXPR_CMP */
	struct expr *a, *b;  /* EXPR_OR, EXPR_AND: both; EXPR_NOT: a */
	struct operand l, r; /* EXPR_CMP */
};

struct sweep {
	char *name;
	struct strbuf spec;
	struct sweep_key *keys;
	int nkeys;
	struct sweep_zip *zips;
	int nzips;
	struct expr **filters; /* :where and :exclude lines; a point passes all */
	int nfilters;
	int *axes; /* indices into keys of the keys with n > 1, in order */
	int naxes;
};

/* Index of the vocabulary key called name, or -1. */
int sweep_vocab_index(const char *name);
/* Nonzero when s reads as a whole finite number, then in *x. */
int sweep_as_number(const char *s, double *x);

#endif
