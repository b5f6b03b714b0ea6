"""The ivshmem server against a fake client that reads the wire as QEMU does."""

from __future__ import annotations

import mmap
import os
import socket
import stat
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from hil.virtlab.ivshmem_server import IvshmemServer

SHM_SIZE = 1 << 16


class FakeClient:
    """Reads (value, fd) messages: one little-endian int64 each, at most one fd."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(str(path))
        self.fds: list[int] = []

    def receive(self) -> tuple[int, int | None]:
        data, fds, _, _ = socket.recv_fds(self.sock, 8, 2)
        assert len(data) == 8, f"short message {data!r}"
        assert len(fds) <= 1, f"{len(fds)} fds with one message"
        self.fds += fds
        return struct.unpack("<q", data)[0], fds[0] if fds else None

    def receive_many(self, count: int) -> list[tuple[int, int | None]]:
        return [self.receive() for _ in range(count)]

    def nothing_pending(self) -> bool:
        self.sock.settimeout(0.2)
        try:
            self.sock.recv(1, socket.MSG_PEEK)
        except TimeoutError:
            return True
        finally:
            self.sock.settimeout(5)
        return False

    def close(self) -> None:
        self.sock.close()
        for fd in self.fds:
            os.close(fd)


@contextmanager
def serving(tmp_path: Path, vectors: int) -> Iterator[IvshmemServer]:
    with IvshmemServer(tmp_path / "ivshmem.sock", vectors=vectors, shm_size=SHM_SIZE) as server:
        yield server


@contextmanager
def client(path: Path) -> Iterator[FakeClient]:
    c = FakeClient(path)
    try:
        yield c
    finally:
        c.close()


def fd_kind(fd: int) -> str:
    return os.readlink(f"/proc/self/fd/{fd}")


def fds_of(messages: list[tuple[int, int | None]]) -> list[int]:
    fds = [fd for _, fd in messages]
    assert all(fd is not None for fd in fds)
    return [fd for fd in fds if fd is not None]


def wait_for_peers(server: IvshmemServer, expected: list[int]) -> None:
    deadline = time.monotonic() + 5
    while server.peer_ids != expected and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.peer_ids == expected


def shape(messages: list[tuple[int, int | None]]) -> list[tuple[int, bool]]:
    """The values, and whether each came with an fd."""
    return [(value, fd is not None) for value, fd in messages]


def test_one_client_gets_version_id_memory_and_its_own_vectors(tmp_path: Path) -> None:
    with serving(tmp_path, vectors=3) as server, client(server.socket_path) as a:
        messages = a.receive_many(6)
        assert shape(messages) == [
            (0, False),
            (0, False),
            (-1, True),
            (0, True),
            (0, True),
            (0, True),
        ]
        shm_fd = messages[2][1]
        assert shm_fd is not None
        assert fd_kind(shm_fd).startswith("/memfd:")
        assert os.fstat(shm_fd).st_size == SHM_SIZE
        assert all(fd_kind(fd) == "anon_inode:[eventfd]" for fd in fds_of(messages[3:]))
        assert a.nothing_pending()


def test_second_client_learns_the_first_and_the_first_learns_it(tmp_path: Path) -> None:
    with (
        serving(tmp_path, vectors=2) as server,
        client(server.socket_path) as a,
        client(server.socket_path) as b,
    ):
        a_setup = a.receive_many(5)
        b_setup = b.receive_many(7)
        a_news = a.receive_many(2)
        assert shape(b_setup) == [
            (0, False),
            (1, False),
            (-1, True),
            (0, True),
            (0, True),
            (1, True),
            (1, True),
        ]
        assert shape(a_news) == [(1, True), (1, True)]
        assert a.nothing_pending() and b.nothing_pending()
        assert server.peer_ids == [0, 1]

        a_own = fds_of(a_setup[3:])
        b_view_of_a = fds_of(b_setup[3:5])
        b_own = fds_of(b_setup[5:])
        a_view_of_b = fds_of(a_news)

        # B rings A's vector 1: only A's own vector-1 eventfd counts it.
        os.eventfd_write(b_view_of_a[1], 1)
        assert os.eventfd_read(a_own[1]) == 1
        with pytest.raises(BlockingIOError):
            os.eventfd_read(a_own[0])
        # And A rings B's vector 0.
        os.eventfd_write(a_view_of_b[0], 1)
        assert os.eventfd_read(b_own[0]) == 1
        with pytest.raises(BlockingIOError):
            os.eventfd_read(b_own[1])

        # Both map the same memory.
        a_shm, b_shm = a_setup[2][1], b_setup[2][1]
        assert a_shm is not None and b_shm is not None
        with mmap.mmap(a_shm, SHM_SIZE) as a_map, mmap.mmap(b_shm, SHM_SIZE) as b_map:
            a_map[100:105] = b"hello"
            assert b_map[100:105] == b"hello"


def test_departure_is_the_id_without_an_fd(tmp_path: Path) -> None:
    with serving(tmp_path, vectors=1) as server, client(server.socket_path) as a:
        a.receive_many(4)
        with client(server.socket_path) as b:
            b.receive_many(5)
            assert shape(a.receive_many(1)) == [(1, True)]
        assert shape(a.receive_many(1)) == [(1, False)]
        wait_for_peers(server, [0])


def test_ids_are_not_reused_at_once(tmp_path: Path) -> None:
    with serving(tmp_path, vectors=1) as server:
        with client(server.socket_path) as a:
            assert a.receive_many(2)[1] == (0, None)
        wait_for_peers(server, [])
        with client(server.socket_path) as b:
            assert b.receive_many(2)[1] == (1, None)


def test_socket_is_private_and_listening_when_start_returns(tmp_path: Path) -> None:
    server = IvshmemServer(tmp_path / "s.sock", vectors=1)
    server.start()
    try:
        mode = os.stat(server.socket_path).st_mode
        assert stat.S_ISSOCK(mode)
        assert stat.S_IMODE(mode) == 0o600
        assert [p.name for p in tmp_path.iterdir()] == ["s.sock"]
        with client(server.socket_path) as a:
            assert a.receive_many(1) == [(0, None)]
    finally:
        server.stop()
    assert not server.socket_path.exists()


def test_stop_closes_connected_clients(tmp_path: Path) -> None:
    server = IvshmemServer(tmp_path / "s.sock", vectors=1)
    server.start()
    with client(server.socket_path) as a:
        a.receive_many(4)
        server.stop()
        assert a.sock.recv(8) == b""


@pytest.mark.parametrize(("vectors", "shm_size"), [(0, 1 << 20), (1, 3 << 20), (1, 0)])
def test_bad_arguments_are_refused(tmp_path: Path, vectors: int, shm_size: int) -> None:
    with pytest.raises(ValueError):
        IvshmemServer(tmp_path / "s.sock", vectors=vectors, shm_size=shm_size)


def test_command_line_serves_until_sigterm(tmp_path: Path) -> None:
    sock = tmp_path / "cli.sock"
    project = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hil.virtlab.ivshmem_server",
            "--socket",
            str(sock),
            "--vectors",
            "2",
        ],
        env={**os.environ, "PYTHONPATH": str(project)},
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while not sock.exists():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the server did not listen in 10 s"
            time.sleep(0.02)
        with client(sock) as a:
            messages = a.receive_many(5)
            assert shape(messages) == [(0, False), (0, False), (-1, True), (0, True), (0, True)]
            shm_fd = messages[2][1]
            assert shm_fd is not None and os.fstat(shm_fd).st_size == 4 << 20
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
    assert not sock.exists()
