import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from analog import crossbar, forming, transforms
from analog.converters import ADC, DAC
from analog.crossbar import CrossbarSpec
from analog.device import RRAM
from models import layers
from models.chip import program_chip, programming_counts
from models.layers import AnalogConv, AnalogDense, MaskedRandomConv, MaskedRandomDense, RandomConv, RandomDense

KEY = jax.random.PRNGKey(0)
NOISY = CrossbarSpec(device=RRAM(prog_sigma=3e-6, read_sigma_rel=0.03), adc=ADC(8), dac=DAC(6), tile_rows=32)


def test_dense_ideal_limit_equals_nn_dense():
    x = jax.random.normal(KEY, (5, 70))
    ref = nn.Dense(9)
    params = ref.init(KEY, x)
    y = AnalogDense(9, spec=NOISY.ideal()).apply(params, x)
    np.testing.assert_allclose(y, ref.apply(params, x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(kernel_size=(3, 3)),
        dict(kernel_size=(3, 3), strides=2, padding="VALID"),
        dict(kernel_size=(3, 3), feature_group_count=6),
        dict(kernel_size=(5,)),
    ],
)
def test_conv_ideal_limit_equals_nn_conv(kwargs):
    shape = (2, 11, 6) if len(kwargs["kernel_size"]) == 1 else (2, 9, 9, 6)
    x = jax.random.normal(KEY, shape)
    ref = nn.Conv(12, **kwargs)
    params = ref.init(KEY, x)
    y = AnalogConv(12, spec=NOISY.ideal(), **kwargs).apply(params, x)
    np.testing.assert_allclose(y, ref.apply(params, x), rtol=1e-5, atol=1e-5)


def test_same_program_key_same_chip_fresh_read_noise():
    x = jax.random.normal(KEY, (4, 40))
    layer = AnalogDense(8, spec=NOISY)
    params = layer.init({"params": KEY, "program": KEY, "read": KEY}, x)
    chip = jax.random.PRNGKey(1)
    no_read = CrossbarSpec(device=RRAM(prog_sigma=3e-6), tile_rows=32)
    a = AnalogDense(8, spec=no_read).apply(params, x, rngs={"program": chip})
    b = AnalogDense(8, spec=no_read).apply(params, x, rngs={"program": chip})
    c = AnalogDense(8, spec=no_read).apply(params, x, rngs={"program": jax.random.PRNGKey(2)})
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    r1 = layer.apply(params, x, rngs={"program": chip, "read": jax.random.PRNGKey(3)})
    r2 = layer.apply(params, x, rngs={"program": chip, "read": jax.random.PRNGKey(4)})
    assert not np.allclose(r1, r2)


def test_noisy_layer_without_rngs_raises_clearly():
    x = jnp.ones((1, 4))
    params = nn.Dense(2).init(KEY, x)
    with pytest.raises(ValueError, match="rngs="):
        AnalogDense(2, spec=NOISY).apply(params, x)


def test_costs_are_sown():
    x = jnp.ones((3, 7, 7, 4))
    layer = AnalogConv(5, kernel_size=(3, 3), spec=NOISY.ideal())
    params = {"params": layer.init(KEY, x)["params"]}  # init also sows: keep only the params
    _, state = layer.apply(params, x, mutable=["cost"])
    cost = state["cost"]
    assert float(cost["macs"]) == 3 * 7 * 7 * 36 * 5
    assert float(cost["adc_conversions"]) == 3 * 7 * 7 * 2 * 5  # 36 rows -> 2 tiles of 32


def test_hardware_aware_training_reduces_loss_with_noise_on():
    kx, kw = jax.random.split(KEY)
    x = jax.random.normal(kx, (64, 10))
    y = x @ jax.random.normal(kw, (10, 3))
    model = AnalogDense(3, spec=NOISY)
    params = model.init({"params": KEY, "program": KEY, "read": KEY}, x)
    opt = optax.adam(0.05)
    state = opt.init(params)

    @jax.jit
    def step(params, state, key):
        kp, kr = jax.random.split(key)
        loss_fn = lambda p: jnp.mean((model.apply(p, x, rngs={"program": kp, "read": kr}) - y) ** 2)
        loss, g = jax.value_and_grad(loss_fn)(params)
        updates, state = opt.update(g, state)
        return optax.apply_updates(params, updates), state, loss

    losses = []
    for i in range(150):
        params, state, loss = step(params, state, jax.random.PRNGKey(i))
        losses.append(float(loss))
    assert np.mean(losses[-10:]) < 0.1 * np.mean(losses[:10])


