"""A digest of the framework's own source, so controller and agent can tell they match.

A guest started by `hil lab up` keeps running the code it booted with (its
9p view of the host's files may be cached), while the controller runs
whatever is checked out now.  Comparing digests at connect time turns a
silent protocol mismatch into a clear restart.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

import hil


@cache
def code_digest() -> str:
    root = Path(hil.__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]
