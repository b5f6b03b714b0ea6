"""edu: raise/ack registers and the stored-message DMA path."""

from __future__ import annotations

import pytest

from hil.devices._poll import PollPolicy
from hil.devices.base import DeviceError
from hil.devices.edu import EduDriver, EduStoredMessage
from hil.model.vocabulary import MsiMessage
from tests.devices.doubles.edu import EduDouble

FAST = PollPolicy(timeout_s=1.0, interval_s=0.0)
MESSAGE = MsiMessage(address=0xFEE01004, data=0x41)


def test_fire_writes_the_raise_register_and_sends_the_msi() -> None:
    double = EduDouble()
    driver = EduDriver()
    driver.init(double.io)
    driver.fire(0)
    driver.fire(0)
    # kernel-facts §7 edu: write any u32 to BAR0 0x60; every write sends while irq_status != 0.
    assert double.bar0.writes == [(0, 0x60, 4, 1), (0, 0x60, 4, 1)]
    assert double.io.fired == [0, 0]


def test_acknowledge_writes_back_the_status_it_read() -> None:
    double = EduDouble()
    driver = EduDriver()
    driver.init(double.io)
    driver.fire(0)
    driver.acknowledge(0)
    # findings: write the same value to BAR0+0x64 to acknowledge; status at 0x24.
    assert (0, 0x24, 4) in double.bar0.reads
    assert double.bar0.writes[-1] == (0, 0x64, 4, 1)
    assert double.irq_status == 0


def test_edu_has_one_vector() -> None:
    driver = EduDriver()
    driver.init(EduDouble().io)
    with pytest.raises(DeviceError, match="one MSI vector"):
        driver.fire(1)


def test_store_copies_the_data_word_into_the_device_buffer() -> None:
    double = EduDouble()
    driver = EduStoredMessage(dma_policy=FAST)
    driver.init(double.io)
    driver.store(MESSAGE)
    staging = double.io.buffers[0]
    # findings "A device that stores its own message": DMA source = iova, destination =
    # 0x40000, count 4, command 1 (0x80 src, 0x88 dst, 0x90 count, 0x98 command).
    assert [w for w in double.bar0.writes if w[1] >= 0x80] == [
        (0, 0x80, 8, staging.iova),
        (0, 0x88, 8, 0x40000),
        (0, 0x90, 8, 4),
        (0, 0x98, 8, 1),
    ]
    assert double.buffer[:4] == (0x41).to_bytes(4, "little")
    assert driver.stored_message == MESSAGE
    assert double.io.fired == []


def test_fire_stored_has_the_device_write_the_stored_message() -> None:
    double = EduDouble()
    driver = EduStoredMessage(dma_policy=FAST)
    driver.init(double.io)
    driver.store(MESSAGE)
    driver.fire_stored()
    # findings: DMA source 0x40000, destination = the stored MSI address, count 4, command 3.
    assert double.transfers[-1] == (0x40000, 0xFEE01004, 4, 3)
    assert double.io.msi_writes == [(0xFEE01004, 0x41)]


def test_default_dma_mask_clamps_the_message_away() -> None:
    """Why QEMU needs dma_mask=0xffffffff: a 28-bit mask moves the write off 0xFEExxxxx."""
    double = EduDouble()
    driver = EduStoredMessage(dma_policy=FAST)
    driver.init(double.io)
    driver.store(MESSAGE)
    double.dma_mask = (1 << 28) - 1  # QEMU's default (edu_instance_init)
    driver.fire_stored()
    assert double.io.msi_writes == []
    assert double.io.stray_writes == [(0x0EE01004, (0x41).to_bytes(4, "little"))]


def test_dma_that_never_finishes_raises_with_a_deadline() -> None:
    double = EduDouble(busy_reads=10**9)
    driver = EduStoredMessage(dma_policy=PollPolicy(timeout_s=0.05, interval_s=0.001))
    driver.init(double.io)
    with pytest.raises(DeviceError, match=r"timed out .* edu DMA"):
        driver.store(MESSAGE)


def test_fire_stored_without_a_message_is_an_error() -> None:
    driver = EduStoredMessage(dma_policy=FAST)
    driver.init(EduDouble().io)
    with pytest.raises(DeviceError, match="no message stored"):
        driver.fire_stored()
