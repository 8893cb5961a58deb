import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from analog.converters import ADC, DAC
from analog.crossbar import CrossbarSpec
from analog.device import RRAM
from models.layers import AnalogConv, AnalogDense

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
