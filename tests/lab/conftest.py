"""Fixtures shared by the lab-layer tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The least of a machine an Observer reads: a 2-CPU /proc/interrupts and an
    empty /dev/kmsg (its dmesg window)."""
    root = tmp_path / "root"
    (root / "proc").mkdir(parents=True)
    (root / "proc/interrupts").write_text("           CPU0       CPU1\n")
    (root / "dev").mkdir()
    (root / "dev/kmsg").write_text("")
    return root
