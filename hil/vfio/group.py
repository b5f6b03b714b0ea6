"""An IOMMU group's VFIO node (/dev/vfio/N): the unit the IOMMU isolates.

Every device of a group must be bound to vfio-pci (or no driver) before the
group is viable; the error says which devices are in the way, since that
is what the person at the machine has to fix.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from hil.vfio.cdefs import ffi, lib
from hil.vfio.container import Container
from hil.vfio.device import Device
from hil.vfio.errors import GroupNotViable
from hil.vfio.ioctl import vfio_ioctl


@dataclass(frozen=True)
class GroupStatus:
    viable: bool
    container_set: bool


@dataclass(frozen=True)
class GroupMember:
    """A device of an IOMMU group and the driver it is bound to (None if unbound)."""

    bdf: str
    driver: str | None

    def __str__(self) -> str:
        return f"{self.bdf} (driver {self.driver or 'none'})"


def group_members(number: int, root: Path = Path("/")) -> list[GroupMember]:
    """The devices sysfs lists in IOMMU group `number`, with their drivers."""
    devices = root / f"sys/kernel/iommu_groups/{number}/devices"
    if not devices.is_dir():
        return []
    members = []
    for entry in sorted(devices.iterdir()):
        driver_link = entry / "driver"
        driver = os.path.basename(os.readlink(driver_link)) if driver_link.is_symlink() else None
        members.append(GroupMember(entry.name, driver))
    return members


class Group:
    """Open /dev/vfio/`number` and refuse a group that is not viable."""

    def __init__(self, number: int, root: Path = Path("/")) -> None:
        self.number = number
        self._root = root
        self._fd = os.open(root / f"dev/vfio/{number}", os.O_RDWR | os.O_CLOEXEC)
        try:
            if not self.status().viable:
                raise GroupNotViable("VFIO_GROUP_GET_STATUS", 0, self._not_viable_message())
        except BaseException:
            self.close()
            raise

    def _not_viable_message(self) -> str:
        members = group_members(self.number, self._root)
        listed = ", ".join(str(member) for member in members) or "none listed in sysfs"
        return (
            f"IOMMU group {self.number} is not viable: every device in it must be bound to "
            f"vfio-pci or to no driver. Devices in the group: {listed}"
        )

    @property
    def fd(self) -> int:
        return self._fd

    def status(self) -> GroupStatus:
        request = ffi.new("struct vfio_group_status *")
        request.argsz = ffi.sizeof(request[0])
        vfio_ioctl(self._fd, lib.VFIO_GROUP_GET_STATUS, request)
        flags = int(request.flags)
        return GroupStatus(
            viable=bool(flags & lib.VFIO_GROUP_FLAGS_VIABLE),
            container_set=bool(flags & lib.VFIO_GROUP_FLAGS_CONTAINER_SET),
        )

    def set_container(self, container: Container) -> None:
        container_fd = ffi.new("int32_t *", container.fd)
        vfio_ioctl(self._fd, lib.VFIO_GROUP_SET_CONTAINER, container_fd)

    def device(self, bdf: str) -> Device:
        """The device's own fd is the ioctl's return value."""
        name = ffi.new("char[]", bdf.encode("ascii"))
        return Device(vfio_ioctl(self._fd, lib.VFIO_GROUP_GET_DEVICE_FD, name), bdf)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Group:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
