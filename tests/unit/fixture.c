/*
 * fixture: reading the golden HDF5 fixtures for the unit tests (see
 * fixture.h). Absent datasets, attributes and groups are looked up with
 * H5Lexists / H5Aexists first, so asking for them leaves nothing on the
 * HDF5 error stack.
 */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "engine/util.h"
#include "tests/unit/fixture.h"
#include "tests/unit/tap.h"

hid_t
fixture_open(const char *name)
{
	char rel[256];
	snprintf(rel, sizeof rel, "tests/fixtures/%s", name);
	const char *full = tap_srcpath(rel);
	hid_t f = H5Fopen(full, H5F_ACC_RDONLY, H5P_DEFAULT);
	if (!tap_ok(f >= 0, "open %s", rel))
		tap_diag("cannot open %s as HDF5 (is QB_SRCDIR the source tree?)", full);
	return f;
}

/*
 * Dataset `name` of g converted to the memory type `type` of `size` bytes
 * per element (malloc'd, at least one element long); NULL when absent.
 */
static void *
read_as(hid_t g, const char *name, hid_t type, size_t size, size_t *n)
{
	if (n)
		*n = 0;
	if (H5Lexists(g, name, H5P_DEFAULT) <= 0)
		return NULL;
	hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
	hid_t sp = H5Dget_space(d);
	hssize_t np = H5Sget_simple_extent_npoints(sp);
	void *v = xmalloc((size_t)(np > 0 ? np : 1) * size);
	H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
	H5Sclose(sp);
	H5Dclose(d);
	if (n)
		*n = (size_t)(np > 0 ? np : 0);
	return v;
}

float *
fixture_floats(hid_t g, const char *name, size_t *n)
{
	return read_as(g, name, H5T_NATIVE_FLOAT, sizeof(float), n);
}

double *
fixture_doubles(hid_t g, const char *name, size_t *n)
{
	return read_as(g, name, H5T_NATIVE_DOUBLE, sizeof(double), n);
}

int32_t *
fixture_ints(hid_t g, const char *name, size_t *n)
{
	return read_as(g, name, H5T_NATIVE_INT32, sizeof(int32_t), n);
}

int8_t *
fixture_int8s(hid_t g, const char *name, size_t *n)
{
	return read_as(g, name, H5T_NATIVE_INT8, sizeof(int8_t), n);
}

int
fixture_dims(hid_t g, const char *name, hsize_t dims[4])
{
	if (H5Lexists(g, name, H5P_DEFAULT) <= 0)
		return -1;
	hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
	hid_t sp = H5Dget_space(d);
	int r = H5Sget_simple_extent_ndims(sp);
	if (r >= 0 && r <= 4)
		H5Sget_simple_extent_dims(sp, dims, NULL);
	else
		r = -1;
	H5Sclose(sp);
	H5Dclose(d);
	return r;
}

double
fixture_attr(hid_t g, const char *name)
{
	double v = NAN;
	if (H5Aexists(g, name) <= 0)
		return v;
	hid_t a = H5Aopen(g, name, H5P_DEFAULT);
	H5Aread(a, H5T_NATIVE_DOUBLE, &v);
	H5Aclose(a);
	return v;
}

const char *
fixture_attr_str(hid_t g, const char *name, char *buf, size_t len)
{
	buf[0] = 0;
	if (H5Aexists(g, name) <= 0)
		return buf;
	hid_t a = H5Aopen(g, name, H5P_DEFAULT);
	/* the fixtures store variable-length UTF-8 strings; HDF5 allocates the copy */
	hid_t t = H5Tcopy(H5T_C_S1);
	H5Tset_size(t, H5T_VARIABLE);
	H5Tset_cset(t, H5T_CSET_UTF8);
	char *s = NULL;
	if (H5Aread(a, t, &s) >= 0 && s) {
		snprintf(buf, len, "%s", s);
		H5free_memory(s);
	}
	H5Tclose(t);
	H5Aclose(a);
	return buf;
}

int
fixture_each(hid_t f, const char *group, fixture_case_fn fn, void *ctx)
{
	if (H5Lexists(f, group, H5P_DEFAULT) <= 0)
		return 0;
	hid_t grp = H5Gopen2(f, group, H5P_DEFAULT);
	if (grp < 0)
		return 0;
	H5G_info_t info;
	if (H5Gget_info(grp, &info) < 0) {
		H5Gclose(grp);
		return 0;
	}
	for (hsize_t i = 0; i < info.nlinks; i++) {
		char name[256], path[512];
		H5Lget_name_by_idx(grp, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name,
				   H5P_DEFAULT);
		snprintf(path, sizeof path, "%s/%s", group, name);
		hid_t g = H5Gopen2(grp, name, H5P_DEFAULT);
		fn(g, path, ctx);
		H5Gclose(g);
	}
	H5Gclose(grp);
	return (int)info.nlinks;
}
