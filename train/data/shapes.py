"""Part-labelled 3-D shapes for point networks: an embedded generator of synthetic
shapes, a loader for the real ShapeNet-part release, and the part-segmentation metric.

A shape is a point set (N, 6) float32: xyz, then the outward unit normal; its
points carry GLOBAL part ids (N,) int32, and every category owns a disjoint,
consecutive range of ids, ``part_ranges[c] = (first, stop)`` (half-open), as the 50
ids of ShapeNet-part's 16 categories do. xyz is normalised per shape the way
ShapeNet-part's PointNet++ pipeline does it: centroid at 0, largest norm 1 (the
unit ball). y is up (ShapeNet's convention).

* ``make_shapes``: ``CATEGORIES`` built of 2-6 primitives (box, frustum: cylinder,
  cone, disc, open shade; sphere or its upper half; torus arc), each primitive part of
  one named part (``PARTS_OF``; the four legs of a table are the one part "leg").
  Every shape draws its own proportions, a rotation about y, an anisotropic scaling
  (0.85-1.15 per axis, normals by the inverse transpose) and a point jitter. Points
  are spread over the primitives by area, but every primitive gets at least one
  point and a floor share (``FLOOR`` / number of primitives), so small parts (a
  cap's button, an airplane's engines) are always there. Deterministic by seed.
* ``load_shapenet_part``: ``shapenetcore_partanno_segmentation_benchmark_v0_normal``:
  ``synsetoffset2category.txt`` (lines "Airplane<TAB>02691156"), ``<synset>/<id>.txt``
  with lines "x y z nx ny nz part" (global part ids 0..49) and
  ``train_test_split/shuffled_{train,val,test}_file_list.json`` (entries
  "shape_data/02691156/1a04e3eab45ca15dd86060f189eb133").
* ``part_miou``, ``predict_parts``, ``part_mask``: the ShapeNet-part protocol
  (PointNet / PointNet++): logits restricted to the shape's category's parts before
  the argmax; per shape the mean IoU over its category's parts, a part absent from
  both prediction and truth counting 1; instance mIoU = mean over shapes, category
  mIoU = mean over categories of their shapes' mean.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import jax.numpy as jnp
import numpy as np
from sklearn.model_selection import train_test_split

from .dataset import DataError, Dataset

PARTS_OF = {
    "airplane": ("fuselage", "wing", "tail", "engine"),
    "cap": ("crown", "peak", "button"),
    "chair": ("back", "seat", "leg"),
    "guitar": ("body", "neck", "head"),
    "lamp": ("base", "pole", "shade"),
    "mug": ("body", "handle"),
    "rocket": ("body", "nose", "fin"),
    "table": ("top", "leg"),
}
CATEGORIES = tuple(PARTS_OF)
_STARTS = np.cumsum([0] + [len(p) for p in PARTS_OF.values()])
PART_RANGES = tuple((int(a), int(b)) for a, b in zip(_STARTS[:-1], _STARTS[1:]))
N_PARTS = int(_STARTS[-1])
PART_NAMES = tuple(f"{c}/{p}" for c, parts in PARTS_OF.items() for p in parts)  # by global id
FLOOR = 0.1  # share of a shape's points spread evenly over its primitives, whatever their area
JITTER = 0.005  # std of the gaussian point jitter, in units of the unit ball
_UP = np.array([0.0, 1.0, 0.0])
_AXES = {"x": [1, 2, 0], "y": [0, 1, 2], "z": [2, 0, 1]}  # canonical (axis along y) -> axis along x, y, z


# --- primitives: areas and area-uniform surface samples with outward normals -------------------------------------

@dataclass(frozen=True)
class _Prim:
    """One primitive of k shapes: ``arrays`` are per-shape parameters (k,) or (k, 3):
    box: centre, half (half sizes); frustum: centre (of its base disc), r0 (base
    radius), r1 (top radius), h (height along ``axis``); sphere: centre, r; torus:
    centre, R (ring radius), r (tube radius), over angles ``arc`` about ``axis``."""

    part: int  # index of the part within its category
    kind: str
    arrays: dict
    axis: str = "y"
    caps: tuple = (True, True)  # frustum: bottom and top discs
    arc: tuple = (0.0, 2 * np.pi)
    upper: bool = False  # sphere: the half with normal_y >= 0


def _area(p: _Prim) -> np.ndarray:
    a = p.arrays
    if p.kind == "box":
        hx, hy, hz = a["half"].T
        return 8 * (hx * hy + hy * hz + hx * hz)
    if p.kind == "frustum":
        r0, r1 = a["r0"], a["r1"]
        return np.pi * ((r0 + r1) * np.hypot(a["h"], r0 - r1) + p.caps[0] * r0 ** 2 + p.caps[1] * r1 ** 2)
    if p.kind == "sphere":
        return (2 if p.upper else 4) * np.pi * a["r"] ** 2
    return (p.arc[1] - p.arc[0]) * a["R"] * 2 * np.pi * a["r"]


def _pick(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """One index per row of ``weights`` (m, K) >= 0, with probability proportional to its weight."""
    cum = np.cumsum(weights, axis=1)
    u = rng.random(len(cum)) * cum[:, -1]
    return np.minimum((cum <= u[:, None]).sum(1), weights.shape[1] - 1)


def _box(rng, centre, half):
    m = len(centre)
    hx, hy, hz = half.T
    face = _pick(rng, np.repeat(np.stack([hy * hz, hx * hz, hx * hy], 1), 2, axis=1))
    axis, sign, rows = face // 2, np.where(face % 2 == 1, 1.0, -1.0), np.arange(m)
    local = rng.uniform(-1.0, 1.0, (m, 3))
    local[rows, axis] = sign
    normal = np.zeros((m, 3))
    normal[rows, axis] = sign
    return centre + local * half, normal


def _frustum(rng, r0, r1, h, caps):
    """Canonical frustum (axis y, base at 0): lateral surface and the chosen caps."""
    m = len(r0)
    slant = np.hypot(h, r0 - r1)
    surface = _pick(rng, np.stack([(r0 + r1) * slant, caps[0] * r0 ** 2, caps[1] * r1 ** 2], 1))
    theta = rng.uniform(0, 2 * np.pi, m)
    radial = np.stack([np.cos(theta), np.zeros(m), np.sin(theta)], 1)
    u = rng.random(m)
    dr = r1 - r0
    flat = np.abs(dr) < 1e-9
    v = np.where(flat, u, (np.sqrt(r0 ** 2 + u * (r1 ** 2 - r0 ** 2)) - r0) / np.where(flat, 1.0, dr))  # ~ radius
    lateral = surface == 0
    rad = np.where(lateral, r0 + dr * v, np.where(surface == 1, r0, r1) * np.sqrt(u))
    y = np.where(lateral, h * v, np.where(surface == 1, 0.0, h))
    side = (h[:, None] * radial + (r0 - r1)[:, None] * _UP) / slant[:, None]
    normal = np.where(lateral[:, None], side, np.where((surface == 1)[:, None], -_UP, _UP))
    return rad[:, None] * radial + y[:, None] * _UP, normal


def _torus(rng, big, small, arc, tries: int = 8):
    """Canonical torus arc (axis y); the tube angle by rejection (density ~ R + r cos phi)."""
    m = len(big)
    theta = rng.uniform(arc[0], arc[1], m)
    phi = rng.uniform(0, 2 * np.pi, (m, tries))
    accept = rng.random((m, tries)) * (big + small)[:, None] < big[:, None] + small[:, None] * np.cos(phi)
    phi = phi[np.arange(m), np.argmax(accept, axis=1)]
    ring = np.stack([np.cos(theta), np.zeros(m), np.sin(theta)], 1)
    normal = np.cos(phi)[:, None] * ring + np.sin(phi)[:, None] * _UP
    return big[:, None] * ring + small[:, None] * normal, normal


def _sample(rng: np.random.Generator, p: _Prim, rows: np.ndarray):
    """Points and normals (m, 3) on primitive ``p`` of shapes ``rows`` (m,)."""
    a = {key: value[rows] for key, value in p.arrays.items()}
    if p.kind == "box":
        return _box(rng, a["centre"], a["half"])
    if p.kind == "sphere":
        normal = rng.normal(size=(len(rows), 3))
        normal /= np.linalg.norm(normal, axis=1, keepdims=True)
        if p.upper:
            normal[:, 1] = np.abs(normal[:, 1])
        return a["centre"] + a["r"][:, None] * normal, normal
    if p.kind == "frustum":
        local, normal = _frustum(rng, a["r0"], a["r1"], a["h"], p.caps)
    else:
        local, normal = _torus(rng, a["R"], a["r"], p.arc)
    perm = _AXES[p.axis]
    return a["centre"] + local[:, perm], normal[:, perm]


# --- the categories ----------------------------------------------------------------------------------------------

def _v(k, x, y, z):
    return np.stack([np.broadcast_to(np.asarray(c, float), (k,)) for c in (x, y, z)], 1)


def _cyl(part, k, centre, r0, h, r1=None, caps=(True, True), axis="y"):
    return _Prim(part, "frustum", dict(centre=centre, r0=r0, r1=r0 if r1 is None else r1, h=h), axis, caps)


def _airplane(u, k):
    length, rf, span, chord, xw = u(1.6, 2.0), u(0.08, 0.12), u(0.7, 1.0), u(0.12, 0.2), u(-0.15, 0.15)
    fin, stab, re, le, ze = u(0.12, 0.22), u(0.22, 0.35), u(0.04, 0.06), u(0.2, 0.3), span * u(0.35, 0.55)
    tail = 0.1 - length / 2
    return [_cyl(0, k, _v(k, -length / 2, 0, 0), rf, length, axis="x"),
            _Prim(1, "box", dict(centre=_v(k, xw, 0, 0), half=_v(k, chord, 0.02, span))),
            _Prim(2, "box", dict(centre=_v(k, tail, rf + fin, 0), half=_v(k, 0.09, fin, 0.015))),
            _Prim(2, "box", dict(centre=_v(k, tail, 0, 0), half=_v(k, 0.08, 0.015, stab))),
            *[_cyl(3, k, _v(k, xw - le / 2, -0.02 - re, s * ze), re, le, axis="x") for s in (-1, 1)]]


def _cap(u, k):
    rc, peak, width, rb = u(0.45, 0.55), u(0.15, 0.25), u(0.25, 0.35), u(0.04, 0.06)
    return [_Prim(0, "sphere", dict(centre=_v(k, 0, 0, 0), r=rc), upper=True),
            _Prim(1, "box", dict(centre=_v(k, 0.85 * rc + peak, 0.01, 0), half=_v(k, peak, 0.01, width))),
            _Prim(2, "sphere", dict(centre=_v(k, 0, rc + 0.5 * rb, 0), r=rb))]


def _chair(u, k):
    w, d, hs, hb, rl = u(0.4, 0.5), u(0.4, 0.5), u(0.8, 1.0), u(0.4, 0.6), u(0.03, 0.05)
    legs = [_cyl(2, k, _v(k, sx * (w - 2 * rl), 0, sz * (d - 2 * rl)), rl, hs - 0.04, caps=(True, False))
            for sx in (-1, 1) for sz in (-1, 1)]
    return [_Prim(0, "box", dict(centre=_v(k, 0, hs + 0.04 + hb, 0.03 - d), half=_v(k, w, hb, 0.03))),
            _Prim(1, "box", dict(centre=_v(k, 0, hs, 0), half=_v(k, w, 0.04, d))), *legs]


def _guitar(u, k):
    rb, t, ru, neck = u(0.35, 0.45), u(0.08, 0.12), u(0.65, 0.8), u(0.45, 0.6)
    ru = ru * rb
    yu = 0.75 * rb + 0.6 * ru
    top = yu + ru
    return [_cyl(0, k, _v(k, 0, 0, -t / 2), rb, t, axis="z"),
            _cyl(0, k, _v(k, 0, yu, -t / 2), ru, t, axis="z"),
            _Prim(1, "box", dict(centre=_v(k, 0, top + neck, 0), half=_v(k, 0.04, neck, 0.025))),
            _Prim(2, "box", dict(centre=_v(k, 0, top + 2 * neck + 0.1, 0), half=_v(k, 0.07, 0.1, 0.02)))]


def _lamp(u, k):
    rb, hb, rp, hp, rs, narrow, hs = u(0.25, 0.35), u(0.04, 0.08), u(0.015, 0.03), u(0.8, 1.2), u(0.3, 0.4), \
        u(0.3, 0.6), u(0.3, 0.4)
    return [_cyl(0, k, _v(k, 0, 0, 0), rb, hb),
            _cyl(1, k, _v(k, 0, hb, 0), rp, hp, caps=(False, True)),
            _cyl(2, k, _v(k, 0, hb + hp - 0.6 * hs, 0), rs, hs, r1=narrow * rs, caps=(False, False))]


def _mug(u, k):
    r, h, flare, rh, tube = u(0.3, 0.4), u(0.6, 0.9), u(0.95, 1.1), u(0.18, 0.28), u(0.03, 0.05)
    return [_cyl(0, k, _v(k, 0, 0, 0), r, h, r1=flare * r, caps=(True, False)),
            _Prim(1, "torus", dict(centre=_v(k, r, h / 2, 0), R=rh, r=tube), axis="z", arc=(0.0, np.pi))]


def _rocket(u, k):
    r, h, nose, fw, fh = u(0.12, 0.18), u(1.2, 1.6), u(0.25, 0.45), u(0.12, 0.2), u(0.25, 0.4)
    out = r + fw / 2
    fins = [_Prim(2, "box", dict(centre=_v(k, s * out, fh / 2, 0), half=_v(k, fw / 2, fh / 2, 0.01))) for s in (-1, 1)]
    fins += [_Prim(2, "box", dict(centre=_v(k, 0, fh / 2, s * out), half=_v(k, 0.01, fh / 2, fw / 2))) for s in (-1, 1)]
    return [_cyl(0, k, _v(k, 0, 0, 0), r, h, caps=(True, False)),
            _cyl(1, k, _v(k, 0, h, 0), r, nose, r1=np.zeros(k), caps=(False, False)), *fins]


def _table(u, k):
    w, d, t, h, rl, taper = u(0.6, 1.0), u(0.4, 0.7), u(0.03, 0.06), u(0.6, 0.9), u(0.03, 0.06), u(0.6, 1.0)
    legs = [_cyl(1, k, _v(k, sx * (w - 2 * rl), 0, sz * (d - 2 * rl)), taper * rl, h - t, r1=rl, caps=(True, False))
            for sx in (-1, 1) for sz in (-1, 1)]
    return [_Prim(0, "box", dict(centre=_v(k, 0, h, 0), half=_v(k, w, t, d))), *legs]


_BUILDERS = (_airplane, _cap, _chair, _guitar, _lamp, _mug, _rocket, _table)  # in CATEGORIES' order


# --- shapes ------------------------------------------------------------------------------------------------------

def normalise_points(xyz: np.ndarray) -> np.ndarray:
    """xyz (..., N, 3) moved to centroid 0 and scaled to largest norm 1, per shape."""
    xyz = xyz - xyz.mean(axis=-2, keepdims=True)
    return xyz / np.linalg.norm(xyz, axis=-1).max(axis=-1)[..., None, None]


def _counts(share: np.ndarray, total: int) -> np.ndarray:
    """Integer counts (k, P) summing to ``total`` per row, proportional to ``share`` (largest remainder)."""
    q = share * total
    base = np.floor(q).astype(np.int64)
    rank = np.argsort(np.argsort(base - q, axis=1, kind="stable"), axis=1)
    return base + (rank < (total - base.sum(1))[:, None])


def _surface(rng: np.random.Generator, prims: list[_Prim], n_points: int):
    """Points, normals (k, N, 3) and part indices (k, N) of k shapes made of ``prims``."""
    areas = np.stack([_area(p) for p in prims], 1)
    k, n_prims = areas.shape
    if n_points < n_prims:
        raise ValueError(f"make_shapes: n_points = {n_points} is too few: a shape has up to {n_prims} primitives")
    share = (1 - FLOOR) * areas / areas.sum(1, keepdims=True) + FLOOR / n_prims
    counts = 1 + _counts(share, n_points - n_prims)
    which = np.repeat(np.tile(np.arange(n_prims), k), counts.ravel()).reshape(k, n_points)
    which = rng.permuted(which, axis=1)
    xyz, normals = np.empty((k, n_points, 3)), np.empty((k, n_points, 3))
    for j, p in enumerate(prims):
        rows, cols = np.nonzero(which == j)
        xyz[rows, cols], normals[rows, cols] = _sample(rng, p, rows)
    return xyz, normals, np.array([p.part for p in prims])[which]


def _vary(rng: np.random.Generator, xyz, normals, rotate: bool, stretch: float = 0.15):
    """Per shape: an anisotropic scaling (normals by its inverse), then a rotation about y."""
    n = len(xyz)
    scale = rng.uniform(1 - stretch, 1 + stretch, (n, 1, 3))
    angle = rng.uniform(0, 2 * np.pi, n) if rotate else np.zeros(n)
    c, s, o, i = np.cos(angle), np.sin(angle), np.zeros(n), np.ones(n)
    rot = np.stack([c, o, s, o, i, o, -s, o, c], 1).reshape(n, 3, 3)
    normals = normals / scale
    normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
    return np.einsum("nij,npj->npi", rot, xyz * scale), np.einsum("nij,npj->npi", rot, normals)


def _category_ids(categories) -> np.ndarray:
    if categories is None:
        return np.arange(len(CATEGORIES))
    unknown = [c for c in categories if c not in CATEGORIES]
    if unknown:
        raise DataError(f"unknown shape categories {unknown}; allowed: {', '.join(CATEGORIES)}")
    return np.array([CATEGORIES.index(c) for c in categories])


def make_shapes(rng: np.random.Generator | int, n_shapes: int, n_points: int = 2048,
                categories: Sequence[str] | None = None, rotate: bool = True, jitter: float = JITTER):
    """``n_shapes`` synthetic shapes, categories balanced (cycled, then shuffled) over
    ``categories`` (names; default all of ``CATEGORIES``): (points (n, N, 6) float32 xyz
    in the unit ball + unit normals, category (n,) int32 index into CATEGORIES, parts
    (n, N) int32 global part ids). ``rng``: a numpy Generator or a seed."""
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    ids = _category_ids(categories)
    category = rng.permutation(np.resize(ids, n_shapes)).astype(np.int32)
    xyz, normals = np.zeros((n_shapes, n_points, 3)), np.zeros((n_shapes, n_points, 3))
    parts = np.zeros((n_shapes, n_points), np.int32)
    for c in ids:
        rows = np.flatnonzero(category == c)
        if len(rows):
            prims = _BUILDERS[c](lambda lo, hi: rng.uniform(lo, hi, len(rows)), len(rows))
            xyz[rows], normals[rows], local = _surface(rng, prims, n_points)
            parts[rows] = PART_RANGES[c][0] + local
    xyz, normals = _vary(rng, xyz, normals, rotate)
    xyz = normalise_points(normalise_points(xyz) + jitter * rng.normal(size=xyz.shape))
    return np.concatenate([xyz, normals], -1).astype(np.float32), category, parts


# --- the container -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PartDataset:
    """A part-segmentation data set in host memory.

    points_*: float32 (n, N, 6) xyz (unit ball) + unit normals; category_*: int32 (n,)
    index into ``categories``; parts_*: int32 (n, N) global part ids, those of shape
    i in ``part_ranges[category_i]`` (first, stop). ``*_valid``: a validation split
    (None when there is none)."""

    points_train: np.ndarray
    category_train: np.ndarray
    parts_train: np.ndarray
    points_test: np.ndarray
    category_test: np.ndarray
    parts_test: np.ndarray
    name: str
    categories: tuple[str, ...]
    part_ranges: tuple[tuple[int, int], ...]
    points_valid: np.ndarray | None = None
    category_valid: np.ndarray | None = None
    parts_valid: np.ndarray | None = None
    part_names: tuple[str, ...] = ()  # "category/part" per global id, where known

    def __post_init__(self):
        splits = [("train", self.points_train, self.category_train, self.parts_train),
                  ("test", self.points_test, self.category_test, self.parts_test)]
        if self.points_valid is not None:
            splits.append(("valid", self.points_valid, self.category_valid, self.parts_valid))
        for split, points, category, parts in splits:
            if points.ndim != 3 or points.shape[-1] != 6 or category.shape != points.shape[:1] \
                    or parts.shape != points.shape[:2]:
                raise ValueError(f"PartDataset {self.name!r}: {split} has points {points.shape}, category "
                                 f"{category.shape}, parts {parts.shape}: expected (n, N, 6), (n,), (n, N)")

    @property
    def n_categories(self) -> int:
        return len(self.categories)

    @property
    def n_parts(self) -> int:
        return max(stop for _, stop in self.part_ranges)

    def with_validation(self, fraction: float, seed: int = 0) -> "PartDataset":
        """``fraction`` of the training shapes moved to a validation split, stratified by
        category, deterministic by ``seed`` (replacing any validation split); test untouched."""
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"valid_fraction = {fraction!r} is invalid: allowed (0, 1)")
        train, valid = train_test_split(np.arange(len(self.category_train)), test_size=fraction,
                                        random_state=seed, stratify=self.category_train)
        return PartDataset(self.points_train[train], self.category_train[train], self.parts_train[train],
                           self.points_test, self.category_test, self.parts_test, self.name, self.categories,
                           self.part_ranges, self.points_train[valid], self.category_train[valid],
                           self.parts_train[valid], self.part_names)

    def classification(self, name: str | None = None) -> Dataset:
        """The shape-classification view: ``Dataset`` with x = points (n, N, 6), y = category."""
        return Dataset(self.points_train, self.category_train, self.points_test, self.category_test,
                       name or self.name, self.n_categories, self.points_valid, self.category_valid)


def load_synthetic_parts(seed: int = 0, n_train: int = 1024, n_test: int = 256, n_points: int = 2048,
                         categories: Sequence[str] | None = None, rotate: bool = True) -> PartDataset:
    """Synthetic part segmentation (``make_shapes``): training then test shapes from one
    Generator seeded by ``seed``, each split balanced over the categories."""
    rng = np.random.default_rng(seed)
    train = make_shapes(rng, n_train, n_points, categories, rotate)
    test = make_shapes(rng, n_test, n_points, categories, rotate)
    return PartDataset(*train, *test, name="synthetic_parts", categories=CATEGORIES, part_ranges=PART_RANGES,
                       part_names=PART_NAMES)


def load_synthetic_shapes(seed: int = 0, n_train: int = 1024, n_test: int = 256, n_points: int = 1024,
                          categories: Sequence[str] | None = None, rotate: bool = True) -> Dataset:
    """ModelNet-like classification of the synthetic shapes: ``Dataset`` with x (n,
    n_points, 6) float32 xyz + normals and y (n,) int32 index into ``CATEGORIES``."""
    return load_synthetic_parts(seed, n_train, n_test, n_points, categories, rotate).classification("synthetic_shapes")


# --- ShapeNet-part (shapenetcore_partanno_segmentation_benchmark_v0_normal) ------------------------------------

CATEGORY_FILE = "synsetoffset2category.txt"
SPLIT_FILES = "train_test_split/shuffled_{}_file_list.json"


def _read_synsets(path: Path) -> dict[str, str]:
    """synset id -> category name, in the file's order."""
    if not path.is_file():
        raise DataError(f"ShapeNet-part: {path} is missing (lines 'Airplane<TAB>02691156')")
    synsets = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        words = line.split()
        if len(words) != 2 and line.strip():
            raise DataError(f"{path}:{number}: {line!r} is not 'Category<TAB>synset'")
        if words:
            synsets[words[1]] = words[0]
    return synsets


