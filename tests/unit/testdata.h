/*
 * testdata: what several unit tests build: synthetic datasets of Gaussian
 * blobs and snapshots of a model's tensors.
 */
#ifndef QB_TESTDATA_H
#define QB_TESTDATA_H

#include <stddef.h>
#include <stdint.h>

struct dataset;
struct model;

/*
 * n examples of `classes` Gaussian blobs in (1, side, side): each class has a
 * fixed random centre (the same for every call), examples add noise of
 * standard deviation `noise` drawn from `seed`. Freed with free_blobs().
 */
struct dataset *blobs(int n, int classes, int side, double noise, uint64_t seed);
void free_blobs(struct dataset *d);

/* Every stored tensor of m, concatenated, count in *n_out (caller frees). */
float *snapshot(const struct model *m, size_t *n_out);

/* ---- a model file's /quant groups (engine/io_h5.h) ---- */

struct io_h5_group;
struct io_h5_groups;
/* /quant/GROUP of gs, or NULL. */
const struct io_h5_group *testdata_quant_group(const struct io_h5_groups *gs, const char *group);
/* Numeric attribute name of g (NAN when g or the attribute is missing, or it is text). */
double testdata_attr_num(const struct io_h5_group *g, const char *name);
/* Text attribute name of g ("" when missing). */
const char *testdata_attr_str(const struct io_h5_group *g, const char *name);

struct db;
/*
 * Writes n synthetic ptq runs (ids 1..n: job, model, scheme, w.bits, clip and
 * seed params; test_acc, bitops and time_s results; every tenth failed and
 * without results) into an empty database, in one transaction of plain
 * INSERTs: tables of thousands of runs for timing tests and benchmarks.
 */
int testdata_runs_db(struct db *db, int n, char **cause);

#endif
