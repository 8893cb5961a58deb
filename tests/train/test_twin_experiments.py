"""twin-hp and twin-lorenz96 end to end at smoke size, and the study's pieces."""

import dataclasses

import numpy as np
import pytest

from tests.train.contract import assert_contract
from train.experiments import twin, twin_hp, twin_lorenz96

SMOKE = dict(hidden=(8,), warm_start_epochs=4, curriculum=(2,), epochs=2, n_chips=4, chip_chunk=4)


def test_windows_cut_every_trajectory_and_reject_a_too_long_window():
    traj = np.arange(2 * 6 * 1, dtype=np.float32).reshape(2, 6, 1)
    x, start, index = twin.windows(traj, 2, stride=2)
    assert x.shape == (4, 3, 1) and list(start) == [0, 2, 0, 2] and list(index) == [0, 0, 1, 1]
    np.testing.assert_array_equal(x[3, :, 0], traj[1, 2:5, 0])
    with pytest.raises(ValueError, match="window length 6"):
        twin.windows(traj, 6)


def test_valid_time_is_the_first_crossing_or_the_horizon():
    ts = np.linspace(0.0, 1.0, 11)
    true = np.zeros((2, 11, 4))
    pred = np.zeros((2, 11, 4))
    pred[0, 6:] = 1.0  # RMS error 1 from t = 0.6
    vpt = np.asarray(twin_lorenz96.valid_time(pred, true, ts, 0.5))
    assert vpt[0] == pytest.approx(0.6) and vpt[1] == pytest.approx(1.0)


def test_twin_hp_smoke(tmp_path):
    cfg = dataclasses.replace(twin_hp.Config(), amplitudes=(0.8,), starts=(0.3,), t_train=1.0, save_step=0.1,
                              extrap_factor=2, hwa_epochs=1, **{**SMOKE, "warm_start_epochs": 0})
    m = twin_hp.run(cfg, tmp_path, seed=0)
    assert_contract("twin-hp", tmp_path, m)
    assert abs(m["nrmse/extrap_analog_ideal"] - m["nrmse/extrap"]) < 0.02  # the ideal limit is the digital twin
    assert m["latency/analog_s"] == pytest.approx(2.0 * 1e-3)  # 2 s of model time at tau = 1 ms
    assert m["speedup_projected/gpu"] == pytest.approx(m["latency/gpu_s"] / m["latency/analog_s"])
    assert m["solver/layers_per_evaluation"] == 2.0 and m["solver/evaluations"] > 6
    assert all((tmp_path / f).exists() for f in ("states.png", "iv_loops.png", "chips.png"))


def test_twin_lorenz96_smoke(tmp_path):
    cfg = dataclasses.replace(twin_lorenz96.Config(), dim=8, n_train=2, n_valid=1, n_test=2, t_train=1.0, t_valid=0.5,
                              t_test=1.0, hwa_epochs=0, copies=False, **SMOKE)
    m = twin_lorenz96.run(cfg, tmp_path, seed=0)
    assert_contract("twin-lorenz96", tmp_path, m)
    assert m["lyapunov/exponent"] > 0.3  # chaotic at F = 8, even with 8 sites
    assert 0 < m["valid_time_lyapunov/digital"] <= 1.0 * m["lyapunov/exponent"] + 1e-6
    assert abs(m["valid_time_lyapunov/analog_ideal"] - m["valid_time_lyapunov/digital"]) <= 0.1 * m["lyapunov/exponent"]
    assert m["latency/analog_s"] == pytest.approx(1.0 * 1e-3)
    assert all((tmp_path / f).exists() for f in ("error_horizon.png", "space_time.png", "chips.png"))
