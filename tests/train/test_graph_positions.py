"""train.graph_positions and models.graph: batched graphs of one topology, chunked MSE, a fit that learns."""

import jax
import jax.numpy as jnp
import jraph
import numpy as np
import pytest

from models.hegnn import EGNN
from models import graph
from train import graph_positions


def _samples(rng, n_samples, n_nodes, step=0.5):
    x = rng.normal(size=(n_samples, n_nodes, 3)).astype(np.float32)
    v = rng.normal(size=(n_samples, n_nodes, 3)).astype(np.float32)
    h = np.linalg.norm(v, axis=-1, keepdims=True)
    return graph_positions.Samples(x=x, v=v, h=h, target=x + step * v)


def test_complete_graph_has_every_ordered_pair_once():
    top = graph.complete_graph(5)
    pairs = set(zip(top.senders.tolist(), top.receivers.tolist()))
    assert len(pairs) == len(top.senders) == 20 and all(s != r for s, r in pairs)


def test_batch_graph_equals_jraph_batch_of_single_graphs():
    rng = np.random.default_rng(0)
    s = _samples(rng, 3, 4)
    top = graph.complete_graph(4)
    args = (jnp.asarray(top.senders), jnp.asarray(top.receivers), graph.distance_edges)
    batched = graph.batch_graph(s.x, s.v, s.h, *args)
    singles = jraph.batch([graph.batch_graph(s.x[i:i + 1], s.v[i:i + 1], s.h[i:i + 1], *args) for i in range(3)])
    for a, b in zip(jax.tree.leaves(batched), jax.tree.leaves(singles)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6)


def test_chunked_mse_equals_direct_mse_with_a_padded_last_chunk():
    rng = np.random.default_rng(1)
    s = _samples(rng, 7, 4)
    top = graph.complete_graph(4)
    model = EGNN(hidden=8, n_layers=1)
    edges = jnp.asarray(top.senders), jnp.asarray(top.receivers)
    params = model.init(jax.random.PRNGKey(0), graph.batch_graph(s.x, s.v, s.h, *edges, None))["params"]
    packed = np.concatenate([s.x, s.v, s.h], -1)
    direct = jnp.mean((graph_positions.predict(model, {"params": params}, packed, *edges, None) - s.target) ** 2)
    chunked = graph_positions.mse_fn(model, top, None, batch=3)(params, s)  # chunks 3 + 3 + 1 (padded)
    assert chunked == pytest.approx(float(direct), rel=1e-5)


def test_fit_learns_free_flight_far_below_the_copy_baseline():
    # target = x + 0.5 v: EGNN's velocity term can express it exactly
    rng = np.random.default_rng(2)
    train, valid, test = (_samples(rng, n, 4) for n in (256, 64, 64))
    cfg = graph_positions.FitConfig(epochs=40, batch_size=32, learning_rate=3e-3, eval_every=10)
    result = graph_positions.fit(EGNN(hidden=16, n_layers=1), train, valid, test, graph.complete_graph(4),
                          graph.distance_edges, cfg, seed=0)
    copy_baseline = float(np.mean((test.x - test.target) ** 2))  # 0.25
    assert result.test_mse < 0.05 * copy_baseline
    assert result.best_epoch > 0 and result.valid_mse < 0.05 * copy_baseline


def test_fit_config_rejects_bad_values():
    with pytest.raises(ValueError, match="epochs"):
        graph_positions.FitConfig(epochs=0)
    with pytest.raises(ValueError, match="learning_rate"):
        graph_positions.FitConfig(learning_rate=-1.0)
