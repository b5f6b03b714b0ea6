"""`hil leases`: every lease with owner, age, time left and why it is stale."""

from __future__ import annotations

import os
import time
from pathlib import Path

from click.testing import CliRunner

from hil.cli.main import cli
from hil.lab.leases import LeaseManager
from hil.lab.safefile import write_private_file


def leases(directory: Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["leases", "--dir", str(directory)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_a_missing_folder_means_no_leases(tmp_path: Path) -> None:
    code, out, _err = leases(tmp_path / "leases")
    assert code == 0
    assert out == f"no leases: {tmp_path / 'leases'} does not exist\n"
    assert not (tmp_path / "leases").exists()  # listing creates nothing


def test_live_and_expired_leases_are_listed(tmp_path: Path) -> None:
    folder = tmp_path / "leases"
    manager = LeaseManager(folder, "run42", host="ctl")
    manager.acquire("device:bench/nic0", ttl=600)
    manager.acquire("machine:bench", ttl=0.01)
    time.sleep(0.05)
    code, out, _err = leases(folder)
    assert code == 0
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in out.splitlines() if "│" in line]
    live, expired = sorted(rows)
    assert live[:2] == ["device:bench/nic0", f"session run42 (pid {os.getpid()} on ctl)"]
    assert live[3] in ("600 s", "599 s") and live[4] == "no"
    assert expired[0] == "machine:bench"
    assert expired[3] == "expired" and expired[4].startswith("lease of session run42")


def test_an_empty_folder_says_so(tmp_path: Path) -> None:
    LeaseManager(tmp_path / "leases", "run42")
    code, out, _err = leases(tmp_path / "leases")
    assert (code, out) == (0, f"no leases in {tmp_path / 'leases'}\n")


def test_an_unreadable_lease_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    folder = tmp_path / "leases"
    LeaseManager(folder, "run42")
    write_private_file(folder / "device%3Abench%2Fnic0.lease", b"{torn")
    code, _out, err = leases(folder)
    assert code == 1
    assert "unreadable lease" in err
