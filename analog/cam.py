"""Memristive (ternary) content-addressable memory: program stored words, search queries.

Cell (2T2R TCAM). Every stored bit is a pair of memristors ``(a, b)``; device a
hangs on search line SL, device b on SLB, both on the word's match line (ML)::

    stored 1              -> (LRS, HRS)
    stored 0              -> (HRS, LRS)
    don't care DONT_CARE  -> (HRS, HRS)     (int arrays of stored words: -1)

The cells are an ``analog.device.RRAM`` population (``spec.device``): HRS is its
``g_min``, LRS its ``g_max`` and ``dg = g_max - g_min`` its window. A search
drives ``SL = v_search (1 - q)`` and ``SLB = v_search q`` for query bit ``q``, so
a mismatching cell puts its LRS device on a driven line and the ML current is
(nominal cells)::

    I = v_search * sum_w [(1 - q_w) g_a + q_w g_b] = v_search * (width g_hrs + dg * hamming)

and the sense amplifier / ADC decodes ``hamming = (I / v_search - width g_hrs) / dg``.
Don't-care cells add only the HRS leak that the decoding subtracts, so they
never count.

Internally every conductance is written as its occupancy ``n = (g - g_hrs) / dg``
(0 = HRS, 1 = LRS) and the sensed signal ``S`` is counted in "cells at full
swing"; ``I = v_search (dg S + offset)``. Analogue variants (``metric``), with
stored values in ``spec.value_range = (lo, hi)`` and ``m = max(|lo|, |hi|)``:

* ``"l1"``: value ``s`` maps linearly to ``u = (s - lo) / (hi - lo)`` written as
  the complementary pair ``(g_hrs + dg u, g_hrs + dg (1 - u))`` (bits 1 / 0 are
  the TCAM states). [abstracted] analogue-CAM cell: it reads back
  ``u_hat = (1 + n_a - n_b) / 2`` and conducts ``g_hrs + dg |q_u - u_hat|``, so
  ``distance = (hi - lo) S`` is the L1 distance. Masked cells (``care=False``)
  are (HRS, HRS) and conduct only the leak.
* ``"dot"``: differential pair ``n_a = max(s, 0) / m``, ``n_b = max(-s, 0) / m``
  (ternary {-1, 0, +1} with ``value_range=(-1, 1)`` is (LRS, HRS), (HRS, HRS),
  (HRS, LRS)); SL/SLB are driven with ``+-v_search q / m`` so the common HRS
  current cancels: ``I = v_search dg S`` and ``similarity = m**2 S = q . s``.
  Larger is better (``best_index`` = argmax); for hamming and l1 smaller is
  better (argmin). Ties go to the lowest row index.

Non-idealities, all from the shared models (``CAMSpec()`` has none of them):

* programming (fixed per chip): ``g = analog.device.program(key, g_target,
  spec.device)`` per device, with ``g_target = g_hrs + dg n``: levels, write
  noise ``sigma_p(g)``, device-to-device spread and stuck-at faults as in
  ``analog.device``.
* match-line read (fresh per search), output-referred like ``crossbar``'s
  ``read_path="output"``: each (query, row) gets one Gaussian draw::

      S_read = S + sigma_S xi,   xi ~ N(0, 1)
      sigma_S^2 = sum_{c on a driven line} (f_c sigma_r(g_c))^2 / dg^2
                  + (sense_sigma / (v_search dg))^2

  with ``sigma_r = analog.device.read_sigma`` (S) of each cell at t = 0 (the CAM
  does not age its cells: drift is not applied) and ``f_c`` its drive fraction:
  hamming ``f_a = 1 - q``, ``f_b = q``; dot ``f_a = f_b = |q| / m``; l1 ``f = 1``
  for the conductance ``g_hrs + dg care |q_u - u_hat|`` the abstracted cell
  presents (a masked cell: its HRS leak). Independent Gaussian cell reads sum to
  this one draw exactly in distribution (the clip at 0 S is ignored).
  ``sense_sigma`` (A) is the sense amplifier's own noise.
* sense ADC (``spec.adc``, an ``analog.converters.ADC``): ``S_read`` is converted
  by ``quantize_uniform`` over ``[0, fullscale]`` (hamming, l1) or
  ``[-fullscale, fullscale]`` (dot), full scale in cells at full swing; the
  score is ``scale S`` with scale 1 (hamming), ``hi - lo`` (l1), ``m**2`` (dot).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from analog import device, noise
from analog.converters import ADC, quantize_uniform
from analog.device import G_HRS, G_LRS, RRAM
from analog.spec import check_choice, check_range, is_concrete, spec, static

__all__ = ["DONT_CARE", "METRICS", "CAMSpec", "CAMArray", "program", "search",
           "match_line_current", "op_counts"]

DONT_CARE = -1
METRICS = ("hamming", "l1", "dot")


def _tcam_window() -> RRAM:
    """Ideal cells spanning the binary cell's HRS / LRS window (continuous levels)."""
    return RRAM(g_min=G_HRS, g_max=G_LRS)


