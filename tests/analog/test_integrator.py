import diffrax
import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
import pytest
import scipy.linalg
from jax.flatten_util import ravel_pytree

from analog.integrator import IntegratorSpec, brownian_path, integrate, op_counts

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
    xs = integrate(KEY, _f, X0, TS, IntegratorSpec(tau=tau, dt=0.02), _params(a=1.0))
    assert xs.shape == (len(TS), N)
    exact = np.stack([scipy.linalg.expm(np.asarray(A, np.float64) * t / tau) @ X0 for t in TS])
    np.testing.assert_allclose(xs, exact, atol=2e-6)


def test_ideal_mlp_matches_direct_diffrax_solve():
    p = _params(a=1.0, mlp=1.0)
    ref = _reference(_f, X0, TS, 0.5, p)
    assert float(jnp.abs(ref[-1] - ref[0]).max()) > 0.5  # a non-trivial trajectory
    # the ideal defaults, and a preset's ideal limit (keeps tau and dt); a key is accepted,
    # s = 0: no noise
    for spec in (IntegratorSpec(tau=0.5, dt=0.02), IntegratorSpec.opamp_rc(tau=0.5, dt=0.02).ideal()):
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
    ideal = IntegratorSpec(tau=1.0, dt=0.025, gain=50.0)
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
    spec = IntegratorSpec(tau=tau, dt=0.02, gain=gain)
    xs = integrate(KEY, _f, X0, TS, spec, _params())
    expected = np.exp(-np.asarray(TS) / (gain * tau))[:, None] * np.asarray(X0)
    np.testing.assert_allclose(xs, expected, rtol=1e-5, atol=1e-7)


def test_rails_clip_and_release_immediately():
    """+1 V drive until t = 1 s, then -1 V; rails +-0.5 V; tau = 1 s; from x = 0."""
    spec = IntegratorSpec(tau=1.0, dt=2e-4, v_rail=0.5)  # the drive's jump costs O(dt)
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
        IntegratorSpec.opamp_rc(solver="tsit5")  # tsit5 with integrator noise on
    spec = IntegratorSpec.opamp_rc(tau=1.0, noise_hold=1e-3, dt=1e-3, max_steps=100)
    with pytest.raises(ValueError, match="max_steps"):
        integrate(KEY, _f, X0, TS, spec, LIN)
    with pytest.raises(ValueError, match="strictly increasing"):
        integrate(KEY, _f, X0, jnp.array([0.0, 1.0, 1.0]), IntegratorSpec(), LIN)
    with pytest.raises(ValueError, match="key is None"):
        integrate(None, _f, X0, TS, spec.replace(max_steps=4096), LIN)



def test_op_counts():
    counts = op_counts(np.linspace(0.0, 2e-3, 11), 4, IntegratorSpec())
    assert counts == pytest.approx({"integrator_time": 2e-3, "integrator_channel_seconds": 8e-3,
                                    "array_tile_seconds": 0.0})
    traced = jax.jit(lambda ts: op_counts(ts, 4, IntegratorSpec()))(jnp.linspace(0.0, 2.0, 3))
    assert float(traced["integrator_channel_seconds"]) == pytest.approx(8.0)


def test_op_counts_price_conducting_arrays_in_either_direction():
    expected = {"integrator_time": 2e-3, "integrator_channel_seconds": 8e-3, "array_tile_seconds": 6e-3}
    for ts in (np.linspace(0.0, 2e-3, 11), np.linspace(2e-3, 0.0, 11)):
        assert op_counts(ts, 4, IntegratorSpec(), array_tiles=3) == pytest.approx(expected)
    traced = jax.jit(lambda ts: op_counts(ts, 4, IntegratorSpec(), 3))(jnp.linspace(2.0, 0.0, 3))
    assert float(traced["integrator_time"]) == pytest.approx(2.0)
    assert float(traced["array_tile_seconds"]) == pytest.approx(6.0)
    with pytest.raises(ValueError, match="array_tiles"):
        op_counts(np.linspace(0.0, 1.0, 3), 4, IntegratorSpec(), array_tiles=-1)


def test_defaults_are_ideal_and_presets_add_non_idealities():
    assert IntegratorSpec() == IntegratorSpec().ideal()
    spec = IntegratorSpec.opamp_rc(tau=2e-3, dt=5e-7, max_steps=128)
    assert (spec.noise_hold, spec.gain, spec.noise_density, spec.solver) == (1e-6, 1e4, 1.4e-5, "heun")
    assert spec.ideal() == IntegratorSpec(tau=2e-3, dt=5e-7, max_steps=128)
    assert IntegratorSpec.opamp_rc() != IntegratorSpec()
    with pytest.raises(TypeError):
        IntegratorSpec.ideal()  # an instance method, not a class-or-instance descriptor


