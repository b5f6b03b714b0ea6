"""Run a scenario on both sides, step by step, and judge every step.

The model is calibrated once, from the machine, before the first step and
never again: after that it only hears the steps, so it cannot learn the
answer from the machine it is judged against.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from hil.lab.killpoints import kill_point
from hil.model.calibration import Calibration
from hil.model.model import DeviceCaps, InterruptModel
from hil.model.prediction import Prediction
from hil.model.steps import Step, describe
from hil.model.verdict import Bindings, FieldStatus, FieldVerdict, StepVerdict, judge
from hil.model.vocabulary import StepOutcome


@dataclass
class StepRecord:
    number: int
    step: Step
    prediction: Prediction
    observed: StepOutcome
    verdict: StepVerdict


@dataclass
class RunResult:
    scenario: str
    machine: str
    calibration: Calibration
    devices: dict[str, DeviceCaps]
    records: list[StepRecord] = field(default_factory=list)
    quirks: frozenset[str] = frozenset()

    @property
    def ok(self) -> bool:
        return all(r.verdict.ok for r in self.records)

    @property
    def judged(self) -> int:
        return sum(r.verdict.judged for r in self.records)

    def table(self, only_mismatches: bool = True) -> str:
        """The step table a failing test prints: step, field, predicted, observed."""
        lines = [f"{'step':<34} {'field':<34} {'predicted':<26} {'observed':<26} status"]
        for r in self.records:
            for f in r.verdict.fields:
                if only_mismatches and f.status is not FieldStatus.MISMATCH:
                    continue
                lines.append(
                    f"{r.number:>2} {describe(r.step):<31} {f.path:<34} "
                    f"{_show(f.predicted):<26} {_show(f.observed):<26} {f.status.value}"
                )
        return "\n".join(lines)


def _show(value: object) -> str:
    if isinstance(value, tuple) and value and isinstance(value[0], tuple):
        return ",".join(f"cpu{c}:{n}" for c, n in value)
    return str(value)


def _with_kernel_log(
    verdict: StepVerdict, prediction: Prediction, observed: StepOutcome
) -> StepVerdict:
    """Kernel log anomalies (No irq handler, spurious, DMAR fault) fail a step
    unless the model predicted an interrupt going astray in it."""
    if not observed.notes:
        return verdict
    astray = bool(prediction.outcome.lost) or bool(prediction.outcome.spurious)
    status = FieldStatus.MATCH if astray else FieldStatus.MISMATCH
    shown = "lost or spurious interrupt" if astray else "nothing astray"
    extra = FieldVerdict("dmesg", shown, observed.notes, status)
    return replace(verdict, fields=(*verdict.fields, extra))


def judge_steps(
    model: InterruptModel,
    steps: Sequence[Step],
    observe: Callable[[int, Step], StepOutcome],
    on_step: Callable[[StepRecord], None] | None = None,
    quirks: frozenset[str] = frozenset(),
) -> list[StepRecord]:
    bindings = Bindings(quirks=quirks)
    records = []
    for number, step in enumerate(steps, start=1):
        prediction = model.apply(step, number)
        observed = observe(number, step)
        record = StepRecord(
            number, step, prediction, observed, judge(prediction, observed, bindings)
        )
        if record.verdict.alternative is not None:
            # The machine took a timing branch the model allowed: follow it.
            model.adopt(record.verdict.alternative)
        records.append(record)
        if on_step is not None:
            on_step(record)
    return records


def judging_model(calibration: Calibration, devices: Mapping[str, DeviceCaps]) -> InterruptModel:
    """The model a machine's run is judged by: every timing outcome predicted."""
    return InterruptModel(calibration, devices, fire_alternatives=True)


def run_on_machine(
    scenario_name: str,
    machine: str,
    steps: Sequence[Step],
    calibration: Calibration,
    devices: Mapping[str, DeviceCaps],
    run_step: Callable[[int, Step], StepOutcome],
    model_factory: Callable[
        [Calibration, Mapping[str, DeviceCaps]], InterruptModel
    ] = judging_model,
    on_step: Callable[[StepRecord], None] | None = None,
    quirks: frozenset[str] = frozenset(),
) -> RunResult:
    def run_then_crash_site(number: int, step: Step) -> StepOutcome:
        outcome = run_step(number, step)
        kill_point("run.after-step")  # the machine changed; nothing judged or restored yet
        return outcome

    model = model_factory(calibration, devices)
    result = RunResult(scenario_name, machine, calibration, dict(devices), quirks=quirks)
    result.records = judge_steps(model, steps, run_then_crash_site, on_step, quirks)
    return result
