import jax
import jax.numpy as jnp
import numpy as np
import pytest

from analog.crossbar import CrossbarSpec
from analog.device import RRAM
from models.mlp import AnalogMLP
from train.loop import train_classifier


class Interrupt(Exception):
    pass


def _data():
    kx, kw = jax.random.split(jax.random.PRNGKey(0))
    x = jax.random.normal(kx, (96, 8))
    y = jnp.argmax(x @ jax.random.normal(kw, (8, 3)), axis=1)
    return np.asarray(x), np.asarray(y)


def test_resumed_run_ends_with_the_same_parameters(tmp_path):
    x, y = _data()
    model = AnalogMLP((16,), 3, spec=CrossbarSpec(device=RRAM(prog_sigma=2e-6, read_sigma_rel=0.02)))
    kwargs = dict(epochs=6, batch_size=32, learning_rate=1e-2, seed=1, noisy=True, ckpt_every=1)
    straight = train_classifier(model, x, y, ckpt_dir=tmp_path / "a", **kwargs)

    def kill_at_3(epoch, loss):
        if epoch == 3:
            raise Interrupt

    with pytest.raises(Interrupt):
        train_classifier(model, x, y, ckpt_dir=tmp_path / "b", on_epoch_end=kill_at_3, **kwargs)
    seen = []
    resumed = train_classifier(model, x, y, ckpt_dir=tmp_path / "b",
                               on_epoch_end=lambda e, l: seen.append(e), **kwargs)
    assert seen == [3, 4, 5, 6]  # the killed third epoch was not saved: it runs again
    jax.tree_util.tree_map(np.testing.assert_array_equal, straight, resumed)
    untrained = model.init({"params": jax.random.PRNGKey(1), "program": jax.random.PRNGKey(1),
                            "read": jax.random.PRNGKey(1)}, x[:1])["params"]
    assert not np.allclose(straight["AnalogDense_0"]["kernel"], untrained["AnalogDense_0"]["kernel"])


def test_inception_score_runs_from_one_to_the_number_of_classes():
    from train.loop import inception_score

    confident = jnp.eye(10)[jnp.arange(200) % 10]  # balanced, every image one class
    assert abs(float(inception_score(confident)) - 10.0) < 1e-3
    assert abs(float(inception_score(jnp.full((50, 10), 0.1))) - 1.0) < 1e-6  # ambiguous images
    assert abs(float(inception_score(jnp.eye(10)[jnp.zeros(50, int)])) - 1.0) < 1e-6  # all alike
    half = jnp.eye(10)[jnp.arange(200) % 5]  # confident but only 5 classes
    assert abs(float(inception_score(half)) - 5.0) < 1e-3
