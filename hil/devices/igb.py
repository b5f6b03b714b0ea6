"""Intel 82576 (igb) as emulated by QEMU: MSI-X vector k fired through EICS.

Register offsets and GPIE bits are those of QEMU `hw/net/igb_regs.h` and the
Linux igb driver.  In MSI-X mode QEMU routes an EICS bit k straight to vector
k, and with EIAC bit k set it clears the EICR bit after sending, so a vector
can be fired again without acknowledgement (QEMU `igb_msix_notify`).
"""

from __future__ import annotations

from typing import ClassVar

from hil.devices.base import DeviceDriver, DeviceError
from hil.model.vocabulary import IrqIndex

GPIE = 0x1514
EICS = 0x1520
EIMS = 0x1524
EIMC = 0x1528
EIAC = 0x152C

GPIE_MSIX_MODE = 0x00000010
GPIE_EIAME = 0x40000000
GPIE_PBA = 0x80000000

MSIX_VECTORS = 10
"""QEMU igb exposes 10 MSI-X vectors (table in BAR3); the registers are in BAR0."""


class IgbDriver(DeviceDriver):
    """Fire igb MSI-X vectors by setting extended interrupt causes."""

    name: ClassVar[str] = "igb"
    ids: ClassVar[tuple[tuple[int, int], ...]] = ((0x8086, 0x10C9),)
    index: ClassVar[IrqIndex] = IrqIndex.MSIX

    def __init__(self) -> None:
        super().__init__()
        self._enabled = 0

    def enable_vectors(self, count: int) -> None:
        if not 1 <= count <= MSIX_VECTORS:
            raise DeviceError(f"igb: {count} vectors asked, the device has 1..{MSIX_VECTORS}")
        mask = (1 << count) - 1
        bar0 = self.io.bar(0)
        # MSI-X mode first: QEMU ignores EIAC writes unless GPIE says MSI-X.
        bar0.write32(GPIE, GPIE_PBA | GPIE_EIAME | GPIE_MSIX_MODE)
        bar0.write32(EIAC, mask)
        bar0.write32(EIMS, mask)
        self._enabled = count

    def fire(self, vector: int) -> None:
        if not 0 <= vector < self._enabled:
            raise DeviceError(f"igb: vector {vector} is not among the {self._enabled} enabled")
        self.io.bar(0).write32(EICS, 1 << vector)

    def remove(self) -> None:
        if self._io is not None and self._enabled:
            self._io.bar(0).write32(EIMC, (1 << self._enabled) - 1)
        self._enabled = 0
        super().remove()
