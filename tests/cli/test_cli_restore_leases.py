"""`hil restore` releases the leases a dead session left on the restored machines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hil.cli.restore import clear_stale_leases
from hil.lab.leases import LeaseManager


def test_dead_owner_leases_are_released_and_live_ones_kept(tmp_path: Path) -> None:
    leases = tmp_path / "leases"
    script = (
        "import sys; from pathlib import Path; from hil.lab.leases import LeaseManager;"
        f"m = LeaseManager(Path({str(leases)!r}), 'dead'); m.acquire('machine:vm-a', 3600);"
        "m.acquire('device:vm-a/igb0', 3600); m.acquire('machine:vm-b', 3600)"
    )
    subprocess.run([sys.executable, "-c", script], check=True)  # exits: its owner is dead
    live = LeaseManager(leases, "live")
    live.release(live.acquire("machine:vm-b", 3600))  # takes vm-b over, then frees it
    held = live.acquire("machine:vm-c", 3600)

    lines = clear_stale_leases(leases, {"vm-a", "vm-c"})

    assert any("machine:vm-a: released" in line for line in lines)
    assert any("device:vm-a/igb0: released" in line for line in lines)
    assert any("machine:vm-c" in line and "left alone" in line for line in lines)
    remaining = {info.resource for info in live.list()}
    assert remaining == {"machine:vm-c"}
    live.release(held)
