"""Running out of CPU vectors: where the kernel says ENOSPC, and where it does not.

x86 gives each CPU about 200 device vectors; a device with more MSI-X
entries than the machine has free vectors can exhaust them.  Reservation
mode makes allocation free of cost (every entry points at the shared
placeholder until `request_irq`), so only *requested* vectors count: against
the next request, and against taking a CPU offline (`lapic_can_unplug_cpu`:
its vectors must fit in the other CPUs' free ones).

The counts are the model's, from this machine's calibration: the test asks
it how many vectors are free, builds the steps around that number, and the
run judges every step against the model's prediction.  If the calibration
miscounts a CPU by one, the predicted ENOSPC lands on the wrong step and the
run fails, which is the point.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hil.model.model import InterruptModel
from hil.model.steps import CpuOffline, CpuOnline, Disable, Enable, Fire, Request, Step
from hil.model.vocabulary import IrqIndex
from hil.plugin.session import LabMachine
from hil.scenario.client import AttachedDevice
from hil.scenario.runner import RunResult

pytestmark = [pytest.mark.hil, pytest.mark.virtlab]

HEADROOM = 2
"""Free vectors left before the single requests: the first HEADROOM succeed, the next fails."""


@pytest.mark.hil_device(profiles=["ivshmem-doorbell"])
def test_requested_vectors_exhaust_the_cpus_and_unrequested_ones_cost_nothing(
    machine: LabMachine,
    device: AttachedDevice,
    model: InterruptModel,
    hil_run: Callable[..., RunResult],
) -> None:
    online = model.online_cpus()
    free = sum(model.available(cpu) for cpu in online)
    table = device.msix_count
    if table <= free:
        pytest.skip(
            f"{device.name} has {table} MSI-X entries; exhausting {machine.name} needs more "
            f"than its {free} free vectors on {len(online)} CPUs (inventory: ivshmem `vectors`)"
        )
    unplug = max(online)
    if unplug == 0:
        pytest.skip(f"{machine.name} has no online CPU but CPU 0, which x86 does not unplug")
    granted = free - HEADROOM
    everything = tuple(range(table))
    steps: list[Step] = [
        # Every entry allocated, none requested: more reservations than free
        # vectors, and still nothing is taken from any CPU.
        Enable(device.name, IrqIndex.MSIX, table, unrequested=everything),
        CpuOffline(unplug),
        CpuOnline(unplug),
        Disable(device.name),
        # All requested at once: the request past the last free vector fails
        # and vfio rolls the whole block back.
        Enable(device.name, IrqIndex.MSIX, table),
        # Fill all but HEADROOM, then one by one to the end.
        Enable(device.name, IrqIndex.MSIX, table, unrequested=everything[granted:]),
        *(Request(device.name, entry) for entry in range(granted, free + 1)),
        # A full machine cannot give up a CPU.
        CpuOffline(unplug),
        Fire(device.name, 0),
        Disable(device.name),
    ]
    result = hil_run(steps)

    by_step = [(r.step, r.prediction.outcome.errno, r.observed.errno) for r in result.records]
    intended = {
        1: None,  # offline with only reservations
        4: "ENOSPC",  # the whole table requested
        6 + HEADROOM: "ENOSPC",  # the request past the last free vector
        7 + HEADROOM: "ENOSPC",  # offline of a CPU when no other has room
    }
    for index, errno in intended.items():
        step, predicted, observed = by_step[index]
        # hil_run already compared model and machine; this says the steps were
        # built right, so agreement is about exhaustion and not something else.
        assert predicted == errno, f"step {index + 1} ({step}): the model predicts {predicted}"
        assert observed == errno, f"step {index + 1} ({step}): the machine said {observed}"
    for index in range(6, 6 + HEADROOM):
        assert by_step[index][2] is None, f"step {index + 1}: {by_step[index]}"
