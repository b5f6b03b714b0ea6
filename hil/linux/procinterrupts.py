"""/proc/interrupts: per-CPU delivery counts of every requested irq.

Delivery is observed as the rise of these counters between two snapshots,
so the parser must read every kernel's spelling of a row exactly (6.2+
per-device chips `IR-PCI-MSIX-0000:00:0a.0   0-edge`, the older global
`IR-PCI-MSI 163840-edge`), follow CPU hotplug (an offline CPU's column is
simply absent) and never crash on a line it does not understand: a skipped
line is recorded as a warning so a report can show it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

VfioKind = Literal["msi", "msix", "intx"]

# Summary rows that print one machine-wide total instead of a column per CPU.
SINGLE_TOTAL_ROWS = frozenset({"ERR", "MIS"})
_HWIRQ_TRIGGER = re.compile(r"(\d*)-([A-Za-z][\w-]*)|(\d+)")
_PER_DEVICE_CHIP = re.compile(r"(?:v?IR-)?PCI-MSIX?-([0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7])")
_VFIO_ACTION = re.compile(
    r"vfio-(?:(?P<kind>msix?)\[(?P<entry>\d+)\]|(?P<intx>intx))"
    r"\((?P<bdf>[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7])\)"
)


@dataclass(frozen=True)
class VfioAction:
    """What a vfio-pci handler name says: which vector of which device."""

    kind: VfioKind
    entry: int | None
    bdf: str


def parse_vfio_action(name: str) -> VfioAction | None:
    """Read `vfio-msix[3](0000:00:0a.0)`, `vfio-msi[0](…)` or `vfio-intx(…)`; None otherwise."""
    m = _VFIO_ACTION.fullmatch(name.strip())
    if m is None:
        return None
    if m["intx"]:
        return VfioAction(kind="intx", entry=None, bdf=m["bdf"])
    kind: VfioKind = "msix" if m["kind"] == "msix" else "msi"
    return VfioAction(kind=kind, entry=int(m["entry"]), bdf=m["bdf"])


@dataclass(frozen=True)
class IrqRow:
    """One numbered irq.  `hwirq`/`trigger` are None where the kernel printed none.

    The counts are kept as a tuple aligned with `cpus` (the table's online
    CPUs): a dict per row would cost most of the parse time and several
    times the memory on a machine with hundreds of CPUs.  `counts` gives
    the CPU -> count mapping.
    """

    irq: int
    cpus: tuple[int, ...]
    values: tuple[int, ...]
    chip: str
    hwirq: int | None
    trigger: str | None
    actions: tuple[str, ...]

    @property
    def counts(self) -> dict[int, int]:
        return dict(zip(self.cpus, self.values, strict=True))

    def count(self, cpu: int) -> int:
        """Count on `cpu`; 0 for a CPU without a column (offline when read)."""
        try:
            return self.values[self.cpus.index(cpu)]
        except ValueError:
            return 0

    @property
    def total(self) -> int:
        return sum(self.values)

    @property
    def chip_device(self) -> str | None:
        """The BDF a 6.2+ per-device MSI chip name carries, else None."""
        m = _PER_DEVICE_CHIP.fullmatch(self.chip)
        return m[1] if m else None

    @property
    def vfio(self) -> VfioAction | None:
        """The first action that is a vfio-pci handler, read as `VfioAction`."""
        for action in self.actions:
            parsed = parse_vfio_action(action)
            if parsed is not None:
                return parsed
        return None


@dataclass(frozen=True)
class SummaryRow:
    """An architecture counter row (NMI, LOC, SPU, ERR, ...).

    ERR and MIS print a single machine-wide number: their `counts` is empty
    and `total` holds it.  For the others `total` is the sum of `counts`.
    """

    name: str
    counts: dict[int, int]
    description: str
    total: int


@dataclass(frozen=True)
class InterruptTable:
    cpus: tuple[int, ...]
    irqs: dict[int, IrqRow]
    summaries: dict[str, SummaryRow]
    warnings: tuple[str, ...] = field(default=(), compare=False)

    def row(self, irq: int) -> IrqRow | None:
        return self.irqs.get(irq)

    def summary(self, name: str) -> SummaryRow | None:
        return self.summaries.get(name)

    def by_action(self, pattern: str | re.Pattern[str]) -> list[IrqRow]:
        """Rows with an action matching the regular expression `pattern` (re.search)."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        return [r for r in self.irqs.values() if any(regex.search(a) for a in r.actions)]

    @property
    def is_remapped(self) -> bool:
        """True if any chip is an interrupt-remapping one (`IR-`, or `vIR-` on 6.2-6.9)."""
        return any(r.chip.startswith(("IR-", "vIR-")) for r in self.irqs.values())

    def delta(self, earlier: InterruptTable) -> dict[int, dict[int, int]]:
        """Per-irq, per-CPU rise of the counts since `earlier`.

        An irq or CPU column absent from `earlier` counts from zero: an irq
        only appears once requested, a CPU column once the CPU is online.
        """
        result: dict[int, dict[int, int]] = {}
        for irq, row in self.irqs.items():
            before = earlier.irqs.get(irq)
            if before is not None and before.cpus == row.cpus:
                result[irq] = {
                    cpu: n - o
                    for cpu, n, o in zip(row.cpus, row.values, before.values, strict=True)
                }
            else:
                old = before.counts if before is not None else {}
                result[irq] = {cpu: n - old.get(cpu, 0) for cpu, n in row.counts.items()}
        return result

    def summary_delta(self, earlier: InterruptTable, name: str) -> int:
        """Rise of a summary row's total since `earlier` (0 if the row is absent)."""
        now, before = self.summaries.get(name), earlier.summaries.get(name)
        return (now.total if now else 0) - (before.total if before else 0)


