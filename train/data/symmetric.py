"""Toy symmetric structures and the degeneration theorem (HEGNN, Cen et al. 2024, Thm 3.6).

Structures are small graphs whose point sets have a large symmetry group:
k-fold stars (a centre plus k spokes in the xy-plane) and the five regular
polyhedra (complete graphs). They are the toy tests where an equivariant
network must tell a structure from a rotated copy of itself.

The theorem: let G be a point set with symmetry group H ⊂ O(3) (every orthogonal
matrix, proper or improper, that permutes the centred points). Every
O(3)-equivariant function f of degree l, with natural parity
ρ^(l)(g) = det(g)^l D^(l)(g), satisfies f(G) = ρ̄^(l) f(G) with the projector
ρ̄^(l) = (1/|H|) Σ_{g∈H} ρ^(l)(g). So f^(l)(G) ≡ 0 for every such f exactly when
the trivial representation of H has zero multiplicity in ρ^(l)|_H, that is when
(1/|H|) Σ_g tr ρ^(l)(g) = 0.

    from train.data import symmetric as sym
    s = sym.structure("icosahedron")           # Structure(name, positions, senders, receivers)
    sym.symmetry_group(s.positions).shape      # (120, 3, 3): I_h
    sym.vanishing_degrees(s.positions, 14)     # (1, 2, 3, 4, 5, 7, 8, 9, 11, 13, 14)
    a, b, R = sym.rotated_pair(key, s)         # b = a @ R.T, R a random proper rotation

Positions are float32 numpy arrays of shape (N, 3) in arbitrary length units
(spokes and polyhedron vertices have radius 1 to √3 or so); edges are int32
(E,) sender and receiver arrays that hold both directions of every edge.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import jax
import numpy as np

from models.graph import complete_graph
from train.data.geometry import random_rotation

PHI = (1.0 + math.sqrt(5.0)) / 2.0  # the golden ratio

STAR_NAMES = ("2-fold", "3-fold", "4-fold", "5-fold", "6-fold", "7-fold", "10-fold")
POLYHEDRON_NAMES = ("tetrahedron", "cube", "octahedron", "dodecahedron", "icosahedron")
STRUCTURE_NAMES = STAR_NAMES + POLYHEDRON_NAMES

# A collinear point set has an infinite symmetry group (C_∞v or D_∞h);
# `symmetry_group` replaces the continuous rotations about the line by an
# n-fold axis, which gives the exact invariant multiplicity for every l < n.
DEFAULT_AXIAL_ORDER = 16


# ------------------------------------------------------------------ structures

_random_rotation = jax.jit(random_rotation)


@dataclass(frozen=True, eq=False)
class Structure:
    """A point set with a graph on it.

    name: a label (e.g. "5-fold", "cube"); positions: (N, 3) float32;
    senders, receivers: (E,) int32 node indices, both directions of every edge.
    The arrays are made read-only. Equality is identity (the fields are arrays).
    """

    name: str
    positions: np.ndarray
    senders: np.ndarray
    receivers: np.ndarray

    def __post_init__(self):
        pos = np.array(self.positions, dtype=np.float32)
        snd = np.array(self.senders, dtype=np.int32)
        rcv = np.array(self.receivers, dtype=np.int32)
        if pos.ndim != 2 or pos.shape[1] != 3:
            raise ValueError(f"positions must have shape (N, 3), got {pos.shape}")
        if snd.ndim != 1 or snd.shape != rcv.shape:
            raise ValueError(
                f"senders and receivers must be (E,) arrays of one length, got {snd.shape} and {rcv.shape}"
            )
        n = pos.shape[0]
        if snd.size and (min(snd.min(), rcv.min()) < 0 or max(snd.max(), rcv.max()) >= n):
            raise ValueError(f"edge indices must lie in 0..{n - 1}")
        for arr in (pos, snd, rcv):
            arr.setflags(write=False)
        object.__setattr__(self, "positions", pos)
        object.__setattr__(self, "senders", snd)
        object.__setattr__(self, "receivers", rcv)

    @property
    def n_nodes(self) -> int:
        return int(self.positions.shape[0])

    @property
    def n_edges(self) -> int:
        return int(self.senders.shape[0])


def k_fold_star(k: int) -> Structure:
    """A centre node at the origin plus k spokes R_z(2πc/k)·(1, 0, 0), c = 0..k-1.

    Node 0 is the centre, nodes 1..k the spokes; edges centre↔spoke in both
    directions (2k edges). k >= 2 (the 2-fold star is collinear).
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
        raise ValueError(f"k={k!r} must be an int >= 2")
    k = int(k)
    angles = 2.0 * np.pi * np.arange(k) / k
    spokes = np.stack([np.cos(angles), np.sin(angles), np.zeros(k)], axis=1)
    positions = np.concatenate([np.zeros((1, 3)), spokes], axis=0)
    leaves = np.arange(1, k + 1)
    centre = np.zeros(k, dtype=np.int64)
    senders = np.concatenate([centre, leaves])
    receivers = np.concatenate([leaves, centre])
    return Structure(f"{k}-fold", positions, senders, receivers)


