"""known_kernel_bugs.yaml: its errors, its matching, and the xfail it puts on a lab run.

The lab runs use the fake local machine of `tests/cli/fake_lab.py` (kernel
6.12.95, IR intel) behind the real LabSession, so the marks are added at
the very points a real run adds them.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from hil.lab.configfile import ConfigError
from hil.model.kernel import KernelVersion
from hil.model.vocabulary import IrType
from hil.plugin.known_bugs import DEFAULT_PATH, KnownBugs, load_known_bugs
from tests.cli.fake_lab import INVENTORY, SCENARIO, FakeOps, ops_factory

pytest_plugins = ["pytester"]

LINK = "https://lore.kernel.org/r/example"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bugs.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def bugs_of(tmp_path: Path, text: str) -> KnownBugs:
    return load_known_bugs(write(tmp_path, text))


def only_issue(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        bugs_of(tmp_path, text)
    (issue,) = info.value.issues
    return str(issue)


def test_the_shipped_list_loads() -> None:
    load_known_bugs(DEFAULT_PATH)


# -- errors: file, line, field and the fix -------------------------------------------------


def test_unknown_key_names_its_line_and_the_valid_keys(tmp_path: Path) -> None:
    issue = only_issue(
        tmp_path,
        f"""\
        bugs:
          - id: a
            kernel: ">=6.5"
            tests: ["*::test_x"]
            reason: r
            link: {LINK}
            stricct: false
        """,
    )
    assert issue.startswith(f"{tmp_path / 'bugs.yaml'}:7: bugs[0].stricct: unknown field")
    assert "valid here: id, kernel, tests, scenarios, ir, reason, link, strict" in issue


@pytest.mark.parametrize(
    ("kernel", "message"),
    [
        ('">=6.5,6.x"', "bad kernel clause '6.x' (use e.g. '>=6.5' or '>=6.2,<6.10')"),
        ("6.10", 'write the range as a quoted string such as ">=6.5,<6.10"'),
    ],
)
def test_bad_range_names_the_clause(tmp_path: Path, kernel: str, message: str) -> None:
    issue = only_issue(
        tmp_path,
        f"""\
        bugs:
          - id: a
            kernel: {kernel}
            tests: ["*::test_x"]
            reason: r
            link: {LINK}
        """,
    )
    assert issue.startswith(f"{tmp_path / 'bugs.yaml'}:3: bugs[0].kernel: {message}")


def test_missing_link_is_named(tmp_path: Path) -> None:
    issue = only_issue(
        tmp_path,
        """\
        bugs:
          - id: a
            kernel: ">=6.5"
            tests: ["*::test_x"]
            reason: r
        """,
    )
    assert issue == f"{tmp_path / 'bugs.yaml'}:2: bugs[0].link: required field is missing"


def test_a_link_must_be_a_url(tmp_path: Path) -> None:
    issue = only_issue(
        tmp_path,
        """\
        bugs:
          - id: a
            kernel: ">=6.5"
            tests: ["*::test_x"]
            reason: r
            link: lore thread of May
        """,
    )
    assert issue.startswith(f"{tmp_path / 'bugs.yaml'}:6: bugs[0].link: 'lore thread of May'")
    assert "is not a URL such as 'https://lore.kernel.org/...'" in issue


def test_a_bug_must_name_its_tests(tmp_path: Path) -> None:
    issue = only_issue(
        tmp_path,
        f"""\
        bugs:
          - {{id: a, kernel: ">=6.5", reason: r, link: "{LINK}"}}
        """,
    )
    assert issue.startswith(f"{tmp_path / 'bugs.yaml'}:2: bugs[0]: name the tests it breaks")


def test_ids_are_unique(tmp_path: Path) -> None:
    issue = only_issue(
        tmp_path,
        f"""\
        bugs:
          - {{id: a, kernel: ">=6.5", tests: ["*"], reason: r, link: "{LINK}"}}
          - {{id: a, kernel: "<6.5", tests: ["*"], reason: r, link: "{LINK}"}}
        """,
    )
    assert issue == f"{tmp_path / 'bugs.yaml'}:3: bugs[1].id: duplicate id 'a'; ids must be unique"


def test_a_list_is_not_the_file(tmp_path: Path) -> None:
    issue = only_issue(tmp_path, "- id: a\n")
    assert issue.endswith(
        "<top>: a known kernel bugs file is a mapping: bugs: [...] (may be empty)"
    )


def test_every_entry_commented_out_is_an_empty_list(tmp_path: Path) -> None:
    assert bugs_of(tmp_path, "bugs:\n#  - id: a\n").bugs == []


# -- matching ------------------------------------------------------------------------------

BUGS = f"""\
bugs:
  - id: vector-move
    kernel: ">=6.7,<6.9.12"
    tests: ["tests/hil/test_every_vector.py::*"]
    scenarios: ["affinity-*"]
    reason: r
    link: {LINK}
  - id: intel-only
    kernel: "==6.12"
    tests: ["*::test_ims_*"]
    ir: intel
    reason: r
    link: {LINK}
