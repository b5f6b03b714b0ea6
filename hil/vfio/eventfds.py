"""Eventfds that VFIO signals when a vector fires, and waiting on them.

Each eventfd is a counter: the kernel adds 1 per interrupt, a read returns
the sum and resets it.  Waiting uses epoll so a test returns the moment the
last expected interrupt lands and never misses one between two sleeps.
"""

from __future__ import annotations

import os
import select
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType

Expectation = Mapping[int, int] | Callable[[Sequence[int]], bool]
"""Either {position: minimum count} or a predicate over the counts so far."""


class EventfdSet:
    """`count` non-blocking, close-on-exec eventfds, one per vector position."""

    def __init__(self, count: int) -> None:
        self._fds: list[int] = []
        self._epoll = select.epoll()
        try:
            for _ in range(count):
                fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
                self._fds.append(fd)
                self._epoll.register(fd, select.EPOLLIN)
        except BaseException:
            self.close()
            raise
        self._position = {fd: position for position, fd in enumerate(self._fds)}

    @property
    def fds(self) -> list[int]:
        return list(self._fds)

    def read_all(self) -> list[int]:
        """Drain every counter without blocking; a counter at zero reads as 0."""
        return [_drain(fd) for fd in self._fds]

    def wait(self, expected: Expectation, deadline_s: float) -> list[int]:
        """Count signals until `expected` holds or `deadline_s` seconds have passed.

        Returns the counts drained during this call (whatever arrived, even
        when the deadline passed first), so the caller can report lost or
        spurious interrupts instead of only "timed out".
        """
        reached = _predicate(expected)
        counts = self.read_all()
        end = time.monotonic() + deadline_s
        while not reached(counts):
            remaining = end - time.monotonic()
            if remaining <= 0:
                break
            for fd, _ in self._epoll.poll(remaining):
                counts[self._position[fd]] += _drain(fd)
        return counts

    def close(self) -> None:
        self._epoll.close()
        for fd in self._fds:
            os.close(fd)
        self._fds = []

    def __enter__(self) -> EventfdSet:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _drain(fd: int) -> int:
    try:
        return os.eventfd_read(fd)
    except BlockingIOError:
        return 0


def _predicate(expected: Expectation) -> Callable[[Sequence[int]], bool]:
    if callable(expected):
        return expected
    minimums = dict(expected)
    return lambda counts: all(counts[position] >= need for position, need in minimums.items())
