"""Where the Observer takes a step's counts and handlers from.

From the rows of /proc/interrupts, which a step reads anyway, when that text
is small; from sysfs when it is large, and for a step that takes a CPU off
or on line (/proc/interrupts has no column for an offline CPU).  Each test
gives the two sources different numbers, so it sees which one was read.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hil.lab.observe import SEARCHED_TEXT_LIMIT, Fired, Observer
from hil.model.vocabulary import IrqIndex

BDF = "0000:00:03.0"
CHIP = f"PCI-MSIX-{BDF}"


@dataclass
class MsixIo:
    """A device whose MSI-X table reads empty: messages are not looked at here."""

    def read_msix_table(self, count: int) -> list[object]:
        return []


@dataclass
class Device:
    name: str = "igb0"
    bdf: str = BDF
    index: IrqIndex = IrqIndex.MSIX
    io: MsixIo = field(default_factory=MsixIo)
    eventfds: dict[int, int] = field(default_factory=dict)
    known_entries: set[int] = field(default_factory=lambda: {0, 1})


def interrupts(root: Path, rows: dict[int, tuple[tuple[int, ...], str]], cpus=(0, 1)) -> None:
    """/proc/interrupts with `rows`: irq -> (counts of the online `cpus`, handler or "")."""
    lines = ["".join(f"{'CPU' + str(c):>11}" for c in cpus)]
    for irq, (counts, action) in sorted(rows.items()):
        columns = "".join(f" {n:10d}" for n in counts)
        lines.append(f"{irq:3d}:{columns}  {CHIP} {irq - 40}-edge      {action}".rstrip())
    lines.append(" SPU:" + "".join(f" {0:10d}" for _ in cpus) + "   Spurious interrupts")
    (root / "proc/interrupts").write_text("\n".join(lines) + "\n")


def sysfs_counts(root: Path, irq: int, counts: tuple[int, ...], actions: str = "") -> None:
    folder = root / f"sys/kernel/irq/{irq}"
    (folder / "per_cpu_count").write_text(",".join(map(str, counts)) + "\n")
    (folder / "actions").write_text(actions + "\n")


@pytest.fixture
def machine(root: Path, msix_vectors: Callable[[str, dict[int, int]], None]) -> Path:
    """Entries 0 and 1 on irqs 40 and 41; only 40 has a handler."""
    msix_vectors(BDF, {0: 40, 1: 41})
    sysfs_counts(root, 40, (500, 500), "wrong")
    sysfs_counts(root, 41, (500, 500), "wrong")
    return root


def fire_step(observer: Observer, dev: Device, before) -> tuple[dict, dict]:
    outcome = observer.outcome(1, "fire", [dev], before, None, None, None, allocates=False)
    deliveries = {d.entry: d.per_cpu for d in outcome.deliveries}
    requested = {v.entry: v.requested for v in outcome.vectors}
    return deliveries, requested


def test_a_small_text_gives_the_counts_and_handlers(machine: Path) -> None:
    observer, dev = Observer(machine, "s"), Device()
    interrupts(machine, {40: ((1, 2), "vfio-msix[0](0000:00:03.0)"), 41: ((0, 0), "")})
    before = observer.snapshot([dev])
    assert before.per_irq == {40: {0: 1, 1: 2}, 41: {0: 0, 1: 0}} and before.cpus == (0, 1)
    interrupts(machine, {40: ((1, 5), "vfio-msix[0](0000:00:03.0)"), 41: ((0, 1), "")})
    deliveries, requested = fire_step(observer, dev, before)
    assert deliveries == {0: ((1, 3),), 1: ((1, 1),)}
    assert requested == {0: True, 1: False}  # a row with counts and no handler


def test_a_row_gone_with_its_handler_keeps_its_counts_from_sysfs(machine: Path) -> None:
    """A released vector's row may go while its count stays (6.12): no negative rise."""
    observer, dev = Observer(machine, "s"), Device()
    interrupts(machine, {40: ((0, 1), "vfio-msix[0](0000:00:03.0)")})
    sysfs_counts(machine, 41, (0, 0))
    before = observer.snapshot([dev])
    interrupts(machine, {})
    sysfs_counts(machine, 40, (0, 1, 9))  # sysfs counts CPU2 too, offline throughout
    deliveries, requested = fire_step(observer, dev, before)
    assert deliveries == {}
    assert requested == {0: False, 1: False}


