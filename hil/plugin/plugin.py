"""pytest plugin: `pytest --lab lab_inventory.yaml` runs every test on every pair.

Options and markers live here; fixtures in `fixtures.py`; YAML scenario
collection in `scenarios.py`.  Tests that use the `device` fixture are
parametrized over every (machine, device) pair the inventory offers, with ids
like `vm-612-ir/igb0`, and grouped by machine for `--dist loadgroup`: the
vector matrix, the counters, dmesg and CPU hotplug are machine-wide, so two
xdist workers never share a machine.
"""

from __future__ import annotations

import os
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest

from hil.lab.configfile import ConfigError
from hil.lab.inventory import DeviceRef, Inventory, Machine
from hil.lab.profiles import ProfileSet
from hil.plugin.fixtures import *  # noqa: F403  (fixtures are found by name)
from hil.plugin.known_bug_marks import KNOWN_BUGS, xfail_pair_if_known_bug
from hil.plugin.known_bugs import DEFAULT_PATH, NO_BUGS, KnownBugs, load_known_bugs
from hil.plugin.requirements import pair_skip_reason
from hil.plugin.scenarios import collect_scenario_file
from hil.plugin.session import LabSession
from hil.plugin.summary import write_terminal_summary

pytest_plugins = ["hil.plugin.report_hooks"]

LAB_KEY = pytest.StashKey[LabSession | None]()
NO_LAB = "no lab inventory given (--lab PATH, ini lab_inventory or env LAB_INVENTORY)"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hil", "pcie-hil lab")
    group.addoption("--lab", dest="hil_lab", metavar="PATH", help="lab inventory YAML")
    group.addoption(
        "--lab-machine", dest="hil_machines", action="append", default=[], metavar="GLOB",
        help="only machines matching GLOB (repeatable)",
    )  # fmt: skip
    group.addoption(
        "--lab-device", dest="hil_devices", action="append", default=[], metavar="GLOB",
        help="only devices matching GLOB (repeatable)",
    )  # fmt: skip
    group.addoption(
        "--lab-evidence", dest="hil_evidence", default="hil-evidence", metavar="DIR",
        help="where evidence bundles are written",
    )  # fmt: skip
    group.addoption(
        "--lab-lease-wait", dest="hil_lease_wait", type=float, default=0.0, metavar="SECONDS",
        help="wait this long for a machine or device another session holds, then skip",
    )  # fmt: skip
    group.addoption(
        "--kernel-writes", dest="hil_kernel_writes", action="store_true",
        help="record the kernel's MSI message and IRTE writes of every step with kprobes "
        "(evidence, not judged; about 3x slower steps under TCG)",
    )  # fmt: skip
    group.addoption(
        "--known-kernel-bugs", dest="hil_known_bugs", metavar="PATH",
        help=f"known kernel bugs YAML: tests they break become xfail (default {DEFAULT_PATH.name})",
    )  # fmt: skip
    parser.addini("lab_inventory", "lab inventory YAML used when --lab is not given")
    parser.addini(
        "known_kernel_bugs", "known kernel bugs YAML used when --known-kernel-bugs is not given"
    )


def _inventory_path(config: pytest.Config) -> str | None:
    return (
        config.getoption("hil_lab")
        or config.getini("lab_inventory")
        or os.environ.get("LAB_INVENTORY")
    )


