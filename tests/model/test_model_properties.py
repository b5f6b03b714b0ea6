"""Invariants of the model under random step sequences (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hil.model.calibration import Calibration, CpuInfo
from hil.model.device import DeviceCaps
from hil.model.kernel import KernelRules
from hil.model.model import InterruptModel
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
    Step,
    Store,
)
from hil.model.vocabulary import ApicMode, IrqIndex, IrType

CPUS = 4
DEVICES = (
    DeviceCaps("a", "0000:00:0a.0", msix_size=8),
    DeviceCaps("b", "0000:00:0b.0", msi_max=4, msi_maskable=True),
    DeviceCaps("c", "0000:00:0c.0", msi_max=1),
)

entries = st.integers(0, 7)
names = st.sampled_from([d.name for d in DEVICES])
cpus = st.integers(0, CPUS - 1)
steps = st.one_of(
    st.builds(
        Enable,
        st.just("a"),
        st.just(IrqIndex.MSIX),
        st.integers(1, 8),
        st.lists(entries, max_size=3).map(lambda x: tuple(sorted(set(x)))),
    ),
    st.builds(Enable, st.just("b"), st.just(IrqIndex.MSI), st.integers(1, 4)),
    st.builds(Enable, st.just("c"), st.just(IrqIndex.MSI), st.just(1)),
    st.builds(Request, names, entries),
    st.builds(Release, names, entries),
    st.builds(Affinity, names, entries, st.lists(cpus, min_size=1, max_size=3).map(tuple)),
    st.builds(Fire, names, entries),
    st.builds(Store, names, entries),
    st.builds(FireStored, names),
    st.builds(CpuOffline, cpus),
    st.builds(CpuOnline, cpus),
    st.builds(Disable, names),
)


def _model(kernel: str, ir: bool, full: int, hidden: int = 0) -> InterruptModel:
    # CPU1 starts nearly full so exhaustion, refusal and broken affinity occur.
    rules = KernelRules.for_version(kernel)
    room = sorted(rules.allocatable_vectors())
    cal = Calibration(
        kernel=kernel,
        ir=IrType.INTEL if ir else IrType.NONE,
        apic_mode=ApicMode.PHYSICAL_FLAT,
        cpus=tuple(CpuInfo(c, c + 4) for c in range(CPUS)),
        vectors={1: tuple(room[: len(room) - full])},
        irq_next=30,
        irte_next=8 if ir else None,
        hidden_vectors=hidden,
    )
    return InterruptModel(cal, DEVICES)


def _legal(step: Step) -> bool:
    if isinstance(step, Enable):
        return all(e < step.count for e in step.unrequested)
    return True


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(["6.1.0", "6.12.0"]),
    st.booleans(),
    st.integers(0, 3),
    st.lists(steps.filter(_legal), max_size=40),
    st.integers(0, 2),
)
def test_invariants_hold_after_every_step(
    kernel: str, ir: bool, full: int, sequence: list[Step], hidden: int
) -> None:
    m = _model(kernel, ir, full, hidden)
    capacity = m.rules.usable_per_cpu
    placeholder = m.rules.placeholder_vector
    for step in sequence:
        m.apply(step)
        online = set(m.online_cpus())
        seen: set[tuple[int, int]] = set()
        for v in m.vectors():
            if v.requested:
                # Every started irq sits on an online CPU...
                assert v.cpu in online, (step, v)
                if v.vector != placeholder:
                    # ...and no vector of a CPU is handed out twice.
                    assert (v.cpu, v.vector) not in seen
                    assert v.cpu is not None and v.vector is not None
                    seen.add((v.cpu, v.vector))
            if v.cpu is not None and v.vector is not None and v.vector != placeholder:
                assert v.vector in m.used_vectors(v.cpu)
        for cpu in range(CPUS):
            used = len(m.used_vectors(cpu))
            assert m.available(cpu) >= 0 and m.available(cpu) + used == capacity
