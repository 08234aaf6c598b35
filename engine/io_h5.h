/*
 * io_h5: model files in HDF5 (layout in docs/formats.md):
 *   root attributes  format="qbench-model", version, arch, classes, input_shape (C,H,W)
 *   /layers/NN_name  datasets weight, bias, gamma, beta, running_mean, running_var
 *   /quant, /quant/NN_name  (quantized models) attributes and datasets given by the
 *                    caller as io_h5_groups (engine/quant/qat.h fills them)
 * Files are written to NAME.tmp and renamed, so a reader never sees half a file.
 */
#ifndef QB_IO_H5_H
#define QB_IO_H5_H

struct model;

#define IO_H5_MODEL_VERSION 1

/* Writes m to path atomically. Returns 0, or -1 with *cause naming the path. */
int io_h5_save_model(const struct model *m, const char *path, char **cause);

/*
 * Extra groups stored beside /layers: each has a path relative to the root
 * ("quant" or "quant/03_conv"; parents are created as needed, parents first),
 * scalar attributes (strings, integers, floats) and datasets (float32, int8
 * or int32). Everything in a set is owned by it (values are copied in).
 */
enum io_h5_type { IO_H5_F32, IO_H5_I8, IO_H5_I32 };

struct io_h5_attr {
	char *name;
	char *str;  /* a string, or NULL for a number */
	double num;
	int is_int; /* number stored as a 64-bit integer */
};

struct io_h5_data {
	char *name;
	enum io_h5_type type;
	void *data;
	int ndim;
	long dims[4];
	size_t size; /* elements */
};

struct io_h5_group {
	char *path;
	struct io_h5_attr *attrs;
	int nattrs;
	struct io_h5_data *data;
	int ndata;
};

struct io_h5_groups {
	struct io_h5_group *g;
	int n;
};

/* Appends an empty group (returned; valid until the next append). */
struct io_h5_group *io_h5_groups_add(struct io_h5_groups *gs, const char *path);
void io_h5_group_str(struct io_h5_group *g, const char *name, const char *value);
void io_h5_group_int(struct io_h5_group *g, const char *name, long long value);
void io_h5_group_num(struct io_h5_group *g, const char *name, double value);
/* Copies data (type, ndim <= 4 dims) into a dataset of g. */
void io_h5_group_data(struct io_h5_group *g, const char *name, enum io_h5_type type,
		      const void *data, int ndim, const long *dims);
/* Lookups: NULL when absent. */
struct io_h5_group *io_h5_groups_find(const struct io_h5_groups *gs, const char *path);
const struct io_h5_attr *io_h5_group_attr(const struct io_h5_group *g, const char *name);
const struct io_h5_data *io_h5_group_dataset(const struct io_h5_group *g, const char *name);
void io_h5_groups_free(struct io_h5_groups *gs);

/* io_h5_save_model() plus the extra groups (extra may be NULL). */
int io_h5_save_model_with(const struct model *m, const struct io_h5_groups *extra,
			  const char *path, char **cause);

/*
 * Reads group /root of a model file and its direct subgroups into *out (which
 * starts empty): scalar string and numeric attributes, and datasets (every
 * numeric dataset is read as float32, type IO_H5_F32). A file without /root
 * gives an empty set. Returns 0, or -1 with *cause naming the path and object.
 */
int io_h5_read_groups(const char *path, const char *root, struct io_h5_groups *out,
		      char **cause);

/*
 * Reads a model file: builds the architecture named in the file and fills its
 * tensors. A missing or corrupt file, a wrong format attribute, a newer
 * version, an unknown arch, or a tensor of the wrong shape is an error that
 * names the path and the offending object. Caller frees *out with model_free().
 */
int io_h5_load_model(struct model **out, const char *path, char **cause);

/* Silences HDF5's own error printing (call once at start-up). */
void io_h5_quiet(void);

#endif
