"""Fake kernel trees for the Linux observers.

The trees copy the kernel's layout (symlinks where sysfs has symlinks) so
the readers walk them exactly as they walk /sys.  `FakePciKernel` plays the
kernel's part in driver binding: it reacts to writes of `unbind`,
`driver_override` and `drivers_probe` the way the PCI core does, after a
chosen number of polls so the readers' waiting is exercised too.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hil.linux.sysfile import write_attr

FIXTURES = Path(__file__).parent / "fixtures"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def relink(link: Path, target: Path) -> None:
    """Make `link` a relative symlink to `target`, as sysfs links are."""
    if link.is_symlink():
        link.unlink()
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(os.path.relpath(target, link.parent))


@dataclass
class FakePciDevice:
    bdf: str
    native_driver: str | None


@dataclass
class FakePciKernel:
    """A PCI sysfs tree under `root` and the kernel reactions to writes in it."""

    root: Path
    lag: int = 0
    devices: dict[str, FakePciDevice] = field(default_factory=dict)
    pending: list[tuple[int, str]] = field(default_factory=list)
    writes: list[tuple[str, str]] = field(default_factory=list)

    @property
    def bus(self) -> Path:
        return self.root / "sys/bus/pci"

    def add_driver(self, name: str) -> None:
        for attr in ("bind", "unbind", "new_id"):
            write(self.bus / "drivers" / name / attr, "")

    def add_device(
        self,
        bdf: str,
        vendor: int = 0x8086,
        device: int = 0x10D3,
        class_code: int = 0x020000,
        driver: str | None = None,
        group: int | None = 5,
        numa_node: int = -1,
        override: str | None = None,
        config: bytes = b"",
    ) -> Path:
        real = self.root / "sys/devices/pci0000:00" / bdf
        write(real / "vendor", f"{vendor:#06x}\n")
        write(real / "device", f"{device:#06x}\n")
        write(real / "class", f"{class_code:#08x}\n")
        write(real / "numa_node", f"{numa_node}\n")
        write(real / "driver_override", f"{override or '(null)'}\n")
        (real / "config").write_bytes(config)
        relink(self.bus / "devices" / bdf, real)
        write(self.bus / "drivers_probe", "")
        if group is not None:
            group_dir = self.root / "sys/kernel/iommu_groups" / str(group)
            relink(real / "iommu_group", group_dir)
            relink(group_dir / "devices" / bdf, real)
        self.devices[bdf] = FakePciDevice(bdf, native_driver=driver)
        if driver is not None:
            self.add_driver(driver)
            self._bind(bdf, driver)
        return real

    def _bind(self, bdf: str, driver: str) -> None:
        relink(self.bus / "devices" / bdf / "driver", self.bus / "drivers" / driver)

    def driver_of(self, bdf: str) -> str | None:
        link = self.bus / "devices" / bdf / "driver"
        return os.path.basename(os.readlink(link)) if link.is_symlink() else None

    def override_of(self, bdf: str) -> str:
        return (self.bus / "devices" / bdf / "driver_override").read_text().strip()

    # -- the kernel's side -------------------------------------------------

    def write(self, path: Path, text: str) -> None:
        """Stands in for `write_attr`: the real write, then the kernel's reaction."""
        write_attr(path, text)
        self.writes.append((str(path.relative_to(self.root)), text))
        if path.name == "driver_override":
            value = text.strip()
            path.write_text(f"{value or '(null)'}\n")
        elif path.name == "unbind":
            bdf = text.strip()
            if self.driver_of(bdf) != path.parent.name:
                raise OSError(errno.ENODEV, "No such device", str(path))
            (self.bus / "devices" / bdf / "driver").unlink()
        elif path.name == "drivers_probe":
            self.pending.append((self.lag, text.strip()))
            self._run_pending()

    def sleep(self, _seconds: float) -> None:
        """Stands in for `time.sleep`: time passes, the kernel makes progress."""
        self.pending = [(left - 1, bdf) for left, bdf in self.pending]
        self._run_pending()

    def _run_pending(self) -> None:
        due = [bdf for left, bdf in self.pending if left <= 0]
        self.pending = [(left, bdf) for left, bdf in self.pending if left > 0]
        for bdf in due:
            if self.driver_of(bdf) is not None:
                continue
            override = self.override_of(bdf)
            wanted = self.devices[bdf].native_driver if override == "(null)" else override
            if wanted is not None and (self.bus / "drivers" / wanted).is_dir():
                self._bind(bdf, wanted)


@pytest.fixture
def pci_kernel(tmp_path: Path) -> FakePciKernel:
    return FakePciKernel(root=tmp_path)


@pytest.fixture
def fixture_text() -> Callable[[str], str]:
    """Reads a file from tests/linux/fixtures/."""
    return lambda name: (FIXTURES / name).read_text()


@pytest.fixture
def put() -> Callable[[Path, str], Path]:
    """Writes a file, creating its folders."""
    return write
