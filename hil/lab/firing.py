"""Paced fires: a device raises one vector again and again, each interrupt
awaited and acknowledged before the next.

Pacing is what makes a burst countable: two edges sent before the first is
handled can merge in the CPU's IRR (or in the vector's pending bit), and a
merged edge is indistinguishable from a lost one.
"""

from __future__ import annotations

import os
import select
from dataclasses import dataclass

from hil.lab.opened import OpenedDevice


@dataclass(frozen=True)
class PacedFires:
    fired: int
    """Fires sent, including one whose interrupt did not arrive in time."""
    received: int
    """Eventfd counts read (and so consumed) along the way."""


def paced_fires(dev: OpenedDevice, entry: int, count: int, deadline_s: float) -> PacedFires:
    """Fire `entry` up to `count` times; stop at the first fire that does not arrive.

    The eventfd is the pace: without one (a vector with no handler) nothing
    can tell when the previous edge was taken, so the caller must refuse.
    """
    fd = dev.eventfds[entry]
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    fired = received = 0
    while fired < count:
        dev.driver.fire(entry)
        fired += 1
        if not poller.poll(int(deadline_s * 1000)):
            break
        received += int.from_bytes(os.read(fd, 8), "little")
        dev.driver.acknowledge(entry)
    return PacedFires(fired, received)
