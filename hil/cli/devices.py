"""`hil devices`: the PCI devices of this machine, as the framework sees them.

Writing an inventory entry needs a BDF or vendor:device, the bound driver,
the IOMMU group (vfio takes a group whole) and the interrupt capabilities
the profile must match; this command shows them all in one table, with the
machine's interrupt-remapping state and the evidence for it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from hil.cli.output import console, reports_errors
from hil.linux.dmesg import dmesg_text_or_empty
from hil.linux.iommu import IrState, detect_ir
from hil.linux.pci import Capabilities, PciDevice, PciSysfs, parse_capabilities
from hil.linux.procinterrupts import InterruptTable, ProcInterrupts


@dataclass(frozen=True)
class DeviceView:
    """One device with its capabilities; `capabilities` None when config space is unreadable."""

    pci: PciDevice
    capabilities: Capabilities | None


@click.command("devices")
@click.option(
    "--root",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("/"),
    show_default=True,
    help="Filesystem root holding sys/ and proc/ (a fixture tree in tests).",
)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@reports_errors
def devices(root: Path, as_json: bool) -> None:
    """PCI devices with driver, IOMMU group and MSI/MSI-X capabilities, and the IR state."""
    sysfs = PciSysfs(root)
    views = [DeviceView(dev, _capabilities(sysfs, dev.bdf)) for dev in sysfs.devices()]
    ir = detect_ir(root, dmesg_text_or_empty(root), _interrupts(root))
    if as_json:
        click.echo(json.dumps(_as_json(views, ir), indent=2))
        return
    out = console()
    out.print(_as_table(views))
    mode = f" ({ir.mode} mode)" if ir.mode else ""
    out.print(f"Interrupt remapping: {ir.kind.value}{mode}")
    for line in ir.evidence:
        out.print(f"  {line}", markup=False, highlight=False)
    if any(v.capabilities is None or v.capabilities.truncated for v in views):
        out.print("? = config space not fully readable here (run as root to see capabilities)")


def _capabilities(sysfs: PciSysfs, bdf: str) -> Capabilities | None:
    try:
        return parse_capabilities(sysfs.config_bytes(bdf))
    except OSError:
        return None


def _interrupts(root: Path) -> InterruptTable | None:
    try:
        text = (root / "proc/interrupts").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return ProcInterrupts.parse(text)


def _known(view: DeviceView) -> Capabilities | None:
    caps = view.capabilities
    return None if caps is None or caps.truncated else caps


def _as_table(views: list[DeviceView]) -> Table:
    table = Table(title="PCI devices")
    for name in ("BDF", "vendor:device", "class", "driver", "IOMMU group", "NUMA"):
        table.add_column(name)
    table.add_column("MSI max/64-bit/maskable")
    table.add_column("MSI-X size", justify="right")
    for view in views:
        dev, caps = view.pci, _known(view)
        if caps is None:
            msi = msix = "?"
        else:
            msi = (
                f"{caps.msi.max_vectors}/{_yes(caps.msi.is_64bit)}/{_yes(caps.msi.per_vector_mask)}"
                if caps.msi
                else "-"
            )
            msix = str(caps.msix.table_size) if caps.msix else "-"
        table.add_row(
            dev.bdf,
            f"{dev.vendor:04x}:{dev.device:04x}",
            f"{dev.class_code:06x}",
            dev.driver or "-",
            "-" if dev.iommu_group is None else str(dev.iommu_group),
            "-" if dev.numa_node is None else str(dev.numa_node),
            msi,
            msix,
        )
    return table


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _as_json(views: list[DeviceView], ir: IrState) -> dict[str, Any]:
    out_devices: list[dict[str, Any]] = []
    for view in views:
        dev, caps = view.pci, _known(view)
        entry: dict[str, Any] = {
            "bdf": dev.bdf,
            "pci_id": f"{dev.vendor:04x}:{dev.device:04x}",
            "class": f"{dev.class_code:06x}",
            "driver": dev.driver,
            "driver_override": dev.driver_override,
            "iommu_group": dev.iommu_group,
            "numa_node": dev.numa_node,
            "capabilities_read": caps is not None,
            "msi": None,
            "msix": None,
        }
        if caps is not None and caps.msi is not None:
            entry["msi"] = {
                "max_vectors": caps.msi.max_vectors,
                "is_64bit": caps.msi.is_64bit,
                "maskable": caps.msi.per_vector_mask,
            }
        if caps is not None and caps.msix is not None:
            entry["msix"] = {"table_size": caps.msix.table_size}
        out_devices.append(entry)
    return {
        "ir": {"kind": ir.kind.value, "mode": ir.mode, "evidence": list(ir.evidence)},
        "devices": out_devices,
    }
