import dataclasses
import json

import pytest

from train.experiments import analog_mlp

from tests.train.contract import assert_contract

REQUIRED = ("acc/digital", "acc/ideal_analog", "acc/hwa/noise0.1/median", "acc/plain/noise0.1/median",
            "energy_ratio/a100_fp32")


@pytest.mark.slow
def test_quick_preset_reaches_software_accuracy_and_ideal_limit(tmp_path):
    cfg = dataclasses.replace(analog_mlp.Config.quick(), n_chips=200, chunk_size=100, times=(1.0,),
                              noise_levels=(0.0, 0.10))
    metrics = analog_mlp.run(cfg, tmp_path, seed=0)
    for key in REQUIRED:
        assert key in metrics
    assert metrics["acc/digital"] >= 0.95
    assert metrics["acc/ideal_analog"] == metrics["acc/digital"]
    # 10 % programming noise costs accuracy; the digital weights suffer at least as much as HWA ones
    assert metrics["acc/plain/noise0.1/median"] < metrics["acc/digital"]
    assert metrics["energy_ratio/a100_fp32"] > 1
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["config"]["n_chips"] == 200 and saved["seed"] == 0 and "jax" in saved["versions"]
    rows = {row["metric"]: row for row in saved["headlines"]}
    assert rows["acc/ideal_analog"]["reproduced"] is True  # computed: the ideal limit is exact
    assert rows["energy_ratio/a100_fp32"]["reproduced"] is True
    assert (tmp_path / "accuracy_vs_noise.png").stat().st_size > 10_000
    assert_contract("analog-mlp", tmp_path, metrics)
