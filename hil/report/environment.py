"""`environment.properties` for the Allure report: what the suite ran on.

A verdict means little without the kernel and IR mode it was reached on,
and the QEMU version decides which emulated devices exist at all, so the
report's environment panel names every machine with its facts.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

ENVIRONMENT_FILE = "environment.properties"
PACKAGE = "pcie-hil"


@dataclass(frozen=True)
class MachineFacts:
    """One machine as the run saw it; `unavailable` is the reason it was never reached."""

    name: str
    kernel: str | None = None
    ir: str | None = None
    boot_seconds: float | None = None
    unavailable: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "kernel": self.kernel,
            "ir": self.ir,
            "boot_seconds": self.boot_seconds,
            "unavailable": self.unavailable,
        }

    @classmethod
    def from_json(cls, raw: dict[str, object]) -> MachineFacts:
        boot = raw.get("boot_seconds")
        return cls(
            name=str(raw["name"]),
            kernel=_text(raw.get("kernel")),
            ir=_text(raw.get("ir")),
            boot_seconds=float(boot) if isinstance(boot, int | float) else None,
            unavailable=_text(raw.get("unavailable")),
        )


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def qemu_version(binary: str = "qemu-system-x86_64") -> str | None:
    """The host QEMU's version ("10.0.2"), or None when QEMU is not installed."""
    path = shutil.which(binary)
    if path is None:
        return None
    try:
        out = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r"version (\S+)", out)
    return found.group(1) if found else None


def project_version() -> str:
    try:
        return version(PACKAGE)
    except PackageNotFoundError:
        return "unknown (package not installed)"


def environment_entries(
    machines: list[MachineFacts], qemu: str | None, project: str
) -> dict[str, str]:
    """Summary keys first (what differs between runs at a glance), then one key per machine."""
    reached = [m for m in machines if m.unavailable is None]
    entries = {
        "pcie-hil": project,
        "qemu": qemu or "not installed",
        "machines": ", ".join(m.name for m in machines) or "none",
        "kernels": ", ".join(sorted({m.kernel for m in reached if m.kernel})) or "none",
        "ir_modes": ", ".join(sorted({m.ir for m in reached if m.ir})) or "none",
    }
    for m in sorted(machines, key=lambda m: m.name):
        if m.unavailable is not None:
            entries[f"machine.{m.name}"] = f"unreachable: {m.unavailable}"
        else:
            entries[f"machine.{m.name}"] = f"kernel {m.kernel}, IR {m.ir}"
    return entries


def _escape(text: str, key: bool) -> str:
    """Java properties escaping, the format Allure's reader parses."""
    out = text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    if key:
        for ch in " :=#!":
            out = out.replace(ch, "\\" + ch)
    return out


def render_properties(entries: dict[str, str]) -> str:
    return "".join(f"{_escape(k, True)}={_escape(v, False)}\n" for k, v in entries.items())


def write_environment(folder: Path, machines: list[MachineFacts]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ENVIRONMENT_FILE
    entries = environment_entries(machines, qemu_version(), project_version())
    path.write_text(render_properties(entries))
    return path