@spec
class CAMSpec:
    """A memristive CAM array (conductances in S, voltages in V, currents in A).

    Built with its defaults a spec is ideal (``CAMSpec() == CAMSpec().ideal()``);
    ``CAMSpec.tcam_40nm(width)`` is the physical cell.

    metric: "hamming" (binary/ternary TCAM), "l1" or "dot" (analogue CAM). Static.
    device: the cell population (``analog.device.RRAM``): HRS = ``device.g_min``,
        LRS = ``device.g_max``; its programming and read noise are the CAM's.
        Default: ideal cells over ``analog.device.G_HRS`` / ``G_LRS`` with
        continuous levels (so "l1" / "dot" store analogue values).
    adc: sense ADC (``analog.converters.ADC``) or None = ideal sense. Its
        ``fullscale`` is in cells at full swing (units of the sensed signal S,
        i.e. ``fullscale * v_search * dg`` A above the HRS leak); hamming / l1
        convert ``[0, fullscale]``, dot ``[-fullscale, fullscale]``. A full scale
        equal to the CAM width never clips a hamming search.
    sense_sigma: sense-amplifier noise std (A), fresh per search.
    v_search: search-line voltage (V); [assumed] 0.2 V, the 0.1-0.2 V read
        voltage of the 40 nm macros (notes: memristor_papers.md, section 0).
    value_range: (lo, hi) of stored values for "l1" / "dot" (ignored by
        "hamming"); two pytree leaves, so a sweep over it does not recompile.
    """

    metric: str = static("hamming")
    device: RRAM = dataclasses.field(default_factory=_tcam_window)
    adc: ADC | None = None
    sense_sigma: float = 0.0
    v_search: float = 0.2
    value_range: tuple = (-1.0, 1.0)

    def validate(self):
        check_choice(self, "metric", METRICS)
        for name, kinds in (("device", (RRAM,)), ("adc", (ADC, type(None)))):
            value = getattr(self, name)
            if not isinstance(value, kinds):
                allowed = " or ".join(k.__name__ for k in kinds)
                raise ValueError(f"CAMSpec.{name} = {value!r} is invalid: allowed {allowed}")
        check_range(self, "sense_sigma", 0.0)
        check_range(self, "v_search", 0.0, lo_open=True)
        vr = self.value_range
        ok = isinstance(vr, tuple) and len(vr) == 2
        if ok and all(is_concrete(v) for v in vr):  # skipped when JAX rebuilds traced specs
            ok = bool(np.all(np.isfinite(vr)) and np.all(np.asarray(vr[0]) < vr[1]))
        if not ok:
            raise ValueError(f"CAMSpec.value_range = {vr!r} is invalid: allowed a finite "
                             "(lo, hi) pair with lo < hi")

    def ideal(self) -> "CAMSpec":
        """Every non-ideality off (``device.ideal()``, no ADC, no sense noise); the
        window, metric, v_search and value_range stay."""
        return self.replace(device=self.device.ideal(), adc=None, sense_sigma=0.0)

    def for_width(self, width: int) -> "CAMSpec":
        """This spec for a CAM ``width`` cells wide: the sense ADC's full scale (if any)
        set to ``width`` cells, the largest hamming / l1 signal (a preset is built for 64)."""
        if not isinstance(width, int) or isinstance(width, bool) or width < 1:
            raise ValueError(f"width = {width!r} is invalid: allowed an integer >= 1 (cells per word)")
        return self if self.adc is None else self.replace(adc=self.adc.replace(fullscale=float(width)))

    @classmethod
    def tcam_40nm(cls, width: int = 64, metric: str = "hamming", prog_sigma_rel: float = 0.05,
                  read_sigma_rel: float = 0.02, adc_bits: int | None = 8,
                  value_range: tuple = (-1.0, 1.0)) -> "CAMSpec":
        """The 2T2R TaOx cell of the 40 nm macros, for a CAM ``width`` cells wide.

        Cells: ``RRAM.binary_lrs_hrs`` (HRS / LRS ``G_HRS`` / ``G_LRS``, 2 % read
        noise, ``read_sigma_rel``) with [assumed] 5 % programming noise relative
        to the target (``prog_sigma_rel``, in place of the preset's 3 uS state
        spread). Levels: binary (2) for "hamming", whose cells only ever hold
        HRS or LRS; continuous for "l1" / "dot", which store analogue values.
        Sense: an ``adc_bits`` ADC (None = ideal) with full scale = ``width``
        cells, the largest hamming / l1 signal (so one LSB = width / (2**bits - 1)).
        ``width`` [assumed] 64 when not given (the paper's word width is not
        public): pass the CAM's width, or a wider word's distances above 64 clip.
        """
        if not isinstance(width, int) or isinstance(width, bool) or width < 1:
            raise ValueError(f"width = {width!r} is invalid: allowed an integer >= 1 (cells per word)")
        if not (is_concrete(prog_sigma_rel) and prog_sigma_rel >= 0):
            raise ValueError(f"prog_sigma_rel = {prog_sigma_rel!r} is invalid: allowed a number >= 0")
        cell = RRAM.binary_lrs_hrs(prog_sigma=0.0, read_sigma_rel=read_sigma_rel)
        cell = cell.replace(prog_poly=(0.0, prog_sigma_rel),
                            levels=2 if metric == "hamming" else None)
        adc = None if adc_bits is None else ADC(bits=adc_bits, fullscale=float(width))
        return cls(metric=metric, device=cell, adc=adc, value_range=value_range)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class CAMArray:
    """Stored words written on a chip (a pytree; vmap it over chips).

    g: programmed conductances (S), (rows, width, 2); [..., 0] is device a (SL),
        [..., 1] device b (SLB).
    care: (rows, width) bool, False where a cell is don't-care / masked.
    """

    g: jax.Array
    care: jax.Array

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, width)."""
        return self.g.shape[-3:-1]


# ------------------------------------------------------------------ helpers
def _span(spec: CAMSpec):
    """(lo, hi, m = max(|lo|, |hi|)) of the stored-value range."""
    lo, hi = spec.value_range
    return lo, hi, jnp.maximum(abs(lo), abs(hi))


def _check_matrix(name: str, x, width: int | None = None) -> None:
    if jnp.ndim(x) != 2:
        raise ValueError(f"{name} has shape {jnp.shape(x)}: expected a 2-d array")
    if width is not None and jnp.shape(x)[1] != width:
        raise ValueError(f"{name} has width {jnp.shape(x)[1]}: expected {width} (the CAM width)")


def _check_values(name: str, x, spec: CAMSpec, is_query: bool) -> None:
    """Raise on out-of-range concrete values (traced values are not checked)."""
    lo, hi = spec.value_range
    if isinstance(x, jax.core.Tracer) or not (is_concrete(lo) and is_concrete(hi)):
        return
    a, m = np.asarray(x, dtype=np.float64), max(abs(lo), abs(hi))
    if spec.metric == "hamming":
        allowed = (0.0, 1.0) if is_query else (DONT_CARE, 0.0, 1.0)
        bad = a[~np.isin(a, allowed)]
        txt = f"values in {allowed}"
    else:
        lo, hi = (-m, m) if (spec.metric == "dot" and is_query) else (lo, hi)
        bad = a[~((a >= lo) & (a <= hi))]
        txt = f"values in [{lo:g}, {hi:g}] (spec.value_range)"
    if bad.size:
        raise ValueError(f"{name} contains {bad[:3].tolist()}: allowed {txt}")


def _occupancy(stored: jax.Array, care: jax.Array, spec: CAMSpec):
    """Target occupancies n in [0, 1], (rows, width, 2), and the care mask."""
    lo, hi, m = _span(spec)
    if spec.metric == "hamming":
        care = care & (stored != DONT_CARE)
        u = (stored == 1).astype(jnp.float32)
        pair = (u, 1.0 - u)
    elif spec.metric == "l1":
        u = (stored.astype(jnp.float32) - lo) / (hi - lo)
        pair = (u, 1.0 - u)
    else:
        s = stored.astype(jnp.float32) / m
        pair = (jnp.maximum(s, 0.0), jnp.maximum(-s, 0.0))
    return jnp.stack(pair, axis=-1) * care[..., None], care


_dot = functools.partial(jnp.einsum, "bw,rw->br", precision=jax.lax.Precision.HIGHEST)


def _states(spec: CAMSpec) -> tuple[jax.Array, jax.Array]:
    """(HRS, LRS) conductances (S) rounded once to float32, shared by writing and
    decoding so that nominal cells decode to occupancies of exactly 0 and 1."""
    return (jnp.asarray(spec.device.g_min, jnp.float32), jnp.asarray(spec.device.g_max, jnp.float32))


def _occupancies(g: jax.Array, spec: CAMSpec) -> jax.Array:
    """n = (g - g_hrs) / dg of conductances ``g`` (S), any shape."""
    g_hrs, g_lrs = _states(spec)
    # XLA rewrites x / scalar as x * (1 / scalar), which decodes an LRS cell as
    # 0.99999994 for some windows; behind the barrier the division is IEEE (exact 1).
    dg = jax.lax.optimization_barrier(jnp.broadcast_to(g_lrs - g_hrs, jnp.shape(g)))
    return (g - g_hrs) / dg


def _l1_cells(cam: CAMArray, q: jax.Array, spec: CAMSpec) -> jax.Array:
    """Occupancy |q_u - u_hat| each abstracted l1 cell presents, (batch, rows, width); 0 if masked."""
    lo, hi, _ = _span(spec)
    n = _occupancies(cam.g, spec)
    u_hat = 0.5 * (1.0 + n[..., 0] - n[..., 1])
    q_u = (q - lo) / (hi - lo)
    return cam.care * jnp.abs(q_u[:, None, :] - u_hat[None])


def _signal(cam: CAMArray, q: jax.Array, spec: CAMSpec) -> jax.Array:
    """Noise-free sensed signal S (cells at full swing), (batch, rows)."""
    _, _, m = _span(spec)
    n = _occupancies(cam.g, spec)
    if spec.metric == "hamming":
        return _dot(1.0 - q, n[..., 0]) + _dot(q, n[..., 1])
    if spec.metric == "l1":
        return jnp.sum(_l1_cells(cam, q, spec), axis=-1)
    return _dot(q / m, n[..., 0] - n[..., 1])


def _read_variance(cam: CAMArray, q: jax.Array, spec: CAMSpec) -> jax.Array:
    """Variance of S (cells^2), (batch, rows): driven cells' read noise plus the sense amplifier's."""
    cell, (_, _, m), (g_hrs, g_lrs) = spec.device, _span(spec), _states(spec)
    if spec.metric == "l1":
        g = g_hrs + (g_lrs - g_hrs) * _l1_cells(cam, q, spec)
        var = jnp.sum(device.read_sigma(g, cell) ** 2, axis=-1)
    else:
        var_g = device.read_sigma(cam.g, cell) ** 2
        if spec.metric == "hamming":
            var = _dot((1.0 - q) ** 2, var_g[..., 0]) + _dot(q**2, var_g[..., 1])
        else:
            var = _dot((q / m) ** 2, var_g[..., 0] + var_g[..., 1])
    dg = g_lrs - g_hrs
    return var / dg**2 + (spec.sense_sigma / (spec.v_search * dg)) ** 2


def _is_noisy_read(spec: CAMSpec) -> bool:
    """Static check: can a search be noisy? (False only for concrete zeros.)"""
    sense = spec.sense_sigma
    return device.has_read_noise(spec.device) or not (is_concrete(sense) and sense == 0)


def _convert(s: jax.Array, spec: CAMSpec) -> jax.Array:
    """The sense ADC: S (cells at full swing) on the ADC's levels, or S itself without one."""
    if spec.adc is None:
        return s
    fs = spec.adc.fullscale
    return quantize_uniform(s, spec.adc.bits, -fs if spec.metric == "dot" else 0.0, fs)


