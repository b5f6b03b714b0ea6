"""Linux irq numbers: the lowest free contiguous range from the dynamic base.

Every MSI/MSI-X allocation reaches `irq_domain_alloc_descs` through
`irq_domain_alloc_irqs_locked`, which passes hwirq 0, so the hint is 1; x86's
`arch_dynirq_lower_bound` then replaces it by `ioapic_dynirq_base` (the
IO-APIC GSI count, 24 on QEMU q35) whenever that is nonzero.  So a number is
the lowest free range of `cnt` at or above that base, holes left by earlier
frees included: only a calibration that saw every allocated number (and the
base) can predict it.  Without one the model still needs distinct numbers
(traces, ordering); it then hands out offsets from an unknown base, which
`model.py` reports as one relative symbol per allocation.
"""

from __future__ import annotations

from collections.abc import Iterable


class IrqNumbers:
    def __init__(self, start: int | None, used: Iterable[int] = ()) -> None:
        """`start`: the lowest number a dynamic allocation may take, None when unknown
        (numbers are then offsets); `used`: numbers already taken at or above it."""
        self.start = start
        self.exact = start is not None
        """Numbers are absolute (else offsets from an unknown base): an attribute, not a
        property, as every allocation asks it (a property is a Python call)."""
        self._used = set(used)
        self._low = start or 0
        """No number from `start` up to this one is free (keeps sequential use O(1))."""

    def alloc(self, count: int = 1) -> int:
        """__irq_alloc_descs: first number of the lowest free range of `count`."""
        used = self._used
        while self._low in used:
            self._low += 1
        first = self._low
        if count == 1:  # every MSI-X vector: the lowest free number is the answer
            used.add(first)
            return first
        while not used.isdisjoint(range(first, first + count)):  # in C, no generator
            first += 1
        used.update(range(first, first + count))
        return first

    def free(self, number: int) -> None:
        self._used.discard(number)
        if number < self._low:  # comparisons, not min/max: those are generic C calls
            floor = self.start or 0
            self._low = number if number > floor else floor
