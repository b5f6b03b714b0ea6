"""The compact `trace` field: irq_vectors events per irq, as both sides build it.

The model predicts, and the lab parses from tracefs, the sequence of vector
events a step causes.  Both turn their events into the same tuple of strings
with `compact_trace`, so the comparison is a plain equality:

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
    """A field as tracefs prints it (text, any base) or as the model emits it (an int:
    the model builds a trace on every allocating step, so it skips the round trip)."""
    if type(value) is int:
        return value
    return int(str(value), 0)


def compact_trace(
    events: Iterable[tuple[str, Mapping[str, object]]], irqs: Collection[int] | None = None
) -> tuple[str, ...]:
    """Events (name, fields with at least `irq`) -> the compact form; `irqs` keeps
    only the step's own irqs when the trace also holds other machine activity."""
    ordinal: dict[int, int] = {}
    out: list[str] = []
    for name, fields in events:
        if name not in KEPT_EVENTS:
            continue
        irq = fields["irq"]
        if type(irq) is not int:
            irq = _int(irq)
        if irqs is not None and irq not in irqs:
            continue
        k = ordinal.get(irq)
        if k is None:
            k = ordinal[irq] = len(ordinal)
        if name == "vector_activate":
            out.append(f"{k}:{name}(reserve={_int(fields['reserve'])})")
            continue
        ret = fields.get("ret")
        if ret is not None and ret != 0 and (ret := _int(ret)) != 0:
            out.append(f"{k}:{name}(ret={ret})")
        else:
            out.append(f"{k}:{name}")
    return tuple(out)
