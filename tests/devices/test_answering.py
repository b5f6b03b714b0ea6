"""A device that stopped answering (reads all ones) ends the work at once, named as such."""

from __future__ import annotations

import errno
import time

import pytest

from hil.devices._poll import PollPolicy, poll_until
from hil.devices.answering import AnsweringIO, DeviceStoppedAnswering, Presence, explain
from hil.devices.base import DeviceError, MappedRegisterSpace
from hil.devices.edu import EduStoredMessage
from hil.devices.nvme import NvmeDriver
from hil.model.vocabulary import MsiMessage
from tests.devices.doubles.edu import EduDouble
from tests.devices.doubles.fake_io import FakeDeviceIO
from tests.devices.doubles.nvme import NvmeDouble
from tests.devices.doubles.register_file import MappedRegisterFile, RegisterFile

BDF = "0000:00:03.0"
SLOW = PollPolicy(timeout_s=30.0, interval_s=0.001)
"""A deadline no test may reach: a dead device must end the poll long before it."""


def _gone(number: int) -> OSError:
    return OSError(number, "config read failed")


def test_all_ones_vendor_id_is_a_device_error_that_says_why() -> None:
    presence = Presence("igb0", BDF, lambda: 0xFFFF)
    with pytest.raises(DeviceStoppedAnswering) as stopped:
        presence.check()
    assert isinstance(stopped.value, DeviceError)
    assert str(stopped.value) == (
        "igb0 (0000:00:03.0) stopped answering: config read of vendor ID returned 0xffff "
        "(all ones: link down, surprise removal or hung device)"
    )


def test_a_device_the_kernel_removed_stopped_answering() -> None:
    def removed() -> int:
        raise _gone(errno.ENOENT)

    failure = Presence("nvme0", BDF, removed).failure(after="BAR0 read32 at 0x1c")
    assert failure is not None
    assert "BAR0 read32 at 0x1c; config read of vendor ID failed (ENOENT" in str(failure)


def test_a_config_read_refused_for_another_reason_is_not_hidden() -> None:
    def refused() -> int:
        raise _gone(errno.EACCES)

    with pytest.raises(OSError, match="config read failed"):
        Presence("nvme0", BDF, refused).check()


def test_a_healthy_register_that_reads_all_ones_is_returned_as_read() -> None:
    io = FakeDeviceIO({0: RegisterFile(0)}, bdf=BDF)
    io.bars[0].poke(0x10, 4, 0xFFFFFFFF)
    bar0 = AnsweringIO(io, io.presence("edu0")).bar(0)
    assert bar0.read32(0x10) == 0xFFFFFFFF
    assert io.config().reads == [(-1, 0x0, 2)], "one vendor-ID read confirmed it"
    assert bar0.read32(0x14) == 0
    assert len(io.config().reads) == 1, "an ordinary value costs nothing"


def test_a_poll_on_a_device_that_stopped_answering_ends_at_its_first_read() -> None:
    double = EduDouble()
    driver = EduStoredMessage(dma_policy=SLOW)
    driver.init(AnsweringIO(double.io, double.io.presence("edu0")))
    double.io.stop_answering()
    start = time.monotonic()
    with pytest.raises(DeviceStoppedAnswering) as stopped:
        driver.store(MsiMessage(address=0xFEE01004, data=0x41))
    assert time.monotonic() - start < 1.0
    assert double.bar0.reads == [(0, 0x98, 8)], "the DMA-idle poll read DMA_CMD once"
    assert str(stopped.value) == (
        "edu0 (0000:00:04.0) stopped answering: BAR0 read64 at 0x98 returned "
        "0xffffffffffffffff; config read of vendor ID returned 0xffff "
        "(all ones: link down, surprise removal or hung device)"
    )


def test_a_status_word_of_all_ones_is_not_read_as_the_device_s_own_error() -> None:
    # CSTS all ones has CFS set: unchecked, a dead NVMe controller would be
    # reported as "controller fatal status" after a full ready wait.
    double = NvmeDouble()
    double.io.stop_answering()
    with pytest.raises(DeviceStoppedAnswering, match=r"BAR0 read64 at 0x0 returned"):
        NvmeDriver(policy=SLOW).init(AnsweringIO(double.io, double.io.presence("nvme0")))


def test_a_timeout_on_a_device_that_stopped_answering_is_explained() -> None:
    # NVMe completions land in host memory: no register read sees the all ones,
    # so the driver's own timeout is what the check turns into the real cause.
    double = NvmeDouble()
    presence = double.io.presence("nvme0")
    driver = NvmeDriver(policy=PollPolicy(timeout_s=0.05, interval_s=0.0), depth=4)
    driver.init(AnsweringIO(double.io, presence))
    double.msix_enabled = True
    driver.enable_vectors(2)
    double.io.stop_answering()
    with pytest.raises(DeviceError, match="timed out") as timeout:
        driver.fire(1)
    explained = explain(timeout.value, presence)
    assert isinstance(explained, DeviceStoppedAnswering)
    assert str(explained).startswith(
        "nvme0 (0000:00:04.0) stopped answering: timed out after 0.05 s waiting for "
        "nvme completion on queue 1; config read of vendor ID returned 0xffff"
    )


def test_a_healthy_device_that_did_not_finish_still_times_out() -> None:
    io = FakeDeviceIO({0: RegisterFile(0)}, bdf=BDF)
    policy = PollPolicy(timeout_s=0.01, interval_s=0.0)
    with pytest.raises(DeviceError) as timeout:
        poll_until(lambda: False, what="the device", policy=policy)
    assert explain(timeout.value, io.presence("edu0")) is timeout.value
    assert not isinstance(timeout.value, DeviceStoppedAnswering)


def test_a_mapped_bar_keeps_its_address() -> None:
    portal = MappedRegisterFile(2, base=0x7F00_0000_0000)
    io = FakeDeviceIO({0: RegisterFile(0), 2: portal}, bdf=BDF)
    answering = AnsweringIO(io, io.presence("dsa0"))
    wq = answering.bar(2)
    assert isinstance(wq, MappedRegisterSpace)
    assert wq.address(0x40) == 0x7F00_0000_0040
    assert not isinstance(answering.bar(0), MappedRegisterSpace)
