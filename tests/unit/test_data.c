/*
 * test_data: IDX and HDF5 dataset loading, every rejected kind of bad file,
 * and batch gathering with augmentation.
 *
 * The Fashion-MNIST checks run on the real files when they are installed and
 * are skipped otherwise; every other file is written by this test into its
 * temporary folder.
 */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "engine/data.h"
#include "engine/rng.h"
#include "engine/util.h"
#include "tests/unit/tap.h"

#define FMNIST_DIR "/usr/share/datasets/fashion-mnist"

/* ---- files ---- */

static void
write_bytes(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
		perror(path);
		exit(99);
	}
}

static void
write_gz(const char *path, const void *p, size_t n)
{
	gzFile gz = gzopen(path, "wb");
	if (!gz || gzwrite(gz, p, (unsigned)n) != (int)n || gzclose(gz) != Z_OK) {
		fprintf(stderr, "%s: cannot write\n", path);
		exit(99);
	}
}

static uint8_t *
read_all(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		exit(99);
	}
	fseek(f, 0, SEEK_END);
	*n = (size_t)ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *p = xmalloc(*n);
	if (fread(p, 1, *n, f) != *n) {
		perror(path);
		exit(99);
	}
	fclose(f);
	return p;
}

static char *
mkdir_in_tmp(const char *name)
{
	char *dir = xasprintf("%s/%s", tap_tmpdir(), name);
	if (mkdir(dir, 0755) != 0) {
		perror(dir);
		exit(99);
	}
	return dir;
}

static void
put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* An IDX file image: header (magic, dims) then data; *len is set. Caller frees. */
static uint8_t *
idx_bytes(uint32_t magic, int ndim, const int *dims, const uint8_t *data, size_t ndata,
	  size_t *len)
{
	*len = 4 + 4 * (size_t)ndim + ndata;
	uint8_t *p = xmalloc(*len);
	put_be32(p, magic);
	for (int i = 0; i < ndim; i++)
		put_be32(p + 4 + 4 * i, (uint32_t)dims[i]);
	memcpy(p + 4 + 4 * ndim, data, ndata);
	return p;
}

/* A small IDX set: n images of H x W and labels. */
enum { SM_H = 4, SM_W = 5, SM_NTRAIN = 12, SM_NTEST = 6 };

static uint8_t sm_train_x[SM_NTRAIN * SM_H * SM_W], sm_test_x[SM_NTEST * SM_H * SM_W];
static uint8_t sm_train_y[SM_NTRAIN], sm_test_y[SM_NTEST];

static void
small_set_init(void)
{
	for (int i = 0; i < SM_NTRAIN * SM_H * SM_W; i++)
		sm_train_x[i] = (uint8_t)(i * 37 + 11);
	for (int i = 0; i < SM_NTEST * SM_H * SM_W; i++)
		sm_test_x[i] = (uint8_t)(i * 53 + 5);
	for (int i = 0; i < SM_NTRAIN; i++)
		sm_train_y[i] = (uint8_t)(i % 3);
	for (int i = 0; i < SM_NTEST; i++)
		sm_test_y[i] = (uint8_t)((i + 1) % 3);
}

static void
write_small_file(const char *dir, const char *base, int gz, const uint8_t *bytes, size_t n)
{
	char *path = xasprintf("%s/%s%s", dir, base, gz ? ".gz" : "");
	if (gz)
		write_gz(path, bytes, n);
	else
		write_bytes(path, bytes, n);
	free(path);
}

/* Writes the four valid files of the small set into dir (gzip'd or plain). */
static void
write_small_set(const char *dir, int gz)
{
	int dx[3] = {SM_NTRAIN, SM_H, SM_W}, dt[3] = {SM_NTEST, SM_H, SM_W};
	int ly[1] = {SM_NTRAIN}, lt[1] = {SM_NTEST};
	size_t n;
	uint8_t *b;
	b = idx_bytes(0x803, 3, dx, sm_train_x, sizeof sm_train_x, &n);
	write_small_file(dir, "train-images-idx3-ubyte", gz, b, n);
	free(b);
	b = idx_bytes(0x801, 1, ly, sm_train_y, sizeof sm_train_y, &n);
	write_small_file(dir, "train-labels-idx1-ubyte", gz, b, n);
	free(b);
	b = idx_bytes(0x803, 3, dt, sm_test_x, sizeof sm_test_x, &n);
	write_small_file(dir, "t10k-images-idx3-ubyte", gz, b, n);
	free(b);
	b = idx_bytes(0x801, 1, lt, sm_test_y, sizeof sm_test_y, &n);
	write_small_file(dir, "t10k-labels-idx1-ubyte", gz, b, n);
	free(b);
}

/* ---- checking failures ---- */

static int
contains(const char *s, const char *sub)
{
	return s && sub && strstr(s, sub) != NULL;
}

/* Loading must fail with a message containing want1 and want2 (either may be NULL). */
static void
expect_fail(const char *spec, enum data_split split, const char *want1, const char *want2,
	    const char *name)
{
	struct dataset *d = (struct dataset *)1;
	char *cause = NULL;
	int rc = dataset_load(&d, spec, split, 0, &cause);
	int ok = rc == -1 && d == NULL && cause && (!want1 || contains(cause, want1)) &&
		 (!want2 || contains(cause, want2));
	tap_ok(ok, "%s: rejected with a message naming the problem", name);
	if (!ok) {
		tap_diag("rc %d, message: %s", rc, cause ? cause : "(none)");
		tap_diag("wanted \"%s\" and \"%s\"", want1 ? want1 : "", want2 ? want2 : "");
	} else {
		tap_diag("%s", cause);
	}
	if (rc == 0)
		dataset_free(d);
	free(cause);
}

