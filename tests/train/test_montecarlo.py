import inspect
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from analog import crossbar
from analog.crossbar import CrossbarSpec
from analog.device import RRAM
from train.montecarlo import chip_keys, evaluate, summarize, sweep

REPO = Path(__file__).resolve().parents[2]
TOL = dict(rtol=2e-6, atol=1e-7)  # a few float32 ulp: reductions may round differently per batch shape


def gauss_metric(key, w):
    draw = jax.random.normal(key, (300,))
    return {"mean": jnp.mean(draw) * w, "draw": draw[:3]}


SPEC = CrossbarSpec(device=RRAM(prog_sigma=3e-6, read_sigma_rel=0.02), tile_rows=8)
W = jax.random.normal(jax.random.PRNGKey(1), (20, 6))
X = jax.random.normal(jax.random.PRNGKey(2), (4, 20))


def crossbar_metric(key, w, x):
    """Relative MVM error of one chip (program key = ``key``) and one weight it holds."""
    arr = crossbar.program(key, w, SPEC)
    y = crossbar.mvm(jax.random.fold_in(key, 1), arr, x, SPEC)
    return {"err": jnp.linalg.norm(y - x @ w) / jnp.linalg.norm(x @ w), "w00": crossbar.effective_weight(arr)[0, 0]}


def assert_same_chips(a, b):
    np.testing.assert_array_equal(a["draw"], b["draw"])  # the same chips, bit for bit
    np.testing.assert_allclose(a["mean"], b["mean"], **TOL)


def test_chip_keys_prefix_property_and_validation():
    np.testing.assert_array_equal(chip_keys(3, 10), chip_keys(3, 1000)[:10])
    assert chip_keys(3, 10).shape == (10, 2)
    assert not np.array_equal(chip_keys(3, 2), chip_keys(4, 2))
    typed = chip_keys(jax.random.key(3), 4)
    assert typed.shape == (4,)
    np.testing.assert_array_equal(jax.random.key_data(typed), chip_keys(3, 4))
    assert len({tuple(k) for k in np.asarray(chip_keys(0, 500))}) == 500
    with pytest.raises(ValueError, match="n_chips"):
        chip_keys(0, 0)
    with pytest.raises(ValueError, match="seed_or_key"):
        chip_keys(1.5, 3)


@pytest.fixture(scope="module")
def chip_by_chip():
    """gauss_metric of 50 chips, one jit call per chip (no vmap, no chunks)."""
    one_chip = jax.jit(gauss_metric)
    return jax.tree.map(lambda *xs: np.stack(xs), *[one_chip(k, 2.0) for k in np.asarray(chip_keys(0, 50))])


@pytest.mark.parametrize("chunk_size", [1, 7, 64])
def test_results_do_not_depend_on_chunk_size(chunk_size, chip_by_chip):
    keys, ref = chip_keys(0, 50), chip_by_chip  # 50 is a multiple of none of the chunk sizes > 1
    out = evaluate(gauss_metric, keys, 2.0, chunk_size=chunk_size, progress=False)
    assert out["mean"].shape == (50,) and out["draw"].shape == (50, 3)
    assert_same_chips(out, ref)
    prefix = evaluate(gauss_metric, keys[:13], 2.0, chunk_size=chunk_size, progress=False)
    assert_same_chips(prefix, jax.tree.map(lambda a: a[:13], out))


def test_crossbar_chip_values_do_not_depend_on_chunk_mates_and_compile_once():
    # one compilation of a real chip (programming + read noise): ~10 s of XLA on a small CPU
    keys = chip_keys(7, 11)
    traces = []

    def metric(k, w, x):  # a fresh function: a fresh compilation cache; counts its traces
        traces.append(k.shape)
        return crossbar_metric(k, w, x)

    out = evaluate(metric, keys, W, X, chunk_size=4, desc="chips")  # 3 chunks, the last one padded
    assert out["err"].shape == out["w00"].shape == (11,)
    assert np.std(out["err"]) > 0 and np.all(out["err"] > 0) and len(set(out["w00"].tolist())) == 11
    shifted = evaluate(metric, keys[3:], W, X, chunk_size=4, progress=False)  # other chunk mates, same program
    for name in out:
        np.testing.assert_array_equal(shifted[name], out[name][3:])
    doubled = evaluate(metric, keys, 2 * W, X, chunk_size=4, progress=False)
    np.testing.assert_array_equal(doubled["w00"], 2 * out["w00"])  # the same chips hold twice the weights
    assert len(traces) == 1  # three calls, eight chunks of one shape: one trace, so one compilation


