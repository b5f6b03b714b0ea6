"""Bad input never gives a traceback, and every error says file, line and field.

Hypothesis mutates valid inventory, profile, scenario and known-kernel-bugs files (keys
deleted or added, wrong types, bad BDFs and cpulists, broken YAML, bytes
that are not UTF-8, truncation) and CLI argument lists.  Each case must end
in success, a `ConfigError` (exit 2 from the CLI), a click usage error
(exit 2) or a one-line `hil:` failure (exit 1); never in any other
exception.  Every `ConfigIssue` must name the file, carry a field path
unless the whole file is unusable, and a line number wherever the path
reaches a key that is in the text; that line must hold the key.

1150 cases in all; the example counts below keep the run near 15 s on an idle core.
"""

from __future__ import annotations

import ast
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from hil.cli.main import cli
from hil.cli.predict import predict_scenario
from hil.lab.configfile import ConfigError, ConfigIssue
from hil.lab.inventory import DEFAULT_PROFILES_FOLDER, Inventory
from hil.lab.profiles import Profile, ProfileSet
from hil.plugin.known_bugs import load_known_bugs
from tests.fuzz.mutations import NASTY_STRINGS, dump, user_file

FUZZ = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

FILE_LEVEL = (
    "YAML syntax",
    "cannot read",
    "file not found",
    "a scenario is a mapping",
    "an inventory is a mapping",
    "a profile is a mapping",
    "a known kernel bugs file is a mapping",
)
"""Messages about the file as a whole: no field to name."""

INVENTORY: dict[str, Any] = {
    "lab": "fuzz",
    "machines": [
        {
            "name": "vm-a",
            "transport": "virtual",
            "expect": {"ir": "intel", "cpus": 4, "kernel": "6.12"},
            "virtual": {
                "kernel": "6.12",
                "cpus": 4,
                "memory": "2G",
                "intremap": "on",
                "devices": [
                    {"name": "nic0", "model": "e1000e", "profile": "e1000e"},
                    {"name": "bell0", "model": "ivshmem-doorbell", "profile": "ivshmem-doorbell",
                     "vectors": 64},
                ],
            },
            "devices": [{"name": "nic0", "profile": "e1000e", "peer": "bell0"}],
        },
        {
            "name": "bench",
            "transport": "local",
            "devices": [
                {"name": "dsa0", "profile": "idxd-dsa", "bdf": "0000:6a:01.0"},
                {"name": "nic1", "profile": "igb", "pci_id": "8086:10c9", "instance": 1},
            ],
        },
        {"name": "far", "transport": "ssh", "ssh": {"host": "lab-host", "port": 2222}},
    ],
}  # fmt: skip

PROFILE: dict[str, Any] = {
    "name": "fuzzdev",
    "class": "nic",
    "pci_ids": ["8086:10d3", "8086:10c9"],
    "driver": "e1000e",
    "interrupts": {
        "msi": {"max_vectors": 4, "is_64bit": True, "maskable": True},
        "msix": {"table_size": 5},
        "ims": {"storage": "device", "size": 8},
        "multi_msi": True,
    },
    "quirks": ["clear-icr-between-fires"],
    "requires": {"qemu": ">=8.0"},
    "verified_on_hardware": True,
    "evidence": "bundle.json",
}

SCENARIO: dict[str, Any] = {
    "name": "fuzz-scenario",
    "applies_to": {"profiles": ["e1000e"], "requires": {"ir": "yes", "kernel": ">=6.2"}},
    "machine": {
        "cpus": 4,
        "online": [0, 1, 2, 3],
        "ir": "intel",
        "kernel": "6.12.95",
        "apic_mode": "physical flat",
        "calibration": {
            "allocated": [6, 6, 6, 5],
            "irte_next": 35,
            "irq_next": 41,
            "apicids": [0, 1, 2, 3],
        },
    },
    "devices": {"nic": {"profile": "e1000e"}, "dev": {"caps": {"msi": 4, "msix": 8}}},
    "steps": [
        {"enable": {"device": "nic", "index": "msix", "count": 5, "unrequested": [4]}},
        {"fire": {"device": "nic", "vector": 0}},
        {"affinity": {"device": "nic", "vector": 0, "cpus": "2-3"}},
        {"fire_while_moving": {"device": "nic", "vector": 0, "fires": 10, "masks": ["1", "2-3"]}},
        {"store": {"device": "nic", "vector": 0}},
        {"cpu_offline": 2},
        {"fire_stored": {"device": "nic"}},
        {"cpu_online": 2},
        {"enable": {"device": "dev", "index": "msi", "count": 4}},
        {"request": {"device": "dev", "vector": 1}},
        {"release": {"device": "dev", "vector": 1}},
        {"disable": {"device": "nic"}},
    ],
}

