"""HP memristor trajectories for the digital twin: ``analog.memristor.simulate`` under
sinusoidal, triangular and random-pulse voltages.

Every drive is stored as samples on one uniform grid (``SampledVoltage``: linear
between samples, so a pulse edge rises within one grid step and a sine is exact to
second order in the step), which gives every trajectory the same pytree for ``vmap``
and lets the twin read the same drive the device saw. Observed: the normalised state
``x = w / D`` (in [0, 1]) and the current ``i = v / R(w)`` (A) at the save times.
The default device is MemTorch's HP parameters with the Biolek window (p = 2): the
Joglekar window sticks at the film's edges in float32.

Time is the device's (s); with the default device a 1 V, 1 Hz sine moves x by about
0.4 per half period.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from analog import memristor
from analog.memristor import HPMemristor
from train.data.cache import cached

__all__ = ["Waveform", "WAVEFORMS", "drive_samples", "hp_traces", "HP_TWIN_DEVICE"]

WAVEFORMS = ("sine", "triangle", "pulses")
HP_TWIN_DEVICE = HPMemristor(window="biolek", p=2)
_VERSION = 1


@dataclasses.dataclass(frozen=True)
class Waveform:
    """One drive: ``kind`` (one of WAVEFORMS), ``amplitude`` (V; negative: the inverted drive), ``frequency`` (Hz; for
    pulses the mean switching rate is 2 x frequency), ``x0`` (initial w / D), ``seed``
    (the pulse train's levels and widths)."""

    kind: str
    amplitude: float
    frequency: float
    x0: float = 0.3
    seed: int = 0

    def __post_init__(self):
        if self.kind not in WAVEFORMS:
            raise ValueError(f"Waveform.kind = {self.kind!r} is invalid: allowed one of {WAVEFORMS}")
        if not self.frequency > 0:
            raise ValueError(f"Waveform.frequency = {self.frequency!r} is invalid: allowed > 0 (Hz)")
        if not 0.0 <= self.x0 <= 1.0:
            raise ValueError(f"Waveform.x0 = {self.x0!r} is invalid: allowed [0, 1] (w / D)")


def drive_samples(wave: Waveform, grid: np.ndarray) -> np.ndarray:
    """The drive's voltage (V) at the grid times (s), shape of ``grid``.

    sine: ``A sin(2 pi f t)``; triangle: ``A (2 / pi) arcsin(sin(2 pi f t))`` (same
    zero crossings and peaks); pulses: a train of levels held for ``U(0.5, 1.5) / (2 f)``
    each, of random sign and magnitude ``A U(0.5, 1)``, from ``seed``.
    """
    phase = 2 * np.pi * wave.frequency * grid
    if wave.kind == "sine":
        return wave.amplitude * np.sin(phase)
    if wave.kind == "triangle":
        return wave.amplitude * (2 / np.pi) * np.arcsin(np.sin(phase))
    rng = np.random.default_rng(wave.seed)
    span = float(grid[-1] - grid[0])
    n = int(np.ceil(span * 2 * wave.frequency / 0.5)) + 2
    edges = grid[0] + np.cumsum(rng.uniform(0.5, 1.5, n) / (2 * wave.frequency))
    levels = rng.choice([-1.0, 1.0], n) * wave.amplitude * rng.uniform(0.5, 1.0, n)
    return levels[np.searchsorted(edges, grid, side="right").clip(0, n - 1)]


def _simulate(grid, vs, ts, x0, device: HPMemristor):
    trace = memristor.simulate(memristor.sampled_voltage(grid, vs), ts, x0 * device.d, device,
                               rtol=1e-6, atol=1e-7, max_steps=65536)
    return trace.w / device.d, trace.i


def hp_traces(waves: Sequence[Waveform], t_end: float, n_save: int, grid_step: float = 1 / 128,
              device: HPMemristor = HP_TWIN_DEVICE, cache_dir=None) -> dict[str, np.ndarray]:
    """Trajectories of ``device`` under each drive from t = 0 to ``t_end`` (s).

    Returns ``t`` (n_save,) save times (s), ``grid`` (G,) drive grid (s, step ``grid_step``),
    ``v_grid`` (N, G) drives (V), ``x`` (N, n_save) state w / D, ``i`` (N, n_save) current (A),
    ``v`` (N, n_save) voltage (V) at the save times; N = len(waves). Cached (npz) under
    ``cache_dir`` when given.
    """
    args = {"version": _VERSION, "waves": [dataclasses.asdict(w) for w in waves], "t_end": t_end,
            "n_save": n_save, "grid_step": grid_step, "device": dataclasses.asdict(device)}
    return cached(cache_dir, "hp_traces", args, lambda: _make(waves, t_end, n_save, grid_step, device))


def _make(waves, t_end, n_save, grid_step, device) -> dict[str, np.ndarray]:
    grid = np.arange(int(round(t_end / grid_step)) + 1) * grid_step
    ts = np.linspace(0.0, t_end, n_save)
    v_grid = np.stack([drive_samples(w, grid) for w in waves]).astype(np.float32)
    x0 = np.array([w.x0 for w in waves], np.float32)
    solve = jax.jit(jax.vmap(lambda vs, x: _simulate(jnp.asarray(grid, jnp.float32), vs,
                                                      jnp.asarray(ts, jnp.float32), x, device)))
    x, i = (np.asarray(a) for a in solve(v_grid, x0))
    v = np.stack([np.interp(ts, grid, vs) for vs in v_grid])
    return {"t": ts.astype(np.float32), "grid": grid.astype(np.float32), "v_grid": v_grid, "x": x, "i": i,
            "v": v.astype(np.float32)}
