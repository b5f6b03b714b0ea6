"""What the model must know about a live machine before the first step.

Calibration is read once, before a scenario starts, and never during it:
online CPUs with their APIC IDs and nodes, the IR kind, the APIC routing
mode, and how many vectors each CPU already spends.  Without the kernel's
debugfs (not built in Debian) the per-CPU vector bitmaps cannot be read,
only counted from the effective affinity of every irq that has a handler;
the model therefore marks vector *numbers* as uncertain while CPU choice,
which depends only on the counts, stays exact.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from hil.linux.cpus import CpuHotplug
from hil.linux.dmesg import dmesg_text_or_empty
from hil.linux.iommu import allow_unsafe_interrupts, detect_ir, intel_caching_mode
from hil.linux.pci import PciSysfs, parse_capabilities
from hil.linux.procinterrupts import ProcInterrupts
from hil.linux.procirq import ProcIrq
from hil.linux.sysfile import read_record
from hil.linux.topology import Topology, irqbalance_running
from hil.model.calibration import Calibration, CpuInfo, ExistingIrq
from hil.model.vocabulary import ApicMode


def apic_mode(topo: Topology, possible_cpus: int) -> ApicMode:
    """The routing mode dmesg reports, else the kernel's default driver.

    A kernel prints "APIC: Switched APIC routing to: ..." only when it leaves
    its default.  The default was logical flat on xAPIC machines of at most
    8 CPUs until it was removed for 64-bit in 6.12 (backported to 6.11.3);
    larger machines were always physical flat.
    """
    if topo.apic_mode is not None:
        return topo.apic_mode
    logical_flat_exists = topo.kernel_version[:3] < (6, 11, 3)
    if logical_flat_exists and possible_cpus <= 8:
        return ApicMode.LOGICAL_FLAT
    return ApicMode.PHYSICAL_FLAT


def machine_facts(root: Path = Path("/"), kernel_log: str | None = None) -> dict[str, Any]:
    """`kernel_log`: the kernel log as an earlier read found it (see `live_calibration`)."""
    text = dmesg_text_or_empty(root) if kernel_log is None else kernel_log
    table = ProcInterrupts.parse((root / "proc/interrupts").read_text())
    topo = Topology.read(root, text)
    ir = detect_ir(root, text, table)
    hotplug = CpuHotplug(root)
    online = hotplug.online_cpus()
    return {
        "kernel": topo.kernel_release or os.uname().release,
        "ir": ir.kind.value,
        "ir_evidence": list(ir.evidence),
        "apic_mode": apic_mode(topo, len(hotplug.possible_cpus())).value,
        "online_cpus": list(online),
        "hotpluggable_cpus": [c for c in online if hotplug.is_hotpluggable(c)],
        "allow_unsafe_interrupts": allow_unsafe_interrupts(root),
        "irqbalance": irqbalance_running(root),
        "caching_mode": intel_caching_mode(root),
    }


_GSI_RANGE = re.compile(r"IOAPIC\[\d+\]:.*GSI (\d+)-(\d+)")


def gsi_top(dmesg_text: str) -> int | None:
    """One past the highest IO-APIC GSI: the kernel's lower bound for dynamic irq numbers."""
    tops = [int(m.group(2)) + 1 for m in _GSI_RANGE.finditer(dmesg_text)]
    return max(tops) if tops else None


def allocated_irqs(root: Path) -> tuple[int, ...]:
    """Every irq descriptor the kernel has, requested or not (/sys/kernel/irq)."""
    try:
        names = os.listdir(f"{root}/sys/kernel/irq")
    except OSError:
        return ()
    return tuple(sorted(int(name) for name in names if name.isdigit()))