KNOWN_BUGS: dict[str, Any] = {
    "bugs": [
        {
            "id": "vector-move",
            "kernel": ">=6.7,<6.9.12",
            "tests": ["tests/hil/test_every_vector.py::*"],
            "scenarios": ["affinity-*"],
            "ir": "none",
            "reason": "an affinity move drops the next interrupt",
            "link": "https://lore.kernel.org/r/example",
            "strict": False,
        },
        {"id": "b", "kernel": "==6.12", "tests": ["*"], "reason": "r", "link": "https://x.y/1"},
    ],
}


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    # Module-scoped: hypothesis runs many examples per test function call.
    with tempfile.TemporaryDirectory(prefix="hil-fuzz-") as name:
        yield Path(name)


@pytest.fixture(scope="module")
def repo_profiles() -> ProfileSet:
    return ProfileSet.load(DEFAULT_PROFILES_FOLDER)


_PART = re.compile(r"\[(\d+)\]|\[('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")\]|\.?([^.\[\]]+)")
"""One part of a field path: `[3]`, `['quoted key']` or `.name`."""


def _resolve(data: Any, field: str) -> tuple[int, Any]:
    """How many parts of `field` lead through `data`, and the last key reached."""
    node, depth, last = data, 0, None
    for index, quoted, name in _PART.findall(field):
        key: Any = int(index) if index else ast.literal_eval(quoted) if quoted else name
        if (isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node)) or (
            isinstance(node, dict) and key in node
        ):
            node = node[key]
        elif isinstance(node, dict) and isinstance(key, str) and key.isdigit() and int(key) in node:
            key = int(key)
            node = node[key]
        else:
            break
        depth, last = depth + 1, key
    return depth, last


def _plain_data(raw: bytes) -> Any:
    try:
        return YAML(typ="safe").load(raw.decode("utf-8"))
    except Exception:  # unparseable: only file-level issues are possible then
        return None


def check_issues(error: ConfigError, path: Path, raw: bytes) -> None:
    assert error.issues, "a ConfigError without issues tells the user nothing"
    event("ConfigError")  # `--hypothesis-show-statistics` shows how many cases were refused
    data = _plain_data(raw)
    lines = raw.decode("utf-8", errors="replace").splitlines()
    for issue in error.issues:
        check_issue(issue, path, data, lines)


def check_issue(issue: ConfigIssue, path: Path, data: Any, lines: list[str]) -> None:
    assert issue.file == str(path), issue
    assert issue.message, issue
    if not issue.field:
        assert issue.message.startswith(FILE_LEVEL), f"no field path: {issue}"
        return
    depth, last = _resolve(data, issue.field)
    if depth == 0:
        return  # a missing top-level key has no line to point at
    assert issue.line is not None, f"{issue} names a key that is in the text but no line"
    assert 1 <= issue.line <= len(lines), issue
    if isinstance(last, str) and re.fullmatch(r"[\w-]+", last):
        # A key written as is (not escaped or quoted) must be on the line named.
        assert last in lines[issue.line - 1], (
            f"{issue}: line {issue.line} is {lines[issue.line - 1]!r}"
        )


def write(folder: Path, name: str, raw: bytes) -> Path:
    path = folder / name
    path.write_bytes(raw)
    return path


@settings(FUZZ, max_examples=250)
@given(raw=user_file(INVENTORY))
def test_inventory_files(workdir: Path, repo_profiles: ProfileSet, raw: bytes) -> None:
    path = write(workdir, "lab_inventory.yaml", raw)
    try:
        inventory = Inventory.load(path)
        issues = inventory.profile_issues(repo_profiles)
        if issues:
            raise ConfigError(issues)
    except ConfigError as error:
        check_issues(error, path, raw)


@settings(FUZZ, max_examples=200)
@given(raw=user_file(PROFILE))
def test_profile_files(workdir: Path, raw: bytes) -> None:
    folder = workdir / "profiles"
    folder.mkdir(exist_ok=True)
    path = write(folder, "fuzzdev.yaml", raw)
    try:
        Profile.load(path)
        ProfileSet.load(folder)
    except ConfigError as error:
        check_issues(error, path, raw)