def test_reverse_time_ode_matches_expm_and_the_substituted_forward_solve():
    """ts decreasing: x(t) = expm(A (t - ts[0]) / tau) x0 for t < ts[0]; and the solve is
    the forward solve, in u = -t, of dx/du = -f(k, x, -u) with leak and held read noise
    acting in u (the same read keys: hold intervals start at u0 = -ts[0])."""
    tau, ts = 0.5, TS[::-1]  # same compilation as the forward expm test
    xs = integrate(KEY, _f, X0, ts, IntegratorSpec(tau=tau, dt=0.02), _params(a=1.0))
    t = np.asarray(ts, np.float64)
    exact = np.stack([scipy.linalg.expm(np.asarray(A, np.float64) * (s - t[0]) / tau) @ X0 for s in t])
    assert np.abs(exact[-1]).max() > 3 * np.abs(X0).max()  # it grows backwards in time
    np.testing.assert_allclose(xs, exact, rtol=1e-5, atol=2e-6)
    spec = IntegratorSpec(tau=tau, dt=0.02, noise_hold=0.1, gain=4.0)
    xs = integrate(KEY, _f, X0, ts, spec, _params(a=1.0, s=0.3))
    sub = integrate(KEY, _f, X0, -ts, spec, _params(a=-1.0, s=-0.3))  # -f, as a forward solve
    assert float(jnp.abs(xs - integrate(KEY, _f, X0, ts, spec, _params(a=1.0))).max()) > 1e-2
    np.testing.assert_allclose(xs, sub, rtol=1e-6, atol=1e-6)


# ---- a diffusion term: the VP-SDE of score diffusion, dx = -beta x / 2 dt + sqrt(beta) dW ----
M = 512  # independent channels: the Monte Carlo samples of one solve
SDE_SPEC = IntegratorSpec(tau=1.0, dt=2.0**-7, solver="heun", max_steps=1024)  # ideal


def _vp(b0=0.1, b1=4.0, c=0.0, s2=1.0, g0=1.0, g1=0.0, g2=0.0):
    """beta(t) = b0 + t (b1 - b0); exact score of data N(0, s2) weighted by c;
    diffusion g0 sqrt(beta) + g1 x + g2."""
    values = dict(b0=b0, b1=b1, c=c, s2=s2, g0=g0, g1=g1, g2=g2)
    return {k: jnp.asarray(v, jnp.float32) for k, v in values.items()}


def _beta(t, p):
    return p["b0"] + t * (p["b1"] - p["b0"])


def _vp_var(t, p):
    """Var x(t) of the forward VP-SDE from data N(0, s2)."""
    alpha = jnp.exp(-(p["b0"] * t + 0.5 * (p["b1"] - p["b0"]) * t**2))
    return p["s2"] * alpha + 1.0 - alpha


def _vp_drift(key, x, t, p):
    """Forward drift, plus c x the score term of the reverse SDE: -beta x / 2 - c beta score."""
    beta = _beta(t, p)
    return -0.5 * beta * x + p["c"] * beta * x / _vp_var(t, p)


def _vp_g(t, x, p):
    return p["g0"] * jnp.sqrt(_beta(t, p)) + p["g1"] * x + p["g2"]


def _ref_drift(t, x, p):
    return _vp_drift(None, x, t, p)


def _ref_diffusion(t, x, p):
    return lx.DiagonalLinearOperator(jnp.broadcast_to(_vp_g(t, x, p), x.shape))


@jax.jit
def _diffrax_euler(bm, x0, ts, p, n):
    """diffrax's own Euler-Maruyama (either direction) with n steps on the path ``bm``."""
    terms = diffrax.MultiTerm(diffrax.ODETerm(_ref_drift), diffrax.ControlTerm(_ref_diffusion, bm))
    sol = diffrax.diffeqsolve(terms, diffrax.Euler(), ts[0], ts[-1], (ts[-1] - ts[0]) / n, x0, p,
                              saveat=diffrax.SaveAt(ts=ts), max_steps=2048,
                              stepsize_controller=diffrax.ConstantStepSize())
    return sol.ys


def _path(key, ts, x0):
    return brownian_path(key, ts, x0.shape, x0.dtype, SDE_SPEC)


def test_time_dependent_diffusion_converges_strongly_to_diffrax_on_the_same_path():
    """Additive noise sqrt(beta(t)): Heun has strong order 1, so the rms error against a
    fine diffrax Euler solve on ``brownian_path`` halves with dt."""
    ts, x0, p = jnp.linspace(0.0, 1.0, 3), jnp.ones(M), _vp()
    ref = _diffrax_euler(_path(KEY, ts, x0), x0, ts, p, 1024)
    assert float(ref[-1].std()) > 0.5  # the noise is there
    err = np.array([float(jnp.sqrt(jnp.mean(
        (integrate(KEY, _vp_drift, x0, ts, SDE_SPEC.replace(dt=2.0**-k), p, _vp_g) - ref) ** 2)))
        for k in range(3, 7)])
    assert np.all(err[:-1] / err[1:] > 1.6), err  # ~2 expected
    assert err[-1] < 1e-2, err  # V rms at dt = 1/64 s against 1/1024 s (x(1 s) has std ~0.7 V)


