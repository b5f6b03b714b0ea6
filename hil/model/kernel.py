"""Which interrupt rules hold for which kernel version.

The x86 interrupt code changed shape several times between 6.1 and 6.12
(vector space, MSI domains, IMS, cleanup, errnos).  Every version-dependent
fact the model uses lives here, with the release that introduced it, so a
prediction for 6.1 and one for 6.12 differ only through this table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

from hil.model.vocabulary import IrqIndex

_RELEASE = re.compile(r"^\s*(\d+)\.(\d+)(?:\.(\d+))?")

FIRST_EXTERNAL_VECTOR = 0x20
MANAGED_IRQ_SHUTDOWN_VECTOR = 0xEF
"""The placeholder every reservation-mode irq points at until request_irq."""
IA32_SYSCALL_VECTOR = 0x80
PIC_CASCADE_VECTOR = 0x32
"""ISA_IRQ_VECTOR(2): claimed as a system vector on every CPU when a legacy PIC exists."""
IRQ_MOVE_CLEANUP_VECTOR = 0x20
"""System vector of the cleanup IPI; removed in 6.6 (commit bdc1dad299bb)."""


@total_ordering
@dataclass(frozen=True)
class KernelVersion:
    """major.minor.patch of a kernel release string such as "6.12.95+deb12-amd64"."""

    major: int
    minor: int
    patch: int = 0

    @classmethod
    def parse(cls, release: str) -> KernelVersion:
        match = _RELEASE.match(release)
        if match is None:
            raise ValueError(f"not a kernel release string: {release!r}")
        major, minor, patch = match.groups()
        return cls(int(major), int(minor), int(patch or 0))

    def as_tuple(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.patch)

    def at_least(self, major: int, minor: int) -> bool:
        return (self.major, self.minor) >= (major, minor)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, KernelVersion):
            return NotImplemented
        return self.as_tuple() < other.as_tuple()

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


@dataclass(frozen=True)
class KernelRules:
    """The version-dependent facts of one kernel (see docs/model.md, "Kernel versions")."""

    version: KernelVersion
    first_system_vector: int
    """FIRST_SYSTEM_VECTOR: 0xeb since 6.10 (POSTED_MSI_NOTIFICATION_VECTOR), 0xec before."""
    system_vectors: frozenset[int]
    """System bits inside [0x20, first_system_vector): 0x80, 0x32 and, before 6.6, 0x20."""
    per_device_msi_domains: bool
    """6.2+: chip PCI-MSIX-<bdf>, hwirq = entry; before: one global PCI-MSI chip."""
    ims_api: bool
    """pci_create_ims_domain & co. exist: 6.2 to 6.9 only (reverted in 6.10)."""
    dynamic_msix: bool
    """vfio-pci allocates MSI-X entries after enable (pci_msix_alloc_irq_at): 6.5+."""
    managed_affinity_errno: str
    """write_irq_affinity on a managed irq: EIO before 6.12, EPERM since (commit eb29369fa543)."""
    cleanup_by_timer: bool
    """6.6+: old vectors are freed by a per-CPU timer (jiffies+1) instead of an IPI."""

    placeholder_vector: int = MANAGED_IRQ_SHUTDOWN_VECTOR
    alloc_start: int = FIRST_EXTERNAL_VECTOR

    @classmethod
    def for_version(cls, version: KernelVersion | str) -> KernelRules:
        v = KernelVersion.parse(version) if isinstance(version, str) else version
        system = {IA32_SYSCALL_VECTOR, PIC_CASCADE_VECTOR}
        cleanup_by_timer = v.at_least(6, 6)
        if not cleanup_by_timer:
            system.add(IRQ_MOVE_CLEANUP_VECTOR)
        return cls(
            version=v,
            first_system_vector=0xEB if v.at_least(6, 10) else 0xEC,
            system_vectors=frozenset(system),
            per_device_msi_domains=v.at_least(6, 2),
            ims_api=v.at_least(6, 2) and not v.at_least(6, 10),
            dynamic_msix=v.at_least(6, 5),
            managed_affinity_errno="EPERM" if v.at_least(6, 12) else "EIO",
            cleanup_by_timer=cleanup_by_timer,
        )

    def allocatable_vectors(self, extra_reserved: frozenset[int] = frozenset()) -> frozenset[int]:
        """Vectors irq_matrix_alloc may hand out on every CPU."""
        span = range(self.alloc_start, self.first_system_vector)
        return frozenset(v for v in span if v not in self.system_vectors | extra_reserved)

    @property
    def usable_per_cpu(self) -> int:
        """Device vectors per CPU: 201 (4.15-6.5), 202 (6.6-6.9), 201 (6.10+)."""
        return len(self.allocatable_vectors())

    def ims_unavailable_reason(self, ir: bool, caching_mode: bool) -> str | None:
        """Why the kernel itself cannot give a device IMS vectors, or None if it can."""
        if not self.ims_api:
            when = "was removed in 6.10" if self.version.at_least(6, 10) else "arrived in 6.2"
            return f"kernel {self.version} has no PCI IMS API (it {when})"
        if not ir:
            return "IMS needs interrupt remapping on x86; this machine has none"
        if caching_mode:
            return "the vIR parent of a caching-mode vIOMMU does not advertise MSI_FLAG_PCI_IMS"
        return None

    def chip_name(self, index: IrqIndex, bdf: str, ir: bool, caching_mode: bool = False) -> str:
        """The chip column of /proc/interrupts for a device vector."""
        if not self.per_device_msi_domains:
            return ("IR-" if ir else "") + "PCI-MSI"
        prefix = "IR-" if ir else ""
        if ir and caching_mode and self.ims_api:
            prefix = "vIR-"
        kind = {IrqIndex.MSI: "PCI-MSI", IrqIndex.MSIX: "PCI-MSIX", IrqIndex.IMS: "PCI-IMS"}[index]
        return f"{prefix}{kind}-{bdf}"

    def hwirq(self, entry: int) -> int | None:
        """The hwirq column; only per-device domains make it the entry (older kernels
        encode the requester ID in a way not pinned down here, so None)."""
        return entry if self.per_device_msi_domains else None
