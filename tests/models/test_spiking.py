import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from analog.converters import ADC
from analog.crossbar import CrossbarSpec
from analog.device import RRAM
from models.layers import MaskedRandomDense, RandomDense
from models.spiking import SpikingStep, early_stop, early_stop_curve, lif_step, run_steps, spike, zero_carry

KEY = jax.random.PRNGKey(0)


def test_lif_membrane_follows_a_hand_worked_trace():
    currents = [0.3, 0.3, 0.6, -1.0, 0.2]
    # u <- u (1 - s) (1 - 0.8) + I, LeakyReLU 0.1, spike above 0.5
    expected_u = [0.3, 0.36, 0.672, -0.1, 0.18]
    expected_s = [0, 0, 1, 0, 0]
    u = s = jnp.zeros(())
    for current, want_u, want_s in zip(currents, expected_u, expected_s):
        u, s = lif_step(u, s, jnp.asarray(current), threshold=0.5)
        np.testing.assert_allclose(float(u), want_u, rtol=1e-6)
        assert float(s) == want_s


def test_spike_surrogate_is_a_unit_rectangle_of_half_width_one_half():
    v = jnp.asarray([-0.6, -0.49, 0.0, 0.3, 0.49, 0.6])
    np.testing.assert_array_equal(spike(v), [0, 0, 0, 1, 1, 1])
    np.testing.assert_allclose(jax.grad(lambda v: jnp.sum(spike(v)))(v), [0, 1, 1, 1, 1, 0])


def test_early_stop_never_exceeds_t_and_stops_early_only_on_confident_inputs():
    steps, classes = 10, 4
    confident = jnp.tile(jnp.asarray([20.0, 0.0, 0.0, 0.0]), (steps, 1))
    unsure = jnp.zeros((steps, classes)).at[:, 2].set(0.1)
    outputs = jnp.stack([confident, unsure], axis=1)  # (T, B, C)
    used, prediction = early_stop(outputs, threshold=0.8)
    assert used.tolist() == [1, steps]
    assert prediction.tolist() == [0, 2]
    # a threshold no softmax exceeds always runs all T steps and answers with the mean over T
    used, prediction = early_stop(outputs, threshold=1.0)
    assert used.tolist() == [steps, steps]
    rng = np.random.default_rng(0)
    noisy = jnp.asarray(rng.normal(size=(steps, 64, classes)))
    acc, mean_steps = early_stop_curve(noisy, jnp.argmax(noisy.mean(0), -1), jnp.asarray([0.3, 0.6, 1.0]))
    assert np.all(np.diff(np.asarray(mean_steps)) >= 0) and float(mean_steps[-1]) == steps
    assert float(acc[-1]) == 1.0  # all T steps: the prediction of the full mean


class _Integrator(nn.Module):
    """The output integrator alone over one random array, T steps."""

    spec: CrossbarSpec

    @nn.compact
    def __call__(self, xs):
        carry = zero_carry(xs.shape[1], (), 6)
        outputs, _ = run_steps(SpikingStep, xs, carry, layers=(lambda: RandomDense(6, spec=self.spec),),
                               thresholds=())
        return outputs


def test_every_time_step_of_one_inference_reads_the_same_chip():
    spec = CrossbarSpec(device=RRAM.taox_40nm_random().replace(read_sigma_rel=0.0), adc=ADC(14, fullscale=64.0))
    xs = jnp.ones((5, 2, 8)) * 0.5  # the same input at every step
    model = _Integrator(spec)
    rngs = {"params": KEY, "program": KEY, "read": jax.random.PRNGKey(1)}
    variables = model.init(rngs, xs)
    outputs = np.asarray(model.apply(variables, xs, rngs=rngs))
    positive = outputs[0] > 0  # where the current is positive the integrator sums it: u_t = t I
    assert positive.any()
    per_step = outputs[:, positive] / np.arange(1, 6)[:, None]
    np.testing.assert_allclose(per_step, np.broadcast_to(per_step[0], per_step.shape), rtol=1e-5)
    # another chip (program key) is another network
    other = model.apply(variables, xs, rngs={**rngs, "program": jax.random.PRNGKey(7)})
    assert not np.allclose(other, outputs)


