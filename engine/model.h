/*
 * model: a network as an ordered list of layers over one parameter arena, one
 * gradient arena and one optimizer-state arena (see engine/tensor.h; the
 * optimizer-state arena belongs to the optimizer, engine/optim.h).
 *
 * The first part of this header is the model's public face for the rest of
 * qbench (HDF5 files, training, cost reports, the command line). The second
 * part is for engine/ (the zoo, training, quantization): building a network
 * layer by layer, and running forward and backward passes.
 *
 * Graph: layer i reads the output of an earlier layer (or of the model input),
 * so shortcuts (residual add of two earlier outputs) are expressed by index.
 * The last layer's output is the model's output, (B, classes) logits.
 * Parameters live in the arena in three regions (weights that take weight
 * decay, other trainable values, non-trainable buffers); the gradient arena
 * lines up with the trainable prefix element by element.
 */
#ifndef QB_MODEL_H
#define QB_MODEL_H

#include <stddef.h>
#include <stdint.h>

struct model;
struct rng;

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
/* Frees m and everything it owns; model_free(NULL) is a no-op. */
void model_free(struct model *m);

/* Names of the zoo architectures, NULL-terminated (static). */
const char *const *model_arch_names(void);
/* One line describing zoo architecture arch (static), or NULL if there is none. */
const char *model_arch_help(const char *arch);

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

/* ======================= for engine/: building ======================= */

/* Input selectors for the model_add_* functions (else the index of an earlier layer). */
#define MODEL_INPUT (-1) /* the model's input */
#define MODEL_PREV (-2)	 /* the layer added last (the model input for the first layer) */

/*
 * Starts an empty network named arch for inputs (c, h, w) with `classes`
 * outputs. Layers are then appended with model_add_*(), each returning the
 * new layer's index; the model is usable after model_finish(). A bad argument
 * to any model_add_*() (unknown input, a window larger than its input,
 * mismatched residual shapes) is remembered: that call and all later ones
 * return -1, and model_finish() reports the first such error. Never NULL;
 * caller frees with model_free().
 */
struct model *model_begin(const char *arch, int c, int h, int w, int classes);

/* conv2d, square kernel k: weight (oc, C, k, k), optional bias (oc). */
int model_add_conv2d(struct model *m, int from, int oc, int k, int stride, int pad, int bias);
/* linear over the flattened input: weight (out, C*H*W), optional bias (out). */
int model_add_linear(struct model *m, int from, int out, int bias);
/* batch norm over the channels of (C, H, W) or of features (C, 1, 1). */
int model_add_batchnorm(struct model *m, int from);
int model_add_relu(struct model *m, int from);
int model_add_hardtanh(struct model *m, int from);
/* k x k windows, stride s, no padding. */
int model_add_maxpool(struct model *m, int from, int k, int s);
int model_add_avgpool(struct model *m, int from, int k, int s);
int model_add_globalavgpool(struct model *m, int from);
/* (C, H, W) -> (C*H*W, 1, 1); shares its input's storage (no copy). */
int model_add_flatten(struct model *m, int from);
/* inverted dropout with drop probability p in [0, 1). */
int model_add_dropout(struct model *m, int from, float p);
/* out = output of a + output of b (same shapes). */
int model_add_residual(struct model *m, int a, int b);
/*
 * Channel duplication (outlier channel splitting): oc output channels, channel
 * o = factor[o] (1 when factor is NULL) times input channel src[o]; the arrays
 * are copied.
 */
int model_add_chandup(struct model *m, int from, int oc, const int32_t *src, const float *factor);

/*
 * Completes a network from model_begin(): checks that the last layer gives
 * `classes` features, lays out and allocates the arenas, and initialises
 * the parameters from `seed`: conv/linear weights He normal (std
 * sqrt(2/fan_in), He et al. 2015) when the network has a ReLU, otherwise
 * Glorot uniform (limit sqrt(6/(fan_in+fan_out)), Glorot & Bengio 2010);
 * biases 0; BN gamma 1, beta 0, running mean 0, running variance 1.
 * Returns 0, or -1 with *cause (the first building error, or a network
 * that is empty or ends in the wrong width); m must then only be freed.
 */
int model_finish(struct model *m, uint64_t seed, char **cause);

/* ======================= for engine/: running ======================= */

/*
 * Makes room for batches of up to B examples: activations, and with training
 * nonzero also their gradients and what backward needs. Storage only grows;
 * pointers from model_input() and model_output_grad() are invalidated when it
 * does. Never fails (aborts on out-of-memory).
 */
void model_reserve(struct model *m, int B, int training);

/* The input batch (B, c, h, w) that model_forward() reads; written by the caller. */
float *model_input(struct model *m);

/*
 * Runs the network on the first B examples of model_input() (B no larger than
 * the last model_reserve()). training nonzero: batch statistics for BN (and
 * running statistics updated), dropout drawn from rng; zero: eval mode, BN
 * running statistics, no dropout (rng may then be NULL). Returns the logits
 * (B, classes), owned by the model, valid until the next pass.
 */
const float *model_forward(struct model *m, int B, int training, struct rng *rng);

/*
 * Output of layer i after the last forward pass, (B, C, H, W) per its info
 * (owned by m). A ReLU that is the only reader of its input runs in place, so
 * that input layer's activation then holds the ReLU's output.
 */
const float *model_activation(const struct model *m, int i);

/*
 * The gradient of the loss with respect to the logits, (B, classes), which the
 * caller overwrites before model_backward(). Owned by the model; valid after
 * model_reserve(m, B, 1).
 */
float *model_output_grad(struct model *m);

