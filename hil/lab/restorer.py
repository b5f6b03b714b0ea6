"""Putting a machine back from its journal, with the Linux observers' writers."""

from __future__ import annotations

from pathlib import Path

from hil.lab.journal import AffinityEntry, CpuEntry, DriverEntry, KprobeEntry
from hil.linux.binding import BindRecord, DriverBinding
from hil.linux.cpulist import parse_cpulist
from hil.linux.cpus import CpuHotplug
from hil.linux.kprobes import remove_probe
from hil.linux.procirq import ProcIrq
from hil.linux.tracefs import tracing_dir


class RestoreError(RuntimeError):
    pass


class SysfsRestorer:
    def __init__(self, root: Path) -> None:
        self.binding = DriverBinding(root)
        self.hotplug = CpuHotplug(root)
        self.procirq = ProcIrq(root)
        self.root = root

    def restore_driver(self, entry: DriverEntry) -> None:
        record = BindRecord(
            bdf=entry.bdf,
            driver="vfio-pci",
            original_driver=entry.original_driver,
            original_override=entry.original_override,
        )
        if not (self.root / "sys/bus/pci/devices" / entry.bdf).exists():
            return  # the device is gone (a reboot renumbered it): nothing left to undo
        self.binding.restore(record)

    def restore_cpu(self, entry: CpuEntry) -> None:
        errno = self.hotplug.set_online(entry.cpu, entry.was_online)
        if errno is not None:
            raise RestoreError(f"cpu{entry.cpu}: setting online={entry.was_online} gave {errno}")

    def restore_affinity(self, entry: AffinityEntry) -> None:
        if not (self.root / f"proc/irq/{entry.irq}").exists():
            return  # the irq was freed with its device: nothing to put back
        result = self.procirq.set_affinity(entry.irq, parse_cpulist(entry.original_affinity))
        if result.errno not in (None, "EINVAL"):
            raise RestoreError(f"irq {entry.irq}: restoring affinity gave {result.errno}")

    def restore_kprobe(self, entry: KprobeEntry) -> None:
        remove_probe(tracing_dir(self.root), entry.group, entry.event)
