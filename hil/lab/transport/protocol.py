"""JSON-lines RPC between the controller and the agent on a lab machine.

One request per line: `{"id": n, "op": "name", "args": {...}}`; one reply per
line: `{"id": n, "result": ...}` or `{"id": n, "error": {"type", "message"}}`.
The agent first sends `{"hello": {...}}` so the controller knows the machine
is up (the boot heartbeat).  Only operations the agent whitelists can be
called; arguments and results are plain JSON produced by `hil.model.codec`,
so nothing on the wire can name code to run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


class AgentError(RuntimeError):
    """The agent ran the operation and it failed; `kind` is the remote exception type."""

    def __init__(self, op: str, kind: str, message: str) -> None:
        self.op = op
        self.kind = kind
        self.remote_message = message
        super().__init__(f"{op}: {kind}: {message}")


class TransportError(RuntimeError):
    """The channel to the machine broke or timed out: an infrastructure fault."""


@dataclass(frozen=True)
class Request:
    id: int
    op: str
    args: dict[str, Any]

    def to_line(self) -> bytes:
        return (json.dumps({"id": self.id, "op": self.op, "args": self.args}) + "\n").encode()


def reply_line(request_id: int, result: Any = None, error: tuple[str, str] | None = None) -> bytes:
    body: dict[str, Any] = {"id": request_id}
    if error is None:
        body["result"] = result
    else:
        body["error"] = {"type": error[0], "message": error[1]}
    return (json.dumps(body) + "\n").encode()


def hello_line(facts: dict[str, Any]) -> bytes:
    return (json.dumps({"hello": facts}) + "\n").encode()
