"""A fire whose ack arms a move's cleanup while another move is pending (rule 20):
busy is the main outcome, the old CPU's cleanup winning the race the alternative."""

from __future__ import annotations

import pytest

from hil.model.model import InterruptModel
from hil.model.steps import Affinity, Enable, Fire
from hil.model.vocabulary import IrqIndex, IrType
from tests.model.test_model_rules import EDU, K612, MSI4, NIC, OTHER, calibration, view


def model(ir: IrType, fire_alternatives: bool = True) -> InterruptModel:
    return InterruptModel(
        calibration(K612, ir), (NIC, EDU, MSI4, OTHER), fire_alternatives=fire_alternatives
    )


def _pending_behind_a_move(fire_alternatives: bool = True):  # type: ignore[no-untyped-def]
    """Non-IR: the move to CPU 1 runs at the first fire (old CPU 0), the move to
    CPU 2 is written before the first interrupt on CPU 1 (the scenario's order)."""
    m = model(IrType.NONE, fire_alternatives)
    assert view(m.apply(Enable("edu", IrqIndex.MSI, 1))).cpu not in (1, 2)
    m.apply(Affinity("edu", 0, (1,)))
    m.apply(Fire("edu", 0))  # on the first CPU; the move to CPU 1 runs in its ack
    m.apply(Affinity("edu", 0, (2,)))
    return m


def test_the_ack_race_gives_both_outcomes() -> None:
    m = _pending_behind_a_move()
    p = m.apply(Fire("edu", 0))
    assert [d.per_cpu for d in p.outcome.deliveries] == [((1, 1),)], "lands on CPU 1 either way"
    assert view(p).cpu == 1, "main: the move to CPU 2 waits (busy)"
    [alt] = p.alternatives
    alt_view = next(v for v in alt.vectors if v.entry == 0)
    assert alt_view.cpu == 2, "alternative: the old CPU cleaned up first, the move ran"
    assert "cleanup-before-pending-move" in p.rules


@pytest.mark.parametrize("branch", ["main", "alternative"])
def test_both_branches_converge_at_the_next_fire(branch: str) -> None:
    m = _pending_behind_a_move()
    m.apply(Fire("edu", 0))
    if branch == "alternative":
        m.adopt(0)
    p = m.apply(Fire("edu", 0))
    assert view(p).cpu == 2


def test_a_fire_with_nothing_pending_has_no_alternative() -> None:
    m = model(IrType.NONE)
    m.apply(Enable("edu", IrqIndex.MSI, 1))
    m.apply(Affinity("edu", 0, (1,)))
    assert m.apply(Fire("edu", 0)).alternatives == ()


def test_bulk_prediction_follows_the_busy_outcome_alone() -> None:
    """Without `fire_alternatives` (the default, for speed) only the main outcome."""
    m = _pending_behind_a_move(fire_alternatives=False)
    p = m.apply(Fire("edu", 0))
    assert view(p).cpu == 1 and p.alternatives == ()
