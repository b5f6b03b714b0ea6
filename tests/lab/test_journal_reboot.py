"""A journal written before a reboot is dropped, not replayed.

A reboot resets bindings, CPUs and affinities and renumbers irqs, so an
affinity entry replayed after one could move another device's irq.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hil.lab.journal import (
    AffinityEntry,
    CpuEntry,
    DriverEntry,
    Journal,
    JournalCorrupt,
    restore_sessions,
)
from hil.linux.boot import boot_id
from tests.lab.test_journal import RecordingRestorer

BOOT_A = "0b1e7c53-9a55-4d5e-9a8c-3f7fd1c2a001"
BOOT_B = "0b1e7c53-9a55-4d5e-9a8c-3f7fd1c2a002"
NIC = "0000:01:00.0"


def _record_a_run(directory: Path, boot: str | None) -> Journal:
    journal = Journal(directory, "s1", boot)
    for entry in (DriverEntry(NIC, "igb", None), CpuEntry(3, True), AffinityEntry(41, "0-3")):
        journal.mark_applied(journal.record(entry))
    return journal


def test_entries_of_an_earlier_boot_are_dropped_and_removed(tmp_path: Path) -> None:
    _record_a_run(tmp_path / "j", BOOT_A)
    restorer = RecordingRestorer()
    report = restore_sessions(tmp_path / "j", restorer, BOOT_B)
    assert restorer.calls == [], "nothing of the earlier boot is replayed"
    assert report.ok and report.restored == ()
    assert {p.entry for p in report.dropped} == {
        DriverEntry(NIC, "igb", None),
        CpuEntry(3, True),
        AffinityEntry(41, "0-3"),
    }
    assert "3 dropped (recorded before a reboot)" in str(report)
    assert list((tmp_path / "j").iterdir()) == []


def test_entries_of_this_boot_are_replayed(tmp_path: Path) -> None:
    _record_a_run(tmp_path / "j", BOOT_A)
    restorer = RecordingRestorer()
    report = restore_sessions(tmp_path / "j", restorer, BOOT_A)
    assert restorer.calls == ["irq 41 0-3", "cpu 3", f"driver {NIC} igb"]
    assert report.dropped == ()


@pytest.mark.parametrize(("recorded", "current"), [(None, BOOT_B), (BOOT_A, None)])
def test_an_unknown_boot_on_either_side_replays(
    tmp_path: Path, recorded: str | None, current: str | None
) -> None:
    """Without both ids nothing proves a reboot: replaying is the safe side (idempotent)."""
    _record_a_run(tmp_path / "j", recorded)
    restorer = RecordingRestorer()
    assert len(restore_sessions(tmp_path / "j", restorer, current).restored) == 3
    assert len(restorer.calls) == 3


def test_the_boot_is_stored_in_each_entry_and_checked_on_reading(tmp_path: Path) -> None:
    journal = _record_a_run(tmp_path / "j", BOOT_A)
    assert {p.boot_id for p in journal.pending()} == {BOOT_A}
    first = sorted((tmp_path / "j").iterdir())[0]
    document = json.loads(first.read_text())
    assert document["boot"] == BOOT_A
    document["boot"] = "../../etc"
    first.write_text(json.dumps(document))
    with pytest.raises(JournalCorrupt, match=r"boot '\.\./\.\./etc'"):
        restore_sessions(tmp_path / "j", RecordingRestorer(), BOOT_B)


def test_boot_id_reads_the_kernels_random_boot_id(tmp_path: Path) -> None:
    path = tmp_path / "proc/sys/kernel/random/boot_id"
    assert boot_id(tmp_path) is None
    path.parent.mkdir(parents=True)
    path.write_text(BOOT_A + "\n")
    assert boot_id(tmp_path) == BOOT_A
    path.write_text("not an id\n")
    assert boot_id(tmp_path) is None
