"""Resumable, jit-compiled training of classifiers (one ``lax.scan`` per epoch)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from tqdm.auto import tqdm

from train.checkpoint import Checkpoints
from train.data import epoch_batches


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def accuracy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    return jnp.mean(jnp.argmax(logits, axis=-1) == labels)


def train_classifier(
    model: nn.Module,
    x: jax.Array,
    y: jax.Array,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    noisy: bool = False,
    ckpt_dir: Path | None = None,
    ckpt_every: int = 10,
    desc: str = "train",
    on_epoch_end: Callable[[int, float], None] | None = None,
):
    """Train ``model`` on (x, y) with Adam; returns the params.

    ``noisy=True`` draws fresh ``"program"`` and ``"read"`` keys every step
    (hardware-aware training: a new simulated chip per batch). Each epoch's
    shuffling and noise keys derive from (seed, epoch), so a run resumed from a
    checkpoint in ``ckpt_dir`` ends with the same parameters as an
    uninterrupted one.
    """
    root = jax.random.PRNGKey(seed)
    init_rngs = {"params": root, "program": root, "read": root}
    params = model.init(init_rngs, x[:1])["params"]
    optimizer = optax.adam(learning_rate)
    state = {"params": params, "opt": optimizer.init(params)}

    def loss_fn(params, xb, yb, key):
        k_program, k_read = jax.random.split(key)
        rngs = {"program": k_program, "read": k_read} if noisy else {}
        return cross_entropy(model.apply({"params": params}, xb, rngs=rngs), yb)

    def step(state, batch):
        xb, yb, key = batch
        loss, grads = jax.value_and_grad(loss_fn)(state["params"], xb, yb, key)
        updates, opt = optimizer.update(grads, state["opt"], state["params"])
        return {"params": optax.apply_updates(state["params"], updates), "opt": opt}, loss

    @jax.jit
    def run_epoch(state, epoch):
        key = jax.random.fold_in(root, epoch)
        xb, yb = epoch_batches(jax.random.fold_in(key, 0), x, y, batch_size)
        noise_keys = jax.random.split(jax.random.fold_in(key, 1), xb.shape[0])
        state, losses = jax.lax.scan(step, state, (xb, yb, noise_keys))
        return state, losses.mean()

    checkpoints = Checkpoints(ckpt_dir, every=ckpt_every) if ckpt_dir is not None else None
    start = 0
    if checkpoints is not None:
        start, state = checkpoints.restore_latest(state)
    bar = tqdm(range(start, epochs), desc=desc, initial=start, total=epochs, leave=False)
    for epoch in bar:
        state, loss = run_epoch(state, epoch)
        bar.set_postfix(loss=f"{float(loss):.4f}")
        if checkpoints is not None:
            checkpoints.save(epoch + 1, state, force=epoch + 1 == epochs)
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1, float(loss))
    if checkpoints is not None:
        checkpoints.close()
    return state["params"]
