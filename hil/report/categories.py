"""`categories.json`: sort the failures of a run by whose fault they are.

A model mismatch is a finding about the kernel or the model; an
infrastructure error says the lab itself failed (a machine that did not
boot, a broken channel); a device error says a device did not do what its
driver asked.  Triage starts from a different place for each, so the
report groups them apart.  The regexes are written to work both as Allure
2 full matches (Java) and as Allure 3 searches (JavaScript).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CATEGORIES_FILE = "categories.json"
_ANY = r"[\s\S]*"
_NOT_PASSED = ["failed", "broken"]

CATEGORIES: list[dict[str, Any]] = [
    {
        "name": "Model mismatch",
        "description": "The model and the machine disagree on a judged field of a step.",
        "matchedStatuses": _NOT_PASSED,
        "messageRegex": f"{_ANY}model and machine disagree{_ANY}",
    },
    {
        "name": "Infrastructure error",
        "description": "The lab failed: a machine was not reached or its channel broke.",
        "matchedStatuses": _NOT_PASSED,
        "messageRegex": f"{_ANY}(infrastructure:|TransportError){_ANY}",
    },
    {
        "name": "Device error",
        "description": (
            "A device or a machine operation failed on the machine, or a device stopped "
            "answering (its reads returned all ones)."
        ),
        "matchedStatuses": _NOT_PASSED,
        "messageRegex": rf"{_ANY}\b(DeviceError|DeviceStoppedAnswering|OperationError)\b{_ANY}",
    },
]


def write_categories(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / CATEGORIES_FILE
    path.write_text(json.dumps(CATEGORIES, indent=2) + "\n")
    return path


def read_categories(folder: Path) -> list[dict[str, Any]] | None:
    """The categories a results folder carries, for report builders that take them as config."""
    path = folder / CATEGORIES_FILE
    if not path.is_file():
        return None
    loaded = json.loads(path.read_text())
    return loaded if isinstance(loaded, list) else None
