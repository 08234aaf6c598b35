/*
 * io_h5: model files in HDF5 (layout in docs/formats.md):
 *   root attributes  format="qbench-model", version, arch, classes, input_shape (C,H,W)
 *   /layers/NN_name  datasets weight, bias, gamma, beta, running_mean, running_var
 * Files are written to NAME.tmp and renamed, so a reader never sees half a file.
 */
#ifndef QB_IO_H5_H
#define QB_IO_H5_H

struct model;

#define IO_H5_MODEL_VERSION 1

/* Writes m to path atomically. Returns 0, or -1 with *cause naming the path. */
int io_h5_save_model(const struct model *m, const char *path, char **cause);

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
