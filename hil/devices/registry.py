"""Find a device driver by the name a scenario uses or by PCI ids.

Scenarios and inventories name drivers as strings; a typo there must say
which names exist rather than fail later with an AttributeError.
"""

from __future__ import annotations

from hil.devices.ath11k import Ath11kDriver
from hil.devices.base import DeviceDriver
from hil.devices.e1000e import E1000eDriver
from hil.devices.edu import EduDriver, EduStoredMessage
from hil.devices.idxd import IdxdDriver
from hil.devices.igb import IgbDriver
from hil.devices.ivshmem import IvshmemDriver
from hil.devices.nvme import NvmeDriver
from hil.devices.switchtec import SwitchtecDriver
from hil.devices.xhci import XhciDriver

_DRIVERS: tuple[type[DeviceDriver], ...] = (
    Ath11kDriver,
    E1000eDriver,
    EduDriver,
    EduStoredMessage,
    IdxdDriver,
    IgbDriver,
    IvshmemDriver,
    NvmeDriver,
    SwitchtecDriver,
    XhciDriver,
)


class UnknownDriver(KeyError):
    """No driver has this name or these ids; the message lists what exists."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def all_drivers() -> tuple[type[DeviceDriver], ...]:
    """Every driver, ordered by name."""
    return tuple(sorted(_DRIVERS, key=lambda driver: driver.name))


def driver_for(name: str) -> type[DeviceDriver]:
    for driver in _DRIVERS:
        if driver.name == name:
            return driver
    names = ", ".join(driver.name for driver in all_drivers())
    raise UnknownDriver(f"no device driver named {name!r}; known drivers: {names}")


def driver_for_ids(vendor: int, device: int) -> type[DeviceDriver]:
    """The driver for a PCI function; edu resolves to the plain driver, not the stored one."""
    for driver in all_drivers():
        if driver is EduStoredMessage:
            continue
        if (vendor, device) in driver.ids:
            return driver
    names = ", ".join(driver.name for driver in all_drivers())
    raise UnknownDriver(f"no device driver for {vendor:04x}:{device:04x}; known drivers: {names}")
