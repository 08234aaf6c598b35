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
	return 0;
}

/* Writes tensor t as a float32 dataset named t->name in group. */
static int
write_tensor(hid_t group, const struct model_tensor *t)
{
	hsize_t dims[4];
	for (int k = 0; k < t->ndim; k++)
		dims[k] = (hsize_t)t->shape[k];
	hid_t space = H5Screate_simple(t->ndim, dims, NULL), ds = -1;
	int rc = -1;
	if (space < 0)
		goto out;
	ds = H5Dcreate2(group, t->name, H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	if (ds < 0 || H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t->data) < 0)
		goto out;
	rc = 0;
out:
	close_id(&ds, H5Dclose);
	close_id(&space, H5Sclose);
	return rc;
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

int
io_h5_save_model(const struct model *m, const char *path, char **cause)
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
