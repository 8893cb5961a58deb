"""Smoke tests of semantic-mnist and semantic-modelnet on tiny configs: the study runs
end to end, learns above chance on held-out data and writes its headline rows."""

import json

import numpy as np

from tests.train.contract import assert_contract
from train.experiments import semantic_mnist, semantic_modelnet


def _check(out, m, n_classes):
    rows = json.loads((out / "metrics.json").read_text())["headlines"]
    assert [r["metric"] for r in rows] == ["acc/dynamic_noisy/median", "acc/dynamic", "compute_saved/deployed",
                                           "energy_saved/vs_gpu"]
    text = (out / "results.md").read_text()
    assert text.startswith(f"# {out.name}") and text.index("## Headline results") < text.index("## Choices")
    for name in ("exit_histogram.png", "accuracy_vs_computation.png", "accuracy_over_chips.png"):
        assert (out / name).stat().st_size > 0
    hist = [m[k] for k in m if k.startswith("exit_fraction/")]
    assert np.isclose(sum(hist), 1.0)
    # computation counted from the exits: every exit taken saves MACs
    assert 0.0 <= m["compute_saved/deployed"] < 1.0 and (m["compute_saved/deployed"] > 0) == (m["exit_fraction/head"] < 1.0)
    assert 0.0 < m["energy_saved/vs_gpu"] < 1.0
    if m["exit_fraction/head"] == 1.0:  # nobody left early: the CAM searches are pure overhead
        assert m["energy/dynamic_j"] > m["energy/static_cim_j"]
    assert m["acc/static"] > 1.0 / n_classes + 0.1  # held-out, well above chance


def test_semantic_mnist_smoke(tmp_path):
    cfg = semantic_mnist.Config(widths=(8, 8), epochs=5, batch_size=32, train_samples=1000, test_samples=200, n_chips=2,
                                eval_batch=100, noise_aware=False, float_baseline=False, sweep_points=3)
    out = tmp_path / "semantic-mnist"
    m = semantic_mnist.run(cfg, out, seed=0)
    assert_contract("semantic-mnist", out, m)
    _check(out, m, 10)
    assert "acc/software" not in m and np.isfinite(m["acc/dynamic_noisy/median"])


def test_semantic_modelnet_smoke(tmp_path):
    cfg = semantic_modelnet.Config(n_points=64, n_train=256, n_test=64, centres=(16,), radii=(0.4,), neighbours=(8,),
                                   widths=(8, 16), epochs=5, batch_size=16, n_chips=2, eval_batch=32,
                                   noise_aware=False, float_baseline=False, sweep_points=3)
    out = tmp_path / "semantic-modelnet"
    m = semantic_modelnet.run(cfg, out, seed=0)
    assert_contract("semantic-modelnet", out, m)
    _check(out, m, 8)
