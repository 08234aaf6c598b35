/*
 * border: a learned activation rounding border (AQuant-style, METHODS §5)
 * of one layer: for each integer bin of the grid, the band between the
 * smallest and the largest border over the layer's channels and their mean,
 * against the constant 0.5 of rounding to nearest. A border B means a value
 * whose fractional part in the bin exceeds B rounds up.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/util.h"
#include "plots/gnuplot.h"
#include "plots/plot.h"

int
plot_border(struct gnuplot *g, const struct plot_border *d, char **cause)
{
	int any = 0;
	for (int k = 0; k < d->bins; k++)
		any |= isfinite(d->mean[k]);
	if (!any)
		return err_set(cause, "no border values to draw");
	char *qt = gnuplot_quote(d->title ? d->title : "");
	gnuplot_set(g, "set title %s", qt);
	free(qt);
	gnuplot_set(g, "set xlabel 'bin (integer part of x / step, from the lowest code)'");
	gnuplot_set(g, "set ylabel 'border B (round up when the fraction > B)'");
	gnuplot_set(g, "set yrange [0:1]");
	gnuplot_set(g, "set xrange [%.9g:%.9g]", -0.5, d->bins - 0.5);
	/* bins are integers: at most about 16 tics */
	gnuplot_set(g, "set xtics %d", (d->bins + 15) / 16);
	gnuplot_set(g, "set key top right");
	gnuplot_set(g, "set grid");
	gnuplot_block(g, "border", "bin, mean, min, max over channels");
	for (int k = 0; k < d->bins; k++)
		gnuplot_row(g, "%d %.9g %.9g %.9g", k, d->mean[k], d->lo[k], d->hi[k]);
	gnuplot_block(g, "nearest", "bin, 0.5 (round to nearest)");
	gnuplot_row(g, "%.9g 0.5", -0.5);
	gnuplot_row(g, "%.9g 0.5", d->bins - 0.5);
	gnuplot_plot(g, "$border using 1:3:4 with filledcurves fc rgb '#c6dbef' "
			"title 'min..max over channels'");
	gnuplot_plot(g, "$border using 1:2 with linespoints lw 2 pt 7 lc rgb '#1f77b4' "
			"title 'mean'");
	gnuplot_plot(g, "$nearest using 1:2 with lines dt 2 lw 2 lc rgb '#d62728' "
			"title '0.5 (nearest)'");
	return 0;
}
