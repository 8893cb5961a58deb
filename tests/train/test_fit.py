"""train.fit: the one training core (policies, subsets, early stopping, runs, resume)."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from train.fit import fit, freeze, make_optimizer

KEY = jax.random.PRNGKey(0)


def _chip_target(rngs):
    """A 'chip' the loss wants the weights to match: the program key's draw."""
    return jax.random.normal(rngs["program"], (4,))


def chip_loss(variables, batch, rngs, context):
    w = variables["params"]["w"]
    read = 0.05 * jax.random.normal(rngs["read"], (4,))
    return jnp.mean((w - _chip_target(rngs) - read) ** 2)


def test_fixed_chip_trains_for_one_chip_and_fresh_chip_for_the_average():
    variables = {"params": {"w": jnp.zeros(4)}}
    opt = make_optimizer("sgd", 0.02, momentum=0.0)
    chip = jax.random.PRNGKey(42)
    target = _chip_target({"program": chip})
    fixed = fit(chip_loss, variables, opt, epochs=40, steps=10, rng="fixed_chip", program_key=chip, progress=False)
    np.testing.assert_allclose(fixed.variables["params"]["w"], target, atol=0.05)
    fresh = fit(chip_loss, variables, opt, epochs=40, steps=10, rng="fresh_chip", progress=False)
    w_fresh = fresh.variables["params"]["w"]
    assert float(jnp.abs(w_fresh).max()) < 0.25  # the mean over chips is 0 (stationary std ~0.07) ...
    assert float(jnp.abs(w_fresh - target).max()) > 0.3  # ... not the one chip


def test_many_chips_in_one_vmap_equal_separate_runs():
    keys = jax.random.split(KEY, 3)
    variables = {"params": {"w": jnp.zeros((3, 4))}}
    opt = make_optimizer("adam", 0.05)
    together = fit(chip_loss, variables, opt, epochs=5, steps=8, rng="fixed_chip", program_key=keys, runs=3,
                   run_axes=("variables", "program_key"), progress=False)
    for i in range(3):
        alone = fit(chip_loss, {"params": {"w": jnp.zeros(4)}}, opt, epochs=5, steps=8, rng="fixed_chip",
                    program_key=keys[i], progress=False)
        np.testing.assert_allclose(together.variables["params"]["w"][i], alone.variables["params"]["w"],
                                   rtol=1e-5, atol=1e-6)
    w = np.asarray(together.variables["params"]["w"])
    assert not np.allclose(w[0], w[1])  # each chip has its own weights


def _linear_data(n=128):
    x = jax.random.normal(KEY, (n, 3))
    return x, x @ jnp.array([1.0, -2.0, 0.5])


def mse_loss(variables, batch, rngs, context):
    x, y = batch
    return jnp.mean((x @ variables["params"]["w"] + variables["params"]["b"] - y) ** 2)


def test_trainable_subset_leaves_the_rest_untouched():
    variables = {"params": {"w": jnp.zeros(3), "b": jnp.ones(())}}
    result = fit(mse_loss, variables, make_optimizer("adam", 0.1), epochs=5, data=_linear_data(), batch_size=16,
                 trainable=("w",), progress=False)
    assert float(result.variables["params"]["b"]) == 1.0
    assert float(jnp.abs(result.variables["params"]["w"]).sum()) > 0.5
    with pytest.raises(ValueError, match="matches no parameter"):
        freeze(optax.sgd(0.1), variables["params"], ("scores",))


def test_early_stopping_on_the_validation_metric_restores_the_best_epoch():
    # w climbs by 0.1 per epoch (SGD on a linear loss); the validation metric |w - 0.55| is best at epoch 5 or 6
    loss = lambda v, batch, rngs, ctx: -v["params"]["w"]
    evaluate = lambda v, rngs, data: {"gap": jnp.abs(v["params"]["w"] - data)}
    result = fit(loss, {"params": {"w": jnp.zeros(())}}, optax.sgd(0.1), epochs=50, evaluate=evaluate,
                 eval_data=jnp.asarray(0.52), monitor="gap", mode="min", patience=3, progress=False)
    assert result.best_epoch == 5 and result.stopped_epoch == 8
    np.testing.assert_allclose(result.variables["params"]["w"], 0.5, atol=1e-6)
    np.testing.assert_allclose(result.state.params["w"], 0.8, atol=1e-6)
    assert [h["epoch"] for h in result.history] == list(range(1, 9))