# --------------------------------------------------------------- public API
def program(key: jax.Array, stored, spec: CAMSpec, care=None) -> CAMArray:
    """Write ``stored`` words into a CAM (programming key: one key = one chip).

    stored: (rows, width). "hamming": ints in {0, 1, DONT_CARE}; "l1" / "dot":
        reals in ``spec.value_range``.
    care: optional (rows, width) bool mask; False cells are written (HRS, HRS)
        and never count (for hamming it is ANDed with ``stored != DONT_CARE``).
    Returns a CAMArray with conductances (rows, width, 2) in S:
    ``g = analog.device.program(key, g_hrs + dg n, spec.device)`` (levels, write
    noise, d2d spread, stuck-at faults of the cell population).
    """
    _check_matrix("stored", stored)
    _check_values("stored", stored, spec, is_query=False)
    stored = jnp.asarray(stored)
    care = jnp.ones(stored.shape, bool) if care is None else jnp.asarray(care, bool)
    if care.shape != stored.shape:
        raise ValueError(f"care has shape {care.shape}: expected {stored.shape} (stored)")
    n, care = _occupancy(stored, care, spec)
    g_hrs, g_lrs = _states(spec)
    g_target = g_hrs * (1.0 - n) + g_lrs * n  # exactly g_hrs / g_lrs at n = 0 / 1
    return CAMArray(g=device.program(key, g_target, spec.device), care=care)


