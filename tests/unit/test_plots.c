/*
 * test_plots: the figures' scripts and data from small hand-made inputs
 * (data block values, the terminal line, log scale, escaping, the Pareto
 * frontier, the staircases), then every plot kind drawn by the real gnuplot:
 * PNG files of the requested size (signature and IHDR), FILE.gp and FILE.dat
 * beside them that regenerate the figure, SVG and PDF headers, the terminal
 * drawing's size, gnuplot's own errors and the message for a missing gnuplot.
 * Without gnuplot the drawing checks are skipped.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/util.h"
#include "plots/gnuplot.h"
#include "plots/plot.h"
#include "tests/unit/tap.h"

/* ---- helpers ---- */

static int
contains(const char *s, const char *sub)
{
	return s && strstr(s, sub) != NULL;
}

/* The rows of data block `name` in an inline script: the text between its header and EOD. */
static char *
inline_block(const char *script, const char *name)
{
	char head[64];
	snprintf(head, sizeof head, "$%s << EOD\n", name);
	const char *s = strstr(script, head);
	if (!s)
		return xstrdup("");
	s += strlen(head);
	const char *e = strstr(s, "EOD\n");
	return xasprintf("%.*s", (int)(e ? e - s : 0), s);
}

static int
file_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && st.st_size > 0;
}

/* Width and height from a PNG's IHDR; 0 when path is not a PNG. */
static int
png_size(const char *path, long *w, long *h)
{
	unsigned char b[24];
	FILE *f = fopen(path, "rb");
	*w = *h = 0;
	if (!f)
		return 0;
	size_t n = fread(b, 1, sizeof b, f);
	fclose(f);
	static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
	if (n < 24 || memcmp(b, sig, 8) != 0 || memcmp(b + 12, "IHDR", 4) != 0)
		return 0;
	*w = (long)b[16] << 24 | (long)b[17] << 16 | (long)b[18] << 8 | b[19];
	*h = (long)b[20] << 24 | (long)b[21] << 16 | (long)b[22] << 8 | b[23];
	return 1;
}

static int
starts_with_file(const char *path, const char *prefix)
{
	char buf[64] = {0};
	FILE *f = fopen(path, "rb");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	return n >= strlen(prefix) && memcmp(buf, prefix, strlen(prefix)) == 0;
}

static char *
read_text(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return xstrdup("");
	char *s = xmalloc(1 << 20);
	size_t n = fread(s, 1, (1 << 20) - 1, f);
	s[n] = '\0';
	fclose(f);
	return s;
}

/* ---- the figures used below ---- */

static const float dist_x[] = {-1.0f, -0.5f, -0.5f, 0.1f, 0.1f, 0.1f, 0.5f, 1.0f, NAN};
static const float dist_q[] = {-1.0f, -0.5f, -0.5f, 0.0f, 0.0f, 0.0f, 0.5f, 0.5f};
static const float dist_split[] = {-0.5f, -0.5f, -0.5f, 0.1f, 0.1f, 0.1f, 0.5f, 0.5f, 0.5f};
static const float dist_levels[] = {-1.0f, -0.5f, 0.0f, 0.5f};

static void
make_dist(struct gnuplot *g, char **cause)
{
	struct plot_dist d = {
		.run = "run 'seven'",
		.layer = "03_fc",
		.what = "weights",
		.scheme = "uniform",
		.bits = 3,
		.x = dist_x,
		.n = 9,
		.q = dist_q,
		.nq = 8,
		.split = dist_split,
		.nsplit = 9,
		.levels = dist_levels,
		.nlevels = 4,
		.clip_lo = -0.75,
		.clip_hi = 0.75,
		.bins = 4,
	};
	if (plot_dist(g, &d, cause) < 0)
		tap_diag("plot_dist: %s", *cause);
}

static const float grid_a[] = {-1.0f, 0.0f, 1.0f};
static const float grid_b[] = {0.0f, 0.25f, 1.0f};
static const float grid_bt[] = {0.1f, 0.6f};

