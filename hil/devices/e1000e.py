"""Intel 82574L (e1000e) as emulated by QEMU: five MSI-X causes routed by IVAR.

Offsets, IVAR layout and cause bits follow QEMU `hw/net/e1000e_core.c` and
`e1000x_regs.h`.  A cause still pending in ICR does not send again (QEMU
before 8.1 de-duplicates through `msi_causes_pending`, later versions only
raise newly set causes), so every fire clears ICR first.
"""

from __future__ import annotations

from typing import ClassVar

from hil.devices.base import DeviceDriver, DeviceError
from hil.model.vocabulary import IrqIndex

ICR = 0xC0
ICS = 0xC8
IMS = 0xD0
IMC = 0xD8
IVAR = 0xE4
EIAC = 0xDC

IVAR_ENTRY_VALID = 0x8
CAUSE_SHIFT = 20
"""Causes RxQ0, RxQ1, TxQ0, TxQ1, Other are ICR bits 20..24, IVAR nibbles 0..4."""

MSIX_VECTORS = 5


def cause_bit(vector: int) -> int:
    """The ICR/ICS bit of the cause this driver routes to `vector`."""
    return 1 << (CAUSE_SHIFT + vector)


def ivar_value(count: int) -> int:
    """IVAR mapping cause i to vector i, valid for the first `count` causes only."""
    value = 0
    for vector in range(count):
        value |= (IVAR_ENTRY_VALID | vector) << (4 * vector)
    return value


class E1000eDriver(DeviceDriver):
    """Fire e1000e MSI-X vectors by setting the cause mapped to each one."""

    name: ClassVar[str] = "e1000e"
    ids: ClassVar[tuple[tuple[int, int], ...]] = ((0x8086, 0x10D3),)
    index: ClassVar[IrqIndex] = IrqIndex.MSIX

    def __init__(self) -> None:
        super().__init__()
        self._enabled = 0

    def _cause_mask(self) -> int:
        return sum(cause_bit(vector) for vector in range(self._enabled))

    def enable_vectors(self, count: int) -> None:
        if not 1 <= count <= MSIX_VECTORS:
            raise DeviceError(f"e1000e: {count} vectors asked, the device has 1..{MSIX_VECTORS}")
        self._enabled = count
        bar0 = self.io.bar(0)
        bar0.write32(IVAR, ivar_value(count))
        # The link came up on its own after vfio's reset of the device: LSC set
        # ICR's Other cause, which would fire vector 4 the moment IMS allows it.
        bar0.write32(ICR, 0xFFFFFFFF)
        bar0.write32(IMS, self._cause_mask())

    def fire(self, vector: int) -> None:
        if not 0 <= vector < self._enabled:
            raise DeviceError(f"e1000e: vector {vector} is not among the {self._enabled} enabled")
        bar0 = self.io.bar(0)
        # A cause still pending in ICR is not sent again (QEMU sends only newly
        # pending causes), so start from a clear ICR.
        bar0.write32(ICR, 0xFFFFFFFF)
        bar0.write32(ICS, cause_bit(vector))

    def acknowledge(self, vector: int) -> None:
        # In MSI-X mode QEMU does not clear ICR on read (the transcripts' reads
        # showed the causes accumulating): clear the cause by writing it.
        self.io.bar(0).write32(ICR, cause_bit(vector))

    def remove(self) -> None:
        if self._io is not None and self._enabled:
            self._io.bar(0).write32(IMC, self._cause_mask())
        self._enabled = 0
        super().remove()
