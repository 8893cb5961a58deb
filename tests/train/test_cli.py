import json
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from train.__main__ import main
from train.config import ConfigError, apply_overrides
from train.experiments import analog_mlp

ROOT = Path(__file__).resolve().parents[2]


def test_set_overrides_are_typed():
    cfg = apply_overrides(analog_mlp.Config(), ["epochs=3", "noise_levels=0,0.05", "data_dir=none",
                                                "learning_rate=1e-2"])
    assert cfg.epochs == 3 and cfg.noise_levels == (0.0, 0.05) and cfg.data_dir is None
    assert cfg.learning_rate == 0.01


@pytest.mark.parametrize("override, words", [
    ("epochz=3", ["epochz", "allowed keys", "epochs"]),
    ("epochs=three", ["epochs", "int"]),
    ("epochs=0", ["epochs", "[1, inf]"]),
    ("dataset=cifar", ["dataset", "digits"]),
    ("noise", ["key=value"]),
])
def test_bad_overrides_name_the_key(override, words):
    with pytest.raises(ConfigError) as err:
        apply_overrides(analog_mlp.Config(), [override])
    for word in words:
        assert word in str(err.value)


def test_cli_bad_input_exits_2_without_traceback():
    proc = subprocess.run([sys.executable, "-m", "train", "analog-mlp", "--quick", "--set", "epochs=-1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert "epochs" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "train", "no-such-experiment"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def test_list_names_every_experiment(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "analog-mlp" in out and "bench analog" in out


def test_a_data_error_exits_2_with_one_line_naming_the_flag(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "train", "analog-mlp", "--quick", "--out", str(tmp_path / "o"),
                           "--set", "dataset=mnist_idx"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "data_dir" in proc.stderr and "--set data_dir=PATH" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "train", "analog-mlp", "--quick", "--out", str(tmp_path / "p"),
                           "--set", "dataset=mnist_idx", "--set", f"data_dir={tmp_path}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "mnist_idx" in proc.stderr


@pytest.mark.parametrize("args, words", [
    (["--set", "learning_rate=nan"], ["learning_rate", "finite"]),
    (["--set", "learning_rate=-1"], ["learning_rate", "(0, inf]"]),
    (["--set", "noise_levels="], ["noise_levels", "at least 1"]),
    (["--set", "device=pcm"], ["device", "rram_20_80"]),
])
def test_bad_values_exit_2_before_any_work(args, words, capsys, tmp_path):
    assert main(["analog-mlp", "--quick", "--out", str(tmp_path / "run"), *args]) == 2
    err = capsys.readouterr().err
    assert all(w in err for w in words) and "Traceback" not in err
    assert not (tmp_path / "run").exists()  # nothing was written


def test_out_must_be_a_writable_directory(capsys, tmp_path):
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    cases = [(a_file, "is a file"), (a_file / "below", "is a file")]
    import os

    if os.geteuid() != 0:  # root writes anywhere
        cases.append((locked / "run", "not a writable directory"))
    for out, words in cases:
        assert main(["analog-mlp", "--quick", "--out", str(out), "--set", "epochs=1"]) == 2
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err


def test_a_negative_seed_is_an_argument_error(capsys, tmp_path):
    with pytest.raises(SystemExit) as stop:
        main(["analog-mlp", "--quick", "--out", str(tmp_path), "--seed", "-5"])
    assert stop.value.code == 2 and "allowed an integer >= 0" in capsys.readouterr().err
