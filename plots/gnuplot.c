/*
 * gnuplot: building a figure's script and data, and running gnuplot on it.
 *
 * Invariants: block names are unique and made of [A-Za-z0-9_]; a block never
 * holds two blank rows in a row (two blank lines end a block in FILE.dat);
 * `$name` is replaced only outside quoted strings, so a title may say
 * anything (titles come through gnuplot_quote). gnuplot runs with its
 * standard input a pipe holding the script and its standard output and
 * error in temporary files, so a large figure or a chatty gnuplot cannot
 * block the writer.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/util.h"
#include "plots/gnuplot.h"

/* A growing string. */
struct sbuf {
	char *s;
	size_t len, cap;
};

static void
sb_addn(struct sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2 + 64;
		b->s = xrealloc(b->s, b->cap);
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void
sb_add(struct sbuf *b, const char *s)
{
	sb_addn(b, s, strlen(s));
}

static void __attribute__((format(printf, 2, 0)))
sb_vaddf(struct sbuf *b, const char *fmt, va_list ap)
{
	va_list aq;
	va_copy(aq, ap);
	int n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0)
		return;
	if (b->len + (size_t)n + 1 > b->cap) {
		b->cap = (b->len + (size_t)n + 1) * 2 + 64;
		b->s = xrealloc(b->s, b->cap);
	}
	vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
}

static void __attribute__((format(printf, 2, 3))) sb_addf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	sb_vaddf(b, fmt, ap);
	va_end(ap);
}

/* The text built so far ("" when empty); the buffer keeps ownership. */
static const char *
sb_str(const struct sbuf *b)
{
	return b->s ? b->s : "";
}

/* Hands the text over to the caller (never NULL). */
static char *
sb_take(struct sbuf *b)
{
	char *s = b->s ? b->s : xstrdup("");
	b->s = NULL;
	b->len = b->cap = 0;
	return s;
}

struct gp_block {
	char *name, *comment;
	struct sbuf rows; /* one row per line, each ending in '\n' */
	int last_blank;	  /* the last row is blank */
	int nrows;
};

struct gnuplot {
	struct sbuf setup; /* setup lines, each ending in '\n' */
	struct sbuf plot;  /* "plot a, b" without the newline */
	struct gp_block *blocks;
	int nblocks;
};

struct gnuplot *
gnuplot_new(void)
{
	return xcalloc(1, sizeof(struct gnuplot));
}

void
gnuplot_free(struct gnuplot *g)
{
	if (!g)
		return;
	free(g->setup.s);
	free(g->plot.s);
	for (int i = 0; i < g->nblocks; i++) {
		free(g->blocks[i].name);
		free(g->blocks[i].comment);
		free(g->blocks[i].rows.s);
	}
	free(g->blocks);
	free(g);
}

void
gnuplot_set(struct gnuplot *g, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	sb_vaddf(&g->setup, fmt, ap);
	va_end(ap);
	sb_add(&g->setup, "\n");
}

void
gnuplot_plot(struct gnuplot *g, const char *fmt, ...)
{
	va_list ap;
	/* one clause per line: the saved script stays readable */
	sb_add(&g->plot, g->plot.len ? ", \\\n     " : "plot ");
	va_start(ap, fmt);
	sb_vaddf(&g->plot, fmt, ap);
	va_end(ap);
}

void
gnuplot_block(struct gnuplot *g, const char *name, const char *comment)
{
	g->blocks = xrealloc(g->blocks, (size_t)(g->nblocks + 1) * sizeof *g->blocks);
	struct gp_block *b = &g->blocks[g->nblocks++];
	memset(b, 0, sizeof *b);
	b->name = xstrdup(name);
	b->comment = xstrdup(comment ? comment : "");
}

void
gnuplot_row(struct gnuplot *g, const char *fmt, ...)
{
	if (g->nblocks == 0)
		gnuplot_block(g, "data", "");
	struct gp_block *b = &g->blocks[g->nblocks - 1];
	struct sbuf row = {0};
	va_list ap;
	va_start(ap, fmt);
	sb_vaddf(&row, fmt, ap);
	va_end(ap);
	int blank = row.len == 0;
	/* two blank lines would end the block in FILE.dat: keep one */
	if (!(blank && (b->last_blank || b->nrows == 0))) {
		sb_add(&b->rows, sb_str(&row));
		sb_add(&b->rows, "\n");
		b->last_blank = blank;
		b->nrows++;
	}
	free(row.s);
}

