"""Private state files that a root process can trust after a crash.

The journal and the lease files decide which drivers get rebound and who
may touch a device, and they are written by root on shared machines.  A
file that another user planted, swapped for a symlink or left half written
would make root act on someone else's words, so every file here is 0600 in
a 0700 directory owned by the writer, opened with O_NOFOLLOW, and replaced
only by rename of a fully synced temporary (a reader sees the old content or
the new, never a torn one, even across power loss).

All operations go through a descriptor of the directory (`dir_fd`), so the
directory cannot be swapped between the check and the use.  Temporaries
start with a dot and end with `.tmp`; listings skip them.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700
TEMP_SUFFIX = ".tmp"

Checkpoint = Callable[[str], None]
"""Called with "temp-written" and "renamed" during `write_private_file`, so that
callers can inject faults exactly between the steps of an atomic write."""


class UnsafePathError(Exception):
    """A path that must not be trusted: a symlink, not ours, or too open."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def _no_checkpoint(_step: str) -> None:
    return None


def _check_owner(path: Path | str, st: os.stat_result) -> None:
    if st.st_uid != os.geteuid():
        raise UnsafePathError(path, f"owned by uid {st.st_uid}, not by uid {os.geteuid()}")


@contextmanager
def _opened_dir(path: Path) -> Iterator[int]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENOTDIR) and path.is_symlink():
            raise UnsafePathError(path, "is a symlink; refusing to follow it") from error
        raise
    try:
        st = os.fstat(fd)
        _check_owner(path, st)
        if st.st_mode & 0o077:
            raise UnsafePathError(path, f"mode {stat.S_IMODE(st.st_mode):04o} is open to others")
        yield fd
    finally:
        os.close(fd)


def ensure_private_dir(path: Path) -> None:
    """Create `path` as a 0700 directory, or tighten one of ours that is too open.

    A directory owned by someone else, or a symlink in its place, is refused:
    whoever controls it could swap the files root reads.
    """
    try:
        os.makedirs(path, mode=PRIVATE_DIR_MODE, exist_ok=True)
    except FileExistsError as error:
        raise UnsafePathError(path, "exists and is not a directory") from error
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        raise UnsafePathError(path, "is a symlink; refusing to follow it")
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePathError(path, "exists and is not a directory")
    _check_owner(path, st)
    if stat.S_IMODE(st.st_mode) != PRIVATE_DIR_MODE:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            os.fchmod(fd, PRIVATE_DIR_MODE)
        finally:
            os.close(fd)


def _refuse_symlink_at(dir_fd: int, name: str, path: Path) -> None:
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        raise UnsafePathError(path, "is a symlink; refusing to replace it")
    if not stat.S_ISREG(st.st_mode):
        raise UnsafePathError(path, "exists and is not a regular file")


def write_private_file(path: Path, data: bytes, checkpoint: Checkpoint = _no_checkpoint) -> None:
    """Replace `path` with `data` atomically and durably, as a 0600 file.

    Order: write and fsync a temporary, rename it over `path`, fsync the
    directory.  After a crash at any point `path` holds either its old
    content (or is absent) or all of `data`.
    """
    name = path.name
    temp = f".{name}.{secrets.token_hex(6)}{TEMP_SUFFIX}"
    with _opened_dir(path.parent) as dir_fd:
        _refuse_symlink_at(dir_fd, name, path)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(temp, flags, PRIVATE_FILE_MODE, dir_fd=dir_fd)
        try:
            os.fchmod(fd, PRIVATE_FILE_MODE)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            os.unlink(temp, dir_fd=dir_fd)
            raise
        os.close(fd)
        checkpoint("temp-written")
        try:
            _refuse_symlink_at(dir_fd, name, path)
            os.rename(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            os.unlink(temp, dir_fd=dir_fd)
            raise
        checkpoint("renamed")
        os.fsync(dir_fd)


def read_private_file(path: Path) -> bytes:
    """The content of `path`, refusing symlinks, non-regular files and files others could write.

    O_NONBLOCK keeps a FIFO planted in place of the file from hanging the reader.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise UnsafePathError(path, "is a symlink; refusing to follow it") from error
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafePathError(path, "is not a regular file")
        _check_owner(path, st)
        if st.st_mode & 0o077:
            raise UnsafePathError(path, f"mode {stat.S_IMODE(st.st_mode):04o} is open to others")
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def remove_private_file(path: Path) -> bool:
    """Unlink `path` durably; False if it was already gone (removal is idempotent)."""
    with _opened_dir(path.parent) as dir_fd:
        try:
            os.unlink(path.name, dir_fd=dir_fd)
        except FileNotFoundError:
            return False
        os.fsync(dir_fd)
        return True


def private_file_names(directory: Path) -> list[str]:
    """Sorted names of the finished files in `directory` (temporaries left out)."""
    with _opened_dir(directory) as dir_fd:
        return sorted(
            name
            for name in os.listdir(dir_fd)
            if not (name.startswith(".") and name.endswith(TEMP_SUFFIX))
        )


def remove_stale_temporaries(directory: Path, target_prefix: str) -> list[str]:
    """Remove temporaries left by a writer killed before its rename.

    Only temporaries of targets starting with `target_prefix` are touched,
    so a caller clears its own leftovers and never a live writer's.
    """
    removed = []
    with _opened_dir(directory) as dir_fd:
        for name in os.listdir(dir_fd):
            if name.startswith(f".{target_prefix}") and name.endswith(TEMP_SUFFIX):
                os.unlink(name, dir_fd=dir_fd)
                removed.append(name)
        if removed:
            os.fsync(dir_fd)
    return sorted(removed)


def open_private_lock(path: Path) -> int:
    """A descriptor of the 0600 lock file `path`, created if missing, for `fcntl.flock`.

    Lock files are never deleted: unlinking one while another process waits
    on it would let two processes hold "the" lock on two different inodes.
    """
    with _opened_dir(path.parent) as dir_fd:
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
        try:
            fd = os.open(path.name, flags, PRIVATE_FILE_MODE, dir_fd=dir_fd)
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise UnsafePathError(path, "is a symlink; refusing to follow it") from error
            raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafePathError(path, "is not a regular file")
        _check_owner(path, st)
        if st.st_mode & 0o077:
            raise UnsafePathError(path, f"mode {stat.S_IMODE(st.st_mode):04o} is open to others")
    except BaseException:
        os.close(fd)
        raise
    return fd
