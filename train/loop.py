"""Classifiers on the training core (``train.fit``): losses, metrics, and the
resumable classifier loop every image experiment uses."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from train.fit import fit, make_optimizer

__all__ = ["cross_entropy", "accuracy", "pixel_cross_entropy", "roc_auc", "average_precision", "inception_score",
           "histogram_kl", "classifier_loss", "classifier_metrics", "train_classifier"]


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy of ``logits`` (B, C) against integer ``labels`` (B,)."""
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def accuracy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Fraction of rows of ``logits`` (B, C) whose argmax is the label (B,)."""
    return jnp.mean(jnp.argmax(logits, axis=-1) == labels)


def pixel_cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy over the scored pixels: ``logits`` (..., C), integer
    ``labels`` (...) where a negative label (outside the field of view) is ignored."""
    valid = labels >= 0
    per_pixel = optax.softmax_cross_entropy_with_integer_labels(logits, jnp.where(valid, labels, 0))
    return jnp.sum(per_pixel * valid) / jnp.maximum(jnp.sum(valid), 1)


def _count_at_least(sorted_values: jax.Array, thresholds: jax.Array) -> jax.Array:
    """How many of ``sorted_values`` (ascending) are >= each threshold."""
    return sorted_values.size - jnp.searchsorted(sorted_values, thresholds, side="left")


def roc_auc(scores: jax.Array, labels: jax.Array) -> jax.Array:
    """Area under the ROC curve of ``scores`` (any shape) for ``labels`` (same shape;
    1 positive, 0 negative, negative labels ignored): P(positive > negative) + 1/2
    P(tie), equal to scikit-learn's ``roc_auc_score`` on the scored entries."""
    scores, labels = scores.ravel(), labels.ravel()
    pos, neg = labels == 1, labels == 0
    neg_sorted = jnp.sort(jnp.where(neg, scores, jnp.inf))
    below = jnp.searchsorted(neg_sorted, scores, side="left")
    ties = jnp.searchsorted(neg_sorted, scores, side="right") - below
    wins = jnp.sum(jnp.where(pos, below + 0.5 * ties, 0.0))
    return wins / (jnp.sum(pos) * jnp.sum(neg))


def average_precision(scores: jax.Array, labels: jax.Array) -> jax.Array:
    """Area under the precision-recall curve as scikit-learn's ``average_precision_score``
    (sum over thresholds of the recall step times the precision): the mean over
    positives of the precision at the positive's score. Labels as ``roc_auc``."""
    scores, labels = scores.ravel(), labels.ravel()
    pos, scored = labels == 1, labels >= 0
    pos_sorted = jnp.sort(jnp.where(pos, scores, -jnp.inf))
    all_sorted = jnp.sort(jnp.where(scored, scores, -jnp.inf))
    precision = _count_at_least(pos_sorted, scores) / jnp.maximum(_count_at_least(all_sorted, scores), 1)
    return jnp.sum(jnp.where(pos, precision, 0.0)) / jnp.sum(pos)


def classifier_loss(model: nn.Module, loss: Callable = cross_entropy, mutable: Sequence[str] = (),
                    **apply_kwargs) -> Callable:
    """A ``train.fit`` loss for a flax classifier: ``loss(model.apply(variables, x, ...), y)``
    on batches (x, y); ``mutable`` collections (e.g. ``("batch_stats",)``) are updated,
    ``apply_kwargs`` (e.g. ``train=True``) passed to the model."""

    def loss_fn(variables, batch, rngs, context):
        x, y = batch
        if mutable:
            logits, updated = model.apply(variables, x, rngs=rngs, mutable=list(mutable), **apply_kwargs)
            return loss(logits, y), updated
        return loss(model.apply(variables, x, rngs=rngs, **apply_kwargs), y)

    return loss_fn


