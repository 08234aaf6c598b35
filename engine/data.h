/*
 * data: labelled image datasets in memory, from IDX files (plain or gzip'd,
 * MNIST format) or HDF5, plus batch augmentation.
 *
 * Images are stored as float32 (n, c, h, w) scaled to [0, 1]; labels as int32
 * in [0, classes). Sources (the `dataset` key):
 *   fmnist    Fashion-MNIST from Debian's dataset-fashion-mnist
 *             (/usr/share/datasets/fashion-mnist, or $QBENCH_FMNIST_DIR)
 *   idx:DIR   any folder with train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],
 *             t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]
 *   h5:FILE   an HDF5 file, see docs/formats.md
 */
#ifndef QB_DATA_H
#define QB_DATA_H

#include <stdint.h>

struct rng;

enum data_split { DATA_TRAIN, DATA_TEST };

struct dataset {
	char *source; /* e.g. "fmnist:train" (owned) */
	int n, c, h, w;
	int classes;
	float *x;   /* (n, c, h, w), values in [0, 1] (float HDF5 data: as stored; owned) */
	int32_t *y; /* (n) (owned) */
};

/*
 * Loads one split of the dataset named by spec. `limit` > 0 keeps only the
 * first `limit` examples. Returns 0, or -1 with *cause naming the file and what
 * is wrong with it (missing, truncated, bad magic, count mismatch, bad label).
 * The caller frees *out with dataset_free().
 */
int dataset_load(struct dataset **out, const char *spec, enum data_split split, int limit,
		 char **cause);
void dataset_free(struct dataset *d);

/*
 * Copies examples idx[0..B) into x (B, c, h, w) and y (B). With augmentation
 * on (pad > 0: random crop after zero padding by pad; flip: random horizontal
 * flip), draws from rng; otherwise rng is unused and may be NULL. Every index
 * must lie in [0, d->n) (asserted).
 */
void dataset_gather(const struct dataset *d, const int *idx, int B, float *x, int32_t *y,
		    int pad, int flip, struct rng *rng);

#endif
