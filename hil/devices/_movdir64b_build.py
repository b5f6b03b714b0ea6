"""Build, on first use, the one-instruction C helper that submits a DSA descriptor.

A DSA portal accepts a descriptor only as one 64-byte non-posted-ordered
store, which Python cannot issue; MOVDIR64B does it.  The helper is compiled
with cffi in API mode into a per-user cache directory, so nothing is built
at install time and machines without a compiler fail with a clear message
only when a DSA is actually driven.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path

from hil.devices.base import DeviceUnavailable

MODULE_NAME = "_hil_movdir64b"
CDEF = "void movdir64b(void *dst, const void *src);"
SOURCE = (
    "static inline void movdir64b(void *dst, const void *src)\n"
    "{\n"
    '    asm volatile(".byte 0x66,0x0f,0x38,0xf8,0x02" :: "a"(dst), "d"(src) : "memory");\n'
    "}\n"
)
"""MOVDIR64B [rax] <- 64 bytes at [rdx], the same encoding as the kernel's movdir64b()."""

DESCRIPTOR_SIZE = 64

Movdir64b = Callable[[int, bytes], None]
"""Store 64 bytes to a virtual address with one MOVDIR64B."""


def cpu_has_movdir64b(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether the CPU advertises MOVDIR64B (CPUID.7.0:ECX[28], flag `movdir64b`)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            return "movdir64b" in line.split(":", 1)[-1].split()
    return False


def cache_dir() -> Path:
    """Per-user build directory, one per Python version (the extension ABI differs)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    tag = f"py{sys.version_info.major}{sys.version_info.minor}"
    return base / "pcie-hil" / f"movdir64b-{tag}"


def build(target: Path) -> Path:
    """Compile the helper into `target`; return the path of the extension module."""
    try:
        from cffi import FFI
    except ImportError as exc:
        raise DeviceUnavailable("MOVDIR64B helper needs the cffi package") from exc
    ffi = FFI()
    ffi.cdef(CDEF)
    ffi.set_source(MODULE_NAME, SOURCE)
    target.mkdir(parents=True, exist_ok=True)
    try:
        return Path(ffi.compile(tmpdir=str(target)))
    except Exception as exc:  # cffi reports a missing compiler as several error types
        raise DeviceUnavailable(
            f"MOVDIR64B helper could not be compiled in {target} (is a C compiler installed?): "
            f"{exc}"
        ) from exc


def _built_module(target: Path) -> Path | None:
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = target / f"{MODULE_NAME}{suffix}"
        if candidate.exists():
            return candidate
    return None


def load_movdir64b(target: Path | None = None, cpuinfo: Path = Path("/proc/cpuinfo")) -> Movdir64b:
    """Return a function that MOVDIR64B-stores 64 bytes, building the helper if needed."""
    if not cpu_has_movdir64b(cpuinfo):
        raise DeviceUnavailable(
            "this CPU lacks MOVDIR64B (no `movdir64b` flag in /proc/cpuinfo); "
            "DSA descriptors cannot be submitted from it"
        )
    where = target or cache_dir()
    path = _built_module(where) or build(where)
    spec = importlib.util.spec_from_file_location(MODULE_NAME, path)
    if spec is None or spec.loader is None:
        raise DeviceUnavailable(f"MOVDIR64B helper at {path} cannot be loaded")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    ffi, lib = module.ffi, module.lib

    def store(address: int, descriptor: bytes) -> None:
        if len(descriptor) != DESCRIPTOR_SIZE:
            raise ValueError(f"a descriptor is {DESCRIPTOR_SIZE} bytes, got {len(descriptor)}")
        # MOVDIR64B needs a 64-byte aligned destination only; the source may be anywhere.
        source = ffi.from_buffer(descriptor)
        lib.movdir64b(ffi.cast("void *", address), source)

    return store
