"""One command, one table: `python -m benchmarks.run [--lab [--lab-machine NAME]...]`.

The in-process figures (observation cost, /proc/interrupts parse, model) run
anywhere; `--lab` adds the figures that need virtual machines (per-test
overhead, verified interrupt rate, parallel suite), which boot their own VMs.
The table is Markdown, printed with the command and machine that produced
it, ready for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

if __name__ == "__main__" and not __package__:
    # Run as a file: run as the module instead, so `benchmarks.*` imports resolve.
    repo = str(Path(__file__).resolve().parents[1])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")])),
    }
    os.execve(sys.executable, [sys.executable, "-m", "benchmarks.run", *sys.argv[1:]], env)

from benchmarks import lab, model_steps, observation
from benchmarks.figures import Figure, machine_description, markdown_table

REPO = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--lab", action="store_true", help="also run the virtual-lab figures")
    parser.add_argument(
        "--lab-machine", action="append", default=[], metavar="NAME",
        help="virtual machine for --lab (repeat for the parallel figure; default vm-612-ir)",
    )  # fmt: skip
    parser.add_argument("--inventory", type=Path, default=REPO / "lab_inventory.yaml")
    parser.add_argument("--repeat", type=int, default=5, help="timed repeats (best is kept)")
    parser.add_argument("--model-steps", type=int, default=100_000)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = shlex.join([Path(sys.executable).name, "-m", "benchmarks.run", *sys.argv[1:]])
    print(f"command: {command}")
    print(f"machine: {machine_description()}")
    print("times are CPU seconds of this process unless marked otherwise\n", flush=True)
    figures: list[Figure] = []
    figures += observation.run(args.repeat)
    figures += model_steps.run(args.model_steps)
    if args.lab:
        figures += lab.run(args.inventory, args.lab_machine or ["vm-612-ir"])
    print(markdown_table(figures))
    return 0 if all(f.met is not False for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
