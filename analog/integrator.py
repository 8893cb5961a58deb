"""Continuous-time analogue feedback integrator (op-amp + capacitor), solved with diffrax.

A crossbar network evaluates ``f``; its output voltage drives an RC integrator
(``tau = R C``, s) whose output ``x`` (V) is fed back as the network's input::

    dx = [f(k(t), x, t, args) - x / gain] / tau dt + g(t, x, args) dW + noise_density dW',
    x clipped to [-v_rail, v_rail].

``f(read_key, x, t, args) -> dx`` returns the integrator input in V (crossbar
current x R, sign of the inverting stage folded in); ``x`` has shape (..., n).
``g = diffusion`` (V/sqrt(s), optional) is an injected white noise of the model
(e.g. the ``sqrt(beta(t)) dW`` of a score-diffusion SDE); ``noise_density`` is the
integrator's own white noise, independent of it.

**Read noise is sample-and-hold.** A crossbar read path has a finite bandwidth,
so its noise is modelled as piecewise constant with correlation time
``noise_hold`` (s): on ``[u0 + j h, u0 + (j + 1) h)`` of wall-clock time ``u``
(below; ``u0`` is the start) ``f`` gets ``analog.noise.fold_in(read_root, j)``
(``read_root, bm_key = jax.random.split(key)``). For a fixed key the ODE is then well-defined
and piecewise smooth. The solver steps on a grid aligned to the hold intervals
(``dt`` is rounded down to ``noise_hold / m``) and every stage of a step gets the
key of the step's interval (its index is taken from the step start, and FSAL
reuse across steps is off), so a fixed-step solver keeps its full order as
``dt -> 0`` (Euler 1, Heun 2, Tsit5 5). The hold time is physics, not numerics:
held noise of std ``s`` adds a random walk of variance ~``s**2 h T / tau**2`` to x.
``noise_hold=None`` holds one read for the whole solve (a noise-free ``f`` ignores
the key anyway).

**White noise** (``diffusion`` and integrator noise) is driven by one
``VirtualBrownianTree`` (``brownian_path``) in model time whose resolution depends
on ``ts`` and ``max_steps`` but not on ``dt``, so the same key gives the same
Brownian path at every ``dt`` and the strong solution converges. With a
state-dependent ``g``, "euler" converges to the Ito solution and "heun" to the
Stratonovich one; with additive noise (``g`` independent of x) they agree.
For an input-referred op-amp noise ``e_n`` (V/sqrt(Hz), one-sided) across R,
``noise_density ~ e_n / (sqrt(2) tau)``.

**Reverse time.** With ``ts`` strictly decreasing (a reverse diffusion from model
time 1 down to 1e-3, say) the solve runs backwards in model time ``t`` and the
hardware runs forwards in wall-clock time ``u = -t``: it integrates::

    dx = [-f(k(u), x, -u, args) - x / gain] / tau du + g(-u, x, args) dB(u) + noise_density dB'(u)

with ``B(u) = W(-u)`` (the model-time path read backwards, as diffrax's own
reverse-time solve reads it; Euler is then Ito in u, the convention of reverse-time
SDEs). ``f`` and ``g`` always receive model time; the leak, the integrator noise,
the rails and the hold intervals are physical and act in ``u``. Forward and
reverse solves share one compilation.

**Leak**: finite op-amp DC gain A gives the pole ``1 / (A tau)`` (a resistor R_p
across C acts as ``gain = R_p / R``). **Rails**: the output saturates at
``+-v_rail``; the state is projected onto the rails after each step and the
saved outputs are clipped (converges to the saturated dynamics as dt -> 0).

**Specs**: ``IntegratorSpec()`` is ideal (no leak, noise, rails; Tsit5), the
preset ``IntegratorSpec.opamp_rc()`` adds assumed op-amp RC non-idealities, and
``spec.ideal()`` switches them off again keeping tau, dt and max_steps.
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np

from analog import noise
from analog.spec import check_choice, check_range, spec, static

__all__ = ["IntegratorSpec", "integrate", "brownian_path", "op_counts"]

_SOLVERS = {"euler": diffrax.Euler, "heun": diffrax.Heun, "tsit5": diffrax.Tsit5}
_SDE_SOLVERS = ("euler", "heun")  # Ito / Stratonovich; identical for additive noise


@spec
class IntegratorSpec:
    """One analogue integrator channel per state variable (all channels alike).

    The defaults are ideal (every non-ideality off); ``opamp_rc()`` is the physical preset.

    tau: R C time constant (s).
    noise_hold: read-noise correlation time (s) of the crossbar read path; the
        read key is held for this long (None = one read for the whole solve).
    gain: op-amp DC open-loop gain (dimensionless); leak rate 1 / (gain tau).
        None = infinite (no leak).
    noise_density: white integrator noise on x (V/sqrt(s)); None = off.
    v_rail: output saturation (V), symmetric +-v_rail; None = unbounded.
    solver: "euler" | "heun" | "tsit5" (static); tsit5 only without white noise
        (integrator noise or a diffusion term).
    dt: target step (s). The step used is the largest one <= dt that tiles the hold
        intervals (noise_hold / m, m integer), or the span of ``ts`` when noise_hold
        is None; the solve may run up to one step past ts[-1].
    max_steps: static bound on solver steps (also sets the Brownian tree depth).
    """

    tau: float = 1e-3
    noise_hold: float | None = None
    gain: float | None = None
    noise_density: float | None = None
    v_rail: float | None = None
    solver: str = static("tsit5")
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

    def ideal(self) -> "IntegratorSpec":
        """This spec's tau, dt and max_steps with every non-ideality off: no leak, no
        integrator noise, no rails, read noise held for the whole solve, Tsit5."""
        return self.replace(noise_hold=None, gain=None, noise_density=None, v_rail=None,
                            solver="tsit5")

    @classmethod
    def opamp_rc(cls, **changes) -> "IntegratorSpec":
        """An op-amp RC integrator with its non-idealities, Heun; ``changes`` override.

        tau = 1 ms [assumed]. noise_hold = 1 us [assumed], i.e. ~0.5 MHz read bandwidth.
        gain = 1e4 [assumed] (80 dB). noise_density = 1.4e-5 V/sqrt(s) [assumed], i.e.
        e_n = 20 nV/sqrt(Hz) at tau = 1 ms. No rails (set v_rail for a supply).
        """
        values = dict(tau=1e-3, noise_hold=1e-6, gain=1e4, noise_density=1.4e-5, solver="heun")
        return cls(**{**values, **changes})


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


def _with_key(args, u_step):
    """``(p, _) -> (p, read key for the step starting at wall-clock time u_step)``."""
    p = args[0]
    if p.read_root is None:
        return p, None
    # Index of the hold interval; the +0.5 step guards against rounding of u_step.
    j = jnp.floor((u_step - p.u_first) / p.phys.hold + 0.5 / p.hold_m)
    return p, noise.fold_in(p.read_root, j.astype(jnp.uint32))


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


def _grid(us, hold, dt, xp=jnp):
    """Step (s), number of steps, solve end (s), steps per hold interval (1 if no hold),
    for increasing wall-clock save times ``us``."""
    u0, span = us[0], us[-1] - us[0]
    dt = xp.minimum(dt, span)
    held = xp.isfinite(hold)
    m = xp.where(held, xp.maximum(xp.ceil(hold / dt - 1e-4), 1.0), 1.0)
    n = xp.maximum(xp.ceil(span / xp.where(held, hold / m, dt) - 1e-4), 1.0)
    step = xp.where(held, hold / m, span / n)
    return step, n, xp.where(held, xp.maximum(u0 + n * step, us[-1]), us[-1]), m


def _as_times(ts, dtype) -> jax.Array:
    """``ts`` as a floating array (``dtype`` if it is not floating already)."""
    ts = jnp.asarray(ts)
    return jnp.asarray(ts, ts.dtype if jnp.issubdtype(ts.dtype, jnp.floating) else dtype)


def _check_times(ts, where: str) -> None:
    """Shape (T,), T >= 2, and (when concrete) strictly monotonic, else ValueError."""
    if ts.ndim != 1 or ts.shape[0] < 2:
        raise ValueError(f"{where}: ts must have shape (T,) with T >= 2, got {ts.shape}")
    ts_np = _concrete(ts)
    if ts_np is None:
        return
    d = np.diff(ts_np)
    bad = ~(d > 0) if d[0] > 0 else ~(d < 0) if d[0] < 0 else np.ones_like(d, bool)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{where}: ts must be strictly monotonic (strictly increasing or "
                         f"strictly decreasing), got ts[{i}] = {ts_np[i]}, ts[{i + 1}] = "
                         f"{ts_np[i + 1]} in ts = {ts_np}")


def _check_noise(key, spec: IntegratorSpec, diffusion) -> None:
    if diffusion is not None and spec.solver not in _SDE_SOLVERS:
        raise ValueError(f"integrate: IntegratorSpec.solver = {spec.solver!r} is invalid with "
                         f"a diffusion term: allowed one of {_SDE_SOLVERS}")
    if key is None and spec.noise_density is not None:
        raise ValueError("integrate: key is None but IntegratorSpec.noise_density is set")
    if key is None and diffusion is not None:
        raise ValueError("integrate: key is None but a diffusion term is given")


def _check_steps(ts, spec: IntegratorSpec) -> None:
    """When concrete: more steps than ``max_steps`` is a ValueError."""
    inf = lambda v: np.inf if v is None else v
    ts_np, dt_np, hold_np = (_concrete(v) for v in (ts, spec.dt, inf(spec.noise_hold)))
    if ts_np is None or dt_np is None or hold_np is None:
        return
    us = ts_np.astype(np.float64) * np.sign(ts_np[-1] - ts_np[0])
    step, n, _, _ = _grid(us, hold_np, dt_np, np)
    if n > spec.max_steps:
        raise ValueError(f"IntegratorSpec.max_steps = {spec.max_steps} is too small: "
                         f"this solve needs {int(n)} steps (dt = {step:.3g} s)")


def integrate(key: jax.Array | None, f: Callable, x0: jax.Array, ts: jax.Array,
              spec: IntegratorSpec, args: Any = None, diffusion: Callable | None = None
              ) -> jax.Array:
    """Solve the closed-loop integrator from ``x0`` at ``ts[0]``; states (V) at ``ts``.

    key: read key (fresh noise along the trajectory: read noise of ``f``, the
        diffusion's and the integrator's white noise); None only if ``f`` ignores it,
        noise_density is None and there is no diffusion.
    f: ``f(read_key, x, t, args) -> dx``, the integrator input (V), same shape as x.
    x0: initial state (V), shape (..., n).
    ts: save times (s), shape (T,), T >= 2, strictly increasing, or strictly
        decreasing for a reverse-time solve (module doc); xs follow ts's order.
    spec: an ``IntegratorSpec``.
    args: pytree passed to ``f`` and ``diffusion``; the result is differentiable
        w.r.t. it (and x0).
    diffusion: ``g(t, x, args) -> array`` broadcastable to x, V/sqrt(s), static like f:
        the amplitude of an injected white noise ``g dW`` (diagonal: one Brownian
        motion per channel), W from ``brownian_path(key, ts, x0.shape, x0.dtype, spec)``.
        Alone (noise_density None or 0) the diffusion is exactly g (sign kept), so a
        diffrax solve of the same SDE on that path matches strongly. With
        noise_density set too, the two are independent white noises and the diffusion
        is ``sqrt(g**2 + noise_density**2)`` on the one path: the same law, but then the
        path is not the caller's g-path. Needs solver "euler" (Ito: with a
        state-dependent g it converges to the Ito solution) or "heun" (Stratonovich);
        with additive g they agree.
    Returns ``xs`` of shape (T, *x0.shape), xs[0] = x0 (clipped to the rails).

    Pure; jit-compiled inside with ``f`` and ``diffusion`` static (if hashable): calls
    with the same ``f`` and ``diffusion`` objects, shapes, solver, max_steps and (without
    a diffusion) noise_density-is-None share one compilation, forward and reverse ts
    included. ``vmap`` over ``key`` for a Monte Carlo (or over spec values). Gradients
    use diffrax's default ``RecursiveCheckpointAdjoint``. Raises ``ValueError`` for bad
    shapes (of x0, ts, and of what f and diffusion return), non-monotonic ts (when
    concrete; traced ts are taken to be monotonic), white noise with tsit5, or (when
    concrete) more steps than ``max_steps``; under ``jit`` too many steps raise
    equinox's runtime error instead. Times are float32 by default: keep
    ``|ts[0]| / dt`` << 1e6.
    """
    x0 = jnp.asarray(x0)
    x0 = jnp.asarray(x0, x0.dtype)  # drop weak typing: one compilation for 0.0 and x
    if not jnp.issubdtype(x0.dtype, jnp.floating):
        raise ValueError(f"integrate: x0 must be floating point, got {x0.dtype}")
    ts = _as_times(ts, x0.dtype)
    _check_times(ts, "integrate")
    _check_noise(key, spec, diffusion)
    _check_steps(ts, spec)
    inf = lambda v: np.inf if v is None else v
    phys = _Phys(*(jnp.asarray(inf(v), x0.dtype) for v in (
        spec.tau, spec.noise_hold, spec.gain, spec.noise_density, spec.v_rail, spec.dt)))
    white = spec.noise_density is not None or diffusion is not None
    solve_args = (key, f, diffusion, x0, ts, phys, args, spec.solver, spec.max_steps, white)
    try:
        hash((f, diffusion))
    except TypeError:  # an unhashable f (e.g. a module holding arrays) cannot be static
        return _solve(*solve_args)
    return _solve_jit(*solve_args)


def brownian_path(key: jax.Array, ts: jax.Array, shape: tuple[int, ...], dtype,
                  spec: IntegratorSpec) -> diffrax.VirtualBrownianTree:
    """The Brownian motion W (sqrt(s)) that ``integrate(key, f, x0, ts, spec, ...)`` drives
    its white noise with, for ``shape = x0.shape`` and ``dtype = x0.dtype``.

    A ``diffrax.VirtualBrownianTree`` in model time (the time of ``ts``), covering the
    solve in either direction (from ts[0], 2.5 x |ts[-1] - ts[0]| long, towards ts[-1]),
    with tolerance set by ``spec.max_steps`` only. Hand it to a diffrax
    ``ControlTerm`` and solve with ``t0=ts[0], t1=ts[-1]`` (``dt0`` negative for
    decreasing ts) to reproduce ``integrate`` on the same path.
    """
    if key is None:
        raise ValueError("brownian_path: key is None")
    ts = _as_times(ts, dtype)
    _check_times(ts, "brownian_path")
    return _tree(key, ts, tuple(shape), dtype, spec.max_steps)


def _tree(key, ts, shape, dtype, max_steps: int) -> diffrax.VirtualBrownianTree:
    _, bm_key = jax.random.split(key)
    bm_span = 2.5 * jnp.abs(ts[-1] - ts[0])  # covers the < 1 step overrun past ts[-1]
    reverse = ts[-1] < ts[0]
    lo = jnp.where(reverse, ts[0] - bm_span, ts[0])
    hi = jnp.where(reverse, ts[0], ts[0] + bm_span)
    levels = math.ceil(math.log2(max_steps)) + 3  # tol <= step / 3, dt-independent
    return diffrax.VirtualBrownianTree(lo, hi, tol=bm_span / 2**levels,
                                       shape=jax.ShapeDtypeStruct(shape, dtype), key=bm_key)


def _solve(key, f, g, x0, ts, phys: _Phys, args, solver: str, max_steps: int, white: bool):
    sign = jnp.where(ts[-1] < ts[0], -1.0, 1.0).astype(ts.dtype)
    us = sign * ts  # wall-clock times (s), increasing
    _, n, u_end, m = _grid(us, phys.hold, phys.dt)
    read_root = None if key is None else jax.random.split(key)[0]
    p = _Args(args, read_root, us[0], m, sign, phys)
    _check_shapes(f, g, x0, ts[0], p)
    terms = diffrax.ODETerm(_Drift(f))
    if white:  # white noise: a diffusion term, integrator noise, or both
        path = _WallClock(_tree(key, ts, x0.shape, x0.dtype, max_steps), sign)
        terms = diffrax.MultiTerm(terms, diffrax.ControlTerm(_Diffusion(g), path))
    rail = phys.rail
    sol = diffrax.diffeqsolve(
        terms, _HeldKeySolver(_SOLVERS[solver](), rail),
        t0=us[0], t1=u_end, dt0=(u_end - us[0]) / n, y0=jnp.clip(x0, -rail, rail),
        args=_with_key((p, None), us[0]), saveat=diffrax.SaveAt(ts=us),
        stepsize_controller=diffrax.ConstantStepSize(), max_steps=max_steps)
    return jnp.clip(sol.ys, -rail, rail)


_solve_jit = jax.jit(_solve, static_argnums=(1, 2, 7, 8, 9))


def _check_shapes(f, g, x0, t0, p) -> None:
    """At trace time: f returns x's shape, g one broadcastable to it."""
    read_key = _with_key((p, None), p.u_first)[1]
    out = jax.eval_shape(lambda: f(read_key, x0, t0, p.fargs))
    if getattr(out, "shape", None) != x0.shape:
        raise ValueError(f"integrate: f(read_key, x, t, args) must return x's shape "
                         f"{x0.shape}, got {getattr(out, 'shape', type(out).__name__)}")
    if g is None:
        return
    out = jax.eval_shape(lambda: g(t0, x0, p.fargs))
    shape = getattr(out, "shape", None)
    try:
        ok = shape is not None and np.broadcast_shapes(shape, x0.shape) == x0.shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"integrate: diffusion(t, x, args) must return a shape broadcastable "
                         f"to x's shape {x0.shape}, got {shape or type(out).__name__}")


