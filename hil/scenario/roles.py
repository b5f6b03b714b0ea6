"""Filling a scenario's device roles with a machine's inventory devices.

A scenario names its devices by role (`nic`, `dev`) and says which profiles
or classes may play them; the pytest items and `hil scenario run` must pick
the same devices for the same machine, so the choice is made here once.
"""

from __future__ import annotations

from collections.abc import Callable

from hil.lab.inventory import DeviceRef, Machine
from hil.lab.profiles import Profile
from hil.scenario.loader import Scenario


def fill_roles(
    scenario: Scenario, machine: Machine, profile_of: Callable[[DeviceRef], Profile]
) -> dict[str, DeviceRef] | None:
    """Fill each role with a distinct device of the machine, or None if impossible.

    A role with its own `profile` takes only that profile; otherwise any of
    `applies_to.profiles` (any profile when that list is empty).  Devices
    are tried in inventory order, the first that fits wins.
    """
    chosen: dict[str, DeviceRef] = {}
    accepted = set(scenario.spec.applies_to.profiles)
    classes = set(scenario.spec.applies_to.classes)
    for role, spec in scenario.spec.devices.items():
        wanted = {spec.profile} if spec.profile else accepted
        for ref in machine.device_refs():
            if ref in chosen.values():
                continue
            profile = profile_of(ref)
            if wanted and profile.name not in wanted:
                continue
            if classes and profile.device_class not in classes:
                continue
            chosen[role] = ref
            break
        else:
            return None
    return chosen
