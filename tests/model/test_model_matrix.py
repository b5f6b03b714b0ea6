"""The vector matrix (kernel/irq/matrix.c): best CPU, lowest bit, accounting."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hil.model.kernel import KernelRules
from hil.model.matrix import MatrixError, VectorMatrix

RULES = KernelRules.for_version("6.12.0")


def _matrix(cpus: int = 4, **kw: object) -> VectorMatrix:
    return VectorMatrix(range(cpus), RULES.allocatable_vectors(), set(range(cpus)), **kw)  # type: ignore[arg-type]


def test_most_available_cpu_wins_and_ties_go_low() -> None:
    m = _matrix()
    for cpu in (0, 1, 2):
        m.assign(cpu, 0x20)
    assert m.best_cpu() == 3
    assert [m.alloc()[0] for _ in range(5)] == [3, 0, 1, 2, 3]
    assert m.best_cpu({1, 2}) == 1


def test_reversed_tie_break_knob() -> None:
    m = _matrix(highest_cpu_wins_ties=True)
    assert m.best_cpu() == 3
    assert m.best_cpu({0, 1}) == 1


def test_lowest_free_bit_skips_system_vectors() -> None:
    m = _matrix(1)
    for v in range(0x20, 0x80):
        if v != 0x32:
            m.assign(0, v)
    assert m.alloc() == (0, 0x81)
    old = VectorMatrix([0], KernelRules.for_version("6.1.0").allocatable_vectors(), {0})
    assert old.alloc() == (0, 0x21)


def test_free_returns_the_bit() -> None:
    m = _matrix(1)
    cpu, v = m.alloc()
    m.alloc()
    m.free(cpu, v)
    assert m.alloc() == (cpu, v)
    with pytest.raises(ValueError):
        m.free(0, 0x99)


def test_errors_are_the_kernels() -> None:
    m = _matrix(2)
    with pytest.raises(MatrixError) as empty:
        m.alloc(frozenset())
    assert empty.value.errno == "EINVAL"
    m.set_online(1, False)
    with pytest.raises(MatrixError) as offline:
        m.alloc(frozenset({1}))
    assert offline.value.errno == "ENOSPC"
    for _ in range(RULES.usable_per_cpu):
        m.alloc(frozenset({0}))
    with pytest.raises(MatrixError) as full:
        m.alloc()
    assert full.value.errno == "ENOSPC"


def test_reservation_never_fails_and_managed_reservations_cut_availability() -> None:
    m = VectorMatrix([0, 1], RULES.allocatable_vectors(), {0, 1}, managed_reserved={0: 10})
    for _ in range(1000):
        m.reserve()
    assert m.global_reserved == 1000
    assert m.available(0) == RULES.usable_per_cpu - 10
    assert m.best_cpu() == 1


def test_can_unplug_counts_other_cpus_only() -> None:
    m = _matrix(2)
    for _ in range(150):
        m.alloc(frozenset({0}))
    for _ in range(100):
        m.alloc(frozenset({1}))
    ok, tomove, avl = m.can_unplug(0)
    assert (ok, tomove, avl) == (False, 150, RULES.usable_per_cpu - 100)
    m.free(1, m.used_vectors(1)[0])
    assert m.can_unplug(0)[0] is False
    roomy = _matrix(3)
    for _ in range(150):
        roomy.alloc(frozenset({0}))
    assert roomy.can_unplug(0) == (True, 150, 2 * RULES.usable_per_cpu)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 3)), max_size=400))
def test_no_vector_twice_and_accounting_holds(ops: list[tuple[bool, int]]) -> None:
    m = _matrix()
    held: list[tuple[int, int]] = []
    for alloc, cpu in ops:
        if alloc or not held:
            try:
                held.append(m.alloc(frozenset({cpu})))
            except MatrixError:
                assert m.available(cpu) == 0
        else:
            m.free(*held.pop(cpu % len(held)))
        assert len(held) == len(set(held))
        for c in range(4):
            mine = sum(1 for h in held if h[0] == c)
            assert len(m.used_vectors(c)) == mine
            assert m.available(c) + mine == RULES.usable_per_cpu
