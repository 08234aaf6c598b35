/*
 * util: allocation wrappers that never return NULL, and error messages.
 *
 * Error convention (used by every layer below app/): a function that can fail
 * returns 0 on success and -1 on failure, and on failure stores a malloc'd,
 * human-readable message in *cause (when cause is not NULL). The caller owns
 * and frees the message. Messages name the file, line or key at fault and carry
 * no trailing newline or program-name prefix.
 */
#ifndef QB_UTIL_H
#define QB_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Allocation that aborts with a message on out-of-memory; never returns NULL. */
void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/* Returns a malloc'd formatted string; caller frees. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* 64-byte aligned, zeroed float buffer of n elements; free with xfree_aligned(). */
float *xalloc_floats(size_t n);
void xfree_aligned(void *p);

/* Sets *cause (if cause != NULL) to a malloc'd formatted message; returns -1. */
int err_set(char **cause, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Like err_set, but prefixes "context: " to an existing message *cause. */
int err_wrap(char **cause, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Monotonic wall clock in seconds. */
double util_now(void);

/*
 * Levenshtein distance between a and b, for "did you mean" suggestions.
 * Returns the nearest of names[0..n) to s, or NULL when none is within
 * max(2, strlen(s)/3) edits.
 */
size_t util_edit_distance(const char *a, const char *b);
const char *util_nearest(const char *s, const char *const *names, size_t n);

/*
 * Sorts the ints a[0..n) stably (merge sort) by cmp(ctx, x, y) < 0 when x
 * goes before y: indices into the caller's rows, compared through ctx.
 */
void util_sort_ints(int *a, int n, int (*cmp)(const void *ctx, int x, int y), const void *ctx);

#endif
