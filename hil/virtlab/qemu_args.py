"""QEMU arguments for one virtual lab machine's IOMMU and PCIe devices.

QEMU places the devices (igb's SR-IOV functions need room after the PF, so
a fixed high slot does not work); the guest finds them by vendor:device.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal

from hil.lab.inventory import IVSHMEM_VECTORS

# model -> (QEMU device, PCI vendor:device, minimum QEMU that has it)
DEVICE_MODELS: dict[str, tuple[str, str]] = {
    "igb": ("igb", "8086:10c9"),
    "e1000e": ("e1000e", "8086:10d3"),
    "edu": ("edu", "1234:11e8"),
    "xhci-msi": ("nec-usb-xhci", "1033:0194"),
    "ivshmem-doorbell": ("ivshmem-doorbell", "1af4:1110"),
    "nvme": ("nvme", "1b36:0010"),
}


DOORBELL_VECTORS = 256
"""The doorbell register's vector field has 8 bits (hw/misc/ivshmem-pci.c)."""


@dataclass(frozen=True)
class VmDevice:
    name: str
    model: str
    options: dict[str, str] = field(default_factory=dict)
    vectors: int | None = None
    doorbells: int | None = None
    """ivshmem: vectors with an eventfd (default: all, up to the doorbell's 256)."""
    numa_node: int | None = None
    """Place the device behind a pxb-pcie host bridge of this node (ACPI _PXM)."""

    @property
    def ringable(self) -> int:
        """ivshmem vectors its doorbell can ring: the server hands QEMU one eventfd each."""
        return self.doorbells or min(self.vectors or IVSHMEM_VECTORS, DOORBELL_VECTORS)


@dataclass(frozen=True)
class VmSpec:
    name: str
    cpus: int
    memory: str
    iommu: str
    intremap: bool
    x2apic: bool
    devices: tuple[VmDevice, ...]
    numa_nodes: int = 1
    tcg_threads: Literal["single", "multi"] = "single"


@cache
def qemu_devices(qemu: str) -> frozenset[str]:
    """Device names this QEMU binary knows (`-device help`)."""
    try:
        out = subprocess.run(
            [qemu, "-device", "help"], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return frozenset()
    return frozenset(re.findall(r'name "([^"]+)"', out))


def unavailable_reason(model: str, qemu: str) -> str | None:
    qdev = DEVICE_MODELS[model][0]
    if qdev not in qemu_devices(qemu):
        return f"this QEMU ({qemu}) has no '{qdev}' device (igb needs QEMU 8.0 or later)"
    return None


NATIVE_DRIVERS_KEPT_OFF = ("xhci_pci",)
"""xhci_pci allocates num_online_cpus()+1 non-maskable MSI vectors and requests
one: the others hold real CPU vectors that no calibration from /proc can place,
so a lab machine would start with vector usage the model cannot see."""


def kernel_args(spec: VmSpec) -> list[str]:
    # amd_iommu has no "on" (the kernel says "Unknown option"): AMD-Vi is on when present.
    args = ["intel_iommu=on"] if spec.iommu == "intel" else []
    args.append("modprobe.blacklist=" + ",".join(NATIVE_DRIVERS_KEPT_OFF))
    if not spec.intremap:
        # Without IR, vfio type1 refuses to attach unless told it is acceptable.
        args.append("vfio_iommu_type1.allow_unsafe_interrupts=1")
    return args


def device_args(spec: VmSpec, state_dir: Path, ivshmem_sockets: dict[str, Path]) -> list[str]:
    args: list[str] = []
    if spec.iommu == "intel":
        opts = f"intel-iommu,intremap={'on' if spec.intremap else 'off'}"
        if spec.x2apic:
            opts += ",eim=on"
        args += ["-device", opts]
    else:
        args += ["-device", f"amd-iommu,intremap={'on' if spec.intremap else 'off'}"]
    args += numa_bridge_args(spec)
    has_pxb = any(d.numa_node is not None for d in spec.devices)
    for i, dev in enumerate(spec.devices):
        qdev = DEVICE_MODELS[dev.model][0]
        extra = "".join(f",{k}={v}" for k, v in sorted(dev.options.items()))
        if dev.numa_node is not None:
            extra += f",bus={_root_port(i)}"
        elif has_pxb:
            # Left to itself QEMU would plug it into the last host bridge, a pxb-pcie.
            extra += ",bus=pcie.0"
        if dev.model == "xhci-msi":
            args += ["-device", f"{qdev},msix=off{extra}"]
        elif dev.model == "ivshmem-doorbell":
            chardev = f"iv{i}"
            args += ["-chardev", f"socket,path={ivshmem_sockets[dev.name]},id={chardev}"]
            args += [
                "-device",
                f"{qdev},chardev={chardev},vectors={dev.vectors or IVSHMEM_VECTORS}{extra}",
            ]
        elif dev.model == "nvme":
            image = state_dir / f"{dev.name}.img"
            if not image.exists():
                with image.open("wb") as f:
                    f.truncate(16 << 20)
            drive = f"nvm{i}"
            args += ["-drive", f"if=none,id={drive},file={image},format=raw"]
            args += ["-device", f"{qdev},serial=hil{i},drive={drive}{extra}"]
        else:
            args += ["-device", f"{qdev}{extra}"]
    return args


def _root_port(device_index: int) -> str:
    return f"hilrp{device_index}"


def numa_bridge_args(spec: VmSpec) -> list[str]:
    """A pxb-pcie host bridge per NUMA node that has devices, a root port per device.

    Devices on the main bus report no node (`numa_node` -1); behind a pxb-pcie
    they report its node, as a device in a second socket's root complex does,
    so "the device's node first" in CPU choice has something to act on.
    """
    args: list[str] = []
    nodes = sorted({d.numa_node for d in spec.devices if d.numa_node is not None})
    for node in nodes:
        bus_nr = 0x80 + 0x10 * node
        args += ["-device", f"pxb-pcie,id=hilpxb{node},bus_nr={bus_nr},numa_node={node},bus=pcie.0"]
    for i, dev in enumerate(spec.devices):
        if dev.numa_node is not None:
            args += [
                "-device",
                f"pcie-root-port,id={_root_port(i)},bus=hilpxb{dev.numa_node},"
                f"chassis={0x40 + i},slot=0",
            ]
    return args


def numa_node_args(spec: VmSpec) -> list[str]:
    """virtme-ng `--numa` options: memory split evenly, CPUs in contiguous blocks."""
    if spec.numa_nodes <= 1:
        return []
    mib_each, mib_left = divmod(memory_mib(spec.memory), spec.numa_nodes)
    cpus_each, cpus_left = divmod(spec.cpus, spec.numa_nodes)
    args: list[str] = []
    first = 0
    for node in range(spec.numa_nodes):
        # The sizes must add up to the machine's memory exactly: node 0 takes the rest.
        mib = mib_each + (mib_left if node == 0 else 0)
        count = cpus_each + (1 if node < cpus_left else 0)
        args += ["--numa", f"{mib}M,cpus={first}-{first + count - 1}"]
        first += count
    return args


def memory_mib(memory: str) -> int:
    """'512M' or '2G' (the inventory's memory pattern) in MiB."""
    number, unit = int(memory[:-1]), memory[-1].upper()
    return number * 1024 if unit == "G" else number
