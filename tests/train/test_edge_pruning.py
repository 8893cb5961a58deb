import dataclasses
import json

import numpy as np
import pytest

from tests.train.contract import assert_contract
from train.experiments import edge_pruning_fmnist


@pytest.mark.slow
def test_small_run_writes_the_contract_and_a_mask_is_worth_its_chip_only(tmp_path):
    cfg = dataclasses.replace(edge_pruning_fmnist.Config.quick(), train_images=1200, test_images=200, epochs=3,
                              n_chips=3, n_reads=2, prog_noise_us=(2.0, 20.0),
                              read_noise_levels=(0.02,), limit_steps=2)
    metrics = edge_pruning_fmnist.run(cfg, tmp_path, seed=0)
    for key in ("acc/software", "acc/programmed/median", "acc/pruned/median", "energy/programmed",
                "energy/pruned", "flips/total"):
        assert np.isfinite(metrics[key]), key
    assert metrics["acc/software"] > 0.85
    assert metrics["acc/pruned/median"] > 0.5  # 10 classes: chance is 0.1
    # programming noise degrades trained weights; the random network never writes a weight
    assert metrics["acc/programmed/prog20us/median"] < metrics["acc/programmed/prog2us/median"] - 0.2
    assert metrics["acc/pruned/median"] > metrics["acc/programmed/prog20us/median"]
    # a mask chosen for one chip's conductances is a random network on another chip
    assert metrics["acc/pruned_cross_chip/median"] < 0.3
    # the masks cost fewer write pulses than writing every trained weight
    assert 0 < metrics["pulses/pruned"] < metrics["pulses/programmed"]
    assert metrics["energy/pruned_program"] < metrics["energy/programmed_program"]
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["config"]["programmed_device"] == "taox_40nm_programmed"
    for plot in ("acc_vs_read_noise.png", "acc_vs_programming_noise.png", "mask_flips.png"):
        assert (tmp_path / plot).stat().st_size > 10_000
    assert_contract("edge-pruning-fmnist", tmp_path, metrics)


@pytest.mark.slow
def test_speech_small_run_beats_programmed_weights_with_fewer_pulses(tmp_path):
    from train.experiments import edge_pruning_speech

    cfg = dataclasses.replace(edge_pruning_speech.Config.quick(), epochs=3, n_train_chips=2, n_chips=4, n_reads=2,
                              test_images=100, read_noise_levels=(0.02,), limit_steps=2)
    metrics = edge_pruning_speech.run(cfg, tmp_path, seed=0)
    assert metrics["acc/software"] > 0.8
    assert metrics["acc/pruned/median"] > 0.25  # 10 classes: chance is 0.1 (3 epochs; 0.305 with jax 0.10)
    assert metrics["acc/programmed/prog10us/median"] < metrics["acc/software"] - 0.2
    assert metrics["acc/pruned_cross_chip/median"] < 0.3
    assert 0 < metrics["pulses/pruned"] < metrics["pulses/programmed"]
    assert_contract("edge-pruning-speech", tmp_path, metrics)


@pytest.mark.slow
def test_drive_small_run_reports_both_aucs_inside_the_fov_and_its_maps(tmp_path):
    from train.experiments import edge_pruning_drive

    cfg = dataclasses.replace(edge_pruning_drive.Config.quick(), image_size=32, n_patches=384, patch_size=16, base=4,
                              depth=1, epochs=4, weight_lr=3e-3, n_chips=3, n_reads=2, test_images=3,
                              read_noise_levels=(0.02,), prog_noise_us=(2.0, 20.0), limit_steps=2)
    metrics = edge_pruning_drive.run(cfg, tmp_path, seed=0)
    for name in ("pr_auc", "roc_auc"):
        for key in (f"{name}/software", f"{name}/programmed/median", f"{name}/pruned/median"):
            assert 0.0 < metrics[key] <= 1.0, key
    assert metrics["roc_auc/software"] > 0.6  # chance is 0.5
    assert metrics["roc_auc/programmed/prog20us/median"] < metrics["roc_auc/programmed/prog2us/median"] - 0.05
    assert abs(metrics["roc_auc/pruned_cross_chip/median"] - 0.5) < 0.1  # another chip's mask: chance
    assert 0 < metrics["pulses/pruned"] < metrics["pulses/programmed"]
    for plot in ("vessel_map.png", "pr_curve.png", "pr_auc_vs_programming_noise.png", "mask_flips.png"):
        assert (tmp_path / plot).stat().st_size > 10_000
    assert_contract("edge-pruning-drive", tmp_path, metrics)
