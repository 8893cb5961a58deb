"""Layers to weight boxes, boxes to crossbar-sized pieces.

A box is the weight matrix one layer (or one chunk of a grouped layer) puts on
the arrays, with the number of input vectors ("cycles") it must serve per
sample. A piece is one crossbar-sized tile of a box; every piece of a box runs
all of the box's cycles (tiles work in parallel, partial sums are added
digitally).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from analog.compiler.network import CompilerSpec, Layer, Network

__all__ = ["Box", "Pieces", "layer_boxes", "partition", "network_pieces", "layer_cycles",
           "layer_areas", "layer_piece_counts", "copy_pieces"]


@dataclasses.dataclass(frozen=True)
class Box:
    """rows x cols weight cells serving ``cycles`` input vectors per sample."""

    rows: int
    cols: int
    cycles: int

    @property
    def area(self) -> int:
        return self.rows * self.cols


def layer_boxes(layer: Layer, spec: CompilerSpec) -> list[Box]:
    """Weight boxes of one layer.

    Standard / point-wise conv: (k_h k_w C_in) x C_out, one cycle per output pixel.
    Grouped conv (depth-wise when groups = C): every group needs its own input
    vector, so a box holding q groups is (k_h k_w C_in/g) x (q C_out/g) and runs
    q H_out W_out cycles; the groups are cut into chunks of
    max(1, g // spec.depthwise_split) groups (fewer if that is wider than a crossbar). Dense: in x out, one cycle per vector.
    """
    k = layer.kernel[0] * layer.kernel[1]
    if layer.groups == 1:
        return [Box(k * layer.in_channels, layer.out_channels, layer.pixels)]
    g = layer.groups
    rows = k * layer.in_channels // g
    cols_per_group = layer.out_channels // g
    # a chunk never outgrows a crossbar's width, so every piece serves only its own groups
    chunk = max(1, min(g // spec.depthwise_split, spec.xbar_cols // max(1, cols_per_group)))
    sizes = [min(chunk, g - start) for start in range(0, g, chunk)]
    return [Box(rows, q * cols_per_group, q * layer.pixels) for q in sizes]


def partition(box: Box, xbar_rows: int, xbar_cols: int) -> list[Box]:
    """Tile ``box`` into pieces of at most xbar_rows x xbar_cols, row-major.

    The pieces cover the box exactly (full tiles, then the remainders) and each
    keeps the box's cycle count.
    """
    row_sizes = [min(xbar_rows, box.rows - r) for r in range(0, box.rows, xbar_rows)]
    col_sizes = [min(xbar_cols, box.cols - c) for c in range(0, box.cols, xbar_cols)]
    return [Box(r, c, box.cycles) for r in row_sizes for c in col_sizes]


@dataclasses.dataclass(frozen=True)
class Pieces:
    """All pieces of a network, one entry per piece (NumPy int arrays of shape (P,)).

    layer: index of the layer in the network; copy: which duplicate of that
    layer (0 .. copies - 1); rows, cols: size in cells; cycles: input vectors the
    piece serves per sample when the layer has a single copy; box: which box of
    its layer the piece tiles (a grouped layer has one box per chunk; default 0).
    The pieces of one box copy work together (partial sums); different boxes and
    copies are independent.
    """

    layer: np.ndarray
    copy: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    cycles: np.ndarray
    box: np.ndarray | None = None

    def __post_init__(self):
        if self.box is None:
            object.__setattr__(self, "box", np.zeros_like(self.layer))

    def __len__(self) -> int:
        return len(self.layer)

    @property
    def area(self) -> np.ndarray:
        return self.rows * self.cols


def network_pieces(network: Network, spec: CompilerSpec) -> Pieces:
    """One copy of every layer, partitioned into crossbar-sized pieces."""
    entries = []
    for index, layer in enumerate(network.layers):
        for b, box in enumerate(layer_boxes(layer, spec)):
            for piece in partition(box, spec.xbar_rows, spec.xbar_cols):
                entries.append((index, 0, piece.rows, piece.cols, piece.cycles, b))
    columns = np.array(entries, dtype=np.int64).T
    return Pieces(*columns)


def copy_pieces(pieces: Pieces, copies: np.ndarray) -> Pieces:
    """Replicate each layer's pieces ``copies[layer]`` times (copy index 0 .. copies - 1)."""
    copies = np.asarray(copies, dtype=np.int64)
    repeat = copies[pieces.layer]
    index = np.repeat(np.arange(len(pieces)), repeat)
    # copy number of each replica: position within its run of repeats
    starts = np.repeat(np.cumsum(repeat) - repeat, repeat)
    copy = np.arange(len(index)) - starts
    return Pieces(pieces.layer[index], copy, pieces.rows[index], pieces.cols[index],
                  pieces.cycles[index], pieces.box[index])


def layer_cycles(pieces: Pieces, n_layers: int) -> np.ndarray:
    """(L,) input vectors per sample of each layer with one copy (max over its pieces)."""
    out = np.zeros(n_layers, dtype=np.int64)
    np.maximum.at(out, pieces.layer, pieces.cycles)
    return out


def layer_areas(pieces: Pieces, n_layers: int) -> np.ndarray:
    """(L,) cells of one copy of each layer."""
    return np.bincount(pieces.layer, weights=pieces.area, minlength=n_layers).astype(np.int64)


def layer_piece_counts(pieces: Pieces, n_layers: int) -> np.ndarray:
    """(L,) pieces in one copy of each layer."""
    return np.bincount(pieces.layer, minlength=n_layers)

