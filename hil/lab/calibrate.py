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
from pathlib import Path
from typing import Any

from hil.linux.cpus import CpuHotplug
from hil.linux.dmesg import DmesgError, dmesg_text
from hil.linux.iommu import allow_unsafe_interrupts, detect_ir, intel_caching_mode
from hil.linux.procinterrupts import ProcInterrupts
from hil.linux.procirq import ProcIrq
from hil.linux.topology import Topology
from hil.model.calibration import Calibration, CpuInfo, ExistingIrq
from hil.model.vocabulary import ApicMode


def _dmesg(root: Path) -> str:
    try:
        return dmesg_text(root)
    except (DmesgError, OSError):
        return ""


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


def machine_facts(root: Path = Path("/")) -> dict[str, Any]:
    text = _dmesg(root)
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
        "irqbalance": topo.irqbalance_running,
        "caching_mode": intel_caching_mode(root),
    }


def live_calibration(root: Path = Path("/")) -> Calibration:
    text = _dmesg(root)
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
    )