char *
gnuplot_quote(const char *s)
{
	struct sbuf b = {0};
	sb_add(&b, "'");
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		if (*p == '\'')
			sb_add(&b, "''");
		else if (*p < 0x20 || *p == 0x7f)
			sb_add(&b, " ");
		else
			sb_addn(&b, (const char *)p, 1);
	}
	sb_add(&b, "'");
	return sb_take(&b);
}

/* ---------------------------------------------------------------------------
 * Terminals and sizes
 * ------------------------------------------------------------------------- */

static const struct {
	const char *ext;
	enum gnuplot_format f;
} gp_exts[] = {{"png", GNUPLOT_PNG}, {"svg", GNUPLOT_SVG}, {"pdf", GNUPLOT_PDF}};

/* The extension of path (after the last '.' of its last component), or NULL. */
static const char *
path_ext(const char *path)
{
	const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
	if (!dot || (slash && dot < slash) || dot == path || (slash && dot == slash + 1))
		return NULL;
	return dot + 1;
}

int
gnuplot_format_of(const char *path, enum gnuplot_format *out, char **cause)
{
	const char *ext = path_ext(path);
	for (size_t i = 0; ext && i < sizeof gp_exts / sizeof gp_exts[0]; i++)
		if (strcasecmp(ext, gp_exts[i].ext) == 0) {
			*out = gp_exts[i].f;
			return 0;
		}
	return err_set(cause, "%s: unknown figure format %s%s%s (use .png, .svg or .pdf)", path,
		       ext ? "'." : "", ext ? ext : "(no extension)", ext ? "'" : "");
}

static int
clamp_int(long v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : (int)v;
}

/* A positive integer from the environment, or 0. */
static long
env_long(const char *name)
{
	const char *s = getenv(name);
	if (!s || !*s)
		return 0;
	char *end;
	long v = strtol(s, &end, 10);
	return *end || v <= 0 ? 0 : v;
}

void
gnuplot_term_size(int *width, int *height)
{
	long w = 0, h = 0;
	struct winsize ws;
	if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 &&
	    ws.ws_row > 0) {
		w = ws.ws_col;
		h = ws.ws_row - 1; /* the shell's prompt follows the plot */
	} else {
		w = env_long("COLUMNS");
		h = env_long("LINES");
	}
	*width = clamp_int(w ? w : GNUPLOT_TERM_WIDTH, 20, 500);
	*height = clamp_int(h ? h : GNUPLOT_TERM_HEIGHT, 8, 200);
}

char *
gnuplot_terminal(enum gnuplot_format f, const struct gnuplot_out *o)
{
	int w = o->width, h = o->height;
	if (f == GNUPLOT_DUMB) {
		if (w <= 0 || h <= 0) {
			int tw, th;
			gnuplot_term_size(&tw, &th);
			w = w > 0 ? w : tw;
			h = h > 0 ? h : th;
		}
		return xasprintf("set terminal dumb size %d,%d noenhanced", w, h);
	}
	w = w > 0 ? w : GNUPLOT_FILE_WIDTH;
	h = h > 0 ? h : GNUPLOT_FILE_HEIGHT;
	switch (f) {
	case GNUPLOT_PNG:
		return xasprintf("set terminal pngcairo size %d,%d noenhanced", w, h);
	case GNUPLOT_SVG:
		return xasprintf("set terminal svg size %d,%d noenhanced background rgb 'white'", w,
				 h);
	case GNUPLOT_PDF:
		/* pdfcairo sizes are in inches: 150 pixels per inch (900x600 is 6x4 in) */
		return xasprintf("set terminal pdfcairo size %.2fin,%.2fin noenhanced", w / 150.0,
				 h / 150.0);
	default:
		return xstrdup("");
	}
}

/* ---------------------------------------------------------------------------
 * Scripts
 * ------------------------------------------------------------------------- */

static int
is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

/*
 * Appends text to out with every `$name` of a block, outside quoted strings,
 * replaced by "dat index N".
 */