# ---------------------------------------------------------------------- random and masked layers
RANDOM = CrossbarSpec(device=RRAM.taox_40nm_random(), adc=ADC(10, fullscale=64.0), tile_rows=32)
X40 = jax.random.normal(KEY, (6, 40))


def _pair_of(layer, variables, x, chip_key, shape):
    """The random pair the layer forms for ``chip_key`` (its program key, bound)."""
    bound = layer.bind(variables, rngs={"program": chip_key})
    return forming.random_pair(layers.program_key(bound), shape, layer.spec.device)


@pytest.mark.parametrize("cls", [RandomDense, MaskedRandomDense])
def test_random_layers_ideal_limit_is_the_digital_product_of_their_conductances(cls):
    layer = cls(8, spec=RANDOM.ideal(), scale_init=1.7)
    variables = layer.init({"params": KEY}, X40)
    chip_key = jax.random.PRNGKey(9)
    y = layer.apply(variables, X40, rngs={"program": chip_key})
    pair = _pair_of(layer, variables, X40, chip_key, (1, 40, 8))
    keep = getattr(layer, "keep", 1.0)
    w = pair.g_pos - pair.g_neg
    if cls is MaskedRandomDense:
        mask = np.asarray(layers.topk_mask(variables["params"]["scores"], keep))[None]
        w = mask * w + (1 - mask) * (pair.reset_pos - pair.reset_neg)
    w_unit = w[0] / (np.sqrt(2) * forming.cell_moments(RANDOM.device)[1] * np.sqrt(keep * 40))
    np.testing.assert_allclose(y, 1.7 * X40 @ w_unit, rtol=1e-5, atol=1e-5)
    # the programmed chip reads the same: mvm on from_conductances equals the digital product
    chip = program_chip(layer, variables, chip_key, X40)
    np.testing.assert_allclose(layer.apply({**variables, "chip": chip}, X40), y, rtol=1e-5, atol=1e-5)


def test_random_weights_follow_the_preset_and_one_program_key_is_one_chip():
    layer = RandomDense(256, spec=RANDOM)
    variables = jax.jit(layer.init)({"params": KEY}, jnp.ones((1, 512)))
    pair = _pair_of(layer, variables, None, jax.random.PRNGKey(3), (1, 512, 256))
    w = np.asarray(pair.g_pos - pair.g_neg, np.float64).ravel()
    _, cell_std = forming.cell_moments(RANDOM.device)
    assert w.std() == pytest.approx(np.sqrt(2) * cell_std, rel=0.01)
    x = jax.random.normal(KEY, (4, 512))
    apply = jax.jit(lambda chip, read: layer.apply(variables, x, rngs={"program": chip, "read": read}))
    a = apply(jax.random.PRNGKey(3), KEY)
    b = apply(jax.random.PRNGKey(3), jax.random.PRNGKey(1))
    c = apply(jax.random.PRNGKey(4), KEY)
    assert 0 < float(jnp.abs(a - b).max()) < 0.2 * float(jnp.abs(a).max())  # read noise only
    assert float(jnp.abs(a - c).mean()) > 0.5 * float(jnp.abs(a).mean())    # another chip


