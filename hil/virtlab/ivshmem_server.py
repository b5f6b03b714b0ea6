"""The server QEMU's `ivshmem-doorbell` device connects to; Debian ships none.

The doorbell device gets its shared memory and its interrupt sources from a
unix-socket server (QEMU docs/specs/ivshmem-spec.rst).  Every message is one
little-endian int64, some with one file descriptor (SCM_RIGHTS):

1. the protocol version, 0;
2. the client's own id;
3. -1 with the shared-memory fd;
4. for each peer already connected: its id once per vector, each with that
   peer's eventfd for the vector;
5. the client's own id once per vector, each with its own eventfd: these
   become its MSI-X sources, which is why the lab wants this device.

Afterwards a peer id with fds announces a newcomer, a peer id without an fd
a departure.  Any byte or EOF from a client means it left (clients never
speak in this protocol).

The socket file appears only once the server listens (bound under a
temporary name, then renamed), so "the file exists" is a safe signal for
starting QEMU; it is 0600 because whoever connects gets a share of memory
and interrupt lines.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import selectors
import signal
import socket
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType

PROTOCOL_VERSION = 0
DEFAULT_SHM_SIZE = 4 << 20
MAX_PEER_ID = 0xFFFF  # the doorbell register has 16 bits for the peer id
SEND_TIMEOUT_S = 5.0

log = logging.getLogger(__name__)
_temporary_numbers = itertools.count()


@dataclass
class _Peer:
    id: int
    sock: socket.socket
    eventfds: list[int] = field(default_factory=list)

    def close(self) -> None:
        self.sock.close()
        for fd in self.eventfds:
            os.close(fd)
        self.eventfds.clear()


def _send(sock: socket.socket, value: int, fd: int | None = None) -> None:
    data = struct.pack("<q", value)
    if fd is None:
        sock.sendall(data)
    else:
        socket.send_fds(sock, [data], [fd])


class IvshmemServer:
    """One shared-memory region and its peers, served from a background thread."""

    def __init__(
        self, socket_path: Path | str, vectors: int = 4, shm_size: int = DEFAULT_SHM_SIZE
    ) -> None:
        if vectors < 1:
            raise ValueError(f"ivshmem server: vectors must be at least 1, not {vectors}")
        if shm_size <= 0 or shm_size & (shm_size - 1):
            # QEMU maps the memory as a PCI BAR, whose size is a power of two.
            raise ValueError(f"ivshmem server: shm_size must be a power of two, not {shm_size}")
        self.socket_path = Path(socket_path)
        self.vectors = vectors
        self.shm_size = shm_size
        self._peers: dict[int, _Peer] = {}
        self._lock = threading.Lock()  # peer_ids is read from other threads
        self._next_id = 0
        self._listener: socket.socket | None = None
        self._shm_fd = -1
        self._wake_r, self._wake_w = -1, -1
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------
    def start(self) -> None:
        """Listen, then serve in the background; on return QEMU may connect."""
        if self._thread is not None:
            raise RuntimeError(f"ivshmem server {self.socket_path} is already running")
        try:
            self._shm_fd = os.memfd_create("ivshmem", os.MFD_CLOEXEC)
            os.ftruncate(self._shm_fd, self.shm_size)
            self._wake_r, self._wake_w = os.pipe()
            self._listener = self._listen()
        except OSError:
            self.stop()
            raise
        self._thread = threading.Thread(
            target=self._serve,
            args=(self._listener,),
            name=f"ivshmem-server:{self.socket_path.name}",
            daemon=True,
        )
        self._thread.start()
        log.info(
            "ivshmem server on %s: %d vectors, %d bytes shared",
            self.socket_path,
            self.vectors,
            self.shm_size,
        )

    def _listen(self) -> socket.socket:
        # Short, so a socket path close to the 108-byte limit still binds.
        temporary = self.socket_path.with_name(f".ivs{os.getpid()}-{next(_temporary_numbers)}")
        temporary.unlink(missing_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(str(temporary))
            os.chmod(temporary, 0o600)
            listener.listen(16)
            temporary.rename(self.socket_path)
        except OSError:
            listener.close()
            temporary.unlink(missing_ok=True)
            raise
        return listener

    def stop(self) -> None:
        """Close every connection, the memory and the socket file."""
        if self._thread is not None:
            os.write(self._wake_w, b"x")
            self._thread.join()
            self._thread = None
        for peer in self._peers.values():
            peer.close()
        self._peers.clear()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
            self.socket_path.unlink(missing_ok=True)
        for fd in (self._shm_fd, self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._shm_fd, self._wake_r, self._wake_w = -1, -1, -1

    def __enter__(self) -> IvshmemServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def peer_ids(self) -> list[int]:
        """Ids of the connected clients, in the order they connected."""
        with self._lock:
            return list(self._peers)

    # -- the serving thread ---------------------------------------------
    def _serve(self, listener: socket.socket) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(listener, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while True:
                for key, _ in selector.select():
                    if key.fileobj == self._wake_r:
                        return
                    if key.fileobj is listener:
                        peer = self._accept(listener)
                        if peer is not None:
                            selector.register(peer.sock, selectors.EVENT_READ, peer)
                    else:
                        selector.unregister(key.fileobj)
                        self._drop(key.data)

    def _free_id(self) -> int:
        # Ids grow rather than being reused at once, so a late message about a
        # departed peer can never be mistaken for its successor.
        for _ in range(MAX_PEER_ID + 1):
            candidate, self._next_id = self._next_id, (self._next_id + 1) % (MAX_PEER_ID + 1)
            if candidate not in self._peers:
                return candidate
        raise OSError(f"ivshmem server {self.socket_path}: all {MAX_PEER_ID + 1} peer ids in use")

    def _accept(self, listener: socket.socket) -> _Peer | None:
        try:
            sock, _ = listener.accept()
        except OSError as exc:
            log.warning("accept failed: %s", exc)
            return None
        sock.settimeout(SEND_TIMEOUT_S)
        peer = _Peer(-1, sock)
        try:
            peer.id = self._free_id()
            peer.eventfds = [
                os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC) for _ in range(self.vectors)
            ]
            self._welcome(peer)
        except OSError as exc:
            log.warning("could not set up a new client: %s", exc)
            peer.close()
            return None
        for other in self._peers.values():
            try:
                for fd in peer.eventfds:
                    _send(other.sock, peer.id, fd)
            except OSError as exc:
                log.warning("peer %d did not take the news of peer %d: %s", other.id, peer.id, exc)
        with self._lock:
            self._peers[peer.id] = peer
        log.info("peer %d connected", peer.id)
        return peer

    def _welcome(self, peer: _Peer) -> None:
        _send(peer.sock, PROTOCOL_VERSION)
        _send(peer.sock, peer.id)
        _send(peer.sock, -1, self._shm_fd)
        for other in self._peers.values():
            for fd in other.eventfds:
                _send(peer.sock, other.id, fd)
        for fd in peer.eventfds:
            _send(peer.sock, peer.id, fd)

    def _drop(self, peer: _Peer) -> None:
        with self._lock:
            del self._peers[peer.id]
        peer.close()
        log.info("peer %d disconnected", peer.id)
        for other in self._peers.values():
            try:
                _send(other.sock, peer.id)
            except OSError as exc:
                log.warning("peer %d did not take the departure of %d: %s", other.id, peer.id, exc)


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM or SIGINT (the virtual machine's process group ends it)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--socket", required=True, type=Path, help="unix socket to listen on")
    parser.add_argument("--vectors", type=int, default=4, help="interrupt vectors per peer")
    parser.add_argument("--shm-size", type=int, default=DEFAULT_SHM_SIZE, help="bytes, power of 2")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    done = threading.Event()

    def finish(_signum: int, _frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, finish)
    signal.signal(signal.SIGINT, finish)
    with IvshmemServer(args.socket, args.vectors, args.shm_size):
        done.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
