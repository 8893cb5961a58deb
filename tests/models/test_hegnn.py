"""HEGNN / EGNN: parameter counts of the official model, E(3) and permutation
equivariance (also on noisy analogue chips), batching, the centroid guard."""

import e3nn_jax as e3nn
import jax
import jax.numpy as jnp
import jraph
import numpy as np
import pytest

from analog.converters import ADC, DAC
from analog.crossbar import CrossbarSpec
from analog.device import RRAM
from models.hegnn import EGNN, HEGNN, EquivariantClassifier, safe_harmonics, steerable_irreps

NOISY = CrossbarSpec(device=RRAM.analog_20_80(prog_sigma=3e-6, read_sigma_rel=0.02), mapping="offset",
                     dac=DAC(8), adc=ADC(8, 8.0))
PROGRAM_ONLY = NOISY.replace(device=RRAM.analog_20_80(prog_sigma=3e-6))
RNGS = {"program": jax.random.PRNGKey(5), "read": jax.random.PRNGKey(6)}


def complete_graph(n, key, n_features=2, edge_dim=2, velocity=True):
    k_h, k_x, k_v, k_e = jax.random.split(key, 4)
    senders, receivers = np.nonzero(~np.eye(n, dtype=bool))
    nodes = {"h": jax.random.normal(k_h, (n, n_features)), "x": jax.random.normal(k_x, (n, 3))}
    if velocity:
        nodes["vel"] = jax.random.normal(k_v, (n, 3))
    edges = jax.random.normal(k_e, (len(senders), edge_dim))
    return jraph.GraphsTuple(nodes=nodes, edges=edges, senders=jnp.asarray(senders),
                             receivers=jnp.asarray(receivers), n_node=jnp.array([n]),
                             n_edge=jnp.array([len(senders)]), globals=None)


def init(model, graph):
    keys = {"params": jax.random.PRNGKey(1), "program": jax.random.PRNGKey(1), "read": jax.random.PRNGKey(1)}
    return {"params": model.init(keys, graph)["params"]}


_INITIALISED = {}


def cached_init(name, model, graph):
    """Parameters per architecture (the spec adds none), initialised once per session."""
    if name not in _INITIALISED:
        _INITIALISED[name] = init(model, graph)
    return _INITIALISED[name]


def n_params(model, graph):
    shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), graph)["params"]
    return sum(leaf.size for leaf in jax.tree.leaves(shapes))


def transformed(graph, rotation, shift):
    nodes = dict(graph.nodes)
    nodes["x"] = graph.nodes["x"] @ rotation.T + shift
    nodes["vel"] = graph.nodes["vel"] @ rotation.T
    return graph._replace(nodes=nodes)


def permuted(graph, perm):
    inverse = np.argsort(perm)
    nodes = {k: v[perm] for k, v in graph.nodes.items()}
    return graph._replace(nodes=nodes, senders=jnp.asarray(inverse)[graph.senders],
                          receivers=jnp.asarray(inverse)[graph.receivers])


@pytest.mark.parametrize("model, expected", [
    (EGNN(), 134_088),
    (HEGNN(degrees=(0, 1), centroid_term=False), 160_338),
    (HEGNN(degrees=(0, 1, 2, 3), centroid_term=False), 161_500),
    (HEGNN(degrees=tuple(range(7)), centroid_term=False), 163_243),
])
def test_parameter_counts_equal_the_official_models(model, expected):
    """H = 64, 4 layers, node_in = 2, edge_in = 2: the counts of GLAD-RUC/HEGNN's torch models."""
    assert n_params(model, complete_graph(5, jax.random.PRNGKey(0))) == expected


CASES = [("egnn", lambda spec: EGNN(hidden=16, n_layers=2, spec=spec)),
         ("hegnn<=3", lambda spec: HEGNN(hidden=16, n_layers=2, degrees=(0, 1, 2, 3), spec=spec)),
         ("hegnn_l=5", lambda spec: HEGNN(hidden=16, n_layers=1, degrees=(5,), spec=spec))]


