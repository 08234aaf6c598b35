/*
 * grid: the transfer functions x -> Q(x) of several quantizers over one
 * input range, drawn as staircases from their level sets: level i holds
 * between the thresholds where the output steps into it and out of it
 * (midpoints of neighbouring levels for round-to-nearest quantizers; the
 * caller passes others, e.g. a compander's). The identity y = x is drawn
 * under them, so rounding error and clipping are visible at a glance.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/util.h"
#include "plots/gnuplot.h"
#include "plots/plot.h"

static double
clampd(double v, double lo, double hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

int
plot_staircase(const struct plot_levels *q, double xmin, double xmax, double *x, double *y)
{
	int m = 0;
	double from = xmin;
	for (int i = 0; i < q->n; i++) {
		double to = xmax;
		if (i + 1 < q->n)
			to = q->thresholds
				     ? q->thresholds[i]
				     : 0.5 * ((double)q->levels[i] + (double)q->levels[i + 1]);
		to = clampd(to, xmin, xmax);
		/* thresholds ascend; a clamped one may not go back below the tread's start */
		to = to < from ? from : to;
		x[m] = from;
		y[m++] = q->levels[i];
		x[m] = to;
		y[m++] = q->levels[i];
		from = to;
	}
	return m;
}

int
plot_grid(struct gnuplot *g, const struct plot_grid *d, char **cause)
{
	if (d->nq < 1)
		return err_set(cause, "no quantizers to draw");
	if (!(d->xmax > d->xmin))
		return err_set(cause, "empty input range [%g, %g]", d->xmin, d->xmax);
	for (int k = 0; k < d->nq; k++)
		if (d->q[k].n < 1)
			return err_set(cause, "%s: no levels", d->q[k].name ? d->q[k].name : "?");
	char *qt = gnuplot_quote(d->title ? d->title : "");
	gnuplot_set(g, "set title %s", qt);
	free(qt);
	gnuplot_set(g, "set xlabel 'x (input)'");
	gnuplot_set(g, "set ylabel 'Q(x)'");
	gnuplot_set(g, "set xrange [%.9g:%.9g]", d->xmin, d->xmax);
	gnuplot_set(g, "set key top left");
	gnuplot_set(g, "set grid");

	gnuplot_block(g, "identity", "x, y = x");
	gnuplot_row(g, "%.9g %.9g", d->xmin, d->xmin);
	gnuplot_row(g, "%.9g %.9g", d->xmax, d->xmax);
	gnuplot_plot(g, "$identity using 1:2 with lines dt 3 lc rgb '#909090' title 'y = x'");
	for (int k = 0; k < d->nq; k++) {
		const struct plot_levels *q = &d->q[k];
		double *x = xmalloc((size_t)(2 * q->n) * sizeof *x);
		double *y = xmalloc((size_t)(2 * q->n) * sizeof *y);
		int m = plot_staircase(q, d->xmin, d->xmax, x, y);
		char name[32], comment[160];
		snprintf(name, sizeof name, "q%d", k);
		snprintf(comment, sizeof comment, "%s: x, Q(x) (staircase corners)",
			 q->name ? q->name : "");
		gnuplot_block(g, name, comment);
		for (int i = 0; i < m; i++)
			gnuplot_row(g, "%.9g %.9g", x[i], y[i]);
		char *qn = gnuplot_quote(q->name ? q->name : "");
		gnuplot_plot(g, "$%s using 1:2 with lines lw 2 lt %d title %s", name, k + 1, qn);
		free(qn);
		free(x);
		free(y);
	}
	return 0;
}
