/*
 * cmd_quant: `qbench quant scheme=S bits=B [role=w|a] [alpha=A] [variant=V]
 * --in X.h5 --out Y.h5`, one quantizer applied to one tensor.
 *
 * The input file holds dataset x (any shape, float), optionally grad_out
 * (same size; then backward runs too) and the scheme's own parameters as
 * datasets: theta (lcq, 16 values), scale (uniform lsq, one step per
 * tensor). The output file has the layout of one fixture case: dataset y
 * (the shape of x) and, with grad_out, grad_x, attribute dalpha and the
 * parameter gradients dtheta (lcq) or grad_scale (uniform lsq). The output
 * is written to Y.h5.tmp, then renamed.
 */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/cmd.h"
#include "engine/quant/quant.h"
#include "engine/util.h"

/* Dataset `name` of file f as floats (malloc'd, *n elements; dims into dims/rank), or NULL. */
static float *
h5_read(hid_t f, const char *name, size_t *n, hsize_t *dims, int *rank)
{
	if (H5Lexists(f, name, H5P_DEFAULT) <= 0)
		return NULL;
	hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
	if (d < 0)
		return NULL;
	hid_t sp = H5Dget_space(d);
	hssize_t np = H5Sget_simple_extent_npoints(sp);
	int r = H5Sget_simple_extent_ndims(sp);
	float *v = NULL;
	if (np >= 0 && r >= 0 && r <= 8) {
		hsize_t dd[8];
		H5Sget_simple_extent_dims(sp, dd, NULL);
		if (dims)
			memcpy(dims, dd, (size_t)r * sizeof *dd);
		if (rank)
			*rank = r;
		v = xmalloc((size_t)(np > 0 ? np : 1) * sizeof *v);
		if (H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) {
			free(v);
			v = NULL;
		}
		*n = (size_t)np;
	}
	H5Sclose(sp);
	H5Dclose(d);
	return v;
}

