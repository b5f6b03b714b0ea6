"""QEMU edu: one non-maskable MSI, and a DMA engine that can write a stored message.

Registers follow QEMU `hw/misc/edu.c`.  `EduDriver` raises the MSI through
the interrupt-raise register.  `EduStoredMessage` shows the seed's IMS
argument on any kernel: it copies an MSI data word into edu's own buffer and
later has the device DMA it to the stored address, a posted write that the
(emulated) IOMMU treats as an interrupt request, exactly like a real device
writing a message it keeps in its own storage.

QEMU must be started with `-device edu,dma_mask=0xffffffff`: the default
28-bit mask clamps the DMA address and the write never reaches 0xFEExxxxx.
"""

from __future__ import annotations

import struct
from typing import ClassVar

from hil.devices._poll import PollPolicy, poll_until
from hil.devices.base import (
    DeviceDriver,
    DeviceError,
    DeviceIO,
    DmaBuffer,
    StoredMessageDriver,
)
from hil.model.vocabulary import IrqIndex, MsiMessage

IRQ_STATUS = 0x24
IRQ_RAISE = 0x60
IRQ_ACK = 0x64
DMA_SRC = 0x80
DMA_DST = 0x88
DMA_COUNT = 0x90
DMA_CMD = 0x98

DMA_RUN = 0x1
DMA_TO_MEMORY = 0x2
"""Direction bit: set = from edu's buffer to memory, clear = from memory to the buffer."""
DMA_IRQ_WHEN_DONE = 0x4

EDU_BUFFER = 0x40000
"""Device-side address of edu's 4 KiB DMA buffer."""

QEMU_DEVICE_ARGS = "edu,dma_mask=0xffffffff"

DMA_POLICY = PollPolicy(timeout_s=5.0, interval_s=0.005)
"""A transfer takes about 100 ms of guest time; TCG guests can be several times slower."""


class EduDriver(DeviceDriver):
    """Raise edu's single MSI; it keeps firing on every raise until acknowledged."""

    name: ClassVar[str] = "edu"
    ids: ClassVar[tuple[tuple[int, int], ...]] = ((0x1234, 0x11E8),)
    index: ClassVar[IrqIndex] = IrqIndex.MSI

    def fire(self, vector: int) -> None:
        _only_vector_zero(self.name, vector)
        self.io.bar(0).write32(IRQ_RAISE, 1)

    def acknowledge(self, vector: int) -> None:
        _only_vector_zero(self.name, vector)
        bar0 = self.io.bar(0)
        status = bar0.read32(IRQ_STATUS)
        if status:
            bar0.write32(IRQ_ACK, status)


class EduStoredMessage(EduDriver, StoredMessageDriver):
    """edu holding an MSI message in its own buffer and writing it on demand."""

    name: ClassVar[str] = "edu-stored"

    def __init__(self, dma_policy: PollPolicy = DMA_POLICY) -> None:
        super().__init__()
        self._dma_policy = dma_policy
        self._staging: DmaBuffer | None = None
        self._stored: MsiMessage | None = None

    def init(self, io: DeviceIO) -> None:
        super().init(io)
        self._staging = io.dma_buffer(4096)

    @property
    def stored_message(self) -> MsiMessage | None:
        """The message last copied into the device, for reports of stored vs current."""
        return self._stored

    def store(self, message: MsiMessage) -> None:
        if self._staging is None:
            raise DeviceError(f"{self.name}: init() was not called")
        self._staging.write(0, struct.pack("<I", message.data))
        self._transfer(src=self._staging.iova, dst=EDU_BUFFER, command=DMA_RUN)
        self._stored = message

    def fire_stored(self) -> None:
        if self._stored is None:
            raise DeviceError(f"{self.name}: no message stored yet")
        self._transfer(src=EDU_BUFFER, dst=self._stored.address, command=DMA_RUN | DMA_TO_MEMORY)

    def _transfer(self, *, src: int, dst: int, command: int) -> None:
        bar0 = self.io.bar(0)

        def idle() -> bool:
            return not bar0.read64(DMA_CMD) & DMA_RUN

        # edu ignores writes to its DMA registers while a transfer runs.
        poll_until(idle, what="edu DMA engine to be idle", policy=self._dma_policy)
        bar0.write64(DMA_SRC, src)
        bar0.write64(DMA_DST, dst)
        bar0.write64(DMA_COUNT, 4)
        bar0.write64(DMA_CMD, command)
        poll_until(idle, what=f"edu DMA {src:#x} -> {dst:#x}", policy=self._dma_policy)

    def remove(self) -> None:
        self._staging = None
        super().remove()


def _only_vector_zero(name: str, vector: int) -> None:
    if vector != 0:
        raise DeviceError(f"{name}: the device has one MSI vector, {vector} asked")
