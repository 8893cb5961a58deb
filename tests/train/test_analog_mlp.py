import dataclasses
import json

import pytest

from train.experiments import analog_mlp

REQUIRED = ("acc_digital", "acc_ideal_analog", "acc_hwa_median_at_max_noise",
            "acc_plain_median_at_max_noise", "energy_ratio_vs_gpu")


@pytest.mark.slow
def test_quick_preset_reaches_software_accuracy_and_ideal_limit(tmp_path):
    cfg = dataclasses.replace(analog_mlp.Config.quick(), n_chips=200, chunk_size=100, times=(1.0,),
                              noise_levels=(0.0, 0.10))
    metrics = analog_mlp.run(cfg, tmp_path, seed=0)
    for key in REQUIRED:
        assert key in metrics
    assert metrics["acc_digital"] >= 0.95
    assert metrics["acc_ideal_analog"] == metrics["acc_digital"]
    # 10 % programming noise costs accuracy; the digital weights suffer at least as much as HWA ones
    assert metrics["acc_plain_median_at_max_noise"] < metrics["acc_digital"]
    assert metrics["energy_ratio_vs_gpu"] > 1
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["config"]["n_chips"] == 200 and saved["seed"] == 0 and "jax" in saved["versions"]
    assert (tmp_path / "results.md").read_text().count("|") > 20
    assert (tmp_path / "accuracy_vs_noise.png").stat().st_size > 10_000
