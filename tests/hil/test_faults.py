"""Faults end the affected work with a clear error within a bounded time.

Each test boots its own throwaway guest (same kernel and shape as the
inventory's first virtual machine, no devices, or one igb in a slot whose
power can be cut) so the suite's machines are never harmed.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from hil.lab.transport.protocol import AgentError, TransportError
from hil.model.steps import Enable, Fire
from hil.model.vocabulary import IrqIndex
from hil.plugin.session import LabSession
from hil.scenario.client import MachineClient
from hil.virtlab.lab import qemu_binary, state_root
from hil.virtlab.qemu_args import DEVICE_MODELS, VmDevice
from hil.virtlab.vm import VirtualMachine

# One xdist group for every test that boots a throwaway guest (here and in
# test_faults.py / test_kill_restore.py): under -n N at most one such guest runs
# beside the suite's machines, which already fill a small host.
pytestmark = [pytest.mark.hil, pytest.mark.virtlab, pytest.mark.xdist_group("throwaway-guests")]

DEADLINE_S = 30.0
HUNG_CALL_TIMEOUT_S = 10.0


def _throwaway(lab: LabSession, suffix: str, **shape: object) -> Iterator[VirtualMachine]:
    machine = next((m for m in lab.inventory.machines if m.virtual is not None), None)
    if machine is None:
        pytest.skip(f"no virtual machine in {lab.inventory.path} to borrow a kernel from")
    name = f"fault-{suffix}-{machine.name}"
    spec = replace(lab.virtual.spec(machine), name=name, cpus=2, **shape)
    vm = VirtualMachine(spec, lab.virtual.kernel(machine), state_root() / spec.name, qemu_binary())
    vm.boot(persistent=False)
    yield vm
    vm.stop()


@pytest.fixture
def guest(lab: LabSession) -> Iterator[VirtualMachine]:
    yield from _throwaway(lab, "bare", devices=())


@pytest.fixture
def slotted_guest(lab: LabSession) -> Iterator[VirtualMachine]:
    """One igb behind a root port with a power controller (a pxb-pcie of node 1)."""
    yield from _throwaway(
        lab, "slot", numa_nodes=2, devices=(VmDevice("igb0", "igb", numa_node=1),)
    )


def test_killed_qemu_ends_the_call_quickly(guest: VirtualMachine) -> None:
    assert guest.state is not None
    os.killpg(guest.state.pgid, signal.SIGKILL)
    start = time.monotonic()
    with pytest.raises(TransportError):
        guest.transport.call("facts", timeout=120)
    assert time.monotonic() - start < DEADLINE_S


def test_guest_panic_is_reported_with_the_boot_log(guest: VirtualMachine) -> None:
    guest.transport.call("crash_guest", timeout=30)
    start = time.monotonic()
    with pytest.raises(TransportError) as failure:
        guest.transport.call("facts", timeout=120)
    assert time.monotonic() - start < DEADLINE_S
    log = Path(guest.boot_log).read_text(errors="replace")
    assert "Kernel panic" in log or "sysrq" in log.lower(), "the boot log keeps the evidence"
    assert str(failure.value)


def test_killed_agent_ends_the_call_quickly(guest: VirtualMachine) -> None:
    guest.transport.call("kill_agent", timeout=30)
    start = time.monotonic()
    with pytest.raises(TransportError):
        guest.transport.call("facts", timeout=120)
    assert time.monotonic() - start < DEADLINE_S


def test_hung_guest_ends_the_call_and_says_what_qemu_sees(guest: VirtualMachine) -> None:
    """Every vCPU frozen (QMP `stop`): the call ends at its deadline, the error carries
    QEMU's word on the guest, and the channel is not waited on again."""
    guest.qmp.execute("stop")
    start = time.monotonic()
    with pytest.raises(TransportError) as failure:
        guest.transport.call("facts", timeout=HUNG_CALL_TIMEOUT_S)
    assert time.monotonic() - start < DEADLINE_S
    assert "QEMU reports the guest paused" in str(failure.value)
    start = time.monotonic()
    with pytest.raises(TransportError, match="not used again after an earlier failure"):
        guest.transport.call("facts", timeout=120)
    assert time.monotonic() - start < 1.0


def test_a_device_that_stops_answering_ends_its_step_with_that_finding(
    slotted_guest: VirtualMachine,
) -> None:
    """The igb's slot loses power between two fires (a surprise removal): the second
    fire's step fails in bounded time naming the absent device, and the machine
    still answers for the rest of the run."""
    client = MachineClient(slotted_guest.spec.name, slotted_guest.transport)
    client.session_begin()
    bdf = client.resolve_device(None, DEVICE_MODELS["igb"][1], 0)
    client.attach_device("igb0", bdf, "igb", expendable=True)
    client.run_step(0, Enable("igb0", IrqIndex.MSIX, 1))
    baseline = client.run_step(1, Fire("igb0", 0))
    assert [d.eventfd for d in baseline.deliveries] == [1], "the igb fired before the fault"

    port = slotted_guest.transport.call("cut_slot_power", {"bdf": bdf})
    start = time.monotonic()
    with pytest.raises(AgentError) as failure:
        client.run_step(2, Fire("igb0", 0))
    assert time.monotonic() - start < DEADLINE_S
    assert failure.value.kind == "DeviceStoppedAnswering", str(failure.value)
    assert f"igb0 ({bdf}) stopped answering" in failure.value.remote_message
    assert "vendor ID" in failure.value.remote_message, f"port {port}: {failure.value}"
    assert client.facts()["online_cpus"], "the machine itself still answers"