static int
h5_write(hid_t f, const char *name, const float *v, const hsize_t *dims, int rank)
{
	hid_t sp = H5Screate_simple(rank, dims, NULL);
	hid_t d = H5Dcreate2(f, name, H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	int rc = d < 0 || H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0;
	if (d >= 0)
		H5Dclose(d);
	H5Sclose(sp);
	return rc ? -1 : 0;
}

static int
h5_attr(hid_t f, const char *name, double v)
{
	hid_t sp = H5Screate(H5S_SCALAR);
	hid_t a = H5Acreate2(f, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
	int rc = a < 0 || H5Awrite(a, H5T_NATIVE_DOUBLE, &v) < 0;
	if (a >= 0)
		H5Aclose(a);
	H5Sclose(sp);
	return rc ? -1 : 0;
}

static int
quant_exec(const struct cmd_ctx *ctx, int argc, char **argv)
{
	struct quant *q = NULL;
	char *cause = NULL, *tmp = NULL;
	float *x = NULL, *go = NULL, *theta = NULL, *scale = NULL, *y = NULL, *dx = NULL;
	hid_t fin = -1, fout = -1;
	int ret = CMD_EXIT_OK, rank = 0;
	hsize_t dims[8];
	size_t n = 0, ngo = 0, nth = 0, nsc = 0;

	if (argc == 0 || !ctx->in_path || !ctx->out_path) {
		cmd_print_usage(stderr, &cmd_quant_entry);
		return CMD_EXIT_USAGE;
	}
	if (cmd_quant_spec(&q, argc, argv, &cause) < 0) {
		ret = cmd_error(CMD_EXIT_CONFIG, "%s", cause);
		goto out;
	}
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
	fin = H5Fopen(ctx->in_path, H5F_ACC_RDONLY, H5P_DEFAULT);
	if (fin < 0) {
		ret = cmd_error(CMD_EXIT_IO, "%s: cannot open as HDF5", ctx->in_path);
		goto out;
	}
	x = h5_read(fin, "x", &n, dims, &rank);
	if (!x) {
		ret = cmd_error(CMD_EXIT_IO, "%s: no readable dataset 'x'", ctx->in_path);
		goto out;
	}
	go = h5_read(fin, "grad_out", &ngo, NULL, NULL);
	theta = h5_read(fin, "theta", &nth, NULL, NULL);
	scale = h5_read(fin, "scale", &nsc, NULL, NULL);
	if (go && ngo != n) {
		ret = cmd_error(CMD_EXIT_IO, "%s: grad_out has %zu values, x has %zu", ctx->in_path,
				ngo, n);
		goto out;
	}
	if (theta) {
		if (q->scheme != &quant_scheme_lcq || nth != QUANT_LCQ_K) {
			ret = cmd_error(CMD_EXIT_CONFIG, "%s: theta needs scheme=lcq and %d values",
					ctx->in_path, QUANT_LCQ_K);
			goto out;
		}
		memcpy(q->theta, theta, sizeof q->theta);
	}
	if (scale) {
		if (q->scheme != &quant_scheme_uniform || q->variant != 0 || nsc != 1 ||
		    !(scale[0] > 0)) {
			ret = cmd_error(CMD_EXIT_CONFIG,
					"%s: scale needs scheme=uniform variant=lsq and one "
					"positive value",
					ctx->in_path);
			goto out;
		}
		q->scale[0] = scale[0];
	}
	y = xmalloc((n ? n : 1) * sizeof *y);
	quant_forward(q, y, x, n, 0);
	if (go) {
		dx = xcalloc(n ? n : 1, sizeof *dx);
		quant_zero_grad(q);
		quant_backward(q, dx, go, x, n);
	}
	tmp = xasprintf("%s.tmp", ctx->out_path);
	fout = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	if (fout < 0 || h5_write(fout, "y", y, dims, rank) < 0) {
		ret = cmd_error(CMD_EXIT_IO, "%s: cannot write", tmp);
		goto out;
	}
	if (go) {
		int rc = h5_write(fout, "grad_x", dx, dims, rank) | h5_attr(fout, "dalpha", q->dalpha);
		if (q->scheme == &quant_scheme_lcq) {
			float dt[QUANT_LCQ_K];
			hsize_t k = QUANT_LCQ_K;
			for (int i = 0; i < QUANT_LCQ_K; i++)
				dt[i] = (float)q->dtheta[i];
			rc |= h5_write(fout, "dtheta", dt, &k, 1);
		}
		if (q->scheme == &quant_scheme_uniform && q->variant == 0) {
			float gs = (float)q->dscale[0];
			hsize_t one = 1;
			rc |= h5_write(fout, "grad_scale", &gs, &one, 1);
		}
		if (rc) {
			ret = cmd_error(CMD_EXIT_IO, "%s: cannot write", tmp);
			goto out;
		}
	}
	if (H5Fclose(fout) < 0 || rename(tmp, ctx->out_path) != 0) {
		fout = -1;
		ret = cmd_error(CMD_EXIT_IO, "%s: cannot write", ctx->out_path);
		goto out;
	}
	fout = -1;
	if (!ctx->quiet)
		fprintf(stderr, "%s: %zu values quantized%s\n", ctx->out_path, n,
			go ? ", with gradients" : "");
out:
	if (fout >= 0) {
		H5Fclose(fout);
		remove(tmp);
	}
	if (fin >= 0)
		H5Fclose(fin);
	quant_free(q);
	free(cause), free(tmp), free(x), free(go), free(theta), free(scale), free(y), free(dx);
	return ret;
}

const struct cmd_entry cmd_quant_entry = {
	.name = "quant",
	.args = "scheme=S bits=B [k=v ...]",
	.options = CMD_OPT_IN | CMD_OPT_OUT | CMD_OPT_QUIET,
	.summary = "apply one quantizer to a tensor in an HDF5 file",
	.help = "Reads dataset x from the --in file, quantizes it with the quantizer described "
		"as for `qbench levels` and writes dataset y to the --out file. When the input "
		"also holds grad_out, the backward pass runs too and the output gets grad_x, "
		"attribute dalpha and the parameter gradients (dtheta for lcq, grad_scale for "
		"uniform lsq). Parameters come from datasets of the input: theta (lcq, 16 "
		"values), scale (uniform lsq, one step).\n"
		"Example: qbench quant scheme=lcq bits=3 role=a alpha=2 --in x.h5 --out y.h5",
	.exec = quant_exec,
};
