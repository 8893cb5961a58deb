"""Graph position regression: positions now -> positions later on one graph (N-body, MD17).

Every sample of a data set is the same graph (the same N nodes, the same edges
``senders -> receivers``, a ``models.graph.Topology``) with different positions
``x``, velocities ``v`` and invariant node features ``h``; the target is the
positions ``target`` a fixed time later. A batch of B samples is one
``jraph.GraphsTuple`` of B disjoint copies; the edge index arrays are passed as
traced arguments (``train.fit``'s ``context``), so nothing is folded at compile time.

``fit`` trains with ``train.fit`` on the mean squared error over all coordinates
(the HEGNN / GMN protocol: Adam, gradient-norm clip 10, evaluation every few
epochs, early stopping on the validation MSE, the test MSE reported at the best
validation epoch) and returns the best parameters.

Units are the data set's own: MSE is in (position unit)^2.
"""

from __future__ import annotations

from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from models.graph import EdgeFn, Topology, batch_graph
from train import fit as core
from train.config import config, field

__all__ = ["Samples", "predict", "FitConfig", "FitResult", "mse_fn", "fit"]


class Samples(NamedTuple):
    """S samples of one N-node graph: x, v, target (S, N, 3); h (S, N, F)."""

    x: np.ndarray
    v: np.ndarray
    h: np.ndarray
    target: np.ndarray

    def __len__(self) -> int:
        return self.x.shape[0]

    def subset(self, n: int) -> "Samples":
        return Samples(*(a[:n] for a in self))


def _pack(samples: Samples) -> np.ndarray:
    return np.concatenate([samples.x, samples.v, samples.h], axis=-1).astype(np.float32)


def _unpack(packed: jax.Array):
    return packed[..., :3], packed[..., 3:6], packed[..., 6:]


def predict(model: nn.Module, variables: dict, packed: jax.Array, senders: jax.Array, receivers: jax.Array,
            edge_fn: EdgeFn | None, rngs: dict | None = None) -> jax.Array:
    """Predicted positions (B, N, 3) for packed samples (B, N, 6 + F) of the graph
    ``senders -> receivers`` (E,); pass the index arrays as traced arguments of jit."""
    x, v, h = _unpack(packed)
    _, x_out, _ = model.apply(variables, batch_graph(x, v, h, senders, receivers, edge_fn), rngs=rngs or {})
    return x_out.reshape(x.shape)


@config
class FitConfig:
    """Training hyper-parameters (HEGNN's N-body defaults: Adam 5e-4, batch 256, clip 10)."""

    epochs: int = field(500, lo=1)
    batch_size: int = field(256, lo=1)
    learning_rate: float = field(5e-4, lo=0.0, lo_open=True)
    clip_norm: float = field(10.0, lo=0.0, lo_open=True)
    eval_every: int = field(5, lo=1)
    patience: int = field(100, lo=1)  # epochs without a better validation MSE before stopping
    eval_batch: int = field(500, lo=1)


class FitResult(NamedTuple):
    params: dict
    valid_mse: float
    test_mse: float
    best_epoch: int
    history: list[tuple[int, float, float]]  # (epoch, train loss, valid MSE)

    def validation_curve(self) -> tuple[list[int], list[float]]:
        """(epochs, validation MSE) at every evaluation, for ``report.line_plot``."""
        return [e for e, _, _ in self.history], [v for _, _, v in self.history]


def _chunks(samples: Samples, batch: int):
    """Packed inputs, targets and weights cut into (C, batch, ...) chunks, the last padded
    with copies of the last sample at weight 0."""
    packed, n = _pack(samples), len(samples)
    pad = (-n) % batch
    grow = lambda a: np.concatenate([a, np.repeat(a[-1:], pad, 0)]).reshape((-1, batch) + a.shape[1:])
    weight = np.r_[np.ones(n), np.zeros(pad)].astype(np.float32)
    return grow(packed), grow(samples.target.astype(np.float32)), weight.reshape(-1, batch)


def _sum_squared_error(model, edge_fn):
    """(variables, chunks, senders, receivers) -> summed squared error over every chunk."""

    def total(variables, chunks, senders, receivers):
        def one(chunk):
            packed, target, weight = chunk
            pred = predict(model, variables, packed, senders, receivers, edge_fn)
            return jnp.sum(weight[:, None, None] * (pred - target) ** 2)

        return jnp.sum(jax.lax.map(one, chunks))

    return total


def mse_fn(model: nn.Module, topology: Topology, edge_fn: EdgeFn | None, batch: int):
    """Jitted f(params, samples) -> MSE over all coordinates, in chunks of ``batch``
    samples (the last chunk padded and masked), so one compile serves every split."""
    edges = jnp.asarray(topology.senders), jnp.asarray(topology.receivers)
    total = jax.jit(_sum_squared_error(model, edge_fn))

    def mse(params, samples: Samples) -> float:
        return float(total({"params": params}, _chunks(samples, batch), *edges)) / samples.target.size

    return mse


def fit(model: nn.Module, train: Samples, valid: Samples, test: Samples, topology: Topology,
        edge_fn: EdgeFn | None, cfg: FitConfig, seed: int = 0, desc: str = "fit") -> FitResult:
    """Train ``model`` (graph -> (h, x, v)) to map (x, v, h) to ``target``; see the module doc."""
    if len(train) < cfg.batch_size:
        raise ValueError(f"batch_size = {cfg.batch_size} exceeds the {len(train)} training samples")
    edges = jnp.asarray(topology.senders), jnp.asarray(topology.receivers)
    first = batch_graph(*map(jnp.asarray, (train.x[:1], train.v[:1], train.h[:1])), *edges, edge_fn)
    variables = jax.jit(model.init)(jax.random.PRNGKey(seed), first)

    def loss_fn(variables, batch, rngs, context):
        packed, target = batch
        return jnp.mean((predict(model, variables, packed, *context, edge_fn) - target) ** 2)

    total = _sum_squared_error(model, edge_fn)
    batch = min(cfg.eval_batch, len(valid), len(test))
    n_valid = valid.target.size

    def evaluate(variables, rngs, eval_data):
        chunks, senders, receivers = eval_data
        return {"mse": total(variables, chunks, senders, receivers) / n_valid}

    optimizer = core.make_optimizer("adam", cfg.learning_rate, clip_norm=cfg.clip_norm)
    result = core.fit(loss_fn, variables, optimizer, epochs=cfg.epochs, data=(_pack(train), train.target),
                      batch_size=cfg.batch_size, seed=seed, context=edges, evaluate=evaluate,
                      eval_data=(_chunks(valid, batch), *edges), eval_every=cfg.eval_every, monitor="mse",
                      patience=cfg.patience, desc=desc)
    params = result.variables["params"]
    history = [(h["epoch"], h["loss"], h["mse"]) for h in result.history]
    test_mse = mse_fn(model, topology, edge_fn, batch)(params, test)
    return FitResult(params, float(result.best_value), test_mse, int(result.best_epoch), history)