@settings(FUZZ, max_examples=250)
@given(raw=user_file(SCENARIO))
def test_scenario_files_load_and_predict(workdir: Path, raw: bytes) -> None:
    path = write(workdir, "scenario_fuzz.yaml", raw)
    try:
        # Loading, the machine block, the profiles and every model step.
        predict_scenario(path, DEFAULT_PROFILES_FOLDER)
    except ConfigError as error:
        # Profile problems name the profile file, not the scenario: only the
        # scenario's own issues are held to its text.
        own = [i for i in error.issues if i.file == str(path)]
        others = [i for i in error.issues if i.file != str(path)]
        assert all(Path(i.file).parent == DEFAULT_PROFILES_FOLDER for i in others), others
        if own:
            check_issues(ConfigError(own), path, raw)


@settings(FUZZ, max_examples=100)
@given(raw=user_file(KNOWN_BUGS))
def test_known_kernel_bugs_files(workdir: Path, raw: bytes) -> None:
    path = write(workdir, "known_kernel_bugs.yaml", raw)
    try:
        load_known_bugs(path)
    except ConfigError as error:
        check_issues(error, path, raw)


def _invoke(args: list[str]) -> click.testing.Result:
    result = CliRunner().invoke(cli, args)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"hil {args}: traceback") from result.exception
    assert result.exit_code in (0, 1, 2), (args, result.exit_code, result.output)
    assert "Traceback" not in result.output
    return result


KINDS = {
    "inventory": (INVENTORY, ["check", "--profiles", str(DEFAULT_PROFILES_FOLDER)]),
    "scenario": (SCENARIO, ["predict", "--format", "json"]),
}


@settings(FUZZ, max_examples=150)
@given(data=st.data(), kind=st.sampled_from(sorted(KINDS)))
def test_cli_on_mutated_files(workdir: Path, data: st.DataObject, kind: str) -> None:
    base, command = KINDS[kind]
    raw = data.draw(user_file(base))
    path = write(workdir, f"cli_{kind}.yaml", raw)
    result = _invoke([*command, str(path)])
    event(f"exit {result.exit_code}")
    assert result.exit_code in (0, 2), result.output  # a file's fault is exit 2, never 1
    if result.exit_code == 2:
        assert result.stdout == ""
        assert result.stderr.startswith(str(path)), result.stderr


# -- argument lists ------------------------------------------------------------------------

RUN = ("check", "predict", "rejudge", "irqs", "leases")
"""Commands run in full: they only read files (leases is pointed at a scratch folder)."""

PARSE_ONLY = (
    ("restore",),
    ("scenario", "run"),
    ("lab", "up"),
    ("lab", "down"),
    ("lab", "status"),
    ("lab", "kernels"),
    ("devices",),
)
"""Commands that act on machines: only their argument parsing is fuzzed here."""

OPTIONS = (
    "--profiles", "--format", "--json", "--file", "--root", "--filter", "--dir", "--lab",
    "--machine", "--journal", "--evidence", "--help", "--formt", "-x", "--json=1", "--", "-",
)  # fmt: skip


def _command(path: tuple[str, ...]) -> click.Command:
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    return command


@pytest.fixture(scope="module")
def arg_values(workdir: Path) -> list[str]:
    scenario = write(workdir, "scenario_ok.yaml", dump(SCENARIO).encode())
    broken = write(workdir, "broken.yaml", b"name: [\n\xff")
    (workdir / "a-folder").mkdir(exist_ok=True)
    return [
        str(scenario),
        str(broken),
        str(workdir / "missing.yaml"),
        str(workdir / "a-folder"),
        "table",
        "json",
        "xml",
        "bench",
        "",
        *NASTY_STRINGS[:8],
    ]


@settings(FUZZ, max_examples=200)
@given(data=st.data())
def test_cli_argument_lists(workdir: Path, arg_values: list[str], data: st.DataObject) -> None:
    tokens = data.draw(
        st.lists(st.one_of(st.sampled_from(OPTIONS), st.sampled_from(arg_values)), max_size=6)
    )
    if data.draw(st.booleans()):
        name = data.draw(st.sampled_from(RUN))
        scratch = ["--dir", str(workdir / "leases")] if name == "leases" else []
        event(f"{name}: exit {_invoke([name, *tokens, *scratch]).exit_code}")
        return
    path = data.draw(st.sampled_from(PARSE_ONLY))
    command = _command(path)
    try:
        with command.make_context(" ".join(path), list(tokens)):
            pass
    except click.exceptions.Exit as exc:
        assert exc.exit_code == 0  # --help
    except click.ClickException as exc:
        assert exc.exit_code == 2, exc.format_message()
