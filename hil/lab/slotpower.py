"""Cutting the power of the PCIe slot a device sits in: a surprise removal on demand.

The virtual lab proves that a device which stops answering ends its test
with that finding, in bounded time.  Writing "power off, indicator off" to
the Slot Control register of the device's downstream port removes the card
at once in QEMU (`pcie_cap_slot_write_config`), the way a yanked card or a
dead link does on real hardware: config reads of it return all ones from
then on.  Fault injection for disposable guests only (see hil.lab.agent).
"""

from __future__ import annotations

import os
from pathlib import Path

from hil.linux.bdf import BDF_PATTERN, validate_bdf
from hil.linux.pci import parse_capabilities

SLOT_CAPABILITIES = 0x14
SLOT_CONTROL = 0x18
SLTCAP_POWER_CONTROLLER = 0x0002
SLTCTL_POWER_OFF = 0x0400
SLTCTL_POWER_INDICATOR_OFF = 0x0300


class SlotPowerError(RuntimeError):
    """The device has no slot whose power can be cut; the message says why."""


def downstream_port(root: Path, bdf: str) -> str:
    """The bridge above the device, from its sysfs path (…/0000:80:00.0/0000:81:00.0)."""
    device = (root / "sys/bus/pci/devices" / validate_bdf(bdf)).resolve()
    parent = device.parent.name
    if not BDF_PATTERN.fullmatch(parent):
        raise SlotPowerError(f"{bdf} sits on a root bus ({parent}): it has no slot to power off")
    return parent


def cut_slot_power(root: Path, bdf: str) -> str:
    """Power off the slot of `bdf`; returns the port's BDF (for the evidence)."""
    port = downstream_port(root, bdf)
    path = root / "sys/bus/pci/devices" / port / "config"
    fd = os.open(path, os.O_RDWR)
    try:
        config = os.pread(fd, 256, 0)
        pcie = parse_capabilities(config).pcie
        if pcie is None:
            raise SlotPowerError(f"port {port} of {bdf} has no PCI Express capability")
        caps = int.from_bytes(config[pcie.offset + SLOT_CAPABILITIES :][:4], "little")
        if not caps & SLTCAP_POWER_CONTROLLER:
            raise SlotPowerError(f"the slot of port {port} has no power controller")
        where = pcie.offset + SLOT_CONTROL
        control = int.from_bytes(config[where : where + 2], "little")
        control |= SLTCTL_POWER_OFF | SLTCTL_POWER_INDICATOR_OFF
        os.pwrite(fd, control.to_bytes(2, "little"), where)
    finally:
        os.close(fd)
    return port
