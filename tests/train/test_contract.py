"""Every registered experiment keeps the contract; every smoke test checks its outputs."""

import dataclasses
import inspect
import re
import typing
from pathlib import Path

import pytest

from train import experiments
from train.config import ConfigError, allowed, apply_overrides, parse_value

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


def _kinds(annotation):
    """(base type, is_tuple) of a config field's annotation."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, __import__("types").UnionType):
        annotation = args[0]
    if typing.get_origin(annotation) is tuple:
        return typing.get_args(annotation)[0], True
    return annotation, False


@pytest.mark.parametrize("name", sorted(experiments.EXPERIMENTS))
def test_every_config_field_says_what_it_allows(name):
    config = experiments.get(name).Config
    hints = typing.get_type_hints(config)
    for f in dataclasses.fields(config):
        rule = allowed(config, f.name)
        assert rule is not None, f"{name}: Config.{f.name} is declared without train.config.field"
        base, is_tuple = _kinds(hints[f.name])
        if is_tuple:
            assert rule.min_len is not None, f"{name}: Config.{f.name} says no minimum length"
        if base in (int, float):
            assert rule.lo is not None or rule.hi is not None or rule.choices, f"{name}: Config.{f.name} has no range"
        if base is str:
            assert rule.choices or rule.kind in ("path", "text"), f"{name}: Config.{f.name} has no choices"


def _bad_values(rule, base, is_tuple):
    """Command-line texts that the rule must reject."""
    bad = []
    if base is bool:
        return ["maybe"]
    if base in (int, float):
        if rule.lo is not None:
            bad.append(str(rule.lo - 1) if base is int else str(rule.lo - 1.0))
        if rule.hi is not None:
            bad.append(str(rule.hi + 1) if base is int else str(rule.hi + 1.0))
        if base is float:
            bad += ["nan", "inf"]
        bad.append("seven")
    if base is str and rule.choices:
        bad.append("no_such_name")
    if is_tuple and rule.min_len:
        bad.append("")
    return bad


@pytest.mark.parametrize("name", sorted(experiments.EXPERIMENTS))
def test_a_bad_value_of_every_field_is_a_config_error_naming_it(name):
    config = experiments.get(name).Config
    hints = typing.get_type_hints(config)
    tried = 0
    for f in dataclasses.fields(config):
        base, is_tuple = _kinds(hints[f.name])
        for text in _bad_values(allowed(config, f.name), base, is_tuple):
            with pytest.raises(ConfigError, match=f.name):
                apply_overrides(config(), [f"{f.name}={text}"])
            tried += 1
    assert tried >= len(dataclasses.fields(config)) - 3