@pytest.hookimpl(wrapper=True)
def pytest_cmdline_main(config: pytest.Config) -> Any:
    """Make `-n N` group tests by machine, before xdist's own default (`load`) applies:
    with `load`, two workers get tests of one machine and one skips it as leased by the
    other.  Runs as a wrapper so it comes before xdist's `tryfirst` hook."""
    worker_input = getattr(config, "workerinput", None)
    if worker_input is not None and worker_input.get("hil_loadgroup"):
        # A worker parses the controller's command line again, without our default.
        config.option.loadgroup = True
    workers = getattr(config.option, "numprocesses", None)
    if workers and _inventory_path(config):
        dist = config.option.dist
        if dist == "no" and not config.option.distload:
            config.option.dist = "loadgroup"
        elif dist != "loadgroup" or config.option.distload:
            chosen = "load" if config.option.distload else dist
            raise pytest.UsageError(
                f"--dist {chosen}: tests of one machine would go to several xdist workers, "
                "which would find it leased by each other; use --dist loadgroup "
                "(the default with --lab)"
            )
    return (yield)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """Tell each xdist worker the group-by-machine default chosen above."""
    node.workerinput["hil_loadgroup"] = node.config.option.dist == "loadgroup"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "hil_device(profiles=None, classes=None): the device classes a test is for"
    )
    config.addinivalue_line(
        "markers",
        "hil_requires(ir=None, kernel=None, feature=None, cpus=None): what a machine must have",
    )
    config.addinivalue_line("markers", "hil: a hardware-in-the-loop test (needs --lab)")
    config.addinivalue_line("markers", "virtlab: needs the virtual lab (QEMU and kernels)")
    path = _inventory_path(config)
    session: LabSession | None = None
    if path:
        try:
            inventory = Inventory.load(path)
            profiles = ProfileSet.load(inventory.profiles_folder())
            problems = inventory.profile_issues(profiles)
            if problems:
                raise ConfigError(problems)
        except ConfigError as exc:
            raise pytest.UsageError(f"bad lab inventory:\n{exc}") from None
        session = LabSession(
            inventory,
            profiles,
            Path(config.getoption("hil_evidence")),
            lease_wait_s=config.getoption("hil_lease_wait"),
            kernel_writes=config.getoption("hil_kernel_writes"),
        )
        config.stash[KNOWN_BUGS] = _known_bugs(config)
    config.stash[LAB_KEY] = session


def _known_bugs(config: pytest.Config) -> KnownBugs:
    """The list named by option or ini, else the repository's (none if it is not there)."""
    path = config.getoption("hil_known_bugs") or config.getini("known_kernel_bugs")
    if not path and not DEFAULT_PATH.is_file():
        return NO_BUGS
    try:
        return load_known_bugs(path or DEFAULT_PATH)
    except ConfigError as exc:
        raise pytest.UsageError(f"bad known kernel bugs file:\n{exc}") from None


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(LAB_KEY, None)
    if session is not None:
        session.close()


def lab_session(config: pytest.Config) -> LabSession | None:
    return config.stash.get(LAB_KEY, None)


def selected_pairs(config: pytest.Config) -> list[tuple[Machine, DeviceRef]]:
    session = lab_session(config)
    if session is None:
        return []
    machines = config.getoption("hil_machines") or ["*"]
    devices = config.getoption("hil_devices") or ["*"]
    pairs = []
    for machine in session.inventory.machines:
        if not any(fnmatchcase(machine.name, g) for g in machines):
            continue
        for ref in machine.device_refs():
            if any(fnmatchcase(ref.name, g) for g in devices):
                pairs.append((machine, ref))
    return pairs


def _device_matches(session: LabSession, ref: DeviceRef, marker: pytest.Mark | None) -> bool:
    if marker is None:
        return True
    profile = session.profile(ref)
    profiles = marker.kwargs.get("profiles") or (marker.args[0] if marker.args else None)
    classes = marker.kwargs.get("classes")
    if profiles and profile.name not in profiles:
        return False
    return not (classes and profile.device_class not in classes)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "hil_pair" not in metafunc.fixturenames:
        return
    session = lab_session(metafunc.config)
    marker = metafunc.definition.get_closest_marker("hil_device")
    if session is None:
        metafunc.parametrize(
            "hil_pair", [pytest.param(None, marks=pytest.mark.skip(reason=NO_LAB))], ids=["no-lab"]
        )
        return
    params = []
    for machine, ref in selected_pairs(metafunc.config):
        if not _device_matches(session, ref, marker):
            continue
        params.append(
            pytest.param((machine.name, ref.name), id=f"{machine.name}/{ref.name}",
                         marks=pytest.mark.xdist_group(machine.name))
        )  # fmt: skip
    if not params:
        wanted = marker.kwargs if marker is not None else {}
        reason = f"no device in {session.inventory.path} matches {wanted or 'this test'}"
        params = [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="no-device")]
    metafunc.parametrize("hil_pair", params)


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> Any:
    if file_path.suffix in (".yaml", ".yml") and file_path.name.startswith("scenario_"):
        return collect_scenario_file(parent, file_path)
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    session = lab_session(item.config)
    pair = getattr(item, "callspec", None)
    if (
        session is None
        or pair is None
        or "hil_pair" not in pair.params
        or pair.params["hil_pair"] is None
    ):
        return
    machine, device = pair.params["hil_pair"]
    reason = pair_skip_reason(session, item, machine, device)
    if reason:
        pytest.skip(reason)
    xfail_pair_if_known_bug(item, session, machine)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    session = lab_session(config)
    if session is not None:
        write_terminal_summary(terminalreporter, session)
