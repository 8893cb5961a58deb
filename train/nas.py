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

import jax
import jax.numpy as jnp
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
from train import report
from train.fit import fit, make_optimizer, steps_per_epoch
from train.loop import cross_entropy

__all__ = ["train_supernet", "AccuracyOracle", "LatencyOracle", "Evaluation", "nsga2",
           "random_search", "pareto", "hypervolume", "MOBILENETV3_SMALL"]

# torchvision's MobileNetV3-small written in the OFA space (expansion 72/16 -> 4, 88/24 -> 4,
# 96/24 -> 4, 240/40 -> 6, 120/40 -> 3, 144/48 -> 3, 288/48 -> 6, 576/96 -> 6); unused blocks 3 / 3
MOBILENETV3_SMALL = ofa.Arch(kernels=(3, 3, 3, 3, 5, 5, 5, 3, 5, 5, 3, 3, 5, 5, 5, 3),
                             expands=(4, 4, 3, 3, 4, 6, 6, 3, 3, 3, 3, 3, 6, 6, 6, 3),
                             depths=(2, 3, 2, 3))


def train_supernet(model: ofa.Supernet, x: np.ndarray, y: np.ndarray, *, epochs: int,
                   batch_size: int, learning_rate: float, seed: int, random_subnets: int = 1,
                   on_epoch_end: Callable[[int, float], None] | None = None, progress: bool = True) -> dict:
    """Train the supernet with the sandwich rule (on ``train.fit``); returns its variables.

    Every step sums the losses of the largest, the smallest and ``random_subnets``
    uniformly drawn sub-networks on the same batch (one ``lax.scan`` over them,
    one over the batches of an epoch), batch statistics updated by each in turn.
    Adam with a cosine decay. x: (n, H, W, C) float32, y: (n,) int labels.
    ``on_epoch_end(epoch, train loss)`` after each epoch (epochs counted from 1).
    """
    root = jax.random.PRNGKey(seed)
    variables = jax.jit(lambda: model.init(root, jnp.zeros((1, *x.shape[1:])), ofa.largest()))()
    optimizer = make_optimizer("adam", learning_rate, schedule="cosine",
                               total_steps=epochs * steps_per_epoch(len(x), batch_size))
    fixed = jnp.stack([jnp.asarray(ofa.largest()), jnp.asarray(ofa.smallest())])

    def loss_fn(variables, batch, rngs, context):
        xb, yb = batch
        genes = jnp.concatenate([fixed, jax.random.randint(rngs["step"], (random_subnets, ofa.N_GENES), 0, 3)])

        def one(stats, g):
            logits, updated = model.apply({"params": variables["params"], "batch_stats": stats}, xb, g,
                                          train=True, mutable=["batch_stats"])
            return updated["batch_stats"], cross_entropy(logits, yb)

        stats, losses = jax.lax.scan(one, variables["batch_stats"], genes)
        return losses.sum(), {"batch_stats": stats}

    callbacks = () if on_epoch_end is None else (lambda e, state, m: on_epoch_end(e, m["loss"]),)
    result = fit(loss_fn, variables, optimizer, epochs=epochs, data=(x, y), batch_size=batch_size, seed=seed,
                 callbacks=callbacks, restore_best=False, desc="supernet", progress=progress)
    return result.variables


class AccuracyOracle:
    """genes -> test accuracy of the sub-network with inherited weights, cached.

    Batch norm is recalibrated for each sub-network first (its statistics are
    recomputed on ``x_calibrate`` in training mode, as OFA does), then the test
    set is classified with them. One compiled function serves every
    architecture (the genes are traced).
    """

    def __init__(self, model: ofa.Supernet, variables: dict, x_calibrate, x_test, y_test):
        self.variables = variables
        calibrate = model.clone(bn_momentum=0.0)          # running stats := this batch's stats
        x_calibrate, x_test, y_test = (jnp.asarray(a) for a in (x_calibrate, x_test, y_test))

        def accuracy(variables, genes):
            _, updated = calibrate.apply(variables, x_calibrate, genes, train=True,
                                         mutable=["batch_stats"])
            logits = model.apply({"params": variables["params"], **updated}, x_test, genes)
            return jnp.mean(jnp.argmax(logits, -1) == y_test)

        self._accuracy = jax.jit(accuracy)
        self.cache: dict[tuple, float] = {}

    def __call__(self, genes) -> float:
        key = ofa.canonical(genes)
        if key not in self.cache:
            self.cache[key] = float(self._accuracy(self.variables, jnp.asarray(key)))
        return self.cache[key]


