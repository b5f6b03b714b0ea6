"""`HIL_KILL_AT=run.after-step:<n>` kills the controller right after step n ran on the machine.

The virtual-lab test tests/hil/test_kill_restore.py relies on this point
being exact; here it is proven on the fake machine, in a child process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hil.lab.killpoints import KILL_AT_ENV, KILL_SIGNAL_ENV
from hil.linux.procstat import proc_stat
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


def test_with_stop_the_controller_holds_after_the_step_and_goes_on_when_continued(
    tmp_path: Path,
) -> None:
    """What the reboot-mid-run lab test needs: a run frozen at a known step, then resumed."""
    env = {
        **os.environ, "PYTHONPATH": str(REPO),
        KILL_AT_ENV: "run.after-step:1", KILL_SIGNAL_ENV: "STOP",
    }  # fmt: skip
    child = subprocess.Popen(
        [sys.executable, __file__, str(tmp_path)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while (stat := proc_stat(child.pid)) is None or stat.state != "T":
            assert child.poll() is None, child.stderr.read() if child.stderr else ""
            assert time.monotonic() < deadline, "the controller never stopped"
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGCONT)
        out, err = child.communicate(timeout=120)
    finally:
        child.kill()
    assert child.returncode == 0, err
    assert out.split()[0] == "1" and out.split()[-1] == "done"


def test_an_unknown_kill_signal_is_refused(tmp_path: Path) -> None:
    env = {
        **os.environ, "PYTHONPATH": str(REPO),
        KILL_AT_ENV: "run.after-step:1", KILL_SIGNAL_ENV: "HUP",
    }  # fmt: skip
    child = subprocess.run(
        [sys.executable, __file__, str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=120, cwd=REPO,
    )  # fmt: skip
    assert child.returncode != 0
    assert "HIL_KILL_SIGNAL='HUP': use one of KILL, STOP" in child.stderr


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