def _read_split(root: Path, split: str, synsets: dict[str, str]) -> list[tuple[str, str]]:
    """(synset, shape id) of every entry of one split list."""
    path = root / SPLIT_FILES.format(split)
    if not path.is_file():
        raise DataError(f"ShapeNet-part: split list {path} is missing")
    try:
        entries = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not valid JSON ({e})") from e
    out = []
    for entry in entries:
        words = str(entry).split("/")
        if len(words) < 2 or words[-2] not in synsets:
            raise DataError(f"{path}: entry {entry!r} is not 'shape_data/<synset>/<id>' with a synset of "
                            f"{CATEGORY_FILE}")
        out.append((words[-2], words[-1]))
    return out


def read_shapenet_shape(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """One ShapeNet-part file: (points (M, 6) float32 xyz + normals, parts (M,) int32)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"ShapeNet-part: shape file {path} is missing")
    try:
        raw = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except ValueError as e:
        raise DataError(f"{path}: malformed line ({e})") from e
    if raw.size == 0 or raw.shape[1] != 7:
        raise DataError(f"{path}: expected lines 'x y z nx ny nz part', got {raw.shape[1] if raw.size else 0} "
                        "columns")
    labels = raw[:, 6]
    bad = (labels != np.round(labels)) | (labels < 0)
    if bad.any():
        raise DataError(f"{path}: line {np.argmax(bad) + 1}: part label {labels[bad][0]} is not an integer >= 0")
    return raw[:, :6].astype(np.float32), labels.astype(np.int32)


def _resample(rng: np.random.Generator, points: np.ndarray, parts: np.ndarray, n_points: int):
    """The shape normalised to the unit ball, then ``n_points`` of its points (without
    replacement when it has enough, else with)."""
    points = points.copy()
    points[:, :3] = normalise_points(points[:, :3].astype(np.float64))
    keep = rng.choice(len(points), n_points, replace=len(points) < n_points)
    return points[keep], parts[keep]


def _ranges(root: Path, lo: dict[int, int], hi: dict[int, int], names) -> tuple[tuple[int, int], ...]:
    ranges = tuple((int(lo[c]), int(hi[c]) + 1) for c in range(len(names)))
    order = sorted(range(len(names)), key=lambda c: ranges[c])
    for a, b in zip(order[:-1], order[1:]):
        if ranges[b][0] < ranges[a][1]:
            raise DataError(f"ShapeNet-part {root}: part labels of {names[a]} {ranges[a]} and {names[b]} "
                            f"{ranges[b]} overlap: expected the global 0..49 ids of the _normal release")
    return ranges


def load_shapenet_part(data_dir: str | os.PathLike, n_points: int = 2048, seed: int = 0, validation: bool = False,
                       categories: Sequence[str] | None = None) -> PartDataset:
    """ShapeNet-part from ``data_dir`` (see the module docstring), every shape normalised
    to the unit ball then resampled to ``n_points`` (deterministic by ``seed``).

    The official val list joins training (PointNet++'s "trainval"; test = the test list)
    unless ``validation``, which makes it the validation split instead. ``categories``:
    names as in synsetoffset2category.txt (default all). Category indices follow that
    file's order; ``part_ranges`` are (min, max + 1) of the labels each category's shapes
    carry (ShapeNet-part's official ranges when all its shapes are read)."""
    root = Path(data_dir)
    if not root.is_dir():
        raise DataError(f"ShapeNet-part folder {str(root)!r} does not exist")
    synsets = every = _read_synsets(root / CATEGORY_FILE)
    if categories is not None:
        unknown = sorted(set(categories) - set(synsets.values()))
        if unknown:
            raise DataError(f"ShapeNet-part: unknown categories {unknown}; {CATEGORY_FILE} has "
                            f"{', '.join(synsets.values())}")
        synsets = {s: name for s, name in synsets.items() if name in categories}
    names, index = tuple(synsets.values()), {s: i for i, s in enumerate(synsets)}
    rng = np.random.default_rng(seed)
    lo, hi, out = {}, {}, {}
    for split in ("train", "val", "test"):
        points, category, parts = [], [], []
        for synset, shape in _read_split(root, split, every):
            if synset not in index:
                continue
            c = index[synset]
            raw, labels = read_shapenet_shape(root / synset / f"{shape}.txt")
            lo[c], hi[c] = min(lo.get(c, labels.min()), labels.min()), max(hi.get(c, labels.max()), labels.max())
            p, q = _resample(rng, raw, labels, n_points)
            points.append(p), category.append(c), parts.append(q)
        out[split] = (np.array(points, np.float32).reshape(-1, n_points, 6), np.array(category, np.int32),
                      np.array(parts, np.int32).reshape(-1, n_points))
    missing = [names[c] for c in range(len(names)) if c not in lo]
    if missing:
        raise DataError(f"ShapeNet-part {root}: no shapes of {missing} in the split lists (pass categories=)")
    train, valid = out["train"], out["val"]
    if not validation:
        train, valid = tuple(np.concatenate([a, b]) for a, b in zip(train, valid)), (None, None, None)
    return PartDataset(*train, *out["test"], name="shapenet_part", categories=names,
                       part_ranges=_ranges(root, lo, hi, names), points_valid=valid[0], category_valid=valid[1],
                       parts_valid=valid[2])


# --- evaluation --------------------------------------------------------------------------------------------------

def part_mask(part_ranges: Sequence[tuple[int, int]], n_parts: int | None = None) -> np.ndarray:
    """(n_categories, n_parts) bool: True where the part belongs to the category."""
    n_parts = n_parts or max(stop for _, stop in part_ranges)
    ids = np.arange(n_parts)
    return np.stack([(ids >= first) & (ids < stop) for first, stop in part_ranges])


def predict_parts(logits, category, part_ranges: Sequence[tuple[int, int]]):
    """Part ids (n, N) int32: argmax of ``logits`` (n, N, n_parts) over the parts of
    each shape's ``category`` (n,) only. jax.numpy; ``part_ranges`` is static, so it
    runs under jit with fixed shapes."""
    mask = jnp.asarray(part_mask(part_ranges, logits.shape[-1]))[jnp.asarray(category)]
    return jnp.argmax(jnp.where(mask[:, None, :], logits, -jnp.inf), axis=-1).astype(jnp.int32)


def _iou(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """IoU per row of two boolean masks (m, N); 1 where both are empty."""
    union = (pred | true).sum(1)
    return np.where(union == 0, 1.0, (pred & true).sum(1) / np.maximum(union, 1))


def part_miou(pred_parts, parts, category, part_ranges: Sequence[tuple[int, int]],
              names: Sequence[str] | None = None) -> dict:
    """ShapeNet-part mIoU of ``pred_parts`` against ``parts`` (n, N) for shapes of
    ``category`` (n,): dict(instance_miou, category_miou (floats), per_category
    {name or index: mean over its shapes}, for categories present, per_shape (n,))."""
    pred, true, category = np.asarray(pred_parts), np.asarray(parts), np.asarray(category)
    if pred.shape != true.shape or category.shape != true.shape[:1]:
        raise ValueError(f"part_miou: pred {pred.shape}, parts {true.shape}, category {category.shape}: "
                         "expected (n, N), (n, N), (n,)")
    per_shape = np.zeros(len(true))
    per_category = {}
    for c, (first, stop) in enumerate(part_ranges):
        rows = category == c
        if rows.any():
            p, t = pred[rows], true[rows]
            ious = [_iou(p == q, t == q) for q in range(first, stop)]
            per_shape[rows] = np.mean(ious, axis=0)
            per_category[names[c] if names is not None else c] = float(per_shape[rows].mean())
    return dict(instance_miou=float(per_shape.mean()), category_miou=float(np.mean(list(per_category.values()))),
                per_category=per_category, per_shape=per_shape)


def instance_miou(pred_parts, parts, category, part_ranges: Sequence[tuple[int, int]]):
    """The instance mIoU of ``part_miou`` in jax.numpy (a scalar; fixed shapes, so it
    runs under jit and vmap): pred_parts, parts (n, N) global ids, category (n,)."""
    n_parts = max(stop for _, stop in part_ranges)
    mask = jnp.asarray(part_mask(part_ranges, n_parts))[jnp.asarray(category)]  # (n, P)
    pred = jnp.asarray(pred_parts)[..., None] == jnp.arange(n_parts)
    true = jnp.asarray(parts)[..., None] == jnp.arange(n_parts)
    union = jnp.sum(pred | true, axis=1)
    iou = jnp.where(union == 0, 1.0, jnp.sum(pred & true, axis=1) / jnp.maximum(union, 1))
    return jnp.mean(jnp.sum(iou * mask, axis=1) / jnp.sum(mask, axis=1))
