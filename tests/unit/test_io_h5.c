/*
 * test_io_h5: model files round-trip bit-identically for every zoo
 * architecture, are written atomically, every kind of bad file is rejected
 * with a message naming the path and the object, and h5py reads and writes
 * them (when $PYTHON3 has h5py and numpy; skipped otherwise).
 */
#include <fcntl.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/io_h5.h"
#include "engine/model.h"
#include "engine/util.h"
#include "tests/unit/tap.h"

/* ---- helpers ---- */

static int
exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

static void
copy_file(const char *src, const char *dst, double fraction)
{
	FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
	if (!in || !out) {
		perror(in ? dst : src);
		exit(99);
	}
	fseek(in, 0, SEEK_END);
	long n = ftell(in);
	fseek(in, 0, SEEK_SET);
	long keep = (long)((double)n * fraction);
	char *buf = xmalloc((size_t)n);
	if (fread(buf, 1, (size_t)n, in) != (size_t)n ||
	    fwrite(buf, 1, (size_t)keep, out) != (size_t)keep) {
		perror(src);
		exit(99);
	}
	free(buf);
	fclose(in);
	if (fclose(out) != 0)
		exit(99);
}

static char *
tmp_path(const char *name)
{
	return xasprintf("%s/%s", tap_tmpdir(), name);
}

/* Builds arch for a shape it accepts (1x28x28, else 3x32x32), 10 classes. */
static struct model *
build(const char *arch, uint64_t seed)
{
	char *cause = NULL;
	struct model *m = model_new(arch, 1, 28, 28, 10, seed, &cause);
	if (!m) {
		free(cause);
		cause = NULL;
		m = model_new(arch, 3, 32, 32, 10, seed, &cause);
	}
	if (!m) {
		tap_diag("cannot build %s: %s", arch, cause);
		free(cause);
	}
	return m;
}

/* Do a and b have the same architecture and bit-identical tensors? Reports why not. */
static int
same_model(const struct model *a, const struct model *b)
{
	int ca, ha, wa, cb, hb, wb;
	model_input_shape(a, &ca, &ha, &wa);
	model_input_shape(b, &cb, &hb, &wb);
	if (strcmp(model_arch(a), model_arch(b)) != 0 || model_classes(a) != model_classes(b) ||
	    ca != cb || ha != hb || wa != wb || model_tensor_count(a) != model_tensor_count(b)) {
		tap_diag("architecture differs: %s %dx%dx%d %d classes vs %s %dx%dx%d %d classes",
			 model_arch(a), ca, ha, wa, model_classes(a), model_arch(b), cb, hb, wb,
			 model_classes(b));
		return 0;
	}
	for (int i = 0; i < model_tensor_count(a); i++) {
		const struct model_tensor *ta = model_tensor_at(a, i), *tb = model_tensor_at(b, i);
		if (ta->size != tb->size || memcmp(ta->data, tb->data, ta->size * sizeof(float)) != 0) {
			size_t k = 0;
			while (k < ta->size && k < tb->size && memcmp(&ta->data[k], &tb->data[k], 4) == 0)
				k++;
			tap_diag("tensor %s/%s differs at [%zu] of %zu: %.9g vs %.9g", ta->group, ta->name,
				 k, ta->size, k < ta->size ? ta->data[k] : 0.0,
				 k < tb->size ? tb->data[k] : 0.0);
			return 0;
		}
	}
	return 1;
}

/* Loading must fail with a message containing the path and want1, want2 (if not NULL). */
static void
expect_fail(const char *path, const char *want1, const char *want2, const char *name)
{
	struct model *m = (struct model *)1;
	char *cause = NULL;
	int rc = io_h5_load_model(&m, path, &cause);
	int ok = rc == -1 && m == NULL && cause && strstr(cause, path) &&
		 (!want1 || strstr(cause, want1)) && (!want2 || strstr(cause, want2));
	tap_ok(ok, "%s: rejected, naming the path and the problem", name);
	if (!ok) {
		tap_diag("rc %d, message: %s", rc, cause ? cause : "(none)");
		tap_diag("wanted \"%s\" and \"%s\"", want1 ? want1 : "", want2 ? want2 : "");
	} else {
		tap_diag("%s", cause);
	}
	if (rc == 0)
		model_free(m);
	free(cause);
}

/* ---- editing files with the C API, as another program might ---- */

static hid_t
open_rw(const char *path)
{
	hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
	if (f < 0) {
		fprintf(stderr, "%s: cannot open for writing\n", path);
		exit(99);
	}
	return f;
}

