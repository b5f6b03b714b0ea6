"""Paced fires: a device raises one vector again and again, each interrupt
awaited and acknowledged before the next.

Pacing is what makes a burst countable: two edges sent before the first is
handled can merge in the CPU's IRR (or in the vector's pending bit), and a
merged edge is indistinguishable from a lost one.
"""

from __future__ import annotations

import os
import select
import threading
from collections.abc import Callable, Sequence
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
            check_silence(dev, entry, deadline_s)
            break
        received += int.from_bytes(os.read(fd, 8), "little")
        dev.driver.acknowledge(entry)
    return PacedFires(fired, received)


def check_silence(dev: OpenedDevice, entry: int | None, deadline_s: float) -> None:
    """A fire's interrupt did not come in time: if the device stopped answering, say so.

    A healthy device that did not deliver is a finding of the step (a lost
    interrupt, judged against the model); a device that reads all ones is
    not worth judging, and every later fire would only wait out its deadline.
    """
    which = "its stored message" if entry is None else f"vector {entry}"
    dev.presence.check(after=f"no interrupt from {which} within {deadline_s:g} s")


@dataclass(frozen=True)
class MovingFires:
    paced: PacedFires
    writes: int
    """Affinity writes made while the fires ran (at least one round of the masks)."""
    errno: str | None
    """The first write the kernel refused, if any."""


def fires_while_moving(
    dev: OpenedDevice,
    entry: int,
    count: int,
    masks: Sequence[tuple[int, ...]],
    write: Callable[[tuple[int, ...]], str | None],
    deadline_s: float,
) -> MovingFires:
    """`count` paced fires here while a second thread writes `masks` in turn, round
    after round, as fast as the kernel takes them; once the fires are done it ends
    its round, so the last write is always `masks[-1]`.

    Pacing is what keeps the count honest: a fire waits for its interrupt
    before the next, so no two edges can merge while the vector is masked
    mid-move, and every fire is one interrupt the eventfd must count.
    """
    done = threading.Event()
    writes = 0
    refused: list[str] = []

    def mover() -> None:
        nonlocal writes
        while True:
            for mask in masks:
                errno_name = write(mask)
                writes += 1
                if errno_name is not None:
                    refused.append(errno_name)
            if done.is_set():
                return

    thread = threading.Thread(target=mover, name="affinity-mover", daemon=True)
    thread.start()
    try:
        paced = paced_fires(dev, entry, count, deadline_s)
    finally:
        done.set()
        thread.join(timeout=deadline_s * len(masks) + deadline_s)
    if thread.is_alive():
        raise RuntimeError(f"the affinity writer was still writing {deadline_s:g} s per mask later")
    return MovingFires(paced, writes, refused[0] if refused else None)
