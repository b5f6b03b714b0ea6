"""The session's kprobes: placed and journaled, removed at the end or by the next session's
restore after a crash, and each step's share of the writes in its observation.

The machine is a bare fake root with a tracefs that answers `kprobe_events`
as the kernel does (`tests.linux.fake_tracefs`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hil.lab.journal import EntryState, Journal, KprobeEntry, restore_sessions
from hil.lab.kernelwrites import WriteRecorder
from hil.lab.machine import MachineOps
from hil.lab.observe import Observer
from hil.lab.restorer import SysfsRestorer
from hil.linux import kprobes, tracefs
from hil.linux.kprobes import WriteLog
from hil.linux.tracefs import Tracefs
from hil.model.vocabulary import IrteWrite, KernelWrites, MessageWrite, MsiMessage
from tests.linux.fake_tracefs import INTEL_MODIFY_IRTE, FakeKprobeKernel, irte_line, msi_line

SESSION = "1a2b3c4d5e6f"
GROUP = f"hil_{SESSION}"
IR_MESSAGE = MsiMessage(0xFEE000B8, 0)
"""Remappable, handle 5 (bits 5-19 of the address), SHV set, subhandle 0."""


@pytest.fixture
def root(root: Path) -> Path:
    """The lab conftest's machine, with irqs 3 and 4 in sysfs (the step's background)."""
    for irq in (3, 4):
        (root / f"sys/kernel/irq/{irq}").mkdir(parents=True)
    return root


@pytest.fixture
def kernel(root: Path, monkeypatch: pytest.MonkeyPatch) -> FakeKprobeKernel:
    fake = FakeKprobeKernel(root)
    monkeypatch.setattr(kprobes, "append_attr", fake.append)
    monkeypatch.setattr(tracefs, "os", fake.os_module())
    return fake


def _recorder(kernel: FakeKprobeKernel, journal: Journal) -> WriteRecorder:
    kernel.add_instance(f"hil-{SESSION}")
    return WriteRecorder(kernel.root, Tracefs(kernel.root, f"hil-{SESSION}"), journal)


def test_both_probes_placed_journaled_and_removed(kernel, tmp_path):
    journal = Journal(tmp_path / "journal", SESSION)
    recorder = _recorder(kernel, journal)
    recorder.start()
    assert recorder.missing == []
    assert set(kernel.probes) == {f"{GROUP}/msi_write", f"{GROUP}/irte_write"}
    assert f" {INTEL_MODIFY_IRTE} " in kernel.probes[f"{GROUP}/irte_write"]  # not AMD's
    assert kernel.enabled_in(f"{GROUP}/irte_write") == [f"hil-{SESSION}"]
    pending = journal.pending()
    assert [p.entry for p in pending] == [
        KprobeEntry(GROUP, "msi_write"),
        KprobeEntry(GROUP, "irte_write"),
    ]
    assert {p.state for p in pending} == {EntryState.APPLIED}
    recorder.stop()
    assert kernel.probes == {}
    assert journal.pending() == []


def test_an_inlined_modify_irte_is_reported_not_fatal(root, monkeypatch, tmp_path):
    kernel = FakeKprobeKernel(root, functions=("__pci_write_msi_msg",))
    monkeypatch.setattr(kprobes, "append_attr", kernel.append)
    recorder = _recorder(kernel, Journal(tmp_path / "journal", SESSION))
    recorder.start()
    assert list(kernel.probes) == [f"{GROUP}/msi_write"]
    assert recorder.missing == [
        "irte_write not recorded: symbol modify_irte not probeable: "
        "not in available_filter_functions (inlined?)"
    ]


def test_a_refused_probe_leaves_no_journal_entry(kernel, tmp_path, monkeypatch):
    """Listed but refused (an arm64 kernel has no %di): the kernel's reason, nothing left."""

    def refuse_modify_irte(path: Path, text: str) -> None:
        if text.startswith(f"p:{GROUP}/irte_write "):
            raise OSError(22, "Invalid argument", str(path))
        kernel.append(path, text)

    monkeypatch.setattr(kprobes, "append_attr", refuse_modify_irte)
    journal = Journal(tmp_path / "journal", SESSION)
    recorder = _recorder(kernel, journal)
    recorder.start()
    assert recorder.missing == [
        "irte_write not recorded: kprobe on modify_irte refused: Invalid argument"
    ]
    assert [p.entry.event for p in journal.pending()] == ["msi_write"]  # type: ignore[union-attr]


def test_no_kprobe_events_no_probes(root, monkeypatch, tmp_path):
    kernel = FakeKprobeKernel(root, with_kprobe_events=False)
    monkeypatch.setattr(kprobes, "append_attr", kernel.append)
    journal = Journal(tmp_path / "journal", SESSION)
    recorder = _recorder(kernel, journal)
    recorder.start()
    assert recorder.missing == [
        f"no kprobe_events in {kernel.tracing} (kernel without CONFIG_KPROBE_EVENTS)"
    ]
    assert journal.pending() == []


def test_probes_of_a_killed_session_are_removed_by_the_restore(kernel, tmp_path):
    """The session dies with its probes enabled in its (never removed) instance."""
    directory = tmp_path / "journal"
    _recorder(kernel, Journal(directory, SESSION)).start()
    assert len(kernel.probes) == 2
    report = restore_sessions(directory, SysfsRestorer(kernel.root))
    assert report.ok and len(report.restored) == 2
    assert kernel.probes == {}
    assert Journal(directory, SESSION).pending() == []