def match_line_current(cam: CAMArray, queries, spec: CAMSpec) -> jax.Array:
    """Sensed match-line current (A), (batch, rows), without read noise.

    ``I = v_search (dg S + offset)``, offset ``width g_hrs`` for hamming / l1 and
    0 for dot (differential, signed). Energy of one search ~ v_search |I| t_search.
    """
    _check_matrix("queries", queries, cam.shape[1])
    g_hrs, g_lrs = _states(spec)
    offset = 0.0 if spec.metric == "dot" else cam.shape[1] * g_hrs
    s = _signal(cam, jnp.asarray(queries, jnp.float32), spec)
    return spec.v_search * ((g_lrs - g_hrs) * s + offset)


def search(key: jax.Array, cam: CAMArray, queries, spec: CAMSpec):
    """Search every query against every stored word (read key: fresh per search).

    queries: (batch, width); bits {0, 1} for hamming, reals in ``value_range``
        for l1 (in [-m, m] for dot, driving +-v_search q / m).
    Returns ``(scores, best_index)``: scores (batch, rows) float32, the decoded
    Hamming distance (exact integers in the ideal limit) / L1 distance / dot
    similarity, with read noise and the sense ADC of ``spec`` (module docstring);
    best_index (batch,) int32, argmin (argmax for dot), ties to the lowest row.
    """
    _check_matrix("queries", queries, cam.shape[1])
    _check_values("queries", queries, spec, is_query=True)
    q = jnp.asarray(queries, jnp.float32)
    s = _signal(cam, q, spec)
    if _is_noisy_read(spec):
        s = s + jnp.sqrt(_read_variance(cam, q, spec)) * noise.normal(key, s.shape, s.dtype)
    lo, hi, m = _span(spec)
    scale = {"hamming": 1.0, "l1": hi - lo, "dot": m * m}[spec.metric]
    scores = scale * _convert(s, spec)
    pick = jnp.argmax if spec.metric == "dot" else jnp.argmin
    return scores, pick(scores, axis=-1).astype(jnp.int32)


def op_counts(n_queries: int, rows: int, width: int) -> dict[str, float]:
    """Operations of ``n_queries`` searches of a (rows, width) CAM (for ``analog.cost``).

    cam_searches: one query against one array = 1 (all rows in parallel).
    cam_cells: cells compared, n_queries * rows * width.
    """
    return {"cam_searches": float(n_queries), "cam_cells": float(n_queries * rows * width)}
