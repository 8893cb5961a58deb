"""Score-diffusion SDEs, samplers and score networks (models.sde, models.score)."""

import math

import diffrax
import flax.linen as nn
import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
import pytest

from analog.crossbar import CrossbarSpec
from analog.integrator import IntegratorSpec
from models.chip import program_chip
from models.score import ScoreMLP, fourier_embedding
from models.sde import (SubVPSDE, VESDE, VPSDE, ReverseField, dsm_loss, field_variables, sample_analog,
                        sample_digital)
from train.fit import fit, make_optimizer

MU = (0.5, -0.3)
VAR = 0.04  # data N(MU, VAR I)
STANDARD = VPSDE(0.1, 20.0)  # p_1 ~ N(0, I) to within e-5


class GaussianScore(nn.Module):
    """The exact score of p_t for Gaussian data N(MU, VAR I) under ``sde``."""

    sde: object

    def __call__(self, x, t, label=None):
        m, s = self.sde.marginal(t)
        var = m**2 * VAR + s**2
        return -(x - m[..., None] * jnp.asarray(MU)) / var[..., None]


def _prior(sde, n, key):
    """n exact draws of p_1 for the Gaussian data."""
    m, s = sde.marginal(1.0)
    return m * jnp.asarray(MU) + jnp.sqrt(m**2 * VAR + s**2) * jax.random.normal(key, (n, 2))


def _assert_gaussian(x, mean, std, n_sigma=4.0):
    x = np.asarray(x, np.float64)
    n = len(x)
    assert np.all(np.abs(x.mean(0) - mean) < n_sigma * std / math.sqrt(n)), (x.mean(0), mean)
    assert np.all(np.abs(x.std(0) - std) < n_sigma * std / math.sqrt(2 * n)), (x.std(0), std)


@pytest.mark.parametrize("sde", [VPSDE(), SubVPSDE(0.1, 5.0), VESDE(0.05, 3.0)], ids=["vp", "subvp", "ve"])
def test_marginal_mean_and_std_match_a_simulation_of_the_forward_sde(sde):
    x0, n, t1 = 1.5, 4000, 0.8
    term = diffrax.MultiTerm(
        diffrax.ODETerm(lambda t, x, a: sde.drift(x, t)),
        diffrax.ControlTerm(lambda t, x, a: lx.DiagonalLinearOperator(jnp.broadcast_to(sde.diffusion(t), x.shape)),
                            diffrax.UnsafeBrownianPath(shape=(n,), key=jax.random.PRNGKey(0))))
    sol = diffrax.diffeqsolve(term, diffrax.Euler(), 0.0, t1, 1e-3, jnp.full((n,), x0), max_steps=1000,
                              adjoint=diffrax.ForwardMode())
    m, s = sde.marginal(t1)
    x = np.asarray(sol.ys[-1], np.float64)
    assert abs(x.mean() - float(m) * x0) < 4 * float(s) / math.sqrt(n)
    assert abs(x.std() - float(s)) < 4 * float(s) / math.sqrt(2 * n) + 0.01 * float(s)  # + Euler's O(dt) bias


def test_vp_marginal_is_the_closed_form():
    sde = VPSDE(0.001, 0.5)
    t = jnp.linspace(0.0, 1.0, 11)
    m, s = sde.marginal(t)
    integral = 0.001 * t + 0.5 * t**2 * (0.5 - 0.001)  # int_0^t beta
    np.testing.assert_allclose(m, np.exp(-0.5 * integral), rtol=1e-6)
    np.testing.assert_allclose(s**2 + m**2, 1.0, rtol=1e-6)
    assert float(sde.scaled(2.0).beta(1.0)) == pytest.approx(1.0)


def test_bad_schedules_are_rejected_with_the_field_named():
    with pytest.raises(ValueError, match="VPSDE.beta1"):
        VPSDE(0.5, 0.1)
    with pytest.raises(ValueError, match="VESDE.sigma_max"):
        VESDE(1.0, 0.5)


