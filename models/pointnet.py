"""Point-set networks (PointNet++, Qi et al. 2017) on the analogue arrays: sampling,
grouping, set abstraction and feature propagation, digital or with frozen random
conductances (DEPLM, Wang et al., arXiv 2312.09262; facts from its public code,
wangsc1912/deplm).

Clouds are fixed-size arrays: xyz (B, N, 3) in the cloud's own units (the data
sets normalise to the unit ball) and features (B, N, C). Every geometric step is
a fixed-shape array program (no Python loop over points), so a network jits and
vmaps over chips:

* ``farthest_point_sample``: M centres, each the point farthest from those taken
  (the first is point 0), in a ``lax.fori_loop``;
* ``ball_query``: for each centre the first ``k`` points (in index order) within
  ``radius``; missing slots repeat the first one found (PointNet++'s rule);
* ``group``: the neighbours' xyz relative to their centre, concatenated with
  their features: (B, M, k, 3 + C);
* ``three_nn_interpolate``: features carried from a coarse set to a fine one by
  inverse-distance weights of the three nearest coarse points.

``SetAbstraction`` (sample, group, one 1x1 layer, batch norm, max over the
neighbours, ReLU; ``n_centres=None`` groups the whole cloud into one centre) and
``FeaturePropagation`` (interpolate, concatenate the skip features, 1x1 layer,
batch norm, ReLU) build ``PointClassifier`` and ``PartSegmenter``. Their 1x1
layers come in two kinds: "trained" (``AnalogDense`` kernels, the software
baseline, digital under an ideal spec) and "random" (``RandomDense``: the random
pair that forming leaves, frozen, times a learnable scalar — DEPLM's "scaling";
only batch norm, the scalars and the digital read-out train). ``features`` of a
network is what its read-out sees, for the closed-form (ridge) read-out.
"""

from __future__ import annotations

from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from analog.crossbar import CrossbarSpec
from models.layers import RANDOM_SPEC, AnalogDense, RandomDense

__all__ = ["farthest_point_sample", "ball_query", "group", "three_nn_interpolate", "POINT_KINDS", "point_layer",
           "SetAbstraction", "FeaturePropagation", "PointClassifier", "PartSegmenter", "sa_stages"]

POINT_KINDS = ("trained", "random")


# ---------------------------------------------------------------------------- geometry (one cloud; vmap for batches)
def _squared_distances(a: jax.Array, b: jax.Array) -> jax.Array:
    """(M, N) squared distances between points a (M, 3) and b (N, 3)."""
    return jnp.sum((a[:, None, :] - b[None, :, :]) ** 2, axis=-1)


def farthest_point_sample(xyz: jax.Array, n_centres: int) -> jax.Array:
    """Indices (n_centres,) of farthest-point sampling of ``xyz`` (N, 3), starting at point 0."""
    n = xyz.shape[0]
    if not 1 <= n_centres <= n:
        raise ValueError(f"farthest_point_sample: n_centres = {n_centres} is invalid: allowed 1..{n} (the points)")

    def take(i, state):
        chosen, nearest = state
        last = xyz[chosen[i - 1]]
        nearest = jnp.minimum(nearest, jnp.sum((xyz - last) ** 2, axis=-1))
        return chosen.at[i].set(jnp.argmax(nearest).astype(chosen.dtype)), nearest

    chosen = jnp.zeros((n_centres,), jnp.int32)
    chosen, _ = jax.lax.fori_loop(1, n_centres, take, (chosen, jnp.full((n,), jnp.inf, xyz.dtype)))
    return chosen


def ball_query(xyz: jax.Array, centres: jax.Array, radius: float, k: int) -> jax.Array:
    """Indices (M, k) into ``xyz`` (N, 3) of the first ``k`` points within ``radius``
    of each centre (M, 3), in index order; slots beyond the points found repeat the
    first one (a centre taken from ``xyz`` always finds itself)."""
    n = xyz.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"ball_query: k = {k} is invalid: allowed 1..{n} (the points)")
    inside = _squared_distances(centres, xyz) <= radius ** 2
    order = jnp.where(inside, jnp.arange(n), n)  # the points outside sort last
    first = -jax.lax.top_k(-order, k)[0]          # the k smallest indices, ascending
    return jnp.where(first == n, first[:, :1], first).astype(jnp.int32)


def group(xyz: jax.Array, features: jax.Array | None, centres: jax.Array, neighbours: jax.Array) -> jax.Array:
    """(M, k, 3 + C): the neighbours' xyz relative to their centre (M, 3), then their features (N, C)."""
    relative = xyz[neighbours] - centres[:, None, :]
    return relative if features is None else jnp.concatenate([relative, features[neighbours]], axis=-1)


