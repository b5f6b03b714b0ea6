"""Typed controller-side view of a lab machine's operations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hil.lab.transport import Transport
from hil.model.calibration import Calibration
from hil.model.codec import decode, encode
from hil.model.steps import Step
from hil.model.vocabulary import StepOutcome

STEP_TIMEOUT_S = 180.0
"""A step, or binding a device to vfio-pci, that has not answered by then is hung.
Under TCG on a 2-core host running four guests, binding igb and enabling its
MSI-X each took up to 57 s (2026-12-02); a deadline is a hang detector, and a
hung machine pays it once per session (its channel is not used again)."""


@dataclass(frozen=True)
class AttachedDevice:
    name: str
    bdf: str
    msi_count: int
    msix_count: int
    fire_unsupported: str | None
    vfio_mode: str
    caps: dict[str, Any]


class MachineClient:
    def __init__(self, name: str, transport: Transport) -> None:
        self.name = name
        self.transport = transport

    def facts(self) -> dict[str, Any]:
        result: dict[str, Any] = self.transport.call("facts")
        return result

    def session_begin(self, kernel_writes: bool = False) -> dict[str, Any]:
        args = {"kernel_writes": kernel_writes}
        result: dict[str, Any] = self.transport.call("session_begin", args, timeout=120)
        return result

    def calibrate(self) -> Calibration:
        return Calibration.from_dict(self.transport.call("calibrate"))

    def resolve_device(self, bdf: str | None, pci_id: str | None, instance: int = 0) -> str:
        args = {"bdf": bdf, "pci_id": pci_id, "instance": instance}
        return str(self.transport.call("resolve_device", args))

    def attach_device(
        self, name: str, bdf: str, driver: str, expendable: bool = False
    ) -> AttachedDevice:
        raw = self.transport.call(
            "attach_device",
            {"name": name, "bdf": bdf, "driver": driver, "expendable": expendable},
            timeout=STEP_TIMEOUT_S,
        )
        return AttachedDevice(name=name, **raw)

    def detach_device(self, name: str) -> None:
        self.transport.call("detach_device", {"name": name}, timeout=STEP_TIMEOUT_S)

    def run_step(self, number: int, step: Step) -> StepOutcome:
        raw = self.transport.call(
            "run_step", {"number": number, "step": encode(step)}, timeout=STEP_TIMEOUT_S
        )
        outcome = decode(raw)
        assert isinstance(outcome, StepOutcome)
        return outcome

    def restore(self) -> dict[str, Any]:
        result: dict[str, Any] = self.transport.call("restore", timeout=120)
        return result

    def dmesg_anomalies(self) -> list[str]:
        return list(self.transport.call("dmesg_since_mark"))
