"""/sys/kernel/irq/N: the cheap way to read a few irqs.

/proc/interrupts prints every irq for every online CPU; on a large machine
that is megabytes per snapshot.  A step usually watches a handful of irqs,
and these per-irq files give the same counts (for all possible CPUs,
indexed by CPU number) plus chip, hwirq and handler names.

`per_cpu_count` lists one count per *possible* CPU in order, which is the
CPU number when possible CPUs are 0..n-1 (as on every x86 machine we know).
The kernel fills at most one page, so with several hundred busy CPUs the
list can be cut short; CPUs past the cut are then simply absent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from hil.linux.sysfile import read_optional, read_optional_record

_UINT64_MAX = (1 << 64) - 1


@dataclass(frozen=True)
class IrqInfo:
    """One irq from sysfs; fields the kernel did not provide are None (or empty)."""

    irq: int
    per_cpu: dict[int, int]
    chip_name: str | None
    hwirq: int | None
    name: str | None
    actions: tuple[str, ...]

    @property
    def total(self) -> int:
        return sum(self.per_cpu.values())


class SysIrq:
    def __init__(self, root: Path = Path("/")) -> None:
        self.base = root / "sys/kernel/irq"
        self._base = str(self.base)

    def read(self, irq: int) -> IrqInfo | None:
        """The irq's state, or None if no irq `irq` exists (never allocated or freed)."""
        path = self.base / str(int(irq))
        per_cpu = self.per_cpu(irq)
        if per_cpu is None:
            return None
        hwirq = read_optional(path / "hwirq")
        name = read_optional(path / "name")
        return IrqInfo(
            irq=irq,
            per_cpu=per_cpu,
            chip_name=read_optional(path / "chip_name") or None,
            hwirq=int(hwirq) if hwirq and hwirq.isdigit() else None,
            name=name or None,
            actions=self.actions(irq),
        )

    def per_cpu(self, irq: int) -> dict[int, int] | None:
        """Only the counts, CPU -> count, or None if the irq does not exist.

        A step reads its irqs' counts twice; one file instead of five matters
        in a TCG guest, where every open costs about half a millisecond.
        """
        counts = read_optional_record(f"{self._base}/{int(irq)}/per_cpu_count")
        return None if counts is None else dict(enumerate(_count_list(counts)))

    def nonzero_counts(self, irq: int) -> dict[int, int] | None:
        """Like `per_cpu`, without the CPUs whose count is 0; shared, read only.

        What a step's deltas need.  A watched irq's line on a host of hundreds
        of CPUs is mostly zeros, and a line read before is not read again: in
        a step most watched irqs receive nothing, so their lines are the same
        text before and after (and a dict entry per CPU of every line made
        observing a step grow with the machine, benchmark 3).
        """
        line = read_optional_record(f"{self._base}/{int(irq)}/per_cpu_count")
        return None if line is None else _nonzero_counts(line)

    def actions(self, irq: int) -> tuple[str, ...]:
        """The names of the handlers requested on the irq (none: not requested)."""
        actions = read_optional_record(f"{self._base}/{int(irq)}/actions")
        return tuple(a for a in actions.split(",") if a) if actions else ()

    def read_many(self, irqs: Iterable[int]) -> dict[int, IrqInfo]:
        """The irqs that exist among `irqs`, keyed by number."""
        found = {}
        for irq in irqs:
            info = self.read(irq)
            if info is not None:
                found[irq] = info
        return found


@lru_cache(maxsize=256)
def _nonzero_counts(line: str) -> dict[int, int]:
    return {cpu: n for cpu, n in enumerate(_count_list(line)) if n}


def _count_list(text: str) -> list[int]:
    """The numbers of a `per_cpu_count` line, skipping any field that is not one.

    A plain line (digits and single commas) of many CPUs is converted by
    numpy in one call: with hundreds of CPUs, an int() per field is most of
    an irq's read.  A short one costs less in plain Python than numpy's own
    setup (a 4-CPU guest reads twenty of them per step).
    """
    data = text.encode("ascii", "replace")
    if _is_plain(data):
        if data.count(b",") < NUMPY_FROM_FIELDS:
            return [int(f) for f in data.split(b",")]
        values = np.fromstring(data, dtype=np.uint64, sep=",")
        if not (values == _UINT64_MAX).any():  # numpy saturates what does not fit
            counts: list[int] = values.tolist()
            return counts
    return [int(f) for f in text.split(",") if f.strip().isdigit()]


NUMPY_FROM_FIELDS = 32


def _is_plain(data: bytes) -> bool:
    """Digits and single commas, a digit at each end: what numpy reads exactly.

    Deleting the allowed bytes and finding nothing left is one pass in C,
    where a str.isdigit() of the line costs more than its conversion.
    """
    return (
        data[:1].isdigit()
        and data[-1:].isdigit()
        and b",," not in data
        and not data.translate(None, b"0123456789,")
    )
