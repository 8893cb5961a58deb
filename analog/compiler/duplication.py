"""Layer duplication as a mixed-integer program (scipy.optimize.milp, HiGHS).

Choose copies x_l >= 1 of every layer so that the pipeline runs fastest within
an area budget. A copy of layer l costs A_l cells and p_l pieces, and with x
copies the layer takes d_l(x) = ceil(c_l / x) cycles per sample. Because d is a
step function of x, each layer gets one binary per useful copy count (the
smallest x for each distinct d), and exactly one is chosen (a multiple-choice
knapsack):

    objective "latency":    minimise sum_l d_l + (samples - 1) max(max_l d_l, W / N)
                            (the private-crossbar makespan, with the period
                            floored at the crossbar-time bound: each of the N
                            crossbars serves one piece at a time, and the work
                            W = sum_l p_l c_l piece-cycles per sample does not
                            shrink with copies)
    objective "throughput": minimise max_l d_l (the reference's bottleneck LP)
    subject to  sum_l x_l A_l <= budget_cells,
                for every window of layer_gap + 1 consecutive layers (whose pieces
                pairwise may not share a crossbar):
                  sum_{l in window} x_l p_l + sum_{l not in window} x_l f_l <= crossbars,
                sum_l x_l (p_l + (max_load - 1) f_l) <= crossbars max_load,
    where f_l counts the pieces that fill a whole crossbar (nothing else fits
    beside them).

Ties are broken towards fewer cells.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix

__all__ = ["copy_options", "duplicate"]


def copy_options(cycles: int, max_copies: int) -> tuple[np.ndarray, np.ndarray]:
    """Useful copy counts of a layer with ``cycles`` vectors: (copies, durations).

    copies[j] is the smallest x <= max_copies with duration ceil(cycles / x) =
    durations[j]; durations strictly decrease.
    """
    x = np.arange(1, max(1, min(cycles, max_copies)) + 1)
    d = -(-cycles // x)
    keep = np.concatenate([[True], d[1:] < d[:-1]])
    return x[keep], d[keep]


def duplicate(cycles: np.ndarray, areas: np.ndarray, pieces: np.ndarray, budget_cells: float,
              crossbars: int, max_load: float, samples: int, objective: str = "latency",
              layer_gap: int = 1, full: np.ndarray | None = None,
              gap: float = 1e-2, time_limit: float = 10.0) -> np.ndarray | None:
    """Copies per layer, (L,) int, or None when even one copy each does not fit.

    cycles, areas, pieces: (L,) per single copy of each layer: input vectors per
    sample, cells, pieces; full: (L,) of those pieces, how many fill a crossbar
    (default none). budget_cells: total cells allowed. crossbars, max_load,
    layer_gap: the packing rules the copies must leave satisfiable (max_load
    may be fractional: a margin on the piece slots). gap:
    HiGHS's relative optimality gap (the packing that follows costs more than
    1 %); time_limit: seconds.
    """
    if objective not in ("latency", "throughput"):
        raise ValueError(f"objective = {objective!r} is invalid: allowed one of ('latency', 'throughput')")
    full = np.zeros_like(pieces) if full is None else full
    cycles, areas, pieces, full = (np.asarray(a, dtype=np.int64) for a in (cycles, areas, pieces, full))
    n_layers = len(cycles)
    spare = budget_cells - areas.sum()
    if spare < 0 or pieces.max() > crossbars or (pieces + (max_load - 1) * full).sum() > crossbars * max_load:
        return None
    options = []
    for c, a, p in zip(cycles, areas, pieces):
        most = min(1 + int(spare // a), crossbars // p)
        options.append(copy_options(int(c), most))
    layer_of = np.concatenate([np.full(len(x), l) for l, (x, _) in enumerate(options)])
    copies = np.concatenate([x for x, _ in options])
    dur = np.concatenate([d for _, d in options]).astype(np.float64)
    n_var = len(copies) + 1                              # binaries, then M = max duration
    cols = np.arange(len(copies))
    cell_cost = copies * areas[layer_of]
    tie = cell_cost / (2.0 * budget_cells)               # < 1 cycle in total
    if objective == "latency":
        c = np.append(dur + tie, samples - 1)
    else:
        c = np.append(tie, 1.0)
    rows = []
    # one option per layer
    rows.append(LinearConstraint(coo_matrix((np.ones(len(cols)), (layer_of, cols)),
                                            shape=(n_layers, n_var)), 1, 1))
    # M >= d_l  <=>  sum_j d_lj y_lj - M <= 0
    a_max = coo_matrix((np.append(dur, -np.ones(n_layers)),
                        (np.append(layer_of, np.arange(n_layers)),
                         np.append(cols, np.full(n_layers, n_var - 1)))), shape=(n_layers, n_var))
    rows.append(LinearConstraint(a_max, -np.inf, 0))
    # area and total pieces
    piece_cost = copies * pieces[layer_of]
    rows.append(LinearConstraint(np.append(cell_cost, 0.0)[None, :], -np.inf, budget_cells))
    full_cost = copies * full[layer_of]
    load_cost = piece_cost + (max_load - 1) * full_cost
    rows.append(LinearConstraint(np.append(load_cost, 0.0)[None, :], -np.inf, crossbars * max_load))
    # any layer_gap + 1 consecutive layers pairwise conflict: their pieces need distinct
    # crossbars, none of them taken by a crossbar-filling piece of another layer
    window = min(layer_gap + 1, n_layers)
    starts = np.arange(n_layers - window + 1)
    inside = (layer_of[None, :] >= starts[:, None]) & (layer_of[None, :] < starts[:, None] + window)
    a_window = np.where(inside, piece_cost[None, :], full_cost[None, :])
    rows.append(LinearConstraint(np.hstack([a_window, np.zeros((len(starts), 1))]), -np.inf, crossbars))
    integrality = np.append(np.ones(len(copies)), 0)
    floor = (pieces * cycles).sum() / crossbars if objective == "latency" else 0.0
    bounds = Bounds(np.append(np.zeros(len(copies)), floor), np.append(np.ones(len(copies)), np.inf))
    result = milp(c, constraints=rows, integrality=integrality, bounds=bounds,
                  options={"time_limit": time_limit, "mip_rel_gap": gap})
    if result.x is None:
        return None
    chosen = result.x[:-1] > 0.5
    out = np.ones(n_layers, dtype=np.int64)
    out[layer_of[chosen]] = copies[chosen]
    return out
