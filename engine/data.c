/*
 * data: labelled image datasets from IDX files (plain or gzip'd) and HDF5
 * files, and batch gathering with augmentation.
 *
 * Invariants of a loaded struct dataset:
 * - n >= 1, c, h, w >= 1, classes >= 2; x holds n*c*h*w floats (NCHW), y n labels
 *   in [0, classes).
 * - classes comes from the TRAINING labels of the source (max label + 1, at
 *   least 2; always 10 for fmnist), whichever split is loaded, so that the
 *   train and test splits of one source agree; a test label the training
 *   labels do not cover is an error.
 * - Unsigned-byte pixels become b / 255.0f exactly (one table of 256 values);
 *   floating-point HDF5 pixels are taken as stored (they must be finite).
 * - `limit` keeps a prefix. IDX files are still read and checked whole, so one
 *   that fails without a limit fails with one too; from HDF5 only the kept
 *   images are read (all labels of the split are checked).
 * - Nothing is allocated on the word of a header alone: IDX buffers grow as
 *   data arrives, and HDF5 shapes larger than physical memory are refused.
 * - Every error message names the file it is about.
 */
#include <assert.h>
#include <errno.h>
#include <hdf5.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "engine/data.h"
#include "engine/rng.h"
#include "engine/util.h"

/* Guards against absurd headers before allocating. */
#define DATA_MAX_SIDE 65536
#define DATA_MAX_IMAGE (1L << 26)  /* values per example */
#define DATA_MAX_CLASSES 100000

#define FMNIST_CLASSES 10

static const char *const split_names[] = {"train", "test"};

/* Fills lut[b] = b / 255 for every byte value. */
static void
byte_table(float lut[256])
{
	for (int b = 0; b < 256; b++)
		lut[b] = (float)b / 255.0f;
}

static void
bytes_to_floats(float *dst, const uint8_t *src, size_t n)
{
	float lut[256];
	byte_table(lut);
	for (size_t i = 0; i < n; i++)
		dst[i] = lut[src[i]];
}

/* ======================================================================== */
/* IDX files                                                                */
/* ======================================================================== */

/* An open IDX file: path (owned), gzip handle, header dimensions. */
struct idx_file {
	char *path;
	gzFile gz;
	int ndim;
	int dims[3];
};

static int
file_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

static void
idx_close(struct idx_file *f)
{
	if (f->gz)
		gzclose_r(f->gz);
	free(f->path);
	memset(f, 0, sizeof *f);
}

/*
 * zlib's message without the "path: " prefix gzerror() puts in front of it
 * (zlib's own messages contain no ": ", a path may).
 */
static const char *
gz_message(const char *msg)
{
	if (!msg)
		return "unknown error";
	const char *text = msg;
	for (const char *p = strstr(msg, ": "); p; p = strstr(p + 1, ": "))
		text = p + 2;
	return text;
}

/*
 * Reads up to n bytes into dst (dst NULL: discards them). Returns the number of
 * bytes read; *zmsg is set to zlib's message when the stream reported an error
 * (truncated or corrupt gzip data, read error), else NULL.
 */
static size_t
gz_read_bytes(gzFile gz, uint8_t *dst, size_t n, const char **zmsg)
{
	uint8_t sink[65536];
	size_t done = 0;
	*zmsg = NULL;
	while (done < n) {
		size_t want = n - done;
		uint8_t *p = dst ? dst + done : sink;
		if (!dst && want > sizeof sink)
			want = sizeof sink;
		if (want > (1u << 30))
			want = 1u << 30;
		int got = gzread(gz, p, (unsigned)want);
		if (got > 0)
			done += (size_t)got;
		if (got < (int)want) {
			int errnum = Z_OK;
			const char *msg = gzerror(gz, &errnum);
			if (errnum != Z_OK && errnum != Z_STREAM_END)
				*zmsg = errnum == Z_ERRNO ? strerror(errno) : gz_message(msg);
			if (got <= 0 || *zmsg)
				break;
		}
	}
	return done;
}

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/*
 * Opens DIR/BASE (or DIR/BASE.gz) and checks its header: unsigned-byte data,
 * ndim dimensions, sane sizes. `hint` is appended to the not-found message.
 */
