"""Fixtures shared by the lab-layer tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The least of a machine an Observer reads: a 2-CPU /proc/interrupts and an
    empty /dev/kmsg (its dmesg window)."""
    root = tmp_path / "root"
    (root / "proc").mkdir(parents=True)
    (root / "proc/interrupts").write_text("           CPU0       CPU1\n")
    (root / "dev").mkdir()
    (root / "dev/kmsg").write_text("")
    return root


@pytest.fixture
def msix_vectors(root: Path) -> Callable[[str, dict[int, int]], None]:
    """Lays out, under `root`, the sysfs trees of a device's allocated MSI-X vectors
    (entry -> irq) in the per-device irq domain of 6.2+ (the chip names the device)."""

    def lay_out(bdf: str, irqs: dict[int, int]) -> None:
        msi = root / "sys/bus/pci/devices" / bdf / "msi_irqs"
        msi.mkdir(parents=True)
        for entry, irq in irqs.items():
            (msi / str(irq)).write_text("msix\n")
            folder = root / f"sys/kernel/irq/{irq}"
            folder.mkdir(parents=True)
            (folder / "hwirq").write_text(f"{entry}\n")
            (folder / "chip_name").write_text(f"PCI-MSIX-{bdf}\n")

    return lay_out
