"""Deterministic crash sites, so tests can prove recovery from every state a crash leaves.

`kill_point(name)` is called at each site.  Arming one point (env
`HIL_KILL_AT=<point>[:<n>]`, read once per process, or `arm_kill_point`)
makes the n-th pass through it SIGKILL the process: no timing, no chance.
The journal's sites are in the machine's process (the agent); the run's
sites are in the controller's (pytest), so one variable placed in one
process's environment arms only that process.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass, field

KILL_AT_ENV = "HIL_KILL_AT"
KILL_SIGNAL_ENV = "HIL_KILL_SIGNAL"
"""`KILL` (the default) or `STOP`: a stopped controller holds its run where it is, so a
test can reboot the machine under it mid-run and then let it go on."""
_SIGNALS = {"KILL": signal.SIGKILL, "STOP": signal.SIGSTOP}

JOURNAL_KILL_POINTS: tuple[str, ...] = (
    "record.before-write",
    "record.after-temp-write",
    "record.after-rename",
    "mark-applied.before-write",
    "mark-applied.after-temp-write",
    "mark-applied.after-rename",
    "restore.before-one",
    "restore.after-restore-one",
    "restore.after-remove-one",
)
"""Every journal transition at which a crash can happen, in the order a session passes them."""

RUN_KILL_POINTS: tuple[str, ...] = ("run.after-step",)
"""A controller's crash sites: after the machine side of each scenario step returned."""

KILL_POINTS = JOURNAL_KILL_POINTS + RUN_KILL_POINTS


@dataclass
class _KillSwitch:
    armed: str | None = None
    nth: int = 1
    passes: dict[str, int] = field(default_factory=dict)
    env_read: bool = False


_switch = _KillSwitch()


def _parse_kill_at(value: str) -> tuple[str, int]:
    name, _, count = value.partition(":")
    if name not in KILL_POINTS:
        raise ValueError(f"{KILL_AT_ENV}={value!r}: unknown kill point; known: {KILL_POINTS}")
    if not count:
        return name, 1
    if not count.isdigit() or int(count) < 1:
        raise ValueError(f"{KILL_AT_ENV}={value!r}: the count after ':' must be a number >= 1")
    return name, int(count)


def arm_kill_point(name: str, nth: int = 1) -> None:
    """Make the `nth` pass through kill point `name` SIGKILL this process."""
    _switch.armed, _switch.nth = _parse_kill_at(f"{name}:{nth}")
    _switch.passes.clear()
    _switch.env_read = True


def disarm_kill_points() -> None:
    """Forget any armed point, including one from the environment."""
    _switch.armed = None
    _switch.passes.clear()
    _switch.env_read = True


def kill_point(name: str) -> None:
    """A crash site: dies here with SIGKILL (or stops, see KILL_SIGNAL_ENV) when this
    point is armed and its pass count is due."""
    if name not in KILL_POINTS:
        raise ValueError(f"unknown kill point {name!r}")
    if not _switch.env_read:
        _switch.env_read = True
        value = os.environ.get(KILL_AT_ENV)
        if value:
            _switch.armed, _switch.nth = _parse_kill_at(value)
    if _switch.armed != name:
        return
    _switch.passes[name] = _switch.passes.get(name, 0) + 1
    if _switch.passes[name] == _switch.nth:
        os.kill(os.getpid(), _kill_signal())


def _kill_signal() -> signal.Signals:
    value = os.environ.get(KILL_SIGNAL_ENV, "KILL")
    if value not in _SIGNALS:
        raise ValueError(f"{KILL_SIGNAL_ENV}={value!r}: use one of {', '.join(_SIGNALS)}")
    return _SIGNALS[value]
