"""KTAP v1 output, so kernel CI systems (KernelCI, LAVA) can read a lab run.

Those systems already parse the format kselftest and KUnit print; giving
them the same lines spares a converter.  The format is the kernel's
Documentation/dev-tools/ktap.rst: a version line, a plan, one result line
per test, diagnostic lines (`# ...`) directly before the result they
explain.  A description may not contain `#`, so test names are cleaned.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

MAX_DIAGNOSTIC_LINES = 20


class KtapOutcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"
    XFAIL = "xfail"
    ERROR = "error"


_RESULT = {
    KtapOutcome.PASS: ("ok", None),
    KtapOutcome.FAIL: ("not ok", None),
    KtapOutcome.SKIP: ("ok", "SKIP"),
    KtapOutcome.XFAIL: ("ok", "XFAIL"),
    KtapOutcome.ERROR: ("not ok", "ERROR"),
}


@dataclass(frozen=True)
class KtapCase:
    """One test's result.

    `reason` follows the directive (SKIP, XFAIL, ERROR) on the result line; a
    plain failure has no directive, so what explains it goes in `details`,
    the `#` lines printed before its result line.
    """

    name: str
    outcome: KtapOutcome
    reason: str = ""
    details: tuple[str, ...] = ()


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def ktap_name(name: str) -> str:
    """A test name as a KTAP description: no `#`, no whitespace runs."""
    return _one_line(name).replace("#", "_").replace(" ", "_")


def render_ktap(cases: list[KtapCase]) -> str:
    lines = ["KTAP version 1", f"1..{len(cases)}"]
    for number, case in enumerate(cases, start=1):
        lines.extend(f"# {_one_line(d)}" for d in case.details[:MAX_DIAGNOSTIC_LINES] if d.strip())
        result, directive = _RESULT[case.outcome]
        line = f"{result} {number} {ktap_name(case.name)}"
        reason = _one_line(case.reason)
        if directive is not None:
            line += f" # {directive}" + (f" {reason}" if reason else "")
        lines.append(line)
    return "\n".join(lines) + "\n"


def write_ktap(path: Path, cases: list[KtapCase]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_ktap(cases))
    return path
