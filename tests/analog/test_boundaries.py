"""Every boundary of analog/ rejects bad input with a clear error; the two read paths agree."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import checkify
from scipy import stats

from analog import crossbar, device, forming, presets
from analog.converters import ADC, DAC, quantize_uniform
from analog.crossbar import CrossbarSpec
from analog.device import RRAM

KEY = jax.random.PRNGKey(0)


@pytest.mark.parametrize("build, field", [
    (lambda: RRAM(prog_sigma=jnp.array(-1e-6)), "prog_sigma"),
    (lambda: RRAM(g_max=jnp.float32(-1.0)), "g_max"),
    (lambda: ADC(fullscale=jnp.float32(-1.0)), "fullscale"),
    (lambda: RRAM(g_min=np.float32(80e-6), g_max=np.float32(20e-6)), "g_max"),
    (lambda: RRAM.analog_20_80(prog_sigma=jnp.float32(np.nan)), "prog_sigma"),
    (lambda: RRAM(stuck_low_prob=1, stuck_high_prob=1), "stuck_high_prob"),
    (lambda: RRAM(drift_nu_bounds=(0.5, 0.1)), "drift_nu_bounds"),
    (lambda: RRAM(g_max="1e-4"), "g_max"),
    (lambda: RRAM(read_sigma_rel=None), "read_sigma_rel"),
    (lambda: RRAM(levels=True), "levels"),
    (lambda: RRAM(prog_sigma=np.array([1e-6, -2e-6])), "prog_sigma"),
    (lambda: RRAM(form_mean=1e-3), "form_mean"),
    (lambda: CrossbarSpec(v_read=jnp.array(np.inf)), "v_read"),
    (lambda: DAC(bits=8.0), "bits"),
])
def test_concrete_values_of_every_kind_are_validated(build, field):
    with pytest.raises(ValueError, match=rf"\.{field} = "):
        build()


def test_a_traced_sweep_is_checked_where_it_is_concrete():
    sigmas = jnp.array([1e-6, 5e-6])
    RRAM(prog_sigma=sigmas)  # every element checked
    with pytest.raises(ValueError, match="prog_sigma"):
        RRAM(prog_sigma=jnp.array([1e-6, -5e-6]))
    # inside vmap the values are traced: construction skips them, and the sweep runs
    g = jax.vmap(lambda s: device.program(KEY, jnp.full((8,), 50e-6), RRAM(prog_sigma=s)))(sigmas)
    assert g.shape == (2, 8)


def test_quantizer_bounds_must_be_ordered():
    with pytest.raises(ValueError, match="lo < hi"):
        quantize_uniform(jnp.ones(3), 4, 1.0, -1.0)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_weights_and_inputs_are_rejected_eagerly(bad):
    spec = CrossbarSpec()
    w = jnp.ones((4, 3)).at[1, 1].set(bad)
    with pytest.raises(ValueError, match="weight matrix holds 1 non-finite"):
        crossbar.program(KEY, w, spec)
    arr = crossbar.program(KEY, jnp.ones((4, 3)), spec)
    with pytest.raises(ValueError, match="input x holds"):
        crossbar.mvm(KEY, arr, jnp.ones((2, 4)).at[0, 0].set(bad), spec)
    with pytest.raises(ValueError, match="g_target"):
        device.program(KEY, jnp.full((3,), bad), RRAM())


def test_under_jit_checkify_finds_the_nan():
    spec = CrossbarSpec(device=RRAM(prog_sigma=1e-6, read_sigma_rel=0.01), adc=ADC(8))
    arr = crossbar.program(KEY, jnp.ones((4, 3)), spec)
    f = checkify.checkify(jax.jit(lambda x: crossbar.mvm(KEY, arr, x, spec)), errors=checkify.float_checks)
    err, _ = f(jnp.ones((2, 4)))
    err.throw()  # finite inputs: nothing to report
    err, _ = f(jnp.full((2, 4), jnp.nan))
    with pytest.raises(checkify.JaxRuntimeError, match="nan"):
        err.throw()


def test_shapes_and_keys_are_checked_with_messages_that_give_both():
    spec = CrossbarSpec()
    with pytest.raises(ValueError, match=r"shape \(0, 3\): expected \(n_in, n_out\)"):
        crossbar.program(KEY, jnp.ones((0, 3)), spec)
    arr = crossbar.program(KEY, jnp.ones((4, 3)), spec)
    with pytest.raises(ValueError, match=r"input has shape \(\): expected \(\.\.\., 4\)"):
        crossbar.mvm(KEY, arr, jnp.float32(1.0), spec)
    for key, words in ((0, "key = 0 is invalid"), (jnp.int32(3), "dtype int32"),
                       (jnp.zeros(4, jnp.uint32), "shape (4,)"), (jax.random.split(KEY, 3), "shape (3, 2)")):
        with pytest.raises(ValueError, match=re_escape(words)):
            crossbar.program(key, jnp.ones((4, 3)), spec)
        with pytest.raises(ValueError, match=re_escape(words)):
            crossbar.mvm(key, arr, jnp.ones((1, 4)), spec)
    with pytest.raises(ValueError, match="shape"):
        forming.random_pair(KEY, 5, RRAM.taox_40nm_random())


def re_escape(text):
    import re

    return re.escape(text)


def _read_paths(spec, w, x, n_reads=3000):
    arr = crossbar.program(KEY, w, spec)
    keys = jax.random.split(jax.random.PRNGKey(7), n_reads)
    read = lambda s: np.asarray(jax.jit(jax.vmap(lambda k: crossbar.mvm(k, arr, x, s)))(keys), np.float64)
    return read(spec), read(spec.replace(read_path="weight"))


@pytest.mark.parametrize("name", [n for n in presets.PRESETS if isinstance(presets.get(n).spec, CrossbarSpec)
                                  and "random" not in presets.get(n).roles])
def test_the_two_read_paths_agree_for_every_preset(name):
    spec = presets.spec(name).replace(dac=None, adc=None)
    spec = spec.with_device(read_sigma_rel=max(float(spec.device.read_sigma_rel), 0.05))
    w = jax.random.normal(KEY, (32, 4))
    x = jnp.ones((1, 32))
    fast, exact = _read_paths(spec, w, x)
    for j in range(4):
        assert stats.ks_2samp(fast[:, 0, j], exact[:, 0, j]).pvalue > 1e-3, (name, j)
    # and both scatter around the chip's noise-free product (no bias from clipping at the window)
    clean = np.asarray(crossbar.mvm(KEY, crossbar.program(KEY, w, spec), x, spec.with_device(read_sigma_rel=0.0,
                                                                                         read_sigma=0.0, read_1f_q=0.0)))
    for values in (fast, exact):
        sem = values.std(0) / np.sqrt(len(values))
        assert np.all(np.abs(values.mean(0) - clean) < 5 * sem + 1e-6), name


def test_the_20_80_window_bounds_writes_not_reads():
    # 5 % read noise on 32 inputs of the 20-80 uS preset: both paths centred on the exact x @ w
    spec = CrossbarSpec(device=RRAM.analog_20_80(prog_sigma=0.0, read_sigma_rel=0.05))
    w = jnp.full((32, 1), 0.5).at[::2].set(1.0)  # cells at the window's top: reads above 80 uS are possible
    x = jnp.ones((1, 32))
    fast, exact = _read_paths(spec, w, x)
    target = float((x @ w)[0, 0])
    for values in (fast, exact):
        assert abs(values.mean() - target) < 5 * values.std() / np.sqrt(values.size)


def test_a_noisy_multi_tile_read_with_converters_compiles_without_padding():
    # the zero-padded last tile fused with the noise into one kernel that LLVM took minutes to compile
    spec = CrossbarSpec(device=RRAM.analog_20_80(prog_sigma=2e-6, read_sigma_rel=0.02), tile_rows=16,
                        adc=ADC(8), dac=DAC(8))
    f = jax.jit(lambda k, w, x: crossbar.mvm(k, crossbar.program(k, w, spec), x, spec))
    hlo = f.lower(KEY, jnp.ones((40, 16)), jnp.ones((4, 40))).compile().as_text()
    assert " pad(" not in hlo and "= pad" not in hlo
