"""hegnn-toy and hegnn-nbody: configs fail clearly, and reduced quick runs reach real metrics."""

import dataclasses

import numpy as np
import pytest

from tests.train.contract import assert_contract
from train.experiments import hegnn_nbody, hegnn_toy


def test_configs_reject_bad_values():
    with pytest.raises(ValueError, match="structures"):
        hegnn_toy.Config(structures=("heptagon",))
    with pytest.raises(ValueError, match="perturbations"):
        hegnn_toy.Config(perturbations=(0.1, -0.2))
    with pytest.raises(ValueError, match="adam_eps"):
        hegnn_toy.Config(adam_eps=0.0)
    with pytest.raises(ValueError, match="learning_rate"):
        hegnn_nbody.Config(learning_rate=float("nan"))
    with pytest.raises(ValueError, match="models"):
        hegnn_nbody.Config(models=("segnn",))
    with pytest.raises(ValueError, match="chip_model"):
        hegnn_nbody.Config(models=("egnn",))
    with pytest.raises(ValueError, match="bodies"):
        hegnn_nbody.Config(bodies=(1,))


def test_degree_masks_select_single_degrees_and_all():
    masks = hegnn_toy.degree_masks(hegnn_toy.Config(max_degree=3))
    assert masks["hegnn_l2"].tolist() == [0, 0, 1, 0] and masks["hegnn_le3"].tolist() == [1, 1, 1, 1]


@pytest.mark.slow
def test_toy_quick_on_two_structures_matches_the_theorem(tmp_path):
    # tetrahedron: l = 3 is the first degree that tells it apart; cube: l = 4
    cfg = dataclasses.replace(hegnn_toy.Config.quick(), structures=("tetrahedron", "cube"), max_degree=4, seeds=2,
                              perturbations=(0.5,))
    m = hegnn_toy.run(cfg, tmp_path)
    for s in cfg.structures:
        assert m[f"acc/egnn/{s}"] <= 0.6
        assert max(m[f"acc/hegnn_l{l}/{s}"] for l in range(1, 5)) >= 0.95
    assert m["acc/hegnn_l3/tetrahedron"] >= 0.95 and m["acc/hegnn_l2/tetrahedron"] <= 0.6
    assert m["theory/agreement"] == 1.0
    # jitter of half the radius breaks the tetrahedron's symmetry: even EGNN's degree 1 tells it apart
    assert m["perturbed/egnn/eps0.5"] >= 0.95 and m["acc/egnn/tetrahedron"] <= 0.6
    assert (tmp_path / "accuracy.png").exists() and (tmp_path / "perturbation.png").exists()
    assert_contract("hegnn-toy", tmp_path, m)


@pytest.mark.slow
def test_nbody_reduced_quick_learns_and_chips_stay_equivariant(tmp_path):
    cfg = dataclasses.replace(hegnn_nbody.Config.quick(), models=("egnn", "hegnn_le1"), chip_model="hegnn_le1",
                              n_train=400, n_valid=100, n_test=100, epochs=30, hidden=16, n_layers=1,
                              n_chips=4, chunk_size=4, mc_test=20)
    m = hegnn_nbody.run(cfg, tmp_path)
    data = hegnn_nbody.load(cfg, 5, seed=0)["test"]
    copy_input = float(np.mean((data.x - data.target) ** 2))  # predict "nothing moves"
    for name in cfg.models:
        assert m[f"mse/{name}/n5"] < 0.5 * copy_input
    # device noise enters invariant channels only: as equivariant as float32 allows
    assert m["equivariance/float/max"] < 1e-4 and m["equivariance/device_noise/max"] < 1e-4
    assert np.isfinite(m["chip/mse/median"]) and m["chip/mse/median"] > 0
    assert (tmp_path / "chips_mse.png").exists() and (tmp_path / "chips_equivariance.png").exists()
    assert "hegnn_le1" in (tmp_path / "results.md").read_text()
    assert_contract("hegnn-nbody", tmp_path, m)
