"""Against the running kernel's VFIO; each test says what it needs when it skips.

The device test runs on a lab machine with a device already bound to
vfio-pci: set HIL_VFIO_TEST_BDF=0000:bb:dd.f.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hil.vfio.container import Container, VfioMode, available_modes
from hil.vfio.device import RegionIndex, VfioIrqIndex
from hil.vfio.session import open_device

pytestmark = pytest.mark.root

CONTAINER = Path("/dev/vfio/vfio")


def require_root_and_vfio() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to open /dev/vfio/vfio")
    if not CONTAINER.is_char_device():
        pytest.skip("/dev/vfio/vfio is absent (vfio module not loaded or no IOMMU)")


def test_container_speaks_api_0_and_offers_type1() -> None:
    require_root_and_vfio()
    with Container() as container:
        assert container.check_extension(3) or container.check_extension(1)
        assert container.mode is None
    assert available_modes() & {VfioMode.TYPE1V2, VfioMode.TYPE1}


def test_bound_device_opens_and_shows_its_config_space() -> None:
    require_root_and_vfio()
    bdf = os.environ.get("HIL_VFIO_TEST_BDF")
    if not bdf:
        pytest.skip("set HIL_VFIO_TEST_BDF to a device bound to vfio-pci")
    sysfs = Path("/sys/bus/pci/devices") / bdf
    group = int(os.path.basename(os.readlink(sysfs / "iommu_group")))
    vendor = int((sysfs / "vendor").read_text(), 16)
    with open_device(bdf, group) as handle:
        assert handle.container.mode in (VfioMode.TYPE1V2, VfioMode.TYPE1)
        assert handle.device.info().is_pci
        assert handle.device.region_info(RegionIndex.CONFIG).size >= 256
        assert handle.io.config().read16(0) == vendor
        assert handle.device.irq_info(VfioIrqIndex.MSI).eventfd
