"""NAS machinery: oracles, constraint handling, NSGA-II reproducibility, Pareto and hypervolume."""

import numpy as np
import pytest

from models import ofa
from tests.train.contract import assert_contract
from train import nas


@pytest.fixture(scope="module")
def latency():
    # baseline 1 ms: speed-ups are then 1 ms / latency on 120 crossbars at 32 x 32
    return nas.LatencyOracle(budget=120, baseline_latency_s=1e-3, input_shape=(32, 32, 1))


def size_score(genes):
    """A cheap, deterministic stand-in for accuracy in these tests: smaller is worse."""
    return ofa.param_count(ofa.decode(genes), 1) / 3e6


def test_a_network_that_cannot_fit_is_infeasible_not_a_crash(latency):
    assert latency(ofa.largest()) is None                     # needs ~158 crossbars
    small = latency(ofa.smallest())
    assert small is not None and small > 0
    evaluate = nas.Evaluation(size_score, latency)
    assert evaluate(ofa.largest()) is None and evaluate.log == []
    problem = nas._Problem(evaluate)
    out = {}
    problem._evaluate(ofa.largest(), out)
    assert out["G"] == [1.0]                                   # g > 0: infeasible for pymoo
    problem._evaluate(ofa.smallest(), out)
    assert out["G"] == [-1.0] and out["F"][1] == pytest.approx(-small)


def test_nsga2_is_reproducible_by_seed(latency):
    runs = []
    for _ in range(2):
        evaluate = nas.Evaluation(size_score, latency)
        final = nas.nsga2(evaluate, population=4, generations=2, seed=3)
        runs.append((final, [g for g, _, _ in evaluate.log]))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1] and len(runs[0][1]) >= 4
    assert (runs[0][0][:, 1] > 0).all()                       # only feasible points come back


def test_pareto_front_and_hypervolume_by_hand():
    points = np.array([[0.9, 1.0], [0.5, 2.0], [0.4, 1.5], [0.9, 0.5]])
    front = nas.pareto(points)
    np.testing.assert_array_equal(front, [[0.9, 1.0], [0.5, 2.0]])
    # 0.9 x 1.0 + 0.5 x (2.0 - 1.0)
    assert nas.hypervolume(front) == pytest.approx(1.4)
    assert nas.hypervolume(points) == pytest.approx(1.4)       # dominated points add nothing
    assert nas.hypervolume(np.zeros((0, 2))) == 0.0


@pytest.mark.slow
def test_nas_experiment_small_run(tmp_path):
    import dataclasses
    import json

    from train.experiments import nas as nas_experiment

    cfg = dataclasses.replace(nas_experiment.Config.quick(), epochs=2, population=4, generations=2,
                              random_subnets=1, calibration_images=64)
    metrics = nas_experiment.run(cfg, tmp_path, seed=0)
    for prefix in ("nsga2/", "random/"):
        for key in ("pareto_size", "best_acc", "best_speedup_vs_isaac", "acc_at_best_speedup",
                    "hypervolume"):
            assert np.isfinite(metrics[prefix + key])
        assert metrics[prefix + "hypervolume"] > 0 and metrics[prefix + "pareto_size"] >= 1
    assert metrics["supernet/acc_largest"] >= 0.7                 # digits, 10 classes: chance is 0.1
    assert metrics["nsga2/best_speedup_vs_isaac"] > 1.0           # duplication on 80 crossbars pays
    assert metrics["nsga2/acc_at_best_speedup"] <= metrics["nsga2/best_acc"]
    assert metrics["pick/accuracy/test_acc"] >= 0.5               # chosen on validation, scored on test
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["config"]["budget"] == 80 and saved["config"]["valid_fraction"] == 0.2
    assert (tmp_path / "pareto.png").stat().st_size > 10_000
    assert "speed-optimised pick" in (tmp_path / "results.md").read_text()
    assert_contract("nas", tmp_path, metrics)


def test_nas_config_names_the_problem():
    from train.experiments import nas as nas_experiment

    with pytest.raises(ValueError, match="width"):
        nas_experiment.Config(width=1.5)
    with pytest.raises(ValueError, match="dataset"):
        nas_experiment.Config(dataset="imagenet")