@pytest.mark.parametrize("name, make", CASES)
@pytest.mark.parametrize("spec", [CrossbarSpec(), NOISY], ids=["digital", "noisy-chip"])
def test_e3_equivariance(name, make, spec):
    """Random rotations and reflections (det -1) plus a translation: x and v^(l)
    transform (v with D^(l)(R), parity included), h is invariant -- also on a
    noisy chip with read noise, DAC and ADC at a fixed key."""
    model = make(spec)
    graph = complete_graph(7, jax.random.PRNGKey(0))
    variables = cached_init(name, make(CrossbarSpec()), graph)
    apply = jax.jit(model.apply)
    h, x, v = apply(variables, graph, rngs=RNGS)
    for trial in range(4):
        rotation = e3nn.rand_matrix(jax.random.PRNGKey(10 + trial)) * (-1) ** trial
        shift = jax.random.normal(jax.random.PRNGKey(20 + trial), (3,)) * 3
        h2, x2, v2 = apply(variables, transformed(graph, rotation, shift), rngs=RNGS)
        np.testing.assert_allclose(h2, h, atol=1e-5)
        np.testing.assert_allclose(x2, x @ rotation.T + shift, atol=1e-5)
        if v is not None:
            np.testing.assert_allclose(v2.array, v.transform_by_matrix(rotation).array, atol=1e-5)


@pytest.mark.parametrize("name, make", CASES)
@pytest.mark.parametrize("spec", [CrossbarSpec(), PROGRAM_ONLY], ids=["digital", "programmed-chip"])
def test_permutation_equivariance(name, make, spec):
    """Relabelling the nodes relabels every output. On a chip this holds for a fixed
    programmed chip; fresh read noise is drawn per read slot, so a permuted input
    sees other read noise (equal only in distribution)."""
    model = make(spec)
    graph = complete_graph(7, jax.random.PRNGKey(3))
    variables = cached_init(name, make(CrossbarSpec()), graph)
    perm = np.array([3, 0, 5, 1, 6, 4, 2])
    apply = jax.jit(model.apply)
    h, x, v = apply(variables, graph, rngs=RNGS)
    h2, x2, v2 = apply(variables, permuted(graph, perm), rngs=RNGS)
    np.testing.assert_allclose(h2, h[perm], atol=1e-5)
    np.testing.assert_allclose(x2, x[perm], atol=1e-5)
    if v is not None:
        np.testing.assert_allclose(v2.array, v.array[perm], atol=1e-5)


def test_chips_differ_and_noise_free_chip_is_the_digital_model():
    model_noisy = HEGNN(hidden=16, n_layers=1, spec=PROGRAM_ONLY)
    graph = complete_graph(5, jax.random.PRNGKey(0))
    variables = jax.jit(init, static_argnums=0)(model_noisy, graph)
    noisy = jax.jit(model_noisy.apply)
    _, x_a, _ = noisy(variables, graph, rngs=RNGS)
    _, x_b, _ = noisy(variables, graph, rngs={**RNGS, "program": jax.random.PRNGKey(9)})
    assert float(jnp.abs(x_a - x_b).max()) > 1e-3
    _, x_ideal, _ = jax.jit(HEGNN(hidden=16, n_layers=1, spec=NOISY.ideal()).apply)(variables, graph)
    _, x_digital, _ = jax.jit(HEGNN(hidden=16, n_layers=1).apply)(variables, graph)
    np.testing.assert_allclose(x_ideal, x_digital, atol=1e-6)


def test_batched_and_padded_graphs_equal_single_graphs():
    """Centroids, means and pools are per graph: a padded jraph batch of two graphs
    gives each graph's own outputs."""
    model = EquivariantClassifier(HEGNN(hidden=16, n_layers=2, degrees=(1, 2)))
    g1 = complete_graph(4, jax.random.PRNGKey(0))
    g2 = complete_graph(6, jax.random.PRNGKey(1))
    batch = jraph.pad_with_graphs(jraph.batch([g1, g2]), n_node=13, n_edge=50, n_graph=3)
    variables = jax.jit(init, static_argnums=0)(model, g1)
    apply = jax.jit(model.apply)
    logits = apply(variables, batch)
    np.testing.assert_allclose(logits[0], apply(variables, g1)[0], atol=1e-5)
    np.testing.assert_allclose(logits[1], apply(variables, g2)[0], atol=1e-5)


def test_node_at_the_centroid_gets_a_zero_vector():
    """A 4-fold star's centre sits at the centroid up to float noise: its centroid
    harmonic must be exactly zero (not a random unit direction), with finite gradients."""
    spokes = np.array([[np.cos(a), np.sin(a), 0.0] for a in 2 * np.pi * np.arange(4) / 4], np.float32)
    x = jnp.asarray(np.vstack([np.zeros((1, 3), np.float32), spokes]))
    from_centre = x - x.mean(axis=0)
    assert 0 < float(jnp.abs(from_centre[0]).max()) < 1e-6  # float noise, not exactly zero
    irreps = steerable_irreps((0, 1, 2, 3))
    y = safe_harmonics(irreps, from_centre, jnp.float32(1e-5))
    assert np.all(np.asarray(y[0]) == 0.0)
    np.testing.assert_allclose(jnp.linalg.norm(y[1:, 1:4], axis=-1), 1.0, rtol=1e-6)  # norm normalization
    grad = jax.grad(lambda z: safe_harmonics(irreps, z, jnp.float32(1e-5)).sum())(from_centre)
    assert np.all(np.isfinite(np.asarray(grad)))


