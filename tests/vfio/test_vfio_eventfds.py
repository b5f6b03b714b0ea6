"""EventfdSet with real eventfds written from another thread."""

from __future__ import annotations

import os
import threading
import time

from hil.vfio.eventfds import EventfdSet


def write_later(fd: int, value: int, delay_s: float) -> threading.Thread:
    def run() -> None:
        time.sleep(delay_s)
        os.eventfd_write(fd, value)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_read_all_drains_without_blocking() -> None:
    with EventfdSet(3) as events:
        os.eventfd_write(events.fds[1], 2)
        assert events.read_all() == [0, 2, 0]
        assert events.read_all() == [0, 0, 0]


def test_wait_returns_as_soon_as_expected_counts_arrive() -> None:
    with EventfdSet(2) as events:
        threads = [write_later(events.fds[0], 1, 0.05), write_later(events.fds[1], 3, 0.1)]
        start = time.monotonic()
        counts = events.wait({0: 1, 1: 3}, deadline_s=5.0)
        elapsed = time.monotonic() - start
        for thread in threads:
            thread.join()
    assert counts == [1, 3]
    assert elapsed < 2.0


def test_wait_gives_what_arrived_when_the_deadline_passes() -> None:
    with EventfdSet(2) as events:
        os.eventfd_write(events.fds[0], 1)
        start = time.monotonic()
        counts = events.wait({0: 1, 1: 1}, deadline_s=0.2)
        elapsed = time.monotonic() - start
    assert counts == [1, 0]
    assert 0.15 <= elapsed < 2.0


def test_wait_with_predicate_accumulates_over_several_signals() -> None:
    with EventfdSet(1) as events:
        fd = events.fds[0]
        threads = [write_later(fd, 1, delay) for delay in (0.02, 0.06, 0.1)]
        counts = events.wait(lambda seen: seen[0] >= 3, deadline_s=5.0)
        for thread in threads:
            thread.join()
    assert counts == [3]


def test_fds_are_nonblocking_and_cloexec() -> None:
    with EventfdSet(1) as events:
        fd = events.fds[0]
        assert not os.get_blocking(fd)
        assert not os.get_inheritable(fd)


def test_close_closes_every_fd() -> None:
    events = EventfdSet(2)
    fds = events.fds
    events.close()
    for fd in fds:
        try:
            os.fstat(fd)
        except OSError:
            continue
        raise AssertionError(f"fd {fd} still open")
