/*
 * io_h5: model files in HDF5, through the public face of engine/model.h only.
 *
 * Layout (docs/formats.md has the full description):
 *   /                    attributes format = "qbench-model", version (int),
 *                        arch (string), classes (int), input_shape (int[3]: C, H, W),
 *                        created_by (string, informative)
 *   /layers/NN_name/T    one float32 dataset per model tensor, in the tensor's shape
 *
 * Invariants:
 * - Strings are written as scalar variable-length UTF-8 strings (h5py reads them as
 *   str); integers as 64-bit little-endian. The reader accepts fixed- or
 *   variable-length strings and any integer type, so files written by h5py or
 *   numpy load too.
 * - A file describes exactly one model: every tensor of the architecture must be
 *   present, with a floating-point type and exactly the model's shape, and nothing
 *   under /layers may be unknown to the architecture. Objects outside /layers
 *   (e.g. /quant, or a user's own notes) are ignored.
 * - Writing goes to PATH.tmp, which is renamed to PATH only once complete and
 *   flushed; on any error the temporary file is removed.
 * - Every HDF5 handle is closed on every path, and HDF5's own error printing is
 *   off during each call (the previous setting is restored).
 */
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/io_h5.h"
#include "engine/model.h"
#include "engine/util.h"

#define IO_H5_FORMAT "qbench-model"

/* HDF5's automatic error printing, saved and switched off for one call. */
struct h5_quiet {
	H5E_auto2_t func;
	void *data;
};

