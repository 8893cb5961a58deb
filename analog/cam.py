"""Memristive (ternary) content-addressable memory: program stored words, search queries.

Cell (2T2R TCAM). Every stored bit is a pair of memristors ``(a, b)``; device a
hangs on search line SL, device b on SLB, both on the word's match line (ML)::

    stored 1              -> (LRS, HRS)
    stored 0              -> (HRS, LRS)
    don't care DONT_CARE  -> (HRS, HRS)     (int arrays of stored words: -1)

A search drives ``SL = v_search (1 - q)`` and ``SLB = v_search q`` for query bit
``q``, so a mismatching cell puts its LRS device on a driven line and the ML
current is (nominal cells)::

    I = v_search * sum_w [(1 - q_w) g_a + q_w g_b] = v_search * (width g_hrs + dg * hamming)

with ``dg = g_lrs - g_hrs``; the sense amplifier / ADC decodes
``hamming = (I / v_search - width g_hrs) / dg``. Don't-care cells add only the
HRS leak that the decoding subtracts, so they never count.

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

Non-idealities: programming noise (per device, fixed per chip; Gaussian, clipped
at 0 S), match-line read noise (fresh per search; Gaussian on the sensed current,
std ``read_sigma`` A plus ``read_sigma_rel`` of the full-scale current
``v_search width g_lrs``) and an optional sense ADC of ``adc_bits`` over the
metric's full scale (S in [0, width], or [-width, width] for dot).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from analog.converters import quantize_uniform
from analog.spec import check_choice, check_range, is_concrete, spec, static

__all__ = ["DONT_CARE", "METRICS", "CAMSpec", "CAMArray", "program", "search",
           "match_line_current", "op_counts"]

DONT_CARE = -1
METRICS = ("hamming", "l1", "dot")


def _class_or_instance(f):
    """Method callable on an instance, or on the class (then applied to ``cls()``)."""

    class _Descriptor:
        def __get__(self, obj, cls):
            target = cls() if obj is None else obj
            return functools.wraps(f)(lambda: f(target))

    return _Descriptor()


@spec
class CAMSpec:
    """A memristive CAM array (conductances in S, voltages in V, currents in A).

    metric: "hamming" (binary/ternary TCAM), "l1" or "dot" (analogue CAM). Static.
    g_lrs, g_hrs: on / off conductance (S). [assumed] 60 uS / 2 uS, the 40 nm
        TaOx window used by ``analog.device.RRAM.binary_lrs_hrs``
        (LRS ~ 50-100 uS, HRS ~ 1-2 uS).
    prog_sigma: absolute programming-noise std per device (S).
    prog_sigma_rel: programming-noise std relative to the target conductance;
        [assumed] 5 %. Adds in quadrature with ``prog_sigma``.
    read_sigma: absolute match-line read-noise std (A), fresh per search.
    read_sigma_rel: read-noise std as a fraction of the full-scale ML current
        ``v_search * width * g_lrs``; [assumed] 0.2 % (about half an LSB of an
        8-bit sense ADC).
    v_search: search-line voltage (V); [assumed] 0.2 V, the 0.1-0.2 V read
        voltage of the 40 nm macros (notes: memristor_papers.md, section 0).
    adc_bits: sense-ADC resolution over the metric's full scale; None = ideal.
    value_range: (lo, hi) of stored values for "l1" / "dot" (ignored by
        "hamming"); two pytree leaves, so a sweep over it does not recompile.
    """

    metric: str = static("hamming")
    g_lrs: float = 60e-6
    g_hrs: float = 2e-6
    prog_sigma: float = 0.0
    prog_sigma_rel: float = 0.05
    read_sigma: float = 0.0
    read_sigma_rel: float = 0.002
    v_search: float = 0.2
    adc_bits: int | None = static(None)
    value_range: tuple = (-1.0, 1.0)

    def validate(self):
        check_choice(self, "metric", METRICS)
        check_range(self, "g_hrs", 0.0)
        check_range(self, "g_lrs", 0.0, lo_open=True)
        if is_concrete(self.g_lrs) and is_concrete(self.g_hrs):
            if not np.all(self.g_lrs > self.g_hrs):
                raise ValueError(f"CAMSpec.g_lrs = {self.g_lrs!r} is invalid: allowed "
                                 f"values above g_hrs = {self.g_hrs!r}")
        for name in ("prog_sigma", "prog_sigma_rel", "read_sigma", "read_sigma_rel"):
            check_range(self, name, 0.0)
        check_range(self, "v_search", 0.0, lo_open=True)
        check_range(self, "adc_bits", 1, 32, integer=True, allow_none=True)
        vr = self.value_range
        ok = isinstance(vr, tuple) and len(vr) == 2
        if ok and all(is_concrete(v) for v in vr):  # skipped when JAX rebuilds traced specs
            ok = bool(np.all(np.isfinite(vr)) and np.all(np.asarray(vr[0]) < vr[1]))
        if not ok:
            raise ValueError(f"CAMSpec.value_range = {vr!r} is invalid: allowed a finite "
                             "(lo, hi) pair with lo < hi")

    @_class_or_instance
    def ideal(self) -> "CAMSpec":
        """Every non-ideality off (no noise, ideal sense). ``CAMSpec.ideal()`` gives
        the default window; ``spec.ideal()`` keeps this spec's window and metric."""
        return self.replace(prog_sigma=0.0, prog_sigma_rel=0.0, read_sigma=0.0,
                            read_sigma_rel=0.0, adc_bits=None)


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


