"""Does a (machine, device) pair meet a test's `hil_requires`?  If not, say why.

A missing capability is a skip that names what is missing and where
(`needs IR; vm-61-noir has none`); a machine that cannot be reached at all
is not a skip but an error, raised by the fixtures.
"""

from __future__ import annotations

import pytest

from hil.lab.kernelrange import KernelRange
from hil.model.kernel import KernelVersion
from hil.model.vocabulary import IrType
from hil.plugin.session import LabMachine, LabSession, MachineBusy


def kernel_matches(version: KernelVersion, spec: str) -> bool:
    """`spec` is comma-separated clauses like ">=6.2,<6.10"; all must hold."""
    try:
        return KernelRange.parse(spec).contains(version)
    except ValueError as exc:
        raise pytest.UsageError(f"hil_requires: {exc}") from None


def machine_skip_reason(lm: LabMachine, mark: pytest.Mark | None) -> str | None:
    if mark is None:
        return None
    ir = mark.kwargs.get("ir")
    if ir is True and lm.ir is IrType.NONE:
        return f"needs IR; {lm.name} has none"
    if ir is False and lm.ir is not IrType.NONE:
        return f"needs a machine without IR; {lm.name} has {lm.ir.value} IR"
    kernel = mark.kwargs.get("kernel")
    if kernel and not kernel_matches(lm.kernel, kernel):
        return f"needs kernel {kernel}; {lm.name} runs {lm.facts['kernel']}"
    cpus = mark.kwargs.get("cpus")
    if cpus and len(lm.facts["online_cpus"]) < cpus:
        return f"needs {cpus} online CPUs; {lm.name} has {len(lm.facts['online_cpus'])}"
    hotplug = mark.kwargs.get("hotplug")
    if hotplug and not lm.facts.get("hotpluggable_cpus"):
        return f"needs a hot-pluggable CPU; {lm.name} has none"
    return None


def pair_skip_reason(
    session: LabSession, item: pytest.Item, machine: str, device: str
) -> str | None:
    m = session.inventory.machine(machine)
    assert m is not None
    unavailable = session.device_unavailable(m, device)
    if unavailable:
        return f"{device} cannot exist on {machine}: {unavailable}"
    mark = item.get_closest_marker("hil_requires")
    if mark is None:
        return None
    try:
        lab_machine = session.machine(machine)
    except MachineBusy as exc:
        return f"{machine}: {exc}"
    return machine_skip_reason(lab_machine, mark)
