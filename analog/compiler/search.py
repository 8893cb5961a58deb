"""Search over placement orders: a biased random-key genetic algorithm (pymoo BRKGA).

A chromosome is one random key per piece; pieces are placed in key order by
:func:`analog.compiler.pack.pack`. Fitness with a budget: the pipeline latency
(cycles; an order that does not fit scores infinity). Without a budget: the
number of crossbars plus the fill of the emptiest one, so that among equal
counts the search prefers mappings closer to freeing a crossbar.
"""

from __future__ import annotations

import numpy as np
from pymoo.algorithms.soo.nonconvex.brkga import BRKGA
from pymoo.core.problem import ElementwiseProblem
from pymoo.optimize import minimize

from analog.compiler.boxes import Pieces
from analog.compiler.latency import pipeline_latency
from analog.compiler.network import CompilerSpec
from analog.compiler.packing import Placement, pack

__all__ = ["order_fitness", "search_order"]


def order_fitness(placement: Placement | None, pieces: Pieces, spec: CompilerSpec,
                  budget: int | None, copies: np.ndarray) -> float:
    """Score of a placement (lower is better); infinity if it did not fit."""
    if placement is None:
        return np.inf
    if budget is not None:
        return pipeline_latency(pieces, copies, placement.crossbar, spec.samples)
    fill = np.bincount(placement.crossbar, weights=pieces.area, minlength=placement.n_crossbars)
    return placement.n_crossbars + fill.min() / spec.cells


class _OrderProblem(ElementwiseProblem):
    def __init__(self, pieces, spec, budget, rule, copies, conflict):
        super().__init__(n_var=len(pieces), n_obj=1, xl=0.0, xu=1.0)
        self.args = (pieces, spec, budget, rule, copies, conflict)

    def _evaluate(self, keys, out, *args, **kwargs):
        pieces, spec, budget, rule, copies, conflict = self.args
        placement = pack(pieces, spec, budget, order=np.argsort(keys, kind="stable"), rule=rule,
                         conflict=conflict)
        out["F"] = order_fitness(placement, pieces, spec, budget, copies)


def search_order(pieces: Pieces, spec: CompilerSpec, budget: int | None, rule: str,
                 copies: np.ndarray, conflict: np.ndarray | None = None, seed: int = 0,
                 start: np.ndarray | None = None,
                 population: int = 24, generations: int = 15, elite: float = 0.25,
                 mutants: float = 0.15, bias: float = 0.7, spread: float = 0.05) -> Placement | None:
    """Best placement found by BRKGA; ``start`` (an order) is in the first population.

    The rest of the first population are the start's keys plus Gaussian noise of
    std ``spread`` (so they are local variations of it, most of which still
    pack), or uniform random keys without a start.

    rule, conflict: the packing rule and conflict matrix of :func:`pack`.

    population x generations packings are evaluated (plus the start). elite,
    mutants: shares of the population kept as elites and drawn fresh each
    generation; bias: chance a child takes an elite parent's key.
    """
    problem = _OrderProblem(pieces, spec, budget, rule, copies, conflict)
    rng = np.random.default_rng(seed)
    keys = rng.random((population, len(pieces)))
    if start is not None:
        ranked = np.empty(len(pieces))
        ranked[np.asarray(start)] = np.linspace(0.0, 1.0, len(pieces))
        keys = np.clip(ranked + spread * rng.standard_normal(keys.shape), 0.0, 1.0)
        keys[0] = ranked
    n_elites = max(1, int(round(elite * population)))
    n_mutants = max(1, int(round(mutants * population)))
    algorithm = BRKGA(n_elites=n_elites, n_offsprings=population - n_elites - n_mutants,
                      n_mutants=n_mutants, bias=bias, sampling=keys)
    result = minimize(problem, algorithm, ("n_gen", generations), seed=seed, verbose=False)
    if not np.isfinite(result.F[0]):
        return None
    return pack(pieces, spec, budget, order=np.argsort(result.X, kind="stable"), rule=rule,
                conflict=conflict)
