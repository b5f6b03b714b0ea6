"""A process's state as /proc/PID/stat gives it.

Three questions need it: is a lease owner still the process that took the lease
(its start time), is anything of a virtual machine's process group still
running (a zombie answers `kill(pid, 0)` but runs nothing), and how much CPU a
virtual machine's processes used (benchmark 5).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class ProcStat:
    state: str
    """The state letter: R, S, D, T, Z (zombie), X (dead) ..."""
    pgrp: int
    start_time: int
    """Clock ticks since boot: tells a process from a later one with its pid."""
    cpu_ticks: int = 0
    """User and system time so far, in clock ticks (`os.sysconf("SC_CLK_TCK")`)."""

    @property
    def exited(self) -> bool:
        return self.state in ("Z", "X")


def proc_stat(pid: int, proc: Path = PROC) -> ProcStat | None:
    """The stat of `pid`, or None if it is gone."""
    try:
        data = (proc / str(pid) / "stat").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # comm (field 2) may hold spaces and parentheses; fields after the last ')' are plain.
    fields = data[data.rindex(b")") + 2 :].split()
    return ProcStat(
        fields[0].decode(), int(fields[2]), int(fields[19]), int(fields[11]) + int(fields[12])
    )


def all_proc_stats(proc: Path = PROC) -> Iterator[ProcStat]:
    """Every process's stat; processes that exit while listed are skipped."""
    for entry in proc.iterdir():
        if entry.name.isdigit():
            stat = proc_stat(int(entry.name), proc)
            if stat is not None:
                yield stat
