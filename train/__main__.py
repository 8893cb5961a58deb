"""python -m train: run memristax experiments and benchmarks.

    python -m train list
    python -m train <experiment> [--quick] [--out DIR] [--seed N] [--set key=value ...]
    python -m train bench <name> [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from analog import presets
from train import bench, experiments, study
from train.config import ConfigError, apply_overrides
from train.data import DataError


def _config_help(module) -> str:
    fields = dataclasses.fields(module.Config)
    return "config keys for --set: " + ", ".join(f"{f.name} (default {f.default!r})" for f in fields)


def _seed(text: str) -> int:
    """argparse type: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is invalid: allowed an integer >= 0")
    return value


def output_dir(path: Path) -> Path:
    """Create ``path`` (and its parents) and check it is a writable directory, before any
    work starts; raise ``ConfigError`` naming the problem otherwise."""
    for part in (path, *path.parents):
        if part.exists() and not part.is_dir():
            raise ConfigError(f"--out {path}: {part} is a file, not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".memristax-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise ConfigError(f"--out {path}: not a writable directory ({err.strerror or err})") from None
    return path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    sub.add_parser("list", help="name every experiment and benchmark")
    p_bench = sub.add_parser("bench", help="run a benchmark")
    p_bench.add_argument("name", choices=sorted(bench.BENCHMARKS))
    p_bench.add_argument("--out", type=Path, default=Path("runs/bench"), help="where the JSON goes")
    p_bench.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    for name in sorted(experiments.EXPERIMENTS):
        module = experiments.get(name)
        p = sub.add_parser(name, help=module.DESCRIPTION, description=module.DESCRIPTION,
                           epilog=_config_help(module))
        p.add_argument("--quick", action="store_true", help="the reduced preset (minutes on a laptop CPU)")
        p.add_argument("--out", type=Path, default=None, help="output directory (default runs/<name>/<time>)")
        p.add_argument("--seed", type=_seed, default=0, help="seed of data split, init and chips (an integer >= 0)")
        p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config field (repeatable)")
    return parser


def run_experiment(name: str, args: argparse.Namespace) -> int:
    module = experiments.get(name)
    config = module.Config.quick() if args.quick else module.Config()
    config = apply_overrides(config, args.overrides)
    out = output_dir(args.out or Path("runs") / name / time.strftime("%Y%m%d-%H%M%S"))
    module.run(config, out, seed=args.seed)
    print(f"{name}: results in {out}")
    for row in study.read_headlines(out):
        value = "n/a" if row["value"] is None else f"{row['value']:.4g}"
        print(f"  [{study.verdict(row['reproduced']):>3}] {row['claim']}: {row['metric']} = {value}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "list":
            for name in sorted(experiments.EXPERIMENTS):
                print(f"{name:<20} {experiments.get(name).DESCRIPTION}")
            for name, (_, line) in sorted(bench.BENCHMARKS.items()):
                print(f"bench {name:<14} {line}")
            for name in presets.PRESETS:
                preset = presets.get(name)
                print(f"preset {name:<13} [{', '.join(preset.roles)}] {preset.description}")
            return 0
        if args.command == "bench":
            run, _ = bench.BENCHMARKS[args.name]
            run(output_dir(args.out), quick=args.quick)
            return 0
        return run_experiment(args.command, args)
    except (ConfigError, DataError, FileNotFoundError) as err:
        print(f"python -m train {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
