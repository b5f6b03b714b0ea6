"""igb and e1000e: enable/fire sequences and the vector the double reports."""

from __future__ import annotations

import pytest

from hil.devices.base import DeviceError
from hil.devices.e1000e import E1000eDriver
from hil.devices.igb import IgbDriver
from tests.devices.doubles.e1000e import E1000eDouble
from tests.devices.doubles.igb import IgbDouble


def test_igb_enable_writes_gpie_then_eiac_then_eims() -> None:
    double = IgbDouble()
    driver = IgbDriver()
    driver.init(double.io)
    driver.enable_vectors(10)
    # virtual-lab-findings.md "Device triggers that worked", igb: GPIE (0x1514) =
    # 0xC0000010 (MSI-X mode, EIAME, PBA), EIAC (0x152C) and EIMS (0x1524) = mask.
    assert double.bar0.writes == [
        (0, 0x1514, 4, 0xC0000010),
        (0, 0x152C, 4, 0x3FF),
        (0, 0x1524, 4, 0x3FF),
    ]


@pytest.mark.parametrize("vector", range(10))
def test_igb_fire_raises_that_vector_repeatedly_without_ack(vector: int) -> None:
    double = IgbDouble()
    driver = IgbDriver()
    driver.init(double.io)
    driver.enable_vectors(10)
    driver.fire(vector)
    driver.fire(vector)
    # findings: a write of 1 << k to EICS (0x1520) fires vector k, repeatable.
    assert double.bar0.writes[-1] == (0, 0x1520, 4, 1 << vector)
    assert double.io.fired == [vector, vector]


def test_igb_refuses_a_vector_it_did_not_enable() -> None:
    double = IgbDouble()
    driver = IgbDriver()
    driver.init(double.io)
    driver.enable_vectors(3)
    with pytest.raises(DeviceError, match="vector 3"):
        driver.fire(3)
    assert double.io.fired == []


def test_igb_remove_masks_the_enabled_vectors() -> None:
    double = IgbDouble()
    driver = IgbDriver()
    driver.init(double.io)
    driver.enable_vectors(4)
    driver.remove()
    # Linux igb_irq_disable writes EIMC (0x1528) with the enabled mask.
    assert double.bar0.writes[-1] == (0, 0x1528, 4, 0xF)


def test_e1000e_enable_routes_five_causes_to_five_vectors() -> None:
    double = E1000eDouble()
    driver = E1000eDriver()
    driver.init(double.io)
    driver.enable_vectors(5)
    # findings / kernel-facts §7 e1000e: IVAR (0xE4) = 0x000CBA98, IMS (0xD0) = 0x01F00000;
    # ICR (0xC0) cleared in between.
    assert double.bar0.writes == [
        (0, 0xE4, 4, 0x000CBA98), (0, 0xC0, 4, 0xFFFFFFFF), (0, 0xD0, 4, 0x01F00000),
    ]  # fmt: skip


def test_e1000e_a_cause_pending_before_enable_does_not_fire_at_enable() -> None:
    """The link comes up after vfio's reset: LSC sets ICR's Other cause (bit 24)."""
    double = E1000eDouble()
    driver = E1000eDriver()
    driver.init(double.io)
    double.bar0.poke(0xC0, 4, 1 << 24)
    driver.enable_vectors(5)
    assert double.io.fired == []


@pytest.mark.parametrize("vector", range(5))
def test_e1000e_fires_the_same_cause_again(vector: int) -> None:
    double = E1000eDouble()
    driver = E1000eDriver()
    driver.init(double.io)
    driver.enable_vectors(5)
    driver.fire(vector)
    driver.acknowledge(vector)
    driver.fire(vector)
    # kernel-facts §7: ICS = 1 << (20 + k) fires vector k; with EIAC the cause is
    # auto-cleared on send, so the second ICS is newly pending and fires again.
    assert double.bar0.writes[-1] == (0, 0xC8, 4, 1 << (20 + vector))
    assert double.io.fired == [vector, vector]


def test_e1000e_fire_clears_icr_first_so_a_pending_cause_fires_again() -> None:
    double = E1000eDouble()
    driver = E1000eDriver()
    driver.init(double.io)
    driver.enable_vectors(5)
    driver.fire(1)
    driver.fire(1)
    assert double.io.fired == [1, 1]


def test_e1000e_cause_left_pending_does_not_fire_again() -> None:
    """Why EIAC: without it (QEMU semantics) a cause still in ICR is not sent again."""
    double = E1000eDouble()
    double.bar0.write32(0xE4, 0x000CBA98)
    double.bar0.write32(0xD0, 0x01F00000)
    double.bar0.write32(0xC8, 1 << 21)
    double.bar0.write32(0xC8, 1 << 21)
    assert double.io.fired == [1]


def test_e1000e_acknowledge_clears_only_that_cause() -> None:
    double = E1000eDouble()
    driver = E1000eDriver()
    driver.init(double.io)
    driver.enable_vectors(5)
    double.bar0.poke(0xC0, 4, (1 << 22) | (1 << 23))
    driver.acknowledge(2)
    assert double.bar0.writes[-1] == (0, 0xC0, 4, 1 << 22)
    assert double.bar0.peek(0xC0, 4) == 1 << 23


def test_e1000e_fewer_vectors_leave_other_causes_unrouted() -> None:
    double = E1000eDouble()
    driver = E1000eDriver()
    driver.init(double.io)
    driver.enable_vectors(2)
    # IVAR nibbles 0 and 1 valid (0x8, 0x9), the rest invalid; IMS RXQ0|RXQ1.
    assert double.bar0.writes == [
        (0, 0xE4, 4, 0x98), (0, 0xC0, 4, 0xFFFFFFFF), (0, 0xD0, 4, 0x00300000),
    ]  # fmt: skip
    with pytest.raises(DeviceError):
        driver.fire(2)
