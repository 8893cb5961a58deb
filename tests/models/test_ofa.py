"""OFA MobileNetV3-small supernet: sub-network extraction, parameter counts, weight sharing."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from models import ofa
from models.trace import trace

SHAPE = (16, 16, 1)


@pytest.fixture(scope="module")
def variables():
    """Supernet variables with random values (not the initial ones, so BN and biases matter;
    no initialiser runs, which keeps the test fast)."""
    shapes = jax.eval_shape(lambda: ofa.Supernet().init(jax.random.PRNGKey(0), jnp.zeros((1, *SHAPE)),
                                                        ofa.largest()))
    leaves, tree = jax.tree_util.tree_flatten(shapes)
    rng = np.random.default_rng(1)
    noisy = [jnp.asarray(0.3 * rng.standard_normal(leaf.shape), jnp.float32) for leaf in leaves]
    noisy = jax.tree_util.tree_unflatten(tree, noisy)
    noisy["batch_stats"] = jax.tree_util.tree_map(lambda a: 1.0 + jnp.abs(a), noisy["batch_stats"])
    return noisy


def n_params(tree):
    return sum(int(np.prod(a.shape)) for a in jax.tree_util.tree_leaves(tree))


@pytest.mark.parametrize("seed", [0, 1])
def test_extracted_subnet_matches_the_masked_supernet(variables, seed):
    genes = np.random.default_rng(seed).integers(0, 3, ofa.N_GENES)
    arch = ofa.decode(genes)
    sub = ofa.extract(variables, arch, SHAPE)
    x = jax.random.normal(jax.random.PRNGKey(seed), (2, *SHAPE))
    expected = ofa.Supernet().apply(variables, x, genes)
    got = ofa.SubNet(arch=arch).apply(sub, x)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    assert n_params(sub["params"]) == ofa.param_count(arch, in_channels=1)
    assert n_params(sub["params"]) < n_params(variables["params"])


def test_largest_subnet_is_the_supernet(variables):
    arch = ofa.decode(ofa.largest())
    sub = ofa.extract(variables, arch, SHAPE)
    assert jax.tree_util.tree_structure(sub) == jax.tree_util.tree_structure(variables)
    for a, b in zip(jax.tree_util.tree_leaves(sub), jax.tree_util.tree_leaves(variables)):
        np.testing.assert_array_equal(a, b)
    assert ofa.param_count(arch, 1) == n_params(variables["params"])


def test_genes_decode_canonicalise_and_trace():
    genes = ofa.smallest()
    assert ofa.decode(genes).depths == (2, 2, 2, 2) and ofa.decode(genes).kernels[0] == 3
    assert np.array_equal(ofa.encode(ofa.decode(genes)), genes)
    other = genes.copy()
    other[3] = 2                                   # kernel gene of stage 0 block 3: unused at depth 2
    assert ofa.canonical(other) == ofa.canonical(genes)
    other[2 * ofa.N_BLOCKS] = 2                    # stage 0 depth 4: now it is used
    assert ofa.canonical(other) != ofa.canonical(genes)
    with pytest.raises(ValueError, match="36 integers"):
        ofa.decode([0, 1, 2])
    with pytest.raises(ValueError, match="0..2"):
        ofa.decode(np.full(ofa.N_GENES, 3))
    # the compiler sees every conv: depth-wise ones with groups = channels and the chosen kernel
    net = trace(ofa.SubNet(arch=ofa.decode(ofa.largest())), (64, 64, 3))
    depthwise = [layer for layer in net.layers if layer.groups > 1]
    assert len(depthwise) == 1 + ofa.N_BLOCKS and all(l.kernel == (7, 7) for l in depthwise[1:])


def test_width_multiplier_scales_every_layer_and_keeps_counts_exact():
    genes = np.random.default_rng(2).integers(0, 3, ofa.N_GENES)
    counts = {}
    for width in (1.0, 0.5, 0.25):
        shapes = jax.eval_shape(lambda w=width: ofa.Supernet(width=w).init(
            jax.random.PRNGKey(0), jnp.zeros((1, *SHAPE)), ofa.largest()))
        sub = jax.eval_shape(lambda v, w=width: ofa.extract(v, ofa.decode(genes), SHAPE, width=w), shapes)
        counts[width] = n_params(sub["params"])
        assert counts[width] == ofa.param_count(ofa.decode(genes), 1, width=width)
        assert n_params(shapes["params"]) == ofa.param_count(ofa.decode(ofa.largest()), 1, width=width)
    assert counts[1.0] > 2 * counts[0.5] > 4 * counts[0.25] / 2
