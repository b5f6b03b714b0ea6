"""The agent's code digest describes the code it loaded, not the files as they are later."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import hil

SCRIPT = """
import sys
from pathlib import Path
from hil.lab.codeid import code_digest
before = code_digest()
edited = Path(sys.argv[1]) / "hil" / "lab" / "codeid.py"
edited.write_text(edited.read_text() + "# edited after the import\\n")
print(before, code_digest())
"""


def _run(tree: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, *args], cwd=tree, env={"PYTHONPATH": str(tree)},
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return done.stdout.strip()


def test_an_edit_after_loading_does_not_change_the_digest_but_a_new_process_sees_it(
    tmp_path: Path,
) -> None:
    shutil.copytree(
        Path(hil.__file__).parent, tmp_path / "hil",
        ignore=shutil.ignore_patterns("__pycache__"),
    )  # fmt: skip
    before, after = _run(tmp_path, "-c", SCRIPT, str(tmp_path)).split()
    assert before == after, "a process keeps the digest of the code it loaded"
    fresh = _run(tmp_path, "-c", "from hil.lab.codeid import code_digest; print(code_digest())")
    assert fresh != before, "a process started after the edit sees it"
