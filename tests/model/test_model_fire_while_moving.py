"""Fires racing affinity writes: what every order of the race shares is predicted
exactly, the per-CPU split only as a bound, and the bound can fail."""

from __future__ import annotations

import pytest

from hil.model.steps import Affinity, Disable, Enable, Fire, FireWhileMoving, Request
from hil.model.verdict import Bindings, FieldStatus, judge
from hil.model.vocabulary import Delivery, IrqIndex, IrType, StepOutcome
from tests.model.test_model_rules import model, view

PATH = "delivered.nic[0].per_cpu"
MASKS = ((1,), (2,), (1, 2), (3,))


def _racing(ir: IrType):  # type: ignore[no-untyped-def]
    m = model(ir)
    m.apply(Enable("nic", IrqIndex.MSIX, 2))
    m.apply(Affinity("nic", 0, (0,)))
    m.apply(Fire("nic", 0))
    return m, m.apply(FireWhileMoving("nic", 0, 20, MASKS))


@pytest.mark.parametrize("ir", [IrType.NONE, IrType.INTEL])
def test_every_fire_is_delivered_once_within_the_cpus_the_race_can_reach(ir: IrType) -> None:
    _, p = _racing(ir)
    assert p.outcome.errno is None
    [delivery] = p.outcome.deliveries
    assert delivery.eventfd == 20 and sum(n for _, n in delivery.per_cpu) == 20
    assert (p.outcome.lost, p.outcome.spurious) == (0, 0)
    assert p.within == {PATH: (0, 1, 2, 3)}, "the start CPU and every mask's CPUs"
    assert {"nic.msix[0].cpu", "nic.msix[0].vector"} <= p.uncertain, "where it ends is timing"
    assert view(p).affinity == (3,), "the last write is the last mask, whatever the order"
    assert "fire-while-moving-bounded" in p.rules


def test_the_vector_s_later_placement_stays_uncertain_until_disable_converges() -> None:
    m, _ = _racing(IrType.NONE)
    after = m.apply(Fire("nic", 0))
    assert "delivered.nic[0].per_cpu" in after.uncertain
    m.apply(Disable("nic"))
    fresh = m.apply(Enable("nic", IrqIndex.MSIX, 1))
    assert "nic.msix[0].cpu" not in fresh.uncertain, "a fresh allocation is placed exactly"


def test_a_mask_without_online_cpu_refuses_the_step_and_fires_nothing() -> None:
    m = model(IrType.NONE, cpus=2)
    m.apply(Enable("nic", IrqIndex.MSIX, 1))
    p = m.apply(FireWhileMoving("nic", 0, 5, ((1,), (3,))))
    assert p.outcome.errno == "EINVAL"
    assert [d.per_cpu for d in p.outcome.deliveries] == [()]


def test_an_unrequested_vector_has_no_proc_entry_to_write() -> None:
    m = model(IrType.NONE)
    m.apply(Enable("nic", IrqIndex.MSIX, 2, unrequested=(1,)))
    assert m.apply(FireWhileMoving("nic", 1, 5, MASKS)).outcome.errno == "ENOENT"
    m.apply(Request("nic", 1))
    assert m.apply(FireWhileMoving("nic", 1, 5, MASKS)).outcome.errno is None


def _observed(p_step: int, per_cpu: tuple[tuple[int, int], ...], eventfd: int) -> StepOutcome:
    return StepOutcome(
        step=p_step, action="x", deliveries=(Delivery("nic", 0, per_cpu, eventfd),),
        lost=0, spurious=0,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("per_cpu", "status"),
    [
        (((1, 7), (2, 3), (3, 10)), FieldStatus.WITHIN),
        (((0, 20),), FieldStatus.WITHIN),
        # One edge met the handler still running on the CPU the irq left: handled
        # by that handler's loop, counted on no CPU (the eventfd still says 20).
        (((1, 7), (2, 3), (3, 9)), FieldStatus.WITHIN),
        (((1, 7), (2, 3), (3, 11)), FieldStatus.MISMATCH),  # one counted twice
        (((1, 10), (4, 10)), FieldStatus.MISMATCH),  # a CPU no mask allows
        ((), FieldStatus.MISMATCH),  # counted nowhere: the first fire meets no handler
    ],
)
def test_the_bound_is_judged_and_can_fail(
    per_cpu: tuple[tuple[int, int], ...], status: FieldStatus
) -> None:
    _, p = _racing(IrType.INTEL)
    observed = _observed(p.outcome.step, per_cpu, 20)
    verdict = judge(p, observed, Bindings())
    [field] = [f for f in verdict.fields if f.path == PATH]
    assert field.status is status, field
    assert field.predicted == "1..20 on CPUs 0,1,2,3"


def test_a_fire_no_handler_ran_for_is_caught_by_the_eventfd() -> None:
    """The per-CPU bound lets a replayed edge go uncounted; the handler's runs
    (the eventfd) must still be every fire, and `lost` is judged exactly."""
    _, p = _racing(IrType.INTEL)
    observed = StepOutcome(
        step=p.outcome.step, action="x",
        deliveries=(Delivery("nic", 0, ((1, 19),), 19),), lost=1, spurious=0,
    )  # fmt: skip
    verdict = judge(p, observed, Bindings())
    statuses = {f.path: f.status for f in verdict.fields}
    assert statuses[PATH] is FieldStatus.WITHIN
    assert statuses["delivered.nic[0].eventfd"] is FieldStatus.MISMATCH
    assert statuses["lost"] is FieldStatus.MISMATCH


def test_duplicated_msi_quirk_allows_up_to_double_on_the_same_cpus() -> None:
    _, p = _racing(IrType.INTEL)
    quirks = frozenset({"duplicated-msi"})
    doubled = judge(p, _observed(p.outcome.step, ((1, 30),), 30), Bindings(quirks=quirks))
    assert [f.status for f in doubled.fields if f.path == PATH] == [FieldStatus.QUIRK]
    astray = judge(p, _observed(p.outcome.step, ((5, 30),), 30), Bindings(quirks=quirks))
    assert [f.status for f in astray.fields if f.path == PATH] == [FieldStatus.MISMATCH]
