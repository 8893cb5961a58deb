"""diffusion-ring and diffusion-letters end to end at smoke size, and the study's pieces."""

import dataclasses

import pytest

from tests.train.contract import assert_contract
from train.experiments import diffusion, diffusion_letters, diffusion_ring

SMOKE = dict(epochs=20, n_samples=200, n_chips=4, chip_chunk=4, step_grid=(5,), reference_steps=100, sweep_chips=2)


def test_steps_to_match_is_the_fewest_steps_at_least_as_good_as_the_chips():
    cfg = diffusion.DiffusionConfig(step_grid=(2, 5, 10))
    m = {"kl/analog/median": 0.3, "kl/digital/steps2": 0.9, "kl/digital/steps5": 0.29, "kl/digital/steps10": 0.2}
    diffusion._steps_to_match(cfg, m)
    assert m["steps/match"] == 5.0 and m["steps/match_found"] == 1.0
    m["kl/analog/median"] = 0.1
    diffusion._steps_to_match(cfg, m)
    assert m["steps/match"] == 10.0 and m["steps/match_found"] == 0.0


def test_integrator_tau_knob_keeps_a_hundred_steps_per_model_time_unit():
    preset = diffusion.integrator_spec(diffusion.DiffusionConfig())
    assert preset.tau == 1e-3 and preset.dt == 1e-5 and preset.noise_hold == 1e-5
    fast = diffusion.integrator_spec(diffusion.DiffusionConfig(tau=1e-5))
    assert fast.tau == 1e-5 and fast.dt == pytest.approx(1e-7) and fast.noise_hold == 1e-5


def test_diffusion_ring_smoke(tmp_path):
    cfg = dataclasses.replace(diffusion_ring.Config(), n_train=2000, n_reference=5000, write_errors=(0.0,), **SMOKE)
    m = diffusion_ring.run(cfg, tmp_path, seed=0)
    assert_contract("diffusion-ring", tmp_path, m)
    assert abs(m["kl/analog_ideal"] - m["kl/software"]) < 0.1 * m["kl/software"]  # ideal limit = digital
    assert m["latency/analog_s"] == pytest.approx((1.0 - cfg.t_end) * 1e-3, rel=1e-4)  # span x tau
    assert m["speedup_projected/gpu"] == pytest.approx(m["latency/gpu_s"] / m["latency/analog_s"])
    assert m["speedup_projected/gpu_no_launch"] < m["speedup_projected/gpu"]
    assert m["solver/layers_per_evaluation"] == 3.0 and m["cells/conducting"] == 2 * (2 * 14 + 14 * 14 + 14 * 2)
    assert m["kl/analog/write_error0/median"] < m["kl/analog/median"] + 0.05  # no write error is not worse
    assert all((tmp_path / f).exists() for f in ("samples.png", "kl_vs_steps.png", "chips.png", "write_error.png"))


def test_diffusion_letters_smoke(tmp_path):
    cfg = dataclasses.replace(diffusion_letters.Config(), train_per_class=200, test_per_class=200, vae_epochs=3,
                              classifier_epochs=2, write_errors=(), **SMOKE)
    m = diffusion_letters.run(cfg, tmp_path, seed=0)
    assert_contract("diffusion-letters", tmp_path, m)
    assert m["cond_accuracy/test_images"] > 0.9  # the judge reads rendered letters
    assert 0.0 <= m["cond_accuracy/analog/median"] <= 1.0 and m["kl_per_class/mean"] == m["kl/analog/median"]
    assert abs(m["kl/analog_ideal"] - m["kl/software"]) < 0.1 * m["kl/software"]
    assert all((tmp_path / f).exists() for f in ("latents.png", "letters.png", "kl_vs_steps.png", "chips.png"))
