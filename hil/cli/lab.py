"""`hil lab up|down|status`: keep virtual machines running between pytest sessions.

Booting under TCG costs tens of seconds per machine; an edit-test loop should
pay it once.  `up` starts persistent machines (they survive the command and
wait for the next controller); a pytest session attaches to them and leaves
them running.
"""

from __future__ import annotations

import time
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from hil.cli.output import CommandError, reports_errors
from hil.lab.inventory import Inventory
from hil.virtlab.lab import VirtualLab
from hil.virtlab.vm import BootError

DEFAULT_INVENTORY = "lab_inventory.yaml"


def _lab(inventory: str, names: tuple[str, ...]) -> tuple[VirtualLab, list[str]]:
    inv = Inventory.load(inventory)
    lab = VirtualLab(inv.machines)
    chosen = list(names) or list(lab.machines)
    unknown = [n for n in chosen if n not in lab.machines]
    if unknown:
        raise CommandError(
            f"no virtual machine {unknown} in {inventory}; have {sorted(lab.machines)}"
        )
    return lab, chosen


@click.group()
def lab() -> None:
    """Start, stop and list the virtual lab's machines."""


@lab.command()
@click.option("--lab", "inventory", default=DEFAULT_INVENTORY, show_default=True, type=click.Path())
@click.argument("machines", nargs=-1)
@reports_errors
def up(inventory: str, machines: tuple[str, ...]) -> None:
    """Boot the virtual machines (all, or the ones named) and leave them running."""
    console = Console(stderr=True)
    vlab, names = _lab(inventory, machines)
    vlab.progress = lambda line: console.print(line)
    start = time.monotonic()
    with console.status(f"booting {', '.join(names)} ..."):
        results = vlab.boot(names, persistent=True)
    for vm in results.values():
        if isinstance(vm, BootError):
            continue
        vm.disconnect()
    failed = [n for n, r in results.items() if isinstance(r, BootError)]
    console.print(
        f"lab up: {len(names) - len(failed)}/{len(names)} machines in {time.monotonic() - start:.1f} s"  # noqa: E501
    )
    if failed:
        raise CommandError(f"machines that did not boot: {', '.join(failed)}")


@lab.command()
@click.option("--lab", "inventory", default=DEFAULT_INVENTORY, show_default=True, type=click.Path())
@click.argument("machines", nargs=-1)
@reports_errors
def down(inventory: str, machines: tuple[str, ...]) -> None:
    """Power off running virtual machines."""
    vlab, names = _lab(inventory, machines)
    vlab.down(names)


@lab.command()
@click.option("--lab", "inventory", default=DEFAULT_INVENTORY, show_default=True, type=click.Path())
@reports_errors
def status(inventory: str) -> None:
    """Which virtual machines are running, with their kernel and boot time."""
    vlab, _ = _lab(inventory, ())
    table = Table("machine", "state", "kernel", "accel", "boot s", "boot log")
    for name, state in vlab.status().items():
        if state is None:
            table.add_row(name, "down", "", "", "", "")
        else:
            table.add_row(
                name, "up", state.kernel_release, state.accel, f"{state.boot_seconds:.1f}",
                str(Path(state.boot_log)),
            )  # fmt: skip
    Console().print(table)


@lab.command()
@click.option("--lab", "inventory", default=DEFAULT_INVENTORY, show_default=True, type=click.Path())
@reports_errors
def kernels(inventory: str) -> None:
    """Fetch (once) the kernel of every virtual machine into the private cache."""
    vlab, names = _lab(inventory, ())
    for name in names:
        image = vlab.kernel(vlab.machines[name])
        click.echo(
            f"{name}: {image.package or image.alias} {image.version or ''} ({image.release})"
        )
