"""TFN (the Clebsch-Gordan baseline of ``bench hegnn``): E(3) equivariance of the
node irreps and the predicted positions, translation and permutation symmetry."""

import e3nn_jax as e3nn
import jax
import jax.numpy as jnp
import jraph
import numpy as np
import pytest

from models.tfn import TFN, node_irreps

N = 5
MODEL = TFN(hidden=8, max_degree=2, n_layers=2)
APPLY = jax.jit(MODEL.apply)  # one compile: every graph below has the same shapes


def complete_graph(key):
    k_h, k_x, k_v = jax.random.split(key, 3)
    senders, receivers = np.nonzero(~np.eye(N, dtype=bool))
    nodes = {"h": jax.random.normal(k_h, (N, 2)), "x": jax.random.normal(k_x, (N, 3)),
             "vel": jax.random.normal(k_v, (N, 3))}
    return jraph.GraphsTuple(nodes=nodes, edges=None, senders=jnp.asarray(senders),
                             receivers=jnp.asarray(receivers), n_node=jnp.array([N]),
                             n_edge=jnp.array([len(senders)]), globals=None)


@pytest.fixture(scope="module")
def setup():
    graph = complete_graph(jax.random.PRNGKey(0))
    params = jax.jit(MODEL.init)(jax.random.PRNGKey(1), graph)
    features, x = APPLY(params, graph)
    return graph, params, features, x


def moved(graph, matrix, shift):
    nodes = dict(graph.nodes, x=graph.nodes["x"] @ matrix.T + shift, vel=graph.nodes["vel"] @ matrix.T)
    return graph._replace(nodes=nodes)


def test_output_irreps_are_the_node_irreps(setup):
    _, _, features, x = setup
    assert features.irreps == node_irreps(8, 2) and features.shape == (N, 8 * 9)
    assert x.shape == (N, 3)
    assert float(jnp.abs(features.filter(drop="0e").array).max()) > 1e-3  # non-trivial steerable part


@pytest.mark.parametrize("parity", [1.0, -1.0], ids=["rotation", "rotoreflection"])
def test_e3_equivariance(setup, parity):
    graph, params, features, x = setup
    rotation = parity * e3nn.rand_matrix(jax.random.PRNGKey(7))
    shift = jnp.array([0.3, -1.2, 2.0])
    features_t, x_t = APPLY(params, moved(graph, rotation, shift))
    np.testing.assert_allclose(features_t.array, features.transform_by_matrix(rotation).array, atol=1e-5)
    np.testing.assert_allclose(features_t.filter(keep="0e").array, features.filter(keep="0e").array, atol=1e-5)
    np.testing.assert_allclose(x_t, x @ rotation.T + shift, atol=1e-5)


def test_translation_invariance(setup):
    graph, params, features, x = setup
    shift = jnp.array([5.0, -3.0, 1.5])
    features_t, x_t = APPLY(params, moved(graph, jnp.eye(3), shift))
    np.testing.assert_allclose(features_t.array, features.array, atol=1e-5)
    np.testing.assert_allclose(x_t, x + shift, atol=1e-5)


def test_permutation_equivariance(setup):
    graph, params, features, x = setup
    perm = np.array([3, 0, 4, 1, 2])
    inverse = jnp.asarray(np.argsort(perm))
    permuted = graph._replace(nodes={k: v[perm] for k, v in graph.nodes.items()},
                              senders=inverse[graph.senders], receivers=inverse[graph.receivers])
    features_p, x_p = APPLY(params, permuted)
    np.testing.assert_allclose(features_p.array, features.array[perm], atol=1e-5)
    np.testing.assert_allclose(x_p, x[perm], atol=1e-5)
