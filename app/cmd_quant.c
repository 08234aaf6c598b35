/*
 * cmd_quant: `qbench quant ... --in X.h5 --out Y.h5`, one quantization
 * step applied to dataset x of the input file, in one of three modes chosen
 * by the keys given:
 *
 *   scheme=S bits=B [role=w|a] [alpha=A] [variant=V]
 *       one quantizer applied to x (any shape). The input may also hold
 *       grad_out (same size; then backward runs too) and the scheme's own
 *       parameters as datasets: theta (lcq, 16 values), scale (uniform lsq,
 *       one step per tensor). The output has the layout of one fixture case:
 *       dataset y (the shape of x) and, with grad_out, grad_x, attribute
 *       dalpha and the parameter gradients dtheta (lcq) or grad_scale
 *       (uniform lsq).
 *   clip=M [bits=B]
 *       the clipping threshold of method M (engine/ptq/clip.h) for the
 *       values of x: root attributes alpha, method, bits and the method's
 *       intermediate results (mse: dataset mse_curve; aciq: aciq_choice,
 *       alpha_gauss, alpha_laplace, mse_gauss, mse_laplace; kl:
 *       kl_divergence).
 *   ocs.ratio=R bits=B [ocs.split=qa|naive] [clip=M]
 *       outlier channel splitting of a weight x (O x I x kh x kw, or O x I),
 *       the reference's two-pass pipeline (METHODS §4.1): naive split, clip,
 *       scale = (2^(B-1) - 1)/clip, split again with that scale, integer
 *       codes. Dataset y (O x (I+n) x kh x kw), channels (int32, n), codes
 *       (int8, the shape of y); attributes clip, scale, n_split, bits, ratio,
 *       split, clip_method.
 *
 * x is read as float32. The output is written to Y.h5.tmp, then renamed.
 */
#include <hdf5.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/cmd.h"
#include "engine/ptq/clip.h"
#include "engine/ptq/ocs.h"
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

