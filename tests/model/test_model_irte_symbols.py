"""IRTE indices without a calibrated base: one symbol per block, never a shared base.

alloc_irte takes the lowest free aligned block, so after earlier frees the
IRTEs of consecutive vectors need not be consecutive (6.12 igb: entries
0..8 on 0x27..0x2f, entry 9 on 0x39).  What stays judged: a message never
changes while its vector is allocated, and a multi-MSI block is one aligned
range with the subhandle in the data.
"""

from __future__ import annotations

from hil.model.calibration import Calibration, CpuInfo
from hil.model.device import DeviceCaps
from hil.model.model import InterruptModel
from hil.model.prediction import Prediction, Relative
from hil.model.steps import Affinity, Disable, Enable, FireStored, Release, Request, Store
from hil.model.verdict import Bindings, FieldStatus, judge
from hil.model.vocabulary import (
    ApicMode,
    IrqIndex,
    IrType,
    MsiMessage,
    StepOutcome,
    VectorView,
)

K612 = "6.12.95+deb12-amd64"
NIC = DeviceCaps("nic", "0000:00:0a.0", msix_size=10)
MSI4 = DeviceCaps("msi4", "0000:00:0c.0", msi_max=16, msi_maskable=True)


def model(irte_next: int | None = None) -> InterruptModel:
    cal = Calibration(
        kernel=K612,
        ir=IrType.INTEL,
        apic_mode=ApicMode.PHYSICAL_FLAT,
        cpus=tuple(CpuInfo(c, c) for c in range(4)),
        vectors={},
        irte_next=irte_next,
        irq_next=41,
    )
    return InterruptModel(cal, [NIC, MSI4])


def remappable(handle: int, subhandle: int = 0) -> MsiMessage:
    """An Intel remappable message: handle in the address, SHV set, data = subhandle."""
    return MsiMessage(0xFEE00018 | handle << 5, subhandle)


def seen(device: str, index: IrqIndex, messages: dict[int, MsiMessage]) -> StepOutcome:
    return StepOutcome(
        step=0,
        action="",
        vectors=tuple(
            VectorView(device, index, e, True, True, message=msg) for e, msg in messages.items()
        ),
    )


def statuses(p: Prediction, observed: StepOutcome, bindings: Bindings) -> dict[str, FieldStatus]:
    return {f.path: f.status for f in judge(p, observed, bindings).fields}


def test_each_msix_vector_has_its_own_irte_symbol_so_holes_are_accepted() -> None:
    p = model().apply(Enable("nic", IrqIndex.MSIX, 10))
    assert [p.relative[f"nic.msix[{e}].message"] for e in range(10)] == [
        Relative(f"irte[nic.msix[{e}]]", 0) for e in range(10)
    ]
    igb = {e: remappable(0x27 + e) for e in range(9)} | {9: remappable(0x39)}
    verdict = statuses(p, seen("nic", IrqIndex.MSIX, igb), Bindings())
    assert all(verdict[f"nic.msix[{e}].message"] is FieldStatus.BOUND for e in range(10))


def test_ir_message_never_changes_while_the_vector_stays_allocated() -> None:
    m = model()
    bindings = Bindings()
    first = m.apply(Enable("nic", IrqIndex.MSIX, 2))
    assert judge(first, seen("nic", IrqIndex.MSIX, {0: remappable(0x27)}), bindings).ok
    for step in (Affinity("nic", 0, (2,)), Release("nic", 0), Request("nic", 0)):
        p = m.apply(step)
        if isinstance(step, Release):
            continue  # released: the device holds the zero message
        path = "nic.msix[0].message"
        same = statuses(p, seen("nic", IrqIndex.MSIX, {0: remappable(0x27)}), bindings)
        assert same[path] is FieldStatus.MATCH
        moved = seen("nic", IrqIndex.MSIX, {0: remappable(0x28)})
        assert statuses(p, moved, Bindings(dict(bindings.values)))[path] is FieldStatus.MISMATCH


def test_multi_msi_block_is_one_aligned_symbol_with_subhandle_offsets() -> None:
    p = model().apply(Enable("msi4", IrqIndex.MSI, 3))
    assert [p.relative[f"msi4.msi[{e}].message"] for e in range(3)] == [
        Relative("irte[msi4.msi[0]]", e, 4) for e in range(3)
    ]
    good = {e: remappable(0x24, e) for e in range(3)}
    assert judge(p, seen("msi4", IrqIndex.MSI, good), Bindings()).ok
    unaligned = {e: remappable(0x26, e) for e in range(3)}
    assert not judge(p, seen("msi4", IrqIndex.MSI, unaligned), Bindings()).ok
    no_subhandle = {e: remappable(0x24) for e in range(3)}
    assert not judge(p, seen("msi4", IrqIndex.MSI, no_subhandle), Bindings()).ok


def test_reallocation_gets_a_new_irte_symbol() -> None:
    m = model()
    m.apply(Enable("nic", IrqIndex.MSIX, 1))
    m.apply(Disable("nic"))
    again = m.apply(Enable("nic", IrqIndex.MSIX, 1))
    assert again.relative["nic.msix[0].message"] == Relative("irte[nic.msix[0]]#2", 0)


def test_exact_base_still_predicts_indices_assuming_no_earlier_frees() -> None:
    p = model(irte_next=0x27).apply(Enable("nic", IrqIndex.MSIX, 10))
    assert not any(path.endswith(".message") for path in p.relative)
    messages = [v.message for v in p.outcome.vectors]
    assert [m.irte_index for m in messages if m is not None] == list(range(0x27, 0x31))


def test_stored_message_of_a_freed_unknown_irte_faults_until_something_may_reuse_it() -> None:
    m = model()
    m.apply(Enable("nic", IrqIndex.MSIX, 2))
    m.apply(Store("nic", 0))
    m.apply(Disable("nic"))
    fault = m.apply(FireStored("nic"))
    assert (fault.outcome.lost, fault.outcome.spurious) == (1, 0)
    assert not {"lost", "spurious"} & fault.uncertain
    m.apply(Enable("nic", IrqIndex.MSIX, 2))
    unknown = m.apply(FireStored("nic"))
    # Either entry's new IRTE may be the freed one, or neither.
    assert {"lost", "spurious"} <= unknown.uncertain
    for e in range(2):
        assert f"delivered.nic[{e}].per_cpu" in unknown.uncertain
        assert f"delivered.nic[{e}].eventfd" in unknown.uncertain


def test_stored_message_with_exact_base_reaches_the_reused_irte() -> None:
    m = model(irte_next=0x27)
    m.apply(Enable("nic", IrqIndex.MSIX, 1))
    m.apply(Store("nic", 0))
    m.apply(Disable("nic"))
    m.apply(Enable("nic", IrqIndex.MSIX, 1))
    p = m.apply(FireStored("nic"))
    assert p.outcome.lost == 0 and not p.uncertain
    assert [(d.entry, d.eventfd) for d in p.outcome.deliveries] == [(0, 1)]
