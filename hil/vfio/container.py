"""The legacy VFIO container (/dev/vfio/vfio) with a type1 IOMMU backend.

Debian's kernels (6.1 and 6.12) build neither IOMMUFD nor VFIO_NOIOMMU, so
the container with type1v2 is the one path that works there; the other modes
are only detected and reported, never driven.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import TracebackType

from hil.vfio.cdefs import ffi, lib
from hil.vfio.errors import UnsafeInterruptsError, VfioError
from hil.vfio.ioctl import vfio_ioctl


class VfioMode(StrEnum):
    """How userspace reaches the IOMMU.

    Only TYPE1V2 (and TYPE1 on kernels without v2) is implemented.
    IOMMUFD (the /dev/vfio/devices cdev path with /dev/iommu) and NOIOMMU
    (/dev/vfio/noiommu-N groups, no DMA isolation) are not built into
    Debian kernels; `available_modes` reports them when a kernel has them
    so a report can say so, but nothing here drives them.
    """

    TYPE1V2 = "type1v2"
    TYPE1 = "type1"
    IOMMUFD = "iommufd"
    NOIOMMU = "noiommu"


_TYPE1_PREFERENCE = (
    (VfioMode.TYPE1V2, lib.VFIO_TYPE1v2_IOMMU),
    (VfioMode.TYPE1, lib.VFIO_TYPE1_IOMMU),
)


@dataclass(frozen=True)
class IommuInfo:
    """`iova_pgsizes` is the bitmap of IOMMU page sizes (bit n set = 2**n bytes)."""

    flags: int
    iova_pgsizes: int


def available_modes(root: Path = Path("/")) -> frozenset[VfioMode]:
    """Which VFIO modes this kernel offers, from its device nodes.

    The container's type1 flavours are asked with CHECK_EXTENSION (it works
    before any group is attached); the others are seen by their nodes.
    """
    vfio = root / "dev/vfio"
    modes: set[VfioMode] = set()
    container_node = vfio / "vfio"
    if container_node.is_char_device():
        with Container(root) as container:
            modes.update(mode for mode, ext in _TYPE1_PREFERENCE if container.check_extension(ext))
    if (vfio / "devices").is_dir():
        modes.add(VfioMode.IOMMUFD)
    if any(vfio.glob("noiommu-*")):
        modes.add(VfioMode.NOIOMMU)
    return frozenset(modes)


class Container:
    """An open /dev/vfio/vfio; groups join it, then `set_iommu` picks the backend."""

    def __init__(self, root: Path = Path("/")) -> None:
        self._fd = os.open(root / "dev/vfio/vfio", os.O_RDWR | os.O_CLOEXEC)
        self._mode: VfioMode | None = None
        try:
            version = vfio_ioctl(self._fd, lib.VFIO_GET_API_VERSION)
            if version != lib.VFIO_API_VERSION:
                raise VfioError(
                    "VFIO_GET_API_VERSION",
                    0,
                    f"kernel speaks VFIO API {version}, this code {lib.VFIO_API_VERSION}",
                )
        except BaseException:
            self.close()
            raise

    @property
    def fd(self) -> int:
        return self._fd

    @property
    def mode(self) -> VfioMode | None:
        """The backend `set_iommu` chose, None before it ran."""
        return self._mode

    def check_extension(self, extension: int) -> bool:
        return vfio_ioctl(self._fd, lib.VFIO_CHECK_EXTENSION, extension) > 0

    def set_iommu(self) -> VfioMode:
        """Attach the type1 backend (v2 preferred); needs at least one group in the container.

        EPERM here means the host has no interrupt remapping and the
        administrator did not allow unsafe interrupts.
        """
        for mode, extension in _TYPE1_PREFERENCE:
            if not self.check_extension(extension):
                continue
            try:
                vfio_ioctl(self._fd, lib.VFIO_SET_IOMMU, extension)
            except VfioError as error:
                if error.errno == errno.EPERM:
                    raise UnsafeInterruptsError(error.op, error.errno) from error
                raise
            self._mode = mode
            return mode
        raise VfioError("VFIO_CHECK_EXTENSION", 0, "the kernel offers neither type1v2 nor type1")

    def iommu_info(self) -> IommuInfo:
        request = ffi.new("struct vfio_iommu_type1_info *")
        request.argsz = ffi.sizeof(request[0])
        vfio_ioctl(self._fd, lib.VFIO_IOMMU_GET_INFO, request)
        return IommuInfo(int(request.flags), int(request.iova_pgsizes))

    def map_dma(
        self, vaddr: int, iova: int, size: int, read: bool = True, write: bool = True
    ) -> None:
        """Let the device reach `size` bytes of this process at `vaddr` through `iova`."""
        request = ffi.new("struct vfio_iommu_type1_dma_map *")
        request.argsz = ffi.sizeof(request[0])
        request.flags = (lib.VFIO_DMA_MAP_FLAG_READ if read else 0) | (
            lib.VFIO_DMA_MAP_FLAG_WRITE if write else 0
        )
        request.vaddr = vaddr
        request.iova = iova
        request.size = size
        vfio_ioctl(self._fd, lib.VFIO_IOMMU_MAP_DMA, request)

    def unmap_dma(self, iova: int, size: int) -> int:
        """Remove a mapping; returns the size the kernel says it unmapped."""
        request = ffi.new("struct vfio_iommu_type1_dma_unmap *")
        request.argsz = ffi.sizeof("struct vfio_iommu_type1_dma_unmap")
        request.iova = iova
        request.size = size
        vfio_ioctl(self._fd, lib.VFIO_IOMMU_UNMAP_DMA, request)
        return int(request.size)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Container:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
