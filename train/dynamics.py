"""Learning geometric dynamics: positions now -> positions later (N-body, MD17).

Every sample of a data set is the same graph (the same N nodes, the same edges
``senders -> receivers``) with different positions ``x``, velocities ``v`` and
invariant node features ``h``; the target is the positions ``target`` a fixed
time later. A batch of B samples is one ``jraph.GraphsTuple`` of B disjoint
copies; the edge index arrays are built inside the jitted step from the one
graph's (traced) index arrays, so nothing is folded at compile time.

``fit`` trains with Adam on the mean squared error over all coordinates (the
HEGNN / GMN protocol: gradient-norm clip 10, evaluation every few epochs,
early stopping on the validation MSE, the test MSE reported at the best
validation epoch) and returns the best parameters.

Units are the data set's own: MSE is in (position unit)^2.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph
import numpy as np
import optax
from tqdm.auto import tqdm

from train.config import check_positive
from train.data import epoch_batches

EdgeFn = Callable[[jax.Array, jax.Array, jax.Array], jax.Array | None]


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


class Topology(NamedTuple):
    """One sample's edges j -> i: senders (E,) = j, receivers (E,) = i; n_nodes = N."""

    senders: np.ndarray
    receivers: np.ndarray
    n_nodes: int


def complete_graph(n_nodes: int) -> Topology:
    """Every ordered pair (i, j), i != j: N (N - 1) edges."""
    i, j = np.nonzero(~np.eye(n_nodes, dtype=bool))
    return Topology(senders=j.astype(np.int32), receivers=i.astype(np.int32), n_nodes=n_nodes)


def distance_edges(x: jax.Array, senders: jax.Array, receivers: jax.Array) -> jax.Array:
    """HEGNN's N-body edge attributes [|r_ij|, |r_ij|] (E, 2)."""
    d = jnp.linalg.norm(x[receivers] - x[senders], axis=-1, keepdims=True)
    return jnp.concatenate([d, d], axis=-1)


def batch_graph(x, v, h, senders, receivers, edge_fn: EdgeFn | None) -> jraph.GraphsTuple:
    """B samples (x, v (B, N, 3), h (B, N, F)) of one graph -> one GraphsTuple of B graphs."""
    b, n = x.shape[:2]
    offsets = (jnp.arange(b, dtype=senders.dtype) * n)[:, None]
    s = (senders[None, :] + offsets).reshape(-1)
    r = (receivers[None, :] + offsets).reshape(-1)
    xf = x.reshape(b * n, 3)
    edges = edge_fn(xf, s, r) if edge_fn is not None else None
    nodes = {"h": h.reshape(b * n, -1), "x": xf, "vel": v.reshape(b * n, 3)}
    return jraph.GraphsTuple(nodes=nodes, edges=edges, senders=s, receivers=r, globals=None,
                             n_node=jnp.full((b,), n), n_edge=jnp.full((b,), senders.shape[0]))


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


@dataclasses.dataclass(frozen=True)
class FitConfig:
    """Training hyper-parameters (HEGNN's N-body defaults: Adam 5e-4, batch 256, clip 10)."""

    epochs: int = 500
    batch_size: int = 256
    learning_rate: float = 5e-4
    clip_norm: float = 10.0
    eval_every: int = 5
    patience: int = 100  # epochs without a better validation MSE before stopping
    eval_batch: int = 500

    def __post_init__(self):
        check_positive(self, ("epochs", "batch_size", "eval_every", "patience", "eval_batch"))
        if not (self.learning_rate > 0 and self.clip_norm > 0):
            raise ValueError(f"learning_rate = {self.learning_rate!r}, clip_norm = {self.clip_norm!r}: must be > 0")


class FitResult(NamedTuple):
    params: dict
    valid_mse: float
    test_mse: float
    best_epoch: int
    history: list[tuple[int, float, float]]  # (epoch, train loss, valid MSE)

    def validation_curve(self) -> tuple[list[int], list[float]]:
        """(epochs, validation MSE) at every evaluation, for ``report.line_plot``."""
        return [e for e, _, _ in self.history], [v for _, _, v in self.history]


