"""A device this session holds through vfio-pci, and how its vectors map to irqs.

The kernel names a vfio vector's irq `vfio-msix[k](bdf)`, but an allocated,
unrequested vector has no action and so no name; the reliable map from entry
to irq is the device's `msi_irqs/` folder plus each irq's hwirq (since 6.2
the hwirq *is* the entry; before, the entry is its low 11 bits).
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hil.devices.answering import Presence
from hil.devices.base import DeviceDriver
from hil.lab.safety import NetdevState
from hil.linux.binding import BindRecord
from hil.linux.sysfile import read_attr, read_record
from hil.model.vocabulary import IrqIndex, MsiMessage

ENTRY_MASK_PRE_6_2 = 0x7FF


@dataclass
class OpenedDevice:
    name: str
    bdf: str
    driver: DeviceDriver
    handle: Any
    closer: ExitStack
    io: Any
    bind_record: BindRecord
    journal_handle: Any
    presence: Presence
    """How to ask the device whether it still answers, once something it did looks dead."""
    index: IrqIndex | None = None
    last_index: IrqIndex = IrqIndex.MSIX
    """The index the last Enable named, so a Disable knows which one to address."""
    count: int = 0
    eventfds: dict[int, int] = field(default_factory=dict)
    stored: MsiMessage | None = None
    known_entries: set[int] = field(default_factory=set)
    links: tuple[NetdevState, ...] = ()
    """Link state of the device's network interfaces before it left its driver."""

    def close_eventfds(self) -> None:
        for fd in self.eventfds.values():
            os.close(fd)
        self.eventfds.clear()


def msi_irqs(root: Path, bdf: str) -> list[int]:
    try:
        names = os.listdir(f"{root}/sys/bus/pci/devices/{bdf}/msi_irqs")
    except OSError:
        return []
    return sorted(int(name) for name in names if name.isdigit())


def entry_irq_map(root: Path, bdf: str) -> dict[int, int]:
    """entry -> irq for every allocated vector of the device.

    The chip is read once: a device's vectors all live in one irq domain
    (its own from 6.2 on, the global PCI-MSI one before).
    """
    out: dict[int, int] = {}
    per_device_domain: bool | None = None
    for irq in msi_irqs(root, bdf):
        base = f"{root}/sys/kernel/irq/{irq}"
        try:
            hwirq = int(read_record(f"{base}/hwirq").strip())
            if per_device_domain is None:
                per_device_domain = read_attr(f"{base}/chip_name").strip().endswith(bdf)
        except (OSError, ValueError):
            continue
        entry = hwirq if per_device_domain else hwirq & ENTRY_MASK_PRE_6_2
        out[entry] = irq
    return out
