"""RRAM-aware architecture search over the OFA MobileNetV3-small space.

Objectives are oracles over the 36 integer genes of :mod:`models.ofa`, cached by
architecture (:func:`models.ofa.canonical`):

* :class:`LatencyOracle`: trace the static sub-network, compile it onto a
  budget of crossbars (:func:`analog.compiler.compile`: partition, duplicate,
  pack) and return its speed-up over a fixed baseline latency (the ISAAC-like
  MobileNetV3-small); None when it does not fit the budget.
* any accuracy function ``genes -> float`` (the supernet's sub-network with
  batch-norm recalibration).

:func:`nsga2` runs pymoo's NSGA-II with integer genes and "does not fit" as an
inequality constraint; :func:`random_search` draws the same number of
architectures uniformly; :func:`pareto` and :func:`hypervolume` (pymoo's HV,
reference point accuracy 0, speed-up 0) compare them.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from pymoo.algorithms.moo.nsga2 import NSGA2
from pymoo.core.problem import ElementwiseProblem
from pymoo.indicators.hv import HV
from pymoo.operators.crossover.sbx import SBX
from pymoo.operators.mutation.pm import PM
from pymoo.operators.repair.rounding import RoundingRepair
from pymoo.operators.sampling.rnd import IntegerRandomSampling
from pymoo.optimize import minimize

from analog.compiler import CompilerSpec, compile
from models import ofa
from models.trace import trace

__all__ = ["LatencyOracle", "Evaluation", "nsga2", "random_search", "pareto", "hypervolume"]


class LatencyOracle:
    """genes -> speed-up over ``baseline_latency_s`` on ``budget`` crossbars, or None if
    the sub-network does not fit; cached by architecture.

    input_shape: (H, W, C) the latency is evaluated at; strategy: the compiler's.
    """

    def __init__(self, budget: int, baseline_latency_s: float, input_shape: tuple,
                 num_classes: int = 10, spec: CompilerSpec = CompilerSpec(), strategy: str = "greedy"):
        self.budget, self.baseline = budget, baseline_latency_s
        self.input_shape, self.num_classes = tuple(input_shape), num_classes
        self.spec, self.strategy = spec, strategy
        self.cache: dict[tuple, float | None] = {}

    def network(self, genes):
        return trace(ofa.SubNet(arch=ofa.decode(genes), num_classes=self.num_classes),
                     self.input_shape, name="ofa_subnet")

    def __call__(self, genes) -> float | None:
        key = ofa.canonical(genes)
        if key not in self.cache:
            try:
                mapping = compile(self.network(key), self.budget, self.spec, self.strategy)
                self.cache[key] = self.baseline / mapping.latency_s
            except ValueError:                       # does not fit the budget
                self.cache[key] = None
        return self.cache[key]


class Evaluation:
    """Both objectives of one architecture and a log of every evaluation.

    ``evaluate(genes)`` -> (accuracy, speed-up), or None when it does not fit (the
    accuracy is then not computed). ``log``: (genes, accuracy, speed-up) rows.
    """

    def __init__(self, accuracy: Callable, latency: Callable):
        self.accuracy, self.latency = accuracy, latency
        self.log: list[tuple[tuple, float, float]] = []

    def __call__(self, genes):
        genes = ofa.canonical(np.asarray(genes).round().astype(np.int64))
        speedup = self.latency(genes)
        if speedup is None:
            return None
        acc = float(self.accuracy(genes))
        self.log.append((genes, acc, float(speedup)))
        return acc, float(speedup)


class _Problem(ElementwiseProblem):
    """Minimise (-accuracy, -speed-up) subject to fitting the budget (g <= 0)."""

    def __init__(self, evaluate: Evaluation):
        super().__init__(n_var=ofa.N_GENES, n_obj=2, n_ieq_constr=1, xl=0, xu=2, vtype=int)
        self.objectives = evaluate

    def _evaluate(self, x, out, *args, **kwargs):
        result = self.objectives(x)
        out["F"] = [0.0, 0.0] if result is None else [-result[0], -result[1]]
        out["G"] = [1.0 if result is None else -1.0]


def nsga2(evaluate: Evaluation, population: int, generations: int, seed: int) -> np.ndarray:
    """pymoo NSGA-II over integer genes (SBX and polynomial mutation with rounding).

    Returns the (n, 2) objectives (accuracy, speed-up) of the final feasible
    population; every evaluation is also in ``evaluate.log``.
    """
    algorithm = NSGA2(pop_size=population, sampling=IntegerRandomSampling(),
                      crossover=SBX(prob=0.9, eta=15, vtype=float, repair=RoundingRepair()),
                      mutation=PM(eta=20, vtype=float, repair=RoundingRepair()),
                      eliminate_duplicates=True)
    result = minimize(_Problem(evaluate), algorithm, ("n_gen", generations), seed=seed, verbose=False)
    feasible = result.pop.get("G")[:, 0] <= 0
    return -result.pop.get("F")[feasible]


def random_search(evaluate: Evaluation, n: int, seed: int) -> np.ndarray:
    """``n`` uniformly drawn architectures; (m, 2) objectives of the feasible ones."""
    rng = np.random.default_rng(seed)
    points = [evaluate(rng.integers(0, 3, ofa.N_GENES)) for _ in range(n)]
    return np.array([p for p in points if p is not None]).reshape(-1, 2)


def pareto(points: np.ndarray) -> np.ndarray:
    """Rows of (accuracy, speed-up) no other row beats in both (sorted by speed-up)."""
    points = np.unique(np.asarray(points, dtype=np.float64).reshape(-1, 2), axis=0)
    keep = [not np.any(np.all(points >= p, axis=1) & np.any(points > p, axis=1)) for p in points]
    front = points[np.array(keep, dtype=bool)] if len(points) else points
    return front[np.argsort(front[:, 1])]


def hypervolume(points: np.ndarray) -> float:
    """Area dominated by (accuracy, speed-up) points above (0, 0) (pymoo HV)."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return float(HV(ref_point=np.zeros(2))(-points)) if len(points) else 0.0
