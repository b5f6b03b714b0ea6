"""A fake libc `ioctl` for the VFIO tests: the code under test runs unchanged above it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import hil.vfio.ioctl
from hil.vfio.cdefs import ffi


class FakeVfioKernel:
    """Stands in for libc `ioctl`: answers by request number, records every call.

    A handler gets (fd, arg) where arg is the cdata the code passed (a
    `void *` or an `unsigned long`) and returns the syscall result; `fail`
    sets errno the way libc would and returns -1.
    """

    def __init__(self) -> None:
        self.handlers: dict[int, Callable[[int, Any], int]] = {}
        self.calls: list[tuple[int, int]] = []
        self.sent: list[bytes] = []

    def __call__(self, fd: int, request: Any, arg: Any) -> int:
        number = int(ffi.cast("unsigned long", request))
        self.calls.append((fd, number))
        return self.handlers[number](fd, arg)

    @staticmethod
    def fail(errno: int) -> int:
        ffi.errno = errno
        return -1

    def capture(self, arg: Any) -> bytes:
        """Copy the argsz bytes of a VFIO request struct the code passed in."""
        argsz = ffi.cast("uint32_t *", arg)[0]
        data = bytes(ffi.buffer(ffi.cast("char *", arg), argsz))
        self.sent.append(data)
        return data


@pytest.fixture
def fake_kernel(monkeypatch: pytest.MonkeyPatch) -> FakeVfioKernel:
    kernel = FakeVfioKernel()
    monkeypatch.setattr(hil.vfio.ioctl, "_libc_ioctl", kernel)
    return kernel
