"""One agent process serves controller after controller on its virtio-serial port."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hil.lab import agent


class _Controllers:
    """Stands in for `agent.serve`: each call is one controller; `ends` says how
    each left (True: it went away, False: it asked for `poweroff`)."""

    def __init__(self, ends: list[bool]) -> None:
        self.ends = ends
        self.sessions: list[tuple[object, int]] = []

    def __call__(self, ops: object, rfd: int, wfd: int, **_: Any) -> bool:
        assert rfd == wfd
        self.sessions.append((ops, rfd))
        return self.ends[len(self.sessions) - 1]


def _serve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ends: list[bool], *, ephemeral: bool
) -> tuple[_Controllers, list[int]]:
    port = tmp_path / "vport0p1"
    port.write_bytes(b"")
    controllers = _Controllers(ends)
    monkeypatch.setattr(agent, "serve", controllers)
    closed: list[int] = []
    real_close = agent.os.close

    def close(fd: int) -> None:
        closed.append(fd)
        real_close(fd)

    monkeypatch.setattr(agent.os, "close", close)
    agent.serve_port(str(port), object, ephemeral=ephemeral)  # type: ignore[arg-type]
    return controllers, closed


def test_each_controller_gets_a_fresh_session_on_a_freshly_opened_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    controllers, closed = _serve(tmp_path, monkeypatch, [True, True, False], ephemeral=False)
    assert len(controllers.sessions) == 3  # served until one asked for poweroff
    ops = [o for o, _ in controllers.sessions]
    assert len({id(o) for o in ops}) == 3, "a controller was given an earlier one's session"
    assert closed == [fd for _, fd in controllers.sessions], "the port stayed open between"


def test_an_ephemeral_guest_serves_one_controller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    controllers, closed = _serve(tmp_path, monkeypatch, [True, True], ephemeral=True)
    assert len(controllers.sessions) == 1
    assert len(closed) == 1
