"""Kernel ranges: one syntax for hil_requires, scenario files and the known-bugs list."""

from __future__ import annotations

from pathlib import Path

import pytest

from hil.lab.configfile import ConfigError
from hil.lab.kernelrange import KernelRange
from hil.model.kernel import KernelVersion
from hil.plugin.requirements import kernel_matches
from hil.scenario.loader import load_scenario


@pytest.mark.parametrize(
    ("text", "release", "inside"),
    [
        (">=6.5", "6.5.0", True),
        (">=6.5", "6.4.16", False),
        ("<6.10", "6.9.12", True),
        ("<6.10", "6.10.3", False),
        # A clause compares as many components as it names.
        ("<=6.9", "6.9.5", True),
        (">6.9", "6.9.5", False),
        (">6.9", "6.10.0", True),
        ("==6.12", "6.12.95+deb12-amd64", True),
        # "fixed in stable 6.9.12"
        (">=6.7,<6.9.12", "6.9.11", True),
        (">=6.7,<6.9.12", "6.9.12", False),
        (">=6.7,<6.9.12", "6.6.30", False),
        (" >= 6.2 , < 6.10 ", "6.5.0", True),
    ],
)
def test_range_contains(text: str, release: str, inside: bool) -> None:
    assert KernelRange.parse(text).contains(KernelVersion.parse(release)) is inside


@pytest.mark.parametrize("bad", ["6.12", "=>6.1", ">=6.x", "", ">=6.2,", "!=6.1", ">=6.2;<6.10"])
def test_bad_ranges_say_which_clause_and_how_to_write_one(bad: str) -> None:
    with pytest.raises(ValueError, match=r"bad kernel clause .* \(use e\.g\. '>=6\.5'"):
        KernelRange.parse(bad)


def test_hil_requires_reports_a_bad_range_as_a_usage_error() -> None:
    with pytest.raises(pytest.UsageError, match=r"^hil_requires: bad kernel clause '6\.x'"):
        kernel_matches(KernelVersion.parse("6.12.0"), ">=6.1,6.x")


def test_a_scenario_range_is_checked_by_the_same_parser(tmp_path: Path) -> None:
    path = tmp_path / "scenario_k.yaml"
    path.write_text(
        "name: k\n"
        "applies_to: {requires: {kernel: '>=6.2,<6.x'}}\n"
        "devices: {nic: {caps: {msix: 2}}}\n"
        "steps: [{enable: {device: nic, index: msix, count: 1}}]\n"
    )
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    (issue,) = info.value.issues
    assert (issue.line, issue.field) == (2, "applies_to.requires.kernel")
    assert issue.message == "'>=6.2,<6.x': write comparisons such as '>=6.5' or '>=6.2,<6.10'"