def test_pruned_edge_reads_the_reset_pair_on_hardware_and_zero_in_software():
    chip_key = jax.random.PRNGKey(5)
    shape = (1, 40, 8)
    reset = MaskedRandomDense(8, spec=RANDOM.ideal(), keep=0.25, name="m")
    zero = MaskedRandomDense(8, spec=RANDOM.ideal(), keep=0.25, prune_to="zero", name="m")
    variables = reset.init({"params": KEY}, X40)
    chip_reset = program_chip(reset, variables, chip_key, X40)["arrays"]
    chip_zero = program_chip(zero, variables, chip_key, X40)["arrays"]
    pair = _pair_of(reset, variables, X40, chip_key, shape)
    kept = np.asarray(layers.topk_mask(variables["params"]["scores"], 0.25), bool)[None]
    np.testing.assert_array_equal(np.asarray(chip_reset.g_pos)[kept], np.asarray(pair.g_pos)[kept])
    np.testing.assert_array_equal(np.asarray(chip_reset.g_pos)[~kept], np.asarray(pair.reset_pos)[~kept])
    np.testing.assert_array_equal(np.asarray(chip_reset.g_neg)[~kept], np.asarray(pair.reset_neg)[~kept])
    np.testing.assert_array_equal(np.asarray(chip_zero.g_pos)[~kept], 0.0)
    pruned_w = np.asarray(chip_reset.g_pos - chip_reset.g_neg)[~kept]
    assert 0 < np.abs(pruned_w).mean() < 0.2 * np.abs(np.asarray(pair.g_pos - pair.g_neg)).mean()
    # pulses: one forming pulse per cell, and a RESET of both cells of every pruned edge
    assert float(programming_counts({"m": {"arrays": chip_reset}})["programming_pulses"]) == 2 * 320 + 2 * 240


@pytest.mark.parametrize("keep", [0.1, 0.7])
def test_topk_keeps_exactly_k_and_gradients_reach_only_the_scores(keep):
    layer = MaskedRandomConv(12, (3, 3), spec=RANDOM, keep=keep)
    x = jax.random.normal(KEY, (2, 9, 9, 4))
    variables = jax.jit(layer.init)({"params": KEY}, x)
    assert set(variables["params"]) == {"scores", "scale"}  # the conductances are not parameters
    scores = variables["params"]["scores"]
    mask = layers.topk_mask(scores, keep)
    assert float(mask.sum()) == round(keep * scores.size)
    assert np.all(np.abs(np.asarray(scores))[np.asarray(mask) == 1].min() >=
                  np.abs(np.asarray(scores))[np.asarray(mask) == 0].max())
    rngs = {"program": KEY, "read": KEY}
    grads = jax.jit(jax.grad(lambda p: jnp.sum(layer.apply({"params": p}, x, rngs=rngs) ** 2)))(variables["params"])
    assert float(jnp.abs(grads["scores"]).sum()) > 0  # straight through the mask
    # pruned edges learn too: every edge with a formed cell (3/4 of them; a pair of unformed
    # cells reads 0 S kept or pruned) gets a gradient
    assert np.count_nonzero(np.asarray(grads["scores"])) > 0.65 * scores.size


def test_mask_flips_count_the_edges_that_change():
    a = jax.random.normal(KEY, (30, 20))
    b = a.at[0, :5].set(100.0)  # five edges pushed to the top replace the five weakest kept ones
    assert int(layers.mask_flips(a, a, 0.5)) == 0
    assert int(layers.mask_flips(a, b, 0.5)) == 2 * int(np.sum(np.asarray(layers.topk_mask(a, 0.5))[0, :5] == 0))
    ma, mb = (np.asarray(layers.topk_mask(s, 0.3)) for s in (a, -2 * a + jax.random.normal(KEY, a.shape)))
    assert int(layers.mask_flips(a, -2 * a + jax.random.normal(KEY, a.shape), 0.3)) == int(np.sum(ma != mb))


def test_random_layer_without_program_stream_raises_even_on_an_ideal_spec():
    layer = RandomDense(4, spec=RANDOM.ideal())
    variables = layer.init({"params": KEY}, X40)
    with pytest.raises(ValueError, match="rngs=\\{'program'"):
        layer.apply(variables, X40)
    no_reset = MaskedRandomDense(4, spec=CrossbarSpec(device=RRAM(form_mean=30e-6, form_std=3e-6)))
    with pytest.raises(ValueError, match="RESET"):
        no_reset.apply(no_reset.init({"params": KEY}, X40), X40, rngs={"program": KEY})
    with pytest.raises(ValueError, match="keep"):
        MaskedRandomDense(4, keep=0.0).init({"params": KEY}, X40)