@pytest.mark.parametrize("reverse", [False, True])
def test_state_dependent_diffusion_with_euler_is_diffrax_euler_on_the_same_path(reverse):
    """g = 0.3 x (multiplicative, sign kept): Euler at the same steps is diffrax's Euler
    (Ito), forwards, and backwards in model time as diffrax solves with t0 > t1."""
    ts = jnp.linspace(0.0, 1.0, 3)[::-1] if reverse else jnp.linspace(0.0, 1.0, 3)
    x0, p = jnp.linspace(-1.0, 1.0, M), _vp(g0=0.0, g1=0.3)
    xs = integrate(KEY, _vp_drift, x0, ts, SDE_SPEC.replace(solver="euler", dt=2.0**-6), p, _vp_g)
    bm = _path(KEY, ts, x0)
    ref = _diffrax_euler(bm, x0, ts, p, 64)
    no_noise = _diffrax_euler(bm, x0, ts, _vp(g0=0.0), 64)
    assert float(jnp.abs(ref[-1] - no_noise[-1]).max()) > 0.3  # the noise matters
    np.testing.assert_allclose(xs, ref, rtol=1e-6, atol=1e-6)  # bitwise equal on CPU today


def test_reverse_vp_sde_with_the_exact_score_samples_the_data_variance():
    """Reverse-time VP-SDE, t from 1 down to 1e-3, started from the exact marginal at
    t = 1: the sample variance follows Var x(t) of the forward process down to the
    data's s^2 = 0.04 (M samples: band 4 sqrt(2 / M) ~ 25 %)."""
    p = _vp(b1=20.0, c=1.0, s2=0.04)
    ts = jnp.array([1.0, 0.3, 1e-3])  # (3,) like the other SDE tests: one compilation
    k0, k1 = jax.random.split(KEY)
    x0 = jnp.sqrt(_vp_var(ts[0], p)) * jax.random.normal(k0, (M,))
    xs = integrate(k1, _vp_drift, x0, ts, SDE_SPEC, p, _vp_g)
    ratio = np.asarray(xs.var(1, ddof=1) / _vp_var(ts, p))
    assert float(_vp_var(ts[-1], p)) < 0.05
    assert np.all(np.abs(ratio - 1) < 4 * np.sqrt(2 / M)), ratio


def test_diffusion_and_integrator_noise_add_as_independent_noises():
    """No drift, g = 0.3 V/sqrt(s), noise_density 0.4: Var x(1 s) = 0.3^2 + 0.4^2."""
    ts, p = jnp.linspace(0.0, 1.0, 3), _vp(b0=0.0, b1=0.0, g0=0.0, g2=0.3)
    xs = integrate(KEY, _vp_drift, jnp.zeros(M), ts, SDE_SPEC.replace(noise_density=0.4), p, _vp_g)
    ratio = float(xs[-1].var(ddof=1)) / 0.25
    assert abs(ratio - 1) < 4 * np.sqrt(2 / M), ratio


def test_bad_inputs_name_the_problem():
    with pytest.raises(ValueError, match=r"strictly monotonic.*ts\[1\] = 1.0, ts\[2\] = 0.5"):
        integrate(KEY, _f, X0, [0.0, 1.0, 0.5], IntegratorSpec(), LIN)
    with pytest.raises(ValueError, match=r"strictly monotonic.*ts\[1\] = 0.0, ts\[2\] = 0.0"):
        integrate(KEY, _f, X0, [1.0, 0.0, 0.0], IntegratorSpec(), LIN)
    ts, x0, p = jnp.linspace(0.0, 1.0, 3), jnp.ones(M), _vp()
    with pytest.raises(ValueError, match="'tsit5' is invalid with a diffusion"):
        integrate(KEY, _vp_drift, x0, ts, SDE_SPEC.replace(solver="tsit5"), p, _vp_g)
    with pytest.raises(ValueError, match="key is None but a diffusion"):
        integrate(None, _vp_drift, x0, ts, SDE_SPEC, p, _vp_g)
    with pytest.raises(ValueError, match=r"diffusion\(t, x, args\) must return a shape broadcastable"):
        integrate(KEY, _vp_drift, x0, ts, SDE_SPEC, p, lambda t, x, a: jnp.ones(M + 1))
    with pytest.raises(ValueError, match=r"f\(read_key, x, t, args\) must return x's shape"):
        integrate(KEY, lambda k, x, t, a: x[:-1], x0, ts, SDE_SPEC, p, _vp_g)