/* A copy of the valid plain small set in a new folder, with one file replaced. */
static char *
spoiled_set(const char *name, const char *base, const void *bytes, size_t n, int gz)
{
	char *dir = mkdir_in_tmp(name);
	write_small_set(dir, 0);
	char *plain = xasprintf("%s/%s", dir, base);
	remove(plain);
	free(plain);
	write_small_file(dir, base, gz, bytes, n);
	return dir;
}

/* ---- Fashion-MNIST ---- */

/* Sum of the first image's bytes, decompressed here with zlib's inflate. */
static long
first_image_byte_sum(const char *gzpath, uint32_t *magic, uint32_t *count)
{
	size_t n;
	uint8_t *comp = read_all(gzpath, &n);
	uint8_t out[16 + 784];
	z_stream zs;
	memset(&zs, 0, sizeof zs);
	if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
		exit(99);
	zs.next_in = comp;
	zs.avail_in = (uInt)(n < 65536 ? n : 65536);
	zs.next_out = out;
	zs.avail_out = sizeof out;
	int zr = inflate(&zs, Z_SYNC_FLUSH);
	inflateEnd(&zs);
	free(comp);
	if ((zr != Z_OK && zr != Z_STREAM_END) || zs.avail_out != 0)
		return -1;
	*magic = (uint32_t)out[0] << 24 | (uint32_t)out[1] << 16 | (uint32_t)out[2] << 8 | out[3];
	*count = (uint32_t)out[4] << 24 | (uint32_t)out[5] << 16 | (uint32_t)out[6] << 8 | out[7];
	long sum = 0;
	for (int i = 16; i < 16 + 784; i++)
		sum += out[i];
	return sum;
}

static void
check_histogram(const struct dataset *d, int per_class, const char *split)
{
	int hist[10] = {0}, bad = 0;
	for (int i = 0; i < d->n; i++) {
		if (d->y[i] < 0 || d->y[i] >= 10)
			bad++;
		else
			hist[d->y[i]]++;
	}
	int flat = !bad;
	for (int k = 0; k < 10; k++)
		flat &= hist[k] == per_class;
	tap_ok(flat, "fmnist %s: %d examples of each of the 10 classes", split, per_class);
	if (!flat)
		for (int k = 0; k < 10; k++)
			tap_diag("class %d: %d (bad labels %d)", k, hist[k], bad);
}

static void
test_fmnist(void)
{
	struct stat st;
	if (stat(FMNIST_DIR, &st) != 0) {
		tap_skip("no " FMNIST_DIR " (Debian package dataset-fashion-mnist)",
			 "Fashion-MNIST checks");
		return;
	}
	unsetenv("QBENCH_FMNIST_DIR");
	struct dataset *tr = NULL, *te = NULL, *lim = NULL;
	char *cause = NULL;
	double t0 = util_now();
	int rc = dataset_load(&tr, "fmnist", DATA_TRAIN, 0, &cause);
	tap_diag("full training split loaded in %.2f s", util_now() - t0);
	if (!tap_ok(rc == 0, "fmnist train loads")) {
		tap_diag("%s", cause);
		free(cause);
		return;
	}
	tap_eq_int(tr->n, 60000, "fmnist train: 60000 examples");
	tap_ok(tr->c == 1 && tr->h == 28 && tr->w == 28, "fmnist train: 1x28x28 (got %dx%dx%d)",
	       tr->c, tr->h, tr->w);
	tap_eq_int(tr->classes, 10, "fmnist train: 10 classes");
	tap_eq_str(tr->source, "fmnist:train", "fmnist train: source name");
	check_histogram(tr, 6000, "train");
	float lo = 1, hi = 0;
	size_t nval = (size_t)tr->n * 784;
	for (size_t i = 0; i < nval; i++) {
		lo = tr->x[i] < lo ? tr->x[i] : lo;
		hi = tr->x[i] > hi ? tr->x[i] : hi;
	}
	tap_ok(lo == 0.0f && hi == 1.0f, "fmnist train: pixels span [0, 1] (got [%g, %g])", lo, hi);

	uint32_t magic = 0, count = 0;
	long bsum = first_image_byte_sum(FMNIST_DIR "/train-images-idx3-ubyte.gz", &magic, &count);
	tap_ok(bsum > 0 && magic == 0x803 && count == 60000,
	       "raw file: magic 0x803, 60000 images (got 0x%x, %u)", magic, count);
	double want = 0, got = 0;
	for (int i = 0; i < 784; i++)
		got += tr->x[i];
	want = (double)bsum / 255.0;
	tap_near(got, want, 1e-4, "first image: pixel sum matches the raw bytes / 255 (%ld)", bsum);

	rc = dataset_load(&te, "fmnist", DATA_TEST, 0, &cause);
	if (tap_ok(rc == 0, "fmnist test loads")) {
		tap_eq_int(te->n, 10000, "fmnist test: 10000 examples");
		tap_eq_int(te->classes, 10, "fmnist test: 10 classes");
		tap_eq_str(te->source, "fmnist:test", "fmnist test: source name");
		check_histogram(te, 1000, "test");
	} else {
		tap_diag("%s", cause);
	}

	rc = dataset_load(&lim, "fmnist", DATA_TRAIN, 100, &cause);
	if (tap_ok(rc == 0, "fmnist train with limit 100 loads")) {
		tap_eq_int(lim->n, 100, "limit 100 keeps 100 examples");
		tap_eq_int(lim->classes, 10, "limit keeps 10 classes");
		tap_same_floats(lim->x, tr->x, 100 * 784, "limit keeps the first images");
		int same = 1;
		for (int i = 0; i < 100; i++)
			same &= lim->y[i] == tr->y[i];
		tap_ok(same, "limit keeps the first labels");
	} else {
		tap_diag("%s", cause);
	}

	/* Gather speed without augmentation: random batches of 256. */
	enum { GB = 256 };
	int *idx = xmalloc((size_t)tr->n * sizeof *idx);
	for (int i = 0; i < tr->n; i++)
		idx[i] = i;
	struct rng r;
	rng_seed(&r, 3);
	rng_shuffle(&r, idx, tr->n);
	float *xb = xalloc_floats((size_t)GB * 784);
	int32_t yb[GB];
	double best = 1e9;
	for (int rep = 0; rep < 3; rep++) {
		double t = util_now();
		for (int b = 0; b + GB <= tr->n; b += GB)
			dataset_gather(tr, idx + b, GB, xb, yb, 0, 0, NULL);
		t = util_now() - t;
		best = t < best ? t : best;
	}
	tap_diag("gather without augmentation: %.0f ns per 28x28 image",
		 1e9 * best / (tr->n / GB * GB));
	double ta = util_now();
	for (int b = 0; b + GB <= tr->n; b += GB)
		dataset_gather(tr, idx + b, GB, xb, yb, 4, 1, &r);
	ta = util_now() - ta;
	tap_diag("gather with pad 4 and flip: %.0f ns per 28x28 image", 1e9 * ta / (tr->n / GB * GB));
	xfree_aligned(xb);
	free(idx);
	free(cause);
	dataset_free(tr);
	dataset_free(te);
	dataset_free(lim);
}

