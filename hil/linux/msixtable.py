"""The MSI-X table as the device holds it: the messages the kernel really wrote.

With IR the entries hold remappable handles that never change; without IR
they hold an APIC destination and vector that change on affinity moves.
Reading the table is how a test sees which.  Decoding is pure; the sysfs
`resourceN` mapping here is one way to get the bytes (refused under
lockdown), the vfio region mapping is the other.
"""

from __future__ import annotations

import errno
import mmap
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from hil.linux.bdf import validate_bdf
from hil.linux.sysfile import errno_name
from hil.model.vocabulary import MsiMessage

ENTRY_SIZE = 16
_VECTOR_CTRL_MASKED = 0x1
_LOCKDOWN_HINT = " (kernel lockdown refuses sysfs BAR access; use the vfio region mapping)"


@dataclass(frozen=True)
class MsixEntry:
    entry: int
    message: MsiMessage
    masked: bool


class MsixReadError(RuntimeError):
    pass


def decode_msix_table(raw: bytes, count: int) -> list[MsixEntry]:
    """Entries 0..count-1 from table bytes: addr_lo, addr_hi, data, vector control."""
    if count < 0 or len(raw) < count * ENTRY_SIZE:
        raise ValueError(f"{len(raw)} bytes hold fewer than {count} MSI-X entries")
    entries = []
    for i in range(count):
        lo, hi, data, ctrl = struct.unpack_from("<IIII", raw, i * ENTRY_SIZE)
        entries.append(
            MsixEntry(
                entry=i,
                message=MsiMessage(address=(hi << 32) | lo, data=data),
                masked=bool(ctrl & _VECTOR_CTRL_MASKED),
            )
        )
    return entries


def read_msix_via_resource(
    root: Path, bdf: str, bar: int, offset: int, count: int
) -> list[MsixEntry]:
    """Map sysfs `resource<bar>` and decode `count` entries at `offset`.

    Reads go dword by dword: the table is MMIO and PCIe only promises
    DWORD/QWORD access to it.
    """
    if not 0 <= bar <= 5:
        raise ValueError(f"BAR index must be 0..5, got {bar}")
    if offset < 0 or offset % 8:
        raise ValueError(f"MSI-X table offset must be 8-byte aligned, got {offset:#x}")
    path = root / "sys/bus/pci/devices" / validate_bdf(bdf) / f"resource{bar}"
    length = count * ENTRY_SIZE
    page = mmap.ALLOCATIONGRANULARITY
    start = offset - offset % page
    try:
        fd = os.open(path, os.O_RDONLY | os.O_SYNC)
    except OSError as e:
        raise MsixReadError(
            f"cannot open {path}: {errno_name(e)}{_LOCKDOWN_HINT if e.errno == errno.EPERM else ''}"
        ) from e
    try:
        size = os.fstat(fd).st_size
        if offset + length > size:
            raise MsixReadError(
                f"{path}: table at {offset:#x}+{length:#x} lies beyond the BAR ({size:#x} bytes)"
            )
        try:
            mapped = mmap.mmap(
                fd, offset + length - start, mmap.MAP_SHARED, mmap.PROT_READ, offset=start
            )
        except OSError as e:
            raise MsixReadError(
                f"cannot mmap {path}: {errno_name(e)}"
                f"{_LOCKDOWN_HINT if e.errno == errno.EPERM else ''}"
            ) from e
    finally:
        os.close(fd)
    with mapped:
        words = memoryview(mapped).cast("I")
        base = (offset - start) // 4
        raw = b"".join(struct.pack("<I", words[base + i]) for i in range(length // 4))
        words.release()
    return decode_msix_table(raw, count)
