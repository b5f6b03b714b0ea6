"""Boot slots: a second process waits for the one slot the first holds."""

from __future__ import annotations

import select
import subprocess
import sys
from pathlib import Path

from hil.virtlab.bootslots import boot_slot

HOLD = """
import sys, time
from pathlib import Path
from hil.virtlab.bootslots import boot_slot
with boot_slot(Path(sys.argv[1]), 1):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
    print("releasing", flush=True)
"""


def test_free_slots_are_taken_without_waiting(tmp_path: Path) -> None:
    with boot_slot(tmp_path, 2) as first, boot_slot(tmp_path, 2) as second:
        assert {first, second} == {0, 1}


def test_a_second_process_waits_for_the_only_slot(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path), "1.5"], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    with boot_slot(tmp_path, 1):
        # The holder says so before it lets go: by now it must have.
        released = bool(select.select([holder.stdout], [], [], 0)[0])
    holder.wait(timeout=30)
    assert released, "the slot was taken while another process held it"


def test_a_killed_holder_frees_its_slot(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path), "60"], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    holder.kill()
    holder.wait(timeout=30)
    with boot_slot(tmp_path, 1) as slot:
        assert slot == 0
