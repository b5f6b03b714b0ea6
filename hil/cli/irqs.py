"""`hil irqs`: /proc/interrupts, parsed, live or from a saved capture.

Delivery is judged from these counters, so when a verdict looks wrong the
first question is "what did the table really say?".  `--file` answers it
for captures kept in evidence bundles and transcripts, offline.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from hil.cli.output import CommandError, console, reports_errors
from hil.linux.procinterrupts import InterruptTable, IrqRow, ProcInterrupts, SummaryRow


@click.command("irqs")
@click.option(
    "--file",
    "capture",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="A saved copy of /proc/interrupts to read instead of the live one.",
)
@click.option(
    "--root",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("/"),
    show_default=True,
    help="Filesystem root holding proc/interrupts.",
)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.option(
    "--filter",
    "needle",
    default=None,
    help="Keep rows whose irq, chip or actions contain this text.",
)
@reports_errors
def irqs(capture: Path | None, root: Path, as_json: bool, needle: str | None) -> None:
    """Per-irq, per-CPU interrupt counts with chip, hwirq and actions."""
    source = capture if capture is not None else root / "proc/interrupts"
    table = ProcInterrupts.parse(source.read_text(encoding="utf-8", errors="replace"))
    if not table.cpus:
        raise CommandError(f"{source}: not /proc/interrupts text ({'; '.join(table.warnings)})")
    rows = [row for row in table.irqs.values() if needle is None or needle in _irq_text(row)]
    summaries = [
        s
        for s in table.summaries.values()
        if needle is None or needle in f"{s.name} {s.description}"
    ]
    if as_json:
        click.echo(json.dumps(_as_json(table, rows, summaries), indent=2))
    else:
        console().print(_as_table(table, rows, summaries))
    for warning in table.warnings:
        click.echo(f"warning: {source}: {warning}", err=True)


def _irq_text(row: IrqRow) -> str:
    return f"{row.irq} {row.chip} {', '.join(row.actions)}"


def _as_json(
    table: InterruptTable, rows: list[IrqRow], summaries: list[SummaryRow]
) -> dict[str, Any]:
    return {
        "cpus": list(table.cpus),
        "irqs": [
            {
                "irq": row.irq,
                "counts": {str(cpu): n for cpu, n in row.counts.items()},
                "total": row.total,
                "chip": row.chip,
                "hwirq": row.hwirq,
                "trigger": row.trigger,
                "actions": list(row.actions),
            }
            for row in rows
        ],
        "summaries": [
            {
                "name": s.name,
                "counts": {str(cpu): n for cpu, n in s.counts.items()},
                "total": s.total,
                "description": s.description,
            }
            for s in summaries
        ],
        "warnings": list(table.warnings),
    }


def _as_table(table: InterruptTable, rows: list[IrqRow], summaries: list[SummaryRow]) -> Table:
    out = Table(title="/proc/interrupts")
    out.add_column("irq", justify="right")
    for cpu in table.cpus:
        out.add_column(f"CPU{cpu}", justify="right")
    for name in ("chip", "hwirq", "trigger", "actions"):
        out.add_column(name)
    for row in rows:
        counts = [str(row.counts.get(cpu, "")) for cpu in table.cpus]
        hwirq = "" if row.hwirq is None else str(row.hwirq)
        out.add_row(
            str(row.irq), *counts, row.chip, hwirq, row.trigger or "", ", ".join(row.actions)
        )
    for s in summaries:
        counts = [str(s.counts.get(cpu, "")) for cpu in table.cpus]
        if not s.counts:
            counts = [f"total {s.total}", *[""] * (len(table.cpus) - 1)]
        out.add_row(s.name, *counts, "", "", "", s.description)
    return out
