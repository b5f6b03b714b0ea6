"""A minimal QMP client: the host's hand on a virtual machine's hardware.

Fault tests need what no guest process can do to itself: freeze every vCPU
(a hung guest) or press the reset button (a reboot in the middle of a run).
QMP is line-delimited JSON on the VM's unix socket; one command at a time
is all these tests ask.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any


class QmpError(RuntimeError):
    """QEMU refused a command or did not answer in time."""


class Qmp:
    def __init__(self, path: Path, timeout: float = 10.0) -> None:
        self.path = path
        self.timeout = timeout

    def execute(self, command: str, arguments: dict[str, Any] | None = None) -> Any:
        """Run one command on a fresh connection (QMP sockets serve one client at a time)."""
        deadline = time.monotonic() + self.timeout
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(self.timeout)
            try:
                sock.connect(str(self.path))
            except OSError as exc:
                raise QmpError(f"QMP socket {self.path}: {exc}") from exc
            reader = sock.makefile("rb")
            self._reply(reader, deadline, greeting=True)
            sock.sendall(b'{"execute": "qmp_capabilities"}\n')
            self._reply(reader, deadline)
            request: dict[str, Any] = {"execute": command}
            if arguments:
                request["arguments"] = arguments
            sock.sendall(json.dumps(request).encode() + b"\n")
            return self._reply(reader, deadline)

    def _reply(self, reader: Any, deadline: float, greeting: bool = False) -> Any:
        """The next greeting or return, skipping asynchronous events."""
        while time.monotonic() < deadline:
            try:
                line = reader.readline()
            except OSError as exc:
                raise QmpError(f"QMP {self.path}: {exc}") from exc
            if not line:
                raise QmpError(f"QMP {self.path}: QEMU closed the connection")
            message = json.loads(line)
            if greeting and "QMP" in message:
                return message
            if "error" in message:
                raise QmpError(f"QMP {self.path}: {message['error'].get('desc', message)}")
            if "return" in message:
                return message["return"]
        raise QmpError(f"QMP {self.path}: no answer within {self.timeout:g} s")

    def status(self) -> str:
        """`running`, `paused`, `shutdown`, `internal-error` ... (query-status)."""
        return str(self.execute("query-status").get("status"))
