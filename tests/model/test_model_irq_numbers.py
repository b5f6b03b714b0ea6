"""Linux irq numbers: lowest free range from the dynamic base, holes included.

Expected numbers are worked out by hand from the kernel's rule
(`__irq_alloc_descs`: the lowest free range of `cnt` at or above
`arch_dynirq_lower_bound`, which on x86 is the IO-APIC GSI count when
nonzero), not read back from the model.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hil.model.calibration import Calibration, CpuInfo
from hil.model.device import DeviceCaps
from hil.model.model import InterruptModel
from hil.model.numbers import IrqNumbers
from hil.model.prediction import Prediction, Relative
from hil.model.steps import Disable, Enable, Request
from hil.model.verdict import Bindings, judge
from hil.model.vocabulary import ApicMode, IrqIndex, IrType, StepOutcome, VectorView

K612 = "6.12.95+deb12-amd64"
NIC = DeviceCaps("nic", "0000:00:0a.0", msix_size=16)
MSI4 = DeviceCaps("msi4", "0000:00:0c.0", msi_max=16, msi_maskable=True)
GSI = tuple(range(0, 16))
"""ISA/GSI irqs a q35 guest has below the dynamic base (24)."""


def model(ir: IrType = IrType.NONE, **kw: object) -> InterruptModel:
    cal = Calibration(
        kernel=K612,
        ir=ir,
        apic_mode=ApicMode.PHYSICAL_FLAT,
        cpus=tuple(CpuInfo(c, c) for c in range(4)),
        vectors={},
        irte_next=32 if ir is not IrType.NONE else None,
        **kw,  # type: ignore[arg-type]
    )
    return InterruptModel(cal, [NIC, MSI4])


def irqs(p: Prediction) -> list[int | None]:
    return [v.irq for v in p.outcome.vectors]


# -- the allocator --------------------------------------------------------------------


def test_numbers_fill_holes_from_the_dynamic_base() -> None:
    numbers = IrqNumbers(24, (*GSI, 24, 25, 26, 27, 29, 33))
    assert [numbers.alloc() for _ in range(5)] == [28, 30, 31, 32, 34]


def test_a_range_skips_holes_too_small_for_it() -> None:
    numbers = IrqNumbers(24, (24, 25, 27, 28))
    assert numbers.alloc(2) == 29  # 26 is a hole of one
    assert numbers.alloc(1) == 26


def test_freed_numbers_are_reused_lowest_first() -> None:
    numbers = IrqNumbers(24)
    first = [numbers.alloc() for _ in range(4)]
    numbers.free(26)
    numbers.free(25)
    assert first == [24, 25, 26, 27]
    assert [numbers.alloc(), numbers.alloc(), numbers.alloc()] == [25, 26, 28]


def test_no_io_apic_means_the_hint_one() -> None:
    cal = model(used_irqs=(1, 2), dynirq_base=0)
    assert irqs(cal.apply(Enable("nic", IrqIndex.MSIX, 2))) == [3, 4]


# -- through the model ----------------------------------------------------------------


def test_used_irqs_and_base_predict_exact_numbers_with_holes() -> None:
    # 24..40 in use except 30 and 31 (freed earlier on this machine).
    used = (*GSI, *(n for n in range(24, 41) if n not in (30, 31)))
    m = model(used_irqs=used, dynirq_base=24)
    p = m.apply(Enable("nic", IrqIndex.MSIX, 3))
    assert irqs(p) == [30, 31, 41]
    assert not p.relative


def test_multi_msi_block_is_one_range_and_skips_a_small_hole() -> None:
    used = (*GSI, *(n for n in range(24, 41) if n not in (30, 31)))
    m = model(IrType.INTEL, used_irqs=used, dynirq_base=24)
    assert irqs(m.apply(Enable("msi4", IrqIndex.MSI, 3))) == [41, 42, 43]
    # Each MSI-X vector is its own call, so the next one takes the hole.
    assert irqs(m.apply(Enable("nic", IrqIndex.MSIX, 1))) == [30]


def test_disable_frees_numbers_for_the_next_allocation() -> None:
    m = model(used_irqs=GSI, dynirq_base=24)
    assert irqs(m.apply(Enable("nic", IrqIndex.MSIX, 2))) == [24, 25]
    assert irqs(m.apply(Enable("msi4", IrqIndex.MSI, 1))) == [26]
    m.apply(Disable("nic"))
    assert irqs(m.apply(Enable("nic", IrqIndex.MSIX, 3))) == [24, 25, 27]


def test_irq_next_alone_still_counts_up_without_holes() -> None:
    assert irqs(model(irq_next=41).apply(Enable("nic", IrqIndex.MSIX, 3))) == [41, 42, 43]


def test_without_used_irqs_every_allocation_is_its_own_symbol() -> None:
    m = model(IrType.INTEL, dynirq_base=24)
    p = m.apply(Enable("nic", IrqIndex.MSIX, 2))
    assert irqs(p) == [None, None]
    assert p.relative["nic.msix[0].irq"] == Relative("irq[nic.msix[0]]", 0)
    assert p.relative["nic.msix[1].irq"] == Relative("irq[nic.msix[1]]", 0)
    block = m.apply(Enable("msi4", IrqIndex.MSI, 3))
    # One call allocates the whole multi-MSI range: consecutive inside it.
    assert [block.relative[f"msi4.msi[{e}].irq"] for e in range(3)] == [
        Relative("irq[msi4.msi[0]]", e) for e in range(3)
    ]


def _seen(device: str, index: IrqIndex, numbers: list[int]) -> StepOutcome:
    return StepOutcome(
        step=0,
        action="",
        vectors=tuple(
            VectorView(device, index, e, True, True, irq=n) for e, n in enumerate(numbers)
        ),
    )


def test_relative_numbers_judge_constancy_and_blocks_not_neighbours() -> None:
    m = model()
    p = m.apply(Enable("nic", IrqIndex.MSIX, 2))
    bindings = Bindings()
    assert judge(p, _seen("nic", IrqIndex.MSIX, [30, 77]), bindings).ok
    again = m.apply(Request("nic", 1))
    assert judge(again, _seen("nic", IrqIndex.MSIX, [30, 77]), Bindings(dict(bindings.values))).ok
    assert not judge(
        again, _seen("nic", IrqIndex.MSIX, [30, 78]), Bindings(dict(bindings.values))
    ).ok
    block = model(IrType.INTEL).apply(Enable("msi4", IrqIndex.MSI, 2))
    assert judge(block, _seen("msi4", IrqIndex.MSI, [40, 41]), Bindings()).ok
    assert not judge(block, _seen("msi4", IrqIndex.MSI, [40, 42]), Bindings()).ok


def test_a_reallocated_vector_gets_a_new_symbol() -> None:
    m = model()
    first = m.apply(Enable("nic", IrqIndex.MSIX, 1))
    m.apply(Disable("nic"))
    second = m.apply(Enable("nic", IrqIndex.MSIX, 1))
    assert first.relative["nic.msix[0].irq"].symbol == "irq[nic.msix[0]]"
    assert second.relative["nic.msix[0].irq"].symbol == "irq[nic.msix[0]]#2"
    bindings = Bindings()
    assert judge(first, _seen("nic", IrqIndex.MSIX, [30]), bindings).ok
    assert judge(second, _seen("nic", IrqIndex.MSIX, [35]), bindings).ok


# -- properties -------------------------------------------------------------------------

ops = st.lists(
    st.one_of(
        st.tuples(st.just("alloc"), st.integers(1, 4)),
        st.tuples(st.just("free"), st.integers(0, 1000)),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(st.sets(st.integers(0, 80)), st.sampled_from([0, 16, 24]), ops)
def test_allocator_takes_the_lowest_free_range_and_reuses_freed_numbers(
    used: set[int], base: int, sequence: list[tuple[str, int]]
) -> None:
    start = max(base, 1)
    numbers = IrqNumbers(start, used)
    taken = set(used)
    held: list[int] = []
    for op, arg in sequence:
        if op == "free":
            if held:
                number = held.pop(arg % len(held))
                numbers.free(number)
                taken.discard(number)
            continue
        first = numbers.alloc(arg)
        span = range(first, first + arg)
        # Never a number in use, never below the base...
        assert first >= start and not taken.intersection(span)
        # ...and the lowest such range, so freed numbers come back first.
        lowest = next(n for n in range(start, 200) if not taken.intersection(range(n, n + arg)))
        assert first == lowest
        taken.update(span)
        held.extend(span)


steps = st.lists(
    st.one_of(
        st.builds(Enable, st.just("nic"), st.just(IrqIndex.MSIX), st.integers(1, 6)),
        st.builds(Enable, st.just("msi4"), st.just(IrqIndex.MSI), st.integers(1, 5)),
        st.builds(Disable, st.sampled_from(["nic", "msi4"])),
    ),
    max_size=25,
)


@settings(max_examples=100, deadline=None)
@given(st.sets(st.integers(0, 60)), steps)
def test_model_never_predicts_a_number_in_use(used: set[int], sequence: list[object]) -> None:
    m = model(IrType.INTEL, used_irqs=tuple(used), dynirq_base=24)
    for step in sequence:
        m.apply(step)  # type: ignore[arg-type]
        numbers = [v.irq for v in m.vectors()]
        assert all(n is not None and n >= 24 and n not in used for n in numbers)
        assert len(set(numbers)) == len(numbers)
