"""Tests for analog.memristor: the HP memristor and its diffrax simulation.

Compiling the diffrax solves dominates the run time (each solve takes
milliseconds), so every batched solve has the same shapes (4 waveforms x 201
samples) and compiles once per window: four programs in all, with the single
(unbatched) call of the vmap test.
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from analog import memristor as m
from analog.memristor import HPMemristor

SPEC = HPMemristor()  # Joglekar, p = 1, MemTorch LinearIonDrift values
D = SPEC.d
N = 201  # samples per trace: one or two periods, so t = k T/2 hits v = 0
# The solves take milliseconds; compiling them dominates, so compile cheaply.
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


@partial(jax.jit, compiler_options=FAST_COMPILE)
def run(amps, freqs, ts, w0, spec):
    """Batch of sine-driven solves: amps (V), freqs (Hz), ts (s) (4, N), w0 (m) (4,)."""
    sim = lambda a, f, t, w: m.simulate(m.sine_voltage(a, f), t, w, spec)
    return jax.vmap(sim)(amps, freqs, ts, w0)


def one_period(freqs):
    freqs = jnp.asarray(freqs, jnp.float32)
    return run(jnp.ones(4), freqs, jnp.linspace(0.0, 1.0, N)[None] / freqs[:, None],
               jnp.full(4, 0.5 * D), SPEC)


def strong_drive(spec):
    """Amplitudes 0, 1, 5, 20 V at 1 Hz for two periods, from w = D/2."""
    return run(jnp.array([0.0, 1.0, 5.0, 20.0]), jnp.ones(4),
               jnp.tile(jnp.linspace(0.0, 2.0, N), (4, 1)), jnp.full(4, 0.5 * D), spec)


def lobe_area(tr):
    """Area of the two lobes (A V): |integral i dv| over each half period."""
    i, v = np.asarray(tr.i, np.float64), np.asarray(tr.v, np.float64)
    seg = 0.5 * (i[..., 1:] + i[..., :-1]) * np.diff(v, axis=-1)
    half = (N - 1) // 2
    return np.abs(seg[..., :half].sum(-1)) + np.abs(seg[..., half:].sum(-1))


@pytest.fixture(scope="module")
def sweep():
    return one_period([2.0, 4.0, 8.0, 200.0])


@pytest.fixture(scope="module")
def strong():
    return {w: strong_drive(SPEC.replace(window=w)) for w in m.WINDOWS}


def test_iv_curve_is_pinched_at_origin_with_hysteresis(sweep):
    i, v = np.asarray(sweep.i[0]), np.asarray(sweep.v[0])
    i_max, v_max = np.abs(i).max(), np.abs(v).max()
    zero_v = np.abs(v) < 1e-5 * v_max
    assert zero_v.sum() >= 3  # t = 0, T/2, T
    assert np.all(np.abs(i[zero_v]) < 1e-5 * i_max)
    clear = np.abs(v) > 1e-3 * v_max  # current changes sign exactly when voltage does
    assert np.array_equal(np.sign(i[clear]), np.sign(v[clear]))
    # a loop, not a line: same voltage on the way up (T/8) and down (3T/8), different current
    up, down = (N - 1) // 8, 3 * (N - 1) // 8
    assert v[up] == pytest.approx(v[down], rel=1e-4)
    assert abs(i[down] - i[up]) > 0.05 * abs(i[up])


def test_lobe_area_shrinks_with_frequency_towards_a_line(sweep):
    area = lobe_area(sweep)
    assert area[0] > area[1] > area[2] > area[3] > 0
    assert area[3] / area[0] < 0.02
    extent = np.abs(np.asarray(sweep.v[3])).max() * np.abs(np.asarray(sweep.i[3])).max()
    assert area[3] / extent < 0.01  # at 200 Hz the loop has all but collapsed to a line


@pytest.mark.parametrize("window", m.WINDOWS)
def test_state_stays_in_bounds_under_strong_drive(strong, window):
    w = np.asarray(strong[window].w)
    assert np.all(np.isfinite(w))
    assert np.all((w >= 0.0) & (w <= D))
    assert w[3].max() > 0.99 * D  # the drive really does push the state to an edge


@pytest.mark.parametrize("window", m.WINDOWS)
def test_drift_vanishes_outward_at_and_beyond_the_edges(window):
    x = np.array([1.0, 1.05, 0.0, -0.05, 1.05, -0.05], np.float32)
    i = np.array([1e-3, 1e-3, -1e-3, -1e-3, -1e-3, 1e-3], np.float32)
    dw = np.asarray(jax.jit(m.state_derivative)(x * D, i, SPEC.replace(window=window)))
    np.testing.assert_array_equal(dw[:4], 0.0)  # pushing outwards: stopped
    if window != "joglekar":  # Joglekar's F is 0 at both edges: its terminal-state problem
        assert dw[4] < 0 < dw[5]  # pulling back inwards: free to move


def test_joglekar_without_drive_keeps_its_state(strong):
    np.testing.assert_allclose(np.asarray(strong["joglekar"].w[0]), 0.5 * D, rtol=1e-7)
    np.testing.assert_array_equal(np.asarray(strong["joglekar"].i[0]), 0.0)


def test_biolek_window_differs_from_joglekar(strong):
    w_j, w_b = np.asarray(strong["joglekar"].w[1]), np.asarray(strong["biolek"].w[1])
    assert np.abs(w_b - w_j).max() > 0.02 * D
    x, i = np.array([0.9, 0.9], np.float32), np.array([1e-4, -1e-4], np.float32)
    f_b = jax.jit(m.window)(x, i, SPEC.replace(window="biolek", p=2))  # depends on current direction
    assert f_b[0] == pytest.approx(1 - 0.9**4) and f_b[1] == pytest.approx(1 - 0.1**4)


@pytest.mark.parametrize(
    "kwargs, field",
    [({"r_on": 200.0, "r_off": 100.0}, "r_off"), ({"r_on": 0.0}, "r_on"), ({"d": -1e-9}, "d"),
     ({"mu_v": 0.0}, "mu_v"), ({"window": "hann"}, "window"), ({"p": 0}, "p"), ({"p": 1.5}, "p")],
)
def test_validation_names_the_field(kwargs, field):
    with pytest.raises(ValueError, match=rf"HPMemristor\.{field} ="):
        HPMemristor(**kwargs)


def test_bad_waveforms_and_initial_state_are_rejected():
    with pytest.raises(ValueError, match="frequency"):
        m.sine_voltage(1.0, 0.0)
    with pytest.raises(ValueError, match="vs"):
        m.sampled_voltage(jnp.linspace(0, 1, 5), jnp.zeros(4))
    ts = jnp.linspace(0.0, 1.0, N)
    with pytest.raises(ValueError, match="w0"):
        m.simulate(m.sine_voltage(1.0, 1.0), ts, 2 * D, SPEC)
    with pytest.raises(ValueError, match="ts"):
        m.simulate(m.sine_voltage(1.0, 1.0), ts[:1], 0.5 * D, SPEC)


def test_sampled_voltage_interpolates_linearly():
    wave = m.sampled_voltage(jnp.array([0.0, 1.0, 3.0]), jnp.array([0.0, 2.0, -2.0]))
    np.testing.assert_allclose(np.asarray(jax.vmap(wave)(jnp.array([0.5, 2.0, 5.0]))), [1.0, 0.0, -2.0])


def test_vmap_over_amplitudes_and_w0_matches_a_loop_of_single_calls():
    amps = np.array([0.5, 1.0, 1.5, 2.0], np.float32)
    w0 = np.array([0.2, 0.4, 0.5, 0.7], np.float32) * D
    ts = jnp.linspace(0.0, 0.5, N)
    batch = jax.device_get(run(amps, np.full(4, 2.0, np.float32), jnp.tile(ts, (4, 1)), w0, SPEC))
    single = jax.jit(m.simulate, compiler_options=FAST_COMPILE)
    for k in range(4):
        tr = jax.device_get(single(m.sine_voltage(amps[k], np.float32(2.0)), ts, w0[k], SPEC))
        for got, want in zip((batch.w[k], batch.i[k], batch.v[k]), (tr.w, tr.i, tr.v)):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * np.abs(want).max())


def test_resistance_equation_holds_at_every_sample(sweep):
    w, i, v = (np.asarray(a, np.float64) for a in (sweep.w, sweep.i, sweep.v))
    r = SPEC.r_on * w / D + SPEC.r_off * (1.0 - w / D)  # written out, not m.resistance
    np.testing.assert_allclose(v, r * i, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(m.resistance(np.array([0.0, 0.5, 1.0]) * D, SPEC), [16e3, 8050.0, 100.0])