static void
subst_blocks(const struct gnuplot *g, const char *text, struct sbuf *out)
{
	char quote = 0;
	for (const char *p = text; *p;) {
		if (quote) {
			if (quote == '"' && *p == '\\' && p[1]) {
				sb_addn(out, p, 2);
				p += 2;
				continue;
			}
			if (*p == quote)
				quote = 0;
			sb_addn(out, p++, 1);
			continue;
		}
		if (*p == '\'' || *p == '"') {
			quote = *p;
			sb_addn(out, p++, 1);
			continue;
		}
		if (*p == '$') {
			size_t n = 0;
			while (is_name_char(p[1 + n]))
				n++;
			int found = -1;
			for (int i = 0; i < g->nblocks && found < 0; i++)
				if (strlen(g->blocks[i].name) == n &&
				    strncmp(g->blocks[i].name, p + 1, n) == 0)
					found = i;
			if (found >= 0) {
				sb_addf(out, "dat index %d", found);
				p += 1 + n;
				continue;
			}
		}
		sb_addn(out, p++, 1);
	}
}

char *
gnuplot_script_inline(const struct gnuplot *g, const struct gnuplot_out *o)
{
	struct sbuf b = {0};
	enum gnuplot_format f = GNUPLOT_DUMB;
	if (o->path && gnuplot_format_of(o->path, &f, NULL) < 0)
		f = GNUPLOT_DUMB;
	char *term = gnuplot_terminal(f, o);
	sb_addf(&b, "%s\n", term);
	free(term);
	for (int i = 0; i < g->nblocks; i++) {
		const struct gp_block *k = &g->blocks[i];
		sb_addf(&b, "$%s << EOD\n", k->name);
		if (*k->comment)
			sb_addf(&b, "# %s\n", k->comment);
		sb_add(&b, sb_str(&k->rows));
		sb_add(&b, "EOD\n");
	}
	sb_add(&b, sb_str(&g->setup));
	if (g->plot.len)
		sb_addf(&b, "%s\n", sb_str(&g->plot));
	return sb_take(&b);
}

/* The last component of path. */
static const char *
base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

/* path with its extension replaced by ext ("fig.png", ".gp" -> "fig.gp"); malloc'd. */
static char *
with_ext(const char *path, const char *ext)
{
	const char *e = path_ext(path);
	size_t stem = e ? (size_t)(e - 1 - path) : strlen(path);
	return xasprintf("%.*s%s", (int)stem, path, ext);
}

char *
gnuplot_script_file(const struct gnuplot *g, const struct gnuplot_out *o, char **cause)
{
	enum gnuplot_format f;
	if (gnuplot_format_of(o->path, &f, cause) < 0)
		return NULL;
	char *dat = with_ext(o->path, ".dat"), *gp = with_ext(o->path, ".gp");
	char *qdat = gnuplot_quote(base_name(dat)), *qfig = gnuplot_quote(base_name(o->path));
	char *term = gnuplot_terminal(f, o);
	struct sbuf b = {0};
	sb_addf(&b, "# qbench figure: `gnuplot %s` draws %s from %s (all three in one\n",
		base_name(gp), base_name(o->path), base_name(dat));
	sb_add(&b, "# directory; run it from anywhere). Set outfile first to draw elsewhere.\n");
	sb_add(&b, "here = ''\n");
	sb_add(&b, "if (exists('ARG0')) { do for [i = 1:strlen(ARG0)] { if (ARG0[i:i] eq '/') "
		   "{ here = ARG0[1:i] } } }\n");
	sb_addf(&b, "dat = here.%s\n", qdat);
	sb_addf(&b, "if (!exists('outfile')) { outfile = here.%s }\n", qfig);
	sb_addf(&b, "%s\n", term);
	sb_add(&b, "set output outfile\n");
	subst_blocks(g, sb_str(&g->setup), &b);
	if (g->plot.len) {
		subst_blocks(g, sb_str(&g->plot), &b);
		sb_add(&b, "\n");
	}
	sb_add(&b, "unset output\n");
	free(term);
	free(qdat);
	free(qfig);
	free(dat);
	free(gp);
	return sb_take(&b);
}