class ProcInterrupts:
    """Parser of /proc/interrupts text."""

    @staticmethod
    def parse(text: str, irqs: Iterable[int] | None = None) -> InterruptTable:
        """Parse the whole file, or only the numbered rows in `irqs` (summary rows always).

        Reading only the rows a step watches skips converting the counts of
        every other irq, which dominates on machines with hundreds of CPUs.
        """
        wanted = None if irqs is None else frozenset(irqs)
        lines = text.splitlines()
        warnings: list[str] = []
        header = lines[0] if lines else ""
        cpu_tokens = header.split()
        if not cpu_tokens or not all(t.startswith("CPU") and t[3:].isdigit() for t in cpu_tokens):
            warnings.append(f"no CPU header line, got {header[:80]!r}")
            return InterruptTable(cpus=(), irqs={}, summaries={}, warnings=tuple(warnings))
        cpus = tuple(int(t[3:]) for t in cpu_tokens)
        ncpus = len(cpus)
        rows: dict[int, IrqRow] = {}
        summaries: dict[str, SummaryRow] = {}
        for lineno, line in enumerate(lines[1:], start=2):
            label, colon, rest = line.partition(":")
            label = label.strip()
            if not colon or not label:
                if line.strip():
                    warnings.append(f"line {lineno}: no 'label:' prefix: {line[:80]!r}")
                continue
            if label.isdigit():
                irq = int(label)
                if wanted is not None and irq not in wanted:
                    continue
                row = _irq_row(irq, rest, cpus, ncpus)
                if row is None:
                    warnings.append(f"line {lineno}: unreadable irq row: {line[:80]!r}")
                else:
                    rows[irq] = row
            else:
                summary = _summary_row(label, rest, cpus, ncpus)
                if summary is None:
                    warnings.append(f"line {lineno}: unreadable summary row: {line[:80]!r}")
                else:
                    summaries[label] = summary
        return InterruptTable(cpus=cpus, irqs=rows, summaries=summaries, warnings=tuple(warnings))


def _irq_row(irq: int, rest: str, cpus: tuple[int, ...], ncpus: int) -> IrqRow | None:
    parts = rest.split(None, ncpus + 2)
    if len(parts) <= ncpus:
        return None
    try:
        values = tuple(map(int, parts[:ncpus]))
    except ValueError:
        return None
    chip = parts[ncpus]
    tail = parts[ncpus + 1 :]
    hwirq: int | None = None
    trigger: str | None = None
    if tail:
        m = _HWIRQ_TRIGGER.fullmatch(tail[0])
        if m is not None:
            digits = m[1] if m[1] is not None else m[3]
            hwirq = int(digits) if digits else None
            trigger = m[2]
            tail = tail[1:]
    actions_text = " ".join(tail)
    actions = tuple(a.strip() for a in actions_text.split(", ")) if actions_text else ()
    return IrqRow(
        irq=irq,
        cpus=cpus,
        values=values,
        chip=chip,
        hwirq=hwirq,
        trigger=trigger,
        actions=actions,
    )


def _summary_row(name: str, rest: str, cpus: tuple[int, ...], ncpus: int) -> SummaryRow | None:
    if name in SINGLE_TOTAL_ROWS:
        parts = rest.split(None, 1)
        if not parts or not parts[0].isdigit():
            return None
        description = parts[1].strip() if len(parts) > 1 else ""
        return SummaryRow(name=name, counts={}, description=description, total=int(parts[0]))
    parts = rest.split(None, ncpus)
    if len(parts) < ncpus:
        return None
    try:
        values = list(map(int, parts[:ncpus]))
    except ValueError:
        return None
    description = parts[ncpus].strip() if len(parts) > ncpus else ""
    counts = dict(zip(cpus, values, strict=True))
    return SummaryRow(name=name, counts=counts, description=description, total=sum(values))