def _cyclic(triples: list[tuple[float, float, float]]) -> list[tuple[float, float, float]]:
    return [t[c:] + t[:c] for t in triples for c in range(3)]


def _polyhedron_vertices(name: str) -> np.ndarray:
    signs = [(a, b, c) for a in (1.0, -1.0) for b in (1.0, -1.0) for c in (1.0, -1.0)]
    if name == "tetrahedron":
        verts = [s for s in signs if sum(x < 0 for x in s) % 2 == 0]
    elif name == "cube":
        verts = signs
    elif name == "octahedron":
        verts = [tuple(float(s) * e for e in row) for row in np.eye(3) for s in (1.0, -1.0)]
    elif name == "dodecahedron":
        verts = signs + _cyclic([(0.0, a * PHI, b / PHI) for a in (1.0, -1.0) for b in (1.0, -1.0)])
    elif name == "icosahedron":
        verts = _cyclic([(0.0, a * 1.0, b * PHI) for a in (1.0, -1.0) for b in (1.0, -1.0)])
    else:
        raise ValueError(f"unknown polyhedron {name!r}; allowed: {', '.join(POLYHEDRON_NAMES)}")
    return np.asarray(verts, dtype=np.float64)


def polyhedron(name: str) -> Structure:
    """A regular polyhedron's vertices (centred at the origin) on a complete graph.

    tetrahedron: (±1, ±1, ±1) with an even number of minus signs (4 vertices);
    cube: all (±1, ±1, ±1) (8); octahedron: ±e_x, ±e_y, ±e_z (6);
    dodecahedron: the cube plus cyclic permutations of (0, ±φ, ±1/φ) (20);
    icosahedron: cyclic permutations of (0, ±1, ±φ) (12); φ the golden ratio.
    Edges: every ordered pair i != j (N(N-1) edges).
    """
    verts = _polyhedron_vertices(name)
    full = complete_graph(len(verts))
    senders, receivers = full.receivers, full.senders  # the same edges, listed by sender
    return Structure(name, verts, senders, receivers)


def _fold_order(name: str) -> int | None:
    m = re.fullmatch(r"(\d+)-fold", name) if isinstance(name, str) else None
    return int(m.group(1)) if m else None


def _unknown(name) -> ValueError:
    return ValueError(
        f"unknown structure {name!r}; allowed: {', '.join(STRUCTURE_NAMES)} "
        f"(or '<k>-fold' for any k >= 2)"
    )


def structure(name: str) -> Structure:
    """The structure called `name`: one of STRUCTURE_NAMES, or '<k>-fold' for any k >= 2."""
    k = _fold_order(name)
    if k is not None:
        if k < 2:
            raise _unknown(name)
        return k_fold_star(k)
    if name in POLYHEDRON_NAMES:
        return polyhedron(name)
    raise _unknown(name)


def perturbed(key: jax.Array, structure: Structure, epsilon: float) -> Structure:
    """The structure with its symmetry broken by Gaussian jitter (HEGNN's perturbation test).

    The positions are centred, then every coordinate gets independent normal
    noise of standard deviation ``epsilon * mean_i |x_i|`` (epsilon >= 0, a
    fraction of the structure's mean radius). The graph is kept.
    """
    if isinstance(key, Structure):
        raise TypeError("perturbed takes the jax.random key first: perturbed(key, structure, epsilon)")
    if not np.isfinite(epsilon) or epsilon < 0:
        raise ValueError(f"epsilon = {epsilon!r}: must be a finite number >= 0")
    x = np.asarray(structure.positions, dtype=np.float64)
    x = x - x.mean(axis=0)
    scale = epsilon * np.linalg.norm(x, axis=1).mean()
    noise = np.asarray(jax.random.normal(key, x.shape), dtype=np.float64)
    return Structure(f"{structure.name}+{epsilon:g}", x + scale * noise, structure.senders, structure.receivers)


