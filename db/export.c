/*
 * export: the writers of db/export.h.
 *
 * Each format has one table writer and one pivot writer over the same small
 * helpers (field quoting, escaping, number text). Writers stream to a FILE
 * and check its error flag once at the end: stdio keeps the first error, so
 * a failed write anywhere is reported, and nothing is written twice.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db/export.h"
#include "db/results.h"
#include "engine/util.h"
#include "experiments/config.h"

static const char *const export_format_names[EXPORT_FORMAT_COUNT] = {
	[EXPORT_CSV] = "csv", [EXPORT_MD] = "md", [EXPORT_LATEX] = "latex", [EXPORT_JSON] = "json"};

/* File extensions, in the order of enum export_format. */
static const char *const export_format_ext[EXPORT_FORMAT_COUNT] = {[EXPORT_CSV] = ".csv",
								   [EXPORT_MD] = ".md",
								   [EXPORT_LATEX] = ".tex",
								   [EXPORT_JSON] = ".json"};

const char *
export_format_name(enum export_format f)
{
	return f >= 0 && f < EXPORT_FORMAT_COUNT ? export_format_names[f] : "?";
}

int
export_format_parse(const char *name, enum export_format *out, char **cause)
{
	for (int i = 0; i < EXPORT_FORMAT_COUNT; i++)
		if (strcmp(name, export_format_names[i]) == 0) {
			*out = (enum export_format)i;
			return 0;
		}
	if (strcmp(name, "markdown") == 0) {
		*out = EXPORT_MD;
		return 0;
	}
	if (strcmp(name, "tex") == 0) {
		*out = EXPORT_LATEX;
		return 0;
	}
	const char *near = util_nearest(name, export_format_names, EXPORT_FORMAT_COUNT);
	if (near)
		return err_set(cause,
			       "unknown format '%s': expected csv, md, latex or json (did you "
			       "mean '%s'?)",
			       name, near);
	return err_set(cause, "unknown format '%s': expected csv, md, latex or json", name);
}

int
export_format_from_path(const char *path, enum export_format *out)
{
	const char *dot = strrchr(path, '.');
	const char *slash = strrchr(path, '/');
	if (!dot || (slash && slash > dot))
		return -1;
	for (int i = 0; i < EXPORT_FORMAT_COUNT; i++)
		if (strcmp(dot, export_format_ext[i]) == 0) {
			*out = (enum export_format)i;
			return 0;
		}
	return -1;
}

/* Nonzero for the accuracy-like names shown with 4 decimals. */
static int
fraction_like(const char *name)
{
	size_t n = strlen(name);
	return (n >= 4 && strcmp(name + n - 4, "_acc") == 0) ||
	       (n >= 5 && strcmp(name + n - 5, "_loss") == 0) || strcmp(name, "acc") == 0 ||
	       strcmp(name, "loss") == 0;
}

void
export_number(char *buf, size_t n, const char *name, double v)
{
	if (!isfinite(v))
		snprintf(buf, n, "%s", "");
	else if (fraction_like(name))
		snprintf(buf, n, "%.4f", v);
	else if ((v == floor(v) && fabs(v) < 1e15) || fabs(v) >= 1000)
		snprintf(buf, n, "%.0f", v);
	else
		snprintf(buf, n, "%.4g", v);
}

/* Counts shown with a k/M/G suffix once they have five digits or more. */
static int
is_count(const char *name)
{
	return !strcmp(name, "bitops") || !strcmp(name, "size_bits") || !strcmp(name, "macs") ||
	       !strcmp(name, "params") || !strcmp(name, "shift_adds");
}

void
export_short(char *buf, size_t n, const char *name, double v)
{
	static const char suffix[] = "kMGTP";
	size_t len = strlen(name);
	if (!isfinite(v)) {
		snprintf(buf, n, "-");
	} else if (is_count(name) && fabs(v) >= 1e4) {
		int k = -1;
		while (fabs(v) >= 1e3 && k < 4) {
			v /= 1e3;
			k++;
		}
		snprintf(buf, n, "%.3g%c", v, suffix[k]);
	} else if (len >= 6 && !strcmp(name + len - 6, "time_s")) {
		snprintf(buf, n, "%.1f", v);
	} else {
		export_number(buf, n, name, v);
	}
}