def test_harmonics_inner_product_is_the_legendre_polynomial():
    """<Y^(l)(a), Y^(l)(b)> = P_l(a.b) with normalization="norm": the scalarization
    z^(l) encodes the angles between neighbourhoods."""
    a, b = jax.random.normal(jax.random.PRNGKey(0), (2, 3))
    cos = float(a @ b / jnp.linalg.norm(a) / jnp.linalg.norm(b))
    for l in range(5):
        irreps = steerable_irreps((l,))
        ya, yb = safe_harmonics(irreps, a, 1e-6), safe_harmonics(irreps, b, 1e-6)
        legendre = np.polynomial.legendre.Legendre.basis(l)(cos)
        assert abs(float(ya @ yb) - legendre) < 1e-5


def test_bad_inputs_raise_clear_errors():
    graph = complete_graph(4, jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="degrees"):
        init(HEGNN(degrees=(1, 1)), graph)
    bad = graph._replace(nodes={"h": graph.nodes["h"], "x": graph.nodes["x"][:, :2]})
    with pytest.raises(ValueError, match=r"nodes\['x'\]"):
        init(HEGNN(), bad)
    with pytest.raises(ValueError, match="nodes must be a dict"):
        init(HEGNN(), graph._replace(nodes=graph.nodes["x"]))


def test_pooled_degree_l_output_vanishes_exactly_where_the_theorem_says():
    # a random HEGNN with degrees 0..6 on each symmetric structure: the sum over
    # nodes of its degree-l output is zero exactly at the table's degrees
    from train.data import symmetric
    from train.experiments.hegnn_toy import pair_graph

    lmax = 6  # the data-side tests (train/data/symmetric) check the harmonics to l = 8
    structures = [symmetric.structure(name) for name in symmetric.STRUCTURE_NAMES]
    n_node = 2 * max(s.n_nodes for s in structures) + 1
    n_edge = 2 * max(s.n_edges for s in structures) + 1
    model = HEGNN(hidden=8, n_layers=1, degrees=tuple(range(lmax + 1)))
    graphs = [pair_graph(s.positions, s.positions, s, n_node, n_edge) for s in structures]
    params = jax.jit(model.init)(jax.random.PRNGKey(0), graphs[0])
    apply = jax.jit(model.apply)
    for name, s, graph in zip(symmetric.STRUCTURE_NAMES, structures, graphs):
        v = apply(params, graph)[2]
        pooled = v.array[: s.n_nodes].sum(axis=0)
        norms = np.array([np.linalg.norm(pooled[l * l:(l + 1) ** 2]) for l in range(lmax + 1)])
        scale = norms.max()
        vanishing = set(symmetric.predicted_vanishing(name, lmax))
        for l in range(1, lmax + 1):
            if l in vanishing:
                assert norms[l] < 1e-5 * scale, (name, l, norms[l] / scale)
            else:
                assert norms[l] > 1e-3 * scale, (name, l, norms[l] / scale)


def test_permutation_equivariance_holds_in_distribution_under_read_noise():
    """Read noise is drawn per read slot (batch row), not per node: relabelled nodes see
    other draws, so one read is not permuted exactly, but over many reads the outputs
    of the permuted graph have the permuted outputs' distribution."""
    spec = NOISY.replace(dac=None, adc=None).with_device(read_sigma_rel=0.05)
    model = EGNN(hidden=16, n_layers=2, spec=spec)
    graph = complete_graph(7, jax.random.PRNGKey(3))
    variables = cached_init("egnn", EGNN(hidden=16, n_layers=2), graph)
    perm = np.array([3, 0, 5, 1, 6, 4, 2])
    reads = jax.random.split(jax.random.PRNGKey(8), 300)
    run = jax.jit(jax.vmap(lambda k, g: model.apply(variables, g, rngs={"program": RNGS["program"], "read": k})[1],
                           in_axes=(0, None)))
    x, x_perm = np.asarray(run(reads, graph), np.float64), np.asarray(run(reads, permuted(graph, perm)), np.float64)
    assert np.abs(x_perm[0] - x[0][perm]).max() > 1e-4  # one read: not exactly permuted
    sem = np.sqrt(x.var(0) / len(reads) + x_perm.var(0) / len(reads))[perm]
    assert np.all(np.abs(x_perm.mean(0) - x.mean(0)[perm]) < 5 * sem + 1e-6)  # in distribution: the same
    np.testing.assert_allclose(x_perm.std(0), x.std(0)[perm], rtol=0.3)
