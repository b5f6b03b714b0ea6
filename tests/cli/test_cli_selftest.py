"""`hil selftest`: the bring-up run that proves a profile, over the fake local machine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hil.cli.main import cli
from tests.cli.fake_lab import INVENTORY, FakeOps, ops_factory


def selftest(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *args: str, **options: object
) -> tuple[int, str]:
    inventory = tmp_path / "lab.yaml"
    inventory.write_text(INVENTORY)
    created: list[FakeOps] = []
    monkeypatch.setattr("hil.plugin.session.MachineOps", ops_factory(created, **options))
    result = CliRunner().invoke(
        cli,
        ["selftest", "--lab", str(inventory), "--machine", "bench", *args,
         "--evidence", str(tmp_path / "evidence")],
    )  # fmt: skip
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout + result.stderr


def test_a_device_that_behaves_is_proven_with_a_bundle(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    code, out = selftest(monkeypatch, tmp_path, "--profile", "e1000e")
    assert code == 0, out
    assert "set `verified_on_hardware: true`" in out
    (bundle,) = (tmp_path / "evidence").glob("bench--selftest-e1000e--*.json")
    steps = json.loads(bundle.read_text())["steps"]
    # enable 5, fire each of 5, affinity, 2 fires, disable (sizes from the e1000e profile)
    assert len(steps) == 10


def test_a_misrouting_device_is_not_proven(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    code, out = selftest(monkeypatch, tmp_path, "--profile", "e1000e", misroute=True)
    assert code == 1
    assert "MISMATCH" in out and "verified_on_hardware" not in out
