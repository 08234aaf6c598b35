/*
 * fixture: reading the golden HDF5 fixtures of tests/fixtures/ for the unit
 * tests.
 *
 * A fixture file holds groups of cases; each case is a group of datasets
 * (inputs and expected outputs) and numeric or string attributes (settings
 * and expected scalars). Readers return NULL, NaN or "" for what a case does
 * not hold, so a test can tell an absent entry from a wrong one; arrays are
 * malloc'd and freed by the caller.
 */
#ifndef QB_FIXTURE_H
#define QB_FIXTURE_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Opens tests/fixtures/<name> read-only (under QB_SRCDIR, see tap_srcpath).
 * Counts as one check, "open tests/fixtures/<name>"; on failure it also
 * prints the full path as a diagnostic and returns a negative id. The caller
 * closes the file with H5Fclose.
 */
hid_t fixture_open(const char *name);

/*
 * Dataset `name` of group g converted to float / double / int32 / int8: a
 * malloc'd array of all its elements (caller frees), their number in *n
 * unless n is NULL. NULL (and *n = 0) when g has no such dataset.
 */
float *fixture_floats(hid_t g, const char *name, size_t *n);
double *fixture_doubles(hid_t g, const char *name, size_t *n);
int32_t *fixture_ints(hid_t g, const char *name, size_t *n);
int8_t *fixture_int8s(hid_t g, const char *name, size_t *n);

/*
 * Shape of dataset `name` of group g into dims: returns its rank, or -1 when
 * the dataset is absent or has more than 4 dimensions (dims then unset).
 */
int fixture_dims(hid_t g, const char *name, hsize_t dims[4]);

/* Numeric attribute `name` of g as a double; NaN when absent. */
double fixture_attr(hid_t g, const char *name);

/*
 * String attribute `name` of g copied into buf (len bytes, truncated to fit);
 * returns buf, which holds "" when the attribute is absent or unreadable.
 */
const char *fixture_attr_str(hid_t g, const char *name, char *buf, size_t len);

/* Called once per case: g is the case's group, path "group/case" for messages. */
typedef void (*fixture_case_fn)(hid_t g, const char *path, void *ctx);

/*
 * Calls fn(g, path, ctx) on every case (member) of group `group` of file f,
 * in name order; returns the number of cases, 0 when the group is absent.
 */
int fixture_each(hid_t f, const char *group, fixture_case_fn fn, void *ctx);

#endif
