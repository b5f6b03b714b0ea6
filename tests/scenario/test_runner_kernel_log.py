"""A kernel log anomaly fails a step unless the model predicted an interrupt going astray."""

from __future__ import annotations

from hil.model.prediction import Prediction
from hil.model.verdict import Bindings, FieldStatus, judge
from hil.model.vocabulary import StepOutcome
from hil.scenario.runner import _with_kernel_log

LINE = "No irq handler for 1.38"


def verdict_for(predicted: StepOutcome, observed: StepOutcome) -> dict[str, FieldStatus]:
    prediction = Prediction(predicted)
    v = _with_kernel_log(judge(prediction, observed, Bindings()), prediction, observed)
    return {f.path: f.status for f in v.fields}


def test_unpredicted_anomaly_is_a_mismatch() -> None:
    got = verdict_for(StepOutcome(1, "fire", lost=0), StepOutcome(1, "fire", lost=0, notes=(LINE,)))
    assert got["dmesg"] is FieldStatus.MISMATCH


def test_predicted_loss_explains_the_anomaly() -> None:
    got = verdict_for(StepOutcome(1, "fire", lost=1), StepOutcome(1, "fire", lost=1, notes=(LINE,)))
    assert got["dmesg"] is FieldStatus.MATCH


def test_quiet_log_adds_nothing() -> None:
    assert "dmesg" not in verdict_for(StepOutcome(1, "fire"), StepOutcome(1, "fire"))
