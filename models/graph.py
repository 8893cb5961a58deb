"""Graph helpers shared by every graph network (jraph ``GraphsTuple`` conventions).

Edges run ``senders -> receivers`` (j -> i); node arrays are (N, ...) over a batch
of graphs laid end to end, ``n_node`` (G,) giving each graph's size.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import jraph
import numpy as np

__all__ = ["Topology", "complete_graph", "EdgeFn", "distance_edges", "batch_graph", "graph_index",
           "centroid", "graph_radius", "sum_pool", "incoming_mean"]

EdgeFn = Callable[[jax.Array, jax.Array, jax.Array], jax.Array | None]


class Topology(NamedTuple):
    """One graph's edges j -> i: senders (E,) = j, receivers (E,) = i; n_nodes = N."""

    senders: np.ndarray
    receivers: np.ndarray
    n_nodes: int


def complete_graph(n_nodes: int) -> Topology:
    """Every ordered pair (i, j), i != j: N (N - 1) edges, listed by receiver i."""
    i, j = np.nonzero(~np.eye(n_nodes, dtype=bool))
    return Topology(senders=j.astype(np.int32), receivers=i.astype(np.int32), n_nodes=n_nodes)


def distance_edges(x: jax.Array, senders: jax.Array, receivers: jax.Array) -> jax.Array:
    """HEGNN's N-body edge attributes [|r_ij|, |r_ij|] (E, 2)."""
    d = jnp.linalg.norm(x[receivers] - x[senders], axis=-1, keepdims=True)
    return jnp.concatenate([d, d], axis=-1)


def batch_graph(x, v, h, senders, receivers, edge_fn: EdgeFn | None) -> jraph.GraphsTuple:
    """B samples (x, v (B, N, 3), h (B, N, F)) of one graph -> one GraphsTuple of B graphs
    with nodes ``{"h", "x", "vel"}``; index arrays may be traced (built inside jit)."""
    b, n = x.shape[:2]
    offsets = (jnp.arange(b, dtype=senders.dtype) * n)[:, None]
    s = (senders[None, :] + offsets).reshape(-1)
    r = (receivers[None, :] + offsets).reshape(-1)
    xf = x.reshape(b * n, 3)
    edges = edge_fn(xf, s, r) if edge_fn is not None else None
    nodes = {"h": h.reshape(b * n, -1), "x": xf, "vel": v.reshape(b * n, 3)}
    return jraph.GraphsTuple(nodes=nodes, edges=edges, senders=s, receivers=r, globals=None,
                             n_node=jnp.full((b,), n), n_edge=jnp.full((b,), senders.shape[0]))


def graph_index(graph: jraph.GraphsTuple) -> jax.Array:
    """(N,) int: which graph each node belongs to (works on padded batches under jit)."""
    n_nodes = jax.tree.leaves(graph.nodes)[0].shape[0]
    return jnp.repeat(jnp.arange(graph.n_node.shape[0]), graph.n_node, total_repeat_length=n_nodes)


def centroid(x: jax.Array, graph: jraph.GraphsTuple) -> jax.Array:
    """(N, 3): the mean position of each node's graph, broadcast to its nodes."""
    index = graph_index(graph)
    means = jraph.segment_sum(x, index, graph.n_node.shape[0]) / jnp.maximum(graph.n_node, 1)[:, None]
    return means[index]


def graph_radius(from_centre: jax.Array, graph: jraph.GraphsTuple) -> jax.Array:
    """(N, 1): the RMS distance of each node's graph from its centroid."""
    index = graph_index(graph)
    sq = jraph.segment_sum(jnp.sum(from_centre**2, -1), index, graph.n_node.shape[0])
    return jnp.sqrt(sq / jnp.maximum(graph.n_node, 1))[index][:, None]


def sum_pool(values: jax.Array, graph: jraph.GraphsTuple) -> jax.Array:
    """(G, ...): node values summed over each graph."""
    return jraph.segment_sum(values, graph_index(graph), graph.n_node.shape[0])


def incoming_mean(receivers: jax.Array, n_nodes: int) -> Callable[[jax.Array], jax.Array]:
    """f(edge_values (E, ...)) -> (N, ...): the mean over each node's incoming edges
    (zero for a node without any); the in-degrees are counted once."""
    counts = jraph.segment_sum(jnp.ones(receivers.shape[0]), receivers, n_nodes)
    inverse_degree = 1.0 / jnp.maximum(counts, 1.0)

    def mean(edge_values):
        total = jraph.segment_sum(edge_values, receivers, n_nodes)
        return total * inverse_degree.reshape((-1,) + (1,) * (total.ndim - 1))

    return mean