class LatencyOracle:
    """genes -> speed-up over ``baseline_latency_s`` on ``budget`` crossbars, or None if
    the sub-network does not fit; cached by architecture.

    input_shape: (H, W, C) the latency is evaluated at; width: the supernet's
    width multiplier; strategy: the compiler's.
    """

    def __init__(self, budget: int, baseline_latency_s: float, input_shape: tuple,
                 num_classes: int = 10, spec: CompilerSpec = CompilerSpec(), strategy: str = "greedy",
                 width: float = 1.0):
        self.budget, self.baseline = budget, baseline_latency_s
        self.input_shape, self.num_classes, self.width = tuple(input_shape), num_classes, width
        self.spec, self.strategy = spec, strategy
        self.cache: dict[tuple, float | None] = {}

    def network(self, genes):
        return trace(ofa.SubNet(arch=ofa.decode(genes), num_classes=self.num_classes, width=self.width),
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


def _first_population(population: int, seed: int, known) -> np.ndarray | IntegerRandomSampling:
    if known is None or len(known) == 0:
        return IntegerRandomSampling()
    rng = np.random.default_rng(seed)
    known = np.asarray(known, dtype=np.int64).reshape(-1, ofa.N_GENES)[:population]
    return np.concatenate([known, rng.integers(0, 3, (population - len(known), ofa.N_GENES))])


def nsga2(evaluate: Evaluation, population: int, generations: int, seed: int,
          known: np.ndarray | None = None) -> np.ndarray:
    """pymoo NSGA-II over integer genes (SBX and polynomial mutation with rounding).

    known: (k, 36) genes placed in the first population (e.g. the largest and
    smallest sub-networks, which the sandwich rule trains best); the rest is
    uniform. Returns the (n, 2) objectives (accuracy, speed-up) of the final
    feasible population; every evaluation is also in ``evaluate.log``.
    """
    algorithm = NSGA2(pop_size=population, sampling=_first_population(population, seed, known),
                      crossover=SBX(prob=0.9, eta=15, vtype=float, repair=RoundingRepair()),
                      mutation=PM(eta=20, vtype=float, repair=RoundingRepair()),
                      eliminate_duplicates=True)
    result = minimize(_Problem(evaluate), algorithm, ("n_gen", generations), seed=seed, verbose=False)
    feasible = result.pop.get("G")[:, 0] <= 0
    return -result.pop.get("F")[feasible]


def random_search(evaluate: Evaluation, n: int, seed: int, known: np.ndarray | None = None) -> np.ndarray:
    """``known`` genes, then uniformly drawn ones, ``n`` in all; (m, 2) objectives of the
    feasible ones."""
    rng = np.random.default_rng(seed)
    known = [] if known is None else list(np.asarray(known).reshape(-1, ofa.N_GENES))
    genes = known[:n] + [rng.integers(0, 3, ofa.N_GENES) for _ in range(n - len(known[:n]))]
    points = [evaluate(g) for g in genes]
    return np.array([p for p in points if p is not None]).reshape(-1, 2)


def pareto(points: np.ndarray) -> np.ndarray:
    """Rows of (accuracy, speed-up) no other row beats in both (sorted by speed-up)."""
    return report.pareto_front(points, sort_by=1)


def hypervolume(points: np.ndarray) -> float:
    """Area dominated by (accuracy, speed-up) points above (0, 0) (pymoo HV)."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return float(HV(ref_point=np.zeros(2))(-points)) if len(points) else 0.0
