"""The restore journal: order, failures, and a crash at every kill point leaves nothing lost.

The crash tests run a scripted session (this file run as a script) against a
fake machine kept in files, SIGKILL it at one kill point, restore from the
test process, and compare the fake machine with its state before the session.
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hil.lab.journal import (
    AffinityEntry,
    CpuEntry,
    DriverEntry,
    EntryState,
    Journal,
    JournalCorrupt,
    JournalEntry,
    KprobeEntry,
    pending,
)
from hil.lab.killpoints import JOURNAL_KILL_POINTS, KILL_AT_ENV, kill_point
from hil.lab.safefile import write_private_file

REPO = Path(__file__).resolve().parents[2]


# --- the fake machine: one small file per piece of state --------------------------------------


class FakeMachine:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _file(self, kind: str, name: str) -> Path:
        return self.root / kind / name.replace(":", "_")

    def write(self, kind: str, name: str, value: str) -> None:
        path = self._file(kind, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value)

    def read(self, kind: str, name: str) -> str:
        return self._file(kind, name).read_text()

    def snapshot(self) -> dict[str, str]:
        return {
            str(p.relative_to(self.root)): p.read_text()
            for p in sorted(self.root.rglob("*"))
            if p.is_file()
        }

    # Restorer protocol: set the original value, whatever the current one.
    def restore_driver(self, entry: DriverEntry) -> None:
        self.write("driver", entry.bdf, entry.original_driver or "")
        self.write("override", entry.bdf, entry.original_override or "")

    def restore_cpu(self, entry: CpuEntry) -> None:
        self.write("online", str(entry.cpu), "1" if entry.was_online else "0")

    def restore_affinity(self, entry: AffinityEntry) -> None:
        self.write("affinity", str(entry.irq), entry.original_affinity)


NIC = "0000:01:00.0"
UNBOUND = "0000:02:00.0"


def install_original_state(machine: FakeMachine) -> None:
    machine.write("driver", NIC, "igb")
    machine.write("override", NIC, "")
    machine.write("driver", UNBOUND, "")
    machine.write("override", UNBOUND, "")
    machine.write("online", "1", "1")
    machine.write("affinity", "30", "0-3")
    machine.write("affinity", "31", "2")


def scripted_session(journal_dir: Path, machine_root: Path, session: str) -> None:
    """What a run does: record, change, mark applied; then restore at the end."""
    machine = FakeMachine(machine_root)
    journal = Journal(journal_dir, session)

    def change(entry: JournalEntry, apply: dict[tuple[str, str], str]) -> None:
        handle = journal.record(entry)
        for (kind, name), value in apply.items():
            machine.write(kind, name, value)
        journal.mark_applied(handle)

    def bind(bdf: str, driver: str) -> None:
        original = DriverEntry(
            bdf, machine.read("driver", bdf) or None, machine.read("override", bdf) or None
        )
        change(original, {("override", bdf): driver, ("driver", bdf): driver})

    bind(NIC, "vfio-pci")
    bind(UNBOUND, "vfio-pci")
    bind(NIC, "pci-stub")  # the same device twice: only the first original is the true one
    change(CpuEntry(1, was_online=True), {("online", "1"): "0"})
    change(AffinityEntry(30, "0-3"), {("affinity", "30"): "1"})
    change(AffinityEntry(31, "2"), {("affinity", "31"): "0"})
    report = journal.restore_all(machine)
    assert report.ok, str(report)


PASSES_PER_POINT = 6  # each transition is passed once per change (six changes, six restores)


def run_session(
    tmp_path: Path, kill_at: str | None
) -> tuple[subprocess.CompletedProcess[str], FakeMachine, dict[str, str], Path]:
    machine = FakeMachine(tmp_path / "machine")
    install_original_state(machine)
    original = machine.snapshot()
    journal_dir = tmp_path / "journal"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop(KILL_AT_ENV, None)
    if kill_at is not None:
        env[KILL_AT_ENV] = kill_at
    process = subprocess.run(
        [sys.executable, __file__, str(journal_dir), str(machine.root), "s1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return process, machine, original, journal_dir


def test_an_uninterrupted_session_restores_everything_itself(tmp_path: Path) -> None:
    process, machine, original, journal_dir = run_session(tmp_path, None)
    assert process.returncode == 0, process.stderr
    assert machine.snapshot() == original
    assert pending(journal_dir) == []


@pytest.mark.parametrize("nth", [1, 3, PASSES_PER_POINT])
@pytest.mark.parametrize("point", JOURNAL_KILL_POINTS)
def test_a_crash_at_every_kill_point_is_restored(tmp_path: Path, point: str, nth: int) -> None:
    process, machine, original, journal_dir = run_session(tmp_path, f"{point}:{nth}")
    assert process.returncode == -signal.SIGKILL, (
        f"the session was not killed at {point}:{nth} (rc {process.returncode}): {process.stderr}"
    )
    report = Journal(journal_dir, "s1").restore_all(machine)
    assert report.ok, str(report)
    assert machine.snapshot() == original
    assert pending(journal_dir) == []
    assert [n for n in os.listdir(journal_dir) if n.endswith(".tmp")] == []


# --- in-process behaviour ---------------------------------------------------------------------


@dataclass
class RecordingRestorer:
    calls: list[str] = field(default_factory=list)
    failing: set[str] = field(default_factory=set)

    def _call(self, what: str) -> None:
        self.calls.append(what)
        if what in self.failing:
            raise OSError(f"cannot restore {what}")

    def restore_driver(self, entry: DriverEntry) -> None:
        self._call(f"driver {entry.bdf} {entry.original_driver}")

    def restore_cpu(self, entry: CpuEntry) -> None:
        self._call(f"cpu {entry.cpu}")

    def restore_affinity(self, entry: AffinityEntry) -> None:
        self._call(f"irq {entry.irq} {entry.original_affinity}")

    def restore_kprobe(self, entry: KprobeEntry) -> None:
        self._call(f"kprobe {entry.group}/{entry.event}")


def test_restore_order_is_affinities_cpus_drivers_kprobes_newest_first(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j", "s1")
    for entry in (
        KprobeEntry("hil_s1", "msi_write"),
        DriverEntry(NIC, "igb", None),
        AffinityEntry(30, "0-3"),
        CpuEntry(1, True),
        DriverEntry(NIC, "vfio-pci", "vfio-pci"),
        CpuEntry(2, True),
        AffinityEntry(31, "2"),
    ):
        journal.record(entry)
    restorer = RecordingRestorer()
    report = journal.restore_all(restorer)
    assert restorer.calls == [
        "irq 31 2",
        "irq 30 0-3",
        "cpu 2",
        "cpu 1",
        f"driver {NIC} vfio-pci",
        f"driver {NIC} igb",
        "kprobe hil_s1/msi_write",
    ]
    assert report.ok and len(report.restored) == 7
    assert journal.pending() == []


def test_one_failure_is_reported_the_rest_restored_and_it_is_kept(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j", "s1")
    journal.record(DriverEntry(NIC, "igb", None))
    journal.record(CpuEntry(1, True))
    journal.record(AffinityEntry(30, "0-3"))
    restorer = RecordingRestorer(failing={"cpu 1"})
    report = journal.restore_all(restorer)
    assert restorer.calls == ["irq 30 0-3", "cpu 1", f"driver {NIC} igb"]
    assert not report.ok
    assert [f.entry for f in report.failed] == [CpuEntry(1, True)]
    assert "cannot restore cpu 1" in str(report)
    assert [p.entry for p in journal.pending()] == [CpuEntry(1, True)]
    again = journal.restore_all(RecordingRestorer())
    assert again.ok and [p.entry for p in again.restored] == [CpuEntry(1, True)]
    assert journal.pending() == []


def test_states_go_intent_then_applied(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j", "s1")
    handle = journal.record(CpuEntry(3, True))
    assert [p.state for p in journal.pending()] == [EntryState.INTENT]
    journal.mark_applied(handle)
    assert [(p.state, p.entry, p.pid) for p in journal.pending()] == [
        (EntryState.APPLIED, CpuEntry(3, True), os.getpid())
    ]


def test_files_are_root_only(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j", "s1")
    journal.record(CpuEntry(3, True))
    assert stat.S_IMODE(os.stat(tmp_path / "j").st_mode) == 0o700
    [name] = os.listdir(tmp_path / "j")
    assert stat.S_IMODE(os.stat(tmp_path / "j" / name).st_mode) == 0o600


def test_pending_lists_every_session_and_a_reopened_journal_continues(tmp_path: Path) -> None:
    directory = tmp_path / "j"
    Journal(directory, "s1").record(CpuEntry(1, True))
    Journal(directory, "s2").record(AffinityEntry(30, "1"))
    Journal(directory, "s1").record(CpuEntry(2, False))
    assert [(p.session_id, p.seq, p.entry) for p in pending(directory)] == [
        ("s1", 1, CpuEntry(1, True)),
        ("s1", 2, CpuEntry(2, False)),
        ("s2", 1, AffinityEntry(30, "1")),
    ]
    Journal(directory, "s2").restore_all(RecordingRestorer())
    assert {p.session_id for p in pending(directory)} == {"s1"}


def test_pending_of_a_missing_directory_is_empty(tmp_path: Path) -> None:
    assert pending(tmp_path / "absent") == []


def test_a_corrupt_file_is_named_and_does_not_stop_restore(tmp_path: Path) -> None:
    directory = tmp_path / "j"
    journal = Journal(directory, "s1")
    journal.record(CpuEntry(1, True))
    journal.record(CpuEntry(2, True))
    write_private_file(directory / "s1.00000002.json", b"{not json")
    with pytest.raises(JournalCorrupt, match=re.escape("s1.00000002.json")):
        pending(directory)
    restorer = RecordingRestorer()
    report = journal.restore_all(restorer)
    assert restorer.calls == ["cpu 1"]
    assert [f.file for f in report.failed] == [str(directory / "s1.00000002.json")]


def test_a_tampered_entry_is_refused_not_acted_on(tmp_path: Path) -> None:
    directory = tmp_path / "j"
    Journal(directory, "s1").record(DriverEntry(NIC, "igb", None))
    path = directory / "s1.00000001.json"
    document = json.loads(path.read_text())
    document["entry"]["original_driver"] = "../../../bin/sh"
    write_private_file(path, json.dumps(document).encode())
    restorer = RecordingRestorer()
    report = Journal(directory, "s1").restore_all(restorer)
    assert restorer.calls == []
    assert len(report.failed) == 1 and "driver name" in report.failed[0].error


@pytest.mark.parametrize(
    "make",
    [
        lambda: DriverEntry("01:00.0", "igb", None),
        lambda: DriverEntry(NIC, "a/b", None),
        lambda: CpuEntry(-1, True),
        lambda: AffinityEntry(5, "all"),
    ],
)
def test_invalid_entries_are_refused(make: Callable[[], object]) -> None:
    with pytest.raises(ValueError):
        make()


def test_session_ids_must_be_plain_names(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="session id"):
        Journal(tmp_path / "j", "../s1")


def test_an_unknown_kill_point_is_a_loud_error() -> None:
    with pytest.raises(ValueError, match="unknown kill point"):
        kill_point("record.nowhere")


def test_an_unknown_kill_point_in_the_environment_is_a_loud_error(tmp_path: Path) -> None:
    process, _, _, _ = run_session(tmp_path, "record.nowhere")
    assert process.returncode == 1
    assert "unknown kill point" in process.stderr


if __name__ == "__main__":
    scripted_session(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])
