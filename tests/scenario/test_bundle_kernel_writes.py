"""Kernel writes in evidence bundles: kept through `hil rejudge`, never judged, and
bundles written before they existed still load."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from hil.model.vocabulary import IrteWrite, KernelWrites, MessageWrite, MsiMessage
from hil.scenario.bundle import rejudge, write_bundle
from tests.cli.fake_lab import run_fake_scenario

WRITES = KernelWrites(
    (
        MessageWrite(7.5, 1, "python3", 177, 41, MsiMessage(0xFEE01000, 0x22), MsiMessage(0, 0)),
        IrteWrite(7.6, 1, "python3", 177, 5, 0, 0x0000_0100_0022_0001),
    ),
    ("irte_write not recorded: symbol modify_irte not probeable",),
    lost_events=1,
)


def _bundle_with_writes(tmp_path: Path) -> Path:
    result = run_fake_scenario(tmp_path)
    first = result.records[0]
    first.observed = dataclasses.replace(first.observed, kernel_writes=WRITES)
    return write_bundle(result, tmp_path / "evidence")


def test_writes_survive_the_bundle_and_judge_nothing(tmp_path: Path) -> None:
    again = rejudge(_bundle_with_writes(tmp_path))
    assert again.ok
    assert again.records[0].observed.kernel_writes == WRITES
    assert not any("kernel_writes" in f.path for r in again.records for f in r.verdict.fields)


def test_a_bundle_from_before_kernel_writes_still_loads(tmp_path: Path) -> None:
    path = _bundle_with_writes(tmp_path)
    body = json.loads(path.read_text())
    for step in body["steps"]:
        del step["observed"]["kernel_writes"]
    path.write_text(json.dumps(body))
    again = rejudge(path)
    assert again.ok
    assert all(r.observed.kernel_writes is None for r in again.records)
