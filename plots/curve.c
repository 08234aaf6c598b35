/*
 * curve: values per step (epoch) of one or more runs, e.g. test accuracy
 * and training loss, one line with points per series; series flagged y2
 * (losses beside accuracies) use the right axis, which has its own scale.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/util.h"
#include "plots/gnuplot.h"
#include "plots/plot.h"

int
plot_curve(struct gnuplot *g, const struct plot_curve *d, char **cause)
{
	int points = 0, right = 0, whole = 1;
	double xlo = INFINITY, xhi = -INFINITY;
	for (int k = 0; k < d->ns; k++) {
		for (int i = 0; i < d->s[k].n; i++) {
			double x = d->s[k].x[i];
			if (!isfinite(x))
				continue;
			points += isfinite(d->s[k].y[i]);
			whole &= x == floor(x);
			xlo = fmin(xlo, x);
			xhi = fmax(xhi, x);
		}
		right |= d->s[k].y2;
	}
	if (points == 0)
		return err_set(cause, "no point to draw");
	char *qt = gnuplot_quote(d->title ? d->title : "");
	char *qx = gnuplot_quote(d->xlabel ? d->xlabel : "epoch");
	char *qy = gnuplot_quote(d->ylabel ? d->ylabel : "");
	gnuplot_set(g, "set title %s", qt);
	gnuplot_set(g, "set xlabel %s", qx);
	gnuplot_set(g, "set ylabel %s", qy);
	free(qt);
	free(qx);
	free(qy);
	if (right) {
		char *q2 = gnuplot_quote(d->y2label ? d->y2label : "");
		gnuplot_set(g, "set y2label %s", q2);
		gnuplot_set(g, "set ytics nomirror");
		gnuplot_set(g, "set y2tics");
		free(q2);
	}
	gnuplot_set(g, "set key outside bottom center horizontal");
	gnuplot_set(g, "set grid");
	/* epochs are whole numbers: a tic per epoch when they are few */
	if (whole && xhi - xlo <= 20)
		gnuplot_set(g, "set xtics 1");
	/* one-epoch runs are single points: keep them off the frame */
	gnuplot_set(g, "set offsets graph 0.02, graph 0.02, graph 0.05, graph 0.05");
	for (int k = 0; k < d->ns; k++) {
		const struct plot_series *s = &d->s[k];
		int any = 0;
		for (int i = 0; i < s->n; i++)
			any |= isfinite(s->x[i]) && isfinite(s->y[i]);
		if (!any)
			continue;
		char name[32], comment[200];
		snprintf(name, sizeof name, "s%d", k);
		snprintf(comment, sizeof comment, "%s: step, value", s->name ? s->name : "");
		gnuplot_block(g, name, comment);
		for (int i = 0; i < s->n; i++)
			if (isfinite(s->x[i]))
				gnuplot_row(g, "%.9g %.9g", s->x[i], s->y[i]);
		char *qn = gnuplot_quote(s->name ? s->name : "");
		int lt = s->color > 0 ? s->color : k + 1;
		gnuplot_plot(g, "$%s using 1:2%s with linespoints lw 2 lt %d dt %d pt %d title %s",
			     name, s->y2 ? " axes x1y2" : "", lt, s->dash > 0 ? s->dash : 1,
			     k % 12 + 1, qn);
		free(qn);
	}
	return 0;
}
