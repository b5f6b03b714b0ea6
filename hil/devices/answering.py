"""Deciding that a device stopped answering, so its work ends at once.

A PCIe read that no function completes (link down, surprise removal, a
device hung so hard it no longer completes requests) returns all ones.  Left
alone, a driver polling a ready bit spins until its timeout, a driver
reading a status word misreads it (every error bit set), and a fire that
never arrives reads as a lost interrupt: each blames the wrong thing.  All
ones can also be a register's honest value, so, as the kernel does
(`PCI_POSSIBLE_ERROR`, then `pci_device_is_present`), an all-ones read is
confirmed by the vendor ID, which a present function never reads as 0xffff.

The vendor ID must come from the device itself: vfio-pci virtualizes it
(`init_pci_cap_basic_perm`: "virtualized for SR-IOV functions") and sysfs
`vendor` is a copy, so `Presence` is handed a reader that really reaches the
device (sysfs `config` on a lab machine, a register double in tests).
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from dataclasses import dataclass

from hil.devices.base import (
    DeviceError,
    DeviceIO,
    DmaBuffer,
    MappedRegisterSpace,
    RegisterSpace,
)

VENDOR_ID_ABSENT = 0xFFFF
ALL_ONES_CAUSES = "all ones: link down, surprise removal or hung device"
_GONE = frozenset({errno.ENOENT, errno.ENODEV, errno.EIO})
"""Config read errors that mean the kernel no longer reaches the device."""


class DeviceStoppedAnswering(DeviceError):
    """The device no longer completes PCIe reads: nothing it does now can be judged."""

    def __init__(self, device: str, bdf: str, evidence: str) -> None:
        super().__init__(f"{device} ({bdf}) stopped answering: {evidence}")
        self.device = device
        self.bdf = bdf
        self.evidence = evidence

    def with_evidence(self, more: str) -> DeviceStoppedAnswering:
        """The same finding with `more` (a kernel log, say) appended for triage."""
        return DeviceStoppedAnswering(self.device, self.bdf, f"{self.evidence}\n{more}")


@dataclass(frozen=True)
class Presence:
    """How to ask one device whether it still answers."""

    device: str
    """The name reports use (the inventory's, e.g. igb0)."""
    bdf: str
    read_vendor_id: Callable[[], int]
    """A config read that reaches the device, not a copy kept by the kernel or vfio."""

    def failure(self, after: str = "") -> DeviceStoppedAnswering | None:
        """The error to raise if the device stopped answering, else None.

        `after` says what made the caller look (an all-ones read, a silent
        fire); it leads the evidence.
        """
        try:
            vendor = self.read_vendor_id()
        except OSError as exc:
            if exc.errno not in _GONE:
                raise
            name = errno.errorcode[exc.errno]
            finding = f"config read of vendor ID failed ({name}: the kernel no longer reaches it)"
        else:
            if vendor != VENDOR_ID_ABSENT:
                return None
            finding = f"config read of vendor ID returned {vendor:#06x} ({ALL_ONES_CAUSES})"
        evidence = f"{after}; {finding}" if after else finding
        return DeviceStoppedAnswering(self.device, self.bdf, evidence)

    def check(self, after: str = "") -> None:
        """Raise DeviceStoppedAnswering if the device stopped answering."""
        failure = self.failure(after)
        if failure is not None:
            raise failure


def explain(error: DeviceError, presence: Presence) -> DeviceError:
    """`error` as it should be reported: a driver's timeout on a device that
    stopped answering is that device's absence, not its slowness."""
    if isinstance(error, DeviceStoppedAnswering):
        return error
    return presence.failure(after=str(error)) or error


_ALL_ONES = {width: (1 << (8 * width)) - 1 for width in (1, 2, 4, 8)}


class AnsweringRegisters:
    """A register space whose all-ones reads are confirmed against the vendor ID.

    A healthy register that reads all ones costs one config read and is
    returned as read; on a device that stopped answering the first such read
    raises, so no poll loop over it waits for its deadline.
    """

    def __init__(self, inner: RegisterSpace, where: str, presence: Presence) -> None:
        self._inner = inner
        self._where = where
        self._presence = presence

    def _checked(self, offset: int, width: int, value: int) -> int:
        if value == _ALL_ONES[width]:
            read = f"{self._where} read{8 * width} at {offset:#x} returned {value:#x}"
            self._presence.check(after=read)
        return value

    def read8(self, offset: int) -> int:
        return self._checked(offset, 1, self._inner.read8(offset))

    def read16(self, offset: int) -> int:
        return self._checked(offset, 2, self._inner.read16(offset))

    def read32(self, offset: int) -> int:
        return self._checked(offset, 4, self._inner.read32(offset))

    def read64(self, offset: int) -> int:
        return self._checked(offset, 8, self._inner.read64(offset))

    def write8(self, offset: int, value: int) -> None:
        self._inner.write8(offset, value)

    def write16(self, offset: int, value: int) -> None:
        self._inner.write16(offset, value)

    def write32(self, offset: int, value: int) -> None:
        self._inner.write32(offset, value)

    def write64(self, offset: int, value: int) -> None:
        self._inner.write64(offset, value)

    def write_bytes(self, offset: int, data: bytes) -> None:
        self._inner.write_bytes(offset, data)


class AnsweringMappedRegisters(AnsweringRegisters):
    """The same for a mapped BAR, which keeps its address (a DSA portal needs it)."""

    def __init__(self, inner: MappedRegisterSpace, where: str, presence: Presence) -> None:
        super().__init__(inner, where, presence)
        self._mapped = inner

    def address(self, offset: int) -> int:
        return self._mapped.address(offset)


def _answering(inner: RegisterSpace, where: str, presence: Presence) -> AnsweringRegisters:
    if isinstance(inner, MappedRegisterSpace):
        return AnsweringMappedRegisters(inner, where, presence)
    return AnsweringRegisters(inner, where, presence)


class AnsweringIO:
    """The DeviceIO a driver is handed: every register read goes through the check."""

    def __init__(self, inner: DeviceIO, presence: Presence) -> None:
        self.bdf = inner.bdf
        self.presence = presence
        self._inner = inner
        self._bars: dict[int, AnsweringRegisters] = {}

    def bar(self, index: int) -> RegisterSpace:
        if index not in self._bars:
            self._bars[index] = _answering(self._inner.bar(index), f"BAR{index}", self.presence)
        return self._bars[index]

    def config(self) -> RegisterSpace:
        return _answering(self._inner.config(), "config", self.presence)

    def dma_buffer(self, size: int) -> DmaBuffer:
        return self._inner.dma_buffer(size)
