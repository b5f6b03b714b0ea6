"""The ioctl wrapper and the errors built on it, against a fake libc ioctl."""

from __future__ import annotations

import errno
import struct
from pathlib import Path
from typing import Any

import pytest

from hil.vfio.cdefs import ffi
from hil.vfio.container import Container, VfioMode
from hil.vfio.errors import UnsafeInterruptsError, VfioError
from hil.vfio.ioctl import vfio_ioctl

GET_API_VERSION = 0x3B64
CHECK_EXTENSION = 0x3B65
SET_IOMMU = 0x3B66
TYPE1 = 1
TYPE1V2 = 3


def test_return_value_is_passed_through(fake_kernel: Any) -> None:
    fake_kernel.handlers[0x3B6A] = lambda fd, arg: 17
    assert vfio_ioctl(5, 0x3B6A, ffi.new("char[]", b"0000:00:04.0")) == 17
    assert fake_kernel.calls == [(5, 0x3B6A)]


def test_minus_one_raises_with_errno_and_name(fake_kernel: Any) -> None:
    fake_kernel.handlers[0x3B6C] = lambda fd, arg: fake_kernel.fail(errno.EINVAL)
    with pytest.raises(VfioError) as caught:
        vfio_ioctl(3, 0x3B6C, ffi.new("struct vfio_region_info *"))
    assert caught.value.errno == errno.EINVAL
    assert caught.value.op == "VFIO_DEVICE_GET_REGION_INFO"
    assert "Invalid argument" in str(caught.value)


def test_int_argument_is_passed_by_value(fake_kernel: Any) -> None:
    seen: list[int] = []

    def check_extension(fd: int, arg: Any) -> int:
        seen.append(int(arg))
        return 1

    fake_kernel.handlers[CHECK_EXTENSION] = check_extension
    assert vfio_ioctl(3, CHECK_EXTENSION, TYPE1V2) == 1
    assert seen == [TYPE1V2]


@pytest.fixture
def container_node(tmp_path: Path) -> Path:
    (tmp_path / "dev/vfio").mkdir(parents=True)
    (tmp_path / "dev/vfio/vfio").write_bytes(b"")
    return tmp_path


def test_eperm_on_set_iommu_names_the_module_parameter(
    fake_kernel: Any, container_node: Path
) -> None:
    fake_kernel.handlers[GET_API_VERSION] = lambda fd, arg: 0
    fake_kernel.handlers[CHECK_EXTENSION] = lambda fd, arg: 1
    fake_kernel.handlers[SET_IOMMU] = lambda fd, arg: fake_kernel.fail(errno.EPERM)
    with Container(container_node) as container, pytest.raises(UnsafeInterruptsError) as caught:
        container.set_iommu()
    message = str(caught.value)
    assert "vfio_iommu_type1.allow_unsafe_interrupts=1" in message
    assert "interrupt remapping" in message
    assert caught.value.errno == errno.EPERM
    assert container.mode is None


def test_other_set_iommu_errors_stay_plain(fake_kernel: Any, container_node: Path) -> None:
    fake_kernel.handlers[GET_API_VERSION] = lambda fd, arg: 0
    fake_kernel.handlers[CHECK_EXTENSION] = lambda fd, arg: 1
    fake_kernel.handlers[SET_IOMMU] = lambda fd, arg: fake_kernel.fail(errno.EINVAL)
    with Container(container_node) as container, pytest.raises(VfioError) as caught:
        container.set_iommu()
    assert not isinstance(caught.value, UnsafeInterruptsError)


def test_set_iommu_prefers_type1v2_and_falls_back_to_type1(
    fake_kernel: Any, container_node: Path
) -> None:
    attached: list[int] = []
    fake_kernel.handlers[GET_API_VERSION] = lambda fd, arg: 0

    def set_iommu(fd: int, arg: Any) -> int:
        attached.append(int(arg))
        return 0

    fake_kernel.handlers[SET_IOMMU] = set_iommu

    fake_kernel.handlers[CHECK_EXTENSION] = lambda fd, arg: 1
    with Container(container_node) as container:
        assert container.set_iommu() is VfioMode.TYPE1V2
        assert container.mode is VfioMode.TYPE1V2

    fake_kernel.handlers[CHECK_EXTENSION] = lambda fd, arg: int(int(arg) == TYPE1)
    with Container(container_node) as container:
        assert container.set_iommu() is VfioMode.TYPE1
    assert attached == [TYPE1V2, TYPE1]


def test_wrong_api_version_is_refused_and_fd_closed(fake_kernel: Any, container_node: Path) -> None:
    fake_kernel.handlers[GET_API_VERSION] = lambda fd, arg: 1
    with pytest.raises(VfioError, match="API 1"):
        Container(container_node)


def test_map_and_unmap_dma_requests(fake_kernel: Any, container_node: Path) -> None:
    fake_kernel.handlers[GET_API_VERSION] = lambda fd, arg: 0
    fake_kernel.handlers[0x3B71] = lambda fd, arg: fake_kernel.capture(arg) and 0
    fake_kernel.handlers[0x3B72] = lambda fd, arg: fake_kernel.capture(arg) and 0
    with Container(container_node) as container:
        container.map_dma(0x7F0000001000, 0x100000, 0x2000, read=True, write=False)
        assert container.unmap_dma(0x100000, 0x2000) == 0x2000
    # struct vfio_iommu_type1_dma_map: u32 argsz, u32 flags (READ=1), u64 vaddr, iova, size
    assert fake_kernel.sent[0] == struct.pack("<IIQQQ", 32, 1, 0x7F0000001000, 0x100000, 0x2000)
    # struct vfio_iommu_type1_dma_unmap: u32 argsz, u32 flags, u64 iova, size
    assert fake_kernel.sent[1] == struct.pack("<IIQQ", 24, 0, 0x100000, 0x2000)
