"""`--ktap PATH`: a pytest run as KTAP v1, as kernel CI systems parse it."""

from __future__ import annotations

import re

import pytest

from hil.report.ktap import KtapCase, KtapOutcome, ktap_name, render_ktap

pytest_plugins = ["pytester"]

SUITE = """
import pytest

def test_pass():
    pass

def test_fail():
    assert 1 == 2, "model and machine disagree on vm-x"

@pytest.mark.skip(reason="needs IR; vm-61-noir has none")
def test_skip():
    pass

@pytest.mark.xfail(reason="known kernel bug")
def test_xfail():
    raise RuntimeError("boom")

@pytest.fixture
def broken():
    raise OSError("no such machine")

def test_setup_error(broken):
    pass

@pytest.mark.parametrize("pair", ["vm-612-ir/igb0"])
def test_param(pair):
    pass
"""


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_k=SUITE)
    return pytester.runpytest("-p", "hil.plugin.report_hooks", "-p", "no:cacheprovider", *args)


def test_ktap_file_has_version_plan_and_one_result_line_per_test(
    pytester: pytest.Pytester,
) -> None:
    result = _run(pytester, "--ktap", "out/results.ktap")
    result.assert_outcomes(passed=2, failed=1, skipped=1, xfailed=1, errors=1)
    lines = (pytester.path / "out" / "results.ktap").read_text().splitlines()
    assert lines[:2] == ["KTAP version 1", "1..6"]
    results = [line for line in lines[2:] if not line.startswith("#")]
    assert results == [
        "ok 1 test_k.py::test_pass",
        "not ok 2 test_k.py::test_fail",
        "ok 3 test_k.py::test_skip # SKIP needs IR; vm-61-noir has none",
        "ok 4 test_k.py::test_xfail # XFAIL known kernel bug",
        "not ok 5 test_k.py::test_setup_error # ERROR setup: OSError: no such machine",
        "ok 6 test_k.py::test_param[vm-612-ir/igb0]",
    ]


def test_a_failure_is_explained_by_diagnostic_lines_just_before_its_result(
    pytester: pytest.Pytester,
) -> None:
    _run(pytester, "--ktap", "r.ktap")
    lines = (pytester.path / "r.ktap").read_text().splitlines()
    failed = lines.index("not ok 2 test_k.py::test_fail")
    passed = lines.index("ok 1 test_k.py::test_pass")
    diagnostics = lines[passed + 1 : failed]
    assert diagnostics and all(line.startswith("# ") for line in diagnostics)
    assert any("model and machine disagree on vm-x" in line for line in diagnostics)


def test_no_ktap_file_unless_asked(pytester: pytest.Pytester) -> None:
    _run(pytester)
    assert not list(pytester.path.rglob("*.ktap"))


def test_names_lose_hashes_and_spaces_which_ktap_descriptions_cannot_hold() -> None:
    assert ktap_name("t.py::test[a # b]") == "t.py::test[a___b]"
    text = render_ktap([KtapCase("a b", KtapOutcome.SKIP, "why\nnot")])
    assert text == "KTAP version 1\n1..1\nok 1 a_b # SKIP why not\n"


def test_empty_run_is_a_valid_plan() -> None:
    assert render_ktap([]) == "KTAP version 1\n1..0\n"


def test_under_xdist_the_controller_writes_every_test_once(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_k=SUITE)
    result = pytester.runpytest_subprocess(
        "-p", "hil.plugin.report_hooks", "-p", "no:cacheprovider", "-n", "2",
        "--ktap", "x.ktap",
    )  # fmt: skip
    result.assert_outcomes(passed=2, failed=1, skipped=1, xfailed=1, errors=1)
    lines = (pytester.path / "x.ktap").read_text().splitlines()
    assert lines[:2] == ["KTAP version 1", "1..6"]
    parsed = [re.match(r"(?:not )?ok (\d+) (\S+)", line) for line in lines[2:]]
    found = [m.groups() for m in parsed if m is not None]
    assert [int(number) for number, _ in found] == list(range(1, 7))
    assert sorted(name for _, name in found) == sorted(
        f"test_k.py::{name}"
        for name in (
            "test_pass", "test_fail", "test_skip", "test_xfail", "test_setup_error",
            "test_param[vm-612-ir/igb0]",
        )
    )  # fmt: skip