static int
idx_open(struct idx_file *f, const char *dir, const char *base, int ndim, const char *hint,
	 char **cause)
{
	memset(f, 0, sizeof *f);
	char *plain = xasprintf("%s/%s", dir, base);
	char *gzname = xasprintf("%s.gz", plain);
	int rc = -1;
	if (file_exists(plain)) {
		f->path = plain;
		plain = NULL;
	} else if (file_exists(gzname)) {
		f->path = gzname;
		gzname = NULL;
	} else {
		err_set(cause, "%s: no such file (nor %s)%s", plain, gzname, hint ? hint : "");
		goto out;
	}
	errno = 0;
	f->gz = gzopen(f->path, "rb");
	if (!f->gz) {
		err_set(cause, "%s: cannot open: %s", f->path,
			errno ? strerror(errno) : "out of memory");
		goto out;
	}
	gzbuffer(f->gz, 1u << 18);

	uint8_t hdr[16];
	size_t hlen = 4 + 4 * (size_t)ndim;
	const char *zmsg;
	size_t got = gz_read_bytes(f->gz, hdr, 4, &zmsg);
	if (got == 4)
		got += gz_read_bytes(f->gz, hdr + 4, hlen - 4, &zmsg);
	if (zmsg) {
		err_set(cause, "%s: truncated or corrupt gzip data: %s", f->path, zmsg);
		goto out;
	}
	if (got == 0) {
		err_set(cause, "%s: empty file", f->path);
		goto out;
	}
	uint32_t magic = got >= 4 ? be32(hdr) : 0;
	uint32_t want_magic = 0x00000800u | (uint32_t)ndim;
	const char *what = ndim == 3 ? "images" : "labels";
	if (got >= 4 && magic != want_magic) {
		if (hdr[0] != 0 || hdr[1] != 0)
			err_set(cause, "%s: bad magic 0x%08x: not an IDX file (expected 0x%08x, %s)",
				f->path, magic, want_magic, what);
		else if (hdr[2] != 0x08)
			err_set(cause,
				"%s: bad magic 0x%08x: data type 0x%02x is not unsigned byte (0x08)",
				f->path, magic, hdr[2]);
		else
			err_set(cause,
				"%s: bad magic 0x%08x: %d dimensions, expected %d (IDX %s, magic 0x%08x)",
				f->path, magic, hdr[3], ndim, what, want_magic);
		goto out;
	}
	if (got < hlen) {
		err_set(cause, "%s: truncated header (%zu of %zu bytes)", f->path, got, hlen);
		goto out;
	}
	f->ndim = ndim;
	for (int i = 0; i < ndim; i++) {
		uint32_t v = be32(hdr + 4 + 4 * i);
		uint32_t max = i == 0 ? (uint32_t)INT_MAX : DATA_MAX_SIDE;
		if (v == 0 || v > max) {
			err_set(cause, "%s: bad dimension %d: %u (must be 1..%u)", f->path, i, v, max);
			goto out;
		}
		f->dims[i] = (int)v;
	}
	if (ndim == 3 && (long)f->dims[1] * f->dims[2] > DATA_MAX_IMAGE) {
		err_set(cause, "%s: image size %dx%d too large", f->path, f->dims[1], f->dims[2]);
		goto out;
	}
	rc = 0;
out:
	free(plain);
	free(gzname);
	if (rc)
		idx_close(f);
	return rc;
}

/*
 * Reads the `total` data bytes after the header into *out (malloc'd, the
 * first `keep` bytes; caller frees), then checks that nothing follows and
 * that the gzip trailer is sound. The buffer grows as data arrives, so a
 * header promising more than the file holds costs no more memory than the
 * file. `what` describes the promised contents for the truncation message.
 */
