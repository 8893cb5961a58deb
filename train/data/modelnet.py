"""ModelNet-style shape classification: the real release's OFF meshes, sampled on
their surface, and an embedded generator of ModelNet-like classes.

A shape is a point set (N, 6) float32: xyz normalised to the unit ball (centroid
0, largest norm 1, ``shapes.normalise_points``), then the outward unit normal; y
is up. Labels are int32 class indices.

* ``read_off`` / ``sample_surface``: an OFF file ("OFF", then "V F E", V vertex
  lines "x y z", F face lines "n i_1 .. i_n"; polygons are split into a fan of
  triangles; ModelNet's files that glue the counts to the keyword, "OFF490 518 0",
  are read too) and area-weighted uniform sampling of its surface: a triangle with
  probability proportional to its area, a point uniform in it (barycentric
  ``(1 - sqrt(u), sqrt(u) (1 - v), sqrt(u) v)``), the face normal.
* ``load_modelnet``: the ModelNet10 / ModelNet40 release, ``<class>/train/*.off``
  and ``<class>/test/*.off``, classes in sorted order.
* ``make_modelnet_like`` / ``load_synthetic_modelnet``: ``MODELNET_CLASSES`` (sphere,
  box, cylinder, cone, torus and table-, chair- and lamp-like compositions), each
  shape with its own proportions (the aspect), an anisotropic stretch, a rotation
  about the up axis and a point jitter; the scale is normalised away, as
  ModelNet's pipeline does. Deterministic by seed.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from . import shapes
from .shapes import _v
from .dataset import DataError, Dataset

__all__ = ["MODELNET_CLASSES", "read_off", "sample_surface", "load_modelnet", "make_modelnet_like",
           "load_synthetic_modelnet"]

MODELNET_CLASSES = ("sphere", "box", "cylinder", "cone", "torus", "table", "chair", "lamp")
STRETCH = 0.25  # anisotropic stretch per axis, uniform in [1 - STRETCH, 1 + STRETCH]


# --- the OFF format -----------------------------------------------------------------------------------------------

def _tokens(path: Path) -> list[str]:
    lines = (line.split("#", 1)[0] for line in path.read_text().splitlines())
    return [token for line in lines for token in line.split()]


def read_off(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(vertices (V, 3) float64, triangles (T, 3) int64) of an OFF mesh; polygons
    with n > 3 corners become n - 2 triangles (a fan from their first corner)."""
    path = Path(path)
    tokens = _tokens(path)
    if not tokens or not tokens[0].startswith("OFF"):
        raise DataError(f"{path}: not an OFF file (it must start with 'OFF')")
    if tokens[0] != "OFF":  # "OFF490 518 0": the counts glued to the keyword
        tokens = ["OFF", tokens[0][3:], *tokens[1:]]
    try:
        n_vertices, n_faces = int(tokens[1]), int(tokens[2])
        vertices = np.array(tokens[4:4 + 3 * n_vertices], np.float64).reshape(n_vertices, 3)
        rest = [int(t) for t in tokens[4 + 3 * n_vertices:]]
    except (IndexError, ValueError) as e:
        raise DataError(f"{path}: malformed OFF header or vertex list ({e})") from None
    triangles, at = [], 0
    for f in range(n_faces):
        if at >= len(rest) or rest[at] < 3 or at + 1 + rest[at] > len(rest):
            raise DataError(f"{path}: face {f} is malformed (expected 'n i_1 .. i_n' with n >= 3)")
        corners = rest[at + 1: at + 1 + rest[at]]
        triangles += [(corners[0], corners[i], corners[i + 1]) for i in range(1, len(corners) - 1)]
        at += 1 + rest[at]
    triangles = np.array(triangles, np.int64).reshape(-1, 3)
    if triangles.size and (triangles.min() < 0 or triangles.max() >= n_vertices):
        raise DataError(f"{path}: a face refers to a vertex outside 0..{n_vertices - 1}")
    return vertices, triangles


def sample_surface(rng: np.random.Generator, vertices: np.ndarray, triangles: np.ndarray, n_points: int):
    """``n_points`` points uniform on the mesh surface, with their face normals:
    (points (n_points, 3), normals (n_points, 3) unit), in the mesh's units. A normal
    follows its face's winding (OFF: counter-clockwise seen from outside)."""
    a, b, c = (vertices[triangles[:, i]] for i in range(3))
    cross = np.cross(b - a, c - a)
    area = 0.5 * np.linalg.norm(cross, axis=1)
    if not area.sum() > 0:
        raise DataError("sample_surface: the mesh has no surface (every triangle has zero area)")
    face = rng.choice(len(area), size=n_points, p=area / area.sum())
    su, v = np.sqrt(rng.random((n_points, 1))), rng.random((n_points, 1))
    points = (1 - su) * a[face] + su * (1 - v) * b[face] + su * v * c[face]
    normals = cross[face] / (2 * area[face, None])
    return points, normals


