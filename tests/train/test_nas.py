"""NAS machinery: oracles, constraint handling, NSGA-II reproducibility, Pareto and hypervolume."""

import numpy as np
import pytest

from models import ofa
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
