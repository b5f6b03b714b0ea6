"""IOVA allocation and DMA buffers with a recording mapper instead of the IOMMU."""

from __future__ import annotations

import mmap

import pytest

from hil.vfio.cdefs import ffi
from hil.vfio.dma import IovaAllocator, VfioDmaBuffer


class RecordingMapper:
    def __init__(self, fail_map: bool = False) -> None:
        self.mapped: dict[int, tuple[int, int]] = {}
        self.unmapped: list[tuple[int, int]] = []
        self.fail_map = fail_map

    def map_dma(
        self, vaddr: int, iova: int, size: int, read: bool = True, write: bool = True
    ) -> None:
        if self.fail_map:
            raise OSError("map refused")
        self.mapped[iova] = (vaddr, size)

    def unmap_dma(self, iova: int, size: int) -> int:
        self.unmapped.append((iova, size))
        return size


def test_allocator_starts_at_1mib_and_stays_page_aligned() -> None:
    allocator = IovaAllocator()
    page = mmap.PAGESIZE
    assert allocator.allocate(1) == 0x100000
    assert allocator.allocate(page + 1) == 0x100000 + page
    assert allocator.allocate(page) == 0x100000 + 3 * page
    with pytest.raises(ValueError):
        allocator.allocate(0)


def test_buffer_maps_its_own_memory_and_unmaps_on_close() -> None:
    mapper = RecordingMapper()
    buffer = VfioDmaBuffer(mapper, 0x200000, 100)
    assert buffer.size == mmap.PAGESIZE
    vaddr, size = mapper.mapped[0x200000]
    assert vaddr % mmap.PAGESIZE == 0 and size == mmap.PAGESIZE
    buffer.write(8, b"\x11\x22\x33\x44")
    # What the IOMMU would see at vaddr is what write() stored.
    assert bytes(ffi.buffer(ffi.cast("char *", vaddr), 12))[8:] == b"\x11\x22\x33\x44"
    ffi.memmove(ffi.cast("char *", vaddr + 16), b"dev", 3)
    assert buffer.read(16, 3) == b"dev"
    buffer.close()
    buffer.close()
    assert mapper.unmapped == [(0x200000, mmap.PAGESIZE)]


def test_buffer_bounds() -> None:
    buffer = VfioDmaBuffer(RecordingMapper(), 0x200000, 10)
    with pytest.raises(ValueError):
        buffer.read(mmap.PAGESIZE - 1, 2)
    buffer.close()


def test_failed_map_propagates() -> None:
    with pytest.raises(OSError, match="map refused"):
        VfioDmaBuffer(RecordingMapper(fail_map=True), 0x200000, 10)
