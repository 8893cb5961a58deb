import jax
import jax.numpy as jnp
import numpy as np
import pytest

from analog import device
from analog.device import RRAM

N_CELLS = 200_000
PRESETS = [RRAM.taox_40nm_random(), RRAM.analog_20_80(), RRAM.binary_lrs_hrs(), RRAM.pcm_aihwkit()]


def _band(sigma, n, z=5.0):
    """Half-width of a z-sigma confidence band for the mean of n draws."""
    return z * sigma / np.sqrt(n)


def test_programmed_mean_and_std_match_spec():
    spec = RRAM(g_min=0.0, g_max=100e-6, prog_sigma=4e-6)
    target = jnp.full((N_CELLS,), 50e-6)
    g = np.asarray(device.program(jax.random.PRNGKey(0), target, spec), np.float64)
    assert abs(g.mean() - 50e-6) < _band(4e-6, N_CELLS)
    # std of a sample std ~ sigma / sqrt(2n)
    assert abs(g.std() - 4e-6) < 5 * 4e-6 / np.sqrt(2 * N_CELLS)


def test_pcm_state_dependent_programming_noise_matches_aihwkit_polynomial():
    spec = RRAM.pcm_aihwkit()
    for g_r in (0.25, 0.75):
        target = jnp.full((N_CELLS,), g_r * 25e-6)
        g = np.asarray(device.program(jax.random.PRNGKey(1), target, spec), np.float64)
        sigma_us = 0.26348 + 1.9650 * g_r - 1.1731 * g_r**2  # aihwkit pcm.py, in uS at g_max 25 uS
        assert abs(g.std() * 1e6 - sigma_us) < 5 * sigma_us / np.sqrt(2 * N_CELLS)


def test_read_noise_is_fresh_and_relative():
    spec = RRAM(read_sigma_rel=0.05)
    g = jnp.full((N_CELLS,), 40e-6)
    r1 = device.read(jax.random.PRNGKey(1), g, spec)
    r2 = device.read(jax.random.PRNGKey(2), g, spec)
    assert not np.allclose(r1, r2)
    assert abs(float(jnp.std(r1)) - 2e-6) < 5 * 2e-6 / np.sqrt(2 * N_CELLS)


def test_random_conductance_forming_statistics():
    spec = RRAM.taox_40nm_random()
    g = np.asarray(device.random_conductance(jax.random.PRNGKey(3), (N_CELLS,), spec), np.float64)
    formed = g[g > 0]
    frac_unformed = 1 - formed.size / g.size
    assert abs(frac_unformed - 0.5) < 5 * np.sqrt(0.25 / N_CELLS)
    assert abs(formed.mean() - 34.06e-6) < _band(5.32e-6, formed.size)
    assert abs(formed.std() - 5.32e-6) < 5 * 5.32e-6 / np.sqrt(2 * formed.size)


def test_stuck_at_fault_fractions():
    spec = RRAM(g_min=1e-6, g_max=100e-6, stuck_low_prob=0.1, stuck_high_prob=0.05)
    g = np.asarray(device.program(jax.random.PRNGKey(4), jnp.full((N_CELLS,), 50e-6), spec))
    for value, p in ((1e-6, 0.1), (100e-6, 0.05)):
        frac = np.mean(np.isclose(g, value))
        assert abs(frac - p) < 5 * np.sqrt(p * (1 - p) / N_CELLS)


def test_levels_round_to_the_grid():
    spec = RRAM(g_min=0.0, g_max=90e-6, levels=4)
    g = device.program(jax.random.PRNGKey(0), jnp.linspace(0, 90e-6, 101), spec)
    np.testing.assert_allclose(np.unique(np.round(np.asarray(g) * 1e6, 3)), [0, 30, 60, 90])


