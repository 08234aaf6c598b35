/*
 * dist: the distribution of a layer's weights or input activations against
 * its quantizer: the float histogram (and the one after outlier channel
 * splitting), the levels, the clip thresholds and the quantized values.
 *
 * Every histogram shares one set of bins over the range of all the values
 * and clips, so the shapes compare directly. Up to 16 levels (4 bits) are
 * drawn as lines over the whole height, more as short ticks along the axis. The quantized values
 * sit on the levels; they are counted per distinct value, not binned, and drawn on the right axis,
 * whose counts are far larger than a float bin's.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/util.h"
#include "plots/gnuplot.h"
#include "plots/plot.h"

/* More distinct quantized values than this are binned like the float ones. */
#define DIST_MAX_DISTINCT 1024
/* Up to this many levels are lines over the whole height; more are short ticks. */
#define DIST_FULL_LEVELS 16

size_t
plot_histogram(const float *x, size_t n, double lo, double hi, int bins, double *counts)
{
	size_t used = 0;
	for (int b = 0; b < bins; b++)
		counts[b] = 0;
	if (bins < 1 || !(hi > lo))
		return 0;
	double w = (hi - lo) / bins;
	for (size_t i = 0; i < n; i++) {
		double v = x[i];
		if (!isfinite(v) || v < lo || v > hi)
			continue;
		int b = (int)((v - lo) / w);
		if (b >= bins)
			b = bins - 1; /* v == hi */
		counts[b]++;
		used++;
	}
	return used;
}

static void
extend(double *lo, double *hi, const float *x, size_t n)
{
	for (size_t i = 0; x && i < n; i++)
		if (isfinite(x[i])) {
			*lo = x[i] < *lo ? x[i] : *lo;
			*hi = x[i] > *hi ? x[i] : *hi;
		}
}

static int
cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return (x > y) - (x < y);
}

/* A histogram block: bin centres and counts. Returns the largest count. */
static double
hist_block(struct gnuplot *g, const char *name, const float *x, size_t n, double lo, double hi,
	   int bins)
{
	double *c = xcalloc((size_t)bins, sizeof *c), top = 0, w = (hi - lo) / bins;
	plot_histogram(x, n, lo, hi, bins, c);
	gnuplot_block(g, name, "bin centre, count");
	for (int b = 0; b < bins; b++) {
		gnuplot_row(g, "%.9g %.0f", lo + (b + 0.5) * w, c[b]);
		top = c[b] > top ? c[b] : top;
	}
	free(c);
	return top;
}

/*
 * The quantized values as (value, count) rows: per distinct finite value, or
 * binned when there are too many of them. Returns the number of rows.
 */
static int
quant_block(struct gnuplot *g, const float *q, size_t n, double lo, double hi, int bins)
{
	float *s = xmalloc((n ? n : 1) * sizeof *s);
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (isfinite(q[i]))
			s[m++] = q[i];
	qsort(s, m, sizeof *s, cmp_float);
	size_t distinct = 0;
	for (size_t i = 0; i < m; i++)
		distinct += i == 0 || s[i] != s[i - 1];
	int rows = 0;
	gnuplot_block(g, "quantized", "quantized value, count");
	if (distinct <= DIST_MAX_DISTINCT) {
		for (size_t i = 0; i < m;) {
			size_t k = i;
			while (k < m && s[k] == s[i])
				k++;
			gnuplot_row(g, "%.9g %zu", (double)s[i], k - i);
			rows++;
			i = k;
		}
	} else {
		double *c = xcalloc((size_t)bins, sizeof *c), w = (hi - lo) / bins;
		plot_histogram(s, m, lo, hi, bins, c);
		for (int b = 0; b < bins; b++)
			if (c[b] > 0) {
				gnuplot_row(g, "%.9g %.0f", lo + (b + 0.5) * w, c[b]);
				rows++;
			}
		free(c);
	}
	free(s);
	return rows;
}