static void
make_grid(struct gnuplot *g, char **cause)
{
	struct plot_levels q[2] = {{"uniform 2 bits", grid_a, 3, NULL},
				   {"odd $q0 one", grid_b, 3, grid_bt}};
	struct plot_grid d = {.title = "quantizers", .q = q, .nq = 2, .xmin = -2, .xmax = 2};
	if (plot_grid(g, &d, cause) < 0)
		tap_diag("plot_grid: %s", *cause);
}

/* G, A, B, E are the frontier (with a log x axis: I has x < 0, H is NaN). */
static const struct plot_point pareto_pts[] = {
	{1, 0.5, 0.01, 0}, /* A */
	{2, 0.7, NAN, 0},  /* B */
	{2, 0.6, 0.02, 1}, /* C: same x as B, lower */
	{3, 0.65, 0, 1},   /* D: dominated by B */
	{4, 0.9, 0.03, 2}, /* E */
	{4, 0.9, 0.03, 2}, /* F: E again */
	{0.5, 0.4, 0, 1},  /* G */
	{NAN, 0.99, 0, 0}, /* H */
	{-1, 0.95, 0, 2},  /* I */
	{8, 0.9, 0, 0},	   /* J: E's accuracy for more compute */
};
#define PARETO_N ((int)(sizeof pareto_pts / sizeof pareto_pts[0]))
static const char *const pareto_groups[] = {"uniform", "apot", "lcq"};

static void
make_pareto(struct gnuplot *g, char **cause)
{
	struct plot_pareto d = {.title = "accuracy vs BitOPs",
				.xlabel = "bitops",
				.ylabel = "test_acc",
				.groups = pareto_groups,
				.ngroups = 3,
				.p = pareto_pts,
				.n = PARETO_N,
				.xlog = 1};
	if (plot_pareto(g, &d, cause) < 0)
		tap_diag("plot_pareto: %s", *cause);
}

static const double curve_x[] = {1, 2, 3};
static const double curve_acc[] = {0.5, 0.7, 0.75};
static const double curve_loss[] = {1.5, 0.9, NAN};

static void
make_curve(struct gnuplot *g, char **cause)
{
	struct plot_series s[2] = {{"run 1 test_acc", curve_x, curve_acc, 3, 0, 0, 0},
				   {"run 1 train_loss", curve_x, curve_loss, 3, 1, 4, 2}};
	struct plot_curve d = {.title = "run 1",
			       .xlabel = "epoch",
			       .ylabel = "accuracy",
			       .y2label = "loss",
			       .s = s,
			       .ns = 2};
	if (plot_curve(g, &d, cause) < 0)
		tap_diag("plot_curve: %s", *cause);
}

static const double border_mean[] = {0.5, 0.45, 0.6};
static const double border_lo[] = {0.4, 0.3, 0.5};
static const double border_hi[] = {0.6, 0.55, 0.7};

static void
make_border(struct gnuplot *g, char **cause)
{
	struct plot_border d = {.title = "run 5, 03_conv border",
				.mean = border_mean,
				.lo = border_lo,
				.hi = border_hi,
				.bins = 3};
	if (plot_border(g, &d, cause) < 0)
		tap_diag("plot_border: %s", *cause);
}

static const char *const hm_xs[] = {"2", "4", "8"};
static const char *const hm_ys[] = {"3", "32"};
static const double hm_z[] = {0.61, 0.8, 0.85, NAN, 0.88, 0.9};

static void
make_heatmap(struct gnuplot *g, char **cause)
{
	struct plot_heatmap d = {.title = "test_acc",
				 .xlabel = "a.bits",
				 .ylabel = "w.bits",
				 .zlabel = "test_acc",
				 .xs = hm_xs,
				 .nx = 3,
				 .ys = hm_ys,
				 .ny = 2,
				 .z = hm_z,
				 .fmt = "%.2f"};
	if (plot_heatmap(g, &d, cause) < 0)
		tap_diag("plot_heatmap: %s", *cause);
}

