"""A write-ahead journal of the machine state a session changes, so no device is ever lost.

A run rebinds drivers, takes CPUs offline and moves irq affinities on
machines people depend on.  If the run dies (SIGKILL, power loss, a kernel
oops in a test) the machine must still be put back.  So the ORIGINAL state
is recorded on the machine itself BEFORE each change (`record`, state
`intent`), marked `applied` after it, and removed only once restored.
An `intent` entry means the change may or may not have happened; restoring
sets the original state either way, which is why every restore must be
idempotent.

One file per entry (`<session>.<seq>.json`, 0600, written atomically by
`hil.lab.safefile`) keeps each transition a single rename: there is no
moment in which an entry is half written or two entries share a file.

Fault injection: `kill_point(name)` (hil.lab.killpoints) is called at
every transition, so tests can prove that restore works from every state a
crash can leave behind.
"""

from __future__ import annotations

import enum
import json
import os
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, Protocol

from hil.lab.killpoints import kill_point
from hil.lab.safefile import (
    UnsafePathError,
    ensure_private_dir,
    private_file_names,
    read_private_file,
    remove_private_file,
    remove_stale_temporaries,
    write_private_file,
)
from hil.linux.boot import is_boot_id

DEFAULT_JOURNAL_DIR = Path("/var/lib/pcie-hil/journal")
JOURNAL_FORMAT = 1

# --- entries ---------------------------------------------------------------------------------

_BDF = re.compile(r"[0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]")
_DRIVER = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_CPULIST = re.compile(r"\d+(-\d+)?(,\d+(-\d+)?)*")
_SESSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def _require(ok: bool, what: str) -> None:
    # The journal drives root actions after a crash, so a value that could not
    # have been written by this module (a path in a driver name, a negative
    # CPU) is refused rather than acted on.
    if not ok:
        raise ValueError(what)


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


@dataclass(frozen=True)
class DriverEntry:
    """A device's driver binding and driver_override before the session changed them."""

    kind: ClassVar[str] = "driver"
    bdf: str
    original_driver: str | None
    original_override: str | None

    def __post_init__(self) -> None:
        _require(isinstance(self.bdf, str) and bool(_BDF.fullmatch(self.bdf)), f"bdf {self.bdf!r}")
        for name in (self.original_driver, self.original_override):
            _require(
                name is None or (isinstance(name, str) and bool(_DRIVER.fullmatch(name))),
                f"driver name {name!r}",
            )


@dataclass(frozen=True)
class CpuEntry:
    """Whether a CPU was online before the session took it offline (or online)."""

    kind: ClassVar[str] = "cpu"
    cpu: int
    was_online: bool

    def __post_init__(self) -> None:
        _require(_is_count(self.cpu), f"cpu {self.cpu!r}")
        _require(isinstance(self.was_online, bool), f"was_online {self.was_online!r}")


@dataclass(frozen=True)
class AffinityEntry:
    """An irq's affinity (a cpulist such as "0-3,6") before the session moved it."""

    kind: ClassVar[str] = "affinity"
    irq: int
    original_affinity: str

    def __post_init__(self) -> None:
        _require(_is_count(self.irq), f"irq {self.irq!r}")
        _require(
            isinstance(self.original_affinity, str)
            and bool(_CPULIST.fullmatch(self.original_affinity)),
            f"cpulist {self.original_affinity!r}",
        )


@dataclass(frozen=True)
class KprobeEntry:
    """A kprobe event the session created (`group/event` in tracefs `kprobe_events`);
    restoring deletes it, as the machine had none of that name."""

    kind: ClassVar[str] = "kprobe"
    group: str
    event: str

    def __post_init__(self) -> None:
        for name in (self.group, self.event):
            _require(isinstance(name, str) and bool(_IDENTIFIER.fullmatch(name)), f"name {name!r}")


JournalEntry = DriverEntry | CpuEntry | AffinityEntry | KprobeEntry

_ENTRY_TYPES: dict[
    str, type[DriverEntry] | type[CpuEntry] | type[AffinityEntry] | type[KprobeEntry]
] = {t.kind: t for t in (DriverEntry, CpuEntry, AffinityEntry, KprobeEntry)}

