"""Every vector of every device fires exactly once and lands where the model says."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hil.model.steps import Disable, Enable, Fire
from hil.model.vocabulary import IrqIndex
from hil.scenario.client import AttachedDevice
from hil.scenario.runner import RunResult

pytestmark = [pytest.mark.hil, pytest.mark.virtlab]

MAX_FIRED_VECTORS = 64
"""Each vector fires in its own judged step (about a second under TCG); a table
larger than this is there to exhaust the vector space (test_vector_exhaustion)."""


@pytest.mark.hil_device(profiles=["igb", "e1000e", "edu", "ivshmem-doorbell"])
def test_every_vector_fires_once_on_the_predicted_cpu(
    device: AttachedDevice, hil_run: Callable[..., RunResult]
) -> None:
    if device.msix_count > MAX_FIRED_VECTORS:
        pytest.skip(
            f"{device.name} has {device.msix_count} MSI-X entries, more than the "
            f"{MAX_FIRED_VECTORS} this test fires one step each; "
            "test_vector_exhaustion requests it to the last free vector"
        )
    if device.msix_count:
        index, count = IrqIndex.MSIX, device.msix_count
    else:
        index, count = IrqIndex.MSI, 1
    steps = [Enable(device.name, index, count)]
    steps += [Fire(device.name, k) for k in range(count)]
    steps.append(Disable(device.name))
    result = hil_run(steps)
    # hil_run already judged every count and CPU against the model; here: each
    # fire reached its own vector and no other one.
    for record in result.records:
        if isinstance(record.step, Fire):
            reached = {d.entry for d in record.observed.deliveries if d.total}
            assert reached == {record.step.entry}, f"{record.step}: {record.observed.deliveries}"


@pytest.mark.hil_device(profiles=["e1000e", "igb"])
def test_more_vectors_than_the_table_is_einval(
    device: AttachedDevice, hil_run: Callable[..., RunResult]
) -> None:
    result = hil_run([Enable(device.name, IrqIndex.MSIX, device.msix_count + 1)])
    assert result.records[0].observed.errno == "EINVAL"
