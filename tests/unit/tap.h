/*
 * tap: tiny Test Anything Protocol helpers for the unit tests.
 *
 * Each check prints one "ok N - name" or "not ok N - name" line; failures
 * print both values, the largest difference and the first mismatching index
 * as "#" diagnostics. tap_done() prints the plan and returns the exit status.
 */
#ifndef QB_TAP_H
#define QB_TAP_H

#include <stddef.h>

/* Fixed-size formatted test name (for names built in loops). */
#define TAP_NAME(buf, ...) (snprintf((buf), sizeof(buf), __VA_ARGS__), (buf))

int tap_ok(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* |got - want| <= tol (absolute); NaN never passes. */
int tap_near(double got, double want, double tol, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Every element: |got - want| <= atol + rtol * |want|. */
int tap_near_arrays(const float *got, const float *want, size_t n, double atol, double rtol,
		    const char *fmt, ...) __attribute__((format(printf, 6, 7)));
int tap_eq_int(long got, long want, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int tap_eq_str(const char *got, const char *want, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Bit-identical float arrays. */
int tap_same_floats(const float *got, const float *want, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void tap_skip(const char *reason, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints the plan "1..N"; returns 0 when every check passed, else 1. When every
 * check passed it also removes the tap_tmpdir() folder (kept on failure, to look at). */
int tap_done(void);

/* Path of a file in the source tree (QB_SRCDIR, or "." when unset); static buffer. */
const char *tap_srcpath(const char *rel);
/* A fresh temporary directory for this test, under TMPDIR (see tap_done). */
const char *tap_tmpdir(void);

#endif