void
export_short_stats(char *buf, size_t size, const char *name, double mean, double std, int n,
		   int bare)
{
	char m[48], s[48];
	export_short(m, sizeof m, name, mean);
	if (n == 0 || (n == 1 && bare))
		snprintf(buf, size, "%s", m);
	else if (n > 1 && isfinite(std)) {
		export_short(s, sizeof s, name, std);
		snprintf(buf, size, "%s \u00b1 %s (%d)", m, s, n);
	} else {
		snprintf(buf, size, "%s (%d)", m, n);
	}
}

/* Full-precision number text for csv and json ("" for NaN). */
static void
exact_number(char *buf, size_t n, double v)
{
	if (isfinite(v))
		config_format_double(buf, n, v);
	else
		snprintf(buf, n, "%s", "");
}

/* Ends writing: -1 with *cause when the stream had an error. */
static int
check_stream(FILE *out, char **cause)
{
	if (fflush(out) != 0 || ferror(out))
		return err_set(cause, "cannot write the export: %s",
			       errno ? strerror(errno) : "write error");
	return 0;
}

/* A column that reads as a number (right-aligned in md, r in latex). */
static int
col_is_number(const struct results_col *c)
{
	return c->kind == RESULTS_COL_ID || c->kind == RESULTS_COL_RESULT ||
	       (c->kind == RESULTS_COL_PARAM && c->numeric);
}

/* ---- csv ---------------------------------------------------------------- */

/* One field, quoted when RFC 4180 asks for it, after a comma unless first; NULL: empty. */
static void
csv_field(FILE *out, const char *s, int first)
{
	if (!first)
		fputc(',', out);
	if (!s)
		return;
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

static void
csv_number(FILE *out, double v)
{
	char buf[40];
	exact_number(buf, sizeof buf, v);
	csv_field(out, buf, 0);
}

static void
csv_table(FILE *out, const struct results *r)
{
	for (int c = 0; c < r->ncols; c++) {
		const struct results_col *col = &r->cols[c];
		csv_field(out, col->name, c == 0);
		if (r->grouped && col->kind == RESULTS_COL_ID)
			csv_field(out, "runs", 0);
		if (r->grouped && col->kind == RESULTS_COL_RESULT) {
			char *s = xasprintf("%s_std", col->name);
			csv_field(out, s, 0);
			free(s);
			s = xasprintf("%s_n", col->name);
			csv_field(out, s, 0);
			free(s);
		}
	}
	fputs("\r\n", out);
	for (int i = 0; i < r->nrows; i++) {
		for (int c = 0; c < r->ncols; c++) {
			const struct results_col *col = &r->cols[c];
			const struct results_cell *cell = results_cell(r, i, c);
			if (col->kind != RESULTS_COL_RESULT) {
				csv_field(out, cell->text, c == 0);
				if (r->grouped && col->kind == RESULTS_COL_ID)
					fprintf(out, ",%d", r->row_nids[i]);
				continue;
			}
			csv_number(out, cell->mean);
			if (r->grouped) {
				csv_number(out, cell->std);
				fprintf(out, ",%d", cell->n);
			}
		}
		fputs("\r\n", out);
	}
}

/* Nonzero when some cell of p has more than one run. */
static int
pivot_has_spread(const struct export_pivot *p)
{
	for (int i = 0; i < p->nrows * p->ncols; i++)
		if (p->cells[i].n > 1)
			return 1;
	return 0;
}

static void
csv_pivot(FILE *out, const struct export_pivot *p)
{
	int spread = pivot_has_spread(p);
	csv_field(out, p->rows_key, 1);
	for (int j = 0; j < p->ncols; j++) {
		char *s = xasprintf("%s=%s", p->cols_key, p->col_labels[j]);
		csv_field(out, s, 0);
		if (spread) {
			char *t = xasprintf("%s_std", s);
			csv_field(out, t, 0);
			free(t);
			t = xasprintf("%s_n", s);
			csv_field(out, t, 0);
			free(t);
		}
		free(s);
	}
	fputs("\r\n", out);
	for (int i = 0; i < p->nrows; i++) {
		csv_field(out, p->row_labels[i], 1);
		for (int j = 0; j < p->ncols; j++) {
			const struct export_pivot_cell *c = &p->cells[i * p->ncols + j];
			csv_number(out, c->n ? c->mean : NAN);
			if (spread) {
				csv_number(out, c->std);
				fprintf(out, ",%d", c->n);
			}
		}
		fputs("\r\n", out);
	}
}

/* ---- markdown ------------------------------------------------------------ */

/* A cell of a pipe table: '|' escaped, line breaks as blanks. */
static void
md_text(FILE *out, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '|')
			fputs("\\|", out);
		else if (*s == '\n' || *s == '\r')
			fputc(' ', out);
		else
			fputc(*s, out);
	}
}

