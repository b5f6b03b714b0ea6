"""The comparator: strict where the model is sure, and able to fail."""

from __future__ import annotations

from types import MappingProxyType

from hil.model.prediction import Prediction, Relative
from hil.model.verdict import DUPLICATED_MSI, Bindings, FieldStatus, judge
from hil.model.vocabulary import Delivery, IrqIndex, MsiMessage, StepOutcome, VectorView


def fire(per_cpu: tuple[tuple[int, int], ...], eventfd: int, entry: int = 0) -> StepOutcome:
    return StepOutcome(1, "fire nic[0]", deliveries=(Delivery("nic", entry, per_cpu, eventfd),))


def view(irte: int, cpu: int) -> StepOutcome:
    message = MsiMessage(0xFEE00000 | (irte << 5) | 0x18, 0)
    return StepOutcome(
        1,
        "affinity",
        vectors=(VectorView("nic", IrqIndex.MSIX, 0, True, True, cpu=cpu, message=message),),
    )


def statuses(
    prediction: Prediction, observed: StepOutcome, quirks: frozenset[str] = frozenset()
) -> dict[str, FieldStatus]:
    verdict = judge(prediction, observed, Bindings(quirks=quirks))
    return {f.path: f.status for f in verdict.fields}


def test_a_delivery_on_another_cpu_is_a_mismatch() -> None:
    got = statuses(Prediction(fire(((3, 1),), 1)), fire(((2, 1),), 1))
    assert got["delivered.nic[0].per_cpu"] is FieldStatus.MISMATCH


def test_a_delivery_to_a_vector_the_model_did_not_name_is_a_mismatch() -> None:
    observed = StepOutcome(
        1, "fire", deliveries=(Delivery("nic", 0, ((3, 1),), 1), Delivery("nic", 1, ((0, 1),), 1))
    )
    got = statuses(Prediction(fire(((3, 1),), 1)), observed)
    assert got["delivered.nic[1].per_cpu"] is FieldStatus.MISMATCH


def test_duplicated_msi_quirk_tolerates_only_doubling_on_the_predicted_cpu() -> None:
    predicted = Prediction(fire(((3, 1),), 1))
    quirk = frozenset({DUPLICATED_MSI})
    assert (
        statuses(predicted, fire(((3, 2),), 2))["delivered.nic[0].per_cpu"] is FieldStatus.MISMATCH
    )
    doubled = statuses(predicted, fire(((3, 2),), 2), quirk)
    assert doubled["delivered.nic[0].per_cpu"] is FieldStatus.QUIRK
    assert doubled["delivered.nic[0].eventfd"] is FieldStatus.QUIRK
    moved = statuses(predicted, fire(((2, 1),), 1), quirk)
    assert moved["delivered.nic[0].per_cpu"] is FieldStatus.MISMATCH
    tripled = statuses(predicted, fire(((3, 3),), 3), quirk)
    assert tripled["delivered.nic[0].per_cpu"] is FieldStatus.MISMATCH
    lost = statuses(predicted, fire((), 0), quirk)
    assert lost["delivered.nic[0].per_cpu"] is FieldStatus.MISMATCH


def test_relative_symbols_bind_once_then_hold() -> None:
    path = "nic.msix[0].message"
    prediction = Prediction(
        view(0, 3), relative=MappingProxyType({path: Relative("irte[nic0]", 0)})
    )
    bindings = Bindings()
    first = judge(prediction, view(57, 3), bindings)
    assert {f.path: f.status for f in first.fields}[path] is FieldStatus.BOUND
    same = judge(prediction, view(57, 2), bindings)
    assert {f.path: f.status for f in same.fields}[path] is FieldStatus.MATCH
    changed = judge(prediction, view(58, 2), bindings)
    assert {f.path: f.status for f in changed.fields}[path] is FieldStatus.MISMATCH


def test_an_alternative_outcome_is_accepted_and_named() -> None:
    prediction = Prediction(fire(((3, 1),), 1), alternatives=(fire(((2, 1),), 1),))
    verdict = judge(prediction, fire(((2, 1),), 1), Bindings())
    assert verdict.ok and verdict.alternative == 0
    assert not judge(prediction, fire(((1, 1),), 1), Bindings()).ok


def test_uncertain_fields_are_shown_not_judged() -> None:
    prediction = Prediction(view(0, 3), uncertain=frozenset({"nic.msix[0].message"}))
    verdict = judge(prediction, view(9, 3), Bindings())
    assert verdict.ok
    assert {f.path: f.status for f in verdict.fields}[
        "nic.msix[0].message"
    ] is FieldStatus.UNCERTAIN