RESTORE_ORDER: tuple[str, ...] = (
    AffinityEntry.kind,
    CpuEntry.kind,
    DriverEntry.kind,
    KprobeEntry.kind,
)
"""Affinities first, then CPUs back online, then drivers, then kprobes: the reverse of
how a session builds up its changes (place its probes, bind devices, take CPUs offline,
move irqs)."""


class EntryState(enum.Enum):
    INTENT = "intent"  # recorded; the change may or may not have happened
    APPLIED = "applied"  # the change happened


class Restorer(Protocol):
    """Puts one piece of machine state back; must be idempotent (it may run twice)."""

    def restore_driver(self, entry: DriverEntry) -> None: ...

    def restore_cpu(self, entry: CpuEntry) -> None: ...

    def restore_affinity(self, entry: AffinityEntry) -> None: ...

    def restore_kprobe(self, entry: KprobeEntry) -> None: ...


@dataclass(frozen=True)
class PendingEntry:
    """An entry found on disk: not yet restored."""

    session_id: str
    seq: int
    state: EntryState
    entry: JournalEntry
    pid: int
    recorded_at: float
    boot_id: str | None = None
    """The boot it was recorded in; None where the kernel gave none (always replayed)."""

    def from_earlier_boot(self, current: str | None) -> bool:
        return self.boot_id is not None and current is not None and self.boot_id != current


@dataclass(frozen=True)
class JournalHandle:
    """What `record` returns and `mark_applied` takes."""

    session_id: str
    seq: int
    entry: JournalEntry


@dataclass(frozen=True)
class RestoreFailure:
    file: str
    entry: JournalEntry | None  # None when the file itself could not be read
    error: str

    def __str__(self) -> str:
        return f"{self.file}: {self.entry or 'unreadable entry'}: {self.error}"


@dataclass(frozen=True)
class RestoreReport:
    restored: tuple[PendingEntry, ...]
    failed: tuple[RestoreFailure, ...]
    dropped: tuple[PendingEntry, ...] = ()
    """Entries of an earlier boot: the reboot already reset what they describe."""

    @property
    def ok(self) -> bool:
        return not self.failed

    def __str__(self) -> str:
        lines = [
            f"restored {len(self.restored)} entries, {len(self.failed)} failed, "
            f"{len(self.dropped)} dropped (recorded before a reboot)"
        ]
        lines += [f"  {failure}" for failure in self.failed]
        return "\n".join(lines)


class JournalError(Exception):
    """The journal cannot be used as asked (corrupt files, unknown handle)."""


class JournalCorrupt(JournalError):
    def __init__(self, failures: Sequence[RestoreFailure]) -> None:
        self.failures = tuple(failures)
        super().__init__("unreadable journal files:\n" + "\n".join(map(str, self.failures)))


# --- files -----------------------------------------------------------------------------------


def _file_name(session_id: str, seq: int) -> str:
    return f"{session_id}.{seq:08d}.json"


def _parse_file_name(name: str) -> tuple[str, int] | None:
    parts = name.split(".")
    if len(parts) != 3 or parts[2] != "json" or not parts[1].isdigit():
        return None
    if not _SESSION.fullmatch(parts[0]):
        return None
    return parts[0], int(parts[1])


def _encode(item: PendingEntry) -> bytes:
    document = {
        "format": JOURNAL_FORMAT,
        "session": item.session_id,
        "seq": item.seq,
        "state": item.state.value,
        "kind": item.entry.kind,
        "entry": asdict(item.entry),
        "pid": item.pid,
        "recorded_at": item.recorded_at,
    }
    if item.boot_id is not None:
        document["boot"] = item.boot_id
    return (json.dumps(document, sort_keys=True) + "\n").encode()