def test_drift_power_law_and_pcm_exponents():
    spec = RRAM(drift_nu=0.05)
    g = jnp.full((4,), 20e-6)
    t = 1e4
    np.testing.assert_allclose(device.drift(g, t, spec), 20e-6 * ((t + 20) / 20) ** -0.05, rtol=1e-5)
    np.testing.assert_allclose(device.drift(g, 0.0, spec), g, rtol=1e-6)
    pcm = RRAM.pcm_aihwkit()
    nu = device.drift_exponent(jax.random.PRNGKey(0), jnp.full((N_CELLS,), 25e-6), pcm)
    # at g = g_max: mean clip(0.0244, 0.049, 0.1) = 0.049, std clip(-0.0059, 0.008, 0.045) = 0.008
    assert abs(float(jnp.mean(nu)) - 0.049) < _band(0.008, N_CELLS)
    assert abs(float(jnp.std(nu)) - 0.008) < 5 * 0.008 / np.sqrt(2 * N_CELLS)


def test_pcm_read_noise_grows_with_time_like_1_over_f():
    pcm = RRAM.pcm_aihwkit()
    g = jnp.full((1,), 25e-6)
    s1 = float(device.read_sigma(g, pcm, 1.0)[0]) / 25e-6
    s_year = float(device.read_sigma(g, pcm, 365 * 86400.0)[0]) / 25e-6
    # aihwkit: Q_s = 0.0088 at g_max times sqrt(ln((t + t_read) / (2 t_read))), t = t_inf + 20 s
    assert s1 == pytest.approx(0.0088 * np.sqrt(np.log((21 + 250e-9) / 500e-9)), rel=1e-4)
    assert s_year > s1


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: f"{p.g_max:.0e}")
def test_every_preset_ideal_is_deterministic_and_exact(preset):
    ideal = preset.ideal()
    assert not device.has_program_noise(ideal) and not device.has_read_noise(ideal)
    target = jnp.linspace(ideal.g_min, ideal.g_max, 33)
    g = device.program(jax.random.PRNGKey(0), target, ideal)
    np.testing.assert_allclose(g, target, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(device.read(jax.random.PRNGKey(1), g, ideal, 1e6), g, rtol=1e-6)
    np.testing.assert_allclose(device.drift(g, 1e6, ideal), g, rtol=1e-6)


def test_program_1000_chips_in_one_vmap_call():
    spec = RRAM.analog_20_80(prog_sigma=5e-6)
    keys = jax.random.split(jax.random.PRNGKey(0), 1000)
    target = jnp.full((64,), 50e-6)
    chips = jax.jit(jax.vmap(lambda k: device.program(k, target, spec)))(keys)
    assert chips.shape == (1000, 64)
    assert float(jnp.std(chips[:, 0])) > 3e-6  # chips differ
    assert float(jnp.min(chips)) >= 20e-6 and float(jnp.max(chips)) <= 80e-6  # clipped to the window


def test_spec_is_vmappable_over_a_noise_sweep():
    sigmas = jnp.array([1e-6, 5e-6, 10e-6])
    specs = jax.vmap(lambda s: RRAM(prog_sigma=s))(sigmas)
    g = jax.vmap(lambda sp: device.program(jax.random.PRNGKey(0), jnp.full((20_000,), 50e-6), sp))(specs)
    np.testing.assert_allclose(jnp.std(g, axis=1), sigmas, rtol=0.05)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(g_min=-1e-6), "g_min"),
        (dict(g_min=5e-6, g_max=1e-6), "g_max"),
        (dict(levels=1), "levels"),
        (dict(prog_sigma=-1.0), "prog_sigma"),
        (dict(stuck_low_prob=1.5), "stuck_low_prob"),
        (dict(stuck_low_prob=0.6, stuck_high_prob=0.6), "stuck_high_prob"),
        (dict(t0=0.0), "t0"),
        (dict(read_sigma_rel=float("nan")), "read_sigma_rel"),
    ],
)
def test_invalid_specs_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=rf"RRAM\.{field}"):
        RRAM(**kwargs)


def test_replace_rejects_unknown_field():
    with pytest.raises(ValueError, match="no field"):
        RRAM().replace(prog_sigmaa=1e-6)