def rotated_pair(key: jax.Array, structure: Structure) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The structure's positions and a copy rotated by a uniformly random rotation.

    key: a jax.random key (first, as for every stochastic function here).
    Returns positions_a (N, 3), positions_b = positions_a @ R.T (N, 3) and
    R (3, 3) with det R = +1 (Haar-uniform on SO(3), via e3nn_jax.rand_matrix),
    all float32 numpy. The rotation is about the origin, which is the centroid
    of every structure built here.
    """
    if isinstance(key, Structure):
        raise TypeError("rotated_pair takes the jax.random key first: rotated_pair(key, structure)")
    if not isinstance(structure, Structure):
        raise TypeError(f"structure must be a Structure, got {type(structure).__name__}")
    R = np.asarray(_random_rotation(key), dtype=np.float64)
    a = np.asarray(structure.positions, dtype=np.float64)
    return a.astype(np.float32), (a @ R.T).astype(np.float32), R.astype(np.float32)


# -------------------------------------------------------------- symmetry group


def _check_positions(positions) -> np.ndarray:
    p = np.asarray(positions, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3 or p.shape[0] == 0:
        raise ValueError(f"positions must have shape (N, 3) with N >= 1, got {p.shape}")
    if not np.all(np.isfinite(p)):
        raise ValueError("positions must be finite")
    return p


def _maps_onto(R: np.ndarray, p: np.ndarray, atol: float) -> bool:
    """Whether x -> R x permutes the rows of p (to within atol)."""
    images = p @ R.T
    d = np.linalg.norm(images[:, None, :] - p[None, :, :], axis=-1)
    nearest = d.argmin(axis=1)
    return bool(np.all(d[np.arange(len(p)), nearest] < atol) and len(np.unique(nearest)) == len(p))


def _axial_group(p: np.ndarray, u: np.ndarray, order: int, atol: float) -> np.ndarray:
    """C_nv, or D_nh if the line's points are symmetric under x -> -x (n = order)."""
    helper = np.eye(3)[np.argmin(np.abs(u))]
    e1 = np.cross(u, helper)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(u, e1)
    uu = np.outer(u, u)
    rots = []
    for j in range(order):
        a = 2.0 * np.pi * j / order
        rots.append(uu + math.cos(a) * (np.outer(e1, e1) + np.outer(e2, e2))
                    + math.sin(a) * (np.outer(e2, e1) - np.outer(e1, e2)))
    mirror = np.eye(3) - 2.0 * np.outer(e2, e2)  # the plane spanned by u and e1
    group = rots + [r @ mirror for r in rots]
    if _maps_onto(-np.eye(3), p, atol):
        group += [-g for g in group]
    return np.stack(group)


def symmetry_group(
    positions, tol: float = 1e-5, axial_order: int = DEFAULT_AXIAL_ORDER
) -> np.ndarray:
    """Every orthogonal matrix (proper and improper) that maps the point set onto itself.

    positions: (N, 3), centred at their centroid before the search (a point at
    the centroid is fixed by every element). tol: relative tolerance (times the
    largest distance from the centroid) for matching points. Returns
    (|H|, 3, 3) float64, identity first.

    For a set that spans a plane or all of 3-D, two non-collinear points a, b
    fix every element: each candidate image pair (a', b') with matching lengths
    and angle, and each sign s of the third axis, gives
    g = [a', b', s a'×b'] [a, b, a×b]^{-1} (det g = s); the candidates that
    permute the set are the group, found once each.

    A collinear set has an infinite group (D_∞h if it is symmetric through the
    centroid, else C_∞v); it is replaced by D_nh or C_nv with n = axial_order
    (orders 4n and 2n), which gives the exact invariant multiplicity for every
    degree l < axial_order. Raises ValueError if all points coincide (the group
    is all of O(3)).
    """
    p = _check_positions(positions)
    p = p - p.mean(axis=0)
    norms = np.linalg.norm(p, axis=1)
    scale = norms.max()
    if scale <= tol:
        raise ValueError("all points coincide: the symmetry group is all of O(3)")
    atol = tol * scale
    if isinstance(axial_order, bool) or not isinstance(axial_order, (int, np.integer)) or axial_order < 1:
        raise ValueError(f"axial_order={axial_order!r} must be an int >= 1")

    ia = int(np.argmax(norms))
    a = p[ia]
    cross = np.linalg.norm(np.cross(a, p), axis=1)
    ib = int(np.argmax(cross))
    if cross[ib] <= atol * scale:
        return _axial_group(p, a / norms[ia], int(axial_order), atol)
    b = p[ib]
    basis_inv = np.linalg.inv(np.stack([a, b, np.cross(a, b)], axis=1))

    cand_a = np.flatnonzero(np.abs(norms - norms[ia]) < atol)
    cand_b = np.flatnonzero(np.abs(norms - norms[ib]) < atol)
    ab = a @ b
    found = []
    for i in cand_a:
        qa = p[i]
        for j in cand_b:
            qb = p[j]
            if abs(qa @ qb - ab) >= atol * scale:
                continue
            for s in (1.0, -1.0):
                g = np.stack([qa, qb, s * np.cross(qa, qb)], axis=1) @ basis_inv
                if np.allclose(g @ g.T, np.eye(3), atol=10 * tol) and _maps_onto(g, p, atol):
                    found.append(g)
    found.sort(key=lambda g: np.abs(g - np.eye(3)).sum())  # identity first
    return np.stack(found)


