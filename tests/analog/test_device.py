import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import erf

from analog import device, forming
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


def test_relative_write_noise_is_the_truncated_law_of_the_diffusion_code():
    """n ~ N(0, s^2), draws with |n| >= L redrawn U(-L, L): mean 0, variance
    s^2 [P(|z| < c) - 2 c phi(c)] + P(|z| >= c) L^2 / 3 with c = L / s."""
    s, limit = 0.1, 0.2
    spec = RRAM(g_min=0.0, g_max=100e-6, prog_sigma_rel=s, prog_rel_limit=limit)
    target = jnp.full((N_CELLS,), 40e-6)
    n = np.asarray(device.program(jax.random.PRNGKey(3), target, spec), np.float64) / 40e-6 - 1.0
    c = limit / s
    p_in = erf(c / np.sqrt(2))
    phi = np.exp(-c * c / 2) / np.sqrt(2 * np.pi)
    std = np.sqrt(s**2 * (p_in - 2 * c * phi) + (1 - p_in) * limit**2 / 3)
    assert np.abs(n).max() < limit
    assert abs(n.mean()) < _band(std, N_CELLS)
    assert abs(n.std() - std) < 5 * std / np.sqrt(2 * N_CELLS)
    outer = np.mean(np.abs(n) > 0.19)  # only the uniform redraws land beyond 1.9 sigma... and the normal's edge
    assert outer < 0.05
    untruncated = np.asarray(device.program(jax.random.PRNGKey(3), target, spec.replace(prog_rel_limit=None)))
    assert np.abs(untruncated / 40e-6 - 1.0).max() > 0.4  # 4 sigma tails survive without the limit
    assert device.has_program_noise(spec) and not device.has_program_noise(spec.ideal())


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
    g = np.asarray(forming.random_conductance(jax.random.PRNGKey(3), (N_CELLS,), spec), np.float64)
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
        (dict(prog_sigma_rel=-0.1), "prog_sigma_rel"),
        (dict(prog_rel_limit=0.0), "prog_rel_limit"),
    ],
)
def test_invalid_specs_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=rf"RRAM\.{field}"):
        RRAM(**kwargs)


def test_replace_rejects_unknown_field():
    with pytest.raises(ValueError, match="no field"):
        RRAM().replace(prog_sigmaa=1e-6)


# ------------------------------------------------------------------ aihwkit PCM statistics
# aihwkit PCMLikeNoiseModel (src/aihwkit/inference/noise/pcm.py), written independently in
# NumPy from its published formulas (g in uS, g_max = 25 uS, t0 = 20 s, t_read = 250 ns):
#   sigma_prog = (0.26348 + 1.9650 g_r - 1.1731 g_r^2) g_max / 25,   g_prog = max(g_T + sigma_prog xi, 0)
#   mu_nu = clip(-0.0155 ln g_r + 0.0244, 0.049, 0.1), sd_nu = clip(-0.0125 ln g_r - 0.0059, 0.008, 0.045)
#   nu = |mu_nu + sd_nu xi|  (g_r = max(g_prog / g_max, 1e-7))
#   t = t_inf + t0: g_drift = g_prog (t / t0)^-nu, Q_s = min(0.0088 / max(g_prog_r^0.65, 1e-3), 0.2)
#   g(t) = max(g_drift + |g_drift| Q_s sqrt(ln((t + t_read) / (2 t_read))) xi, 0)
PCM_LEVELS = (0.1, 0.25, 0.5, 0.75, 1.0)  # g_T / g_max
PCM_TIMES = (1.0, 3600.0, 365 * 86400.0)  # s after programming


def _aihwkit_pcm(g_r_target, t_inf, n, seed):
    rng = np.random.default_rng(seed)
    g_max, t0, t_read = 25.0, 20.0, 250e-9
    g_t = g_r_target * g_max
    sigma = (0.26348 + 1.9650 * g_r_target - 1.1731 * g_r_target**2) * g_max / 25.0
    g_prog = np.maximum(g_t + sigma * rng.standard_normal(n), 0.0)
    g_r = np.maximum(g_prog / g_max, 1e-7)
    mu = np.clip(-0.0155 * np.log(g_r) + 0.0244, 0.049, 0.1)
    sd = np.clip(-0.0125 * np.log(g_r) - 0.0059, 0.008, 0.045)
    nu = np.abs(mu + sd * rng.standard_normal(n))
    t = t_inf + t0
    g_drift = g_prog * (t / t0) ** -nu
    q = np.minimum(0.0088 / np.maximum(g_r**0.65, 1e-3), 0.2)
    g = np.maximum(g_drift + np.abs(g_drift) * q * np.sqrt(np.log((t + t_read) / (2 * t_read))) * rng.standard_normal(n), 0.0)
    return sigma, nu, g