static int
idx_read_data(struct idx_file *f, uint8_t **out, size_t keep, size_t total, const char *what,
	      char **cause)
{
	const size_t step = (size_t)1 << 26;
	size_t cap = keep < step ? keep : step, got = 0;
	uint8_t *buf = xmalloc(cap);
	const char *zmsg = NULL;
	int rc = -1;
	while (got < keep) {
		if (got == cap) {
			cap = keep - cap < cap ? keep : 2 * cap;
			buf = xrealloc(buf, cap);
		}
		size_t want = cap - got;
		size_t n = gz_read_bytes(f->gz, buf + got, want, &zmsg);
		got += n;
		if (n < want || zmsg)
			break;
	}
	if (got == keep && !zmsg)
		got += gz_read_bytes(f->gz, NULL, total - keep, &zmsg);
	if (zmsg) {
		err_set(cause, "%s: truncated or corrupt gzip data after %zu of %zu data bytes: %s",
			f->path, got, total, zmsg);
		goto out;
	}
	if (got < total) {
		err_set(cause, "%s: truncated: the header promises %s (%zu bytes), only %zu present",
			f->path, what, total, got);
		goto out;
	}
	uint8_t extra;
	size_t more = gz_read_bytes(f->gz, &extra, 1, &zmsg);
	if (zmsg) {
		err_set(cause, "%s: corrupt gzip data after the last data byte: %s", f->path, zmsg);
		goto out;
	}
	if (more) {
		err_set(cause, "%s: trailing garbage after the %zu data bytes the header promises",
			f->path, total);
		goto out;
	}
	*out = buf;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	return rc;
}

/*
 * Reads a whole IDX label file DIR/BASE: *labels (n, owned by the caller).
 */
static int
idx_read_labels(uint8_t **labels, int *n, const char *dir, const char *base, const char *hint,
		char **cause)
{
	struct idx_file f;
	*labels = NULL;
	if (idx_open(&f, dir, base, 1, hint, cause))
		return -1;
	int rc = -1;
	char *what = xasprintf("%d labels", f.dims[0]);
	if (idx_read_data(&f, labels, (size_t)f.dims[0], (size_t)f.dims[0], what, cause))
		goto out;
	*n = f.dims[0];
	rc = 0;
out:
	free(what);
	idx_close(&f);
	return rc;
}

/* classes = max label + 1, at least 2. */
static int
labels_classes(const uint8_t *y, int n)
{
	int max = 1;
	for (int i = 0; i < n; i++)
		if (y[i] > max)
			max = y[i];
	return max + 1;
}

/*
 * Loads one split of an IDX folder. fixed_classes > 0 fixes the class count
 * (fmnist); otherwise it comes from the training labels.
 */
static int
idx_load(struct dataset *d, const char *dir, enum data_split split, int limit, int fixed_classes,
	 const char *hint, char **cause)
{
	const char *prefix = split == DATA_TRAIN ? "train" : "t10k";
	char *img_base = xasprintf("%s-images-idx3-ubyte", prefix);
	char *lbl_base = xasprintf("%s-labels-idx1-ubyte", prefix);
	char *lbl_path = xasprintf("%s/%s", dir, lbl_base);
	uint8_t *labels = NULL, *train_labels = NULL, *pixels = NULL;
	char *what = NULL;
	struct idx_file f = {0};
	int nl = 0, rc = -1;

	if (idx_read_labels(&labels, &nl, dir, lbl_base, hint, cause))
		goto out;
	int classes = fixed_classes;
	if (classes <= 0) {
		if (split == DATA_TRAIN) {
			classes = labels_classes(labels, nl);
		} else {
			int ntl;
			if (idx_read_labels(&train_labels, &ntl, dir, "train-labels-idx1-ubyte", hint,
					    cause))
				goto out;
			classes = labels_classes(train_labels, ntl);
		}
	}
	for (int i = 0; i < nl; i++) {
		if (labels[i] >= classes) {
			const char *from = fixed_classes > 0 ? "" : " (from the training labels)";
			err_set(cause, "%s: label %d at index %d is out of range: %d classes%s",
				lbl_path, labels[i], i, classes, from);
			goto out;
		}
	}

	if (idx_open(&f, dir, img_base, 3, hint, cause))
		goto out;
	if (f.dims[0] != nl) {
		err_set(cause, "count mismatch: %s has %d images but %s has %d labels", f.path,
			f.dims[0], lbl_path, nl);
		goto out;
	}
	int n = f.dims[0];
	int keep = limit > 0 && limit < n ? limit : n;
	size_t chw = (size_t)f.dims[1] * (size_t)f.dims[2];
	what = xasprintf("%d images of %dx%d", n, f.dims[1], f.dims[2]);
	if (idx_read_data(&f, &pixels, (size_t)keep * chw, (size_t)n * chw, what, cause))
		goto out;

	d->n = keep;
	d->c = 1;
	d->h = f.dims[1];
	d->w = f.dims[2];
	d->classes = classes;
	d->x = xalloc_floats((size_t)keep * chw);
	bytes_to_floats(d->x, pixels, (size_t)keep * chw);
	d->y = xmalloc((size_t)keep * sizeof *d->y);
	for (int i = 0; i < keep; i++)
		d->y[i] = labels[i];
	rc = 0;
out:
	idx_close(&f);
	free(what);
	free(pixels);
	free(labels);
	free(train_labels);
	free(img_base);
	free(lbl_base);
	free(lbl_path);
	return rc;
}

