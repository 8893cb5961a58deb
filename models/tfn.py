"""A Tensor-Field-Network-style layer: the Clebsch-Gordan baseline HEGNN avoids.

HEGNN (``models.hegnn``) lets its steerable features interact only through one
inner product per degree. The classical alternative (TFN, Thomas et al. 2018;
NequIP) couples every node feature with the edge's spherical harmonics through
a Clebsch-Gordan tensor product. This module is a small, plain digital version
of that, so ``python -m train bench hegnn`` can time HEGNN against a CG model of
comparable width; it is a timing baseline, not a tuned architecture.

Node features are an ``e3nn.IrrepsArray`` (N, dim) with irreps
``hidden x 0e + hidden x 1o + hidden x 2e + ...`` up to ``max_degree``
(natural parity). Edge (i, j) carries a message from node j (``senders``) to
node i (``receivers``); r_ij = x_i - x_j. Each ``TFNLayer``::

    Y_ij  = Y^(0..sh_degree)(r_ij / |r_ij|)               (normalization="component")
    m_ij  = R(|r_ij|) * [f_j (x) Y_ij]                     CG product, one radial weight per path
    f_i  += gate(Linear(mean_j m_ij))                      back to the node irreps

with ``R`` a two-layer MLP of |r_ij|. Graphs are ``jraph.GraphsTuple`` with
``nodes = {"h": (N, F), "x": (N, 3), "vel": (N, 3) optional}`` (edge attributes
are ignored); pass the graph
as a traced argument of ``jit`` (see ``models.hegnn``). Edges must join distinct
points (no self-loops): a zero-length r_ij has no direction.
"""

from __future__ import annotations

import e3nn_jax as e3nn
import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph

from models.graph import incoming_mean

__all__ = ["TFNLayer", "TFN", "node_irreps"]


def node_irreps(hidden: int, max_degree: int) -> e3nn.Irreps:
    """``hidden x 0e + hidden x 1o + ...``: ``hidden`` channels per degree, parity (-1)^l."""
    return e3nn.Irreps([(hidden, (l, (-1) ** l)) for l in range(max_degree + 1)])


class TFNLayer(nn.Module):
    """One CG message-passing layer with a gated residual update.

    Attributes:
        hidden: channels per degree of the node features.
        max_degree: highest degree L of the node features.
        sh_degree: highest degree of the edge spherical harmonics (Y_{<=2} by default).
        radial_hidden: width of the radial MLP.

    ``__call__(features (N, irreps), x (N, 3), senders (E,), receivers (E,))``
    returns new features with irreps ``node_irreps(hidden, max_degree)``.
    """

    hidden: int
    max_degree: int
    sh_degree: int = 2
    radial_hidden: int = 16

    @nn.compact
    def __call__(self, features: e3nn.IrrepsArray, x: jax.Array, senders: jax.Array,
                 receivers: jax.Array) -> e3nn.IrrepsArray:
        irreps = node_irreps(self.hidden, self.max_degree)
        r = x[receivers] - x[senders]
        y = e3nn.spherical_harmonics(range(self.sh_degree + 1), e3nn.IrrepsArray("1o", r), normalize=True,
                                     normalization="component")
        messages = e3nn.tensor_product(features[senders], y, filter_ir_out=irreps)  # (E, paths)
        length = jnp.linalg.norm(r, axis=-1, keepdims=True)
        hidden_radial = nn.silu(nn.Dense(self.radial_hidden, name="radial_0")(length))
        radial = nn.Dense(messages.irreps.num_irreps, name="radial_1")(hidden_radial)
        messages = messages * radial  # one learnt weight per path and channel
        aggregated = e3nn.IrrepsArray(messages.irreps,
                                      incoming_mean(receivers, features.shape[0])(messages.array))
        # scalars + one gate per non-scalar channel (the gates sit right of the scalars)
        gated = e3nn.Irreps(f"{self.hidden * (1 + self.max_degree)}x0e") + irreps.filter(drop="0e")
        update = e3nn.gate(e3nn.flax.Linear(gated, force_irreps_out=True)(aggregated))
        return features.filter(keep=irreps) + update


class TFN(nn.Module):
    """``n_layers`` TFN layers between an embedding and a position readout.

    The embedding maps ``h`` (scalars) and ``vel`` (a vector, if given) linearly to
    the node irreps (degrees above 1 start at zero); the readout predicts
    ``x + Linear(features -> 1x1o)``. ``__call__(graph)`` returns
    ``(features (N, dim) IrrepsArray, x_pred (N, 3))``, matching HEGNN's ``(h, x, v)`` use.
    """

    hidden: int = 16
    max_degree: int = 1
    n_layers: int = 4
    sh_degree: int = 2

    @nn.compact
    def __call__(self, graph: jraph.GraphsTuple):
        nodes = graph.nodes
        x = nodes["x"]
        parts = [e3nn.IrrepsArray(f"{nodes['h'].shape[-1]}x0e", nodes["h"])]
        if nodes.get("vel") is not None:
            parts.append(e3nn.IrrepsArray("1x1o", nodes["vel"]))
        inputs = e3nn.concatenate(parts, axis=-1)
        features = e3nn.flax.Linear(node_irreps(self.hidden, self.max_degree), force_irreps_out=True,
                                    name="embed")(inputs)
        for i in range(self.n_layers):
            features = TFNLayer(self.hidden, self.max_degree, self.sh_degree, name=f"layer_{i}")(
                features, x, graph.senders, graph.receivers)
        dx = e3nn.flax.Linear("1x1o", force_irreps_out=True, name="readout")(features).array
        return features, x + dx