/* ---- IDX files written here ---- */

static void
check_small(const struct dataset *d, int split, int limit, const char *name)
{
	const uint8_t *xs = split == DATA_TRAIN ? sm_train_x : sm_test_x;
	const uint8_t *ys = split == DATA_TRAIN ? sm_train_y : sm_test_y;
	int n = split == DATA_TRAIN ? SM_NTRAIN : SM_NTEST;
	if (limit > 0 && limit < n)
		n = limit;
	tap_ok(d->n == n && d->c == 1 && d->h == SM_H && d->w == SM_W && d->classes == 3,
	       "%s: n %d, 1x%dx%d, 3 classes (got n %d, %dx%dx%d, %d classes)", name, n, SM_H,
	       SM_W, d->n, d->c, d->h, d->w, d->classes);
	if (d->n != n || d->c != 1 || d->h != SM_H || d->w != SM_W)
		return;
	float *want = xmalloc((size_t)n * SM_H * SM_W * sizeof *want);
	for (int i = 0; i < n * SM_H * SM_W; i++)
		want[i] = (float)xs[i] / 255.0f;
	tap_same_floats(d->x, want, (size_t)n * SM_H * SM_W, "%s: pixels are bytes / 255", name);
	int same = 1;
	for (int i = 0; i < n; i++)
		same &= d->y[i] == ys[i];
	tap_ok(same, "%s: labels", name);
	free(want);
}

static void
test_idx_valid(void)
{
	for (int gz = 0; gz < 2; gz++) {
		char *dir = mkdir_in_tmp(gz ? "valid-gz" : "valid-plain");
		write_small_set(dir, gz);
		char *spec = xasprintf("idx:%s", dir);
		char name[128];
		for (int split = 0; split < 2; split++) {
			for (int limit = 0; limit <= 4; limit += 4) {
				struct dataset *d = NULL;
				char *cause = NULL;
				TAP_NAME(name, "idx %s %s limit %d", gz ? "gzip" : "plain",
					 split ? "test" : "train", limit);
				if (tap_ok(dataset_load(&d, spec, split, limit, &cause) == 0,
					   "%s loads", name))
					check_small(d, split, limit, name);
				else
					tap_diag("%s", cause);
				free(cause);
				dataset_free(d);
			}
		}
		free(spec);
		free(dir);
	}
}

