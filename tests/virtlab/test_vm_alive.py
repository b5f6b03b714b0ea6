"""A virtual machine is gone when only zombies are left of its process group."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from hil.linux.procstat import proc_stat
from hil.virtlab.vm import VmState, _alive


def test_a_group_with_a_running_process_is_alive() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"],
                             process_group=0)  # fmt: skip
    try:
        assert _alive(child.pid)
    finally:
        child.kill()
        child.wait()


def test_a_group_of_only_a_zombie_is_not() -> None:
    """QEMU's `vng` parent exits, nobody reaps it yet: killpg still succeeds."""
    child = subprocess.Popen([sys.executable, "-c", "pass"], process_group=0)
    try:
        deadline = time.monotonic() + 30
        while (stat := proc_stat(child.pid)) is None or stat.state != "Z":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        os.killpg(child.pid, 0)  # the zombie still answers signal 0...
        assert not _alive(child.pid)  # ...but nothing of the machine runs
    finally:
        child.wait()
    assert not _alive(child.pid)


def _state(pgid: int, leader_start: int | None) -> VmState:
    return VmState(
        name="vm-test", pgid=pgid, agent_socket="", qmp_socket="", boot_log="",
        persistent=True, accel="tcg", kernel_release="", boot_seconds=0.0,
        leader_start=leader_start,
    )  # fmt: skip


@pytest.mark.parametrize("recorded", ["same", "older hil"])
def test_a_state_names_its_own_running_group(recorded: str) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"],
                             process_group=0)  # fmt: skip
    try:
        stat = proc_stat(child.pid)
        assert stat is not None
        assert _state(child.pid, stat.start_time if recorded == "same" else None).alive()
    finally:
        child.kill()
        child.wait()


def test_a_pgid_held_by_a_later_process_is_not_the_machine() -> None:
    """A state.json that outlived its machine: the number now names someone else."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"],
                             process_group=0)  # fmt: skip
    try:
        stat = proc_stat(child.pid)
        assert stat is not None
        assert not _state(child.pid, stat.start_time - 1).alive()
    finally:
        child.kill()
        child.wait()
