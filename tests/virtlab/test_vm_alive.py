"""A virtual machine is gone when only zombies are left of its process group."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from hil.linux.procstat import proc_stat
from hil.virtlab.vm import _alive


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
