"""/proc/irq/N: reading and writing an irq's affinity.

The errno of an affinity write is an observation the model predicts
(EINVAL for a mask with no online CPU, EPERM for managed irqs, ENOSPC with
IR when vectors run out), so `set_affinity` returns it as data instead of
raising.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from hil.linux.cpulist import format_cpulist, parse_cpulist
from hil.linux.sysfile import errno_name, read_record, write_attr


@dataclass(frozen=True)
class AffinityWrite:
    """Result of one write to smp_affinity_list: errno None means the kernel accepted it."""

    irq: int
    written: str
    errno: str | None

    @property
    def ok(self) -> bool:
        return self.errno is None


class ProcIrq:
    def __init__(self, root: Path = Path("/")) -> None:
        self.base = root / "proc/irq"
        self._base = str(self.base)

    def _file(self, irq: int, name: str) -> str:
        """A string, not a Path: joining Paths costs more than the read in a TCG guest."""
        if irq < 0:
            raise ValueError(f"irq number must not be negative: {irq}")
        return f"{self._base}/{int(irq)}/{name}"

    def set_affinity(self, irq: int, cpus: Iterable[int]) -> AffinityWrite:
        """Write `cpus` to /proc/irq/N/smp_affinity_list.

        A missing /proc/irq/N (the irq was never requested) is reported as
        ENOENT like any other errno.
        """
        text = format_cpulist(cpus)
        try:
            write_attr(self._file(irq, "smp_affinity_list"), text + "\n")
        except OSError as e:
            return AffinityWrite(irq=irq, written=text, errno=errno_name(e))
        return AffinityWrite(irq=irq, written=text, errno=None)

    def affinity(self, irq: int) -> tuple[int, ...]:
        """The requested affinity (what was asked, not where it is delivered)."""
        return parse_cpulist(read_record(self._file(irq, "smp_affinity_list")))

    def effective_affinity(self, irq: int) -> tuple[int, ...]:
        """The CPUs the irq's vector is actually on."""
        return parse_cpulist(read_record(self._file(irq, "effective_affinity_list")))