# ------------------------------------------------------ characters and theorem


def _check_group(group) -> np.ndarray:
    g = np.asarray(group, dtype=np.float64)
    if g.ndim != 3 or g.shape[1:] != (3, 3) or g.shape[0] == 0:
        raise ValueError(f"group must have shape (|H|, 3, 3), got {g.shape}")
    return g


def _check_degree(l, what: str = "l") -> int:
    if isinstance(l, bool) or not isinstance(l, (int, np.integer)) or l < 0:
        raise ValueError(f"{what}={l!r} must be an int >= 0")
    return int(l)


def rotation_angles(group) -> tuple[np.ndarray, np.ndarray]:
    """(det g, θ) for each g: g = det(g) · (rotation by θ in [0, π])."""
    g = _check_group(group)
    det = np.sign(np.linalg.det(g))
    proper = det[:, None, None] * g
    cos = np.clip((np.trace(proper, axis1=1, axis2=2) - 1.0) / 2.0, -1.0, 1.0)
    return det, np.arccos(cos)


def character(group, l: int) -> np.ndarray:
    """tr ρ^(l)(g) for each g, natural parity: det(g)^l χ_l(θ).

    χ_l(θ) = sin((2l+1)θ/2) / sin(θ/2), evaluated as 1 + 2 Σ_{m=1}^{l} cos(mθ)
    (the same function, finite at θ = 0). Returns (|H|,) float64.
    """
    l = _check_degree(l)
    det, theta = rotation_angles(group)
    m = np.arange(1, l + 1)
    chi = 1.0 + 2.0 * np.cos(theta[:, None] * m[None, :]).sum(axis=1)
    return det**l * chi


def invariant_multiplicity(group, l: int) -> int:
    """Multiplicity of the trivial representation in ρ^(l) restricted to `group`.

    (1/|H|) Σ_g tr ρ^(l)(g), natural parity ρ^(l)(g) = det(g)^l D^(l)(g).
    Raises ValueError if the average is not an integer (the matrices are not a group).
    """
    mean = float(character(group, l).mean())
    n = round(mean)
    if abs(mean - n) > 1e-6 * (2 * l + 1):
        raise ValueError(
            f"character average {mean!r} at l={l} is not an integer: the matrices do not form a group"
        )
    return int(n)


def vanishing_degrees(positions, lmax: int, tol: float = 1e-5) -> tuple[int, ...]:
    """Degrees l in 1..lmax at which every O(3)-equivariant function vanishes on the point set.

    Those with zero invariant multiplicity under the set's symmetry group
    (degree 0 never vanishes and is not listed). positions: (N, 3).
    """
    lmax = _check_degree(lmax, "lmax")
    group = symmetry_group(positions, tol=tol, axial_order=max(DEFAULT_AXIAL_ORDER, lmax + 1))
    return tuple(l for l in range(1, lmax + 1) if invariant_multiplicity(group, l) == 0)


def predicted_vanishing(name: str, lmax: int) -> tuple[int, ...]:
    """The rule stated in the paper and the issue, for l in 1..lmax.

    k-fold star, k even: every odd l; k odd: odd l < k; tetrahedron {1, 2, 5};
    cube and octahedron {2} ∪ odd l; dodecahedron and icosahedron
    {2, 4, 8, 14} ∪ odd l.
    """
    lmax = _check_degree(lmax, "lmax")
    degrees = range(1, lmax + 1)
    k = _fold_order(name)
    if k is not None:
        if k < 2:
            raise _unknown(name)
        if k % 2 == 0:
            return tuple(l for l in degrees if l % 2 == 1)
        return tuple(l for l in degrees if l % 2 == 1 and l < k)
    if name == "tetrahedron":
        return tuple(l for l in degrees if l in (1, 2, 5))
    if name in ("cube", "octahedron"):
        return tuple(l for l in degrees if l == 2 or l % 2 == 1)
    if name in ("dodecahedron", "icosahedron"):
        return tuple(l for l in degrees if l in (2, 4, 8, 14) or l % 2 == 1)
    raise _unknown(name)
