"""Run-level reporting: Allure metadata, KTAP, run timing, the facts of every machine.

Registered by `hil.plugin.plugin` (`pytest_plugins`).  Under xdist, what
writes files or prints runs in the controller only: it sees every test
report, while each machine is reached in exactly one worker, so workers
hand their machines' facts (kernel, IR, boot time) to the controller
through xdist's `workeroutput` when their session ends.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from hil.plugin.session import LabSession, MachineUnavailable
from hil.report.categories import write_categories
from hil.report.environment import MachineFacts, write_environment
from hil.report.ktap import KtapCase, KtapOutcome, write_ktap
from hil.report.timing import RunTiming

WORKER_MACHINES = "hil_machines"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hil", "pcie-hil lab")
    group.addoption(
        "--ktap", dest="hil_ktap", metavar="PATH", default=None,
        help="also write the results as KTAP v1 to PATH (for KernelCI, LAVA)",
    )  # fmt: skip


def pytest_configure(config: pytest.Config) -> None:
    report = RunReport(config)
    config.stash[RUN_REPORT] = report
    config.pluginmanager.register(report, "hil-run-report")


def _lab(config: pytest.Config) -> LabSession | None:
    from hil.plugin.plugin import lab_session

    return lab_session(config)


def machines_reached_here(lab: LabSession | None) -> list[MachineFacts]:
    """The machines this process reached (or failed to), with boot time when it booted them."""
    if lab is None:
        return []
    facts = []
    for name, entry in lab._machines.items():
        if isinstance(entry, MachineUnavailable):
            facts.append(MachineFacts(name, unavailable=str(entry)))
            continue
        state = entry.vm.state if entry.vm is not None else None
        boot = state.boot_seconds if entry.booted_here and state is not None else None
        facts.append(MachineFacts(name, str(entry.facts["kernel"]), str(entry.facts["ir"]), boot))
    return facts


def known_machines(config: pytest.Config) -> dict[str, MachineFacts]:
    """Every machine this run reached or failed to reach, here or in an xdist worker."""
    report = config.stash.get(RUN_REPORT, None)
    found = report.all_machines() if report is not None else machines_reached_here(_lab(config))
    machines: dict[str, MachineFacts] = {}
    for facts in found:
        earlier = machines.get(facts.name)
        if earlier is None or (earlier.unavailable is not None and facts.unavailable is None):
            machines[facts.name] = facts
    return machines


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return report.longreprtext


def _failure_lines(report: pytest.TestReport) -> tuple[str, ...]:
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else report.longreprtext
    return tuple(line for line in str(text).splitlines() if line.strip())


def ktap_case(report: pytest.TestReport, earlier: KtapCase | None) -> KtapCase | None:
    """The test's KTAP case after this phase's report, or None to keep the earlier one."""
    name = report.nodeid
    xfail = getattr(report, "wasxfail", None)
    if report.skipped:
        if xfail is not None:
            return KtapCase(name, KtapOutcome.XFAIL, str(xfail))
        return KtapCase(name, KtapOutcome.SKIP, _skip_reason(report))
    if report.failed:
        lines = _failure_lines(report)
        if report.when == "call":
            return KtapCase(name, KtapOutcome.FAIL, details=lines)
        if earlier is not None and earlier.outcome is KtapOutcome.FAIL:
            return None
        first = lines[0] if lines else "failed"
        return KtapCase(name, KtapOutcome.ERROR, f"{report.when}: {first}", lines)
    if report.when == "call":
        return KtapCase(name, KtapOutcome.PASS)
    return None


class RunReport:
    """Collects what the run-level outputs need, as the reports come in."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.timing = RunTiming(started=time.time())
        self.cases: dict[str, KtapCase] = {}
        self.worker_machines: list[MachineFacts] = []

    @property
    def is_worker(self) -> bool:
        return hasattr(self.config, "workerinput")

    def all_machines(self) -> list[MachineFacts]:
        return machines_reached_here(_lab(self.config)) + self.worker_machines

    def pytest_sessionstart(self) -> None:
        self.timing.started = time.time()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.timing.add_phase(report.nodeid, report.duration)
        if (report.when == "call" and report.outcome in ("passed", "failed")) or (
            report.when == "setup" and report.failed
        ):
            self.timing.add_verdict(report.nodeid, time.time())
        case = ktap_case(report, self.cases.get(report.nodeid))
        if case is not None:
            self.cases[report.nodeid] = case

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        raw = getattr(node, "workeroutput", {}).get(WORKER_MACHINES)
        if raw:
            self.worker_machines.extend(MachineFacts.from_json(m) for m in json.loads(raw))

    def _allure_dir(self) -> Path | None:
        folder = getattr(self.config.option, "allure_report_dir", None)
        return Path(folder) if folder else None

    def _ktap_path(self) -> Path | None:
        path = self.config.getoption("hil_ktap")
        return self.config.invocation_params.dir / path if path else None

    def pytest_sessionfinish(self) -> None:
        if self.is_worker:
            facts = [m.to_json() for m in machines_reached_here(_lab(self.config))]
            self.config.workeroutput[WORKER_MACHINES] = json.dumps(facts)  # type: ignore[attr-defined]
            return
        machines = list(known_machines(self.config).values())
        for m in self.all_machines():
            if m.boot_seconds is not None:
                self.timing.boot_seconds[m.name] = (
                    self.timing.boot_seconds.get(m.name, 0.0) + m.boot_seconds
                )
        allure_dir = self._allure_dir()
        if allure_dir is not None:
            write_environment(allure_dir, machines)
            write_categories(allure_dir)
        ktap = self._ktap_path()
        if ktap is not None:
            write_ktap(ktap, list(self.cases.values()))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.is_worker or _lab(self.config) is None:
            return
        terminalreporter.section("pcie-hil run")
        allure_dir = self._allure_dir()
        if allure_dir is not None:
            terminalreporter.write_line(
                f"allure results: {allure_dir.resolve()} (HTML report: hil report)"
            )
        ktap = self._ktap_path()
        if ktap is not None:
            terminalreporter.write_line(f"KTAP: {ktap}")
        for line in self.timing.lines():
            terminalreporter.write_line(line)


RUN_REPORT = pytest.StashKey[RunReport]()
