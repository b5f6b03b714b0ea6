"""Host memory a device can reach by DMA, mapped through the type1 IOMMU.

IOVAs come from a bump allocator: a test maps a handful of pages per
device and never needs to reuse an address, and fresh addresses make a
stale DMA from an earlier step land in no mapping (an IOMMU fault in dmesg)
instead of silently in a new buffer.
"""

from __future__ import annotations

import mmap
from typing import Protocol

from hil.vfio.cdefs import ffi

IOVA_START = 0x100000
"""Above the first megabyte, away from the legacy ranges some IOMMUs reserve."""


class DmaMapper(Protocol):
    """The part of Container a buffer needs (a Protocol so tests can record calls)."""

    def map_dma(
        self, vaddr: int, iova: int, size: int, read: bool = True, write: bool = True
    ) -> None: ...

    def unmap_dma(self, iova: int, size: int) -> int: ...


def round_up(value: int, alignment: int) -> int:
    return -(-value // alignment) * alignment


class IovaAllocator:
    """Hand out increasing, `alignment`-aligned IOVA ranges starting at `start`."""

    def __init__(self, start: int = IOVA_START, alignment: int = mmap.PAGESIZE) -> None:
        self._next = round_up(start, alignment)
        self._alignment = alignment

    def allocate(self, size: int) -> int:
        if size <= 0:
            raise ValueError(f"IOVA range size must be positive, got {size}")
        iova = self._next
        self._next = round_up(iova + size, self._alignment)
        return iova


class VfioDmaBuffer:
    """Anonymous, page-aligned memory mapped at `iova`; `size` is rounded up to whole pages."""

    def __init__(self, mapper: DmaMapper, iova: int, size: int) -> None:
        self.size = round_up(size, mmap.PAGESIZE)
        self.iova = iova
        self._mapper = mapper
        self._memory = mmap.mmap(-1, self.size, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        self._view = ffi.from_buffer(self._memory, require_writable=True)
        self.vaddr = int(ffi.cast("uintptr_t", self._view))
        try:
            mapper.map_dma(self.vaddr, iova, self.size)
        except BaseException:
            self._release_memory()
            raise
        self._mapped = True

    def read(self, offset: int, length: int) -> bytes:
        self._check(offset, length)
        return bytes(self._memory[offset : offset + length])

    def write(self, offset: int, data: bytes) -> None:
        self._check(offset, len(data))
        self._memory[offset : offset + len(data)] = data

    def _check(self, offset: int, length: int) -> None:
        if offset < 0 or offset + length > self.size:
            raise ValueError(f"{length} bytes at {offset:#x} outside buffer of {self.size:#x}")

    def close(self) -> None:
        """Unmap from the IOMMU first, so the device cannot write into freed memory."""
        if self._mapped:
            self._mapped = False
            try:
                self._mapper.unmap_dma(self.iova, self.size)
            finally:
                self._release_memory()

    def _release_memory(self) -> None:
        ffi.release(self._view)
        self._memory.close()
