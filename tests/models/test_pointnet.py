"""PointNet++ on the arrays: sampling and grouping on hand-checked clouds, the random
point network's weights (the TaOx preset's formed conductances), what trains, and
the ideal limit."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from analog import presets
from analog.converters import DAC
from models.chip import chip_arrays, program_chip
from models.pointnet import (PartSegmenter, PointClassifier, ball_query, farthest_point_sample, group,
                             three_nn_interpolate)

LINE = jnp.array([[0.0, 0, 0], [1, 0, 0], [2, 0, 0], [10, 0, 0], [4, 0, 0]])
STAGES = ((16, 0.4, 8, 16), (4, 0.8, 8, 32), (None, 0.0, 1, 64))


def test_farthest_point_sample_on_a_line():
    # from 0: 10 is farthest; then 4 (4 from 0, 6 from 10); then 2 (2 from 0 and from 4)
    np.testing.assert_array_equal(farthest_point_sample(LINE, 4), [0, 3, 4, 2])
    with pytest.raises(ValueError, match="n_centres = 6"):
        farthest_point_sample(LINE, 6)


def test_ball_query_takes_the_first_points_inside_and_pads_with_the_first():
    centres = LINE[jnp.array([0, 3])]
    near = ball_query(LINE, centres, radius=2.5, k=3)
    np.testing.assert_array_equal(near, [[0, 1, 2], [3, 3, 3]])  # 10 is alone: its slots repeat it
    near = ball_query(LINE, centres[:1], radius=1.0, k=2)        # the radius is inclusive
    np.testing.assert_array_equal(near, [[0, 1]])
    with pytest.raises(ValueError, match="k = 9"):
        ball_query(LINE, centres, 1.0, 9)


def test_group_is_relative_xyz_then_features():
    features = jnp.arange(5.0)[:, None]
    grouped = group(LINE, features, LINE[jnp.array([1])], jnp.array([[0, 2]]))
    np.testing.assert_allclose(grouped, [[[-1, 0, 0, 0], [1, 0, 0, 2]]])


def test_three_nn_interpolation_weights_by_inverse_squared_distance():
    coarse = jnp.array([[0.0, 0, 0], [1, 0, 0], [3, 0, 0], [9, 0, 0]])
    values = jnp.array([[1.0], [2.0], [4.0], [100.0]])
    fine = jnp.array([[0.5, 0, 0], [1, 0, 0]])
    out = three_nn_interpolate(fine, coarse, values)
    w = 1 / np.array([0.25, 0.25, 6.25])  # 0.5 from 0 and 1, 2.5 from 3; 9 is the fourth
    np.testing.assert_allclose(out[0, 0], (w @ [1, 2, 4]) / w.sum(), rtol=1e-5)
    np.testing.assert_allclose(out[1, 0], 2.0, rtol=1e-5)  # on a coarse point: its value


def _cloud(key, batch=3, n=64, channels=1):
    return jax.random.uniform(key, (batch, n, 3 + channels), minval=-0.5, maxval=0.5)


def _init(net, x, key, *args):
    return jax.jit(lambda k: net.init({"params": k, "program": k, "read": k}, x, *args))(key)


def _apply(net, variables, *args, **rngs):
    """A jitted apply (eager flax dispatches every operation one by one)."""
    return jax.jit(lambda v, r: net.apply(v, *args, rngs=r))(variables, rngs)


def test_random_point_network_reads_the_taox_presets_formed_pairs():
    spec = presets.spec("taox_40nm_random", role="random")
    net = PointClassifier(((32, 0.5, 16, 64), (None, 0.0, 1, 128)), 5, kind="random", spec=spec)
    x = _cloud(jax.random.PRNGKey(0))
    variables = _init(net, x, jax.random.PRNGKey(1))
    chip = jax.jit(lambda k: program_chip(net, variables, k, x))(jax.random.PRNGKey(2))
    g = np.concatenate([np.concatenate([a.g_pos.ravel(), a.g_neg.ravel()]) for a in chip_arrays(chip)])
    formed = g[g > 1e-6]
    assert len(g) == 2 * (4 * 64 + 67 * 128)
    assert abs(len(formed) / len(g) - 0.5) < 3 * np.sqrt(0.25 / len(g))  # half the cells unformed
    se = 5.32e-6 / np.sqrt(len(formed))
    assert abs(formed.mean() - 34.06e-6) < 4 * se
    assert abs(formed.std() - 5.32e-6) < 0.05 * 5.32e-6


def test_only_batch_norm_scales_and_read_out_train():
    net = PointClassifier(STAGES, 4, kind="random")
    x, key = _cloud(jax.random.PRNGKey(0)), jax.random.PRNGKey(3)
    variables = _init(net, x, key)
    names = {jax.tree_util.keystr(p[-1:]) for p, _ in jax.tree_util.tree_leaves_with_path(variables["params"])}
    assert names == {"['scale']", "['bias']", "['kernel']"}
    kernels = [p for p, _ in jax.tree_util.tree_leaves_with_path(variables["params"]) if "kernel" in str(p)]
    assert all("readout" in jax.tree_util.keystr(p) for p in kernels)  # the only weight matrix is the read-out

    def loss(params):
        out, _ = net.apply({**variables, "params": params}, x, train=True, rngs={"program": key},
                           mutable=["batch_stats"])
        return jnp.sum(jnp.sin(out))

    grads = jax.jit(jax.grad(loss))(variables["params"])
    assert all(float(jnp.abs(g).sum()) > 0 for g in jax.tree.leaves(grads))
    other_chip = _apply(net, variables, x, program=jax.random.PRNGKey(4))
    assert not np.allclose(other_chip, _apply(net, variables, x, program=key))  # weights = the chip


def test_ideal_limit_is_the_digital_network():
    spec = presets.spec("taox_40nm_random", role="random")
    fine = dataclasses.replace(spec.with_device(read_sigma_rel=0.0), adc=None,
                               dac=DAC(16, bit_serial=True, encoding="offset"))
    x, key = _cloud(jax.random.PRNGKey(5)), jax.random.PRNGKey(6)
    ideal = PointClassifier(STAGES, 4, kind="random", spec=spec.ideal())
    variables = _init(ideal, x, key)
    digital = _apply(ideal, variables, x, program=key)
    on_chip = PointClassifier(STAGES, 4, kind="random", spec=fine)
    chip = jax.jit(lambda k: program_chip(on_chip, variables, k, x))(key)
    analog = _apply(on_chip, {**variables, "chip": chip}, x, read=key)
    np.testing.assert_allclose(analog, digital, rtol=1e-3, atol=1e-3)
    coarse = dataclasses.replace(fine, dac=DAC(3, bit_serial=True, encoding="offset"))
    rough = _apply(PointClassifier(STAGES, 4, kind="random", spec=coarse), {**variables, "chip": chip}, x, read=key)
    assert np.abs(rough - digital).max() > 10 * np.abs(analog - digital).max()  # the 3-bit inputs do show


def test_part_segmenter_gives_per_point_logits_and_needs_the_category():
    net = PartSegmenter(STAGES, (32, 32, 16), n_parts=6, n_categories=2, kind="trained")
    x, key = _cloud(jax.random.PRNGKey(7), n=48, channels=3), jax.random.PRNGKey(8)
    category = jnp.array([0, 1, 1])
    variables = _init(net, x, key, category)
    logits = _apply(net, variables, x, category)
    assert logits.shape == (3, 48, 6)
    other = _apply(net, variables, x, jnp.array([1, 1, 1]))
    assert not np.allclose(logits[0], other[0]) and np.allclose(logits[1:], other[1:])  # the category matters
    with pytest.raises(ValueError, match="needs the category"):
        net.apply(variables, x)
