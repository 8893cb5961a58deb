"""Neural ODEs on crossbars: fields, the digital and analogue solves, gradients."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from analog import presets
from analog.integrator import IntegratorSpec
from analog.memristor import sampled_voltage
from models.chip import program_chip
from models.node import MLPField, StencilField, evaluation_counts, physical_times, solve_analog, solve_digital

KEY = jax.random.PRNGKey(0)
RNGS = {"params": KEY, "program": KEY, "read": KEY}
NOISY = presets.spec("rram_20_80", role="programmed").replace(dac=None, adc=None)


def _field(n=2, spec=NOISY):
    model = MLPField(n, (8,), spec)
    return model, model.init(RNGS, jnp.zeros(n), 0.0)["params"]


def test_the_integrator_in_the_ideal_limit_converges_to_the_digital_solve():
    model, params = _field(spec=NOISY.ideal())
    x0, ts = jnp.array([0.5, -0.3]), jnp.linspace(0.0, 2.0, 5)  # model time
    digital = solve_digital(model, {"params": params}, x0, ts, rtol=1e-7, atol=1e-8).xs
    errors = []
    for dt in (2e-4, 1e-4, 5e-5):  # s, with tau = 1 ms: 0.2, 0.1, 0.05 model time units
        spec = IntegratorSpec(tau=1e-3, dt=dt, solver="heun")
        errors.append(float(jnp.abs(solve_analog(None, model, {"params": params}, x0, ts, spec) - digital).max()))
    assert errors[0] > 3 * errors[1] > 9 * errors[2]  # Heun: second order in the step
    tsit = solve_analog(None, model, {"params": params}, x0, ts, IntegratorSpec(tau=1e-3, dt=1e-5))
    np.testing.assert_allclose(np.asarray(tsit), np.asarray(digital), atol=1e-5)


def test_one_model_time_unit_is_one_time_constant_for_any_tau():
    model, params = _field(spec=NOISY.ideal())
    x0, ts = jnp.array([0.5, -0.3]), jnp.linspace(0.0, 1.0, 3)
    runs = [solve_analog(None, model, {"params": params}, x0, ts, IntegratorSpec(tau=tau, dt=tau / 100))
            for tau in (1e-3, 1e-6)]
    np.testing.assert_allclose(np.asarray(runs[0]), np.asarray(runs[1]), atol=1e-6)
    assert float(physical_times(ts, IntegratorSpec(tau=1e-6))[-1]) == pytest.approx(1e-6)


def test_a_drive_enters_the_field_at_model_time():
    model = MLPField(1, (8,), NOISY.ideal())
    grid = jnp.linspace(0.0, 2.0, 201)
    drive = sampled_voltage(grid, jnp.sin(3.0 * grid))
    params = model.init(RNGS, jnp.zeros(1), 0.0, drive)["params"]
    x0, ts = jnp.array([0.2]), jnp.linspace(0.0, 2.0, 5)
    digital = solve_digital(model, {"params": params}, x0, ts, drive, rtol=1e-7, atol=1e-8).xs
    analog = solve_analog(None, model, {"params": params}, x0, ts, IntegratorSpec(tau=1e-3, dt=1e-5), drive)
    np.testing.assert_allclose(np.asarray(analog), np.asarray(digital), atol=1e-4)
    still = solve_digital(model, {"params": params}, x0, ts, sampled_voltage(grid, 0 * grid)).xs
    assert float(jnp.abs(still - digital).max()) > 1e-3  # the drive matters


def test_gradients_through_the_digital_solver_match_finite_differences():
    with jax.enable_x64(True):
        model = MLPField(2, (4,), NOISY.ideal())
        params = model.init(RNGS, jnp.zeros(2, jnp.float64), 0.0)["params"]
        params = jax.tree.map(lambda a: a.astype(jnp.float64), params)
        x0, ts = jnp.array([0.5, -0.3]), jnp.linspace(0.0, 1.0, 4)

        @jax.jit
        def loss(p):
            return jnp.sum(solve_digital(model, {"params": p}, x0, ts, rtol=1e-10, atol=1e-12).xs ** 2)

        grads = jax.grad(loss)(params)
        leaf = params["mlp"]["AnalogDense_0"]["kernel"]
        for index in ((0, 0), (1, 3)):
            bump = lambda e: {**params, "mlp": {**params["mlp"], "AnalogDense_0": {
                **params["mlp"]["AnalogDense_0"], "kernel": leaf.at[index].add(e)}}}
            fd = (loss(bump(1e-6)) - loss(bump(-1e-6))) / 2e-6
            assert float(grads["mlp"]["AnalogDense_0"]["kernel"][index]) == pytest.approx(float(fd), rel=1e-5)


def test_one_chip_serves_the_whole_analogue_solve_and_chips_differ():
    model, params = _field()
    x0, ts = jnp.array([0.5, -0.3]), jnp.linspace(0.0, 1.0, 3)
    spec = IntegratorSpec(tau=1e-3, dt=1e-5, noise_hold=1e-5, solver="heun")
    solve = lambda chip, k: solve_analog(k, model, {"params": params, "chip": chip}, x0, ts, spec)
    chip_a, chip_b = (program_chip(model, {"params": params}, jax.random.PRNGKey(s), x0, 0.0) for s in (1, 2))
    a1, a2 = solve(chip_a, jax.random.PRNGKey(3)), solve(chip_a, jax.random.PRNGKey(4))
    b1 = solve(chip_b, jax.random.PRNGKey(3))
    read_spread, chip_spread = float(jnp.abs(a1 - a2).max()), float(jnp.abs(a1 - b1).max())
    assert 0 < read_spread < chip_spread  # fresh reads wobble; another chip's programming moves more


def test_stencil_copies_carry_their_own_programming_noise():
    x = jnp.ones(6)  # every site sees the same neighbourhood
    quiet = NOISY.replace(device=NOISY.device.replace(read_sigma_rel=0.0))  # programming noise only
    for copies in (True, False):
        field = StencilField((8,), quiet, copies=copies)
        variables = {"params": jax.jit(field.init)(RNGS, x, 0.0)["params"]}
        out = jax.jit(lambda v: field.apply(v, x, 0.0, rngs={"program": jax.random.PRNGKey(1)}))(variables)
        if copies:
            assert float(jnp.std(out)) > 1e-3 * float(jnp.abs(out).mean())  # one copy per site: the sites differ
    np.testing.assert_allclose(np.asarray(out), float(out[0]), rtol=1e-6)  # one shared array: the sites agree


def test_an_ideal_stencil_is_the_same_with_and_without_copies_and_is_cyclic():
    x = jax.random.normal(KEY, (7,))
    field = StencilField((8,), NOISY.ideal())
    params = {"params": jax.jit(field.init)(RNGS, x, 0.0)["params"]}
    out = field.apply(params, x, 0.0)
    np.testing.assert_allclose(np.asarray(out), np.asarray(field.clone(copies=False).apply(params, x, 0.0)),
                               rtol=1e-5, atol=1e-6)
    rolled = field.apply(params, jnp.roll(x, 2), 0.0)  # shift equivariance of a cyclic stencil
    np.testing.assert_allclose(np.asarray(rolled), np.asarray(jnp.roll(out, 2)), rtol=1e-5, atol=1e-6)


def test_evaluation_counts_count_one_launch_per_layer_and_the_flops():
    model, params = _field()
    counts = evaluation_counts(model, {"params": params}, jnp.zeros(2))
    assert counts["layers"] == 2.0
    assert counts["flops"] >= 2 * (2 * 8 + 8 * 2)
