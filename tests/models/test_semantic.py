"""Semantic-memory dynamic networks: CAM exits, the static limit, executed MACs, ternary pairs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from analog import cam, cost, crossbar, presets
from analog.cam import DONT_CARE
from analog.device import G_HRS, G_LRS
from analog.transforms import Ternary
from models import semantic
from models.semantic import DynamicPointNet, TernaryResNet

KEY = jax.random.PRNGKey(0)
TERNARY = presets.spec("ternary_lrs_hrs", role="ternary")


def _search(words, queries, metric):
    spec = presets.spec("tcam_40nm", role="cam").replace(metric=metric).ideal()
    array = cam.program(KEY, words, spec)
    scores, _ = cam.search(KEY, array, queries, spec)
    return semantic.similarities(scores, words, queries, metric)


@pytest.mark.parametrize("metric", ["hamming", "dot"])
def test_cam_exit_picks_the_nearest_semantic_vector_without_noise(metric):
    rng = np.random.default_rng(1)
    n_classes, width = 6, 40
    if metric == "hamming":
        words = rng.choice([0, 1, DONT_CARE], size=(n_classes, width), p=[0.4, 0.4, 0.2])
        queries = rng.integers(0, 2, size=(50, width)).astype(np.float32)
        care = words != DONT_CARE
        distance = ((queries[:, None, :] != words[None]) & care[None]).sum(-1)
        expected_sim = 1 - 2 * distance / care.sum(-1)
    else:
        words = rng.choice([-1, 0, 1], size=(n_classes, width))
        queries = rng.choice([-1.0, 0.0, 1.0], size=(50, width)).astype(np.float32)
        expected_sim = queries @ words.T / np.sqrt((words != 0).sum(-1)[None] * (queries != 0).sum(-1)[:, None])
    sims = _search(words, queries, metric)
    np.testing.assert_allclose(sims, expected_sim, atol=1e-5)
    best, margin = semantic.exit_scores(sims, "margin")
    top = np.sort(expected_sim, axis=1)
    np.testing.assert_array_equal(best, np.argmax(expected_sim, axis=1))
    np.testing.assert_allclose(margin, top[:, -1] - top[:, -2], atol=1e-5)


def test_semantic_words_code_the_class_means_with_dont_care():
    z = np.array([[2.0, -2.0, 0.1], [1.0, -1.0, -0.1], [-3.0, 3.0, 0.0], [-1.0, 1.0, 0.05]])
    labels = np.array([0, 0, 1, 1])
    np.testing.assert_array_equal(semantic.semantic_words(z, labels, 2, "hamming", 0.25),
                                  [[1, 0, DONT_CARE], [0, 1, DONT_CARE]])
    np.testing.assert_array_equal(semantic.semantic_words(z, labels, 2, "dot", 0.25), [[1, -1, 0], [-1, 1, 0]])
    with pytest.raises(ValueError, match=r"class\(es\) \[2\]"):
        semantic.semantic_words(z, labels, 3, "hamming", 0.25)


def _resnet(spec=TERNARY.ideal(), transform=Ternary()):
    return TernaryResNet((2, 4), 10, 1, 1, spec, transform)


def test_infinite_thresholds_give_the_static_network_exactly():
    model = _resnet()
    x = jax.random.uniform(KEY, (16, 8, 8, 1))
    variables = model.init(KEY, x)
    features, logits = model.apply(variables, x, method="exits")
    assert [f.shape for f in features] == [(16, 2)]
    classes = jnp.zeros((1, 16), jnp.int32)
    scores = jnp.full((1, 16), 1e30)  # every exit would fire at any finite threshold
    pred, where = semantic.dynamic_predict(classes, scores, logits, jnp.array([jnp.inf]))
    np.testing.assert_array_equal(pred, jnp.argmax(logits, -1))
    np.testing.assert_array_equal(where, 1)
    np.testing.assert_array_equal(model.apply(variables, x), logits)
    # a finite threshold lets them all leave at exit 0 with its class
    pred, where = semantic.dynamic_predict(classes, scores, logits, jnp.array([0.5]))
    np.testing.assert_array_equal(pred, 0)
    np.testing.assert_array_equal(where, 0)
    with pytest.raises(ValueError, match="one per exit"):
        semantic.dynamic_predict(classes, scores, logits, jnp.array([1.0, 2.0]))


def test_executed_macs_of_an_early_exit_are_the_stages_it_ran():
    model = _resnet()
    x = jnp.ones((1, 8, 8, 1))
    variables = {k: v for k, v in model.init(KEY, x).items() if k != "cost"}  # init sows counts too
    _, state = model.apply(variables, x, mutable=["cost"])
    stages = cost.stage_counts(state["cost"])
    macs = [stages[s]["macs"] for s in ("stage0", "stage1", "head")]
    # by hand: stem 8*8*9*1*2, block 2 x 8*8*9*2*2; stride-2 block 4*4*9*2*4 + 4*4*9*4*4 + skip 4*4*2*4; head 4*10
    assert macs == [1152 + 2 * 2304, 1152 + 2304 + 128, 40]
    per_exit = semantic.macs_per_exit(macs)
    np.testing.assert_array_equal(per_exit, [5760, 5760 + 3584 + 40])
    where = jnp.array([0, 0, 1, 0])
    hist = np.bincount(np.asarray(where), minlength=2) / 4
    assert float(np.sum(hist * per_exit)) == pytest.approx((3 * 5760 + 9384) / 4)


def test_ternary_kernels_take_three_values_and_map_to_lrs_hrs_pairs():
    w = jax.random.normal(KEY, (3, 3, 4, 8))
    t = Ternary()(w)
    matrix = np.asarray(t).reshape(-1, 8)
    for col in matrix.T:
        alpha = np.abs(col).max()
        assert set(np.round(np.unique(col) / alpha, 6)) <= {-1.0, 0.0, 1.0}
    quiet = TERNARY.with_device(prog_sigma=0.0, read_sigma_rel=0.0)
    array = crossbar.program(KEY, jnp.asarray(matrix), quiet)
    pos, neg = np.asarray(array.g_pos), np.asarray(array.g_neg)
    sign = np.sign(matrix)
    np.testing.assert_allclose(pos, np.where(sign > 0, G_LRS, G_HRS), rtol=1e-6)
    np.testing.assert_allclose(neg, np.where(sign < 0, G_LRS, G_HRS), rtol=1e-6)
    # with the preset's 3 uS state spread every cell stays near its state
    noisy = crossbar.program(KEY, jnp.asarray(matrix), TERNARY)
    assert np.max(np.abs(np.asarray(noisy.g_pos) - pos)) < 6 * 3e-6


def test_choose_thresholds_reach_the_target_on_the_exited_inputs():
    rng = np.random.default_rng(0)
    n = 400
    score = rng.random((2, n))
    labels = rng.integers(0, 4, n)
    # the exit is right where its score is high, wrong otherwise (with some slack)
    classes = np.where(score > 0.4 + 0.2 * rng.random((2, n)), labels, (labels + 1) % 4)
    thresholds = semantic.choose_thresholds(classes, score, labels, target=0.95)
    first = score[0] >= thresholds[0]
    assert np.mean(classes[0, first] == labels[first]) >= 0.95
    lower = np.max(score[0][score[0] < thresholds[0]])  # one step lower breaks the target
    more = score[0] >= lower
    assert np.mean(classes[0, more] == labels[more]) < 0.95
    second = ~first & (score[1] >= thresholds[1])
    assert second.any() and np.mean(classes[1, second] == labels[second]) >= 0.95
    assert np.all(np.isinf(semantic.choose_thresholds(classes, score, labels, target=1.01)))
    # against a reference (the static network): the exits lose at most `target` on the inputs they take
    reference = np.where(rng.random(n) < 0.9, labels, (labels + 2) % 4)
    for slack in (0.0, 0.05):
        thresholds = semantic.choose_thresholds(classes, score, labels, slack, reference)
        pred, where = semantic.dynamic_predict(jnp.asarray(classes), jnp.asarray(score),
                                               jax.nn.one_hot(reference, 4), jnp.asarray(thresholds))
        assert np.mean(np.asarray(pred) == labels) >= np.mean(reference == labels) - slack - 1e-9
        assert np.any(np.asarray(where) < 2)


def test_dynamic_point_net_exits_after_every_sampled_stage():
    model = DynamicPointNet(((16, 0.5, 8, 8), (None, 0.0, 1, 12)), 5, TERNARY.ideal())
    points = jax.random.normal(KEY, (3, 32, 6))
    variables = model.init(KEY, points)
    features, logits = model.apply(variables, points, method="exits")
    assert [f.shape for f in features] == [(3, 8)] and logits.shape == (3, 5)
    kernel = variables["params"]["stage0"]["layer"]["kernel"]
    # the ideal ternary network is the digital product with the ternarised kernels
    flat = jax.tree_util.tree_map(lambda a: a, variables)  # new containers, same leaves
    digital = DynamicPointNet(((16, 0.5, 8, 8), (None, 0.0, 1, 12)), 5, TERNARY.ideal(), None)
    flat["params"]["stage0"]["layer"]["kernel"] = Ternary()(kernel)
    flat["params"]["stage1"]["layer"]["kernel"] = Ternary()(variables["params"]["stage1"]["layer"]["kernel"])
    flat["params"]["head"]["kernel"] = Ternary()(variables["params"]["head"]["kernel"])
    np.testing.assert_allclose(digital.apply(flat, points), logits, rtol=1e-5, atol=1e-5)


def test_bad_choices_are_rejected_by_name():
    with pytest.raises(ValueError, match="exit rule"):
        semantic.exit_scores(jnp.zeros((2, 3)), "confidence")
    with pytest.raises(ValueError, match="metric"):
        semantic.query_codes(jnp.zeros((2, 3)), "cosine", 0.1)
    with pytest.raises(ValueError, match=r"\(batch, H, W, channels\)"):
        _resnet().init(KEY, jnp.zeros((2, 64)))