def _decode(name: str, data: bytes) -> PendingEntry:
    parsed_name = _parse_file_name(name)
    if parsed_name is None:
        raise ValueError("file name is not <session>.<seq>.json")
    document: Any = json.loads(data)
    if not isinstance(document, dict) or document.get("format") != JOURNAL_FORMAT:
        raise ValueError(f"not a format {JOURNAL_FORMAT} journal entry")
    if (document.get("session"), document.get("seq")) != parsed_name:
        raise ValueError("session or seq inside differs from the file name")
    entry_type = _ENTRY_TYPES.get(document.get("kind", ""))
    fields = document.get("entry")
    if entry_type is None or not isinstance(fields, dict):
        raise ValueError(f"unknown entry kind {document.get('kind')!r}")
    pid: Any = document.get("pid")
    recorded_at: Any = document.get("recorded_at")
    _require(_is_count(pid), f"pid {pid!r}")
    _require(isinstance(recorded_at, int | float), f"recorded_at {recorded_at!r}")
    boot: Any = document.get("boot")
    _require(boot is None or is_boot_id(boot), f"boot {boot!r}")
    return PendingEntry(
        session_id=parsed_name[0],
        seq=parsed_name[1],
        state=EntryState(document.get("state")),
        entry=entry_type(**fields),
        pid=pid,
        recorded_at=float(recorded_at),
        boot_id=boot,
    )


def _scan(
    directory: Path, session_id: str | None
) -> tuple[list[PendingEntry], list[RestoreFailure]]:
    entries: list[PendingEntry] = []
    failures: list[RestoreFailure] = []
    if not directory.exists() and not directory.is_symlink():
        return entries, failures
    for name in private_file_names(directory):
        parsed = _parse_file_name(name)
        if session_id is not None and (parsed is None or parsed[0] != session_id):
            continue
        path = directory / name
        try:
            entries.append(_decode(name, read_private_file(path)))
        except (OSError, UnsafePathError, ValueError, TypeError) as error:
            failures.append(RestoreFailure(str(path), None, str(error)))
    entries.sort(key=lambda p: (p.session_id, p.seq))
    return entries, failures


def pending(directory: Path = DEFAULT_JOURNAL_DIR) -> list[PendingEntry]:
    """Entries of every session not yet restored, by session then recording order.

    A session that died leaves its entries here; `hil restore` (or the next
    session) puts them back with `Journal(directory, entry.session_id).restore_all`.
    Raises `JournalCorrupt` naming every file that cannot be read, since
    silently skipping one would lose the device it describes.
    """
    entries, failures = _scan(directory, None)
    if failures:
        raise JournalCorrupt(failures)
    return entries


def _restore_one(restorer: Restorer, entry: JournalEntry) -> None:
    if isinstance(entry, DriverEntry):
        restorer.restore_driver(entry)
    elif isinstance(entry, CpuEntry):
        restorer.restore_cpu(entry)
    elif isinstance(entry, KprobeEntry):
        restorer.restore_kprobe(entry)
    else:
        restorer.restore_affinity(entry)


