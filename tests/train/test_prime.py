"""PRIME's two experiments on smoke-sized configs (the --quick presets are the CLI's)."""

import dataclasses

import numpy as np
import pytest

from tests.train.contract import assert_contract


@pytest.mark.slow
def test_prime_nmnist_small_run_reports_early_stop_noise_and_energy(tmp_path):
    from train.experiments import prime_nmnist

    cfg = dataclasses.replace(prime_nmnist.Config.quick(), epochs=2, train_images=320, test_images=64,
                              n_train_chips=1, n_chips=2, n_reads=2, chunk_size=2, energy_images=2)
    metrics = prime_nmnist.run(cfg, tmp_path, seed=0)
    assert metrics["acc/software"] > 0.2 and metrics["acc/pruned/median"] > 0.2  # chance is 0.1 (320 images, 2 epochs)
    # early stop is read from the same outputs: never more steps, and the accuracy it answers with
    assert 1.0 <= metrics["steps/pruned/median"] <= cfg.steps
    assert metrics["load_saved/pruned"] == pytest.approx(1 - metrics["steps/pruned/median"] / cfg.steps)
    # silent inputs cost the macro nothing, the GPU computes every MAC: the ratio exceeds the all-active one
    assert 0 < metrics["activity/spikes1"] < 1 and metrics["energy/ratio_vs_gpu"] > 1
    for plot in ("early_stop_curve.png", "acc_vs_read_noise.png", "programmed_vs_noise.png", "acc_vs_step.png"):
        assert (tmp_path / plot).stat().st_size > 10_000
    assert_contract("prime-nmnist", tmp_path, metrics)


@pytest.mark.slow
def test_prime_inpaint_small_run_fills_the_hole_better_than_leaving_it(tmp_path):
    from train.experiments import prime_inpaint

    cfg = dataclasses.replace(prime_inpaint.Config.quick(), width=4, latent=16, steps=6, epochs=2,
                              train_images=400, test_images=40, n_chips=2, n_reads=2, classifier_epochs=1,
                              energy_images=2)
    metrics = prime_inpaint.run(cfg, tmp_path, seed=0)
    assert metrics["psnr_hole/software"] > metrics["psnr_hole/corrupted"] + 0.5  # a black hole vs a digit's middle
    assert metrics["psnr_hole/pruned"] > metrics["psnr_hole/corrupted"] + 0.5
    assert 1.0 <= metrics["inception_score/pruned"] <= 10.0 and metrics["inception_score/truth"] > 5.0
    assert 0.0 <= metrics["load_saved/pruned"] < 1.0 and np.isfinite(metrics["energy/ratio_vs_gpu"])
    assert (tmp_path / "inpainting.png").stat().st_size > 10_000
    assert_contract("prime-inpaint", tmp_path, metrics)
