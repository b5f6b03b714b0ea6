"""`hil check`: validate an inventory, the profiles it names and the known kernel bugs
list before anything runs.

Run it after editing `lab_inventory.yaml`, a profile or `known_kernel_bugs.yaml`:
every problem is listed at once as `file:line: field: message` (exit 2), so a
typo is found at the desk rather than halfway through a lab run.
"""

from __future__ import annotations

from pathlib import Path

import click

from hil.cli.output import reports_errors
from hil.lab.configfile import ConfigError
from hil.lab.inventory import Inventory
from hil.lab.profiles import ProfileSet
from hil.plugin.known_bugs import DEFAULT_PATH, load_known_bugs


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
@click.option(
    "--known-kernel-bugs",
    "known_bugs",
    type=click.Path(path_type=Path),
    default=None,
    help="Known kernel bugs list to check too (default: the repository's, if present).",
)
@reports_errors
def check(inventory: Path, profiles_folder: Path | None, known_bugs: Path | None) -> None:
    """Validate INVENTORY (default ./lab_inventory.yaml), every profile it names and the
    known kernel bugs list the plugin would read."""
    bugs_path = known_bugs or (DEFAULT_PATH if DEFAULT_PATH.is_file() else None)
    bugs = load_known_bugs(bugs_path) if bugs_path is not None else None
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
    if bugs is not None:
        click.echo(f"OK: {bugs_path}: {len(bugs.bugs)} known kernel bugs")
