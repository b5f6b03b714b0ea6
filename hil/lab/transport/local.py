"""The in-process transport: a local lab machine runs the operations itself.

Results still go through the codec round trip, so a test that passes on a
local machine exercises exactly what crosses the wire to an agent.
"""

from __future__ import annotations

from typing import Any

from hil.lab.transport.protocol import AgentError
from hil.model.codec import encode


class LocalTransport:
    def __init__(self, ops: Any) -> None:
        self._ops = ops
        self.hello: dict[str, Any] | None = ops.hello()

    def call(self, op: str, args: dict[str, Any] | None = None, timeout: float = 60.0) -> Any:
        if op not in self._ops.OPERATIONS:
            raise AgentError(op, "UnknownOperation", f"no operation {op!r}")
        try:
            return encode(getattr(self._ops, op)(**(args or {})))
        except Exception as exc:  # same shape as the agent's typed error reply
            raise AgentError(op, type(exc).__name__, str(exc)) from exc
