"""Lorenz-96 trajectories and their leading Lyapunov exponent.

    dx_i/dt = (x_{i+1} - x_{i-2}) x_{i-1} - x_i + F,   i = 0 .. n - 1 (cyclic)

integrated with diffrax (Tsit5, rtol 1e-6, atol 1e-6: float32). ``x_i = F`` is a
fixed point; at F = 8 it is unstable and trajectories settle on a chaotic attractor
(mean ~2.3, std ~3.6 per site). The leading Lyapunov exponent is estimated from the
tangent-linear model (``jax.jvp`` of the field, integrated beside the trajectory and
renormalised every ``t_renorm``; Benettin et al. 1980): about 1.7 per time unit at
F = 8, n = 40. Time is in the model's units throughout.
"""

from __future__ import annotations

from functools import partial

import diffrax
import jax
import jax.numpy as jnp
import numpy as np

from train.data.cache import cached

__all__ = ["lorenz96", "simulate", "lyapunov_exponent", "make_lorenz96"]

_VERSION = 1


def lorenz96(x: jax.Array, forcing: float = 8.0) -> jax.Array:
    """The Lorenz-96 field at x (..., n), n >= 4: (x_{i+1} - x_{i-2}) x_{i-1} - x_i + F."""
    return (jnp.roll(x, -1, -1) - jnp.roll(x, 2, -1)) * jnp.roll(x, 1, -1) - x + forcing


def _solve(term, y0, ts, args=None, max_steps: int = 1 << 16):
    ts = jnp.asarray(ts)
    sol = diffrax.diffeqsolve(term, diffrax.Tsit5(), ts[0], ts[-1], None, y0, args=args,
                              saveat=diffrax.SaveAt(ts=ts),
                              stepsize_controller=diffrax.PIDController(rtol=1e-6, atol=1e-6), max_steps=max_steps)
    return sol.ys


def simulate(x0: jax.Array, ts: jax.Array, forcing: float = 8.0) -> jax.Array:
    """States (T, n) at times ``ts`` (T,) from ``x0`` (n,) at ts[0]. vmap over x0 for a batch."""
    if x0.shape[-1] < 4:
        raise ValueError(f"lorenz96.simulate: dimension {x0.shape[-1]} is invalid: allowed >= 4")
    return _solve(diffrax.ODETerm(lambda t, x, f: lorenz96(x, f)), jnp.asarray(x0), ts, forcing)


def _tangent_field(t, state, forcing):
    x, dx = state
    return jax.jvp(lambda y: lorenz96(y, forcing), (x,), (dx,))


@partial(jax.jit, static_argnums=4)
def _lyapunov(x0, dx0, forcing, t_renorm, n_renorm):
    term = diffrax.ODETerm(_tangent_field)

    def segment(state, _):
        x, dx = state
        ys = _solve(term, (x, dx), jnp.stack([0.0, t_renorm]), forcing)
        x, dx = ys[0][-1], ys[1][-1]
        norm = jnp.linalg.norm(dx)
        return (x, dx / norm), jnp.log(norm)

    _, logs = jax.lax.scan(segment, (x0, dx0 / jnp.linalg.norm(dx0)), None, length=n_renorm)
    return logs


def lyapunov_exponent(key: jax.Array, dim: int = 40, forcing: float = 8.0, t_spinup: float = 10.0,
                      t_total: float = 100.0, t_renorm: float = 0.1) -> float:
    """Leading Lyapunov exponent (1 / time unit) from a random start on the attractor."""
    x0 = attractor_states(key, 1, dim, forcing, t_spinup)[0]
    dx0 = jax.random.normal(jax.random.fold_in(key, 1), (dim,))
    logs = _lyapunov(x0, dx0, jnp.float32(forcing), jnp.float32(t_renorm), int(round(t_total / t_renorm)))
    return float(np.mean(np.asarray(logs, np.float64)) / t_renorm)


def attractor_states(key: jax.Array, count: int, dim: int, forcing: float = 8.0, t_spinup: float = 10.0):
    """``count`` states (count, dim) on the attractor: F plus N(0, 1) noise, run for ``t_spinup``."""
    x0 = forcing + jax.random.normal(key, (count, dim))
    run = jax.jit(jax.vmap(lambda x: simulate(x, jnp.array([0.0, t_spinup]), forcing)[-1]))
    return run(x0)


def make_lorenz96(seed: int, dim: int, n_train: int, n_test: int, t_train: float, t_test: float, dt: float,
                  forcing: float = 8.0, t_spinup: float = 10.0, lyapunov_time: float = 100.0,
                  cache_dir=None) -> dict[str, np.ndarray]:
    """Training and test trajectories on the attractor, saved every ``dt``.

    Returns ``t_train`` (K,), ``train`` (n_train, K, dim) over [0, t_train], ``t_test`` (L,),
    ``test`` (n_test, L, dim) over [0, t_test] (independent starts), ``lyapunov`` (the leading
    exponent, from a run of ``lyapunov_time``), ``std`` (the attractor's per-site std over the
    training set). Cached (npz) under ``cache_dir`` when given.
    """
    args = dict(version=_VERSION, seed=seed, dim=dim, n_train=n_train, n_test=n_test, t_train=t_train,
                t_test=t_test, dt=dt, forcing=forcing, t_spinup=t_spinup, lyapunov_time=lyapunov_time)
    return cached(cache_dir, f"lorenz96_{dim}", args, lambda: _make(**args))


def _make(version, seed, dim, n_train, n_test, t_train, t_test, dt, forcing, t_spinup, lyapunov_time):
    del version
    key = jax.random.PRNGKey(seed)
    k_train, k_test, k_lyap = jax.random.split(key, 3)
    out = {}
    for name, k, count, span in (("train", k_train, n_train, t_train), ("test", k_test, n_test, t_test)):
        ts = jnp.arange(int(round(span / dt)) + 1) * jnp.float32(dt)
        starts = attractor_states(k, count, dim, forcing, t_spinup)
        out[name] = np.asarray(jax.jit(jax.vmap(lambda x: simulate(x, ts, forcing)))(starts))
        out[f"t_{name}"] = np.asarray(ts)
    out["lyapunov"] = np.float32(lyapunov_exponent(k_lyap, dim, forcing, t_spinup, lyapunov_time))
    out["std"] = np.float32(out["train"].std())
    return out