def test_random_conv_matches_its_dense_im2col():
    conv = RandomConv(5, (3, 3), spec=RANDOM.ideal(), padding="VALID")
    x = jax.random.normal(KEY, (2, 6, 6, 3))
    variables = conv.init({"params": KEY}, x)
    y = conv.apply(variables, x, rngs={"program": KEY})
    pair = _pair_of(conv, variables, x, KEY, (1, 27, 5))
    patches = jax.lax.conv_general_dilated_patches(x, (3, 3), (1, 1), "VALID",
                                                   dimension_numbers=("NHWC", "HWIO", "NHWC"))
    w = (pair.g_pos - pair.g_neg)[0] / (np.sqrt(2) * forming.cell_moments(RANDOM.device)[1] * np.sqrt(27))
    np.testing.assert_allclose(y, patches @ w, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------- kernel transforms
@pytest.mark.parametrize("transform, allowed_per_channel", [(transforms.Ternary(), 3), (transforms.Levels(4), None)])
def test_kernel_transform_reaches_the_chip(transform, allowed_per_channel):
    # per-channel alphas on binary cells: one full swing per column (weight_scale="column")
    ternary_cells = CrossbarSpec(device=RRAM.binary_lrs_hrs(prog_sigma=0.0, read_sigma_rel=0.0),
                                 weight_scale="column")
    layer = AnalogDense(6, spec=ternary_cells if allowed_per_channel else CrossbarSpec(device=RRAM(levels=4)),
                        kernel_transform=transform)
    variables = layer.init({"params": KEY}, X40)
    chip = program_chip(layer, variables, KEY, X40)
    w = np.asarray(crossbar.effective_weight(jax.tree.map(lambda a: a[0], chip["arrays"])))
    expected = np.asarray(transform(variables["params"]["kernel"]))
    np.testing.assert_allclose(w, expected, rtol=1e-5, atol=1e-7)  # the device holds the transformed kernel
    if allowed_per_channel:
        assert all(len(np.unique(np.round(w[:, c], 6))) <= 3 for c in range(6))
    else:
        assert len(np.unique(np.round(w / np.abs(w).max() * 3, 4))) <= 7


# ---------------------------------------------------------------------- program once, read many
class _TwoCalls(nn.Module):
    """One layer called twice in one apply, as a time loop would."""

    spec: CrossbarSpec

    @nn.compact
    def __call__(self, x):
        layer = AnalogDense(8, spec=self.spec, use_bias=False)
        return layer(x), layer(x)


def test_a_layer_called_twice_in_one_apply_reads_one_chip():
    programming_only = CrossbarSpec(device=RRAM(prog_sigma=5e-6), tile_rows=32)
    model = _TwoCalls(programming_only)
    variables = model.init({"params": KEY}, X40)
    a, b = model.apply(variables, X40, rngs={"program": jax.random.PRNGKey(2)})
    np.testing.assert_array_equal(a, b)  # one chip (make_rng would have drawn two)
    a, b = _TwoCalls(NOISY).apply(variables, X40, rngs={"program": jax.random.PRNGKey(2), "read": KEY})
    assert not np.allclose(a, b)  # fresh read noise per call


class _Steps(nn.Module):
    spec: CrossbarSpec

    @nn.compact
    def __call__(self, carry, x):
        return carry, AnalogDense(8, spec=self.spec, use_bias=False)(x)


def test_a_model_applied_t_times_on_a_programmed_chip_reads_one_chip_with_fresh_noise():
    t_steps = 400
    analog_io = NOISY.replace(adc=None, dac=None)  # read noise, no converters: reads average to the chip
    xs = jnp.broadcast_to(X40[:2], (t_steps, 2, 40))
    run = jax.jit(lambda v, spec, rngs: layers.scan_time(_Steps)(spec).apply(v, 0.0, xs, rngs=rngs)[1],
                  static_argnums=1)
    variables = layers.scan_time(_Steps)(analog_io).init({"params": KEY}, 0.0, xs)
    chip = jax.jit(lambda v, k: program_chip(layers.scan_time(_Steps)(analog_io), v, k, 0.0, xs))(
        variables, jax.random.PRNGKey(7))
    assert jax.tree.leaves(chip)[0].shape[0] == 1  # one array set, broadcast over steps
    ys = run({**variables, "chip": chip}, analog_io, {"read": jax.random.PRNGKey(1)})
    assert not np.allclose(ys[0], ys[1])  # read noise differs per step
    # the chip is the same at every step: without read noise every step is one value ...
    no_read = analog_io.with_device(read_sigma_rel=0.0)
    clean = run({**variables, "chip": chip}, no_read, {})
    np.testing.assert_array_equal(clean, jnp.broadcast_to(clean[0], clean.shape))
    # ... the noisy steps scatter around it (one chip, not 400) ...
    np.testing.assert_allclose(ys.mean(0), clean[0], atol=5 * float(ys.std(0).max()) / 20)
    # ... and reprogramming with the same program key instead of a stored chip is the same chip
    again = run(variables, no_read, {"program": jax.random.PRNGKey(7)})
    np.testing.assert_allclose(again, clean, rtol=1e-6, atol=1e-6)


def test_a_chip_is_vmappable_over_program_keys():
    layer = AnalogDense(8, spec=NOISY)
    variables = layer.init({"params": KEY}, X40)
    chips = jax.jit(jax.vmap(lambda k: program_chip(layer, variables, k, X40)))(jax.random.split(KEY, 5))
    ys = jax.jit(jax.vmap(lambda c: layer.apply({**variables, "chip": c}, X40, rngs={"read": KEY})))(chips)
    assert ys.shape == (5, 6, 8) and not np.allclose(ys[0], ys[1])
    # the noisy layer without program key nor chip still says what it needs
    with pytest.raises(ValueError, match="program_chip"):
        layer.apply(variables, X40, rngs={"read": KEY})


def test_masked_rnn_cell_reads_one_chip_at_every_time_step():
    cell = layers.MaskedRandomRNNCell(6, spec=RANDOM.ideal(), keep=0.5)
    rnn = nn.RNN(cell, split_rngs=layers.SCAN_RNGS, variable_broadcast=list(layers.SCAN_BROADCAST))
    xs = jax.random.normal(KEY, (2, 5, 4))  # (batch, time, features)
    variables = jax.jit(rnn.init)({"params": KEY}, xs)
    chip = jax.jit(lambda v: program_chip(rnn, v, jax.random.PRNGKey(2), xs))(variables)
    hs = jax.jit(lambda v, c: rnn.apply({**v, "chip": c}, xs))(variables, chip)
    weight = lambda name: crossbar.effective_weight(jax.tree.map(lambda a: a[0], chip["cell"][name]["arrays"]))
    w_in, w_rec = weight("input"), weight("recurrent")
    h = jnp.zeros((2, 6))
    for t in range(5):  # the recurrence by hand with the one programmed chip
        h = jax.nn.relu(xs[:, t] @ w_in + h @ w_rec)
        np.testing.assert_allclose(hs[:, t], h, rtol=1e-5, atol=1e-5)
    # and without a stored chip the program key forms the same chip at every step
    again = jax.jit(lambda v: rnn.apply(v, xs, rngs={"program": jax.random.PRNGKey(2)}))(variables)
    np.testing.assert_allclose(again, hs, rtol=1e-5, atol=1e-5)


def test_reprogramming_limiter_on_a_hand_worked_score_sequence():
    # keep 2 of 4, limit 0.1: an edge keeps its bit while its |score| moves less than 10 %
    s0, s1, s2 = (jnp.array(v) for v in ([4.0, 3.0, 2.0, 1.0], [4.0, 2.9, 3.1, 1.0], [4.0, 2.0, 3.1, 1.0]))
    m0 = layers.topk_mask(s0, 0.5)
    np.testing.assert_array_equal(m0, [1, 1, 0, 0])
    m1 = layers.limited_mask(s0, s1, m0, 0.5, 0.1)  # top-2 is now {0, 2}; edge 1 moved 3 %: held
    np.testing.assert_array_equal(m1, [1, 1, 1, 0])
    m2 = layers.limited_mask(s1, s2, m1, 0.5, 0.1)  # edge 1 moved 31 %: follows top-2 and drops
    np.testing.assert_array_equal(m2, [1, 0, 1, 0])
    np.testing.assert_array_equal(layers.limited_mask(s1, s2, m0, 0.5, 0.0), layers.topk_mask(s2, 0.5))
    # a zero previous score always follows top-k (its relative change is infinite)
    np.testing.assert_array_equal(layers.limited_mask(jnp.zeros(4), s1, m0, 0.5, 0.5), [1, 0, 1, 0])


def test_limited_mask_layer_counts_flips_and_reads_the_stored_mask_outside_training():
    layer = MaskedRandomDense(2, spec=RANDOM.ideal(), keep=0.5, limit_flips=True, scale="none")
    x = jnp.ones((1, 2))
    rngs = {"program": KEY, "read": KEY}
    variables = layer.init({"params": KEY}, x)
    set_scores = lambda v, s: {**v, "params": {"scores": jnp.asarray(s).reshape(2, 2)}}
    variables = set_scores(variables, [4.0, 3.0, 2.0, 1.0])
    variables = {**variables, "mask": {**variables["mask"], "bits": jnp.array([[1.0, 1.0], [0.0, 0.0]]),
                                       "scores": variables["params"]["scores"], "limit": jnp.asarray(0.1)}}
    state = variables
    for scores in ([4.0, 2.9, 3.1, 1.0], [4.0, 2.0, 3.1, 1.0]):  # the hand-worked sequence: one flip each
        state = set_scores(state, scores)
        _, updated = layer.apply(state, x, rngs=rngs, mutable=["mask"])
        state = {**state, **updated}
    np.testing.assert_array_equal(state["mask"]["bits"].reshape(-1), [1, 0, 1, 0])
    assert float(state["mask"]["flips"]) == 2.0
    # evaluation (mask not mutable) reads the stored bits, not a fresh top-k of the scores
    stored = set_scores(state, [0.0, 0.0, 9.0, 9.0])
    pair = forming.random_pair(layers.program_key(layer.bind(stored, rngs=rngs)), (1, 2, 2), RANDOM.device)
    w = np.asarray(pair.g_pos - pair.g_neg)[0]
    w = np.where(np.asarray(state["mask"]["bits"]) > 0, w, np.asarray(pair.reset_pos - pair.reset_neg)[0])
    expected = x @ w / (layers._pair_std(RANDOM) * np.sqrt(0.5 * 2))
    np.testing.assert_allclose(layer.apply(stored, x, rngs=rngs), expected, rtol=1e-5)
    # gradients still reach the scores straight through the stored mask
    grads = jax.grad(lambda p: jnp.sum(layer.apply({**stored, "params": p}, x, rngs=rngs)))(stored["params"])
    assert float(jnp.abs(grads["scores"]).sum()) > 0


class _ThreeSteps(nn.Module):
    """One limited layer called three times in an apply (an unrolled recurrence)."""

    @nn.compact
    def __call__(self, x):
        layer = MaskedRandomDense(2, spec=RANDOM.ideal(), keep=0.5, limit_flips=True, scale="none", name="w")
        for _ in range(3):
            x = layer(x)
        return x


def test_a_limited_mask_called_at_every_time_step_updates_once_per_apply():
    x = jnp.ones((1, 2))
    rngs = {"program": KEY, "read": KEY}
    once = MaskedRandomDense(2, spec=RANDOM.ideal(), keep=0.5, limit_flips=True, scale="none")
    flips = {}
    for name, model in (("once", once), ("three", _ThreeSteps())):
        variables = model.init({"params": KEY}, x)
        scores = jax.tree.map(lambda s: jnp.asarray([[4.0, 3.0], [2.0, 1.0]]), variables["params"])
        start = {"bits": jnp.asarray([[1.0, 1.0], [0.0, 0.0]]), "scores": jnp.asarray([[4.0, 3.0], [2.0, 1.0]]),
                 "limit": jnp.asarray(0.0), "flips": jnp.asarray(0.0)}
        state = {**variables, "params": scores,
                 "mask": jax.tree.map(lambda _: start, variables["mask"], is_leaf=lambda d: "bits" in d)}
        for moved in ([[4.0, 2.0], [3.1, 1.0]], [[1.0, 2.0], [3.1, 4.0]]):
            state = {**state, "params": jax.tree.map(lambda s: jnp.asarray(moved), state["params"])}
            _, updated = model.apply(state, x, rngs=rngs, mutable=["mask"])
            state = {**state, **updated}
        flips[name] = [float(m["flips"]) for m in jax.tree.leaves(state["mask"], is_leaf=lambda d: "flips" in d)]
    assert flips["once"] == flips["three"] == [4.0]  # limit 0: two bits move at each of the two updates


def test_hardware_pruned_path_equals_the_software_mask_when_noise_is_off_and_reset_reads_zero():
    off = CrossbarSpec(device=RRAM.taox_40nm_random(read_sigma_rel=0.0, reset_mean=0.0, reset_std=0.0))
    x = jax.random.uniform(KEY, (3, 7, 7, 2))
    hardware = MaskedRandomConv(5, (3, 3), spec=off, keep=0.4, prune_to="reset", name="c")
    software = MaskedRandomConv(5, (3, 3), spec=off, keep=0.4, prune_to="zero", name="c")
    variables = hardware.init({"params": KEY}, x)
    rngs = {"program": jax.random.PRNGKey(3), "read": KEY}
    chip = program_chip(hardware, variables, rngs["program"], x)
    np.testing.assert_allclose(hardware.apply({**variables, "chip": chip}, x, rngs=rngs),
                               software.apply(variables, x, rngs=rngs), rtol=1e-5, atol=1e-6)


def test_topk_gradient_goes_through_the_magnitude_ranking():
    # edge-popup ranks |scores|: wanting an edge more (dL/dmask < 0) must grow |score|,
    # so a negative score's gradient has the opposite sign of a positive one's
    scores = jnp.array([[2.0, -1.5], [0.5, -0.2]])
    weight = jnp.array([[1.0, 2.0], [3.0, 4.0]])
    grad = jax.grad(lambda s: jnp.sum(layers.topk_mask(s, 0.5) * weight))(scores)
    np.testing.assert_array_equal(grad, weight * jnp.sign(scores))
    # a few steps of gradient descent on the scores keep the edges that lower the loss
    target = jnp.array([[1.0, 0.0], [0.0, 1.0]])
    loss = lambda s: jnp.sum((layers.topk_mask(s, 0.5) - target) ** 2)
    s = jnp.array([[-0.4, 1.0], [0.9, 0.3]])
    for _ in range(20):
        s = s - 0.1 * jax.grad(loss)(s)
    np.testing.assert_array_equal(layers.topk_mask(s, 0.5), target)


@pytest.mark.parametrize("kernel_size,strides,padding", [((3, 3), (1, 1), "SAME"), ((3, 2), (2, 1), "VALID"),
                                                         ((2, 2), (2, 2), "SAME"), ((3, 3), (1, 2), ((1, 0), (2, 1))),
                                                         ((5,), (2,), "SAME")])
def test_im2col_equals_lax_patches(kernel_size, strides, padding):
    shape = (2, 11, 3) if len(kernel_size) == 1 else (2, 9, 8, 3)
    x = jax.random.normal(KEY, shape)
    dims = {1: ("NWC", "WIO", "NWC"), 2: ("NHWC", "HWIO", "NHWC")}[len(kernel_size)]
    ref = jax.lax.conv_general_dilated_patches(x, kernel_size, strides, padding, dimension_numbers=dims)
    np.testing.assert_array_equal(layers._im2col(x, kernel_size, strides, padding), ref)
