"""Is interrupt remapping on, and of which kind?

IR decides the message format (remappable handle vs. APIC destination),
whether affinity changes rewrite the device, and whether vfio type1 will
attach at all.  No single source says it reliably (dmesg may have wrapped,
/proc/interrupts shows chips only for requested irqs), so every piece of
evidence found is kept next to the verdict.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from hil.linux.procinterrupts import InterruptTable
from hil.linux.sysfile import read_optional
from hil.model.vocabulary import IrType

IrApicMode = Literal["xapic", "x2apic"]

_INTEL_IR = re.compile(r"DMAR-IR: Enabled IRQ remapping in (xapic|x2apic) mode")
_AMD_IR = re.compile(r"AMD-Vi: Interrupt remapping enabled")
_INTEL_CM_BIT = 1 << 7


@dataclass(frozen=True)
class IrState:
    kind: IrType
    evidence: tuple[str, ...]
    mode: IrApicMode | None


def _iommu_names(root: Path) -> list[str]:
    try:
        return sorted(os.listdir(root / "sys/class/iommu"))
    except FileNotFoundError:
        return []


def _vendor_from_iommus(names: list[str]) -> IrType | None:
    if any(n.startswith("dmar") for n in names):
        return IrType.INTEL
    if any(n.startswith("ivhd") for n in names):
        return IrType.AMD
    return None


def _vendor_from_cpuinfo(root: Path) -> IrType:
    cpuinfo = read_optional(root / "proc/cpuinfo") or ""
    if "AuthenticAMD" in cpuinfo or "HygonGenuine" in cpuinfo:
        return IrType.AMD
    return IrType.INTEL


def detect_ir(
    root: Path = Path("/"), dmesg_text: str = "", interrupts: InterruptTable | None = None
) -> IrState:
    """Decide the IR flavour from dmesg, /proc/interrupts chips and /sys/class/iommu."""
    evidence: list[str] = []
    iommus = _iommu_names(root)
    kind: IrType | None = None
    mode: IrApicMode | None = None
    for line in dmesg_text.splitlines():
        intel = _INTEL_IR.search(line)
        if intel is not None:
            kind = IrType.INTEL
            mode = "x2apic" if intel[1] == "x2apic" else "xapic"
            evidence.append(f"dmesg: {line.strip()}")
        elif _AMD_IR.search(line):
            kind = IrType.AMD
            evidence.append(f"dmesg: {line.strip()}")
    if interrupts is not None:
        chips = {r.chip for r in interrupts.irqs.values()}
        remapped = sorted(c for c in chips if c.startswith(("IR-", "vIR-")))
        if remapped:
            evidence.append(f"/proc/interrupts remapping chips: {', '.join(remapped[:4])}")
        elif interrupts.irqs:
            evidence.append("/proc/interrupts: no IR- chip on any requested irq")
        if remapped and kind is None:
            kind = _vendor_from_iommus(iommus)
            if kind is None:
                kind = _vendor_from_cpuinfo(root)
                evidence.append(f"IR vendor guessed from the CPU vendor: {kind.value}")
    if iommus:
        evidence.append(f"/sys/class/iommu: {', '.join(iommus)}")
    if kind is None:
        evidence.append("dmesg: no 'DMAR-IR: Enabled' or 'AMD-Vi: Interrupt remapping' line")
        return IrState(kind=IrType.NONE, evidence=tuple(evidence), mode=None)
    return IrState(kind=kind, evidence=tuple(evidence), mode=mode)


def allow_unsafe_interrupts(root: Path = Path("/")) -> bool | None:
    """vfio_iommu_type1's allow_unsafe_interrupts; None if the module is not loaded.

    Without IR, type1 refuses to attach (EPERM) unless this is Y.
    """
    path = root / "sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts"
    value = read_optional(path)
    if value is None:
        return None
    return value.strip().upper() in ("Y", "1")


def intel_caching_mode(root: Path = Path("/")) -> bool | None:
    """True if any Intel IOMMU reports Caching Mode (a vIOMMU), None if none is visible."""
    seen = False
    for name in _iommu_names(root):
        cap = read_optional(root / "sys/class/iommu" / name / "intel-iommu/cap")
        if cap is None:
            continue
        try:
            value = int(cap, 16)
        except ValueError:
            continue
        seen = True
        if value & _INTEL_CM_BIT:
            return True
    return False if seen else None
