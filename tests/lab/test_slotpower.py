"""Cutting a slot's power: the downstream port is found from sysfs and only its
Slot Control power bits change."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from hil.lab.slotpower import SlotPowerError, cut_slot_power, downstream_port

PORT = "0000:80:00.0"
DEVICE = "0000:81:00.0"
PCIE_CAP = 0x40


def _port_config(slot_caps: int, slot_control: int) -> bytearray:
    config = bytearray(256)
    struct.pack_into("<HH", config, 0, 0x1B36, 0x000C)  # a QEMU pcie-root-port
    struct.pack_into("<H", config, 0x06, 0x0010)  # capability list present
    config[0x34] = PCIE_CAP
    config[PCIE_CAP] = 0x10  # PCI Express, last in the list
    struct.pack_into("<H", config, PCIE_CAP + 2, 0x0142)  # root port, slot implemented
    struct.pack_into("<I", config, PCIE_CAP + 0x14, slot_caps)
    struct.pack_into("<H", config, PCIE_CAP + 0x18, slot_control)
    return config


def _tree(root: Path, config: bytes) -> None:
    port_dir = root / "sys/devices/pci0000:80" / PORT
    (port_dir / DEVICE).mkdir(parents=True)
    (port_dir / "config").write_bytes(config)
    devices = root / "sys/bus/pci/devices"
    devices.mkdir(parents=True)
    (devices / PORT).symlink_to(port_dir)
    (devices / DEVICE).symlink_to(port_dir / DEVICE)


def test_the_port_above_the_device_gets_power_and_indicator_off(tmp_path: Path) -> None:
    _tree(tmp_path, _port_config(slot_caps=0x0000007E, slot_control=0x02F1))
    assert downstream_port(tmp_path, DEVICE) == PORT
    assert cut_slot_power(tmp_path, DEVICE) == PORT
    config = (tmp_path / "sys/bus/pci/devices" / PORT / "config").read_bytes()
    (control,) = struct.unpack_from("<H", config, PCIE_CAP + 0x18)
    assert control == 0x02F1 | 0x0700, "power off, indicator off, every other bit kept"


def test_a_slot_without_power_controller_is_refused(tmp_path: Path) -> None:
    _tree(tmp_path, _port_config(slot_caps=0x0000007C, slot_control=0x02F1))
    with pytest.raises(SlotPowerError, match="no power controller"):
        cut_slot_power(tmp_path, DEVICE)


def test_a_device_on_a_root_bus_has_no_slot(tmp_path: Path) -> None:
    (tmp_path / "sys/devices/pci0000:00/0000:00:03.0").mkdir(parents=True)
    (tmp_path / "sys/bus/pci/devices").mkdir(parents=True)
    (tmp_path / "sys/bus/pci/devices/0000:00:03.0").symlink_to(
        tmp_path / "sys/devices/pci0000:00/0000:00:03.0"
    )
    with pytest.raises(SlotPowerError, match="root bus"):
        cut_slot_power(tmp_path, "0000:00:03.0")
