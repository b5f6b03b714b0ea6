"""The capability chain VFIO appends to a region info reply.

The chain is how vfio-pci says "you may mmap the whole BAR, MSI-X table
included" (MSIX_MAPPABLE, kernels since 4.16) and which parts of a BAR may
be mapped (SPARSE_MMAP).  It is parsed from plain bytes so it can be tested
without a device.  Offsets in the chain count from the start of the info
struct; `next == 0` ends it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hil.vfio.cdefs import ffi, lib
from hil.vfio.errors import VfioError

_HEADER = ffi.sizeof("struct vfio_info_cap_header")
_SPARSE = ffi.sizeof("struct vfio_region_info_cap_sparse_mmap")
_AREA = ffi.sizeof("struct vfio_region_sparse_mmap_area")
_TYPE = ffi.sizeof("struct vfio_region_info_cap_type")


@dataclass(frozen=True)
class SparseArea:
    """A range of a region that may be mmapped, relative to the region's start."""

    offset: int
    size: int


@dataclass(frozen=True)
class RegionType:
    """A device-specific region's (type, subtype) from the CAP_TYPE capability."""

    type: int
    subtype: int


@dataclass(frozen=True)
class RegionCapabilities:
    """What the chain said; `unknown_ids` keeps ids this code does not interpret."""

    msix_mappable: bool = False
    sparse_areas: tuple[SparseArea, ...] | None = None
    region_type: RegionType | None = None
    unknown_ids: tuple[int, ...] = ()


def parse_region_capabilities(info: bytes, first_offset: int) -> RegionCapabilities:
    """Walk the chain in `info` (a whole region info reply) starting at `first_offset`."""
    base = ffi.from_buffer(info)
    msix_mappable = False
    sparse: tuple[SparseArea, ...] | None = None
    region_type: RegionType | None = None
    unknown: list[int] = []
    seen: set[int] = set()
    offset = first_offset
    while offset:
        if offset in seen:
            raise _chain_error(f"capability chain loops back to offset {offset}")
        seen.add(offset)
        _require(info, offset, _HEADER)
        header = ffi.cast("struct vfio_info_cap_header *", base + offset)
        cap_id = int(header.id)
        if cap_id == lib.VFIO_REGION_INFO_CAP_MSIX_MAPPABLE:
            msix_mappable = True
        elif cap_id == lib.VFIO_REGION_INFO_CAP_SPARSE_MMAP:
            sparse = _sparse_areas(info, base, offset)
        elif cap_id == lib.VFIO_REGION_INFO_CAP_TYPE:
            _require(info, offset, _TYPE)
            cap = ffi.cast("struct vfio_region_info_cap_type *", base + offset)
            region_type = RegionType(int(cap.type), int(cap.subtype))
        else:
            unknown.append(cap_id)
        offset = int(header.next)
    return RegionCapabilities(msix_mappable, sparse, region_type, tuple(unknown))


def _sparse_areas(info: bytes, base: Any, offset: int) -> tuple[SparseArea, ...]:
    _require(info, offset, _SPARSE)
    cap = ffi.cast("struct vfio_region_info_cap_sparse_mmap *", base + offset)
    count = int(cap.nr_areas)
    _require(info, offset, _SPARSE + count * _AREA)
    return tuple(SparseArea(int(a.offset), int(a.size)) for a in cap.areas[0:count])


def _require(info: bytes, offset: int, length: int) -> None:
    if offset < 0 or offset + length > len(info):
        raise _chain_error(
            f"capability at offset {offset} needs {length} bytes, reply has {len(info)}"
        )


def _chain_error(message: str) -> VfioError:
    return VfioError("VFIO_DEVICE_GET_REGION_INFO", 0, message)
