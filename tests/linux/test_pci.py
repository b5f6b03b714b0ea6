import struct

import pytest

from hil.linux.pci import (
    CAP_ID_MSI,
    CAP_ID_MSIX,
    CAP_ID_PCIE,
    PciSysfs,
    parse_capabilities,
    read_msi_message,
)
from hil.model.vocabulary import MsiMessage


def config_space(size=256, status=0x10, cap_ptr=0x40):
    cfg = bytearray(size)
    struct.pack_into("<HH", cfg, 0, 0x8086, 0x10D3)
    struct.pack_into("<H", cfg, 0x06, status)
    cfg[0x34] = cap_ptr
    return cfg


def e1000e_like_config():
    """MSI (64-bit, enabled) at 0x40 -> MSI-X at 0x50 -> PCIe at 0x60.

    The MSI and MSI-X control words are those the 6.1/6.12 captures printed:
    `MSI ctl 81 addr fee08004 data 0026`, `msix ctl 8004 bir 3 off 0`.
    """
    cfg = config_space()
    cfg[0x40:0x42] = bytes([CAP_ID_MSI, 0x50])
    struct.pack_into("<HIIH", cfg, 0x42, 0x0081, 0xFEE08004, 0x0, 0x0026)
    cfg[0x50:0x52] = bytes([CAP_ID_MSIX, 0x60])
    struct.pack_into("<HII", cfg, 0x52, 0x8004, 0x00000003, 0x00002003)
    cfg[0x60:0x62] = bytes([CAP_ID_PCIE, 0x00])
    struct.pack_into("<H", cfg, 0x62, 0x0002)
    return bytes(cfg)


def test_capability_walk_finds_msi_msix_and_pcie():
    caps = parse_capabilities(e1000e_like_config())
    assert caps.ids == ((CAP_ID_MSI, 0x40), (CAP_ID_MSIX, 0x50), (CAP_ID_PCIE, 0x60))
    assert caps.msi is not None and caps.msix is not None and caps.pcie is not None
    assert caps.msi.enabled and caps.msi.is_64bit and not caps.msi.per_vector_mask
    assert caps.msi.max_vectors == 1 and caps.msi.enabled_vectors == 1
    assert caps.msix.enabled and not caps.msix.function_masked
    assert caps.msix.table_size == 5  # QSIZE field 4 means 5 entries
    assert (caps.msix.table_bir, caps.msix.table_offset) == (3, 0)
    assert (caps.msix.pba_bir, caps.msix.pba_offset) == (3, 0x2000)
    assert caps.pcie.version == 2 and caps.pcie.port_type == 0
    assert not caps.truncated


def test_msi_control_fields_for_multi_message_with_masking():
    cfg = config_space()
    cfg[0x40:0x42] = bytes([CAP_ID_MSI, 0])
    # MMC = 4 (16 vectors), MME = 2 (4 enabled), 64-bit, per-vector masking, enabled
    struct.pack_into("<H", cfg, 0x42, 0x1 | (4 << 1) | (2 << 4) | 0x80 | 0x100)
    msi = parse_capabilities(bytes(cfg)).msi
    assert msi is not None
    assert (msi.max_vectors, msi.enabled_vectors) == (16, 4)
    assert msi.per_vector_mask and msi.is_64bit and msi.enabled


def test_real_msi_message_64bit_layout():
    assert read_msi_message(e1000e_like_config()) == MsiMessage(address=0xFEE08004, data=0x26)


def test_real_msi_message_32bit_layout_and_high_address():
    cfg = config_space()
    cfg[0x40:0x42] = bytes([CAP_ID_MSI, 0])
    struct.pack_into("<HIH", cfg, 0x42, 0x0001, 0xFEE00478, 0x0000)
    assert read_msi_message(bytes(cfg)) == MsiMessage(address=0xFEE00478, data=0)
    cfg64 = config_space()
    cfg64[0x40:0x42] = bytes([CAP_ID_MSI, 0])
    struct.pack_into("<HIIH", cfg64, 0x42, 0x0081, 0xFEE01004, 0x1, 0x0027)
    assert read_msi_message(bytes(cfg64)) == MsiMessage(address=0x1_FEE01004, data=0x27)


def test_unprivileged_64_byte_config_is_marked_truncated_not_capless():
    caps = parse_capabilities(e1000e_like_config()[:64])
    assert caps.truncated and caps.msi is None
    assert read_msi_message(e1000e_like_config()[:64]) is None


def test_no_capability_list_and_looping_list():
    assert parse_capabilities(bytes(config_space(status=0))).ids == ()
    cfg = config_space()
    cfg[0x40:0x42] = bytes([0x09, 0x40])  # points at itself
    caps = parse_capabilities(bytes(cfg))
    assert caps.ids == ((0x09, 0x40),)
    assert read_msi_message(bytes(cfg)) is None


def test_sysfs_devices_find_and_groups(pci_kernel):
    pci_kernel.add_device(
        "0000:00:0a.0", 0x8086, 0x10D3, driver="e1000e", group=5, config=e1000e_like_config()
    )
    pci_kernel.add_device(
        "0000:00:0b.0",
        0x1234,
        0x11E8,
        class_code=0xFF0000,
        group=5,
        numa_node=1,
        override="vfio-pci",
    )
    pci_kernel.add_device("0000:00:0c.0", 0x1234, 0x11E8, group=None)
    (pci_kernel.bus / "devices" / "not-a-bdf").mkdir()
    pci = PciSysfs(pci_kernel.root)

    devices = pci.devices()
    assert [d.bdf for d in devices] == ["0000:00:0a.0", "0000:00:0b.0", "0000:00:0c.0"]
    nic = devices[0]
    assert (nic.vendor, nic.device, nic.class_code) == (0x8086, 0x10D3, 0x020000)
    assert nic.driver == "e1000e" and nic.driver_override is None
    assert nic.iommu_group == 5 and nic.numa_node is None
    edu = pci.device("0000:00:0b.0")
    assert edu is not None
    assert edu.driver is None and edu.driver_override == "vfio-pci" and edu.numa_node == 1
    assert pci.device("0000:00:0c.0").iommu_group is None
    assert [d.bdf for d in pci.find(0x1234, 0x11E8)] == ["0000:00:0b.0", "0000:00:0c.0"]
    assert pci.group_members(5) == ["0000:00:0a.0", "0000:00:0b.0"]
    assert pci.group_members(99) == []
    assert pci.device("0000:00:1f.0") is None
    assert read_msi_message(pci.config_bytes("0000:00:0a.0")) == MsiMessage(0xFEE08004, 0x26)


def test_sysfs_without_pci_bus_is_empty(tmp_path):
    assert PciSysfs(tmp_path).devices() == []


def test_live_vendor_id_is_read_from_config_not_from_the_vendor_file(pci_kernel):
    pci_kernel.add_device("0000:00:0a.0", 0x8086, 0x10D3, config=e1000e_like_config())
    pci = PciSysfs(pci_kernel.root)
    assert pci.live_vendor_id("0000:00:0a.0") == 0x8086
    # The link went down: config reads complete with all ones, `vendor` keeps its copy.
    (pci_kernel.bus / "devices/0000:00:0a.0/config").write_bytes(b"\xff" * 256)
    assert pci.live_vendor_id("0000:00:0a.0") == 0xFFFF
    assert pci.device("0000:00:0a.0").vendor == 0x8086


def test_live_vendor_id_of_a_removed_device_is_an_os_error(pci_kernel):
    pci = PciSysfs(pci_kernel.root)
    with pytest.raises(FileNotFoundError):
        pci.live_vendor_id("0000:00:0a.0")
