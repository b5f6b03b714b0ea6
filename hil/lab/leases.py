"""Leases on machines and devices, so two runs never share one.

A run that rebinds a device someone else is testing breaks both runs and
possibly the machine, so a device (and a machine in exclusive mode) is
leased before use.  A lease is a 0600 file per resource; every
read-decide-write on it happens under `fcntl.flock` of a per-resource lock
file, which makes acquisition race-free across processes, and the lease
file itself is replaced atomically so readers without the lock (`list`)
never see half a lease.

A holder that died without releasing must not block the lab forever: a
lease whose owner process is gone (same host, pid absent, exited, or reused
by a process with another start time) or whose TTL ran out is taken over,
with a warning in the returned `Lease` and in the log.  Owners on another
host can only be judged by their TTL, so long runs must `renew`.
"""

from __future__ import annotations

import builtins
import fcntl
import json
import logging
import os
import re
import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

from hil.lab.safefile import (
    ensure_private_dir,
    open_private_lock,
    private_file_names,
    read_private_file,
    remove_private_file,
    write_private_file,
)
from hil.linux.procstat import PROC, proc_stat

LEASE_FORMAT = 1
LEASE_SUFFIX = ".lease"
LOCK_SUFFIX = ".lock"

_RESOURCE = re.compile(r"[a-z][a-z0-9-]*:[^\s\x00-\x1f]{1,200}")

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeaseOwner:
    """Who holds a lease.  `pid_start` (field 22 of /proc/<pid>/stat) tells a live owner
    from an unrelated process that got the same pid later."""

    host: str
    pid: int
    session_id: str
    pid_start: int | None

    def __str__(self) -> str:
        return f"session {self.session_id} (pid {self.pid} on {self.host})"


@dataclass(frozen=True)
class Lease:
    resource: str
    owner: LeaseOwner
    token: str  # distinguishes this acquisition from a later one by the same owner
    started_at: float
    ttl: float
    expires_at: float
    takeover_warning: str | None = None  # set when a stale lease was taken over


@dataclass(frozen=True)
class LeaseInfo:
    """A lease as `hil leases` shows it; `stale` says why it could be taken over, if it could."""

    resource: str
    owner: LeaseOwner
    started_at: float
    expires_at: float
    stale: str | None


class LeaseError(Exception):
    """A lease file that cannot be trusted or used as asked."""


class LeaseBusy(LeaseError):
    def __init__(self, resource: str, owner: LeaseOwner, since: datetime) -> None:
        self.resource = resource
        self.owner = owner
        self.since = since
        super().__init__(f"leased by {owner} since {since:%Y-%m-%d %H:%M:%S}")


class LeaseLost(LeaseError):
    """The lease expired and someone else took the resource: the run no longer owns it."""

    def __init__(self, lease: Lease, holder: LeaseOwner | None) -> None:
        self.lease = lease
        self.holder = holder
        now_held = f"now leased by {holder}" if holder else "no longer leased"
        super().__init__(f"lease on {lease.resource} was lost: {now_held}")


def _own_start_time() -> int | None:
    stat = proc_stat(os.getpid())
    return stat.start_time if stat else None


def _dead_owner_reason(owner: LeaseOwner) -> str | None:
    if not (PROC / "self" / "stat").exists():
        return None  # without /proc nothing can be said about other processes
    stat = proc_stat(owner.pid)
    if stat is None:
        return f"owner {owner} is gone"
    if stat.exited:
        return f"owner {owner} has exited"
    if owner.pid_start is not None and stat.start_time != owner.pid_start:
        return f"owner {owner} is gone; its pid now belongs to another process"
    return None


def _stale_reason(lease: Lease, host: str, now: float) -> str | None:
    if now >= lease.expires_at:
        return f"lease of {lease.owner} expired at {_format_time(lease.expires_at)}"
    if lease.owner.host == host:
        return _dead_owner_reason(lease.owner)
    return None


def _format_time(epoch: float) -> str:
    return f"{datetime.fromtimestamp(epoch):%Y-%m-%d %H:%M:%S}"


def _encode(lease: Lease) -> bytes:
    document = {
        "format": LEASE_FORMAT,
        "resource": lease.resource,
        "host": lease.owner.host,
        "pid": lease.owner.pid,
        "pid_start": lease.owner.pid_start,
        "session": lease.owner.session_id,
        "token": lease.token,
        "started_at": lease.started_at,
        "ttl": lease.ttl,
        "expires_at": lease.expires_at,
    }
    return (json.dumps(document, sort_keys=True) + "\n").encode()


def _decode(path: Path, data: bytes) -> Lease:
    try:
        document: Any = json.loads(data)
        if not isinstance(document, dict) or document.get("format") != LEASE_FORMAT:
            raise ValueError(f"not a format {LEASE_FORMAT} lease")
        owner = LeaseOwner(
            host=str(document["host"]),
            pid=int(document["pid"]),
            session_id=str(document["session"]),
            pid_start=None if document["pid_start"] is None else int(document["pid_start"]),
        )
        lease = Lease(
            resource=str(document["resource"]),
            owner=owner,
            token=str(document["token"]),
            started_at=float(document["started_at"]),
            ttl=float(document["ttl"]),
            expires_at=float(document["expires_at"]),
        )
    except (ValueError, KeyError, TypeError) as error:
        raise LeaseError(
            f"{path}: unreadable lease ({error}); remove it by hand if stale"
        ) from error
    if _file_stem(lease.resource) + LEASE_SUFFIX != path.name:
        raise LeaseError(f"{path}: holds a lease on {lease.resource!r}, not on its own resource")
    return lease


