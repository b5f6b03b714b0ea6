"""Which VFIO modes a machine offers, from a fake /dev tree."""

from __future__ import annotations

from pathlib import Path

from hil.vfio.container import VfioMode, available_modes


def test_nothing_when_dev_vfio_is_absent(tmp_path: Path) -> None:
    assert available_modes(tmp_path) == frozenset()


def test_cdev_directory_means_iommufd_and_noiommu_groups_mean_noiommu(tmp_path: Path) -> None:
    (tmp_path / "dev/vfio/devices").mkdir(parents=True)
    (tmp_path / "dev/vfio/noiommu-0").write_bytes(b"")
    assert available_modes(tmp_path) == {VfioMode.IOMMUFD, VfioMode.NOIOMMU}


def test_container_node_must_be_a_character_device(tmp_path: Path) -> None:
    (tmp_path / "dev/vfio").mkdir(parents=True)
    (tmp_path / "dev/vfio/vfio").write_bytes(b"")
    assert available_modes(tmp_path) == frozenset()
