"""Build the Allure 3 HTML report from `allure-results`, keeping history between runs.

Allure 3 is the npm package `allure`, installed project-locally under
`.tools/` by `scripts/setup --report` (no global npm state, no Java).  Its
history is one JSON-lines file (config `historyPath`) that every generation
reads and appends to; keeping that file between runs is what makes trends
show, so it lives outside the report folder, which is rebuilt each time.
The categories the plugin wrote into the results are handed over as config
too: Allure 3's default report reads categories from its config, not from
`categories.json`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import hil
from hil.report.categories import read_categories

HISTORY_FILE = "history.jsonl"
REPORT_NAME = "pcie-hil lab"
GENERATE_TIMEOUT_S = 600


class ReportToolMissing(RuntimeError):
    """Node or the Allure 3 CLI is absent; the message says how to install them."""


class ReportBuildFailed(RuntimeError):
    pass


def tools_dir() -> Path:
    return Path(hil.__file__).resolve().parent.parent / ".tools"


@dataclass(frozen=True)
class AllureCli:
    command: tuple[str, ...]
    version: str

    @classmethod
    def find(cls, tools: Path | None = None) -> AllureCli:
        """The project's own Allure 3 first, then one on PATH if it is Allure 3 too."""
        node = shutil.which("node")
        if node is None:
            raise ReportToolMissing("node is not installed; run scripts/setup --report")
        local = (tools or tools_dir()) / "node_modules" / "allure" / "cli.js"
        candidates: list[tuple[str, ...]] = []
        if local.is_file():
            candidates.append((node, str(local)))
        on_path = shutil.which("allure")
        if on_path is not None:
            candidates.append((on_path,))
        for command in candidates:
            found = _version(command)
            if found is not None and found.split(".")[0] == "3":
                return cls(command, found)
        raise ReportToolMissing(
            "the Allure 3 CLI (npm package `allure`) is not installed; run scripts/setup --report"
        )


def _version(command: tuple[str, ...]) -> str | None:
    try:
        proc = subprocess.run(
            [*command, "--version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = proc.stdout.strip().splitlines()
    return lines[-1].strip() if proc.returncode == 0 and lines else None


def report_config(results: Path, out: Path, history: Path | None) -> dict[str, object]:
    config: dict[str, object] = {"name": REPORT_NAME, "output": str(out.resolve())}
    if history is not None:
        config["historyPath"] = str((history / HISTORY_FILE).resolve())
    categories = read_categories(results)
    if categories:
        config["categories"] = categories
    return config


def _clear_previous_report(out: Path) -> None:
    """Allure writes over a folder without emptying it: last night's data would linger."""
    if not out.exists():
        return
    if (out / "index.html").is_file() or (out / "summary.json").is_file():
        shutil.rmtree(out)
    elif any(out.iterdir()):
        raise ReportBuildFailed(f"{out} is not empty and holds no Allure report; not replacing it")


def build_report(
    results: Path, out: Path, history: Path | None, cli: AllureCli | None = None
) -> Path:
    """Generate the report into `out`; returns its index.html."""
    if not results.is_dir() or not any(results.glob("*-result.json")):
        raise ReportBuildFailed(f"no allure results in {results} (run pytest with --alluredir)")
    cli = cli or AllureCli.find()
    _clear_previous_report(out)
    if history is not None:
        history.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hil-allure-") as tmp:
        config = Path(tmp) / "allurerc.json"
        config.write_text(json.dumps(report_config(results, out, history), indent=2))
        proc = subprocess.run(
            [*cli.command, "generate", "--config", str(config), "--output", str(out.resolve()),
             str(results.resolve())],
            capture_output=True, text=True, timeout=GENERATE_TIMEOUT_S, check=False, cwd=tmp,
        )  # fmt: skip
    index = out / "index.html"
    if proc.returncode != 0 or not index.is_file():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise ReportBuildFailed(
            f"allure generate exited {proc.returncode}: " + (" | ".join(tail) or "no output")
        )
    return index


def result_names(results: Path) -> list[str]:
    """The test names in a results folder, as the report should show them."""
    names = []
    for path in sorted(results.glob("*-result.json")):
        name = json.loads(path.read_text()).get("name")
        if isinstance(name, str):
            names.append(name)
    return names
