"""Imports only point down a floor: analog <- models <- train (DESIGN, "The three floors")."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {"analog": {"flax", "models", "train"}, "models": {"train"}}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("floor", sorted(FORBIDDEN))
def test_no_import_runs_up_a_floor(floor):
    offenders = {}
    for path in sorted((ROOT / floor).rglob("*.py")):
        bad = _imports(path) & FORBIDDEN[floor]
        if bad:
            offenders[str(path.relative_to(ROOT))] = sorted(bad)
    assert not offenders, f"imports that run up a floor: {offenders}"


def test_the_scan_sees_every_floor_file():
    assert len(list((ROOT / "analog").rglob("*.py"))) > 10 and len(list((ROOT / "models").rglob("*.py"))) > 5