static const struct {
	const char *name;
	void (*make)(struct gnuplot *g, char **cause);
} kinds[] = {
	{"dist", make_dist},   {"grid", make_grid},	{"pareto", make_pareto},
	{"curve", make_curve}, {"border", make_border}, {"heatmap", make_heatmap},
};
#define NKINDS ((int)(sizeof kinds / sizeof kinds[0]))

/* ---- scripts ---- */

static void
test_quote_and_formats(void)
{
	char *q = gnuplot_quote("it's a\tb\nc $x @y \"z\"");
	tap_eq_str(q, "'it''s a b c $x @y \"z\"'",
		   "quote: single quotes doubled, controls blanked");
	free(q);
	q = gnuplot_quote(NULL);
	tap_eq_str(q, "''", "quote: NULL is the empty string");
	free(q);

	enum gnuplot_format f = GNUPLOT_DUMB;
	char *cause = NULL;
	tap_ok(gnuplot_format_of("a/b.png", &f, NULL) == 0 && f == GNUPLOT_PNG, "format: .png");
	tap_ok(gnuplot_format_of("b.SVG", &f, NULL) == 0 && f == GNUPLOT_SVG, "format: .SVG");
	tap_ok(gnuplot_format_of("x.y/b.pdf", &f, NULL) == 0 && f == GNUPLOT_PDF, "format: .pdf");
	int rc = gnuplot_format_of("fig.jpg", &f, &cause);
	tap_ok(rc < 0 && contains(cause, "fig.jpg") && contains(cause, "'.jpg'") &&
		       contains(cause, ".png") && contains(cause, ".svg") &&
		       contains(cause, ".pdf"),
	       "format: .jpg refused, listing png, svg, pdf (%s)", cause);
	free(cause);
	cause = NULL;
	rc = gnuplot_format_of("dir.png/fig", &f, &cause);
	tap_ok(rc < 0 && contains(cause, "no extension"),
	       "format: no extension in the last component (%s)", cause ? cause : "none");
	free(cause);

	struct gnuplot_out o = {.path = "f.png"};
	char *t = gnuplot_terminal(GNUPLOT_PNG, &o);
	tap_eq_str(t, "set terminal pngcairo size 900,600 noenhanced", "terminal: png default");
	free(t);
	o.width = 300;
	o.height = 200;
	t = gnuplot_terminal(GNUPLOT_PDF, &o);
	tap_eq_str(t, "set terminal pdfcairo size 2.00in,1.33in noenhanced",
		   "terminal: pdf in inches at 150 px/in");
	free(t);
	o.path = NULL;
	o.width = 70;
	o.height = 20;
	t = gnuplot_terminal(GNUPLOT_DUMB, &o);
	tap_eq_str(t, "set terminal dumb size 70,20 noenhanced", "terminal: dumb at a given size");
	free(t);

	if (!isatty(STDOUT_FILENO)) {
		int w, h;
		setenv("COLUMNS", "101", 1);
		setenv("LINES", "33", 1);
		gnuplot_term_size(&w, &h);
		tap_ok(w == 101 && h == 33, "term size from COLUMNS and LINES (%dx%d)", w, h);
		setenv("COLUMNS", "5", 1);
		setenv("LINES", "100000", 1);
		gnuplot_term_size(&w, &h);
		tap_ok(w == 20 && h == 200, "term size clamped (%dx%d)", w, h);
		unsetenv("COLUMNS");
		setenv("LINES", "junk", 1);
		gnuplot_term_size(&w, &h);
		tap_ok(w == 80 && h == 25, "term size defaults to 80x25 (%dx%d)", w, h);
		unsetenv("LINES");
	} else {
		tap_skip("standard output is a terminal", "term size from the environment");
	}
}