class Journal:
    """The journal of one session on one machine.  One `Journal` object per session:
    sequence numbers are handed out in memory."""

    def __init__(self, directory: Path, session_id: str, boot_id: str | None = None) -> None:
        """`boot_id` is the machine's current boot (hil.linux.boot): entries are stamped
        with it, and entries of another boot are dropped instead of replayed."""
        if not _SESSION.fullmatch(session_id):
            raise ValueError(
                f"session id {session_id!r}: use 1-64 letters, digits, '_' or '-', "
                "starting with a letter or digit"
            )
        self.directory = directory
        self.session_id = session_id
        self.boot_id = boot_id
        ensure_private_dir(directory)
        existing = [
            parsed[1]
            for parsed in map(_parse_file_name, private_file_names(directory))
            if parsed is not None and parsed[0] == session_id
        ]
        self._next_seq = max(existing, default=0) + 1

    def _write(self, item: PendingEntry, transition: str) -> None:
        kill_point(f"{transition}.before-write")
        write_private_file(
            self.directory / _file_name(item.session_id, item.seq),
            _encode(item),
            checkpoint=lambda step: kill_point(
                f"{transition}.after-temp-write"
                if step == "temp-written"
                else f"{transition}.after-rename"
            ),
        )

    def record(self, entry: JournalEntry) -> JournalHandle:
        """Record the original state; call BEFORE changing the machine.  Durable on return."""
        seq = self._next_seq
        self._next_seq += 1
        intent = PendingEntry(
            self.session_id, seq, EntryState.INTENT, entry, os.getpid(), time.time(), self.boot_id
        )
        self._write(intent, "record")
        return JournalHandle(self.session_id, seq, entry)

    def mark_applied(self, handle: JournalHandle) -> None:
        """Note that the change recorded under `handle` was made."""
        if handle.session_id != self.session_id:
            raise JournalError(
                f"handle of session {handle.session_id!r} given to {self.session_id!r}"
            )
        path = self.directory / _file_name(handle.session_id, handle.seq)
        try:
            current = _decode(path.name, read_private_file(path))
        except FileNotFoundError:
            raise JournalError(f"{path}: no such entry (already restored?)") from None
        applied = replace(current, state=EntryState.APPLIED)
        self._write(applied, "mark-applied")

    def complete(self, handle: JournalHandle) -> None:
        """The session undid this change itself (normal teardown): forget the entry."""
        remove_private_file(self.directory / _file_name(handle.session_id, handle.seq))

    def pending(self) -> list[PendingEntry]:
        """This session's entries not yet restored, in recording order."""
        entries, failures = _scan(self.directory, self.session_id)
        if failures:
            raise JournalCorrupt(failures)
        return entries

    def restore_all(self, restorer: Restorer) -> RestoreReport:
        """Put back everything this session changed; safe to repeat after a crash at any point.

        Entries restore in `RESTORE_ORDER`, newest first within a kind (so a
        device bound twice ends on its first original driver).  A failing
        entry is reported, kept on disk for the next attempt, and does not
        stop the others.  Entries of an earlier boot are removed unreplayed: the
        reboot reset the state they describe, and their irq numbers may now
        name another device's irqs.
        """
        remove_stale_temporaries(self.directory, f"{self.session_id}.")
        entries, failures = _scan(self.directory, self.session_id)
        ordered = sorted(entries, key=lambda p: (RESTORE_ORDER.index(p.entry.kind), -p.seq))
        restored: list[PendingEntry] = []
        dropped: list[PendingEntry] = []
        for item in ordered:
            path = self.directory / _file_name(item.session_id, item.seq)
            if item.from_earlier_boot(self.boot_id):
                try:
                    remove_private_file(path)
                except OSError as error:
                    failures.append(RestoreFailure(str(path), item.entry, f"not removed: {error}"))
                    continue
                dropped.append(item)
                continue
            kill_point("restore.before-one")
            try:
                _restore_one(restorer, item.entry)
            except Exception as error:
                failures.append(
                    RestoreFailure(str(path), item.entry, f"{type(error).__name__}: {error}")
                )
                continue
            kill_point("restore.after-restore-one")
            try:
                remove_private_file(path)
            except OSError as error:
                # Restored but still on disk: the next restore repeats it, which is harmless.
                failures.append(
                    RestoreFailure(str(path), item.entry, f"restored, not removed: {error}")
                )
                continue
            kill_point("restore.after-remove-one")
            restored.append(item)
        return RestoreReport(tuple(restored), tuple(failures), tuple(dropped))


def restore_sessions(
    directory: Path, restorer: Restorer, boot_id: str | None = None
) -> RestoreReport:
    """Restore every session's leftovers, as the start of a session and `hil restore` do;
    `boot_id` is the machine's current boot (entries of earlier boots are dropped)."""
    restored: list[PendingEntry] = []
    failed: list[RestoreFailure] = []
    dropped: list[PendingEntry] = []
    sessions = sorted({p.session_id for p in pending(directory)})
    for session_id in sessions:
        report = Journal(directory, session_id, boot_id).restore_all(restorer)
        restored.extend(report.restored)
        failed.extend(report.failed)
        dropped.extend(report.dropped)
    return RestoreReport(tuple(restored), tuple(failed), tuple(dropped))
