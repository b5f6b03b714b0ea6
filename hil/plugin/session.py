"""The lab as one pytest session sees it: machines reached lazily, once each.

A machine is booted or connected the first time a test needs it and kept
for the rest of the session; a machine that cannot be reached is recorded
with the reason, so every later test on it skips (virtual lab hosts missing a
QEMU feature) or fails (a machine that should be there) with that reason
instead of trying again.  Virtual machines this session booted are stopped
at its end; machines `hil lab up` started are left running.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hil.lab.inventory import DeviceRef, Inventory, Machine, Transport
from hil.lab.leases import Lease, LeaseBusy, LeaseManager
from hil.lab.machine import MachineOps
from hil.lab.profiles import Profile, ProfileSet
from hil.lab.transport.local import LocalTransport
from hil.lab.transport.ssh import connect_ssh, ssh_command
from hil.model.calibration import Calibration
from hil.model.kernel import KernelVersion
from hil.model.vocabulary import IrType
from hil.scenario.client import AttachedDevice, MachineClient
from hil.virtlab.lab import VirtualLab, device_unavailable, machine_quirks, state_root
from hil.virtlab.vm import BootError, StaleAgent, VirtualMachine

LOCAL_STATE = Path("/var/lib/pcie-hil")


class MachineUnavailable(RuntimeError):
    """The machine could not be reached; str() is the reason tests report."""


class MachineBusy(MachineUnavailable):
    """Another session holds the machine's or device's lease: a skip, not a failure."""

    def __init__(self, exc: LeaseBusy) -> None:
        super().__init__(str(exc))


LEASE_TTL_S = 6 * 3600.0
"""Long enough for a nightly run; a dead owner is detected by its pid, not the TTL."""


@dataclass
class LabMachine:
    machine: Machine
    client: MachineClient
    facts: dict[str, Any]
    vm: VirtualMachine | None = None
    booted_here: bool = False
    attached: dict[str, AttachedDevice] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.machine.name

    @property
    def quirks(self) -> frozenset[str]:
        return machine_quirks(self.machine)

    @property
    def ir(self) -> IrType:
        return IrType(self.facts["ir"])

    @property
    def kernel(self) -> KernelVersion:
        return KernelVersion.parse(self.facts["kernel"])

    def calibrate(self) -> Calibration:
        return self.client.calibrate()


class LabSession:
    def __init__(
        self,
        inventory: Inventory,
        profiles: ProfileSet,
        results_dir: Path,
        lease_wait_s: float = 0.0,
        kernel_writes: bool = False,
        lease_dir: Path | None = None,
    ) -> None:
        self.inventory = inventory
        self.lease_wait_s = lease_wait_s
        self.kernel_writes = kernel_writes
        """Ask every machine to record the kernel's message writes (kprobes) per step."""
        self.leases = LeaseManager(lease_dir or state_root() / "leases", uuid.uuid4().hex[:12])
        self.profiles = profiles
        self.results_dir = results_dir
        self.virtual = VirtualLab([m for m in inventory.machines if m.virtual], progress=self._log)
        self._machines: dict[str, LabMachine | MachineUnavailable] = {}
        self.log: list[str] = []

    def _log(self, line: str) -> None:
        self.log.append(line)

    def profile(self, ref: DeviceRef) -> Profile:
        return self.profiles.get(ref.profile)

    def device_unavailable(self, machine: Machine, device: str) -> str | None:
        return device_unavailable(machine, device)

    def lease(self, resource: str) -> Lease:
        """Lease a machine or device for this session; MachineBusy if another holds it."""
        try:
            return self.leases.acquire(resource, LEASE_TTL_S, self.lease_wait_s)
        except LeaseBusy as exc:
            raise MachineBusy(exc) from None

    def release(self, lease: Lease) -> None:
        self.leases.release(lease)

    def machine(self, name: str) -> LabMachine:
        cached = self._machines.get(name)
        if cached is None:
            try:
                cached = self._connect(name)
            except MachineBusy as exc:
                cached = exc
            except (BootError, OSError, RuntimeError) as exc:
                cached = MachineUnavailable(f"{name}: {exc}")
            self._machines[name] = cached
        if isinstance(cached, MachineUnavailable):
            raise cached
        return cached

    def _connect(self, name: str) -> LabMachine:
        machine = self.inventory.machine(name)
        if machine is None:
            raise MachineUnavailable(f"no machine {name} in {self.inventory.path}")
        if machine.exclusive_lease:
            self.lease(f"machine:{name}")
        vm = None
        booted = False
        if machine.transport is Transport.VIRTUAL:
            vm = self.virtual.vm(name)
            attached = False
            if vm.running():
                try:
                    vm.attach()
                    attached = True
                except StaleAgent as exc:
                    self._log(f"{name}: {exc}; restarting it for this session")
                    vm.stop()
            if not attached:
                vm.boot(persistent=False)
                booted = True
            transport: Any = vm.transport
        elif machine.transport is Transport.LOCAL:
            transport = LocalTransport(MachineOps(LOCAL_STATE, name))
        else:
            assert machine.ssh is not None
            ssh = machine.ssh
            cmd = ssh_command(
                ssh.host, ssh.user, ssh.port, ssh.identity, ssh.python, str(LOCAL_STATE), name
            )
            transport, _proc = connect_ssh(cmd)
        client = MachineClient(name, transport)
        client.session_begin(self.kernel_writes)
        lab_machine = LabMachine(machine, client, client.facts(), vm, booted)
        self._check_expectations(lab_machine)
        return lab_machine

    @staticmethod
    def _check_expectations(lm: LabMachine) -> None:
        expect = lm.machine.expect
        if expect is None:
            return
        if expect.ir is not None and lm.ir is not expect.ir:
            raise MachineUnavailable(
                f"{lm.name}: the inventory expects IR {expect.ir.value}, the machine has {lm.ir.value}"  # noqa: E501
            )
        if expect.cpus is not None and len(lm.facts["online_cpus"]) != expect.cpus:
            raise MachineUnavailable(
                f"{lm.name}: the inventory expects {expect.cpus} CPUs, "
                f"the machine has {len(lm.facts['online_cpus'])} online"
            )

    def close(self) -> None:
        for entry in self._machines.values():
            if isinstance(entry, MachineUnavailable):
                continue
            for name in list(entry.attached):
                try:
                    entry.client.detach_device(name)
                except Exception as exc:  # keep closing the others; say what stayed
                    self._log(f"{entry.name}: detaching {name} failed: {exc}")
            if entry.vm is not None:
                if entry.booted_here:
                    entry.vm.stop()
                else:
                    entry.vm.disconnect()
        self.leases.release_session()


def worker_id() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")
