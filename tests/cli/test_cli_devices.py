"""`hil devices` over a hand-built sysfs tree: capabilities decoded from config bytes."""

from __future__ import annotations

import json
import struct
from pathlib import Path

from click.testing import CliRunner

from hil.cli.main import cli


def config_space(msi_ctrl: int, msix_ctrl: int) -> bytes:
    """256 bytes: status has a capability list; MSI at 0x40 -> MSI-X at 0x50."""
    cfg = bytearray(256)
    struct.pack_into("<HH", cfg, 0, 0x8086, 0x10D3)
    struct.pack_into("<H", cfg, 0x06, 0x0010)
    cfg[0x34] = 0x40
    struct.pack_into("<BBH", cfg, 0x40, 0x05, 0x50, msi_ctrl)
    struct.pack_into("<BBHII", cfg, 0x50, 0x11, 0x00, msix_ctrl, 0x3, 0x2003)
    return bytes(cfg)


def add_device(root: Path, bdf: str, vendor: int, device: int, config: bytes) -> None:
    path = root / "sys/bus/pci/devices" / bdf
    path.mkdir(parents=True)
    (path / "vendor").write_text(f"{vendor:#06x}\n")
    (path / "device").write_text(f"{device:#06x}\n")
    (path / "class").write_text("0x020000\n")
    (path / "numa_node").write_text("-1\n")
    (path / "config").write_bytes(config)
    groups = root / "sys/kernel/iommu_groups/7"
    groups.mkdir(parents=True, exist_ok=True)
    (path / "iommu_group").symlink_to(groups)
    drivers = root / "sys/bus/pci/drivers/vfio-pci"
    drivers.mkdir(parents=True, exist_ok=True)
    (path / "driver").symlink_to(drivers)


def make_tree(root: Path) -> None:
    # MSI: Multiple Message Capable = log2(16) = 4 in bits 1-3, 64-bit (bit 7), no mask bit.
    # MSI-X: table size field 9 -> 10 entries.
    add_device(root, "0000:00:0a.0", 0x8086, 0x10D3, config_space(0x0088, 0x0009))
    # Only the 64-byte header, as an unprivileged read of sysfs config returns.
    add_device(root, "0000:00:0b.0", 0x1234, 0x11E8, config_space(0x0080, 0)[:64])
    (root / "proc").mkdir()
    (root / "proc/interrupts").write_text(
        "           CPU0       CPU1\n"
        " 41:          0          1  IR-PCI-MSIX-0000:00:0a.0   0-edge      "
        "vfio-msix[0](0000:00:0a.0)\n"
    )
    (root / "sys/class/iommu/dmar0").mkdir(parents=True)


def test_json_lists_devices_capabilities_and_ir(tmp_path: Path) -> None:
    make_tree(tmp_path)
    result = CliRunner().invoke(cli, ["devices", "--root", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    full, header_only = data["devices"]
    assert full["bdf"] == "0000:00:0a.0"
    assert (full["pci_id"], full["class"], full["driver"]) == ("8086:10d3", "020000", "vfio-pci")
    assert (full["iommu_group"], full["numa_node"]) == (7, None)
    assert full["msi"] == {"max_vectors": 16, "is_64bit": True, "maskable": False}
    assert full["msix"] == {"table_size": 10}
    assert header_only["pci_id"] == "1234:11e8"
    assert (header_only["capabilities_read"], header_only["msi"]) == (False, None)
    assert data["ir"]["kind"] == "intel"


def test_table_marks_unreadable_capabilities(tmp_path: Path) -> None:
    make_tree(tmp_path)
    result = CliRunner().invoke(cli, ["devices", "--root", str(tmp_path)])
    assert result.exit_code == 0, result.output
    rows = {
        line.split("│")[1].strip(): line
        for line in result.stdout.splitlines()
        if line.startswith("│ 0000:00:")
    }
    assert "16/yes/no" in rows["0000:00:0a.0"]
    assert [c.strip() for c in rows["0000:00:0b.0"].strip("│ ").split("│")][-2:] == ["?", "?"]
    assert "Interrupt remapping: intel" in result.stdout


def test_empty_tree_prints_an_empty_table(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["devices", "--root", str(tmp_path), "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["devices"] == []
