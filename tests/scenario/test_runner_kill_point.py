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
from hil.scenario.loader import load_scenario
from hil.scenario.runner import run_on_machine
from tests.cli.fake_lab import SCENARIO, FakeOps

REPO = Path(__file__).resolve().parents[2]


def run_fake_scenario(folder: Path) -> None:
    """Run the fake scenario, printing each step's number once the machine has done it."""
    path = folder / "scenario_fake.yaml"
    path.write_text(SCENARIO)
    scenario = load_scenario(path)
    machine = FakeOps(folder, "bench")
    machine.attach_device("nic", "0000:00:0a.0", "e1000e")

    def run_step(number: int, step: object) -> object:
        outcome = machine.run_step_decoded(number, step)
        print(number, flush=True)
        return outcome

    run_on_machine(
        scenario.name, "bench", scenario.steps, machine.spec.to_calibration(),
        dict(machine.attached), run_step,
    )  # fmt: skip
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
    run_fake_scenario(Path(sys.argv[1]))
