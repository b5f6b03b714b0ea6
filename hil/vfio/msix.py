"""Where a device keeps its MSI-X table, read from its PCI capability list.

vfio-pci passes the MSI-X capability through read-only, so what config
space says here is the hardware's own table location.
"""

from __future__ import annotations

from dataclasses import dataclass

from hil.vfio.registers import Registers

PCI_STATUS = 0x06
PCI_STATUS_CAP_LIST = 0x10
PCI_CAPABILITY_LIST = 0x34
PCI_CAP_ID_MSIX = 0x11
MSIX_ENTRY_SIZE = 16
_MAX_CAPABILITIES = 48
"""A 256-byte config space holds at most 48 capabilities: more means a loop."""


@dataclass(frozen=True)
class MsixCapability:
    """The MSI-X capability at `offset`: table of `table_size` entries in BAR `bir`."""

    offset: int
    table_size: int
    bir: int
    table_offset: int


def find_msix_capability(config: Registers) -> MsixCapability | None:
    """Walk the standard capability list; None when the device has no MSI-X."""
    if not config.read16(PCI_STATUS) & PCI_STATUS_CAP_LIST:
        return None
    pointer = config.read8(PCI_CAPABILITY_LIST) & 0xFC
    for _ in range(_MAX_CAPABILITIES):
        if pointer == 0:
            return None
        if config.read8(pointer) == PCI_CAP_ID_MSIX:
            control = config.read16(pointer + 2)
            table = config.read32(pointer + 4)
            return MsixCapability(pointer, (control & 0x7FF) + 1, table & 0x7, table & ~0x7)
        pointer = config.read8(pointer + 1) & 0xFC
    return None
