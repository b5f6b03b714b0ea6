"""Kernel log lines around a step, and the ones that mean something went wrong.

An irq delivered to a vector nobody owns, an IR fault or a broken affinity
shows up only in the kernel log, so every step reads the records logged
while it ran (`DmesgWindow`) and classifies them.  Known-benign lines are
allowlisted with a reason, so a report says why a line was ignored.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import TracebackType

_READ_SIZE = 8192


@dataclass(frozen=True)
class KmsgRecord:
    """One /dev/kmsg record: sequence number, time since boot in µs, level, text."""

    seq: int
    timestamp_us: int
    level: int
    text: str


class DmesgError(RuntimeError):
    pass


def parse_kmsg(chunk: str) -> list[KmsgRecord]:
    """Records in /dev/kmsg format: `pri,seq,usec,flags[,...];text`, with
    continuation lines (` KEY=value` dictionary entries) skipped."""
    records = []
    for line in chunk.split("\n"):
        if not line or line.startswith(" "):
            continue
        prefix, semi, text = line.partition(";")
        fields = prefix.split(",")
        if not semi or len(fields) < 3:
            continue
        try:
            pri, seq, usec = int(fields[0]), int(fields[1]), int(fields[2])
        except ValueError:
            continue
        records.append(KmsgRecord(seq=seq, timestamp_us=usec, level=pri & 7, text=text))
    return records


def _read_available(fd: int) -> list[KmsgRecord]:
    """Every record readable now.

    /dev/kmsg gives one whole record per read(); a plain file (a saved log,
    a test tree) gives arbitrary chunks, so the chunks are joined before
    parsing and no record is cut in two.
    """
    chunks: list[bytes] = []
    while True:
        try:
            data = os.read(fd, _READ_SIZE)
        except BlockingIOError:
            break
        except OSError as e:
            if e.errno == errno.EPIPE:  # records overwritten since the last read
                continue
            raise
        if not data:
            break
        chunks.append(data)
    return parse_kmsg(b"".join(chunks).decode("utf-8", errors="replace"))


class DmesgWindow:
    """Kernel log records logged after `mark()`.

    Keeps /dev/kmsg open between `mark()` and `since()`; seeking to the end
    at `mark()` means earlier records are never read again.
    """

    def __init__(self, root: Path = Path("/")) -> None:
        self.path = root / "dev/kmsg"
        self._fd: int | None = None

    def mark(self) -> None:
        self.close()
        try:
            self._fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        except PermissionError as e:
            raise DmesgError(
                f"cannot read {self.path}: permission denied (kernel.dmesg_restrict? run as root)"
            ) from e
        os.lseek(self._fd, 0, os.SEEK_END)

    def since(self) -> list[KmsgRecord]:
        """Records logged since `mark()` (or the previous `since()`)."""
        if self._fd is None:
            raise DmesgError("DmesgWindow.since() called before mark()")
        return _read_available(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> DmesgWindow:
        self.mark()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def read_kmsg(root: Path = Path("/")) -> list[KmsgRecord]:
    """Every record still in the kernel's log buffer."""
    path = root / "dev/kmsg"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except PermissionError as e:
        raise DmesgError(f"cannot read {path}: permission denied") from e
    try:
        return _read_available(fd)
    finally:
        os.close(fd)


def dmesg_text(root: Path = Path("/")) -> str:
    """The kernel log as plain lines, for parsers that search it (IR, APIC mode)."""
    return "\n".join(r.text for r in read_kmsg(root))


def dmesg_text_or_empty(root: Path = Path("/")) -> str:
    """`dmesg_text`, or "" when the log cannot be read (not root, or a fixture tree):
    the facts it adds to are then read without it."""
    try:
        return dmesg_text(root)
    except (DmesgError, OSError):
        return ""


class AnomalyKind(StrEnum):
    NO_IRQ_HANDLER = "no_irq_handler"
    SPURIOUS = "spurious"
    IR_FAULT = "ir_fault"
    AFFINITY_BROKEN = "affinity_broken"
    SET_AFFINITY_FAILED = "set_affinity_failed"
    CPU_DISABLE_REFUSED = "cpu_disable_refused"


