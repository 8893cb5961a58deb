import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
from jax.flatten_util import ravel_pytree

from analog.integrator import IntegratorSpec, integrate, op_counts

N = 3
TS = jnp.linspace(0.0, 2.0, 9)  # s
X0 = jnp.array([1.0, -0.5, 0.25])
A = jnp.array([[-0.5, 1.0, 0.0], [-1.0, -0.5, 0.3], [0.0, -0.3, -0.2]])


def _f(key, x, t, p):
    """One test system (so the tests share compilations): a linear part, a tanh MLP,
    a drive that flips sign at t_flip, and read noise (std s, held per read key)."""
    y = p["A"] @ x + p["w2"] @ jnp.tanh(p["w1"] @ x + p["b1"])
    y = y + p["b"] * jnp.where(t < p["t_flip"], 1.0, -1.0)
    return y if key is None else y + p["s"] * jax.random.normal(key, x.shape)


def _params(a=0.0, mlp=0.0, b=0.0, t_flip=1.0, s=0.0, seed=0):
    k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
    return {"A": a * A, "w1": jax.random.normal(k1, (8, N)),
            "b1": 0.1 * jax.random.normal(k2, (8,)), "w2": mlp * 0.4 * jax.random.normal(k3, (N, 8)), "b": jnp.asarray(b),
            "t_flip": jnp.asarray(t_flip), "s": jnp.asarray(s)}


KEY = jax.random.key(0)
KEYS = jax.random.split(jax.random.key(7), 256)  # one Monte Carlo batch
LIN = _params(a=1.0, s=0.3)  # noisy linear system


@jax.jit
def _solve_many(keys, spec, p):
    """Monte Carlo: one vmap over keys."""
    return jax.vmap(lambda k: integrate(k, _f, X0, TS, spec, p))(keys)


def _reference(f, x0, ts, tau, args):
    """Adaptive high-accuracy diffrax solve of dx/dt = f(None, x, t, args) / tau."""
    term = diffrax.ODETerm(lambda t, x, a: f(None, x, t, a) / tau)
    sol = diffrax.diffeqsolve(term, diffrax.Dopri5(), ts[0], ts[-1], 1e-3, x0, args,
                              saveat=diffrax.SaveAt(ts=ts), max_steps=10_000,
                              stepsize_controller=diffrax.PIDController(rtol=1e-8, atol=1e-8))
    return sol.ys


def test_ideal_linear_matches_expm():
    tau = 0.5
    xs = integrate(KEY, _f, X0, TS, IntegratorSpec.ideal(tau=tau, dt=0.02), _params(a=1.0))
    assert xs.shape == (len(TS), N)
    exact = np.stack([scipy.linalg.expm(np.asarray(A, np.float64) * t / tau) @ X0 for t in TS])
    np.testing.assert_allclose(xs, exact, atol=2e-6)


def test_ideal_mlp_matches_direct_diffrax_solve():
    p = _params(a=1.0, mlp=1.0)
    ref = _reference(_f, X0, TS, 0.5, p)
    assert float(jnp.abs(ref[-1] - ref[0]).max()) > 0.5  # a non-trivial trajectory
    # class form, and instance form (keeps tau and dt); a key is accepted, s = 0: no noise
    for spec in (IntegratorSpec.ideal(tau=0.5, dt=0.02), IntegratorSpec(tau=0.5, dt=0.02).ideal()):
        np.testing.assert_allclose(integrate(KEY, _f, X0, TS, spec, p), ref, atol=3e-6)


def _mc_spec(**changes):
    """Heun with held read noise, leak and integrator noise; one compiled Monte Carlo."""
    base = dict(tau=1.0, noise_hold=0.05, gain=50.0, noise_density=0.2, dt=0.025,
                solver="heun", max_steps=512)
    return IntegratorSpec(**{**base, **changes})


def test_held_read_noise_converges_at_second_order_with_heun():
    """Same keys, dt halved: differences shrink ~4x (Heun keeps order 2 across hold jumps)."""
    spec = _mc_spec(noise_density=0.0)
    xs = [_solve_many(KEYS, spec.replace(dt=0.05 / 2**i), LIN) for i in range(4)]
    diffs = np.array([float(jnp.abs(b - a).max()) for a, b in zip(xs, xs[1:])])
    ratios = diffs[:-1] / diffs[1:]
    assert np.all((ratios > 3.0) & (ratios < 5.5)), (diffs, ratios)
    # the noise matters: the noisy solutions are far from the noise-free one
    clean = _solve_many(KEYS, spec.replace(dt=0.05 / 8), _params(a=1.0))
    assert float(jnp.abs(xs[-1] - clean).max()) > 100 * diffs[-1]


def test_integrator_noise_converges_strongly():
    """With white integrator noise the Brownian path does not depend on dt: same keys,
    dt halved, the differences shrink (strong order 1 for additive noise)."""
    xs = [_solve_many(KEYS, _mc_spec(dt=0.05 / 2**i), LIN) for i in range(4)]
    rms = np.array([float(jnp.sqrt(jnp.mean((b - a) ** 2))) for a, b in zip(xs, xs[1:])])
    assert np.all(rms[:-1] / rms[1:] > 1.6), rms  # ~2 expected


def test_same_key_same_trajectory_different_keys_differ():
    keys = jnp.concatenate([KEYS[:1], KEYS[:-1]])  # keys[0] == keys[1]
    xs = _solve_many(keys, _mc_spec(), LIN)
    np.testing.assert_array_equal(xs[0], xs[1])
    np.testing.assert_array_equal(xs[1:], _solve_many(KEYS, _mc_spec(), LIN)[:-1])
    assert float(jnp.abs(xs[1] - xs[2]).max()) > 1e-2
    np.testing.assert_array_equal(xs[:, 0], jnp.broadcast_to(X0, (len(keys), N)))


