"""CPU topology and the facts that decide how a non-remapped MSI names a CPU.

Without IR the MSI address carries an APIC ID (physical) or a logical mask,
chosen by the APIC routing mode; APIC IDs need not equal CPU numbers.  The
kernel release decides several rules of the model, so it is read with them.
Whether irqbalance runs (it moves irqs behind a test's back) is asked apart.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from hil.linux.cpulist import parse_cpulist
from hil.linux.sysfile import read_optional
from hil.model.vocabulary import ApicMode

# "APIC: Switched APIC routing to: physical flat" (6.6+), "Switched APIC
# routing to physical flat." / "Setting APIC routing to cluster x2apic." (older).
_APIC_ROUTING = re.compile(r"(?:Switched|Setting) APIC routing to:? ([a-z0-9 ]+?)\.?\s*$")
_APIC_DRIVER_MODES = {
    "physical flat": ApicMode.PHYSICAL_FLAT,
    "flat": ApicMode.LOGICAL_FLAT,
    "logical flat": ApicMode.LOGICAL_FLAT,
    "cluster x2apic": ApicMode.X2APIC_CLUSTER,
    "physical x2apic": ApicMode.X2APIC_PHYSICAL,
}


@dataclass(frozen=True)
class CpuTopology:
    cpu: int
    apicid: int | None
    node: int | None


@dataclass(frozen=True)
class Topology:
    """`apic_mode` is None when dmesg names no routing switch (pre-6.6 kernels
    print nothing when the default driver stays, so "unknown" is honest)."""

    cpus: tuple[CpuTopology, ...]
    apic_mode: ApicMode | None
    kernel_release: str | None
    kernel_version: tuple[int, ...]

    def apicid(self, cpu: int) -> int | None:
        for entry in self.cpus:
            if entry.cpu == cpu:
                return entry.apicid
        return None

    @classmethod
    def read(cls, root: Path = Path("/"), dmesg_text: str = "") -> Topology:
        apicids = parse_cpuinfo_apicids(read_optional(root / "proc/cpuinfo") or "")
        nodes = read_cpu_nodes(root)
        release = read_optional(root / "proc/sys/kernel/osrelease")
        return cls(
            cpus=tuple(
                CpuTopology(cpu=cpu, apicid=apicid, node=nodes.get(cpu))
                for cpu, apicid in sorted(apicids.items())
            ),
            apic_mode=parse_apic_mode(dmesg_text),
            kernel_release=release,
            kernel_version=parse_kernel_version(release or ""),
        )


def parse_cpuinfo_apicids(text: str) -> dict[int, int | None]:
    """CPU number -> APIC ID from /proc/cpuinfo (None where no `apicid` line)."""
    result: dict[int, int | None] = {}
    cpu: int | None = None
    for line in text.splitlines():
        key, colon, value = line.partition(":")
        if not colon:
            continue
        key = key.strip()
        if key == "processor" and value.strip().isdigit():
            cpu = int(value)
            result[cpu] = None
        elif key == "apicid" and cpu is not None and value.strip().isdigit():
            result[cpu] = int(value)
    return result


def read_cpu_nodes(root: Path) -> dict[int, int]:
    """CPU -> NUMA node from /sys/devices/system/node/nodeN/cpulist."""
    base = root / "sys/devices/system/node"
    nodes: dict[int, int] = {}
    try:
        names = os.listdir(base)
    except FileNotFoundError:
        return nodes
    for name in names:
        if not (name.startswith("node") and name[4:].isdigit()):
            continue
        cpulist = read_optional(base / name / "cpulist")
        for cpu in parse_cpulist(cpulist or ""):
            nodes[cpu] = int(name[4:])
    return nodes


def parse_apic_mode(dmesg_text: str) -> ApicMode | None:
    """The last APIC routing switch dmesg reports, or None."""
    mode = None
    for line in dmesg_text.splitlines():
        m = _APIC_ROUTING.search(line)
        if m is not None and m[1] in _APIC_DRIVER_MODES:
            mode = _APIC_DRIVER_MODES[m[1]]
    return mode


def irqbalance_running(root: Path) -> bool:
    """True if any process is named irqbalance (from /proc/<pid>/comm).

    Not part of `Topology`: it reads every process's name, a tenth of a
    calibration in a TCG guest, and only the machine's facts report it.
    """
    proc = root / "proc"
    try:
        pids = [p for p in os.listdir(proc) if p.isdigit()]
    except FileNotFoundError:
        return False
    for pid in pids:
        try:
            comm = (proc / pid / "comm").read_text(errors="replace").strip()
        except OSError:
            continue
        if comm == "irqbalance":
            return True
    return False


def parse_kernel_version(release: str) -> tuple[int, ...]:
    """`6.12.95+deb12-amd64` -> (6, 12, 95); `6.1.0-56-amd64` -> (6, 1, 0); "" -> ()."""
    m = re.match(r"(\d+(?:\.\d+)*)", release.strip())
    return tuple(int(p) for p in m[1].split(".")) if m else ()
