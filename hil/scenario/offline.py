"""A scenario file's own machine and devices, for predicting it with no machine at hand.

A lab run calibrates the real machine and reads the devices' capabilities
from their config space; `hil predict` has neither, so it takes both from
the file: the `machine` block becomes the model's `Calibration` and each
device its `DeviceCaps`, from explicit `caps` or from the named profile.
Anything the model would need but the file leaves open (no machine block,
a profile whose sizes are set per instance, a calibration table for a CPU
the machine lacks) is a `ConfigError` naming the file, line and field, so
a prediction is never silently made from invented numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hil.lab.configfile import ConfigError, ConfigIssue, LoadedYaml, field_path, load_yaml
from hil.lab.profiles import Profile, ProfileSet
from hil.model.calibration import Calibration
from hil.model.device import DeviceCaps
from hil.model.scenario import MachineSpec as ModelMachine
from hil.model.steps import Enable
from hil.model.vocabulary import ApicMode, IrqIndex, IrType
from hil.scenario.loader import Scenario
from hil.scenario.schema import CapsSpec, MachineSpec

Loc = Sequence[str | int]


@dataclass(frozen=True)
class OfflineMachine:
    """What the model needs to predict a scenario: the machine and every device by role."""

    calibration: Calibration
    devices: dict[str, DeviceCaps]


class _Issues:
    """Collects problems with the scenario file's own lines (parsed again only if needed)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.found: list[ConfigIssue] = []
        self._loaded: LoadedYaml | None = None

    def add(self, loc: Loc, message: str) -> None:
        if self._loaded is None:
            try:
                self._loaded = load_yaml(self.path)
            except ConfigError:  # the file changed since it was loaded: no lines then
                self.found.append(ConfigIssue(self.path, None, field_path(loc), message))
                return
        self.found.append(self._loaded.issue(loc, message))

    def raise_any(self) -> None:
        if self.found:
            raise ConfigError(self.found)


def offline_machine(scenario: Scenario, profiles_folder: Path) -> OfflineMachine:
    """The calibration and device capabilities the scenario file itself describes."""
    issues = _Issues(scenario.path)
    spec = scenario.spec
    if spec.machine is None:
        issues.add(
            ["machine"],
            "required field is missing: hil predict needs a machine block "
            "(cpus, ir, kernel, and a calibration if known)",
        )
        issues.raise_any()
    assert spec.machine is not None
    calibration = _calibration(spec.machine, issues)
    named = {d.profile for d in spec.devices.values() if d.caps is None and d.profile}
    profiles = ProfileSet.load(profiles_folder, only=named) if named else None
    devices: dict[str, DeviceCaps] = {}
    for slot, (role, device) in enumerate(spec.devices.items()):
        loc: list[str | int] = ["devices", role]
        bdf = f"0000:00:{slot + 1:02x}.0"
        if device.caps is not None and device.profile is not None:
            issues.add(loc, "give either profile or caps, not both")
        elif device.caps is not None:
            devices[role] = _caps_from_spec(role, bdf, device.caps)
        elif device.profile is not None:
            assert profiles is not None
            if device.profile not in profiles:
                known = ", ".join(sorted(p.stem for p in profiles_folder.glob("*.yaml")))
                issues.add(
                    [*loc, "profile"],
                    f"no profile {device.profile!r} in {profiles_folder}; known: {known}",
                )
                continue
            caps = _caps_from_profile(
                role, bdf, profiles.get(device.profile), _indexes_used(scenario, role), loc, issues
            )
            if caps is not None:
                devices[role] = caps
        else:
            issues.add(
                loc,
                "hil predict needs the device's capabilities: give a profile "
                "(profile: e1000e) or caps (caps: {msix: 5})",
            )
    issues.raise_any()
    assert calibration is not None
    return OfflineMachine(calibration, devices)


