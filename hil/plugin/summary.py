"""The per-machine summary printed at the end of a lab run."""

from __future__ import annotations

from typing import Any

from hil.plugin.session import LabSession


def write_terminal_summary(terminalreporter: Any, session: LabSession) -> None:
    stats = terminalreporter.stats
    per_machine: dict[str, dict[str, int]] = {}
    for outcome in ("passed", "failed", "skipped", "error"):
        for report in stats.get(outcome, []):
            nodeid = getattr(report, "nodeid", "")
            machine = nodeid.split("[", 1)[1].split("/", 1)[0] if "[" in nodeid else "-"
            counts = per_machine.setdefault(machine, {})
            counts[outcome] = counts.get(outcome, 0) + 1
    if not per_machine and not session.log:
        return
    terminalreporter.section("pcie-hil lab summary")
    for line in session.log:
        terminalreporter.write_line(line)
    terminalreporter.write_line(f"{'machine':<22} passed failed skipped error")
    for machine, c in sorted(per_machine.items()):
        terminalreporter.write_line(
            f"{machine:<22} {c.get('passed', 0):>6} {c.get('failed', 0):>6} "
            f"{c.get('skipped', 0):>7} {c.get('error', 0):>5}"
        )