/* "mean" or "mean ± std" (pm is the ± of the format) into buf. */
static void
mean_std_text(char *buf, size_t n, const char *name, double mean, double std, int show_std,
	      const char *pm)
{
	char m[64], s[64];
	export_number(m, sizeof m, name, mean);
	if (show_std && isfinite(std) && isfinite(mean)) {
		export_number(s, sizeof s, name, std);
		snprintf(buf, n, "%s %s %s", m, pm, s);
	} else {
		snprintf(buf, n, "%s", m);
	}
}

static void
md_table(FILE *out, const struct results *r)
{
	for (int c = 0; c < r->ncols; c++) {
		fputs(c ? " | " : "| ", out);
		md_text(out, r->cols[c].name);
		if (r->grouped && r->cols[c].kind == RESULTS_COL_ID)
			fputs(" | runs", out);
	}
	fputs(" |\n", out);
	for (int c = 0; c < r->ncols; c++) {
		fputs(col_is_number(&r->cols[c]) ? "|---:" : "|---", out);
		if (r->grouped && r->cols[c].kind == RESULTS_COL_ID)
			fputs("|---:", out);
	}
	fputs("|\n", out);
	for (int i = 0; i < r->nrows; i++) {
		for (int c = 0; c < r->ncols; c++) {
			const struct results_col *col = &r->cols[c];
			const struct results_cell *cell = results_cell(r, i, c);
			char buf[160];
			fputs(c ? " | " : "| ", out);
			if (col->kind == RESULTS_COL_RESULT) {
				mean_std_text(buf, sizeof buf, col->name, cell->mean, cell->std,
					      r->grouped && cell->n > 1, "\u00b1");
				fputs(buf, out);
			} else {
				md_text(out, cell->text);
			}
			if (r->grouped && col->kind == RESULTS_COL_ID)
				fprintf(out, " | %d", r->row_nids[i]);
		}
		fputs(" |\n", out);
	}
}

static void
md_pivot(FILE *out, const struct export_pivot *p)
{
	fputs("| ", out);
	md_text(out, p->rows_key);
	for (int j = 0; j < p->ncols; j++) {
		fputs(" | ", out);
		md_text(out, p->cols_key);
		fputc('=', out);
		md_text(out, p->col_labels[j]);
	}
	fputs(" |\n", out);
	fputs(p->rows_numeric ? "|---:" : "|---", out);
	for (int j = 0; j < p->ncols; j++)
		fputs("|---:", out);
	fputs("|\n", out);
	for (int i = 0; i < p->nrows; i++) {
		fputs("| ", out);
		md_text(out, p->row_labels[i]);
		for (int j = 0; j < p->ncols; j++) {
			const struct export_pivot_cell *c = &p->cells[i * p->ncols + j];
			char buf[160] = "";
			if (c->n)
				mean_std_text(buf, sizeof buf, p->metric, c->mean, c->std, c->n > 1,
					      "\u00b1");
			fputs(" | ", out);
			fputs(buf, out);
		}
		fputs(" |\n", out);
	}
}

/* ---- latex --------------------------------------------------------------- */

/* Text with LaTeX's special characters escaped. */
static void
tex_text(FILE *out, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&':
		case '%':
		case '$':
		case '#':
		case '_':
		case '{':
		case '}':
			fputc('\\', out);
			fputc(*s, out);
			break;
		case '~':
			fputs("\\textasciitilde{}", out);
			break;
		case '^':
			fputs("\\textasciicircum{}", out);
			break;
		case '\\':
			fputs("\\textbackslash{}", out);
			break;
		case '\n':
		case '\r':
			fputc(' ', out);
			break;
		default:
			fputc(*s, out);
		}
	}
}

