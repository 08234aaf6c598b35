/*
 * zoo: the architectures of the `model` key. Each is a function that appends
 * layers to a model under construction; the input shape and the class count
 * come from the model, so a network adapts its first and last layers to the
 * data (the sizes quoted below are for 1x28x28 inputs and 10 classes).
 *
 *   mlp       784-256-256-10 perceptron, ReLU.
 *   lenet5    LeNet-5 (LeCun et al. 1998) with ReLU and max pooling:
 *             conv5x5(6, pad 2)-ReLU-maxpool2, conv5x5(16)-ReLU-maxpool2,
 *             fc 400-120-ReLU-84-ReLU-10.
 *   cnn       conv3x3(32)-BN-ReLU, conv3x3(64)-BN-ReLU (no padding, no conv
 *             bias), maxpool2, fc 9216-128-ReLU, fc 128-10.
 *   resnet20  CIFAR-style ResNet-20 (He et al. 2016, section 4.2): conv3x3(16)-
 *             BN-ReLU, three stages of three basic blocks (16, 32, 64
 *             channels; stride 2 in the first block of stages 2 and 3), global
 *             average pooling, fc 64-10. Where a block changes the shape, the
 *             shortcut is a 1x1 convolution with stride 2 followed by BN
 *             (the paper's option B); elsewhere it is the identity. Convs
 *             have no bias (BN follows each).
 *
 * Every zoo network uses ReLU, so model_finish() gives it He initialisation.
 */
#include <string.h>

#include "engine/model.h"
#include "engine/util.h"
#include "engine/zoo.h"

static int
zoo_mlp(struct model *m)
{
	model_add_flatten(m, MODEL_INPUT);
	model_add_linear(m, MODEL_PREV, 256, 1);
	model_add_relu(m, MODEL_PREV);
	model_add_linear(m, MODEL_PREV, 256, 1);
	model_add_relu(m, MODEL_PREV);
	return model_add_linear(m, MODEL_PREV, model_classes(m), 1);
}

static int
zoo_lenet5(struct model *m)
{
	model_add_conv2d(m, MODEL_INPUT, 6, 5, 1, 2, 1);
	model_add_relu(m, MODEL_PREV);
	model_add_maxpool(m, MODEL_PREV, 2, 2);
	model_add_conv2d(m, MODEL_PREV, 16, 5, 1, 0, 1);
	model_add_relu(m, MODEL_PREV);
	model_add_maxpool(m, MODEL_PREV, 2, 2);
	model_add_flatten(m, MODEL_PREV);
	model_add_linear(m, MODEL_PREV, 120, 1);
	model_add_relu(m, MODEL_PREV);
	model_add_linear(m, MODEL_PREV, 84, 1);
	model_add_relu(m, MODEL_PREV);
	return model_add_linear(m, MODEL_PREV, model_classes(m), 1);
}

static int
zoo_cnn(struct model *m)
{
	model_add_conv2d(m, MODEL_INPUT, 32, 3, 1, 0, 0);
	model_add_batchnorm(m, MODEL_PREV);
	model_add_relu(m, MODEL_PREV);
	model_add_conv2d(m, MODEL_PREV, 64, 3, 1, 0, 0);
	model_add_batchnorm(m, MODEL_PREV);
	model_add_relu(m, MODEL_PREV);
	model_add_maxpool(m, MODEL_PREV, 2, 2);
	model_add_flatten(m, MODEL_PREV);
	model_add_linear(m, MODEL_PREV, 128, 1);
	model_add_relu(m, MODEL_PREV);
	return model_add_linear(m, MODEL_PREV, model_classes(m), 1);
}

/*
 * A basic block reading layer x (in_c channels): two conv3x3-BN with a ReLU
 * between, plus the shortcut, then ReLU. Returns the index of the final ReLU.
 */
static int
resnet_block(struct model *m, int x, int in_c, int out_c, int stride)
{
	model_add_conv2d(m, x, out_c, 3, stride, 1, 0);
	model_add_batchnorm(m, MODEL_PREV);
	model_add_relu(m, MODEL_PREV);
	model_add_conv2d(m, MODEL_PREV, out_c, 3, 1, 1, 0);
	int y = model_add_batchnorm(m, MODEL_PREV);
	int shortcut = x;
	if (stride != 1 || in_c != out_c) {
		model_add_conv2d(m, x, out_c, 1, stride, 0, 0);
		shortcut = model_add_batchnorm(m, MODEL_PREV);
	}
	model_add_residual(m, y, shortcut);
	return model_add_relu(m, MODEL_PREV);
}

static int
zoo_resnet20(struct model *m)
{
	static const int widths[3] = {16, 32, 64};
	model_add_conv2d(m, MODEL_INPUT, widths[0], 3, 1, 1, 0);
	model_add_batchnorm(m, MODEL_PREV);
	int x = model_add_relu(m, MODEL_PREV);
	int in_c = widths[0];
	for (int stage = 0; stage < 3; stage++) {
		for (int block = 0; block < 3; block++) {
			int stride = stage > 0 && block == 0 ? 2 : 1;
			x = resnet_block(m, x, in_c, widths[stage], stride);
			in_c = widths[stage];
		}
	}
	model_add_globalavgpool(m, MODEL_PREV);
	return model_add_linear(m, MODEL_PREV, model_classes(m), 1);
}

static const struct zoo_arch {
	const char *name;
	const char *help;
	int (*build)(struct model *m);
} zoo_archs[] = {
	{"mlp", "784-256-256-10 perceptron with ReLU", zoo_mlp},
	{"lenet5", "LeNet-5: two conv5x5 + max-pool stages, fc 120-84-10, ReLU", zoo_lenet5},
	{"cnn", "conv3x3(32)-BN-ReLU, conv3x3(64)-BN-ReLU, max-pool, fc 128-10", zoo_cnn},
	{"resnet20", "CIFAR-style ResNet-20, 1x1 conv + BN shortcuts (option B)", zoo_resnet20},
};

#define ZOO_COUNT (sizeof zoo_archs / sizeof zoo_archs[0])

static const char *const zoo_name_list[ZOO_COUNT + 1] = {"mlp", "lenet5", "cnn", "resnet20",
							 NULL};

static const struct zoo_arch *
zoo_find(const char *arch)
{
	for (size_t i = 0; i < ZOO_COUNT; i++)
		if (strcmp(zoo_archs[i].name, arch) == 0)
			return &zoo_archs[i];
	return NULL;
}

int
zoo_build(struct model *m, const char *arch, char **cause)
{
	const struct zoo_arch *a = zoo_find(arch);
	if (!a) {
		const char *near = util_nearest(arch, zoo_name_list, ZOO_COUNT);
		if (near)
			return err_set(cause, "unknown model '%s' (did you mean '%s'?)", arch, near);
		char known[256] = "";
		for (size_t i = 0; i < ZOO_COUNT; i++) {
			strncat(known, i ? ", " : "", sizeof known - strlen(known) - 1);
			strncat(known, zoo_archs[i].name, sizeof known - strlen(known) - 1);
		}
		return err_set(cause, "unknown model '%s' (known: %s)", arch, known);
	}
	a->build(m);
	return 0;
}

const char *const *
zoo_names(void)
{
	return zoo_name_list;
}

const char *
zoo_help(const char *arch)
{
	const struct zoo_arch *a = zoo_find(arch);
	return a ? a->help : NULL;
}
