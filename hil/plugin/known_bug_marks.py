"""Known kernel bugs as xfail marks, added where the machine's kernel is known.

The kernel a test runs on is a fact of the machine, read when the machine is
first reached, so the mark is added where the requirement skips are decided:
in `pytest_runtest_setup` for tests on a (machine, device) pair, in the
scenario item's run for scenario files.  pytest evaluates xfail marks again
after the call, so a mark added there still counts.

An error in setup (a machine that cannot be reached, a device that will not
attach) is never turned into an xfail: pytest evaluated the xfail marks
before this hook ran, and the bug explains a wrong result, not a missing
machine.
"""

from __future__ import annotations

import pytest

from hil.plugin.known_bugs import NO_BUGS, KnownBugs
from hil.plugin.reporting import report_known_bug
from hil.plugin.session import LabMachine, LabSession, MachineUnavailable

KNOWN_BUGS = pytest.StashKey[KnownBugs]()


def base_node_id(item: pytest.Item) -> str:
    """The node id without its parameters: what a bug's `tests` globs are matched against."""
    return item.nodeid.partition("[")[0]


def xfail_if_known_bug(
    item: pytest.Item,
    machine: LabMachine,
    scenario: str | None = None,
    raises: type[BaseException] | None = None,
) -> None:
    """Mark `item` xfail when a known bug lists it and `machine` has that bug.

    `raises` narrows the expected failure (a scenario's model mismatch), so
    that anything else the run meets still fails.
    """
    bugs = item.config.stash.get(KNOWN_BUGS, NO_BUGS)
    bug = bugs.find(base_node_id(item), scenario, machine.kernel, machine.ir)
    if bug is None:
        return
    item.add_marker(pytest.mark.xfail(reason=bug.xfail_reason, strict=bug.strict, raises=raises))
    report_known_bug(bug)


def xfail_pair_if_known_bug(item: pytest.Item, session: LabSession, machine: str) -> None:
    """For a test on a (machine, device) pair: reach the machine only if a bug lists the test."""
    if not item.config.stash.get(KNOWN_BUGS, NO_BUGS).naming(base_node_id(item)):
        return
    try:
        lab_machine = session.machine(machine)
    except MachineUnavailable:
        return  # the `machine` fixture reports it, as a skip or an infrastructure error
    xfail_if_known_bug(item, lab_machine)