def three_nn_interpolate(fine_xyz: jax.Array, coarse_xyz: jax.Array, coarse_features: jax.Array,
                         eps: float = 1e-8) -> jax.Array:
    """Features (N, C) at ``fine_xyz`` (N, 3) from ``coarse_features`` (M, C) at
    ``coarse_xyz`` (M, 3): inverse-squared-distance weights of the three nearest
    coarse points (fewer when M < 3; one coarse point is copied everywhere)."""
    k = min(3, coarse_xyz.shape[0])
    d2 = _squared_distances(fine_xyz, coarse_xyz)
    neg, idx = jax.lax.top_k(-d2, k)
    weights = 1.0 / (-neg + eps)
    weights = weights / jnp.sum(weights, axis=-1, keepdims=True)
    return jnp.einsum("nk,nkc->nc", weights, coarse_features[idx])


# ---------------------------------------------------------------------------- layers
def point_layer(kind: str, spec: CrossbarSpec, features: int, name: str | None = None,
                kernel_transform: Callable | None = None) -> nn.Module:
    """The shared 1x1 layer of a point network: "trained" kernels on ``spec``'s arrays
    (through ``kernel_transform``, e.g. ``analog.transforms.Ternary()``, when given)
    or the "random" pairs ``spec``'s device forms (unit-variance LeCun scaling, a
    learnable scalar). No bias: batch norm follows."""
    if kind == "trained":
        return AnalogDense(features, spec=spec, use_bias=False, kernel_transform=kernel_transform, name=name)
    if kernel_transform is not None:
        raise ValueError("point_layer: kernel_transform applies to 'trained' kernels only (random pairs are frozen)")
    if kind == "random":
        return RandomDense(features, spec=spec, scale="scalar", name=name)
    raise ValueError(f"point network kind = {kind!r} is invalid: allowed {POINT_KINDS}")


def _norm_relu(x: jax.Array, train: bool, name: str) -> jax.Array:
    return nn.relu(nn.BatchNorm(use_running_average=not train, momentum=0.9, name=name)(x))


class SetAbstraction(nn.Module):
    """One set-abstraction stage: (xyz (B, N, 3), features (B, N, C) or None) ->
    (centres (B, M, 3), features (B, M, ``features``)).

    ``n_centres`` centres by farthest-point sampling (None: one centre at the
    origin holding the whole cloud, PointNet++'s "group all"), ``n_neighbours``
    points each within ``radius``; the layer maps each neighbour's (relative xyz,
    features), batch norm, max over neighbours, ReLU."""

    n_centres: int | None
    radius: float
    n_neighbours: int
    features: int
    kind: str = "random"
    spec: CrossbarSpec = RANDOM_SPEC  # the TaOx random source, ideal reads
    kernel_transform: Callable | None = None  # "trained" kernels only (``point_layer``)

    @nn.compact
    def __call__(self, xyz: jax.Array, features: jax.Array | None, train: bool = False):
        if self.n_centres is None:
            centres = jnp.zeros((xyz.shape[0], 1, 3), xyz.dtype)
            grouped = xyz[:, None] if features is None else jnp.concatenate([xyz, features], -1)[:, None]
        else:
            idx = jax.vmap(farthest_point_sample, in_axes=(0, None))(xyz, self.n_centres)
            centres = jnp.take_along_axis(xyz, idx[..., None], axis=1)
            near = jax.vmap(ball_query, in_axes=(0, 0, None, None))(xyz, centres, self.radius, self.n_neighbours)
            grouped = jax.vmap(group)(xyz, features, centres, near)
        layer = point_layer(self.kind, self.spec, self.features, name="layer", kernel_transform=self.kernel_transform)
        h = layer(grouped)
        h = nn.BatchNorm(use_running_average=not train, momentum=0.9, name="norm")(h)
        return centres, nn.relu(jnp.max(h, axis=2))


class FeaturePropagation(nn.Module):
    """Coarse-to-fine propagation: features interpolated from (coarse xyz (B, M, 3),
    features (B, M, C)) to fine xyz (B, N, 3), concatenated with the fine set's own
    features (B, N, C') when given, then the 1x1 layer, batch norm, ReLU."""

    features: int
    kind: str = "random"
    spec: CrossbarSpec = RANDOM_SPEC  # the TaOx random source, ideal reads

    @nn.compact
    def __call__(self, fine_xyz, coarse_xyz, coarse_features, fine_features=None, train: bool = False):
        h = jax.vmap(three_nn_interpolate)(fine_xyz, coarse_xyz, coarse_features)
        if fine_features is not None:
            h = jnp.concatenate([fine_features, h], axis=-1)
        return _norm_relu(point_layer(self.kind, self.spec, self.features, name="layer")(h), train, "norm")


def _split(points: jax.Array, name: str) -> tuple[jax.Array, jax.Array | None]:
    if points.ndim != 3 or points.shape[-1] < 3:
        raise ValueError(f"{name}: points have shape {points.shape}: expected (batch, n_points, 3 + channels), "
                         "xyz first")
    return points[..., :3], (points[..., 3:] if points.shape[-1] > 3 else None)


