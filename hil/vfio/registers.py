"""Register spaces a driver reads and writes: BARs and config space.

Two ways in, same accessors (the RegisterSpace protocol of hil.devices):
- `MmioRegion`: an mmap of the VFIO region.  Each readN/writeN is one
  load/store of exactly N bits through a cffi pointer, because device
  registers (and the MSI-X table) must not be touched with other widths.
- `PreadRegion`: pread/pwrite on the device fd at the region's offset, for
  regions VFIO will not map (I/O-port BARs, config space).  vfio-pci turns
  an aligned 1/2/4/8-byte access into one access of that width.
All values are little-endian, as PCI is.
"""

from __future__ import annotations

import ctypes
import mmap
import os
from abc import ABC, abstractmethod

from hil.vfio.cdefs import ffi
from hil.vfio.errors import VfioError

_CTYPES: dict[int, type[ctypes.c_uint8 | ctypes.c_uint16 | ctypes.c_uint32 | ctypes.c_uint64]] = {
    1: ctypes.c_uint8,
    2: ctypes.c_uint16,
    4: ctypes.c_uint32,
    8: ctypes.c_uint64,
}


class Registers(ABC):
    """Little-endian accessors by byte offset over a region of `size` bytes."""

    def __init__(self, size: int) -> None:
        self.size = size

    @abstractmethod
    def _load(self, offset: int, width: int) -> int: ...

    @abstractmethod
    def _store(self, offset: int, width: int, value: int) -> None: ...

    @abstractmethod
    def write_bytes(self, offset: int, data: bytes) -> None: ...

    def _check_span(self, offset: int, length: int) -> None:
        if offset < 0 or offset + length > self.size:
            raise ValueError(f"{length} bytes at {offset:#x} outside region of {self.size:#x}")

    def _check(self, offset: int, width: int) -> None:
        self._check_span(offset, width)
        if offset % width:
            raise ValueError(f"offset {offset:#x} is not aligned to {width} bytes")

    def read8(self, offset: int) -> int:
        return self._load(offset, 1)

    def read16(self, offset: int) -> int:
        return self._load(offset, 2)

    def read32(self, offset: int) -> int:
        return self._load(offset, 4)

    def read64(self, offset: int) -> int:
        return self._load(offset, 8)

    def write8(self, offset: int, value: int) -> None:
        self._store(offset, 1, value)

    def write16(self, offset: int, value: int) -> None:
        self._store(offset, 2, value)

    def write32(self, offset: int, value: int) -> None:
        self._store(offset, 4, value)

    def write64(self, offset: int, value: int) -> None:
        self._store(offset, 8, value)


class MmioRegion(Registers):
    """Registers through an mmap; closing releases the cffi view, then the mapping."""

    def __init__(self, mapping: mmap.mmap, writable: bool = True) -> None:
        super().__init__(len(mapping))
        self._mapping = mapping
        self._base = ffi.from_buffer(mapping, require_writable=writable)
        self._address = int(ffi.cast("uintptr_t", self._base))
        self._writable = writable

    def _load(self, offset: int, width: int) -> int:
        self._check(offset, width)
        return int(_CTYPES[width].from_address(self._address + offset).value)

    def _store(self, offset: int, width: int, value: int) -> None:
        # One store of exactly `width` bytes.  A cffi pointer store
        # (`ffi.cast("uint32_t *", p)[0] = v`) reached the device twice in the
        # virtual lab: one EICS write fired an igb vector twice, one edu 0x60
        # write raised two MSIs.  ctypes' setter is a single memcpy of the
        # type's size, which compiles to one store.
        self._check(offset, width)
        if not self._writable:
            raise VfioError("mmio write", 0, "region is mapped read-only")
        _CTYPES[width].from_address(self._address + offset).value = value

    def address(self, offset: int) -> int:
        """Virtual address of `offset`: for stores no accessor can make (MOVDIR64B)."""
        self._check(offset, 1)
        return self._address + offset

    def write_bytes(self, offset: int, data: bytes) -> None:
        """Copy a block (memcpy widths): for buffers, not for registers with side effects."""
        self._check_span(offset, len(data))
        if not self._writable:
            raise VfioError("mmio write", 0, "region is mapped read-only")
        ffi.memmove(self._base + offset, data, len(data))

    def close(self) -> None:
        if not self._mapping.closed:
            ffi.release(self._base)
            self._mapping.close()


class PreadRegion(Registers):
    """Registers through pread/pwrite on `fd` from `base` (the region's offset in the fd)."""

    def __init__(self, fd: int, base: int, size: int) -> None:
        super().__init__(size)
        self._fd = fd
        self._base = base

    def _load(self, offset: int, width: int) -> int:
        self._check(offset, width)
        data = os.pread(self._fd, width, self._base + offset)
        if len(data) != width:
            raise VfioError("pread", 0, f"offset {offset:#x}: {len(data)} of {width} bytes")
        return int.from_bytes(data, "little")

    def _store(self, offset: int, width: int, value: int) -> None:
        self._check(offset, width)
        self._pwrite(offset, value.to_bytes(width, "little"))

    def write_bytes(self, offset: int, data: bytes) -> None:
        self._check_span(offset, len(data))
        self._pwrite(offset, data)

    def _pwrite(self, offset: int, data: bytes) -> None:
        written = os.pwrite(self._fd, data, self._base + offset)
        if written != len(data):
            raise VfioError("pwrite", 0, f"offset {offset:#x}: {written} of {len(data)} bytes")
