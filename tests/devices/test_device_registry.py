"""Looking drivers up by name and by PCI ids."""

from __future__ import annotations

import pytest

from hil.devices.edu import EduDriver, EduStoredMessage
from hil.devices.registry import UnknownDriver, all_drivers, driver_for, driver_for_ids

EXPECTED_NAMES = {
    "ath11k",
    "e1000e",
    "edu",
    "edu-stored",
    "idxd",
    "igb",
    "ivshmem",
    "nvme",
    "switchtec",
    "xhci",
}


def test_every_driver_is_registered_once_by_name() -> None:
    names = [driver.name for driver in all_drivers()]
    assert sorted(names) == names
    assert set(names) == EXPECTED_NAMES
    for name in names:
        assert driver_for(name).name == name


@pytest.mark.parametrize(
    ("vendor", "device", "name"),
    [
        (0x8086, 0x10C9, "igb"),
        (0x8086, 0x10D3, "e1000e"),
        (0x1234, 0x11E8, "edu"),
        (0x1AF4, 0x1110, "ivshmem"),
        (0x1033, 0x0194, "xhci"),
        (0x1B36, 0x0010, "nvme"),
        (0x8086, 0x0B25, "idxd"),
        (0x8086, 0x0CFE, "idxd"),
        (0x11F8, 0x8531, "switchtec"),
        (0x17CB, 0x1103, "ath11k"),
    ],
)
def test_ids_resolve_to_the_device_driver(vendor: int, device: int, name: str) -> None:
    assert driver_for_ids(vendor, device).name == name


def test_edu_ids_resolve_to_the_plain_driver() -> None:
    assert driver_for_ids(0x1234, 0x11E8) is EduDriver
    assert driver_for("edu-stored") is EduStoredMessage


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(KeyError) as raised:
        driver_for("e1000")
    assert isinstance(raised.value, UnknownDriver)
    assert "'e1000'" in str(raised.value)
    assert "e1000e, edu" in str(raised.value)


def test_unknown_ids_are_reported_in_hex() -> None:
    with pytest.raises(UnknownDriver, match="dead:beef"):
        driver_for_ids(0xDEAD, 0xBEEF)