def test_monte_carlo_mean_matches_noise_free_and_noise_variance():
    spec = _mc_spec()
    xs = np.asarray(_solve_many(KEYS, spec, LIN), np.float64)
    assert xs.shape == (256, len(TS), N)
    ideal = IntegratorSpec.ideal(tau=1.0, dt=0.025, gain=50.0)
    clean = np.asarray(integrate(KEY, _f, X0, TS, ideal, _params(a=1.0)))
    # linear system, zero-mean additive noises: the mean is the noise-free solution
    mean, sem = xs.mean(0), xs.std(0, ddof=1) / np.sqrt(len(KEYS))
    assert np.all(sem[1:] > 1e-3)  # the noise is really there
    assert np.all(np.abs(mean - clean) < 5 * sem + 1e-6)
    # integrator noise alone, undriven: an Ornstein-Uhlenbeck process with rate
    # 1 / (gain tau), Var x(t) = sigma^2 (gain tau / 2) (1 - exp(-2 t / (gain tau)))
    xs = np.asarray(_solve_many(KEYS, spec, _params()), np.float64)
    t_leak = 50.0 * 1.0
    expected = 0.2**2 * t_leak / 2 * (1 - np.exp(-2 * float(TS[-1]) / t_leak))
    ratio = xs[:, -1].var(0, ddof=1) / expected
    assert np.all(np.abs(ratio - 1) < 5 * np.sqrt(2 / len(KEYS))), ratio


def test_leak_decays_as_exp_minus_t_over_gain_tau():
    gain, tau = 4.0, 0.5
    spec = IntegratorSpec.ideal(tau=tau, dt=0.02, gain=gain)
    xs = integrate(KEY, _f, X0, TS, spec, _params())
    expected = np.exp(-np.asarray(TS) / (gain * tau))[:, None] * np.asarray(X0)
    np.testing.assert_allclose(xs, expected, rtol=1e-5, atol=1e-7)


def test_rails_clip_and_release_immediately():
    """+1 V drive until t = 1 s, then -1 V; rails +-0.5 V; tau = 1 s; from x = 0."""
    spec = IntegratorSpec.ideal(tau=1.0, dt=2e-4, v_rail=0.5)  # the drive's jump costs O(dt)
    xs = integrate(KEY, _f, jnp.zeros(N), TS, spec, _params(b=1.0, t_flip=1.0))
    t = np.asarray(TS)
    expected = np.where(t < 1.0, np.minimum(t, 0.5), np.maximum(0.5 - (t - 1.0), -0.5))
    assert float(jnp.abs(xs).max()) <= 0.5
    np.testing.assert_allclose(xs, np.broadcast_to(expected[:, None], xs.shape), atol=2e-3)
    # an initial state beyond the rail is clipped too
    assert float(integrate(KEY, _f, jnp.full(N, 2.0), TS, spec, _params())[0, 0]) == 0.5


def test_gradient_wrt_params_matches_finite_difference():
    # Euler: the adjoint is diffrax's whatever the solver, and Euler compiles fastest
    spec = IntegratorSpec(tau=1.0, noise_hold=0.1, gain=100.0, noise_density=None, dt=0.05,
                          solver="euler", max_steps=64)
    theta, unravel = ravel_pytree(_params(a=1.0, mlp=1.0, s=0.2, seed=1))

    @jax.jit
    @jax.value_and_grad
    def loss(theta):
        return jnp.sum(integrate(KEY, _f, X0, TS, spec, unravel(theta))[-1] ** 2)

    g = np.asarray(loss(theta)[1])
    assert np.all(np.isfinite(g)) and np.abs(g).max() > 0
    v = np.random.default_rng(0).normal(size=theta.shape).astype(np.float32)
    v /= np.linalg.norm(v)
    eps = 3e-3
    fd = (float(loss(theta + eps * v)[0]) - float(loss(theta - eps * v)[0])) / (2 * eps)
    np.testing.assert_allclose(g @ v, fd, rtol=2e-2)


@pytest.mark.parametrize("field,value", [
    ("tau", 0.0), ("noise_hold", -1e-6), ("gain", 0.0), ("noise_density", -1.0),
    ("v_rail", 0.0), ("solver", "rk4"), ("dt", 0.0), ("max_steps", 1.5), ("max_steps", 0),
])
def test_validation_names_the_field(field, value):
    with pytest.raises(ValueError, match=f"IntegratorSpec.{field} ="):
        IntegratorSpec(**{field: value})


def test_boundary_errors():
    with pytest.raises(ValueError, match="solver"):
        IntegratorSpec(solver="tsit5")  # tsit5 with integrator noise on
    spec = IntegratorSpec(tau=1.0, noise_hold=1e-3, dt=1e-3, max_steps=100)
    with pytest.raises(ValueError, match="max_steps"):
        integrate(KEY, _f, X0, TS, spec, LIN)
    with pytest.raises(ValueError, match="strictly increasing"):
        integrate(KEY, _f, X0, jnp.array([0.0, 1.0, 1.0]), IntegratorSpec.ideal(), LIN)
    with pytest.raises(ValueError, match="key is None"):
        integrate(None, _f, X0, TS, spec.replace(max_steps=4096), LIN)


def test_op_counts():
    counts = op_counts(np.linspace(0.0, 2e-3, 11), 4, IntegratorSpec())
    assert counts == pytest.approx({"integrator_time": 2e-3, "integrator_channel_seconds": 8e-3})
    traced = jax.jit(lambda ts: op_counts(ts, 4, IntegratorSpec()))(jnp.linspace(0.0, 2.0, 3))
    assert float(traced["integrator_channel_seconds"]) == pytest.approx(8.0)
