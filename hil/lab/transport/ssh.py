"""Reaching a real lab host: the agent runs under the SSH session that started it.

No port is opened on the lab host: `ssh` runs `python3 -m hil.lab.agent
--stdio` and the RPC travels on that session's stdin and stdout.  The
command line is a list handed to `ssh`, never a shell string built from
inventory fields; the remote command is fixed apart from validated paths.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

from hil.lab.transport.stream import StreamTransport

_SAFE = re.compile(r"^[A-Za-z0-9_.@:/+-]+$")


class SshTransportError(RuntimeError):
    pass


def _safe(value: str, what: str) -> str:
    if not _SAFE.match(value) or value.startswith("-"):
        raise SshTransportError(f"{what} {value!r} has characters that are not allowed")
    return value


def ssh_command(
    host: str, user: str, port: int, identity: str | None, python: str, state_dir: str, machine: str
) -> list[str]:
    cmd = ["ssh", "-T", "-o", "BatchMode=yes", "-p", str(int(port))]
    if identity:
        cmd += ["-i", str(Path(identity).expanduser())]
    remote = [
        _safe(python, "python"), "-m", "hil.lab.agent", "--stdio",
        "--state-dir", _safe(state_dir, "state dir"), "--machine", _safe(machine, "machine"),
    ]  # fmt: skip
    cmd += [f"{_safe(user, 'user')}@{_safe(host, 'host')}", "--", shlex.join(remote)]
    return cmd


def connect_ssh(
    command: list[str], timeout: float = 60.0
) -> tuple[StreamTransport, subprocess.Popen[bytes]]:
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None

    def alive() -> str | None:
        code = proc.poll()
        return None if code is None else f"ssh exited with status {code}"

    transport = StreamTransport(
        proc.stdout.fileno(), proc.stdin.fileno(), alive=alive, name=command[-2]
    )
    transport.wait_hello(timeout)
    return transport, proc