char *
gnuplot_data_file(const struct gnuplot *g)
{
	struct sbuf b = {0};
	sb_add(&b, "# qbench figure data: blocks separated by two blank lines, selected with\n");
	sb_add(&b, "# `index N` (N from 0) in the .gp script beside this file.\n");
	for (int i = 0; i < g->nblocks; i++) {
		const struct gp_block *k = &g->blocks[i];
		if (i)
			sb_add(&b, "\n\n");
		sb_addf(&b, "# index %d: %s%s%s\n", i, k->name, *k->comment ? ": " : "",
			k->comment);
		sb_add(&b, sb_str(&k->rows));
	}
	return sb_take(&b);
}

/* ---------------------------------------------------------------------------
 * Running gnuplot
 * ------------------------------------------------------------------------- */

/* The executable `name` on PATH (malloc'd), or NULL. */
static char *
search_path(const char *name)
{
	if (strchr(name, '/'))
		return access(name, X_OK) == 0 ? xstrdup(name) : NULL;
	const char *path = getenv("PATH");
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (const char *p = path;;) {
		const char *colon = strchr(p, ':');
		size_t n = colon ? (size_t)(colon - p) : strlen(p);
		char *cand = xasprintf("%.*s%s%s", (int)n, p, n ? "/" : "", name);
		if (access(cand, X_OK) == 0)
			return cand;
		free(cand);
		if (!colon)
			return NULL;
		p = colon + 1;
	}
}

int
gnuplot_find(char **prog, char **cause)
{
	const char *env = getenv("QBENCH_GNUPLOT");
	*prog = search_path(env && *env ? env : "gnuplot");
	if (!*prog)
		return err_set(cause, "%s", GNUPLOT_MISSING);
	return 0;
}

/* Everything in f from the start (malloc'd). */
static char *
slurp(FILE *f)
{
	struct sbuf b = {0};
	char buf[4096];
	size_t n;
	rewind(f);
	while ((n = fread(buf, 1, sizeof buf, f)) > 0)
		sb_addn(&b, buf, n);
	return sb_take(&b);
}

/*
 * gnuplot's complaints in err, one line: the lines that are neither blank,
 * carets nor warnings, trimmed and joined with "; ". NULL when there are none.
 */
static char *
error_lines(const char *err)
{
	struct sbuf b = {0};
	for (const char *p = err; *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		const char *s = p, *e = p + n;
		while (s < e && (*s == ' ' || *s == '\t' || *s == '\r'))
			s++;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
			e--;
		int caret = e - s == 1 && *s == '^';
		int warning = 0;
		for (const char *q = s; q + 8 <= e && !warning; q++)
			warning = strncasecmp(q, "warning:", 8) == 0;
		if (e > s && !caret && !warning) {
			if (b.len)
				sb_add(&b, "; ");
			sb_addn(&b, s, (size_t)(e - s));
		}
		p = nl ? nl + 1 : p + n;
	}
	return b.len ? sb_take(&b) : (free(b.s), NULL);
}

/*
 * Runs gnuplot with script on its standard input. Returns 0 and *out (its
 * standard output; NULL allowed to drop it), or -1 with *cause.
 */
