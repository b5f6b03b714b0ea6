"""Every layout and number cdefs.py writes by hand, checked against the real header.

cdefs.py runs in cffi's ABI mode (no compiler on lab machines), so nothing
else would notice a wrong offset or ioctl number until a kernel refused it.
Here the system's <linux/vfio.h> is compiled and asked directly.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import shutil
import sysconfig
from pathlib import Path
from typing import Any

import cffi
import pytest

from hil.vfio.cdefs import ffi, lib

HEADER = Path("/usr/include/linux/vfio.h")


def declared_facts() -> list[tuple[str, int]]:
    """(C expression, value cdefs.py implies) for every struct, field and constant."""
    facts: list[tuple[str, int]] = []
    for name in ffi.list_types()[1]:
        struct = ffi.typeof(f"struct {name}")
        facts.append((f"sizeof(struct {name})", ffi.sizeof(struct)))
        for field_name, field in struct.fields:
            facts.append((f"offsetof(struct {name}, {field_name})", field.offset))
            if field.type.kind == "array" and field.type.length is None:
                element = field.type.item
                facts.append(
                    (f"sizeof(((struct {name} *)0)->{field_name}[0])", ffi.sizeof(element))
                )
            else:
                facts.append(
                    (f"sizeof(((struct {name} *)0)->{field_name})", ffi.sizeof(field.type))
                )
    for name in dir(lib):
        value = getattr(lib, name)
        if isinstance(value, int):
            facts.append((name, value))
    return facts


def compile_probe(expressions: list[str], tmp_path: Path) -> Any:
    probe = cffi.FFI()
    probe.cdef("unsigned long long probe_value(int index);")
    table = ",\n".join(f"(unsigned long long)({expression})" for expression in expressions)
    probe.set_source(
        "_vfio_header_probe",
        "#include <stddef.h>\n#include <linux/vfio.h>\n"
        f"static const unsigned long long values[] = {{\n{table}\n}};\n"
        "unsigned long long probe_value(int index) { return values[index]; }\n",
    )
    library = probe.compile(tmpdir=str(tmp_path))
    loader = importlib.machinery.ExtensionFileLoader("_vfio_header_probe", library)
    spec = importlib.util.spec_from_file_location("_vfio_header_probe", library, loader=loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module.lib


def test_cdefs_match_system_header(tmp_path: Path) -> None:
    if not HEADER.exists():
        pytest.skip(f"{HEADER} is missing (Debian package linux-libc-dev)")
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler (cc/gcc) to compile the header probe")
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").exists():
        pytest.skip("Python.h is missing, cffi cannot build the probe module")
    facts = declared_facts()
    probe = compile_probe([expression for expression, _ in facts], tmp_path)
    header_values = {expr: probe.probe_value(i) for i, (expr, _) in enumerate(facts)}
    mismatches = {
        expression: (declared, header_values[expression])
        for expression, declared in facts
        if declared != header_values[expression]
    }
    assert mismatches == {}, "declared vs header"


def test_every_brief_struct_and_ioctl_is_declared() -> None:
    """The probe only checks what is declared; this pins that nothing needed went missing."""
    structs = set(ffi.list_types()[1])
    assert {
        "vfio_info_cap_header",
        "vfio_group_status",
        "vfio_device_info",
        "vfio_region_info",
        "vfio_region_info_cap_type",
        "vfio_region_info_cap_sparse_mmap",
        "vfio_region_sparse_mmap_area",
        "vfio_irq_info",
        "vfio_irq_set",
        "vfio_iommu_type1_info",
        "vfio_iommu_type1_dma_map",
        "vfio_iommu_type1_dma_unmap",
    } <= structs
    for name in (
        "VFIO_GET_API_VERSION",
        "VFIO_CHECK_EXTENSION",
        "VFIO_SET_IOMMU",
        "VFIO_GROUP_GET_STATUS",
        "VFIO_GROUP_SET_CONTAINER",
        "VFIO_GROUP_GET_DEVICE_FD",
        "VFIO_DEVICE_GET_INFO",
        "VFIO_DEVICE_GET_REGION_INFO",
        "VFIO_DEVICE_GET_IRQ_INFO",
        "VFIO_DEVICE_SET_IRQS",
        "VFIO_DEVICE_RESET",
        "VFIO_IOMMU_GET_INFO",
        "VFIO_IOMMU_MAP_DMA",
        "VFIO_IOMMU_UNMAP_DMA",
        "VFIO_REGION_INFO_CAP_MSIX_MAPPABLE",
    ):
        assert hasattr(lib, name), name


def test_ioctl_numbers_follow_the_kernel_formula() -> None:
    """_IO(';', 100 + n) is 0x3B00 | (100 + n): the table in kernel-facts §5."""
    vfio_type, vfio_base = ord(";"), 100
    assert (vfio_type << 8) | (vfio_base + 0) == lib.VFIO_GET_API_VERSION
    assert (vfio_type << 8) | (vfio_base + 10) == lib.VFIO_DEVICE_SET_IRQS
    assert (vfio_type << 8) | (vfio_base + 13) == lib.VFIO_IOMMU_MAP_DMA
    assert lib.VFIO_REGION_INFO_CAP_MSIX_MAPPABLE == 3
