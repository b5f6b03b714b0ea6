"""A fire that never arrives: a dead device ends the step with its evidence, a live one is judged.

The machine runs in process over a bare fake root (no irqs, an empty kernel
log) with an igb register double behind the same AnsweringIO a lab machine
hands its drivers, and a real eventfd that only a delivered interrupt would
signal.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

import hil.lab.machine
from hil.devices.answering import AnsweringIO, DeviceStoppedAnswering
from hil.devices.igb import EICS, IgbDriver
from hil.lab.machine import MachineOps
from hil.lab.opened import OpenedDevice
from hil.lab.transport.local import LocalTransport
from hil.lab.transport.protocol import AgentError
from hil.model.codec import encode
from hil.model.steps import Fire
from tests.devices.doubles.igb import IgbDouble

DEADLINE_S = 0.05
LINK_DOWN = "pcieport 0000:00:1c.0: pciehp: Slot(1): Link Down"


@pytest.fixture
def ops(tmp_path: Path, root: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MachineOps]:
    monkeypatch.setattr(hil.lab.machine, "FIRE_DEADLINE_S", DEADLINE_S)
    machine = MachineOps(tmp_path / "state", "bench", root)
    yield machine
    for dev in machine.devices.values():
        dev.close_eventfds()


@pytest.fixture
def igb(ops: MachineOps) -> IgbDouble:
    """igb0 attached as attach_device leaves it: vector 0 enabled and requested."""
    double = IgbDouble()
    presence = double.io.presence("igb0")
    driver = IgbDriver()
    driver.init(AnsweringIO(double.io, presence))
    driver.enable_vectors(1)
    ops.devices["igb0"] = OpenedDevice(
        "igb0", double.io.bdf, driver, None, ExitStack(), double.io, None, None, presence,
        count=1, eventfds={0: os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)},
        known_entries={0},
    )  # fmt: skip
    return double


def _fire(times: int = 1) -> dict[str, Any]:
    """A fire step as it crosses the wire."""
    step: dict[str, Any] = encode(Fire("igb0", 0, times))
    return step


def test_silence_of_a_device_that_stopped_answering_ends_the_step(
    ops: MachineOps, igb: IgbDouble, root: Path
) -> None:
    driver = ops.devices["igb0"].driver
    fire = driver.fire

    def fire_as_the_link_drops(vector: int) -> None:
        with (root / "dev/kmsg").open("a") as kmsg:
            kmsg.write(f"3,1201,5123456,-;{LINK_DOWN}\n")
        fire(vector)

    driver.fire = fire_as_the_link_drops  # type: ignore[method-assign]
    igb.io.stop_answering()
    with pytest.raises(AgentError) as failure:
        LocalTransport(ops).call("run_step", {"number": 1, "step": _fire()})
    assert failure.value.kind == "DeviceStoppedAnswering"
    message = failure.value.remote_message
    assert message.startswith(
        "igb0 (0000:00:04.0) stopped answering: no interrupt from vector 0 within 0.05 s; "
        "config read of vendor ID returned 0xffff "
        "(all ones: link down, surprise removal or hung device)"
    )
    assert f"kernel log during the step:\n  {LINK_DOWN}" in message


def test_a_burst_on_a_device_that_stopped_answering_stops_at_its_first_silent_fire(
    ops: MachineOps, igb: IgbDouble
) -> None:
    igb.io.stop_answering()
    start = time.monotonic()
    with pytest.raises(DeviceStoppedAnswering, match="no interrupt from vector 0"):
        ops.run_step(1, _fire(times=5))
    assert time.monotonic() - start < 1.0
    assert [w for w in igb.bar0.writes if w[1] == EICS] == [(0, EICS, 4, 1)]


def test_a_healthy_device_that_did_not_deliver_is_judged_not_failed(
    ops: MachineOps, igb: IgbDouble
) -> None:
    # Nothing signals the eventfd: the interrupt was lost, a finding the model judges.
    outcome = ops.run_step(1, _fire())
    assert igb.io.fired == [0], "the device did fire"
    assert outcome.lost == 1
    assert [d.entry for d in outcome.deliveries] == [0]
