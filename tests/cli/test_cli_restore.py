"""`hil restore`: a dead session's journal put back, locally and through an agent."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from hil.cli import restore as restore_module
from hil.cli.main import cli
from hil.lab.inventory import Machine
from hil.lab.journal import AffinityEntry, CpuEntry, DriverEntry, Journal, pending
from hil.lab.safefile import write_private_file
from hil.lab.transport.local import LocalTransport
from hil.lab.transport.protocol import TransportError
from hil.scenario.client import MachineClient
from tests.cli.fake_lab import FakeOps


def restore(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["restore", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def cpu_tree(root: Path, online: dict[int, str]) -> None:
    """sys/devices/system/cpu/cpuN/online files, as a hot-pluggable CPU has them."""
    for cpu, value in online.items():
        path = root / f"sys/devices/system/cpu/cpu{cpu}/online"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value)


def dead_session(journal: Path, *entries: CpuEntry | AffinityEntry | DriverEntry) -> None:
    """A session that recorded and applied its changes, then was killed."""
    session = Journal(journal, "dead1")
    for entry in entries:
        session.mark_applied(session.record(entry))


def test_a_dead_sessions_cpu_is_put_back_online(tmp_path: Path) -> None:
    root, journal = tmp_path / "root", tmp_path / "journal"
    cpu_tree(root, {1: "0\n"})
    # irq 99 and the device were freed with the session: nothing left to undo for them.
    dead_session(
        journal,
        CpuEntry(1, was_online=True),
        AffinityEntry(99, "0-3"),
        DriverEntry("0000:00:0a.0", "e1000e", None),
    )
    code, out, err = restore("--journal", str(journal), "--root", str(root))
    assert (code, err) == (0, ""), out
    assert (root / "sys/devices/system/cpu/cpu1/online").read_text() == "1\n"
    assert "local: 3 restored, 0 failed" in out
    assert "restored: cpu1: online (session dead1)" in out
    assert "restored: irq 99: affinity 0-3" in out
    assert "restored: 0000:00:0a.0: driver e1000e" in out
    assert pending(journal) == []


def test_an_entry_that_cannot_be_restored_is_reported_and_kept(tmp_path: Path) -> None:
    root, journal = tmp_path / "root", tmp_path / "journal"
    cpu_tree(root, {1: "0\n"})  # cpu2 has no online file: ENOENT
    dead_session(journal, CpuEntry(1, was_online=True), CpuEntry(2, was_online=True))
    code, out, _err = restore("--journal", str(journal), "--root", str(root))
    assert code == 1
    assert "local: 1 restored, 1 failed" in out
    assert "FAILED: cpu2: online: RestoreError: cpu2: setting online=True gave ENOENT" in out
    assert [p.entry for p in pending(journal)] == [CpuEntry(2, was_online=True)]


def test_nothing_pending_is_said_plainly(tmp_path: Path) -> None:
    code, out, _err = restore("--journal", str(tmp_path / "journal"), "--root", str(tmp_path))
    assert code == 0
    assert out == f"local: nothing pending in {tmp_path / 'journal'}\n"


def test_an_unreadable_journal_file_is_named_and_nothing_is_guessed(tmp_path: Path) -> None:
    root, journal = tmp_path / "root", tmp_path / "journal"
    cpu_tree(root, {1: "0\n"})
    dead_session(journal, CpuEntry(1, was_online=True))
    write_private_file(journal / "dead1.00000002.json", b"{torn")
    code, out, _err = restore("--journal", str(journal), "--root", str(root))
    assert code == 1
    assert f"FAILED: {journal / 'dead1.00000002.json'}" in out
    assert (root / "sys/devices/system/cpu/cpu1/online").read_text() == "0\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--machine", "vm-a"], "--machine names an inventory machine: give --lab too"),
        (["--lab", "lab.yaml", "--journal", "j"], "--journal is for this machine alone"),
    ],
)
def test_contradictory_options_are_usage_errors(args: list[str], message: str) -> None:
    code, _out, err = restore(*args)
    assert code == 2
    assert message in err


INVENTORY = """\
lab: t
machines:
  - name: vm-a
    transport: virtual
    virtual:
      kernel: "6.12"
      cpus: 2
  - name: far
    transport: ssh
    ssh: {host: lab-host.example}
"""


@pytest.fixture
def inventory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HIL_LAB_STATE", str(tmp_path / "lab-state"))
    path = tmp_path / "lab.yaml"
    path.write_text(INVENTORY)
    return path


def test_a_virtual_machine_that_is_not_running_has_nothing_to_restore(inventory: Path) -> None:
    code, out, _err = restore("--lab", str(inventory), "--machine", "vm-a")
    assert code == 0
    assert out.startswith("vm-a: not running")


def test_a_remote_machine_restores_through_its_agent(
    inventory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = FakeOps(inventory.parent, "far")
    agent.restore_report = {
        "restored": ["DriverEntry(bdf='0000:00:0a.0')"],
        "failed": ["cpu3: EBUSY"],
    }

    @contextmanager
    def connect(machine: Machine) -> Iterator[MachineClient]:
        assert machine.name == "far"
        yield MachineClient(machine.name, LocalTransport(agent))

    monkeypatch.setattr(restore_module, "_connect", connect)
    code, out, _err = restore("--lab", str(inventory), "--machine", "far")
    assert code == 1
    assert out.splitlines() == [
        "far: 1 restored, 1 failed",
        "  restored: DriverEntry(bdf='0000:00:0a.0')",
        "  FAILED: cpu3: EBUSY",
    ]


def test_an_unreachable_agent_is_a_failure_and_the_others_still_run(
    inventory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    @contextmanager
    def connect(machine: Machine) -> Iterator[MachineClient | None]:
        if machine.name == "far":
            raise TransportError("ssh exited with status 255")
        yield None

    monkeypatch.setattr(restore_module, "_connect", connect)
    code, out, _err = restore("--lab", str(inventory))
    assert code == 1
    assert "vm-a: not running" in out
    assert "far: 0 restored, 1 failed" in out
    assert "FAILED: cannot reach its agent: ssh exited with status 255" in out


def test_an_unknown_machine_is_named(inventory: Path) -> None:
    code, _out, err = restore("--lab", str(inventory), "--machine", "nope")
    assert code == 1
    assert "no machine nope in" in err and "have vm-a, far" in err
