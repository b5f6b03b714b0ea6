"""QEMU hw/misc/edu.c: interrupt raise/ack registers and the DMA engine.

Accesses below 0x80 must be 4 bytes, at 0x80 and above 4 or 8 (others are
ignored, reads return all ones).  DMA registers are read-only while
cmd.RUN is set; a write of cmd with RUN starts a transfer that a timer
completes 100 ms later (here: after `busy_reads` reads of cmd), clamping the
address with dma_mask (default 28 bits) and clearing RUN.  irq_status != 0
sends the MSI on every raise (edu_raise_irq).
"""

from __future__ import annotations

from tests.devices.doubles.fake_io import FakeDeviceIO
from tests.devices.doubles.register_file import RegisterFile

IRQ_STATUS, IRQ_RAISE, IRQ_ACK = 0x24, 0x60, 0x64
DMA_SRC, DMA_DST, DMA_COUNT, DMA_CMD = 0x80, 0x88, 0x90, 0x98
DMA_START, DMA_SIZE = 0x40000, 4096
RUN, TO_PCI, IRQ = 0x1, 0x2, 0x4
DMA_IRQ = 0x100


class EduDouble:
    def __init__(self, dma_mask: int = 0xFFFFFFFF, busy_reads: int = 3) -> None:
        self.bar0 = RegisterFile(0, 0x100000)
        self.io = FakeDeviceIO({0: self.bar0})
        self.dma_mask = dma_mask
        self.busy_reads = busy_reads
        self.buffer = bytearray(DMA_SIZE)
        self.irq_status = 0
        self.transfers: list[tuple[int, int, int, int]] = []
        self._busy = 0
        self.dma = {DMA_SRC: 0, DMA_DST: 0, DMA_COUNT: 0, DMA_CMD: 0}
        self.bar0.on_read(0, self._read, end=0x100)
        self.bar0.on_write(0, self._write, end=0x100)

    def _valid(self, offset: int, width: int) -> bool:
        return width == 4 if offset < 0x80 else width in (4, 8)

    def _read(self, offset: int, width: int) -> int:
        if not self._valid(offset, width):
            return (1 << (8 * width)) - 1
        if offset == IRQ_STATUS:
            return self.irq_status
        if offset == DMA_CMD and self.dma[DMA_CMD] & RUN:
            self._busy -= 1
            if self._busy <= 0:
                self._complete()
        return self.dma.get(offset, 0)

    def _write(self, offset: int, width: int, value: int) -> None:
        if not self._valid(offset, width):
            return
        if offset == IRQ_RAISE:
            self._raise(value)
        elif offset == IRQ_ACK:
            self.irq_status &= ~value
        elif offset in self.dma and not self.dma[DMA_CMD] & RUN:
            if offset == DMA_CMD and not value & RUN:
                return
            self.dma[offset] = value
            if offset == DMA_CMD:
                self._busy = self.busy_reads

    def _raise(self, value: int) -> None:
        self.irq_status |= value
        if self.irq_status:
            self.io.fired.append(0)

    def _complete(self) -> None:
        src, dst, count, cmd = (self.dma[r] for r in (DMA_SRC, DMA_DST, DMA_COUNT, DMA_CMD))
        self.transfers.append((src, dst, count, cmd))
        if cmd & TO_PCI:
            start = src - DMA_START
            self.io.dma_write(dst & self.dma_mask, bytes(self.buffer[start : start + count]))
        else:
            start = dst - DMA_START
            self.buffer[start : start + count] = self.io.dma_read(src & self.dma_mask, count)
        self.dma[DMA_CMD] = cmd & ~RUN
        if cmd & IRQ:
            self._raise(DMA_IRQ)
