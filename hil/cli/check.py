"""`hil check`: validate an inventory and the profiles it names before anything runs.

Run it after editing `lab_inventory.yaml` or a profile: every problem is
listed at once as `file:line: field: message` (exit 2), so a typo is found
at the desk rather than halfway through a lab run.
"""

from __future__ import annotations

from pathlib import Path

import click

from hil.cli.output import reports_errors
from hil.lab.configfile import ConfigError
from hil.lab.inventory import Inventory
from hil.lab.profiles import ProfileSet


@click.command("check")
@click.argument(
    "inventory", type=click.Path(path_type=Path), default=Path("lab_inventory.yaml"), required=False
)
@click.option(
    "--profiles",
    "profiles_folder",
    type=click.Path(path_type=Path),
    default=None,
    help="Profiles folder (default: device_profiles/ beside the inventory, else the repository's).",
)
@reports_errors
def check(inventory: Path, profiles_folder: Path | None) -> None:
    """Validate INVENTORY (default ./lab_inventory.yaml) and every profile it names."""
    inv = Inventory.load(inventory)
    folder = inv.profiles_folder(profiles_folder)
    profiles = ProfileSet.load(folder, only=inv.profile_names())
    issues = inv.profile_issues(profiles)
    if issues:
        raise ConfigError(issues)
    devices = sum(len(m.device_refs()) for m in inv.machines)
    click.echo(
        f"OK: {inventory}: lab {inv.lab}: {len(inv.machines)} machines, {devices} devices, "
        f"{len(profiles)} profiles from {folder}"
    )
    for machine in inv.machines:
        names = ", ".join(ref.name for ref in machine.device_refs()) or "no devices"
        click.echo(f"  {machine.name} ({machine.transport.value}): {names}")
