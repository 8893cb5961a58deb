"""Weight matrices on memristor crossbars: mapping, tiling, programming, noisy MVM.

A weight matrix ``w`` of shape (n_in, n_out) is stored as conductances (S):

* ``mapping="differential"``: a pair per weight, ``w ∝ G+ - G-`` with
  ``G± = g_min + (g_max - g_min) relu(±w) / w_max``;
* ``mapping="offset"``: one cell per weight around the window centre g_c,
  ``w ∝ G - g_c``, with g_c subtracted by an ideal reference column (the
  20-80 uS window with 50 uS = zero).

``w_max`` is ``max|w|`` over the tensor (``weight_scale="tensor"``) or per output
column (``"column"``). Rows are cut into tiles of ``tile_rows`` (default 512, the
256 Kb macro); each tile's column currents go through their own ADC and the
partial sums are added digitally.

Inputs are scaled per input vector by ``x_max = max|x|`` to [-1, 1] voltages
(``v_read`` volts at 1), optionally quantized by a DAC or applied bit-serially;
array outputs are in normalised units (one cell pair at full swing and full
input = 1, see ``converters.ADC``) before they are converted and rescaled by
``x_max * w_max``.

Read noise: ``read_path="output"`` (default) draws, for every tile, column and
read, one Gaussian with variance ``(x**2) @ sigma_w**2`` -- in distribution the
same as independent Gaussian noise on every weight at every read, at the cost of
one extra matmul. ``read_path="weight"`` draws every weight's noise explicitly
(exact for the non-Gaussian clip at zero conductance; slow, for checks).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from analog import converters, device, noise
from analog.converters import ADC, DAC
from analog.device import RRAM
from analog.spec import check_choice, check_finite, check_range, spec, static

__all__ = [
    "CrossbarSpec",
    "ProgrammedArray",
    "read_through",
    "program",
    "from_conductances",
    "age",
    "mvm",
    "effective_weight",
    "sample_weight",
    "op_counts",
    "tile_grid",
    "is_ideal",
]


@spec
class CrossbarSpec:
    """How a weight matrix is put on arrays and read.

    device: the cell population (``analog.device.RRAM``).
    tile_rows, tile_cols: array size (cells); default 512 x 512.
    mapping: "differential" (G+ - G- pair) or "offset" (one cell around the window centre).
    weight_scale: "tensor" (one w_max) or "column" (w_max per output column).
    dac: input converter (None = ideal analogue inputs).
    adc: column converter per tile (None = ideal).
    read_path: "output" (fast, exact in distribution for Gaussian read noise) or "weight".
    drift_compensation: rescale outputs by the global drift factor measured with an
        all-ones calibration read (aihwkit's GlobalDriftCompensation).
    v_read: read voltage at full input (V); sets physical currents for cost models.
    t_inference: time since programming (s) at which the chip is used (drift, 1/f noise).
    verify_tol: write-and-verify acceptance band (S) of ``device.program_verify``;
        None = open-loop programming, one pulse per cell.
    max_pulses: write pulses per cell at most when verifying (static).
    """

    device: RRAM = dataclasses.field(default_factory=RRAM)
    tile_rows: int = static(512)
    tile_cols: int = static(512)
    mapping: str = static("differential")
    weight_scale: str = static("tensor")
    dac: DAC | None = None
    adc: ADC | None = None
    read_path: str = static("output")
    drift_compensation: bool = static(False)
    v_read: float = 0.2
    t_inference: float = 0.0
    verify_tol: float | None = None
    max_pulses: int = static(20)

    def validate(self):
        check_range(self, "tile_rows", 1, None, integer=True)
        check_range(self, "tile_cols", 1, None, integer=True)
        check_choice(self, "mapping", ("differential", "offset"))
        check_choice(self, "weight_scale", ("tensor", "column"))
        check_choice(self, "read_path", ("output", "weight"))
        check_range(self, "v_read", 0.0, lo_open=True)
        check_range(self, "t_inference", 0.0)
        check_range(self, "verify_tol", 0.0, allow_none=True)
        check_range(self, "max_pulses", 1, None, integer=True)
        for name, kinds in (("device", (RRAM,)), ("dac", (DAC, type(None))), ("adc", (ADC, type(None)))):
            value = getattr(self, name)
            if not isinstance(value, kinds):
                allowed = " or ".join(k.__name__ for k in kinds)
                raise ValueError(f"CrossbarSpec.{name} = {value!r} is invalid: allowed {allowed}")

    def ideal(self) -> "CrossbarSpec":
        """Every non-ideality off: ideal device, ideal converters, no drift compensation
        (write-and-verify settings stay: on an ideal device every cell takes one pulse)."""
        return self.replace(device=self.device.ideal(), dac=None, adc=None, drift_compensation=False)

    def with_device(self, **changes) -> "CrossbarSpec":
        """This spec with ``device.replace(**changes)``: one knob, e.g. ``prog_sigma=5e-6``."""
        return self.replace(device=self.device.replace(**changes))


def is_ideal(spec: CrossbarSpec) -> bool:
    """Static check: is ``spec`` its own ideal limit (``spec == spec.ideal()``)?

    Then ``mvm(program(w))`` is ``x @ w`` by construction, and callers may skip the
    simulation. False for any spec with traced (vmapped) values.
    """
    try:
        return bool(spec == spec.ideal())
    except (jax.errors.ConcretizationTypeError, jax.errors.TracerBoolConversionError, TypeError, ValueError):
        return False


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class ProgrammedArray:
    """A weight matrix written on a chip (a pytree; vmap it over chips).

    g_pos, g_neg: conductances at programming (S), (n_in, n_out); for the offset
        mapping g_neg is the ideal reference g_c.
    nu_pos, nu_neg: per-device drift exponents.
    w_max: weight per full conductance swing, scalar or (1, n_out).
    t: time since programming (s) of the cached read-out below.
    w_norm: weights at time t divided by w_max, (n_in, n_out); the read cuts them
        into row tiles of ``spec.tile_rows`` (the last tile may be shorter: it is
        never zero-padded, which cost work and made LLVM take minutes to compile
        noisy multi-tile layers with converters).
    var_norm: read-noise variance of each of those weights, same layout.
    gain: digital drift-compensation factor applied to the outputs.
    pulses: write pulses spent programming the array (scalar; ``analog.cost``
        prices them as ``programming_pulses``); 0 for an array built from given
        conductances (``from_conductances``: forming is counted by its caller).
    """

    g_pos: jax.Array
    g_neg: jax.Array
    nu_pos: jax.Array
    nu_neg: jax.Array
    w_max: jax.Array
    t: jax.Array
    w_norm: jax.Array
    var_norm: jax.Array
    gain: jax.Array
    pulses: jax.Array

    @property
    def shape(self) -> tuple[int, int]:
        return self.g_pos.shape[-2:]


def tile_grid(n_in: int, n_out: int, spec: CrossbarSpec) -> tuple[int, int]:
    """Number of (row, column) tiles that an (n_in, n_out) matrix occupies."""
    return math.ceil(n_in / spec.tile_rows), math.ceil(n_out / spec.tile_cols)


def _swing(spec: CrossbarSpec):
    """Conductance per unit normalised weight (S): full swing of the mapping."""
    dg = spec.device.g_max - spec.device.g_min
    return dg / 2.0 if spec.mapping == "offset" else dg


def _weight_max(w: jax.Array, spec: CrossbarSpec) -> jax.Array:
    if spec.weight_scale == "column":
        w_max = jnp.max(jnp.abs(w), axis=0, keepdims=True)
    else:
        w_max = jnp.max(jnp.abs(w))
    return jax.lax.stop_gradient(jnp.where(w_max > 0, w_max, 1.0))


def _targets(w: jax.Array, w_max: jax.Array, spec: CrossbarSpec):
    dev = spec.device
    wn = w / w_max
    if spec.mapping == "offset":
        centre = (dev.g_min + dev.g_max) / 2.0
        return centre + _swing(spec) * wn, jnp.full_like(w, centre)
    # |wn| (w_pos, w_neg) = ((|wn| + wn) / 2, (|wn| - wn) / 2) rather than relu(+-wn): at wn = 0 (every zero
    # of a ternary or pruned kernel) the gradient of w_pos - w_neg is 1, where relu'(0) = 0 would freeze it
    pos, neg = 0.5 * (jnp.abs(wn) + wn), 0.5 * (jnp.abs(wn) - wn)
    return dev.g_min + _swing(spec) * pos, dev.g_min + _swing(spec) * neg


def _check_matrix(w: jax.Array, name: str = "weight matrix") -> None:
    shape = jnp.shape(w)
    if len(shape) != 2 or 0 in shape:
        raise ValueError(f"{name} has shape {shape}: expected (n_in, n_out) with n_in, n_out >= 1")
    check_finite(name, w)


def _write(key: jax.Array, g_target: jax.Array, spec: CrossbarSpec):
    """Program cells to ``g_target`` (S): open loop or write-and-verify -> (g, total pulses)."""
    if spec.verify_tol is None:
        return device.program(key, g_target, spec.device), jnp.asarray(g_target.size, g_target.dtype)
    g, pulses = device.program_verify(key, g_target, spec.device, spec.verify_tol, spec.max_pulses)
    return g, jnp.sum(pulses)


def program(key: jax.Array, w: jax.Array, spec: CrossbarSpec) -> ProgrammedArray:
    """Write ``w`` (n_in, n_out) on a chip (``key`` = the chip's programming key).

    Returns the programmed array read out ``spec.t_inference`` seconds after
    programming (see ``age``), with the write pulses it took (``pulses``: one per
    cell, or the write-and-verify count when ``spec.verify_tol`` is set).
    Differentiable in ``w`` (straight-through where levels are rounded or cells
    verified) for hardware-aware training.
    """
    _check_matrix(w)
    noise.check_key(key)
    noisy = device.has_program_noise(spec.device) or spec.verify_tol is not None
    k_pos, k_neg, k_nu_pos, k_nu_neg = noise.split(key, 4) if noisy else (key,) * 4
    w_max = _weight_max(w, spec)
    target_pos, target_neg = _targets(w, w_max, spec)
    drifts = device.has_drift(spec.device)
    exponent = lambda k, g: device.drift_exponent(k, g, spec.device) if drifts else jnp.zeros_like(g)
    g_pos, pulses = _write(k_pos, target_pos, spec)
    nu_pos = exponent(k_nu_pos, g_pos)
    if spec.mapping == "offset":
        g_neg, nu_neg = target_neg, jnp.zeros_like(target_neg)
    else:
        g_neg, pulses_neg = _write(k_neg, target_neg, spec)
        pulses = pulses + pulses_neg
        nu_neg = exponent(k_nu_neg, g_neg)
    return _array(g_pos, g_neg, nu_pos, nu_neg, w_max, pulses, spec)


def _array(g_pos, g_neg, nu_pos, nu_neg, w_max, pulses, spec: CrossbarSpec) -> ProgrammedArray:
    zero = jnp.zeros((), g_pos.dtype)
    arr = ProgrammedArray(g_pos, g_neg, nu_pos, nu_neg, jnp.asarray(w_max, g_pos.dtype), zero,
                          g_pos, g_pos, zero + 1.0, jnp.asarray(pulses, g_pos.dtype))
    return age(arr, spec.t_inference, spec)


def from_conductances(g_pos: jax.Array, g_neg: jax.Array, spec: CrossbarSpec, scale=1.0,
                      key: jax.Array | None = None) -> ProgrammedArray:
    """An array holding given conductances (S), e.g. the random pair that forming left
    (``forming.random_pair``), read as the weight ``scale * (g_pos - g_neg)``.

    g_pos, g_neg: (n_in, n_out) conductances (S), used as they are: no re-mapping
        into the window, so read noise sees the real conductances.
    scale: weight per siemens (1/S; scalar or (1, n_out)); the default 1 gives
        ``mvm(x) = x @ (g_pos - g_neg)`` in amperes per volt of input.
    key: program key for the drift exponents; needed only if the device drifts.
    With every read non-ideality off, ``mvm`` equals ``x @ (g_pos - g_neg) * scale``.
    Differentiable in the conductances (masks built from them train through it).
    """
    _check_matrix(g_pos, "g_pos")
    if jnp.shape(g_neg) != jnp.shape(g_pos):
        raise ValueError(f"g_neg has shape {jnp.shape(g_neg)}; g_pos has {jnp.shape(g_pos)}: a pair "
                         "must have one shape (n_in, n_out)")
    check_finite("g_neg", g_neg)
    if key is not None:
        noise.check_key(key)
    drifts = device.has_drift(spec.device)
    if drifts and key is None:
        raise ValueError("from_conductances: the device drifts, so the drift exponents need the "
                         "chip's program key (key=...)")
    nu_pos = nu_neg = jnp.zeros_like(g_pos)
    if drifts:
        k_pos, k_neg = noise.split(key)
        nu_pos = device.drift_exponent(k_pos, g_pos, spec.device)
        nu_neg = device.drift_exponent(k_neg, g_neg, spec.device)
    w_max = jnp.asarray(scale, g_pos.dtype) * _swing(spec)
    return _array(g_pos, g_neg, nu_pos, nu_neg, w_max, 0.0, spec)


def _conductances_at(arr: ProgrammedArray, t, spec: CrossbarSpec):
    if not device.has_drift(spec.device):  # skipped at trace time
        return arr.g_pos, arr.g_neg
    g_pos = device.drift(arr.g_pos, t, spec.device, arr.nu_pos)
    if spec.mapping == "offset":
        return g_pos, arr.g_neg
    return g_pos, device.drift(arr.g_neg, t, spec.device, arr.nu_neg)


def age(arr: ProgrammedArray, t, spec: CrossbarSpec) -> ProgrammedArray:
    """The same chip read out ``t`` seconds after programming (drift applied from programming).

    Caches the effective weights and their read-noise variances at ``t`` (normalised
    by w_max), and the global drift-compensation gain when the spec asks for it.
    """
    t = jnp.asarray(t, arr.g_pos.dtype)
    g_pos, g_neg = _conductances_at(arr, t, spec)
    to_weight = arr.w_max / _swing(spec)
    w_now = (g_pos - g_neg) * to_weight
    var_pos = device.read_sigma(g_pos, spec.device, t, arr.g_pos) ** 2
    var_neg = 0.0 if spec.mapping == "offset" else device.read_sigma(g_neg, spec.device, t, arr.g_neg) ** 2
    var_now = (var_pos + var_neg) * to_weight**2
    gain = jnp.ones((), w_now.dtype)
    if spec.drift_compensation:
        w_zero = (arr.g_pos - arr.g_neg) * to_weight
        reference = jnp.sum(jnp.abs(jnp.sum(w_zero, axis=0)))
        now = jnp.sum(jnp.abs(jnp.sum(w_now, axis=0)))
        gain = reference / jnp.maximum(now, 1e-12 * reference + 1e-30)
    return dataclasses.replace(arr, t=t, gain=gain, w_norm=w_now / arr.w_max, var_norm=var_now / arr.w_max**2)


def read_through(arr: ProgrammedArray, spec: CrossbarSpec) -> ProgrammedArray:
    """The chip ``arr`` as read through ``spec``: the read-noise variances (and drift
    compensation) recomputed with ``spec.device`` at the array's age. Read noise
    belongs to the read, not to the write: a chip programmed once and read at
    several read-noise levels needs this (the cached ``var_norm`` is the writer's)."""
    return age(arr, arr.t, spec)


def _tiles(n_in: int, rows: int) -> list[slice]:
    """Row slices of the tiles an n_in-row matrix occupies (the last may be shorter)."""
    return [slice(start, min(start + rows, n_in)) for start in range(0, n_in, rows)]


def effective_weight(arr: ProgrammedArray) -> jax.Array:
    """The weight matrix (n_in, n_out) the chip computes with (noise-free read, drift compensation applied)."""
    return arr.w_norm * arr.w_max * arr.gain


def sample_weight(key: jax.Array, arr: ProgrammedArray, spec: CrossbarSpec) -> jax.Array:
    """One noisy read of every weight (n_in, n_out), drift compensation applied."""
    k_pos, k_neg = noise.split(key)
    g_pos, g_neg = _conductances_at(arr, arr.t, spec)
    g_pos = device.read(k_pos, g_pos, spec.device, arr.t, arr.g_pos)
    if spec.mapping != "offset":
        g_neg = device.read(k_neg, g_neg, spec.device, arr.t, arr.g_neg)
    return (g_pos - g_neg) * (arr.w_max / _swing(spec)) * arr.gain


def _encode_inputs(x: jax.Array, spec: CrossbarSpec):
    """Encode inputs per vector as the DAC applies them: returns (planes (P, B, n),
    plane weights (P, B), scale (B, 1)) with ``x = scale * sum_p weights[p] planes[p]``
    (up to the DAC's rounding)."""
    offset = spec.dac is not None and spec.dac.encoding == "offset"
    if offset:
        lo = jax.lax.stop_gradient(jnp.min(x, axis=-1, keepdims=True))
        scale = jax.lax.stop_gradient(jnp.max(x, axis=-1, keepdims=True)) - lo
        scale = jnp.where(scale > 0, scale, 1.0)
        xn = (x - lo) / scale
    else:
        scale = jax.lax.stop_gradient(jnp.max(jnp.abs(x), axis=-1, keepdims=True))
        scale = jnp.where(scale > 0, scale, 1.0)
        xn = x / scale
    ones = jnp.ones((1, x.shape[0]), x.dtype)
    if spec.dac is None:
        planes, weights = xn[None], ones
    elif spec.dac.bit_serial:
        planes, w = (converters.unsigned_bit_planes if offset else converters.bit_planes)(xn, spec.dac.bits)
        planes = converters.ste(jnp.broadcast_to(xn, planes.shape) / w.sum(), planes)
        weights = jnp.broadcast_to(w[:, None], (len(w), x.shape[0]))
    elif offset:
        planes = converters.quantize_uniform(xn, spec.dac.bits, 0.0, 1.0)[None]
        weights = ones
    else:
        planes, weights = converters.dac(xn, spec.dac)[None], ones
    if offset:  # the lo @ W term: one read of an all-ones plane, weighted by lo / scale per vector
        planes = jnp.concatenate([planes, jnp.ones_like(xn)[None]])
        weights = jnp.concatenate([weights, (lo / scale).T])
    return planes, weights, scale


def _noisy(key, x, w, var, spec):
    """``x @ w`` plus read noise of variance ``(x * x) @ var`` (normalised units)."""
    y = x @ w
    if device.has_read_noise(spec.device):
        std = jax.lax.stop_gradient(jnp.sqrt((x * x) @ var))
        y = y + std * noise.normal(key, y.shape, y.dtype)
    return y


def _column_sums(key, arr, x, spec):
    """Digitised column sums of inputs ``x`` (V, n_in), normalised units -> ((V, n_out), clips).

    Each row tile is read (with its own read noise) and converted by its own
    ADC; the converted partial sums are added digitally. Without an ADC, tiles
    add before anything nonlinear, so the whole matrix is one contraction.
    """
    n_in, n_out = arr.w_norm.shape
    tiles = _tiles(n_in, spec.tile_rows)
    clipped = jnp.zeros((), jnp.int32)
    if spec.read_path == "weight" and device.has_read_noise(spec.device):
        def one_read(k, xv):  # one input vector read with its own noisy weights
            w_read = sample_weight(k, arr, spec) / (arr.gain * arr.w_max)
            partial = jnp.stack([xv[t] @ w_read[t] for t in tiles])
            return partial if spec.adc is None else converters.adc(partial, spec.adc)
        partials = jax.vmap(one_read)(jax.random.split(key, x.shape[0]), x)
        if spec.adc is not None:
            clipped = converters.adc_clip_count(partials, spec.adc)
        return partials.sum(axis=1), clipped
    if spec.adc is None:
        return _noisy(key, x, arr.w_norm, arr.var_norm, spec), clipped
    total = jnp.zeros((x.shape[0], n_out), x.dtype)
    for i, t in enumerate(tiles):  # static and small; unrolled matmuls beat a batched one on CPU
        partial = _noisy(jax.random.fold_in(key, i), x[:, t], arr.w_norm[t], arr.var_norm[t], spec)
        clipped = clipped + converters.adc_clip_count(partial, spec.adc)
        total = total + converters.adc(partial, spec.adc)
    return total, clipped


def mvm(key: jax.Array, arr: ProgrammedArray, x: jax.Array, spec: CrossbarSpec,
        with_stats: bool = False):
    """Analogue ``x @ w`` on the programmed chip with fresh read noise (``key`` = read key).

    x: (..., n_in) inputs (any units; scaled per vector to the DAC range).
    Returns y (..., n_out) in the units of ``x @ w``; with ``with_stats=True``
    also a dict with ``adc_clipped`` (conversions beyond the ADC full scale).
    With ``spec.ideal()`` this equals ``x @ w`` to float tolerance.
    """
    n_in, n_out = arr.shape
    noise.check_key(key)
    if jnp.ndim(x) < 1 or jnp.shape(x)[-1] != n_in:
        raise ValueError(f"input has shape {jnp.shape(x)}: expected (..., {n_in}) (the array stores {n_in} rows)")
    check_finite("input x", x)
    lead = x.shape[:-1]
    x2 = x.reshape((-1, n_in))
    planes, plane_weights, x_max = _encode_inputs(x2, spec)
    sums, clipped = _column_sums(key, arr, planes.reshape((-1, n_in)), spec)
    y = jnp.einsum("pb,pbo->bo", plane_weights, sums.reshape(planes.shape[:2] + (n_out,)))
    y = (y * x_max * arr.w_max * arr.gain).reshape(lead + (n_out,))
    if with_stats:
        return y, {"adc_clipped": clipped}
    return y


def op_counts(n_vectors: int, n_in: int, n_out: int, spec: CrossbarSpec) -> dict[str, float]:
    """Operations of ``n_vectors`` MVMs of an (n_in, n_out) matrix (for ``analog.cost``).

    Keys: macs, array_reads (tile activations, per input plane), array_cycles
    (sequential reads, tiles in parallel), dac_conversions, adc_conversions,
    digital_ops (partial-sum adds and shift-adds), layers (1: one weight matrix,
    i.e. one kernel launch for a digital baseline).
    """
    row_tiles, col_tiles = tile_grid(n_in, n_out, spec)
    planes = spec.dac.bits if (spec.dac is not None and spec.dac.bit_serial) else 1
    if spec.dac is not None and spec.dac.encoding == "offset":
        planes += 1  # the all-ones plane of the lo @ W term
    reads = n_vectors * planes
    return {
        "macs": float(n_vectors * n_in * n_out),
        "array_reads": float(reads * row_tiles * col_tiles),
        "array_cycles": float(reads),
        "dac_conversions": float(reads * n_in),
        "adc_conversions": float(reads * row_tiles * n_out),
        "digital_ops": float(reads * row_tiles * n_out),
        "layers": 1.0,
    }
