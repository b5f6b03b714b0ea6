"""The compact form of `irq_vectors` trace events that predictions and observations share.

Irq numbers and timestamps are dropped: the model knows irq numbers only
relatively, and the order of events already says which vector they
concern.  `vector_config` repeats what `vector_update` says and is dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

KEPT = (
    "vector_reserve",
    "vector_activate",
    "vector_deactivate",
    "vector_alloc",
    "vector_update",
    "vector_clear",
    "vector_teardown",
)


def compact_trace(events: Iterable[tuple[str, Mapping[str, int]]]) -> tuple[str, ...]:
    out = []
    for name, fields in events:
        if name not in KEPT:
            continue
        short = name.removeprefix("vector_")
        if name in ("vector_activate", "vector_deactivate"):
            short += f"(reserve={fields.get('reserve', 0)})"
        out.append(short)
    return tuple(out)
