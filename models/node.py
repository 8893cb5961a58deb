"""Neural ODEs on crossbars: a vector field ``f_theta(x, u(t))`` on ``AnalogDense``
layers, solved digitally with diffrax or physically on the analogue integrator.

    dx/dt = f_theta(x(t), u(t))          x: state (..., n), u: a drive signal (optional)

**Time, in one place.** Model time ``t`` is the time of the data (seconds of the HP
device, Lorenz-96 time units). On the analogue integrator one model time unit is one
integrator time constant ``tau = R C``: wall-clock time ``s = t tau``
(:func:`physical_times`), the crossbar outputs ``f_theta`` as a voltage and the
integrator computes ``dx/ds = f_theta / tau``, so the state follows the model ODE
``1 / tau`` times faster than model time. The field sees model time again through
``ModuleField(model, time_unit=tau)``; a drive ``u`` is evaluated at model time.

**Fields.** :class:`MLPField`: one MLP from ``[x, u(t)]`` to ``dx/dt`` (the HP twin).
:class:`StencilField`: a cyclic lattice field ``dx_i/dt = g(x_{i-left}, ..., x_{i+right})``
(Lorenz-96), one small MLP per site; with ``copies=True`` each site has its own
physical copy of the MLP's arrays (all sites compute at once in continuous time, so
each copy has its own programming noise), with ``copies=False`` one array is shared.

**Solves.** :func:`solve_digital`: diffrax Tsit5 with adaptive steps (PID), the chip
and its read noise fixed for the solve, gradients by diffrax's recursive checkpointing
(``RecursiveCheckpointAdjoint``); it returns the solver's step count for the digital
cost. :func:`solve_analog`: ``analog.integrator.integrate`` with the chip programmed
once and fresh read noise held for ``IntegratorSpec.noise_hold`` along the trajectory.
In the ideal limit (ideal crossbar and integrator) both solve the same ODE and agree
as the integrator's step shrinks.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple, Sequence

import diffrax
import flax.linen as nn
import jax
import jax.numpy as jnp

from analog import cost
from analog.crossbar import CrossbarSpec
from analog.integrator import IntegratorSpec, integrate
from models.chip import FieldArgs, ModuleField
from models.layers import CHIP, AnalogDense

__all__ = ["MLPField", "StencilField", "physical_times", "analog_field", "solve_digital", "solve_analog",
           "DigitalSolve", "evaluation_counts", "absorbing", "ACTIVATIONS"]

ACTIVATIONS = {"tanh": jnp.tanh, "relu": nn.relu, "gelu": nn.gelu, "softplus": nn.softplus}


def _drive_input(x: jax.Array, t, drive: Callable | None) -> jax.Array:
    """``x`` with the drive's value at ``t`` appended as a last feature: (..., n + 1)."""
    if drive is None:
        return x
    u = jnp.asarray(drive(t), x.dtype)
    return jnp.concatenate([x, jnp.broadcast_to(u[..., None], (*x.shape[:-1], 1))], axis=-1)


class _MLP(nn.Module):
    """Dense layers on crossbars, ``activation`` between them, a linear output layer."""

    hidden: Sequence[int]
    features: int
    spec: CrossbarSpec
    activation: str

    @nn.compact
    def __call__(self, h):
        act = ACTIVATIONS[self.activation]
        for width in self.hidden:
            h = act(AnalogDense(width, spec=self.spec)(h))
        return AnalogDense(self.features, spec=self.spec)(h)


class MLPField(nn.Module):
    """``dx/dt = scale * MLP([x, u(t)])``: one MLP on crossbars, inputs the state (n)
    and the drive's value (V) when one is given.

    bounds: ``(lo, hi)`` of a bounded state (the HP film's w / D in [0, 1]): the field reads
    the state clipped to them and is zeroed where it points out at an edge (``absorbing``).

    features: state size n. hidden: hidden widths. activation: a key of ACTIVATIONS.
    scale: output scale (model units per unit of crossbar output; a fixed gain).
    Call ``(x (..., n), t (model time), drive=None) -> dx/dt (..., n)``; ``drive(t)``
    returns a scalar or an array of x's batch shape (one drive per trajectory).
    """

    features: int
    hidden: Sequence[int] = (32, 32)
    spec: CrossbarSpec = CrossbarSpec()
    activation: str = "tanh"
    scale: float = 1.0
    bounds: tuple[float, float] | None = None

    @nn.compact
    def __call__(self, x, t, drive=None):
        if self.bounds is not None:
            x = jnp.clip(x, *self.bounds)
        out = _MLP(tuple(self.hidden), self.features, self.spec, self.activation, name="mlp")(_drive_input(x, t, drive))
        return absorbing(x, self.scale * out, self.bounds)


def absorbing(x, dx, bounds: tuple[float, float] | None):
    """``dx`` zeroed where it points out of ``bounds = (lo, hi)`` at an edge (x <= lo or x >= hi):
    a bounded state with absorbing edges (None: unbounded). On the integrator these are its
    output rails, with the state offset so that the rails sit at the bounds."""
    if bounds is None:
        return dx
    outward = ((x >= bounds[1]) & (dx > 0)) | ((x <= bounds[0]) & (dx < 0))
    return jnp.where(outward, 0.0, dx)


