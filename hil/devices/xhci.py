"""QEMU xHCI with `msix=off`: a multi-MSI device for allocation policy only.

QEMU `hw/usb/hcd-xhci-pci.c` registers MSI with `intrs` vectors (16 by
default) and no per-vector mask bits, so the kernel's multi-MSI rules
(power-of-two blocks, one vector without interrupt remapping) show on it.
"""

from __future__ import annotations

from typing import ClassVar

from hil.devices.base import DeviceDriver, DeviceUnavailable
from hil.model.vocabulary import IrqIndex

MSI_VECTORS = 16

FIRE_UNSUPPORTED = (
    "xhci: firing needs an xHCI event ring per interrupter (ERST, ERDP with EHB), "
    "which this driver does not set up; QEMU 7.2 also aborts when an interrupter "
    "beyond the enabled MSI count raises, so use it for allocation steps only"
)


class XhciDriver(DeviceDriver):
    """Allocation-only driver: vectors can be enabled, not fired."""

    name: ClassVar[str] = "xhci"
    ids: ClassVar[tuple[tuple[int, int], ...]] = ((0x1033, 0x0194), (0x1B36, 0x000D))
    index: ClassVar[IrqIndex] = IrqIndex.MSI

    def fire(self, vector: int) -> None:
        raise DeviceUnavailable(FIRE_UNSUPPORTED)

    @classmethod
    def fire_unsupported_reason(cls) -> str | None:
        return FIRE_UNSUPPORTED
