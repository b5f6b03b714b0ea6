"""PCI devices as sysfs shows them, and their MSI/MSI-X/PCIe capabilities.

The lab finds devices by vendor:device (the kernel picks bus addresses) and
needs the real MSI message the kernel programmed: vfio virtualises the MSI
registers in its config region, so the truth comes from sysfs `config`.
Capability parsing is a pure function of the config bytes so it can be
checked against hand-built config spaces.
"""

from __future__ import annotations

import errno
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from hil.linux.bdf import validate_bdf
from hil.linux.sysfile import read_optional
from hil.model.vocabulary import MsiMessage

CAP_ID_MSI = 0x05
CAP_ID_PCIE = 0x10
CAP_ID_MSIX = 0x11
_STATUS_CAP_LIST = 0x10
_CAP_POINTER = 0x34
_MAX_CAPS = 48  # (256 - 64) / 4: more links than that means a loop


@dataclass(frozen=True)
class PciDevice:
    """One PCI function; `driver` and `driver_override` are None when unset."""

    bdf: str
    vendor: int
    device: int
    class_code: int
    driver: str | None
    iommu_group: int | None
    numa_node: int | None
    driver_override: str | None


@dataclass(frozen=True)
class MsiCap:
    offset: int
    max_vectors: int
    is_64bit: bool
    per_vector_mask: bool
    enabled: bool
    enabled_vectors: int


@dataclass(frozen=True)
class MsixCap:
    offset: int
    table_size: int
    table_bir: int
    table_offset: int
    pba_bir: int
    pba_offset: int
    enabled: bool
    function_masked: bool


@dataclass(frozen=True)
class PcieCap:
    offset: int
    version: int
    port_type: int


@dataclass(frozen=True)
class Capabilities:
    """Capabilities found in config space.

    `truncated` is True when the list pointed past the bytes given: an
    unprivileged read of sysfs `config` returns only 64 bytes, and "no MSI
    capability" must not be concluded from such a read.
    """

    ids: tuple[tuple[int, int], ...]
    msi: MsiCap | None = None
    msix: MsixCap | None = None
    pcie: PcieCap | None = None
    truncated: bool = False


def _u16(config: bytes, offset: int) -> int:
    return int(struct.unpack_from("<H", config, offset)[0])


def _u32(config: bytes, offset: int) -> int:
    return int(struct.unpack_from("<I", config, offset)[0])


def _fits(config: bytes, offset: int, size: int) -> bool:
    return offset + size <= len(config)


def _msi_cap(config: bytes, off: int) -> MsiCap:
    ctrl = _u16(config, off + 2)
    return MsiCap(
        offset=off,
        max_vectors=1 << ((ctrl >> 1) & 0x7),
        is_64bit=bool(ctrl & 0x80),
        per_vector_mask=bool(ctrl & 0x100),
        enabled=bool(ctrl & 0x1),
        enabled_vectors=1 << ((ctrl >> 4) & 0x7),
    )


def _msix_cap(config: bytes, off: int) -> MsixCap:
    ctrl = _u16(config, off + 2)
    table = _u32(config, off + 4)
    pba = _u32(config, off + 8)
    return MsixCap(
        offset=off,
        table_size=(ctrl & 0x7FF) + 1,
        table_bir=table & 0x7,
        table_offset=table & ~0x7,
        pba_bir=pba & 0x7,
        pba_offset=pba & ~0x7,
        enabled=bool(ctrl & 0x8000),
        function_masked=bool(ctrl & 0x4000),
    )


def _pcie_cap(config: bytes, off: int) -> PcieCap:
    flags = _u16(config, off + 2)
    return PcieCap(offset=off, version=flags & 0xF, port_type=(flags >> 4) & 0xF)


_CAP_BYTES_READ = {CAP_ID_MSI: 4, CAP_ID_MSIX: 12, CAP_ID_PCIE: 4}


def parse_capabilities(config: bytes) -> Capabilities:
    """Walk the standard capability list of a config space image."""
    if len(config) < 0x40 or not _u16(config, 0x06) & _STATUS_CAP_LIST:
        return Capabilities(ids=(), truncated=len(config) < 0x40)
    ids: list[tuple[int, int]] = []
    msi: MsiCap | None = None
    msix: MsixCap | None = None
    pcie: PcieCap | None = None
    truncated = False
    seen: set[int] = set()
    ptr = config[_CAP_POINTER] & 0xFC
    while ptr and ptr not in seen and len(seen) < _MAX_CAPS:
        if not _fits(config, ptr, 2):
            truncated = True
            break
        seen.add(ptr)
        cap_id, nxt = config[ptr], config[ptr + 1] & 0xFC
        ids.append((cap_id, ptr))
        if not _fits(config, ptr, _CAP_BYTES_READ.get(cap_id, 2)):
            truncated = True
        elif cap_id == CAP_ID_MSI and msi is None:
            msi = _msi_cap(config, ptr)
        elif cap_id == CAP_ID_MSIX and msix is None:
            msix = _msix_cap(config, ptr)
        elif cap_id == CAP_ID_PCIE and pcie is None:
            pcie = _pcie_cap(config, ptr)
        ptr = nxt
    return Capabilities(ids=tuple(ids), msi=msi, msix=msix, pcie=pcie, truncated=truncated)