Stage = tuple  # (n_centres or None, radius, n_neighbours, features)


def sa_stages(centres: Sequence[int], radii: Sequence[float], neighbours: Sequence[int],
              widths: Sequence[int]) -> tuple[Stage, ...]:
    """Set-abstraction stages from per-stage lists: one (centres, radius, neighbours,
    width) per sampled stage, then the group-all stage of width ``widths[-1]``."""
    if not len(centres) == len(radii) == len(neighbours) == len(widths) - 1:
        raise ValueError(f"centres {tuple(centres)}, radii {tuple(radii)} and neighbours {tuple(neighbours)} need "
                         f"one value per sampled stage and widths {tuple(widths)} one more (the group-all stage)")
    return tuple(zip(centres, radii, neighbours, widths)) + ((None, 0.0, 1, widths[-1]),)


class PointClassifier(nn.Module):
    """PointNet++ (single scale) classifier: ``stages`` of ``SetAbstraction`` (the
    last usually ``(None, 0, 1, width)``: group all) and a digital linear read-out.

    points (B, N, 3 + C), xyz first -> logits (B, n_classes); ``features`` returns
    the global feature (B, width) the read-out sees."""

    stages: Sequence[Stage]
    n_classes: int
    kind: str = "random"
    spec: CrossbarSpec = RANDOM_SPEC  # the TaOx random source, ideal reads

    def setup(self):
        self.sa = [SetAbstraction(*stage, kind=self.kind, spec=self.spec, name=f"sa{i}")
                   for i, stage in enumerate(self.stages)]
        self.readout = nn.Dense(self.n_classes, name="readout")

    def features(self, points: jax.Array, train: bool = False) -> jax.Array:
        xyz, h = _split(points, "PointClassifier")
        for sa in self.sa:
            xyz, h = sa(xyz, h, train)
        return h[:, 0] if h.shape[1] == 1 else jnp.max(h, axis=1)

    def __call__(self, points: jax.Array, train: bool = False) -> jax.Array:
        return self.readout(self.features(points, train))


class PartSegmenter(nn.Module):
    """PointNet++ part segmentation: ``stages`` of set abstraction, one feature
    propagation per stage back to the input points (widths ``fp_features``, coarse
    to fine), a per-point digital classifier. The category's one-hot (B, n_categories)
    joins the input points' features at the last propagation when ``n_categories``.

    (points (B, N, 3 + C), category (B,) or None) -> per-point logits (B, N, n_parts);
    ``features`` returns the per-point features (B, N, fp_features[-1])."""

    stages: Sequence[Stage]
    fp_features: Sequence[int]
    n_parts: int
    n_categories: int = 0
    kind: str = "random"
    spec: CrossbarSpec = RANDOM_SPEC  # the TaOx random source, ideal reads

    def setup(self):
        if len(self.fp_features) != len(self.stages):
            raise ValueError(f"PartSegmenter: {len(self.stages)} stages need {len(self.stages)} fp_features, "
                             f"got {len(self.fp_features)}")
        self.sa = [SetAbstraction(*stage, kind=self.kind, spec=self.spec, name=f"sa{i}")
                   for i, stage in enumerate(self.stages)]
        self.fp = [FeaturePropagation(f, kind=self.kind, spec=self.spec, name=f"fp{i}")
                   for i, f in enumerate(self.fp_features)]
        self.classifier = nn.Dense(self.n_parts, name="classifier")

    def features(self, points: jax.Array, category: jax.Array | None = None, train: bool = False) -> jax.Array:
        xyz, h = _split(points, "PartSegmenter")
        levels = [(xyz, h)]
        for sa in self.sa:
            levels.append(sa(*levels[-1], train))
        coarse_xyz, coarse = levels[-1]
        for i, (fp, (fine_xyz, fine)) in enumerate(zip(self.fp, reversed(levels[:-1]))):
            if i == len(self.fp) - 1 and self.n_categories:  # the input points: add the category
                if category is None:
                    raise ValueError(f"PartSegmenter: n_categories = {self.n_categories} needs the category (B,)")
                onehot = jax.nn.one_hot(category, self.n_categories, dtype=xyz.dtype)[:, None]
                onehot = jnp.broadcast_to(onehot, xyz.shape[:2] + (self.n_categories,))
                fine = jnp.concatenate([xyz, onehot] + ([] if fine is None else [fine]), axis=-1)
            coarse = fp(fine_xyz, coarse_xyz, coarse, fine, train)
            coarse_xyz = fine_xyz
        return coarse

    def __call__(self, points: jax.Array, category: jax.Array | None = None, train: bool = False) -> jax.Array:
        return self.classifier(self.features(points, category, train))
