"""Open one device through VFIO with every step undone in reverse on exit or failure."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from hil.vfio.container import Container
from hil.vfio.device import Device
from hil.vfio.deviceio import VfioDeviceIO
from hil.vfio.group import Group


@dataclass(frozen=True)
class VfioHandle:
    container: Container
    group: Group
    device: Device
    io: VfioDeviceIO


@contextmanager
def open_device(bdf: str, group_number: int, root: Path = Path("/")) -> Iterator[VfioHandle]:
    """Container, group, SET_CONTAINER, SET_IOMMU, device fd, DeviceIO; then all closed.

    The device must already be bound to vfio-pci (that is a machine
    operation of hil.lab, not of this layer).
    """
    with ExitStack() as stack:
        container = stack.enter_context(Container(root))
        group = stack.enter_context(Group(group_number, root))
        group.set_container(container)
        container.set_iommu()
        device = stack.enter_context(group.device(bdf))
        io = VfioDeviceIO(device, container)
        stack.callback(io.close)
        yield VfioHandle(container, group, device, io)
