/*
 * event: how the engine reports to whoever runs it. The engine never prints,
 * never touches the database and never reads the terminal: it calls these
 * hooks, any of which may be NULL. The runner (app/ or experiments/) connects
 * them to a progress bar, the database or nothing.
 */
#ifndef QB_EVENT_H
#define QB_EVENT_H

struct engine_events {
	void *ctx;
	/* Progress through a phase ("train", "test", "calib", ...): done of total items. */
	void (*progress)(void *ctx, const char *phase, long done, long total);
	/* A curve point: step is the epoch (or iteration), name e.g. "train_loss". */
	void (*metric)(void *ctx, int step, const char *name, double value);
	/* A per-layer statistic: layer index in the model, name e.g. "macs". */
	void (*layer_stat)(void *ctx, int layer, const char *layer_name, const char *name, double value);
	/* Polled between batches; nonzero asks the engine to stop cleanly. */
	int (*should_stop)(void *ctx);
};

static inline void
event_progress(const struct engine_events *ev, const char *phase, long done, long total)
{
	if (ev && ev->progress)
		ev->progress(ev->ctx, phase, done, total);
}

static inline void
event_metric(const struct engine_events *ev, int step, const char *name, double value)
{
	if (ev && ev->metric)
		ev->metric(ev->ctx, step, name, value);
}

static inline void
event_layer_stat(const struct engine_events *ev, int layer, const char *layer_name,
		 const char *name, double value)
{
	if (ev && ev->layer_stat)
		ev->layer_stat(ev->ctx, layer, layer_name, name, value);
}

static inline int
event_should_stop(const struct engine_events *ev)
{
	return ev && ev->should_stop && ev->should_stop(ev->ctx);
}

#endif
