"""compile(network, budget, spec): partition, duplicate, pack, and time a network.

Strategies:
  ``"reference"``: the RRAM-NAS reference's choices: copies maximise the
    bottleneck throughput, pieces are placed first-fit in a random order.
  ``"greedy"``: copies minimise the pipeline latency; pieces are placed by the
    fastest of a few recipes (biggest-area or longest-side first; each on the
    crossbar that conflicts least in time with the layers already on it, or
    that holds the fewest layers, or best fit); without a budget, the fewest
    crossbars first fit reaches over a few orders.
  ``"search"``: the greedy copies, and a biased random-key genetic search
    (pymoo BRKGA) over the placement order, seeded with the greedy order, that
    minimises the latency (with a budget) or the crossbar count (without).

With a budget, the copies may use ``margin`` of the budget's cells (and, for
the greedy and search strategies, of its piece slots, max_load per crossbar,
which bind for depth-wise networks full of small pieces); the margin
starts at ``margins[0]`` and steps down whenever the packing fails (the
reference's loop, 0.95 to 0.60). After a packing succeeds, the greedy and search
strategies fill the spare cells: one copy at a time goes to the layer that cuts
the latency most per cell, kept while the packing still succeeds.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from analog.compiler import search
from analog.compiler.boxes import (Pieces, copy_pieces, layer_areas, layer_cycles,
                                   layer_piece_counts, network_pieces)
from analog.compiler.duplication import duplicate
from analog.compiler.latency import conflict_matrix, ideal_latency, layer_durations, pipeline_latency
from analog.compiler.network import CompilerSpec, Network
from analog.compiler.packing import Placement, default_order, pack

__all__ = ["Mapping", "compile", "STRATEGIES", "MARGINS"]

STRATEGIES = ("reference", "greedy", "search")
MARGINS = tuple(np.round(np.arange(0.95, 0.599, -0.05), 2))
MAX_FILL = 24
FILL_PATIENCE = 6
# (order, rule, conflict model), see _greedy; each of these wins on some network and budget
RECIPES = ((0, "balanced", "windows"), (0, "balanced", "busy"), (0, "balanced", "count"),
           (0, "best_fit", "count"), (1, "balanced", "windows"), (1, "balanced", "busy"))


@dataclasses.dataclass(frozen=True)
class Mapping:
    """A compiled network: which piece sits where, and how fast it runs.

    copies: (L,) copies per layer. pieces: every piece of every copy.
    placement: crossbar and (row, col) offset of every piece. durations: (L,)
    cycles per sample of each layer. latency_s: makespan of ``spec.samples``
    samples (seconds); ideal_latency_s: the same copies with every piece on a
    crossbar of its own; isaac_latency_s: one copy per layer, every piece on its
    own crossbar (the ISAAC-like baseline). budget: crossbars available (None:
    as many as needed). margin: share of the budget's cells the copies could use.
    """

    network: Network
    spec: CompilerSpec
    strategy: str
    budget: int | None
    margin: float | None
    copies: np.ndarray
    pieces: Pieces
    placement: Placement
    durations: np.ndarray
    latency_s: float
    ideal_latency_s: float
    isaac_latency_s: float

    @property
    def n_crossbars(self) -> int:
        """Crossbars that hold at least one piece."""
        return self.placement.n_crossbars

    @property
    def utilisation(self) -> float:
        """Weight cells / cells of the budget's crossbars (of the used ones without a budget)."""
        return self.placement.utilisation(self.pieces, self.spec.cells, self.budget)

    @property
    def speedup_vs_isaac(self) -> float:
        return self.isaac_latency_s / self.latency_s

    def summary(self) -> dict:
        """Scalar figures for reports."""
        return {"pieces": len(self.pieces), "crossbars": self.n_crossbars,
                "utilisation": self.utilisation, "latency_s": self.latency_s,
                "ideal_latency_s": self.ideal_latency_s, "isaac_latency_s": self.isaac_latency_s,
                "speedup_vs_isaac": self.speedup_vs_isaac, "max_copies": int(self.copies.max()),
                "margin": self.margin}



def _check(network: Network, budget: int | None, strategy: str) -> None:
    if not isinstance(network, Network):
        raise TypeError(f"network must be an analog.compiler.Network, got {type(network).__name__}")
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy = {strategy!r} is invalid: allowed one of {STRATEGIES}")
    if budget is not None and (not isinstance(budget, (int, np.integer)) or budget < 1):
        raise ValueError(f"budget = {budget!r} is invalid: allowed a positive int or None")


