import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from analog import presets
from models.layers import MaskedRandomDense
from train import pruning
from train.fit import TrainState, fit, make_optimizer
from train.loop import classifier_loss

KEY = jax.random.PRNGKey(0)


class _TinyPruned(nn.Module):
    @nn.compact
    def __call__(self, x, train=False):
        spec = presets.spec("taox_40nm_random", role="random")
        x = nn.relu(MaskedRandomDense(16, spec=spec, limit_flips=True, scale="none", name="a")(x))
        return MaskedRandomDense(4, spec=spec, limit_flips=True, scale="none", name="b")(x)


def test_limit_schedule_steps_down_on_improvement_only_and_stops_at_the_floor():
    variables = pruning.set_limit(_TinyPruned().init({"params": KEY}, jnp.zeros((1, 12))), 0.01)
    state = TrainState(variables["params"], None, {k: v for k, v in variables.items() if k != "params"},
                       jnp.zeros((), jnp.int32), pruning.limit_extra())
    callback = pruning.limit_schedule(0.01, 0.007, 2, "acc")
    limits = []
    for acc in (0.5, 0.4, 0.6, 0.7, 0.8):  # improves at 1, 3, 4, 5; worse at 2
        state = callback(0, state, {"acc": acc}) or state
        limits.append(float(pruning.mask_layers(state.collections)[0]["limit"]))
    np.testing.assert_allclose(limits, [0.0085, 0.0085, 0.007, 0.007, 0.007], atol=1e-7)


def test_fit_with_limited_masks_counts_flips_and_keeps_the_weights_frozen():
    model = _TinyPruned()
    x = jax.random.uniform(KEY, (64, 12))
    y = (x[:, 0] > 0.5).astype(jnp.int32) + 2 * (x[:, 1] > 0.5)
    variables = pruning.set_limit(model.init({"params": KEY}, x[:1]), 0.0)
    variables = {k: v for k, v in variables.items() if k != "cost"}
    result = fit(classifier_loss(model, mutable=("mask",)), variables, make_optimizer("sgd", 0.5, momentum=0.9),
                 epochs=3, data=(x, y), batch_size=16, rng="fixed_chip", trainable=("scores",), progress=False)
    collections = result.state.collections
    flips = float(pruning.mask_flips_total(collections))
    assert flips > 0
    assert set(result.state.params["a"]) == {"scores"}  # nothing else to train: the weights are conductances
    # with limit 0 every stored mask is a plain top-k mask: exactly half of each layer kept
    for layer in pruning.mask_layers(collections):
        assert float(layer["bits"].sum()) == layer["bits"].size / 2
    assert float(pruning.kept_fraction(collections)) == 0.5
    # programming cost: RESET of the initial pruned half, then two pulses per flip
    n = sum(layer["bits"].size for layer in pruning.mask_layers(collections))
    assert float(pruning.mask_pulses(collections, 0.5)) == 2 * (n / 2 + flips)
    # a large limit holds every bit: no flips at all
    held = fit(classifier_loss(model, mutable=("mask",)), pruning.set_limit(variables, 1e9),
               make_optimizer("sgd", 0.5, momentum=0.9), epochs=1, data=(x, y), batch_size=16, rng="fixed_chip",
               trainable=("scores",), progress=False)
    assert float(pruning.mask_flips_total(held.state.collections)) == 0.0