/* ======================================================================== */
/* HDF5 files                                                               */
/* ======================================================================== */

/* A dataset of an HDF5 file: handle, rank, dims, type class. */
struct h5_var {
	const char *name;
	hid_t ds;
	int rank;
	hsize_t dims[4];
	H5T_class_t cls;
	int is_uint8;
};

static void
h5_var_close(struct h5_var *v)
{
	if (v->ds >= 0)
		H5Dclose(v->ds);
	v->ds = -1;
}

/* Opens dataset `name`: a missing dataset or a rank outside [rmin, rmax] is an error. */
static int
h5_var_open(struct h5_var *v, hid_t file, const char *path, const char *name, int rmin, int rmax,
	    char **cause)
{
	memset(v, 0, sizeof *v);
	v->ds = -1;
	v->name = name;
	if (H5Lexists(file, name, H5P_DEFAULT) <= 0)
		return err_set(cause, "%s: missing dataset '%s'", path, name);
	v->ds = H5Dopen2(file, name, H5P_DEFAULT);
	if (v->ds < 0)
		return err_set(cause, "%s: '%s' is not a dataset", path, name);
	hid_t space = H5Dget_space(v->ds);
	hid_t type = H5Dget_type(v->ds);
	int rank = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
	if (rank >= rmin && rank <= rmax)
		H5Sget_simple_extent_dims(space, v->dims, NULL);
	v->rank = rank;
	v->cls = type >= 0 ? H5Tget_class(type) : H5T_NO_CLASS;
	v->is_uint8 = v->cls == H5T_INTEGER && H5Tget_size(type) == 1 &&
		      H5Tget_sign(type) == H5T_SGN_NONE;
	if (type >= 0)
		H5Tclose(type);
	if (space >= 0)
		H5Sclose(space);
	if (rank < rmin || rank > rmax) {
		if (rmin == rmax)
			err_set(cause, "%s: '%s' has rank %d, expected %d", path, name, rank, rmin);
		else
			err_set(cause, "%s: '%s' has rank %d, expected %d to %d", path, name, rank,
				rmin, rmax);
		h5_var_close(v);
		return -1;
	}
	for (int i = 0; i < rank; i++) {
		hsize_t max = i == 0 ? INT_MAX : DATA_MAX_SIDE;
		if (v->dims[i] == 0 || v->dims[i] > max) {
			err_set(cause, "%s: '%s' has dimension %d of size %llu (must be 1..%llu)", path,
				name, i, (unsigned long long)v->dims[i], (unsigned long long)max);
			h5_var_close(v);
			return -1;
		}
	}
	return 0;
}

/*
 * Reads rows [start, start+count) of v (first dimension) into buf with memory
 * type mtype. Returns 0 or -1.
 */
