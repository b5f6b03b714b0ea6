"""`hil scenario run`: one scenario file on one lab machine, outside pytest.

When a scenario fails in the suite, the quickest way to look again is to
run just that file on just that machine, with the same role filling, the
same calibration-then-steps run and the same evidence bundle as the pytest
item, and the step table on the terminal.  Exit 1 when the model and the
machine disagree (or the scenario could not run there), 2 for a bad file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from hil.cli.output import EXIT_FAILED, CommandError, reports_errors
from hil.cli.rejudge import print_run, run_json
from hil.lab.configfile import ConfigError
from hil.lab.inventory import DeviceRef, Inventory
from hil.lab.profiles import ProfileSet
from hil.lab.transport.protocol import AgentError, TransportError
from hil.model.steps import Fire, FireStored
from hil.scenario.bundle import write_bundle
from hil.scenario.client import AttachedDevice
from hil.scenario.loader import Scenario, load_scenario
from hil.scenario.roles import fill_roles
from hil.scenario.runner import RunResult, run_on_machine

if TYPE_CHECKING:
    from hil.plugin.session import LabMachine, LabSession

DEFAULT_INVENTORY = Path("lab_inventory.yaml")
DEFAULT_EVIDENCE = Path("hil-evidence")


@click.group("scenario")
def scenario() -> None:
    """Run scenario files on lab machines outside pytest."""


@scenario.command("run")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--lab",
    "inventory",
    type=click.Path(path_type=Path, dir_okay=False),
    default=DEFAULT_INVENTORY,
    show_default=True,
    help="Lab inventory.",
)
@click.option("--machine", "machine_name", required=True, help="Inventory machine to run on.")
@click.option(
    "--evidence",
    type=click.Path(path_type=Path, file_okay=False),
    default=DEFAULT_EVIDENCE,
    show_default=True,
    help="Where the evidence bundle is written.",
)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@reports_errors
def run(file: Path, inventory: Path, machine_name: str, evidence: Path, as_json: bool) -> None:
    """Run FILE's steps on MACHINE and in the model; compare them step by step."""
    loaded = load_scenario(file)
    session = open_lab(inventory, evidence)
    try:
        result, bundle = run_scenario(session, loaded, machine_name)
    finally:
        session.close()
    if as_json:
        click.echo(json.dumps({**run_json(result), "bundle": str(bundle)}, indent=2))
    else:
        print_run(result)
        click.echo(f"evidence: {bundle}")
    if not result.ok:
        raise click.exceptions.Exit(EXIT_FAILED)


def open_lab(inventory: Path, evidence: Path) -> LabSession:
    """The inventory and its profiles, checked exactly as `hil check` and the plugin do."""
    # The plugin's modules bring pytest and allure: imported only when a run needs them.
    from hil.plugin.session import LabSession

    inv = Inventory.load(inventory)
    profiles = ProfileSet.load(inv.profiles_folder(), only=inv.profile_names())
    problems = inv.profile_issues(profiles)
    if problems:
        raise ConfigError(problems)
    return LabSession(inv, profiles, evidence)


def run_scenario(
    session: LabSession, loaded: Scenario, machine_name: str
) -> tuple[RunResult, Path]:
    """What a pytest scenario item does, with every reason not to run as a CommandError."""
    import pytest

    from hil.plugin.fixtures import caps_of
    from hil.plugin.requirements import machine_skip_reason
    from hil.plugin.session import MachineUnavailable
    from hil.virtlab.vm import BootError

    machine = session.inventory.machine(machine_name)
    if machine is None:
        known = ", ".join(m.name for m in session.inventory.machines)
        raise CommandError(f"no machine {machine_name!r} in {session.inventory.path}; have {known}")
    roles = fill_roles(loaded, machine, session.profile)
    if roles is None:
        wanted = loaded.spec.applies_to.profiles or "any"
        raise CommandError(
            f"{machine_name} has no devices for roles {sorted(loaded.spec.devices)} "
            f"(profiles {wanted})"
        )
    try:
        for ref in roles.values():
            why = session.device_unavailable(machine, ref.name)
            if why:
                raise CommandError(f"{ref.name} cannot exist on {machine_name}: {why}")
        lm = session.machine(machine_name)
    except (MachineUnavailable, BootError) as exc:
        raise CommandError(f"infrastructure: {exc}") from None
    req = loaded.spec.applies_to.requires
    mark = pytest.mark.hil_requires(ir={"yes": True, "no": False}.get(req.ir), kernel=req.kernel)
    reason = machine_skip_reason(lm, mark.mark)
    if reason:
        raise CommandError(f"not run: {reason}")
    attached: dict[str, AttachedDevice] = {}
    try:
        for role, ref in roles.items():
            attached[role] = _attach(session, lm, loaded, role, ref)
        result = run_on_machine(
            loaded.name,
            machine_name,
            loaded.steps,
            lm.calibrate(),
            {role: caps_of(a) for role, a in attached.items()},
            lm.client.run_step,
            quirks=lm.quirks,
        )
    except (AgentError, TransportError) as exc:
        raise CommandError(f"{machine_name}: {exc}") from None
    finally:
        _detach_all(lm, attached)
    return result, write_bundle(result, session.results_dir)


def _detach_all(lm: LabMachine, attached: dict[str, AttachedDevice]) -> None:
    """Give every device back; a failure is reported, not allowed to hide the run's result."""
    for role in attached:
        lm.attached.pop(role, None)
        try:
            lm.client.detach_device(role)
        except (AgentError, TransportError) as exc:
            click.echo(f"hil: warning: detaching {role} on {lm.name} failed: {exc}", err=True)


def _attach(
    session: LabSession, lm: LabMachine, loaded: Scenario, role: str, ref: DeviceRef
) -> AttachedDevice:
    profile = session.profile(ref)
    driver = loaded.spec.devices[role].driver or profile.driver
    if driver is None:
        raise CommandError(f"not run: profile {profile.name} names no hil.devices driver")
    bdf = lm.client.resolve_device(ref.bdf, ref.pci_id, ref.instance or 0)
    device = lm.client.attach_device(role, bdf, driver)
    lm.attached[role] = device
    fires = any(isinstance(s, Fire | FireStored) and s.device == role for s in loaded.steps)
    if fires and device.fire_unsupported:
        lm.attached.pop(role)
        lm.client.detach_device(role)
        raise CommandError(f"not run: {ref.name}: {device.fire_unsupported}")
    return device