@dataclass(frozen=True)
class AllowRule:
    """A benign line: `pattern` (re.search) and the reason it may be ignored."""

    pattern: str
    reason: str


@dataclass(frozen=True)
class Anomaly:
    """A recognised line; `allowed` holds the allowlist reason if it is benign."""

    kind: AnomalyKind
    line: str
    fields: dict[str, int | str] = field(default_factory=dict)
    allowed: str | None = None


_PATTERNS: tuple[tuple[AnomalyKind, re.Pattern[str]], ...] = (
    # 6.x: "__common_interrupt: 1.55 No irq handler for vector"; older: "No irq handler for 1.55"
    (AnomalyKind.NO_IRQ_HANDLER, re.compile(r"(?P<cpu>\d+)\.(?P<vector>\d+) No irq handler for")),
    (AnomalyKind.NO_IRQ_HANDLER, re.compile(r"No irq handler for (?P<cpu>\d+)\.(?P<vector>\d+)")),
    (AnomalyKind.NO_IRQ_HANDLER, re.compile(r"No irq handler for")),
    (
        AnomalyKind.SPURIOUS,
        re.compile(r"Spurious interrupt \(vector 0x(?P<vector>[0-9a-fA-F]+)\) on CPU#(?P<cpu>\d+)"),
    ),
    (
        AnomalyKind.IR_FAULT,
        re.compile(
            r"DMAR: \[INTR-REMAP\].*?Request device \[(?P<source>[^\]]+)\]"
            r".*?fault index 0x(?P<index>[0-9a-fA-F]+)"
            r"(?:.*?fault reason 0x(?P<reason>[0-9a-fA-F]+))?"
        ),
    ),
    (AnomalyKind.IR_FAULT, re.compile(r"DMAR: \[INTR-REMAP\]")),
    (
        AnomalyKind.AFFINITY_BROKEN,
        re.compile(r"irq (?P<irq>\d+): Affinity broken due to vector space exhaustion"),
    ),
    (
        AnomalyKind.SET_AFFINITY_FAILED,
        re.compile(r"IRQ ?(?P<irq>\d+): set affinity failed\((?P<error>-?\d+)\)"),
    ),
    (
        AnomalyKind.CPU_DISABLE_REFUSED,
        re.compile(
            r"CPU (?P<cpu>\d+) has (?P<vectors>\d+) vectors, (?P<available>\d+) available\. "
            r"Cannot disable CPU"
        ),
    ),
    (AnomalyKind.CPU_DISABLE_REFUSED, re.compile(r"Cannot disable CPU")),
)
_HEX_FIELDS = frozenset({"vector", "index", "reason"})


def _fields(kind: AnomalyKind, m: re.Match[str]) -> dict[str, int | str]:
    result: dict[str, int | str] = {}
    for name, value in m.groupdict().items():
        if value is None:
            continue
        if name == "source":
            result[name] = value
        elif name in _HEX_FIELDS and kind in (AnomalyKind.SPURIOUS, AnomalyKind.IR_FAULT):
            result[name] = int(value, 16)
        else:
            result[name] = int(value)
    return result


def classify(lines: Iterable[str], allowlist: Sequence[AllowRule] = ()) -> list[Anomaly]:
    """Recognise the interrupt anomalies in `lines`, in order, marking allowlisted ones."""
    compiled = [(re.compile(rule.pattern), rule.reason) for rule in allowlist]
    found = []
    for line in lines:
        for kind, pattern in _PATTERNS:
            m = pattern.search(line)
            if m is None:
                continue
            allowed = next((reason for rx, reason in compiled if rx.search(line)), None)
            found.append(Anomaly(kind=kind, line=line, fields=_fields(kind, m), allowed=allowed))
            break
    return found


def unexpected(anomalies: Iterable[Anomaly]) -> list[Anomaly]:
    """The anomalies no allowlist rule excused."""
    return [a for a in anomalies if a.allowed is None]
