"""NVMe: controller enable, I/O queue creation and completion interrupts."""

from __future__ import annotations

import struct

import pytest

from hil.devices._poll import PollPolicy
from hil.devices.base import DeviceError
from hil.devices.nvme import NvmeDriver
from tests.devices.doubles.nvme import NvmeDouble

FAST = PollPolicy(timeout_s=0.2, interval_s=0.0)


def _ready(double: NvmeDouble, count: int = 1) -> NvmeDriver:
    driver = NvmeDriver(policy=FAST, depth=4)
    driver.init(double.io)
    double.msix_enabled = True  # VFIO enables MSI-X between init and enable_vectors
    driver.enable_vectors(count)
    return driver


def test_init_programs_admin_queues_then_enables() -> None:
    double = NvmeDouble()
    driver = NvmeDriver(policy=FAST, depth=4)
    driver.init(double.io)
    asq, acq = double.io.buffers[0], double.io.buffers[1]
    # NVMe base spec 3.5.1 controller initialisation: AQA (0x24) sizes (zero-based),
    # ASQ (0x28), ACQ (0x30), then CC (0x14) with IOSQES=6, IOCQES=4, EN=1 (QEMU
    # nvme_create_cq insists on 6/4), then wait for CSTS.RDY.
    assert double.bar0.writes == [
        (0, 0x24, 4, (3 << 16) | 3),
        (0, 0x28, 8, asq.iova),
        (0, 0x30, 8, acq.iova),
        (0, 0x14, 4, 0x00460001),
    ]
    assert double.bar0.peek(0x1C, 4) & 1


def test_controller_that_never_gets_ready_times_out() -> None:
    double = NvmeDouble()
    double.never_ready = True
    double.bar0.poke(0x00, 8, double.bar0.peek(0x00, 8) & ~(0xFF << 24))  # CAP.TO = 0
    with pytest.raises(DeviceError, match=r"CSTS\.RDY"):
        NvmeDriver(policy=PollPolicy(timeout_s=0.05, interval_s=0.0)).init(double.io)


def test_enabled_controller_is_reset_first() -> None:
    double = NvmeDouble()
    double.bar0.poke(0x14, 4, 1)
    double.bar0.poke(0x1C, 4, 1)
    NvmeDriver(policy=FAST).init(double.io)
    # Spec 3.5.2: clear CC.EN and wait for CSTS.RDY = 0 before reprogramming AQA/ASQ/ACQ.
    assert double.bar0.writes[0] == (0, 0x14, 4, 0)


def test_enable_vectors_creates_one_cq_and_sq_per_vector() -> None:
    double = NvmeDouble()
    _ready(double, count=3)
    creates = [(sqid, opcode) for sqid, opcode, _ in double.commands]
    # kernel-facts §7 nvme: Create I/O CQ (0x05) with cdw11 = k<<16 | IEN | PC, then an
    # SQ on it (0x01).
    assert creates == [(0, 0x05), (0, 0x01), (0, 0x05), (0, 0x01)]
    cq_cdw11 = [struct.unpack_from("<I", raw, 44)[0] for _, op, raw in double.commands if op == 5]
    assert cq_cdw11 == [(1 << 16) | 0b11, (2 << 16) | 0b11]
    sq_cdw11 = [struct.unpack_from("<I", raw, 44)[0] for _, op, raw in double.commands if op == 1]
    assert sq_cdw11 == [(1 << 16) | 1, (2 << 16) | 1]
    assert double.cqs[2].vector == 2 and double.cqs[2].interrupts
    assert double.sqs[2].cqid == 2


@pytest.mark.parametrize("vector", [1, 2, 3])
def test_fire_k_flushes_on_queue_k_and_the_cq_interrupts_on_vector_k(vector: int) -> None:
    double = NvmeDouble()
    driver = _ready(double, count=4)
    double.io.fired.clear()
    driver.fire(vector)
    assert double.io.fired == [vector]
    sqid, opcode, raw = double.commands[-1]
    assert (sqid, opcode) == (vector, 0x00)  # Flush on SQ k
    assert struct.unpack_from("<I", raw, 4)[0] == 1  # namespace 1
    # SQ y tail doorbell at 0x1000 + 2y * (4 << DSTRD), DSTRD = 0 here.
    assert (0, 0x1000 + 8 * vector, 4, 1) in double.bar0.writes
    assert driver.last_completion[vector].status == 0


def test_fire_zero_completes_an_admin_command_on_the_admin_cq() -> None:
    double = NvmeDouble()
    driver = _ready(double, count=2)
    double.io.fired.clear()
    driver.fire(0)
    assert double.io.fired == [0]
    assert double.commands[-1][:2] == (0, 0x0A)  # Get Features, admin SQ
    assert driver.last_completion[0].result == (63 << 16) | 63


def test_setup_interrupts_on_vector_zero_are_counted() -> None:
    double = NvmeDouble()
    driver = _ready(double, count=3)
    assert double.io.fired == [0, 0, 0, 0]
    assert driver.setup_completions == 4


def test_acknowledge_hands_completions_back_through_the_cq_head_doorbell() -> None:
    double = NvmeDouble()
    driver = _ready(double, count=2)
    for _ in range(3):
        driver.fire(1)
        driver.acknowledge(1)
    # CQ y head doorbell at 0x1000 + (2y + 1) * 4; depth 4 wraps after the fourth entry.
    heads = [w[3] for w in double.bar0.writes if w[1] == 0x1000 + 3 * 4]
    assert heads == [1, 2, 3]
    assert double.io.fired[-3:] == [1, 1, 1]


def test_firing_past_a_full_cq_without_acknowledge_is_refused() -> None:
    double = NvmeDouble()
    driver = _ready(double, count=2)
    for _ in range(3):
        driver.fire(1)
    with pytest.raises(DeviceError, match="acknowledge"):
        driver.fire(1)


def test_phase_bit_wraps_with_the_queue() -> None:
    double = NvmeDouble()
    driver = _ready(double, count=2)
    for _ in range(9):
        driver.fire(1)
        driver.acknowledge(1)
    assert double.io.fired.count(1) == 9


def test_a_flush_on_a_missing_namespace_still_interrupts_and_reports_status() -> None:
    double = NvmeDouble(namespaces=())
    driver = _ready(double, count=2)
    double.io.fired.clear()
    driver.fire(1)
    assert double.io.fired == [1]
    assert driver.last_completion[1].status != 0


def test_queue_creation_failure_names_the_status() -> None:
    double = NvmeDouble(msix_vectors=2)
    driver = NvmeDriver(policy=FAST, depth=4)
    driver.init(double.io)
    double.msix_enabled = True
    with pytest.raises(DeviceError, match=r"opcode 0x5 failed, status 0x4108"):
        driver.enable_vectors(3)


def test_remove_disables_the_controller() -> None:
    double = NvmeDouble()
    driver = _ready(double, count=2)
    driver.remove()
    assert double.bar0.writes[-1] == (0, 0x14, 4, 0)
    assert double.cqs == {}
