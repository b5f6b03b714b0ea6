"""The model builds its per-step frozen objects (and compat messages) without their
__init__ (for speed): each must still be exactly the object the class's own
constructor makes."""

from __future__ import annotations

import dataclasses

import pytest

from hil.model.calibration import Calibration, CpuInfo
from hil.model.device import DeviceCaps
from hil.model.model import InterruptModel
from hil.model.prediction import Prediction
from hil.model.steps import (
    Affinity,
    CpuOffline,
    CpuOnline,
    Disable,
    Enable,
    Fire,
    Release,
    Request,
    Step,
)
from hil.model.vocabulary import ApicMode, IrqIndex, IrType

NIC = DeviceCaps("nic", "0000:00:0a.0", msix_size=16)
MSI = DeviceCaps("msi", "0000:00:0b.0", msi_max=4, msi_maskable=True)
STEPS: tuple[Step, ...] = (
    Enable("nic", IrqIndex.MSIX, 4, unrequested=(3,)),
    Fire("nic", 0),
    Affinity("nic", 0, (2,)),
    Fire("nic", 0, times=2),
    Release("nic", 1),
    Fire("nic", 1),
    Request("nic", 1),
    Fire("nic", 3),
    CpuOffline(2),
    CpuOnline(2),
    Enable("msi", IrqIndex.MSI, 4),
    Disable("nic"),
    Disable("msi"),
)


def built(prediction: Prediction) -> list[object]:
    """Every frozen object a prediction holds."""
    objects: list[object] = [prediction]
    for outcome in (prediction.outcome, *prediction.alternatives):
        objects += [outcome, *outcome.vectors, *outcome.deliveries]
        objects += [view.message for view in outcome.vectors if view.message is not None]
    return objects


@pytest.mark.parametrize("ir", [IrType.NONE, IrType.INTEL])
def test_every_built_object_equals_its_constructors(ir: IrType) -> None:
    calibration = Calibration(
        kernel="6.12.95+deb12-amd64",
        ir=ir,
        apic_mode=ApicMode.PHYSICAL_FLAT,
        cpus=tuple(CpuInfo(c, c) for c in range(4)),
        vectors={},
        irq_next=40,
        irte_next=20 if ir is not IrType.NONE else None,
    )
    model = InterruptModel(calibration, (NIC, MSI))
    for step in STEPS:
        for obj in built(model.apply(step)):
            names = {f.name for f in dataclasses.fields(obj)}  # type: ignore[arg-type]
            assert set(vars(obj)) == names, type(obj).__name__
            assert dataclasses.replace(obj) == obj  # type: ignore[type-var]
