"""`hil restore`: put machines back after a run that died.

A session killed with SIGKILL (or a controller that lost power) leaves
devices on vfio-pci, CPUs offline and irqs moved; the journal on each
machine says what they were.  This command replays those journals: the
local machine's directly, a virtual or SSH machine's through its agent's
`restore` operation, which runs the same code on the machine itself.  It
prints what was restored and what failed; exit 1 if anything failed.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import click

from hil.cli.output import EXIT_FAILED, CommandError, reports_errors
from hil.lab.inventory import Inventory, Machine, Transport
from hil.lab.journal import (
    DEFAULT_JOURNAL_DIR,
    AffinityEntry,
    CpuEntry,
    DriverEntry,
    JournalCorrupt,
    JournalEntry,
    pending,
    restore_sessions,
)
from hil.lab.leases import LeaseManager
from hil.lab.restorer import SysfsRestorer
from hil.lab.safefile import UnsafePathError
from hil.lab.transport.protocol import AgentError, TransportError
from hil.lab.transport.ssh import SshTransportError, connect_ssh, ssh_command
from hil.linux.boot import boot_id
from hil.scenario.client import MachineClient
from hil.virtlab.lab import state_root, vm_spec
from hil.virtlab.vm import BootError, VirtualMachine

AGENT_STATE_DIR = DEFAULT_JOURNAL_DIR.parent
"""The agent's --state-dir on an SSH machine; its journal is the `journal` folder in it."""


@dataclass(frozen=True)
class RestoreOutcome:
    """What `hil restore` did on one machine."""

    machine: str
    restored: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    note: str | None = None
    dropped: tuple[str, ...] = ()
    """Entries recorded before the machine rebooted: the reboot reset them."""


def describe_entry(entry: JournalEntry) -> str:
    """What putting `entry` back means, in the words of the machine's files."""
    if isinstance(entry, DriverEntry):
        override = f", driver_override {entry.original_override}" if entry.original_override else ""
        return f"{entry.bdf}: driver {entry.original_driver or '(none)'}{override}"
    if isinstance(entry, CpuEntry):
        return f"cpu{entry.cpu}: {'online' if entry.was_online else 'offline'}"
    assert isinstance(entry, AffinityEntry)
    return f"irq {entry.irq}: affinity {entry.original_affinity}"


def restore_local(journal: Path, root: Path, name: str = "local") -> RestoreOutcome:
    """Restore every session's pending entries in `journal` on the machine at `root`."""
    try:
        waiting = pending(journal)
        if not waiting:
            return RestoreOutcome(name, note=f"nothing pending in {journal}")
        report = restore_sessions(journal, SysfsRestorer(root), boot_id(root))
    except JournalCorrupt as exc:
        # Nothing is restored: the unreadable entry may be the one that matters.
        return RestoreOutcome(name, failed=tuple(map(str, exc.failures)))
    except UnsafePathError as exc:
        return RestoreOutcome(name, failed=(f"refusing to use the journal: {exc}",))
    return RestoreOutcome(
        name,
        restored=tuple(
            f"{describe_entry(p.entry)} (session {p.session_id})" for p in report.restored
        ),
        failed=tuple(
            f"{describe_entry(f.entry) if f.entry else f.file}: {f.error}" for f in report.failed
        ),
        dropped=tuple(
            f"{describe_entry(p.entry)} (session {p.session_id})" for p in report.dropped
        ),
    )


def restore_with_client(name: str, client: MachineClient) -> RestoreOutcome:
    """Ask the machine's agent to replay its own journal."""
    report = client.restore()
    return RestoreOutcome(
        name,
        tuple(map(str, report.get("restored", ()))),
        tuple(map(str, report.get("failed", ()))),
        dropped=tuple(map(str, report.get("dropped", ()))),
    )


@contextmanager
def _connect(machine: Machine) -> Iterator[MachineClient | None]:
    """A client for a virtual or SSH machine; None for a virtual machine that is not running."""
    if machine.transport is Transport.VIRTUAL:
        vm = VirtualMachine(vm_spec(machine), None, state_root() / machine.name, "")
        if not vm.running():
            yield None
            return
        vm.attach()
        try:
            yield MachineClient(machine.name, vm.transport)
        finally:
            vm.disconnect()
        return
    assert machine.ssh is not None
    ssh = machine.ssh
    command = ssh_command(
        ssh.host, ssh.user, ssh.port, ssh.identity, ssh.python, str(AGENT_STATE_DIR), machine.name
    )
    transport, proc = connect_ssh(command)
    try:
        yield MachineClient(machine.name, transport)
    finally:
        _end_ssh(proc)


