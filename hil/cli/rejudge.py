"""`hil rejudge`: judge stored observations again with today's model.

Evidence bundles keep what real machines did; replaying their steps into
the current model turns every nightly capture into a regression test of a
model change, with no machine needed.  Exit 1 if any bundle now mismatches
or cannot be read, so a CI job over the corpus fails loudly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from hil.cli.output import EXIT_FAILED, console, reports_errors
from hil.model.codec import encode
from hil.model.steps import describe
from hil.scenario.bundle import BundleError, rejudge
from hil.scenario.runner import RunResult


@click.command("rejudge")
@click.argument("bundles", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@reports_errors
def rejudge_bundles(bundles: tuple[Path, ...], as_json: bool) -> None:
    """Judge every BUNDLE's observations with the current model."""
    reports: list[dict[str, Any]] = []
    failed = False
    for path in bundles:
        try:
            result = rejudge(path)
        except (BundleError, AttributeError, KeyError, TypeError, ValueError) as exc:
            # A bundle is data from another run: a missing key or a bad value
            # makes that one bundle unreadable, not the whole command.
            message = str(exc) if isinstance(exc, BundleError) else f"{path}: bad bundle: {exc!r}"
            failed = True
            reports.append({"bundle": str(path), "error": message})
            if not as_json:
                click.echo(f"hil: {message}", err=True)
            continue
        failed = failed or not result.ok
        reports.append({"bundle": str(path), **run_json(result)})
        if not as_json:
            click.echo(f"{path}: {'ok' if result.ok else 'MISMATCH'}")
            print_run(result)
    if as_json:
        click.echo(json.dumps(reports, indent=2))
    if failed:
        raise click.exceptions.Exit(EXIT_FAILED)


def print_run(result: RunResult) -> None:
    """One row per step, then every mismatching field with both values.

    `hil scenario run` prints its run the same way, so a live run and its
    rejudged bundle read alike.
    """
    table = Table(title=f"{result.scenario} on {result.machine}")
    for name in ("step", "action", "verdict", "judged", "branch"):
        table.add_column(name)
    for r in result.records:
        branch = "main" if r.verdict.alternative is None else f"alt {r.verdict.alternative + 1}"
        table.add_row(
            str(r.number),
            describe(r.step),
            "ok" if r.verdict.ok else "MISMATCH",
            str(r.verdict.judged),
            branch,
        )
    out = console()
    out.print(table)
    if result.ok:
        out.print(f"ok: {result.judged} fields judged, all match", highlight=False)
    else:
        out.print(result.table(), markup=False, highlight=False)


def run_json(result: RunResult) -> dict[str, Any]:
    return {
        "scenario": result.scenario,
        "machine": result.machine,
        "ok": result.ok,
        "judged": result.judged,
        "calibration_digest": result.calibration.digest(),
        "steps": [
            {
                "step": r.number,
                "action": describe(r.step),
                "ok": r.verdict.ok,
                "alternative": r.verdict.alternative,
                "fields": [
                    {
                        "path": f.path,
                        "predicted": encode(f.predicted),
                        "observed": encode(f.observed),
                        "status": f.status.value,
                    }
                    for f in r.verdict.fields
                ],
            }
            for r in result.records
        ],
    }