"""


def found(bugs: KnownBugs, test: str, scenario: str | None, kernel: str, ir: IrType) -> str | None:
    bug = bugs.find(test, scenario, KernelVersion.parse(kernel), ir)
    return bug.id if bug is not None else None


def test_tests_globs_match_the_node_id_and_scenario_globs_the_name(tmp_path: Path) -> None:
    bugs = bugs_of(tmp_path, BUGS)
    every = "tests/hil/test_every_vector.py::test_every_vector_fires_once"
    assert found(bugs, every, None, "6.8.1", IrType.NONE) == "vector-move"
    assert found(bugs, "s/scenario_a.yaml::affinity-rules", "affinity-rules", "6.8", IrType.NONE)
    assert found(bugs, "s/scenario_c.yaml::cpu-hotplug", "cpu-hotplug", "6.8", IrType.NONE) is None
    assert found(bugs, "tests/hil/test_faults.py::test_x", None, "6.8.1", IrType.NONE) is None
    # A scenario glob never matches a hand-written test's function name.
    assert found(bugs, "t.py::affinity-rules", None, "6.8.1", IrType.NONE) is None


def test_kernel_range_and_ir_choose_the_machines(tmp_path: Path) -> None:
    bugs = bugs_of(tmp_path, BUGS)
    every = "tests/hil/test_every_vector.py::test_every_vector_fires_once"
    assert found(bugs, every, None, "6.9.11", IrType.INTEL) == "vector-move"
    assert found(bugs, every, None, "6.9.12", IrType.INTEL) is None
    assert found(bugs, every, None, "6.6.30", IrType.INTEL) is None
    ims = "tests/hil/test_ims_api.py::test_ims_vectors_follow_the_seed_policy"
    assert found(bugs, ims, None, "6.12.95+deb12-amd64", IrType.INTEL) == "intel-only"
    assert found(bugs, ims, None, "6.12.95+deb12-amd64", IrType.AMD) is None
    assert found(bugs, ims, None, "6.1.0-37-amd64", IrType.INTEL) is None


# -- a lab run -----------------------------------------------------------------------------

TESTS = """
def test_fails(hil_pair):
    assert False, "the kernel lost it"

def test_strict_pass(hil_pair):
    pass

def test_lenient_pass(hil_pair):
    pass

def test_outside(hil_pair):
    assert False

def test_other_ir(hil_pair):
    assert False
"""

RUN_BUGS = f"""\
bugs:
  - id: in-range
    kernel: ">=6.12"
    tests: ["test_k.py::test_fails", "*::test_strict_*"]
    reason: the 6.12 kernel loses it
    link: {LINK}
  - id: lenient
    kernel: ">=6.12"
    tests: ["*::test_lenient_pass"]
    reason: sometimes
    link: {LINK}
    strict: false
  - id: older-kernels
    kernel: "<6.12"
    tests: ["*::test_outside"]
    reason: r
    link: {LINK}
  - id: without-ir
    kernel: ">=6.1"
    tests: ["*::test_other_ir"]
    ir: none
    reason: r
    link: {LINK}
  - id: scenario-bug
    kernel: "==6.12"
    scenarios: ["fake-*"]
    reason: moves land one CPU off
    link: {LINK}
