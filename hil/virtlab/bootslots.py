"""A host-wide cap on guests booting at once, shared by every process of the user.

Booting a TCG guest keeps host cores busy for a minute (the kernel, then the
agent's Python imports); pytest-xdist workers each boot their own machines,
and four boots at once on two cores stalled the guests' RCU and missed the
boot deadline.  A boot holds one of `slots()` flock'ed files for its whole
length; the lock dies with its process, so a killed run never leaks a slot.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def slots() -> int:
    """One booting guest per two host cores, at least one."""
    return max(1, (os.cpu_count() or 1) // 2)


def slot_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"pcie-hil-boot-slots-{os.geteuid()}"


@contextmanager
def boot_slot(folder: Path | None = None, count: int | None = None) -> Iterator[int]:
    """Hold a boot slot: take a free one, else wait (blocking flock) for one."""
    folder = folder or slot_dir()
    folder.mkdir(mode=0o700, exist_ok=True)
    count = count or slots()
    fds = [os.open(folder / f"slot-{i}.lock", os.O_RDWR | os.O_CREAT, 0o600) for i in range(count)]
    try:
        taken = None
        for i, fd in enumerate(fds):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                taken = i
                break
            except BlockingIOError:
                continue
        if taken is None:
            taken = os.getpid() % count
            fcntl.flock(fds[taken], fcntl.LOCK_EX)
        yield taken
    finally:
        for fd in fds:
            os.close(fd)
