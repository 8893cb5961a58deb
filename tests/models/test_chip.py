"""Program once, read many; the module-to-integrator adapter."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from analog import crossbar
from analog.crossbar import CrossbarSpec
from analog.device import RRAM
from analog.integrator import IntegratorSpec, integrate
from models.chip import FieldArgs, ModuleField, chip_arrays, program_chip, programming_counts, solve_counts
from models.layers import AnalogDense

KEY = jax.random.PRNGKey(0)
N = 3
TS = jnp.linspace(0.0, 2e-3, 5)  # s
X0 = jnp.array([1.0, -0.5, 0.25])


class Field(nn.Module):
    """dx/dt = x @ W (a linear vector field on one crossbar)."""

    spec: CrossbarSpec

    @nn.compact
    def __call__(self, x, t):
        return AnalogDense(N, spec=self.spec, use_bias=False,
                           kernel_init=nn.initializers.normal(0.5))(x)


class TimeField(nn.Module):
    """dx/dt = t (every channel): shows which time the model is called at."""

    @nn.compact
    def __call__(self, x, t):
        return jnp.full_like(x, t)


def _expm(w, tau=1e-3):
    return np.stack([np.asarray(X0, np.float64) @ scipy.linalg.expm(np.asarray(w, np.float64) * float(t) / tau)
                     for t in TS])


def test_ideal_module_field_solves_the_digital_ode():
    model = Field(CrossbarSpec())
    variables = model.init(KEY, X0, 0.0)
    xs = integrate(None, ModuleField(model), X0, TS, IntegratorSpec(dt=2e-5), variables)
    np.testing.assert_allclose(xs, _expm(variables["params"]["AnalogDense_0"]["kernel"]), atol=2e-5)


def test_a_solve_reads_one_programmed_chip():
    spec = CrossbarSpec(device=RRAM(prog_sigma=8e-6))  # programming noise only: every read is exact
    model = Field(spec)
    variables = model.init(KEY, X0, 0.0)
    chip = program_chip(model, variables, jax.random.PRNGKey(3), X0, 0.0)
    w_chip = crossbar.effective_weight(jax.tree.map(lambda a: a[0], chip_arrays(chip)[0]))
    w = variables["params"]["AnalogDense_0"]["kernel"]
    assert float(jnp.abs(w_chip - w).max()) > 1e-2  # the chip differs from the float weights ...
    xs = integrate(None, ModuleField(model), X0, TS, IntegratorSpec(dt=2e-5), {**variables, "chip": chip})
    np.testing.assert_allclose(xs, _expm(w_chip), atol=2e-5)  # ... and every stage of the solve reads it
    # a fixed program key instead of a stored chip: the same chip, programmed at every evaluation
    again = integrate(None, ModuleField(model), X0, TS, IntegratorSpec(dt=2e-5),
                      FieldArgs(variables, program_key=jax.random.PRNGKey(3)))
    np.testing.assert_allclose(again, xs, atol=1e-6)
    assert float(programming_counts(chip)["programming_pulses"]) == 2 * N * N


def test_read_noise_is_held_per_interval_and_fixed_by_the_key():
    spec = CrossbarSpec(device=RRAM(prog_sigma=2e-6, read_sigma_rel=0.05))
    model = Field(spec)
    variables = model.init(KEY, X0, 0.0)
    chip = program_chip(model, variables, KEY, X0, 0.0)
    ispec = IntegratorSpec(dt=2e-5, noise_hold=1e-4, solver="heun")
    solve = jax.jit(lambda k: integrate(k, ModuleField(model), X0, TS, ispec, {**variables, "chip": chip}))
    a, b, c = solve(jax.random.PRNGKey(1)), solve(jax.random.PRNGKey(1)), solve(jax.random.PRNGKey(2))
    np.testing.assert_array_equal(a, b)
    assert float(jnp.abs(a - c).max()) > 1e-4


def test_gradients_reach_the_params_through_a_fixed_chip_solve():
    spec = CrossbarSpec(device=RRAM(prog_sigma=3e-6))
    model = Field(spec)
    variables = model.init(KEY, X0, 0.0)

    def loss(params):
        args = FieldArgs({"params": params}, program_key=jax.random.PRNGKey(5))
        return jnp.sum(integrate(None, ModuleField(model), X0, TS, IntegratorSpec(dt=1e-4), args)[-1] ** 2)

    grads = jax.grad(loss)(variables["params"])
    assert float(jnp.abs(grads["AnalogDense_0"]["kernel"]).sum()) > 0


def test_solve_counts_price_array_conduction_for_the_whole_span():
    model = Field(CrossbarSpec(tile_rows=2))  # 3 rows on 2-row tiles: 2 tiles
    variables = model.init(KEY, X0, 0.0)
    counts = solve_counts(ModuleField(model), variables, X0, TS, IntegratorSpec())
    span = float(TS[-1] - TS[0])
    assert counts["array_tile_seconds"] == pytest.approx(2 * span)
    assert counts["integrator_channel_seconds"] == pytest.approx(N * span)
    assert counts["integrator_time"] == pytest.approx(span)
    assert counts["dac_conversions"] == N and counts["adc_conversions"] == N * len(TS)


def test_a_chip_read_through_another_spec_has_that_specs_read_noise():
    quiet = CrossbarSpec(device=RRAM(prog_sigma=0.0, read_sigma_rel=0.02))
    loud = CrossbarSpec(device=RRAM(prog_sigma=0.0, read_sigma_rel=0.10))
    model = AnalogDense(64, spec=quiet, use_bias=False)
    x = jnp.ones((1, 32))
    params = model.init({"params": KEY}, x)
    chip = program_chip(model, params, KEY, x)
    reads = lambda spec: jax.vmap(lambda k: AnalogDense(64, spec=spec, use_bias=False).apply(
        {**params, "chip": chip}, x, rngs={"read": k}))(jax.random.split(KEY, 400))
    spread = {name: float(jnp.std(reads(spec), axis=0).mean()) for name, spec in (("quiet", quiet), ("loud", loud))}
    # read noise is the reader's: five times the relative noise, five times the spread (sampling band ~10 %)
    assert 4.0 < spread["loud"] / spread["quiet"] < 6.0
    # and the same chip: the mean over reads does not move
    np.testing.assert_allclose(reads(loud).mean(0), reads(quiet).mean(0), atol=5 * spread["loud"] / 20)


def test_solve_counts_price_only_the_cells_in_use_with_cell_conduction():
    model = Field(CrossbarSpec(tile_rows=2))
    variables = model.init(KEY, X0, 0.0)
    counts = solve_counts(ModuleField(model), variables, X0, TS, IntegratorSpec(), conduction="cells")
    span = float(TS[-1] - TS[0])
    kernel = variables["params"]["AnalogDense_0"]["kernel"]
    assert "array_tile_seconds" not in counts
    assert counts["array_cell_seconds"] == pytest.approx(2 * kernel.size * span)
    with pytest.raises(ValueError, match="conduction"):
        solve_counts(ModuleField(model), variables, X0, TS, IntegratorSpec(), conduction="rows")


def test_a_time_unit_field_sees_model_time():
    seen = ModuleField(TimeField(), time_unit=1e-3)(None, jnp.zeros((1, N)), 2e-3, {})
    assert float(seen[0, 0]) == pytest.approx(2.0)
