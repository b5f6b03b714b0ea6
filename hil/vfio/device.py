"""One vfio-pci device fd: its regions, its config space and its interrupts.

Interrupt notes that shape this API (vfio-pci, `vfio_pci_intrs.c`):
- The first MSI/MSI-X enable allocates vectors `0..start+count-1`; an fd of
  -1 leaves a vector allocated but not requested (no handler, no
  /proc/interrupts line).  A positive ioctl return is the number of vectors
  the kernel could have granted; nothing stays allocated then.
- ACTION_MASK/ACTION_UNMASK on the MSI and MSI-X indexes return ENOTTY, so
  no mask/unmask call is offered.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from types import TracebackType

from hil.vfio.capabilities import RegionCapabilities, parse_region_capabilities
from hil.vfio.cdefs import ffi, lib
from hil.vfio.errors import VectorsNotGranted, VfioError
from hil.vfio.ioctl import vfio_ioctl

PCI_COMMAND = 0x04
PCI_COMMAND_MEMORY = 0x2
PCI_COMMAND_MASTER = 0x4


class RegionIndex(IntEnum):
    """vfio-pci's fixed region indexes (device-specific regions start at 9)."""

    BAR0 = lib.VFIO_PCI_BAR0_REGION_INDEX
    BAR1 = lib.VFIO_PCI_BAR1_REGION_INDEX
    BAR2 = lib.VFIO_PCI_BAR2_REGION_INDEX
    BAR3 = lib.VFIO_PCI_BAR3_REGION_INDEX
    BAR4 = lib.VFIO_PCI_BAR4_REGION_INDEX
    BAR5 = lib.VFIO_PCI_BAR5_REGION_INDEX
    ROM = lib.VFIO_PCI_ROM_REGION_INDEX
    CONFIG = lib.VFIO_PCI_CONFIG_REGION_INDEX
    VGA = lib.VFIO_PCI_VGA_REGION_INDEX


class VfioIrqIndex(IntEnum):
    """vfio-pci's interrupt indexes (not the model's IrqIndex, which has no INTx)."""

    INTX = lib.VFIO_PCI_INTX_IRQ_INDEX
    MSI = lib.VFIO_PCI_MSI_IRQ_INDEX
    MSIX = lib.VFIO_PCI_MSIX_IRQ_INDEX
    ERR = lib.VFIO_PCI_ERR_IRQ_INDEX
    REQ = lib.VFIO_PCI_REQ_IRQ_INDEX


@dataclass(frozen=True)
class DeviceInfo:
    flags: int
    num_regions: int
    num_irqs: int

    @property
    def resettable(self) -> bool:
        return bool(self.flags & lib.VFIO_DEVICE_FLAGS_RESET)

    @property
    def is_pci(self) -> bool:
        return bool(self.flags & lib.VFIO_DEVICE_FLAGS_PCI)


@dataclass(frozen=True)
class RegionInfo:
    """A region as VFIO describes it; `offset` is where it starts in the device fd."""

    index: int
    flags: int
    size: int
    offset: int
    capabilities: RegionCapabilities

    @property
    def readable(self) -> bool:
        return bool(self.flags & lib.VFIO_REGION_INFO_FLAG_READ)

    @property
    def writable(self) -> bool:
        return bool(self.flags & lib.VFIO_REGION_INFO_FLAG_WRITE)

    @property
    def mappable(self) -> bool:
        return bool(self.flags & lib.VFIO_REGION_INFO_FLAG_MMAP)

    @property
    def msix_mappable(self) -> bool:
        """The whole BAR, MSI-X table included, may be mmapped (kernel 4.16+)."""
        return self.capabilities.msix_mappable


@dataclass(frozen=True)
class IrqInfo:
    index: int
    flags: int
    count: int

    @property
    def eventfd(self) -> bool:
        return bool(self.flags & lib.VFIO_IRQ_INFO_EVENTFD)

    @property
    def maskable(self) -> bool:
        return bool(self.flags & lib.VFIO_IRQ_INFO_MASKABLE)

    @property
    def automasked(self) -> bool:
        return bool(self.flags & lib.VFIO_IRQ_INFO_AUTOMASKED)

    @property
    def noresize(self) -> bool:
        """Vectors cannot be added after enabling (MSI always; MSI-X without dynamic MSI-X)."""
        return bool(self.flags & lib.VFIO_IRQ_INFO_NORESIZE)


def irq_set_request(
    flags: int, index: int, start: int, count: int, fds: Sequence[int] = ()
) -> bytearray:
    """The bytes of a `struct vfio_irq_set`: header, then `fds` as int32 when given."""
    header = ffi.sizeof("struct vfio_irq_set")
    fd_size = ffi.sizeof("int32_t")
    buffer = bytearray(header + fd_size * len(fds))
    request = ffi.cast("struct vfio_irq_set *", ffi.from_buffer(buffer))
    request.argsz = len(buffer)
    request.flags = flags
    request.index = index
    request.start = start
    request.count = count
    data = ffi.cast("int32_t *", request.data)
    for position, fd in enumerate(fds):
        data[position] = fd
    return buffer


