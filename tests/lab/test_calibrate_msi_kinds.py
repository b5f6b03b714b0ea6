"""Which device and MSI kind each existing irq belongs to, for the calibration."""

from __future__ import annotations

from pathlib import Path

from hil.lab.calibrate import _msi_kind_of_irqs


def test_every_msi_irq_is_named_with_its_device_and_kind(tmp_path: Path) -> None:
    devices = tmp_path / "sys/bus/pci/devices"
    for bdf, irqs in (("0000:00:03.0", {40: "msix", 41: "msix"}), ("0000:00:04.0", {24: "msi"})):
        folder = devices / bdf / "msi_irqs"
        folder.mkdir(parents=True)
        for irq, kind in irqs.items():
            (folder / str(irq)).write_text(kind + "\n")
    (devices / "0000:00:00.0").mkdir()  # a device with no MSI in use has no folder
    (devices / "0000:00:03.0/msi_irqs/power").mkdir()  # not an irq
    assert _msi_kind_of_irqs(tmp_path) == {
        40: ("0000:00:03.0", "msix"),
        41: ("0000:00:03.0", "msix"),
        24: ("0000:00:04.0", "msi"),
    }


def test_a_machine_without_pci_has_none(tmp_path: Path) -> None:
    assert _msi_kind_of_irqs(tmp_path) == {}
