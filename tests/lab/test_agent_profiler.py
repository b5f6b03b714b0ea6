"""The agent's `--profile` switch: one profile file per operation, results unchanged."""

from __future__ import annotations

import pstats
from pathlib import Path

import pytest

from hil.lab.agent import OperationProfiler


def test_each_operation_leaves_one_readable_profile(tmp_path: Path) -> None:
    profiler = OperationProfiler(tmp_path / "profile")
    assert profiler.call("facts", lambda: {"cpus": 4}) == {"cpus": 4}
    assert profiler.call("run_step", lambda: 7) == 7
    files = sorted(p.name for p in (tmp_path / "profile").iterdir())
    assert files == ["0001-facts.prof", "0002-run_step.prof"]
    assert pstats.Stats(str(tmp_path / "profile" / files[1])).total_calls > 0


def test_a_failing_operation_still_leaves_its_profile(tmp_path: Path) -> None:
    profiler = OperationProfiler(tmp_path)

    def fail() -> None:
        raise OSError("device gone")

    with pytest.raises(OSError, match="device gone"):
        profiler.call("attach_device", fail)
    assert [p.name for p in tmp_path.iterdir()] == ["0001-attach_device.prof"]
