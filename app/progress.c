/*
 * progress: a progress bar on a terminal, plain lines elsewhere.
 *
 * The bar is one line that starts with "\r" and ends with "erase to end of
 * line" (ESC [ K), so a shorter redraw leaves no debris; it is sized to the
 * terminal's width when known (else 80 columns). Throughput is measured over
 * the current phase; the ETA extrapolates the fraction of all training items
 * done so far (the per-epoch evaluations are small beside training).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "app/progress.h"
#include "engine/util.h"

#define PROGRESS_REDRAW_S 0.1

struct progress {
	FILE *f;
	enum progress_mode mode;
	int epochs, epochs_done;
	double loss;		/* last epoch's training loss, NaN before */
	double t_start;		/* progress_new */
	double t_draw;		/* last redraw */
	char phase[16];
	double t_phase;		/* when the phase (re)started */
	long done, total;
	int shown;		/* the bar is on screen */
};

enum progress_mode
progress_mode_for(FILE *f, int quiet)
{
	if (quiet)
		return PROGRESS_QUIET;
	return isatty(fileno(f)) ? PROGRESS_BAR : PROGRESS_LINES;
}

struct progress *
progress_new(FILE *f, enum progress_mode mode, int epochs)
{
	struct progress *p = xcalloc(1, sizeof *p);
	p->f = f;
	p->mode = mode;
	p->epochs = epochs;
	p->loss = NAN;
	p->t_start = util_now();
	p->t_draw = -1;
	return p;
}

void
progress_clear(struct progress *p)
{
	if (p && p->shown) {
		fputs("\r\033[K", p->f);
		fflush(p->f);
		p->shown = 0;
	}
}

void
progress_free(struct progress *p)
{
	if (!p)
		return;
	progress_clear(p);
	free(p);
}

static int
terminal_columns(FILE *f)
{
	struct winsize ws;
	if (ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
		return ws.ws_col;
	return 80;
}

/* "1:23" or "1:02:03" for s seconds. */
static void
format_eta(char *buf, size_t n, double s)
{
	long t = (long)(s + 0.5);
	if (t >= 3600)
		snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
	else
		snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

/* The fraction of the whole job done, and of the current phase. */
static double
progress_fraction(const struct progress *p, double *frac_phase)
{
	*frac_phase = p->total > 0 ? (double)p->done / (double)p->total : 0;
	/* counting training items only (an epoch's evaluation follows its training) */
	int training = strcmp(p->phase, "train") == 0;
	double frac = p->epochs > 0 ? ((double)p->epochs_done + (training ? *frac_phase : 1)) /
					      p->epochs
				    : *frac_phase;
	return frac > 1 ? 1 : frac;
}

double
progress_stage(const struct progress *p, char *buf, size_t n)
{
	double frac_phase, frac = progress_fraction(p, &frac_phase);
	if (p->epochs > 0)
		snprintf(buf, n, "epoch %d/%d %s %.0f%%",
			 p->epochs_done < p->epochs ? p->epochs_done + 1 : p->epochs, p->epochs,
			 p->phase[0] ? p->phase : "start", 100 * frac_phase);
	else
		snprintf(buf, n, "%s %ld/%ld", p->phase[0] ? p->phase : "start", p->done, p->total);
	return frac;
}

static void
progress_draw(struct progress *p, double now)
{
	double frac_phase, frac = progress_fraction(p, &frac_phase);
	double rate = now > p->t_phase ? (double)p->done / (now - p->t_phase) : 0;
	char left[64], right[96], eta[24] = "";
	if (p->epochs > 0)
		snprintf(left, sizeof left, "epoch %d/%d %-5s ",
			 p->epochs_done < p->epochs ? p->epochs_done + 1 : p->epochs, p->epochs,
			 p->phase);
	else
		snprintf(left, sizeof left, "%-5s ", p->phase);
	if (frac > 0.001)
		format_eta(eta, sizeof eta, (now - p->t_start) * (1 - frac) / frac);
	int len = snprintf(right, sizeof right, " %3.0f%%  %6.0f img/s", 100 * frac_phase, rate);
	if (isfinite(p->loss))
		len += snprintf(right + len, sizeof right - (size_t)len, "  loss %.4f", p->loss);
	if (*eta)
		snprintf(right + len, sizeof right - (size_t)len, "  ETA %s", eta);
	int width = terminal_columns(p->f) - 1 - (int)strlen(left) - (int)strlen(right) - 2;
	if (width > 40)
		width = 40;
	fprintf(p->f, "\r%s", left);
	if (width >= 5) {
		int fill = (int)(frac_phase * width + 0.5);
		fputc('[', p->f);
		for (int i = 0; i < width; i++)
			fputc(i < fill ? '#' : '.', p->f);
		fputc(']', p->f);
	}
	fprintf(p->f, "%s\033[K", right);
	fflush(p->f);
	p->shown = 1;
	p->t_draw = now;
}

void
progress_update(struct progress *p, const char *phase, long done, long total)
{
	double now = util_now();
	if (strncmp(p->phase, phase, sizeof p->phase - 1) != 0 || done < p->done) {
		snprintf(p->phase, sizeof p->phase, "%s", phase);
		p->t_phase = now;
	}
	p->done = done;
	p->total = total;
	if (p->mode == PROGRESS_BAR && (now - p->t_draw >= PROGRESS_REDRAW_S || done == total))
		progress_draw(p, now);
}

void
progress_epoch(struct progress *p, int epoch, double train_loss, const char *line)
{
	p->epochs_done = epoch;
	p->loss = train_loss;
	if (p->mode == PROGRESS_QUIET || !line)
		return;
	progress_clear(p);
	fprintf(p->f, "%s\n", line);
	fflush(p->f);
}
