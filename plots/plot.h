/*
 * plot: the plot kinds, one file each. Each takes plain data (arrays, names,
 * options; nothing from the database or the engine) and adds its setup, data
 * blocks and plot command to an empty struct gnuplot, which gnuplot_render()
 * then draws on the terminal or into a file.
 *
 *   dist     a histogram of float values with the quantizer's levels and clips
 *   grid     transfer functions x -> Q(x) of several quantizers
 *   pareto   accuracy against compute, per group, with the Pareto frontier
 *   curve    values per epoch of one or more runs
 *   border   a learned rounding border per bin (mean, min..max over channels)
 *   heatmap  a value over two keys, one cell per pair
 *
 * Every function returns 0, or -1 with *cause when there is nothing to draw
 * (no values, no finite point); strings are copied into the figure, so the
 * caller's data need only live during the call.
 */
#ifndef QB_PLOT_H
#define QB_PLOT_H

#include <stddef.h>

struct gnuplot;

/* ---- dist ---- */

/* Histogram bins of dist by default. */
#define PLOT_DIST_BINS 80

struct plot_dist {
	const char *run;    /* "run 3" (title) */
	const char *layer;  /* "03_fc" (title) */
	const char *what;   /* "weights" or "activations" (title, x label) */
	const char *scheme; /* the quantizer's scheme, or NULL for a float layer */
	int bits;	    /* its bits (title) */
	const float *x;	    /* the float values (n) */
	size_t n;
	const float *q; /* their quantized values (nq), or NULL */
	size_t nq;
	const float *split; /* the values after outlier channel splitting (nsplit), or NULL */
	size_t nsplit;
	const float *levels; /* the quantizer's output levels, ascending (nlevels), or NULL */
	int nlevels;
	double clip_lo, clip_hi; /* clip thresholds (NAN: none) */
	int bins;		 /* 0: PLOT_DIST_BINS */
	int logy;		 /* logarithmic counts (empty bins then leave gaps) */
};

/*
 * The float values as a histogram (steps) with the split values' histogram
 * beside it, the levels as thin vertical lines (short ticks when there are
 * more than 16), the clips as dashed ones and the quantized values as
 * impulses at their distinct values (counts on the right axis). Non-finite
 * values are left out.
 */
int plot_dist(struct gnuplot *g, const struct plot_dist *d, char **cause);

/*
 * counts (bins) = the histogram of the finite values of x (n) over [lo, hi]
 * in bins equal bins; values outside are left out, hi falls in the last bin.
 * Returns the number of values counted.
 */
size_t plot_histogram(const float *x, size_t n, double lo, double hi, int bins, double *counts);

/* ---- grid ---- */

/* One quantizer's output levels and the inputs where its output steps. */
struct plot_levels {
	const char *name;    /* key title, e.g. "apot 3 bits" */
	const float *levels; /* n output levels, ascending */
	int n;
	const float *thresholds; /* n - 1 inputs where the output steps up, or NULL: midpoints */
};

struct plot_grid {
	const char *title;
	const struct plot_levels *q;
	int nq;
	double xmin, xmax; /* input range drawn */
};

/*
 * The staircase x -> Q(x) of q over [xmin, xmax] as 2·n points (x, y): level
 * i from threshold i - 1 (xmin for the first) to threshold i (xmax for the
 * last), so consecutive points join into flat treads and vertical risers.
 * Thresholds outside [xmin, xmax] are clamped. Returns the number of points.
 */
int plot_staircase(const struct plot_levels *q, double xmin, double xmax, double *x, double *y);

/* The staircases of every quantizer (one colour each) over the identity y = x. */
int plot_grid(struct gnuplot *g, const struct plot_grid *d, char **cause);

/* ---- pareto ---- */

struct plot_point {
	double x, y;  /* compute (> 0 on a log axis) and accuracy */
	double y_std; /* error bar half-height (NaN or 0: none) */
	int group;    /* index into plot_pareto.groups */
};

struct plot_pareto {
	const char *title, *xlabel, *ylabel;
	const char *const *groups; /* ngroups names (one marker and colour each) */
	int ngroups;
	const struct plot_point *p;
	int n;
	int xlog; /* logarithmic x axis */
};

/*
 * The Pareto frontier of p (n) for small x and large y: writes into idx the
 * points no other point beats (x <= and y >= with one strict), by ascending
 * x, each with a larger y than the one before; equal points count once.
 * Non-finite points (and x <= 0 with xlog) take no part. Returns their count.
 */
int plot_pareto_frontier(const struct plot_point *p, int n, int xlog, int *idx);

/* Points per group with error bars, and the frontier as a staircase over all of them. */
int plot_pareto(struct gnuplot *g, const struct plot_pareto *d, char **cause);

/* ---- curve ---- */

struct plot_series {
	const char *name;    /* key title, e.g. "run 3 test_acc" */
	const double *x, *y; /* n points (NaN y: a gap) */
	int n;
	int y2;		 /* on the right axis */
	int color, dash; /* line colour and dash type from 1; 0: by position */
};

struct plot_curve {
	const char *title, *xlabel, *ylabel, *y2label;
	const struct plot_series *s;
	int ns;
};

/* Lines with points, one per series; y2label labels the right axis when a series uses it. */
int plot_curve(struct gnuplot *g, const struct plot_curve *d, char **cause);

/* ---- border ---- */

struct plot_border {
	const char *title;
	const double *mean, *lo, *hi; /* per bin (bins): mean, min and max over channels */
	int bins;
};

/* The band min..max and the mean per bin against the constant 0.5 (round to nearest). */
int plot_border(struct gnuplot *g, const struct plot_border *d, char **cause);

/* ---- heatmap ---- */

struct plot_heatmap {
	const char *title, *xlabel, *ylabel, *zlabel;
	const char *const *xs; /* nx column labels (x axis) */
	int nx;
	const char *const *ys; /* ny row labels (y axis) */
	int ny;
	const double *z; /* ny x nx, row-major; NaN: no value */
	const char *fmt; /* printf format of a cell's label, NULL: "%.3f" */
};

/* One coloured cell per (x, y) with its value written in it; empty cells stay blank. */
int plot_heatmap(struct gnuplot *g, const struct plot_heatmap *d, char **cause);

#endif