class _Args(NamedTuple):
    fargs: Any      # the caller's args
    read_root: Any  # key the read keys are folded from (None: no key)
    u_first: Any    # wall-clock start (s), origin of the hold intervals
    hold_m: Any     # solver steps per hold interval
    sign: Any       # +1 forward, -1 reverse: model time t = sign * u
    phys: _Phys


class _Drift(eqx.Module):
    """dx/du (V/s) in wall-clock time u; args ``(p, read_key)`` from ``_HeldKeySolver``."""

    f: Callable

    def __call__(self, u, x, a):
        p, read_key = a
        dx = p.sign * self.f(read_key, x, p.sign * u, p.fargs)
        return (dx - x / p.phys.gain) / p.phys.tau


class _Diffusion(eqx.Module):
    """Diagonal diffusion (V/sqrt(s)): the integrator noise, ``g(t, x, args)`` (exactly,
    when noise_density is None or 0), or both combined as independent noises."""

    g: Callable | None

    def __call__(self, u, x, a):
        sigma = a[0].phys.sigma  # inf: noise_density None
        if self.g is None:
            return lx.DiagonalLinearOperator(jnp.full_like(x, sigma))
        g = jnp.broadcast_to(self.g(a[0].sign * u, x, a[0].fargs), x.shape).astype(x.dtype)
        noisy = jnp.isfinite(sigma) & (sigma > 0)  # dynamic: one compilation either way
        return lx.DiagonalLinearOperator(jnp.where(noisy, _hypot(g, sigma), g))


