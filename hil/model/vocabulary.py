"""The one vocabulary shared by predictions and observations.

The model predicts a `StepOutcome`; the lab observes a `StepOutcome`; the
comparator diffs them field by field.  Both sides therefore use these exact
classes, so a report can put the two columns side by side without any
translation layer that could hide a mismatch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class IrqIndex(StrEnum):
    """Which interrupt mechanism of a device a vector belongs to."""

    MSI = "msi"
    MSIX = "msix"
    IMS = "ims"


class IrType(StrEnum):
    """Interrupt remapping flavour of a machine; decides the message format."""

    NONE = "none"
    INTEL = "intel"
    AMD = "amd"


class ApicMode(StrEnum):
    """APIC routing mode: decides how a non-remapped message names its CPU."""

    PHYSICAL_FLAT = "physical flat"
    LOGICAL_FLAT = "logical flat"
    X2APIC_PHYSICAL = "x2apic physical"
    X2APIC_CLUSTER = "x2apic cluster"


MSI_ADDRESS_BASE = 0xFEE00000
_SHV = 1 << 3
"""Remappable address bit: the data's low 16 bits (subhandle) are added to the handle."""


@dataclass(frozen=True, order=True)
class MsiMessage:
    """An MSI message as a device would write it: 64-bit address and 32-bit data."""

    address: int
    data: int

    @property
    def address_lo(self) -> int:
        return self.address & 0xFFFFFFFF

    @property
    def address_hi(self) -> int:
        return self.address >> 32

    @property
    def is_zero(self) -> bool:
        return self.address == 0 and self.data == 0

    @property
    def is_remappable(self) -> bool:
        """Intel remappable format: bit 4 of the address set (SHV/format bit)."""
        return bool(self.address_lo & 0x10) and (self.address_lo & 0xFFF00000) == MSI_ADDRESS_BASE

    @property
    def irte_index(self) -> int | None:
        """The IRTE handle an Intel remappable message points at, else None."""
        if not self.is_remappable:
            return None
        lo = self.address_lo
        return ((lo >> 5) & 0x7FFF) | (((lo >> 2) & 1) << 15)

    @property
    def irte(self) -> int | None:
        """The IRTE a remappable message selects: its handle, plus the data's
        subhandle when SHV (address bit 3) is set, as for a multi-MSI block."""
        handle = self.irte_index
        if handle is None:
            return None
        return handle + (self.data & 0xFFFF if self.address_lo & _SHV else 0)

    @property
    def destination(self) -> int:
        """Destination field of a compat-format message (APIC ID or logical mask)."""
        return (self.address_lo >> 12) & 0xFF

    @property
    def logical(self) -> bool:
        """Destination mode bit of a compat-format message (bit 2)."""
        return bool(self.address_lo & 0x4)

    @property
    def vector(self) -> int:
        """Vector of a compat-format message (low byte of data)."""
        return self.data & 0xFF

    def __str__(self) -> str:
        return f"{self.address:#010x}/{self.data:#06x}"


@dataclass(frozen=True)
class VectorView:
    """One vector of one device, as predicted or as seen after a step.

    `None` means "not known": on the observed side, the lab could not see it
    (for example a vector number without tracing); on the predicted side, the
    field is absent from the prediction.
    """

    device: str
    index: IrqIndex
    entry: int
    allocated: bool
    requested: bool
    irq: int | None = None
    cpu: int | None = None
    vector: int | None = None
    affinity: tuple[int, ...] | None = None
    effective: tuple[int, ...] | None = None
    message: MsiMessage | None = None
    masked: bool | None = None

    @property
    def key(self) -> str:
        return f"{self.device}.{self.index.value}[{self.entry}]"


@dataclass(frozen=True)
class Delivery:
    """Where the interrupts of one vector went during a step."""

    device: str
    entry: int
    per_cpu: tuple[tuple[int, int], ...]
    eventfd: int | None = None

    @property
    def total(self) -> int:
        return sum(n for _, n in self.per_cpu)


