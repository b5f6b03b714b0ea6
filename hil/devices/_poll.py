"""Waiting for a device with a deadline.

Every device here finishes some work later than the register write that
started it (edu's DMA after 100 ms of guest time, an NVMe controller becoming
ready, a DSA command).  A driver that waited without a deadline would hang a
whole lab run on one broken device, so every wait goes through `poll_until`.
A device that stopped answering does not wait for the deadline at all: on a
lab machine the register reads of `done()` go through `hil.devices.answering`,
and the first read of all ones that the vendor ID confirms ends the poll with
`DeviceStoppedAnswering`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from hil.devices.base import DeviceError


@dataclass(frozen=True)
class PollPolicy:
    """How long to wait for a device and how often to look."""

    timeout_s: float = 2.0
    interval_s: float = 0.002


def poll_until(
    done: Callable[[], bool],
    *,
    what: str,
    policy: PollPolicy,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Return once `done()` is true; raise DeviceError naming `what` at the deadline."""
    deadline = clock() + policy.timeout_s
    while not done():
        if clock() >= deadline:
            raise DeviceError(f"timed out after {policy.timeout_s:g} s waiting for {what}")
        sleep(policy.interval_s)
