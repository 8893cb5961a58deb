"""HEGNN (Cen et al., NeurIPS 2024) and its baseline EGNN, on analogue crossbars.

HEGNN carries, beside EGNN's invariant node features ``h`` and positions ``x``,
one steerable feature ``v^(l)`` per degree ``l`` in ``degrees`` (an
``e3nn.IrrepsArray`` with irreps ``1x0e + 1x1o + 1x2e + ...``), and lets the
layers see them only through one inner product per degree -- EGNN's cheap
scalarization, no Clebsch-Gordan products. Edge (i, j) carries a message from
node j (``senders``) to node i (``receivers``); every aggregation is a mean over
the incoming edges; r_ij = x_i - x_j.

Initialisation (``v`` at layer 0)::

    v_i^(l) = mean_j w_l(MLP[|r_ij|, h_i, h_j, e_ij]) Y^(l)(r_ij / |r_ij|)
              + c_l(MLP[h_i]) Y^(l)((x_i - centroid) / |x_i - centroid|)

with ``Y`` e3nn's spherical harmonics (``normalization="norm"``, so
<Y^(l)(a), Y^(l)(b)> is the Legendre polynomial P_l(a.b)). A vector of zero
length (a node at its graph's centroid, two coinciding nodes) gets the zero
harmonic, not a direction made of float noise. Each layer::

    z_ij^(l) = <v_i^(l), v_j^(l)>
    m_ij     = MLP[h_i, h_j, e_ij, |r_ij|^2, z_ij^(degrees)]
    x_i     += mean_j r_ij phi_x(m_ij) + phi_vel(h_i) vel_i        (vel_i if given)
    v_i^(l) += mean_j phi_l(m_ij) (v_i^(l) - v_j^(l))
    h_i      = MLP[h_i, mean_j m_ij]

With ``degrees=()`` this is EGNN in the form HEGNN's authors compare against
(velocity term, Δx clamped to ±100): ``EGNN(...)`` builds exactly that. Every
scalar MLP (embedding, gates, message, node, position and velocity weights) is
``AnalogDense`` on ``spec``: device noise only ever enters invariant channels,
so the network is exactly E(3)-equivariant on every simulated chip.

Permutations on a noisy chip: programming noise is a property of the chip, so a
fixed chip without read noise is exactly permutation-equivariant. Read noise is
drawn per read slot (a row of the batched node or edge array), not per node, so
relabelling the nodes hands them other draws: one read of a permuted graph is
not the permuted read, but the outputs are permutation-equivariant in
distribution. That is physics (a crossbar read does not know which node it
serves), not a bug.

Graphs are ``jraph.GraphsTuple`` with ``nodes = {"h": (N, F), "x": (N, 3),
"vel": (N, 3) optional}``, ``edges`` (E, F_e) invariant attributes or None,
``senders`` / ``receivers`` (E,) int, ``n_node`` (G,) int; batches come from
``jraph.batch`` (and ``jraph.pad_with_graphs``). Pass the graph as a traced
argument of ``jit``: closed-over index arrays make XLA fold the scatters at
compile time for tens of seconds.
"""

from __future__ import annotations

from typing import Sequence

import e3nn_jax as e3nn
import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph
import numpy as np

from analog.crossbar import CrossbarSpec
from models.graph import centroid, graph_index, graph_radius, incoming_mean, sum_pool
from models.layers import AnalogDense
from models.mlp import AnalogMLP

__all__ = ["HEGNN", "EGNN", "by_name", "PAPER_MODELS", "EquivariantClassifier", "steerable_irreps", "safe_harmonics"]

PAPER_MODELS = ("egnn", "hegnn_le1", "hegnn_le2", "hegnn_le3", "hegnn_le6")  # the N-body / MD17 table

_SMALL_INIT = nn.initializers.variance_scaling(1e-6, "fan_avg", "uniform")  # xavier, gain 1e-3


def steerable_irreps(degrees: Sequence[int]) -> e3nn.Irreps:
    """``1x0e + 1x1o + ...``: one channel per degree, natural parity (-1)^l."""
    return e3nn.Irreps([(1, (l, (-1) ** l)) for l in degrees])


def safe_harmonics(irreps: e3nn.Irreps, vectors: jax.Array, zero_below: jax.Array) -> jax.Array:
    """Spherical harmonics of the directions of ``vectors`` (..., 3), (..., dim).

    Vectors shorter than ``zero_below`` (same units, broadcastable) give zeros:
    a direction made of float noise would break the symmetry of the structure.
    """
    sq = jnp.sum(vectors**2, axis=-1, keepdims=True)
    keep = sq > zero_below**2
    safe = jnp.where(keep, vectors, jnp.array([0.0, 0.0, 1.0], vectors.dtype))
    y = e3nn.spherical_harmonics(irreps, safe, normalize=True, normalization="norm").array
    return jnp.where(keep, y, 0.0)