# -- evidence: observed only, never predicted nor judged -------------------------
#
# Kprobes on the functions that write an MSI message to a device and an IRTE to
# the Intel IOMMU say who rewrote what during a step (`hil.linux.kprobes`).  They
# are evidence for the reader of a mismatch: the model emits none,
# `hil.model.verdict.flatten` reads none, and a machine without kprobes fails
# nothing.  They live here because they travel in `StepOutcome` (agent to
# controller to evidence bundle) and the codec decodes vocabulary classes alone.


@dataclass(frozen=True)
class KernelWrite:
    """Who wrote: the task and CPU the probe fired on, and when (trace clock, seconds)."""

    timestamp: float
    cpu: int
    task: str
    pid: int

    @property
    def who(self) -> str:
        return f"{self.task}-{self.pid}/cpu{self.cpu}"


@dataclass(frozen=True)
class MessageWrite(KernelWrite):
    """`__pci_write_msi_msg`: the kernel wrote `message` for `irq` (the first irq of a
    multi-MSI block); `previous` is the message the kernel had cached for it until then."""

    irq: int
    message: MsiMessage
    previous: MsiMessage


_PRESENT = 1 << 0
_POSTED = 1 << 15


@dataclass(frozen=True)
class IrteWrite(KernelWrite):
    """`modify_irte`: the kernel rewrote IRTE `index + sub_handle` with `low` as its low
    64 bits (present, vector and destination; the high half holds only the source id)."""

    index: int
    sub_handle: int
    low: int

    @property
    def entry(self) -> int:
        """The table entry written, as `MsiMessage.irte` names it."""
        return self.index + self.sub_handle

    @property
    def present(self) -> bool:
        return bool(self.low & _PRESENT)

    @property
    def posted(self) -> bool:
        """Posted format (a vCPU's posted-interrupt descriptor): no APIC destination."""
        return bool(self.low & _POSTED)

    @property
    def vector(self) -> int:
        return (self.low >> 16) & 0xFF

    def destination(self, x2apic: bool) -> int:
        """The destination APIC ID: bits 32-63 in x2APIC mode, bits 40-47 in xAPIC mode
        (the kernel's IRTE_DEST shifts an xAPIC ID left by 8)."""
        dest_id = self.low >> 32
        return dest_id if x2apic else (dest_id >> 8) & 0xFF


@dataclass(frozen=True)
class KernelWrites:
    """The message and IRTE writes of one step, in trace order, and what kept any out.

    `missing` names every write the lab could not record and why ("modify_irte
    not probeable: ..."); empty when both probes ran.  `lost_events` counts
    events the trace ring buffer dropped during the step (then `writes` may be
    incomplete).
    """

    writes: tuple[MessageWrite | IrteWrite, ...] = ()
    missing: tuple[str, ...] = ()
    lost_events: int = 0


@dataclass(frozen=True)
class StepOutcome:
    """Everything one step produced; the unit of prediction and observation.

    `errno` is None when the step succeeded; otherwise a symbolic errno name
    ("EINVAL", "ENOSPC", "EBUSY", "EPERM", "EIO").  `granted` is the vector
    count the kernel could give when it gave fewer than asked (the positive
    return of VFIO_DEVICE_SET_IRQS) and None otherwise.  `lost` counts
    interrupts the device sent that no handler of the device received, and
    `spurious` the rise of the machine's SPU/ERR/MIS counters.
    """

    step: int
    action: str
    errno: str | None = None
    granted: int | None = None
    vectors: tuple[VectorView, ...] = ()
    deliveries: tuple[Delivery, ...] = ()
    lost: int | None = None
    spurious: int | None = None
    trace: tuple[str, ...] | None = None
    notes: tuple[str, ...] = field(default=(), compare=False)
    kernel_writes: KernelWrites | None = field(default=None, compare=False)
    """Evidence, never judged (see `KernelWrites`); None: not recorded (a prediction,
    a bundle written before the lab recorded kernel writes)."""
