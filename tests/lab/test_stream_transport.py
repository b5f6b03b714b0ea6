"""The controller's RPC channel: every call ends by its deadline, and a channel that
failed once fails the next call at once instead of waiting out another deadline."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from hil.lab.transport.protocol import AgentError, TransportError
from hil.lab.transport.stream import StreamTransport


class FakeAgent:
    """Answers `facts` with {"ok": true}, `fail` with an error, and ignores `hang`."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        reader = self.sock.makefile("rb")
        for line in reader:
            request = json.loads(line)
            if request["op"] == "hang":
                continue
            if request["op"] == "fail":
                reply = {"id": request["id"], "error": {"type": "OSError", "message": "no"}}
            else:
                reply = {"id": request["id"], "result": {"ok": True}}
            self.sock.sendall(json.dumps(reply).encode() + b"\n")


@pytest.fixture
def channel() -> Iterator[tuple[socket.socket, socket.socket]]:
    controller, agent = socket.socketpair()
    yield controller, agent
    controller.close()
    agent.close()


def test_a_call_returns_the_agents_result(channel: tuple[socket.socket, socket.socket]) -> None:
    controller, agent = channel
    FakeAgent(agent)
    transport = StreamTransport(controller.fileno(), controller.fileno())
    assert transport.call("facts", timeout=5) == {"ok": True}


def test_an_agent_error_leaves_the_channel_usable(
    channel: tuple[socket.socket, socket.socket],
) -> None:
    controller, agent = channel
    FakeAgent(agent)
    transport = StreamTransport(controller.fileno(), controller.fileno())
    with pytest.raises(AgentError):
        transport.call("fail", timeout=5)
    assert transport.call("facts", timeout=5) == {"ok": True}


def test_silence_ends_at_the_deadline_with_what_the_hypervisor_knows(
    channel: tuple[socket.socket, socket.socket],
) -> None:
    controller, agent = channel
    FakeAgent(agent)
    transport = StreamTransport(
        controller.fileno(), controller.fileno(), silence=lambda: "QEMU reports the guest paused"
    )
    start = time.monotonic()
    with pytest.raises(TransportError, match=r"no answer before the deadline \(QEMU reports"):
        transport.call("hang", timeout=0.3)
    assert time.monotonic() - start < 2.0


def test_after_a_failure_the_next_call_fails_at_once_naming_it(
    channel: tuple[socket.socket, socket.socket],
) -> None:
    controller, agent = channel
    FakeAgent(agent)
    transport = StreamTransport(controller.fileno(), controller.fileno(), name="vm-x")
    with pytest.raises(TransportError):
        transport.call("hang", timeout=0.2)
    start = time.monotonic()
    with pytest.raises(TransportError, match=r"vm-x: not used again after an earlier failure"):
        transport.call("facts", timeout=30)
    assert time.monotonic() - start < 0.5


def test_a_closed_channel_is_a_transport_error(
    channel: tuple[socket.socket, socket.socket],
) -> None:
    controller, agent = channel
    agent.close()
    transport = StreamTransport(
        controller.fileno(), controller.fileno(), alive=lambda: "QEMU exited"
    )
    with pytest.raises(TransportError, match=r"QEMU exited|closed|cannot send"):
        transport.call("facts", timeout=5)