def test_dsm_learns_the_analytic_score_of_a_gaussian():
    sde = VPSDE(0.1, 5.0)
    data = jnp.asarray(MU) + math.sqrt(VAR) * jax.random.normal(jax.random.PRNGKey(0), (4096, 2))
    model = ScoreMLP(hidden=32, amp=1.0)
    params = model.init(jax.random.PRNGKey(1), data[:2], jnp.ones(2))["params"]

    def loss(variables, batch, rngs, context):
        return dsm_loss(lambda x, t: model.apply(variables, x, t), sde, rngs["step"], batch[0])

    result = fit(loss, {"params": params}, make_optimizer("adam", 1e-2, schedule="cosine", total_steps=30 * 16),
                 epochs=30, data=(data,), batch_size=256, progress=False, restore_best=False)
    exact = GaussianScore(sde)
    for t in (0.3, 0.6, 0.9):
        m, s = sde.marginal(t)
        x = m * jnp.asarray(MU) + jnp.sqrt(m**2 * VAR + s**2) * jax.random.normal(jax.random.PRNGKey(3), (512, 2))
        tt = jnp.full((512,), t)
        want = exact.apply({}, x, tt)
        got = model.apply(result.variables, x, tt)
        rel = float(jnp.sqrt(jnp.mean((got - want) ** 2) / jnp.mean(want**2)))
        assert rel < 0.2, (t, rel)


def test_probability_flow_ode_transports_the_prior_to_the_data_gaussian():
    field = ReverseField(GaussianScore(STANDARD), STANDARD, probability_flow=True)
    x1 = _prior(STANDARD, 4000, jax.random.PRNGKey(0))
    out = sample_digital(jax.random.PRNGKey(1), field, {}, x1, None, t_end=1e-4, rtol=1e-6)
    _assert_gaussian(out.x, np.asarray(MU), math.sqrt(VAR))
    assert int(out.evaluations) > 7


def test_reverse_sde_on_the_integrator_transports_the_prior_to_the_data_gaussian():
    """The injected noise g dW scaled to wall-clock time (g / sqrt(tau)) gives the right law."""
    field = ReverseField(GaussianScore(STANDARD), STANDARD)
    x1 = _prior(STANDARD, 4000, jax.random.PRNGKey(0))
    spec = IntegratorSpec(tau=1e-3, dt=2e-6, solver="euler", max_steps=1024)
    xs = sample_analog(jax.random.PRNGKey(1), field, {}, x1, spec, t_end=1e-3)
    _assert_gaussian(xs[-1], np.asarray(MU), math.sqrt(VAR), n_sigma=5.0)
    digital = sample_digital(jax.random.PRNGKey(2), field, {}, x1, 500, t_end=1e-3)
    _assert_gaussian(digital.x, np.asarray(MU), math.sqrt(VAR), n_sigma=5.0)


def test_analogue_solver_converges_to_the_digital_solve_in_the_ideal_limit():
    model = ScoreMLP(spec=CrossbarSpec())  # ideal crossbar
    x1 = jax.random.normal(jax.random.PRNGKey(0), (64, 2))
    variables = field_variables(model.init(jax.random.PRNGKey(1), x1[:2], jnp.ones(2)))
    field = ReverseField(model, VPSDE().scaled(2.0), probability_flow=True)
    exact = sample_digital(None, field, {"params": variables["params"]}, x1, None, t_end=1e-3, rtol=1e-7).x
    errors = []
    for dt in (4e-5, 1e-5):
        spec = IntegratorSpec(tau=1e-3, dt=dt, solver="heun")
        xs = sample_analog(None, field, {"params": variables["params"]}, x1, spec, t_end=1e-3)
        errors.append(float(jnp.max(jnp.abs(xs[-1] - exact))))
    assert errors[1] < errors[0] / 8  # Heun: second order (16x for a 4x smaller step)
    assert errors[1] < 1e-3