static void
test_idx_bad(void)
{
	int dx[3] = {SM_NTRAIN, SM_H, SM_W};
	size_t n;
	uint8_t *good = idx_bytes(0x803, 3, dx, sm_train_x, sizeof sm_train_x, &n);
	const char *imgs = "train-images-idx3-ubyte";
	char *dir, *spec, *path;

#define BAD_CASE(NAME, BASE, BYTES, LEN, GZ, SPLIT, WANT)                                        \
	do {                                                                                     \
		dir = spoiled_set(NAME, BASE, BYTES, LEN, GZ);                                   \
		spec = xasprintf("idx:%s", dir);                                                 \
		path = xasprintf("%s/%s%s", dir, BASE, (GZ) ? ".gz" : "");                       \
		expect_fail(spec, SPLIT, path, WANT, NAME);                                      \
		free(spec);                                                                      \
		free(path);                                                                      \
		free(dir);                                                                       \
	} while (0)

	/* A gzip stream cut in half: zlib reports the early end. */
	char *tmpgz = xasprintf("%s/whole.gz", tap_tmpdir());
	write_gz(tmpgz, good, n);
	size_t gzn;
	uint8_t *gzb = read_all(tmpgz, &gzn);
	BAD_CASE("truncated-gzip", imgs, gzb, gzn / 2, 0, DATA_TRAIN, "truncated or corrupt gzip");
	/* A flipped byte inside the deflate data. */
	uint8_t *gzc = xmalloc(gzn);
	memcpy(gzc, gzb, gzn);
	gzc[gzn / 2] ^= 0x5a;
	gzc[gzn / 2 + 1] ^= 0xa5;
	BAD_CASE("corrupt-gzip", imgs, gzc, gzn, 0, DATA_TRAIN, "corrupt gzip");
	/* The CRC in the gzip trailer no longer matches. */
	memcpy(gzc, gzb, gzn);
	gzc[gzn - 8] ^= 0xff;
	BAD_CASE("gzip-crc", imgs, gzc, gzn, 0, DATA_TRAIN, "corrupt gzip");
	free(gzc);
	free(gzb);
	free(tmpgz);

	BAD_CASE("truncated-raw", imgs, good, n - 7, 0, DATA_TRAIN, "truncated: the header promises");
	BAD_CASE("truncated-raw-gz", imgs, good, n - 7, 1, DATA_TRAIN,
		 "truncated: the header promises");
	BAD_CASE("truncated-header", imgs, good, 9, 0, DATA_TRAIN, "truncated header");

	uint8_t *bad = xmalloc(n + 5);
	memcpy(bad, good, n);
	memset(bad + n, 0xee, 5);
	BAD_CASE("trailing-garbage", imgs, bad, n + 5, 0, DATA_TRAIN, "trailing garbage");
	BAD_CASE("trailing-garbage-gz", imgs, bad, n + 5, 1, DATA_TRAIN, "trailing garbage");

	memcpy(bad, good, n);
	put_be32(bad, 0x12345803);
	BAD_CASE("bad-magic", imgs, bad, n, 0, DATA_TRAIN, "bad magic 0x12345803");
	memcpy(bad, good, n);
	put_be32(bad, 0x00000d03);
	BAD_CASE("bad-type", imgs, bad, n, 1, DATA_TRAIN, "not unsigned byte");
	memcpy(bad, good, n);
	put_be32(bad, 0x00000802);
	BAD_CASE("wrong-dimension-count", imgs, bad, n, 0, DATA_TRAIN,
		 "2 dimensions, expected 3");
	memcpy(bad, good, n);
	put_be32(bad + 8, 0);
	BAD_CASE("zero-dimension", imgs, bad, n, 0, DATA_TRAIN, "bad dimension 1: 0");

	memcpy(bad, good, n);
	put_be32(bad + 8, 65536);
	put_be32(bad + 12, 65536);
	BAD_CASE("huge-image", imgs, bad, n, 0, DATA_TRAIN, "image size 65536x65536 too large");
	free(bad);
	/* Two billion labels promised, 12 present: an error, not a 2 GB allocation. */
	uint8_t *many = idx_bytes(0x801, 1, (int[]){2000000000}, sm_train_y, SM_NTRAIN, &n);
	BAD_CASE("huge-count", "train-labels-idx1-ubyte", many, n, 1, DATA_TRAIN,
		 "promises 2000000000 labels (2000000000 bytes), only 12 present");
	free(many);

	BAD_CASE("empty-file", imgs, "", 0, 0, DATA_TRAIN, "empty file");
	BAD_CASE("empty-file-gz", imgs, "", 0, 1, DATA_TRAIN, "empty file");

	struct rng r;
	rng_seed(&r, 99);
	uint8_t junk[300];
	for (size_t i = 0; i < sizeof junk; i++)
		junk[i] = (uint8_t)rng_next(&r);
	junk[0] = 0x7f;
	BAD_CASE("garbage", imgs, junk, sizeof junk, 0, DATA_TRAIN, "bad magic");
	junk[0] = 0x1f; /* gzip magic, then garbage */
	junk[1] = 0x8b;
	junk[2] = 8;
	junk[3] = 0;
	BAD_CASE("garbage-gzip-header", imgs, junk, sizeof junk, 0, DATA_TRAIN, "gzip");

	/* Labels: one fewer than images; an out-of-range test label. */
	uint8_t *lb = idx_bytes(0x801, 1, (int[]){SM_NTRAIN - 1}, sm_train_y, SM_NTRAIN - 1, &n);
	dir = spoiled_set("count-mismatch", "train-labels-idx1-ubyte", lb, n, 0);
	spec = xasprintf("idx:%s", dir);
	path = xasprintf("%s/train-labels-idx1-ubyte", dir);
	char *ipath = xasprintf("%s/train-images-idx3-ubyte", dir);
	expect_fail(spec, DATA_TRAIN, path, "count mismatch", "count-mismatch (labels file)");
	expect_fail(spec, DATA_TRAIN, ipath, "12 images but", "count-mismatch (images file)");
	free(ipath);
	free(path);
	free(spec);
	free(dir);
	free(lb);

	uint8_t ty[SM_NTEST];
	memcpy(ty, sm_test_y, sizeof ty);
	ty[4] = 7;
	lb = idx_bytes(0x801, 1, (int[]){SM_NTEST}, ty, SM_NTEST, &n);
	BAD_CASE("label-out-of-range", "t10k-labels-idx1-ubyte", lb, n, 0, DATA_TEST,
		 "label 7 at index 4 is out of range: 3 classes");
	lb[8 + 4] = 10; /* label 4, after the 8-byte header */
	/* fmnist has 10 classes whatever its training labels say. */
	dir = spoiled_set("fmnist-label-10", "t10k-labels-idx1-ubyte", lb, n, 1);
	setenv("QBENCH_FMNIST_DIR", dir, 1);
	path = xasprintf("%s/t10k-labels-idx1-ubyte", dir);
	expect_fail("fmnist", DATA_TEST, path, "label 10 at index 4 is out of range: 10 classes",
		    "fmnist label out of range");
	free(path);
	free(dir);
	free(lb);

	/* Missing files. */
	dir = mkdir_in_tmp("empty-dir");
	spec = xasprintf("idx:%s", dir);
	path = xasprintf("%s/train-labels-idx1-ubyte", dir);
	expect_fail(spec, DATA_TRAIN, path, "no such file", "missing idx files");
	setenv("QBENCH_FMNIST_DIR", dir, 1);
	expect_fail("fmnist", DATA_TRAIN, path, "dataset-fashion-mnist",
		    "missing fmnist names the Debian package");
	unsetenv("QBENCH_FMNIST_DIR");
	free(path);
	free(spec);
	free(dir);
	free(good);
#undef BAD_CASE
}

