/*
 * model: a network as an ordered list of layers over one parameter arena, one
 * gradient arena and one optimizer-state arena (see engine/tensor.h).
 *
 * This header is the model's public face for the rest of qbench (HDF5 files,
 * training, cost reports, the command line). Layer internals, activation
 * buffers and forward/backward scheduling are private to engine/.
 */
#ifndef QB_MODEL_H
#define QB_MODEL_H

#include <stddef.h>
#include <stdint.h>

struct model;

/*
 * A named tensor as stored in a model file: group is the layer's HDF5 group
 * name ("00_conv", "01_bn", ...), name the dataset ("weight", "bias", "gamma",
 * "beta", "running_mean", "running_var"). data points into the model's arenas
 * (owned by the model). trainable is 0 for buffers such as running statistics.
 */
struct model_tensor {
	const char *group;
	const char *name;
	float *data;
	int ndim;
	int shape[4];
	size_t size;
	int trainable;
};

/* One layer as reported to users and the cost model. */
struct model_layer_info {
	const char *group; /* "00_conv" */
	const char *kind;  /* "conv2d", "linear", "batchnorm", "relu", "maxpool", ... */
	int out_shape[3];  /* per example: C, H, W (H = W = 1 for features) */
	long params;	   /* trainable parameters */
	long macs;	   /* multiply-accumulates per example (conv and linear only) */
};

/*
 * Builds a zoo architecture ("mlp", "lenet5", "cnn", "resnet20") for inputs of
 * shape (c, h, w) and `classes` outputs, initialised from `seed` (He init for
 * ReLU networks, Glorot otherwise; BN gamma 1, beta 0). Returns NULL and sets
 * *cause for an unknown arch (suggesting the nearest) or an input shape the
 * architecture cannot take. Caller frees with model_free().
 */
struct model *model_new(const char *arch, int c, int h, int w, int classes, uint64_t seed,
			char **cause);
void model_free(struct model *m);

/* Names of the zoo architectures, NULL-terminated (static). */
const char *const *model_arch_names(void);

const char *model_arch(const struct model *m);
int model_classes(const struct model *m);
void model_input_shape(const struct model *m, int *c, int *h, int *w);

/* Stored tensors (parameters and buffers), in a fixed order. */
int model_tensor_count(const struct model *m);
const struct model_tensor *model_tensor_at(const struct model *m, int i);

/* Layers, in order. */
int model_layer_count(const struct model *m);
const struct model_layer_info *model_layer_at(const struct model *m, int i);

long model_param_count(const struct model *m);
long model_macs(const struct model *m); /* per example */

#endif
