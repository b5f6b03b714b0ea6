"""The model against what real 6.1 and 6.12 kernels did (shared transcripts).

Each observed field in the transcripts must match the prediction, and the same
observations judged against a deliberately wrong model must not: otherwise the
comparison would prove nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from transcript_scenarios import TranscriptCase, all_cases

from hil.model.faults import ModelFaults
from hil.model.model import InterruptModel
from hil.model.scenario import predict_all
from hil.model.trace import compact_trace, parse_event
from hil.model.verdict import Bindings, FieldStatus, StepVerdict, judge
from hil.model.vocabulary import ApicMode, IrType

TRANSCRIPTS = Path("/work/shared/reference/transcripts")
CASES = all_cases()


def _verdicts(case: TranscriptCase, faults: ModelFaults | None = None) -> list[StepVerdict]:
    predictions = predict_all(case.scenario, faults=faults)
    bindings = Bindings()
    return [judge(p, o, bindings) for p, o in zip(predictions, case.observed, strict=True)]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_every_observed_field_matches(case: TranscriptCase) -> None:
    verdicts = _verdicts(case)
    mismatches = [(v.step, f.path, f.predicted, f.observed) for v in verdicts for f in v.mismatches]
    assert mismatches == []
    unpredicted = [
        (v.step, f.path) for v in verdicts for f in v.fields if f.status is FieldStatus.UNPREDICTED
    ]
    assert unpredicted == []
    assert sum(v.judged for v in verdicts) >= len(case.observed)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_transcript_file_exists_for_case(case: TranscriptCase) -> None:
    if not TRANSCRIPTS.is_dir():
        pytest.skip(f"{TRANSCRIPTS} is not present on this machine")
    assert (TRANSCRIPTS / case.transcript).is_file()


@pytest.mark.parametrize("ir", [False, True], ids=["IR-off", "IR-on"])
def test_trace_of_enable_matches_the_kernels_trace(ir: bool) -> None:
    name = f"linux-6.12_e1000e-msix-trace_IR-{'on' if ir else 'off'}"
    path = TRANSCRIPTS / f"{name}.txt"
    if not path.is_file():
        pytest.skip(f"{path} is not present on this machine")
    events = [e for e in map(parse_event, path.read_text().splitlines()) if e is not None]
    observed = compact_trace(events)
    case = next(c for c in CASES if c.name == name)
    predicted = predict_all(case.scenario)[0].outcome.trace
    assert predicted == observed
    assert len(observed) == 5 * 2 + 4 * 3


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_model_with_ir_flipped_is_caught(case: TranscriptCase) -> None:
    verdicts = _verdicts(case, ModelFaults(flip_ir=True))
    assert any(v.mismatches for v in verdicts)


SPREAD_CASES = [c for c in CASES if "msix" in c.name]


@pytest.mark.parametrize("case", SPREAD_CASES, ids=lambda c: c.name)
def test_model_with_reversed_tie_break_is_caught(case: TranscriptCase) -> None:
    """Only MSI-X cases spread over tied CPUs; edu's single vector never meets a tie."""
    verdicts = _verdicts(case, ModelFaults(reverse_tiebreak=True))
    assert any(
        f.path.endswith((".cpu", ".per_cpu", ".effective")) for v in verdicts for f in v.mismatches
    )


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.scenario.machine.ir is IrType.NONE], ids=lambda c: c.name
)
def test_wrong_apic_routing_mode_is_caught(case: TranscriptCase) -> None:
    right = case.scenario.machine.apic_mode
    wrong = ApicMode.PHYSICAL_FLAT if right is ApicMode.LOGICAL_FLAT else ApicMode.LOGICAL_FLAT
    verdicts = _verdicts(case, ModelFaults(apic_mode=wrong))
    assert any(f.path.endswith(".message") for v in verdicts for f in v.mismatches)


def test_faulty_model_differs_only_by_its_fault() -> None:
    """The fault knob changes the rule it names and nothing else (same calibration)."""
    case = CASES[0]
    plain = InterruptModel(case.calibration, case.scenario.devices)
    flipped = InterruptModel(case.calibration, case.scenario.devices, ModelFaults(flip_ir=True))
    assert plain.ir is IrType.NONE
    assert flipped.ir is IrType.INTEL
    assert plain.apic_mode is flipped.apic_mode
