"""HP (Strukov) memristor: linear ion drift with window functions.

Model (Strukov et al., Nature 453, 80 (2008); MemTorch ``LinearIonDrift``)::

    v = R(w) i,            R(w) = R_on w/D + R_off (1 - w/D)        (ohm)
    dw/dt = mu_v R_on / D * i * F(w/D, i)                           (m/s)

with ``x = w/D`` (dimensionless) and the window ``F``:

    none:      F = 1
    joglekar:  F = 1 - (2x - 1)^(2p)            (Joglekar & Wolf, 2009)
    biolek:    F = 1 - (x - stp(-i))^(2p)        (Biolek et al., 2009; stp = unit step)

Units: w and D in metres, t in s, v in V, i in A. Positive current grows the
doped layer (w up, R down). Every function is pure and broadcasts elementwise;
``simulate`` jits and vmaps (over waveform parameters, ``ts`` and ``w0``).

Boundary handling: ``state_derivative`` evaluates the window at ``w`` clipped
to ``[0, D]`` and sets the drift to zero wherever it would push ``w`` further
out (``w >= D`` and ``dw/dt > 0``, or ``w <= 0`` and ``dw/dt < 0``), so the
edges are absorbing for every window, including ``"none"``. An adaptive step
can still overshoot an edge by about the solver tolerance; the returned ``w``
is clipped to ``[0, D]`` to remove that numerical overshoot. Note Joglekar's
known terminal-state problem: a state that reaches an edge exactly stays there.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import diffrax
import jax
import jax.numpy as jnp

from analog.spec import check_choice, check_range, is_concrete, spec, static

__all__ = [
    "HPMemristor", "MemristorTrace", "SineVoltage", "SampledVoltage",
    "sine_voltage", "sampled_voltage", "resistance", "current", "window",
    "state_derivative", "simulate",
]

WINDOWS = ("none", "joglekar", "biolek")


@spec
class HPMemristor:
    """HP TiO2 memristor (defaults: MemTorch ``LinearIonDrift``, Strukov 2008).

    Fields:
        r_on: resistance when fully doped, w = D (ohm).
        r_off: resistance when undoped, w = 0 (ohm); must exceed r_on.
        d: thickness D of the switching film (metre).
        mu_v: dopant (oxygen-vacancy) mobility (m^2/(V s)).
        window: "none" | "joglekar" | "biolek" (static).
        p: window exponent, an integer >= 1 (static).
    """

    r_on: float = 100.0
    r_off: float = 16e3
    d: float = 10e-9
    mu_v: float = 1e-14
    window: str = static("joglekar")
    p: int = static(1)

    def validate(self):
        for name in ("r_on", "r_off", "d", "mu_v"):
            check_range(self, name, 0.0, lo_open=True)
        if is_concrete(self.r_on) and is_concrete(self.r_off) and not self.r_off > self.r_on:
            raise ValueError(
                f"HPMemristor.r_off = {self.r_off!r} is invalid: allowed values above "
                f"r_on = {self.r_on!r}"
            )
        check_choice(self, "window", WINDOWS)
        check_range(self, "p", 1, integer=True)


class MemristorTrace(NamedTuple):
    """A simulated trajectory; every field has shape ``(len(ts),)`` (plus batch axes)."""

    t: jax.Array  # time (s)
    w: jax.Array  # doped-layer width (m), in [0, D]
    i: jax.Array  # current (A)
    v: jax.Array  # applied voltage (V)


@spec
class SineVoltage:
    """``v(t) = amplitude * sin(2 pi frequency t + phase)``: amplitude (V), frequency (Hz), phase (rad)."""

    amplitude: float
    frequency: float
    phase: float = 0.0

    def validate(self):
        check_range(self, "frequency", 0.0, lo_open=True)

    def __call__(self, t):
        return self.amplitude * jnp.sin(2 * jnp.pi * self.frequency * t + self.phase)


@spec
class SampledVoltage:
    """Piecewise-linear voltage through samples ``(ts (s), vs (V))``, both shape ``(n,)``.

    Held at the end values outside ``[ts[0], ts[-1]]``; ``ts`` must increase.
    """

    ts: jax.Array
    vs: jax.Array

    def validate(self):
        ts_shape, vs_shape = getattr(self.ts, "shape", None), getattr(self.vs, "shape", None)
        if ts_shape is not None and (len(ts_shape) != 1 or ts_shape[0] < 2):
            raise ValueError(f"SampledVoltage.ts has shape {ts_shape}: allowed (n,) with n >= 2")
        if ts_shape is not None and vs_shape is not None and vs_shape != ts_shape:
            raise ValueError(f"SampledVoltage.vs has shape {vs_shape}: allowed ts's shape {ts_shape}")

    def __call__(self, t):
        return jnp.interp(t, self.ts, self.vs)


def sine_voltage(amplitude, frequency, phase=0.0) -> SineVoltage:
    """A sine drive; amplitude (V), frequency (Hz), phase (rad). Arrays give a batch for vmap."""
    return SineVoltage(amplitude, frequency, phase)


def sampled_voltage(ts, vs) -> SampledVoltage:
    """A piecewise-linear drive through samples ``ts`` (s) and ``vs`` (V), shape ``(n,)`` each."""
    return SampledVoltage(jnp.asarray(ts), jnp.asarray(vs))


def resistance(w, spec: HPMemristor):
    """Memristance ``R_on w/D + R_off (1 - w/D)`` (ohm) of width ``w`` (m); same shape as ``w``."""
    x = w / spec.d
    return spec.r_on * x + spec.r_off * (1.0 - x)


def current(v, w, spec: HPMemristor):
    """Current ``v / R(w)`` (A) for voltage ``v`` (V) and width ``w`` (m); broadcast shape."""
    return v / resistance(w, spec)


def window(x, i, spec: HPMemristor):
    """Window ``F(x, i)`` (dimensionless) at normalised state ``x = w/D`` and current ``i`` (A)."""
    if spec.window == "none":
        return jnp.ones_like(x * i)
    if spec.window == "joglekar":
        return 1.0 - (2.0 * x - 1.0) ** (2 * spec.p) + 0.0 * i
    stp = jnp.where(i <= 0, 1.0, 0.0)  # stp(-i): 1 while the state shrinks (Biolek: stp(0) = 1)
    return 1.0 - (x - stp) ** (2 * spec.p)


def state_derivative(w, i, spec: HPMemristor):
    """Drift velocity ``dw/dt`` (m/s) at width ``w`` (m) and current ``i`` (A); broadcast shape.

    ``mu_v R_on / D * i * F(w/D, i)``, with the window taken at ``clip(w/D, 0, 1)``
    and the drift set to zero where it points out of ``[0, D]`` (see module docstring).
    """
    x = w / spec.d
    dw = spec.mu_v * spec.r_on / spec.d * i * window(jnp.clip(x, 0.0, 1.0), i, spec)
    outward = ((x >= 1.0) & (dw > 0)) | ((x <= 0.0) & (dw < 0))
    return jnp.where(outward, 0.0, dw)


def simulate(
    voltage: Callable,
    ts,
    w0,
    spec: HPMemristor,
    *,
    dt0=None,
    solver: diffrax.AbstractSolver = diffrax.Tsit5(),
    rtol: float = 1e-5,
    atol: float = 1e-6,
    max_steps: int = 16384,
) -> MemristorTrace:
    """Drive the memristor with ``voltage(t)`` and record it at times ``ts``.

    Args:
        voltage: jax-traceable ``t (s) -> v (V)``; a pytree such as ``SineVoltage`` or
            ``SampledVoltage`` can be batched by ``vmap`` and passed through ``jit``.
        ts: increasing save times (s), shape ``(n,)``, ``n >= 2``; the solve runs
            from ``ts[0]`` to ``ts[-1]``.
        w0: initial width (m), a scalar in ``[0, D]``.
        spec: the device.
        dt0: initial step (s); None lets diffrax choose it.
        solver, rtol, atol: diffrax solver and PID tolerances; they act on the
            normalised state ``x = w/D`` in [0, 1], so they are scale-free.
        max_steps: solver step budget; exceeding it raises rather than truncating.

    Returns:
        ``MemristorTrace`` with ``t, w, i, v`` each of shape ``(n,)``.
    """
    ts = jnp.asarray(ts, dtype=jnp.result_type(float))
    if ts.ndim != 1 or ts.shape[0] < 2:
        raise ValueError(f"simulate: ts has shape {ts.shape}: allowed (n,) with n >= 2")
    if is_concrete(w0) and is_concrete(spec.d) and not 0.0 <= w0 <= spec.d:
        raise ValueError(f"simulate: w0 = {w0!r} is invalid: allowed [0, d = {spec.d!r}] (m)")

    def field(t, x, args):
        w = spec.d * x
        i = current(voltage(t), jnp.clip(w, 0.0, spec.d), spec)
        return state_derivative(w, i, spec) / spec.d

    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(field), solver, ts[0], ts[-1], dt0,
        jnp.asarray(w0, ts.dtype) / spec.d,
        saveat=diffrax.SaveAt(ts=ts),
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        max_steps=max_steps,
    )
    w = spec.d * jnp.clip(sol.ys, 0.0, 1.0)
    v = jax.vmap(voltage)(ts)
    return MemristorTrace(t=ts, w=w, i=current(v, w, spec), v=v)
