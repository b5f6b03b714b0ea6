"""`hil report`: build the Allure 3 HTML report and see it render in headless Chromium.

Skips, naming what is missing, without node, the project's Allure 3 CLI
(`scripts/setup --report`) or Chromium.  The screenshot is kept under
test-artifacts/ as the artifact CI uploads (not in allure-report/, which
`hil report` refuses to overwrite once it holds anything but a report).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from hil.cli.main import cli
from hil.report.allure_html import (
    AllureCli,
    ReportBuildFailed,
    ReportToolMissing,
    build_report,
    result_names,
)
from hil.report.browser import find_chromium, missing_from_page, render_report, screenshot_problem

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.allure_html
ARTIFACT = Path(__file__).resolve().parents[2] / "test-artifacts" / "render-check.png"

SUITE = """
import pytest

def test_msi_single_vector_lands_on_cpu():
    pass

def test_affinity_move_is_seen():
    pytest.fail("model and machine disagree on vm-612-ir:\\n 3 affinity", pytrace=False)

@pytest.mark.skip(reason="needs IR; vm-61-noir has none")
def test_multi_msi_granted_with_ir():
    pass
"""
TEST_NAMES = [
    "test_msi_single_vector_lands_on_cpu",
    "test_affinity_move_is_seen",
    "test_multi_msi_granted_with_ir",
]


@pytest.fixture
def tools() -> tuple[AllureCli, str]:
    try:
        allure = AllureCli.find()
    except ReportToolMissing as exc:
        pytest.skip(str(exc))
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("chromium is not installed (scripts/setup --report)")
    return allure, chromium


@pytest.fixture
def results(pytester: pytest.Pytester) -> Path:
    pytester.makepyfile(test_lab=SUITE)
    outcome = pytester.runpytest(
        "-p", "hil.plugin.report_hooks", "-p", "no:cacheprovider", "--alluredir", "res"
    )
    outcome.assert_outcomes(passed=1, failed=1, skipped=1)
    return pytester.path / "res"


def _data_text(report: Path) -> str:
    return "\n".join(p.read_text() for p in (report / "data").rglob("*.json"))


def test_report_renders_the_suite_in_headless_chromium(
    tools: tuple[AllureCli, str], results: Path, tmp_path: Path
) -> None:
    allure, chromium = tools
    report = tmp_path / "report"
    index = build_report(results, report, tmp_path / "history", allure)
    assert index == report / "index.html"
    assert sorted(result_names(results)) == sorted(TEST_NAMES)
    data = _data_text(report)
    assert all(name in data for name in TEST_NAMES)
    assert "test_" not in index.read_text(), "names must come from rendering, not the page"

    rendered = render_report(report, tmp_path / "shot.png", chromium)
    ARTIFACT.parent.mkdir(exist_ok=True)
    shutil.copyfile(rendered.screenshot, ARTIFACT)
    assert screenshot_problem(rendered.screenshot) is None
    assert missing_from_page(rendered.dom, TEST_NAMES) == []


def test_categories_from_the_results_reach_the_report(
    tools: tuple[AllureCli, str], results: Path, tmp_path: Path
) -> None:
    report = tmp_path / "report"
    build_report(results, report, None, tools[0])
    categories = json.loads((report / "widgets" / "categories.json").read_text())
    assert "Model mismatch" in json.dumps(categories)
    assert "test_affinity_move_is_seen" in json.dumps(categories)


def test_history_is_kept_between_runs_so_trends_show(
    tools: tuple[AllureCli, str], results: Path, tmp_path: Path
) -> None:
    history = tmp_path / "history"
    for run in range(2):
        build_report(results, tmp_path / f"report{run}", history, tools[0])
    lines = (history / "history.jsonl").read_text().splitlines()
    assert len(lines) == 2
    assert all("test_affinity_move_is_seen" in line for line in lines)


def test_command_builds_the_report_and_keeps_the_screenshot(
    tools: tuple[AllureCli, str], results: Path, tmp_path: Path
) -> None:
    out = tmp_path / "allure-report"
    outcome = CliRunner().invoke(
        cli,
        ["report", "--results", str(results), "--out", str(out),
         "--history", str(tmp_path / "hist"), "--screenshot"],
    )  # fmt: skip
    assert outcome.exit_code == 0, outcome.output
    assert (out / "screenshot.png").is_file()
    assert f"report: {out / 'index.html'}" in outcome.output


def test_command_says_when_there_are_no_results(tmp_path: Path) -> None:
    outcome = CliRunner().invoke(cli, ["report", "--results", str(tmp_path / "none")])
    assert outcome.exit_code == 1
    assert "no allure results in" in outcome.output


def test_a_blank_screenshot_or_a_page_stuck_loading_is_caught(tmp_path: Path) -> None:
    from PIL import Image

    blank = tmp_path / "blank.png"
    Image.new("RGB", (1280, 900), (240, 244, 248)).save(blank)
    assert screenshot_problem(blank) is not None
    assert missing_from_page("<div>Loading…</div>", TEST_NAMES) == TEST_NAMES


def test_a_rebuilt_report_keeps_nothing_of_the_previous_one(
    tools: tuple[AllureCli, str], results: Path, tmp_path: Path
) -> None:
    report = tmp_path / "report"
    build_report(results, report, None, tools[0])
    (report / "left-over.json").write_text("{}")
    build_report(results, report, None, tools[0])
    assert not (report / "left-over.json").exists()
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "cat.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(ReportBuildFailed, match="not empty"):
        build_report(results, foreign, None, tools[0])
    assert (foreign / "cat.jpg").exists()
