"""DEPLM's experiments on smoke-sized configs (the --quick presets are the CLI's)."""

import dataclasses

import pytest

from tests.train.contract import assert_contract

TINY = dict(centres=(16, 4), radii=(0.2, 0.4), neighbours=(8, 8), widths=(8, 16, 128), epochs=2, batch_size=16,
            n_train_chips=1, n_reads=2, n_chips=2, eval_batch=40, energy_samples=2)


def _check(metrics, tmp_path, metric="acc", floor=0.2):
    # the random network learns (above a floor: chance 0.1 for ten classes), both training paths cost less
    # than training every weight,
    # and the projected macro beats the GPU on the same counted work
    assert metrics[f"{metric}/random"] > floor and metrics[f"{metric}/ridge"] > floor
    assert metrics["training_cost_reduction/gradient"] > 0.3
    assert metrics["training_cost_reduction/ridge"] > metrics["training_cost_reduction/gradient"]
    assert metrics["train_flops/random_step"] < metrics["train_flops/random_step_with_array_products"] \
        < metrics["train_flops/trained_step"]  # no weight gradient, array products on the chip
    assert metrics["params/random_trainable"] < metrics["params/trained"]
    assert metrics["energy_ratio_vs_gpu/a100_fp32"] > 1
    for plot in ("training_curves.png", f"{metric}_over_reads.png", "training_flops.png"):
        assert (tmp_path / plot).stat().st_size > 10_000


@pytest.mark.slow
def test_deplm_images_small_run(tmp_path):
    from train.experiments import deplm_images

    # batch 18 and eval_batch 80 cut the 360 training / 40 validation / 80 test samples into whole parts:
    # every network compiled for as few batch shapes as possible (evaluation: one slice of the test set)
    cfg = dataclasses.replace(deplm_images.Config.quick(), n_points=64, train_samples=400, test_samples=80,
                              **{**TINY, "epochs": 3, "batch_size": 18, "eval_batch": 80})
    metrics = deplm_images.run(cfg, tmp_path, seed=0)
    _check(metrics, tmp_path)
    assert_contract("deplm-images", tmp_path, metrics)


@pytest.mark.slow
def test_deplm_parts_small_run(tmp_path):
    from train.experiments import deplm_parts

    # eval_batch 48: 144 training / 48 test samples in whole parts (fewer batch shapes to compile)
    tiny = {**TINY, "centres": (32, 8), "widths": (8, 16, 32), "eval_batch": 48, "n_chips": 1}
    cfg = dataclasses.replace(deplm_parts.Config.quick(), n_points=128, n_train=160, n_test=48,
                              fp_features=(16, 16, 64), **tiny)
    metrics = deplm_parts.run(cfg, tmp_path, seed=0)
    _check(metrics, tmp_path, metric="miou", floor=0.25)  # 160 shapes, 2 epochs (0.32 measured)
    assert_contract("deplm-parts", tmp_path, metrics)
    assert 0 < metrics["acc/random"] <= 1 and 0 < metrics["acc/ridge"] <= 1  # per-point accuracy beside the mIoU


@pytest.mark.slow
def test_deplm_events_small_run(tmp_path):
    from train.experiments import deplm_events

    cfg = dataclasses.replace(deplm_events.Config.quick(), n_points=64, n_train=220, n_test=44,
                              **{**TINY, "n_chips": 1, "eval_batch": 44, "lr": 1e-2})  # the quick lr (0.02)
    # needs its 16 epochs; these two learn at 0.01
    metrics = deplm_events.run(cfg, tmp_path, seed=0)
    _check(metrics, tmp_path, floor=0.15)  # eleven gestures: chance 0.09
    assert_contract("deplm-events", tmp_path, metrics)
