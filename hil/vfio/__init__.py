"""VFIO through cffi: container, group, device, DMA and eventfds for lab machines."""

from hil.vfio.capabilities import RegionCapabilities, RegionType, SparseArea
from hil.vfio.container import Container, IommuInfo, VfioMode, available_modes
from hil.vfio.device import (
    Device,
    DeviceInfo,
    IrqInfo,
    RegionIndex,
    RegionInfo,
    VfioIrqIndex,
)
from hil.vfio.deviceio import VfioDeviceIO
from hil.vfio.dma import IovaAllocator, VfioDmaBuffer
from hil.vfio.errors import (
    GroupNotViable,
    UnsafeInterruptsError,
    VectorsNotGranted,
    VfioError,
)
from hil.vfio.eventfds import EventfdSet
from hil.vfio.group import Group, GroupMember, GroupStatus, group_members
from hil.vfio.ioctl import vfio_ioctl
from hil.vfio.msix import MsixCapability, find_msix_capability
from hil.vfio.registers import MmioRegion, PreadRegion, Registers
from hil.vfio.session import VfioHandle, open_device

__all__ = [
    "Container",
    "Device",
    "DeviceInfo",
    "EventfdSet",
    "Group",
    "GroupMember",
    "GroupNotViable",
    "GroupStatus",
    "IommuInfo",
    "IovaAllocator",
    "IrqInfo",
    "MmioRegion",
    "MsixCapability",
    "PreadRegion",
    "RegionCapabilities",
    "RegionIndex",
    "RegionInfo",
    "RegionType",
    "Registers",
    "SparseArea",
    "UnsafeInterruptsError",
    "VectorsNotGranted",
    "VfioDeviceIO",
    "VfioDmaBuffer",
    "VfioError",
    "VfioHandle",
    "VfioIrqIndex",
    "VfioMode",
    "available_modes",
    "find_msix_capability",
    "group_members",
    "open_device",
    "vfio_ioctl",
]
