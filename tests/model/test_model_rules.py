"""One test (or a few) per model rule in docs/model.md."""

from __future__ import annotations

import pytest

from hil.model.calibration import Calibration, CpuInfo
from hil.model.device import DeviceCaps
from hil.model.faults import ModelFaults
from hil.model.model import InterruptModel
from hil.model.prediction import Prediction, Relative
from hil.model.steps import (
    Affinity,
    CpuOffline,
    CpuOnline,
    Disable,
    Enable,
    Fire,
    FireStored,
    Release,
    Request,
    Store,
)
from hil.model.verdict import Bindings, FieldStatus, judge
from hil.model.vocabulary import ApicMode, IrqIndex, IrType, MsiMessage, VectorView

K612 = "6.12.95+deb12-amd64"
K61 = "6.1.0-56-amd64"
NIC = DeviceCaps("nic", "0000:00:0a.0", msix_size=16)
EDU = DeviceCaps("edu", "0000:00:0b.0", msi_max=1, msi_maskable=False)
MSI4 = DeviceCaps("msi4", "0000:00:0c.0", msi_max=16, msi_maskable=True)
OTHER = DeviceCaps("other", "0000:00:0d.0", msix_size=8)


def calibration(
    kernel: str = K612,
    ir: IrType = IrType.NONE,
    cpus: int = 4,
    used: dict[int, tuple[int, ...]] | None = None,
    **kw: object,
) -> Calibration:
    return Calibration(
        kernel=kernel,
        ir=ir,
        apic_mode=ApicMode.PHYSICAL_FLAT,
        cpus=tuple(CpuInfo(c, c) for c in range(cpus)),
        vectors=used if used is not None else {},
        irq_next=kw.pop("irq_next", 40),  # type: ignore[arg-type]
        irte_next=kw.pop("irte_next", 20 if ir is not IrType.NONE else None),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def model(ir: IrType = IrType.NONE, kernel: str = K612, **kw: object) -> InterruptModel:
    devices = kw.pop("devices", (NIC, EDU, MSI4, OTHER))
    return InterruptModel(calibration(kernel, ir, **kw), devices)  # type: ignore[arg-type]


def view(p: Prediction, entry: int = 0) -> VectorView:
    return next(v for v in p.outcome.vectors if v.entry == entry)


def per_cpu(p: Prediction, device: str, entry: int) -> tuple[tuple[int, int], ...]:
    return next(d.per_cpu for d in p.outcome.deliveries if (d.device, d.entry) == (device, entry))


# -- allocation -------------------------------------------------------------------------


def test_non_maskable_msi_gets_its_real_vector_at_allocation() -> None:
    m = model()
    p = m.apply(Enable("edu", IrqIndex.MSI, 1, unrequested=(0,)))
    v = view(p)
    assert not v.requested
    assert v.vector == 0x20 and v.cpu == 0
    assert v.masked is None
    assert p.outcome.trace == (
        "0:vector_reserve",
        "0:vector_activate(reserve=0)",
        "0:vector_alloc",
        "0:vector_update",
    )


def test_maskable_msi_and_msix_sit_on_the_placeholder_until_request() -> None:
    m = model()
    p = m.apply(Enable("msi4", IrqIndex.MSI, 1, unrequested=(0,)))
    v = view(p)
    assert (v.cpu, v.vector, v.masked) == (0, 0xEF, True)
    assert v.message == MsiMessage(0xFEE00000, 0xEF)
    p = m.apply(Request("msi4", 0))
    assert view(p).vector == 0x20 and view(p).masked is False
    assert p.outcome.trace == ("0:vector_activate(reserve=0)", "0:vector_alloc", "0:vector_update")


def test_placeholder_is_on_the_first_online_cpu() -> None:
    cal = Calibration(
        K612,
        IrType.NONE,
        ApicMode.PHYSICAL_FLAT,
        (CpuInfo(0, 0, online=False), CpuInfo(1, 5), CpuInfo(2, 6)),
        vectors={},
    )
    p = InterruptModel(cal, [NIC]).apply(Enable("nic", IrqIndex.MSIX, 1, unrequested=(0,)))
    assert view(p).cpu == 1
    assert view(p).message == MsiMessage(0xFEE05000, 0xEF)


def test_multi_msi_without_ir_grants_one_and_allocates_nothing() -> None:
    p = model().apply(Enable("msi4", IrqIndex.MSI, 4))
    assert p.outcome.errno is None and p.outcome.granted == 1
    assert p.outcome.vectors == ()


def test_multi_msi_with_ir_is_an_aligned_irte_block() -> None:
    p = model(IrType.INTEL, irte_next=21).apply(Enable("msi4", IrqIndex.MSI, 3))
    assert p.outcome.granted is None
    messages = [view(p, e).message for e in range(3)]
    # Block of 4 aligned at 24; one address, data = subhandle.
    assert all(msg is not None and msg.irte_index == 24 for msg in messages)
    assert [msg.data for msg in messages if msg] == [0, 1, 2]
    assert [view(p, e).irq for e in range(3)] == [40, 41, 42]


def test_count_beyond_capability_is_einval_and_ims_is_unsupported() -> None:
    m = model()
    assert m.apply(Enable("edu", IrqIndex.MSI, 2)).outcome.errno == "EINVAL"
    assert m.apply(Enable("edu", IrqIndex.MSIX, 1)).outcome.errno == "EINVAL"
    p = model(IrType.INTEL, kernel="6.5.0").apply(Enable("nic", IrqIndex.IMS, 1))
    assert p.outcome.errno == "EOPNOTSUPP"
    assert any("vfio-pci has no IMS" in n for n in p.outcome.notes)


def test_unrequested_msix_entry_latches_and_fires_at_request() -> None:
    m = model()
    m.apply(Enable("nic", IrqIndex.MSIX, 2, unrequested=(1,)))
    p = m.apply(Fire("nic", 1))
    assert p.outcome.lost == 0 and per_cpu(p, "nic", 1) == ()
    p = m.apply(Request("nic", 1))
    assert per_cpu(p, "nic", 1) == ((view(p, 1).cpu or 0, 1),)


def test_requests_spread_to_the_cpu_with_most_free_vectors() -> None:
    used = {0: (0x20, 0x21), 1: (0x20,), 2: (0x20,), 3: ()}
    p = model(used=used).apply(Enable("nic", IrqIndex.MSIX, 6))
    # available: 199, 200, 200, 201 -> 3; then 1, 2, 3 tie at 200 -> lowest first.
    assert [view(p, e).cpu for e in range(6)] == [3, 1, 2, 3, 0, 1]
    assert [view(p, e).vector for e in range(6)] == [0x20, 0x21, 0x21, 0x21, 0x22, 0x22]


def test_numa_node_narrows_cpu_choice_and_affinity() -> None:
    cal = Calibration(
        K612,
        IrType.NONE,
        ApicMode.PHYSICAL_FLAT,
        tuple(CpuInfo(c, c, node=c // 2) for c in range(4)),
        vectors={},
    )
    nic = DeviceCaps("nic", "0000:00:0a.0", msix_size=4, numa_node=1)
    p = InterruptModel(cal, [nic]).apply(Enable("nic", IrqIndex.MSIX, 3))
    assert [view(p, e).cpu for e in range(3)] == [2, 3, 2]
    assert view(p).affinity == (2, 3)


def test_request_fails_with_enospc_when_no_cpu_has_a_vector() -> None:
    full = {c: tuple(v for v in range(0x20, 0xEB) if v not in (0x32, 0x80)) for c in range(2)}
    m = model(cpus=2, used=full)
    p = m.apply(Enable("nic", IrqIndex.MSIX, 1))
    assert p.outcome.errno == "ENOSPC" and p.outcome.vectors == ()


def test_affinity_broken_when_the_mask_has_no_room() -> None:
    full0 = {0: tuple(v for v in range(0x20, 0xEB) if v not in (0x32, 0x80))}
    m = model(used=full0)
    m.apply(Enable("nic", IrqIndex.MSIX, 1, unrequested=(0,)))
    m.apply(Request("nic", 0))
    m.apply(Release("nic", 0))
    m.apply(Affinity("nic", 0, (0,)))
    p = m.apply(Request("nic", 0))
    assert view(p).cpu != 0
    assert any("Affinity broken" in n for n in p.outcome.notes)


# -- affinity ---------------------------------------------------------------------------


def test_affinity_errors() -> None:
    m = model()
    m.apply(Enable("nic", IrqIndex.MSIX, 2, unrequested=(1,)))
    assert m.apply(Affinity("nic", 1, (1,))).outcome.errno == "ENOENT"
    assert m.apply(Affinity("nic", 0, (9,))).outcome.errno == "ERANGE"
    m.apply(CpuOffline(2))
    assert m.apply(Affinity("nic", 0, (2,))).outcome.errno == "EINVAL"


def test_ir_moves_at_once_and_keeps_the_message() -> None:
    m = model(IrType.INTEL)
    before = view(m.apply(Enable("nic", IrqIndex.MSIX, 1)))
    p = m.apply(Affinity("nic", 0, (1,)))
    assert view(p).effective == (1,) and view(p).affinity == (1,)
    assert view(p).message == before.message
    assert per_cpu(m.apply(Fire("nic", 0)), "nic", 0) == ((1, 1),)


def test_ir_no_move_when_current_cpu_is_in_the_mask() -> None:
    m = model(IrType.INTEL)
    v = view(m.apply(Enable("nic", IrqIndex.MSIX, 1)))
    p = m.apply(Affinity("nic", 0, (v.cpu or 0, 2)))
    assert (view(p).cpu, view(p).vector) == (v.cpu, v.vector)


def test_non_ir_move_is_deferred_to_the_next_interrupt() -> None:
    m = model()
    first = view(m.apply(Enable("nic", IrqIndex.MSIX, 1)))
    p = m.apply(Affinity("nic", 0, (2,)))
    assert view(p).affinity == (2,)
    assert view(p).effective == first.effective and view(p).message == first.message
    p = m.apply(Fire("nic", 0))
    assert per_cpu(p, "nic", 0) == ((first.cpu or 0, 1),)
    assert view(p).effective == (2,)
    assert view(p).message == MsiMessage(0xFEE02000, view(p).vector or 0)


def test_a_burst_lands_each_fire_where_the_previous_one_left_the_vector() -> None:
    m = model()
    first = view(m.apply(Enable("nic", IrqIndex.MSIX, 1)))
    m.apply(Affinity("nic", 0, (2,)))
    p = m.apply(Fire("nic", 0, times=3))
    assert per_cpu(p, "nic", 0) == tuple(sorted({first.cpu or 0: 1, 2: 2}.items()))
    assert p.outcome.lost == 0


def test_a_burst_on_a_released_vector_is_latched_once_and_nothing_is_lost() -> None:
    m = model()
    m.apply(Enable("nic", IrqIndex.MSIX, 2))
    m.apply(Release("nic", 1))
    p = m.apply(Fire("nic", 1, times=5))
    assert view(p, 1).masked is True
    assert p.outcome.lost == 0 and not [d for d in p.outcome.deliveries if d.per_cpu]


def test_non_ir_last_write_wins() -> None:
    m = model()
    m.apply(Enable("nic", IrqIndex.MSIX, 1))
    m.apply(Affinity("nic", 0, (1,)))
    m.apply(Affinity("nic", 0, (2,)))
    p = m.apply(Fire("nic", 0))
    assert view(p).effective == (2,)


def test_second_ir_write_inside_cleanup_window_is_an_alternative_on_6_6_plus() -> None:
    m = model(IrType.INTEL)
    m.apply(Enable("nic", IrqIndex.MSIX, 1))
    m.apply(Affinity("nic", 0, (1,)))
    p = m.apply(Affinity("nic", 0, (2,)))
    assert view(p).effective == (2,)
    assert len(p.alternatives) == 1
    alt = p.alternatives[0].vectors[0]
    assert alt.effective == (1,) and alt.affinity == (2,)
    # The runner saw the machine take the deferred branch: follow it.
    m.adopt(0)
    p = m.apply(Fire("nic", 0))
    assert per_cpu(p, "nic", 0) == ((1, 1),)
    assert view(p).effective == (2,)


def test_no_timing_alternative_before_6_6() -> None:
    m = model(IrType.INTEL, kernel=K61)
    m.apply(Enable("nic", IrqIndex.MSIX, 1))
    m.apply(Affinity("nic", 0, (1,)))
    assert m.apply(Affinity("nic", 0, (2,))).alternatives == ()


# -- release / disable ----------------------------------------------------------------------


def test_release_zeroes_message_and_returns_to_placeholder() -> None:
    m = model()
    m.apply(Enable("nic", IrqIndex.MSIX, 1))
    v = view(m.apply(Release("nic", 0)))
    assert (v.requested, v.vector, v.masked, v.message) == (False, 0xEF, True, MsiMessage(0, 0))


def test_release_of_non_maskable_msi_keeps_its_vector() -> None:
    m = model()
    v = view(m.apply(Enable("edu", IrqIndex.MSI, 1)))
    after = view(m.apply(Release("edu", 0)))
    assert (after.cpu, after.vector) == (v.cpu, v.vector)
    assert after.message == MsiMessage(0, 0)


def test_disable_frees_vectors_and_irq_numbers() -> None:
    m = model()
    m.apply(Enable("nic", IrqIndex.MSIX, 2))
    p = m.apply(Disable("nic"))
    assert [(v.allocated, v.message) for v in p.outcome.vectors] == [(False, MsiMessage(0, 0))] * 2
    assert all(not m.used_vectors(c) for c in range(4))
    assert view(m.apply(Enable("other", IrqIndex.MSIX, 1))).irq == 40


def test_dynamic_msix_only_from_6_5() -> None:
    new = model()
    new.apply(Enable("nic", IrqIndex.MSIX, 1))
    assert new.apply(Request("nic", 5)).outcome.errno is None
    old = model(kernel=K61)
    old.apply(Enable("nic", IrqIndex.MSIX, 1))
    assert old.apply(Request("nic", 5)).outcome.errno == "EINVAL"


# -- stored messages ---------------------------------------------------------------------


def test_ir_stored_message_follows_every_move() -> None:
    m = model(IrType.INTEL)
    m.apply(Enable("nic", IrqIndex.MSIX, 1))
    m.apply(Store("nic", 0))
    for cpu in (1, 2, 3):
        m.apply(Affinity("nic", 0, (cpu,)))
        p = m.apply(FireStored("nic"))
        assert per_cpu(p, "nic", 0) == ((cpu, 1),) and p.outcome.lost == 0


def test_ir_stored_message_after_disable_is_a_dmar_fault() -> None:
    m = model(IrType.INTEL)
    m.apply(Enable("nic", IrqIndex.MSIX, 1))
    m.apply(Store("nic", 0))
    m.apply(Disable("nic"))
    p = m.apply(FireStored("nic"))
    assert p.outcome.lost == 1 and p.outcome.spurious == 0
    assert any("DMAR" in n for n in p.outcome.notes)


def test_non_ir_stored_message_is_lost_once_the_move_completed() -> None:
    m = model()
    m.apply(Enable("nic", IrqIndex.MSIX, 1))
    m.apply(Store("nic", 0))
    m.apply(Affinity("nic", 0, (2,)))
    # Still the current vector: delivered, and the pending move happens during it.
    p = m.apply(FireStored("nic"))
    assert p.outcome.lost == 0 and view(p).effective == (2,)
    # Old vector kept until the first interrupt on the new one arms the cleanup.
    assert m.apply(FireStored("nic")).outcome.lost == 0
    m.apply(Fire("nic", 0))
    p = m.apply(FireStored("nic"))
    assert p.outcome.lost == 1 and p.outcome.spurious == 0
    assert per_cpu(p, "nic", 0) == ()
    assert any("No irq handler" in n for n in p.outcome.notes)


def test_non_ir_stale_message_reaches_the_irq_that_reused_the_vector() -> None:
    m = model()
    first = view(m.apply(Enable("nic", IrqIndex.MSIX, 1)))
    m.apply(Store("nic", 0))
    m.apply(Affinity("nic", 0, (2,)))
    m.apply(Fire("nic", 0))
    m.apply(Fire("nic", 0))
    other = view(m.apply(Enable("other", IrqIndex.MSIX, 1)))
    assert (other.cpu, other.vector) == (first.cpu, first.vector)
    p = m.apply(FireStored("nic"))
    assert p.outcome.lost == 1
    assert per_cpu(p, "other", 0) == ((first.cpu or 0, 1),)


def test_stored_placeholder_hits_the_spurious_vector() -> None:
    m = model()
    m.apply(Enable("nic", IrqIndex.MSIX, 1, unrequested=(0,)))
    m.apply(Store("nic", 0))
    p = m.apply(FireStored("nic"))
    assert (p.outcome.lost, p.outcome.spurious) == (1, 1)


# -- CPU hotplug ----------------------------------------------------------------------------


def test_offline_moves_started_irqs_and_skips_unstarted() -> None:
    m = model()
    p = m.apply(Enable("nic", IrqIndex.MSIX, 3, unrequested=(2,)))
    assert [view(p, e).cpu for e in range(2)] == [0, 1]
    p = m.apply(CpuOffline(1))
    assert p.outcome.errno is None
    # Entry 1 leaves CPU1 for the best of 0, 2, 3 (2 and 3 tie, the lower wins).
    assert (view(p, 0).cpu, view(p, 1).cpu) == (0, 2)
    assert view(p, 1).effective == (2,)
    assert view(p, 2).vector == 0xEF


def test_offline_breaks_affinity_when_no_cpu_of_the_mask_stays() -> None:
    m = model()
    m.apply(Enable("nic", IrqIndex.MSIX, 1))
    m.apply(Affinity("nic", 0, (3,)))
    m.apply(Fire("nic", 0))
    p = m.apply(CpuOffline(3))
    assert view(p).affinity == (0, 1, 2) and view(p).cpu in (0, 1, 2)
    assert any("broken" in n for n in p.outcome.notes)


def test_offline_refused_when_others_cannot_hold_the_vectors() -> None:
    room = tuple(v for v in range(0x20, 0xEB) if v not in (0x32, 0x80))
    used = {0: room[:-5], 1: room[:-5], 2: room}
    m = model(cpus=3, used=used)
    p = m.apply(CpuOffline(2))
    assert p.outcome.errno == "ENOSPC"
    assert any("Cannot disable CPU" in n for n in p.outcome.notes)


def test_cpu0_cannot_go_offline_and_nothing_moves_back() -> None:
    m = model()
    assert m.apply(CpuOffline(0)).outcome.errno == "ENOENT"
    m.apply(Enable("nic", IrqIndex.MSIX, 1))
    m.apply(CpuOffline(3))
    moved = view(m.apply(Fire("nic", 0)))
    back = m.apply(CpuOnline(3))
    assert view(back).cpu == moved.cpu
    assert 3 in m.online_cpus()


# -- what the calibration could not see ------------------------------------------------------


def test_counts_only_calibration_makes_vectors_uncertain() -> None:
    cal = Calibration(
        K612,
        IrType.NONE,
        ApicMode.PHYSICAL_FLAT,
        tuple(CpuInfo(c, c) for c in range(2)),
        allocated={0: 3, 1: 3},
    )
    p = InterruptModel(cal, [NIC]).apply(Enable("nic", IrqIndex.MSIX, 1))
    assert "nic.msix[0].vector" in p.uncertain and "nic.msix[0].message" in p.uncertain
    assert view(p).cpu == 0


def test_unknown_irq_and_irte_bases_are_relative_and_judged() -> None:
    # Rule changed: one symbol per allocation instead of a shared "irq"/"irte"
    # base with offsets (holes left by earlier frees make consecutive numbers
    # wrong); what is judged is that each number stays the same.
    cal = Calibration(
        K612,
        IrType.INTEL,
        ApicMode.PHYSICAL_FLAT,
        tuple(CpuInfo(c, c) for c in range(2)),
        vectors={},
    )
    m = InterruptModel(cal, [NIC])
    p = m.apply(Enable("nic", IrqIndex.MSIX, 2))
    assert p.relative["nic.msix[1].irq"] == Relative("irq[nic.msix[1]]", 0)
    assert p.relative["nic.msix[1].message"] == Relative("irte[nic.msix[1]]", 0)

    def seen(irqs: tuple[int, int], irtes: tuple[int, int]) -> tuple[VectorView, ...]:
        return tuple(
            VectorView(
                "nic",
                IrqIndex.MSIX,
                e,
                True,
                True,
                irq=irqs[e],
                message=MsiMessage(0xFEE00018 | irtes[e] << 5, 0),
            )
            for e in range(2)
        )

    bindings = Bindings()
    # Entry 1 in a hole far from entry 0 (as 6.12 showed) is fine...
    verdict = judge(p, p.outcome.__class__(0, "", vectors=seen((77, 90), (0x27, 0x39))), bindings)
    assert verdict.ok and any(f.status is FieldStatus.BOUND for f in verdict.fields)
    # ...but an affinity move must change neither the irq number nor the IRTE.
    moved = m.apply(Affinity("nic", 1, (0,)))
    assert moved.relative["nic.msix[1].irq"] == Relative("irq[nic.msix[1]]", 0)
    same = p.outcome.__class__(1, "", vectors=seen((77, 90), (0x27, 0x39))[1:])
    assert judge(moved, same, Bindings(dict(bindings.values))).ok
    for irq, irte in ((91, 0x39), (90, 0x3A)):
        changed = p.outcome.__class__(1, "", vectors=seen((77, irq), (0x27, irte))[1:])
        assert not judge(moved, changed, Bindings(dict(bindings.values))).ok


@pytest.mark.parametrize("faults", [ModelFaults(flip_ir=True), ModelFaults(reverse_tiebreak=True)])
def test_fault_knobs_change_predictions(faults: ModelFaults) -> None:
    right = model(IrType.INTEL).apply(Enable("nic", IrqIndex.MSIX, 4))
    wrong = InterruptModel(calibration(ir=IrType.INTEL), [NIC], faults).apply(
        Enable("nic", IrqIndex.MSIX, 4)
    )
    assert right.outcome.vectors != wrong.outcome.vectors
