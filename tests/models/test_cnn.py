import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from analog.compiler.boxes import network_pieces
from analog.compiler.network import CompilerSpec, Layer
from models.cnn import MobileNetV3Small, MobileNetV3SmallRNC, ResNet18, SqueezeNet11
from models.layers import AnalogConv, AnalogDense
from models.trace import trace

KEY = jax.random.PRNGKey(0)
IMAGE = (64, 64, 3)
MODELS = {
    "squeezenet": SqueezeNet11(),
    "mbv3": MobileNetV3Small(),
    "mbv3_rnc": MobileNetV3SmallRNC(),
    "resnet18": ResNet18(),
    "resnet18_cifar": ResNet18(cifar_stem=True),
}


@functools.cache
def traced(name):
    return trace(MODELS[name], IMAGE)


@functools.cache
def abstract_variables(name):
    return jax.eval_shape(MODELS[name].init, KEY, jax.ShapeDtypeStruct((2, *IMAGE), jnp.float32))


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("train", [False, True])
def test_output_shape(name, train):
    model = MODELS[name]
    x = jax.ShapeDtypeStruct((2, *IMAGE), jnp.float32)
    variables = abstract_variables(name)

    def apply(variables, x):
        return model.apply(variables, x, train=train, rngs={"dropout": KEY},
                           mutable=["batch_stats"] if train else False)

    out = jax.eval_shape(apply, variables, x)
    logits = out[0] if train else out
    assert logits.shape == (2, 10) and logits.dtype == jnp.float32


def test_squeezenet_runs_finite():
    # numpy weights: compiling flax's initialisers on the CPU takes ~10 s
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(2, *IMAGE)), jnp.float32)
    model = SqueezeNet11(num_classes=7)
    shapes = jax.eval_shape(model.init, KEY, x)
    params = jax.tree.map(lambda s: jnp.asarray(rng.normal(0, 0.05, s.shape), jnp.float32), shapes)
    y = jax.jit(model.apply)(params, x)
    assert y.shape == (2, 7) and bool(jnp.all(jnp.isfinite(y)))


class Tiny(nn.Module):
    """(B, 9, 9, 2): conv 3x3/2 SAME, depth-wise 3x3 VALID, dense per pixel, analog layers."""

    @nn.compact
    def __call__(self, x):
        x = nn.Conv(8, (3, 3), strides=2, name="c1")(x)  # (B, 5, 5, 8)
        x = nn.Conv(8, (3, 3), padding="VALID", feature_group_count=8, name="dw")(x)  # (B, 3, 3, 8)
        x = AnalogConv(4, (1, 3), strides=(1, 2), padding="VALID", name="ac")(x)  # (B, 3, 1, 4)
        x = nn.Dense(6, name="pix")(x)  # 3 vectors per sample
        x = AnalogDense(5, name="ad")(x.reshape(x.shape[0], -1))  # (B, 5)
        return nn.Dense(3)(x)


def test_trace_tiny_model():
    net = trace(Tiny(), (9, 9, 2), name="tiny")
    assert net.name == "tiny" and net.input_shape == (9, 9, 2)
    assert net.layers == (
        Layer(name="c1", kind="conv", in_channels=2, out_channels=8, kernel=(3, 3), stride=(2, 2),
              out_size=(5, 5)),
        Layer(name="dw", kind="conv", in_channels=8, out_channels=8, kernel=(3, 3), groups=8,
              out_size=(3, 3)),
        Layer(name="ac", kind="conv", in_channels=8, out_channels=4, kernel=(1, 3), stride=(1, 2),
              out_size=(3, 1)),
        Layer(name="pix", kind="dense", in_channels=4, out_channels=6, out_size=(3, 1)),
        Layer(name="ad", kind="dense", in_channels=18, out_channels=5),
        Layer(name="Dense_0", kind="dense", in_channels=5, out_channels=3),
    )


def test_trace_nested_names_and_sizes():
    layers = traced("resnet18").layers
    assert len(layers) == 21  # 17 3x3/7x7 convs, 3 downsample convs, 1 dense
    assert layers[0] == Layer(name="stem/conv", kind="conv", in_channels=3, out_channels=64,
                              kernel=(7, 7), stride=(2, 2), out_size=(32, 32))
    down = [layer for layer in layers if "downsample" in layer.name]
    assert [(d.name, d.stride, d.out_size) for d in down] == [
        ("layer2_0/downsample/conv", (2, 2), (8, 8)),
        ("layer3_0/downsample/conv", (2, 2), (4, 4)),
        ("layer4_0/downsample/conv", (2, 2), (2, 2)),
    ]
    depthwise = [layer for layer in traced("mbv3").layers if layer.groups > 1]
    assert len(depthwise) == 11
    assert all(d.groups == d.in_channels == d.out_channels for d in depthwise)
    assert traced("squeezenet").layers[-1].out_size == (3, 3)


# RRAM-NAS reference (torchinfo, 1x3x64x64, 10 classes, depth split 5): 80 / 249 / 698.
# Its MobileNetV3-small and ResNet-18 are its own variants; torchvision's give 228 / 699.
@pytest.mark.parametrize("name, pieces", [
    ("squeezenet", 80), ("mbv3_rnc", 249), ("resnet18_cifar", 698), ("mbv3", 228), ("resnet18", 699),
])
def test_piece_counts(name, pieces):
    assert len(network_pieces(traced(name), CompilerSpec())) == pieces


@pytest.mark.parametrize("name", MODELS)
def test_traced_weights_equal_kernel_params(name):
    params = abstract_variables(name)["params"]
    kernels = sum(int(np.prod(leaf.shape)) for path, leaf in
                  jax.tree_util.tree_leaves_with_path(params) if path[-1].key == "kernel")
    assert sum(layer.weights for layer in traced(name).layers) == kernels


def test_no_conv_or_dense_raises():
    class NoWeights(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.relu(nn.LayerNorm()(x))

    with pytest.raises(ValueError, match="no conv or dense"):
        trace(NoWeights(), (4, 4, 3))


def test_a_weight_layer_without_a_mapping_rule_raises():
    class Upsampler(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.ConvTranspose(4, (2, 2), strides=(2, 2), name="up")(nn.Conv(4, (3, 3))(x))

    with pytest.raises(ValueError, match="ConvTranspose 'up'"):
        trace(Upsampler(), (8, 8, 3))
