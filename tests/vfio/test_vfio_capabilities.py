"""Region capability chains built byte by byte from the uapi header's layout."""

from __future__ import annotations

import struct

import pytest

from hil.vfio.capabilities import RegionType, SparseArea, parse_region_capabilities
from hil.vfio.errors import VfioError

INFO = 32
"""sizeof(struct vfio_region_info); the chain follows it."""


def header(cap_id: int, version: int, next_offset: int) -> bytes:
    """struct vfio_info_cap_header: u16 id, u16 version, u32 next."""
    return struct.pack("<HHI", cap_id, version, next_offset)


def test_sparse_then_msix_mappable_then_type() -> None:
    sparse = header(1, 1, INFO + 48) + struct.pack("<II", 2, 0)
    sparse += struct.pack("<QQ", 0, 0x2000) + struct.pack("<QQ", 0x3000, 0x1000)
    msix = header(3, 1, INFO + 56)
    region_type = header(2, 1, 0) + struct.pack("<II", 0x80008086, 1)
    info = bytes(INFO) + sparse + msix + region_type
    caps = parse_region_capabilities(info, INFO)
    assert caps.sparse_areas == (SparseArea(0, 0x2000), SparseArea(0x3000, 0x1000))
    assert caps.msix_mappable
    assert caps.region_type == RegionType(0x80008086, 1)
    assert caps.unknown_ids == ()


def test_msix_mappable_alone_and_unknown_ids_kept() -> None:
    info = bytes(INFO) + header(3, 1, INFO + 8) + header(9, 1, 0)
    caps = parse_region_capabilities(info, INFO)
    assert caps.msix_mappable
    assert caps.sparse_areas is None
    assert caps.unknown_ids == (9,)


def test_no_chain_means_nothing() -> None:
    caps = parse_region_capabilities(bytes(INFO), 0)
    assert not caps.msix_mappable and caps.sparse_areas is None


def test_loop_is_an_error() -> None:
    info = bytes(INFO) + header(3, 1, INFO)
    with pytest.raises(VfioError, match="loops"):
        parse_region_capabilities(info, INFO)


def test_truncated_sparse_areas_are_an_error() -> None:
    info = bytes(INFO) + header(1, 1, 0) + struct.pack("<II", 3, 0) + struct.pack("<QQ", 0, 1)
    with pytest.raises(VfioError, match="needs"):
        parse_region_capabilities(info, INFO)