def _memristax_pcm(g_r_target, t_inf, n, seed):
    spec = RRAM.pcm_aihwkit()
    k_prog, k_nu, k_read = jax.random.split(jax.random.PRNGKey(seed), 3)
    g_prog = device.program(k_prog, jnp.full((n,), g_r_target * 25e-6), spec)
    nu = device.drift_exponent(k_nu, g_prog, spec)
    g_t = device.read(k_read, device.drift(g_prog, t_inf, spec, nu), spec, t_inf, g_prog)
    return np.asarray(g_prog, np.float64) * 1e6, np.asarray(nu, np.float64), np.asarray(g_t, np.float64) * 1e6


@pytest.mark.parametrize("g_r", PCM_LEVELS)
def test_pcm_matches_aihwkit_statistics_at_every_time(g_r):
    n = N_CELLS
    for i, t in enumerate(PCM_TIMES):
        sigma, nu_ref, ref = _aihwkit_pcm(g_r, t, 4 * n, seed=i)
        g_prog, nu, g = _memristax_pcm(g_r, t, n, seed=i)
        if i == 0:  # programming and drift exponents do not depend on t
            assert g_prog.std() == pytest.approx(sigma, rel=5 / np.sqrt(2 * n))
            assert nu.mean() == pytest.approx(nu_ref.mean(), rel=0.01)
            assert nu.std() == pytest.approx(nu_ref.std(), rel=0.01)
        # conductance after drift and accumulated 1/f read noise: mean and std within 1 %
        # (5-sigma sampling bands here are ~0.2 %; the old model was 10-26 % off in std)
        assert g.mean() == pytest.approx(ref.mean(), rel=0.01), (g_r, t)
        assert g.std() == pytest.approx(ref.std(), rel=0.01), (g_r, t)


# ------------------------------------------------------------------ random pairs and RESET
def test_random_pair_follows_the_taox_preset_within_confidence_bands():
    spec = RRAM.taox_40nm_random()
    pair = forming.random_pair(jax.random.PRNGKey(11), (N_CELLS,), spec)
    for g, reset in ((pair.g_pos, pair.reset_pos), (pair.g_neg, pair.reset_neg)):
        g, reset = np.asarray(g, np.float64), np.asarray(reset, np.float64)
        formed = g > 0
        assert abs(1 - formed.mean() - 0.5) < 5 * np.sqrt(0.25 / N_CELLS)  # about half unformed
        assert abs(g[formed].mean() - 34.06e-6) < _band(5.32e-6, formed.sum())
        assert abs(g[formed].std() - 5.32e-6) < 5 * 5.32e-6 / np.sqrt(2 * formed.sum())
        # RESET: N(2, 0.5) uS on formed cells, unformed cells stay at g_unformed = 0
        assert abs(reset[formed].mean() - 2e-6) < _band(0.5e-6, formed.sum())
        assert abs(reset[formed].std() - 0.5e-6) < 5 * 0.5e-6 / np.sqrt(2 * formed.sum())
        np.testing.assert_array_equal(reset[~formed], 0.0)
    # the two cells of a pair are independent: correlation within a 5-sigma band of 0
    corr = np.corrcoef(np.asarray(pair.g_pos), np.asarray(pair.g_neg))[0, 1]
    assert abs(corr) < 5 / np.sqrt(N_CELLS)
    # the weight's variance is what cell_moments predicts
    w = np.asarray(pair.g_pos - pair.g_neg, np.float64)
    _, cell_std = forming.cell_moments(spec)
    assert abs(w.mean()) < _band(np.sqrt(2) * cell_std, N_CELLS)
    assert w.std() == pytest.approx(np.sqrt(2) * cell_std, rel=0.01)


