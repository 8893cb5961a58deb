"""flax.linen layers that run on simulated memristor crossbars.

The only place where flax meets ``analog/``. Each layer keeps an ordinary float
kernel as its parameter and, at every ``apply``:

1. programs it on a chip with the ``"program"`` rng stream (one chip = one
   program key; the same key gives the same chip),
2. reads it with fresh noise from the ``"read"`` stream through the spec's DAC,
   tiles and ADCs (``analog.crossbar.mvm``),
3. adds the bias digitally, and
4. sows its operation counts into the ``"cost"`` collection for ``analog.cost``.

With ``spec.ideal()`` the layers equal ``nn.Dense`` / ``nn.Conv`` with the same
parameters. Gradients flow through programming noise (hardware-aware training)
and straight through the quantizers.

    model.apply(params, x, rngs={"program": chip_key, "read": read_key},
                mutable=["cost"])
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from analog import crossbar, device, noise
from analog.crossbar import CrossbarSpec

__all__ = ["AnalogDense", "AnalogConv", "chip_keys"]

_ANY_KEY = jax.random.PRNGKey(0)


def chip_keys(module: nn.Module, spec: CrossbarSpec) -> tuple[jax.Array, jax.Array]:
    """(program key, read key) for ``module``; a clear error if a noisy spec lacks its stream.

    An ideal spec draws nothing, so it needs no rngs (and gives the same result
    for any key).
    """
    keys = []
    for stream, noisy in (("program", device.has_program_noise(spec.device)),
                          ("read", device.has_read_noise(spec.device))):
        if module.has_rng(stream):
            keys.append(module.make_rng(stream))
        elif noisy:
            raise ValueError(
                f"{type(module).__name__} {module.name!r}: its device spec is noisy, so apply() "
                f"needs rngs={{'{stream}': key}} ('program' = which chip, 'read' = this read's noise)"
            )
        else:
            keys.append(_ANY_KEY)
    return keys[0], keys[1]


def _sow_costs(module: nn.Module, counts: dict[str, float]) -> None:
    for name, value in counts.items():
        module.sow("cost", name, value, init_fn=lambda: 0.0, reduce_fn=lambda a, b: a + b)


def _analog_matmul(module: nn.Module, x: jax.Array, kernels: jax.Array, spec: CrossbarSpec) -> jax.Array:
    """Grouped ``x @ kernel`` on chips.

    x: (..., G * n_in) inputs, kernels: (G, n_in, n_out), one array set per
    group (group g reads its own slice of x). Returns (..., G * n_out).
    """
    groups, n_in, n_out = kernels.shape
    xg = x.reshape(x.shape[:-1] + (groups, n_in))
    if crossbar.is_ideal(spec):  # the ideal limit is the digital product: skip the simulation
        y = jnp.einsum("...gi,gio->...go", xg, kernels)
    else:
        program_key, read_key = chip_keys(module, spec)
        program_keys = noise.split(program_key, groups)
        read_keys = noise.split(read_key, groups)

        def one_group(k_program, k_read, kernel, xs):
            arr = crossbar.program(k_program, kernel, spec)
            return crossbar.mvm(k_read, arr, xs, spec)

        y = jax.vmap(one_group)(program_keys, read_keys, kernels, jnp.moveaxis(xg, -2, 0))
        y = jnp.moveaxis(y, 0, -2)  # (..., G, n_out)
    n_vectors = math.prod(x.shape[:-1])
    counts = crossbar.op_counts(n_vectors, n_in, n_out, spec)
    _sow_costs(module, {name: value if name == "layers" else groups * value for name, value in counts.items()})
    return y.reshape(y.shape[:-2] + (groups * n_out,))


class AnalogDense(nn.Module):
    """``nn.Dense`` whose kernel lives on memristor crossbars.

    Attributes:
        features: output size.
        spec: how the kernel is mapped and read (``analog.crossbar.CrossbarSpec``).
        use_bias: add a (digital) bias.
    """

    features: int
    spec: CrossbarSpec = CrossbarSpec()
    use_bias: bool = True
    kernel_init: Any = nn.initializers.lecun_normal()
    bias_init: Any = nn.initializers.zeros_init()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param("kernel", self.kernel_init, (x.shape[-1], self.features))
        y = _analog_matmul(self, x, kernel[None], self.spec)
        if self.use_bias:
            y = y + self.param("bias", self.bias_init, (self.features,))
        return y


_DIMENSIONS = {1: ("NWC", "WIO", "NWC"), 2: ("NHWC", "HWIO", "NHWC")}


class AnalogConv(nn.Module):
    """``nn.Conv`` (1-D or 2-D, channels last) computed as im2col patches times the
    kernel matrix on crossbars: a (k_h k_w C_in/groups) x (C_out/groups) array
    per group, one array read per output pixel.

    Attributes mirror ``nn.Conv``: features, kernel_size, strides, padding
    ("SAME", "VALID" or explicit pairs), feature_group_count, use_bias; plus
    ``spec`` (``analog.crossbar.CrossbarSpec``).
    """

    features: int
    kernel_size: Sequence[int]
    strides: int | Sequence[int] = 1
    padding: str | Sequence[tuple[int, int]] = "SAME"
    feature_group_count: int = 1
    spec: CrossbarSpec = CrossbarSpec()
    use_bias: bool = True
    kernel_init: Any = nn.initializers.lecun_normal()
    bias_init: Any = nn.initializers.zeros_init()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel_size = tuple(self.kernel_size)
        n_spatial = len(kernel_size)
        if n_spatial not in _DIMENSIONS or x.ndim != n_spatial + 2:
            raise ValueError(
                f"AnalogConv supports 1-D and 2-D convolutions on (batch, *spatial, channels) inputs; "
                f"got kernel_size {kernel_size} and input shape {x.shape}"
            )
        groups = self.feature_group_count
        c_in = x.shape[-1]
        if c_in % groups or self.features % groups:
            raise ValueError(
                f"feature_group_count = {groups} must divide the input channels ({c_in}) "
                f"and features ({self.features})"
            )
        strides = (self.strides,) * n_spatial if isinstance(self.strides, int) else tuple(self.strides)
        kernel = self.param("kernel", self.kernel_init, kernel_size + (c_in // groups, self.features))
        patches = jax.lax.conv_general_dilated_patches(
            x, kernel_size, strides, self.padding, dimension_numbers=_DIMENSIONS[n_spatial]
        )  # (..., C_in * prod(kernel_size)), channel-major
        # (k..., C_in / G, C_out) -> (G, C_in / G * k..., C_out / G), channel-major like the patches
        matrix = jnp.moveaxis(kernel, -2, 0).reshape((-1, groups, self.features // groups))
        y = _analog_matmul(self, patches, jnp.moveaxis(matrix, 1, 0), self.spec)
        if self.use_bias:
            y = y + self.param("bias", self.bias_init, (self.features,))
        return y