/* The "% NAME: definition" comment line of a result. */
static void
tex_metric_comment(FILE *out, const char *name)
{
	const char *help = results_metric_help(name);
	fprintf(out, "%% %s: %s\n", name, help ? help : "(no definition recorded)");
}

/* Columns of r in a LaTeX table: params and results. */
static int
tex_shows(const struct results_col *c)
{
	return c->kind == RESULTS_COL_PARAM || c->kind == RESULTS_COL_RESULT;
}

/*
 * The best mean of result column c (by results_metric_better), or NaN when
 * the column has no direction or its values are all the same.
 */
static double
tex_best(const struct results *r, int c)
{
	int better = results_metric_better(r->cols[c].name), differ = 0;
	double best = NAN;
	if (!better)
		return NAN;
	for (int i = 0; i < r->nrows; i++) {
		double v = results_cell(r, i, c)->mean;
		if (isnan(v))
			continue;
		differ |= !isnan(best) && v != best;
		if (isnan(best) || (better > 0 ? v > best : v < best))
			best = v;
	}
	return differ ? best : NAN;
}

static void
tex_table(FILE *out, const struct results *r)
{
	double *best = xcalloc((size_t)r->ncols + 1, sizeof *best);
	for (int c = 0; c < r->ncols; c++) {
		best[c] = NAN;
		if (r->cols[c].kind == RESULTS_COL_RESULT) {
			tex_metric_comment(out, r->cols[c].name);
			best[c] = tex_best(r, c);
		}
	}
	if (r->grouped)
		fputs("% grouped: mean $\\pm$ sample standard deviation over the runs of a row\n",
		      out);
	fputs("\\begin{tabular}{", out);
	for (int c = 0; c < r->ncols; c++)
		if (tex_shows(&r->cols[c]))
			fputc(col_is_number(&r->cols[c]) ? 'r' : 'l', out);
	fputs("}\n\\toprule\n", out);
	int first = 1;
	for (int c = 0; c < r->ncols; c++) {
		if (!tex_shows(&r->cols[c]))
			continue;
		fputs(first ? "" : " & ", out);
		first = 0;
		tex_text(out, r->cols[c].name);
	}
	fputs(" \\\\\n\\midrule\n", out);
	for (int i = 0; i < r->nrows; i++) {
		first = 1;
		for (int c = 0; c < r->ncols; c++) {
			const struct results_col *col = &r->cols[c];
			const struct results_cell *cell = results_cell(r, i, c);
			if (!tex_shows(col))
				continue;
			fputs(first ? "" : " & ", out);
			first = 0;
			if (col->kind == RESULTS_COL_PARAM) {
				tex_text(out, cell->text);
				continue;
			}
			char m[64], s[64];
			export_number(m, sizeof m, col->name, cell->mean);
			if (!isnan(best[c]) && cell->mean == best[c])
				fprintf(out, "\\textbf{%s}", m);
			else
				fputs(m, out);
			if (r->grouped && cell->n > 1 && isfinite(cell->std)) {
				export_number(s, sizeof s, col->name, cell->std);
				fprintf(out, " $\\pm$ %s", s);
			}
		}
		fputs(" \\\\\n", out);
	}
	fputs("\\bottomrule\n\\end{tabular}\n", out);
	free(best);
}

static void
tex_pivot(FILE *out, const struct export_pivot *p)
{
	tex_metric_comment(out, p->metric);
	fputs("% rows: ", out);
	fputs(p->rows_key, out);
	fputs("; columns: ", out);
	fputs(p->cols_key, out);
	fputs("; cells: mean $\\pm$ sample standard deviation over the runs of a cell\n", out);
	fprintf(out, "\\begin{tabular}{%c", p->rows_numeric ? 'r' : 'l');
	for (int j = 0; j < p->ncols; j++)
		fputc('r', out);
	fputs("}\n\\toprule\n", out);
	tex_text(out, p->rows_key);
	for (int j = 0; j < p->ncols; j++) {
		fputs(" & ", out);
		tex_text(out, p->cols_key);
		fputc('=', out);
		tex_text(out, p->col_labels[j]);
	}
	fputs(" \\\\\n\\midrule\n", out);
	for (int i = 0; i < p->nrows; i++) {
		tex_text(out, p->row_labels[i]);
		for (int j = 0; j < p->ncols; j++) {
			const struct export_pivot_cell *c = &p->cells[i * p->ncols + j];
			char buf[160] = "";
			if (c->n)
				mean_std_text(buf, sizeof buf, p->metric, c->mean, c->std, c->n > 1,
					      "$\\pm$");
			fputs(" & ", out);
			fputs(buf, out);
		}
		fputs(" \\\\\n", out);
	}
	fputs("\\bottomrule\n\\end{tabular}\n", out);
}

