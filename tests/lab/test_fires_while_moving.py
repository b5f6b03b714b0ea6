"""Fires racing an affinity writer: paced, counted, and the writer always ends on the last mask."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import cast

from hil.lab.firing import fires_while_moving
from hil.lab.opened import OpenedDevice

MASKS = ((1,), (2,), (1, 2), (3,))


@dataclass
class _Driver:
    fd: int
    fired: int = 0

    def fire(self, entry: int) -> None:
        self.fired += 1
        os.eventfd_write(self.fd, 1)  # the interrupt arrives at once

    def acknowledge(self, entry: int) -> None:
        pass


@dataclass
class _Device:
    driver: _Driver
    eventfds: dict[int, int] = field(default_factory=dict)


def _device() -> _Device:
    fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
    return _Device(_Driver(fd), {0: fd})


def test_every_fire_is_paced_and_counted_while_the_masks_are_written() -> None:
    dev = _device()
    written: list[tuple[int, ...]] = []
    lock = threading.Lock()

    def write(cpus: tuple[int, ...]) -> str | None:
        with lock:
            written.append(cpus)
        return None

    moving = fires_while_moving(cast(OpenedDevice, dev), 0, 50, MASKS, write, 1.0)
    assert moving.paced.fired == 50 and moving.paced.received == 50
    assert moving.errno is None
    assert moving.writes == len(written) >= len(MASKS), "at least one whole round"
    assert written[-1] == MASKS[-1], "the writer always ends its round on the last mask"
    assert written[: len(MASKS)] == list(MASKS), "rounds go through the masks in order"
    os.close(dev.eventfds[0])


def test_a_refused_write_is_reported_and_the_fires_go_on() -> None:
    dev = _device()
    moving = fires_while_moving(
        cast(OpenedDevice, dev), 0, 5, MASKS, lambda cpus: "EINVAL" if 3 in cpus else None, 1.0
    )
    assert moving.errno == "EINVAL"
    assert moving.paced.received == 5
    os.close(dev.eventfds[0])
