"""Semantic-memory dynamic networks: ternary CIM stages with CAM early exits
(Zhang et al., "Dynamic neural network with memristive CIM and CAM for 2D and 3D
vision", arXiv 2407.08990; Sci. Adv. 2024). No public code: the exit rule,
the codes and the prototype loss below are our reconstruction, each a choice the
experiment config names.

A network is a chain of stages whose weights are ternary (``analog.transforms.
Ternary``, TWN rule, straight-through) on LRS/HRS differential pairs (the
``ternary_lrs_hrs`` preset), then a classifier head. After every stage but the
last, the stage's pooled feature f (B, D) is an exit:

1. it is standardised with the training set's mean and std per dimension,
   ``z = (f - centre) / scale``, and coded: ``"hamming"`` -> bits ``z > 0`` (a
   binary query of a TCAM), ``"dot"`` -> ternary ``sign(z) (|z| > delta)``;
2. the CAM of that exit holds one semantic vector per class: the class mean of
   the training set's z, quantised. For "hamming" a TCAM word: 1 where the mean
   is above ``delta``, 0 below ``-delta``, don't care in between (a dimension
   that does not tell the class apart); for "dot" the ternary code of the mean;
3. the search (``analog.cam.search``, noisy on a chip) gives every class a
   similarity normalised to [-1, 1] by the word's cells that count:
   ``1 - 2 d / n_care`` (Hamming distance d) or ``q . s / sqrt(nnz(s) nnz(q))``;
4. the input exits with the best class when the exit's score passes its
   threshold: ``"margin"`` (best minus second best) or ``"similarity"`` (best).

Inputs that pass no exit run the whole network; its head's argmax is the answer.
With every threshold at +inf the dynamic network is the static one, exactly.

The arrays compute every stage for every input (an array program: fixed shapes,
vmapped over chips); what an input "ran" is its exit index, and what it cost is
counted from the stages it ran (``macs_per_exit``), the way the hardware stops.

Both networks return ``exits(x, train) -> (features per exit [(B, D_k)], logits
(B, n_classes))`` and name their top-level submodules by stage (``stage0``...,
``head``), so ``analog.cost.stage_counts`` of the sown costs is per stage.
"""

from __future__ import annotations

from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from analog.cam import DONT_CARE
from analog.crossbar import CrossbarSpec
from analog.transforms import Ternary
from models.layers import AnalogConv, AnalogDense
from models.pointnet import SetAbstraction, Stage, _split

__all__ = ["CAM_METRICS", "EXIT_RULES", "TernaryResNet", "DynamicPointNet", "standardise",
           "query_codes", "semantic_words", "similarities", "exit_scores", "dynamic_predict", "choose_thresholds",
           "macs_per_exit", "prototype_loss"]

CAM_METRICS = ("hamming", "dot")
EXIT_RULES = ("margin", "similarity")


# ---------------------------------------------------------------------------- networks
class _Block(nn.Module):
    """ResNet basic block on ternary arrays: two 3x3 convolutions with batch norm, a
    1x1 projection shortcut when the shape changes, ReLU after the sum."""

    features: int
    strides: int
    spec: CrossbarSpec
    kernel_transform: Callable | None

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        conv = lambda f, k, s, name: AnalogConv(f, (k, k), s, "SAME", spec=self.spec, use_bias=False,
                                                kernel_transform=self.kernel_transform, name=name)
        norm = lambda name: nn.BatchNorm(use_running_average=not train, momentum=0.9, name=name)
        h = nn.relu(norm("norm1")(conv(self.features, 3, self.strides, "conv1")(x)))
        h = norm("norm2")(conv(self.features, 3, 1, "conv2")(h))
        if self.strides != 1 or x.shape[-1] != self.features:
            x = norm("norm_skip")(conv(self.features, 1, self.strides, "skip")(x))
        return nn.relu(h + x)