static void
quiet_begin(struct h5_quiet *q)
{
	H5Eget_auto2(H5E_DEFAULT, &q->func, &q->data);
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static void
quiet_end(const struct h5_quiet *q)
{
	H5Eset_auto2(H5E_DEFAULT, q->func, q->data);
}

void
io_h5_quiet(void)
{
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static herr_t
innermost_error(unsigned n, const H5E_error2_t *e, void *data)
{
	char **out = data;
	if (n == 0 && e->desc && *e->desc)
		*out = xstrdup(e->desc);
	return 0;
}

/* The most specific message on HDF5's error stack, or "unknown error"; caller frees. */
static char *
h5_error_text(void)
{
	char *msg = NULL;
	H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost_error, &msg);
	return msg ? msg : xstrdup("unknown error");
}

static void
close_id(hid_t *id, herr_t (*close_fn)(hid_t))
{
	if (*id >= 0)
		close_fn(*id);
	*id = -1;
}

/* ======================================================================== */
/* Attributes                                                               */
/* ======================================================================== */

static int
attr_put_str(hid_t loc, const char *name, const char *value)
{
	hid_t type = H5Tcopy(H5T_C_S1), space = H5Screate(H5S_SCALAR), attr = -1;
	int rc = -1;
	if (type < 0 || space < 0 || H5Tset_size(type, H5T_VARIABLE) < 0 ||
	    H5Tset_cset(type, H5T_CSET_UTF8) < 0)
		goto out;
	attr = H5Acreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
	if (attr < 0 || H5Awrite(attr, type, &value) < 0)
		goto out;
	rc = 0;
out:
	close_id(&attr, H5Aclose);
	close_id(&space, H5Sclose);
	close_id(&type, H5Tclose);
	return rc;
}

/* n 64-bit integers: a scalar when scalar is nonzero (n == 1), else a 1-D array. */
static int
attr_put_ints(hid_t loc, const char *name, const long long *v, int n, int scalar)
{
	hsize_t dims[1] = {(hsize_t)n};
	hid_t space = scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, dims, NULL);
	hid_t attr = -1;
	int rc = -1;
	if (space < 0)
		goto out;
	attr = H5Acreate2(loc, name, H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
	if (attr < 0 || H5Awrite(attr, H5T_NATIVE_LLONG, v) < 0)
		goto out;
	rc = 0;
out:
	close_id(&attr, H5Aclose);
	close_id(&space, H5Sclose);
	return rc;
}

/*
 * Opens root attribute name of loc with its file type and dataspace; the
 * caller closes all three (set to -1 on failure). Returns 0, or -1 with *cause.
 */
static int
attr_open(hid_t loc, const char *name, hid_t *attr, hid_t *ftype, hid_t *space,
	  const char *path, char **cause)
{
	if (H5Aexists(loc, name) <= 0)
		return err_set(cause, "%s: missing root attribute '%s'", path, name);
	*attr = H5Aopen(loc, name, H5P_DEFAULT);
	*ftype = *attr >= 0 ? H5Aget_type(*attr) : -1;
	*space = *attr >= 0 ? H5Aget_space(*attr) : -1;
	if (*ftype < 0 || *space < 0)
		return err_set(cause, "%s: cannot read attribute '%s'", path, name);
	return 0;
}

/* Reads a string attribute (fixed or variable length) into *out (caller frees). */
static int
attr_get_str(hid_t loc, const char *name, char **out, const char *path, char **cause)
{
	hid_t attr = -1, ftype = -1, mtype = -1, space = -1;
	char *buf = NULL;
	int rc = -1;
	*out = NULL;
	if (attr_open(loc, name, &attr, &ftype, &space, path, cause) < 0)
		goto out;
	if (H5Tget_class(ftype) != H5T_STRING || H5Sget_simple_extent_npoints(space) != 1) {
		err_set(cause, "%s: attribute '%s' is not a single string", path, name);
		goto out;
	}
	mtype = H5Tcopy(H5T_C_S1);
	H5Tset_cset(mtype, H5Tget_cset(ftype));
	if (H5Tis_variable_str(ftype) > 0) {
		char *v = NULL;
		H5Tset_size(mtype, H5T_VARIABLE);
		if (H5Aread(attr, mtype, &v) < 0) {
			err_set(cause, "%s: cannot read attribute '%s'", path, name);
			goto out;
		}
		*out = xstrdup(v ? v : "");
		H5free_memory(v);
	} else {
		size_t n = H5Tget_size(ftype);
		buf = xcalloc(n + 2, 1);
		H5Tset_size(mtype, n + 1);
		H5Tset_strpad(mtype, H5T_STR_NULLTERM);
		if (H5Aread(attr, mtype, buf) < 0) {
			err_set(cause, "%s: cannot read attribute '%s'", path, name);
			goto out;
		}
		size_t len = strlen(buf);
		while (len > 0 && buf[len - 1] == ' ')
			buf[--len] = '\0';
		*out = buf;
		buf = NULL;
	}
	rc = 0;
out:
	free(buf);
	close_id(&mtype, H5Tclose);
	close_id(&space, H5Sclose);
	close_id(&ftype, H5Tclose);
	close_id(&attr, H5Aclose);
	return rc;
}

/* Reads exactly n integers of an integer attribute (any integer type) into v. */
static int
attr_get_ints(hid_t loc, const char *name, long long *v, int n, const char *path, char **cause)
{
	hid_t attr = -1, ftype = -1, space = -1;
	int rc = -1;
	if (attr_open(loc, name, &attr, &ftype, &space, path, cause) < 0)
		goto out;
	hssize_t np = H5Sget_simple_extent_npoints(space);
	if (H5Tget_class(ftype) != H5T_INTEGER || np != n) {
		if (n == 1)
			err_set(cause, "%s: attribute '%s' is not a single integer", path, name);
		else
			err_set(cause, "%s: attribute '%s' is not %d integers", path, name, n);
		goto out;
	}
	if (H5Aread(attr, H5T_NATIVE_LLONG, v) < 0) {
		err_set(cause, "%s: cannot read attribute '%s'", path, name);
		goto out;
	}
	rc = 0;
out:
	close_id(&space, H5Sclose);
	close_id(&ftype, H5Tclose);
	close_id(&attr, H5Aclose);
	return rc;
}

/* ======================================================================== */
/* Saving                                                                   */
/* ======================================================================== */

static int
write_root_attrs(hid_t file, const struct model *m)
{
	int c, h, w;
	model_input_shape(m, &c, &h, &w);
	long long version = IO_H5_MODEL_VERSION, classes = model_classes(m);
	long long shape[3] = {c, h, w};
	if (attr_put_str(file, "format", IO_H5_FORMAT) || attr_put_ints(file, "version", &version, 1, 1) ||
	    attr_put_str(file, "arch", model_arch(m)) || attr_put_ints(file, "classes", &classes, 1, 1) ||
	    attr_put_ints(file, "input_shape", shape, 3, 0) ||
	    attr_put_str(file, "created_by", PACKAGE_NAME " " PACKAGE_VERSION))
		return -1;
	/* only shift-based batch norm is written: files of exact BN stay as they were */
	if (model_bn_shift(m) && attr_put_str(file, "bn", "shift"))
		return -1;
	return 0;
}

/* Writes dataset name in group: ndim dims, file type ftype, from data of memory type mtype. */
static int
write_dataset(hid_t group, const char *name, hid_t ftype, hid_t mtype, int ndim,
	      const hsize_t *dims, const void *data)
{
	hid_t space = H5Screate_simple(ndim, dims, NULL), ds = -1;
	int rc = -1;
	if (space < 0)
		goto out;
	ds = H5Dcreate2(group, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	if (ds < 0 || H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
		goto out;
	rc = 0;
out:
	close_id(&ds, H5Dclose);
	close_id(&space, H5Sclose);
	return rc;
}

/* Writes tensor t as a float32 dataset named t->name in group. */
static int
write_tensor(hid_t group, const struct model_tensor *t)
{
	hsize_t dims[4];
	for (int k = 0; k < t->ndim; k++)
		dims[k] = (hsize_t)t->shape[k];
	return write_dataset(group, t->name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, t->ndim, dims,
			     t->data);
}

/* Flushes a finished file to disk before it is renamed into place. */
static int
sync_file(const char *path)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

/* Writes one dataset of an extra group. */
static int
write_extra_data(hid_t group, const struct io_h5_data *d)
{
	hsize_t dims[4];
	for (int k = 0; k < d->ndim; k++)
		dims[k] = (hsize_t)d->dims[k];
	if (d->type == IO_H5_F32)
		return write_dataset(group, d->name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, d->ndim, dims,
				     d->data);
	if (d->type == IO_H5_I8)
		return write_dataset(group, d->name, H5T_STD_I8LE, H5T_NATIVE_INT8, d->ndim, dims,
				     d->data);
	return write_dataset(group, d->name, H5T_STD_I32LE, H5T_NATIVE_INT32, d->ndim, dims,
			     d->data);
}

static int
attr_put_double(hid_t loc, const char *name, double v)
{
	hid_t space = H5Screate(H5S_SCALAR), attr = -1;
	int rc = -1;
	if (space < 0)
		goto out;
	attr = H5Acreate2(loc, name, H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT);
	if (attr < 0 || H5Awrite(attr, H5T_NATIVE_DOUBLE, &v) < 0)
		goto out;
	rc = 0;
out:
	close_id(&attr, H5Aclose);
	close_id(&space, H5Sclose);
	return rc;
}

/* Writes the extra groups into file; -1 with *cause naming the object. */
static int
write_extra(hid_t file, const struct io_h5_groups *gs, const char *path, char **cause)
{
	for (int i = 0; gs && i < gs->n; i++) {
		const struct io_h5_group *g = &gs->g[i];
		hid_t h = H5Lexists(file, g->path, H5P_DEFAULT) > 0
				  ? H5Gopen2(file, g->path, H5P_DEFAULT)
				  : H5Gcreate2(file, g->path, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
		if (h < 0)
			return err_set(cause, "%s: cannot create group /%s", path, g->path);
		int rc = 0;
		for (int k = 0; k < g->nattrs && !rc; k++) {
			const struct io_h5_attr *a = &g->attrs[k];
			long long iv = (long long)a->num;
			rc = a->str ? attr_put_str(h, a->name, a->str)
			     : a->is_int ? attr_put_ints(h, a->name, &iv, 1, 1)
					 : attr_put_double(h, a->name, a->num);
			if (rc)
				err_set(cause, "%s: cannot write attribute /%s:%s", path, g->path,
					a->name);
		}
		for (int k = 0; k < g->ndata && !rc; k++)
			if ((rc = write_extra_data(h, &g->data[k])))
				err_set(cause, "%s: cannot write /%s/%s", path, g->path,
					g->data[k].name);
		H5Gclose(h);
		if (rc)
			return -1;
	}
	return 0;
}

int
io_h5_save_model(const struct model *m, const char *path, char **cause)
{
	return io_h5_save_model_with(m, NULL, path, cause);
}

int
io_h5_save_model_with(const struct model *m, const struct io_h5_groups *extra, const char *path,
		      char **cause)
{
	struct h5_quiet q;
	quiet_begin(&q);
	char *tmp = xasprintf("%s.tmp", path);
	hid_t file = -1, layers = -1, group = -1;
	const char *group_name = NULL;
	int rc = -1, created = 0;

	/* Creating the file ourselves first gives errno's precise reason on failure. */
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0666);
	if (fd < 0) {
		err_set(cause, "%s: cannot create %s: %s", path, tmp, strerror(errno));
		goto out;
	}
	close(fd);
	created = 1;
	file = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	if (file < 0) {
		char *e = h5_error_text();
		err_set(cause, "%s: cannot create HDF5 file %s: %s", path, tmp, e);
		free(e);
		goto out;
	}
	if (write_root_attrs(file, m)) {
		err_set(cause, "%s: cannot write the root attributes", path);
		goto out;
	}
	layers = H5Gcreate2(file, "layers", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	if (layers < 0) {
		err_set(cause, "%s: cannot create group /layers", path);
		goto out;
	}
	int nt = model_tensor_count(m);
	for (int i = 0; i < nt; i++) {
		const struct model_tensor *t = model_tensor_at(m, i);
		if (!group_name || strcmp(group_name, t->group) != 0) {
			close_id(&group, H5Gclose);
			group_name = t->group;
			if (H5Lexists(layers, t->group, H5P_DEFAULT) > 0)
				group = H5Gopen2(layers, t->group, H5P_DEFAULT);
			else
				group = H5Gcreate2(layers, t->group, H5P_DEFAULT, H5P_DEFAULT,
						   H5P_DEFAULT);
			if (group < 0) {
				err_set(cause, "%s: cannot create group /layers/%s", path, t->group);
				goto out;
			}
		}
		if (write_tensor(group, t)) {
			err_set(cause, "%s: cannot write /layers/%s/%s", path, t->group, t->name);
			goto out;
		}
	}
	close_id(&group, H5Gclose);
	close_id(&layers, H5Gclose);
	if (write_extra(file, extra, path, cause))
		goto out;
	herr_t closed = H5Fclose(file);
	file = -1;
	if (closed < 0 || sync_file(tmp) != 0) {
		err_set(cause, "%s: cannot finish writing %s", path, tmp);
		goto out;
	}
	if (rename(tmp, path) != 0) {
		err_set(cause, "%s: cannot rename %s into place: %s", path, tmp, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	close_id(&group, H5Gclose);
	close_id(&layers, H5Gclose);
	close_id(&file, H5Fclose);
	if (rc && created)
		unlink(tmp);
	free(tmp);
	quiet_end(&q);
	return rc;
}

/* ======================================================================== */
/* Loading                                                                  */
/* ======================================================================== */

/* Reads and checks the root attributes, then builds the model they describe. */
static int
read_header(struct model **out, hid_t file, const char *path, char **cause)
{
	char *format = NULL, *arch = NULL;
	long long version, classes, shape[3];
	int rc = -1;
	*out = NULL;
	if (H5Aexists(file, "format") <= 0) {
		err_set(cause, "%s: not a qbench model file (no root attribute 'format')", path);
		goto out;
	}
	if (attr_get_str(file, "format", &format, path, cause))
		goto out;
	if (strcmp(format, IO_H5_FORMAT) != 0) {
		err_set(cause, "%s: root attribute 'format' is '%s', expected '%s'", path, format,
			IO_H5_FORMAT);
		goto out;
	}
	if (attr_get_ints(file, "version", &version, 1, path, cause))
		goto out;
	if (version > IO_H5_MODEL_VERSION) {
		err_set(cause,
			"%s: root attribute 'version' is %lld, newer than this qbench reads (%d)",
			path, version, IO_H5_MODEL_VERSION);
		goto out;
	}
	if (version < 1) {
		err_set(cause, "%s: root attribute 'version' is %lld (must be 1 to %d)", path,
			version, IO_H5_MODEL_VERSION);
		goto out;
	}
	if (attr_get_str(file, "arch", &arch, path, cause) ||
	    attr_get_ints(file, "classes", &classes, 1, path, cause) ||
	    attr_get_ints(file, "input_shape", shape, 3, path, cause))
		goto out;
	if (classes < 1 || classes > INT_MAX) {
		err_set(cause, "%s: root attribute 'classes' is %lld", path, classes);
		goto out;
	}
	for (int k = 0; k < 3; k++) {
		if (shape[k] < 1 || shape[k] > INT_MAX) {
			err_set(cause, "%s: root attribute 'input_shape' is [%lld, %lld, %lld]", path,
				shape[0], shape[1], shape[2]);
			goto out;
		}
	}
	*out = model_new(arch, (int)shape[0], (int)shape[1], (int)shape[2], (int)classes, 0, cause);
	if (!*out) {
		err_wrap(cause, "%s: root attributes arch '%s', input_shape [%lld, %lld, %lld], classes %lld",
			 path, arch, shape[0], shape[1], shape[2], classes);
		goto out;
	}
	if (H5Aexists(file, "bn") > 0) {
		char *bn = NULL;
		if (attr_get_str(file, "bn", &bn, path, cause))
			goto out;
		int shift = strcmp(bn, "shift") == 0, bad = !shift && strcmp(bn, "standard") != 0;
		if (bad)
			err_set(cause, "%s: root attribute 'bn' is '%s', expected 'standard' or 'shift'",
				path, bn);
		free(bn);
		if (bad)
			goto out; /* the caller frees *out */
		model_set_bn_shift(*out, shift);
	}
	rc = 0;
out:
	free(format);
	free(arch);
	return rc;
}

static void
shape_text(char *buf, size_t n, int ndim, const hsize_t *d)
{
	size_t used = 0;
	buf[0] = '\0';
	for (int k = 0; k < ndim && used < n; k++)
		used += (size_t)snprintf(buf + used, n - used, "%s%llu", k ? "x" : "",
					 (unsigned long long)d[k]);
	if (ndim == 0)
		snprintf(buf, n, "scalar");
}

/* Reads tensor t from /layers/<group>/<name>, checking type and shape. */
static int
read_tensor(hid_t file, const struct model_tensor *t, const char *path, char **cause)
{
	char *gname = xasprintf("/layers/%s", t->group);
	char *dname = xasprintf("/layers/%s/%s", t->group, t->name);
	hid_t ds = -1, type = -1, space = -1;
	int rc = -1;
	if (H5Lexists(file, "/layers", H5P_DEFAULT) <= 0) {
		err_set(cause, "%s: missing group /layers (needed for tensor %s)", path, dname);
		goto out;
	}
	if (H5Lexists(file, gname, H5P_DEFAULT) <= 0 || H5Lexists(file, dname, H5P_DEFAULT) <= 0) {
		err_set(cause, "%s: missing tensor %s", path, dname);
		goto out;
	}
	ds = H5Dopen2(file, dname, H5P_DEFAULT);
	if (ds < 0) {
		err_set(cause, "%s: %s is not a dataset", path, dname);
		goto out;
	}
	type = H5Dget_type(ds);
	space = H5Dget_space(ds);
	if (type < 0 || space < 0) {
		err_set(cause, "%s: cannot read %s", path, dname);
		goto out;
	}
	if (H5Tget_class(type) != H5T_FLOAT) {
		err_set(cause, "%s: %s is not floating point", path, dname);
		goto out;
	}
	hsize_t dims[H5S_MAX_RANK], want[4];
	int rank = H5Sget_simple_extent_ndims(space);
	if (rank < 0 || rank > H5S_MAX_RANK) {
		err_set(cause, "%s: cannot read the shape of %s", path, dname);
		goto out;
	}
	H5Sget_simple_extent_dims(space, dims, NULL);
	int same = rank == t->ndim;
	for (int k = 0; k < t->ndim; k++) {
		want[k] = (hsize_t)t->shape[k];
		same &= k < rank && dims[k] == want[k];
	}
	if (!same) {
		char got_s[128], want_s[128];
		shape_text(got_s, sizeof got_s, rank, dims);
		shape_text(want_s, sizeof want_s, t->ndim, want);
		err_set(cause, "%s: %s has shape %s, expected %s", path, dname, got_s, want_s);
		goto out;
	}
	if (H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t->data) < 0) {
		char *e = h5_error_text();
		err_set(cause, "%s: cannot read %s: %s", path, dname, e);
		free(e);
		goto out;
	}
	rc = 0;
out:
	close_id(&space, H5Sclose);
	close_id(&type, H5Tclose);
	close_id(&ds, H5Dclose);
	free(gname);
	free(dname);
	return rc;
}

/* Name of link k of group g (by name order); caller frees, NULL on error. */
static char *
link_name(hid_t g, hsize_t k)
{
	ssize_t n = H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, k, NULL, 0, H5P_DEFAULT);
	if (n < 0)
		return NULL;
	char *s = xmalloc((size_t)n + 1);
	if (H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, k, s, (size_t)n + 1,
			       H5P_DEFAULT) < 0) {
		free(s);
		return NULL;
	}
	return s;
}

/* Does the model have a tensor in group (and, when name is not NULL, with that name)? */
static int
model_has(const struct model *m, const char *group, const char *name)
{
	int nt = model_tensor_count(m);
	for (int i = 0; i < nt; i++) {
		const struct model_tensor *t = model_tensor_at(m, i);
		if (strcmp(t->group, group) == 0 && (!name || strcmp(t->name, name) == 0))
			return 1;
	}
	return 0;
}

/* Every object under /layers must belong to the model. */
static int
check_no_extra(hid_t file, const struct model *m, const char *path, char **cause)
{
	hid_t layers = -1, g = -1;
	char *gname = NULL, *dname = NULL;
	int rc = -1;
	H5G_info_t info;
	layers = H5Gopen2(file, "/layers", H5P_DEFAULT);
	if (layers < 0 || H5Gget_info(layers, &info) < 0) {
		err_set(cause, "%s: /layers is not a readable group", path);
		goto out;
	}
	for (hsize_t k = 0; k < info.nlinks; k++) {
		free(gname);
		gname = link_name(layers, k);
		if (!gname) {
			err_set(cause, "%s: cannot list /layers", path);
			goto out;
		}
		if (!model_has(m, gname, NULL)) {
			err_set(cause, "%s: unknown object /layers/%s (arch %s has no such layer)", path,
				gname, model_arch(m));
			goto out;
		}
		H5G_info_t ginfo;
		g = H5Gopen2(layers, gname, H5P_DEFAULT);
		if (g < 0 || H5Gget_info(g, &ginfo) < 0) {
			err_set(cause, "%s: /layers/%s is not a group", path, gname);
			goto out;
		}
		for (hsize_t j = 0; j < ginfo.nlinks; j++) {
			free(dname);
			dname = link_name(g, j);
			if (!dname) {
				err_set(cause, "%s: cannot list /layers/%s", path, gname);
				goto out;
			}
			if (!model_has(m, gname, dname)) {
				err_set(cause,
					"%s: unknown object /layers/%s/%s (arch %s has no such tensor)",
					path, gname, dname, model_arch(m));
				goto out;
			}
		}
		close_id(&g, H5Gclose);
	}
	rc = 0;
out:
	close_id(&g, H5Gclose);
	close_id(&layers, H5Gclose);
	free(gname);
	free(dname);
	return rc;
}

int
io_h5_load_model(struct model **out, const char *path, char **cause)
{
	struct h5_quiet q;
	quiet_begin(&q);
	struct model *m = NULL;
	hid_t file = -1;
	int rc = -1;
	*out = NULL;

	struct stat st;
	if (stat(path, &st) != 0) {
		err_set(cause, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		err_set(cause, "%s: is a directory", path);
		goto out;
	}
	if (H5Fis_hdf5(path) <= 0) {
		err_set(cause, "%s: not an HDF5 file", path);
		goto out;
	}
	file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
	if (file < 0) {
		char *e = h5_error_text();
		err_set(cause, "%s: cannot open HDF5 file (truncated or corrupt?): %s", path, e);
		free(e);
		goto out;
	}
	if (read_header(&m, file, path, cause))
		goto out;
	int nt = model_tensor_count(m);
	for (int i = 0; i < nt; i++)
		if (read_tensor(file, model_tensor_at(m, i), path, cause))
			goto out;
	if (check_no_extra(file, m, path, cause))
		goto out;
	*out = m;
	m = NULL;
	rc = 0;
out:
	model_free(m);
	close_id(&file, H5Fclose);
	quiet_end(&q);
	return rc;
}

/* ======================================================================== */
/* Extra groups                                                             */
/* ======================================================================== */

struct io_h5_group *
io_h5_groups_add(struct io_h5_groups *gs, const char *path)
{
	gs->g = xrealloc(gs->g, (size_t)(gs->n + 1) * sizeof *gs->g);
	struct io_h5_group *g = &gs->g[gs->n++];
	memset(g, 0, sizeof *g);
	g->path = xstrdup(path);
	return g;
}

static struct io_h5_attr *
group_new_attr(struct io_h5_group *g, const char *name)
{
	g->attrs = xrealloc(g->attrs, (size_t)(g->nattrs + 1) * sizeof *g->attrs);
	struct io_h5_attr *a = &g->attrs[g->nattrs++];
	memset(a, 0, sizeof *a);
	a->name = xstrdup(name);
	return a;
}

void
io_h5_group_str(struct io_h5_group *g, const char *name, const char *value)
{
	group_new_attr(g, name)->str = xstrdup(value);
}

void
io_h5_group_int(struct io_h5_group *g, const char *name, long long value)
{
	struct io_h5_attr *a = group_new_attr(g, name);
	a->num = (double)value;
	a->is_int = 1;
}

void
io_h5_group_num(struct io_h5_group *g, const char *name, double value)
{
	group_new_attr(g, name)->num = value;
}

void
io_h5_group_data(struct io_h5_group *g, const char *name, enum io_h5_type type, const void *data,
		 int ndim, const long *dims)
{
	g->data = xrealloc(g->data, (size_t)(g->ndata + 1) * sizeof *g->data);
	struct io_h5_data *d = &g->data[g->ndata++];
	memset(d, 0, sizeof *d);
	d->name = xstrdup(name);
	d->type = type;
	d->ndim = ndim;
	d->size = 1;
	for (int k = 0; k < ndim; k++) {
		d->dims[k] = dims[k];
		d->size *= (size_t)dims[k];
	}
	size_t esz = type == IO_H5_F32 ? sizeof(float) : type == IO_H5_I8 ? 1 : sizeof(int32_t);
	d->data = xmalloc(d->size * esz + 1);
	memcpy(d->data, data, d->size * esz);
}

struct io_h5_group *
io_h5_groups_find(const struct io_h5_groups *gs, const char *path)
{
	for (int i = 0; i < gs->n; i++)
		if (strcmp(gs->g[i].path, path) == 0)
			return &gs->g[i];
	return NULL;
}

const struct io_h5_attr *
io_h5_group_attr(const struct io_h5_group *g, const char *name)
{
	for (int i = 0; i < g->nattrs; i++)
		if (strcmp(g->attrs[i].name, name) == 0)
			return &g->attrs[i];
	return NULL;
}

const struct io_h5_data *
io_h5_group_dataset(const struct io_h5_group *g, const char *name)
{
	for (int i = 0; i < g->ndata; i++)
		if (strcmp(g->data[i].name, name) == 0)
			return &g->data[i];
	return NULL;
}

void
io_h5_groups_free(struct io_h5_groups *gs)
{
	for (int i = 0; i < gs->n; i++) {
		struct io_h5_group *g = &gs->g[i];
		for (int k = 0; k < g->nattrs; k++) {
			free(g->attrs[k].name);
			free(g->attrs[k].str);
		}
		for (int k = 0; k < g->ndata; k++) {
			free(g->data[k].name);
			free(g->data[k].data);
		}
		free(g->attrs);
		free(g->data);
		free(g->path);
	}
	free(gs->g);
	gs->g = NULL;
	gs->n = 0;
}

/* Reads scalar attribute `name` of object h into g (strings and numbers; others skipped). */
static int
read_group_attr(hid_t h, const char *name, struct io_h5_group *g, const char *path, char **cause)
{
	hid_t attr = -1, ftype = -1, space = -1;
	int rc = attr_open(h, name, &attr, &ftype, &space, path, cause);
	H5T_class_t cls = rc == 0 ? H5Tget_class(ftype) : H5T_NO_CLASS;
	hssize_t np = rc == 0 ? H5Sget_simple_extent_npoints(space) : 0;
	double v = 0;
	char *str = NULL;
	if (rc == 0 && cls == H5T_STRING)
		rc = attr_get_str(h, name, &str, path, cause);
	else if (rc == 0 && (cls == H5T_INTEGER || cls == H5T_FLOAT) && np == 1 &&
		 H5Aread(attr, H5T_NATIVE_DOUBLE, &v) < 0)
		rc = err_set(cause, "%s: cannot read attribute /%s:%s", path, g->path, name);
	if (rc == 0 && str)
		io_h5_group_str(g, name, str);
	else if (rc == 0 && cls == H5T_INTEGER && np == 1)
		io_h5_group_int(g, name, (long long)v);
	else if (rc == 0 && cls == H5T_FLOAT && np == 1)
		io_h5_group_num(g, name, v);
	free(str);
	close_id(&space, H5Sclose);
	close_id(&ftype, H5Tclose);
	close_id(&attr, H5Aclose);
	return rc;
}

struct attr_walk {
	struct io_h5_group *g;
	const char *path;
	char **cause;
};

static herr_t
attr_walk_one(hid_t h, const char *name, const H5A_info_t *info, void *data)
{
	(void)info;
	struct attr_walk *w = data;
	return read_group_attr(h, name, w->g, w->path, w->cause) < 0 ? -1 : 0;
}

/* Reads the scalar attributes of object h into g. */
static int
read_group_attrs(hid_t h, struct io_h5_group *g, const char *path, char **cause)
{
	struct attr_walk w = {g, path, cause};
	char *first = NULL;
	w.cause = &first;
	herr_t rc = H5Aiterate2(h, H5_INDEX_NAME, H5_ITER_INC, NULL, attr_walk_one, &w);
	if (rc < 0) {
		if (first)
			*cause = first;
		else
			err_set(cause, "%s: cannot read the attributes of /%s", path, g->path);
		return -1;
	}
	return 0;
}

/* Reads numeric dataset `name` of group h into g as float32. */
static int
read_group_dataset(hid_t h, const char *name, struct io_h5_group *g, const char *path,
		   char **cause)
{
	hid_t ds = H5Dopen2(h, name, H5P_DEFAULT), space = -1, type = -1;
	int rc = -1;
	float *buf = NULL;
	if (ds < 0 || (space = H5Dget_space(ds)) < 0 || (type = H5Dget_type(ds)) < 0) {
		err_set(cause, "%s: cannot open /%s/%s", path, g->path, name);
		goto out;
	}
	H5T_class_t cls = H5Tget_class(type);
	int ndim = H5Sget_simple_extent_ndims(space);
	hsize_t dims[4];
	if (cls != H5T_INTEGER && cls != H5T_FLOAT) {
		rc = 0; /* not numeric: not ours to read */
		goto out;
	}
	if (ndim < 0 || ndim > 4 || H5Sget_simple_extent_dims(space, dims, NULL) < 0) {
		err_set(cause, "%s: /%s/%s has more than 4 dimensions", path, g->path, name);
		goto out;
	}
	long ldims[4];
	size_t n = 1;
	for (int k = 0; k < ndim; k++) {
		ldims[k] = (long)dims[k];
		n *= (size_t)dims[k];
	}
	buf = xalloc_floats(n ? n : 1);
	if (n && H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
		err_set(cause, "%s: cannot read /%s/%s (truncated or corrupt?)", path, g->path, name);
		goto out;
	}
	io_h5_group_data(g, name, IO_H5_F32, buf, ndim, ldims);
	rc = 0;
out:
	if (buf)
		xfree_aligned(buf);
	close_id(&type, H5Tclose);
	close_id(&space, H5Sclose);
	close_id(&ds, H5Dclose);
	return rc;
}

/* Reads group h (at gpath) into a new group of out; subgroups when depth > 0. */
static int
read_group(hid_t h, const char *gpath, int depth, struct io_h5_groups *out, const char *path,
	   char **cause)
{
	struct io_h5_group *g = io_h5_groups_add(out, gpath);
	int gi = out->n - 1;
	if (read_group_attrs(h, g, path, cause))
		return -1;
	H5G_info_t info;
	if (H5Gget_info(h, &info) < 0)
		return err_set(cause, "%s: /%s is not a readable group", path, gpath);
	for (hsize_t k = 0; k < info.nlinks; k++) {
		char *name = link_name(h, k);
		if (!name)
			return err_set(cause, "%s: cannot list /%s", path, gpath);
		hid_t obj = H5Oopen(h, name, H5P_DEFAULT);
		H5I_type_t type = obj >= 0 ? H5Iget_type(obj) : H5I_BADID;
		if (obj >= 0)
			H5Oclose(obj);
		int rc = 0;
		if (obj < 0) {
			rc = err_set(cause, "%s: cannot read /%s/%s", path, gpath, name);
		} else if (type == H5I_DATASET) {
			rc = read_group_dataset(h, name, &out->g[gi], path, cause);
		} else if (type == H5I_GROUP && depth > 0) {
			char *sub = xasprintf("%s/%s", gpath, name);
			hid_t sh = H5Gopen2(h, name, H5P_DEFAULT);
			rc = sh < 0 ? err_set(cause, "%s: cannot open /%s", path, sub)
				    : read_group(sh, sub, depth - 1, out, path, cause);
			if (sh >= 0)
				H5Gclose(sh);
			free(sub);
		}
		free(name);
		if (rc)
			return -1;
	}
	return 0;
}

int
io_h5_read_groups(const char *path, const char *root, struct io_h5_groups *out, char **cause)
{
	struct h5_quiet q;
	quiet_begin(&q);
	hid_t file = -1, h = -1;
	int rc = -1;
	if (H5Fis_hdf5(path) <= 0) {
		err_set(cause, "%s: not an HDF5 file", path);
		goto out;
	}
	file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
	if (file < 0) {
		err_set(cause, "%s: cannot open HDF5 file (truncated or corrupt?)", path);
		goto out;
	}
	if (H5Lexists(file, root, H5P_DEFAULT) <= 0) {
		rc = 0;
		goto out;
	}
	h = H5Gopen2(file, root, H5P_DEFAULT);
	if (h < 0) {
		err_set(cause, "%s: /%s is not a group", path, root);
		goto out;
	}
	rc = read_group(h, root, 1, out, path, cause);
out:
	if (rc)
		io_h5_groups_free(out);
	close_id(&h, H5Gclose);
	close_id(&file, H5Fclose);
	quiet_end(&q);
	return rc;
}
