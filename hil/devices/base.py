"""The small interface every device driver implements.

A driver knows one device class's registers and nothing else: it never opens
VFIO, never reads /proc, never decides what a test expects.  It is handed a
`DeviceIO` (real BARs through VFIO on a lab machine, a register double in
unit tests) and makes the device raise interrupt vector k by itself.  This
follows the Linux VFIO selftest library, where a driver is an ops table
(`init`, `remove`, `send_msi`) and the test never touches registers.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Protocol, runtime_checkable

from hil.model.vocabulary import IrqIndex, MsiMessage


class RegisterSpace(Protocol):
    """A BAR or config space: little-endian MMIO/PIO accessors by byte offset."""

    def read8(self, offset: int) -> int: ...
    def read16(self, offset: int) -> int: ...
    def read32(self, offset: int) -> int: ...
    def read64(self, offset: int) -> int: ...
    def write8(self, offset: int, value: int) -> None: ...
    def write16(self, offset: int, value: int) -> None: ...
    def write32(self, offset: int, value: int) -> None: ...
    def write64(self, offset: int, value: int) -> None: ...
    def write_bytes(self, offset: int, data: bytes) -> None: ...


@runtime_checkable
class MappedRegisterSpace(RegisterSpace, Protocol):
    """A register space mapped into this process, so an instruction can target it.

    A DSA portal takes a 64-byte descriptor in one MOVDIR64B store; no accessor
    call can do that, so the driver needs the virtual address of the mapping.
    """

    def address(self, offset: int) -> int: ...


class DmaBuffer(Protocol):
    """Host memory the device can reach at `iova` (VFIO type1 MAP_DMA)."""

    iova: int
    size: int

    def read(self, offset: int, length: int) -> bytes: ...
    def write(self, offset: int, data: bytes) -> None: ...


class DeviceIO(Protocol):
    """What a driver may touch on its device."""

    bdf: str

    def bar(self, index: int) -> RegisterSpace: ...
    def config(self) -> RegisterSpace: ...
    def dma_buffer(self, size: int) -> DmaBuffer: ...


class DeviceError(RuntimeError):
    """The device did not do what its register interface promises."""


class DeviceUnavailable(RuntimeError):
    """This device cannot be driven here; the message says what is missing."""


@dataclass(frozen=True)
class DriverInfo:
    """What the framework needs to know about a driver before opening the device."""

    name: str
    index: IrqIndex
    can_fire: bool
    fire_limit_reason: str = ""


class DeviceDriver(ABC):
    """Make one device raise its own interrupts.

    Lifecycle: `init(io)` after VFIO has the device and bus mastering is on,
    before interrupts are enabled; `enable_vectors(n)` after the kernel
    granted n vectors (a device may need to route causes to them);
    `fire(k)` makes the device send vector k once; `acknowledge(k)` clears
    whatever state would stop the next fire; `remove()` quiesces the device.
    """

    name: ClassVar[str]
    ids: ClassVar[tuple[tuple[int, int], ...]]
    index: ClassVar[IrqIndex]

    def __init__(self) -> None:
        self._io: DeviceIO | None = None

    @property
    def io(self) -> DeviceIO:
        if self._io is None:
            raise DeviceError(f"{self.name}: init() was not called")
        return self._io

    def init(self, io: DeviceIO) -> None:
        self._io = io

    def enable_vectors(self, count: int) -> None:  # noqa: B027 - optional hook
        """Route the device's interrupt causes to `count` granted vectors."""

    @abstractmethod
    def fire(self, vector: int) -> None: ...

    def acknowledge(self, vector: int) -> None:  # noqa: B027 - optional hook
        """Clear the cause so the next fire of `vector` sends a new message."""

    def remove(self) -> None:
        self._io = None

    @classmethod
    def fire_unsupported_reason(cls) -> str | None:
        """Why this driver cannot make the device fire at all, or None if it can."""
        return None


class StoredMessageDriver(DeviceDriver):
    """A device that keeps its own copy of an interrupt message and writes it itself.

    This is the situation of the seed's IMS argument: the message lives in
    storage the driver fills, not in a table the interrupt core rewrites.
    """

    @abstractmethod
    def store(self, message: MsiMessage) -> None:
        """Copy `message` into device storage."""

    @abstractmethod
    def fire_stored(self) -> None:
        """Make the device write its stored message (a posted memory write)."""
