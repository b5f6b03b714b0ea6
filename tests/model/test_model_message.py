"""Compat messages by APIC routing mode (values from the transcripts)."""

from __future__ import annotations

import pytest

from hil.model.message import compat_message
from hil.model.vocabulary import ApicMode, MsiMessage


def test_logical_flat_as_seen_on_6_1() -> None:
    assert compat_message(ApicMode.LOGICAL_FLAT, 3, 3, 0x26) == MsiMessage(0xFEE08004, 0x26)
    assert compat_message(ApicMode.LOGICAL_FLAT, 0, 0, 0xEF) == MsiMessage(0xFEE01004, 0xEF)
    with pytest.raises(ValueError):
        compat_message(ApicMode.LOGICAL_FLAT, 8, 8, 0x30)


def test_physical_as_seen_on_6_12() -> None:
    assert compat_message(ApicMode.PHYSICAL_FLAT, 3, 3, 0x25) == MsiMessage(0xFEE03000, 0x25)
    assert compat_message(ApicMode.X2APIC_PHYSICAL, 1, 7, 0x30) == MsiMessage(0xFEE07000, 0x30)


def test_apic_id_not_cpu_number_decides_physical_destination() -> None:
    msg = compat_message(ApicMode.PHYSICAL_FLAT, 1, 6, 0x30)
    assert msg.destination == 6 and not msg.logical


def test_x2apic_ids_above_255_use_the_high_address() -> None:
    msg = compat_message(ApicMode.X2APIC_PHYSICAL, 5, 0x1234, 0x40)
    assert msg.address_hi == 0x1200 and msg.destination == 0x34
