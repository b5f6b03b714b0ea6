"""Allure labels, one allure step per scenario step, the evidence attached, known-bug links.

Each step carries its kernel message and IRTE writes ("who rewrote what",
`hil.report.rewrites`) when the machine's kprobes recorded any; a test whose
machine could not record them says why, once.

Scenarios that move interrupts between CPUs (hot-unplug, affinity moves
with several fires) also get a PNG of per-CPU delivery over the steps,
predicted against observed: where the two lines part is the finding.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import allure

from hil.lab.inventory import DeviceRef
from hil.lab.profiles import Profile
from hil.model.steps import describe
from hil.plugin.known_bugs import KnownBug
from hil.plugin.session import LabMachine
from hil.report.plot import delivery_plot, wants_delivery_plot
from hil.report.rewrites import rewrite_tables, rewrites_missing
from hil.scenario.runner import RunResult


def report_target(machine: str, devices: Sequence[tuple[DeviceRef, Profile]]) -> None:
    """The labels and parameters known before the machine is reached.

    Set first, so that a test which then skips (a kernel it does not run)
    carries them too: scenario items have no pytest parameters, and without
    these the skipped runs of one scenario on two machines shared one Allure
    history id and showed as retries of one test.
    """
    allure.dynamic.label("machine", machine)
    allure.dynamic.parameter("machine", machine)
    allure.dynamic.parameter("device", "+".join(ref.name for ref, _ in devices))
    allure.dynamic.parameter("device class", "+".join(p.device_class.value for _, p in devices))
    allure.dynamic.parameter("profile", "+".join(p.name for _, p in devices))


def report_run(result: RunResult, machine: LabMachine, bundle: Path) -> None:
    """What the machine said of itself, the steps, and the evidence."""
    allure.dynamic.parameter("kernel", machine.facts["kernel"])
    allure.dynamic.parameter("IR", machine.facts["ir"])
    allure.dynamic.tag(f"ir-{machine.facts['ir']}")
    rewrites = rewrite_tables(result)
    for record in result.records:
        status = "ok" if record.verdict.ok else "MISMATCH"
        with allure.step(f"{record.number}. {describe(record.step)}: {status}"):
            rows = [
                f"{f.path}: predicted {f.predicted} | observed {f.observed} | {f.status.value}"
                for f in record.verdict.fields
            ]
            allure.attach("\n".join(rows), "predicted vs observed", allure.attachment_type.TEXT)
            if record.observed.notes:
                allure.attach(
                    "\n".join(record.observed.notes), "dmesg", allure.attachment_type.TEXT
                )
            if record.number in rewrites:
                allure.attach(rewrites[record.number], "kernel writes", allure.attachment_type.TEXT)
    if missing := rewrites_missing(result):
        allure.attach("\n".join(missing), "kernel writes not recorded", allure.attachment_type.TEXT)
    allure.attach(result.table(only_mismatches=False), "step table", allure.attachment_type.TEXT)
    if wants_delivery_plot(result):
        allure.attach(delivery_plot(result), "per-CPU delivery", allure.attachment_type.PNG)
    allure.attach.file(str(bundle), "evidence bundle", allure.attachment_type.JSON)


def report_known_bug(bug: KnownBug) -> None:
    """The bug's link on the test's page, so an xfail leads straight to the report or fix."""
    allure.dynamic.link(bug.link, name=f"known kernel bug {bug.id}")
