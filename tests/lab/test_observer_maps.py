"""The Observer reads a device's entry -> irq map once per step, not twice.

The map an outcome read is the next snapshot's, once: a step that ends in an
error, or a device that is attached again, has its map read anew.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hil.lab.observe import Observer

BDF = "0000:00:03.0"


@dataclass
class Device:
    """What the Observer reads of an opened device when no entry is known yet."""

    name: str = "igb0"
    bdf: str = BDF
    index: None = None
    eventfds: dict[int, int] = field(default_factory=dict)
    known_entries: set[int] = field(default_factory=set)


@pytest.fixture
def machine(root: Path, msix_vectors: Callable[[str, dict[int, int]], None]) -> Path:
    """Two MSI-X vectors of the device: entries 0 and 1 on irqs 40 and 41."""
    msix_vectors(BDF, {0: 40, 1: 41})
    for irq in (40, 41):
        (root / f"sys/kernel/irq/{irq}/per_cpu_count").write_text("1,2\n")
    return root


def test_the_next_snapshot_takes_the_map_of_the_last_outcome(machine: Path) -> None:
    observer, dev = Observer(machine, "s"), Device()
    observer.outcome(1, "enable", [dev], observer.snapshot([dev]), None, None, None)
    shutil.rmtree(machine / "sys/bus/pci/devices" / BDF / "msi_irqs")
    assert set(observer.snapshot([dev]).per_irq) == {40, 41}  # not read again
    assert observer.snapshot([dev]).per_irq == {}  # taken once: read anew


def test_a_device_attached_again_has_its_map_read_anew(machine: Path) -> None:
    observer, dev = Observer(machine, "s"), Device()
    observer.outcome(1, "enable", [dev], observer.snapshot([dev]), None, None, None)
    shutil.rmtree(machine / "sys/bus/pci/devices" / BDF / "msi_irqs")
    observer.forget(dev)
    assert observer.snapshot([dev]).per_irq == {}


def test_a_step_that_allocates_nothing_keeps_its_map_while_the_irqs_stay(machine: Path) -> None:
    observer, dev = Observer(machine, "s"), Device()
    before = observer.snapshot([dev])
    (machine / "sys/kernel/irq/41/hwirq").write_text("7\n")  # not read again
    observer.outcome(1, "fire", [dev], before, None, None, None, allocates=False)
    assert observer._maps[BDF] == {0: 40, 1: 41}


def test_an_allocating_step_or_a_changed_irq_list_reads_the_map_again(machine: Path) -> None:
    observer, dev = Observer(machine, "s"), Device()
    before = observer.snapshot([dev])
    (machine / "sys/kernel/irq/41/hwirq").write_text("7\n")
    observer.outcome(1, "enable", [dev], before, None, None, None, allocates=True)
    assert observer._maps[BDF] == {0: 40, 7: 41}
    before = observer.snapshot([dev])
    (machine / "sys/bus/pci/devices" / BDF / "msi_irqs/41").unlink()
    observer.outcome(2, "fire", [dev], before, None, None, None, allocates=False)
    assert observer._maps[BDF] == {0: 40}
