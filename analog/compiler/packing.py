"""Pack pieces into crossbars: 2-D bin packing with empty maximal spaces.

Each crossbar keeps its empty maximal spaces (EMS: the largest empty
rectangles, possibly overlapping). A piece goes into an EMS of a crossbar at the
EMS's corner; the EMS is chosen by the reference's DFTRC-2 rule (the fitting
EMS that leaves the piece farthest from the opposite corner, i.e. packs it
tight into the origin). Every EMS the piece overlaps is replaced by the up to
four maximal spaces around it, and spaces inside others are dropped. Pieces are
never rotated (rows are inputs, columns are outputs).

Rules (``CompilerSpec``): a crossbar never holds two pieces of layers whose
indices differ by <= ``layer_gap``, nor more than ``max_load`` pieces.

Crossbar choice:
  ``"first_fit"``: the lowest-index open crossbar that takes the piece; a new
    one is opened when none does (fewest crossbars).
  ``"best_fit"``: all crossbars open; the fullest one that takes the piece.
  ``"balanced"``: all crossbars open; the one that takes the piece with the
    least conflict with the layers already on it (``conflict[l, m]``: how long
    layers l and m would wait for each other on one crossbar, e.g.
    :func:`analog.compiler.latency.conflict_matrix`; default 1 per pair, which
    balances the layer count), ties to the lowest index.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from analog.compiler.boxes import Pieces
from analog.compiler.network import CompilerSpec

__all__ = ["Placement", "pack", "pack_or_fail", "default_order", "check_placement", "RULES"]

RULES = ("first_fit", "best_fit", "balanced")


@dataclasses.dataclass(frozen=True)
class Placement:
    """Where every piece sits: crossbar index and (row, col) offset in cells, (P,) each."""

    crossbar: np.ndarray
    row: np.ndarray
    col: np.ndarray
    n_crossbars: int

    def utilisation(self, pieces: Pieces, cells: int, pool: int | None = None) -> float:
        """Placed cells / cells of ``pool`` crossbars (default: the crossbars in use)."""
        pool = self.n_crossbars if pool is None else pool
        return float(pieces.area.sum() / (cells * pool))


def default_order(pieces: Pieces) -> np.ndarray:
    """Decreasing area, then rows, then layer: big pieces first."""
    return np.lexsort((pieces.layer, -pieces.rows, -pieces.area))


def _split(ems: list, box: tuple) -> list:
    """Replace every EMS overlapping ``box`` by the maximal spaces around it."""
    r1, c1, r2, c2 = box
    out = []
    for e in ems:
        if e[0] >= r2 or r1 >= e[2] or e[1] >= c2 or c1 >= e[3]:
            out.append(e)
            continue
        if r1 > e[0]:
            out.append((e[0], e[1], r1, e[3]))
        if r2 < e[2]:
            out.append((r2, e[1], e[2], e[3]))
        if c1 > e[1]:
            out.append((e[0], e[1], e[2], c1))
        if c2 < e[3]:
            out.append((e[0], c2, e[2], e[3]))
    return [a for i, a in enumerate(out)
            if not any(j != i and b[0] <= a[0] and b[1] <= a[1] and a[2] <= b[2] and a[3] <= b[3]
                       and (b != a or j < i) for j, b in enumerate(out))]


def _fit(ems: list, h: int, w: int, rows: int, cols: int):
    """DFTRC-2: the fitting EMS corner farthest from the far corner, or None."""
    best, best_score = None, -1
    for e in ems:
        if e[2] - e[0] >= h and e[3] - e[1] >= w:
            score = (rows - e[0] - h) ** 2 + (cols - e[1] - w) ** 2
            if score > best_score:
                best, best_score = e, score
    return best


def pack(pieces: Pieces, spec: CompilerSpec, n_crossbars: int | None = None,
         order: np.ndarray | None = None, rule: str = "first_fit",
         conflict: np.ndarray | None = None) -> Placement | None:
    """Place every piece (module rules); None if ``n_crossbars`` are not enough.

    n_crossbars: the budget (None: as many as first fit needs; ``"balanced"``
    and ``"best_fit"`` spread over all of them and need a budget). order: (P,)
    the order pieces are placed in (default :func:`default_order`).
    conflict: (L, L) cost of two layers sharing a crossbar, for ``"balanced"``.
    """
    return pack_or_fail(pieces, spec, n_crossbars, order, rule, conflict)[0]


def pack_or_fail(pieces: Pieces, spec: CompilerSpec, n_crossbars: int | None = None,
                 order: np.ndarray | None = None, rule: str = "first_fit",
                 conflict: np.ndarray | None = None) -> tuple[Placement | None, int | None]:
    """:func:`pack`, and the index of the first piece that found no room (or None)."""
    if rule not in RULES:
        raise ValueError(f"rule = {rule!r} is invalid: allowed one of {RULES}")
    if rule != "first_fit" and n_crossbars is None:
        raise ValueError(f"rule {rule!r} needs n_crossbars (a budget)")
    n_pieces = len(pieces)
    order = default_order(pieces) if order is None else np.asarray(order)
    n_layers = int(pieces.layer.max()) + 1
    conflict = (np.ones((n_layers, n_layers)) if conflict is None
                else np.asarray(conflict, dtype=np.float64))
    limit = n_pieces if n_crossbars is None else n_crossbars
    rows, cols, gap = spec.xbar_rows, spec.xbar_cols, spec.layer_gap
    if np.any(pieces.rows > rows) or np.any(pieces.cols > cols):
        raise ValueError("a piece is larger than the crossbar: partition the boxes first")
    ems = [[(0, 0, rows, cols)] for _ in range(limit)]
    load = np.zeros(limit, dtype=np.int64)
    free = np.full(limit, rows * cols, dtype=np.int64)
    max_h = np.full(limit, rows, dtype=np.int64)
    max_w = np.full(limit, cols, dtype=np.int64)
    pressure = np.zeros((limit, n_layers))    # conflict a piece of layer l would meet on k
    blocked = np.zeros((limit, n_layers + 2 * gap), dtype=bool)     # column = layer + gap
    n_open = 0 if rule == "first_fit" else limit
    room = np.ones(limit, dtype=bool)         # load < max_load
    where = np.full((n_pieces, 3), -1, dtype=np.int64)
    layers, heights, widths = pieces.layer.tolist(), pieces.rows.tolist(), pieces.cols.tolist()
    for p in order.tolist():
        layer, h, w = layers[p], heights[p], widths[p]
        ok = room[:n_open] & (free[:n_open] >= h * w) & (max_h[:n_open] >= h) & (max_w[:n_open] >= w)
        ok &= ~blocked[:n_open, layer + gap]
        candidates = np.flatnonzero(ok)
        if rule == "balanced":
            candidates = candidates[np.argsort(pressure[candidates, layer], kind="stable")]
        elif rule == "best_fit":
            candidates = candidates[np.argsort(free[candidates], kind="stable")]
        spot = None
        for k in candidates:
            spot = _fit(ems[k], h, w, rows, cols)
            if spot is not None:
                break
        if spot is None:
            if n_open == limit:
                return None, int(p)
            k, spot, n_open = n_open, (0, 0, rows, cols), n_open + 1
        box = (spot[0], spot[1], spot[0] + h, spot[1] + w)
        ems[k] = _split(ems[k], box)
        load[k] += 1
        room[k] = load[k] < spec.max_load
        free[k] -= h * w
        if rule == "balanced":
            pressure[k] += conflict[layer]
        max_h[k] = max((e[2] - e[0] for e in ems[k]), default=0)
        max_w[k] = max((e[3] - e[1] for e in ems[k]), default=0)
        blocked[k, layer:layer + 2 * gap + 1] = True
        where[p] = (k, spot[0], spot[1])
    return Placement(where[:, 0], where[:, 1], where[:, 2], int((load > 0).sum())), None


def check_placement(pieces: Pieces, placement: Placement, spec: CompilerSpec) -> list[str]:
    """Every broken rule as a message (empty list: the placement is valid).

    Checks: each piece inside its crossbar, no two pieces overlap, at most
    ``max_load`` pieces per crossbar, no two pieces of layers within
    ``layer_gap`` on one crossbar.
    """
    problems = []
    r1, c1 = placement.row, placement.col
    r2, c2 = r1 + pieces.rows, c1 + pieces.cols
    outside = (r1 < 0) | (c1 < 0) | (r2 > spec.xbar_rows) | (c2 > spec.xbar_cols) | (placement.crossbar < 0)
    problems += [f"piece {p} leaves its crossbar" for p in np.flatnonzero(outside)]
    for k in np.unique(placement.crossbar):
        on = np.flatnonzero(placement.crossbar == k)
        if len(on) > spec.max_load:
            problems.append(f"crossbar {k} holds {len(on)} pieces > max_load {spec.max_load}")
        for i, a in enumerate(on):
            for b in on[i + 1:]:
                if r1[a] < r2[b] and r1[b] < r2[a] and c1[a] < c2[b] and c1[b] < c2[a]:
                    problems.append(f"pieces {a} and {b} overlap on crossbar {k}")
                if abs(int(pieces.layer[a]) - int(pieces.layer[b])) <= spec.layer_gap:
                    problems.append(f"pieces {a} and {b} (layers {pieces.layer[a]}, {pieces.layer[b]}) "
                                    f"share crossbar {k}")
    return problems
