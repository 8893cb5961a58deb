"""Every registered experiment keeps the contract; every smoke test checks its outputs."""

import dataclasses
import inspect
import re
import typing
from pathlib import Path

import pytest

from train import experiments
from train.config import parse_value

TESTS = Path(__file__).resolve().parent


@pytest.mark.parametrize("name", sorted(experiments.EXPERIMENTS))
def test_experiment_module_has_the_contract_face(name):
    module = experiments.get(name)
    assert isinstance(module.DESCRIPTION, str) and 10 < len(module.DESCRIPTION) < 140
    cfg, quick = module.Config(), module.Config.quick()
    assert isinstance(quick, module.Config) and dataclasses.is_dataclass(cfg)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed_of_a_typo = 1  # frozen: a config is data
    params = list(inspect.signature(module.run).parameters)
    assert params[:3] == ["cfg", "out_dir", "seed"], params
    # every field can be set from the command line with its own default
    hints = typing.get_type_hints(module.Config)
    for field in dataclasses.fields(module.Config):
        default = getattr(cfg, field.name)
        text = ",".join(map(str, default)) if isinstance(default, tuple) else str(default)
        if isinstance(default, tuple) and not default:
            continue
        assert parse_value(text, hints[field.name], field.name) == default, field.name
    # a validating config: replacing a field with a wrong value fails naming it
    numeric = [f.name for f in dataclasses.fields(module.Config) if hints[f.name] in (int, float)]
    assert numeric, name
    with pytest.raises(ValueError, match=numeric[0]):
        dataclasses.replace(cfg, **{numeric[0]: -1})


@pytest.mark.parametrize("name", sorted(experiments.EXPERIMENTS))
def test_every_experiment_has_a_smoke_test_that_checks_the_contract(name):
    pattern = re.compile(r"assert_contract\(\s*[\"']" + re.escape(name) + r"[\"']")
    callers = [p.name for p in TESTS.glob("test_*.py") if pattern.search(p.read_text())]
    assert callers, f"no smoke test calls assert_contract({name!r}, ...) on a finished run"