def _msi_kind_of_irqs(root: Path) -> dict[int, tuple[str, str]]:
    """irq -> (bdf, "msi" | "msix") from every device's msi_irqs folder.

    Bare `os` calls on string paths: pathlib's glob cost a third of a
    calibration in a TCG guest.
    """
    out: dict[int, tuple[str, str]] = {}
    devices = f"{root}/sys/bus/pci/devices"
    try:
        bdfs = os.listdir(devices)
    except OSError:
        return out
    for bdf in bdfs:
        folder = f"{devices}/{bdf}/msi_irqs"
        try:
            names = os.listdir(folder)
        except OSError:  # no MSI in use
            continue
        for name in names:
            if name.isdigit():
                try:
                    out[int(name)] = (bdf, read_record(f"{folder}/{name}").strip())
                except OSError:
                    continue
    return out


def _unmaskable_msi(pci: PciSysfs, bdf: str, cache: dict[str, bool]) -> bool:
    if bdf not in cache:
        try:
            caps = parse_capabilities(pci.config_bytes(bdf))
            cache[bdf] = caps.msi is not None and not caps.msi.per_vector_mask
        except OSError:
            cache[bdf] = False
    return cache[bdf]


def live_calibration(root: Path = Path("/"), kernel_log: str | None = None) -> Calibration:
    """`kernel_log`: the kernel log as an earlier read found it.  Only its boot lines
    are used (APIC routing, IR, the IO-APIC GSI ranges), and a boot does not
    change them: reading /dev/kmsg takes one read per record, 40% of a
    calibration, and a long session's log may have wrapped past them since."""
    text = dmesg_text_or_empty(root) if kernel_log is None else kernel_log
    table = ProcInterrupts.parse((root / "proc/interrupts").read_text())
    topo = Topology.read(root, text)
    ir = detect_ir(root, text, table)
    hotplug = CpuHotplug(root)
    online = set(hotplug.online_cpus())
    procirq = ProcIrq(root)
    allocated = {cpu: 0 for cpu in online}
    existing = []
    for row in table.irqs.values():
        if not row.actions:
            continue
        try:
            effective = procirq.effective_affinity(row.irq)
            affinity = procirq.affinity(row.irq)
        except OSError:
            continue
        if len(effective) != 1:
            continue
        cpu = effective[0]
        allocated[cpu] = allocated.get(cpu, 0) + 1
        existing.append(ExistingIrq(irq=row.irq, cpu=cpu, affinity=tuple(affinity)))
    # Non-maskable MSI vectors hold a real CPU vector from allocation on (no
    # reservation mode), with or without a handler.  Without one they are
    # missing from /proc/interrupts: place them by their effective affinity
    # when /proc/irq/N exists (requested once), else count them as hidden.
    hidden = 0
    maskless: dict[str, bool] = {}
    pci = PciSysfs(root)
    for irq, (bdf, kind) in _msi_kind_of_irqs(root).items():
        listed = table.irqs.get(irq)
        if kind != "msi" or (listed is not None and listed.actions):
            continue
        if not _unmaskable_msi(pci, bdf, maskless):
            continue
        try:
            effective = procirq.effective_affinity(irq)
        except OSError:
            effective = ()
        if len(effective) == 1:
            allocated[effective[0]] = allocated.get(effective[0], 0) + 1
        else:
            hidden += 1
    cpus = tuple(
        CpuInfo(
            cpu=c.cpu,
            apicid=c.apicid if c.apicid is not None else c.cpu,
            node=c.node or 0,
            online=c.cpu in online,
            hotpluggable=hotplug.is_hotpluggable(c.cpu),
        )
        for c in topo.cpus
    )
    return Calibration(
        kernel=topo.kernel_release or os.uname().release,
        ir=ir.kind,
        apic_mode=apic_mode(topo, len(hotplug.possible_cpus())),
        cpus=cpus,
        allocated=allocated,
        existing_irqs=tuple(existing),
        caching_mode=bool(intel_caching_mode(root)),
        used_irqs=allocated_irqs(root),
        dynirq_base=gsi_top(text),
        hidden_vectors=hidden,
    )