def classifier_metrics(model: nn.Module, **apply_kwargs) -> Callable:
    """A ``train.fit`` evaluate: ``{"acc", "loss"}`` of the model on ``eval_data = (x, y)``."""

    def evaluate(variables, rngs, eval_data):
        x, y = eval_data
        logits = model.apply(variables, x, rngs=rngs, **apply_kwargs)
        return {"acc": accuracy(logits, y), "loss": cross_entropy(logits, y)}

    return evaluate


def train_classifier(model: nn.Module, x: jax.Array, y: jax.Array, *, epochs: int, batch_size: int,
                     learning_rate: float, seed: int, noisy: bool = False, ckpt_dir: Path | None = None,
                     ckpt_every: int = 10, desc: str = "train",
                     on_epoch_end: Callable[[int, float], None] | None = None):
    """Train ``model`` on (x, y) with Adam; returns the params.

    ``noisy=True`` draws fresh ``"program"`` and ``"read"`` keys every step
    (hardware-aware training: a new simulated chip per batch, ``fit``'s
    "fresh_chip" policy). A run resumed from a checkpoint in ``ckpt_dir`` ends
    with the same parameters as an uninterrupted one. ``on_epoch_end(epoch,
    train loss)`` runs after each epoch.
    """
    root = jax.random.PRNGKey(seed)
    params = model.init({"params": root, "program": root, "read": root}, x[:1])["params"]
    callbacks = ()
    if on_epoch_end is not None:
        callbacks = (lambda epoch, state, metrics: on_epoch_end(epoch, metrics["loss"]),)
    result = fit(classifier_loss(model), {"params": params}, make_optimizer("adam", learning_rate),
                 epochs=epochs, data=(x, y), batch_size=batch_size, rng="fresh_chip" if noisy else "none",
                 seed=seed, callbacks=callbacks, ckpt_dir=ckpt_dir, ckpt_every=ckpt_every, desc=desc,
                 restore_best=False)
    return result.variables["params"]


def inception_score(probs: jax.Array, eps: float = 1e-12) -> jax.Array:
    """Inception-style score exp(E_x KL(p(y|x) || p(y))) of class probabilities (n, C)
    from a classifier (Salimans et al. 2016, one split): 1 when every image looks
    alike or ambiguous, C when each is confidently one class and the classes are
    balanced."""
    probs = jnp.asarray(probs)
    marginal = jnp.mean(probs, axis=0, keepdims=True)
    kl = jnp.sum(probs * (jnp.log(probs + eps) - jnp.log(marginal + eps)), axis=-1)
    return jnp.exp(jnp.mean(kl))


def histogram_kl(generated: jax.Array, reference: jax.Array, bins: int = 24, extent: float = 1.2,
                 eps: float = 1e-4, marginal: bool = False) -> jax.Array:
    """KL(generated || reference) in nats of histograms of point sets (n, d) and (m, d).

    marginal=False: a ``bins`` x ``bins`` histogram of 2-D points over ``[-extent, extent]^2``;
    marginal=True: one 1-D histogram of every coordinate of the flattened points over
    ``[-extent, extent]`` (the diffusion code's ``cal_KL``: 50 bins on [-4, 4], eps 1e-10).
    Either way one more bin holds every point outside the range (mass that leaves counts),
    both histograms are normalised by their counts, smoothed by ``eps`` per bin and
    renormalised. Jit- and vmap-friendly.
    """
    edges = jnp.linspace(-extent, extent, bins + 1)

    def probabilities(points):
        if marginal:
            values = points.ravel()
            counts, _ = jnp.histogram(values, bins=edges)
            inside = counts / values.size
        else:
            counts, _, _ = jnp.histogram2d(points[:, 0], points[:, 1], bins=(edges, edges))
            inside = counts.ravel() / points.shape[0]
        p = jnp.append(inside, jnp.maximum(1.0 - jnp.sum(inside), 0.0)) + eps
        return p / jnp.sum(p)

    p, q = probabilities(generated), probabilities(reference)
    return jnp.sum(p * jnp.log(p / q))
