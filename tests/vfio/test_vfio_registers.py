"""Register accessors over an anonymous mapping and over a file."""

from __future__ import annotations

import mmap
import os
import struct
from pathlib import Path

import pytest

from hil.vfio.errors import VfioError
from hil.vfio.registers import MmioRegion, PreadRegion


def test_mmio_region_is_little_endian_at_every_width() -> None:
    mapping = mmap.mmap(-1, mmap.PAGESIZE)
    mapping[0x10:0x18] = bytes.fromhex("0102030405060708")
    region = MmioRegion(mapping)
    assert region.read8(0x10) == 0x01
    assert region.read16(0x10) == 0x0201
    assert region.read32(0x10) == 0x04030201
    assert region.read64(0x10) == 0x0807060504030201
    region.write32(0x20, 0xDEADBEEF)
    region.write16(0x24, 0x1234)
    region.write8(0x26, 0x56)
    region.write64(0x28, 0x1122334455667788)
    region.write_bytes(0x30, b"abc")
    expected = struct.pack("<IHBxQ", 0xDEADBEEF, 0x1234, 0x56, 0x1122334455667788) + b"abc"
    assert mapping[0x20:0x33] == expected
    region.close()
    assert mapping.closed


def test_unaligned_and_out_of_range_accesses_are_refused() -> None:
    region = MmioRegion(mmap.mmap(-1, mmap.PAGESIZE))
    with pytest.raises(ValueError, match="aligned"):
        region.read32(2)
    with pytest.raises(ValueError, match="outside"):
        region.read64(mmap.PAGESIZE - 4)
    with pytest.raises(ValueError, match="outside"):
        region.write_bytes(mmap.PAGESIZE - 1, b"xy")
    region.close()


def test_read_only_mapping_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "bar"
    path.write_bytes(bytes(range(16)) * 256)
    with path.open("rb") as file:
        region = MmioRegion(mmap.mmap(file.fileno(), 0, prot=mmap.PROT_READ), writable=False)
        assert region.read32(4) == 0x07060504
        with pytest.raises(VfioError, match="read-only"):
            region.write32(0, 1)
        region.close()


def test_pread_region_reads_and_writes_at_its_base(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "device", os.O_RDWR | os.O_CREAT)
    try:
        os.pwrite(fd, struct.pack("<I", 0xCAFEF00D), 0x1004)
        region = PreadRegion(fd, base=0x1000, size=0x100)
        assert region.read32(4) == 0xCAFEF00D
        assert region.read16(6) == 0xCAFE
        region.write16(0x10, 0xBEEF)
        region.write64(0x18, 0x0102030405060708)
        assert os.pread(fd, 2, 0x1010) == b"\xef\xbe"
        assert os.pread(fd, 8, 0x1018) == bytes.fromhex("0807060504030201")
        with pytest.raises(ValueError, match="outside"):
            region.read32(0x100)
    finally:
        os.close(fd)


def test_short_pread_is_an_error(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "short", os.O_RDWR | os.O_CREAT)
    try:
        os.write(fd, b"\x01\x02")
        with pytest.raises(VfioError, match="2 of 4"):
            PreadRegion(fd, base=0, size=0x100).read32(0)
    finally:
        os.close(fd)