/* Dataset `name` of rank/dims from v (memory type mtype), stored as ftype. */
static int
h5_write_as(hid_t f, const char *name, hid_t ftype, hid_t mtype, const void *v,
	    const hsize_t *dims, int rank)
{
	hid_t sp = H5Screate_simple(rank, dims, NULL);
	hid_t d = H5Dcreate2(f, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	int rc = d < 0 || H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0;
	if (d >= 0)
		H5Dclose(d);
	H5Sclose(sp);
	return rc ? -1 : 0;
}

static int
h5_write(hid_t f, const char *name, const float *v, const hsize_t *dims, int rank)
{
	return h5_write_as(f, name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, v, dims, rank);
}

/* Scalar attribute `name` of f from *v (memory type mtype), stored as ftype. */
static int
h5_attr_as(hid_t f, const char *name, hid_t ftype, hid_t mtype, const void *v)
{
	hid_t sp = H5Screate(H5S_SCALAR);
	hid_t a = H5Acreate2(f, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT);
	int rc = a < 0 || H5Awrite(a, mtype, v) < 0;
	if (a >= 0)
		H5Aclose(a);
	H5Sclose(sp);
	return rc ? -1 : 0;
}

static int
h5_attr(hid_t f, const char *name, double v)
{
	return h5_attr_as(f, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v);
}

static int
h5_attr_int(hid_t f, const char *name, long long v)
{
	return h5_attr_as(f, name, H5T_STD_I64LE, H5T_NATIVE_LLONG, &v);
}

/* UTF-8 variable-length string attribute. */
static int
h5_attr_str(hid_t f, const char *name, const char *v)
{
	hid_t t = H5Tcopy(H5T_C_S1);
	int rc = -1;
	if (t >= 0 && H5Tset_size(t, H5T_VARIABLE) >= 0 && H5Tset_cset(t, H5T_CSET_UTF8) >= 0)
		rc = h5_attr_as(f, name, t, t, &v);
	if (t >= 0)
		H5Tclose(t);
	return rc;
}

/* Creates the output path.tmp (*tmp, malloc'd); returns its id, negative on failure. */
static hid_t
h5_start(const char *path, char **tmp)
{
	*tmp = xasprintf("%s.tmp", path);
	return H5Fcreate(*tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
}

/* After a failure: closes both files (when open) and removes the partial output. */
static void
h5_abandon(hid_t fin, hid_t fout, const char *tmp)
{
	if (fout >= 0) {
		H5Fclose(fout);
		remove(tmp);
	}
	if (fin >= 0)
		H5Fclose(fin);
}

/* Closes fout (when open) and renames tmp to path; -1 when either fails. */
static int
h5_finish(hid_t *fout, const char *tmp, const char *path)
{
	hid_t f = *fout;
	*fout = -1;
	if (H5Fclose(f) < 0 || rename(tmp, path) != 0) {
		remove(tmp);
		return -1;
	}
	return 0;
}

/* ---- scheme=S: one quantizer ---- */

/*
 * Opens --in and reads its dataset x (*n elements, dims/rank); returns
 * CMD_EXIT_OK, or prints the error and returns CMD_EXIT_IO.
 */
static int
open_input(const struct cmd_ctx *ctx, hid_t *fin, float **x, size_t *n, hsize_t *dims, int *rank)
{
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
	*fin = H5Fopen(ctx->in_path, H5F_ACC_RDONLY, H5P_DEFAULT);
	if (*fin < 0)
		return cmd_error(CMD_EXIT_IO, "%s: cannot open as HDF5", ctx->in_path);
	*x = h5_read(*fin, "x", n, dims, rank);
	if (!*x)
		return cmd_error(CMD_EXIT_IO, "%s: no readable dataset 'x'", ctx->in_path);
	return CMD_EXIT_OK;
}

static int
scheme_exec(const struct cmd_ctx *ctx, int argc, char **argv)
{
	struct quant *q = NULL;
	char *cause = NULL, *tmp = NULL;
	float *x = NULL, *go = NULL, *theta = NULL, *scale = NULL, *y = NULL, *dx = NULL;
	hid_t fin = -1, fout = -1;
	int ret = CMD_EXIT_OK, rank = 0;
	hsize_t dims[8];
	size_t n = 0, ngo = 0, nth = 0, nsc = 0;

	if (cmd_quant_spec(&q, argc, argv, &cause) < 0) {
		ret = cmd_error(CMD_EXIT_CONFIG, "%s", cause);
		goto out;
	}
	if ((ret = open_input(ctx, &fin, &x, &n, dims, &rank)) != CMD_EXIT_OK)
		goto out;
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
	fout = h5_start(ctx->out_path, &tmp);
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
	if (h5_finish(&fout, tmp, ctx->out_path) < 0) {
		ret = cmd_error(CMD_EXIT_IO, "%s: cannot write", ctx->out_path);
		goto out;
	}
	if (!ctx->quiet)
		fprintf(stderr, "%s: %zu values quantized%s\n", ctx->out_path, n,
			go ? ", with gradients" : "");
out:
	h5_abandon(fin, fout, tmp);
	quant_free(q);
	free(cause), free(tmp), free(x), free(go), free(theta), free(scale), free(y), free(dx);
	return ret;
}

/* ---- clip=M and ocs.*: post-training quantization steps ---- */

/* Keys of the clip and ocs modes, and of all modes (for suggestions). */
static const char *const ptq_keys[] = {"bits", "clip", "ocs.ratio", "ocs.split"};
#define NPTQ_KEYS (sizeof ptq_keys / sizeof ptq_keys[0])
static const char *const all_keys[] = {"scheme", "bits", "role",	     "alpha",
				       "variant", "clip", "ocs.ratio", "ocs.split"};
#define NALL_KEYS (sizeof all_keys / sizeof all_keys[0])
static const char *const split_names[] = {"naive", "qa"};

/* OCS codes are int8. */
#define OCS_MAX_BITS 8

struct ptq_args {
	int bits; /* 0 when not given */
	struct clip_spec clip; /* max when not given */
	double ratio; /* 0 when not given: clip mode */
	int have_split;
	enum ocs_split split;
};

/* The key of "key=value" into key (size n); returns the value, or NULL when arg is not k=v. */
static const char *
arg_key(const char *arg, char *key, size_t n)
{
	const char *eq = strchr(arg, '=');
	if (!eq || eq == arg)
		return NULL;
	snprintf(key, n, "%.*s", (int)(eq - arg), arg);
	return eq + 1;
}

static int
is_ptq_key(const char *key)
{
	return strcmp(key, "clip") == 0 || strncmp(key, "ocs.", 4) == 0;
}

/*
 * 1 when the arguments ask for the clip or ocs mode (a clip= or ocs.* key), 0
 * for the scheme mode, -1 with *cause when they mix both or name an unknown
 * key that is nearest to a key of the new modes.
 */
static int
quant_mode(int argc, char **argv, char **cause)
{
	int scheme = 0, ptq = 0;
	char key[64];
	for (int i = 0; i < argc; i++) {
		if (!arg_key(argv[i], key, sizeof key))
			continue;
		scheme |= strcmp(key, "scheme") == 0;
		ptq |= is_ptq_key(key);
	}
	if (scheme && ptq)
		return err_set(cause, "scheme= applies one quantizer; it does not combine with "
				      "clip= or ocs.* keys");
	if (ptq || scheme)
		return ptq;
	/* neither: a misspelt clip= or ocs.* key should be suggested as such */
	for (int i = 0; i < argc; i++) {
		if (!arg_key(argv[i], key, sizeof key))
			continue;
		int known = 0;
		for (size_t k = 0; k < NALL_KEYS; k++)
			known |= strcmp(key, all_keys[k]) == 0;
		const char *near = known ? NULL : util_nearest(key, all_keys, NALL_KEYS);
		if (near && is_ptq_key(near))
			return err_set(cause, "unknown key '%s' (did you mean '%s'?)", key, near);
	}
	return 0;
}

/* Parses the clip= and ocs.* mode arguments into *a (bits checked against the mode). */
static int
ptq_parse(struct ptq_args *a, int argc, char **argv, char **cause)
{
	unsigned seen = 0;
	memset(a, 0, sizeof *a);
	a->clip.method = CLIP_MAX;
	a->split = OCS_SPLIT_QA;
	for (int i = 0; i < argc; i++) {
		char key[64], *end = NULL;
		const char *v = arg_key(argv[i], key, sizeof key);
		if (!v)
			return err_set(cause, "'%s' is not key=value", argv[i]);
		size_t k;
		for (k = 0; k < NPTQ_KEYS; k++)
			if (strcmp(key, ptq_keys[k]) == 0)
				break;
		if (k == NPTQ_KEYS) {
			const char *near = util_nearest(key, ptq_keys, NPTQ_KEYS);
			if (near)
				return err_set(cause, "unknown key '%s' (did you mean '%s'?)", key,
					       near);
			return err_set(cause,
				       "unknown key '%s' (with clip= or ocs.*: bits, clip, "
				       "ocs.ratio, ocs.split)",
				       key);
		}
		if (seen & (1u << k))
			return err_set(cause, "key '%s' given twice", key);
		seen |= 1u << k;
		if (strcmp(key, "bits") == 0) {
			long b = strtol(v, &end, 10);
			if (!*v || *end || b < 1 || b > 64)
				return err_set(cause, "bits: '%s' is not a bit-width", v);
			a->bits = (int)b;
		} else if (strcmp(key, "clip") == 0) {
			if (clip_parse(v, &a->clip, cause) < 0)
				return -1;
		} else if (strcmp(key, "ocs.ratio") == 0) {
			double r = strtod(v, &end);
			if (!*v || *end || !(r > 0 && r <= 1))
				return err_set(cause,
					       "ocs.ratio: '%s' is not an expansion ratio in (0, 1]",
					       v);
			a->ratio = r;
		} else {
			const char *near = util_nearest(v, split_names, 2);
			if (strcmp(v, "naive") == 0)
				a->split = OCS_SPLIT_NAIVE;
			else if (strcmp(v, "qa") == 0)
				a->split = OCS_SPLIT_QA;
			else if (near)
				return err_set(cause, "ocs.split: '%s' is not naive or qa (did you "
						      "mean '%s'?)",
					       v, near);
			else
				return err_set(cause, "ocs.split: '%s' is not naive or qa", v);
			a->have_split = 1;
		}
	}
	char name[64];
	clip_format(&a->clip, name, sizeof name);
	if (a->ratio == 0) {
		if (a->have_split)
			return err_set(cause, "ocs.split needs ocs.ratio=R");
		int uses_bits = a->clip.method != CLIP_MAX && a->clip.method != CLIP_PCT;
		if (uses_bits && !a->bits)
			return err_set(cause, "clip=%s needs bits=B (%d..%d)", name, CLIP_MIN_BITS,
				       CLIP_MAX_BITS);
		if (a->bits && (a->bits < CLIP_MIN_BITS || a->bits > CLIP_MAX_BITS))
			return err_set(cause, "bits=%d is outside %d..%d for clip=%s", a->bits,
				       CLIP_MIN_BITS, CLIP_MAX_BITS, name);
		return 0;
	}
	if (!a->bits)
		return err_set(cause, "ocs.ratio needs bits=B (%d..%d)", CLIP_MIN_BITS,
			       OCS_MAX_BITS);
	if (a->bits < CLIP_MIN_BITS || a->bits > OCS_MAX_BITS)
		return err_set(cause, "bits=%d is outside %d..%d for ocs (its codes are int8)",
			       a->bits, CLIP_MIN_BITS, OCS_MAX_BITS);
	return 0;
}

/* clip=M: the threshold and the method's intermediate results as attributes of fout. */
static int
clip_write(hid_t fout, const struct ptq_args *a, double alpha, const struct clip_detail *d)
{
	char name[64];
	int rc = h5_attr(fout, "alpha", alpha) |
		 h5_attr_str(fout, "method", clip_format(&a->clip, name, sizeof name));
	if (a->bits)
		rc |= h5_attr_int(fout, "bits", a->bits);
	if (a->clip.method == CLIP_MSE) {
		hsize_t nc = CLIP_MSE_CANDIDATES;
		rc |= h5_write_as(fout, "mse_curve", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE,
				  d->mse_curve, &nc, 1);
	} else if (a->clip.method == CLIP_ACIQ) {
		rc |= h5_attr_int(fout, "aciq_choice", d->aciq_choice) |
		      h5_attr(fout, "alpha_gauss", d->aciq_alpha_gauss) |
		      h5_attr(fout, "alpha_laplace", d->aciq_alpha_laplace) |
		      h5_attr(fout, "mse_gauss", d->aciq_mse_gauss) |
		      h5_attr(fout, "mse_laplace", d->aciq_mse_laplace);
	} else if (a->clip.method == CLIP_KL) {
		rc |= h5_attr(fout, "kl_divergence", d->kl_divergence);
	}
	return rc ? -1 : 0;
}

/*
 * ocs: the split weights y, their channel list and codes into fout. x is
 * O x I x K with dims/rank of the input; the clip is max|w| of the naive
 * split (clip=max, the reference's fixed threshold 1.0) or the clip method
 * applied to the unsplit weights (the reference's automatic clips).
 * Returns 0, or -1 with *cause (*io set when writing failed).
 */
static int
ocs_run(hid_t fout, const struct ptq_args *a, const float *x, const hsize_t *dims, int rank,
	double *clip_out, int *n_out, char **cause, int *io)
{
	int O = (int)dims[0], I = (int)dims[1];
	int K = rank == 4 ? (int)(dims[2] * dims[3]) : 1;
	int n = ocs_split_count(a->ratio, I);
	size_t J = (size_t)I + (size_t)n, total = (size_t)O * J * (size_t)K;
	float *naive = xmalloc((total ? total : 1) * sizeof *naive), *y = naive;
	int32_t *ch = xmalloc((size_t)(n ? n : 1) * sizeof *ch);
	int8_t *codes = xmalloc(total ? total : 1);
	char name[64];
	int ret = -1;

	*io = 0;
	ocs_split_weights(naive, ch, x, O, I, K, n, OCS_SPLIT_NAIVE, 0.0f);
	double clip = 0;
	if (a->clip.method == CLIP_MAX) {
		float m = 0;
		for (size_t i = 0; i < total; i++)
			m = fmaxf(m, fabsf(naive[i]));
		clip = m;
	} else if (clip_find(&a->clip, x, (size_t)O * (size_t)I * (size_t)K, a->bits, &clip, NULL,
			     cause) < 0) {
		goto out;
	}
	if (!(clip > 0)) {
		err_set(cause, "the clip threshold is 0 (x is all zeros): no quantization scale");
		goto out;
	}
	/* the reference rounds the scale to float32 where it meets the float32 weights */
	double scale = (ldexp(1.0, a->bits - 1) - 1) / clip;
	if (a->split == OCS_SPLIT_QA) {
		y = xmalloc(total * sizeof *y);
		ocs_split_weights(y, ch, x, O, I, K, n, OCS_SPLIT_QA, (float)scale);
	}
	ocs_codes(codes, y, total, (float)scale, a->bits);

	hsize_t ydims[4] = {dims[0], (hsize_t)J, rank == 4 ? dims[2] : 1, rank == 4 ? dims[3] : 1};
	hsize_t nd = (hsize_t)n;
	int rc = h5_write(fout, "y", y, ydims, rank) |
		 h5_write_as(fout, "channels", H5T_STD_I32LE, H5T_NATIVE_INT32, ch, &nd, 1) |
		 h5_write_as(fout, "codes", H5T_STD_I8LE, H5T_NATIVE_INT8, codes, ydims, rank) |
		 h5_attr(fout, "clip", clip) | h5_attr(fout, "scale", scale) |
		 h5_attr_int(fout, "n_split", n) | h5_attr_int(fout, "bits", a->bits) |
		 h5_attr(fout, "ratio", a->ratio) |
		 h5_attr_str(fout, "split", split_names[a->split]) |
		 h5_attr_str(fout, "clip_method", clip_format(&a->clip, name, sizeof name));
	if (rc) {
		*io = 1;
		goto out;
	}
	*clip_out = clip;
	*n_out = n;
	ret = 0;
out:
	if (y != naive)
		free(y);
	free(naive), free(ch), free(codes);
	return ret;
}

static int
ptq_mode_exec(const struct cmd_ctx *ctx, int argc, char **argv)
{
	struct ptq_args a;
	struct clip_detail d;
	char *cause = NULL, *tmp = NULL, name[64];
	float *x = NULL;
	hid_t fin = -1, fout = -1;
	int ret = CMD_EXIT_OK, rank = 0;
	hsize_t dims[8];
	size_t n = 0;

	if (ptq_parse(&a, argc, argv, &cause) < 0) {
		ret = cmd_error(CMD_EXIT_CONFIG, "%s", cause);
		goto out;
	}
	if ((ret = open_input(ctx, &fin, &x, &n, dims, &rank)) != CMD_EXIT_OK)
		goto out;
	if (a.ratio > 0) {
		int dims_ok = rank == 2 || rank == 4;
		for (int i = 0; dims_ok && i < rank; i++)
			dims_ok = dims[i] > 0 && dims[i] <= INT_MAX / 2;
		if (dims_ok && rank == 4)
			dims_ok = dims[2] * dims[3] <= INT_MAX / 2;
		if (!dims_ok) {
			ret = cmd_error(CMD_EXIT_IO,
					"%s: x has rank %d; ocs needs a weight of shape O x I x kh "
					"x kw or O x I (no empty dimension)",
					ctx->in_path, rank);
			goto out;
		}
	}
	fout = h5_start(ctx->out_path, &tmp);
	if (fout < 0) {
		ret = cmd_error(CMD_EXIT_IO, "%s: cannot write", tmp);
		goto out;
	}
	double alpha = 0;
	int n_split = 0, io = 0;
	if (a.ratio > 0) {
		if (ocs_run(fout, &a, x, dims, rank, &alpha, &n_split, &cause, &io) < 0) {
			if (io)
				ret = cmd_error(CMD_EXIT_IO, "%s: cannot write", tmp);
			else
				ret = cmd_error(CMD_EXIT_FAILED, "%s: x: %s", ctx->in_path, cause);
			goto out;
		}
	} else {
		if (clip_find(&a.clip, x, n, a.bits, &alpha, &d, &cause) < 0) {
			ret = cmd_error(CMD_EXIT_FAILED, "%s: x: %s", ctx->in_path, cause);
			goto out;
		}
		if (clip_write(fout, &a, alpha, &d) < 0) {
			ret = cmd_error(CMD_EXIT_IO, "%s: cannot write", tmp);
			goto out;
		}
	}
	if (h5_finish(&fout, tmp, ctx->out_path) < 0) {
		ret = cmd_error(CMD_EXIT_IO, "%s: cannot write", ctx->out_path);
		goto out;
	}
	clip_format(&a.clip, name, sizeof name);
	if (!ctx->quiet && a.ratio > 0)
		fprintf(stderr, "%s: %d channel%s split (ocs.split=%s), clip %.9g (%s), scale %.9g\n",
			ctx->out_path, n_split, n_split == 1 ? "" : "s", split_names[a.split], alpha,
			name, (ldexp(1.0, a.bits - 1) - 1) / alpha);
	else if (!ctx->quiet)
		fprintf(stderr, "%s: clip=%s on %zu values: alpha %.9g\n", ctx->out_path, name, n,
			alpha);
out:
	h5_abandon(fin, fout, tmp);
	free(cause), free(tmp), free(x);
	return ret;
}

static int
quant_exec(const struct cmd_ctx *ctx, int argc, char **argv)
{
	char *cause = NULL;
	if (argc == 0 || !ctx->in_path || !ctx->out_path) {
		cmd_print_usage(stderr, &cmd_quant_entry);
		return CMD_EXIT_USAGE;
	}
	int mode = quant_mode(argc, argv, &cause);
	if (mode < 0) {
		int ret = cmd_error(CMD_EXIT_CONFIG, "%s", cause);
		free(cause);
		return ret;
	}
	return mode ? ptq_mode_exec(ctx, argc, argv) : scheme_exec(ctx, argc, argv);
}

const struct cmd_entry cmd_quant_entry = {
	.name = "quant",
	.args = "scheme=S|clip=M|ocs.ratio=R [k=v ...]",
	.options = CMD_OPT_IN | CMD_OPT_OUT | CMD_OPT_QUIET,
	.summary = "apply one quantizer to a tensor in an HDF5 file",
	.help = "Reads dataset x (as float32) from the --in file and writes the result to the "
		"--out file. Three modes, chosen by the keys:\n"
		"scheme=S bits=B [role=w|a] [alpha=A] [variant=V]: quantizes x with the "
		"quantizer described as for `qbench levels` and writes dataset y. When the input "
		"also holds grad_out, the backward pass runs too and the output gets grad_x, "
		"attribute dalpha and the parameter gradients (dtheta for lcq, grad_scale for "
		"uniform lsq). Parameters come from datasets of the input: theta (lcq, 16 "
		"values), scale (uniform lsq, one step).\n"
		"clip=M [bits=B]: the clipping threshold of the values of x for a signed "
		"symmetric B-bit grid (B in 2..16; max and pct ignore it). M is max (max|x|), "
		"pct:P (the P-th percentile of |x|, linear interpolation, 0 < P <= 100), mse "
		"(histogram MSE on the 1% grid of max|x|), aciq (Gaussian or Laplace fit, OCS "
		"constants), aciq:orig (the original ACIQ constants) or kl (KL-divergence "
		"threshold). Writes attributes alpha, method and bits, and the method's "
		"intermediate results: dataset mse_curve (mse); aciq_choice (0 Gaussian, 1 "
		"Laplace), alpha_gauss, alpha_laplace, mse_gauss, mse_laplace (aciq); "
		"kl_divergence (kl).\n"
		"ocs.ratio=R bits=B [ocs.split=qa|naive] [clip=M]: outlier channel splitting of "
		"a weight x of shape O x I x kh x kw or O x I, as the OCS reference does it: "
		"n = ceil(R*I) input channels (0 < R <= 1) are split naively; the clip is "
		"max|w| of those split weights (clip=max, the default) or method M applied to "
		"the unsplit weights (the reference computes its automatic clips there); scale "
		"= (2^(B-1) - 1)/clip; the weights are split again with that scale "
		"(quantization-aware halves with ocs.split=qa, the default, or naive halves) and "
		"quantized to int8 codes (B in 2..8). Writes dataset y (O x (I+n) x kh x kw), "
		"channels (int32, the original input channel each appended channel duplicates), "
		"codes (int8, the shape of y) and attributes clip, scale, n_split, bits, ratio, "
		"split, clip_method.\n"
		"Examples: qbench quant scheme=lcq bits=3 role=a alpha=2 --in x.h5 --out y.h5; "
		"qbench quant clip=aciq bits=4 --in x.h5 --out clip.h5; qbench quant "
		"ocs.ratio=0.05 bits=6 clip=mse --in w.h5 --out split.h5",
	.exec = quant_exec,
};
