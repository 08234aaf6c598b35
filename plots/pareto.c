/*
 * pareto: accuracy against compute. One marker shape and colour per group
 * (e.g. per scheme), error bars of the spread over seeds, and the Pareto
 * frontier over every point: the best accuracy reachable for at most a
 * given compute, an upper-left staircase.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/util.h"
#include "plots/gnuplot.h"
#include "plots/plot.h"

static int
usable(const struct plot_point *p, int xlog)
{
	return isfinite(p->x) && isfinite(p->y) && (!xlog || p->x > 0);
}

/* A point being ordered: its values and its index. */
struct ranked {
	double x, y;
	int i;
};

/* Ascending x, then descending y, then index (a total order, so the result is stable). */
static int
cmp_xy(const void *a, const void *b)
{
	const struct ranked *p = a, *q = b;
	if (p->x != q->x)
		return p->x < q->x ? -1 : 1;
	if (p->y != q->y)
		return p->y > q->y ? -1 : 1;
	return (p->i > q->i) - (p->i < q->i);
}

int
plot_pareto_frontier(const struct plot_point *p, int n, int xlog, int *idx)
{
	struct ranked *r = xmalloc((size_t)(n > 0 ? n : 1) * sizeof *r);
	int m = 0, out = 0;
	for (int i = 0; i < n; i++)
		if (usable(&p[i], xlog))
			r[m++] = (struct ranked){p[i].x, p[i].y, i};
	qsort(r, (size_t)m, sizeof *r, cmp_xy);
	/*
	 * Every point before r[i] has x <= its x; it is on the frontier when its
	 * y beats all of theirs (a tie in y with a smaller or equal x is
	 * dominated or a duplicate).
	 */
	double best = -INFINITY;
	for (int i = 0; i < m; i++)
		if (r[i].y > best) {
			best = r[i].y;
			idx[out++] = r[i].i;
		}
	free(r);
	return out;
}

int
plot_pareto(struct gnuplot *g, const struct plot_pareto *d, char **cause)
{
	int *front = xmalloc((size_t)(d->n > 0 ? d->n : 1) * sizeof *front);
	int nf = plot_pareto_frontier(d->p, d->n, d->xlog, front);
	if (nf == 0) {
		free(front);
		return err_set(cause, "no point to draw (%d runs, none with finite values%s)", d->n,
			       d->xlog ? " and a positive x" : "");
	}
	char *qt = gnuplot_quote(d->title ? d->title : "");
	char *qx = gnuplot_quote(d->xlabel ? d->xlabel : "");
	char *qy = gnuplot_quote(d->ylabel ? d->ylabel : "");
	gnuplot_set(g, "set title %s", qt);
	gnuplot_set(g, "set xlabel %s", qx);
	gnuplot_set(g, "set ylabel %s", qy);
	free(qt);
	free(qx);
	free(qy);
	if (d->xlog)
		gnuplot_set(g, "set logscale x");
	gnuplot_set(g, "set key bottom right");
	gnuplot_set(g, "set grid");
	gnuplot_set(g, "set offsets graph 0.02, graph 0.02, graph 0.05, graph 0.05");

	for (int k = 0; k < d->ngroups; k++) {
		int any = 0;
		char name[32];
		snprintf(name, sizeof name, "g%d", k);
		for (int i = 0; i < d->n; i++) {
			const struct plot_point *p = &d->p[i];
			if (p->group != k || !usable(p, d->xlog))
				continue;
			if (!any) {
				char comment[200];
				snprintf(comment, sizeof comment, "%s: x, y, y std",
					 d->groups[k] ? d->groups[k] : "");
				gnuplot_block(g, name, comment);
				any = 1;
			}
			gnuplot_row(g, "%.9g %.9g %.9g", p->x, p->y,
				    isfinite(p->y_std) ? p->y_std : 0.0);
		}
		if (!any)
			continue;
		char *qg = gnuplot_quote(d->groups[k] ? d->groups[k] : "");
		gnuplot_plot(g, "$%s using 1:2:3 with yerrorbars pt %d ps 1.5 lt %d title %s", name,
			     k % 12 + 1, k + 1, qg);
		free(qg);
	}
	gnuplot_block(g, "frontier", "Pareto frontier: x, y (ascending x)");
	for (int i = 0; i < nf; i++)
		gnuplot_row(g, "%.9g %.9g", d->p[front[i]].x, d->p[front[i]].y);
	gnuplot_plot(g, "$frontier using 1:2 with steps lw 1.5 lc rgb '#000000' "
			"title 'Pareto frontier'");
	free(front);
	return 0;
}