class StencilField(nn.Module):
    """A cyclic lattice field: ``dx_i/dt = scale * MLP(x_{i-left}, ..., x_{i+right})``
    for every site i of x (..., n), indices mod n (Lorenz-96's stencil: left 2, right 1).

    copies: one physical copy of the MLP's arrays per site (own programming noise,
        all sites at once) or one shared array (False). Parameters are shared either way.
    """

    hidden: Sequence[int] = (32, 32)
    spec: CrossbarSpec = CrossbarSpec()
    activation: str = "tanh"
    left: int = 2
    right: int = 1
    copies: bool = True
    scale: float = 1.0

    @nn.compact
    def __call__(self, x, t, drive=None):
        neighbours = jnp.stack([jnp.roll(x, -k, axis=-1) for k in range(-self.left, self.right + 1)], -1)
        neighbours = _drive_input(neighbours, t, drive)  # (..., n, width)
        mlp = _MLP
        if self.copies:
            mlp = nn.vmap(_MLP, in_axes=0, out_axes=0, axis_size=x.shape[-1],
                          variable_axes={"params": None, CHIP: 0, "cost": 0},
                          split_rngs={"params": False, "program": True, "read": True})
            neighbours = jnp.moveaxis(neighbours, -2, 0)  # (n, ..., width)
        out = mlp(tuple(self.hidden), 1, self.spec, self.activation, name="mlp")(neighbours)[..., 0]
        return self.scale * (jnp.moveaxis(out, 0, -1) if self.copies else out)


def physical_times(ts, spec: IntegratorSpec) -> jax.Array:
    """Wall-clock times (s) of model times ``ts`` on an integrator: ``ts * tau``."""
    return jnp.asarray(ts) * spec.tau


def analog_field(model: nn.Module, spec: IntegratorSpec) -> ModuleField:
    """``model`` as the integrator's vector field, called at model time (``s / tau``)."""
    return ModuleField(model, time_unit=spec.tau)


def solve_analog(key: jax.Array | None, model: nn.Module, variables: Any, x0: jax.Array, ts: jax.Array,
                 spec: IntegratorSpec, drive: Any = None, program_key: jax.Array | None = None) -> jax.Array:
    """The neural ODE on the analogue integrator: states at model times ``ts`` (T,), shape (T, *x0.shape).

    variables: ``{"params", "chip"}`` (a chip programmed once: ``models.chip.program_chip``) or
        ``{"params"}`` with a fixed ``program_key`` (the layers program that chip at every evaluation).
    key: the read key (fresh read noise per hold interval, integrator noise); drive: the
        drive ``u`` as a pytree callable of model time (``analog.memristor.SampledVoltage``).
    """
    args = FieldArgs(variables, program_key, drive)
    return integrate(key, analog_field(model, spec), x0, physical_times(ts, spec), spec, args)


class DigitalSolve(NamedTuple):
    """A diffrax solve: ``xs`` (T, *x0.shape) at the save times, ``steps`` the solver steps
    taken (accepted + rejected), ``evaluations`` of the vector field (Tsit5: 6 per step + 1)."""

    xs: jax.Array
    steps: jax.Array
    evaluations: jax.Array


def solve_digital(model: nn.Module, variables: Any, x0: jax.Array, ts: jax.Array, drive: Any = None,
                  rngs: dict | None = None, *, rtol: float = 1e-4, atol: float = 1e-6, max_steps: int = 4096,
                  dt0: float | None = None) -> DigitalSolve:
    """The neural ODE solved by diffrax (Tsit5, PID step control) from ``x0`` at ``ts[0]``.

    rngs: the model's streams for the whole solve (``{"program", "read"}``: one chip and one
        read during the solve, i.e. noise-aware training; None: a chip in ``variables`` or an
        ideal model). Differentiable w.r.t. ``variables`` and ``x0`` (recursive checkpointing).
    Jit-compiled with the model and tolerances static (one compilation per model and shapes).
    """
    return _solve_digital(model, variables, jnp.asarray(x0), jnp.asarray(ts), drive, {} if rngs is None else rngs,
                          rtol, atol, max_steps, dt0)


@functools.partial(jax.jit, static_argnums=(0, 6, 7, 8, 9))
def _solve_digital(model, variables, x0, ts, drive, rngs, rtol, atol, max_steps, dt0) -> DigitalSolve:
    def vector_field(t, x, args):
        return model.apply(args, x, t, drive, rngs=rngs)

    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(vector_field), diffrax.Tsit5(), ts[0], ts[-1], dt0, x0, args=variables,
        saveat=diffrax.SaveAt(ts=ts), stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        max_steps=max_steps, adjoint=diffrax.RecursiveCheckpointAdjoint())
    steps = sol.stats["num_steps"]
    return DigitalSolve(sol.ys, steps, 6 * steps + 1)


def evaluation_counts(model: nn.Module, variables: Any, x0: jax.Array, t0=0.0, drive: Any = None) -> dict[str, float]:
    """Digital work of one evaluation of the vector field at one state ``x0`` (n,) on an
    ideal twin of the model: ``{"flops": XLA's count, "layers": weight matrices, i.e. kernel
    launches (the sites of a stencil field run in one launch per layer)}``."""
    ideal = model.clone(spec=model.spec.ideal())
    params = {"params": variables["params"]}
    fn = lambda x: ideal.apply(params, x, t0, drive)
    is_kernel = lambda path: getattr(path[-1], "key", None) == "kernel"
    layers = sum(is_kernel(path) for path, _ in jax.tree_util.tree_flatten_with_path(params)[0])
    return {"flops": cost.compiled_flops(fn, x0), "layers": float(layers)}
