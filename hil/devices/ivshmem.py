"""QEMU ivshmem-doorbell: a doorbell that rings any peer's MSI-X vector.

BAR0 registers follow QEMU `hw/misc/ivshmem-pci.c`: a write of
`(peer << 16) | vector` to DOORBELL signals that peer's eventfd for the
vector; only `val & 0xff` names the vector and bad values are ignored
silently.  Ringing one's own IVPOSITION raises one's own vector; ringing
another device on the same server is the NTB-like path between machines.

The MSI-X table may be larger than what the doorbell reaches: vectors above
255, and vectors the server gave no eventfd (the virtual lab's `doorbells`),
can be allocated and requested but never rung.
"""

from __future__ import annotations

from typing import ClassVar

from hil.devices.base import DeviceDriver, DeviceError, DeviceIO
from hil.model.vocabulary import IrqIndex

INTRMASK = 0x00
INTRSTATUS = 0x04
IVPOSITION = 0x08
DOORBELL = 0x0C

MAX_VECTOR = 0xFF
MAX_PEER = 0xFFFF


def doorbell_value(peer: int, vector: int) -> int:
    """The DOORBELL word that rings `vector` of `peer`."""
    if not 0 <= peer <= MAX_PEER:
        raise DeviceError(f"ivshmem: peer id {peer} does not fit 16 bits")
    if not 0 <= vector <= MAX_VECTOR:
        raise DeviceError(f"ivshmem: vector {vector} does not fit the 8 bits the device reads")
    return (peer << 16) | vector


class IvshmemDriver(DeviceDriver):
    """Ring this device's own vectors, or a peer's, through the doorbell."""

    name: ClassVar[str] = "ivshmem"
    ids: ClassVar[tuple[tuple[int, int], ...]] = ((0x1AF4, 0x1110),)
    index: ClassVar[IrqIndex] = IrqIndex.MSIX

    def __init__(self) -> None:
        super().__init__()
        self._own_id: int | None = None
        self._enabled = 0

    def init(self, io: DeviceIO) -> None:
        super().init(io)
        self._own_id = io.bar(0).read32(IVPOSITION)

    @property
    def own_id(self) -> int:
        """The peer id the ivshmem server gave this device (IVPOSITION)."""
        if self._own_id is None:
            raise DeviceError("ivshmem: init() was not called")
        return self._own_id

    def enable_vectors(self, count: int) -> None:
        if count < 1:
            raise DeviceError(f"ivshmem: {count} vectors asked, at least 1 is needed")
        self._enabled = count

    def fire(self, vector: int) -> None:
        if not 0 <= vector < self._enabled:
            raise DeviceError(f"ivshmem: vector {vector} is not among the {self._enabled} enabled")
        self.io.bar(0).write32(DOORBELL, doorbell_value(self.own_id, vector))

    def ring_peer(self, peer_id: int, vector: int) -> None:
        """Raise `vector` on the peer `peer_id` (its own vector count is not known here)."""
        self.io.bar(0).write32(DOORBELL, doorbell_value(peer_id, vector))

    def remove(self) -> None:
        self._own_id = None
        self._enabled = 0
        super().remove()
