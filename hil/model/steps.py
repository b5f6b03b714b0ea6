"""Scenario steps: what a test asks a machine and the model to do.

The same step objects are predicted by the model and executed by the lab,
so a scenario can never mean one thing to one side and another to the other.
`device` is the scenario's name for a device (not a BDF); `entry` is the
vector's index within the device's MSI, MSI-X or IMS space.
"""

from __future__ import annotations

from dataclasses import dataclass

from hil.model.vocabulary import IrqIndex


@dataclass(frozen=True)
class Enable:
    """Allocate `count` vectors of `index`; request all but `unrequested`."""

    device: str
    index: IrqIndex
    count: int
    unrequested: tuple[int, ...] = ()


@dataclass(frozen=True)
class Request:
    """Give an already allocated vector a handler (an eventfd, with vfio)."""

    device: str
    entry: int


@dataclass(frozen=True)
class Release:
    """Free a vector's handler; the vector stays allocated."""

    device: str
    entry: int


@dataclass(frozen=True)
class Affinity:
    """Write `cpus` to /proc/irq/N/smp_affinity_list for the vector's irq."""

    device: str
    entry: int
    cpus: tuple[int, ...]


@dataclass(frozen=True)
class Fire:
    """Make the device itself raise the vector once."""

    device: str
    entry: int


@dataclass(frozen=True)
class Store:
    """Copy the kernel's current message of a vector into the device's own storage."""

    device: str
    entry: int


@dataclass(frozen=True)
class FireStored:
    """Make the device write the message it stored, whatever the kernel did since."""

    device: str


@dataclass(frozen=True)
class CpuOffline:
    cpu: int


@dataclass(frozen=True)
class CpuOnline:
    cpu: int


@dataclass(frozen=True)
class Disable:
    """Disable the device's enabled interrupt index; frees every vector."""

    device: str


Step = (
    Enable
    | Request
    | Release
    | Affinity
    | Fire
    | Store
    | FireStored
    | CpuOffline
    | CpuOnline
    | Disable
)


def describe(step: Step) -> str:
    """A short human label for reports: `affinity edu[0] -> 1-2`."""
    match step:
        case Enable(device, index, count, unrequested):
            extra = f" unrequested={list(unrequested)}" if unrequested else ""
            return f"enable {device} {index.value} x{count}{extra}"
        case Affinity(device, entry, cpus):
            return f"affinity {device}[{entry}] -> {','.join(map(str, cpus))}"
        case CpuOffline(cpu) | CpuOnline(cpu):
            return f"{type(step).__name__.lower().replace('cpu', 'cpu_')} {cpu}"
        case FireStored(device) | Disable(device):
            return f"{type(step).__name__.lower()} {device}"
        case (
            Request(device, entry)
            | Release(device, entry)
            | Fire(device, entry)
            | Store(device, entry)
        ):
            return f"{type(step).__name__.lower()} {device}[{entry}]"
    raise TypeError(f"not a step: {step!r}")