def _cloud(points: np.ndarray, normals: np.ndarray) -> np.ndarray:
    return np.concatenate([shapes.normalise_points(points), normals], -1).astype(np.float32)


def _read_split(root: Path, classes: list[str], split: str, rng, n_points: int):
    clouds, labels = [], []
    for label, name in enumerate(classes):
        for path in sorted((root / name / split).glob("*.off")):
            clouds.append(_cloud(*sample_surface(rng, *read_off(path), n_points)))
            labels.append(label)
    if not clouds:
        raise DataError(f"{root}: no {split} meshes (expected <class>/{split}/*.off)")
    return np.stack(clouds), np.array(labels, np.int32)


def load_modelnet(data_dir: str | os.PathLike, n_points: int = 1024, seed: int = 0) -> Dataset:
    """ModelNet10 / ModelNet40 from ``data_dir`` (``<class>/{train,test}/*.off``):
    x (n, n_points, 6) float32 (unit ball + normals), y the class index in sorted
    class order; points sampled per mesh with a Generator seeded by ``seed``."""
    root = Path(data_dir)
    if not root.is_dir():
        raise DataError(f"ModelNet directory {root} does not exist")
    classes = sorted(p.name for p in root.iterdir() if (p / "train").is_dir())
    if not classes:
        raise DataError(f"{root}: no class folders (expected <class>/train/*.off, as in ModelNet10/40)")
    rng = np.random.default_rng(seed)
    x_train, y_train = _read_split(root, classes, "train", rng, n_points)
    x_test, y_test = _read_split(root, classes, "test", rng, n_points)
    return Dataset(x_train, y_train, x_test, y_test, f"modelnet{len(classes)}", len(classes))


# --- the embedded generator ---------------------------------------------------------------------------------------

def _sphere(u, k):
    return [shapes._Prim(0, "sphere", dict(centre=_v(k, 0, 0, 0), r=np.ones(k)))]


def _box(u, k):
    return [shapes._Prim(0, "box", dict(centre=_v(k, 0, 0, 0), half=_v(k, u(0.3, 1.0), u(0.3, 1.0), u(0.3, 1.0))))]


def _cylinder(u, k):
    return [shapes._cyl(0, k, _v(k, 0, 0, 0), u(0.25, 0.7), u(0.4, 2.0))]


def _cone(u, k):
    return [shapes._cyl(0, k, _v(k, 0, 0, 0), u(0.3, 0.8), u(0.5, 2.0), r1=np.zeros(k), caps=(True, False))]


def _torus(u, k):
    return [shapes._Prim(0, "torus", dict(centre=_v(k, 0, 0, 0), R=u(0.5, 0.8), r=u(0.1, 0.3)))]


_BUILDERS = dict(sphere=_sphere, box=_box, cylinder=_cylinder, cone=_cone, torus=_torus,
                 table=shapes._table, chair=shapes._chair, lamp=shapes._lamp)


def make_modelnet_like(rng: np.random.Generator | int, n_shapes: int, n_points: int = 1024,
                       stretch: float = STRETCH, jitter: float = shapes.JITTER) -> tuple[np.ndarray, np.ndarray]:
    """``n_shapes`` synthetic shapes balanced over ``MODELNET_CLASSES`` (cycled, then
    shuffled): (x (n, n_points, 6) float32 unit-ball xyz + normals, y (n,) int32)."""
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    labels = rng.permutation(np.resize(np.arange(len(MODELNET_CLASSES)), n_shapes)).astype(np.int32)
    xyz, normals = np.zeros((n_shapes, n_points, 3)), np.zeros((n_shapes, n_points, 3))
    for c, name in enumerate(MODELNET_CLASSES):
        rows = np.flatnonzero(labels == c)
        if len(rows):
            prims = _BUILDERS[name](lambda lo, hi: rng.uniform(lo, hi, len(rows)), len(rows))
            xyz[rows], normals[rows], _ = shapes._surface(rng, prims, n_points)
    xyz, normals = shapes._vary(rng, xyz, normals, rotate=True, stretch=stretch)
    xyz = shapes.normalise_points(shapes.normalise_points(xyz) + jitter * rng.normal(size=xyz.shape))
    return np.concatenate([xyz, normals], -1).astype(np.float32), labels


def load_synthetic_modelnet(seed: int = 0, n_train: int = 1024, n_test: int = 256, n_points: int = 1024,
                            stretch: float = STRETCH, jitter: float = shapes.JITTER) -> Dataset:
    """The embedded ModelNet-like classification set (``make_modelnet_like``): training,
    then test shapes from one Generator seeded by ``seed``."""
    if not 0.0 <= stretch < 1.0:
        raise DataError(f"stretch = {stretch!r} is invalid: allowed [0, 1)")
    rng = np.random.default_rng(seed)
    x_train, y_train = make_modelnet_like(rng, n_train, n_points, stretch, jitter)
    x_test, y_test = make_modelnet_like(rng, n_test, n_points, stretch, jitter)
    return Dataset(x_train, y_train, x_test, y_test, "synthetic_modelnet", len(MODELNET_CLASSES))