static void
test_histogram_staircase_frontier(void)
{
	const float x[] = {0, 0.1f, 0.5f, 0.99f, 1, -0.1f, 1.1f, NAN, INFINITY};
	double c[4];
	size_t used = plot_histogram(x, 9, 0, 1, 4, c);
	tap_ok(used == 5 && c[0] == 2 && c[1] == 0 && c[2] == 1 && c[3] == 2,
	       "histogram: [0,1] in 4 bins, hi in the last, outside and non-finite left out "
	       "(%zu: %g %g %g %g)",
	       used, c[0], c[1], c[2], c[3]);

	double sx[6], sy[6];
	struct plot_levels q = {"u", grid_a, 3, NULL};
	int m = plot_staircase(&q, -2, 2, sx, sy);
	const double wx[] = {-2, -0.5, -0.5, 0.5, 0.5, 2}, wy[] = {-1, -1, 0, 0, 1, 1};
	int same = m == 6;
	for (int i = 0; same && i < 6; i++)
		same = sx[i] == wx[i] && sy[i] == wy[i];
	tap_ok(same, "staircase: midpoint thresholds, treads and risers");
	struct plot_levels qt = {"t", grid_b, 3, grid_bt};
	m = plot_staircase(&qt, 0.3, 2, sx, sy);
	const double tx[] = {0.3, 0.3, 0.3, 0.6f, 0.6f, 2}, ty[] = {0, 0, 0.25, 0.25, 1, 1};
	same = m == 6;
	for (int i = 0; same && i < 6; i++)
		same = fabs(sx[i] - tx[i]) < 1e-7 && sy[i] == ty[i];
	tap_ok(same, "staircase: given thresholds, clamped to the range");

	int idx[PARETO_N];
	int n = plot_pareto_frontier(pareto_pts, PARETO_N, 1, idx);
	tap_ok(n == 4 && idx[0] == 6 && idx[1] == 0 && idx[2] == 1 && idx[3] == 4,
	       "pareto frontier (log x): G, A, B, E (got %d: %d %d %d %d)", n, idx[0], idx[1],
	       idx[2], idx[3]);
	n = plot_pareto_frontier(pareto_pts, PARETO_N, 0, idx);
	tap_ok(n == 1 && idx[0] == 8, "pareto frontier (linear x): I alone dominates (got %d)", n);
	n = plot_pareto_frontier(pareto_pts, 0, 1, idx);
	tap_eq_int(n, 0, "pareto frontier of no point");
}

