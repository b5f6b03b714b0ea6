"""What a device driver may touch, backed by a real VFIO device.

`VfioDeviceIO` satisfies `hil.devices.base.DeviceIO` structurally; this
layer sits below hil.devices and must not import it.
"""

from __future__ import annotations

from hil.linux.msixtable import MsixEntry, decode_msix_table
from hil.vfio.device import Device, RegionIndex
from hil.vfio.dma import DmaMapper, IovaAllocator, VfioDmaBuffer
from hil.vfio.errors import VfioError
from hil.vfio.msix import MSIX_ENTRY_SIZE, MsixCapability, find_msix_capability
from hil.vfio.registers import MmioRegion, PreadRegion, Registers

_BARS = range(RegionIndex.BAR0, RegionIndex.BAR5 + 1)


class VfioDeviceIO:
    """BARs, config space and DMA buffers of one device; `close` undoes all of it."""

    def __init__(
        self, device: Device, container: DmaMapper, iovas: IovaAllocator | None = None
    ) -> None:
        self.bdf = device.bdf
        self._device = device
        self._container = container
        self._iovas = iovas or IovaAllocator()
        self._bars: dict[int, Registers] = {}
        self._buffers: list[VfioDmaBuffer] = []
        self._msix: MsixCapability | None = None
        """Where the table is, once found."""

    def bar(self, index: int) -> Registers:
        """BAR `index` mmapped when VFIO allows it, else through pread/pwrite (I/O BARs)."""
        if index not in _BARS:
            raise ValueError(f"BAR index must be 0..5, got {index}")
        if index not in self._bars:
            info = self._device.region_info(index)
            if info.size == 0:
                raise VfioError("bar", 0, f"{self.bdf} has no BAR {index}")
            if info.mappable or info.msix_mappable:
                self._bars[index] = MmioRegion(self._device.mmap_region(index), info.writable)
            else:
                self._bars[index] = PreadRegion(self._device.fd, info.offset, info.size)
        return self._bars[index]

    def config(self) -> PreadRegion:
        """Config space as vfio-pci shows it (MSI address/data virtualized, see kernel-facts)."""
        info = self._device.region_info(RegionIndex.CONFIG)
        return PreadRegion(self._device.fd, info.offset, info.size)

    def dma_buffer(self, size: int) -> VfioDmaBuffer:
        buffer = VfioDmaBuffer(self._container, self._iovas.allocate(size), size)
        self._buffers.append(buffer)
        return buffer

    def read_msix_table(self, count: int | None = None) -> list[MsixEntry]:
        """The device's real MSI-X table (first `count` entries, default all).

        Read through the BAR's mmap: vfio-pci answers pread/read of the table
        range with 0xff and drops writes, so only the mapping (allowed when the
        region carries MSIX_MAPPABLE) shows the address/data the kernel wrote.
        Read in 32-bit accesses, the width the PCI spec requires of the table.
        """
        capability = self._msix_capability()
        if capability is None:
            raise VfioError("read_msix_table", 0, f"{self.bdf} has no MSI-X capability")
        entries = capability.table_size if count is None else count
        if not 0 <= entries <= capability.table_size:
            raise ValueError(f"{self.bdf} MSI-X table has {capability.table_size} entries")
        if not self._device.region_info(capability.bir).msix_mappable:
            raise VfioError(
                "read_msix_table",
                0,
                f"{self.bdf} BAR {capability.bir} lacks VFIO_REGION_INFO_CAP_MSIX_MAPPABLE "
                "(kernel older than 4.16?); the table cannot be read through VFIO",
            )
        bar = self.bar(capability.bir)
        start = capability.table_offset
        raw = b"".join(
            bar.read32(start + word * 4).to_bytes(4, "little")
            for word in range(entries * MSIX_ENTRY_SIZE // 4)
        )
        return decode_msix_table(raw, entries)

    def _msix_capability(self) -> MsixCapability | None:
        """The MSI-X capability, walked for once per device.

        A step reads the table, and the capability list walk is ten config
        reads, each a syscall.  The list is read-only config space, and
        vfio-pci serves its headers from its own copy: it does not change
        while the device is open here.
        """
        if self._msix is None:
            self._msix = find_msix_capability(self.config())
        return self._msix

    def close(self) -> None:
        """Unmap DMA before the BARs, so nothing the device can still reach is freed first."""
        buffers, self._buffers = self._buffers, []
        for buffer in buffers:
            buffer.close()
        bars, self._bars = self._bars, {}
        for bar in bars.values():
            if isinstance(bar, MmioRegion):
                bar.close()
