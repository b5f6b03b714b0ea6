"""`HIL_KILL_AT=run.after-step:<n>` kills the controller right after step n ran on the machine.

The virtual-lab test tests/hil/test_kill_restore.py relies on this point
being exact; here it is proven on the fake machine, in a child process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hil.lab.killpoints import KILL_AT_ENV
from tests.cli.fake_lab import run_fake_scenario

REPO = Path(__file__).resolve().parents[2]


def print_steps(folder: Path) -> None:
    """Run the fake scenario, printing each step's number once the machine has done it."""
    run_fake_scenario(folder, after_step=lambda number: print(number, flush=True))
    print("done", flush=True)


@pytest.mark.parametrize("nth", [1, 2])
def test_the_controller_dies_right_after_the_nth_step(tmp_path: Path, nth: int) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), KILL_AT_ENV: f"run.after-step:{nth}"}
    child = subprocess.run(
        [sys.executable, __file__, str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=120, cwd=REPO,
    )  # fmt: skip
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert child.stdout.split() == [str(n) for n in range(1, nth + 1)]


def test_unarmed_the_run_completes(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop(KILL_AT_ENV, None)
    child = subprocess.run(
        [sys.executable, __file__, str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=120, cwd=REPO,
    )  # fmt: skip
    assert child.returncode == 0, child.stderr
    assert child.stdout.split()[-1] == "done"


if __name__ == "__main__":
    print_steps(Path(sys.argv[1]))
