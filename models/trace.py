"""Read a flax.linen model off as the compiler's :class:`~analog.compiler.network.Network`.

    net = trace(ResNet18(num_classes=10), (64, 64, 3))
    pieces = network_pieces(net, CompilerSpec())

The model is initialised abstractly (``jax.eval_shape``, so no array is ever
computed) on one sample of shape (1, H, W, C), and every ``__call__`` of an
``nn.Conv``, ``nn.Dense``, ``AnalogConv`` or ``AnalogDense`` is recorded, in
execution order, through ``flax.linen.intercept_methods``. A module called
twice is recorded twice (it runs twice in the pipeline).
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from analog.compiler.network import Layer, Network
from models.layers import AnalogConv, AnalogDense

__all__ = ["trace"]

_CONVS = (nn.Conv, AnalogConv)
_DENSES = (nn.Dense, AnalogDense)
_STREAMS = ("params", "dropout", "program", "read")
# layers with weights the compiler has no box rule for: refuse rather than drop them
_UNSUPPORTED = (nn.ConvTranspose, nn.ConvLocal, nn.DenseGeneral, nn.Einsum)


def _pair(values: tuple) -> tuple[int, int]:
    """A 1- or 2-tuple as an (h, w) pair; 1-D (w,) becomes (1, w)."""
    values = tuple(int(v) for v in values)
    return (1,) + values if len(values) == 1 else values


def _conv_layer(module: nn.Module, name: str, x_shape: tuple, y_shape: tuple) -> Layer:
    """x_shape: (1, *spatial, C_in), y_shape: (1, *spatial_out, C_out), 1 or 2 spatial dims."""
    ks = module.kernel_size
    kernel = (ks,) if isinstance(ks, int) else tuple(ks)
    n = len(kernel)
    if n not in (1, 2) or len(x_shape) != n + 2:
        raise ValueError(f"trace: conv {name!r} has kernel_size {kernel} and input shape {x_shape}; "
                         "only 1-D and 2-D convolutions on (batch, *spatial, channels) are supported")
    strides = 1 if module.strides is None else module.strides
    strides = (strides,) * n if isinstance(strides, int) else tuple(strides)
    return Layer(name=name, kind="conv", in_channels=int(x_shape[-1]),
                 out_channels=int(y_shape[-1]), kernel=_pair(kernel),
                 groups=int(module.feature_group_count), stride=_pair(strides),
                 out_size=_pair(y_shape[1:-1]))


def _dense_layer(name: str, x_shape: tuple, y_shape: tuple) -> Layer:
    """x_shape: (1, ..., in), y_shape: (1, ..., out); vectors = prod of the middle dims."""
    vectors = math.prod(x_shape[1:-1])
    return Layer(name=name, kind="dense", in_channels=int(x_shape[-1]),
                 out_channels=int(y_shape[-1]), out_size=(int(vectors), 1))


def trace(model: nn.Module, input_shape: tuple, name: str | None = None, **apply_kwargs) -> Network:
    """The conv / dense layers of ``model`` in execution order, as a ``Network``.

    Args:
        model: an unbound flax.linen module taking a (batch, H, W, C) array
            (or any (batch, *input_shape) array) as its first argument.
        input_shape: the shape of one sample, e.g. (H, W, C); a batch of 1 is added.
        name: the network's name (default: the model's class name).
        **apply_kwargs: passed to the model's call, e.g. ``train=False``.

    Returns:
        ``Network(name, layers, input_shape)``: one ``Layer`` per conv / dense
        call, named by the module's scope path joined with "/". A conv's
        out_size is its output (H_out, W_out); a dense layer's out_size is
        (vectors, 1), vectors = the input's size over all dims but batch and
        features (1 for a (batch, features) input).

    Raises:
        ValueError: if the model calls no conv or dense layer, or a weight layer
            without a mapping rule (ConvTranspose, ConvLocal, DenseGeneral, Einsum).
    """
    layers = []

    def record(next_fun, args, kwargs, context):
        out = next_fun(*args, **kwargs)
        module = context.module
        if context.method_name == "__call__" and isinstance(module, _UNSUPPORTED):
            raise ValueError(f"trace: {type(module).__name__} {'/'.join(module.path)!r} has no "
                             "crossbar mapping rule; use nn.Conv / nn.Dense (or the Analog layers)")
        if context.method_name == "__call__" and isinstance(module, _CONVS + _DENSES):
            layer_name = "/".join(module.path) or type(module).__name__
            x_shape, y_shape = tuple(args[0].shape), tuple(out.shape)
            if isinstance(module, _CONVS):
                layers.append(_conv_layer(module, layer_name, x_shape, y_shape))
            else:
                layers.append(_dense_layer(layer_name, x_shape, y_shape))
        return out

    key = jax.random.PRNGKey(0)
    rngs = {stream: key for stream in _STREAMS}

    def init(x):
        with nn.intercept_methods(record):
            return model.init(rngs, x, **apply_kwargs)

    jax.eval_shape(init, jax.ShapeDtypeStruct((1, *input_shape), jnp.float32))
    network_name = name or type(model).__name__
    if not layers:
        raise ValueError(f"trace: model {network_name!r} calls no conv or dense layer "
                         "(nn.Conv, nn.Dense, AnalogConv, AnalogDense); nothing to compile")
    return Network(name=network_name, layers=tuple(layers), input_shape=tuple(input_shape))
