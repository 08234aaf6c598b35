/*
 * heatmap: one value (e.g. test accuracy) over two keys (e.g. w.bits down,
 * a.bits across): a coloured cell per pair at integer positions, labelled by
 * the key values, with the value written in the cell. A pair without a value
 * is NaN, which gnuplot leaves blank.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/util.h"
#include "plots/gnuplot.h"
#include "plots/plot.h"

/* "set xtics ('2' 0, '4' 1, ...)" for axis ("x" or "y"). */
static void
set_tics(struct gnuplot *g, const char *axis, const char *const *labels, int n)
{
	size_t cap = 64;
	char *line = xmalloc(cap);
	size_t len = (size_t)snprintf(line, cap, "set %stics (", axis);
	for (int i = 0; i < n; i++) {
		char *q = gnuplot_quote(labels[i] ? labels[i] : "");
		size_t need = strlen(q) + 32;
		if (len + need >= cap) {
			cap = (len + need) * 2;
			line = xrealloc(line, cap);
		}
		len += (size_t)snprintf(line + len, cap - len, "%s%s %d", i ? ", " : "", q, i);
		free(q);
	}
	gnuplot_set(g, "%s)", line);
	free(line);
}

int
plot_heatmap(struct gnuplot *g, const struct plot_heatmap *d, char **cause)
{
	int any = 0;
	for (int i = 0; i < d->nx * d->ny; i++)
		any |= isfinite(d->z[i]);
	if (!any)
		return err_set(cause, "no cell has a value");
	char *qt = gnuplot_quote(d->title ? d->title : "");
	char *qx = gnuplot_quote(d->xlabel ? d->xlabel : "");
	char *qy = gnuplot_quote(d->ylabel ? d->ylabel : "");
	char *qz = gnuplot_quote(d->zlabel ? d->zlabel : "");
	char *qf = gnuplot_quote(d->fmt ? d->fmt : "%.3f");
	gnuplot_set(g, "set title %s", qt);
	gnuplot_set(g, "set xlabel %s", qx);
	gnuplot_set(g, "set ylabel %s", qy);
	gnuplot_set(g, "set cblabel %s", qz);
	gnuplot_set(g, "set xrange [-0.5:%.1f]", d->nx - 0.5);
	gnuplot_set(g, "set yrange [-0.5:%.1f]", d->ny - 0.5);
	gnuplot_set(g, "set palette defined (0 '#f7fbff', 1 '#9ecae1', 2 '#4292c6')");
	gnuplot_set(g, "set tics nomirror out");
	gnuplot_set(g, "unset key");
	set_tics(g, "x", d->xs, d->nx);
	set_tics(g, "y", d->ys, d->ny);
	gnuplot_block(g, "cells", "column, row, value (one scan per row)");
	for (int r = 0; r < d->ny; r++) {
		if (r)
			gnuplot_row(g, "%s", "");
		for (int c = 0; c < d->nx; c++) {
			double v = d->z[(size_t)r * (size_t)d->nx + (size_t)c];
			if (isfinite(v))
				gnuplot_row(g, "%d %d %.9g", c, r, v);
			else
				gnuplot_row(g, "%d %d NaN", c, r);
		}
	}
	gnuplot_plot(g, "$cells using 1:2:3 with image");
	gnuplot_plot(g,
		     "$cells using 1:2:(valid(3) ? sprintf(%s, $3) : '') with labels "
		     "tc rgb '#000000'",
		     qf);
	free(qt);
	free(qx);
	free(qy);
	free(qz);
	free(qf);
	return 0;
}