class _BN(nn.Module):
    @nn.compact
    def __call__(self, x, train: bool):
        return nn.Dense(1)(nn.BatchNorm(use_running_average=not train, momentum=0.5)(x))[:, 0]


def test_mutable_collections_are_updated_and_callbacks_change_the_state():
    model = _BN()
    x, y = _linear_data()
    variables = model.init(KEY, x[:2], train=False)

    def loss_fn(v, batch, rngs, ctx):
        pred, updated = model.apply(v, batch[0], train=True, mutable=["batch_stats"])
        return jnp.mean((pred - batch[1]) ** 2), updated

    def count(epoch, state, metrics):
        return state.replace(extra=state.extra + 1)

    result = fit(loss_fn, variables, make_optimizer("adam", 0.01), epochs=3, data=(x + 3.0, y), batch_size=32,
                 callbacks=(count,), extra=jnp.zeros((), jnp.int32), progress=False)
    mean = result.state.collections["batch_stats"]["BatchNorm_0"]["mean"]
    assert float(jnp.abs(mean - 3.0).max()) < 0.2 and int(result.state.extra) == 3  # stats track the batches


class Interrupt(Exception):
    pass


def test_a_killed_run_resumes_to_identical_parameters_and_history(tmp_path):
    x, y = _linear_data()
    variables = {"params": {"w": jnp.zeros(3), "b": jnp.zeros(())}}
    evaluate = lambda v, rngs, data: {"mse": mse_loss(v, data, rngs, None)}
    kwargs = dict(epochs=7, data=(x, y), batch_size=16, rng="fresh_chip", seed=3, evaluate=evaluate,
                  eval_data=(x[:32], y[:32]), monitor="mse", ckpt_every=1, progress=False)
    opt = make_optimizer("sgd", 0.02, momentum=0.9, weight_decay=1e-3, schedule="cosine", total_steps=56)
    straight = fit(mse_loss, variables, opt, ckpt_dir=tmp_path / "a", **kwargs)

    def kill_at_4(epoch, state, metrics):
        if epoch == 4:
            raise Interrupt

    with pytest.raises(Interrupt):
        fit(mse_loss, variables, opt, ckpt_dir=tmp_path / "b", callbacks=(kill_at_4,), **kwargs)
    resumed = fit(mse_loss, variables, opt, ckpt_dir=tmp_path / "b", **kwargs)
    jax.tree.map(np.testing.assert_array_equal, straight.variables, resumed.variables)
    jax.tree.map(np.testing.assert_array_equal, straight.state.opt_state, resumed.state.opt_state)
    assert straight.history == resumed.history and straight.best_epoch == resumed.best_epoch


def test_optimizer_builder_and_bad_arguments():
    for name in ("adam", "adamw", "sgd"):
        for schedule in ("constant", "cosine", "plateau"):
            opt = make_optimizer(name, 1e-2, schedule=schedule, total_steps=10, clip_norm=1.0, weight_decay=1e-4)
            assert isinstance(opt, optax.GradientTransformation)
    with pytest.raises(ValueError, match="total_steps"):
        make_optimizer("adam", schedule="cosine")
    with pytest.raises(ValueError, match="optimizer"):
        make_optimizer("lamb")
    for bad, match in ((dict(rng="fixed"), "rng"), (dict(batch_size=500), "batch_size"), (dict(epochs=0), "epochs"),
                       (dict(run_axes=("variables",)), "runs"), (dict(mode="up"), "mode")):
        args = dict(epochs=1, data=_linear_data(), batch_size=16, progress=False) | bad
        with pytest.raises(ValueError, match=match):
            fit(mse_loss, {"params": {"w": jnp.zeros(3), "b": jnp.zeros(())}}, optax.sgd(0.1), **args)
