"""DSA/IAX: configuration, commands, descriptors and their interrupts."""

from __future__ import annotations

import struct

import pytest

from hil.devices._poll import PollPolicy
from hil.devices.base import DeviceError, DeviceUnavailable
from hil.devices.idxd import IdxdDriver, Movdir64bSubmitter
from tests.devices.doubles.idxd import GRPCFG_AT, WQCFG_AT, IdxdDouble
from tests.devices.doubles.register_file import MappedRegisterFile, RegisterFile

FAST = PollPolicy(timeout_s=0.2, interval_s=0.0)


def _driver(double: IdxdDouble) -> IdxdDriver:
    driver = IdxdDriver(submitter=double.submit, policy=FAST)
    driver.init(double.io)
    return driver


def test_init_resets_configures_and_enables_as_the_selftest_does() -> None:
    double = IdxdDouble()
    _driver(double)
    # dsa.c dsa_init: RESET_DEVICE (5), WQCFG of WQ 0, GRPCFG wqs[0] = 1 and
    # engines = 1, ENABLE_DEVICE (1), ENABLE_WQ (6); CMD (0xa0) = cmd << 20.
    commands = [w for w in double.bar0.writes if w[1] == 0xA0]
    assert commands == [(0, 0xA0, 4, 5 << 20), (0, 0xA0, 4, 1 << 20), (0, 0xA0, 4, 6 << 20)]
    config_writes = [w for w in double.bar0.writes if w[1] != 0xA0]
    assert [w[1] for w in config_writes] == [WQCFG_AT + 4 * i for i in range(16)] + [
        GRPCFG_AT,
        GRPCFG_AT + 32,
    ]
    assert config_writes[-2:] == [(0, GRPCFG_AT, 8, 1), (0, GRPCFG_AT + 32, 8, 1)]
    assert double.device_enabled and double.wq_enabled


def test_wq_config_is_dedicated_priority_one_with_memmove_and_batch() -> None:
    double = IdxdDouble()
    _driver(double)
    wqcfg = double.wqcfg()
    size, mode, limits = struct.unpack_from("<H", wqcfg, 0)[0], wqcfg[8], wqcfg[12:16]
    # dsa.c dsa_wq_init: wq_size = total_wq_size (128 here), mode 1, priority 1, ATS
    # disabled when supported, max shifts from GENCAP, op_config[0] = MEMMOVE|BATCH.
    assert size == 128
    assert mode == 0b0001_0101  # mode=1, wq_ats_disable=1 (bit 2), priority=1 (bits 7:4)
    assert int.from_bytes(limits, "little") == 31 | (10 << 5)
    assert struct.unpack_from("<Q", wqcfg, 32)[0] == (1 << 3) | (1 << 1)


@pytest.mark.parametrize("vector", [1, 2, 7])
def test_fire_k_submits_a_memmove_with_interrupt_handle_k(vector: int) -> None:
    double = IdxdDouble()
    driver = _driver(double)
    driver.enable_vectors(8)
    driver.fire(vector)
    offset, descriptor = double.descriptors[-1]
    word0, word1, completion, src, dst, size, handle = struct.unpack_from("<IIQQQIH", descriptor)
    # dsa.c dsa_copy_desc_init: opcode MEMMOVE (3), flags CRAV|RCR|RCI (0x1c), priv = 1;
    # kernel-facts §7: int_handle = k, portal WQ0 = BAR2 + 0.
    assert offset == 0
    assert word0 == 1 << 31
    assert word1 == (3 << 24) | 0x1C
    assert handle == vector
    buffer = double.io.buffers[0]
    assert buffer.iova <= completion < src < dst < buffer.iova + buffer.size
    assert size > 0
    assert double.io.fired == [vector]


def test_fire_zero_runs_a_command_with_the_interrupt_request_bit() -> None:
    double = IdxdDouble()
    driver = _driver(double)
    driver.enable_vectors(2)
    driver.fire(0)
    # registers.h idxd_command_reg: int_req is bit 31; the misc vector is 0.
    assert double.bar0.writes[-1] == (0, 0xA0, 4, (1 << 31) | (3 << 20))
    assert double.io.fired == [0]
    driver.acknowledge(0)
    assert double.bar0.writes[-1] == (0, 0x98, 4, 0x2)  # INTCAUSE.CMD written back


def test_device_requiring_interrupt_handles_is_refused() -> None:
    double = IdxdDouble(requires_int_handles=True)
    with pytest.raises(DeviceUnavailable, match="CMDCAP bit 13"):
        _driver(double)
    assert double.commands == []


def test_command_error_is_decoded() -> None:
    double = IdxdDouble()
    double.command_error[1] = 0x15
    with pytest.raises(DeviceError, match=r"command 1 failed: 0x15 \(group configuration error\)"):
        _driver(double)


def test_software_error_is_decoded_while_waiting() -> None:
    double = IdxdDouble()
    driver = _driver(double)
    driver.enable_vectors(2)
    # sw_err_reg: valid bit 0, error 15:8, wq_idx 23:16, operation 39:32.
    double.bar0.poke(0xC0, 8, 1 | (0x19 << 8) | (3 << 32))
    double.bar0.poke(0xD0, 8, 0xDEAD000)
    with pytest.raises(DeviceError, match=r"error=0x19 .*operation=0x3 .*fault_addr=0xdead000"):
        driver.fire(1)


def test_completion_that_never_arrives_times_out() -> None:
    double = IdxdDouble()
    driver = _driver(double)
    driver.enable_vectors(2)
    double.wq_enabled = False  # the descriptor is dropped, as by a disabled WQ
    with pytest.raises(DeviceError, match=r"timed out .*completion record"):
        driver.fire(1)


def test_iax_queue_takes_memmove_only() -> None:
    double = IdxdDouble()
    double.config.poke(2, 2, 0x0CFE)
    _driver(double)
    assert struct.unpack_from("<Q", double.wqcfg(), 32)[0] == 1 << 3


def test_movdir64b_submitter_needs_a_mapped_portal() -> None:
    submitter = Movdir64bSubmitter(loader=lambda: pytest.fail("must not load"))
    with pytest.raises(DeviceUnavailable, match="not memory-mapped"):
        submitter(RegisterFile(2), 0, bytes(64))


def test_movdir64b_submitter_stores_to_the_portal_address() -> None:
    stores: list[tuple[int, bytes]] = []
    submitter = Movdir64bSubmitter(loader=lambda: lambda a, d: stores.append((a, d)))
    portal = MappedRegisterFile(2, base=0x7F12_3400_0000)
    submitter(portal, 0x1000, b"\x01" * 64)
    assert stores == [(0x7F12_3400_1000, b"\x01" * 64)]