class _Spiking(nn.Module):
    spec: CrossbarSpec

    @nn.compact
    def __call__(self, xs):
        carry = zero_carry(xs.shape[1], ((16,),), 3)
        return run_steps(SpikingStep, xs, carry, layers=(lambda: RandomDense(16, spec=self.spec),
                                                          lambda: RandomDense(3, spec=self.spec)),
                         thresholds=(0.5,))


def test_spiking_network_on_noise_free_arrays_equals_its_digital_product():
    quiet = RRAM.taox_40nm_random().replace(read_sigma_rel=0.0)
    hardware = CrossbarSpec(device=quiet, adc=ADC(20, fullscale=64.0))  # the crossbar path, noise off
    xs = jnp.asarray(np.random.default_rng(0).random((6, 3, 8)), jnp.float32)
    rngs = {"params": KEY, "program": KEY, "read": KEY}
    variables = _Spiking(hardware).init(rngs, xs)
    outputs, counts = _Spiking(hardware).apply(variables, xs, rngs=rngs)
    digital, digital_counts = _Spiking(CrossbarSpec(device=quiet)).apply(variables, xs, rngs=rngs)
    assert float(digital_counts.sum()) > 0  # the network spikes
    np.testing.assert_array_equal(counts, digital_counts)
    np.testing.assert_allclose(outputs, digital, rtol=1e-3, atol=1e-4)
    noisy = _Spiking(CrossbarSpec(device=RRAM.taox_40nm_random(), adc=ADC(8, fullscale=64.0)))
    assert not np.allclose(noisy.apply(variables, xs, rngs=rngs)[0], digital, atol=1e-3)


def test_nmnist_network_programmed_once_reads_its_chip_and_trains_only_scores():
    from analog import presets
    from models.chip import program_chip
    from models.spiking import NMNISTNet

    spec = presets.spec("prime_40nm_random", role="random")
    model = NMNISTNet(spec=spec)
    frames = (jax.random.uniform(jax.random.PRNGKey(1), (1, 3, 34, 34, 2)) < 0.1).astype(jnp.float32)
    rngs = {"params": KEY, "program": KEY, "read": KEY}
    variables = jax.jit(lambda x: model.init(rngs, x))(frames)
    leaves = jax.tree_util.tree_leaves_with_path(variables["params"])
    assert {jax.tree_util.keystr(p).split("'")[-2] for p, _ in leaves} == {"scores"}
    chip = jax.jit(lambda v, k: program_chip(model, v, k, frames))(variables, KEY)
    on_chip = {**variables, "chip": chip}
    apply = jax.jit(lambda v, r: model.apply(v, frames, rngs=r))
    outputs, counts = apply(on_chip, {"read": KEY})
    assert outputs.shape == (3, 1, 10) and counts.shape == (3, 2) and float(counts.sum()) > 0
    # the programmed chip, not the program stream, decides the network
    again, _ = apply(on_chip, {"read": KEY, "program": jax.random.PRNGKey(5)})
    np.testing.assert_allclose(again, outputs)


class _MaskedSpiking(nn.Module):
    @nn.compact
    def __call__(self, xs):
        # the default spec: the formed random pairs, no read noise (the digital product)
        dense = lambda n: functools.partial(MaskedRandomDense, n, scale="none", weight_per_siemens=3e5)
        return run_steps(SpikingStep, xs, zero_carry(xs.shape[1], ((16,),), 3), layers=(dense(16), dense(3)),
                         thresholds=(0.5,))


def test_training_through_the_time_scan_reaches_every_layers_scores_only():
    xs = jnp.asarray(np.random.default_rng(1).random((5, 4, 8)), jnp.float32)
    model = _MaskedSpiking()
    rngs = {"params": KEY, "program": KEY, "read": KEY}
    variables = model.init(rngs, xs)
    assert set(variables["params"]["steps"]) == {"MaskedRandomDense_0", "MaskedRandomDense_1"}
    outputs, counts = model.apply(variables, xs, rngs=rngs)
    assert float(counts.sum()) > 0
    grads = jax.grad(lambda p: jnp.sum(model.apply({**variables, "params": p}, xs, rngs=rngs)[0] ** 2))(
        variables["params"])
    for layer in grads["steps"].values():
        assert set(layer) == {"scores"} and float(jnp.abs(layer["scores"]).sum()) > 0


