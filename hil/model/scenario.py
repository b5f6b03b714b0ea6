"""A scenario as pure data: a machine, its devices, and the steps to predict.

The scenario file loader (hil/scenario/loader.py) builds these; the model only
needs `predict_all`.  `MachineSpec` is the short form a scenario author writes
(a CPU count instead of a CPU table); a live calibration of the real machine,
when there is one, replaces it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from hil.model.calibration import Calibration, CpuInfo, ExistingIrq
from hil.model.device import DeviceCaps
from hil.model.faults import ModelFaults
from hil.model.model import InterruptModel
from hil.model.prediction import Prediction
from hil.model.steps import Step
from hil.model.vocabulary import ApicMode, IrType


@dataclass(frozen=True)
class MachineSpec:
    """A scenario's machine block."""

    kernel: str
    ir: IrType
    apic_mode: ApicMode
    cpus: int
    offline: tuple[int, ...] = ()
    apicids: tuple[int, ...] | None = None
    """APIC ID of each CPU in order; None: APIC ID = CPU number."""
    nodes: tuple[int, ...] | None = None
    """NUMA node of each CPU in order; None: all on node 0."""
    vectors: Mapping[int, tuple[int, ...]] | None = None
    allocated: Mapping[int, int] | None = None
    existing_irqs: tuple[ExistingIrq, ...] = ()
    irte_next: int | None = None
    irq_next: int | None = None
    caching_mode: bool = False
    device_nodes: Mapping[str, int] = field(default_factory=dict)
    used_irqs: tuple[int, ...] | None = None
    dynirq_base: int | None = None
    hidden_vectors: int = 0

    def __post_init__(self) -> None:
        for name, table in (("apicids", self.apicids), ("nodes", self.nodes)):
            if table is not None and len(table) != self.cpus:
                raise ValueError(f"machine {name} must list {self.cpus} values")

    def to_calibration(self) -> Calibration:
        apicids = self.apicids or tuple(range(self.cpus))
        nodes = self.nodes or (0,) * self.cpus
        return Calibration(
            kernel=self.kernel,
            ir=self.ir,
            apic_mode=self.apic_mode,
            cpus=tuple(
                CpuInfo(cpu=c, apicid=apicids[c], node=nodes[c], online=c not in self.offline)
                for c in range(self.cpus)
            ),
            vectors=self.vectors,
            allocated=self.allocated,
            existing_irqs=self.existing_irqs,
            irte_next=self.irte_next,
            irq_next=self.irq_next,
            device_nodes=dict(self.device_nodes),
            caching_mode=self.caching_mode,
            used_irqs=self.used_irqs,
            dynirq_base=self.dynirq_base,
            hidden_vectors=self.hidden_vectors,
        )


@dataclass(frozen=True)
class Scenario:
    name: str
    machine: MachineSpec
    devices: tuple[DeviceCaps, ...]
    steps: tuple[Step, ...]

    def __post_init__(self) -> None:
        names = [d.name for d in self.devices]
        if len(set(names)) != len(names):
            raise ValueError(f"scenario {self.name!r} names a device twice")


def predict_all(
    scenario: Scenario,
    calibration: Calibration | None = None,
    faults: ModelFaults | None = None,
) -> list[Prediction]:
    """Predict every step in order, each from the state the previous ones left.

    The main outcome is followed throughout; a runner that sees the machine
    take an alternative should drive `InterruptModel` step by step and call
    `adopt()` instead.
    """
    model = InterruptModel(
        calibration or scenario.machine.to_calibration(), scenario.devices, faults
    )
    return [model.apply(step, index) for index, step in enumerate(scenario.steps)]