/*
 * Backpropagates model_output_grad() through the training-mode forward pass
 * just run on B examples, ACCUMULATING into the gradient arena (see
 * model_zero_grad()). No gradient is computed for the model input.
 */
void model_backward(struct model *m, int B);

/* Zeroes the gradient arena (one memset). */
void model_zero_grad(struct model *m);

/*
 * The parameter arena: [0, *n_decay) are the weight-decayed conv/linear
 * weights, [0, *n_trainable) all trainable values; buffers follow. The
 * gradient arena (model_grads) has *n_trainable elements lined up with it.
 * Both are owned by the model and never move.
 */
float *model_params(struct model *m, size_t *n_decay, size_t *n_trainable);
float *model_grads(struct model *m);

/*
 * A fake quantizer attached to a conv/linear layer, for its weight or for its
 * input activation. forward writes y (n) = q(x) (n); training is nonzero in
 * training passes. backward ACCUMULATES into dx (n) the gradient with respect
 * to x given dy (n), the gradient with respect to y, and x, the forward input
 * (a straight-through estimator or a variant), and may accumulate the gradients
 * of the quantizer's own parameters; dx is NULL when x needs no gradient (the
 * model input). ctx is the quantizer's own state.
 */
struct model_quantizer {
	void *ctx;
	void (*forward)(void *ctx, float *y, const float *x, size_t n, int training);
	void (*backward)(void *ctx, float *dx, const float *dy, const float *x, size_t n);
};

/*
 * Attaches quantizers to layer i (a conv2d or linear layer): wq for its weight,
 * aq for its input; either may be NULL (float). The model keeps the pointers
 * (the caller keeps them alive until they are replaced or the model is freed);
 * call model_reserve() again before the next pass. Returns 0, or -1 with
 * *cause when layer i is not conv2d or linear.
 */
int model_set_quantizers(struct model *m, int i, const struct model_quantizer *wq,
			 const struct model_quantizer *aq, char **cause);

/* The layer that layer i reads (its first input): an earlier index or MODEL_INPUT. */
int model_layer_input(const struct model *m, int i);

/*
 * Makes every ReLU and hardtanh layer of m one kind: "relu" or "hardtanh"
 * (binarized networks replace ReLU by hardtanh, QNN §3.2). Group names keep
 * their original tag. Call model_reserve() again before the next pass.
 * Returns 0, or -1 with *cause for another kind.
 */
int model_set_activation(struct model *m, const char *kind, char **cause);

/*
 * Switches every batch-norm layer of m to shift-based batch norm (QNN §3.4,
 * shift nonzero) or back to the exact one. The tensors are the same (the
 * running inverse std is kept in running_var as its equivalent variance).
 */
void model_set_bn_shift(struct model *m, int shift);
int model_bn_shift(const struct model *m);


/* ======================= for engine/: derived models ======================= */

/* Channel duplication in front of a conv2d/linear layer (n_out = 0: none). */
struct model_dup {
	int n_out;		/* input channels after duplication (features for linear) */
	const int32_t *src;	/* n_out source channels */
	const float *factor;	/* n_out factors, or NULL for 1 */
};

/*
 * A new finished model computing m's function with edits. fold_bn: every
 * batch norm that is the only reader of a conv2d/linear output is folded
 * into it (W·g, beta + (b - mean)·g with g = gamma/sqrt(var + eps), in
 * double; the layer gains a bias). dups (m's layer count entries, or NULL):
 * a chandup layer is inserted in front of each conv2d/linear layer i with
 * dups[i].n_out > 0 (a linear layer's input is flattened first); that layer's
 * weight keeps its values for the original input channels and is zero for the
 * appended ones, for the caller to fill. map (m's layer count, or NULL)
 * receives each old layer's new index (a folded batch norm maps to its
 * producer). Quantizers are not carried over. Returns NULL with *cause when
 * shift-based batch norm would be folded or the edits do not fit.
 */
struct model *model_derive(const struct model *m, int fold_bn, const struct model_dup *dups,
			   int *map, char **cause);

/*
 * Layers first..last of m as a model of their own (parameters copied), whose
 * input is the output of the layer first reads and whose "classes" are the
 * values of last's output per example. Every layer of the range must read
 * only layers of the range or that input. input_grad nonzero: backward also
 * computes the gradient with respect to the input (model_input_grad()).
 * Returns NULL with *cause otherwise.
 */
struct model *model_slice(const struct model *m, int first, int last, int input_grad,
			  char **cause);

/* 0 when layers first..last can be sliced, else -1 with *cause (no model is built). */
int model_slice_check(const struct model *m, int first, int last, char **cause);

/* After model_backward() of a slice made with input_grad: dL/d input (B, c, h, w). */
float *model_input_grad(struct model *m);

/* Weight (and its element count into *n) or bias of conv2d/linear layer i; NULL otherwise. */
float *model_layer_weight(struct model *m, int i, size_t *n);
float *model_layer_bias(struct model *m, int i);
/* The input shape (C, H, W) of layer i. */
void model_layer_input_shape(const struct model *m, int i, int *c, int *h, int *w);
/* Nonzero when layer i is conv2d or linear. */
int model_layer_is_gemm(const struct model *m, int i);
/* Nonzero when layer i reads the model input (the image), directly or through flatten. */
int model_layer_reads_input(const struct model *m, int i);
/*
 * Nonzero when layer i's input is a ReLU output (through pools, flatten,
 * dropout and channel duplication with non-negative factors).
 */
int model_layer_input_nonneg(const struct model *m, int i);
/* The second input of residual layer i; for other layers the same as model_layer_input(). */
int model_layer_input2(const struct model *m, int i);
/* The number of layers reading layer i's output. */
int model_layer_readers(const struct model *m, int i);

#endif
