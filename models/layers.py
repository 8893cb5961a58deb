"""flax.linen layers that run on simulated memristor crossbars.

With ``models/chip.py`` (program once, read many), the only place where flax
meets ``analog/``. Three kinds of layer:

* ``AnalogDense`` / ``AnalogConv``: an ordinary float kernel (a parameter),
  optionally transformed (``kernel_transform``: ternary, device levels, low
  rank, pruning; ``analog.transforms``), programmed onto arrays.
* ``RandomDense`` / ``RandomConv``: frozen random weights, the conductances
  that forming leaves in a differential pair (``analog.forming.random_pair``),
  read as they are (``analog.crossbar.from_conductances``), with a learnable
  digital scale (scalar or per channel).
* ``MaskedRandomDense`` / ``MaskedRandomConv`` / ``MaskedRandomRNNCell``: the
  same random weights with trainable scores and a top-k straight-through mask
  per layer (edge-popup, Ramanujan et al. 2020); on hardware a pruned edge is a
  pair RESET to its high-resistance state and reads that, not zero.

Every layer, at every ``apply``:

1. finds its chip: the ``"chip"`` collection if one is given (a chip programmed
   once, ``models.chip.program_chip``), else it programs (or forms) it from the
   ``"program"`` rng stream. The program key depends on the stream and the
   layer's path only, never on how many times the layer is called, so calling a
   layer twice (time steps, solver stages) reads one chip;
2. reads it with fresh noise from the ``"read"`` stream (a new key per call)
   through the spec's DAC, tiles and ADCs (``analog.crossbar.mvm``);
3. adds the bias digitally, and
4. sows its operation counts into the ``"cost"`` collection for ``analog.cost``.

    model.apply(params, x, rngs={"program": chip_key, "read": read_key}, mutable=["cost"])

With ``spec.ideal()`` the analog layers equal ``nn.Dense`` / ``nn.Conv`` with
the same parameters, and the random layers equal the digital product with
their conductances. Gradients flow through programming noise
(hardware-aware training), straight through quantizers and masks, and never
into frozen conductances (they are not parameters).

Time loops inside a module: ``nn.scan`` (or ``nn.RNN``) must not split the
``"program"`` stream and must broadcast ``"chip"``; ``scan_time`` does both, as
do ``SCAN_RNGS`` / ``SCAN_BROADCAST`` / ``SCAN_AXES`` for ``nn.RNN(cell,
split_rngs=SCAN_RNGS, variable_broadcast=SCAN_BROADCAST, variable_axes=SCAN_AXES)``
(without ``SCAN_AXES`` the steps' operation counts are silently dropped).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax.core.scope import LazyRng

from analog import converters, crossbar, device, forming, noise
from analog.crossbar import CrossbarSpec
from analog.device import RRAM
from models.masks import MASK, PULSES_PER_FLIP, _mask, limited_mask, mask_flips, topk_mask  # noqa: F401

__all__ = [
    "AnalogDense", "AnalogConv", "RandomDense", "RandomConv", "MaskedRandomDense", "MaskedRandomConv",
    "MaskedRandomRNNCell", "topk_mask", "mask_flips", "limited_mask", "MASK", "PULSES_PER_FLIP", "program_key",
    "scan_time", "SCAN_RNGS", "SCAN_BROADCAST", "SCAN_AXES", "CHIP", "KINDS", "KindLayers", "RANDOM_SPEC",
]

CHIP = "chip"  # the variable collection holding programmed arrays
SCAN_RNGS = {"params": False, "program": False, "read": True}  # one chip, fresh reads per step
SCAN_BROADCAST = ("params", CHIP)
SCAN_AXES = {"cost": 0}  # operation counts of every step (stacked over time; ``analog.cost.collect`` sums them)
_ANY_KEY = jax.random.PRNGKey(0)
RANDOM_SPEC = CrossbarSpec(device=RRAM.taox_40nm_random().ideal())


# ---------------------------------------------------------------------- keys and chips
def program_key(module: nn.Module) -> jax.Array:
    """The chip key of ``module``: derived from the ``"program"`` stream and the
    module's path, the same at every call in one ``apply`` (unlike ``make_rng``).

    It equals the key of the module's first ``make_rng("program")``. A fixed key
    during ``init`` without the stream (init keeps no chip).
    """
    if not module.has_rng("program"):
        return _ANY_KEY
    return LazyRng.create(module.scope.rngs["program"], 1).as_jax_rng()


def _need(module: nn.Module, stream: str, why: str) -> None:
    """Raise a clear error when ``stream`` is missing ('program' = which chip, 'read' = this
    read's noise). ``init`` needs neither: it only builds parameters (no chip is kept)."""
    if module.has_rng(stream) or module.is_initializing():
        return
    alternative = " or a programmed chip (models.chip.program_chip)" if stream == "program" else ""
    raise ValueError(f"{type(module).__name__} {module.name!r}: {why}, so apply() needs "
                     f"rngs={{'{stream}': key}}{alternative} ('program' = which chip, 'read' = this read's noise)")


def _read_key(module: nn.Module, spec: CrossbarSpec) -> jax.Array:
    if module.has_rng("read"):
        return module.make_rng("read")
    if device.has_read_noise(spec.device):
        _need(module, "read", "its device spec has read noise")
    return _ANY_KEY


def _writing_chip(module: nn.Module) -> bool:
    """Is a chip being written (``mutable=["chip"]`` in an apply, not init)?"""
    return module.is_mutable_collection(CHIP) and not module.is_initializing()


def _chip_arrays(module: nn.Module, make: Callable[[], crossbar.ProgrammedArray],
                 spec: CrossbarSpec) -> crossbar.ProgrammedArray:
    """The layer's programmed arrays: from the ``"chip"`` collection if given (read
    through ``spec``: its read noise, not the one the chip was written with), else
    ``make()`` (stored when a chip is being written)."""
    if module.has_variable(CHIP, "arrays"):
        return jax.vmap(lambda arr: crossbar.read_through(arr, spec))(module.get_variable(CHIP, "arrays"))
    arrays = make()
    if _writing_chip(module):
        module.put_variable(CHIP, "arrays", arrays)
    return arrays


def _sow_costs(module: nn.Module, counts: dict[str, float]) -> None:
    for name, value in counts.items():
        module.sow("cost", name, value, init_fn=lambda: 0.0, reduce_fn=lambda a, b: a + b)


def _read_groups(module: nn.Module, arrays, x: jax.Array, spec: CrossbarSpec, groups: int, n_in: int) -> jax.Array:
    """``mvm`` of each group's arrays with its slice of x (..., G * n_in) -> (..., G, n_out)."""
    xg = x.reshape(x.shape[:-1] + (groups, n_in))
    read_keys = noise.split(_read_key(module, spec), groups)
    y = jax.vmap(lambda k, arr, xs: crossbar.mvm(k, arr, xs, spec))(read_keys, arrays, jnp.moveaxis(xg, -2, 0))
    return jnp.moveaxis(y, 0, -2)


def _grouped_product(x: jax.Array, kernels: jax.Array) -> jax.Array:
    """Digital ``x`` (..., G * n_in) times kernels (G, n_in, n_out) per group -> (..., G, n_out)."""
    groups, n_in, n_out = kernels.shape
    if groups == 1:
        return (x @ kernels[0])[..., None, :]  # a plain matmul: several times faster than the einsum on CPU
    return jnp.einsum("...gi,gio->...go", x.reshape(x.shape[:-1] + (groups, n_in)), kernels)


def _sow_op_counts(module: nn.Module, x: jax.Array, groups: int, n_in: int, n_out: int, spec: CrossbarSpec):
    counts = crossbar.op_counts(math.prod(x.shape[:-1]), n_in, n_out, spec)
    _sow_costs(module, {name: value if name == "layers" else groups * value for name, value in counts.items()})


def _analog_matmul(module: nn.Module, x: jax.Array, kernels: jax.Array, spec: CrossbarSpec) -> jax.Array:
    """Grouped ``x @ kernel`` on programmed chips.

    x: (..., G * n_in) inputs, kernels: (G, n_in, n_out), one array set per
    group (group g reads its own slice of x). Returns (..., G * n_out).
    """
    groups, n_in, n_out = kernels.shape
    if crossbar.is_ideal(spec) and not module.has_variable(CHIP, "arrays"):
        y = _grouped_product(x, kernels)  # the ideal limit is the digital product
    else:
        def make():
            if device.has_program_noise(spec.device) or spec.verify_tol is not None:
                _need(module, "program", "its device spec has programming noise")
            key = program_key(module)
            return jax.vmap(lambda k, w: crossbar.program(k, w, spec))(noise.split(key, groups), kernels)

        y = _read_groups(module, _chip_arrays(module, make, spec), x, spec, groups, n_in)
    _sow_op_counts(module, x, groups, n_in, n_out, spec)
    return y.reshape(y.shape[:-2] + (groups * n_out,))


# ---------------------------------------------------------------------- random weights
def _pair_std(spec: CrossbarSpec):
    """Std (S) of ``g_pos - g_neg`` for the spec's formed cells."""
    return (2.0 * forming.cell_moments(spec.device)[1] ** 2) ** 0.5


def _random_matmul(module: nn.Module, x: jax.Array, shape: tuple[int, int, int], spec: CrossbarSpec,
                   mask: jax.Array | None = None, keep: float = 1.0, prune_to: str = "reset",
                   weight_per_siemens: float | None = None) -> jax.Array:
    """Grouped ``x @ W`` with W the random pair of shape (G, n_in, n_out) that the
    program key forms, normalised to unit variance and divided by sqrt(keep n_in)
    (LeCun scaling of the kept fan-in), or ``weight_per_siemens`` times the raw
    pair when given. ``mask`` (G, n_in, n_out) in {0, 1} (straight-through) selects
    kept edges; pruned ones read the RESET pair or 0 S."""
    groups, n_in, n_out = shape
    per_siemens = (1.0 / (_pair_std(spec) * math.sqrt(keep * n_in)) if weight_per_siemens is None
                   else weight_per_siemens)

    def conductances():
        """Effective (G, n_in, n_out) pair (S) and the RESET pulses per group (G,)."""
        _need(module, "program", "its weights are the random conductances that forming leaves")
        pair = forming.random_pair(program_key(module), shape, spec.device, x.dtype)
        if mask is None:
            return pair.g_pos, pair.g_neg, jnp.zeros((groups,), x.dtype)
        if prune_to == "zero":
            low_pos = low_neg = jnp.zeros_like(pair.g_pos)
        else:
            if pair.reset_pos is None:
                raise ValueError(f"{type(module).__name__} {module.name!r}: prune_to='reset' needs a "
                                 "RESET state (RRAM.reset_mean); use prune_to='zero' for a software mask")
            low_pos, low_neg = pair.reset_pos, pair.reset_neg
        hard = jax.lax.stop_gradient(mask)
        pick = lambda g_set, g_low: jnp.where(hard > 0, g_set, g_low) + (mask - hard) * (g_set - g_low)
        g_pos, g_neg = pick(pair.g_pos, low_pos), pick(pair.g_neg, low_neg)  # exact values, STE gradient
        pruned = jnp.sum(1.0 - hard, axis=(1, 2))
        return g_pos, g_neg, PULSES_PER_FLIP * pruned

    if crossbar.is_ideal(spec) and not module.has_variable(CHIP, "arrays") and not _writing_chip(module):
        g_pos, g_neg, _ = conductances()
        y = _grouped_product(x, (g_pos - g_neg) * per_siemens)
    else:
        def make():
            g_pos, g_neg, reset_pulses = conductances()
            key = program_key(module)
            arrays = jax.vmap(lambda gp, gn, k: crossbar.from_conductances(gp, gn, spec, per_siemens, k))(
                g_pos, g_neg, noise.split(key, groups))
            forming = 2.0 * n_in * n_out  # one forming pulse per cell of a pair
            return dataclasses.replace(arrays, pulses=arrays.pulses + forming + reset_pulses)

        y = _read_groups(module, _chip_arrays(module, make, spec), x, spec, groups, n_in)
    _sow_op_counts(module, x, groups, n_in, n_out, spec)
    return y.reshape(y.shape[:-2] + (groups * n_out,))


def _scale(module: nn.Module, y: jax.Array, kind: str, init: float) -> jax.Array:
    """Multiply by the learnable digital scale: "scalar", "channel" (per output) or "none"."""
    if kind == "none":
        return y
    if kind not in ("scalar", "channel"):
        raise ValueError(f"{type(module).__name__}.scale = {kind!r} is invalid: allowed 'scalar', 'channel', 'none'")
    shape = () if kind == "scalar" else (y.shape[-1],)
    return y * module.param("scale", nn.initializers.constant(init), shape)


def _check_keep(module: nn.Module, keep: float, prune_to: str) -> None:
    if not 0.0 < keep <= 1.0:
        raise ValueError(f"{type(module).__name__}.keep = {keep!r} is invalid: allowed (0, 1] (fraction of edges kept)")
    if prune_to not in ("reset", "zero"):
        raise ValueError(f"{type(module).__name__}.prune_to = {prune_to!r} is invalid: allowed 'reset', 'zero'")


# ---------------------------------------------------------------------- convolution geometry
_DIMENSIONS = {1: ("NWC", "WIO", "NWC"), 2: ("NHWC", "HWIO", "NHWC")}


def _patches(module, x: jax.Array, kernel_size, strides, padding, groups: int, features: int):
    """im2col: ((..., C_in * prod(k)) channel-major patches, per-group matrix shape (G, n_in, n_out))."""
    kernel_size = tuple(kernel_size)
    n_spatial = len(kernel_size)
    if n_spatial not in _DIMENSIONS or x.ndim != n_spatial + 2:
        raise ValueError(
            f"{type(module).__name__} supports 1-D and 2-D convolutions on (batch, *spatial, channels) inputs; "
            f"got kernel_size {kernel_size} and input shape {x.shape}"
        )
    c_in = x.shape[-1]
    if c_in % groups or features % groups:
        raise ValueError(f"feature_group_count = {groups} must divide the input channels ({c_in}) "
                         f"and features ({features})")
    strides = (strides,) * n_spatial if isinstance(strides, int) else tuple(strides)
    patches = _im2col(x, kernel_size, strides, padding)
    return patches, (groups, c_in // groups * math.prod(kernel_size), features // groups)


def _im2col(x: jax.Array, kernel_size: tuple, strides: tuple, padding) -> jax.Array:
    """(B, *spatial, C) -> (B, *out_spatial, C * prod(k)) patches, channel-major (the order of
    ``lax.conv_general_dilated_patches``), built from strided slices: on CPU several times
    faster than that op, which lowers to a convolution with an identity kernel."""
    spatial = x.shape[1:-1]
    pads = jax.lax.padtype_to_pads(spatial, kernel_size, strides, padding) if isinstance(padding, str) \
        else [tuple(p) for p in padding]
    x = jnp.pad(x, [(0, 0), *pads, (0, 0)])
    out = [(n + lo + hi - k) // s + 1 for n, (lo, hi), k, s in zip(spatial, pads, kernel_size, strides)]
    slices = []
    for offset in itertools.product(*(range(k) for k in kernel_size)):
        index = tuple(slice(o, o + (m - 1) * s + 1, s) for o, m, s in zip(offset, out, strides))
        slices.append(x[(slice(None), *index, slice(None))])
    patches = jnp.stack(slices, axis=-1)  # (B, *out, C, prod(k))
    return patches.reshape(patches.shape[:-2] + (-1,))


def _kernel_matrix(kernel: jax.Array, groups: int) -> jax.Array:
    """(k..., C_in / G, C_out) -> (G, C_in / G * k..., C_out / G), channel-major like the patches."""
    matrix = jnp.moveaxis(kernel, -2, 0).reshape((-1, groups, kernel.shape[-1] // groups))
    return jnp.moveaxis(matrix, 1, 0)


def _bias(module, y: jax.Array, use_bias: bool, init) -> jax.Array:
    return y + module.param("bias", init, (y.shape[-1],)) if use_bias else y


# ---------------------------------------------------------------------- programmed weights
class AnalogDense(nn.Module):
    """``nn.Dense`` whose kernel lives on memristor crossbars.

    Attributes:
        features: output size.
        spec: how the kernel is mapped and read (``analog.crossbar.CrossbarSpec``).
        use_bias: add a (digital) bias.
        kernel_transform: applied to the float kernel before programming
            (``analog.transforms``: Ternary, Levels, LowRank, Prune, Compose); None = as is.
    """

    features: int
    spec: CrossbarSpec = CrossbarSpec()
    use_bias: bool = True
    kernel_init: Any = nn.initializers.lecun_normal()
    bias_init: Any = nn.initializers.zeros_init()
    kernel_transform: Callable[[jax.Array], jax.Array] | None = None

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param("kernel", self.kernel_init, (x.shape[-1], self.features))
        if self.kernel_transform is not None:
            kernel = self.kernel_transform(kernel)
        y = _analog_matmul(self, x, kernel[None], self.spec)
        return _bias(self, y, self.use_bias, self.bias_init)


class AnalogConv(nn.Module):
    """``nn.Conv`` (1-D or 2-D, channels last) computed as im2col patches times the
    kernel matrix on crossbars: a (k_h k_w C_in/groups) x (C_out/groups) array
    per group, one array read per output pixel.

    Attributes mirror ``nn.Conv``: features, kernel_size, strides, padding
    ("SAME", "VALID" or explicit pairs), feature_group_count, use_bias; plus
    ``spec`` (``analog.crossbar.CrossbarSpec``) and ``kernel_transform`` (applied
    to the (k..., C_in / groups, C_out) kernel before programming).
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
    kernel_transform: Callable[[jax.Array], jax.Array] | None = None

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        groups = self.feature_group_count
        patches, _ = _patches(self, x, self.kernel_size, self.strides, self.padding, groups, self.features)
        kernel = self.param("kernel", self.kernel_init,
                            tuple(self.kernel_size) + (x.shape[-1] // groups, self.features))
        if self.kernel_transform is not None:
            kernel = self.kernel_transform(kernel)
        y = _analog_matmul(self, patches, _kernel_matrix(kernel, groups), self.spec)
        return _bias(self, y, self.use_bias, self.bias_init)


# ---------------------------------------------------------------------- random weights
class RandomDense(nn.Module):
    """A dense layer whose weights are the random conductances of a formed pair,
    frozen (one program key = one chip), times a learnable digital scale.

    ``y = scale * x @ (G+ - G-) / (std(G+ - G-) sqrt(n_in)) (+ bias)``: unit-variance
    random weights with LeCun fan-in scaling; read noise, DAC and ADC from ``spec``.

    Attributes:
        features: output size.
        spec: a crossbar spec whose device has a formed state (default: the 40 nm
            TaOx random source, ideal reads).
        scale: "scalar", "channel" (one per output) or "none"; scale_init its value.
        use_bias: add a learnable digital bias.
    """

    features: int
    spec: CrossbarSpec = RANDOM_SPEC
    scale: str = "scalar"
    scale_init: float = 1.0
    use_bias: bool = False
    bias_init: Any = nn.initializers.zeros_init()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        y = _random_matmul(self, x, (1, x.shape[-1], self.features), self.spec)
        return _bias(self, _scale(self, y, self.scale, self.scale_init), self.use_bias, self.bias_init)


class RandomConv(nn.Module):
    """``RandomDense`` as a convolution (im2col, like ``AnalogConv``): the random pair
    is the (k_h k_w C_in/groups) x (C_out/groups) matrix of each group.

    Attributes: features, kernel_size, strides, padding, feature_group_count as in
    ``nn.Conv``; spec, scale, scale_init, use_bias as in ``RandomDense``.
    """

    features: int
    kernel_size: Sequence[int]
    strides: int | Sequence[int] = 1
    padding: str | Sequence[tuple[int, int]] = "SAME"
    feature_group_count: int = 1
    spec: CrossbarSpec = RANDOM_SPEC
    scale: str = "scalar"
    scale_init: float = 1.0
    use_bias: bool = False
    bias_init: Any = nn.initializers.zeros_init()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        patches, shape = _patches(self, x, self.kernel_size, self.strides, self.padding,
                                  self.feature_group_count, self.features)
        y = _random_matmul(self, patches, shape, self.spec)
        return _bias(self, _scale(self, y, self.scale, self.scale_init), self.use_bias, self.bias_init)


class MaskedRandomDense(nn.Module):
    """Edge-popup on random conductances: frozen random pairs, trainable scores, and
    the top ``keep`` fraction of |scores| kept (``topk_mask``, straight-through).

    ``y = scale * x @ (W_set M + W_reset (1 - M)) / (std(W) sqrt(keep n_in))``: a
    pruned edge reads its RESET pair (``prune_to="reset"``, the hardware) or 0 S
    (``"zero"``, the software mask).

    Attributes:
        features, spec, scale, scale_init, use_bias: as in ``RandomDense``.
        keep: fraction of edges kept, (0, 1].
        prune_to: "reset" or "zero".
        score_init: initialiser of the scores (Kaiming uniform, as edge-popup).
        limit_flips: keep the mask on the chip in the ``"mask"`` collection and
            update it with the reprogramming limiter (``limited_mask``) in applies
            where that collection is mutable; False = plain top-k at every call.
        weight_per_siemens: weight units per siemens of the raw pair (e.g. PRIME's
            0.01 per uS = 1e4); None = the unit-variance normalisation above.
    """

    features: int
    spec: CrossbarSpec = RANDOM_SPEC
    keep: float = 0.5
    prune_to: str = "reset"
    scale: str = "scalar"
    scale_init: float = 1.0
    use_bias: bool = False
    bias_init: Any = nn.initializers.zeros_init()
    score_init: Any = nn.initializers.kaiming_uniform()
    limit_flips: bool = False
    weight_per_siemens: float | None = None

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        _check_keep(self, self.keep, self.prune_to)
        scores = self.param("scores", self.score_init, (x.shape[-1], self.features))
        mask = _mask(self, scores, self.keep, self.limit_flips)[None]
        y = _random_matmul(self, x, (1, x.shape[-1], self.features), self.spec, mask, self.keep, self.prune_to,
                           self.weight_per_siemens)
        return _bias(self, _scale(self, y, self.scale, self.scale_init), self.use_bias, self.bias_init)


class MaskedRandomConv(nn.Module):
    """``MaskedRandomDense`` as a convolution; scores have the kernel's shape
    (k..., C_in / groups, C_out) and one top-k mask covers the whole layer.

    Attributes: nn.Conv's geometry plus those of ``MaskedRandomDense``.
    """

    features: int
    kernel_size: Sequence[int]
    strides: int | Sequence[int] = 1
    padding: str | Sequence[tuple[int, int]] = "SAME"
    feature_group_count: int = 1
    spec: CrossbarSpec = RANDOM_SPEC
    keep: float = 0.5
    prune_to: str = "reset"
    scale: str = "scalar"
    scale_init: float = 1.0
    use_bias: bool = False
    bias_init: Any = nn.initializers.zeros_init()
    score_init: Any = nn.initializers.kaiming_uniform()
    limit_flips: bool = False
    weight_per_siemens: float | None = None

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        _check_keep(self, self.keep, self.prune_to)
        groups = self.feature_group_count
        patches, shape = _patches(self, x, self.kernel_size, self.strides, self.padding, groups, self.features)
        scores = self.param("scores", self.score_init,
                            tuple(self.kernel_size) + (x.shape[-1] // groups, self.features))
        mask = _kernel_matrix(_mask(self, scores, self.keep, self.limit_flips), groups)
        y = _random_matmul(self, patches, shape, self.spec, mask, self.keep, self.prune_to, self.weight_per_siemens)
        return _bias(self, _scale(self, y, self.scale, self.scale_init), self.use_bias, self.bias_init)


class MaskedRandomRNNCell(nn.RNNCellBase):
    """Elman cell on masked random arrays: ``h' = activation(W_in x + W_rec h + b)``,
    both matrices ``MaskedRandomDense`` (one chip each, fixed across time steps).

    Use it with ``nn.RNN(cell, split_rngs=SCAN_RNGS, variable_broadcast=SCAN_BROADCAST,
    variable_axes=SCAN_AXES)`` so every time step reads the same chip (and its counts are kept). Attributes: features, spec, keep,
    prune_to, activation, limit_flips (then broadcast ``"mask"`` too and update it
    once per sequence outside the scan: a limited mask is not a per-step state).
    """

    features: int
    spec: CrossbarSpec = RANDOM_SPEC
    keep: float = 0.5
    prune_to: str = "reset"
    activation: Callable[[jax.Array], jax.Array] = nn.relu
    limit_flips: bool = False

    @nn.compact
    def __call__(self, carry: jax.Array, x: jax.Array):
        layer = lambda name, bias: MaskedRandomDense(self.features, self.spec, self.keep, self.prune_to,
                                                     use_bias=bias, limit_flips=self.limit_flips, name=name)
        h = self.activation(layer("input", True)(x) + layer("recurrent", False)(carry))
        return h, h

    def initialize_carry(self, rng, input_shape):
        return jnp.zeros(tuple(input_shape[:-1]) + (self.features,))

    @property
    def num_feature_axes(self) -> int:
        return 1


KINDS = ("weights", "pruned")


class KindLayers(nn.Module):
    """Factory of a network's array layers in two kinds (a mixin; the host module has
    attributes ``kind``, ``spec``, ``keep``, ``limit_flips``, and optionally
    ``weight_per_siemens``): "weights" = trained kernels on programmed arrays
    (``AnalogConv`` / ``AnalogDense``), "pruned" = edge-popup masks on the random
    conductances (``MaskedRandomConv`` / ``MaskedRandomDense``). No biases."""

    def _check(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{type(self).__name__}.kind = {self.kind!r} is invalid: allowed {KINDS}")

    def conv(self, features: int, kernel_size, strides=1, padding="VALID", name=None) -> nn.Module:
        return self.conv_maker(features, kernel_size, strides, padding)(name=name)

    def dense(self, features: int, name=None) -> nn.Module:
        return self.dense_maker(features)(name=name)

    def conv_maker(self, features: int, kernel_size, strides=1, padding="VALID") -> Callable[..., nn.Module]:
        """The layer's class with its arguments bound (``functools.partial``): call it
        where the layer should live, e.g. inside a scanned time step."""
        if self.kind == "weights":
            return functools.partial(AnalogConv, features, kernel_size, strides, padding, spec=self.spec,
                                     use_bias=False)
        return functools.partial(MaskedRandomConv, features, kernel_size, strides, padding, spec=self.spec,
                                 keep=self.keep, scale="none", limit_flips=self.limit_flips,
                                 weight_per_siemens=getattr(self, "weight_per_siemens", None))

    def dense_maker(self, features: int) -> Callable[..., nn.Module]:
        """``conv_maker`` for a dense layer."""
        if self.kind == "weights":
            return functools.partial(AnalogDense, features, spec=self.spec, use_bias=False)
        return functools.partial(MaskedRandomDense, features, spec=self.spec, keep=self.keep, scale="none",
                                 limit_flips=self.limit_flips,
                                 weight_per_siemens=getattr(self, "weight_per_siemens", None))


def scan_time(module_cls, **scan_kwargs):
    """``nn.scan(module_cls, ...)`` over a leading time axis that reads one chip at
    every step: ``"program"`` not split, ``"chip"`` and params broadcast, ``"read"``
    split (fresh read noise per step), the ``"cost"`` counts of every step kept
    (stacked on a leading time axis: a collection ``nn.scan`` is not told about is
    dropped silently). Other ``nn.scan`` arguments pass through."""
    scan_kwargs.setdefault("variable_axes", dict(SCAN_AXES))
    scan_kwargs.setdefault("in_axes", 0)
    scan_kwargs.setdefault("out_axes", 0)
    split_rngs = {**SCAN_RNGS, **scan_kwargs.pop("split_rngs", {})}  # other streams (e.g. sampling) added
    return nn.scan(module_cls, variable_broadcast=list(SCAN_BROADCAST), split_rngs=split_rngs, **scan_kwargs)
