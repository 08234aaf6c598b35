/*
 * tap: TAP output for the unit tests.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/stat.h>

#include "tests/unit/tap.h"

static int tap_count;
static int tap_failed;
static char tap_tmp[4096];

static int
report(int cond, const char *fmt, va_list ap)
{
	tap_count++;
	printf("%sok %d - ", cond ? "" : "not ", tap_count);
	vprintf(fmt, ap);
	printf("\n");
	if (!cond)
		tap_failed++;
	fflush(stdout);
	return cond;
}

int
tap_ok(int cond, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = report(cond, fmt, ap);
	va_end(ap);
	return r;
}

int
tap_near(double got, double want, double tol, const char *fmt, ...)
{
	int cond = fabs(got - want) <= tol;
	va_list ap;
	va_start(ap, fmt);
	report(cond, fmt, ap);
	va_end(ap);
	if (!cond)
		printf("#   got %.9g, want %.9g, diff %.3g > tol %.3g\n", got, want, fabs(got - want), tol);
	return cond;
}

int
tap_near_arrays(const float *got, const float *want, size_t n, double atol, double rtol,
		const char *fmt, ...)
{
	size_t first = n, worst = 0;
	double maxdiff = 0.0;
	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)got[i] - (double)want[i]);
		int bad = !(d <= atol + rtol * fabs((double)want[i]));
		if (bad && first == n)
			first = i;
		if (d > maxdiff || d != d) {
			maxdiff = d;
			worst = i;
		}
	}
	int cond = first == n;
	va_list ap;
	va_start(ap, fmt);
	report(cond, fmt, ap);
	va_end(ap);
	if (!cond) {
		printf("#   first mismatch at [%zu]: got %.9g, want %.9g\n", first, got[first], want[first]);
		printf("#   max diff %.3g at [%zu]: got %.9g, want %.9g (atol %.3g, rtol %.3g, n %zu)\n",
		       maxdiff, worst, got[worst], want[worst], atol, rtol, n);
	}
	return cond;
}

int
tap_eq_int(long got, long want, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int cond = report(got == want, fmt, ap);
	va_end(ap);
	if (!cond)
		printf("#   got %ld, want %ld\n", got, want);
	return cond;
}

int
tap_eq_str(const char *got, const char *want, const char *fmt, ...)
{
	int cond = got && want && strcmp(got, want) == 0;
	va_list ap;
	va_start(ap, fmt);
	report(cond, fmt, ap);
	va_end(ap);
	if (!cond)
		printf("#   got  \"%s\"\n#   want \"%s\"\n", got ? got : "(null)", want ? want : "(null)");
	return cond;
}

int
tap_same_floats(const float *got, const float *want, size_t n, const char *fmt, ...)
{
	size_t first = n;
	for (size_t i = 0; i < n && first == n; i++)
		if (memcmp(&got[i], &want[i], sizeof(float)) != 0)
			first = i;
	va_list ap;
	va_start(ap, fmt);
	int cond = report(first == n, fmt, ap);
	va_end(ap);
	if (!cond)
		printf("#   first difference at [%zu] of %zu: got %.9g, want %.9g\n", first, n, got[first],
		       want[first]);
	return cond;
}

void
tap_diag(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("# ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	fflush(stdout);
}

void
tap_skip(const char *reason, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tap_count++;
	printf("ok %d - ", tap_count);
	vprintf(fmt, ap);
	printf(" # SKIP %s\n", reason);
	va_end(ap);
	fflush(stdout);
}

static int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int
tap_done(void)
{
	printf("1..%d\n", tap_count);
	if (tap_tmp[0] && !tap_failed)
		nftw(tap_tmp, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	return tap_failed ? 1 : 0;
}

const char *
tap_srcpath(const char *rel)
{
	static char buf[4096];
	const char *top = getenv("QB_SRCDIR");
	snprintf(buf, sizeof buf, "%s/%s", top && *top ? top : ".", rel);
	return buf;
}

const char *
tap_tmpdir(void)
{
	if (!tap_tmp[0]) {
		const char *t = getenv("TMPDIR");
		snprintf(tap_tmp, sizeof tap_tmp, "%s/qbench-test-XXXXXX", t && *t ? t : "/tmp");
		if (!mkdtemp(tap_tmp)) {
			perror("mkdtemp");
			exit(99);
		}
	}
	return tap_tmp;
}
