"""Device and Group against a fake vfio-pci: byte layouts from the uapi header, not the code."""

from __future__ import annotations

import contextlib
import errno
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hil.vfio.cdefs import ffi
from hil.vfio.device import Device, irq_set_request
from hil.vfio.errors import GroupNotViable, VectorsNotGranted, VfioError
from hil.vfio.group import Group

GET_STATUS = 0x3B67
SET_CONTAINER = 0x3B68
GET_DEVICE_FD = 0x3B6A
GET_INFO = 0x3B6B
GET_REGION_INFO = 0x3B6C
GET_IRQ_INFO = 0x3B6D
SET_IRQS = 0x3B6E
RESET = 0x3B6F

DATA_NONE, DATA_EVENTFD, ACTION_TRIGGER = 0x1, 0x4, 0x20
REGION_READ, REGION_WRITE, REGION_MMAP, REGION_CAPS = 0x1, 0x2, 0x4, 0x8
CONFIG_INDEX, CONFIG_OFFSET = 7, 0x7000


def region_reply(index: int, flags: int, size: int, offset: int, caps: bytes = b"") -> bytes:
    """struct vfio_region_info (u32 argsz, flags, index, cap_offset; u64 size, offset) + caps."""
    cap_offset = 32 if caps else 0
    return struct.pack("<IIIIQQ", 32 + len(caps), flags, index, cap_offset, size, offset) + caps


def answer_region_info(replies: dict[int, bytes]) -> Any:
    """Behave like the kernel: a short argsz gets the needed size back and no chain."""

    def handler(fd: int, arg: Any) -> int:
        request = ffi.cast("uint32_t *", arg)
        argsz, index = request[0], request[2]
        reply = replies[index]
        if argsz < len(reply):
            short = bytearray(reply[:32])
            struct.pack_into("<I", short, 0, len(reply))
            struct.pack_into("<I", short, 12, 0)
            ffi.memmove(arg, bytes(short), 32)
        else:
            ffi.memmove(arg, reply, len(reply))
        return 0

    return handler


@pytest.fixture
def device_file(tmp_path: Path) -> Iterator[int]:
    fd = os.open(tmp_path / "device", os.O_RDWR | os.O_CREAT)
    os.truncate(fd, 0x10000)
    yield fd
    with contextlib.suppress(OSError):
        os.close(fd)


def test_region_info_asks_again_for_the_capability_chain(
    fake_kernel: Any, device_file: int
) -> None:
    msix_mappable = struct.pack("<HHI", 3, 1, 0)
    replies = {
        2: region_reply(
            2,
            REGION_READ | REGION_WRITE | REGION_MMAP | REGION_CAPS,
            0x4000,
            0x20000000000,
            msix_mappable,
        )
    }
    fake_kernel.handlers[GET_REGION_INFO] = answer_region_info(replies)
    info = Device(device_file, "0000:00:03.0").region_info(2)
    assert [call for _, call in fake_kernel.calls] == [GET_REGION_INFO, GET_REGION_INFO]
    assert (info.size, info.offset) == (0x4000, 0x20000000000)
    assert info.readable and info.writable and info.mappable
    assert info.msix_mappable


def test_region_info_without_caps_asks_once(fake_kernel: Any, device_file: int) -> None:
    fake_kernel.handlers[GET_REGION_INFO] = answer_region_info(
        {4: region_reply(4, REGION_READ | REGION_WRITE, 0x20, 0x40000000000)}
    )
    info = Device(device_file, "0000:00:03.0").region_info(4)
    assert len(fake_kernel.calls) == 1
    assert not info.mappable and not info.msix_mappable


def test_irq_info_flags_and_count(fake_kernel: Any, device_file: int) -> None:
    def handler(fd: int, arg: Any) -> int:
        # struct vfio_irq_info: argsz, flags, index, count; MSI-X: EVENTFD|NORESIZE, 5 vectors
        ffi.memmove(arg, struct.pack("<IIII", 16, 0x1 | 0x8, 2, 5), 16)
        return 0

    fake_kernel.handlers[GET_IRQ_INFO] = handler
    info = Device(device_file, "0000:00:03.0").irq_info(2)
    assert info.count == 5
    assert info.eventfd and info.noresize
    assert not info.maskable and not info.automasked


def test_irq_set_layout_matches_the_uapi() -> None:
    request = irq_set_request(DATA_EVENTFD | ACTION_TRIGGER, 2, 1, 3, [10, -1, 12])
    expected = struct.pack("<IIIII", 20 + 12, 0x24, 2, 1, 3) + struct.pack("<iii", 10, -1, 12)
    assert bytes(request) == expected


def test_set_irqs_sends_fds_and_accepts_zero(fake_kernel: Any, device_file: int) -> None:
    fake_kernel.handlers[SET_IRQS] = lambda fd, arg: fake_kernel.capture(arg) and 0
    Device(device_file, "0000:00:03.0").set_irqs(2, 0, [7, -1])
    assert fake_kernel.sent == [
        struct.pack("<IIIII", 28, DATA_EVENTFD | ACTION_TRIGGER, 2, 0, 2)
        + struct.pack("<ii", 7, -1)
    ]


def test_positive_set_irqs_return_is_vectors_not_granted(
    fake_kernel: Any, device_file: int
) -> None:
    """Non-IR host, multi-MSI of 4: vfio-pci returns 1 (virtual-lab-findings)."""
    fake_kernel.handlers[SET_IRQS] = lambda fd, arg: 1
    with pytest.raises(VectorsNotGranted) as caught:
        Device(device_file, "0000:00:03.0").set_irqs(1, 0, [5, 6, 7, 8])
    assert (caught.value.requested, caught.value.granted) == (4, 1)
    assert isinstance(caught.value, VfioError)


