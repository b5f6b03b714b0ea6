"""One measured figure, how it is timed, and the machine it was measured on.

These hosts are shared and noisy, so every in-process timing is the CPU
time of this process (user + system: what the work itself costs, not how
long it waited for a core), the best of several repeats (noise only ever
adds time), and a comparison is made of two timings taken in the same run,
never against a number from another day.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Figure:
    """A row of the results table; `met` is None where no target applies."""

    benchmark: str
    name: str
    value: str
    target: str = ""
    met: bool | None = None
    note: str = ""


def best_seconds(work: Callable[[], object], repeat: int) -> float:
    """The least CPU time of `repeat` runs of `work`."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        work()
        best = min(best, time.process_time() - start)
    return best


def scratch_dir() -> str | None:
    """A memory-backed folder for synthetic trees when there is one (as sysfs is)."""
    return "/dev/shm" if os.access("/dev/shm", os.W_OK) else None


def machine_description() -> str:
    """nproc, CPU model, kernel and Python: what a figure is only valid for."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} CPUs ({model}), Linux {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def markdown_table(figures: list[Figure]) -> str:
    rows = ["| # | figure | value | target | met |", "|---|---|---|---|---|"]
    for f in figures:
        met = "" if f.met is None else ("yes" if f.met else "**no**")
        name = f"{f.name} ({f.note})" if f.note else f.name
        rows.append(f"| {f.benchmark} | {name} | {f.value} | {f.target} | {met} |")
    return "\n".join(rows)
