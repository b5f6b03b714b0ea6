"""Scenario steps: what a test asks a machine and the model to do.

The same step objects are predicted by the model and executed by the lab,
so a scenario can never mean one thing to one side and another to the other.
`device` is the scenario's name for a device (not a BDF); `entry` is the
vector's index within the device's MSI, MSI-X or IMS space.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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
    """Make the device itself raise the vector `times` times, each delivery
    awaited and acknowledged before the next: a burst is judged as one step,
    so fast verified rates do not pay one observation per interrupt."""

    device: str
    entry: int
    times: int = 1


@dataclass(frozen=True)
class FireWhileMoving:
    """Fire `fires` times, each awaited and acknowledged before the next, while a
    second thread writes the affinity `masks` in turn, round after round, ending a
    round on the last mask; the last fire comes after that final write.

    Timing decides which CPU each fire meets and where the vector is left, so the
    split over CPUs is judged as a bound (every delivery on a CPU the start or a
    mask allows, all of them counted once), not as one split."""

    device: str
    entry: int
    fires: int
    masks: tuple[tuple[int, ...], ...]


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
    | FireWhileMoving
    | Store
    | FireStored
    | CpuOffline
    | CpuOnline
    | Disable
)


def _enable(step: Enable) -> str:
    extra = f" unrequested={list(step.unrequested)}" if step.unrequested else ""
    # A StrEnum formats as its value, in C: `.value` is an enum property (Python code).
    return f"enable {step.device} {step.index} x{step.count}{extra}"


def _affinity(step: Affinity) -> str:
    # One "%d" per CPU, formatted in one go: `map(str, ...)` is a class call per CPU.
    count = len(step.cpus)
    form = _CPU_FORMS.get(count)
    if form is None:
        form = _CPU_FORMS[count] = ",".join(["%d"] * count)
    return f"affinity {step.device}[{step.entry}] -> {form % step.cpus}"


_CPU_FORMS: dict[int, str] = {}
"""The format of a list of that many CPUs ("%d,%d"), made once per count: masks of
the same size come again and again, and the join took a third of the label."""


def _fire(step: Fire) -> str:
    if step.times == 1:  # nearly every fire: no empty burst to format in
        return f"fire {step.device}[{step.entry}]"
    burst = f" x{step.times}" if step.times > 1 else ""
    return f"fire {step.device}[{step.entry}]{burst}"


def _fire_while_moving(step: FireWhileMoving) -> str:
    masks = " | ".join(",".join(map(str, mask)) for mask in step.masks)
    return f"fire {step.device}[{step.entry}] x{step.fires} while moving -> {masks}"


_VERBS: dict[type, str] = {
    cls: cls.__name__.lower().replace("cpu", "cpu_")
    for cls in (CpuOffline, CpuOnline, FireStored, Disable, Request, Release, Store)
}
"""The label's first word per step class ("cpu_offline", "request"), made once: a
class's __name__ read and lowered on every step cost more than the rest of the label."""


def _cpu(step: CpuOffline | CpuOnline) -> str:
    return f"{_VERBS[type(step)]} {step.cpu}"


def _device_step(step: FireStored | Disable) -> str:
    return f"{_VERBS[type(step)]} {step.device}"


def _entry_step(step: Request | Release | Store) -> str:
    # Kept by verb and entry: each vector is requested and released again and again,
    # and an f-string of an int is a format call and a join.
    key = (type(step), step.device, step.entry)
    label = _ENTRY_LABELS.get(key)
    if label is None:
        if len(_ENTRY_LABELS) >= _ENTRY_LABELS_KEPT:
            _ENTRY_LABELS.clear()
        label = _ENTRY_LABELS[key] = f"{_VERBS[type(step)]} {step.device}[{step.entry}]"
    return label


_ENTRY_LABELS: dict[tuple[type, str, int], str] = {}
"""`_entry_step`'s labels made so far, emptied when it holds `_ENTRY_LABELS_KEPT`."""
_ENTRY_LABELS_KEPT = 4096


_DESCRIBERS: dict[type, Callable[[Any], str]] = {
    Enable: _enable,
    Request: _entry_step,
    Release: _entry_step,
    Affinity: _affinity,
    Fire: _fire,
    FireWhileMoving: _fire_while_moving,
    Store: _entry_step,
    FireStored: _device_step,
    CpuOffline: _cpu,
    CpuOnline: _cpu,
    Disable: _device_step,
}
"""The label maker of each step class: one dict lookup, where a `match` tried the
class patterns in turn (the model labels every step it predicts)."""


def label_maker(cls: type) -> Callable[[Any], str]:
    """`describe` of the steps of class `cls`, fetched once: the model keeps it beside the
    class's handler and saves a call per step."""
    return _DESCRIBERS[cls]


def describe(step: Step) -> str:
    """A short human label for reports: `affinity edu[0] -> 1-2`."""
    describer = _DESCRIBERS.get(type(step))
    if describer is None:
        raise TypeError(f"not a step: {step!r}")
    return describer(step)
