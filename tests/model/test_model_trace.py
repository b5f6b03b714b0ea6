"""The compact trace format both sides build."""

from __future__ import annotations

from hil.model.trace import compact_trace, parse_event

LINES = """\
 python3-177 [001] d..1.  8.224243: vector_reserve: irq=41 ret=0
 python3-177 [001] d..1.  8.224342: vector_config: irq=41 vector=239 cpu=0 apicdest=0x00000000
 python3-177 [001] .....  8.224428: vector_setup: irq=41 is_legacy=0 ret=0
 python3-177 [001] .....  8.224549: vector_activate: irq=41 is_managed=0 can_reserve=1 reserve=1
 python3-177 [001] d..1.  8.224806: vector_reserve: irq=42 ret=0
 python3-177 [001] d..1.  8.226016: vector_activate: irq=41 is_managed=0 can_reserve=1 reserve=0
 python3-177 [001] d..2.  8.226087: vector_alloc: irq=41 vector=37 reserved=1 ret=0
 python3-177 [001] d..2.  8.226194: vector_update: irq=41 vector=37 cpu=3 prev_vector=0 prev_cpu=0
 python3-177 [001] d..2.  8.226200: vector_alloc: irq=42 vector=-28 reserved=1 ret=-28
 python3-177 [001] d..2.  8.226300: vector_free_moved: irq=7 cpu=1 vector=34 is_managed=0
"""


def test_parse_event_reads_name_and_fields() -> None:
    event = parse_event(LINES.splitlines()[6])
    assert event == ("vector_alloc", {"irq": "41", "vector": "37", "reserved": "1", "ret": "0"})
    assert parse_event("# tracer: nop") is None


def test_compact_form_numbers_irqs_by_first_appearance() -> None:
    events = [e for e in map(parse_event, LINES.splitlines()) if e]
    assert compact_trace(events) == (
        "0:vector_reserve",
        "0:vector_activate(reserve=1)",
        "1:vector_reserve",
        "0:vector_activate(reserve=0)",
        "0:vector_alloc",
        "0:vector_update",
        "1:vector_alloc(ret=-28)",
        "2:vector_free_moved",
    )


def test_compact_form_can_keep_only_the_steps_irqs() -> None:
    events = [e for e in map(parse_event, LINES.splitlines()) if e]
    assert compact_trace(events, irqs={41, 42})[-1] == "1:vector_alloc(ret=-28)"
