"""One call site for libc `ioctl`, so errno is read right after the syscall.

Python's `fcntl.ioctl` hides the return value when given a buffer, but VFIO
returns data there (the device fd of GROUP_GET_DEVICE_FD, the grantable
count of SET_IRQS), so the call goes through cffi instead.
"""

from __future__ import annotations

import os
from typing import Any

from hil.vfio.cdefs import IOCTL_NAMES, ffi, lib
from hil.vfio.errors import VfioError

_libc_ioctl: Any = lib.ioctl
"""Module attribute so unit tests can put a fake syscall in its place."""


def vfio_ioctl(fd: int, request: int, arg: Any = None) -> int:
    """Issue `request` on `fd` and return the syscall's result; -1 becomes VfioError.

    `arg` is a cffi pointer (passed as `void *`), an int passed by value
    (CHECK_EXTENSION, SET_IOMMU) or None.  The variadic `...` of ioctl
    needs explicit C types, hence the casts.
    """
    if arg is None:
        c_arg = ffi.cast("unsigned long", 0)
    elif isinstance(arg, int):
        c_arg = ffi.cast("unsigned long", arg)
    else:
        c_arg = ffi.cast("void *", arg)
    result = int(_libc_ioctl(fd, ffi.cast("unsigned long", request), c_arg))
    if result == -1:
        errno = ffi.errno
        op = IOCTL_NAMES.get(request, f"ioctl {request:#x}")
        raise VfioError(op, errno, os.strerror(errno))
    return result