static int
h5_var_read_rows(const struct h5_var *v, hid_t mtype, hsize_t start, hsize_t count, void *buf,
		 const char *path, char **cause)
{
	int rc = -1;
	hid_t fspace = H5Dget_space(v->ds);
	hsize_t off[4] = {start, 0, 0, 0}, cnt[4];
	for (int i = 0; i < v->rank; i++)
		cnt[i] = v->dims[i];
	cnt[0] = count;
	hid_t mspace = H5Screate_simple(v->rank, cnt, NULL);
	if (fspace < 0 || mspace < 0 ||
	    H5Sselect_hyperslab(fspace, H5S_SELECT_SET, off, NULL, cnt, NULL) < 0 ||
	    H5Dread(v->ds, mtype, mspace, fspace, H5P_DEFAULT, buf) < 0) {
		err_set(cause, "%s: cannot read '%s' (corrupt or truncated file?)", path, v->name);
		goto out;
	}
	rc = 0;
out:
	if (mspace >= 0)
		H5Sclose(mspace);
	if (fspace >= 0)
		H5Sclose(fspace);
	return rc;
}

/* Physical memory in bytes (or a huge value when unknown). */
static double
memory_bytes(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
	return pages > 0 && size > 0 ? (double)pages * (double)size : 1e300;
}

/*
 * Refuses an images dataset x of n examples (c, h, w) whose loading (labels as
 * int64, up to `limit` images as float32 plus bytes) would not fit in memory.
 */
static int
h5_check_memory(const struct h5_var *x, int limit, int c, int h, int w, const char *path,
		char **cause)
{
	hsize_t n = x->dims[0];
	hsize_t most = limit > 0 && (hsize_t)limit < n ? (hsize_t)limit : n;
	double need = 8.0 * (double)n + 5.0 * (double)most * c * h * w;
	if (need > memory_bytes())
		return err_set(cause,
			       "%s: '%s' holds %llu examples of %dx%dx%d: %.1f GiB, more than this "
			       "machine's memory",
			       path, x->name, (unsigned long long)n, c, h, w,
			       need / (1024.0 * 1024 * 1024));
	return 0;
}

/* Checks that a label dataset has an integer type. */
static int
h5_check_labels_type(const struct h5_var *v, const char *path, char **cause)
{
	if (v->cls != H5T_INTEGER)
		return err_set(cause, "%s: '%s' must hold integer labels, not %s", path, v->name,
			       v->cls == H5T_FLOAT ? "floating-point values" : "this type");
	return 0;
}

/* Reads labels rows [start, start+count) as int64 and checks them against classes (0: none). */
static int
h5_read_labels(long long **out, const struct h5_var *v, hsize_t start, hsize_t count,
	       int classes, const char *path, char **cause)
{
	long long *y = xmalloc((size_t)count * sizeof *y);
	*out = NULL;
	if (h5_var_read_rows(v, H5T_NATIVE_LLONG, start, count, y, path, cause))
		goto fail;
	for (hsize_t i = 0; i < count; i++) {
		unsigned long long at = (unsigned long long)(start + i);
		if (y[i] < 0) {
			err_set(cause, "%s: %s[%llu] = %lld: labels must not be negative", path, v->name,
				at, y[i]);
			goto fail;
		}
		if (classes > 0 && y[i] >= classes) {
			err_set(cause,
				"%s: %s[%llu] = %lld is out of range: %d classes (from the training labels)",
				path, v->name, at, y[i], classes);
			goto fail;
		}
		if (y[i] >= DATA_MAX_CLASSES) {
			err_set(cause, "%s: %s[%llu] = %lld: too many classes (at most %d)", path,
				v->name, at, y[i], DATA_MAX_CLASSES);
			goto fail;
		}
	}
	*out = y;
	return 0;
fail:
	free(y);
	return -1;
}

/* Checks the image dataset's type and returns C, H, W. */
static int
h5_image_shape(const struct h5_var *x, int *c, int *h, int *w, const char *path, char **cause)
{
	if (!x->is_uint8 && x->cls != H5T_FLOAT)
		return err_set(cause, "%s: '%s' must be uint8 or floating point", path, x->name);
	*c = x->rank == 4 ? (int)x->dims[1] : 1;
	*h = (int)x->dims[x->rank - 2];
	*w = (int)x->dims[x->rank - 1];
	if ((long)*c * *h * *w > DATA_MAX_IMAGE)
		return err_set(cause, "%s: '%s' examples of %dx%dx%d are too large", path, x->name,
			       *c, *h, *w);
	return 0;
}

