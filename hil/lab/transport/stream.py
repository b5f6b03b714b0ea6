"""Controller side of the agent RPC over any pair of file descriptors.

A virtual machine's agent is reached through a virtio-serial port that QEMU
exposes as a 0600 unix socket; a real host's agent through the stdin/stdout
of `ssh host python3 -m hil.lab.agent --stdio`.  Both are byte streams, so
one class serves both.  Every call has a deadline: a guest that hangs or a
QEMU that dies ends the call with `TransportError` instead of hanging a
nightly run.
"""

from __future__ import annotations

import json
import os
import select
import threading
import time
from collections.abc import Callable
from typing import Any

from hil.lab.transport.protocol import AgentError, Request, TransportError


class StreamTransport:
    def __init__(
        self,
        read_fd: int,
        write_fd: int,
        *,
        alive: Callable[[], str | None] | None = None,
        silence: Callable[[], str | None] | None = None,
        name: str = "agent",
    ) -> None:
        """`alive()` returns None while the far side can still answer, else why not;
        `silence()` says what is known of a far side that stopped answering (a
        hypervisor's view of a hung guest), to go with the deadline's error."""
        self._rfd = read_fd
        self._silence = silence
        self._broken: str | None = None
        self._wfd = write_fd
        self._alive = alive
        self._name = name
        self._buffer = b""
        self._next_id = 1
        self._lock = threading.Lock()
        self.hello: dict[str, Any] | None = None

    def _check_alive(self) -> None:
        if self._alive is not None:
            why = self._alive()
            if why is not None:
                raise TransportError(f"{self._name}: {why}")

    def _read_line(self, deadline: float) -> dict[str, Any]:
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                known = self._silence() if self._silence is not None else None
                why = f" ({known})" if known else ""
                raise TransportError(f"{self._name}: no answer before the deadline{why}")
            ready, _, _ = select.select([self._rfd], [], [], min(remaining, 1.0))
            if not ready:
                self._check_alive()
                continue
            try:
                chunk = os.read(self._rfd, 65536)
            except BlockingIOError:
                continue
            except OSError as exc:
                raise TransportError(f"{self._name}: channel broke: {exc}") from exc
            if not chunk:
                self._check_alive()
                raise TransportError(f"{self._name}: channel closed by the machine")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        try:
            message = json.loads(line)
        except ValueError as exc:
            raise TransportError(f"{self._name}: garbled line {line[:80]!r}") from exc
        if not isinstance(message, dict):
            raise TransportError(f"{self._name}: unexpected message {message!r}")
        return message

    def wait_hello(self, timeout: float) -> dict[str, Any]:
        """Wait for the agent's greeting: the proof that the machine booted."""
        deadline = time.monotonic() + timeout
        while True:
            message = self._read_line(deadline)
            if "hello" in message:
                self.hello = message["hello"]
                return message["hello"]

    def call(self, op: str, args: dict[str, Any] | None = None, timeout: float = 60.0) -> Any:
        """One request and its reply.  After a failure the channel is not used again:
        a far side that missed one deadline would make every later call wait out its
        own, and a late reply could still be on its way."""
        with self._lock:
            if self._broken is not None:
                raise TransportError(
                    f"{self._name}: not used again after an earlier failure ({self._broken})"
                )
            try:
                return self._call(op, args, timeout)
            except TransportError as exc:
                self._broken = str(exc)
                raise

    def _call(self, op: str, args: dict[str, Any] | None, timeout: float) -> Any:
        request = Request(self._next_id, op, args or {})
        self._next_id += 1
        data = request.to_line()
        try:
            while data:
                written = os.write(self._wfd, data)
                data = data[written:]
        except OSError as exc:
            self._check_alive()
            raise TransportError(f"{self._name}: cannot send {op}: {exc}") from exc
        deadline = time.monotonic() + timeout
        while True:
            message = self._read_line(deadline)
            if message.get("id") != request.id:
                continue
            if "error" in message:
                err = message["error"]
                raise AgentError(op, err.get("type", "Error"), err.get("message", ""))
            return message.get("result")
