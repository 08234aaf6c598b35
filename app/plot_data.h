/*
 * plot_data: what `qbench plot` draws, gathered from a run. A run is read
 * from the database (its row and configuration) and, when a figure needs
 * it, its model file: the model, the /quant groups and, for a QAT model,
 * the quantizers attached to it. From these come the layer a figure shows,
 * the values of a dist figure (weights or input activations, quantized,
 * split, with the quantizer's levels and clips) and the series of a grid
 * figure (level sets with their thresholds).
 *
 * Nothing here prints or chooses an exit code: failures return -1 with a
 * malloc'd *cause and app/cmd_plot.c words and reports them. Each function
 * says which kind of failure it has (the user's: a bad run, layer or data
 * set; or a file that cannot be read), so the caller can pick the code.
 */
#ifndef QB_PLOT_DATA_H
#define QB_PLOT_DATA_H

#include <stddef.h>

#include "engine/io_h5.h"
#include "plots/plot.h"

struct db;
struct dataset;
struct model;
struct qat;
struct quant;
struct run_info;

/* Most series a grid figure holds; further ones are dropped. */
#define PLOT_DATA_MAX_SERIES 256

/* ---------------------------------------------------------------------------
 * Runs and their model files
 * ------------------------------------------------------------------------- */

/*
 * One run. Everything is owned and freed by plot_data_run_done(); the model
 * fields stay NULL/zero until plot_data_run_load().
 */
struct plot_data_run {
	long long id;
	struct run_info *info;
	char **keys, **values; /* the run's configuration, nparams pairs */
	int nparams;
	char *path;			/* the model file, or NULL */
	struct model *m;		/* loaded from path */
	struct io_h5_groups gs;		/* its /quant groups */
	const struct io_h5_group *root; /* /quant, or NULL (a float model) */
	int is_ptq;
	struct qat *qat; /* the quantizers of a QAT model, attached to m */
};

/*
 * Zeroes p, then reads run id's row and configuration from db into it.
 * Returns 0, or -1 with *cause: runs_get's "no run N ..." when db has no
 * such run (the user's), else a database error. Free p with
 * plot_data_run_done() either way.
 */
int plot_data_run_open(struct plot_data_run *p, struct db *db, long long id, char **cause);

/*
 * Loads the model file of p's run (p->info->model_path, which must be set;
 * a relative path is under the directory of the database at db_path), its
 * /quant groups and, for a QAT model, its quantizers. Returns 0, or -1 with
 * *cause when the file cannot be read or imported.
 */
int plot_data_run_load(struct plot_data_run *p, const char *db_path, char **cause);

/* Frees what p holds and zeroes it; a zeroed or partly opened p is fine. */
void plot_data_run_done(struct plot_data_run *p);

/* The value of configuration key `key` of p's run (owned by p), or NULL. */
const char *plot_data_run_param(const struct plot_data_run *p, const char *key);

/*
 * The conv/linear layer of p's loaded model named spec: its group name
 * ("03_fc"), its index ("3" or "03"), or its kind or tag ("linear", "fc")
 * when only one layer has it. spec NULL picks the default: the first layer
 * quantized at the run's own bits (w.bits, or a.bits when act), else the
 * first quantized one, else the first (for act: the first not reading the
 * image). Returns 0 with the index in *out, or -1 with *cause (the user's;
 * it names the run and lists the layers).
 */
int plot_data_run_layer(const struct plot_data_run *p, const char *spec, int act, int *out,
			char **cause);

/* ---------------------------------------------------------------------------
 * dist: the values of one layer
 * ------------------------------------------------------------------------- */

/*
 * The values a dist figure draws. The arrays are owned (plot_data_dist_done
 * frees them) and NULL with a zero count when absent; levels ascend.
 */
struct plot_data_dist {
	float *x;	/* the float values, n */
	float *q;	/* the quantized values, nq */
	float *split;	/* the values after channel splitting (OCS), nsplit */
	float *levels;	/* the quantizer's output levels, nlevels */
	size_t n, nq, nsplit;
	int nlevels;
	double clip_lo, clip_hi; /* NaN when there is no clip on that side */
	const char *scheme;	 /* static, or in the run's /quant groups (while it is open) */
	int bits;		 /* 0, or 32 and above, when not quantized */
	const char *what;	 /* static: "weights", "input activations", ... */
};

/* Zeroes v with both clips NaN. */
void plot_data_dist_init(struct plot_data_dist *v);
/* Frees v's arrays (not v); v must be initialised again before reuse. */
void plot_data_dist_done(struct plot_data_dist *v);

/*
 * The weights of layer L (a conv/linear layer) of p's loaded model into v
 * (initialised): PTQ runs the folded float weight, the weight rebuilt from
 * the integer codes, the levels when one grid covers the tensor, the clips
 * and, when the run split the layer's channels, the split weight; QAT runs
 * the real and the quantized weight with the quantizer's levels (in the
 * quantizer's units when the layer normalises its weights); float runs the
 * weight alone. Returns 0, or -1 with *cause when the folded model cannot
 * be derived (the user's: a model file that does not fold).
 */
int plot_data_dist_weights(struct plot_data_dist *v, const struct plot_data_run *p, int L,
			   char **cause);

/*
 * Loads the training images p's run used (its dataset= and train.n=) into
 * *out (dataset_free). Returns 0, or -1 with *cause when they cannot be
 * read.
 */
int plot_data_run_dataset(const struct plot_data_run *p, struct dataset **out, char **cause);

/*
 * The input activations of layer L of p's loaded model into v
 * (initialised) over images of d: the run's calibration images (PTQ: the
 * indices its file saved), else the first 256, forwarded through the
 * model (QAT: with its quantizers); with the layer's input quantizer its
 * levels, clips and the values rounded to the nearest level, and for a run
 * that split the layer's input channels the split activations. Returns 0,
 * or -1 with *cause (the user's: d's images do not fit the model, or a
 * calibration index lies outside d).
 */
int plot_data_dist_acts(struct plot_data_dist *v, const struct plot_data_run *p, int L,
			const struct dataset *d, char **cause);

/* ---------------------------------------------------------------------------
 * grid: level sets
 * ------------------------------------------------------------------------- */

/* The series of a grid figure: s[i] points into the names, levels and thresholds it owns. */
struct plot_data_grid {
	struct plot_levels s[PLOT_DATA_MAX_SERIES];
	char *names[PLOT_DATA_MAX_SERIES];
	float *levels[PLOT_DATA_MAX_SERIES], *thresholds[PLOT_DATA_MAX_SERIES];
	int n;
	double lo, hi; /* extent of the levels: lo > hi while empty */
};

/* An empty set. */
void plot_data_grid_init(struct plot_data_grid *gs);
/* Frees the series' names, levels and thresholds (not gs). */
void plot_data_grid_done(struct plot_data_grid *gs);

/*
 * Adds q's full level set (mirrored when q is signed) with its exact
 * thresholds under name, taking name (malloc'd); q stays the caller's.
 * Nothing is added when q has no levels or gs is full.
 */
void plot_data_grid_add_quant(struct plot_data_grid *gs, char *name, struct quant *q);

/*
 * Adds the quantizers p's run learned (QAT) or calibrated (PTQ) for the
 * weights (act 0) or inputs (act 1) of its quantized conv/linear layers:
 * all of them, or only layer L when L >= 0. p's model must be loaded.
 * Returns how many layers had one.
 */
int plot_data_grid_add_run(struct plot_data_grid *gs, const struct plot_data_run *p, int L,
			   int act);

#endif
