"""`pytest --lab ... -n N` keeps each machine on one xdist worker.

A machine is leased whole, so tests of one machine spread over two workers
would find it leased by each other and skip.  The plugin makes `loadgroup`
the default and refuses the other distribution modes.
"""

from __future__ import annotations

import re

import pytest

from tests.cli.fake_lab import INVENTORY

pytest_plugins = ["pytester"]

TESTS = "\n".join(f"def test_{k}(hil_pair):\n    pass\n" for k in range(6))


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makefile(".yaml", lab=INVENTORY)
    pytester.makepyfile(test_k=TESTS)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "--lab", "lab.yaml", *args)


def test_plain_dash_n_runs_every_test_of_a_machine_on_one_worker(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HIL_LAB_STATE", str(pytester.path / "state"))
    result = run(pytester, "-n", "2", "-v")
    result.assert_outcomes(passed=12)
    workers = set(re.findall(r"\[(gw\d)\] \[ *\d+%\] PASSED .*@bench", result.stdout.str()))
    assert len(workers) == 1, result.stdout.str()


@pytest.mark.parametrize("dist", ["load", "loadfile", "worksteal"])
def test_a_mode_that_would_split_a_machine_is_refused_with_the_fix(
    pytester: pytest.Pytester, dist: str
) -> None:
    result = run(pytester, "-n", "2", "--dist", dist)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: --dist {dist}: *use --dist loadgroup*"])


def test_without_a_lab_the_default_is_left_to_xdist(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_k="def test_x():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "--dist", "load")
    result.assert_outcomes(passed=1)