def mse_fn(model: nn.Module, topology: Topology, edge_fn: EdgeFn | None, batch: int):
    """Jitted f(params, samples) -> MSE over all coordinates, in chunks of ``batch``
    samples (the last chunk padded and masked), so one compile serves every split."""

    edges = jnp.asarray(topology.senders), jnp.asarray(topology.receivers)

    @jax.jit
    def chunk_error(params, packed, target, weight, senders, receivers):
        pred = predict(model, {"params": params}, packed, senders, receivers, edge_fn)
        return jnp.sum(weight[:, None, None] * (pred - target) ** 2)

    def mse(params, samples: Samples) -> float:
        packed, n = _pack(samples), len(samples)
        total = 0.0
        for start in range(0, n, batch):
            stop = min(start + batch, n)
            pad = batch - (stop - start)
            take = lambda a: np.concatenate([a[start:stop], np.repeat(a[stop - 1:stop], pad, 0)])
            weight = np.r_[np.ones(stop - start), np.zeros(pad)].astype(np.float32)
            total += float(chunk_error(params, take(packed), take(samples.target), weight, *edges))
        return total / samples.target.size

    return mse


def fit(model: nn.Module, train: Samples, valid: Samples, test: Samples, topology: Topology,
        edge_fn: EdgeFn | None, cfg: FitConfig, seed: int = 0, desc: str = "fit") -> FitResult:
    """Train ``model`` (graph -> (h, x, v)) to map (x, v, h) to ``target``; see the module doc."""
    if len(train) < cfg.batch_size:
        raise ValueError(f"batch_size = {cfg.batch_size} exceeds the {len(train)} training samples")
    root = jax.random.PRNGKey(seed)
    packed, target = _pack(train), train.target.astype(np.float32)
    edges = jnp.asarray(topology.senders), jnp.asarray(topology.receivers)
    params = jax.jit(model.init)(root, batch_graph(*map(jnp.asarray, (train.x[:1], train.v[:1], train.h[:1])),
                                                   *edges, edge_fn))["params"]
    optimiser = optax.chain(optax.clip_by_global_norm(cfg.clip_norm), optax.adam(cfg.learning_rate))

    def loss_fn(params, xb, yb, senders, receivers):
        return jnp.mean((predict(model, {"params": params}, xb, senders, receivers, edge_fn) - yb) ** 2)

    @jax.jit
    def run_epoch(state, epoch, packed, target, senders, receivers):
        def step(state, batch):
            params, opt = state
            loss, grads = jax.value_and_grad(loss_fn)(params, *batch, senders, receivers)
            updates, opt = optimiser.update(grads, opt, params)
            return (optax.apply_updates(params, updates), opt), loss

        xb, yb = epoch_batches(jax.random.fold_in(root, epoch), packed, target, cfg.batch_size)
        state, losses = jax.lax.scan(step, state, (xb, yb))
        return state, losses.mean()

    mse = mse_fn(model, topology, edge_fn, min(cfg.eval_batch, len(valid), len(test)))
    state = (params, optimiser.init(params))
    best = (np.inf, params, 0)
    history = []
    bar = tqdm(range(1, cfg.epochs + 1), desc=desc, leave=False)
    for epoch in bar:
        state, loss = run_epoch(state, epoch, packed, target, *edges)
        if epoch % cfg.eval_every and epoch != cfg.epochs:
            continue
        valid_mse = mse(state[0], valid)
        history.append((epoch, float(loss), valid_mse))
        bar.set_postfix(loss=f"{float(loss):.2e}", valid=f"{valid_mse:.2e}")
        if valid_mse < best[0]:
            best = (valid_mse, state[0], epoch)
        elif epoch - best[2] >= cfg.patience:
            break
    bar.close()
    valid_mse, params, best_epoch = best
    return FitResult(params, valid_mse, mse(params, test), best_epoch, history)
