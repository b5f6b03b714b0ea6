"""Run timing (first verdict, time per test without boots) and the per-machine table."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest

from hil.plugin.summary import machine_rows
from hil.report.environment import MachineFacts
from hil.report.timing import RunTiming

pytest_plugins = ["pytester"]
INVENTORY = Path(__file__).resolve().parents[2] / "lab_inventory.yaml"


def test_boots_are_taken_out_of_the_time_per_test() -> None:
    timing = RunTiming(started=100.0)
    for nodeid, seconds in (("a", 30.0), ("b", 4.0), ("c", 5.0), ("d", 1.0)):
        timing.add_phase(nodeid, seconds)
    timing.add_verdict("a", at=131.5)
    timing.add_verdict("b", at=136.0)
    timing.add_verdict("c", at=141.0)
    timing.boot_seconds = {"vm-612-ir": 20.0, "vm-61-ir": 7.0}
    # 40 s in tests, 27 s of it booting, 3 tests with a verdict ("d" was skipped).
    assert timing.per_test_without_boot() == pytest.approx(13.0 / 3)
    first, per_test, boots = timing.lines()
    assert first == "first verdict: 31.5 s after start (a)"
    assert per_test.startswith("time per test, boot excluded: 4.33 s (3 tests with a verdict")
    assert boots == "boot time per machine: vm-61-ir 7.0 s, vm-612-ir 20.0 s"


def test_no_verdict_is_said_plainly() -> None:
    timing = RunTiming(started=0.0)
    timing.add_phase("skipped", 0.01)
    assert timing.per_test_without_boot() is None
    assert timing.lines() == ["first verdict: none (no test passed or failed)"]


@dataclass
class _Report:
    nodeid: str


def test_rows_carry_kernel_and_ir_of_each_machine() -> None:
    stats = {
        "passed": [_Report("t.py::a[vm-612-ir/igb0]"), _Report("t.py::b[vm-612-ir/edu0]")],
        "failed": [_Report("s.yaml::hotplug[vm-61-noir/e1000e0]")],
        "skipped": [_Report("t.py::c[vm-61-ir/igb0]"), _Report("t.py::unit")],
    }
    machines = {
        "vm-612-ir": MachineFacts("vm-612-ir", "6.12.38+deb12-amd64", "intel"),
        "vm-61-noir": MachineFacts("vm-61-noir", "6.1.0-37-amd64", "none"),
        "vm-61-ir": MachineFacts("vm-61-ir", unavailable="QEMU exited during start"),
    }
    rows = {r.machine: r for r in machine_rows(stats, machines)}
    assert set(rows) == {"-", "vm-612-ir", "vm-61-ir", "vm-61-noir"}
    assert (rows["vm-612-ir"].kernel, rows["vm-612-ir"].ir) == ("6.12.38+deb12-amd64", "intel")
    assert rows["vm-612-ir"].counts == {"passed": 2}
    assert (rows["vm-61-noir"].ir, rows["vm-61-noir"].counts) == ("none", {"failed": 1})
    assert rows["vm-61-ir"].kernel == "unreachable"
    assert (rows["-"].kernel, rows["-"].counts) == ("-", {"skipped": 1})
    assert rows["vm-612-ir"].line().split() == [
        "vm-612-ir", "6.12.38+deb12-amd64", "intel", "2", "0", "0", "0",
    ]  # fmt: skip


def test_lab_run_ends_with_where_the_results_are_and_the_timing(
    pytester: pytest.Pytester,
) -> None:
    """A lab session whose machine filter matches nothing: no machine boots, tests still run."""
    pytester.makepyfile(
        test_t="import time\n\ndef test_a():\n    time.sleep(0.05)\n\ndef test_b():\n    pass\n"
    )
    result = pytester.runpytest(
        "-p", "hil.plugin.report_hooks", "-p", "no:cacheprovider",
        "--lab", str(INVENTORY), "--lab-machine", "no-such-machine", "--alluredir", "res",
    )  # fmt: skip
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*pcie-hil run*",
            f"allure results: {pytester.path / 'res'} (HTML report: hil report)",
            "first verdict: * s after start (test_t.py::test_a)",
            "time per test, boot excluded: * s (2 tests with a verdict, *"
            " 0.0 s of it booting 0 machines)",
        ]
    )


def test_machines_reached_in_xdist_workers_reach_the_controller(
    pytester: pytest.Pytester,
) -> None:
    from hil.plugin.report_hooks import RUN_REPORT, WORKER_MACHINES, known_machines

    config = pytester.parseconfigure("-p", "hil.plugin.report_hooks")
    worker = MachineFacts("vm-61-ir", "6.1.0-37-amd64", "intel", 18.5)
    output = {WORKER_MACHINES: json.dumps([worker.to_json()])}
    config.stash[RUN_REPORT].pytest_testnodedown(SimpleNamespace(workeroutput=output), None)
    assert known_machines(config) == {"vm-61-ir": worker}
