"""VfioDeviceIO over a fake vfio-pci whose regions live in a plain file."""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hil.model.vocabulary import MsiMessage
from hil.vfio.cdefs import ffi
from hil.vfio.device import Device
from hil.vfio.deviceio import VfioDeviceIO
from hil.vfio.dma import IovaAllocator
from hil.vfio.errors import VfioError
from hil.vfio.registers import MmioRegion, PreadRegion

GET_REGION_INFO = 0x3B6C
READ, WRITE, MMAP, CAPS = 0x1, 0x2, 0x4, 0x8
CONFIG_OFFSET, BAR2_OFFSET, BAR4_OFFSET = 0x7000, 0x2000, 0x4000
TABLE_OFFSET = 0x800


class Mapper:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int]] = []

    def map_dma(
        self, vaddr: int, iova: int, size: int, read: bool = True, write: bool = True
    ) -> None:
        self.calls.append(("map", iova, size))

    def unmap_dma(self, iova: int, size: int) -> int:
        self.calls.append(("unmap", iova, size))
        return size


def config_space_with_msix(table_size: int, bir: int) -> bytes:
    """Type 0 header with status.CAP_LIST, a PM capability at 0x40, MSI-X at 0x50."""
    config = bytearray(256)
    struct.pack_into("<HH", config, 0, 0x8086, 0x10D3)
    struct.pack_into("<H", config, 0x06, 0x0010)
    config[0x34] = 0x40
    config[0x40:0x42] = bytes([0x01, 0x50])
    struct.pack_into("<BBHI", config, 0x50, 0x11, 0x00, table_size - 1, TABLE_OFFSET | bir)
    return bytes(config)


def region_reply(index: int, flags: int, size: int, offset: int, caps: bytes = b"") -> bytes:
    cap_offset = 32 if caps else 0
    return struct.pack("<IIIIQQ", 32 + len(caps), flags, index, cap_offset, size, offset) + caps


MSIX_MAPPABLE = struct.pack("<HHI", 3, 1, 0)


@pytest.fixture
def device_fd(tmp_path: Path) -> Iterator[int]:
    fd = os.open(tmp_path / "device", os.O_RDWR | os.O_CREAT)
    os.truncate(fd, 0x10000)
    yield fd
    os.close(fd)


def serve_regions(fake_kernel: Any, replies: dict[int, bytes]) -> None:
    def handler(fd: int, arg: Any) -> int:
        request = ffi.cast("uint32_t *", arg)
        reply = replies[request[2]]
        ffi.memmove(arg, reply, min(len(reply), request[0]))
        if request[0] < len(reply):
            request[0] = len(reply)
            request[3] = 0
        return 0

    fake_kernel.handlers[GET_REGION_INFO] = handler


def standard_regions(bar2_caps: bytes) -> dict[int, bytes]:
    bar2_flags = READ | WRITE | MMAP | (CAPS if bar2_caps else 0)
    return {
        0: region_reply(0, 0, 0, 0),
        2: region_reply(2, bar2_flags, 0x1000, BAR2_OFFSET, bar2_caps),
        4: region_reply(4, READ | WRITE, 0x20, BAR4_OFFSET),
        7: region_reply(7, READ | WRITE, 256, CONFIG_OFFSET),
    }


def test_read_msix_table_through_the_bar_mapping(fake_kernel: Any, device_fd: int) -> None:
    serve_regions(fake_kernel, standard_regions(MSIX_MAPPABLE))
    os.pwrite(device_fd, config_space_with_msix(table_size=4, bir=2), CONFIG_OFFSET)
    table = struct.pack("<IIII", 0xFEE01004, 0, 0x4021, 0)
    table += struct.pack("<IIII", 0xFEE000B0, 0x1, 0, 1)
    os.pwrite(device_fd, table, BAR2_OFFSET + TABLE_OFFSET)
    io = VfioDeviceIO(Device(device_fd, "0000:00:03.0"), Mapper())
    entries = io.read_msix_table(2)
    assert [(e.entry, e.message, e.masked) for e in entries] == [
        (0, MsiMessage(0xFEE01004, 0x4021), False),
        (1, MsiMessage(0x1_FEE000B0, 0), True),
    ]
    assert len(io.read_msix_table()) == 4
    with pytest.raises(ValueError):
        io.read_msix_table(5)
    io.close()


def test_read_msix_table_needs_msix_mappable(fake_kernel: Any, device_fd: int) -> None:
    serve_regions(fake_kernel, standard_regions(b""))
    os.pwrite(device_fd, config_space_with_msix(table_size=4, bir=2), CONFIG_OFFSET)
    io = VfioDeviceIO(Device(device_fd, "0000:00:03.0"), Mapper())
    with pytest.raises(VfioError, match="MSIX_MAPPABLE"):
        io.read_msix_table(1)


def test_no_msix_capability_is_reported(fake_kernel: Any, device_fd: int) -> None:
    serve_regions(fake_kernel, standard_regions(MSIX_MAPPABLE))
    os.pwrite(device_fd, struct.pack("<HHHH", 0x1234, 0x11E8, 0, 0), CONFIG_OFFSET)
    io = VfioDeviceIO(Device(device_fd, "0000:00:03.0"), Mapper())
    with pytest.raises(VfioError, match="no MSI-X"):
        io.read_msix_table()


def test_bars_config_and_dma(fake_kernel: Any, device_fd: int) -> None:
    serve_regions(fake_kernel, standard_regions(MSIX_MAPPABLE))
    os.pwrite(device_fd, struct.pack("<I", 0xA5A5A5A5), BAR2_OFFSET + 0x10)
    os.pwrite(device_fd, struct.pack("<I", 0x5A5A5A5A), BAR4_OFFSET + 0x4)
    os.pwrite(device_fd, struct.pack("<HH", 0x8086, 0x10D3), CONFIG_OFFSET)
    mapper = Mapper()
    io = VfioDeviceIO(Device(device_fd, "0000:00:03.0"), mapper, IovaAllocator(0x100000))
    assert io.bdf == "0000:00:03.0"
    mmio = io.bar(2)
    assert isinstance(mmio, MmioRegion) and io.bar(2) is mmio
    assert mmio.read32(0x10) == 0xA5A5A5A5
    mmio.write32(0x14, 0x01020304)
    assert os.pread(device_fd, 4, BAR2_OFFSET + 0x14) == bytes([4, 3, 2, 1])
    port = io.bar(4)
    assert isinstance(port, PreadRegion)
    assert port.read32(4) == 0x5A5A5A5A
    assert io.config().read32(0) == 0x10D38086
    with pytest.raises(VfioError, match="no BAR 0"):
        io.bar(0)
    with pytest.raises(ValueError):
        io.bar(6)
    first, second = io.dma_buffer(16), io.dma_buffer(16)
    assert (first.iova, second.iova) == (0x100000, 0x101000)
    io.close()
    unmaps = [call for call in mapper.calls if call[0] == "unmap"]
    assert unmaps == [("unmap", 0x100000, 0x1000), ("unmap", 0x101000, 0x1000)]