def test_restore_of_an_intent_whose_probe_never_came(kernel, tmp_path):
    """Killed between journaling and creating: the restore finds nothing and is done."""
    directory = tmp_path / "journal"
    Journal(directory, SESSION).record(KprobeEntry(GROUP, "msi_write"))
    report = restore_sessions(directory, SysfsRestorer(kernel.root))
    assert report.ok and len(report.restored) == 1


def test_journal_refuses_names_that_are_not_identifiers():
    with pytest.raises(ValueError):
        KprobeEntry("hil-1a2b", "msi_write")
    with pytest.raises(ValueError):
        KprobeEntry(GROUP, "../x")


def _message(irq: int, message: MsiMessage, previous: MsiMessage) -> MessageWrite:
    return MessageWrite(1.0, 0, "t", 1, irq, message, previous)


def test_a_steps_share_is_its_irqs_and_the_irtes_they_point_at(kernel, tmp_path):
    recorder = _recorder(kernel, Journal(tmp_path / "journal", SESSION))
    ours = _message(42, MsiMessage(0xFEE00000, 0x21), MsiMessage(0xFEE00000, 0x20))
    background = _message(3, MsiMessage(0xFEE00000, 0x30), MsiMessage(0, 0))
    cleared = _message(43, MsiMessage(0, 0), IR_MESSAGE)
    irte_of_cleared = IrteWrite(1.1, 0, "t", 1, 5, 0, 0)
    irte_of_view = IrteWrite(1.2, 0, "t", 1, 9, 0, 0x0000_0100_0022_0001)
    irte_elsewhere = IrteWrite(1.3, 0, "t", 1, 0, 0, 0x0000_0100_0022_0001)
    log = WriteLog(
        (ours, background, cleared, irte_of_cleared, irte_of_view, irte_elsewhere), ("x",)
    )
    assert recorder.evidence(log, 2, background={3, 4}, handles={9}) == KernelWrites(
        (ours, cleared, irte_of_cleared, irte_of_view),
        ("unreadable probe record: x",),
        2,
    )


def test_observation_carries_the_writes_of_the_step(kernel, tmp_path, root):
    """irq 3 belongs to the machine before the step (background); irq 50 is new in it."""
    observer = Observer(root, SESSION)
    kernel.add_instance(observer.trace_instance)
    observer.start_tracing(Journal(tmp_path / "journal", SESSION), kernel_writes=True)
    pipe = kernel.tracing / "instances" / observer.trace_instance / "trace_pipe"
    with open(pipe, "a") as f:
        f.write(msi_line(3, (0xFEE00000, 0, 0x40), (0, 0, 0)) + "\n")  # before the step
    before = observer.snapshot([])
    with open(pipe, "a") as f:
        f.write(msi_line(3, (0xFEE01000, 0, 0x41), (0xFEE00000, 0, 0x40)) + "\n")
        f.write(msi_line(50, (0xFEE00000, 0, 0x22), (0, 0, 0)) + "\n")
        f.write(irte_line(77, 0, 0x1) + "\n")
    outcome = observer.outcome(1, "enable", [], before, None, None, None)
    evidence = outcome.kernel_writes
    assert evidence is not None and evidence.missing == ()
    assert [(w.irq, w.message.data) for w in evidence.writes] == [(50, 0x22)]  # type: ignore[union-attr]
    observer.stop_tracing()
    assert kernel.probes == {}
    assert not (kernel.tracing / "instances" / observer.trace_instance).exists()


def test_without_tracefs_the_observation_says_why(root, tmp_path):
    observer = Observer(root, SESSION)
    observer.start_tracing(Journal(tmp_path / "journal", SESSION), kernel_writes=True)
    outcome = observer.outcome(1, "enable", [], observer.snapshot([]), None, None, None)
    assert outcome.kernel_writes == KernelWrites(
        missing=(f"no irq_vectors events in {root}/sys/kernel/tracing: the session does not trace",)
    )


def test_session_end_removes_the_probes_and_the_next_session_cleans_a_crash(kernel, tmp_path, root):
    first = MachineOps(tmp_path / "state", "vm", root)
    kernel.add_instance(first.observer.trace_instance)
    first.session_begin(kernel_writes=True)
    assert len(kernel.probes) == 2
    first.session_end()
    assert kernel.probes == {} and first.journal.pending() == []

    crashed = MachineOps(tmp_path / "state", "vm", root)
    kernel.add_instance(crashed.observer.trace_instance)
    crashed.session_begin(kernel_writes=True)  # ... and never ends
    nxt = MachineOps(tmp_path / "state", "vm", root)
    kernel.add_instance(nxt.observer.trace_instance)
    report = nxt.session_begin(kernel_writes=True)
    assert len(report["restored"]) == 2 and report["failed"] == []
    assert set(kernel.probes) == {
        f"hil_{nxt.session_id}/msi_write",
        f"hil_{nxt.session_id}/irte_write",
    }
    nxt.session_end()
    assert kernel.probes == {}


def test_a_session_that_does_not_ask_places_no_probe_and_says_so(kernel, tmp_path, root):
    observer = Observer(root, SESSION)
    kernel.add_instance(observer.trace_instance)
    observer.start_tracing(Journal(tmp_path / "journal", SESSION), kernel_writes=False)
    assert observer.recorder is None and kernel.probes == {}
    outcome = observer.outcome(1, "enable", [], observer.snapshot([]), None, None, None)
    assert outcome.kernel_writes == KernelWrites(
        missing=("not asked for (pytest --kernel-writes records them)",)
    )
    observer.stop_tracing()
