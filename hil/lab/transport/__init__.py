"""How the controller reaches a lab machine: in process, over SSH, or into a VM."""

from __future__ import annotations

from typing import Any, Protocol


class Transport(Protocol):
    hello: dict[str, Any] | None

    def call(self, op: str, args: dict[str, Any] | None = None, timeout: float = 60.0) -> Any: ...
