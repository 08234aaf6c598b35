/*
 * json: the streaming writer. Nesting deeper than JSON_MAX_DEPTH is a
 * programming error (asserted); qbench's documents are a few levels deep.
 */
#include <assert.h>
#include <math.h>

#include "app/json.h"
#include "experiments/config.h"

static void
json_write_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", f);
		else if (*p == '\t')
			fputs("\\t", f);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

/* Comma and key before a value at the current level. */
static void
json_member(struct json *j, const char *key)
{
	if (j->count[j->depth]++ > 0)
		fputc(',', j->f);
	if (key) {
		json_write_string(j->f, key);
		fputc(':', j->f);
	}
}

void
json_begin(struct json *j, FILE *f)
{
	j->f = f;
	j->depth = 0;
	j->count[0] = 0;
}

void
json_end(struct json *j)
{
	assert(j->depth == 0);
	fputc('\n', j->f);
	fflush(j->f);
}

static void
json_open(struct json *j, const char *key, char c)
{
	json_member(j, key);
	fputc(c, j->f);
	assert(j->depth + 1 < JSON_MAX_DEPTH);
	j->count[++j->depth] = 0;
}

static void
json_close(struct json *j, char c)
{
	assert(j->depth > 0);
	j->depth--;
	fputc(c, j->f);
}

void
json_object(struct json *j, const char *key)
{
	json_open(j, key, '{');
}

void
json_object_end(struct json *j)
{
	json_close(j, '}');
}

void
json_array(struct json *j, const char *key)
{
	json_open(j, key, '[');
}

void
json_array_end(struct json *j)
{
	json_close(j, ']');
}

void
json_string(struct json *j, const char *key, const char *s)
{
	json_member(j, key);
	if (s)
		json_write_string(j->f, s);
	else
		fputs("null", j->f);
}

void
json_number(struct json *j, const char *key, double v)
{
	json_member(j, key);
	if (isfinite(v)) {
		char buf[40];
		config_format_double(buf, sizeof buf, v);
		fputs(buf, j->f);
	} else {
		fputs("null", j->f);
	}
}

void
json_int(struct json *j, const char *key, long long v)
{
	json_member(j, key);
	fprintf(j->f, "%lld", v);
}

void
json_bool(struct json *j, const char *key, int v)
{
	json_member(j, key);
	fputs(v ? "true" : "false", j->f);
}

void
json_null(struct json *j, const char *key)
{
	json_member(j, key);
	fputs("null", j->f);
}

void
json_raw(struct json *j, const char *key, const char *text)
{
	json_member(j, key);
	fputs(text, j->f);
}
