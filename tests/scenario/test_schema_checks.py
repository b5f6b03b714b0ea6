"""Scenario file checks that must stop a bad value at load time, with its line.

Each of these values once reached the model or a lab run before anything
refused it (a crash, a hang, or a late pytest usage error); the fuzz tests
in tests/fuzz/ look for more.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hil.lab.configfile import ConfigError
from hil.model.steps import Fire, describe
from hil.scenario.loader import load_scenario
from hil.scenario.schema import MAX_CPU, parse_cpus

BASE = """\
name: checks
applies_to: {requires: {kernel: ">=6.2"}}
machine:
  cpus: 4
  ir: none
  kernel: 6.12.95
  calibration: {irte_next: 35, vectors: {0: [33, 34]}}
devices:
  nic: {caps: {msix: 5}}
steps:
  - enable: {device: nic, index: msix, count: 5, unrequested: [4]}
  - affinity: {device: nic, vector: 0, cpus: "0-3"}
"""


def load_issues(tmp_path: Path, old: str, new: str) -> list[str]:
    assert old in BASE
    path = tmp_path / "scenario_checks.yaml"
    path.write_text(BASE.replace(old, new))
    with pytest.raises(ConfigError) as caught:
        load_scenario(path)
    return [str(issue).removeprefix(f"{path}:") for issue in caught.value.issues]


def test_the_base_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "scenario_checks.yaml"
    path.write_text(BASE)
    assert len(load_scenario(path).steps) == 2


def test_a_fire_burst_loads_as_one_step(tmp_path: Path) -> None:
    path = tmp_path / "scenario_checks.yaml"
    path.write_text(BASE + "  - fire: {device: nic, vector: 0, times: 100}\n")
    assert load_scenario(path).steps[-1] == Fire("nic", 0, 100)
    assert describe(Fire("nic", 0, 100)) == "fire nic[0] x100"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "unrequested: [4]",
            "unrequested: [5]",
            "11: steps[0].enable: unrequested entries [5] are outside the block 0..4",
        ),
        (
            "kernel: 6.12.95",
            "kernel: latest",
            "6: machine.kernel: 'latest' is not a kernel release such as '6.12.95'",
        ),
        (
            '">=6.2"',
            '"6.2+"',
            "2: applies_to.requires.kernel: '6.2+': write comparisons such as '>=6.5'",
        ),
        ('cpus: "0-3"', 'cpus: "0-99999999"', "12: steps[1].affinity.cpus: CPU numbers go from 0"),
        ('cpus: "0-3"', "cpus: [-1]", "12: steps[1].affinity.cpus: CPU numbers go from 0"),
        ("irte_next: 35", "irte_next: -1", "7: machine.calibration.irte_next: Input should be"),
        (
            "{0: [33, 34]}",
            "{0: [33, 33]}",
            "7: machine.calibration.vectors: CPU 0 lists vectors [33] more than once",
        ),
        ("{0: [33, 34]}", "{0: [33, 256]}", "7: machine.calibration.vectors[0][1]: Input should"),
        (
            'cpus: "0-3"}',
            'cpus: "0-3"}\n  - fire: {device: nic, vector: 0, times: 0}',
            "13: steps[2].fire.times: Input should be greater than or equal to 1",
        ),
    ],
)
def test_bad_values_are_refused_with_their_line(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    found = load_issues(tmp_path, old, new)
    assert any(line.startswith(expected) for line in found), found


def test_a_huge_cpu_range_is_refused_before_it_is_expanded() -> None:
    start = time.monotonic()
    with pytest.raises(ValueError, match="CPU numbers go from 0 to 8191"):
        parse_cpus(f"0-{10**15}")
    assert time.monotonic() - start < 5  # refused at once; it once took 82 s


@pytest.mark.parametrize(
    ("text", "cpus"),
    [("2", (2,)), (" 0-2 , 5", (0, 1, 2, 5)), (f"{MAX_CPU}", (MAX_CPU,)), ("3-1", ())],
)
def test_cpu_lists_in_range_are_read(text: str, cpus: tuple[int, ...]) -> None:
    assert parse_cpus(text) == cpus


def test_fire_while_moving_loads_its_masks(tmp_path: Path) -> None:
    from hil.model.steps import FireWhileMoving

    path = tmp_path / "scenario_checks.yaml"
    step_line = (
        '  - fire_while_moving: {device: nic, vector: 0, fires: 50, masks: ["1", 2, "0-1"]}\n'
    )
    path.write_text(BASE + step_line)
    step = load_scenario(path).steps[-1]
    assert step == FireWhileMoving("nic", 0, 50, ((1,), (2,), (0, 1)))
    assert describe(step) == "fire nic[0] x50 while moving -> 1 | 2 | 0,1"


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ('{device: nic, vector: 0, fires: 1, masks: ["1"]}', "greater than or equal to 2"),
        ("{device: nic, vector: 0, fires: 5, masks: []}", "at least 1 item"),
        ('{device: nic, vector: 0, fires: 5, masks: "1-2"}', "a list of CPU lists"),
        ('{device: nic, vector: 0, fires: 5, masks: ["1", "x"]}', "expected CPUs like"),
    ],
)
def test_fire_while_moving_refuses_bad_values_with_their_line(
    tmp_path: Path, value: str, words: str
) -> None:
    issues = load_issues(
        tmp_path,
        '  - affinity: {device: nic, vector: 0, cpus: "0-3"}\n',
        f"  - fire_while_moving: {value}\n",
    )
    assert any(
        words in issue and issue.startswith("12: steps[1].fire_while_moving.") for issue in issues
    ), issues
