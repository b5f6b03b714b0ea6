"""Open a built report in headless Chromium: a screenshot, and proof it shows the suite.

An Allure 3 report is a JavaScript application that fetches its data, so a
report that was written but does not render is possible (and over file://
it never gets past its spinner); it is served over HTTP on 127.0.0.1 only,
for as long as Chromium needs it.  Two checks, each able to fail on its
own: the screenshot is not blank, and the DOM after the scripts ran names
the tests (the page as shipped does not contain them).
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
BROWSER_TIMEOUT_S = 90
VIRTUAL_TIME_BUDGET_MS = 15000
WINDOW = "1280,900"
MIN_SCREENSHOT_BYTES = 10_000
MIN_SCREENSHOT_COLOURS = 16


class RenderFailed(RuntimeError):
    pass


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found is not None:
            return found
    return None


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Requests are not news; the browser's verdict is."""


@contextmanager
def serve_folder(folder: Path) -> Iterator[str]:
    """Serve `folder` on 127.0.0.1 (a free port) until the block ends; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _chromium(chromium: str, profile: Path, extra: list[str], url: str) -> str:
    command = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", f"--user-data-dir={profile}", f"--window-size={WINDOW}",
        f"--virtual-time-budget={VIRTUAL_TIME_BUDGET_MS}", *extra, url,
    ]  # fmt: skip
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        out, _err = proc.communicate(timeout=BROWSER_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise RenderFailed(f"chromium did not finish within {BROWSER_TIMEOUT_S} s") from None
    if proc.returncode != 0:
        raise RenderFailed(f"chromium exited {proc.returncode}")
    return out


@dataclass(frozen=True)
class RenderedReport:
    screenshot: Path
    dom: str


def render_report(report_dir: Path, screenshot: Path, chromium: str) -> RenderedReport:
    """Screenshot the report's start page and return the DOM its scripts produced."""
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    screenshot.unlink(missing_ok=True)
    with serve_folder(report_dir) as base, tempfile.TemporaryDirectory() as tmp:
        url = base + "index.html"
        _chromium(chromium, Path(tmp, "shot"), [f"--screenshot={screenshot.resolve()}"], url)
        dom = _chromium(chromium, Path(tmp, "dom"), ["--dump-dom"], url)
    if not screenshot.is_file():
        raise RenderFailed("chromium wrote no screenshot")
    return RenderedReport(screenshot, dom)


def screenshot_problem(png: Path) -> str | None:
    """Why the screenshot looks blank, or None when it shows a real page."""
    from PIL import Image

    size = png.stat().st_size
    if size < MIN_SCREENSHOT_BYTES:
        return f"screenshot is only {size} bytes"
    with Image.open(png) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    count = len(colours) if colours is not None else 1 << 20
    if count < MIN_SCREENSHOT_COLOURS:
        return f"screenshot has only {count} colours"
    return None


def missing_from_page(dom: str, names: list[str]) -> list[str]:
    return [n for n in names if n not in dom]
