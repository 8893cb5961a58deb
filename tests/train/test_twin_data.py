"""The twin experiments' data: Lorenz-96 and the HP memristor's trajectories."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from analog import memristor
from train.data import lorenz96
from train.data.hp_memristor import HP_TWIN_DEVICE, Waveform, drive_samples, hp_traces


def test_lorenz96_keeps_the_fixed_point_x_equal_f():
    xs = lorenz96.simulate(jnp.full(40, 8.0), jnp.linspace(0.0, 5.0, 11), 8.0)
    np.testing.assert_allclose(np.asarray(xs), 8.0, atol=1e-5)


def test_lorenz96_field_matches_the_equation_site_by_site():
    x = jax.random.normal(jax.random.PRNGKey(0), (7,))
    f = np.asarray(lorenz96.lorenz96(x, 8.0))
    xn = np.asarray(x)
    for i in range(7):
        expected = (xn[(i + 1) % 7] - xn[i - 2]) * xn[i - 1] - xn[i] + 8.0
        assert f[i] == pytest.approx(expected, rel=1e-5, abs=1e-5)


def test_lorenz96_leading_lyapunov_exponent_is_about_1_7_at_dimension_40():
    lam = lorenz96.lyapunov_exponent(jax.random.PRNGKey(0), 40, 8.0, t_total=100.0)
    assert 1.4 < lam < 2.0


def test_nearby_lorenz96_trajectories_separate_at_the_leading_exponent():
    start = lorenz96.attractor_states(jax.random.PRNGKey(1), 1, 40)[0]
    ts = jnp.linspace(0.0, 6.0, 61)
    d0 = 1e-4 * jax.random.normal(jax.random.PRNGKey(2), (40,))
    pair = jax.vmap(lambda x: lorenz96.simulate(x, ts))(jnp.stack([start, start + d0]))
    distance = np.linalg.norm(np.asarray(pair[1] - pair[0], np.float64), axis=-1)
    rate = np.polyfit(np.asarray(ts)[10:51], np.log(distance[10:51]), 1)[0]  # t in [1, 5]: past alignment
    assert 0.9 < rate < 2.6, rate
    assert distance[50] > 100 * distance[0]


def test_lorenz96_rejects_too_few_sites():
    with pytest.raises(ValueError, match="dimension 3"):
        lorenz96.simulate(jnp.ones(3), jnp.linspace(0, 1, 3))


def test_hp_traces_are_analog_memristor_solves_of_the_sampled_drive():
    waves = [Waveform("sine", 1.0, 1.0, 0.3), Waveform("pulses", 0.9, 1.0, 0.5, seed=4)]
    data = hp_traces(waves, 2.0, 21)
    for k, w in enumerate(waves):
        drive = memristor.sampled_voltage(data["grid"], data["v_grid"][k])
        trace = memristor.simulate(drive, data["t"], w.x0 * HP_TWIN_DEVICE.d, HP_TWIN_DEVICE, rtol=1e-6, atol=1e-7,
                                   max_steps=65536)
        np.testing.assert_allclose(data["x"][k], np.asarray(trace.w) / HP_TWIN_DEVICE.d, atol=2e-5)
        np.testing.assert_allclose(data["i"][k], np.asarray(trace.i), rtol=1e-4, atol=1e-9)
    assert data["x"].min() >= 0.0 and data["x"].max() <= 1.0


def test_a_sampled_sine_drive_moves_the_device_like_the_exact_sine():
    data = hp_traces([Waveform("sine", 1.2, 1.0, 0.2)], 2.0, 21)
    exact = memristor.simulate(memristor.sine_voltage(1.2, 1.0), data["t"], 0.2 * HP_TWIN_DEVICE.d, HP_TWIN_DEVICE,
                               rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(data["x"][0], np.asarray(exact.w) / HP_TWIN_DEVICE.d, atol=2e-3)
    assert np.ptp(data["x"][0]) > 0.3  # the drive really moves the state


def test_hp_traces_are_cached(tmp_path):
    waves = [Waveform("triangle", 0.8, 1.0)]
    first = hp_traces(waves, 1.0, 11, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("hp_traces_*.npz"))) == 1
    np.testing.assert_array_equal(hp_traces(waves, 1.0, 11, cache_dir=tmp_path)["x"], first["x"])


def test_drive_waveforms_have_their_amplitude_and_a_bad_kind_is_rejected():
    grid = np.linspace(0.0, 4.0, 4001)
    for kind in ("sine", "triangle"):
        assert np.abs(drive_samples(Waveform(kind, 0.7, 1.0), grid)).max() == pytest.approx(0.7, rel=1e-3)
    pulses = drive_samples(Waveform("pulses", 0.7, 1.0, seed=3), grid)
    assert 0.35 - 1e-6 <= np.abs(pulses).min() and np.abs(pulses).max() <= 0.7 + 1e-6
    assert (pulses > 0).any() and (pulses < 0).any()
    with pytest.raises(ValueError, match="Waveform.kind"):
        Waveform("square", 1.0, 1.0)
