"""Moving a PCI device to another driver (vfio-pci) and back.

The lab takes devices away from their drivers for a test and must put them
back exactly as it found them, even after a crash: `BindRecord` holds the
original driver and `driver_override`, is JSON-serialisable for the journal,
and can be handed to the journal before the first write (`before_change`).
The kernel binds asynchronously to the write that asks for it, so every
change is confirmed by polling the `driver` symlink against a deadline.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hil.linux.bdf import validate_bdf
from hil.linux.sysfile import errno_name, read_optional, write_attr

POLL_INTERVAL_S = 0.005

AttrWriter = Callable[[Path, str], None]


@dataclass(frozen=True)
class BindRecord:
    """What a device looked like before `bind`, and what it was bound to."""

    bdf: str
    driver: str
    original_driver: str | None
    original_override: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BindRecord:
        return cls(
            bdf=validate_bdf(str(data["bdf"])),
            driver=str(data["driver"]),
            original_driver=_opt_str(data.get("original_driver")),
            original_override=_opt_str(data.get("original_override")),
        )


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


class BindingError(RuntimeError):
    """A bind or restore step failed; `record` is set once the original state was read."""

    def __init__(self, message: str, record: BindRecord | None = None) -> None:
        super().__init__(message)
        self.record = record


class DriverBinding:
    """Bind and restore drivers through `root`/sys/bus/pci.

    `write` performs each attribute write; it exists so tests can play the
    kernel's part (creating the `driver` link when `drivers_probe` is written).
    """

    def __init__(
        self,
        root: Path = Path("/"),
        write: AttrWriter = write_attr,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.pci = root / "sys/bus/pci"
        self._write = write
        self._clock = clock
        self._sleep = sleep

    def current_driver(self, bdf: str) -> str | None:
        try:
            return os.path.basename(os.readlink(self._device(bdf) / "driver"))
        except (FileNotFoundError, NotADirectoryError):
            return None

    def snapshot(self, bdf: str, driver: str = "vfio-pci") -> BindRecord:
        """The record `bind` would keep, read without changing anything."""
        dev = self._device(bdf)
        if not dev.is_dir():
            raise BindingError(f"{bdf}: no such PCI device ({dev} is missing)")
        override = read_optional(dev / "driver_override")
        return BindRecord(
            bdf=bdf,
            driver=driver,
            original_driver=self.current_driver(bdf),
            original_override=None if override in (None, "", "(null)") else override,
        )

    def bind(
        self,
        bdf: str,
        driver: str = "vfio-pci",
        timeout: float = 5.0,
        before_change: Callable[[BindRecord], None] | None = None,
    ) -> BindRecord:
        """Bind `bdf` to `driver`; returns the record `restore` needs.

        `before_change` receives the record before the first write, so a
        journal can persist it and a crash mid-way can still be undone.
        """
        record = self.snapshot(validate_bdf(bdf), driver)
        if not (self.pci / "drivers" / driver).is_dir():
            raise BindingError(
                f"{bdf}: driver {driver!r} is not loaded "
                f"({self.pci / 'drivers' / driver} is missing; load its module first)",
                record,
            )
        if before_change is not None:
            before_change(record)
        if record.original_driver == driver and record.original_override == driver:
            return record
        dev = self._device(bdf)
        self._checked_write(dev / "driver_override", driver, record)
        if record.original_driver is not None and record.original_driver != driver:
            unbind = self.pci / "drivers" / record.original_driver / "unbind"
            self._checked_write(unbind, bdf, record)
            self._wait_for(bdf, None, timeout, record)
        if record.original_driver != driver:
            self._checked_write(self.pci / "drivers_probe", bdf, record)
            self._wait_for(bdf, driver, timeout, record)
        return record

    def restore(self, record: BindRecord, timeout: float = 5.0) -> None:
        """Undo `bind`: back to the original driver (or none) and original override."""
        bdf = validate_bdf(record.bdf)
        dev = self._device(bdf)
        if not dev.is_dir():
            raise BindingError(f"{bdf}: device vanished before restore ({dev} is missing)", record)
        current = self.current_driver(bdf)
        if current is not None and current != record.original_driver:
            self._checked_write(self.pci / "drivers" / current / "unbind", bdf, record)
            self._wait_for(bdf, None, timeout, record)
        override = record.original_override if record.original_override is not None else "\n"
        self._checked_write(dev / "driver_override", override, record)
        if record.original_driver is not None and current != record.original_driver:
            self._checked_write(self.pci / "drivers_probe", bdf, record)
            self._wait_for(bdf, record.original_driver, timeout, record)

    def _device(self, bdf: str) -> Path:
        return self.pci / "devices" / validate_bdf(bdf)

    def _checked_write(self, path: Path, text: str, record: BindRecord) -> None:
        try:
            self._write(path, text)
        except OSError as e:
            raise BindingError(
                f"{record.bdf}: writing {text.strip()!r} to {path} failed: "
                f"{errno_name(e)} ({e.strerror})",
                record,
            ) from e

    def _wait_for(self, bdf: str, driver: str | None, timeout: float, record: BindRecord) -> None:
        deadline = self._clock() + timeout
        while True:
            current = self.current_driver(bdf)
            if current == driver:
                return
            if self._clock() >= deadline:
                wanted = driver if driver is not None else "no driver"
                raise BindingError(
                    f"{bdf}: still bound to {current or 'no driver'} after {timeout:g} s, "
                    f"expected {wanted}",
                    record,
                )
            self._sleep(POLL_INTERVAL_S)
