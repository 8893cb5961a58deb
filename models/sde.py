"""Score-based diffusion SDEs and their samplers: digital (diffrax) and physical
(``analog.integrator``, the score network on crossbars in a closed loop).

Forward SDE ``dx = f(x, t) dt + g(t) dW`` on model time t in [0, 1] (Song et al. 2021):

* :class:`VPSDE`: ``f = -beta(t) x / 2``, ``g = sqrt(beta(t))``, ``beta(t) = beta0 + t (beta1 - beta0)``;
  marginal ``x_t = m(t) x_0 + s(t) z`` with ``m = exp(-t^2 (beta1 - beta0) / 4 - t beta0 / 2)``,
  ``s = sqrt(1 - m^2)``.
* :class:`SubVPSDE`: the same drift, ``g = sqrt(beta(t) (1 - m(t)^4))``, ``s = 1 - m^2``.
* :class:`VESDE`: no drift, ``g = sigma_min (sigma_max / sigma_min)^t sqrt(2 ln(sigma_max / sigma_min))``,
  ``m = 1``, ``s^2 = sigma(t)^2 - sigma_min^2``.

The reverse process from t = 1 to t ~ 0 runs ``dx = [f - g^2 score] dt + g dW_bar`` (the reverse
SDE) or ``dx/dt = f - g^2 score / 2`` (the probability-flow ODE, deterministic, same marginals).
:class:`ReverseField` is that drift as a flax module around a score network, so it reads one
programmed chip through ``models.chip.ModuleField`` like any other vector field.

Samplers: :func:`sample_digital` (Euler-Maruyama for the SDE, Euler for the ODE, a fixed number
of steps; or Tsit5 with adaptive steps for the ODE), and :func:`sample_analog`: the reverse
process on the op-amp integrators, model time running backwards while wall-clock time runs
forwards (``analog.integrator``, reverse ``ts``), one model time unit per integrator time
constant tau (``models.node.physical_times``), the injected noise ``g dW`` from the
integrator's diffusion term (per model time: ``g / sqrt(tau)`` per wall-clock sqrt(s)).

Sampling-time schedule scale: the public code trains with ``beta1 = 0.5`` and samples with the
schedule multiplied by ``scale`` (2 unconditional, 1.5 conditional) from N(0, I): ``sde.scaled(2.0)``.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import diffrax
import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import lineax as lx

from analog.integrator import IntegratorSpec, integrate
from models.chip import FieldArgs
from models.node import analog_field, physical_times

__all__ = ["VPSDE", "SubVPSDE", "VESDE", "SDES", "dsm_loss", "ReverseField", "sample_digital", "sample_analog",
           "DigitalSample", "ReverseDiffusion", "T_EPS", "field_variables"]

T_EPS = 1e-5  # smallest training time (the public code's eps)


def _check(name: str, value: float, lo: float, where: str) -> None:
    if not value > lo:
        raise ValueError(f"{where}.{name} = {value!r} is invalid: allowed values above {lo}")


@flax.struct.dataclass
class VPSDE:
    """Variance-preserving SDE with a linear schedule (dimensionless rates per model time)."""

    beta0: float = flax.struct.field(pytree_node=False, default=0.001)
    beta1: float = flax.struct.field(pytree_node=False, default=0.5)

    def __post_init__(self):
        _check("beta0", self.beta0, 0.0, type(self).__name__)
        if not self.beta1 > self.beta0:
            raise ValueError(f"{type(self).__name__}.beta1 = {self.beta1!r} is invalid: allowed values above "
                             f"beta0 = {self.beta0!r}")

    def beta(self, t):
        return self.beta0 + t * (self.beta1 - self.beta0)

    def mean_coeff(self, t):
        """m(t) = exp(-int_0^t beta / 2)."""
        return jnp.exp(-0.25 * t**2 * (self.beta1 - self.beta0) - 0.5 * t * self.beta0)

    def marginal(self, t):
        """(m(t), s(t)): x_t = m x_0 + s z."""
        m = self.mean_coeff(t)
        return m, jnp.sqrt(1.0 - m**2)

    def drift(self, x, t):
        return -0.5 * self.beta(t) * x

    def diffusion(self, t):
        return jnp.sqrt(self.beta(t))

    def scaled(self, scale: float) -> "VPSDE":
        """The schedule multiplied by ``scale`` (the public code's sampling-time scale)."""
        return self.replace(beta0=self.beta0 * scale, beta1=self.beta1 * scale)


@flax.struct.dataclass
class SubVPSDE(VPSDE):
    """Sub-VP SDE (Song et al. 2021): VP drift, diffusion sqrt(beta (1 - m^4)), std 1 - m^2."""

    def marginal(self, t):
        m = self.mean_coeff(t)
        return m, 1.0 - m**2

    def diffusion(self, t):
        return jnp.sqrt(self.beta(t) * (1.0 - self.mean_coeff(t) ** 4))


@flax.struct.dataclass
class VESDE:
    """Variance-exploding SDE: sigma(t) = sigma_min (sigma_max / sigma_min)^t."""

    sigma_min: float = flax.struct.field(pytree_node=False, default=0.01)
    sigma_max: float = flax.struct.field(pytree_node=False, default=2.0)

    def __post_init__(self):
        _check("sigma_min", self.sigma_min, 0.0, "VESDE")
        if not self.sigma_max > self.sigma_min:
            raise ValueError(f"VESDE.sigma_max = {self.sigma_max!r} is invalid: allowed values above "
                             f"sigma_min = {self.sigma_min!r}")

    def sigma(self, t):
        return self.sigma_min * (self.sigma_max / self.sigma_min) ** t

    def marginal(self, t):
        return jnp.ones_like(jnp.asarray(t, jnp.float32)), jnp.sqrt(self.sigma(t) ** 2 - self.sigma_min**2)

    def drift(self, x, t):
        return jnp.zeros_like(x)

    def diffusion(self, t):
        return self.sigma(t) * math.sqrt(2.0 * math.log(self.sigma_max / self.sigma_min))

    def scaled(self, scale: float) -> "VESDE":
        if scale != 1.0:
            raise ValueError(f"VESDE.scaled: scale = {scale!r} is invalid: allowed 1.0 (no schedule to scale)")
        return self


SDES = {"vp": VPSDE, "subvp": SubVPSDE, "ve": VESDE}


def dsm_loss(score_fn, sde, key: jax.Array, x0: jax.Array, t_eps: float = T_EPS) -> jax.Array:
    """Denoising score matching of ``score_fn(x_t, t) -> (N, d)`` on data ``x0`` (N, d):
    ``mean || s(t) score(x_t, t) + z ||^2`` with ``t ~ U(t_eps, 1)``, ``x_t = m x0 + s z``
    (the public code's loss; minimised by the true score of p_t)."""
    k_t, k_z = jax.random.split(key)
    t = jax.random.uniform(k_t, (x0.shape[0],), minval=t_eps, maxval=1.0)
    z = jax.random.normal(k_z, x0.shape, x0.dtype)
    m, s = sde.marginal(t)
    xt = m[:, None] * x0 + s[:, None] * z
    return jnp.mean(jnp.sum((score_fn(xt, t) * s[:, None] + z) ** 2, axis=-1))


class ReverseField(nn.Module):
    """The reverse-time drift ``f(x, t) - c g(t)^2 score(x, t[, label])`` (c = 1: reverse SDE,
    1/2: probability-flow ODE) around a score network, in forward-time convention: integrate
    it from t = 1 down to t ~ 0 (negative dt).

    score: a flax module ``(x (N, d), t (N,) or scalar[, label]) -> (N, d)``.
    guidance: classifier-free guidance weight w of a conditional score network,
        ``score = s(x, t, null) + w (s(x, t, c) - s(x, t, null))`` (w = 0 unconditional,
        1 conditional, > 1 sharper; the public code's ``(1 + w') s(c) - w' s(null)`` is w = 1 + w');
        None: the score network is called as it is (with the label when one is given).
    Call ``(x, t, label=None)``; ``score`` is submodule ``"score"``: its variables go in
    through ``field_variables``.
    """

    score: nn.Module
    sde: Any
    probability_flow: bool = False
    guidance: float | None = None

    def __call__(self, x, t, label=None):
        s = self.guided_score(x, t, label)
        c = 0.5 if self.probability_flow else 1.0
        return self.sde.drift(x, t) - c * self.sde.diffusion(t) ** 2 * s

    def guided_score(self, x, t, label=None):
        t_batch = jnp.broadcast_to(t, x.shape[:-1])
        if label is None:
            return self.score(x, t_batch)
        if self.guidance is None or self.guidance == 1.0:  # the conditional score alone
            return self.score(x, t_batch, label)
        if self.guidance == 0.0:  # the unconditional score alone
            return self.score(x, t_batch, jnp.full_like(label, -1))
        null = jnp.full_like(label, -1)
        both = self.score(jnp.concatenate([x, x]), jnp.concatenate([t_batch, t_batch]),
                          jnp.concatenate([label, null]))
        cond, uncond = jnp.split(both, 2)
        return uncond + self.guidance * (cond - uncond)


def field_variables(variables: Any) -> dict:
    """A score network's variables (``{"params": ..., "chip": ...}``) as those of the
    ``ReverseField`` around it (every collection under ``"score"``)."""
    return {name: {"score": value} for name, value in dict(variables).items()}


class DigitalSample(NamedTuple):
    """A digital solve: ``x`` (N, d) at t_end and the score network's evaluations per sample."""

    x: jax.Array
    evaluations: jax.Array


def sample_digital(key: jax.Array, field: ReverseField, variables: Any, x1: jax.Array, steps: int | None,
                   t_end: float = 1e-3, label=None, rngs: dict | None = None, rtol: float = 1e-4) -> DigitalSample:
    """The reverse process from ``x1`` (N, d) at t = 1 to ``t_end`` with diffrax.

    steps: fixed steps (Euler-Maruyama for a reverse SDE, Euler for the probability-flow ODE,
        ``field.probability_flow``); None: Tsit5 with PID step control (the ODE only).
    key: the Brownian path of the SDE (diffrax ``UnsafeBrownianPath``: fixed steps only).
    rngs: the score network's chip streams (None: a chip in ``variables`` or an ideal network).
    Jit-compiled with the field, step count and tolerances static.
    """
    if steps is None and not field.probability_flow:
        raise ValueError("sample_digital: steps = None (adaptive) is invalid for a reverse SDE: allowed for the "
                         "probability-flow ODE only (ReverseField(probability_flow=True))")
    if steps is not None and steps < 1:
        raise ValueError(f"sample_digital: steps = {steps} is invalid: allowed >= 1")
    if not 0.0 < t_end < 1.0:
        raise ValueError(f"sample_digital: t_end = {t_end} is invalid: allowed 0 < t_end < 1")
    return _sample_digital(field, key, variables, jnp.asarray(x1), label, {} if rngs is None else rngs, steps,
                           float(t_end), rtol)


def _sample_digital_impl(field, key, variables, x1, label, rngs, steps, t_end, rtol):
    def drift(t, x, args):
        return field.apply(args, x, t, label, rngs=rngs)

    terms = diffrax.ODETerm(drift)
    if not field.probability_flow:
        bm = diffrax.UnsafeBrownianPath(shape=x1.shape, key=key)
        g = lambda t, x, args: jax.lax.broadcast_in_dim(field.sde.diffusion(t), x.shape, ())
        terms = diffrax.MultiTerm(terms, diffrax.ControlTerm(lambda t, x, a: lx.DiagonalLinearOperator(g(t, x, a)), bm))
    if steps is None:
        solver, controller, dt0 = diffrax.Tsit5(), diffrax.PIDController(rtol=rtol, atol=rtol * 1e-2), -1e-2
    else:
        solver, controller, dt0 = diffrax.Euler(), diffrax.ConstantStepSize(), -(1.0 - t_end) / steps
    sol = diffrax.diffeqsolve(terms, solver, 1.0, t_end, dt0, x1, args=variables, stepsize_controller=controller,
                              max_steps=steps if steps is not None else 4096, saveat=diffrax.SaveAt(t1=True),
                              adjoint=diffrax.RecursiveCheckpointAdjoint() if field.probability_flow
                              else diffrax.ForwardMode())
    per_step = 1 if steps is not None else 6
    evaluations = sol.stats["num_steps"] * per_step + (0 if steps is not None else 1)
    return DigitalSample(sol.ys[-1], evaluations)


_sample_digital = jax.jit(_sample_digital_impl, static_argnums=(0, 6, 7, 8))


class ReverseDiffusion(NamedTuple):
    """``g(t, x, args)`` for ``analog.integrator.integrate``: the SDE's diffusion at model time
    ``t / tau`` per sqrt of wall-clock second, ``g / sqrt(tau)`` (hashable: one compilation)."""

    sde: Any
    tau: float

    def __call__(self, t, x, args):
        return jnp.broadcast_to(self.sde.diffusion(t / self.tau) / math.sqrt(self.tau), x.shape)


def sample_analog(key: jax.Array, field: ReverseField, variables: Any, x1: jax.Array, spec: IntegratorSpec,
                  t_end: float = 1e-3, label=None, program_key: jax.Array | None = None,
                  save: int = 2) -> jax.Array:
    """The reverse process on the analogue integrators, from ``x1`` (N, d) at model time 1 to
    ``t_end``: states at ``save`` model times from 1 to t_end, shape (save, N, d).

    variables: ``{"params", "chip"}`` (one chip programmed once, read with fresh noise every
        ``spec.noise_hold``) or ``{"params"}`` with ``program_key``.
    key: the read key (read noise, the injected noise ``g dW`` of a reverse SDE, integrator noise).
    Every one of the N samples is its own trajectory on the same chip (independent read and
    integrator noise, one integrator pair per sample).
    """
    ts = jnp.linspace(1.0, t_end, save)
    diffusion = None if field.probability_flow else ReverseDiffusion(field.sde, float(spec.tau))
    args = FieldArgs(variables, program_key, label)
    return integrate(key, analog_field(field, spec), x1, physical_times(ts, spec), spec, args, diffusion=diffusion)
