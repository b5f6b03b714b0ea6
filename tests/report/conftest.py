"""Tests of the run reports; the browser test has its own marker so CI can select it."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "allure_html: builds an Allure 3 HTML report and opens it in headless Chromium "
        "(needs node, the npm package allure from scripts/setup --report, chromium)",
    )