int
plot_dist(struct gnuplot *g, const struct plot_dist *d, char **cause)
{
	double lo = INFINITY, hi = -INFINITY;
	extend(&lo, &hi, d->x, d->n);
	if (!(lo <= hi))
		return err_set(cause, "%s %s: no finite values to draw", d->layer ? d->layer : "",
			       d->what ? d->what : "values");
	extend(&lo, &hi, d->split, d->nsplit);
	extend(&lo, &hi, d->q, d->nq);
	int has_lo = isfinite(d->clip_lo), has_hi = isfinite(d->clip_hi);
	if (has_lo)
		lo = fmin(lo, d->clip_lo);
	if (has_hi)
		hi = fmax(hi, d->clip_hi);
	if (hi - lo < 1e-12 * fmax(1, fabs(hi))) {
		double half = fmax(0.5 * fabs(hi), 0.5);
		lo -= half;
		hi += half;
	}
	/* a little room on both sides, so the outermost bars and lines show */
	double pad = 0.02 * (hi - lo);
	lo -= pad;
	hi += pad;
	int bins = d->bins > 0 ? d->bins : PLOT_DIST_BINS;

	int quantized = d->scheme && strcmp(d->scheme, "float") != 0 && d->bits > 0 && d->bits < 32;
	char *title = quantized ? xasprintf("%s, %s %s: %s %d bits", d->run ? d->run : "",
					    d->layer ? d->layer : "", d->what ? d->what : "",
					    d->scheme, d->bits)
				: xasprintf("%s, %s %s: float", d->run ? d->run : "",
					    d->layer ? d->layer : "", d->what ? d->what : "");
	char *qt = gnuplot_quote(title), *qx = gnuplot_quote(d->what ? d->what : "value");
	gnuplot_set(g, "set title %s", qt);
	gnuplot_set(g, "set xlabel %s", qx);
	gnuplot_set(g, "set ylabel 'count'");
	gnuplot_set(g, "set xrange [%.9g:%.9g]", lo, hi);
	if (d->logy) {
		gnuplot_set(g, "set logscale y");
		gnuplot_set(g, "set yrange [0.8:*]");
	} else {
		gnuplot_set(g, "set yrange [0:*]");
	}
	gnuplot_set(g, "set ytics nomirror");
	gnuplot_set(g, "set key outside bottom center horizontal");
	free(qt);
	free(qx);
	free(title);

	double top = hist_block(g, "float", d->x, d->n, lo, hi, bins);
	if (d->split && d->nsplit) {
		double t = hist_block(g, "split", d->split, d->nsplit, lo, hi, bins);
		top = t > top ? t : top;
	}
	if (top <= 0)
		top = 1;
	int nlev = 0;
	if (d->levels && d->nlevels > 0) {
		/* a few levels span the plot; many would hide it and become a rug of ticks */
		double h = d->nlevels <= DIST_FULL_LEVELS ? top : ceil(0.1 * top);
		gnuplot_block(g, "levels",
			      d->nlevels <= DIST_FULL_LEVELS
				      ? "level, height (the tallest float bin)"
				      : "level, height (a tenth of the tallest float bin)");
		for (int i = 0; i < d->nlevels; i++)
			if (d->levels[i] >= lo && d->levels[i] <= hi) {
				gnuplot_row(g, "%.9g %.0f", (double)d->levels[i], h);
				nlev++;
			}
		if (nlev == 0)
			gnuplot_row(g, "NaN NaN");
	}
	if (has_lo || has_hi) {
		gnuplot_block(g, "clip", "clip threshold, height");
		if (has_lo)
			gnuplot_row(g, "%.9g %.0f", d->clip_lo, top);
		if (has_hi)
			gnuplot_row(g, "%.9g %.0f", d->clip_hi, top);
	}
	int qrows = d->q && d->nq ? quant_block(g, d->q, d->nq, lo, hi, bins) : 0;

	/* back to front: levels, histograms, quantized values, clips */
	if (nlev) {
		char *k = xasprintf("levels (%d)", d->nlevels);
		char *qk = gnuplot_quote(k);
		gnuplot_plot(g, "$levels using 1:2 with impulses lc rgb '#b0b0b0' title %s", qk);
		free(qk);
		free(k);
	}
	gnuplot_plot(g, "$float using 1:2 with histeps lw 2 lc rgb '#1f77b4' title 'float'");
	if (d->split && d->nsplit)
		gnuplot_plot(g, "$split using 1:2 with histeps lw 2 lc rgb '#2ca02c' "
				"title 'after OCS split'");
	if (qrows) {
		gnuplot_set(g, "set y2label 'quantized'");
		if (d->logy) {
			gnuplot_set(g, "set logscale y2");
			gnuplot_set(g, "set y2range [0.8:*]");
		} else {
			gnuplot_set(g, "set y2range [0:*]");
		}
		gnuplot_set(g, "set y2tics");
		gnuplot_plot(g,
			     "$quantized using 1:2 axes x1y2 with impulses lw 3 lc rgb '#ff7f0e' "
			     "title 'quantized (right axis)'");
	}
	if (has_lo || has_hi)
		gnuplot_plot(g, "$clip using 1:2 with impulses dt 2 lw 2 lc rgb '#d62728' "
				"title 'clip'");
	return 0;
}