class Device:
    """A device fd from VFIO_GROUP_GET_DEVICE_FD; closing it releases the device."""

    def __init__(self, fd: int, bdf: str) -> None:
        self._fd = fd
        self.bdf = bdf
        self._regions: dict[int, RegionInfo] = {}

    @property
    def fd(self) -> int:
        return self._fd

    def info(self) -> DeviceInfo:
        request = ffi.new("struct vfio_device_info *")
        request.argsz = ffi.sizeof(request[0])
        vfio_ioctl(self._fd, lib.VFIO_DEVICE_GET_INFO, request)
        return DeviceInfo(int(request.flags), int(request.num_regions), int(request.num_irqs))

    def region_info(self, index: int) -> RegionInfo:
        """Region `index`, asking twice when the capability chain needs a larger buffer."""
        cached = self._regions.get(index)
        if cached is not None:
            return cached
        size = ffi.sizeof("struct vfio_region_info")
        reply = self._region_info_reply(index, size)
        request = ffi.cast("struct vfio_region_info *", ffi.from_buffer(reply))
        if request.flags & lib.VFIO_REGION_INFO_FLAG_CAPS and request.argsz > size:
            reply = self._region_info_reply(index, int(request.argsz))
            request = ffi.cast("struct vfio_region_info *", ffi.from_buffer(reply))
        capabilities = RegionCapabilities()
        if request.flags & lib.VFIO_REGION_INFO_FLAG_CAPS and request.cap_offset:
            capabilities = parse_region_capabilities(bytes(reply), int(request.cap_offset))
        info = RegionInfo(
            index, int(request.flags), int(request.size), int(request.offset), capabilities
        )
        self._regions[index] = info
        return info

    def _region_info_reply(self, index: int, argsz: int) -> bytearray:
        reply = bytearray(argsz)
        request = ffi.cast("struct vfio_region_info *", ffi.from_buffer(reply))
        request.argsz = argsz
        request.index = index
        vfio_ioctl(self._fd, lib.VFIO_DEVICE_GET_REGION_INFO, request)
        return reply

    def irq_info(self, index: int) -> IrqInfo:
        request = ffi.new("struct vfio_irq_info *")
        request.argsz = ffi.sizeof(request[0])
        request.index = index
        vfio_ioctl(self._fd, lib.VFIO_DEVICE_GET_IRQ_INFO, request)
        return IrqInfo(index, int(request.flags), int(request.count))

    def read_region(self, index: int, offset: int, length: int) -> bytes:
        """Read through the fd (vfio-pci does width-sized accesses for 1/2/4/8 bytes).

        The MSI-X table range of a BAR reads as 0xff this way: vfio-pci hides it
        from read(); use an mmap of an MSIX_MAPPABLE region to see the table.
        """
        info = self.region_info(index)
        data = os.pread(self._fd, length, info.offset + offset)
        if len(data) != length:
            raise VfioError("pread", 0, f"region {index}+{offset:#x}: {len(data)} of {length}")
        return data

    def write_region(self, index: int, offset: int, data: bytes) -> None:
        info = self.region_info(index)
        written = os.pwrite(self._fd, data, info.offset + offset)
        if written != len(data):
            raise VfioError("pwrite", 0, f"region {index}+{offset:#x}: {written} of {len(data)}")

    def mmap_region(self, index: int) -> mmap.mmap:
        """Map the whole region; the caller owns (and closes) the mapping."""
        info = self.region_info(index)
        if not (info.mappable or info.msix_mappable) or info.size == 0:
            raise VfioError("mmap", 0, f"{self.bdf} region {index} cannot be mmapped")
        prot = mmap.PROT_READ | (mmap.PROT_WRITE if info.writable else 0)
        return mmap.mmap(self._fd, info.size, mmap.MAP_SHARED, prot, offset=info.offset)

    def config_read(self, offset: int, length: int) -> bytes:
        return self.read_region(RegionIndex.CONFIG, offset, length)

    def config_write(self, offset: int, data: bytes) -> None:
        self.write_region(RegionIndex.CONFIG, offset, data)

    def enable_bus_master(self) -> None:
        """Set memory decode and bus master: without MASTER a device's MSI writes are dropped."""
        command = int.from_bytes(self.config_read(PCI_COMMAND, 2), "little")
        command |= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER
        self.config_write(PCI_COMMAND, command.to_bytes(2, "little"))

    def set_irqs(self, index: int, start: int, fds: Sequence[int]) -> None:
        """Bind eventfds to vectors `start..start+len(fds)-1`; -1 = allocated, not requested.

        Raises VectorsNotGranted when the kernel answers with a positive count.
        """
        if not fds:
            raise ValueError("set_irqs needs at least one fd; use disable_irqs to turn off")
        flags = lib.VFIO_IRQ_SET_DATA_EVENTFD | lib.VFIO_IRQ_SET_ACTION_TRIGGER
        self._set_irqs(irq_set_request(flags, index, start, len(fds), fds), start + len(fds))

    def disable_irqs(self, index: int) -> None:
        flags = lib.VFIO_IRQ_SET_DATA_NONE | lib.VFIO_IRQ_SET_ACTION_TRIGGER
        self._set_irqs(irq_set_request(flags, index, 0, 0), 0)

    def trigger_loopback(self, index: int, start: int, count: int) -> None:
        """Signal the vectors' eventfds from the kernel, as if the device had fired."""
        flags = lib.VFIO_IRQ_SET_DATA_NONE | lib.VFIO_IRQ_SET_ACTION_TRIGGER
        self._set_irqs(irq_set_request(flags, index, start, count), start + count)

    def _set_irqs(self, request: bytearray, requested: int) -> None:
        result = vfio_ioctl(self._fd, lib.VFIO_DEVICE_SET_IRQS, ffi.from_buffer(request))
        if result > 0:
            raise VectorsNotGranted("VFIO_DEVICE_SET_IRQS", requested, result)

    def reset(self) -> None:
        """Function reset; on 6.12 it leaves the interrupt setup in place."""
        vfio_ioctl(self._fd, lib.VFIO_DEVICE_RESET)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Device:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