def _degree_matrix(degrees: Sequence[int]) -> np.ndarray:
    """(dim, n_degrees) 0/1: which degree each steerable component belongs to."""
    sizes = [2 * l + 1 for l in degrees]
    return np.repeat(np.eye(len(degrees), dtype=np.float32), sizes, axis=0)


class _Layer(nn.Module):
    hidden: int
    degrees: tuple[int, ...]
    spec: CrossbarSpec
    clamp: float | None

    @nn.compact
    def __call__(self, h, x, v, vel, edges, senders, receivers, mean):
        r = x[receivers] - x[senders]
        inputs = [h[receivers], h[senders], jnp.sum(r**2, axis=-1, keepdims=True)]
        if edges is not None:
            inputs.append(edges)
        if self.degrees:
            deg = _degree_matrix(self.degrees)
            inputs.append((v[receivers] * v[senders]) @ deg)  # z_ij^(l), (E, n_degrees)
        mlp = lambda n_out, name, **kw: AnalogMLP((self.hidden,), n_out, spec=self.spec,
                                                  activation=nn.silu, name=name, **kw)
        m = mlp(self.hidden, "message", activate_last=True)(jnp.concatenate(inputs, axis=-1))
        dx = mean(r * mlp(1, "position", last_kernel_init=_SMALL_INIT)(m))
        if self.clamp is not None:
            dx = jnp.clip(dx, -self.clamp, self.clamp)
        x_new = x + dx
        if vel is not None:
            x_new = x_new + mlp(1, "velocity")(h) * vel
        if self.degrees:
            gates = mlp(len(self.degrees), "steerable")(m) @ deg.T  # (E, dim)
            v = v + mean(gates * (v[receivers] - v[senders]))
        h = mlp(self.hidden, "node")(jnp.concatenate([h, mean(m)], axis=-1))
        return h, x_new, v


class HEGNN(nn.Module):
    """High-degree equivariant GNN (EGNN when ``degrees`` is empty).

    Attributes:
        hidden: width of every MLP and of ``h`` (64 in the paper).
        n_layers: message-passing layers (4 in the paper).
        degrees: steerable degrees carried, e.g. ``(0, 1, 2, 3)`` = HEGNN<=3, ``(3,)``
            = the single-degree model HEGNN_{l=3}, ``()`` = EGNN.
        centroid_term: add the gated harmonic of x_i - centroid to the
            initialisation (needed for odd degrees on complete graphs).
        clamp: clip each component of the aggregated position update (EGNN's ±100).
        spec: the crossbars every scalar MLP runs on (default: ideal = digital).

    ``__call__(graph)`` returns ``(h (N, hidden), x (N, 3), v)`` where ``v`` is an
    ``e3nn.IrrepsArray`` (N, sum 2l+1) of the final steerable features, or None
    for EGNN.
    """

    hidden: int = 64
    n_layers: int = 4
    degrees: tuple[int, ...] = (0, 1, 2, 3)
    centroid_term: bool = True
    clamp: float | None = None
    spec: CrossbarSpec = CrossbarSpec()

    def _check(self, graph):
        degrees = tuple(self.degrees)
        if len(set(degrees)) != len(degrees) or any(l < 0 for l in degrees):
            raise ValueError(f"degrees = {degrees!r}: distinct non-negative integers")
        nodes = graph.nodes
        if not isinstance(nodes, dict) or "h" not in nodes or "x" not in nodes:
            raise ValueError("graph.nodes must be a dict with 'h' (N, F) and 'x' (N, 3) (and 'vel' (N, 3))")
        if nodes["x"].ndim != 2 or nodes["x"].shape[-1] != 3:
            raise ValueError(f"graph.nodes['x'] must be (N, 3) positions, got shape {nodes['x'].shape}")
        if nodes["h"].ndim != 2 or nodes["h"].shape[0] != nodes["x"].shape[0]:
            raise ValueError(f"graph.nodes['h'] must be (N, F) with N = {nodes['x'].shape[0]}, "
                             f"got shape {nodes['h'].shape}")

    @nn.compact
    def __call__(self, graph: jraph.GraphsTuple, degree_mask: jax.Array | None = None):
        """``degree_mask`` (len(degrees),) of 0 / 1 switches degrees off: a masked degree
        starts at zero and every update is per degree, so it stays zero (its inner
        products feed zeros to the message MLP). Masking all but degree l gives the
        single-degree model HEGNN_l (plus unused weights), so many variants can share
        one compiled function under ``vmap``."""
        self._check(graph)
        if degree_mask is not None and jnp.shape(degree_mask) != (len(self.degrees),):
            raise ValueError(f"degree_mask has shape {jnp.shape(degree_mask)}; expected ({len(self.degrees)},), "
                             f"one entry per degree in {tuple(self.degrees)}")
        degrees = tuple(self.degrees)
        x, vel = graph.nodes["x"], graph.nodes.get("vel")
        senders, receivers, edges = graph.senders, graph.receivers, graph.edges
        n_nodes = x.shape[0]
        mean = incoming_mean(receivers, n_nodes)
        h = AnalogDense(self.hidden, spec=self.spec, name="embed")(graph.nodes["h"])
        v = self._initial_steerable(h, x, graph, mean, degree_mask) if degrees else None
        for i in range(self.n_layers):
            h, x, v = _Layer(self.hidden, degrees, self.spec, self.clamp, name=f"layer_{i}")(
                h, x, v, vel, edges, senders, receivers, mean)
        return h, x, (e3nn.IrrepsArray(steerable_irreps(degrees), v) if degrees else None)

    def _initial_steerable(self, h, x, graph, mean, degree_mask):
        """v^(l) at layer 0, (N, dim): gated edge harmonics (+ the centroid term)."""
        degrees = tuple(self.degrees)
        irreps = steerable_irreps(degrees)
        deg = _degree_matrix(degrees)
        if degree_mask is not None:
            deg = deg * degree_mask
        senders, receivers = graph.senders, graph.receivers
        r = x[receivers] - x[senders]
        length = jnp.linalg.norm(r, axis=-1, keepdims=True)
        from_centre = x - centroid(x, graph)
        tiny = 1e-5 * graph_radius(from_centre, graph)  # (N, 1): shorter is float noise around zero
        inputs = [length, h[receivers], h[senders]] + ([graph.edges] if graph.edges is not None else [])
        gate = AnalogMLP((self.hidden,), len(degrees), spec=self.spec, activation=nn.silu,
                         name="init_gate")(jnp.concatenate(inputs, axis=-1))
        v = mean((gate @ deg.T) * safe_harmonics(irreps, r, tiny[receivers]))
        if self.centroid_term:
            gate_c = AnalogMLP((self.hidden,), len(degrees), spec=self.spec, activation=nn.silu,
                               name="centroid_gate")(h)
            v = v + (gate_c @ deg.T) * safe_harmonics(irreps, from_centre, tiny)
        return v


