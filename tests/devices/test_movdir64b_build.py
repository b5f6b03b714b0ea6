"""The MOVDIR64B helper: CPU detection, build on first use, and the store itself."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hil.devices import _movdir64b_build as helper
from hil.devices.base import DeviceUnavailable

FLAGS = "processor\t: 0\nflags\t\t: fpu sse2 {extra} avx2\n"


def test_cpu_flag_is_read_from_cpuinfo(tmp_path: Path) -> None:
    with_flag, without = tmp_path / "with", tmp_path / "without"
    with_flag.write_text(FLAGS.format(extra="movdiri movdir64b"))
    without.write_text(FLAGS.format(extra="movdiri"))
    assert helper.cpu_has_movdir64b(with_flag)
    assert not helper.cpu_has_movdir64b(without)
    assert not helper.cpu_has_movdir64b(tmp_path / "absent")


def test_cpu_without_movdir64b_is_unavailable(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(FLAGS.format(extra=""))
    with pytest.raises(DeviceUnavailable, match="lacks MOVDIR64B"):
        helper.load_movdir64b(tmp_path / "build", cpuinfo)
    assert not (tmp_path / "build").exists()


def test_cache_dir_is_per_user(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert helper.cache_dir().is_relative_to(tmp_path / "pcie-hil")


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler on this machine")
def test_helper_builds_into_the_target_directory(tmp_path: Path) -> None:
    built = helper.build(tmp_path)
    assert built.parent == tmp_path
    assert built.name.startswith(helper.MODULE_NAME)


@pytest.mark.skipif(
    not helper.cpu_has_movdir64b() or shutil.which("cc") is None,
    reason="this CPU lacks MOVDIR64B or there is no C compiler",
)
def test_store_copies_64_bytes_to_ordinary_memory(tmp_path: Path) -> None:
    from cffi import FFI

    store = helper.load_movdir64b(tmp_path)
    ffi = FFI()
    raw = ffi.new("char[]", 128)
    address = (int(ffi.cast("uintptr_t", raw)) + 63) & ~63
    payload = bytes(range(64))
    store(address, payload)
    assert bytes(ffi.buffer(ffi.cast("char *", address), 64)) == payload