"""


def run_lab(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    bugs: str,
    *args: str,
    misroute: bool = False,
) -> tuple[pytest.RunResult, list[FakeOps]]:
    created: list[FakeOps] = []
    monkeypatch.setattr("hil.plugin.session.MachineOps", ops_factory(created, misroute=misroute))
    monkeypatch.setenv("HIL_LAB_STATE", str(pytester.path / "state"))
    pytester.makefile(".yaml", lab=INVENTORY, bugs=bugs)
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "--lab", "lab.yaml",
        "--lab-device", "nic0", "--known-kernel-bugs", "bugs.yaml", *args,
    )  # fmt: skip
    return result, created


def test_listed_tests_on_an_affected_machine_are_xfail_with_reason_and_link(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_k=TESTS)
    pytester.makefile(".yaml", scenario_fake=SCENARIO)
    result, _ = run_lab(
        pytester, monkeypatch, RUN_BUGS, "-rxXf", "--alluredir", "res", misroute=True
    )
    result.assert_outcomes(failed=3, xfailed=2, xpassed=1)
    result.stdout.fnmatch_lines_random(
        [
            "XFAIL test_k.py::test_fails[[]bench/nic0[]] - "
            f"known kernel bug in-range: the 6.12 kernel loses it ({LINK})",
            "XFAIL scenario_fake.yaml::fake-partial-request[[]bench/nic0[]] - "
            f"known kernel bug scenario-bug: moves land one CPU off ({LINK})",
            "XPASS test_k.py::test_lenient_pass[[]bench/nic0[]] - known kernel bug lenient: *",
            "FAILED test_k.py::test_strict_pass[[]bench/nic0[]]*",
            # Outside the range, or on a machine with other IR: an ordinary failure.
            "FAILED test_k.py::test_outside[[]bench/nic0[]] - assert False",
            "FAILED test_k.py::test_other_ir[[]bench/nic0[]] - assert False",
        ]
    )
    assert "[XPASS(strict)] known kernel bug in-range" in result.stdout.str()
    links = {}
    for path in (pytester.path / "res").glob("*-result.json"):
        data = json.loads(path.read_text())
        links[data["name"]] = [(link["name"], link["url"]) for link in data.get("links", [])]
    assert links["test_fails[bench/nic0]"] == [("known kernel bug in-range", LINK)]
    assert links["test_outside[bench/nic0]"] == []
    (scenario,) = (links[name] for name in links if name.startswith("fake-partial-request"))
    assert scenario == [("known kernel bug scenario-bug", LINK)]


def test_a_scenario_bug_excuses_a_mismatch_not_a_machine_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makefile(".yaml", scenario_fake=SCENARIO)

    def broken_run_step(self: FakeOps, number: int, step: object) -> None:
        raise OSError("agent went away")

    monkeypatch.setattr(FakeOps, "run_step", broken_run_step)
    result, _ = run_lab(pytester, monkeypatch, RUN_BUGS)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["on the machine: run_step: OSError: agent went away"])


def test_a_test_no_bug_lists_does_not_reach_its_machine_early(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_k="def test_plain(hil_pair):\n    pass\n")
    result, machines = run_lab(pytester, monkeypatch, RUN_BUGS)
    result.assert_outcomes(passed=1)
    assert machines == []


def test_a_bad_file_stops_the_run_with_file_line_and_field(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_k="def test_plain(hil_pair):\n    pass\n")
    bad = "bugs:\n  - {id: a, kernel: '>=6.1', tests: ['*'], reason: r}\n"
    result, _ = run_lab(pytester, monkeypatch, bad)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*bad known kernel bugs file:",
            "*bugs.yaml:2: bugs[[]0[]].link: required field is missing",
        ]
    )
    assert "Traceback" not in result.stderr.str() + result.stdout.str()