/* ---- json ---------------------------------------------------------------- */

static void
json_text(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", out);
		else if (*p == '\t')
			fputs("\\t", out);
		else if (*p < 0x20)
			fprintf(out, "\\u%04x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

static void
json_num(FILE *out, double v)
{
	char buf[40];
	if (isfinite(v)) {
		config_format_double(buf, sizeof buf, v);
		fputs(buf, out);
	} else {
		fputs("null", out);
	}
}

static void
json_stats(FILE *out, double mean, double std, int n)
{
	fputs("{\"mean\":", out);
	json_num(out, mean);
	fputs(",\"std\":", out);
	json_num(out, std);
	fprintf(out, ",\"n\":%d}", n);
}

/* A param value: number, boolean (a boolean configuration key), string or null. */
static void
json_param(FILE *out, const struct results_col *col, const struct results_cell *cell)
{
	const struct config_key *k = config_key_find(col->name);
	if (!cell->text)
		fputs("null", out);
	else if (col->numeric && isfinite(cell->mean))
		json_num(out, cell->mean);
	else if (k && k->type == CONFIG_BOOL &&
		 (!strcmp(cell->text, "true") || !strcmp(cell->text, "false")))
		fputs(cell->text, out);
	else
		json_text(out, cell->text);
}

static void
json_table(FILE *out, const struct results *r)
{
	fputs(r->nrows ? "[\n" : "[", out);
	for (int i = 0; i < r->nrows; i++) {
		fputc('{', out);
		for (int c = 0; c < r->ncols; c++) {
			const struct results_col *col = &r->cols[c];
			const struct results_cell *cell = results_cell(r, i, c);
			if (c)
				fputc(',', out);
			json_text(out, col->name);
			fputc(':', out);
			switch (col->kind) {
			case RESULTS_COL_ID:
				fputs(cell->text, out);
				if (r->grouped) {
					fputs(",\"runs\":[", out);
					for (int k = 0; k < r->row_nids[i]; k++)
						fprintf(out, "%s%lld", k ? "," : "",
							(long long)r->row_ids[i][k]);
					fputc(']', out);
				}
				break;
			case RESULTS_COL_STATUS:
				json_text(out, cell->text ? cell->text : "");
				break;
			case RESULTS_COL_PARAM:
				json_param(out, col, cell);
				break;
			case RESULTS_COL_RESULT:
				if (r->grouped)
					json_stats(out, cell->mean, cell->std, cell->n);
				else
					json_num(out, cell->mean);
				break;
			}
		}
		fputs(i + 1 < r->nrows ? "},\n" : "}\n", out);
	}
	fputs("]\n", out);
}

static void
json_pivot(FILE *out, const struct export_pivot *p)
{
	fputs(p->nrows ? "[\n" : "[", out);
	for (int i = 0; i < p->nrows; i++) {
		fputc('{', out);
		json_text(out, p->rows_key);
		fputc(':', out);
		if (p->rows_numeric)
			fputs(p->row_labels[i], out);
		else
			json_text(out, p->row_labels[i]);
		for (int j = 0; j < p->ncols; j++) {
			const struct export_pivot_cell *c = &p->cells[i * p->ncols + j];
			char *label = xasprintf("%s=%s", p->cols_key, p->col_labels[j]);
			fputc(',', out);
			json_text(out, label);
			fputc(':', out);
			if (c->n)
				json_stats(out, c->mean, c->std, c->n);
			else
				fputs("null", out);
			free(label);
		}
		fputs(i + 1 < p->nrows ? "},\n" : "}\n", out);
	}
	fputs("]\n", out);
}

int
export_table(FILE *out, enum export_format f, const struct results *r, char **cause)
{
	errno = 0;
	switch (f) {
	case EXPORT_CSV:
		csv_table(out, r);
		break;
	case EXPORT_MD:
		md_table(out, r);
		break;
	case EXPORT_LATEX:
		tex_table(out, r);
		break;
	case EXPORT_JSON:
	default:
		json_table(out, r);
		break;
	}
	return check_stream(out, cause);
}

int
export_pivot_write(FILE *out, enum export_format f, const struct export_pivot *p, char **cause)
{
	errno = 0;
	switch (f) {
	case EXPORT_CSV:
		csv_pivot(out, p);
		break;
	case EXPORT_MD:
		md_pivot(out, p);
		break;
	case EXPORT_LATEX:
		tex_pivot(out, p);
		break;
	case EXPORT_JSON:
	default:
		json_pivot(out, p);
		break;
	}
	return check_stream(out, cause);
}

/* ---- pivot --------------------------------------------------------------- */

int
export_pivot_parse(const char *spec, char **rows, char **cols, char **metric, char **cause)
{
	const char *a = strchr(spec, ':'), *b = a ? strchr(a + 1, ':') : NULL;
	*rows = *cols = *metric = NULL;
	if (!a || !b || a == spec || b == a + 1 || !b[1] || strchr(b + 1, ':'))
		return err_set(cause,
			       "bad pivot '%s': expected ROWS:COLS:METRIC, e.g. "
			       "w.bits:a.bits:test_acc",
			       spec);
	*rows = xasprintf("%.*s", (int)(a - spec), spec);
	*cols = xasprintf("%.*s", (int)(b - a - 1), a + 1);
	*metric = xstrdup(b + 1);
	return 0;
}

/* The column of r named key of an allowed kind, or -1 with *cause. */
static int
pivot_column(const struct results *r, const char *key, int want_result, const char *what,
	     char **cause)
{
	/* a key may name both a param and a result column: take the kind asked for */
	for (int k = 0; k < r->ncols; k++)
		if (strcmp(r->cols[k].name, key) == 0 &&
		    (r->cols[k].kind == RESULTS_COL_RESULT) == want_result)
			return k;
	const char **names = xcalloc((size_t)r->ncols + 1, sizeof *names);
	size_t n = 0;
	for (int k = 0; k < r->ncols; k++)
		if ((r->cols[k].kind == RESULTS_COL_RESULT) == want_result &&
		    r->cols[k].kind != RESULTS_COL_ID)
			names[n++] = r->cols[k].name;
	const char *near = util_nearest(key, names, n);
	if (!near && !want_result)
		near = config_nearest_key(key);
	if (!want_result && config_key_find(key))
		err_set(cause, "no run has key '%s' (the pivot's %s)", key, what);
	else if (near)
		err_set(cause, "unknown %s '%s' for the pivot's %s (did you mean '%s'?)",
			want_result ? "result" : "key", key, what, near);
	else
		err_set(cause, "unknown %s '%s' for the pivot's %s", want_result ? "result" : "key",
			key, what);
	free(names);
	return -1;
}

/* Order of pivot labels: numerically when numeric, text as the tie-break. */
static int
label_cmp(const char *a, const char *b, int numeric)
{
	if (numeric) {
		double x = strtod(a, NULL), y = strtod(b, NULL);
		if (x != y)
			return x < y ? -1 : 1;
	}
	return strcmp(a, b);
}

/* Nonzero when s is a whole number. */
static int
label_is_number(const char *s)
{
	char *end;
	if (!*s || *s == ' ')
		return 0;
	double x = strtod(s, &end);
	return *end == '\0' && isfinite(x);
}

/*
 * The distinct texts of column c over the rows of r that have a value of
 * metric column cm and of the other key's column co, sorted (numerically
 * when all are numbers); *numeric says which.
 */
static char **
pivot_labels(const struct results *r, int c, int co, int cm, int *n, int *numeric)
{
	char **v = xcalloc((size_t)r->nrows + 1, sizeof *v);
	int nv = 0;
	*numeric = 1;
	for (int i = 0; i < r->nrows; i++) {
		const char *t = results_cell(r, i, c)->text;
		int seen = 0;
		if (!t || !results_cell(r, i, co)->text || !isfinite(results_cell(r, i, cm)->mean))
			continue;
		for (int k = 0; k < nv && !seen; k++)
			seen = strcmp(v[k], t) == 0;
		if (seen)
			continue;
		v[nv++] = xstrdup(t);
		*numeric &= label_is_number(t);
	}
	for (int i = 1; i < nv; i++)
		for (int k = i; k > 0 && label_cmp(v[k - 1], v[k], *numeric) > 0; k--) {
			char *t = v[k];
			v[k] = v[k - 1];
			v[k - 1] = t;
		}
	*n = nv;
	return v;
}

static int
label_index(char *const *labels, int n, const char *s)
{
	for (int i = 0; i < n; i++)
		if (strcmp(labels[i], s) == 0)
			return i;
	return -1;
}

int
export_pivot_build(struct export_pivot **out, const struct results *r, const char *rows,
		   const char *cols, const char *metric, char **cause)
{
	*out = NULL;
	int cr = pivot_column(r, rows, 0, "rows", cause);
	if (cr < 0)
		return -1;
	int cc = pivot_column(r, cols, 0, "columns", cause);
	if (cc < 0)
		return -1;
	int cm = pivot_column(r, metric, 1, "metric", cause);
	if (cm < 0)
		return -1;
	struct export_pivot *p = xcalloc(1, sizeof *p);
	p->rows_key = xstrdup(rows);
	p->cols_key = xstrdup(cols);
	p->metric = xstrdup(metric);
	p->row_labels = pivot_labels(r, cr, cc, cm, &p->nrows, &p->rows_numeric);
	p->col_labels = pivot_labels(r, cc, cr, cm, &p->ncols, &p->cols_numeric);
	size_t ncells = (size_t)p->nrows * (size_t)p->ncols;
	double *sum = xcalloc(ncells + 1, sizeof *sum);
	p->cells = xcalloc(ncells + 1, sizeof *p->cells);
	/* two passes over the rows: the means, then the squared deviations from them */
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < r->nrows; i++) {
			const char *a = results_cell(r, i, cr)->text,
				   *b = results_cell(r, i, cc)->text;
			double v = results_cell(r, i, cm)->mean;
			if (!a || !b || !isfinite(v))
				continue;
			size_t k =
				(size_t)label_index(p->row_labels, p->nrows, a) * (size_t)p->ncols +
				(size_t)label_index(p->col_labels, p->ncols, b);
			if (pass == 0) {
				sum[k] += v;
				p->cells[k].n++;
			} else {
				sum[k] += (v - p->cells[k].mean) * (v - p->cells[k].mean);
			}
		}
		for (size_t k = 0; k < ncells; k++) {
			struct export_pivot_cell *c = &p->cells[k];
			if (pass == 0)
				c->mean = c->n ? sum[k] / c->n : NAN;
			else
				c->std = c->n >= 2 ? sqrt(sum[k] / (c->n - 1)) : NAN;
			sum[k] = 0;
		}
	}
	free(sum);
	*out = p;
	return 0;
}