static void
test_unknown_source(void)
{
	expect_fail("fminst", DATA_TRAIN, "unknown dataset 'fminst'", "did you mean 'fmnist'",
		    "misspelt fmnist");
	expect_fail("idz:/data", DATA_TRAIN, "unknown dataset", "did you mean 'idx:/data'",
		    "misspelt idx:");
	expect_fail("hdf5:/a.h5", DATA_TRAIN, "unknown dataset", "h5:FILE", "unknown prefix");
	expect_fail("idx:", DATA_TRAIN, "names no folder", NULL, "idx: without a folder");
}

/* ---- HDF5 datasets ---- */

/* Writes dataset name of rank `rank` and element type `type` from buf. */
static void
h5_put(hid_t file, const char *name, hid_t type, int rank, const hsize_t *dims, const void *buf)
{
	hid_t space = H5Screate_simple(rank, dims, NULL);
	hid_t ds = H5Dcreate2(file, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	if (ds < 0 || H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
		fprintf(stderr, "cannot write %s\n", name);
		exit(99);
	}
	H5Dclose(ds);
	H5Sclose(space);
}

enum { HN = 12, HC = 2, HH = 3, HW = 4, HT = 5 };

/* Element types of the test files (HDF5's type ids are not constants). */
enum h5_elem { E_U8, E_I16, E_I32, E_I64, E_F32, E_F64 };

/* What goes into a test HDF5 file. */
struct h5_spec {
	int x_rank;	  /* 3 (N,H,W), 4 (N,C,H,W), or 2 (bad) */
	enum h5_elem x_type; /* E_U8, E_F32, E_F64, E_I16 (bad) */
	int n_y;	  /* labels in y (HN normally) */
	enum h5_elem y_type; /* E_I32, E_I64, E_F32 (bad) */
	int with_x;
	int with_y;
	int with_x_test;
	int with_y_test;
	int neg_label;	  /* y[3] = -2 */
	int test_label;	  /* y_test[1] = this when >= 0 */
	int nan_pixel;	  /* x[5] = NaN (float types) */
};

static uint8_t hx8[HN * HC * HH * HW];
static double hxf[HN * HC * HH * HW];
static long long hy[HN];
static double hxt[HT * HC * HH * HW];
static long long hyt[HT];

static void
h5_values_init(void)
{
	for (int i = 0; i < HN * HC * HH * HW; i++) {
		hx8[i] = (uint8_t)(i * 29 + 3);
		hxf[i] = 0.25 + 0.001 * i;
	}
	for (int i = 0; i < HN; i++)
		hy[i] = (i * 5) % 4; /* max over any 10-prefix is 3: 4 classes */
	for (int i = 0; i < HT * HC * HH * HW; i++)
		hxt[i] = -1.0 + 0.01 * i;
	for (int i = 0; i < HT; i++)
		hyt[i] = i % 4;
}

static char *
h5_make(const char *name, const struct h5_spec *s)
{
	char *path = xasprintf("%s/%s.h5", tap_tmpdir(), name);
	hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	if (file < 0)
		exit(99);
	int c = s->x_rank == 4 ? HC : 1;
	int h = s->x_rank == 4 ? HH : HC * HH; /* rank 3 folds C into H */
	hsize_t dx[4], dt[4];
	if (s->x_rank == 4) {
		hsize_t a[4] = {HN, (hsize_t)c, HH, HW}, b[4] = {HT, (hsize_t)c, HH, HW};
		memcpy(dx, a, sizeof a);
		memcpy(dt, b, sizeof b);
	} else if (s->x_rank == 3) {
		hsize_t a[3] = {HN, (hsize_t)h, HW}, b[3] = {HT, (hsize_t)h, HW};
		memcpy(dx, a, sizeof a);
		memcpy(dt, b, sizeof b);
	} else {
		hsize_t a[2] = {HN, HC * HH * HW}, b[2] = {HT, HC * HH * HW};
		memcpy(dx, a, sizeof a);
		memcpy(dt, b, sizeof b);
	}
	double xf[HN * HC * HH * HW];
	memcpy(xf, hxf, sizeof xf);
	if (s->nan_pixel)
		xf[5] = NAN;
	if (s->with_x) {
		if (s->x_type == E_U8) {
			h5_put(file, "x", H5T_NATIVE_UCHAR, s->x_rank, dx, hx8);
		} else if (s->x_type == E_I16) {
			short xs[HN * HC * HH * HW];
			for (int i = 0; i < HN * HC * HH * HW; i++)
				xs[i] = (short)i;
			h5_put(file, "x", H5T_NATIVE_SHORT, s->x_rank, dx, xs);
		} else if (s->x_type == E_F32) {
			float xs[HN * HC * HH * HW];
			for (int i = 0; i < HN * HC * HH * HW; i++)
				xs[i] = (float)xf[i];
			h5_put(file, "x", H5T_NATIVE_FLOAT, s->x_rank, dx, xs);
		} else {
			h5_put(file, "x", H5T_NATIVE_DOUBLE, s->x_rank, dx, xf);
		}
	}
	if (s->with_y) {
		long long y[HN];
		memcpy(y, hy, sizeof y);
		if (s->neg_label)
			y[3] = -2;
		hsize_t dy[1] = {(hsize_t)s->n_y};
		if (s->y_type == E_F32) {
			float yf[HN];
			for (int i = 0; i < HN; i++)
				yf[i] = (float)y[i];
			h5_put(file, "y", H5T_NATIVE_FLOAT, 1, dy, yf);
		} else if (s->y_type == E_I32) {
			int yi[HN];
			for (int i = 0; i < HN; i++)
				yi[i] = (int)y[i];
			h5_put(file, "y", H5T_NATIVE_INT, 1, dy, yi);
		} else {
			h5_put(file, "y", H5T_NATIVE_LLONG, 1, dy, y);
		}
	}
	if (s->with_x_test)
		h5_put(file, "x_test", H5T_NATIVE_DOUBLE, s->x_rank, dt, hxt);
	if (s->with_y_test) {
		long long yt[HT];
		memcpy(yt, hyt, sizeof yt);
		if (s->test_label >= 0)
			yt[1] = s->test_label;
		hsize_t dy[1] = {HT};
		h5_put(file, "y_test", H5T_NATIVE_LLONG, 1, dy, yt);
	}
	H5Fclose(file);
	return path;
}

static const struct h5_spec h5_good = {
	.x_rank = 4, .x_type = E_U8, .n_y = HN, .y_type = E_I64,
	.with_x = 1, .with_y = 1, .test_label = -1,
};

static void
test_h5_valid(void)
{
	char name[128];
	const int chw = HC * HH * HW;
	/* uint8, rank 4, no x_test: train = first 10, test = last 12/6 = 2. */
	struct h5_spec s = h5_good;
	char *path = h5_make("u8", &s);
	char *spec = xasprintf("h5:%s", path);
	for (int split = 0; split < 2; split++) {
		for (int limit = 0; limit <= 1; limit++) {
			struct dataset *d = NULL;
			char *cause = NULL;
			TAP_NAME(name, "h5 uint8 %s%s", split ? "test" : "train",
				 limit ? " limit 1" : "");
			int start = split ? HN - HN / 6 : 0;
			int n = split ? HN / 6 : HN - HN / 6;
			n = limit ? 1 : n;
			if (!tap_ok(dataset_load(&d, spec, split, limit, &cause) == 0, "%s loads", name)) {
				tap_diag("%s", cause);
				free(cause);
				continue;
			}
			tap_ok(d->n == n && d->c == HC && d->h == HH && d->w == HW && d->classes == 4,
			       "%s: n %d, %dx%dx%d, 4 classes (got n %d, %dx%dx%d, %d)", name, n, HC,
			       HH, HW, d->n, d->c, d->h, d->w, d->classes);
			float want[HN * HC * HH * HW];
			for (int i = 0; i < n * chw; i++)
				want[i] = (float)hx8[start * chw + i] / 255.0f;
			if (d->n == n && d->c * d->h * d->w == chw)
				tap_same_floats(d->x, want, (size_t)n * chw, "%s: pixels / 255", name);
			int same = d->n == n;
			for (int i = 0; same && i < n; i++)
				same &= d->y[i] == hy[start + i];
			tap_ok(same, "%s: labels", name);
			dataset_free(d);
		}
	}
	free(spec);
	free(path);

	/* float32 and float64, rank 3, int labels; float64 rank 4 with x_test. */
	for (int t = 0; t < 3; t++) {
		s = h5_good;
		s.x_type = t == 0 ? E_F32 : E_F64;
		s.x_rank = t == 2 ? 4 : 3;
		s.y_type = E_I32;
		s.with_x_test = s.with_y_test = t == 2;
		TAP_NAME(name, "h5 %s rank %d%s", t == 0 ? "float32" : "float64", s.x_rank,
			 t == 2 ? " with x_test" : "");
		path = h5_make(t == 0 ? "f32" : t == 1 ? "f64" : "f64-test", &s);
		spec = xasprintf("h5:%s", path);
		struct dataset *tr = NULL, *te = NULL;
		char *cause = NULL;
		int ok = dataset_load(&tr, spec, DATA_TRAIN, 0, &cause) == 0 &&
			 dataset_load(&te, spec, DATA_TEST, 0, &cause) == 0;
		if (tap_ok(ok, "%s: both splits load", name)) {
			int ntr = t == 2 ? HN : HN - HN / 6;
			int nte = t == 2 ? HT : HN / 6;
			int c = t == 2 ? HC : 1, h = t == 2 ? HH : HC * HH;
			tap_ok(tr->n == ntr && te->n == nte && tr->c == c && tr->h == h &&
				       tr->w == HW && te->c == c && te->h == h,
			       "%s: splits of %d and %d, %dx%dx%d (got %d and %d, %dx%dx%d)", name,
			       ntr, nte, c, h, HW, tr->n, te->n, tr->c, tr->h, tr->w);
			float wtr[HN * HC * HH * HW], wte[HN * HC * HH * HW];
			for (int i = 0; i < ntr * chw; i++)
				wtr[i] = (float)hxf[i];
			for (int i = 0; i < nte * chw; i++)
				wte[i] = t == 2 ? (float)hxt[i] : (float)hxf[ntr * chw + i];
			tap_same_floats(tr->x, wtr, (size_t)ntr * chw, "%s: train values as stored",
					name);
			tap_same_floats(te->x, wte, (size_t)nte * chw, "%s: test values as stored",
					name);
			int same = 1;
			for (int i = 0; i < nte; i++)
				same &= te->y[i] == (t == 2 ? hyt[i] : hy[ntr + i]);
			tap_ok(same && te->classes == 4 && tr->classes == 4,
			       "%s: test labels, 4 classes", name);
		} else {
			tap_diag("%s", cause);
		}
		free(cause);
		dataset_free(tr);
		dataset_free(te);
		free(spec);
		free(path);
	}
}

static void
h5_bad(const char *name, const struct h5_spec *s, enum data_split split, const char *want)
{
	char *path = h5_make(name, s);
	char *spec = xasprintf("h5:%s", path);
	expect_fail(spec, split, path, want, name);
	free(spec);
	free(path);
}

static void
test_h5_bad(void)
{
	struct h5_spec s;
	s = h5_good;
	s.with_y = 0;
	h5_bad("h5-missing-y", &s, DATA_TRAIN, "missing dataset 'y'");
	s = h5_good;
	s.with_x = 0;
	h5_bad("h5-missing-x", &s, DATA_TRAIN, "missing dataset 'x'");
	s = h5_good;
	s.x_rank = 2;
	h5_bad("h5-rank-2", &s, DATA_TRAIN, "'x' has rank 2, expected 3 to 4");
	s = h5_good;
	s.n_y = HN - 1;
	h5_bad("h5-count-mismatch", &s, DATA_TRAIN, "'x' has 12 examples but 'y' has 11 labels");
	s = h5_good;
	s.y_type = E_F32;
	h5_bad("h5-float-labels", &s, DATA_TRAIN, "'y' must hold integer labels");
	s = h5_good;
	s.neg_label = 1;
	h5_bad("h5-negative-label", &s, DATA_TEST, "y[3] = -2: labels must not be negative");
	s = h5_good;
	s.x_type = E_I16;
	h5_bad("h5-int16-pixels", &s, DATA_TRAIN, "'x' must be uint8 or floating point");
	s = h5_good;
	s.x_type = E_F32;
	s.nan_pixel = 1;
	h5_bad("h5-nan-pixel", &s, DATA_TRAIN, "non-finite value");
	s = h5_good;
	s.x_type = E_F64;
	s.with_x_test = 1;
	h5_bad("h5-x-test-alone", &s, DATA_TRAIN, "missing dataset 'y_test'");
	s.with_y_test = 1;
	s.test_label = 9;
	h5_bad("h5-test-label-out-of-range", &s, DATA_TEST,
	       "y_test[1] = 9 is out of range: 4 classes");

	/* A billion 8x8 images declared (never written: HDF5 allocates lazily). */
	char *huge = xasprintf("%s/h5-huge.h5", tap_tmpdir());
	hid_t file = H5Fcreate(huge, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	hsize_t hd[3] = {1u << 30, 8, 8};
	hid_t sx = H5Screate_simple(3, hd, NULL), sy = H5Screate_simple(1, hd, NULL);
	hid_t dxs = H5Dcreate2(file, "x", H5T_NATIVE_UCHAR, sx, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	hid_t dys = H5Dcreate2(file, "y", H5T_NATIVE_UCHAR, sy, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	H5Dclose(dxs);
	H5Dclose(dys);
	H5Sclose(sx);
	H5Sclose(sy);
	H5Fclose(file);
	char *spec = xasprintf("h5:%s", huge);
	expect_fail(spec, DATA_TRAIN, huge, "more than this machine's memory", "h5: huge shape");
	free(spec);
	free(huge);

	char *text = xasprintf("%s/not-hdf5.h5", tap_tmpdir());
	write_bytes(text, "x,y\n1,2\n", 8);
	spec = xasprintf("h5:%s", text);
	expect_fail(spec, DATA_TRAIN, text, "not an HDF5 file", "h5: a text file");
	free(spec);
	free(text);
	expect_fail("h5:/nonexistent/data.h5", DATA_TRAIN, "/nonexistent/data.h5",
		    "No such file", "h5: a missing file");
}

/* ---- augmentation ---- */

enum { AC = 2, AH = 6, AW = 7, AN = 5 };

/* A dataset of AN distinct, asymmetric images with nonzero pixels. */
static struct dataset *
aug_dataset(void)
{
	struct dataset *d = xcalloc(1, sizeof *d);
	d->source = xstrdup("test");
	d->n = AN;
	d->c = AC;
	d->h = AH;
	d->w = AW;
	d->classes = AN;
	d->x = xalloc_floats((size_t)AN * AC * AH * AW);
	d->y = xmalloc(AN * sizeof *d->y);
	for (int i = 0; i < AN * AC * AH * AW; i++)
		d->x[i] = 1.0f + (float)i;
	for (int i = 0; i < AN; i++)
		d->y[i] = i;
	return d;
}

/* The reference: src shifted by (dy, dx) with zero fill, then mirrored if flip. */
static void
shifted(float *out, const float *src, int dy, int dx, int flip)
{
	for (int c = 0; c < AC; c++)
		for (int r = 0; r < AH; r++)
			for (int col = 0; col < AW; col++) {
				int sc = (flip ? AW - 1 - col : col) + dx, sr = r + dy;
				out[(c * AH + r) * AW + col] =
					sr >= 0 && sr < AH && sc >= 0 && sc < AW
						? src[(c * AH + sr) * AW + sc]
						: 0.0f;
			}
}

/* Finds the (dy, dx, flip) within pad that explains out; returns 0 if none. */
static int
explain(const float *out, const float *src, int pad, int *dy, int *dx, int *flip)
{
	float ref[AC * AH * AW];
	for (int f = 0; f < 2; f++)
		for (int y = -pad; y <= pad; y++)
			for (int x = -pad; x <= pad; x++) {
				shifted(ref, src, y, x, f);
				if (memcmp(ref, out, sizeof ref) == 0) {
					*dy = y;
					*dx = x;
					*flip = f;
					return 1;
				}
			}
	return 0;
}

static void
test_augment(void)
{
	struct dataset *d = aug_dataset();
	const int chw = AC * AH * AW;
	enum { B = 64 };
	int idx[B];
	struct rng r;
	rng_seed(&r, 5);
	for (int b = 0; b < B; b++)
		idx[b] = (int)rng_below(&r, AN);
	float *x = xalloc_floats((size_t)B * chw), *want = xalloc_floats((size_t)B * chw);
	int32_t y[B];

	dataset_gather(d, idx, B, x, y, 0, 0, NULL);
	for (int b = 0; b < B; b++)
		memcpy(want + b * chw, d->x + idx[b] * chw, chw * sizeof *want);
	tap_same_floats(x, want, (size_t)B * chw, "pad 0, no flip: an exact copy");
	int same = 1;
	for (int b = 0; b < B; b++)
		same &= y[b] == idx[b];
	tap_ok(same, "gather copies the labels");

	/* Flip only: each output is the image or its mirror; both occur. */
	int flips = 0, okf = 1;
	dataset_gather(d, idx, B, x, y, 0, 1, &r);
	for (int b = 0; b < B; b++) {
		int dy, dx, f;
		okf &= explain(x + b * chw, d->x + idx[b] * chw, 0, &dy, &dx, &f);
		flips += f;
	}
	tap_ok(okf && flips > 10 && flips < B - 10,
	       "flip: every output is the image or its mirror, both drawn (%d of %d flipped)",
	       flips, B);

	/* Flip twice: a mirrored image, mirrored again, is the original. */
	struct dataset *m = aug_dataset();
	int one = 2, got = 0, tries = 0;
	float once[AC * AH * AW], twice[AC * AH * AW];
	int32_t yy;
	int dy, dx, f = 0;
	while (!got && tries++ < 64) {
		dataset_gather(d, &one, 1, once, &yy, 0, 1, &r);
		got = explain(once, d->x + 2 * chw, 0, &dy, &dx, &f) && f;
	}
	memcpy(m->x + 2 * chw, once, sizeof once);
	got = 0;
	while (!got && tries++ < 128) {
		dataset_gather(m, &one, 1, twice, &yy, 0, 1, &r);
		got = memcmp(twice, once, sizeof once) != 0;
	}
	tap_same_floats(twice, d->x + 2 * chw, (size_t)chw, "flipping twice gives the original");
	dataset_free(m);

	/* Crop: same size, content shifted by at most pad with zeros shifted in. */
	for (int pad = 1; pad <= 3; pad += 2) {
		int seen[7][7][2] = {{{0}}}, okc = 1;
		for (int rep = 0; rep < 16; rep++) {
			dataset_gather(d, idx, B, x, y, pad, 1, &r);
			for (int b = 0; b < B; b++) {
				if (!explain(x + b * chw, d->x + idx[b] * chw, pad, &dy, &dx, &f)) {
					okc = 0;
					continue;
				}
				seen[dy + pad][dx + pad][f]++;
			}
		}
		int all = 1;
		for (int i = 0; i <= 2 * pad; i++)
			for (int j = 0; j <= 2 * pad; j++)
				all &= seen[i][j][0] > 0 && seen[i][j][1] > 0;
		tap_ok(okc, "pad %d: every output is the image shifted by at most %d (zeros in)", pad,
		       pad);
		tap_ok(all, "pad %d: every shift and flip is drawn", pad);
	}

	/* Same seed, same batch. */
	struct rng r1, r2;
	rng_seed(&r1, 77);
	rng_seed(&r2, 77);
	dataset_gather(d, idx, B, x, y, 2, 1, &r1);
	dataset_gather(d, idx, B, want, y, 2, 1, &r2);
	tap_same_floats(x, want, (size_t)B * chw, "augmentation is reproducible from the seed");

	/* A pad larger than the image: shifted (possibly all zeros), never out of bounds. */
	int okbig = 1;
	for (int rep = 0; rep < 4; rep++) {
		dataset_gather(d, idx, B, x, y, AW + 3, 1, &r);
		for (int b = 0; b < B; b++)
			okbig &= explain(x + b * chw, d->x + idx[b] * chw, AW + 3, &dy, &dx, &f);
	}
	tap_ok(okbig, "pad %d (larger than the image): every output is a shifted image", AW + 3);
	xfree_aligned(x);
	xfree_aligned(want);
	dataset_free(d);
}

/* Open HDF5 files, groups, datasets, named datatypes and attributes, in all files. */
static long
h5_open_ids(void)
{
	return (long)H5Fget_obj_count((hid_t)H5F_OBJ_ALL, H5F_OBJ_ALL);
}

int
main(void)
{
	H5open();
	long ids = h5_open_ids();
	small_set_init();
	h5_values_init();
	test_fmnist();
	test_idx_valid();
	test_idx_bad();
	test_unknown_source();
	test_h5_valid();
	test_h5_bad();
	test_augment();
	tap_eq_int(h5_open_ids(), ids, "every HDF5 identifier was closed");
	return tap_done();
}