static void
test_scripts(void)
{
	struct gnuplot_out o = {.path = NULL, .width = 72, .height = 22};
	char *cause = NULL;

	/* dist: 4 bins of 0.52 over [-1.04, 1.04] (2% room), levels, clips, quantized counts */
	struct gnuplot *g = gnuplot_new();
	make_dist(g, &cause);
	char *s = gnuplot_script_inline(g, &o);
	tap_ok(strncmp(s, "set terminal dumb size 72,22 noenhanced\n", 40) == 0,
	       "dist: the script starts with the terminal line");
	tap_ok(contains(s, "set title 'run ''seven'', 03_fc weights: uniform 3 bits'"),
	       "dist: title names run (escaped), layer, scheme and bits");
	char *b = inline_block(s, "float");
	tap_eq_str(b, "# bin centre, count\n-0.78 1\n-0.26 2\n0.26 4\n0.78 1\n",
		   "dist: float histogram block (NaN left out)");
	free(b);
	b = inline_block(s, "split");
	tap_eq_str(b, "# bin centre, count\n-0.78 0\n-0.26 3\n0.26 6\n0.78 0\n",
		   "dist: split histogram block");
	free(b);
	b = inline_block(s, "quantized");
	tap_eq_str(b, "# quantized value, count\n-1 1\n-0.5 2\n0 3\n0.5 2\n",
		   "dist: quantized values counted per distinct value");
	free(b);
	b = inline_block(s, "levels");
	tap_eq_str(b, "# level, height (the tallest float bin)\n-1 6\n-0.5 6\n0 6\n0.5 6\n",
		   "dist: levels as lines up to the tallest bin");
	free(b);
	b = inline_block(s, "clip");
	tap_eq_str(b, "# clip threshold, height\n-0.75 6\n0.75 6\n", "dist: clip block");
	free(b);
	tap_ok(contains(s, "axes x1y2") && contains(s, "set y2tics") && contains(s, "dt 2") &&
		       contains(s, "title 'levels (4)'") && contains(s, "with histeps"),
	       "dist: quantized on the right axis, dashed clips, levels in the key");
	free(s);
	gnuplot_free(g);

	/* dist with many levels on a log scale: the levels become short ticks */
	g = gnuplot_new();
	float many[20];
	for (int i = 0; i < 20; i++)
		many[i] = -1.0f + 0.1f * (float)i;
	struct plot_dist dl = {.run = "run 1",
			       .layer = "00_fc",
			       .what = "input activations",
			       .scheme = "uniform",
			       .bits = 5,
			       .x = dist_x,
			       .n = 9,
			       .levels = many,
			       .nlevels = 20,
			       .clip_lo = NAN,
			       .clip_hi = NAN,
			       .bins = 4,
			       .logy = 1};
	tap_ok(plot_dist(g, &dl, &cause) == 0, "dist: log scale, 20 levels");
	s = gnuplot_script_inline(g, &o);
	b = inline_block(s, "levels");
	int rows = 0;
	for (const char *c = b; *c; c++)
		rows += *c == '\n';
	tap_ok(strncmp(b, "# level, height (a tenth of the tallest float bin)\n-1 1\n", 56) == 0 &&
		       rows == 21,
	       "dist: more than 16 levels are ticks a tenth of the tallest bin high (rounded up)");
	free(b);
	tap_ok(contains(s, "set logscale y\nset yrange [0.8:*]") && !contains(s, "clip") &&
		       !contains(s, "$quantized") && contains(s, "title 'levels (20)'"),
	       "dist: log counts from 0.8; no clips or quantized values when none are given");
	free(s);
	gnuplot_free(g);

	/* grid */
	g = gnuplot_new();
	make_grid(g, &cause);
	s = gnuplot_script_inline(g, &o);
	b = inline_block(s, "q0");
	tap_eq_str(b,
		   "# uniform 2 bits: x, Q(x) (staircase corners)\n-2 -1\n-0.5 -1\n-0.5 0\n"
		   "0.5 0\n0.5 1\n2 1\n",
		   "grid: staircase block of the first quantizer");
	free(b);
	tap_ok(contains(s, "title 'y = x'") && contains(s, "$q1 using 1:2 with lines") &&
		       contains(s, "title 'odd $q0 one'"),
	       "grid: identity and one line per quantizer");
	char *gp = NULL;
	struct gnuplot_out fo = {.path = "/x/fig.png", .width = 0, .height = 0};
	gp = gnuplot_script_file(g, &fo, &cause);
	tap_ok(gp && contains(gp, "dat index 2 using 1:2 with lines") &&
		       contains(gp, "title 'odd $q0 one'") && !contains(gp, "$q1") &&
		       contains(gp, "dat = here.'fig.dat'") &&
		       contains(gp, "outfile = here.'fig.png'") &&
		       contains(
			       gp,
			       "set terminal pngcairo size 900,600 noenhanced\nset output outfile"),
	       "grid: FILE.gp reads blocks by index (not inside titles), paths beside it");
	free(gp);
	char *dat = gnuplot_data_file(g);
	tap_ok(contains(dat, "# index 0: identity: x, y = x\n-2 -2\n2 2\n\n\n# index 1: q0: ") &&
		       contains(dat, "\n\n\n# index 2: q1: odd $q0 one"),
	       "grid: FILE.dat blocks with headers, two blank lines apart");
	free(dat);
	free(s);
	gnuplot_free(g);

	/* pareto */
	g = gnuplot_new();
	make_pareto(g, &cause);
	s = gnuplot_script_inline(g, &o);
	b = inline_block(s, "frontier");
	tap_eq_str(b, "# Pareto frontier: x, y (ascending x)\n0.5 0.4\n1 0.5\n2 0.7\n4 0.9\n",
		   "pareto: frontier block");
	free(b);
	b = inline_block(s, "g0");
	tap_eq_str(b, "# uniform: x, y, y std\n1 0.5 0.01\n2 0.7 0\n8 0.9 0\n",
		   "pareto: group block (NaN std as 0, NaN x left out)");
	free(b);
	b = inline_block(s, "g2");
	tap_eq_str(b, "# lcq: x, y, y std\n4 0.9 0.03\n4 0.9 0.03\n",
		   "pareto: negative x left out on a log axis");
	free(b);
	tap_ok(contains(s, "set logscale x\n") && contains(s, "with yerrorbars") &&
		       contains(s, "with steps") && contains(s, "title 'apot'"),
	       "pareto: log scale, error bars, frontier steps, group titles");
	free(s);
	gnuplot_free(g);

	/* curve */
	g = gnuplot_new();
	make_curve(g, &cause);
	s = gnuplot_script_inline(g, &o);
	b = inline_block(s, "s1");
	tap_eq_str(b, "# run 1 train_loss: step, value\n1 1.5\n2 0.9\n3 nan\n",
		   "curve: series block (NaN a gap)");
	free(b);
	tap_ok(contains(s, "$s1 using 1:2 axes x1y2 with linespoints lw 2 lt 4 dt 2") &&
		       contains(s, "$s0 using 1:2 with linespoints lw 2 lt 1 dt 1") &&
		       contains(s, "set xtics 1\n") && contains(s, "set y2label 'loss'"),
	       "curve: losses on the right axis, colours and dashes, a tic per epoch");
	free(s);
	gnuplot_free(g);

	/* border */
	g = gnuplot_new();
	make_border(g, &cause);
	s = gnuplot_script_inline(g, &o);
	b = inline_block(s, "border");
	tap_eq_str(b,
		   "# bin, mean, min, max over channels\n0 0.5 0.4 0.6\n1 0.45 0.3 0.55\n"
		   "2 0.6 0.5 0.7\n",
		   "border: per-bin block");
	free(b);
	tap_ok(contains(s, "filledcurves") && contains(s, "title '0.5 (nearest)'") &&
		       contains(s, "set yrange [0:1]"),
	       "border: band, mean and the constant 0.5");
	free(s);
	gnuplot_free(g);

	/* heatmap */
	g = gnuplot_new();
	make_heatmap(g, &cause);
	s = gnuplot_script_inline(g, &o);
	b = inline_block(s, "cells");
	tap_eq_str(b,
		   "# column, row, value (one scan per row)\n0 0 0.61\n1 0 0.8\n2 0 0.85\n\n"
		   "0 1 NaN\n1 1 0.88\n2 1 0.9\n",
		   "heatmap: cell block, one scan per row, NaN for a missing cell");
	free(b);
	tap_ok(contains(s, "set xtics ('2' 0, '4' 1, '8' 2)") &&
		       contains(s, "set ytics ('3' 0, '32' 1)") && contains(s, "with image") &&
		       contains(s, "sprintf('%.2f', $3)"),
	       "heatmap: key values as tics, image and labels");
	free(s);
	gnuplot_free(g);

	/* nothing to draw */
	g = gnuplot_new();
	struct plot_dist d = {.run = "run 1",
			      .layer = "00_fc",
			      .what = "weights",
			      .x = dist_x + 8,
			      .n = 1,
			      .clip_lo = NAN,
			      .clip_hi = NAN};
	int rc = plot_dist(g, &d, &cause);
	tap_ok(rc < 0 && contains(cause, "no finite values"), "dist: only NaN is an error (%s)",
	       cause);
	free(cause);
	cause = NULL;
	gnuplot_free(g);
	g = gnuplot_new();
	struct plot_pareto pp = {
		.groups = pareto_groups, .ngroups = 3, .p = pareto_pts + 7, .n = 2, .xlog = 1};
	rc = plot_pareto(g, &pp, &cause);
	tap_ok(rc < 0 && contains(cause, "no point"), "pareto: no usable point is an error (%s)",
	       cause);
	free(cause);
	gnuplot_free(g);
}