def read_msi_message(config: bytes) -> MsiMessage | None:
    """The MSI address/data currently in the device's MSI capability.

    None when there is no MSI capability or the bytes stop before its data
    register.  Whether MSI is enabled is a separate question
    (`parse_capabilities(config).msi.enabled`): a disabled capability still
    holds the last message written.
    """
    msi = parse_capabilities(config).msi
    if msi is None:
        return None
    off = msi.offset
    data_at = off + (0x0C if msi.is_64bit else 0x08)
    if not _fits(config, data_at, 2):
        return None
    address = _u32(config, off + 4)
    if msi.is_64bit:
        address |= _u32(config, off + 8) << 32
    return MsiMessage(address=address, data=_u16(config, data_at))


def _int_attr(path: Path) -> int | None:
    text = read_optional(path)
    if text is None:
        return None
    try:
        return int(text, 0)
    except ValueError:
        return None


def _link_name(path: Path) -> str | None:
    try:
        return os.path.basename(os.readlink(path))
    except OSError:  # no link: no driver / no IOMMU group
        return None


class PciSysfs:
    """PCI devices under `root`/sys/bus/pci (root is "/" on a live machine)."""

    def __init__(self, root: Path = Path("/")) -> None:
        self.root = root
        self.devices_dir = root / "sys/bus/pci/devices"

    def _dir(self, bdf: str) -> Path:
        return self.devices_dir / validate_bdf(bdf)

    def device(self, bdf: str) -> PciDevice | None:
        """The device at `bdf`, or None if sysfs has no such device."""
        path = self._dir(bdf)
        vendor, device = _int_attr(path / "vendor"), _int_attr(path / "device")
        if vendor is None or device is None:
            return None
        group = _link_name(path / "iommu_group")
        numa = _int_attr(path / "numa_node")
        override = read_optional(path / "driver_override")
        return PciDevice(
            bdf=bdf,
            vendor=vendor,
            device=device,
            class_code=_int_attr(path / "class") or 0,
            driver=_link_name(path / "driver"),
            iommu_group=int(group) if group is not None and group.isdigit() else None,
            numa_node=numa if numa is not None and numa >= 0 else None,
            driver_override=None if override in (None, "", "(null)") else override,
        )

    def devices(self) -> list[PciDevice]:
        """Every PCI device, sorted by address; entries that are not BDFs are ignored."""
        try:
            names = sorted(os.listdir(self.devices_dir))
        except FileNotFoundError:
            return []
        found = []
        for name in names:
            try:
                dev = self.device(name)
            except ValueError:
                continue
            if dev is not None:
                found.append(dev)
        return found

    def find(self, vendor: int, device: int) -> list[PciDevice]:
        """Devices with this vendor:device, sorted by address."""
        return [d for d in self.devices() if d.vendor == vendor and d.device == device]

    def group_members(self, group: int) -> list[str]:
        """BDFs in IOMMU group `group`: vfio can only take a group whole."""
        path = self.root / "sys/kernel/iommu_groups" / str(int(group)) / "devices"
        try:
            return sorted(os.listdir(path))
        except FileNotFoundError:
            return []

    def config_bytes(self, bdf: str) -> bytes:
        """Config space as sysfs gives it (64 bytes unless root, else 256 or 4096)."""
        return (self._dir(bdf) / "config").read_bytes()

    def live_vendor_id(self, bdf: str) -> int:
        """The vendor ID the device answers a config read with now.

        Only `config` reaches the device on every read: the `vendor` file is
        the copy taken at enumeration and vfio virtualizes the ID, so neither
        shows the 0xffff of a device that stopped answering.  OSError (ENOENT)
        once the kernel has removed the device.
        """
        fd = os.open(self._dir(bdf) / "config", os.O_RDONLY)
        try:
            data = os.pread(fd, 2, 0)
        finally:
            os.close(fd)
        if len(data) != 2:
            raise OSError(errno.EIO, f"{bdf}: config read of vendor ID gave {len(data)} bytes")
        return int.from_bytes(data, "little")
