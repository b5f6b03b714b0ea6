"""The agent imports its slow modules while it waits for a controller."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from hil.lab.agent import preload


def test_a_preloaded_module_is_imported_in_the_background(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "hil_slow_module.py").write_text("VALUE = 7\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "hil_slow_module", raising=False)
    with caplog.at_level(logging.INFO, logger="hil.agent"):
        preload(("hil_slow_module",)).join(timeout=30)
    assert sys.modules["hil_slow_module"].VALUE == 7
    assert "preloaded hil_slow_module" in caplog.text


def test_a_failed_preload_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="hil.agent"):
        thread = preload(("hil_no_such_module", "json"))
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert "preloading hil_no_such_module failed" in caplog.text
    assert "preloaded json" in caplog.text  # the next one still loads
