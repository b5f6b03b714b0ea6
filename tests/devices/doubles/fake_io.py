"""A DeviceIO over RegisterFiles and bytearray DMA buffers, with an interrupt log."""

from __future__ import annotations

from hil.devices.answering import Presence
from tests.devices.doubles.register_file import RegisterFile

MSI_WINDOW = range(0xFEE00000, 0xFEF00000)
PAGE = 4096


class FakeDmaBuffer:
    """Host memory at a fixed IOVA."""

    def __init__(self, iova: int, size: int) -> None:
        self.iova = iova
        self.size = size
        self.memory = bytearray(size)

    def read(self, offset: int, length: int) -> bytes:
        return bytes(self.memory[offset : offset + length])

    def write(self, offset: int, data: bytes) -> None:
        self.memory[offset : offset + len(data)] = data


class FakeDeviceIO:
    """Implements hil.devices.base.DeviceIO for one device double.

    `fired` lists, in order, the vectors the device sent; `msi_writes` the
    (address, data) of DMA writes that landed in the MSI window, which the
    IOMMU would turn into interrupts.
    """

    def __init__(
        self,
        bars: dict[int, RegisterFile],
        config: RegisterFile | None = None,
        bdf: str = "0000:00:04.0",
    ) -> None:
        self.bdf = bdf
        self.bars = bars
        self._config = config or RegisterFile(bar=-1, size=4096)
        self.buffers: list[FakeDmaBuffer] = []
        self.fired: list[int] = []
        self.msi_writes: list[tuple[int, int]] = []
        self.stray_writes: list[tuple[int, bytes]] = []
        """DMA writes that hit no mapped buffer (an IOMMU fault on a real machine)."""
        self._next_iova = 0x1000_0000

    def bar(self, index: int) -> RegisterFile:
        return self.bars[index]

    def config(self) -> RegisterFile:
        return self._config

    def stop_answering(self) -> None:
        """The device leaves the link: every BAR and its config space read all ones."""
        for space in (*self.bars.values(), self._config):
            space.stop_answering()

    def presence(self, name: str) -> Presence:
        """The check a lab machine builds, here reading the double's own config space."""
        return Presence(name, self.bdf, lambda: self._config.read16(0))

    def dma_buffer(self, size: int) -> FakeDmaBuffer:
        buffer = FakeDmaBuffer(self._next_iova, size)
        self._next_iova += (size + PAGE - 1) // PAGE * PAGE
        self.buffers.append(buffer)
        return buffer

    def _find(self, iova: int, length: int) -> tuple[FakeDmaBuffer, int]:
        for buffer in self.buffers:
            if buffer.iova <= iova and iova + length <= buffer.iova + buffer.size:
                return buffer, iova - buffer.iova
        raise AssertionError(f"device DMA to unmapped IOVA {iova:#x}+{length}")

    def dma_read(self, iova: int, length: int) -> bytes:
        buffer, offset = self._find(iova, length)
        return buffer.read(offset, length)

    def dma_write(self, iova: int, data: bytes) -> None:
        if iova in MSI_WINDOW:
            self.msi_writes.append((iova, int.from_bytes(data, "little")))
            return
        try:
            buffer, offset = self._find(iova, len(data))
        except AssertionError:
            self.stray_writes.append((iova, data))
            return
        buffer.write(offset, data)