static void
set_str_attr(const char *path, const char *name, const char *value)
{
	hid_t f = open_rw(path);
	if (H5Aexists(f, name) > 0)
		H5Adelete(f, name);
	hid_t t = H5Tcopy(H5T_C_S1), s = H5Screate(H5S_SCALAR);
	H5Tset_size(t, strlen(value)); /* fixed length, as numpy.bytes_ would be */
	hid_t a = H5Acreate2(f, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
	if (a < 0 || H5Awrite(a, t, value) < 0)
		exit(99);
	H5Aclose(a);
	H5Sclose(s);
	H5Tclose(t);
	H5Fclose(f);
}

static void
set_int_attr(const char *path, const char *name, int value)
{
	hid_t f = open_rw(path);
	if (H5Aexists(f, name) > 0)
		H5Adelete(f, name);
	hid_t s = H5Screate(H5S_SCALAR);
	hid_t a = H5Acreate2(f, name, H5T_STD_I32LE, s, H5P_DEFAULT, H5P_DEFAULT);
	if (a < 0 || H5Awrite(a, H5T_NATIVE_INT, &value) < 0)
		exit(99);
	H5Aclose(a);
	H5Sclose(s);
	H5Fclose(f);
}

/* Replaces dataset obj with one of type mtype (memory) / ftype (file), rank, dims, data. */
static void
replace_dataset(const char *path, const char *obj, hid_t ftype, hid_t mtype, int rank,
		const hsize_t *dims, const void *data)
{
	hid_t f = open_rw(path);
	if (H5Lexists(f, obj, H5P_DEFAULT) > 0)
		H5Ldelete(f, obj, H5P_DEFAULT);
	hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
	H5Pset_create_intermediate_group(lcpl, 1);
	hid_t s = H5Screate_simple(rank, dims, NULL);
	hid_t d = H5Dcreate2(f, obj, ftype, s, lcpl, H5P_DEFAULT, H5P_DEFAULT);
	if (d < 0 || H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
		exit(99);
	H5Dclose(d);
	H5Sclose(s);
	H5Pclose(lcpl);
	H5Fclose(f);
}

static void
delete_object(const char *path, const char *obj)
{
	hid_t f = open_rw(path);
	if (H5Ldelete(f, obj, H5P_DEFAULT) < 0)
		exit(99);
	H5Fclose(f);
}

static void
add_group(const char *path, const char *obj)
{
	hid_t f = open_rw(path);
	hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
	H5Pset_create_intermediate_group(lcpl, 1);
	hid_t g = H5Gcreate2(f, obj, lcpl, H5P_DEFAULT, H5P_DEFAULT);
	if (g < 0)
		exit(99);
	H5Gclose(g);
	H5Pclose(lcpl);
	H5Fclose(f);
}

/* ---- tests ---- */

static void
test_roundtrip(void)
{
	const char *const *names = model_arch_names();
	for (int a = 0; names[a]; a++) {
		struct model *m = build(names[a], 100 + (uint64_t)a), *back = NULL;
		if (!tap_ok(m != NULL, "%s: builds", names[a]))
			continue;
		char *path = xasprintf("%s/%s.h5", tap_tmpdir(), names[a]);
		char *tmp = xasprintf("%s.tmp", path);
		char *cause = NULL;
		int rc = io_h5_save_model(m, path, &cause);
		if (!tap_ok(rc == 0, "%s: saves", names[a]))
			tap_diag("%s", cause);
		tap_ok(exists(path) && !exists(tmp), "%s: file in place, no .tmp left", names[a]);
		rc = io_h5_load_model(&back, path, &cause);
		if (tap_ok(rc == 0, "%s: loads", names[a]))
			tap_ok(same_model(m, back), "%s: all %d tensors bit-identical", names[a],
			       model_tensor_count(m));
		else
			tap_diag("%s", cause);
		model_free(back);
		back = NULL;

		/* Saving over an existing file replaces it. */
		struct model *other = build(names[a], 7);
		rc = other ? io_h5_save_model(other, path, &cause) : -1;
		if (rc == 0 && io_h5_load_model(&back, path, &cause) == 0)
			tap_ok(same_model(other, back), "%s: saving over a file replaces it", names[a]);
		else
			tap_ok(0, "%s: saving over a file: %s", names[a], cause ? cause : "");
		model_free(back);
		model_free(other);
		model_free(m);
		free(cause);
		free(tmp);
		free(path);
	}
}

static void
test_save_errors(void)
{
	struct model *m = build("mlp", 1);
	char *cause = NULL;

	char *path = tmp_path("no-such-dir/model.h5");
	int rc = io_h5_save_model(m, path, &cause);
	tap_ok(rc == -1 && cause && strstr(cause, path) && strstr(cause, "No such file"),
	       "save into a missing directory fails, naming the path");
	tap_diag("%s", cause ? cause : "(none)");
	free(path);

	char *file = tmp_path("plain-file");
	copy_file("/dev/null", file, 1.0);
	path = xasprintf("%s/model.h5", file);
	rc = io_h5_save_model(m, path, &cause);
	tap_ok(rc == -1 && cause && strstr(cause, path) && strstr(cause, "Not a directory"),
	       "save below a regular file fails, naming the path");
	tap_diag("%s", cause ? cause : "(none)");
	free(path);
	free(file);

	/* A read-only directory (permissions do not bind root). */
	char *ro = tmp_path("read-only");
	mkdir(ro, 0555);
	chmod(ro, 0555);
	path = xasprintf("%s/model.h5", ro);
	if (geteuid() == 0) {
		tap_skip("running as root", "save into a read-only directory fails");
	} else {
		rc = io_h5_save_model(m, path, &cause);
		tap_ok(rc == -1 && cause && strstr(cause, path) && strstr(cause, "Permission denied"),
		       "save into a read-only directory fails, naming the path");
		tap_diag("%s", cause ? cause : "(none)");
	}
	chmod(ro, 0755);
	free(path);
	free(ro);

	/* The final rename fails (the target is a directory): the .tmp must go. */
	path = tmp_path("a-directory.h5");
	mkdir(path, 0755);
	char *inside = xasprintf("%s/keep", path);
	copy_file("/dev/null", inside, 1.0);
	char *tmp = xasprintf("%s.tmp", path);
	rc = io_h5_save_model(m, path, &cause);
	tap_ok(rc == -1 && cause && strstr(cause, path) && !exists(tmp),
	       "a failed rename reports the path and removes the .tmp file");
	tap_diag("%s", cause ? cause : "(none)");
	free(tmp);
	free(inside);
	free(path);
	free(cause);
	model_free(m);
}

static void
test_load_errors(void)
{
	struct model *m = build("lenet5", 3);
	char *good = tmp_path("good-lenet5.h5");
	char *cause = NULL;
	if (io_h5_save_model(m, good, &cause) != 0) {
		tap_ok(0, "save lenet5 for the error cases: %s", cause);
		free(cause);
		free(good);
		model_free(m);
		return;
	}
	int nt = model_tensor_count(m);
	const struct model_tensor *first = model_tensor_at(m, 0), *last = model_tensor_at(m, nt - 1);
	char *first_obj = xasprintf("/layers/%s/%s", first->group, first->name);
	char *last_obj = xasprintf("/layers/%s/%s", last->group, last->name);
	char *path;

	path = tmp_path("missing.h5");
	expect_fail(path, "No such file", NULL, "missing file");
	free(path);

	path = tmp_path("text.h5");
	FILE *f = fopen(path, "w");
	fputs("this is not HDF5\n", f);
	fclose(f);
	expect_fail(path, "not an HDF5 file", NULL, "text file");
	free(path);

	path = tmp_path("half.h5");
	copy_file(good, path, 0.5);
	expect_fail(path, "truncated", NULL, "first half of a valid file");
	free(path);

	path = tmp_path("format.h5");
	copy_file(good, path, 1.0);
	set_str_attr(path, "format", "keras-model");
	expect_fail(path, "'format'", "keras-model", "wrong format attribute");
	free(path);

	path = tmp_path("no-format.h5");
	copy_file(good, path, 1.0);
	hid_t fh = open_rw(path);
	H5Adelete(fh, "format");
	H5Fclose(fh);
	expect_fail(path, "not a qbench model file", "'format'", "no format attribute");
	free(path);

	path = tmp_path("version.h5");
	copy_file(good, path, 1.0);
	set_int_attr(path, "version", IO_H5_MODEL_VERSION + 1);
	expect_fail(path, "'version' is 2", "newer", "newer version");
	free(path);

	path = tmp_path("arch.h5");
	copy_file(good, path, 1.0);
	set_str_attr(path, "arch", "lenet6");
	expect_fail(path, "arch 'lenet6'", "lenet5", "unknown arch (suggests the nearest)");
	free(path);

	path = tmp_path("shape.h5");
	copy_file(good, path, 1.0);
	{
		hsize_t dims[4];
		for (int k = 0; k < first->ndim; k++)
			dims[k] = (hsize_t)first->shape[k];
		dims[0] += 1;
		size_t n = first->size / (size_t)first->shape[0] * (size_t)dims[0];
		float *z = xcalloc(n, sizeof *z);
		replace_dataset(path, first_obj, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, first->ndim, dims,
				z);
		free(z);
	}
	expect_fail(path, first_obj, "has shape", "tensor of the wrong shape");
	free(path);

	path = tmp_path("int-tensor.h5");
	copy_file(good, path, 1.0);
	{
		hsize_t dims[4];
		for (int k = 0; k < first->ndim; k++)
			dims[k] = (hsize_t)first->shape[k];
		int *z = xcalloc(first->size, sizeof *z);
		replace_dataset(path, first_obj, H5T_STD_I32LE, H5T_NATIVE_INT, first->ndim, dims, z);
		free(z);
	}
	expect_fail(path, first_obj, "not floating point", "integer tensor");
	free(path);

	path = tmp_path("missing-tensor.h5");
	copy_file(good, path, 1.0);
	delete_object(path, last_obj);
	expect_fail(path, last_obj, "missing tensor", "missing tensor");
	free(path);

	path = tmp_path("no-layers.h5");
	copy_file(good, path, 1.0);
	delete_object(path, "/layers");
	expect_fail(path, "missing group /layers", NULL, "no /layers group");
	free(path);

	path = tmp_path("extra-group.h5");
	copy_file(good, path, 1.0);
	add_group(path, "/layers/99_extra");
	expect_fail(path, "unknown object /layers/99_extra", NULL, "unknown group under /layers");
	free(path);

	path = tmp_path("extra-dataset.h5");
	copy_file(good, path, 1.0);
	char *extra = xasprintf("/layers/%s/momentum", first->group);
	{
		hsize_t one = 1;
		float v = 1;
		replace_dataset(path, extra, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, &one, &v);
	}
	expect_fail(path, "unknown object", extra, "unknown dataset in a layer group");
	free(extra);
	free(path);

	/* Accepted: objects outside /layers, and float64 tensors (converted). */
	path = tmp_path("notes-and-double.h5");
	copy_file(good, path, 1.0);
	add_group(path, "/quant/00_notes");
	{
		hsize_t dims[4];
		for (int k = 0; k < first->ndim; k++)
			dims[k] = (hsize_t)first->shape[k];
		double *dv = xmalloc(first->size * sizeof *dv);
		for (size_t i = 0; i < first->size; i++)
			dv[i] = first->data[i];
		replace_dataset(path, first_obj, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, first->ndim, dims,
				dv);
		free(dv);
	}
	set_str_attr(path, "arch", "lenet5"); /* fixed-length string this time */
	struct model *back = NULL;
	int rc = io_h5_load_model(&back, path, &cause);
	if (tap_ok(rc == 0, "extra objects outside /layers, float64 tensors, fixed-length strings load"))
		tap_ok(same_model(m, back), "... with the same values");
	else
		tap_diag("%s", cause);
	model_free(back);
	free(path);

	free(first_obj);
	free(last_obj);
	free(cause);
	free(good);
	model_free(m);
}

/* ---- h5py ---- */

/*
 * Runs args (NULL-terminated); its stdout goes into out (at most n-1 bytes,
 * NUL-terminated). quiet sends its stderr to /dev/null. Returns the exit
 * status, or -1.
 */
static int
run(const char *const *args, char *out, size_t n, int quiet)
{
	int fds[2], argc = 0;
	while (args[argc])
		argc++;
	char **argv = xcalloc((size_t)argc + 1, sizeof *argv);
	for (int i = 0; i < argc; i++)
		argv[i] = xstrdup(args[i]);
	out[0] = '\0';
	pid_t pid = -1;
	if (pipe(fds) == 0) {
		fflush(stdout);
		pid = fork();
	}
	if (pid < 0) {
		for (int i = 0; i < argc; i++)
			free(argv[i]);
		free(argv);
		return -1;
	}
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		if (quiet) {
			int dn = open("/dev/null", O_WRONLY);
			if (dn >= 0)
				dup2(dn, 2);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	close(fds[1]);
	size_t used = 0;
	ssize_t got;
	char sink[4096];
	while ((got = read(fds[0], used + 1 < n ? out + used : sink,
			   used + 1 < n ? n - 1 - used : sizeof sink)) > 0)
		if (used + 1 < n)
			used += (size_t)got;
	out[used] = '\0';
	close(fds[0]);
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	free(argv);
	int st;
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* The checksum h5py_check.py prints: count and sum of float32 bit patterns mod 2^64. */
static void
model_checksum(const struct model *m, unsigned long long *count, unsigned long long *sum)
{
	*count = 0;
	*sum = 0;
	for (int i = 0; i < model_tensor_count(m); i++) {
		const struct model_tensor *t = model_tensor_at(m, i);
		for (size_t k = 0; k < t->size; k++) {
			uint32_t bits;
			memcpy(&bits, &t->data[k], sizeof bits);
			*sum += bits;
		}
		*count += t->size;
	}
}

static void
test_h5py(void)
{
	const char *py = getenv("PYTHON3");
	char out[1 << 16];
	if (py && *py) {
		const char *probe[] = {py, "-c", "import h5py, numpy", NULL};
		if (run(probe, out, sizeof out, 1) != 0)
			py = NULL;
	} else {
		py = NULL;
	}
	if (!py) {
		tap_skip("$PYTHON3 unset or without h5py and numpy", "h5py reads a model file");
		tap_skip("$PYTHON3 unset or without h5py and numpy", "h5py writes a model file");
		return;
	}
	char script[4096];
	snprintf(script, sizeof script, "%s", tap_srcpath("tests/h5py_check.py"));
	struct model *m = build("cnn", 11);
	char *path = tmp_path("for-h5py.h5"), *cause = NULL;
	if (io_h5_save_model(m, path, &cause) != 0) {
		tap_ok(0, "save cnn for h5py: %s", cause);
		goto out;
	}
	const char *rd[] = {py, script, "read", path, NULL};
	int st = run(rd, out, sizeof out, 0);
	tap_eq_int(st, 0, "h5py reads the file and finds str/int attributes");
	unsigned long long count, sum, pcount = 0, psum = 0;
	model_checksum(m, &count, &sum);
	const char *cs = strstr(out, "checksum ");
	int got = cs && sscanf(cs, "checksum %llu %llu", &pcount, &psum) == 2;
	tap_ok(got && pcount == count && psum == sum,
	       "h5py sees the same %llu values (bit-pattern sum %llu; h5py: %llu, %llu)", count,
	       sum, pcount, psum);
	int all = 1;
	for (int i = 0; i < model_tensor_count(m); i++) {
		const struct model_tensor *t = model_tensor_at(m, i);
		char line[256];
		int len = snprintf(line, sizeof line, "tensor /layers/%s/%s ", t->group, t->name);
		for (int k = 0; k < t->ndim; k++)
			len += snprintf(line + len, sizeof line - (size_t)len, "%s%d", k ? "x" : "",
					t->shape[k]);
		snprintf(line + len, sizeof line - (size_t)len, "\n");
		if (!strstr(out, line)) {
			tap_diag("h5py output lacks: %s", line);
			all = 0;
		}
	}
	tap_ok(all, "h5py sees every tensor in its shape");
	tap_ok(strstr(out, "arch cnn\n") && strstr(out, "format qbench-model\n") &&
		       strstr(out, "version 1\n") && strstr(out, "classes 10\n"),
	       "h5py reads the root attributes");

	/* h5py writes a new file with one tensor doubled; qbench must accept it. */
	const struct model_tensor *t = model_tensor_at(m, 0);
	char *obj = xasprintf("/layers/%s/%s", t->group, t->name);
	char *scaled = tmp_path("from-h5py.h5");
	const char *wr[] = {py, script, "scale", path, scaled, obj, "2", NULL};
	st = run(wr, out, sizeof out, 0);
	tap_eq_int(st, 0, "h5py writes a model file");
	struct model *back = NULL;
	if (tap_ok(io_h5_load_model(&back, scaled, &cause) == 0, "qbench loads the file h5py wrote")) {
		float *want = xmalloc(t->size * sizeof *want);
		for (size_t k = 0; k < t->size; k++)
			want[k] = 2.0f * t->data[k];
		tap_same_floats(model_tensor_at(back, 0)->data, want, t->size, "%s is doubled", obj);
		int rest = 1;
		for (int i = 1; i < model_tensor_count(m); i++) {
			const struct model_tensor *a = model_tensor_at(m, i), *b = model_tensor_at(back, i);
			rest &= memcmp(a->data, b->data, a->size * sizeof(float)) == 0;
		}
		tap_ok(rest, "the other tensors are unchanged");
		free(want);
	} else {
		tap_diag("%s", cause);
	}
	model_free(back);
	free(scaled);
	free(obj);
out:
	free(cause);
	free(path);
	model_free(m);
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
	io_h5_quiet();
	H5open();
	long ids = h5_open_ids();
	test_roundtrip();
	test_save_errors();
	test_load_errors();
	test_h5py();
	tap_eq_int(h5_open_ids(), ids, "every HDF5 identifier was closed");
	return tap_done();
}