def _hypot(a, b):
    """sqrt(a**2 + b**2), with a zero (not NaN) gradient where both vanish."""
    s = a * a + b * b
    pos = s > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, s, 1.0)), 0.0)


class _WallClock(diffrax.AbstractPath):
    """A model-time path ``W`` read in wall-clock time ``u = sign t``: ``B(u) = W(sign u)``,
    increments ``W(sign u1) - W(sign u0)`` (as diffrax reads a path in reverse time)."""

    path: diffrax.AbstractPath
    sign: Any

    @property
    def t0(self):
        return jnp.minimum(self.sign * self.path.t0, self.sign * self.path.t1)

    @property
    def t1(self):
        return jnp.maximum(self.sign * self.path.t0, self.sign * self.path.t1)

    def evaluate(self, t0, t1=None, left=True):
        if t1 is None:
            return self.path.evaluate(self.sign * t0, left=left)
        forward = self.sign > 0
        a, b = jnp.where(forward, t0, -t1), jnp.where(forward, t1, -t0)
        return self.sign * self.path.evaluate(a, b, left=left)


def op_counts(ts, n_channels: int, spec: IntegratorSpec, array_tiles: int = 0) -> dict[str, Any]:
    """Cost counts of one ``integrate`` call (keys of ``analog.cost``).

    ts: save times (s), shape (T,), either direction; n_channels: integrator channels
    running (x0.size); array_tiles: crossbar tiles that evaluate ``f`` (an analogue
    ODE/SDE solve keeps its arrays conducting for the whole solve, so it is not
    priced as op-amps only). With span = |ts[-1] - ts[0]| (s, wall-clock) returns
    ``integrator_time`` (s, span), ``integrator_channel_seconds`` (s x channels) and
    ``array_tile_seconds`` (s x tiles). Python floats for concrete input.
    ``spec`` is accepted for a uniform signature (the span does not depend on it).
    """
    del spec
    if _concrete(array_tiles) is not None and np.any(np.asarray(array_tiles) < 0):
        raise ValueError(f"op_counts: array_tiles must be >= 0, got {array_tiles}")
    ts_np = _concrete(ts)
    if ts_np is not None:
        span = abs(float(ts_np[-1] - ts_np[0]))
        n_channels, array_tiles = float(n_channels), float(array_tiles)
    else:
        ts = jnp.asarray(ts)
        span = jnp.abs(ts[-1] - ts[0])
    return {"integrator_time": span, "integrator_channel_seconds": span * n_channels,
            "array_tile_seconds": span * array_tiles}
