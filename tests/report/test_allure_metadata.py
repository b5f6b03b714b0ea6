"""environment.properties and categories.json in the --alluredir folder at session end."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hil.report.categories import CATEGORIES
from hil.report.environment import MachineFacts, environment_entries, render_properties

pytest_plugins = ["pytester"]

SUITE = """
import pytest
from hil.devices.base import DeviceError
from hil.lab.transport.protocol import AgentError, TransportError

def test_ok():
    pass

def test_mismatch():
    pytest.fail("model and machine disagree on vm-612-ir:\\n step table", pytrace=False)

def test_unreachable():
    pytest.fail("infrastructure: vm-61-ir: QEMU exited during start", pytrace=False)

def test_channel_broke():
    raise TransportError("vm-61-ir: channel closed by the machine")

def test_remote_device_error():
    raise AgentError("attach_device", "DeviceError", "edu0 did not answer")

def test_local_device_error():
    raise DeviceError("igb0: reset timed out")

def test_device_stopped_answering():
    pytest.fail(
        "on the machine: run_step: DeviceStoppedAnswering: igb0 (0000:00:03.0) stopped "
        "answering: config read of vendor ID returned 0xffff",
        pytrace=False,
    )

def test_plain_bug():
    assert 1 == 2
"""

EXPECTED_CATEGORY = {
    "test_mismatch": "Model mismatch",
    "test_unreachable": "Infrastructure error",
    "test_channel_broke": "Infrastructure error",
    "test_remote_device_error": "Device error",
    "test_local_device_error": "Device error",
    "test_device_stopped_answering": "Device error",
    "test_plain_bug": None,
}


def _results(pytester: pytest.Pytester) -> Path:
    pytester.makepyfile(test_meta=SUITE)
    result = pytester.runpytest(
        "-p", "hil.plugin.report_hooks", "-p", "no:cacheprovider", "--alluredir", "res"
    )
    result.assert_outcomes(passed=1, failed=7)
    return pytester.path / "res"


def _first_category(status: str, message: str, full_match: bool) -> str | None:
    """Allure 2 (Java) full-matches the regex; Allure 3 (JavaScript) searches with it."""
    for category in CATEGORIES:
        regex = re.compile(category["messageRegex"])
        hit = regex.fullmatch(message) if full_match else regex.search(message)
        if status in category["matchedStatuses"] and hit:
            return str(category["name"])
    return None


def test_categories_sort_the_real_failure_messages(pytester: pytest.Pytester) -> None:
    results = _results(pytester)
    written = json.loads((results / "categories.json").read_text())
    assert [c["name"] for c in written] == [
        "Model mismatch",
        "Infrastructure error",
        "Device error",
    ]
    seen = {}
    for path in results.glob("*-result.json"):
        data = json.loads(path.read_text())
        if data["status"] == "passed":
            continue
        message = data["statusDetails"]["message"]
        for full_match in (True, False):
            seen[data["name"], full_match] = _first_category(data["status"], message, full_match)
    for name, category in EXPECTED_CATEGORY.items():
        assert seen[name, True] == category, name
        assert seen[name, False] == category, name


def test_environment_names_versions_and_every_key_is_parsed_back(
    pytester: pytest.Pytester,
) -> None:
    results = _results(pytester)
    text = (results / "environment.properties").read_text()
    entries = dict(line.split("=", 1) for line in text.splitlines())
    assert entries["machines"] == "none"
    assert re.fullmatch(r"\d+\.\d+\.\d+.*|unknown \(package not installed\)", entries["pcie-hil"])
    assert entries["qemu"] == "not installed" or re.fullmatch(r"\d+\.\d+.*", entries["qemu"])


def test_nothing_is_written_without_alluredir(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_meta="def test_ok():\n    pass\n")
    pytester.runpytest("-p", "hil.plugin.report_hooks", "-p", "no:cacheprovider")
    assert not list(pytester.path.rglob("environment.properties"))
    assert not list(pytester.path.rglob("categories.json"))


def test_machines_are_listed_with_kernel_and_ir_or_why_unreachable() -> None:
    machines = [
        MachineFacts("vm-612-ir", "6.12.38+deb12-amd64", "intel", 21.5),
        MachineFacts("vm-61-noir", "6.1.0-37-amd64", "none"),
        MachineFacts("vm-61-ir", unavailable="vm-61-ir: QEMU exited during start"),
    ]
    entries = environment_entries(machines, "10.0.2", "0.1.0")
    assert entries == {
        "pcie-hil": "0.1.0",
        "qemu": "10.0.2",
        "machines": "vm-612-ir, vm-61-noir, vm-61-ir",
        "kernels": "6.1.0-37-amd64, 6.12.38+deb12-amd64",
        "ir_modes": "intel, none",
        "machine.vm-61-ir": "unreachable: vm-61-ir: QEMU exited during start",
        "machine.vm-61-noir": "kernel 6.1.0-37-amd64, IR none",
        "machine.vm-612-ir": "kernel 6.12.38+deb12-amd64, IR intel",
    }


def test_properties_escape_what_would_change_the_meaning() -> None:
    text = render_properties({"a key:x": "line1\nline2 = c:\\d"})
    assert text == "a\\ key\\:x=line1\\nline2 = c:\\\\d\n"


def test_machine_facts_survive_the_trip_from_an_xdist_worker() -> None:
    facts = MachineFacts("vm-612-ir", "6.12.38", "intel", 12.25)
    assert MachineFacts.from_json(json.loads(json.dumps(facts.to_json()))) == facts