def test_typed_keys_give_the_same_chips_as_raw_keys():
    raw, typed = chip_keys(5, 9), chip_keys(jax.random.key(5), 9)
    metric = lambda k, s: jax.random.normal(k, ()) * s
    np.testing.assert_array_equal(evaluate(metric, raw, 1.0, chunk_size=4, progress=False),
                                  evaluate(metric, typed, 1.0, chunk_size=4, progress=False))
    with pytest.raises(ValueError, match="chunk_size"):
        evaluate(metric, raw, 1.0, chunk_size=0)


def test_sweep_stacks_points_and_matches_evaluate():
    keys = chip_keys(1, 6)
    metric = lambda k, w, sigma: jnp.mean(jax.random.normal(k, (16,)) * w * sigma)
    out = sweep(metric, keys, {"sigma": [0.5, 1.0, 2.0]}, 3.0, chunk_size=4, progress=False)
    assert out.shape == (3, 6)
    for row, sigma in zip(out, [0.5, 1.0, 2.0]):
        np.testing.assert_allclose(row, evaluate(lambda k, w: metric(k, w, sigma), keys, 3.0, progress=False), **TOL)
    np.testing.assert_allclose(out[2], 4 * out[0], rtol=1e-6)
    with pytest.raises(ValueError, match="exactly one entry"):
        sweep(metric, keys, {"a": [1.0], "b": [2.0]}, 3.0)


def test_summarize_matches_numpy_and_scipy():
    x = np.array([0.9, 0.8, 0.95, 0.7, 0.85, 0.9, 0.75, 0.8])
    s = summarize(x)
    assert s["n"] == 8
    np.testing.assert_allclose([s["mean"], s["std"], s["median"], s["min"], s["max"], s["q05"], s["q95"]],
                               [x.mean(), x.std(ddof=1), np.median(x), x.min(), x.max(),
                                np.quantile(x, 0.05), np.quantile(x, 0.95)])
    half = 2.364624251592785 * x.std(ddof=1) / np.sqrt(8)  # t_{0.975, 7}
    np.testing.assert_allclose([s["ci_low"], s["ci_high"]], [x.mean() - half, x.mean() + half], rtol=1e-9)
    assert summarize(np.full(4, 0.5))["ci_low"] == 0.5 and np.isnan(summarize(np.ones(1))["std"])
    with pytest.raises(ValueError, match="n_chips"):
        summarize(np.zeros(0))
    with pytest.raises(ValueError, match="confidence"):
        summarize(x, confidence=1.0)


def test_confidence_interval_contains_the_mean_and_shrinks_with_n():
    values = np.asarray(jax.random.normal(jax.random.PRNGKey(0), (4000,))) + 3.0
    widths = []
    for n in (10, 100, 4000):
        s = summarize(values[:n])
        assert s["ci_low"] < s["mean"] < s["ci_high"]
        widths.append(s["ci_high"] - s["ci_low"])
    assert widths[0] > 2 * widths[1] > 4 * widths[2]
    assert summarize(values)["ci_low"] < 3.0 < summarize(values)["ci_high"]
    assert summarize(values, 0.99)["ci_high"] > summarize(values, 0.9)["ci_high"]


def test_summarize_pytree_names():
    s = summarize({"acc": np.arange(5.0), "per_class": np.ones((5, 2))})
    assert s["acc/mean"] == 2.0 and s["per_class/1/max"] == 1.0
    assert {k.rsplit("/", 1)[0] for k in s} == {"acc", "per_class/0", "per_class/1"}


SCRIPT = """
import sys
import jax, jax.numpy as jnp, numpy as np
assert jax.device_count() == 2, jax.devices()
from train.montecarlo import chip_keys, evaluate
""" + inspect.getsource(gauss_metric) + """
keys = chip_keys(0, 50)
g = evaluate(gauss_metric, keys, 2.0, chunk_size=7, progress=False)  # rounded up to 8: 4 chips per device
g1 = evaluate(gauss_metric, keys, 2.0, chunk_size=7, devices=jax.devices()[:1], progress=False)
np.testing.assert_array_equal(g["draw"], g1["draw"])
np.testing.assert_allclose(g["mean"], g1["mean"], rtol=2e-6, atol=1e-7)
np.savez(sys.argv[1], mean=g["mean"], draw=g["draw"])
"""


def test_two_devices_give_the_same_chips_as_one(tmp_path):
    script = tmp_path / "two_devices.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu",
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, str(script), str(tmp_path / "two.npz")],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    two = np.load(tmp_path / "two.npz")
    one = evaluate(gauss_metric, chip_keys(0, 50), 2.0, chunk_size=64, devices=jax.devices()[:1], progress=False)
    assert_same_chips({"mean": two["mean"], "draw": two["draw"]}, one)