def test_random_pair_same_key_same_chip_and_needs_a_formed_state():
    spec = RRAM.taox_40nm_random()
    a = forming.random_pair(jax.random.PRNGKey(1), (64,), spec)
    b = forming.random_pair(jax.random.PRNGKey(1), (64,), spec)
    c = forming.random_pair(jax.random.PRNGKey(2), (64,), spec)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.allclose(a.g_pos, c.g_pos)
    with pytest.raises(ValueError, match="form_mean is None"):
        forming.random_pair(jax.random.PRNGKey(0), (4,), RRAM.analog_20_80())
    assert forming.random_pair(jax.random.PRNGKey(0), (4,), RRAM(form_mean=30e-6, form_std=1e-6)).reset_pos is None


def test_forming_counts_as_program_time_randomness():
    assert device.has_forming_randomness(RRAM.taox_40nm_random())
    assert device.has_forming_randomness(RRAM.taox_40nm_random().ideal())  # the chip, not a non-ideality
    assert not device.has_forming_randomness(RRAM())
    assert not device.has_forming_randomness(RRAM(form_mean=30e-6))  # every cell formed at one value
    assert device.has_forming_randomness(RRAM(form_mean=30e-6, unformed_prob=0.3))


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(form_mean=150e-6), "form_mean"),
        (dict(form_mean=30e-6, reset_mean=40e-6), "reset_mean"),
        (dict(form_mean=30e-6, reset_mean=-1e-6), "reset_mean"),
        (dict(reset_mean=1e-6), "reset_mean"),
        (dict(form_mean=30e-6, reset_std=-1e-6), "reset_std"),
        (dict(g_unformed=2e-4), "g_unformed"),
    ],
)
def test_forming_and_reset_are_validated_against_the_window(kwargs, field):
    with pytest.raises(ValueError, match=rf"RRAM\.{field}"):
        RRAM(**kwargs)


# ------------------------------------------------------------------ write-and-verify
VERIFY = RRAM.analog_20_80(prog_sigma=3e-6)
TARGET = jnp.full((20_000,), 47e-6)


@pytest.mark.parametrize("tol", [0.5e-6, 1.5e-6, 4e-6])
def test_program_verify_ends_within_tolerance_or_out_of_pulses(tol):
    g, pulses = device.program_verify(jax.random.PRNGKey(3), TARGET, VERIFY, tol, max_pulses=12)
    g, pulses = np.asarray(g, np.float64), np.asarray(pulses)
    within = np.abs(g - 47e-6) <= tol * (1 + 1e-6)
    assert np.all(within | (pulses == 12))
    assert np.all((pulses >= 1) & (pulses <= 12))
    # each pulse lands within tol with p = P(|N(0, 3 uS)| <= tol): pulses ~ geometric, truncated
    p = float(erf(tol / (3e-6 * np.sqrt(2))))
    expected = (1 - (1 - p) ** 12) / p
    sd = np.sqrt((1 - p) / p**2)  # upper bound on the truncated geometric's std
    assert abs(pulses.mean() - expected) < 5 * sd / np.sqrt(pulses.size)


def test_program_verify_mean_pulses_fall_as_tolerance_loosens():
    means = [float(device.program_verify(jax.random.PRNGKey(4), TARGET, VERIFY, tol, 30)[1].mean())
             for tol in (0.3e-6, 1e-6, 3e-6, 9e-6)]
    assert all(a > b for a, b in zip(means, means[1:])), means
    assert means[-1] < 1.01  # 3 sigma: almost every cell verifies at the first pulse


def test_program_verify_stuck_cells_take_every_pulse_and_is_vmappable_and_straight_through():
    spec = VERIFY.replace(stuck_low_prob=0.2)
    g, pulses = device.program_verify(jax.random.PRNGKey(5), TARGET, spec, 2e-6, 7)
    stuck = np.isclose(np.asarray(g), 20e-6)
    assert abs(stuck.mean() - 0.2) < 5 * np.sqrt(0.16 / TARGET.size)
    np.testing.assert_array_equal(np.asarray(pulses)[stuck], 7)
    batch = jax.vmap(lambda k: device.program_verify(k, TARGET[:16], VERIFY, 1e-6, 5)[0])(
        jax.random.split(jax.random.PRNGKey(6), 3))
    assert batch.shape == (3, 16) and not np.allclose(batch[0], batch[1])
    grad = jax.grad(lambda t: device.program_verify(jax.random.PRNGKey(0), t, VERIFY, 1e-6, 5)[0].sum())(TARGET[:8])
    np.testing.assert_allclose(grad, 1.0)
    with pytest.raises(ValueError, match="max_pulses"):
        device.program_verify(jax.random.PRNGKey(0), TARGET, VERIFY, 1e-6, 0)