def test_a_hotplug_step_counts_from_sysfs_which_keeps_offline_cpus(machine: Path) -> None:
    observer, dev = Observer(machine, "s"), Device()
    interrupts(machine, {40: ((1,), "vfio-msix[0](0000:00:03.0)")}, cpus=(0,))
    sysfs_counts(machine, 40, (1, 7), "vfio-msix[0](0000:00:03.0)")  # CPU1 offline, had 7
    before = observer.snapshot([dev], hotplug=True)
    assert before.per_irq[40] == {0: 1, 1: 7} and before.cpus is None
    interrupts(machine, {40: ((1, 9), "vfio-msix[0](0000:00:03.0)")})
    sysfs_counts(machine, 40, (1, 9), "vfio-msix[0](0000:00:03.0)")
    deliveries, requested = fire_step(observer, dev, before)
    assert deliveries == {0: ((1, 2),)}  # not 9: the column CPU1 lacked before
    assert requested == {0: True, 1: False}  # handlers still from the small text


def test_a_large_text_leaves_counts_and_handlers_to_sysfs(machine: Path) -> None:
    observer, dev = Observer(machine, "s"), Device()
    padding = {irq: ((1, 1), "other") for irq in range(100, 100 + SEARCHED_TEXT_LIMIT // 60)}
    interrupts(machine, {40: ((1, 2), "vfio-msix[0](0000:00:03.0)"), **padding})
    sysfs_counts(machine, 41, (0, 0), "vfio-msix[1](0000:00:03.0)")
    before = observer.snapshot([dev])
    assert before.per_irq[40] == {0: 500, 1: 500} and before.cpus is None
    sysfs_counts(machine, 40, (500, 504), "")
    deliveries, requested = fire_step(observer, dev, before)
    assert deliveries == {0: ((1, 4),)}
    assert requested == {0: False, 1: True}


def test_cpus_changing_outside_a_hotplug_step_are_noted_and_left_out(machine: Path) -> None:
    observer, dev = Observer(machine, "s"), Device()
    interrupts(machine, {40: ((1, 2), "vfio-msix[0](0000:00:03.0)")})
    before = observer.snapshot([dev])
    interrupts(machine, {40: ((3, 2, 5), "vfio-msix[0](0000:00:03.0)")}, cpus=(0, 1, 2))
    deliveries, _ = fire_step(observer, dev, before)
    assert deliveries == {0: ((0, 2),)}  # CPU2's 5 is not known to be the step's
    assert any("online CPUs changed" in line for line in observer.anomalies)


def test_a_fire_is_lost_only_when_no_handler_ran_for_it(
    machine: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The eventfd counts the handler's runs; the per-CPU counts can miss an edge
    replayed by a handler still running on the CPU the irq just left."""
    observer = Observer(machine, "s")
    monkeypatch.setattr(observer, "_pending", lambda dev, entry: False)
    for signalled, lost in ((3, 0), (2, 1)):
        fd = os.eventfd(0, os.EFD_NONBLOCK)
        dev = Device(eventfds={0: fd})
        interrupts(machine, {40: ((1, 2), "vfio-msix[0](0000:00:03.0)"), 41: ((0, 0), "")})
        before = observer.snapshot([dev])
        interrupts(machine, {40: ((1, 4), "vfio-msix[0](0000:00:03.0)"), 41: ((0, 0), "")})
        os.eventfd_write(fd, signalled)
        fired = Fired(dev, 0, times=3)  # type: ignore[arg-type]
        outcome = observer.outcome(1, "fire", [dev], before, None, None, fired, allocates=False)
        os.close(fd)
        [delivery] = [d for d in outcome.deliveries if d.entry == 0]
        assert (delivery.per_cpu, delivery.eventfd) == (((1, 2),), signalled)
        assert outcome.lost == lost
