"""The `hil` command: one click group, one module per command.

To add a command, write it in its own module under `hil/cli/` and add it to
`COMMANDS`; nothing else needs to know about it.
"""

from __future__ import annotations

import click

from hil.cli.check import check
from hil.cli.devices import devices
from hil.cli.irqs import irqs
from hil.cli.lab import lab
from hil.cli.leases import leases
from hil.cli.predict import predict
from hil.cli.rejudge import rejudge_bundles
from hil.cli.report import report
from hil.cli.restore import restore
from hil.cli.scenario import scenario
from hil.cli.selftest import selftest

COMMANDS: tuple[click.Command, ...] = (
    check,
    selftest,
    devices,
    irqs,
    lab,
    leases,
    predict,
    rejudge_bundles,
    report,
    restore,
    scenario,
)


@click.group()
def cli() -> None:
    """pcie-hil: prove PCIe interrupts behave the way the Linux x86 design says."""


for _command in COMMANDS:
    cli.add_command(_command)


def main() -> None:
    """Console-script entry point (`hil = hil.cli.main:main`)."""
    cli()
