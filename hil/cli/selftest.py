"""`hil selftest`: the bring-up kit for a device class no lab here has seen.

A profile stays `verified_on_hardware: false` until a run on real hardware
proves its driver: this command runs a fixed bring-up scenario on one
inventory device (enable every vector the kernel offers, fire each once, move
vector 0 to CPU 0 and fire it twice, disable), judges every step against
the model, and writes the evidence bundle that the profile's `evidence`
field should then name.
"""

from __future__ import annotations

from pathlib import Path

import click

from hil.cli.output import EXIT_FAILED, CommandError, reports_errors
from hil.cli.rejudge import print_run
from hil.cli.scenario import DEFAULT_EVIDENCE, DEFAULT_INVENTORY, open_lab, run_scenario
from hil.lab.profiles import Profile
from hil.model import steps as S
from hil.model.vocabulary import IrqIndex
from hil.scenario.loader import Scenario
from hil.scenario.schema import AppliesTo, DeviceSpec, ScenarioFile

ROLE = "dev"


def bring_up_steps(profile: Profile, vectors: int | None) -> list[S.Step]:
    """Steps every device that can fire must pass; sizes come from the profile."""
    msix = profile.interrupts.msix
    msi = profile.interrupts.msi
    if msix is not None:
        size = vectors or msix.table_size
        if size is None:
            raise CommandError(
                f"profile {profile.name} leaves the MSI-X table size to each device: give "
                "--vectors N (the MSI-X size `hil devices` shows on that machine)"
            )
        index, count = IrqIndex.MSIX, size
    elif msi is not None:
        index, count = IrqIndex.MSI, 1
    else:
        raise CommandError(
            f"profile {profile.name} gives no MSI-X table size or MSI capability to bring up"
        )
    steps: list[S.Step] = [S.Enable(ROLE, index, count)]
    steps += [S.Fire(ROLE, k) for k in range(count)]
    steps += [S.Affinity(ROLE, 0, (0,)), S.Fire(ROLE, 0), S.Fire(ROLE, 0), S.Disable(ROLE)]
    return steps


@click.command("selftest")
@click.option("--lab", "inventory", type=click.Path(path_type=Path), default=DEFAULT_INVENTORY)
@click.option("--machine", "machine_name", required=True, help="Inventory machine with the device.")
@click.option("--profile", "profile_name", required=True, help="Profile of the device to prove.")
@click.option("--vectors", type=click.IntRange(1, 2048), help="MSI-X vectors to bring up.")
@click.option(
    "--evidence",
    type=click.Path(path_type=Path, file_okay=False),
    default=DEFAULT_EVIDENCE,
    show_default=True,
    help="Where the evidence bundle is written.",
)
@reports_errors
def selftest(
    inventory: Path, machine_name: str, profile_name: str, vectors: int | None, evidence: Path
) -> None:
    """Prove a device profile on real hardware and write the evidence bundle."""
    session = open_lab(inventory, evidence)
    try:
        profile = session.profiles.get(profile_name)
        spec = ScenarioFile(
            name=f"selftest-{profile.name}",
            description="bring-up: every vector fires once where predicted; an affinity move",
            applies_to=AppliesTo(profiles=[profile.name]),
            devices={ROLE: DeviceSpec(profile=profile.name)},
            steps=[{"bring-up": "generated"}],
        )
        loaded = Scenario(
            f"<selftest {profile.name}>", spec, tuple(bring_up_steps(profile, vectors))
        )
        result, bundle = run_scenario(session, loaded, machine_name)
    finally:
        session.close()
    print_run(result)
    click.echo(f"evidence: {bundle}")
    if not result.ok:
        raise click.exceptions.Exit(EXIT_FAILED)
    click.echo(
        f"{profile.name}: proven on {machine_name}; set `verified_on_hardware: true` and "
        f"`evidence: {bundle}` in its profile"
    )
