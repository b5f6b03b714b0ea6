"""The per-CPU delivery plot on a synthetic run: a PNG, and it shows the observations."""

from __future__ import annotations

import io

from PIL import Image

from hil.model.calibration import Calibration, CpuInfo
from hil.model.prediction import Prediction
from hil.model.steps import Affinity, CpuOffline, CpuOnline, Enable, Fire, Step
from hil.model.verdict import Bindings, judge
from hil.model.vocabulary import ApicMode, Delivery, IrqIndex, IrType, StepOutcome
from hil.report.plot import delivery_plot, wants_delivery_plot
from hil.scenario.runner import RunResult, StepRecord

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CALIBRATION = Calibration(
    kernel="6.12.38+deb12-amd64",
    ir=IrType.INTEL,
    apic_mode=ApicMode.PHYSICAL_FLAT,
    cpus=tuple(CpuInfo(cpu=c, apicid=c) for c in range(4)),
)
HOTPLUG: list[Step] = [
    Enable("nic", IrqIndex.MSIX, 1),
    Affinity("nic", 0, (3,)),
    Fire("nic", 0),
    CpuOffline(3),
    Fire("nic", 0),
    CpuOnline(3),
    Fire("nic", 0),
]


def _outcome(number: int, step: Step, cpu: int | None) -> StepOutcome:
    deliveries = () if cpu is None else (Delivery("nic", 0, ((cpu, 1),)),)
    return StepOutcome(step=number, action=type(step).__name__, deliveries=deliveries)


def _run(steps: list[Step], predicted: list[int | None], observed: list[int | None]) -> RunResult:
    """One record per step; `predicted`/`observed` give the CPU a fire landed on (or None)."""
    result = RunResult("cpu_hotplug", "vm-612-ir", CALIBRATION, {})
    bindings = Bindings()
    for number, (step, p, o) in enumerate(zip(steps, predicted, observed, strict=True), 1):
        prediction = Prediction(_outcome(number, step, p))
        seen = _outcome(number, step, o)
        result.records.append(
            StepRecord(number, step, prediction, seen, judge(prediction, seen, bindings))
        )
    return result


AS_PREDICTED = [None, None, 3, None, 0, None, 0]
ASTRAY = [None, None, 3, None, 3, None, 0]


def test_plot_is_a_png_that_changes_when_the_observations_do() -> None:
    agreeing = _run(HOTPLUG, AS_PREDICTED, AS_PREDICTED)
    disagreeing = _run(HOTPLUG, AS_PREDICTED, ASTRAY)
    assert agreeing.ok and not disagreeing.ok
    first, second = delivery_plot(agreeing), delivery_plot(disagreeing)
    assert first.startswith(PNG_MAGIC) and second.startswith(PNG_MAGIC)
    assert first != second
    with Image.open(io.BytesIO(first)) as image:
        assert image.size[0] <= 1000 and image.size[1] <= 600
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
        assert colours is not None and len(colours) > 8


def test_same_run_gives_the_same_picture() -> None:
    run = _run(HOTPLUG, AS_PREDICTED, AS_PREDICTED)
    assert delivery_plot(run) == delivery_plot(run)


def test_plotted_for_hotplug_and_for_affinity_with_several_fires_only() -> None:
    assert wants_delivery_plot(_run(HOTPLUG, AS_PREDICTED, AS_PREDICTED))
    moves = [Enable("nic", IrqIndex.MSIX, 1), Affinity("nic", 0, (1,)), Fire("nic", 0)]
    assert not wants_delivery_plot(_run(moves, [None, None, 1], [None, None, 1]))
    moves.append(Fire("nic", 0))
    assert wants_delivery_plot(_run(moves, [None, None, 1, 1], [None, None, 1, 1]))
    plain = [Enable("nic", IrqIndex.MSIX, 1), Fire("nic", 0), Fire("nic", 0)]
    assert not wants_delivery_plot(_run(plain, [None, 0, 0], [None, 0, 0]))


def test_no_plot_when_nothing_was_delivered_on_either_side() -> None:
    quiet = [Enable("nic", IrqIndex.MSIX, 1), CpuOffline(3), CpuOnline(3)]
    assert not wants_delivery_plot(_run(quiet, [None] * 3, [None] * 3))