def _conflict(model: str, durations: np.ndarray, samples: int) -> np.ndarray | None:
    """(L, L) conflict matrix of a recipe's model (see :func:`_greedy`)."""
    if model == "windows":
        return conflict_matrix(durations, samples)
    if model == "busy":
        return np.repeat(np.asarray(durations, dtype=np.float64)[:, None], len(durations), 1)
    return None


def _orders(pieces: Pieces) -> tuple[np.ndarray, np.ndarray]:
    """Placement orders: biggest area first, longest side first."""
    return default_order(pieces), np.lexsort((-pieces.area, -np.maximum(pieces.rows, pieces.cols)))


def _greedy(pieces: Pieces, spec: CompilerSpec, budget: int, copies: np.ndarray,
            durations: np.ndarray, recipes=RECIPES):
    """Fastest placement over the recipes: (placement, latency in cycles, recipe), or
    (None, inf, None) when no recipe packs.

    A recipe is (order, rule, conflict model): order 0 = biggest area first,
    1 = longest side first; conflict model "windows" = activity-window overlap
    (:func:`conflict_matrix`), "busy" = the cycles per sample the crossbar is
    already busy, "count" = the number of layers already on it.
    """
    orders = _orders(pieces)
    best = (None, np.inf, None)
    for recipe in recipes:
        order, rule, model = recipe
        placement = pack(pieces, spec, budget, orders[order], rule,
                         _conflict(model, durations, spec.samples))
        if placement is None:
            continue
        latency = pipeline_latency(pieces, copies, placement.crossbar, spec.samples)
        if latency < best[1]:
            best = (placement, latency, recipe)
    return best


def _fewest(pieces: Pieces, spec: CompilerSpec, seed: int, tries: int = 4) -> Placement:
    """First fit in the fewest crossbars over a few orders: biggest area first,
    longest side first, and ``tries`` random orders."""
    rng = np.random.default_rng(seed)
    orders = list(_orders(pieces)) + [rng.permutation(len(pieces)) for _ in range(tries)]
    placements = [pack(pieces, spec, None, order) for order in orders]
    return min(placements, key=lambda p: p.n_crossbars)