def _calibration(machine: MachineSpec, issues: _Issues) -> Calibration | None:
    cpus = machine.cpus
    base: list[str | int] = ["machine"]
    cal = machine.calibration
    known = len(issues.found)
    checks: list[tuple[Loc, bool, str]] = [
        (
            [*base, "calibration", "allocated"],
            cal.allocated is None or len(cal.allocated) == cpus,
            f"lists {len(cal.allocated or [])} CPUs; the machine has {cpus}",
        ),
        (
            [*base, "calibration", "apicids"],
            cal.apicids is None or len(cal.apicids) == cpus,
            f"lists {len(cal.apicids or [])} APIC IDs; the machine has {cpus} CPUs",
        ),
        (
            [*base, "calibration", "apicids"],
            len(set(cal.apicids or [])) == len(cal.apicids or []),
            "every CPU has its own APIC ID; a value is listed twice",
        ),
        (
            [*base, "apic_mode"],
            machine.apic_mode != "logical flat" or cpus <= 8,
            f"logical flat addresses at most 8 CPUs (one bit each); this machine has {cpus}",
        ),
    ]
    for loc, ok, message in checks:
        if not ok:
            issues.add(loc, message)
    for cpu in cal.vectors or {}:
        if not 0 <= cpu < cpus:
            issues.add(
                [*base, "calibration", "vectors", cpu], f"no CPU {cpu} on a {cpus}-CPU machine"
            )
    for i, cpu in enumerate(machine.online or []):
        if not 0 <= cpu < cpus:
            issues.add([*base, "online", i], f"no CPU {cpu} on a {cpus}-CPU machine")
    if machine.online is not None and not machine.online:
        issues.add([*base, "online"], "at least one CPU must be online")
    if len(issues.found) > known:
        return None
    online = set(range(cpus)) if machine.online is None else set(machine.online)
    return ModelMachine(
        kernel=machine.kernel,
        ir=IrType(machine.ir),
        apic_mode=ApicMode(machine.apic_mode),
        cpus=cpus,
        offline=tuple(c for c in range(cpus) if c not in online),
        apicids=None if cal.apicids is None else tuple(cal.apicids),
        vectors=None if cal.vectors is None else {cpu: tuple(v) for cpu, v in cal.vectors.items()},
        allocated=None if cal.allocated is None else dict(enumerate(cal.allocated)),
        irte_next=cal.irte_next,
        irq_next=cal.irq_next,
    ).to_calibration()


def _caps_from_spec(role: str, bdf: str, caps: CapsSpec) -> DeviceCaps:
    return DeviceCaps(
        name=role,
        bdf=bdf,
        msi_max=caps.msi,
        msi_64bit=caps.msi_64bit,
        msi_maskable=caps.msi_maskable,
        msix_size=caps.msix,
        ims_size=caps.ims,
        numa_node=caps.numa_node,
    )


def _indexes_used(scenario: Scenario, role: str) -> set[IrqIndex]:
    return {s.index for s in scenario.steps if isinstance(s, Enable) and s.device == role}


def _caps_from_profile(
    role: str, bdf: str, profile: Profile, used: set[IrqIndex], loc: Loc, issues: _Issues
) -> DeviceCaps | None:
    """A profile's sizes as caps; a size the profile leaves to the instance is an error
    only where the scenario uses that mechanism (the model would have to guess it)."""
    spec = profile.interrupts
    open_fields: list[str] = []
    msi_max = msix_size = ims_size = 0
    msi_64bit, msi_maskable = True, False
    if spec.msi is not None:
        msi = spec.msi
        if IrqIndex.MSI in used:
            open_fields += [
                f"msi.{name}"
                for name, value in (
                    ("max_vectors", msi.max_vectors),
                    ("is_64bit", msi.is_64bit),
                    ("maskable", msi.maskable),
                )
                if value is None
            ]
        msi_max = msi.max_vectors or 0
        msi_64bit = True if msi.is_64bit is None else msi.is_64bit
        msi_maskable = bool(msi.maskable)
    if spec.msix is not None:
        if IrqIndex.MSIX in used and spec.msix.table_size is None:
            open_fields.append("msix.table_size")
        msix_size = spec.msix.table_size or 0
    if spec.ims is not None:
        if IrqIndex.IMS in used and spec.ims.size is None:
            open_fields.append("ims.size")
        ims_size = spec.ims.size or 0
    if open_fields:
        issues.add(
            [*loc, "profile"],
            f"profile {profile.name!r} leaves {', '.join(open_fields)} to the device instance; "
            "give caps instead (e.g. caps: {msix: 64})",
        )
        return None
    return DeviceCaps(
        name=role,
        bdf=bdf,
        msi_max=msi_max,
        msi_64bit=msi_64bit,
        msi_maskable=msi_maskable,
        msix_size=msix_size,
        ims_size=ims_size,
    )
