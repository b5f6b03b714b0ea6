"""`hil report`: turn `allure-results` into the Allure 3 HTML report.

History is kept in `--history DIR` (a JSON-lines file Allure 3 appends to),
so successive runs built with the same DIR show trends.  `--screenshot`
also opens the report in headless Chromium and fails unless it renders the
suite; the screenshot stays in the report folder as the CI artifact.
"""

from __future__ import annotations

from pathlib import Path

import click

from hil.cli.output import CommandError, reports_errors
from hil.report.allure_html import (
    ReportBuildFailed,
    ReportToolMissing,
    build_report,
    result_names,
)
from hil.report.browser import (
    RenderFailed,
    find_chromium,
    missing_from_page,
    render_report,
    screenshot_problem,
)

SCREENSHOT = "screenshot.png"


@click.command("report")
@click.option(
    "--results", type=click.Path(path_type=Path), default=Path("allure-results"),
    show_default=True, help="allure results folder (pytest --alluredir)",
)  # fmt: skip
@click.option(
    "--out", type=click.Path(path_type=Path), default=Path("allure-report"),
    show_default=True, help="where the HTML report is written (replaced)",
)  # fmt: skip
@click.option(
    "--history", type=click.Path(path_type=Path), default=Path("allure-history"),
    show_default=True, help="folder keeping the report history between runs (trends)",
)  # fmt: skip
@click.option(
    "--screenshot/--no-screenshot", default=False,
    help=f"open the report in headless Chromium, keep OUT/{SCREENSHOT}, fail if it is blank",
)  # fmt: skip
@reports_errors
def report(results: Path, out: Path, history: Path, screenshot: bool) -> None:
    """Build the Allure 3 HTML report from RESULTS into OUT."""
    try:
        index = build_report(results, out, history)
    except (ReportToolMissing, ReportBuildFailed) as exc:
        raise CommandError(str(exc)) from None
    click.echo(f"report: {index.resolve()}")
    if not screenshot:
        return
    chromium = find_chromium()
    if chromium is None:
        raise CommandError("chromium is not installed; run scripts/setup --report")
    try:
        rendered = render_report(out, out / SCREENSHOT, chromium)
    except RenderFailed as exc:
        raise CommandError(f"the report did not render: {exc}") from None
    problem = screenshot_problem(rendered.screenshot)
    names = result_names(results)
    if problem is None and names and len(missing_from_page(rendered.dom, names)) == len(names):
        problem = "the rendered page names none of the tests"
    if problem is not None:
        raise CommandError(f"the report did not render: {problem} (see {rendered.screenshot})")
    click.echo(f"screenshot: {rendered.screenshot.resolve()}")
