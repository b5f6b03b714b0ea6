"""Linux irq numbers: the lowest free contiguous range (irq_domain_alloc_descs, hint 1).

When the calibration saw the next free number the model predicts absolute
numbers; otherwise it works in offsets from an unknown base (symbol "irq")
so consecutive numbers are still judged strictly.
"""

from __future__ import annotations


class IrqNumbers:
    def __init__(self, base: int | None) -> None:
        self.base = base
        self._used: set[int] = set()
        self._low = 0

    @property
    def exact(self) -> bool:
        return self.base is not None

    def alloc(self, count: int = 1) -> int:
        """First number of a free range of `count`: absolute if exact, else an offset."""
        while self._low in self._used:
            self._low += 1
        start = self._low
        while any(n in self._used for n in range(start, start + count)):
            start += 1
        self._used.update(range(start, start + count))
        return start + (self.base or 0)

    def free(self, number: int) -> None:
        offset = number - (self.base or 0)
        self._used.discard(offset)
        self._low = min(self._low, offset)