def _signal(cam: CAMArray, queries: jax.Array, spec: CAMSpec) -> jax.Array:
    """Noise-free sensed signal S (cells at full swing), (batch, rows)."""
    lo, hi, m = _span(spec)
    n = (cam.g - spec.g_hrs) / (spec.g_lrs - spec.g_hrs)
    q = queries.astype(jnp.float32)
    dot = functools.partial(jnp.einsum, "bw,rw->br", precision=jax.lax.Precision.HIGHEST)
    if spec.metric == "hamming":
        return dot(1.0 - q, n[..., 0]) + dot(q, n[..., 1])
    if spec.metric == "l1":
        u_hat = 0.5 * (1.0 + n[..., 0] - n[..., 1])
        q_u = (q - lo) / (hi - lo)
        return jnp.sum(cam.care * jnp.abs(q_u[:, None, :] - u_hat[None]), axis=-1)
    return dot(q / m, n[..., 0] - n[..., 1])


# --------------------------------------------------------------- public API
def program(key: jax.Array, stored, spec: CAMSpec, care=None) -> CAMArray:
    """Write ``stored`` words into a CAM (programming key: one key = one chip).

    stored: (rows, width). "hamming": ints in {0, 1, DONT_CARE}; "l1" / "dot":
        reals in ``spec.value_range``.
    care: optional (rows, width) bool mask; False cells are written (HRS, HRS)
        and never count (for hamming it is ANDed with ``stored != DONT_CARE``).
    Returns a CAMArray with conductances (rows, width, 2) in S:
    ``g = max(g_target + sigma(g_target) xi, 0)``, xi ~ N(0, 1) per device.
    """
    _check_matrix("stored", stored)
    _check_values("stored", stored, spec, is_query=False)
    stored = jnp.asarray(stored)
    care = jnp.ones(stored.shape, bool) if care is None else jnp.asarray(care, bool)
    if care.shape != stored.shape:
        raise ValueError(f"care has shape {care.shape}: expected {stored.shape} (stored)")
    n, care = _occupancy(stored, care, spec)
    g_t = spec.g_hrs + (spec.g_lrs - spec.g_hrs) * n
    sigma = jnp.sqrt(spec.prog_sigma**2 + (spec.prog_sigma_rel * g_t) ** 2)
    g = jnp.maximum(g_t + sigma * jax.random.normal(key, g_t.shape), 0.0)
    return CAMArray(g=g, care=care)


def match_line_current(cam: CAMArray, queries, spec: CAMSpec) -> jax.Array:
    """Sensed match-line current (A), (batch, rows), without read noise.

    ``I = v_search (dg S + offset)``, offset ``width g_hrs`` for hamming / l1 and
    0 for dot (differential, signed). Energy of one search ~ v_search |I| t_search.
    """
    _check_matrix("queries", queries, cam.shape[1])
    offset = 0.0 if spec.metric == "dot" else cam.shape[1] * spec.g_hrs
    s = _signal(cam, jnp.asarray(queries), spec)
    return spec.v_search * ((spec.g_lrs - spec.g_hrs) * s + offset)


def search(key: jax.Array, cam: CAMArray, queries, spec: CAMSpec):
    """Search every query against every stored word (read key: fresh per search).

    queries: (batch, width); bits {0, 1} for hamming, reals in ``value_range``
        for l1 (in [-m, m] for dot, driving +-v_search q / m).
    Returns ``(scores, best_index)``: scores (batch, rows) float32, the decoded
    Hamming distance (exact integers in the ideal limit) / L1 distance / dot
    similarity; best_index (batch,) int32, argmin (argmax for dot), ties to
    the lowest row.
    """
    width = cam.shape[1]
    _check_matrix("queries", queries, width)
    _check_values("queries", queries, spec, is_query=True)
    s = _signal(cam, jnp.asarray(queries), spec)
    i_fs = spec.v_search * width * spec.g_lrs
    sigma_i = jnp.sqrt(spec.read_sigma**2 + (spec.read_sigma_rel * i_fs) ** 2)
    s = s + sigma_i / (spec.v_search * (spec.g_lrs - spec.g_hrs)) * jax.random.normal(key, s.shape)
    lo, hi, m = _span(spec)
    if spec.adc_bits is not None:
        s = quantize_uniform(s, spec.adc_bits, -width if spec.metric == "dot" else 0, width)
    scale = {"hamming": 1.0, "l1": hi - lo, "dot": m * m}[spec.metric]
    scores = scale * s
    pick = jnp.argmax if spec.metric == "dot" else jnp.argmin
    return scores, pick(scores, axis=-1).astype(jnp.int32)


def op_counts(n_queries: int, rows: int, width: int) -> dict[str, float]:
    """Operations of ``n_queries`` searches of a (rows, width) CAM (for ``analog.cost``).

    cam_searches: one query against one array = 1 (all rows in parallel).
    cam_cells: cells compared, n_queries * rows * width.
    """
    return {"cam_searches": float(n_queries), "cam_cells": float(n_queries * rows * width)}