def EGNN(hidden: int = 64, n_layers: int = 4, clamp: float | None = 100.0,
         spec: CrossbarSpec = CrossbarSpec(), name: str | None = None) -> HEGNN:
    """EGNN (Satorras et al. 2021) as HEGNN's authors run it: no steerable features,
    velocity term, Δx clamped to ±``clamp``."""
    return HEGNN(hidden=hidden, n_layers=n_layers, degrees=(), centroid_term=False, clamp=clamp,
                 spec=spec, name=name)


def by_name(name: str, hidden: int = 64, n_layers: int = 4, spec: CrossbarSpec = CrossbarSpec()) -> HEGNN:
    """The paper's models by name: ``"egnn"`` or ``"hegnn_le<L>"`` (degrees 0..L, no
    centroid term, as in the N-body and MD17 runs)."""
    if name == "egnn":
        return EGNN(hidden=hidden, n_layers=n_layers, spec=spec)
    top = name.removeprefix("hegnn_le")
    if top == name or not top.isdigit():
        raise ValueError(f"model {name!r} is invalid: allowed 'egnn' or 'hegnn_le<L>' (e.g. 'hegnn_le3')")
    return HEGNN(hidden=hidden, n_layers=n_layers, degrees=tuple(range(int(top) + 1)), centroid_term=False,
                 spec=spec)


class EquivariantClassifier(nn.Module):
    """Tell geometric graphs apart: a HEGNN / EGNN, then each graph's sum of
    [h, x, v] over its nodes, then a linear layer to ``n_classes`` logits (G, n_classes).

    Only the pooled x and v change when a graph is rotated, so a model whose
    every equivariant output vanishes on a structure cannot tell it from its
    rotated copy (the HEGNN degeneration theorem).
    """

    backbone: HEGNN
    n_classes: int = 2

    @nn.compact
    def __call__(self, graph: jraph.GraphsTuple, degree_mask: jax.Array | None = None) -> jax.Array:
        h, x, v = self.backbone(graph) if degree_mask is None else self.backbone(graph, degree_mask)
        parts = [h, x] + ([v.array] if v is not None else [])
        pooled = sum_pool(jnp.concatenate(parts, axis=-1), graph)
        return AnalogDense(self.n_classes, spec=self.backbone.spec, name="readout")(pooled)
