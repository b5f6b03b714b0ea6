"""A digest of the framework's own source, so controller and agent can tell they match.

A guest started by `hil lab up` keeps running the code it booted with (its
9p view of the host's files may be cached), while the controller runs
whatever is checked out now.  Comparing digests at connect time turns a
silent protocol mismatch into a clear restart.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import hil


def _digest_of_files() -> str:
    root = Path(hil.__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


_AT_IMPORT = _digest_of_files()
"""Taken when this process loaded the framework, not when someone asks: an agent
greets controller after controller for hours after it loaded the framework; a
digest read then would describe files edited since, not the code it runs (seen:
a digest that matched and an agent without the newest step)."""


def code_digest() -> str:
    """The digest of the framework's files as this process found them when it loaded them.

    Import this module before the rest of the framework (the agent does), so
    an edit made while the process imports shows as a mismatch, never as a match.
    """
    return _AT_IMPORT