void
export_pivot_free(struct export_pivot *p)
{
	if (!p)
		return;
	for (int i = 0; i < p->nrows; i++)
		free(p->row_labels[i]);
	for (int j = 0; j < p->ncols; j++)
		free(p->col_labels[j]);
	free(p->row_labels);
	free(p->col_labels);
	free(p->cells);
	free(p->rows_key);
	free(p->cols_key);
	free(p->metric);
	free(p);
}

/* ---- files --------------------------------------------------------------- */

int
export_file_open(const char *path, FILE **f, char **cause)
{
	char *tmp = xasprintf("%s.tmp", path);
	*f = fopen(tmp, "wb");
	int ret = *f ? 0 : err_set(cause, "%s: %s", tmp, strerror(errno));
	free(tmp);
	return ret;
}

int
export_file_close(const char *path, FILE *f, int commit, char **cause)
{
	char *tmp = xasprintf("%s.tmp", path);
	int ret = 0;
	if (commit) {
		errno = 0;
		if (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0)
			ret = err_set(cause, "%s: %s", tmp,
				      errno ? strerror(errno) : "write error");
	}
	if (fclose(f) != 0 && commit && ret == 0)
		ret = err_set(cause, "%s: %s", tmp, strerror(errno));
	if (commit && ret == 0 && rename(tmp, path) != 0)
		ret = err_set(cause, "%s: %s", path, strerror(errno));
	if (!commit || ret < 0)
		remove(tmp);
	free(tmp);
	return ret;
}
