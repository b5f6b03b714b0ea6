"""The virtual lab: the inventory's `virtual:` machines, booted, found, stopped.

Machines boot in parallel threads, but never more at once than the host's
cores can carry: `hil.virtlab.bootslots` caps the boots of every process
(pytest-xdist workers included) on the host.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Literal

from hil.lab.inventory import Machine
from hil.virtlab.kernels import KernelImage, ensure_kernel
from hil.virtlab.qemu_args import VmDevice, VmSpec, unavailable_reason
from hil.virtlab.quirks import platform_quirks
from hil.virtlab.vm import BootError, StaleAgent, VirtualMachine, VmState


def state_root() -> Path:
    """Short paths: unix socket names are limited to 107 bytes."""
    base = os.environ.get("HIL_LAB_STATE")
    if base:
        return Path(base)
    if os.geteuid() == 0:
        return Path("/run/pcie-hil")
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    return Path(runtime, "pcie-hil") if runtime else Path(f"/tmp/pcie-hil-{os.geteuid()}")


def qemu_binary() -> str:
    found = shutil.which("qemu-system-x86_64")
    if found is None:
        raise BootError("qemu-system-x86_64 is not installed; run the setup step from the README")
    return found


def vm_spec(machine: Machine) -> VmSpec:
    v = machine.virtual
    if v is None:
        raise BootError(f"{machine.name} is not a virtual machine")
    return VmSpec(
        name=machine.name,
        cpus=v.cpus,
        memory=v.memory,
        iommu=v.iommu,
        intremap=v.intremap,
        x2apic=v.x2apic,
        devices=tuple(
            VmDevice(
                name=d.name,
                model=d.model,
                options={k: str(val) for k, val in d.options.items()},
                vectors=d.vectors,
                doorbells=d.doorbells,
                numa_node=d.numa_node,
            )
            for d in v.devices
        ),
        numa_nodes=v.numa_nodes,
    )


def machine_quirks(machine: Machine) -> frozenset[str]:
    """Known platform defects of a virtual machine (none for real machines)."""
    if machine.virtual is None:
        return frozenset()
    return platform_quirks(vm_spec(machine), qemu_binary())


def device_unavailable(machine: Machine, device: str) -> str | None:
    """Why a virtual device cannot exist on this host's QEMU, or None."""
    if machine.virtual is None:
        return None
    for d in machine.virtual.devices:
        if d.name == device:
            return unavailable_reason(d.model, qemu_binary())
    return None


class VirtualLab:
    def __init__(
        self, machines: Sequence[Machine], progress: Callable[[str], None] = print
    ) -> None:
        self.machines = {m.name: m for m in machines if m.virtual is not None}
        self.progress = progress
        self.root = state_root()

    def kernel(self, machine: Machine) -> KernelImage:
        assert machine.virtual is not None
        source = machine.virtual.kernel
        if source.debian is not None:
            return ensure_kernel(source.debian)
        files = {k: str(v) for k, v in source.model_dump().items() if v is not None}
        return ensure_kernel(files)

    def spec(self, machine: Machine) -> VmSpec:
        """The machine as this lab boots it on this host."""
        return replace(vm_spec(machine), tcg_threads=self.tcg_threads(machine))

    def vm(self, name: str) -> VirtualMachine:
        machine = self.machines[name]
        spec = self.spec(machine)
        # Drop devices this QEMU cannot make, so the rest of the machine still boots.
        qemu = qemu_binary()
        kept = tuple(d for d in spec.devices if unavailable_reason(d.model, qemu) is None)
        spec = replace(spec, devices=kept)
        return VirtualMachine(spec, self.kernel(machine), self.root / name, qemu)

    def tcg_threads(self, machine: Machine) -> Literal["single", "multi"]:
        """Resolve `tcg_threads: auto` against this host and the whole lab, since any
        of its machines may run at once (`hil lab up`, `pytest -n`).  On a 2-CPU host
        two 4-vCPU guests under multi took 1.16x the time of running them one after
        the other; under single, 0.59x (benchmarks/RESULTS.md, 2026-12-03 19:30)."""
        assert machine.virtual is not None
        chosen = machine.virtual.tcg_threads
        if chosen != "auto":
            return chosen
        vcpus = sum(m.virtual.cpus for m in self.machines.values() if m.virtual is not None)
        return "multi" if len(os.sched_getaffinity(0)) >= vcpus else "single"

    def boot(self, names: Sequence[str], persistent: bool) -> dict[str, VirtualMachine | BootError]:
        """Boot every named machine that is not running; returns the VMs or their errors."""
        results: dict[str, VirtualMachine | BootError] = {}

        def one(name: str) -> tuple[str, VirtualMachine | BootError]:
            vm = self.vm(name)
            try:
                if vm.running():
                    try:
                        vm.attach()
                        self.progress(f"{name}: already up, attached")
                        return name, vm
                    except StaleAgent as exc:
                        self.progress(f"{name}: {exc}; restarting it")
                        vm.stop()
                state = vm.boot(persistent=persistent)
                self.progress(
                    f"{name}: up in {state.boot_seconds:.1f} s ({state.accel}, {state.kernel_release})"  # noqa: E501
                )
                return name, vm
            except BootError as exc:
                self.progress(f"{name}: {exc}")
                return name, exc

        workers = max(1, min(len(names), 2 * (os.cpu_count() or 1)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for name, outcome in pool.map(one, names):
                results[name] = outcome
        return results

    def status(self) -> dict[str, VmState | None]:
        out: dict[str, VmState | None] = {}
        for name in self.machines:
            state_file = self.root / name / "state.json"
            try:
                vm_state = VmState.load(state_file)
                out[name] = vm_state if vm_state.alive() else None
            except (OSError, ValueError, TypeError):
                out[name] = None
        return out

    def down(self, names: Sequence[str]) -> None:
        for name in names:
            state_file = self.root / name / "state.json"
            if state_file.exists():
                VirtualMachine(vm_spec(self.machines[name]), None, self.root / name, "").stop()
                self.progress(f"{name}: stopped")
