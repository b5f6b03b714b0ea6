"""The per-machine summary printed at the end of a lab run.

A nightly reader wants one line per machine: which kernel and IR mode it
ran, and how its tests came out; the kernel and IR come from the machine
itself (its facts), not from the inventory's expectations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hil.plugin.report_hooks import known_machines
from hil.plugin.session import LabSession
from hil.report.environment import MachineFacts

OUTCOMES = ("passed", "failed", "skipped", "error")


@dataclass(frozen=True)
class MachineRow:
    machine: str
    kernel: str
    ir: str
    counts: Mapping[str, int]

    def line(self) -> str:
        c = self.counts
        return (
            f"{self.machine:<22} {self.kernel:<28} {self.ir:<6} {c.get('passed', 0):>6} "
            f"{c.get('failed', 0):>6} {c.get('skipped', 0):>7} {c.get('error', 0):>5}"
        )


HEADER = f"{'machine':<22} {'kernel':<28} {'IR':<6} passed failed skipped error"


def _machine_of(nodeid: str) -> str:
    """Tests on a pair carry `[machine/device]` in their id; anything else is `-`."""
    param = nodeid.rsplit("[", 1)[1] if "[" in nodeid else ""
    return param.split("/", 1)[0] if "/" in param else "-"


def machine_rows(
    stats: Mapping[str, Sequence[Any]], machines: Mapping[str, MachineFacts]
) -> list[MachineRow]:
    per_machine: dict[str, dict[str, int]] = {}
    for outcome in OUTCOMES:
        for report in stats.get(outcome, []):
            machine = _machine_of(getattr(report, "nodeid", ""))
            counts = per_machine.setdefault(machine, {})
            counts[outcome] = counts.get(outcome, 0) + 1
    rows = []
    for name, counts in sorted(per_machine.items()):
        facts = machines.get(name)
        if facts is None:
            kernel, ir = "-", "-"
        elif facts.unavailable is not None:
            kernel, ir = "unreachable", "-"
        else:
            kernel, ir = facts.kernel or "?", facts.ir or "?"
        rows.append(MachineRow(name, kernel, ir, counts))
    return rows


def write_terminal_summary(terminalreporter: Any, session: LabSession) -> None:
    rows = machine_rows(terminalreporter.stats, known_machines(terminalreporter.config))
    if not rows and not session.log:
        return
    terminalreporter.section("pcie-hil lab summary")
    for line in session.log:
        terminalreporter.write_line(line)
    terminalreporter.write_line(HEADER)
    for row in rows:
        terminalreporter.write_line(row.line())