static int
run_gnuplot(const char *script, char **out, char **cause)
{
	char *prog = NULL, *err = NULL, *msg = NULL;
	FILE *fo = NULL, *fe = NULL;
	int p[2] = {-1, -1}, ret = -1, status = 0;
	if (out)
		*out = NULL;
	if (gnuplot_find(&prog, cause) < 0)
		return -1;
	if (!(fo = tmpfile()) || !(fe = tmpfile()) || pipe(p) < 0) {
		err_set(cause, "cannot start gnuplot: %s", strerror(errno));
		goto out;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		err_set(cause, "cannot start gnuplot: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		/* the child: script in, output and errors to the files */
		if (dup2(p[0], STDIN_FILENO) < 0 || dup2(fileno(fo), STDOUT_FILENO) < 0 ||
		    dup2(fileno(fe), STDERR_FILENO) < 0)
			_exit(127);
		close(p[0]);
		close(p[1]);
		execl(prog, prog, "-d", (char *)NULL);
		_exit(127);
	}
	close(p[0]);
	p[0] = -1;
	/* a gnuplot that stops reading early must not kill us with SIGPIPE */
	struct sigaction ign = {0}, old;
	ign.sa_handler = SIG_IGN;
	sigemptyset(&ign.sa_mask);
	sigaction(SIGPIPE, &ign, &old);
	for (size_t off = 0, n = strlen(script); off < n;) {
		ssize_t w = write(p[1], script + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break; /* gnuplot is gone: its status says why */
		off += (size_t)w;
	}
	close(p[1]);
	p[1] = -1;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	sigaction(SIGPIPE, &old, NULL);
	err = slurp(fe);
	msg = error_lines(err);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127 && !msg) {
		err_set(cause, "cannot run %s", prog);
		goto out;
	}
	if (msg || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (msg)
			err_set(cause, "gnuplot: %s", msg);
		else if (WIFEXITED(status))
			err_set(cause, "gnuplot exited with status %d", WEXITSTATUS(status));
		else
			err_set(cause, "gnuplot was killed by signal %d", WTERMSIG(status));
		goto out;
	}
	if (out)
		*out = slurp(fo);
	ret = 0;
out:
	if (p[0] >= 0)
		close(p[0]);
	if (p[1] >= 0)
		close(p[1]);
	if (fo)
		fclose(fo);
	if (fe)
		fclose(fe);
	free(err);
	free(msg);
	free(prog);
	return ret;
}

/* Writes text to path through path.tmp. */
static int
write_file(const char *path, const char *text, char **cause)
{
	char *tmp = xasprintf("%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	int ret = -1;
	if (!f) {
		err_set(cause, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	size_t n = strlen(text);
	int bad = fwrite(text, 1, n, f) != n;
	bad |= fclose(f) != 0;
	if (bad) {
		err_set(cause, "%s: write failed: %s", tmp, strerror(errno));
		unlink(tmp);
		goto out;
	}
	if (rename(tmp, path) < 0) {
		err_set(cause, "%s: %s", path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	ret = 0;
out:
	free(tmp);
	return ret;
}

static int
render_terminal(const struct gnuplot *g, const struct gnuplot_out *o, char **text, char **cause)
{
	char *script = gnuplot_script_inline(g, o), *out = NULL;
	int ret = run_gnuplot(script, &out, cause);
	free(script);
	if (ret < 0)
		return -1;
	/* gnuplot starts each page with a form feed */
	if (out[0] == '\f')
		memmove(out, out + 1, strlen(out));
	*text = out;
	return 0;
}

static int
render_file(const struct gnuplot *g, const struct gnuplot_out *o, char **cause)
{
	char *gp_text = gnuplot_script_file(g, o, cause);
	if (!gp_text)
		return -1;
	char *dat = with_ext(o->path, ".dat"), *gp = with_ext(o->path, ".gp");
	const char *ext = path_ext(o->path);
	/* FILE.tmp.png: the extension stays last, so the format is clear */
	char *stem = with_ext(o->path, ""), *tmp = xasprintf("%s.tmp.%s", stem, ext);
	char *dat_text = gnuplot_data_file(g);
	char *qtmp = gnuplot_quote(tmp), *qgp = gnuplot_quote(gp);
	char *script = xasprintf("outfile = %s\nload %s\n", qtmp, qgp);
	int ret = -1;
	if (write_file(dat, dat_text, cause) < 0 || write_file(gp, gp_text, cause) < 0)
		goto out;
	if (run_gnuplot(script, NULL, cause) < 0) {
		unlink(tmp);
		goto out;
	}
	if (access(tmp, F_OK) != 0) {
		err_set(cause, "gnuplot wrote no figure to %s", tmp);
		goto out;
	}
	if (rename(tmp, o->path) < 0) {
		err_set(cause, "%s: %s", o->path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	ret = 0;
out:
	free(script);
	free(qtmp);
	free(qgp);
	free(dat_text);
	free(stem);
	free(tmp);
	free(dat);
	free(gp);
	free(gp_text);
	return ret;
}

int
gnuplot_render(const struct gnuplot *g, const struct gnuplot_out *o, char **text, char **cause)
{
	*text = NULL;
	if (!o->path)
		return render_terminal(g, o, text, cause);
	enum gnuplot_format f;
	if (gnuplot_format_of(o->path, &f, cause) < 0)
		return -1;
	return render_file(g, o, cause);
}
