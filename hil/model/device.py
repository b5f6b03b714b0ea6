"""What the model needs to know about a device: its interrupt capabilities."""

from __future__ import annotations

from dataclasses import dataclass

from hil.model.vocabulary import IrqIndex

_MSIX = IrqIndex.MSIX
_MSI = IrqIndex.MSI
"""Bound once: in Python 3.11 an enum member read goes through the enum metaclass and
costs about ten plain reads, and every request asks."""


@dataclass(frozen=True)
class DeviceCaps:
    """Interrupt capabilities of one scenario device, as its config space states them.

    `msi_maskable` is the per-vector mask bit of the MSI capability: it decides
    reservation mode (maskable MSI gets a placeholder until request_irq,
    non-maskable MSI a real vector at allocation).  `numa_node` None is
    NUMA_NO_NODE (every QEMU device).
    """

    name: str
    bdf: str
    msi_max: int = 0
    msi_64bit: bool = True
    msi_maskable: bool = False
    msix_size: int = 0
    ims_size: int = 0
    numa_node: int | None = None

    def capacity(self, index: IrqIndex) -> int:
        """The count VFIO_DEVICE_GET_IRQ_INFO reports, which SET_IRQS validates against.
        (Compared in turn, not looked up in a dict made on every call: every request asks.)"""
        if index == _MSIX:
            return self.msix_size
        if index == _MSI:
            return self.msi_max
        return self.ims_size
