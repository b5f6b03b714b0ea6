"""Interrupt remapping: IRTE allocation and the remappable message.

With IR the device message names an IRTE, not a CPU: the message is made
once at allocation and never changes, while affinity moves rewrite only the
IRTE.  That is the whole of the seed's argument, so the index a message
carries must be predicted exactly or, when the first free index could not
be seen, at least held constant.  Without that index each block gets its
own symbol: alloc_irte takes the lowest free aligned block, so after earlier
frees consecutive vectors can land in holes far apart (seen on 6.12: igb
entries 0..8 on IRTEs 0x27..0x2f, entry 9 on 0x39).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from hil.model.vocabulary import MSI_ADDRESS_BASE, MsiMessage

INTEL_IRTE_ENTRIES = 65536
"""INTR_REMAP_TABLE_ENTRIES: one table per DRHD, shared by all its devices."""
AMD_IRTE_ENTRIES = 512
"""MAX_IRQS_PER_TABLE: one table per device ID."""

_IR_SHV = 1 << 3
_IR_FORMAT = 1 << 4


class IrteError(Exception):
    """alloc_irte failed; the IR domain turns it into `errno` (-ENOMEM for Intel)."""

    def __init__(self, errno: str, message: str) -> None:
        super().__init__(message)
        self.errno = errno


@dataclass(frozen=True)
class IrteRef:
    """Where one vector's IRTE is: its block's base, exact or a symbol, + subhandle.

    `index` is the absolute index of the block's base when known.  Otherwise
    `symbol` names the block's unknown base.
    """

    index: int | None
    symbol: str | None = None
    """The block's symbol when `index` is None; else the table's name (AMD)."""
    subhandle: int = 0
    """Position inside a multi-MSI block (the device ORs it into the data)."""
    align: int = 1
    """The block's size, a power of two its base is aligned to."""
    owner_key: tuple[str | None, int] | None = field(init=False, repr=False, compare=False)
    """The IRTE this names, as `MachineState.irte_owner` keys it: (table name, entry)
    with the index known, (block symbol, subhandle) without; None with neither.  Made
    once: every remapped fire looks its owner up."""

    def __post_init__(self) -> None:
        if self.index is not None:
            key: tuple[str | None, int] | None = (self.symbol, self.index + self.subhandle)
        elif self.symbol is not None:
            key = (self.symbol, self.subhandle)
        else:
            key = None
        object.__setattr__(self, "owner_key", key)  # frozen: past the refusing __setattr__

    @property
    def entry(self) -> int | None:
        """The IRTE actually used by this vector (block base + subhandle)."""
        return None if self.index is None else self.index + self.subhandle


@lru_cache(maxsize=4096)
def _exact_ref(index: int, table: str | None, subhandle: int, align: int) -> IrteRef:
    """The IrteRef of a block at a known index, one per value: blocks come back to the
    same indices, and a frozen dataclass's __init__ sets each field through
    object.__setattr__ (a quarter of an IR vector allocation's own cost)."""
    return IrteRef(index, table, subhandle, align)


def _align_up(value: int, alignment: int) -> int:
    return (value + alignment - 1) // alignment * alignment


class IrteTable:
    """alloc_irte: aligned power-of-two blocks, lowest first (bitmap_find_free_region).

    With `base` known, every index below it is taken and everything from it on
    is free (the calibration saw no holes, so the model predicts none).  With
    `base` None each block is a symbol of its own, named by the caller.
    """

    def __init__(
        self,
        base: int | None,
        capacity: int = INTEL_IRTE_ENTRIES,
        max_handle_mask: int = 15,
        name: str | None = None,
    ) -> None:
        """`name` tells apart tables that share index numbers (AMD: one per device)."""
        self.base = base
        self.name = name
        self.capacity = capacity
        self.max_handle_mask = max_handle_mask
        self._used: set[int] = set()
        self._low = base or 0
        """No index below this is free (keeps sequential allocation O(1)); every
        index below `base` is taken, so the search starts there, not at 0."""
        self._allocations = 0
        self._freed: dict[str, int] = {}
        """Symbol of each freed block -> allocations made before it was freed."""

    def alloc(self, count: int, symbol: str) -> list[IrteRef]:
        """One block for `count` vectors; one IrteRef per vector (subhandles 0..count-1).
        `symbol` names the block when the base is unknown."""
        if count < 1:
            raise ValueError("count must be positive")
        size = 1 << (count - 1).bit_length()
        mask = size.bit_length() - 1
        if mask > self.max_handle_mask:
            raise IrteError("ENOMEM", f"mask {mask} exceeds the max invalidation handle mask value")
        self._allocations += 1
        if self.base is None:
            return [IrteRef(None, symbol, subhandle=i, align=size) for i in range(count)]
        if count == 1:  # every MSI-X vector: the lowest free index is the block
            start = self._lowest_free()
            if start >= self.capacity:
                raise IrteError("ENOMEM", "can't allocate an IRTE")
            self._used.add(start)
            return [_exact_ref(start, self.name, 0, 1)]
        found = self._find_region(size, self.base)
        if found is None:
            raise IrteError("ENOMEM", "can't allocate an IRTE")
        self._used.update(range(found, found + size))
        return [_exact_ref(found, self.name, i, size) for i in range(count)]

    def _lowest_free(self) -> int:
        """The lowest free index (never below `base`: see `_low`)."""
        while self._low in self._used:
            self._low += 1
        return self._low

    def _find_region(self, size: int, first: int) -> int | None:
        low = self._lowest_free()
        used = self._used
        start = _align_up(first if first > low else low, size)
        while start + size <= self.capacity:
            block = range(start, start + size)
            if used.isdisjoint(block):
                return start
            start = _align_up(max(i for i in block if i in used) + 1, size)
        return None

    def free(self, ref: IrteRef) -> None:
        """Free the block `ref` (any vector's ref of it) belongs to."""
        if ref.index is None:
            if ref.symbol is not None:
                self._freed[ref.symbol] = self._allocations
            return
        if ref.symbol != self.name:
            raise ValueError(f"IRTE {ref} is not from table {self.name}")
        if ref.align == 1:  # a single IRTE (every MSI-X vector's): no range to make
            self._used.discard(ref.index)
        else:
            self._used.difference_update(range(ref.index, ref.index + ref.align))
        if ref.index < self._low:
            self._low = ref.index

    def may_be_reused(self, symbol: str) -> bool:
        """A freed block of unknown index may now belong to any block allocated since."""
        freed_at = self._freed.get(symbol)
        return freed_at is not None and self._allocations > freed_at


def intel_message(ref: IrteRef) -> MsiMessage | None:
    """fill_msi_msg: remappable format, handle in the address, data = subhandle.
    With the index unknown the handle is 0: the view reports it as relative."""
    return _remappable_message(ref.index if ref.index is not None else 0, ref.subhandle)


@lru_cache(maxsize=4096)
def _remappable_message(index: int, subhandle: int) -> MsiMessage:
    """Cached by the two numbers it is made of (an IrteRef hashes in Python): every
    activation composes its message again, and one shared message per IRTE is
    also what lets a view see it unchanged."""
    address = (
        MSI_ADDRESS_BASE | (index & 0x7FFF) << 5 | _IR_FORMAT | _IR_SHV | ((index >> 15) & 1) << 2
    )
    return MsiMessage(address, subhandle)


def amd_message(ref: IrteRef) -> MsiMessage | None:
    """AMD-Vi: compat-looking address, data = IRTE index (block base + subhandle)."""
    if ref.entry is None:
        return None
    return MsiMessage(MSI_ADDRESS_BASE, ref.entry)
