import dataclasses
import json
import math

import numpy as np
import pytest

from tests.train.contract import assert_contract
from train.data import md17
from train.experiments import hegnn_md17


@pytest.mark.parametrize("field, value", [
    ("molecules", ("ethanol", "caffeine")),
    ("molecules", ()),
    ("molecules", ("ethanol", "ethanol")),
    ("models", ("egnn", "hegnn_le4")),
    ("models", ()),
])
def test_config_rejects_unknown_names_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        hegnn_md17.Config(**{field: value})


@pytest.mark.parametrize("field, value", [("epochs", 0), ("hidden", 0), ("n_test", 0), ("batch_size", 501)])
def test_config_rejects_bad_sizes_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        hegnn_md17.Config(**{field: value})


def test_defaults_follow_the_protocol():
    cfg = hegnn_md17.Config()
    assert cfg.molecules == md17.MOLECULES
    assert (cfg.n_train, cfg.n_valid, cfg.n_test) == (500, 2000, 2000)
    quick = hegnn_md17.Config.quick()
    assert set(quick.models) == {"egnn", "hegnn_le3"} and len(quick.molecules) == 2


@pytest.mark.slow
def test_small_run_writes_outputs_and_beats_copying_the_input(tmp_path):
    cfg = dataclasses.replace(hegnn_md17.Config.quick(), molecules=("ethanol",), n_valid=100, n_test=100,
                              hidden=16, n_layers=1, epochs=30, patience=30)
    metrics = hegnn_md17.run(cfg, tmp_path, seed=0)

    keys = [f"{kind}/{model}/ethanol" for kind in ("mse", "valid_mse", "best_epoch") for model in cfg.models]
    keys += ["improvement/ethanol", "mse/copy_input/ethanol"]
    for key in keys:
        assert key in metrics and math.isfinite(metrics[key]), key
    # the baseline, computed here from the same test split: predict the target = the input positions
    test = md17.load_md17("ethanol", seed=0, n_train=cfg.n_train, n_valid=cfg.n_valid, n_test=cfg.n_test).test
    copy_mse = float(np.mean((test.target.astype(np.float64) - test.x) ** 2))
    assert metrics["mse/copy_input/ethanol"] == pytest.approx(copy_mse, rel=1e-6)
    assert metrics["mse/hegnn_le3/ethanol"] < 0.8 * copy_mse
    assert metrics["improvement/ethanol"] == pytest.approx(
        1 - metrics["mse/hegnn_le3/ethanol"] / metrics["mse/egnn/ethanol"])

    assert (tmp_path / "mse.png").stat().st_size > 0
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["config"]["molecules"] == ["ethanol"]
    results = (tmp_path / "results.md").read_text()
    assert "Test MSE x 1e-2" in results and "simulated" in results and "not available offline" in results
    assert_contract("hegnn-md17", tmp_path, metrics)
