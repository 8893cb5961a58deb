import jax
import jax.numpy as jnp
import numpy as np
import pytest

from analog import crossbar
from analog.converters import ADC, DAC
from analog.crossbar import CrossbarSpec
from analog.device import RRAM

KEY = jax.random.PRNGKey(0)
PRESETS = [RRAM(), RRAM.taox_40nm_random(), RRAM.analog_20_80(), RRAM.binary_lrs_hrs(), RRAM.pcm_aihwkit()]


def _wx(n_in=300, n_out=70, batch=6):
    kw, kx = jax.random.split(KEY)
    return jax.random.normal(kw, (n_in, n_out)), jax.random.normal(kx, (batch, n_in))


@pytest.mark.parametrize("tile_rows", [512, 128, 37, 1])
@pytest.mark.parametrize("mapping, scale", [("differential", "tensor"), ("offset", "column")])
def test_ideal_limit_equals_matmul_for_any_tile_size(tile_rows, mapping, scale):
    w, x = _wx()
    spec = CrossbarSpec(tile_rows=tile_rows, mapping=mapping, weight_scale=scale)
    arr = crossbar.program(KEY, w, spec)
    y = crossbar.mvm(KEY, arr, x, spec)
    np.testing.assert_allclose(y, x @ w, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(crossbar.effective_weight(arr), w, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: f"{p.g_min:.0e}-{p.g_max:.0e}")
def test_every_preset_ideal_equals_matmul(preset):
    w, x = _wx()
    spec = CrossbarSpec(device=preset, adc=ADC(6), dac=DAC(4, bit_serial=True),
                        drift_compensation=True, t_inference=3600.0).ideal()
    y = crossbar.mvm(KEY, crossbar.program(KEY, w, spec), x, spec)
    np.testing.assert_allclose(y, x @ w, rtol=1e-5, atol=1e-4)


def test_programming_noise_statistics_of_effective_weights():
    # differential pair, window 0..100 uS, sigma 2 uS per cell -> weight noise sqrt(2) * 2 uS * w_max / 100 uS
    n = 400
    w = jnp.zeros((n, n)).at[0, 0].set(1.0)  # w_max = 1
    spec = CrossbarSpec(device=RRAM(g_min=0.0, g_max=100e-6, prog_sigma=2e-6))
    w_eff = crossbar.effective_weight(crossbar.program(KEY, w, spec))
    noise = np.asarray(w_eff - w).ravel()[1:]
    # zero weights sit at g_min = 0 where negative draws are clipped: a half-normal per cell
    assert float(np.mean(noise)) == pytest.approx(0.0, abs=5 * 0.03 / np.sqrt(noise.size))
    sigma_cell = 0.02 * np.sqrt(1 - 1 / np.pi)  # std of max(N(0, s), 0) is s sqrt((1 - 1/pi) / 2) * sqrt(2)
    assert float(np.std(noise)) == pytest.approx(sigma_cell, rel=0.02)


def test_output_referred_read_noise_matches_per_weight_draws():
    w, x = _wx(64, 8, 3)
    # g_min well above zero so that no read is clipped at 0 S (the one non-Gaussian effect)
    base = CrossbarSpec(device=RRAM(g_min=20e-6, read_sigma_rel=0.1, read_sigma=1e-6), tile_rows=16)
    arr = crossbar.program(KEY, w, base)
    keys = jax.random.split(jax.random.PRNGKey(7), 4000)
    fast = jax.vmap(lambda k: crossbar.mvm(k, arr, x, base))(keys)
    exact_spec = base.replace(read_path="weight")
    exact = jax.vmap(lambda k: crossbar.mvm(k, arr, x, exact_spec))(keys)
    for ys in (fast, exact):
        band = 5 * ys.std(0) / np.sqrt(len(keys))
        assert bool(jnp.all(jnp.abs(ys.mean(0) - x @ crossbar.effective_weight(arr)) < band))
    # std of a sample std with n = 4000: ~1.1 %; allow 6 %
    np.testing.assert_allclose(fast.std(0), exact.std(0), rtol=0.06)
    assert float(jnp.min(fast.std(0))) > 0.01


def test_adc_quantizes_each_tile_and_clipping_is_counted():
    w, x = _wx(256, 16, 4)
    spec = CrossbarSpec(tile_rows=64, adc=ADC(bits=4, fullscale=2.0))
    arr = crossbar.program(KEY, w, spec)
    y, stats = crossbar.mvm(KEY, arr, x, spec, with_stats=True)
    assert int(stats["adc_clipped"]) > 0
    ideal = x @ w
    assert float(jnp.max(jnp.abs(y - ideal))) > 0.01  # coarse ADC is visible
    fine = spec.replace(adc=ADC(bits=14, fullscale=32.0))
    y_fine, stats = crossbar.mvm(KEY, crossbar.program(KEY, w, fine), x, fine, with_stats=True)
    assert int(stats["adc_clipped"]) == 0
    np.testing.assert_allclose(y_fine, ideal, rtol=1e-2, atol=0.2)


def test_bit_serial_inputs_equal_quantized_inputs():
    w, x = _wx(40, 5, 3)
    spec = CrossbarSpec(dac=DAC(bits=4, bit_serial=True))
    y = crossbar.mvm(KEY, crossbar.program(KEY, w, spec), x, spec)
    x_max = jnp.max(jnp.abs(x), axis=1, keepdims=True)
    xq = jnp.sign(x) * jnp.round(jnp.abs(x) / x_max * 15) / 15 * x_max
    np.testing.assert_allclose(y, xq @ w, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("bit_serial", [True, False])
def test_offset_encoding_quantizes_each_vector_between_its_min_and_max(bit_serial):
    """DEPLM's min-max input mode: x = lo + (hi - lo) q, q on 2**bits - 1 unsigned steps,
    the lo @ W term read as an extra all-ones plane."""
    w, x = _wx(40, 5, 3)
    x = 0.3 * x + 3.0  # one sign, narrow range: sign-magnitude spends its levels on [0, lo)
    spec = CrossbarSpec(dac=DAC(bits=4, bit_serial=bit_serial, encoding="offset"))
    y = crossbar.mvm(KEY, crossbar.program(KEY, w, spec), x, spec)
    lo, hi = x.min(axis=1, keepdims=True), x.max(axis=1, keepdims=True)
    xq = lo + jnp.round((x - lo) / (hi - lo) * 15) / 15 * (hi - lo)
    np.testing.assert_allclose(y, xq @ w, rtol=1e-4, atol=1e-3)
    sign_magnitude = CrossbarSpec(dac=DAC(bits=4, bit_serial=bit_serial))
    y_sm = crossbar.mvm(KEY, crossbar.program(KEY, w, sign_magnitude), x, sign_magnitude)
    assert float(jnp.abs(y - x @ w).mean()) < 0.5 * float(jnp.abs(y_sm - x @ w).mean())
    assert crossbar.op_counts(1, 40, 5, spec)["array_reads"] == (5 if bit_serial else 2)
    with pytest.raises(ValueError, match=r"DAC\.encoding"):
        DAC(encoding="unsigned")


def test_drift_and_global_compensation():
    w, x = _wx(100, 20, 4)
    spec = CrossbarSpec(device=RRAM(drift_nu=0.1), t_inference=86400.0)
    arr = crossbar.program(KEY, w, spec)
    factor = ((86400.0 + 20.0) / 20.0) ** -0.1
    np.testing.assert_allclose(crossbar.effective_weight(arr), w * factor, rtol=1e-4, atol=1e-6)
    comp = spec.replace(drift_compensation=True)
    y = crossbar.mvm(KEY, crossbar.program(KEY, w, comp), x, comp)
    np.testing.assert_allclose(y, x @ w, rtol=1e-4, atol=1e-3)
    aged = crossbar.age(crossbar.program(KEY, w, spec.replace(t_inference=0.0)), 86400.0, spec)
    np.testing.assert_allclose(crossbar.effective_weight(aged), crossbar.effective_weight(arr), rtol=1e-6)


def test_same_program_key_same_chip_and_vmap_over_1000_chips():
    w, x = _wx(32, 4, 2)
    spec = CrossbarSpec(device=RRAM.analog_20_80(prog_sigma=5e-6), mapping="offset")
    keys = jax.random.split(KEY, 1000)
    chips = jax.jit(jax.vmap(lambda k: crossbar.program(k, w, spec)))(keys)
    assert chips.g_pos.shape == (1000, 32, 4)
    weights = jax.vmap(crossbar.effective_weight)(chips)
    assert float(jnp.min(jnp.std(weights, axis=0))) > 0
    np.testing.assert_allclose(crossbar.program(keys[3], w, spec).g_pos, chips.g_pos[3], rtol=1e-6)


def test_gradients_flow_for_hardware_aware_training():
    w, x = _wx(20, 3, 4)
    spec = CrossbarSpec(device=RRAM(prog_sigma=2e-6, read_sigma_rel=0.02), adc=ADC(8), dac=DAC(6))

    def loss(w):
        arr = crossbar.program(KEY, w, spec)
        return jnp.sum(crossbar.mvm(KEY, arr, x, spec) ** 2)

    g = jax.grad(loss)(w)
    g_ref = jax.grad(lambda w: jnp.sum((x @ w) ** 2))(w)
    assert bool(jnp.all(jnp.isfinite(g)))
    cos = jnp.sum(g * g_ref) / (jnp.linalg.norm(g) * jnp.linalg.norm(g_ref))
    assert float(cos) > 0.9


def test_noiseless_gradient_is_exact_at_zero_and_full_swing_weights():
    # ternary kernels sit exactly at 0 (both cells HRS) and +-w_max (one cell at the window's edge):
    # the gradient of the programmed weight must be 1 there, as in the digital product
    w = jnp.array([[1.0, 0.0, -0.5], [0.0, -1.0, 1.0], [-1.0, 1.0, 0.0]])
    spec = CrossbarSpec(device=RRAM.binary_lrs_hrs(prog_sigma=0.0, read_sigma_rel=0.0), weight_scale="column")
    c = jnp.arange(1.0, 10.0).reshape(3, 3)
    g = jax.grad(lambda w: jnp.sum(crossbar.effective_weight(crossbar.program(KEY, w, spec)) * c))(w)
    np.testing.assert_allclose(g, c, rtol=1e-6)


def test_bad_inputs_raise_clear_errors():
    w, x = _wx(10, 3, 2)
    spec = CrossbarSpec()
    arr = crossbar.program(KEY, w, spec)
    with pytest.raises(ValueError, match=r"shape \(2, 11\): expected \(..., 10\)"):
        crossbar.mvm(KEY, arr, jnp.ones((2, 11)), spec)
    with pytest.raises(ValueError, match="shape"):
        crossbar.program(KEY, jnp.ones(5), spec)
    with pytest.raises(ValueError, match=r"CrossbarSpec\.mapping"):
        CrossbarSpec(mapping="single")
    with pytest.raises(ValueError, match=r"CrossbarSpec\.tile_rows"):
        CrossbarSpec(tile_rows=0)
    with pytest.raises(ValueError, match=r"CrossbarSpec\.adc"):
        CrossbarSpec(adc=8)


def test_op_counts():
    spec = CrossbarSpec(tile_rows=128, tile_cols=128, dac=DAC(8, bit_serial=True))
    c = crossbar.op_counts(10, 300, 200, spec)
    assert c["macs"] == 10 * 300 * 200
    assert c["array_reads"] == 10 * 8 * 3 * 2
    assert c["adc_conversions"] == 10 * 8 * 3 * 200
    assert c["array_cycles"] == 80


# ------------------------------------------------------------------ given conductances
def _pair(n_in=90, n_out=12, key=KEY):
    from analog import forming
    return forming.random_pair(key, (n_in, n_out), RRAM.taox_40nm_random())


@pytest.mark.parametrize("scale", [1.0, 2.5e4])
def test_from_conductances_ideal_limit_is_the_conductance_product(scale):
    pair = _pair()
    x = jax.random.normal(KEY, (5, 90))
    spec = CrossbarSpec(device=RRAM.taox_40nm_random(), adc=ADC(8), dac=DAC(4), tile_rows=32).ideal()
    arr = crossbar.from_conductances(pair.g_pos, pair.g_neg, spec, scale)
    y = crossbar.mvm(KEY, arr, x, spec)
    expected = x @ ((pair.g_pos - pair.g_neg) * scale)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6 * float(jnp.abs(expected).max()))
    np.testing.assert_allclose(crossbar.effective_weight(arr), (pair.g_pos - pair.g_neg) * scale, rtol=1e-5,
                               atol=1e-12 * scale)
    assert float(arr.pulses) == 0.0  # forming is counted by the caller


def test_from_conductances_read_noise_is_that_of_the_real_conductances():
    # 5 % relative read noise on the cells as they are: output variance (x^2) @ (0.05 g)^2 summed over the pair;
    # re-mapping the weights into the window (program(G+ - G-)) would give another variance
    pair = _pair(40, 3)
    x = jnp.ones((1, 40))
    spec = CrossbarSpec(device=RRAM.taox_40nm_random(read_sigma_rel=0.05))
    arr = crossbar.from_conductances(pair.g_pos, pair.g_neg, spec)
    ys = np.asarray(jax.vmap(lambda k: crossbar.mvm(k, arr, x, spec))(jax.random.split(KEY, 4000)), np.float64)
    var = np.asarray(jnp.sum((0.05 * pair.g_pos) ** 2 + (0.05 * pair.g_neg) ** 2, axis=0), np.float64)
    np.testing.assert_allclose(ys.var(axis=0)[0], var, rtol=5 * np.sqrt(2 / 4000))
    np.testing.assert_allclose(ys.mean(axis=0)[0], np.asarray(x @ (pair.g_pos - pair.g_neg))[0],
                               atol=float(5 * np.sqrt(var.max() / 4000)))
    remapped = crossbar.program(KEY, pair.g_pos - pair.g_neg, spec)
    column_var = lambda a: np.asarray(jnp.sum(a.var_norm * a.w_max**2, axis=0), np.float64)
    np.testing.assert_allclose(column_var(arr), var, rtol=1e-5)
    assert np.all(np.abs(column_var(remapped) / var - 1) > 0.2)  # re-mapping changes the statistics


def test_from_conductances_rejects_mismatched_pairs_and_drift_without_key():
    pair = _pair()
    with pytest.raises(ValueError, match="one shape"):
        crossbar.from_conductances(pair.g_pos, pair.g_neg[:, :3], CrossbarSpec())
    with pytest.raises(ValueError, match="program key"):
        crossbar.from_conductances(pair.g_pos, pair.g_neg, CrossbarSpec(device=RRAM(drift_nu=0.05)))


# ------------------------------------------------------------------ programming pulses
def test_program_counts_pulses_open_loop_and_with_verify():
    w, _ = _wx(64, 10)
    open_loop = CrossbarSpec(device=RRAM.analog_20_80(prog_sigma=3e-6))
    assert float(crossbar.program(KEY, w, open_loop).pulses) == 2 * 64 * 10
    assert float(crossbar.program(KEY, w, open_loop.replace(mapping="offset")).pulses) == 64 * 10
    counts = []
    for tol in (0.5e-6, 2e-6, 6e-6):
        spec = open_loop.replace(verify_tol=tol, max_pulses=40)
        arr = crossbar.program(KEY, w, spec)
        counts.append(float(arr.pulses))
        # verified cells sit within tol of their target: the effective weight error is bounded
        err = np.abs(np.asarray(crossbar.effective_weight(arr) - w))
        assert err.max() <= 2 * tol * float(arr.w_max) / 60e-6 * 1.001 or tol < 1e-6
    assert counts[0] > counts[1] > counts[2] >= 2 * 64 * 10
    # without verify the same key writes the same chip as before (open loop)
    np.testing.assert_array_equal(crossbar.program(KEY, w, open_loop).g_pos,
                                  crossbar.program(KEY, w, open_loop.replace(max_pulses=3)).g_pos)