def test_disable_and_loopback_send_data_none(fake_kernel: Any, device_file: int) -> None:
    fake_kernel.handlers[SET_IRQS] = lambda fd, arg: fake_kernel.capture(arg) and 0
    device = Device(device_file, "0000:00:03.0")
    device.disable_irqs(2)
    device.trigger_loopback(2, 3, 2)
    assert fake_kernel.sent == [
        struct.pack("<IIIII", 20, DATA_NONE | ACTION_TRIGGER, 2, 0, 0),
        struct.pack("<IIIII", 20, DATA_NONE | ACTION_TRIGGER, 2, 3, 2),
    ]


def test_set_irqs_error_keeps_errno(fake_kernel: Any, device_file: int) -> None:
    fake_kernel.handlers[SET_IRQS] = lambda fd, arg: fake_kernel.fail(errno.ENOSPC)
    with pytest.raises(VfioError) as caught:
        Device(device_file, "0000:00:03.0").set_irqs(2, 0, [5])
    assert caught.value.errno == errno.ENOSPC
    assert not isinstance(caught.value, VectorsNotGranted)


def test_enable_bus_master_sets_bits_1_and_2_only(fake_kernel: Any, device_file: int) -> None:
    fake_kernel.handlers[GET_REGION_INFO] = answer_region_info(
        {CONFIG_INDEX: region_reply(CONFIG_INDEX, REGION_READ | REGION_WRITE, 256, CONFIG_OFFSET)}
    )
    # vendor 8086, device 10d3, command 0x0401 (IO + INTx disable), status 0x0010
    os.pwrite(device_file, struct.pack("<HHHH", 0x8086, 0x10D3, 0x0401, 0x0010), CONFIG_OFFSET)
    Device(device_file, "0000:00:03.0").enable_bus_master()
    raw = os.pread(device_file, 8, CONFIG_OFFSET)
    assert struct.unpack("<HHHH", raw) == (0x8086, 0x10D3, 0x0407, 0x0010)


def test_device_info(fake_kernel: Any, device_file: int) -> None:
    def handler(fd: int, arg: Any) -> int:
        # struct vfio_device_info: argsz, flags (RESET|PCI), num_regions, num_irqs, cap_offset
        ffi.memmove(arg, struct.pack("<IIIII", 20, 0x3, 9, 5, 0), 20)
        return 0

    fake_kernel.handlers[GET_INFO] = handler
    info = Device(device_file, "0000:00:03.0").info()
    assert (info.num_regions, info.num_irqs) == (9, 5)
    assert info.resettable and info.is_pci


def make_group_root(tmp_path: Path, number: int, members: dict[str, str | None]) -> Path:
    (tmp_path / "dev/vfio").mkdir(parents=True)
    (tmp_path / f"dev/vfio/{number}").write_bytes(b"")
    devices = tmp_path / f"sys/kernel/iommu_groups/{number}/devices"
    devices.mkdir(parents=True)
    for bdf, driver in members.items():
        target = tmp_path / f"sys/devices/pci0000:00/{bdf}"
        target.mkdir(parents=True)
        if driver is not None:
            (tmp_path / f"sys/bus/pci/drivers/{driver}").mkdir(parents=True, exist_ok=True)
            (target / "driver").symlink_to(tmp_path / f"sys/bus/pci/drivers/{driver}")
        (devices / bdf).symlink_to(target)
    return tmp_path


def group_status(flags: int) -> Any:
    def handler(fd: int, arg: Any) -> int:
        ffi.memmove(arg, struct.pack("<II", 8, flags), 8)
        return 0

    return handler


def test_group_not_viable_names_the_other_devices(fake_kernel: Any, tmp_path: Path) -> None:
    root = make_group_root(
        tmp_path, 12, {"0000:00:1f.0": "lpc_ich", "0000:00:1f.3": None, "0000:00:1f.2": "vfio-pci"}
    )
    fake_kernel.handlers[GET_STATUS] = group_status(0)
    with pytest.raises(GroupNotViable) as caught:
        Group(12, root)
    message = str(caught.value)
    assert "0000:00:1f.0 (driver lpc_ich)" in message
    assert "0000:00:1f.3 (driver none)" in message
    assert "0000:00:1f.2 (driver vfio-pci)" in message


def test_group_device_fd_is_the_ioctl_return(
    fake_kernel: Any, tmp_path: Path, device_file: int
) -> None:
    root = make_group_root(tmp_path, 3, {"0000:00:04.0": "vfio-pci"})
    names: list[bytes] = []
    container_fds: list[int] = []

    def get_device_fd(fd: int, arg: Any) -> int:
        names.append(ffi.string(ffi.cast("char *", arg)))
        return device_file

    def set_container(fd: int, arg: Any) -> int:
        container_fds.append(ffi.cast("int32_t *", arg)[0])
        return 0

    fake_kernel.handlers[GET_STATUS] = group_status(0x1)
    fake_kernel.handlers[SET_CONTAINER] = set_container
    fake_kernel.handlers[GET_DEVICE_FD] = get_device_fd

    class FakeContainer:
        fd = 42

    with Group(3, root) as group:
        assert group.status().viable and not group.status().container_set
        group.set_container(FakeContainer())  # type: ignore[arg-type]
        device = group.device("0000:00:04.0")
    assert device.fd == device_file
    assert names == [b"0000:00:04.0"]
    assert container_fds == [42]
