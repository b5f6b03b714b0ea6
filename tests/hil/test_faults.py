"""Faults end the affected work with a clear error within a bounded time.

Each test boots its own throwaway guest (same kernel and shape as the
inventory's first virtual machine, no devices) so the suite's machines are
never harmed.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import replace
from pathlib import Path

import pytest

from hil.lab.transport.protocol import TransportError
from hil.plugin.session import LabSession
from hil.virtlab.lab import qemu_binary, state_root, vm_spec
from hil.virtlab.vm import VirtualMachine

pytestmark = [pytest.mark.hil, pytest.mark.virtlab]

DEADLINE_S = 30.0


@pytest.fixture
def guest(lab: LabSession) -> VirtualMachine:
    machine = next((m for m in lab.inventory.machines if m.virtual is not None), None)
    if machine is None:
        pytest.skip(f"no virtual machine in {lab.inventory.path} to borrow a kernel from")
    spec = replace(vm_spec(machine), name=f"fault-{machine.name}", cpus=2, devices=())
    vm = VirtualMachine(spec, lab.virtual.kernel(machine), state_root() / spec.name, qemu_binary())
    vm.boot(persistent=False)
    yield vm
    vm.stop()


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
