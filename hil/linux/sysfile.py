"""Reading and writing single kernel attribute files (sysfs, procfs, tracefs).

Kernel attributes report failure through the errno of `write(2)`, and that
errno is often the very thing a test observes (EBUSY, ENOSPC, EINVAL).  A
buffered `open().write()` could split or delay the write and blur which call
failed, so writes go through one unbuffered `os.write`.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path


def read_attr(path: str | Path) -> str:
    """The attribute's text without its trailing newline; OSError if unreadable.

    Read with bare `os` calls: a step reads dozens of attributes, and in a TCG
    guest the text-file layers of `open()` cost more than the read itself.
    """
    return _read(path, until_empty=True)


def read_record(path: str | Path) -> str:
    """Like `read_attr`, for a file the kernel hands out whole to one read: a
    sysfs attribute, a /proc/irq/N file (one seq_file record).  A multi-record
    procfs file such as /proc/interrupts comes a page per read: `read_attr`.

    Without the empty read that finds the end: a syscall less per attribute,
    of the dozens a step reads.
    """
    return _read(path, until_empty=False)


def _read(path: str | Path, until_empty: bool) -> str:
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = [os.read(fd, READ_SIZE)]
        # A record that fills the buffer may go on: read to the end.
        if until_empty or len(chunks[0]) == READ_SIZE:
            while chunks[-1]:  # procfs hands out a page per read
                chunks.append(os.read(fd, READ_SIZE))
    finally:
        os.close(fd)
    return b"".join(chunks).decode("ascii", "replace").rstrip("\n")


READ_SIZE = 65536


def read_optional(path: str | Path) -> str | None:
    """Like `read_attr`, but None when the attribute does not exist."""
    try:
        return read_attr(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def read_optional_record(path: str | Path) -> str | None:
    """Like `read_record`, but None when the attribute does not exist."""
    try:
        return read_record(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def write_attr(path: str | Path, text: str) -> None:
    """Write `text` to the attribute in one `write(2)`; OSError carries the kernel's errno."""
    _write_once(path, text, os.O_WRONLY | os.O_TRUNC)


def append_attr(path: Path, text: str) -> None:
    """Like `write_attr`, opened for append: for command files such as tracefs's
    `kprobe_events`, where opening with O_TRUNC means "delete every entry"."""
    _write_once(path, text, os.O_WRONLY | os.O_APPEND)


def _write_once(path: str | Path, text: str, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        data = text.encode("ascii")
        written = os.write(fd, data)
        if written != len(data):
            raise OSError(errno.EIO, f"short write ({written} of {len(data)} bytes)", str(path))
    finally:
        os.close(fd)


def errno_name(error: OSError) -> str:
    """Symbolic name ("ENOSPC") of an OSError's errno, as the vocabulary records it."""
    if error.errno is None:
        return "EIO"
    return errno.errorcode.get(error.errno, f"E{error.errno}")
