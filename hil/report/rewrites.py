"""Who rewrote what: the kernel's message and IRTE writes of each step, as a table.

When a step's message or vector disagrees with the model, the first question
is who wrote it and when; the lab's kprobes answer it (`KernelWrites` in each
observed step).  A write names an irq (a message write) or an IRTE (an IRTE
write); the table puts the device vector beside it, taken from the views the
run observed up to that step, so a write of a vector freed in the same step
(`disable`) still shows whose it was.  An IRTE write's old value is the
previous write of the same entry in the run, if there was one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hil.model.vocabulary import ApicMode, IrteWrite, MessageWrite, MsiMessage, StepOutcome
from hil.scenario.runner import RunResult

_X2APIC = (ApicMode.X2APIC_PHYSICAL, ApicMode.X2APIC_CLUSTER)
_HEADER = f"{'time':>14}  {'who':<24} {'irq':>5}  {'vector':<20} {'write':<10} old -> new"


@dataclass
class _Seen:
    """What the run had shown up to a step: irq and IRTE owners, each IRTE's last write."""

    irq_owner: dict[int, str] = field(default_factory=dict)
    irte_owner: dict[int, tuple[str, int | None]] = field(default_factory=dict)
    irte_last: dict[int, IrteWrite] = field(default_factory=dict)

    def learn(self, observed: StepOutcome) -> None:
        for view in observed.vectors:
            if view.irq is not None:
                self.irq_owner[view.irq] = view.key
            if view.message is not None and view.message.irte is not None:
                self.irte_owner[view.message.irte] = (view.key, view.irq)


def rewrite_tables(result: RunResult) -> dict[int, str]:
    """Per step number, the table of the kernel writes it recorded (steps without any
    are left out)."""
    x2apic = result.calibration.apic_mode in _X2APIC
    seen = _Seen()
    tables: dict[int, str] = {}
    for record in result.records:
        seen.learn(record.observed)
        evidence = record.observed.kernel_writes
        if evidence is None or not evidence.writes:
            continue
        rows = [_row(write, seen, x2apic) for write in evidence.writes]
        if evidence.lost_events:
            rows.append(f"(the trace dropped {evidence.lost_events} events: writes may be missing)")
        tables[record.number] = "\n".join([_HEADER, *rows])
    return tables


def rewrites_missing(result: RunResult) -> tuple[str, ...]:
    """Why writes went unrecorded, each reason once in first-seen order; empty when
    the probes ran throughout, or when the run predates the probes."""
    reasons: dict[str, None] = {}
    for record in result.records:
        if record.observed.kernel_writes is not None:
            reasons.update(dict.fromkeys(record.observed.kernel_writes.missing))
    return tuple(reasons)


def _row(write: MessageWrite | IrteWrite, seen: _Seen, x2apic: bool) -> str:
    if isinstance(write, MessageWrite):
        irq: int | None = write.irq
        owner = seen.irq_owner.get(write.irq, "?")
        what = "message"
        change = f"{_message(write.previous)} -> {_message(write.message)}"
    else:
        owner, irq = seen.irte_owner.get(write.entry, ("?", None))
        what = f"IRTE {write.entry}"
        old = seen.irte_last.get(write.entry)
        before = "?" if old is None else _irte(old, x2apic)
        change = f"{before} -> {_irte(write, x2apic)}"
        seen.irte_last[write.entry] = write
    shown_irq = "-" if irq is None else str(irq)
    return (
        f"{write.timestamp:14.6f}  {write.who:<24} {shown_irq:>5}  {owner:<20} {what:<10} {change}"
    )


def _message(message: MsiMessage) -> str:
    if message.is_zero:
        return "(none)"
    if message.irte is not None:
        return f"{message} (IRTE {message.irte})"
    return f"{message} (vector {message.vector:#x}, dest {message.destination})"


def _irte(write: IrteWrite, x2apic: bool) -> str:
    if not write.present:
        return "(not present)"
    if write.posted:
        return f"posted, vector {write.vector:#x}"
    return f"vector {write.vector:#x}, dest {write.destination(x2apic)}"