def test_scanned_steps_keep_every_steps_operation_counts():
    from analog import cost

    spec = CrossbarSpec(device=RRAM.taox_40nm_random().replace(read_sigma_rel=0.0))
    xs = jnp.ones((5, 2, 8)) * 0.5
    model = _Spiking(spec)
    rngs = {"params": KEY, "program": KEY, "read": KEY}
    variables = {"params": model.init(rngs, xs)["params"]}
    counts = cost.collect(model.apply(variables, xs, rngs=rngs, mutable=["cost"])[1]["cost"])
    # 5 steps x 2 inputs x (8 x 16 + 16 x 3) MACs; 5 steps x 2 x (16 LIF cells + 3 outputs) neuron updates
    assert counts["macs"] == 5 * 2 * (8 * 16 + 16 * 3)
    assert counts["neuron_updates"] == 5 * 2 * (16 + 3)


def test_reconstruction_stop_waits_for_three_falling_changes_below_the_threshold():
    from models.spiking import reconstruction_stop

    steps = 8
    settling = 1.0 / 2.0 ** jnp.arange(steps)  # an image converging geometrically: changes fall every step
    moving = jnp.asarray([0.0, 1.0] * (steps // 2))  # an image that flickers: changes never fall
    images = jnp.stack([settling, moving], axis=1)[:, :, None] * jnp.ones((1, 1, 100))  # (T, 2, 100 pixels)
    used, stopped = reconstruction_stop(images, threshold=0.2)
    # m_t = 100 x 2^-t / 100: m_3 = 1/8 < 0.2 after m_1 > m_2 > m_3 -> stops at step 4 of 8
    assert used.tolist() == [4, steps]
    np.testing.assert_allclose(stopped[0], images[3, 0])
    np.testing.assert_allclose(stopped[1], images[-1, 1])
    assert int(reconstruction_stop(images, threshold=1e-9)[0][0]) == steps  # nothing passes: all T steps


def test_spiking_vae_decodes_per_step_images_in_range_and_trains_scores_and_readout():
    from analog import presets
    from models.spiking import SpikingVAE

    model = SpikingVAE(kind="pruned", spec=presets.spec("prime_40nm_random", role="random"), steps=3, width=4,
                       latent=8)
    images = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 1)), jnp.float32)
    rngs = {"params": KEY, "program": KEY, "read": KEY}
    init = jax.jit(lambda x: model.init(rngs, x))(images)
    variables = {"params": init["params"], "batch_stats": init["batch_stats"]}
    apply = jax.jit(lambda v, x, r: model.apply(v, x, rngs=r))
    decoded, kl, counts = apply(variables, images, rngs)
    assert decoded.shape == (3, 2, 32, 32, 1) and kl.shape == (3, 2) and counts.shape == (3, 7)
    assert float(jnp.abs(decoded).max()) <= 1.0 and float(kl.min()) >= 0.0
    names = {jax.tree_util.keystr(p).split("'")[-2]
             for p, _ in jax.tree_util.tree_leaves_with_path(variables["params"])}
    assert names == {"scores", "gain", "offset", "scale", "bias"}  # scores, read-out, tdBN
    # tdBN: inference uses running statistics, so an image decodes the same whatever else is in its batch
    # (another batch of the same shape: no second compile); training normalises with the batch's statistics
    # and updates the running ones of each step
    other = images.at[1].set(-images[1])
    np.testing.assert_allclose(apply(variables, other, rngs)[0][:, 0], decoded[:, 0], atol=1e-5)
    _, updated = jax.jit(lambda v, x: model.apply(v, x, train=True, rngs=rngs, mutable=["batch_stats"]))(
        variables, images)
    means = jax.tree.leaves(updated["batch_stats"])
    assert means[0].shape[0] == 3 and not np.allclose(means[0], jax.tree.leaves(variables["batch_stats"])[0])
    # the latent is drawn from the "step" stream when given (training), the mode otherwise (evaluation)
    drawn = apply(variables, images, {**rngs, "step": KEY})[0]
    again = apply(variables, images, {**rngs, "step": jax.random.PRNGKey(9)})[0]
    assert not np.allclose(drawn, again)