def _end_ssh(proc: subprocess.Popen[bytes]) -> None:
    if proc.stdin is not None:
        proc.stdin.close()  # the agent sees end of input, ends its session and exits
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def restore_machine(machine: Machine) -> RestoreOutcome:
    if machine.transport is Transport.LOCAL:
        return restore_local(DEFAULT_JOURNAL_DIR, Path("/"), machine.name)
    try:
        with _connect(machine) as client:
            if client is None:
                return RestoreOutcome(
                    machine.name,
                    note="not running: a guest that stopped kept none of the run's changes",
                )
            return restore_with_client(machine.name, client)
    except (AgentError, TransportError, SshTransportError, BootError, OSError) as exc:
        return RestoreOutcome(machine.name, failed=(f"cannot reach its agent: {exc}",))


@click.command("restore")
@click.option(
    "--lab",
    "inventory",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Inventory whose machines to restore (default: only this machine).",
)
@click.option(
    "--machine",
    "machine_names",
    multiple=True,
    help="Only this inventory machine (repeatable; needs --lab).",
)
@click.option(
    "--journal",
    "journal",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help=f"Restore this machine from this journal folder (default {DEFAULT_JOURNAL_DIR}).",
)
@click.option(
    "--root",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("/"),
    show_default=True,
    help="Filesystem root holding sys/ and proc/ (a fixture tree in tests).",
)
@reports_errors
def restore(
    inventory: Path | None, machine_names: tuple[str, ...], journal: Path | None, root: Path
) -> None:
    """Put devices, CPUs and irq affinities back as the journals recorded them."""
    if inventory is None:
        if machine_names:
            raise click.UsageError("--machine names an inventory machine: give --lab too")
        outcomes = [restore_local(journal or DEFAULT_JOURNAL_DIR, root)]
    else:
        if journal is not None:
            raise click.UsageError("--journal is for this machine alone: drop --lab")
        chosen = _chosen(Inventory.load(inventory), machine_names)
        outcomes = [restore_machine(m) for m in chosen]
        for line in clear_stale_leases(state_root() / "leases", {m.name for m in chosen}):
            click.echo(line)
    for outcome in outcomes:
        _print(outcome)
    if any(o.failed for o in outcomes):
        raise click.exceptions.Exit(EXIT_FAILED)


def clear_stale_leases(directory: Path, machines: set[str]) -> list[str]:
    """Release the leases of these machines whose owners are gone; live ones stay."""
    if not directory.is_dir():
        return []
    manager = LeaseManager(directory, f"restore-{os.getpid()}")
    lines = []
    for info in manager.list():
        name = info.resource.partition(":")[2]
        if name.split("/", 1)[0] not in machines:
            continue
        if info.stale is None:
            lines.append(f"lease {info.resource}: held by live session {info.owner}; left alone")
            continue
        manager.release(manager.acquire(info.resource, ttl=1.0))
        lines.append(f"lease {info.resource}: released ({info.stale})")
    return lines


def _chosen(inv: Inventory, names: tuple[str, ...]) -> list[Machine]:
    if not names:
        return list(inv.machines)
    unknown = [n for n in names if inv.machine(n) is None]
    if unknown:
        known = ", ".join(m.name for m in inv.machines)
        raise CommandError(f"no machine {', '.join(unknown)} in {inv.path}; have {known}")
    return [m for m in inv.machines if m.name in names]


def _print(outcome: RestoreOutcome) -> None:
    summary = f"{len(outcome.restored)} restored, {len(outcome.failed)} failed"
    if outcome.dropped:
        summary += f", {len(outcome.dropped)} dropped"
    click.echo(f"{outcome.machine}: {outcome.note or summary}")
    for line in outcome.restored:
        click.echo(f"  restored: {line}")
    for line in outcome.dropped:
        click.echo(f"  dropped: {line}: recorded before the machine rebooted, which reset it")
    for line in outcome.failed:
        click.echo(f"  FAILED: {line}")