/*
 * Loads one split of an HDF5 dataset file (layout in docs/formats.md): x/y,
 * and x_test/y_test as the test split, or else the last N/6 of x/y.
 */
static int
h5_load(struct dataset *d, const char *path, enum data_split split, int limit, char **cause)
{
	struct h5_var x = {.ds = -1}, y = {.ds = -1}, xt = {.ds = -1}, yt = {.ds = -1};
	long long *ytrain = NULL, *ysplit = NULL;
	uint8_t *bytes = NULL;
	hid_t file = -1;
	int rc = -1;
	H5E_auto2_t efunc = NULL;
	void *edata = NULL;
	H5Eget_auto2(H5E_DEFAULT, &efunc, &edata);
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);

	struct stat st;
	if (stat(path, &st) != 0) {
		err_set(cause, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (H5Fis_hdf5(path) <= 0) {
		err_set(cause, "%s: not an HDF5 file", path);
		goto out;
	}
	file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
	if (file < 0) {
		err_set(cause, "%s: cannot open HDF5 file (corrupt or truncated?)", path);
		goto out;
	}
	int has_xt = H5Lexists(file, "x_test", H5P_DEFAULT) > 0;
	int has_yt = H5Lexists(file, "y_test", H5P_DEFAULT) > 0;
	if (has_xt != has_yt) {
		err_set(cause, "%s: missing dataset '%s' ('%s' is present)", path,
			has_xt ? "y_test" : "x_test", has_xt ? "x_test" : "y_test");
		goto out;
	}
	if (h5_var_open(&x, file, path, "x", 3, 4, cause) ||
	    h5_var_open(&y, file, path, "y", 1, 1, cause))
		goto out;
	int c, h, w;
	if (h5_image_shape(&x, &c, &h, &w, path, cause) || h5_check_labels_type(&y, path, cause))
		goto out;
	if (x.dims[0] != y.dims[0]) {
		err_set(cause, "%s: count mismatch: 'x' has %llu examples but 'y' has %llu labels",
			path, (unsigned long long)x.dims[0], (unsigned long long)y.dims[0]);
		goto out;
	}
	hsize_t N = x.dims[0];
	hsize_t ntrain = has_xt ? N : N - N / 6;
	if (h5_check_memory(&x, limit, c, h, w, path, cause))
		goto out;
	if (h5_read_labels(&ytrain, &y, 0, ntrain, 0, path, cause))
		goto out;
	long long maxl = 1;
	for (hsize_t i = 0; i < ntrain; i++)
		maxl = ytrain[i] > maxl ? ytrain[i] : maxl;
	int classes = (int)maxl + 1;

	/* The split: rows [start, start+count) of (xs, ys). */
	struct h5_var *xs = &x, *ys = &y;
	hsize_t start = 0, count = ntrain;
	if (split == DATA_TEST && has_xt) {
		if (h5_var_open(&xt, file, path, "x_test", x.rank, x.rank, cause) ||
		    h5_var_open(&yt, file, path, "y_test", 1, 1, cause))
			goto out;
		int ct, ht, wt;
		if (h5_image_shape(&xt, &ct, &ht, &wt, path, cause) ||
		    h5_check_labels_type(&yt, path, cause))
			goto out;
		if (ct != c || ht != h || wt != w) {
			err_set(cause, "%s: 'x_test' examples are %dx%dx%d but 'x' examples are %dx%dx%d",
				path, ct, ht, wt, c, h, w);
			goto out;
		}
		if (xt.dims[0] != yt.dims[0]) {
			err_set(cause,
				"%s: count mismatch: 'x_test' has %llu examples but 'y_test' has %llu labels",
				path, (unsigned long long)xt.dims[0], (unsigned long long)yt.dims[0]);
			goto out;
		}
		if (h5_check_memory(&xt, limit, c, h, w, path, cause))
			goto out;
		xs = &xt;
		ys = &yt;
		count = xt.dims[0];
	} else if (split == DATA_TEST) {
		start = ntrain;
		count = N - ntrain;
		if (count == 0) {
			err_set(cause,
				"%s: %llu examples and no 'x_test': too few for a test split (the last N/6)",
				path, (unsigned long long)N);
			goto out;
		}
	}
	if (ys == &y && start == 0) {
		ysplit = ytrain;
		ytrain = NULL;
	} else if (h5_read_labels(&ysplit, ys, start, count, classes, path, cause)) {
		goto out;
	}

	hsize_t keep = limit > 0 && (hsize_t)limit < count ? (hsize_t)limit : count;
	size_t chw = (size_t)c * (size_t)h * (size_t)w;
	size_t nval = (size_t)keep * chw;
	d->x = xalloc_floats(nval);
	if (xs->is_uint8) {
		bytes = xmalloc(nval);
		if (h5_var_read_rows(xs, H5T_NATIVE_UCHAR, start, keep, bytes, path, cause))
			goto out;
		bytes_to_floats(d->x, bytes, nval);
	} else {
		if (h5_var_read_rows(xs, H5T_NATIVE_FLOAT, start, keep, d->x, path, cause))
			goto out;
		for (size_t i = 0; i < nval; i++) {
			if (!isfinite(d->x[i])) {
				err_set(cause, "%s: '%s' holds a non-finite value (%g) in example %llu",
					path, xs->name, (double)d->x[i],
					(unsigned long long)(start + i / chw));
				goto out;
			}
		}
	}
	d->n = (int)keep;
	d->c = c;
	d->h = h;
	d->w = w;
	d->classes = classes;
	d->y = xmalloc((size_t)keep * sizeof *d->y);
	for (hsize_t i = 0; i < keep; i++)
		d->y[i] = (int32_t)ysplit[i];
	rc = 0;
out:
	h5_var_close(&x);
	h5_var_close(&y);
	h5_var_close(&xt);
	h5_var_close(&yt);
	if (file >= 0)
		H5Fclose(file);
	H5Eset_auto2(H5E_DEFAULT, efunc, edata);
	free(bytes);
	free(ytrain);
	free(ysplit);
	return rc;
}

/* ======================================================================== */
/* Sources                                                                  */
/* ======================================================================== */

static const char *const source_forms[] = {"fmnist", "idx:DIR", "h5:FILE"};

static int
unknown_source(const char *spec, char **cause)
{
	/* Compare the part before ':' with the prefixes, or the whole spec with "fmnist". */
	static const char *const prefixes[] = {"fmnist", "idx", "h5"};
	const char *colon = strchr(spec, ':');
	size_t len = colon ? (size_t)(colon - spec) : strlen(spec);
	char *head = xmalloc(len + 1);
	memcpy(head, spec, len);
	head[len] = '\0';
	const char *near = util_nearest(head, prefixes, 3);
	char *suggest = NULL;
	if (near && strcmp(near, "fmnist") == 0)
		suggest = xstrdup("fmnist");
	else if (near)
		suggest = xasprintf("%s:%s", near, colon ? colon + 1 : (near[0] == 'i' ? "DIR" : "FILE"));
	if (suggest)
		err_set(cause, "unknown dataset '%s' (did you mean '%s'?); valid forms: %s, %s, %s",
			spec, suggest, source_forms[0], source_forms[1], source_forms[2]);
	else
		err_set(cause, "unknown dataset '%s'; valid forms: %s, %s, %s", spec, source_forms[0],
			source_forms[1], source_forms[2]);
	free(suggest);
	free(head);
	return -1;
}

int
dataset_load(struct dataset **out, const char *spec, enum data_split split, int limit,
	     char **cause)
{
	*out = NULL;
	struct dataset *d = xcalloc(1, sizeof *d);
	int rc = -1;
	if (strcmp(spec, "fmnist") == 0) {
		const char *dir = getenv("QBENCH_FMNIST_DIR");
		if (!dir || !*dir)
			dir = QB_DEFAULT_FMNIST_DIR;
		const char *hint = "; Fashion-MNIST is provided by the Debian package "
				   "dataset-fashion-mnist (or set QBENCH_FMNIST_DIR)";
		rc = idx_load(d, dir, split, limit, FMNIST_CLASSES, hint, cause);
	} else if (strncmp(spec, "idx:", 4) == 0 && spec[4]) {
		rc = idx_load(d, spec + 4, split, limit, 0, NULL, cause);
	} else if (strncmp(spec, "h5:", 3) == 0 && spec[3]) {
		rc = h5_load(d, spec + 3, split, limit, cause);
	} else if (strcmp(spec, "idx:") == 0 || strcmp(spec, "h5:") == 0) {
		rc = err_set(cause, "dataset '%s' names no %s", spec, spec[0] == 'i' ? "folder" : "file");
	} else {
		rc = unknown_source(spec, cause);
	}
	if (rc) {
		dataset_free(d);
		return -1;
	}
	d->source = xasprintf("%s:%s", spec, split_names[split]);
	*out = d;
	return 0;
}

void
dataset_free(struct dataset *d)
{
	if (!d)
		return;
	free(d->source);
	xfree_aligned(d->x);
	free(d->y);
	free(d);
}

/* ======================================================================== */
/* Gathering and augmentation                                               */
/* ======================================================================== */

/*
 * One augmented example: dst (c, h, w) is src shifted by (dy, dx) with zeros
 * shifted in (the crop of a zero-padded image), then mirrored when flip.
 * dst[ch][r][col] = src[ch][r + dy][fc] with fc = (flip ? w-1-col : col) + dx.
 */
static void
augment_one(float *dst, const float *src, int c, int h, int w, int dy, int dx, int flip)
{
	for (int ch = 0; ch < c; ch++) {
		for (int r = 0; r < h; r++) {
			float *o = dst + ((size_t)ch * h + r) * w;
			int sr = r + dy;
			if (sr < 0 || sr >= h) {
				memset(o, 0, (size_t)w * sizeof *o);
				continue;
			}
			const float *s = src + ((size_t)ch * h + sr) * w;
			/* columns col with 0 <= col + dx < w (before mirroring) */
			int lo = dx < 0 ? -dx : 0, hi = dx > 0 ? w - dx : w;
			lo = lo > w ? w : lo;
			hi = hi < lo ? lo : hi;
			if (!flip) {
				memset(o, 0, (size_t)lo * sizeof *o);
				memcpy(o + lo, s + lo + dx, (size_t)(hi - lo) * sizeof *o);
				memset(o + hi, 0, (size_t)(w - hi) * sizeof *o);
			} else {
				for (int col = 0; col < w; col++) {
					int fc = w - 1 - col;
					o[col] = fc >= lo && fc < hi ? s[fc + dx] : 0.0f;
				}
			}
		}
	}
}

void
dataset_gather(const struct dataset *d, const int *idx, int B, float *x, int32_t *y, int pad,
	       int flip, struct rng *rng)
{
	size_t chw = (size_t)d->c * d->h * d->w;
	if (pad <= 0 && !flip) {
		/*
		 * Plain copies, on the calling thread: about 0.4 us per shuffled
		 * Fashion-MNIST image. Two OpenMP threads halve that on an idle
		 * machine but cost a scheduler time slice per batch when the cores
		 * are shared (parallel sweeps), so the copy stays serial.
		 */
		for (int b = 0; b < B; b++) {
			int i = idx[b];
			assert(i >= 0 && i < d->n);
			memcpy(x + (size_t)b * chw, d->x + (size_t)i * chw, chw * sizeof *x);
			y[b] = d->y[i];
		}
		return;
	}
	/* Augmented: one rng stream, drawn in example order (dy, dx, then flip). */
	for (int b = 0; b < B; b++) {
		int i = idx[b];
		assert(i >= 0 && i < d->n);
		int dy = 0, dx = 0, fl = 0;
		if (pad > 0) {
			dy = (int)rng_below(rng, (uint32_t)(2 * pad + 1)) - pad;
			dx = (int)rng_below(rng, (uint32_t)(2 * pad + 1)) - pad;
		}
		if (flip)
			fl = (int)(rng_next(rng) >> 63);
		augment_one(x + (size_t)b * chw, d->x + (size_t)i * chw, d->c, d->h, d->w, dy, dx, fl);
		y[b] = d->y[i];
	}
}
