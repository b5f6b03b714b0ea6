"""Leases: never two holders, stale holders taken over, busy resources named with their owner."""

from __future__ import annotations

import json
import logging
import os
import random
import re
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hil.lab.leases import LeaseBusy, LeaseLost, LeaseManager
from hil.lab.safefile import UnsafePathError, read_private_file, write_private_file

REPO = Path(__file__).resolve().parents[2]
RESOURCE = "device:vm-612-ir/igb0"
LEASE_FILE = "device%3Avm-612-ir%2Figb0.lease"


def spawn(*args: str) -> subprocess.Popen[str]:
    """This file run as a script in another process (see the bottom of the file)."""
    return subprocess.Popen(
        [sys.executable, __file__, *args],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def hold_and_vanish(directory: Path, host: str) -> None:
    """Take the lease and die without releasing it."""
    LeaseManager(directory, "gone", host).acquire(RESOURCE, ttl=3600)
    os._exit(0)


def hold_until_killed(directory: Path, host: str) -> None:
    LeaseManager(directory, "stuck", host).acquire(RESOURCE, ttl=3600)
    print("held", flush=True)
    time.sleep(3600)


def compete(directory: Path, workspace: Path, name: str, rounds: int) -> None:
    """Acquire and release `rounds` times, proving in files that nobody else was inside.

    `holder` must be empty on entry; `counter` is incremented without any
    locking of its own, so an overlap would also lose increments.
    """
    manager = LeaseManager(directory, f"worker-{name}", "here", poll_s=0.002)
    holder, counter = workspace / "holder", workspace / "counter"
    for _ in range(rounds):
        lease = manager.acquire(RESOURCE, ttl=60, wait_s=60)
        inside = holder.read_text()
        if inside:
            (workspace / f"overlap-{name}").write_text(f"{name} entered while {inside} was inside")
        holder.write_text(name)
        count = int(counter.read_text())
        time.sleep(random.uniform(0, 0.0005))
        counter.write_text(str(count + 1))
        if holder.read_text() != name:
            (workspace / f"overlap-{name}").write_text(f"{name} was joined inside")
        holder.write_text("")
        manager.release(lease)
        time.sleep(random.uniform(0, 0.001))


@pytest.fixture
def lease_dir(tmp_path: Path) -> Path:
    return tmp_path / "leases"


def rewrite_lease(directory: Path, **changes: object) -> None:
    path = directory / LEASE_FILE
    document = json.loads(read_private_file(path))
    document.update(changes)
    write_private_file(path, json.dumps(document).encode())


def test_two_processes_never_hold_one_resource_together(lease_dir: Path, tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "holder").write_text("")
    (workspace / "counter").write_text("0")
    rounds = 200
    LeaseManager(lease_dir, "setup", "here")  # create the directory before the race
    workers = [spawn("compete", str(lease_dir), str(workspace), name, str(rounds)) for name in "ab"]
    for worker in workers:
        _, stderr = worker.communicate(timeout=120)
        assert worker.returncode == 0, stderr
    assert sorted(p.name for p in workspace.glob("overlap-*")) == []
    assert (workspace / "counter").read_text() == str(2 * rounds)
    assert LeaseManager(lease_dir, "check", "here").list() == []


def test_lease_file_is_0600_in_a_0700_directory(lease_dir: Path) -> None:
    manager = LeaseManager(lease_dir, "s1", "here")
    manager.acquire(RESOURCE, ttl=60)
    assert stat.S_IMODE(os.stat(lease_dir).st_mode) == 0o700
    for name in os.listdir(lease_dir):
        assert stat.S_IMODE(os.stat(lease_dir / name).st_mode) == 0o600, name


def test_list_shows_owner_and_release_frees(lease_dir: Path) -> None:
    manager = LeaseManager(lease_dir, "s1", "here")
    before = time.time()
    lease = manager.acquire(RESOURCE, ttl=60)
    [info] = manager.list()
    assert (info.resource, info.owner.session_id, info.owner.pid, info.owner.host) == (
        RESOURCE,
        "s1",
        os.getpid(),
        "here",
    )
    assert before <= info.started_at <= time.time()
    assert info.expires_at == pytest.approx(info.started_at + 60)
    assert info.stale is None
    manager.release(lease)
    assert manager.list() == []
    assert LeaseManager(lease_dir, "s2", "here").acquire(RESOURCE, ttl=60).takeover_warning is None


def test_busy_waits_then_names_owner_and_time(lease_dir: Path) -> None:
    LeaseManager(lease_dir, "holder", "labhost").acquire(RESOURCE, ttl=60)
    waiter = LeaseManager(lease_dir, "waiter", "labhost", poll_s=0.05)
    started = time.monotonic()
    with pytest.raises(LeaseBusy) as caught:
        waiter.acquire(RESOURCE, ttl=60, wait_s=0.4)
    waited = time.monotonic() - started
    assert 0.4 <= waited < 3
    assert re.fullmatch(
        rf"leased by session holder \(pid {os.getpid()} on labhost\) "
        r"since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d",
        str(caught.value),
    )
    assert caught.value.resource == RESOURCE
    assert caught.value.owner.session_id == "holder"


def test_a_waiter_gets_the_lease_when_it_is_released(lease_dir: Path) -> None:
    holder = LeaseManager(lease_dir, "holder", "here")
    lease = holder.acquire(RESOURCE, ttl=60)
    threading.Timer(0.3, holder.release, args=(lease,)).start()
    got = LeaseManager(lease_dir, "waiter", "here", poll_s=0.02).acquire(
        RESOURCE, ttl=60, wait_s=10
    )
    assert got.owner.session_id == "waiter" and got.takeover_warning is None


def test_the_same_session_acquiring_twice_is_refused_at_once(lease_dir: Path) -> None:
    manager = LeaseManager(lease_dir, "s1", "here")
    manager.acquire(RESOURCE, ttl=60)
    started = time.monotonic()
    with pytest.raises(LeaseBusy):
        manager.acquire(RESOURCE, ttl=60, wait_s=30)
    assert time.monotonic() - started < 5


def test_a_dead_owner_is_taken_over_with_a_warning(
    lease_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    LeaseManager(lease_dir, "setup", "here")
    owner = spawn("vanish", str(lease_dir), "here")
    assert owner.wait(timeout=30) == 0, owner.stderr.read() if owner.stderr else ""
    with caplog.at_level(logging.WARNING, logger="hil.lab.leases"):
        lease = LeaseManager(lease_dir, "next", "here").acquire(RESOURCE, ttl=60)
    assert lease.takeover_warning is not None
    assert f"session gone (pid {owner.pid} on here) is gone" in lease.takeover_warning
    assert lease.takeover_warning in caplog.text
    assert lease.owner.session_id == "next"


def test_a_killed_unreaped_owner_is_taken_over(lease_dir: Path) -> None:
    LeaseManager(lease_dir, "setup", "here")
    owner = spawn("stuck", str(lease_dir), "here")
    try:
        assert owner.stdout is not None and owner.stdout.readline() == "held\n"
        os.kill(owner.pid, signal.SIGKILL)
        time.sleep(0.2)  # a zombie now: /proc/<pid> still exists until it is reaped
        lease = LeaseManager(lease_dir, "next", "here").acquire(RESOURCE, ttl=60, wait_s=5)
    finally:
        owner.kill()
        owner.wait()
    assert lease.takeover_warning is not None and "has exited" in lease.takeover_warning


def test_an_owner_whose_pid_was_reused_is_taken_over(lease_dir: Path) -> None:
    first = LeaseManager(lease_dir, "first", "here").acquire(RESOURCE, ttl=60)
    assert first.owner.pid_start is not None
    rewrite_lease(lease_dir, pid_start=first.owner.pid_start + 1)
    lease = LeaseManager(lease_dir, "second", "here").acquire(RESOURCE, ttl=60)
    assert lease.takeover_warning is not None
    assert "pid now belongs to another process" in lease.takeover_warning


def test_a_dead_owner_on_another_host_is_judged_only_by_ttl(lease_dir: Path) -> None:
    LeaseManager(lease_dir, "setup", "here")
    owner = spawn("vanish", str(lease_dir), "elsewhere")
    assert owner.wait(timeout=30) == 0
    with pytest.raises(LeaseBusy, match="on elsewhere"):
        LeaseManager(lease_dir, "next", "here").acquire(RESOURCE, ttl=60)


def test_an_expired_lease_is_taken_over(lease_dir: Path) -> None:
    LeaseManager(lease_dir, "old", "elsewhere").acquire(RESOURCE, ttl=0.2)
    with pytest.raises(LeaseBusy):
        LeaseManager(lease_dir, "new", "here").acquire(RESOURCE, ttl=60)
    time.sleep(0.3)
    [info] = LeaseManager(lease_dir, "viewer", "here").list()
    assert info.stale is not None and "expired" in info.stale
    lease = LeaseManager(lease_dir, "new", "here").acquire(RESOURCE, ttl=60)
    assert lease.takeover_warning is not None and "expired at" in lease.takeover_warning


def test_renew_extends_and_a_lost_lease_cannot_be_renewed_or_released(lease_dir: Path) -> None:
    old_manager = LeaseManager(lease_dir, "old", "elsewhere")
    old = old_manager.acquire(RESOURCE, ttl=0.3)
    renewed = old_manager.renew(old)
    assert renewed.expires_at > old.expires_at
    time.sleep(0.4)
    new = LeaseManager(lease_dir, "new", "here").acquire(RESOURCE, ttl=60)
    with pytest.raises(LeaseLost, match="now leased by session new"):
        old_manager.renew(renewed)
    old_manager.release(renewed)
    [info] = old_manager.list()
    assert info.owner == new.owner


def test_release_session_frees_only_its_own(lease_dir: Path) -> None:
    other = LeaseManager(lease_dir, "other", "here")
    other.acquire("device:m1/igb1", ttl=60)
    with LeaseManager(lease_dir, "mine", "here") as mine:
        mine.acquire("machine:m1", ttl=60)
        mine.acquire("device:m1/igb0", ttl=60)
        assert len(mine.list()) == 3
    assert [(i.resource, i.owner.session_id) for i in other.list()] == [("device:m1/igb1", "other")]


def test_a_symlinked_lease_file_is_refused(lease_dir: Path, tmp_path: Path) -> None:
    LeaseManager(lease_dir, "setup", "here")
    victim = tmp_path / "victim"
    victim.write_text("precious")
    os.chmod(victim, 0o600)
    (lease_dir / LEASE_FILE).symlink_to(victim)
    with pytest.raises(UnsafePathError, match="symlink"):
        LeaseManager(lease_dir, "s1", "here").acquire(RESOURCE, ttl=60)
    assert victim.read_text() == "precious"


def test_a_symlinked_lease_directory_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(real)
    with pytest.raises(UnsafePathError, match="symlink"):
        LeaseManager(tmp_path / "link", "s1", "here")


def test_resource_names_are_checked(lease_dir: Path) -> None:
    with pytest.raises(ValueError, match="resource"):
        LeaseManager(lease_dir, "s1", "here").acquire("igb0", ttl=60)


if __name__ == "__main__":
    role, *rest = sys.argv[1:]
    if role == "compete":
        compete(Path(rest[0]), Path(rest[1]), rest[2], int(rest[3]))
    elif role == "vanish":
        hold_and_vanish(Path(rest[0]), rest[1])
    elif role == "stuck":
        hold_until_killed(Path(rest[0]), rest[1])