def _file_stem(resource: str) -> str:
    return quote(resource, safe="")


class LeaseManager:
    """The leases of one session, taken from `directory` (shared by every run on the lab)."""

    def __init__(
        self,
        directory: Path,
        session_id: str,
        host: str | None = None,
        *,
        poll_s: float = 0.1,
    ) -> None:
        if not session_id:
            raise ValueError("a lease needs a session id to name its owner")
        self.directory = directory
        self.session_id = session_id
        self.host = host or socket.gethostname()
        self.poll_s = poll_s
        ensure_private_dir(directory)

    def __enter__(self) -> LeaseManager:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release_session()

    def _lease_path(self, resource: str) -> Path:
        return self.directory / (_file_stem(resource) + LEASE_SUFFIX)

    @contextmanager
    def _locked(self, resource: str) -> Iterator[Lease | None]:
        """Hold the resource's lock and yield its current lease (None if free)."""
        fd = open_private_lock(self.directory / (_file_stem(resource) + LOCK_SUFFIX))
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            path = self._lease_path(resource)
            try:
                current = _decode(path, read_private_file(path))
            except FileNotFoundError:
                current = None
            yield current
        finally:
            os.close(fd)

    def _is_mine(self, lease: Lease) -> bool:
        owner = lease.owner
        return (owner.host, owner.pid, owner.session_id) == (
            self.host,
            os.getpid(),
            self.session_id,
        )

    def acquire(self, resource: str, ttl: float, wait_s: float = 0.0) -> Lease:
        """Lease `resource` for `ttl` seconds, waiting up to `wait_s` for its holder to let go.

        Raises `LeaseBusy` when still held at the deadline, at once if this
        very session and process hold it already (waiting for oneself would
        only waste `wait_s`).
        """
        if not _RESOURCE.fullmatch(resource):
            raise ValueError(
                f"resource {resource!r}: expected '<kind>:<name>', e.g. 'device:m1/igb0'"
            )
        if ttl <= 0:
            raise ValueError(f"ttl {ttl}: must be positive")
        deadline = time.monotonic() + wait_s
        while True:
            with self._locked(resource) as current:
                now = time.time()
                stale = None if current is None else _stale_reason(current, self.host, now)
                if current is None or stale is not None:
                    lease = Lease(
                        resource=resource,
                        owner=LeaseOwner(
                            self.host, os.getpid(), self.session_id, _own_start_time()
                        ),
                        token=secrets.token_hex(8),
                        started_at=now,
                        ttl=ttl,
                        expires_at=now + ttl,
                        takeover_warning=None
                        if stale is None
                        else f"took over {resource}: {stale}",
                    )
                    write_private_file(self._lease_path(resource), _encode(lease))
                    if lease.takeover_warning:
                        logger.warning("%s", lease.takeover_warning)
                    return lease
                holder = current
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._is_mine(holder):
                raise LeaseBusy(resource, holder.owner, datetime.fromtimestamp(holder.started_at))
            time.sleep(min(self.poll_s, remaining))

    def renew(self, lease: Lease) -> Lease:
        """Push the expiry `lease.ttl` seconds from now; `LeaseLost` if someone took it over."""
        with self._locked(lease.resource) as current:
            if current is None or current.token != lease.token:
                raise LeaseLost(lease, None if current is None else current.owner)
            renewed = replace(current, expires_at=time.time() + current.ttl)
            write_private_file(self._lease_path(lease.resource), _encode(renewed))
            return renewed

    def release(self, lease: Lease) -> None:
        """Give `lease` back.  A lease taken over by someone else is left to them (and logged)."""
        with self._locked(lease.resource) as current:
            if current is None:
                logger.warning("lease on %s was already released", lease.resource)
            elif current.token != lease.token:
                logger.warning(
                    "lease on %s was taken over by %s; leaving it", lease.resource, current.owner
                )
            else:
                remove_private_file(self._lease_path(lease.resource))

    def list(self) -> list[LeaseInfo]:
        """Every lease in the directory, with why it is stale where it is."""
        now = time.time()
        infos = []
        for name in private_file_names(self.directory):
            if not name.endswith(LEASE_SUFFIX):
                continue
            path = self.directory / name
            try:
                lease = _decode(path, read_private_file(path))
            except FileNotFoundError:
                continue  # released between listing and reading
            infos.append(
                LeaseInfo(
                    resource=lease.resource,
                    owner=lease.owner,
                    started_at=lease.started_at,
                    expires_at=lease.expires_at,
                    stale=_stale_reason(lease, self.host, now),
                )
            )
        return infos

    def release_session(self) -> builtins.list[str]:
        """Release every lease this session holds, whichever process took it; the resources."""
        released = []
        for info in self.list():
            if info.owner.session_id != self.session_id:
                continue
            with self._locked(info.resource) as current:
                if current is not None and current.owner.session_id == self.session_id:
                    remove_private_file(self._lease_path(info.resource))
                    released.append(info.resource)
        return released
