"""The kernel's own account of vector assignment: `irq_vectors` trace events.

Without GENERIC_IRQ_DEBUGFS (Debian) the trace is the only place the real
vector number and CPU of an irq appear.  Each session traces in its own
tracefs instance so parallel sessions and the system's own tracing do not
disturb each other.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from hil.linux.sysfile import write_attr

VECTOR_EVENTS = frozenset(
    {
        "vector_config",
        "vector_update",
        "vector_clear",
        "vector_reserve",
        "vector_reserve_managed",
        "vector_alloc",
        "vector_alloc_managed",
        "vector_activate",
        "vector_deactivate",
        "vector_teardown",
        "vector_setup",
        "vector_free_moved",
    }
)
_INSTANCE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_TRACE_LINE = re.compile(
    r"^\s*(?P<task>.*?)-(?P<pid>\d+)\s+(?:\(\s*[-\d]+\)\s+)?\[(?P<cpu>\d+)\]\s+"
    r"(?:[^\s\d]\S{3,4}\s+)?(?P<ts>\d+\.\d+):\s+(?P<event>\w+):\s*(?P<body>.*)$"
)
_FIELD = re.compile(r"(\w+)=(\S+)")
_LOST = re.compile(r"\[LOST (\d+) EVENTS\]")


@dataclass(frozen=True)
class VectorEvent:
    """One trace record; `fields` holds every `key=value` as an int (hex accepted)."""

    timestamp: float
    event: str
    fields: dict[str, int]
    cpu: int = field(default=-1, compare=False)
    task: str = field(default="", compare=False)

    @property
    def irq(self) -> int | None:
        return self.fields.get("irq")


@dataclass(frozen=True)
class TraceLog:
    """Parsed trace: the events, events the ring buffer dropped, and lines skipped."""

    events: tuple[VectorEvent, ...]
    lost_events: int = 0
    skipped: tuple[str, ...] = ()

    def for_irq(self, irq: int) -> list[VectorEvent]:
        return [e for e in self.events if e.fields.get("irq") == irq]


@dataclass(frozen=True)
class TraceLine:
    """One event line of a `trace` file, split but not interpreted."""

    task: str
    pid: int
    cpu: int
    timestamp: float
    event: str
    body: str

    def int_fields(self) -> dict[str, int]:
        """Every `key=value` of the body as an int (hex accepted); ValueError if one is not."""
        return _int_fields(self.body)


def _int_fields(body: str) -> dict[str, int]:
    return {k: int(v, 0) for k, v in _FIELD.findall(body)}


def trace_line(line: str) -> TraceLine | None:
    """Split one event line; None for anything else (headers, garbage)."""
    m = _TRACE_LINE.match(line)
    if m is None:
        return None
    return TraceLine(
        task=m["task"].strip(),
        pid=int(m["pid"]),
        cpu=int(m["cpu"]),
        timestamp=float(m["ts"]),
        event=m["event"],
        body=m["body"],
    )


def parse_trace(text: str) -> TraceLog:
    """Read `irq_vectors` and `irq_matrix` events from the text of a `trace` file.

    The lines are read straight from the regex match, without a `TraceLine`
    each: enabling ten vectors writes about 170 lines, and their parse was
    half of that step in a TCG guest.
    """
    events: list[VectorEvent] = []
    skipped: list[str] = []
    lost = 0
    match_line = _TRACE_LINE.match
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if "LOST" in line and (lost_match := _LOST.search(line)) is not None:
            lost += int(lost_match[1])
            continue
        m = match_line(line)
        if m is None:
            skipped.append(line)
            continue
        event = m["event"]
        if event not in VECTOR_EVENTS and not event.startswith("irq_matrix_"):
            continue
        try:
            fields = _int_fields(m["body"])
        except ValueError:
            skipped.append(line)
            continue
        # Positional: keywords make a frozen dataclass markedly slower to build.
        events.append(VectorEvent(float(m["ts"]), event, fields, int(m["cpu"]), m["task"].strip()))
    return TraceLog(events=tuple(events), lost_events=lost, skipped=tuple(skipped))


class TracefsError(RuntimeError):
    pass


def tracing_dir(root: Path) -> Path:
    """Where tracefs is mounted under `root` (its own mount, else inside debugfs)."""
    for candidate in ("sys/kernel/tracing", "sys/kernel/debug/tracing"):
        if (root / candidate / "events").is_dir():
            return root / candidate
    return root / "sys/kernel/tracing"


class Tracefs:
    """A tracefs instance (or the top-level buffer when `instance` is None)."""

    def __init__(self, root: Path = Path("/"), instance: str | None = None) -> None:
        if instance is not None and _INSTANCE_NAME.fullmatch(instance) is None:
            raise ValueError(f"bad trace instance name {instance!r} (letters, digits, _ . -)")
        self.tracing = tracing_dir(root)
        self.instance = instance
        self.dir = self.tracing / "instances" / instance if instance else self.tracing
        self._pipe: int | None = None

    def available(self) -> bool:
        """True if tracefs is mounted and the kernel has the irq_vectors events."""
        return (self.tracing / "events/irq_vectors").is_dir()

    def create(self) -> None:
        """Create the instance directory (the kernel fills it with its own files)."""
        if self.instance is None:
            return
        try:
            os.mkdir(self.dir)
        except FileExistsError:
            pass
        except OSError as e:
            raise TracefsError(f"cannot create trace instance {self.dir}: {e.strerror}") from e

    def remove(self) -> None:
        """Remove the instance; tracefs frees its buffers on rmdir."""
        self._close_pipe()
        if self.instance is None:
            return
        try:
            os.rmdir(self.dir)
        except FileNotFoundError:
            pass
        except OSError as e:
            raise TracefsError(f"cannot remove trace instance {self.dir}: {e.strerror}") from e

    def _event_switches(self) -> list[Path]:
        """The `enable` files of the vector events, one each.

        Not the whole irq_vectors group: it also holds the entry and exit events
        of every local timer tick, IPI and irq_work, hundreds per second on an
        idle machine.  A guest under TCG spent a third of each step's observation
        writing and then parsing those lines (2026-12-03, `hil lab up` with
        HIL_AGENT_PROFILE=1), for nothing a vector event does not already say.
        Nor the irq_matrix group: its events name no irq, so no step reads
        them, and they doubled the lines of every allocating step.
        """
        vectors = self.dir / "events/irq_vectors"
        switches = [vectors / name / "enable" for name in sorted(VECTOR_EVENTS)]
        switches = [path for path in switches if path.exists()]
        if not switches:
            raise TracefsError(f"no vector events in {vectors} (expected {sorted(VECTOR_EVENTS)})")
        return switches

    def _set_enabled(self, on: bool) -> None:
        for switch in self._event_switches():
            try:
                write_attr(switch, "1\n" if on else "0\n")
            except OSError as e:
                raise TracefsError(f"cannot write {switch}: {e.strerror}") from e

    def enable(self) -> None:
        """Enable the vector events and switch tracing on."""
        self._set_enabled(True)
        write_attr(self.dir / "tracing_on", "1\n")

    def disable(self) -> None:
        self._set_enabled(False)

    def clear(self) -> None:
        """Empty the instance's buffer (truncating `trace` does that)."""
        write_attr(self.dir / "trace", "")

    def drain(self) -> TraceLog:
        """The `irq_vectors` and `irq_matrix` events since the last drain."""
        return parse_trace(self.drain_text())

    def drain_text(self) -> str:
        """The text of every event since the last drain, consumed from `trace_pipe`.

        Opening `trace` waits for an RCU grace period per read and the buffer
        must then be truncated; the pipe, opened once and read without
        blocking, hands over each event exactly once for the cost of a read.
        The text goes to every parser of the instance's events (the vector
        events here, the kprobes of `hil.linux.kprobes`).
        """
        if self._pipe is None:
            self._pipe = os.open(self.dir / "trace_pipe", os.O_RDONLY | os.O_NONBLOCK)
        chunks: list[bytes] = []
        while True:
            try:
                chunk = os.read(self._pipe, 1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks).decode(errors="replace")

    def _close_pipe(self) -> None:
        if self._pipe is not None:
            os.close(self._pipe)
            self._pipe = None
