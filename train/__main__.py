"""``python -m train``: list experiments, run one, or run a benchmark."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from train import bench


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="name every experiment and benchmark")
    p_bench = sub.add_parser("bench", help="run a benchmark")
    p_bench.add_argument("name", choices=sorted(bench.BENCHMARKS))
    p_bench.add_argument("--out", type=Path, default=Path("runs/bench"), help="where the JSON goes")
    p_bench.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    args = parser.parse_args(argv)
    if args.command == "list":
        for name, (_, line) in sorted(bench.BENCHMARKS.items()):
            print(f"bench {name:<16} {line}")
        return 0
    run, _ = bench.BENCHMARKS[args.name]
    run(args.out, quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
