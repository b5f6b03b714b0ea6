"""Does a (machine, device) pair meet a test's `hil_requires`?  If not, say why.

A missing capability is a skip that names what is missing and where
(`needs IR; vm-61-noir has none`); a machine that cannot be reached at all
is not a skip but an error, raised by the fixtures.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable

import pytest

from hil.model.kernel import KernelVersion
from hil.model.vocabulary import IrType
from hil.plugin.session import LabMachine, LabSession, MachineBusy

_OPS: dict[str, Callable[[tuple[int, ...], tuple[int, ...]], bool]] = {
    ">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "==": operator.eq,
}  # fmt: skip
_SPEC = re.compile(r"^\s*(>=|<=|>|<|==)\s*(\d+(?:\.\d+)*)\s*$")


def kernel_matches(version: KernelVersion, spec: str) -> bool:
    """`spec` is comma-separated clauses like ">=6.2,<6.10"; all must hold."""
    have = version.as_tuple()
    for clause in spec.split(","):
        m = _SPEC.match(clause)
        if m is None:
            raise pytest.UsageError(
                f"hil_requires: bad kernel clause {clause!r} (use e.g. '>=6.5')"
            )
        want = tuple(int(x) for x in m.group(2).split("."))
        if not _OPS[m.group(1)](have[: len(want)], want):
            return False
    return True


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
