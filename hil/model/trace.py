"""The compact `trace` field: irq_vectors events per irq, as both sides build it.

The model predicts, and the lab parses from tracefs, the sequence of vector
events a step causes.  Both turn their events into the same tuple of strings
with one `TraceBuilder` (the lab through `compact_trace`, the model event by
event), so the comparison is a plain equality:

    "<k>:<event>[(<detail>)]"

`k` numbers the irqs in the order they first appear in the step (so absolute
irq numbers, which may be unknown to the model, do not matter).  Only the
events below are kept; `vector_config` and `vector_setup` are dropped because
they repeat what the kept events already say.  `vector_activate` carries
`reserve=0|1` (placeholder or real vector); `vector_alloc` and
`vector_reserve` carry `ret=<n>` only when they failed.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping

KEPT_EVENTS = frozenset(
    {
        "vector_reserve",
        "vector_reserve_managed",
        "vector_activate",
        "vector_deactivate",
        "vector_alloc",
        "vector_alloc_managed",
        "vector_update",
        "vector_clear",
        "vector_teardown",
        "vector_free_moved",
    }
)

_LINE = re.compile(r"\s(?P<event>vector_\w+):\s(?P<fields>.*)$")
_FIELD = re.compile(r"(\w+)=(\S+)")


def parse_event(line: str) -> tuple[str, dict[str, str]] | None:
    """One tracefs line ("... vector_alloc: irq=41 vector=37 reserved=1 ret=0")."""
    match = _LINE.search(line.rstrip())
    if match is None:
        return None
    return match["event"], dict(_FIELD.findall(match["fields"]))


def _int(value: object) -> int:
    """A field as tracefs prints it (text, any base), or already an int."""
    if type(value) is int:
        return value
    return int(str(value), 0)


def event_text(name: str, reserve: int = 0, ret: int = 0) -> str:
    """An event as a line shows it after its `<k>:`: `reserve` is shown for
    `vector_activate` only, `ret` only when nonzero (a failed allocation or
    reservation)."""
    if name == "vector_activate":
        return f"{name}(reserve={reserve})"
    if ret:
        return f"{name}(ret={ret})"
    return name


class TraceBuilder:
    """The compact form built one event at a time.

    `compact_trace` feeds it the events it keeps; the model, which builds a trace
    on every allocating step, adds its events as it makes them, so it keeps no
    (name, fields) records and makes no second pass over them.  Events come as
    their text (`event_text`): the model's are constants, formatted once."""

    __slots__ = ("_prefix", "lines")

    def __init__(self) -> None:
        self._prefix: dict[int, str] = {}
        """Each irq's `<k>:`, formatted once: a step adds several events per irq."""
        self.lines: list[str] = []

    def clear(self) -> None:
        """Empty again, for the next step's events (the model keeps one builder: a class
        call costs more than emptying it)."""
        self._prefix.clear()
        self.lines.clear()

    def add(self, irq: int, event: str) -> None:
        """One kept event of irq `irq`, `event` as `event_text` writes it."""
        prefix = self._prefix.get(irq)
        if prefix is None:
            k = len(self._prefix)
            prefix = self._prefix[irq] = _PREFIXES[k] if k < len(_PREFIXES) else f"{k}:"
        self.lines.append(prefix + event)


_PREFIXES = tuple(f"{k}:" for k in range(64))
"""The first irqs' `<k>:`, formatted once: an f-string of an int is a format call and a
join, and every allocating step starts a trace (a step has a few irqs at most)."""


def compact_trace(
    events: Iterable[tuple[str, Mapping[str, object]]], irqs: Collection[int] | None = None
) -> tuple[str, ...]:
    """Events (name, fields with at least `irq`) -> the compact form; `irqs` keeps
    only the step's own irqs when the trace also holds other machine activity."""
    trace = TraceBuilder()
    for name, fields in events:
        if name not in KEPT_EVENTS:
            continue
        irq = _int(fields["irq"])
        if irqs is not None and irq not in irqs:
            continue
        reserve = _int(fields["reserve"]) if name == "vector_activate" else 0
        ret = fields.get("ret")
        trace.add(irq, event_text(name, reserve, 0 if ret is None else _int(ret)))
    return tuple(trace.lines)
