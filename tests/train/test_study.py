"""train.study and the report plot kinds: headline verdicts are computed, files keep their shape."""

import json
import math

import numpy as np
import pytest

from analog import cost
from train import report, study
from train.config import config


def _headlines():
    return [
        study.Headline("accuracy on par with software", "acc/chip/median", 0.97, (0.96, 1.0), paper=0.98,
                       source="paper, Table 1", software=0.975, spread=(0.95, 0.98)),
        study.Headline("energy better than a GPU", "energy_ratio/a100_fp32", 0.5, (1.0, math.inf), unit="x"),
        study.Headline("not measurable here", "acc/missing_part", float("nan"), (0.0, 1.0)),
    ]


def test_verdicts_are_computed_from_value_and_band():
    ok, bad, missing = _headlines()
    assert ok.reproduced is True and bad.reproduced is False and missing.reproduced is None
    assert study.Headline("x", "a/b", 2.0, (1.0, 2.0)).reproduced is True  # closed band
    with pytest.raises(ValueError, match="band"):
        study.Headline("x", "a/b", 1.0, (2.0, 1.0))


def test_write_puts_the_headline_table_first_and_rows_in_a_fixed_shape(tmp_path):
    metrics = {"acc/chip/median": 0.97, "energy_ratio/a100_fp32": 0.5, "acc/missing_part": float("nan"), "x/y": 1.0}
    study.write(tmp_path, "demo", _Cfg(), 3, metrics, _headlines(), [("Details", "text")])
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert [tuple(r) for r in saved["headlines"]] == [study.HEADLINE_KEYS] * 3
    assert [r["reproduced"] for r in saved["headlines"]] == [True, False, None]
    assert saved["headlines"][1]["band_high"] == math.inf and saved["seed"] == 3
    text = (tmp_path / "results.md").read_text()
    assert text.index("## Headline results") < text.index("## Details")
    assert "1 of 3 headline claims reproduced" in text
    assert "| accuracy on par with software | `acc/chip/median` | 0.97 [0.95, 0.98] |" in text
    with pytest.raises(ValueError, match="not in the metrics"):
        study.write(tmp_path, "demo", _Cfg(), 0, {}, _headlines(), [])


@config
class _Cfg:
    """A stand-in experiment config."""

    size: int = 1


def test_energy_table_prices_counts_against_gpu_and_cpu():
    counts = {"macs": 1e6, "array_reads": 100.0, "array_cycles": 100.0, "adc_conversions": 1e4}
    metrics, table = study.energy_table(counts)
    analog = cost.analog_cost(counts, cost.MacroCosts.rram_40nm())
    assert metrics["energy/analog_j"] == pytest.approx(analog["energy_j"])
    gpu = cost.compare(counts, cost.MacroCosts.rram_40nm(), cost.DigitalCosts.gpu())
    assert metrics["energy_ratio/a100_fp32"] == pytest.approx(gpu["energy_ratio"])
    assert "ryzen9_5950x" in table and metrics["latency_ratio/ryzen9_5950x"] > 0


def test_chip_summary_prefixes_slash_paths():
    summary = study.chip_summary("acc/hwa/noise0.1", np.linspace(0, 1, 101))
    assert summary["acc/hwa/noise0.1/median"] == pytest.approx(0.5)
    assert summary["acc/hwa/noise0.1/q05"] == pytest.approx(0.05)


def test_plot_kinds_write_pictures_and_check_their_inputs(tmp_path):
    rng = np.random.default_rng(0)
    paths = [
        report.histogram(tmp_path / "h.png", {"a": rng.normal(size=200), "b": rng.normal(1, 1, 200)}, "x",
                         vlines={"ref": 0.0}),
        report.histogram(tmp_path / "hl.png", {"a": 10 ** rng.normal(-5, 1, 200)}, "x", logx=True, logy=True),
        report.bar_plot(tmp_path / "b.png", ["g1", "g2", "g3"], {"s1": [1, 2, 3], "s2": [2, 3, 1]}, "y",
                        errors={"s1": [0.1, 0.2, 0.1]}, logy=True),
        report.heatmap(tmp_path / "m.png", rng.uniform(size=(3, 4)), list("abc"), list("wxyz"), "value",
                       marks=np.eye(3, 4, dtype=bool)),
        report.scatter_plot(tmp_path / "s.png", {"cloud": rng.uniform(size=(50, 2))}, "x", "y", front=True,
                            marked={"star": (0.5, 0.5)}),
        report.image_grid(tmp_path / "g.png", {"truth": [rng.uniform(size=(8, 8))] * 3,
                                               "chip": [rng.uniform(size=(8, 8, 3))] * 2}),
    ]
    for path in paths:
        assert path.stat().st_size > 5_000
    with pytest.raises(ValueError, match="expected"):
        report.heatmap(tmp_path / "bad.png", np.zeros((2, 2)), ["a"], ["b", "c"], "v")


def test_pareto_front_by_hand():
    points = np.array([[0.9, 1.0], [0.5, 2.0], [0.4, 1.5], [0.9, 1.0], [0.2, 0.5]])
    np.testing.assert_array_equal(report.pareto_front(points), [[0.5, 2.0], [0.9, 1.0]])
    np.testing.assert_array_equal(report.pareto_front(points, sort_by=1), [[0.9, 1.0], [0.5, 2.0]])
