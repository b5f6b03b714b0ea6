"""Interrupt remapping: IRTE allocation and the remappable message.

With IR the device message names an IRTE, not a CPU: the message is made
once at allocation and never changes, while affinity moves rewrite only the
IRTE.  That is the whole of the seed's argument, so the index a message
carries must be predicted exactly or, when the first free index could not
be seen, relative to it (symbol "irte").
"""

from __future__ import annotations

from dataclasses import dataclass

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
    """Where one vector's IRTE is: `base + offset`, base exact or a symbol.

    `index` is the absolute IRTE index when known.  Otherwise `symbol` names
    the unknown base and `offset` the distance from it; a symbol of None with
    no index means the model cannot place it at all (uncertain).
    """

    index: int | None
    symbol: str | None = None
    """Unknown-base symbol when `index` is None; else the table's name (AMD)."""
    offset: int = 0
    subhandle: int = 0
    """Position inside a multi-MSI block (the device ORs it into the data)."""

    @property
    def entry(self) -> int | None:
        """The IRTE actually used by this vector (block base + subhandle)."""
        return None if self.index is None else self.index + self.subhandle


def _align_up(value: int, alignment: int) -> int:
    return (value + alignment - 1) // alignment * alignment


class IrteTable:
    """alloc_irte: aligned power-of-two blocks, lowest first (bitmap_find_free_region).

    With `base` known, every index below it is taken and everything from it on
    is free.  With `base` None the table works in offsets from the unknown
    first free index; a multi-entry block then cannot be aligned, so it gets
    its own symbol and later single entries become uncertain (they may fill
    the alignment gap or not).
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
        self._low = 0
        """No index below this is free (keeps sequential allocation O(1))."""
        self._gap_unknown = False
        self._blocks = 0
        self.symbol = "irte"

    def alloc(self, count: int) -> list[IrteRef]:
        """One block for `count` vectors; one IrteRef per vector (subhandles 0..count-1)."""
        if count < 1:
            raise ValueError("count must be positive")
        size = 1 << (count - 1).bit_length()
        mask = size.bit_length() - 1
        if mask > self.max_handle_mask:
            raise IrteError("ENOMEM", f"mask {mask} exceeds the max invalidation handle mask value")
        if self.base is None:
            return self._alloc_relative(count, size)
        start = self._find_region(size, self.base)
        if start is None:
            raise IrteError("ENOMEM", "can't allocate an IRTE")
        self._used.update(range(start, start + size))
        return [IrteRef(start, self.name, subhandle=i) for i in range(count)]

    def _find_region(self, size: int, first: int) -> int | None:
        while self._low in self._used:
            self._low += 1
        start = _align_up(max(first, self._low), size)
        while start + size <= self.capacity:
            clash = [i for i in range(start, start + size) if i in self._used]
            if not clash:
                return start
            start = _align_up(max(clash) + 1, size)
        return None

    def _alloc_relative(self, count: int, size: int) -> list[IrteRef]:
        if size == 1 and not self._gap_unknown:
            offset = self._find_region(1, 0)
            assert offset is not None
            self._used.add(offset)
            return [IrteRef(None, self.symbol, offset)]
        if size > 1:
            self._blocks += 1
            self._gap_unknown = True
            symbol = f"{self.symbol}.block{self._blocks}"
            return [IrteRef(None, symbol, 0, subhandle=i) for i in range(count)]
        return [IrteRef(None)]

    def free(self, ref: IrteRef, count: int = 1) -> None:
        """Free a block given its first ref and the block's vector count."""
        if ref.index is None and ref.symbol != self.symbol:
            return
        if ref.index is not None and ref.symbol != self.name:
            raise ValueError(f"IRTE {ref} is not from table {self.name}")
        start = ref.index if ref.index is not None else ref.offset
        size = 1 << (count - 1).bit_length()
        self._used.difference_update(range(start, start + size))
        self._low = min(self._low, start)


def intel_message(ref: IrteRef) -> MsiMessage | None:
    """fill_msi_msg: remappable format, handle in the address, data = subhandle."""
    index = ref.index if ref.index is not None else ref.offset
    if ref.index is None and ref.symbol is None:
        return None
    address = (
        MSI_ADDRESS_BASE | (index & 0x7FFF) << 5 | _IR_FORMAT | _IR_SHV | ((index >> 15) & 1) << 2
    )
    return MsiMessage(address, ref.subhandle)


def amd_message(ref: IrteRef) -> MsiMessage | None:
    """AMD-Vi: compat-looking address, data = IRTE index (block base + subhandle)."""
    if ref.entry is None:
        return None
    return MsiMessage(MSI_ADDRESS_BASE, ref.entry)
