"""The experiment contract, checked on a finished run (every experiment's smoke test calls it)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from train import experiments
from train.study import HEADLINE_KEYS

METRIC_NAME = re.compile(r"^[A-Za-z0-9_.+\-=<>]+(/[A-Za-z0-9_.+\-=<>]+)+$")


def assert_contract(name: str, out_dir: Path, metrics: dict) -> None:
    """metrics.json with slash-path metric names, the headline rows in their fixed
    shape (verdicts computed from value and band), config and seed; results.md opening
    with the headline table."""
    assert name in experiments.EXPERIMENTS, name
    out_dir = Path(out_dir)
    saved = json.loads((out_dir / "metrics.json").read_text())
    assert set(saved["metrics"]) == set(metrics)
    bad = [k for k in metrics if not METRIC_NAME.match(k)]
    assert not bad, f"{name}: metric names must be slash paths: {bad[:5]}"
    assert saved["headlines"], f"{name}: no headline rows"
    for row in saved["headlines"]:
        assert tuple(row) == HEADLINE_KEYS, row
        assert row["metric"] in metrics and row["claim"]
        value = saved["metrics"][row["metric"]]
        assert row["value"] == value or (value is None) or (isinstance(value, float) and math.isnan(value))
        low = -math.inf if row["band_low"] is None else row["band_low"]
        high = math.inf if row["band_high"] is None else row["band_high"]
        if row["value"] is None:
            assert row["reproduced"] is None
        else:
            assert row["reproduced"] == (low <= row["value"] <= high), row
    assert "config" in saved and "seed" in saved and "git_commit" in saved
    text = (out_dir / "results.md").read_text().splitlines()
    sections = [line for line in text if line.startswith("## ")]
    assert sections and sections[0] == "## Headline results", sections[:2]
    table = text[text.index("## Headline results"):]
    assert any(line.startswith("| claim | metric |") for line in table[:6]), table[:6]
