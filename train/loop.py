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

__all__ = ["cross_entropy", "accuracy", "classifier_loss", "classifier_metrics", "train_classifier"]


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy of ``logits`` (B, C) against integer ``labels`` (B,)."""
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def accuracy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Fraction of rows of ``logits`` (B, C) whose argmax is the label (B,)."""
    return jnp.mean(jnp.argmax(logits, axis=-1) == labels)


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
