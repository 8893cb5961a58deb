"""Continuous-time analogue feedback integrator (op-amp + capacitor), solved with diffrax.

A crossbar network evaluates ``f``; its output voltage drives an RC integrator
(``tau = R C``, s) whose output ``x`` (V) is fed back as the network's input::

    dx = [f(k(t), x, t, args) - x / gain] / tau dt + noise_density dW,
    x clipped to [-v_rail, v_rail].

``f(read_key, x, t, args) -> dx`` returns the integrator input in V (crossbar
current x R, sign of the inverting stage folded in); ``x`` has shape (..., n).

**Read noise is sample-and-hold.** A crossbar read path has a finite bandwidth,
so its noise is modelled as piecewise constant with correlation time
``noise_hold`` (s): on ``[t0 + j h, t0 + (j + 1) h)`` ``f`` gets
``fold_in(read_root, j)`` (``read_root, bm_key = split(key)``; ``t0 = ts[0]``).
For a fixed key the ODE is then well-defined and piecewise smooth. The solver
steps on a grid aligned to the hold intervals (``dt`` is rounded down to
``noise_hold / m``) and every stage of a step gets the key of the step's
interval (its index is taken from the step start, and FSAL reuse across steps is
off), so a fixed-step solver keeps its full order as ``dt -> 0`` (Euler 1,
Heun 2, Tsit5 5). The hold time is physics, not numerics: held noise of std
``s`` adds a random walk of variance ~``s**2 h T / tau**2`` to x. ``noise_hold=None``
holds one read for the whole solve (a noise-free ``f`` ignores the key anyway).

**Integrator noise** is white: a diffusion term driven by a
``VirtualBrownianTree`` in physical time whose resolution depends on ``ts`` and
``max_steps`` but not on ``dt``, so the same key gives the same Brownian path at
every ``dt`` and the strong solution converges. For an input-referred op-amp
noise ``e_n`` (V/sqrt(Hz), one-sided) across R, ``noise_density ~ e_n / (sqrt(2) tau)``.

**Leak**: finite op-amp DC gain A gives the pole ``1 / (A tau)`` (a resistor R_p
across C acts as ``gain = R_p / R``). **Rails**: the output saturates at
``+-v_rail``; the state is projected onto the rails after each step and the
saved outputs are clipped (converges to the saturated dynamics as dt -> 0).
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, NamedTuple

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np

from analog.spec import check_choice, check_range, spec, static

__all__ = ["IntegratorSpec", "integrate", "op_counts"]

_SOLVERS = {"euler": diffrax.Euler, "heun": diffrax.Heun, "tsit5": diffrax.Tsit5}
_SDE_SOLVERS = ("euler", "heun")  # Ito / Stratonovich; identical for additive noise


def _class_or_instance(f):
    """``Spec.ideal(**kw)`` builds from the defaults; ``spec.ideal(**kw)`` from ``spec``."""

    class _Descriptor:
        def __get__(self, obj, cls):
            return functools.wraps(f)(lambda **changes: f(cls if obj is None else obj, changes))

    return _Descriptor()


@spec
class IntegratorSpec:
    """One analogue integrator channel per state variable (all channels alike).

    tau: R C time constant (s). [assumed] 1 ms.
    noise_hold: read-noise correlation time (s) of the crossbar read path; the
        read key is held for this long (None = one read for the whole solve).
        [assumed] 1 us, i.e. ~0.5 MHz read bandwidth.
    gain: op-amp DC open-loop gain (dimensionless); leak rate 1 / (gain tau).
        None = infinite (no leak). [assumed] 1e4 (80 dB).
    noise_density: white integrator noise on x (V/sqrt(s)); None = off.
        [assumed] 1.4e-5, i.e. e_n = 20 nV/sqrt(Hz) at tau = 1 ms.
    v_rail: output saturation (V), symmetric +-v_rail; None = unbounded.
    solver: "euler" | "heun" | "tsit5" (static); tsit5 only without integrator noise.
    dt: target step (s). The step used is the largest one <= dt that tiles the hold
        intervals (noise_hold / m, m integer), or the span of ``ts`` when noise_hold
        is None; the solve may run up to one step past ts[-1].
    max_steps: static bound on solver steps (also sets the Brownian tree depth).
    """

    tau: float = 1e-3
    noise_hold: float | None = 1e-6
    gain: float | None = 1e4
    noise_density: float | None = 1.4e-5
    v_rail: float | None = None
    solver: str = static("heun")
    dt: float = 1e-6
    max_steps: int = static(2**16)

    def validate(self):
        check_range(self, "tau", 0.0, lo_open=True)
        check_range(self, "noise_hold", 0.0, lo_open=True, allow_none=True)
        check_range(self, "gain", 0.0, lo_open=True, allow_none=True)
        check_range(self, "noise_density", 0.0, allow_none=True)
        check_range(self, "v_rail", 0.0, lo_open=True, allow_none=True)
        check_choice(self, "solver", tuple(_SOLVERS))
        check_range(self, "dt", 0.0, lo_open=True)
        check_range(self, "max_steps", 1, integer=True)
        if self.noise_density is not None and self.solver not in _SDE_SOLVERS:
            raise ValueError(f"IntegratorSpec.solver = {self.solver!r} is invalid with "
                             f"noise_density set: allowed one of {_SDE_SOLVERS}")

    @_class_or_instance
    def ideal(self, changes) -> "IntegratorSpec":
        """No leak, no integrator noise, no rails, read noise held for the whole solve,
        Tsit5. ``IntegratorSpec.ideal(tau=..., dt=...)`` or ``spec.ideal(**changes)``."""
        off = dict(noise_hold=None, gain=None, noise_density=None, v_rail=None, solver="tsit5")
        if isinstance(self, type):
            return self(**{**off, **changes})
        return self.replace(**{**off, **changes})


class _HeldKeySolver(diffrax.AbstractWrappedSolver):
    """Wraps a solver so that every stage of a step sees the read key of the hold
    interval holding the step's start: terms get args ``(p, read_key)``. FSAL reuse
    across steps is off (a stage at t1 used this step's key); after each step the
    state is projected onto the rails."""

    solver: diffrax.AbstractSolver
    v_rail: Any  # V, inf = no rails

    term_structure = property(lambda self: self.solver.term_structure)
    interpolation_cls = property(lambda self: self.solver.interpolation_cls)
    term_compatible_contr_kwargs = property(lambda self: self.solver.term_compatible_contr_kwargs)

    def order(self, terms):
        return self.solver.order(terms)

    def strong_order(self, terms):
        return self.solver.strong_order(terms)

    def error_order(self, terms):
        return self.solver.error_order(terms)

    def init(self, terms, t0, t1, y0, args):
        return self.solver.init(terms, t0, t1, y0, _with_key(args, t0))

    def step(self, terms, t0, t1, y0, args, solver_state, made_jump):
        y1, y_err, dense, state, result = self.solver.step(
            terms, t0, t1, y0, _with_key(args, t0), solver_state, True)
        return jnp.clip(y1, -self.v_rail, self.v_rail), y_err, dense, state, result

    def func(self, terms, t0, y0, args):
        return self.solver.func(terms, t0, y0, _with_key(args, t0))


def _with_key(args, t_step):
    """``(p, _) -> (p, read key for the step starting at t_step)``."""
    p = args[0]
    if p.read_root is None:
        return p, None
    # Index of the hold interval; the +0.5 step guards against rounding of t_step.
    j = jnp.floor((t_step - p.t_first) / p.phys.hold + 0.5 / p.hold_m)
    return p, jax.random.fold_in(p.read_root, j.astype(jnp.int32))


def _concrete(x) -> np.ndarray | None:
    try:
        return np.asarray(x)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return None


class _Phys(NamedTuple):
    """Spec numbers as arrays, None as inf (x / inf = 0 and clip to +-inf are exact),
    so one compilation serves every value, None included."""

    tau: Any    # s
    hold: Any   # noise_hold (s); inf = one read for the whole solve
    gain: Any   # inf = no leak
    sigma: Any  # noise_density (V/sqrt(s))
    rail: Any   # v_rail (V); inf = no rails
    dt: Any     # s


def _grid(ts, hold, dt, xp=jnp):
    """Step (s), number of steps, solve end (s), steps per hold interval (1 if no hold)."""
    t0, span = ts[0], ts[-1] - ts[0]
    dt = xp.minimum(dt, span)
    held = xp.isfinite(hold)
    m = xp.where(held, xp.maximum(xp.ceil(hold / dt - 1e-4), 1.0), 1.0)
    n = xp.maximum(xp.ceil(span / xp.where(held, hold / m, dt) - 1e-4), 1.0)
    step = xp.where(held, hold / m, span / n)
    return step, n, xp.where(held, xp.maximum(t0 + n * step, ts[-1]), ts[-1]), m


def integrate(key: jax.Array | None, f: Callable, x0: jax.Array, ts: jax.Array,
              spec: IntegratorSpec, args: Any = None) -> jax.Array:
    """Solve the closed-loop integrator from ``x0`` at ``ts[0]``; states (V) at ``ts``.

    key: read key (fresh noise along the trajectory: read noise of ``f`` and the
        integrator's white noise); None only if ``f`` ignores it and noise_density is None.
    f: ``f(read_key, x, t, args) -> dx``, the integrator input (V), same shape as x.
    x0: initial state (V), shape (..., n).
    ts: save times (s), shape (T,), strictly increasing, T >= 2.
    spec: an ``IntegratorSpec``.
    args: pytree passed to ``f``; the result is differentiable w.r.t. it (and x0).
    Returns ``xs`` of shape (T, *x0.shape), xs[0] = x0 (clipped to the rails).

    Pure; jit-compiled inside with ``f`` static (if hashable): calls with the same
    ``f`` object, shapes, solver, max_steps and noise_density-is-None share one
    compilation. ``vmap`` over ``key`` for a Monte Carlo (or over spec values).
    Gradients use diffrax's default ``RecursiveCheckpointAdjoint``. Raises
    ``ValueError`` for bad shapes, non-increasing ts, or (when concrete) more steps
    than ``max_steps``; under ``jit`` too many steps raise equinox's runtime error
    instead. Times are float32 by default: keep ``ts[0] / dt`` << 1e6.
    """
    x0 = jnp.asarray(x0)
    x0 = jnp.asarray(x0, x0.dtype)  # drop weak typing: one compilation for 0.0 and x
    ts = jnp.asarray(ts)
    ts = jnp.asarray(ts, ts.dtype if jnp.issubdtype(ts.dtype, jnp.floating) else x0.dtype)
    if ts.ndim != 1 or ts.shape[0] < 2:
        raise ValueError(f"integrate: ts must have shape (T,) with T >= 2, got {ts.shape}")
    if not jnp.issubdtype(x0.dtype, jnp.floating):
        raise ValueError(f"integrate: x0 must be floating point, got {x0.dtype}")
    sde = spec.noise_density is not None
    if key is None and sde:
        raise ValueError("integrate: key is None but IntegratorSpec.noise_density is set")
    inf = lambda v: np.inf if v is None else v
    ts_np, dt_np, hold_np = (_concrete(v) for v in (ts, spec.dt, inf(spec.noise_hold)))
    if ts_np is not None:
        if not np.all(np.diff(ts_np) > 0):
            raise ValueError(f"integrate: ts must be strictly increasing, got {ts_np}")
        if dt_np is not None and hold_np is not None:
            step, n, _, _ = _grid(ts_np.astype(np.float64), hold_np, dt_np, np)
            if n > spec.max_steps:
                raise ValueError(f"IntegratorSpec.max_steps = {spec.max_steps} is too small: "
                                 f"this solve needs {int(n)} steps (dt = {step:.3g} s)")
    phys = _Phys(*(jnp.asarray(inf(v), x0.dtype) for v in (
        spec.tau, spec.noise_hold, spec.gain, spec.noise_density, spec.v_rail, spec.dt)))
    try:
        hash(f)
    except TypeError:  # an unhashable f (e.g. a module holding arrays) cannot be static
        return _solve(key, f, x0, ts, phys, args, spec.solver, spec.max_steps, sde)
    return _solve_jit(key, f, x0, ts, phys, args, spec.solver, spec.max_steps, sde)


def _solve(key, f, x0, ts, phys: _Phys, args, solver: str, max_steps: int, sde: bool):
    _, n, t_end, m = _grid(ts, phys.hold, phys.dt)
    read_root = bm_key = None
    if key is not None:
        read_root, bm_key = jax.random.split(key)
    terms = diffrax.ODETerm(_Drift(f))
    if sde:
        bm_span = 2.5 * (ts[-1] - ts[0])  # covers the < 1 step overrun past ts[-1]
        levels = math.ceil(math.log2(max_steps)) + 3  # tol <= step / 3, dt-independent
        bm = diffrax.VirtualBrownianTree(ts[0], ts[0] + bm_span, tol=bm_span / 2**levels,
                                         shape=jax.ShapeDtypeStruct(x0.shape, x0.dtype), key=bm_key)
        terms = diffrax.MultiTerm(terms, diffrax.ControlTerm(_diffusion, bm))
    p = _Args(args, read_root, ts[0], m, phys)
    rail = phys.rail
    sol = diffrax.diffeqsolve(
        terms, _HeldKeySolver(_SOLVERS[solver](), rail),
        t0=ts[0], t1=t_end, dt0=(t_end - ts[0]) / n, y0=jnp.clip(x0, -rail, rail),
        args=_with_key((p, None), ts[0]), saveat=diffrax.SaveAt(ts=ts),
        stepsize_controller=diffrax.ConstantStepSize(), max_steps=max_steps)
    return jnp.clip(sol.ys, -rail, rail)


_solve_jit = jax.jit(_solve, static_argnums=(1, 6, 7, 8))


class _Args(NamedTuple):
    fargs: Any      # the caller's args
    read_root: Any  # key the read keys are folded from (None: no key)
    t_first: Any    # ts[0] (s), origin of the hold intervals
    hold_m: Any     # solver steps per hold interval
    phys: _Phys


class _Drift(eqx.Module):
    """dx/dt (V/s); args ``(p, read_key)`` from ``_HeldKeySolver``."""

    f: Callable

    def __call__(self, t, x, a):
        p, read_key = a
        return (self.f(read_key, x, t, p.fargs) - x / p.phys.gain) / p.phys.tau


def _diffusion(t, x, a):
    """Additive white noise: diagonal diffusion ``noise_density`` (V/sqrt(s))."""
    return lx.DiagonalLinearOperator(jnp.full_like(x, a[0].phys.sigma))


def op_counts(ts, n_channels: int, spec: IntegratorSpec) -> dict[str, Any]:
    """Cost counts of one ``integrate`` call (keys of ``analog.cost``).

    ts: save times (s), shape (T,); n_channels: integrator channels running (x0.size).
    Returns ``integrator_time`` (s, wall-clock span ts[-1] - ts[0]) and
    ``integrator_channel_seconds`` (s x channels). Python floats for concrete input.
    ``spec`` is accepted for a uniform signature (the span does not depend on it).
    """
    del spec
    ts_np = _concrete(ts)
    if ts_np is not None:
        span = float(ts_np[-1] - ts_np[0])
        return {"integrator_time": span, "integrator_channel_seconds": span * float(n_channels)}
    ts = jnp.asarray(ts)
    span = ts[-1] - ts[0]
    return {"integrator_time": span, "integrator_channel_seconds": span * n_channels}
