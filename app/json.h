/*
 * json: a small streaming JSON writer for --json output.
 *
 * The writer tracks nesting and commas; members of an object take a key,
 * elements of an array take key NULL. Numbers use the canonical text of
 * experiments/config (shortest round-trip); NaN and infinities are written as
 * null. Output is compact, one document per json_begin .. json_end, followed
 * by a newline.
 */
#ifndef QB_JSON_H
#define QB_JSON_H

#include <stdio.h>

#define JSON_MAX_DEPTH 16

struct json {
	FILE *f;
	int depth;
	int count[JSON_MAX_DEPTH]; /* members written at each level */
};

/* Starts a document on f. */
void json_begin(struct json *j, FILE *f);
/* Ends the document (all containers closed) with a newline. */
void json_end(struct json *j);

void json_object(struct json *j, const char *key);
void json_object_end(struct json *j);
void json_array(struct json *j, const char *key);
void json_array_end(struct json *j);

/* A string; s NULL writes null. */
void json_string(struct json *j, const char *key, const char *s);
void json_number(struct json *j, const char *key, double v);
void json_int(struct json *j, const char *key, long long v);
void json_bool(struct json *j, const char *key, int v);
void json_null(struct json *j, const char *key);
/* Text that already is JSON (e.g. a stored configuration), written as is. */
void json_raw(struct json *j, const char *key, const char *text);

#endif
