"""`hil leases`: who holds which machine or device, and whether that lease is stale.

A session that waits or skips with `leased by <owner>` sends its user here:
the table shows every lease with its owner, age, time left and, for a lease
that the next session will take over, why (owner gone, TTL run out).
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import click
from rich.table import Table

from hil.cli.output import CommandError, console, reports_errors
from hil.lab.leases import LeaseError, LeaseInfo, LeaseManager
from hil.lab.safefile import UnsafePathError
from hil.virtlab.lab import state_root

LISTING_SESSION = "hil-leases"
"""The session id of a LeaseManager that only lists; it never acquires anything."""


@click.command("leases")
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="The lab's lease folder [default: leases/ in the lab state folder, where "
    "pytest sessions and `hil restore` keep them: $HIL_LAB_STATE, /run/pcie-hil as root].",
)
@reports_errors
def leases(directory: Path | None) -> None:
    """List leases on machines and devices: resource, owner, since, TTL left, stale."""
    if directory is None:
        directory = state_root() / "leases"
    if not directory.is_dir():
        click.echo(f"no leases: {directory} does not exist")
        return
    try:
        infos = LeaseManager(directory, LISTING_SESSION).list()
    except (LeaseError, UnsafePathError) as exc:
        raise CommandError(str(exc)) from None
    if not infos:
        click.echo(f"no leases in {directory}")
        return
    console().print(lease_table(sorted(infos, key=lambda i: i.resource), time.time()))


def lease_table(infos: list[LeaseInfo], now: float) -> Table:
    table = Table(title="leases")
    for name in ("resource", "owner", "since", "TTL left", "stale"):
        table.add_column(name)
    for info in infos:
        left = info.expires_at - now
        table.add_row(
            info.resource,
            str(info.owner),
            f"{datetime.fromtimestamp(info.started_at):%Y-%m-%d %H:%M:%S}",
            f"{left:.0f} s" if left > 0 else "expired",
            info.stale or "no",
        )
    return table