def _fill(base: Pieces, cycles: np.ndarray, copies: np.ndarray, placed: tuple,
          spec: CompilerSpec, budget: int):
    """Add copies while they pack and pay: each step gives one more copy to the layer
    that cuts the private-crossbar latency most per cell, and keeps it if the winning
    recipe still packs and the packed latency drops (up to ``MAX_FILL`` tries,
    stopping after ``FILL_PATIENCE`` rejections in a row).

    placed: (pieces, placement, latency, recipe) of the current mapping.
    """
    n_layers = len(cycles)
    areas = layer_areas(base, n_layers)
    floor = (layer_piece_counts(base, n_layers) * cycles).sum() / budget
    exhausted = np.zeros(n_layers, dtype=bool)
    pieces, placement, latency, recipe = placed
    misses = 0
    for _ in range(MAX_FILL):
        if misses == FILL_PATIENCE:
            break
        spare = budget * spec.cells - pieces.area.sum()
        now = layer_durations(cycles, copies)
        base_cost = now.sum() + (spec.samples - 1) * max(now.max(), floor)
        gain = np.zeros(n_layers)
        for layer in np.flatnonzero(~exhausted & (areas <= spare) & (copies < cycles)):
            trial = now.copy()
            trial[layer] = -(-cycles[layer] // (copies[layer] + 1))
            cost = trial.sum() + (spec.samples - 1) * max(trial.max(), floor)
            gain[layer] = (base_cost - cost) / areas[layer]
        if gain.max() <= 0:
            break
        layer = int(np.argmax(gain))
        more = copies.copy()
        more[layer] += 1
        more_pieces = copy_pieces(base, more)
        more_placement, more_latency, _ = _greedy(more_pieces, spec, budget, more,
                                                  layer_durations(cycles, more), [recipe])
        if more_placement is None or more_latency >= latency:
            exhausted[layer] = True
            misses += 1
            continue
        copies, pieces, placement, latency = more, more_pieces, more_placement, more_latency
        misses = 0
    return copies, pieces, placement


def _plans(base: Pieces, cycles: np.ndarray, budget: int | None, spec: CompilerSpec,
           strategy: str, margins):
    """Yield (margin, copies) to try, largest margin first, then one copy each."""
    n_layers = len(cycles)
    ones = np.ones(n_layers, dtype=np.int64)
    tried = set()
    if budget is not None:
        objective = "throughput" if strategy == "reference" else "latency"
        areas, counts = layer_areas(base, n_layers), layer_piece_counts(base, n_layers)
        full = np.bincount(base.layer, weights=base.area == spec.cells, minlength=n_layers)
        for margin in margins:
            load = spec.max_load if strategy == "reference" else margin * spec.max_load
            copies = duplicate(cycles, areas, counts, margin * budget * spec.cells, budget,
                               load, spec.samples, objective, spec.layer_gap, full)
            if copies is not None and copies.tobytes() not in tried:
                tried.add(copies.tobytes())
                yield float(margin), copies
    if ones.tobytes() not in tried:
        yield None, ones


def _first_placement(base, cycles, budget, spec, strategy, margins, duplicate_layers, seed):
    """(margin, copies, pieces, placement, latency, recipe) of the first plan that packs."""
    for margin, copies in _plans(base, cycles, budget if duplicate_layers else None, spec,
                                 strategy, margins):
        pieces = copy_pieces(base, copies)
        durations = layer_durations(cycles, copies)
        if strategy == "reference":
            order = np.argsort(np.random.default_rng(seed).random(len(pieces)))
            placement, latency, recipe = pack(pieces, spec, budget, order=order), None, None
        elif budget is None:
            placement, latency, recipe = _fewest(pieces, spec, seed), None, (0, "first_fit", "count")
        else:
            placement, latency, recipe = _greedy(pieces, spec, budget, copies, durations)
        if placement is not None:
            return margin, copies, pieces, placement, latency, recipe
    return None


def compile(network: Network, budget: int | None = None, spec: CompilerSpec = CompilerSpec(),
            strategy: str = "greedy", duplicate_layers: bool = True, margins=None,
            seed: int = 0, search_options: dict | None = None) -> Mapping:
    """Map ``network`` onto ``budget`` crossbars (module docstring); a ValueError if it cannot fit.

    budget: crossbars available, or None to pack one copy of each layer into as
    few crossbars as the strategy finds. duplicate_layers: False keeps one copy
    per layer even with a budget. margins: cell shares to try, largest first
    (default: the reference's 0.95, 0.90, ..., 0.60; every other one for the
    greedy and search strategies, whose fill step uses the rest). seed: random
    order of the reference strategy and the search. search_options: keyword
    arguments of :func:`analog.compiler.search.search_order`.
    """
    _check(network, budget, strategy)
    if margins is None:
        margins = MARGINS if strategy == "reference" else MARGINS[::2]
    base = network_pieces(network, spec)
    n_layers = len(network.layers)
    cycles = layer_cycles(base, n_layers)
    isaac = ideal_latency(layer_durations(cycles, np.ones(n_layers, dtype=np.int64)), spec.samples)
    first = _first_placement(base, cycles, budget, spec, strategy, margins, duplicate_layers, seed)
    if first is None:
        raise ValueError(f"{network.name!r} does not fit in {budget} crossbars of "
                         f"{spec.xbar_rows}x{spec.xbar_cols} with these rules "
                         f"(one copy of each layer is {len(base)} pieces, "
                         f"{base.area.sum() / spec.cells:.1f} crossbars of cells)")
    margin, copies, pieces, placement, latency, recipe = first
    if budget is not None and strategy != "reference" and duplicate_layers:
        copies, pieces, placement = _fill(base, cycles, copies, (pieces, placement, latency, recipe),
                                          spec, budget)
    durations = layer_durations(cycles, copies)
    if strategy == "search":
        order, rule, model = recipe
        placement = search.search_order(pieces, spec, budget, rule, copies,
                                        _conflict(model, durations, spec.samples), seed=seed,
                                        start=_orders(pieces)[order], **(search_options or {}))
    latency = pipeline_latency(pieces, copies, placement.crossbar, spec.samples)
    ideal = ideal_latency(durations, spec.samples)
    return Mapping(network, spec, strategy, budget, margin, copies, pieces, placement, durations,
                   latency * spec.cycle_s, ideal * spec.cycle_s, isaac * spec.cycle_s)
