"""The per-CPU vector matrix (kernel/irq/matrix.c), sized for machines of 1000+ CPUs.

`best_cpu` is matrix_find_best_cpu: the online CPU of a mask with the most
available vectors, strict `>` so ties go to the lowest CPU.  The model asks
it for "any online CPU" on almost every request, so the online CPUs are also
kept grouped by available count, each group a bitmap of CPUs (a Python int,
bit n = CPU n): the answer is the lowest set bit of the highest non-empty
group, and an allocation or free moves one bit between two groups, instead of
a scan of every CPU.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass


class MatrixError(Exception):
    """irq_matrix_alloc failed; `errno` is what the kernel returns."""

    def __init__(self, errno: str, message: str) -> None:
        super().__init__(message)
        self.errno = errno


@dataclass(slots=True)
class _CpuMap:
    used: int = 0
    """Bitmap of allocated (non-managed and managed) vectors."""
    allocated: int = 0
    """Non-managed allocated count (cm->allocated - managed_allocated)."""
    managed: int = 0
    """Managed reservations (cm->managed): bits set aside for managed irqs."""
    available: int = 0
    online: bool = True
    bit: int = 0
    """1 << cpu, this CPU's bit in a group bitmap: made once, where every allocation
    and free shifted anew (a CPU number in the hundreds makes a long int each time)."""


def _cpus_in(bits: int) -> Iterator[int]:
    """The CPUs of a group bitmap, lowest first."""
    while bits:
        low = bits & -bits
        yield low.bit_length() - 1
        bits ^= low


_VECTOR_BIT = tuple(1 << vector for vector in range(256))
"""1 << vector for every x86 vector, made once likewise (a bitmap's bit, set or cleared
by every allocation and free)."""


class VectorMatrix:
    """Vector bitmaps, availability and reservations of every CPU."""

    def __init__(
        self,
        cpus: Iterable[int],
        allocatable: Collection[int],
        online: Collection[int],
        managed_reserved: Mapping[int, int] | None = None,
        highest_cpu_wins_ties: bool = False,
    ) -> None:
        """`highest_cpu_wins_ties` inverts the kernel's tie-break; it exists only so
        negative controls can prove the comparison notices a wrong allocator."""
        self._allocatable_mask = 0
        for v in allocatable:
            self._allocatable_mask |= 1 << v
        self.capacity = len(allocatable)
        self._ties_high = highest_cpu_wins_ties
        self._maps: dict[int, _CpuMap] = {}
        self._groups: dict[int, int] = {}
        """Available count -> bitmap of the online CPUs with that count (0: none)."""
        self._top = -1
        """No online CPU has more available vectors than this (lowered lazily by
        `_best`, raised by every change above it)."""
        self.global_available = 0
        self.global_reserved = 0
        reserved = managed_reserved or {}
        for cpu in cpus:
            cm = _CpuMap(managed=reserved.get(cpu, 0), online=cpu in online, bit=1 << cpu)
            cm.available = self.capacity - cm.managed
            self._maps[cpu] = cm
            if cm.online:
                self._join(cpu, cm.available)
                self.global_available += cm.available

    # -- queries ---------------------------------------------------------

    @property
    def cpus(self) -> list[int]:
        return sorted(self._maps)

    def is_online(self, cpu: int) -> bool:
        return self._maps[cpu].online

    def available(self, cpu: int) -> int:
        return self._maps[cpu].available

    def allocated(self, cpu: int) -> int:
        return self._maps[cpu].allocated

    def is_used(self, cpu: int, vector: int) -> bool:
        return bool(self._maps[cpu].used >> vector & 1)

    def used_vectors(self, cpu: int) -> tuple[int, ...]:
        used = self._maps[cpu].used
        return tuple(v for v in range(used.bit_length()) if used >> v & 1)

    def lowest_free(self, cpu: int) -> int | None:
        free = self._allocatable_mask & ~self._maps[cpu].used
        return (free & -free).bit_length() - 1 if free else None

    def best_cpu(self, mask: Collection[int] | None = None) -> int | None:
        """matrix_find_best_cpu over `mask` (None: every online CPU).

        The mask is walked as it comes, not sorted first (sorting even a few CPUs
        costs more than walking them), so a tie is settled by comparing the CPUs."""
        if mask is None:
            return self._best()
        best: int | None = None
        best_avail = 0
        ties_high = self._ties_high
        for cpu in mask:
            cm = self._maps.get(cpu)
            if cm is None or not cm.online:
                continue
            avail = cm.available
            if avail > best_avail or (
                avail == best_avail
                and best is not None
                and (cpu > best if ties_high else cpu < best)
            ):
                best, best_avail = cpu, avail
        return best

    def clear_winner(self, mask: Collection[int] | None, cpu: int, slack: int) -> bool:
        """Just after `alloc` chose `cpu` from `mask`: would it still have won if any
        CPU's available count were off by up to `slack` against it?  A rival
        threatens when its count reaches the winner's (before the allocation)
        minus `slack`, at equality only if it wins the tie."""
        floor = self._maps[cpu].available + 1 - slack
        if mask is None:
            rivals: Iterable[int] = (
                c
                for avail in range(max(floor, 1), self._top + 1)
                for c in _cpus_in(self._groups.get(avail, 0))
            )
        else:
            rivals = (c for c in mask if c in self._maps and self._maps[c].online)
        for rival in rivals:
            avail = self._maps[rival].available
            if rival == cpu or avail < max(floor, 1):
                continue
            wins_tie = rival > cpu if self._ties_high else rival < cpu
            if avail > floor or wins_tie:
                return False
        return True

    def _best(self) -> int | None:
        """The online CPU with the most available vectors (ties: lowest, or highest
        with `highest_cpu_wins_ties`); None if none has any."""
        groups = self._groups
        top = self._top
        while top > 0 and not groups.get(top):
            top -= 1
        self._top = top
        if top <= 0:
            return None
        cpus = groups[top]
        if self._ties_high:
            return cpus.bit_length() - 1
        return (cpus & -cpus).bit_length() - 1

    # -- changes ---------------------------------------------------------

    def _join(self, cpu: int, avail: int) -> None:
        """An online CPU enters the group of its available count."""
        groups = self._groups
        groups[avail] = groups.get(avail, 0) | 1 << cpu
        if avail > self._top:
            self._top = avail

    def _set_available(self, cpu: int, cm: _CpuMap, value: int) -> None:
        """The CPU's available count becomes `value`; an online CPU's bit moves from
        its old group to the new one (`_join`, inlined: every allocation and free)."""
        if cm.online:
            groups = self._groups
            bit = cm.bit
            groups[cm.available] ^= bit
            groups[value] = groups.get(value, 0) | bit
            if value > self._top:
                self._top = value
            self.global_available += value - cm.available
        cm.available = value

    def assign(self, cpu: int, vector: int, managed: bool = False) -> None:
        """Mark a vector taken (calibration, or a managed irq using its reservation)."""
        cm = self._maps[cpu]
        if cm.used >> vector & 1:
            raise ValueError(f"vector {vector:#x} on CPU {cpu} is already in use")
        cm.used |= 1 << vector
        if managed:
            return
        cm.allocated += 1
        self._set_available(cpu, cm, cm.available - 1)

    def alloc(self, mask: Collection[int] | None = None, reserved: bool = False) -> tuple[int, int]:
        """irq_matrix_alloc: (cpu, vector) on the best CPU of `mask` (None: any online),
        the lowest free bit there (matrix_alloc_area)."""
        if mask is None:
            cpu = self._best()
        elif not mask:
            raise MatrixError("EINVAL", "empty mask")
        else:
            cpu = self.best_cpu(mask)
        if cpu is None:
            raise MatrixError("ENOSPC", "no online CPU with a free vector in the mask")
        cm = self._maps[cpu]
        free = self._allocatable_mask & ~cm.used  # `lowest_free`, inlined: every allocation
        if not free:
            raise MatrixError("ENOSPC", f"no free vector on CPU {cpu}")
        vector = (free & -free).bit_length() - 1
        cm.used |= _VECTOR_BIT[vector]
        cm.allocated += 1
        # `_set_available`, inlined (every allocation): the chosen CPU is online and its
        # count falls by one, so its bit moves one group down and the top stays.
        avail = cm.available
        groups = self._groups
        bit = cm.bit
        groups[avail] ^= bit
        groups[avail - 1] = groups.get(avail - 1, 0) | bit
        cm.available = avail - 1
        self.global_available -= 1
        if reserved and self.global_reserved:  # never below zero
            self.global_reserved -= 1
        return cpu, vector

    def free(self, cpu: int, vector: int, managed: bool = False) -> None:
        cm = self._maps[cpu]
        vector_bit = _VECTOR_BIT[vector]
        if not cm.used & vector_bit:
            raise ValueError(f"vector {vector:#x} on CPU {cpu} is not allocated")
        cm.used ^= vector_bit  # set, as just checked: cleared by the flip
        if managed:
            return
        cm.allocated -= 1
        avail = cm.available + 1
        cm.available = avail
        if cm.online:  # `_set_available`, inlined (every free): one group up
            groups = self._groups
            bit = cm.bit
            groups[avail - 1] ^= bit
            groups[avail] = groups.get(avail, 0) | bit
            if avail > self._top:
                self._top = avail
            self.global_available += 1

    def reserve(self) -> None:
        """irq_matrix_reserve: a global promise only; never fails (it warns at most)."""
        self.global_reserved += 1

    def remove_reserved(self) -> None:
        if self.global_reserved:  # never below zero
            self.global_reserved -= 1

    def set_online(self, cpu: int, online: bool) -> None:
        """irq_matrix_online/offline: the CPU keeps its bitmap and available count."""
        cm = self._maps[cpu]
        if cm.online == online:
            return
        if online:
            cm.online = True
            self._join(cpu, cm.available)
            self.global_available += cm.available
        else:
            self._groups[cm.available] ^= 1 << cpu
            self.global_available -= cm.available
            cm.online = False

    def can_unplug(self, cpu: int) -> tuple[bool, int, int]:
        """lapic_can_unplug_cpu: (ok, vectors to move, available elsewhere)."""
        cm = self._maps[cpu]
        tomove = cm.allocated
        avl = self.global_available - (cm.available if cm.online else 0)
        return avl >= tomove, tomove, avl
