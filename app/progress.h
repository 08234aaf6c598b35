/*
 * progress: what a long job shows while it runs, on stderr.
 *
 * Three modes: a one-line bar redrawn in place on a terminal (epoch i/N,
 * phase, percent, images/s, last training loss, ETA; at most ~10 redraws a
 * second), plain lines (one per finished epoch) when stderr is not a
 * terminal, and nothing (--quiet). Epoch lines are printed in both visible
 * modes; on a terminal the bar is cleared first and redrawn by the next update.
 */
#ifndef QB_PROGRESS_H
#define QB_PROGRESS_H

#include <stddef.h>
#include <stdio.h>

enum progress_mode { PROGRESS_QUIET, PROGRESS_LINES, PROGRESS_BAR };

struct progress;

/* The mode for stream f: QUIET when quiet, BAR on a terminal, else LINES. */
enum progress_mode progress_mode_for(FILE *f, int quiet);

/*
 * A progress display on f for a job of `epochs` epochs (0 for a job without
 * epochs, such as an evaluation). Never NULL; free with progress_free().
 */
struct progress *progress_new(FILE *f, enum progress_mode mode, int epochs);
/* Clears the bar (if shown) and frees p; progress_free(NULL) is a no-op. */
void progress_free(struct progress *p);

/* done of total items of a phase ("train", "test") of the current epoch. */
void progress_update(struct progress *p, const char *phase, long done, long total);

/*
 * Records a finished epoch (1-based) and its training loss (NaN if unknown)
 * for the bar, and prints line (without newline; NULL prints nothing).
 */
void progress_epoch(struct progress *p, int epoch, double train_loss, const char *line);

/*
 * Where the job is, in any mode: writes "epoch 3/10 train 45%" (or "phase
 * done/total" for a job without epochs) into buf and returns the fraction of
 * the whole job done, in [0, 1]. Workers record both with their heartbeat.
 */
double progress_stage(const struct progress *p, char *buf, size_t n);

/* Clears the bar, if shown, so that other output can follow. */
void progress_clear(struct progress *p);

#endif
