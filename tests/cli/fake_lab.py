"""A lab machine in process, for proving the CLI's plumbing without a VM.

`FakeOps` answers the agent's operations the way `hil.lab.machine.MachineOps`
does (same names, same result shapes), and `LocalTransport` carries them
through the codec exactly as it does for a real local machine.  Its "kernel"
is an `InterruptModel` of its own machine, so a correct plumbing yields
matching verdicts, and `misroute=True` plants one fault (every fired
interrupt lands one CPU further) that the comparison must catch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from hil.model.codec import decode
from hil.model.device import DeviceCaps
from hil.model.model import InterruptModel
from hil.model.scenario import MachineSpec
from hil.model.steps import Fire, Step
from hil.model.vocabulary import ApicMode, Delivery, IrType, StepOutcome
from hil.scenario.loader import load_scenario
from hil.scenario.runner import RunResult, run_on_machine

KERNEL = "6.12.95+deb12-amd64"
CPUS = 4

INVENTORY = """\
lab: fake
machines:
  - name: bench
    transport: local
    devices:
      - {name: nic0, profile: e1000e, bdf: "0000:00:0a.0"}
      - {name: usb0, profile: xhci-msi, bdf: "0000:00:0b.0"}
"""

SCENARIO = """\
name: fake-partial-request
applies_to: {profiles: [e1000e]}
devices:
  nic: {}
steps:
  - enable: {device: nic, index: msix, count: 5, unrequested: [4]}
  - fire: {device: nic, vector: 0}
  - fire: {device: nic, vector: 1}
  - affinity: {device: nic, vector: 0, cpus: "2"}
  - fire: {device: nic, vector: 0}
  - disable: {device: nic}
"""

DEVICE_CAPS: dict[str, dict[str, Any]] = {
    # What the attach operation reads from config space for each fake device.
    "0000:00:0a.0": {"msi_max": 1, "msi_64bit": True, "msi_maskable": False, "msix_size": 5},
    "0000:00:0b.0": {"msi_max": 16, "msi_64bit": True, "msi_maskable": False, "msix_size": 0},
}


class FakeOps:
    OPERATIONS: ClassVar[frozenset[str]] = frozenset(
        {
            "facts",
            "calibrate",
            "session_begin",
            "resolve_device",
            "attach_device",
            "detach_device",
            "run_step",
            "restore",
            "dmesg_since_mark",
        }
    )

    def __init__(
        self, state_dir: Path, machine: str, *, ir: IrType = IrType.INTEL, misroute: bool = False
    ) -> None:
        self.machine = machine
        self.ir = ir
        self.misroute = misroute
        self.spec = MachineSpec(
            kernel=KERNEL,
            ir=ir,
            apic_mode=ApicMode.PHYSICAL_FLAT,
            cpus=CPUS,
            allocated={0: 6, 1: 6, 2: 6, 3: 5},
            irte_next=35 if ir is not IrType.NONE else None,
            irq_next=41,
        )
        self.attached: dict[str, DeviceCaps] = {}
        self.detached: list[str] = []
        self.restore_report: dict[str, Any] = {"restored": [], "failed": []}
        self.model: InterruptModel | None = None

    def hello(self) -> dict[str, Any]:
        return {"machine": self.machine, "kernel": KERNEL, "pid": 1}

    def facts(self) -> dict[str, Any]:
        return {"ir": self.ir.value, "kernel": KERNEL, "online_cpus": list(range(CPUS))}

    def session_begin(self, kernel_writes: bool = False) -> dict[str, Any]:
        return self.restore()

    def restore(self) -> dict[str, Any]:
        return self.restore_report

    def calibrate(self) -> dict[str, Any]:
        return self.spec.to_calibration().to_dict()

    def dmesg_since_mark(self) -> list[str]:
        return []

    def resolve_device(self, bdf: str | None, pci_id: str | None, instance: int = 0) -> str:
        assert bdf is not None, "the fake inventory locates devices by BDF"
        return bdf

    def attach_device(
        self, name: str, bdf: str, driver: str, expendable: bool = False
    ) -> dict[str, Any]:
        caps = {**DEVICE_CAPS[bdf], "numa_node": None}
        self.attached[name] = DeviceCaps(
            name=name,
            bdf=bdf,
            msi_max=caps["msi_max"],
            msi_64bit=caps["msi_64bit"],
            msi_maskable=caps["msi_maskable"],
            msix_size=caps["msix_size"],
        )
        return {
            "caps": caps,
            "bdf": bdf,
            "msi_count": caps["msi_max"],
            "msix_count": caps["msix_size"],
            "fire_unsupported": None,
            "vfio_mode": "type1v2",
        }

    def detach_device(self, name: str) -> None:
        self.attached.pop(name, None)
        self.detached.append(name)

    def run_step(self, number: int, step: dict[str, Any]) -> StepOutcome:
        return self.run_step_decoded(number, decode(step))

    def run_step_decoded(self, number: int, step: Step) -> StepOutcome:
        """What the machine did: its model's outcome, misrouted if asked."""
        if self.model is None:
            self.model = InterruptModel(self.spec.to_calibration(), self.attached)
        outcome = self.model.apply(step, number).outcome
        if self.misroute and isinstance(step, Fire):
            moved = tuple(
                Delivery(
                    d.device, d.entry, tuple(((c + 1) % CPUS, n) for c, n in d.per_cpu), d.eventfd
                )
                for d in outcome.deliveries
            )
            outcome = replace(outcome, deliveries=moved)
        return outcome


def ops_factory(created: list[FakeOps], **options: Any) -> Callable[[Path, str], FakeOps]:
    """A stand-in for the MachineOps class that remembers every machine it made."""

    def make(state_dir: Path, machine: str) -> FakeOps:
        ops = FakeOps(state_dir, machine, **options)
        created.append(ops)
        return ops

    return make


def run_fake_scenario(folder: Path, after_step: Callable[[int], None] | None = None) -> RunResult:
    """SCENARIO on a fresh bench with its e1000e attached; `after_step(n)` once step n ran."""
    path = folder / "scenario_fake.yaml"
    path.write_text(SCENARIO)
    scenario = load_scenario(path)
    machine = FakeOps(folder, "bench")
    machine.attach_device("nic", "0000:00:0a.0", "e1000e")

    def run_step(number: int, step: Step) -> StepOutcome:
        outcome = machine.run_step_decoded(number, step)
        if after_step is not None:
            after_step(number)
        return outcome

    return run_on_machine(
        scenario.name, "bench", scenario.steps, machine.spec.to_calibration(),
        dict(machine.attached), run_step,
    )  # fmt: skip