class _ResStage(nn.Module):
    """Stage i of ``TernaryResNet``: (stem convolution for i = 0) + ``blocks`` blocks."""

    features: int
    strides: int
    blocks: int
    stem: bool
    spec: CrossbarSpec
    kernel_transform: Callable | None

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        if self.stem:
            x = AnalogConv(self.features, (3, 3), 1, "SAME", spec=self.spec, use_bias=False,
                           kernel_transform=self.kernel_transform, name="stem")(x)
            x = nn.relu(nn.BatchNorm(use_running_average=not train, momentum=0.9, name="stem_norm")(x))
        for b in range(self.blocks):
            x = _Block(self.features, self.strides if b == 0 else 1, self.spec, self.kernel_transform,
                       name=f"block{b}")(x, train)
        return x


def _grid_pool(x: jax.Array, grid: int) -> jax.Array:
    """(B, H, W, C) -> (B, grid * grid * C): the mean over each cell of a grid x grid split."""
    b, h, w, c = x.shape
    gh, gw = -(-h // grid), -(-w // grid)
    x = jnp.pad(x, ((0, 0), (0, gh * grid - h), (0, gw * grid - w), (0, 0)))
    cells = x.reshape(b, grid, gh, grid, gw, c)
    count = jnp.pad(jnp.ones((h, w)), ((0, gh * grid - h), (0, gw * grid - w))).reshape(grid, gh, grid, gw)
    return (cells.sum(axis=(2, 4)) / count.sum(axis=(1, 3))[None, :, :, None]).reshape(b, -1)


class TernaryResNet(nn.Module):
    """A small ResNet for (B, H, W, C) images on ternary CIM: ``stage0`` (3x3 stem +
    blocks at full resolution), then one stage per further width at stride 2, global
    average pooling and an analogue ``head``. Exit k's feature is stage k's output
    averaged over a ``pool_grid`` x ``pool_grid`` grid (B, grid^2 C_k).

    widths: channels per stage; blocks: basic blocks per stage; spec: the arrays
    (``ternary_lrs_hrs``; ``spec.ideal()`` = digital); kernel_transform: applied to
    every kernel before programming (``Ternary()``; None = full precision)."""

    widths: Sequence[int] = (16, 32, 64)
    n_classes: int = 10
    blocks: int = 1
    pool_grid: int = 1
    spec: CrossbarSpec = CrossbarSpec()
    kernel_transform: Callable | None = Ternary()

    def setup(self):
        self.stages = [_ResStage(w, 1 if i == 0 else 2, self.blocks, i == 0, self.spec, self.kernel_transform,
                                 name=f"stage{i}") for i, w in enumerate(self.widths)]
        self.head = AnalogDense(self.n_classes, spec=self.spec, kernel_transform=self.kernel_transform, name="head")

    def exits(self, x: jax.Array, train: bool = False) -> tuple[list[jax.Array], jax.Array]:
        if x.ndim != 4:
            raise ValueError(f"TernaryResNet: images have shape {x.shape}: expected (batch, H, W, channels)")
        features = []
        for i, stage in enumerate(self.stages):
            x = stage(x, train)
            if i < len(self.stages) - 1:
                features.append(_grid_pool(x, self.pool_grid))
        return features, self.head(jnp.mean(x, axis=(1, 2)))

    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        return self.exits(x, train)[1]


class DynamicPointNet(nn.Module):
    """PointNet++ (single scale) on ternary CIM: ``stages`` of set abstraction
    (``models.pointnet.SetAbstraction``, trained 1x1 layers with ``kernel_transform``;
    the last usually group-all) and an analogue ``head``. Exit k's feature is stage
    k's output max-pooled over its centres (B, width_k). points (B, N, 3 + C)."""

    stages: Sequence[Stage]
    n_classes: int
    spec: CrossbarSpec = CrossbarSpec()
    kernel_transform: Callable | None = Ternary()

    def setup(self):
        self.sa = [SetAbstraction(*stage, kind="trained", spec=self.spec, kernel_transform=self.kernel_transform,
                                  name=f"stage{i}") for i, stage in enumerate(self.stages)]
        self.head = AnalogDense(self.n_classes, spec=self.spec, kernel_transform=self.kernel_transform, name="head")

    def exits(self, points: jax.Array, train: bool = False) -> tuple[list[jax.Array], jax.Array]:
        xyz, h = _split(points, "DynamicPointNet")
        features = []
        for i, sa in enumerate(self.sa):
            xyz, h = sa(xyz, h, train)
            if i < len(self.sa) - 1:
                features.append(jnp.max(h, axis=1))
        return features, self.head(jnp.max(h, axis=1))

    def __call__(self, points: jax.Array, train: bool = False) -> jax.Array:
        return self.exits(points, train)[1]


# ---------------------------------------------------------------------------- training
def prototype_loss(features: jax.Array, labels: jax.Array, prototypes: jax.Array, temperature: float = 10.0):
    """Cross-entropy of ``temperature x cos(f - mean_batch(f), prototype_c)`` over the
    classes: pulls an exit's centred features towards one learnable direction per
    class, the direction its semantic vector will code. features (B, D), labels (B,),
    prototypes (n_classes, D)."""
    z = features - jnp.mean(features, axis=0, keepdims=True)
    z = z / (jnp.linalg.norm(z, axis=-1, keepdims=True) + 1e-6)
    p = prototypes / (jnp.linalg.norm(prototypes, axis=-1, keepdims=True) + 1e-6)
    logits = temperature * z @ p.T
    return jnp.mean(jax.nn.logsumexp(logits, axis=-1) - jnp.take_along_axis(logits, labels[:, None], -1)[:, 0])


# ---------------------------------------------------------------------------- the semantic memory
def standardise(features, centre, scale):
    """``(f - centre) / scale`` (B, D)."""
    return (features - centre) / scale


def query_codes(z, metric: str, delta: float):
    """Codes of standardised features z (B, D): bits {0, 1} (``z > 0``) for "hamming",
    ternary {-1, 0, 1} (``sign(z) (|z| > delta)``) for "dot"."""
    if metric == "hamming":
        return (z > 0).astype(jnp.float32)
    if metric == "dot":
        return (jnp.sign(z) * (jnp.abs(z) > delta)).astype(jnp.float32)
    raise ValueError(f"metric = {metric!r} is invalid: allowed {CAM_METRICS}")


def semantic_words(z, labels, n_classes: int, metric: str, delta: float) -> np.ndarray:
    """One word per class from standardised training features z (n, D) and labels (n,):
    the class mean m, coded 1 / 0 / DONT_CARE (m > delta, m < -delta, else) for
    "hamming", ternary ``sign(m) (|m| > delta)`` for "dot". (n_classes, D) int32."""
    z, labels = np.asarray(z, np.float64), np.asarray(labels)
    missing = sorted(set(range(n_classes)) - set(labels.tolist()))
    if missing:
        raise ValueError(f"semantic_words: no training features of class(es) {missing}")
    means = np.stack([z[labels == c].mean(axis=0) for c in range(n_classes)])
    if metric == "hamming":
        return np.where(means > delta, 1, np.where(means < -delta, 0, DONT_CARE)).astype(np.int32)
    if metric == "dot":
        return (np.sign(means) * (np.abs(means) > delta)).astype(np.int32)
    raise ValueError(f"metric = {metric!r} is invalid: allowed {CAM_METRICS}")


def similarities(scores, words, queries, metric: str):
    """CAM outputs (B, n_classes) -> similarities in [-1, 1] (1 = the word exactly).

    "hamming": scores are Hamming distances d over the word's care cells (n_care per
    row): ``1 - 2 d / n_care``. "dot": scores are ``q . s``, divided by
    ``sqrt(nnz(s) nnz(q))``. A word or query without any cell that counts scores 0."""
    words = jnp.asarray(words)
    if metric == "hamming":
        n_care = jnp.sum(words != DONT_CARE, axis=-1).astype(jnp.float32)
        return jnp.where(n_care > 0, 1.0 - 2.0 * scores / jnp.maximum(n_care, 1.0), 0.0)
    nnz = jnp.sum(words != 0, axis=-1).astype(jnp.float32)[None] * jnp.sum(queries != 0, axis=-1)[:, None]
    return jnp.where(nnz > 0, scores / jnp.sqrt(jnp.maximum(nnz, 1.0)), 0.0)


def exit_scores(sims, rule: str):
    """(best class (B,), exit score (B,)) of similarities (B, n_classes): the best
    similarity ("similarity") or its margin over the second best ("margin")."""
    if rule not in EXIT_RULES:
        raise ValueError(f"exit rule = {rule!r} is invalid: allowed {EXIT_RULES}")
    top2, index = jax.lax.top_k(sims, 2)
    score = top2[:, 0] if rule == "similarity" else top2[:, 0] - top2[:, 1]
    return index[:, 0].astype(jnp.int32), score


def dynamic_predict(exit_classes, exit_score, logits, thresholds):
    """The dynamic network's answer.

    exit_classes, exit_score: (n_exits, B) best class and score at each exit;
    logits: (B, n_classes) of the whole network; thresholds: (n_exits,) (+inf = never exit).
    Returns (predictions (B,), exit index (B,) in 0..n_exits, n_exits = ran everything):
    an input leaves at the first exit whose score is >= its threshold."""
    thresholds = jnp.asarray(thresholds, jnp.float32)
    n_exits = exit_score.shape[0]
    if thresholds.shape != (n_exits,):
        raise ValueError(f"thresholds have shape {thresholds.shape}: expected ({n_exits},) (one per exit)")
    passes = exit_score >= thresholds[:, None]                       # (n_exits, B)
    passes = jnp.concatenate([passes, jnp.ones_like(passes[:1])], 0)  # the head always answers
    where = jnp.argmax(passes, axis=0).astype(jnp.int32)
    classes = jnp.concatenate([exit_classes, jnp.argmax(logits, -1).astype(jnp.int32)[None]], 0)
    return jnp.take_along_axis(classes, where[None], 0)[0], where


def choose_thresholds(exit_classes, exit_score, labels, target: float, reference=None, z: float = 0.0,
                      min_exits: int = 1) -> np.ndarray:
    """Exit thresholds from a validation split (host numpy), exit by exit in order: the
    lowest threshold at which the inputs still running that pass it are answered
    well enough (at least ``min_exits`` of them; else +inf: the exit never fires).

    "Well enough": with ``reference`` None, an accuracy >= ``target``; with
    ``reference`` (n,) the static network's predictions, at most ``target`` (a
    fraction, e.g. 0.005) below the static network's accuracy on those same inputs,
    so the dynamic network loses at most ``target`` to the static one on validation.
    ``z`` > 0 asks for that with ``z`` standard errors to spare (a one-sided bound; the
    lowest passing threshold is otherwise an optimistic pick on a small split): the
    binomial error ``sqrt(count target (1 - target))`` of the exits' correct count, or
    ``sqrt(disagreements)`` of their lead over the reference.
    exit_classes, exit_score (n_exits, n); labels (n,). Returns (n_exits,)."""
    exit_classes, exit_score, labels = (np.asarray(a) for a in (exit_classes, exit_score, labels))
    running = np.ones(labels.shape, bool)
    thresholds = np.full(exit_score.shape[0], np.inf)
    for k in range(exit_score.shape[0]):
        idx = np.flatnonzero(running)
        order = idx[np.argsort(-exit_score[k, idx], kind="stable")]
        correct = np.cumsum(exit_classes[k, order] == labels[order])
        count = np.arange(1, len(order) + 1)
        if reference is None:
            ok = correct - z * np.sqrt(count * max(target * (1.0 - target), 0.0)) >= target * count
        else:
            right = np.asarray(reference)[order] == labels[order]
            differ = np.cumsum(right != (exit_classes[k, order] == labels[order]))
            ok = correct - np.cumsum(right) - z * np.sqrt(differ) >= -target * count
        # ties: a threshold lets every input with an equal score through, so cut only between distinct scores
        scores = exit_score[k, order]
        ok &= (count >= min_exits) & np.append(scores[1:] != scores[:-1], True)
        if ok.any():
            cut = np.flatnonzero(ok)[-1]
            thresholds[k] = scores[cut]
            running[order[:cut + 1]] = False
    return thresholds


def macs_per_exit(stage_macs: Sequence[float]) -> np.ndarray:
    """MACs an input runs when it leaves at exit k (n_exits + 1,), from the MACs of
    every stage and the head (S + 1,): exit k < S - 1 ran stages 0..k; the last entry
    (no exit taken) ran all stages and the head."""
    cum = np.cumsum(np.asarray(stage_macs, np.float64))
    return np.append(cum[:-2], cum[-1])
