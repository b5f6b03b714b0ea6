"""Every run of a test carries its machine and device in Allure, skipped ones too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]

SUITE = f"""
import pytest
from hil.lab.inventory import Inventory
from hil.lab.profiles import ProfileSet
from hil.plugin.reporting import report_target

INVENTORY = Inventory.load({str(REPO / "lab_inventory.yaml")!r})
PROFILES = ProfileSet.load({str(REPO / "device_profiles")!r})

def skip_on(machine, device):
    ref = INVENTORY.machine(machine).device(device)
    report_target(machine, [(ref, PROFILES.get(ref.profile))])
    pytest.skip("needs kernel >=6.5")

def test_dynamic_msix_61_ir():
    skip_on("vm-61-ir", "igb0")

def test_dynamic_msix_61_noir():
    skip_on("vm-61-noir", "igb0")
"""


def test_skipped_runs_keep_their_machine_and_device(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_target=SUITE)
    result = pytester.runpytest("-p", "no:cacheprovider", "--alluredir", "res")
    result.assert_outcomes(skipped=2)
    results = [json.loads(p.read_text()) for p in (pytester.path / "res").glob("*-result.json")]
    params = {r["name"]: {p["name"]: p["value"] for p in r["parameters"]} for r in results}
    assert params["test_dynamic_msix_61_ir"]["machine"] == "'vm-61-ir'"
    assert params["test_dynamic_msix_61_noir"]["machine"] == "'vm-61-noir'"
    for run in params.values():
        assert run["device"] == "'igb0'"
        assert run["device class"] == "'nic'"
        assert run["profile"] == "'igb'"
    machine_labels = {
        r["name"]: [lb["value"] for lb in r["labels"] if lb["name"] == "machine"] for r in results
    }
    assert machine_labels == {
        "test_dynamic_msix_61_ir": ["vm-61-ir"],
        "test_dynamic_msix_61_noir": ["vm-61-noir"],
    }