def test_one_programmed_chip_serves_the_whole_analogue_solve():
    spec = CrossbarSpec().with_device(prog_sigma_rel=0.1, prog_rel_limit=0.2)
    model = ScoreMLP(spec=spec)
    x1 = jax.random.normal(jax.random.PRNGKey(0), (16, 2))
    params = model.clone(spec=spec.ideal()).init(jax.random.PRNGKey(1), x1[:2], jnp.ones(2))["params"]
    field = ReverseField(model, VPSDE().scaled(2.0), probability_flow=True)
    variables = field_variables({"params": params})
    chips = [program_chip(field, variables, jax.random.PRNGKey(k), x1[:1], 1.0) for k in (5, 5, 6)]
    ispec = IntegratorSpec(tau=1e-3, dt=1e-5, solver="heun")
    run = lambda chip: sample_analog(None, field, {**variables, "chip": chip}, x1, ispec)[-1]
    same, other = run(chips[0]), run(chips[2])
    np.testing.assert_array_equal(same, run(chips[1]))  # same key, same chip, same solve
    assert float(jnp.max(jnp.abs(same - other))) > 1e-3  # another chip differs
    by_key = sample_analog(None, field, variables, x1, ispec, program_key=jax.random.PRNGKey(5))[-1]
    np.testing.assert_allclose(by_key, same, atol=1e-5)  # re-programming the same key = the stored chip


def test_classifier_free_guidance_weight_zero_is_the_unconditional_score():
    model = ScoreMLP(n_classes=3, amp=1.0)
    x = jax.random.normal(jax.random.PRNGKey(0), (6, 2))
    label = jnp.array([0, 1, 2, 0, 1, 2])
    params = {"params": model.init(jax.random.PRNGKey(1), x, jnp.ones(6), label)["params"]}
    variables = field_variables(params)
    sde = VPSDE()
    score = lambda w: ReverseField(model, sde, guidance=w).apply(variables, x, 0.4, label,
                                                                 method=ReverseField.guided_score)
    uncond = model.apply(params, x, jnp.full(6, 0.4), jnp.full(6, -1))
    cond = model.apply(params, x, jnp.full(6, 0.4), label)
    np.testing.assert_allclose(score(0.0), uncond, rtol=1e-6)
    np.testing.assert_allclose(score(1.0), cond, rtol=1e-6)
    np.testing.assert_allclose(score(2.5), uncond + 2.5 * (cond - uncond), rtol=1e-5, atol=1e-6)
    assert float(jnp.max(jnp.abs(cond - uncond))) > 1e-3  # the class does change the score
    drift = ReverseField(model, sde, probability_flow=True, guidance=0.0).apply(variables, x, 0.4, label)
    np.testing.assert_allclose(drift, sde.drift(x, 0.4) - 0.5 * sde.diffusion(0.4) ** 2 * uncond, rtol=1e-5)


def test_score_network_embeds_time_and_penalises_saturation():
    emb = fourier_embedding(jnp.array([0.0, 0.25]), jnp.array([1.0, 2.0]))
    np.testing.assert_allclose(emb, [[0, 0, 1, 1], [1, 0, 0, -1]], atol=1e-6)
    model = ScoreMLP(amp=1.0, saturation=0.0)
    x = jnp.ones((4, 2))
    params = model.init(jax.random.PRNGKey(0), x, jnp.ones(4))
    out, state = model.apply({"params": params["params"]}, x, jnp.ones(4), mutable=["losses"])
    assert float(state["losses"]["saturation"][0]) > 0  # every active unit is above 0
    with pytest.raises(ValueError, match="hidden = 5"):
        ScoreMLP(hidden=5).init(jax.random.PRNGKey(0), x, jnp.ones(4))
    with pytest.raises(ValueError, match="needs a label"):
        ScoreMLP(n_classes=2).init(jax.random.PRNGKey(0), x, jnp.ones(4))


def test_sampler_rejects_an_adaptive_reverse_sde_and_bad_times():
    field = ReverseField(GaussianScore(STANDARD), STANDARD)
    x1 = jnp.zeros((4, 2))
    with pytest.raises(ValueError, match="steps = None"):
        sample_digital(jax.random.PRNGKey(0), field, {}, x1, None)
    with pytest.raises(ValueError, match="t_end"):
        sample_digital(jax.random.PRNGKey(0), field, {}, x1, 10, t_end=1.5)
