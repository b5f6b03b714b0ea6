"""What the model must know about a machine before it can predict anything.

A calibration is the machine's state at the start of a scenario: CPUs and
their APIC IDs, which vectors are already taken on each CPU, the irqs that
already exist (they move on CPU unplug and count toward availability), the
next free IRTE, and the irq numbers in use when they could be seen.  Whatever
could not be observed stays None and the model widens its prediction
accordingly (uncertain vector numbers, relative IRTE and irq numbers) instead
of guessing.

It is frozen and hashable by `digest()`, so a report can name exactly which
machine state a prediction was made from.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hil.model.vocabulary import ApicMode, IrType


@dataclass(frozen=True)
class CpuInfo:
    cpu: int
    apicid: int
    node: int = 0
    online: bool = True
    hotpluggable: bool | None = None
    """None: hot-pluggable unless it is CPU0 (x86 has not offlined CPU0 by default)."""

    @property
    def can_unplug(self) -> bool:
        return self.hotpluggable if self.hotpluggable is not None else self.cpu != 0


@dataclass(frozen=True)
class ExistingIrq:
    """An irq that exists before the scenario starts (timer, disks, NICs...)."""

    irq: int
    cpu: int
    affinity: tuple[int, ...]
    managed: bool = False
    vector: int | None = None
    """Its vector on `cpu`, when known; lets the model free exactly that bit on a move."""


def _int_keys(raw: Mapping[Any, Any]) -> dict[int, Any]:
    return {int(k): v for k, v in raw.items()}


@dataclass(frozen=True)
class Calibration:
    kernel: str
    """Kernel release string, e.g. "6.12.95+deb12-amd64"."""
    ir: IrType
    apic_mode: ApicMode
    cpus: tuple[CpuInfo, ...]
    vectors: Mapping[int, tuple[int, ...]] | None = None
    """Exact used device vectors per CPU (excluding system vectors); None if unseen."""
    allocated: Mapping[int, int] | None = None
    """Used-vector counts per CPU, when only counts could be seen."""
    managed_reserved: Mapping[int, int] = field(default_factory=dict)
    existing_irqs: tuple[ExistingIrq, ...] = ()
    irte_next: int | None = None
    """Lowest free IRTE index; indices above it are taken to be free (no earlier frees)."""
    irq_next: int | None = None
    """Lowest free dynamic irq number, all above it taken to be free; `used_irqs` with
    `dynirq_base` supersede it (they also see the holes earlier frees left)."""
    device_nodes: Mapping[str, int] = field(default_factory=dict)
    """NUMA node per device BDF (absent or -1: NUMA_NO_NODE)."""
    caching_mode: bool = False
    """Intel vIOMMU with caching mode (or AMD NpCache): matters for IMS and chip names."""
    irte_max_handle_mask: int = 15
    """ecap MHMV: log2 of the largest IRTE block alloc_irte accepts (QEMU: 15)."""
    reserved_vectors: tuple[int, ...] = ()
    """Extra system vectors beyond the kernel defaults (e.g. a platform without a PIC)."""
    used_irqs: tuple[int, ...] | None = None
    """Every allocated irq number (/sys/kernel/irq/N), when seen."""
    dynirq_base: int | None = None
    """arch_dynirq_lower_bound: the IO-APIC GSI count (24 on QEMU q35); 0 without IO-APIC."""
    hidden_vectors: int = 0
    """Vectors held by irqs the calibration cannot see (no /proc/irq/N: allocated,
    never requested, not maskable, e.g. xhci's spare MSI vectors); CPUs unknown."""

    def __post_init__(self) -> None:
        known = {c.cpu for c in self.cpus}
        if len(known) != len(self.cpus):
            raise ValueError("calibration lists a CPU twice")
        for table in (self.vectors or {}, self.allocated or {}, self.managed_reserved):
            unknown = set(table) - known
            if unknown:
                raise ValueError(f"calibration names unknown CPUs {sorted(unknown)}")
        if self.hidden_vectors < 0:
            raise ValueError("hidden_vectors cannot be negative")
        if self.used_irqs is not None:
            # A set in truth; sorted so equal machines compare and digest equal.
            object.__setattr__(self, "used_irqs", tuple(sorted(set(self.used_irqs))))

    @property
    def exact_vectors(self) -> bool:
        return self.vectors is not None

    def cpu(self, number: int) -> CpuInfo:
        for info in self.cpus:
            if info.cpu == number:
                return info
        raise KeyError(f"no CPU {number} in calibration")

    def to_dict(self) -> dict[str, Any]:
        return {
            "kernel": self.kernel,
            "ir": self.ir.value,
            "apic_mode": self.apic_mode.value,
            "cpus": [
                {
                    "cpu": c.cpu,
                    "apicid": c.apicid,
                    "node": c.node,
                    "online": c.online,
                    "hotpluggable": c.hotpluggable,
                }
                for c in self.cpus
            ],
            "vectors": (
                None
                if self.vectors is None
                else {str(k): list(v) for k, v in sorted(self.vectors.items())}
            ),
            "allocated": (
                None
                if self.allocated is None
                else {str(k): v for k, v in sorted(self.allocated.items())}
            ),
            "managed_reserved": {str(k): v for k, v in sorted(self.managed_reserved.items())},
            "existing_irqs": [
                {
                    "irq": e.irq,
                    "cpu": e.cpu,
                    "affinity": list(e.affinity),
                    "managed": e.managed,
                    "vector": e.vector,
                }
                for e in self.existing_irqs
            ],
            "irte_next": self.irte_next,
            "irq_next": self.irq_next,
            "device_nodes": dict(sorted(self.device_nodes.items())),
            "caching_mode": self.caching_mode,
            "irte_max_handle_mask": self.irte_max_handle_mask,
            "reserved_vectors": list(self.reserved_vectors),
            "used_irqs": None if self.used_irqs is None else list(self.used_irqs),
            "dynirq_base": self.dynirq_base,
            "hidden_vectors": self.hidden_vectors,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Calibration:
        vectors = raw.get("vectors")
        allocated = raw.get("allocated")
        used_irqs = raw.get("used_irqs")
        dynirq_base = raw.get("dynirq_base")
        return cls(
            kernel=str(raw["kernel"]),
            ir=IrType(raw["ir"]),
            apic_mode=ApicMode(raw["apic_mode"]),
            cpus=tuple(
                CpuInfo(
                    cpu=int(c["cpu"]),
                    apicid=int(c["apicid"]),
                    node=int(c.get("node", 0)),
                    online=bool(c.get("online", True)),
                    hotpluggable=c.get("hotpluggable"),
                )
                for c in raw["cpus"]
            ),
            vectors=(
                None
                if vectors is None
                else {k: tuple(int(x) for x in v) for k, v in _int_keys(vectors).items()}
            ),
            allocated=None if allocated is None else _int_keys(allocated),
            managed_reserved=_int_keys(raw.get("managed_reserved", {})),
            existing_irqs=tuple(
                ExistingIrq(
                    irq=int(e["irq"]),
                    cpu=int(e["cpu"]),
                    affinity=tuple(int(x) for x in e["affinity"]),
                    managed=bool(e.get("managed", False)),
                    vector=e.get("vector"),
                )
                for e in raw.get("existing_irqs", ())
            ),
            irte_next=raw.get("irte_next"),
            irq_next=raw.get("irq_next"),
            device_nodes={str(k): int(v) for k, v in raw.get("device_nodes", {}).items()},
            caching_mode=bool(raw.get("caching_mode", False)),
            irte_max_handle_mask=int(raw.get("irte_max_handle_mask", 15)),
            reserved_vectors=tuple(int(x) for x in raw.get("reserved_vectors", ())),
            used_irqs=None if used_irqs is None else tuple(int(x) for x in used_irqs),
            dynirq_base=None if dynirq_base is None else int(dynirq_base),
            hidden_vectors=int(raw.get("hidden_vectors", 0)),
        )

    def canonical_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def digest(self) -> str:
        """sha256 of the canonical JSON: the same machine state gives the same digest."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()
