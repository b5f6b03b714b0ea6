"""Filling a scenario's roles with distinct inventory devices, as the plugin and CLI both do."""

from __future__ import annotations

from pathlib import Path

import pytest

from hil.lab.inventory import DEFAULT_PROFILES_FOLDER, Inventory, Machine
from hil.lab.profiles import ProfileSet
from hil.scenario.loader import load_scenario
from hil.scenario.roles import fill_roles

INVENTORY = """\
lab: t
machines:
  - name: bench
    transport: local
    devices:
      - {name: usb0, profile: xhci-msi, bdf: "0000:00:01.0"}
      - {name: nic0, profile: igb, bdf: "0000:00:02.0"}
      - {name: nic1, profile: e1000e, bdf: "0000:00:03.0"}
      - {name: nic2, profile: e1000e, bdf: "0000:00:04.0"}
"""


@pytest.fixture
def bench(tmp_path: Path) -> Machine:
    path = tmp_path / "lab.yaml"
    path.write_text(INVENTORY)
    machine = Inventory.load(path).machine("bench")
    assert machine is not None
    return machine


@pytest.fixture(scope="module")
def profiles() -> ProfileSet:
    return ProfileSet.load(DEFAULT_PROFILES_FOLDER)


def roles(
    tmp_path: Path, bench: Machine, profiles: ProfileSet, head: str, devices: str
) -> dict[str, str] | None:
    path = tmp_path / "scenario_roles.yaml"
    path.write_text(f"name: roles\n{head}devices:\n{devices}steps:\n  - disable: {{device: a}}\n")
    filled = fill_roles(load_scenario(path), bench, lambda ref: profiles.get(ref.profile))
    return None if filled is None else {role: ref.name for role, ref in filled.items()}


def test_each_role_gets_a_distinct_device_of_an_accepted_profile(
    tmp_path: Path, bench: Machine, profiles: ProfileSet
) -> None:
    head = "applies_to: {profiles: [e1000e]}\n"
    assert roles(tmp_path, bench, profiles, head, "  a: {}\n  b: {}\n") == {
        "a": "nic1",
        "b": "nic2",
    }


def test_a_role_with_its_own_profile_takes_only_that_one(
    tmp_path: Path, bench: Machine, profiles: ProfileSet
) -> None:
    head = "applies_to: {profiles: [e1000e]}\n"
    devices = "  a: {}\n  b: {profile: igb}\n"
    assert roles(tmp_path, bench, profiles, head, devices) == {"a": "nic1", "b": "nic0"}


def test_classes_narrow_the_choice(tmp_path: Path, bench: Machine, profiles: ProfileSet) -> None:
    head = "applies_to: {classes: [usb]}\n"
    assert roles(tmp_path, bench, profiles, head, "  a: {}\n") == {"a": "usb0"}


def test_no_filling_when_the_machine_has_too_few_devices(
    tmp_path: Path, bench: Machine, profiles: ProfileSet
) -> None:
    head = "applies_to: {profiles: [e1000e]}\n"
    assert roles(tmp_path, bench, profiles, head, "  a: {}\n  b: {}\n  c: {}\n") is None
    assert roles(tmp_path, bench, profiles, "", "  a: {profile: edu}\n") is None