/* ---- drawing with gnuplot ---- */

/* Runs `gnuplot script` from the root directory (the script must find its files itself). */
static int
run_gp(const char *prog, const char *script)
{
	pid_t pid = fork();
	if (pid == 0) {
		if (chdir("/") < 0)
			_exit(126);
		execl(prog, prog, script, (char *)NULL);
		_exit(127);
	}
	int status = 0;
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void
test_render(const char *prog)
{
	const char *dir = tap_tmpdir();
	for (int k = 0; k < NKINDS; k++) {
		char *cause = NULL, *text = NULL;
		struct gnuplot *g = gnuplot_new();
		kinds[k].make(g, &cause);
		char *png = xasprintf("%s/%s.png", dir, kinds[k].name);
		char *gp = xasprintf("%s/%s.gp", dir, kinds[k].name);
		char *dat = xasprintf("%s/%s.dat", dir, kinds[k].name);
		char *tmp = xasprintf("%s/%s.tmp.png", dir, kinds[k].name);
		int w = 640 + 10 * k, h = 400 + 10 * k;
		struct gnuplot_out o = {.path = png, .width = w, .height = h};
		int rc = gnuplot_render(g, &o, &text, &cause);
		long pw, ph;
		tap_ok(rc == 0 && !text && png_size(png, &pw, &ph) && pw == w && ph == h,
		       "%s: PNG of %dx%d (rc %d, %s)", kinds[k].name, w, h, rc,
		       cause ? cause : "no error");
		tap_ok(file_exists(gp) && file_exists(dat) && access(tmp, F_OK) != 0,
		       "%s: FILE.gp and FILE.dat beside it, no temporary left", kinds[k].name);
		unlink(png);
		rc = run_gp(prog, gp);
		tap_ok(rc == 0 && png_size(png, &pw, &ph) && pw == w && ph == h,
		       "%s: `gnuplot FILE.gp` (from another directory) draws it again (rc %d)",
		       kinds[k].name, rc);
		free(cause);
		cause = NULL;

		o.path = NULL;
		o.width = 60 + k;
		o.height = 18 + k;
		rc = gnuplot_render(g, &o, &text, &cause);
		int lines = 0, widest = 0, cur = 0;
		for (const char *p = text ? text : ""; *p; p++) {
			if (*p == '\n') {
				lines++;
				widest = cur > widest ? cur : widest;
				cur = 0;
			} else {
				cur++;
			}
		}
		tap_ok(rc == 0 && text && text[0] != '\f' && lines == o.height &&
			       widest <= o.width && widest >= o.width - 2,
		       "%s: terminal drawing of %d lines, %d columns (got %d lines, widest %d; %s)",
		       kinds[k].name, o.height, o.width, lines, widest, cause ? cause : "ok");
		free(text);
		free(cause);
		free(png);
		free(gp);
		free(dat);
		free(tmp);
		gnuplot_free(g);
	}

	/* svg and pdf */
	struct gnuplot *g = gnuplot_new();
	char *cause = NULL, *text = NULL;
	make_curve(g, &cause);
	char *svg = xasprintf("%s/c.svg", dir), *pdf = xasprintf("%s/c.pdf", dir);
	struct gnuplot_out o = {.path = svg};
	int rc = gnuplot_render(g, &o, &text, &cause);
	char *t = read_text(svg);
	tap_ok(rc == 0 && contains(t, "<svg") && contains(t, "width=\"900\"") && file_exists(svg),
	       "svg: written at 900x600 (%s)", cause ? cause : "ok");
	free(t);
	o.path = pdf;
	rc = gnuplot_render(g, &o, &text, &cause);
	tap_ok(rc == 0 && starts_with_file(pdf, "%PDF"), "pdf: written (%s)", cause ? cause : "ok");
	free(cause);
	cause = NULL;

	/* an unknown extension, and a script gnuplot rejects */
	char *jpg = xasprintf("%s/c.jpg", dir);
	o.path = jpg;
	rc = gnuplot_render(g, &o, &text, &cause);
	tap_ok(rc < 0 && contains(cause, "png") && contains(cause, "svg") &&
		       contains(cause, "pdf") && access(jpg, F_OK) != 0,
	       "jpg: refused, listing png, svg and pdf (%s)", cause);
	free(cause);
	cause = NULL;
	gnuplot_free(g);
	g = gnuplot_new();
	gnuplot_block(g, "d", "x y");
	gnuplot_row(g, "1 2");
	gnuplot_plot(g, "$d using 1:2 with nosuchstyle");
	o.path = NULL;
	o.width = 40;
	o.height = 10;
	rc = gnuplot_render(g, &o, &text, &cause);
	tap_ok(rc < 0 && !text && cause && strncmp(cause, "gnuplot: ", 9) == 0 &&
		       !strchr(cause, '\n'),
	       "gnuplot's error comes back as one line (%s)", cause);
	free(cause);
	cause = NULL;
	char *bad = xasprintf("%s/bad.png", dir), *badtmp = xasprintf("%s/bad.tmp.png", dir);
	o.path = bad;
	rc = gnuplot_render(g, &o, &text, &cause);
	tap_ok(rc < 0 && contains(cause, "gnuplot: ") && access(bad, F_OK) != 0 &&
		       access(badtmp, F_OK) != 0,
	       "a file whose script fails: error, no figure, no temporary (%s)", cause);
	free(cause);
	free(bad);
	free(badtmp);
	gnuplot_free(g);
	free(svg);
	free(pdf);
	free(jpg);
}

static void
test_missing(void)
{
	struct gnuplot *g = gnuplot_new();
	char *cause = NULL, *text = NULL;
	make_curve(g, &cause);
	struct gnuplot_out o = {.path = NULL, .width = 40, .height = 10};
	setenv("QBENCH_GNUPLOT", "/nonexistent/gnuplot", 1);
	int rc = gnuplot_render(g, &o, &text, &cause);
	tap_ok(rc < 0 && !text, "QBENCH_GNUPLOT=/nonexistent/gnuplot: render fails");
	tap_eq_str(cause,
		   "gnuplot is not installed (Debian: apt-get install gnuplot-nox); plots "
		   "need it, everything else works",
		   "missing gnuplot: the one message");
	free(cause);
	cause = NULL;
	unsetenv("QBENCH_GNUPLOT");
	char *path = getenv("PATH") ? xstrdup(getenv("PATH")) : NULL;
	setenv("PATH", "/nonexistent", 1);
	char *prog = NULL;
	rc = gnuplot_find(&prog, &cause);
	tap_ok(rc < 0 && !prog && cause && strcmp(cause, GNUPLOT_MISSING) == 0,
	       "PATH without gnuplot: the same message");
	free(cause);
	if (path) {
		setenv("PATH", path, 1);
		free(path);
	} else {
		unsetenv("PATH");
	}
	gnuplot_free(g);
}

int
main(void)
{
	test_quote_and_formats();
	test_histogram_staircase_frontier();
	test_scripts();
	char *prog = NULL;
	if (gnuplot_find(&prog, NULL) == 0) {
		test_render(prog);
		free(prog);
	} else {
		tap_skip("gnuplot is not installed", "drawing every plot kind");
	}
	test_missing();
	return tap_done();
}
