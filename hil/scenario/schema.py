"""The scenario file format (`scenario_*.yaml`), validated with file:line errors.

```yaml
name: msix-partial-request
description: reservation mode keeps unrequested vectors on the placeholder
applies_to: {profiles: [e1000e, igb], requires: {ir: any, kernel: ">=6.2"}}
machine:                      # used by `hil predict`; a lab run calibrates instead
  cpus: 4
  ir: intel
  kernel: 6.12.95
  apic_mode: physical flat
  calibration: {allocated: [5, 5, 5, 4]}
devices:
  nic: {profile: e1000e}      # or {caps: {msix: 5}}
steps:
  - enable: {device: nic, index: msix, count: 5, unrequested: [4]}
  - fire: {device: nic, vector: 0}
  - fire: {device: nic, vector: 1, times: 100}   # a burst, judged as one step
  - fire_while_moving: {device: nic, vector: 0, fires: 100, masks: ["1", "2-3", 0]}
  - affinity: {device: nic, vector: 0, cpus: "2-3"}
  - cpu_offline: 2
```
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hil.lab.kernelrange import KernelRange
from hil.model.kernel import KernelVersion

_CPULIST = re.compile(r"^\s*\d+(\s*-\s*\d+)?(\s*,\s*\d+(\s*-\s*\d+)?)*\s*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


MAX_CPU = 8191
"""The highest CPU number Linux can have (NR_CPUS is at most 8192 on x86)."""


def parse_cpus(value: Any) -> tuple[int, ...]:
    """A cpu list as YAML gives it: an int, a list of ints, or "0-2,5".

    A CPU beyond the machine is a valid request (the kernel answers ERANGE),
    but not one beyond any machine: "0-99999999" would be a list of 10^8
    numbers before anything could refuse it.
    """
    usage = 'expected CPUs like 2, [0, 1] or "0-2,5"'
    beyond = f"CPU numbers go from 0 to {MAX_CPU}; {usage}"
    if isinstance(value, int) and not isinstance(value, bool):
        cpus = [value]
    elif isinstance(value, list) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        cpus = list(value)
    elif isinstance(value, str) and _CPULIST.match(value):
        cpus = []
        for part in value.split(","):
            lo, _, hi = part.strip().partition("-")
            first, last = int(lo), int(hi or lo)
            if max(first, last) > MAX_CPU:
                raise ValueError(beyond)
            cpus.extend(range(first, last + 1))
    else:
        raise ValueError(usage)
    if any(not 0 <= cpu <= MAX_CPU for cpu in cpus):
        raise ValueError(beyond)
    return tuple(cpus)


CpuList = Annotated[tuple[int, ...], Field(min_length=1)]


class Requires(_Strict):
    ir: Literal["any", "yes", "no"] = "any"
    kernel: str | None = None
    feature: list[str] = []

    @field_validator("kernel")
    @classmethod
    def _kernel_clauses(cls, value: str | None) -> str | None:
        # Checked here, not when a lab run first compares versions, so the
        # mistake is reported with its line before anything runs.
        if value is None:
            return value
        try:
            KernelRange.parse(value)
        except ValueError:
            raise ValueError(
                f"{value!r}: write comparisons such as '>=6.5' or '>=6.2,<6.10'"
            ) from None
        return value


class AppliesTo(_Strict):
    profiles: list[str] = []
    classes: list[str] = []
    requires: Requires = Requires()


Vector = Annotated[int, Field(ge=0, le=255)]


class CalibrationSpec(_Strict):
    allocated: list[Annotated[int, Field(ge=0, le=256)]] | None = None
    vectors: dict[Annotated[int, Field(ge=0, le=MAX_CPU)], list[Vector]] | None = None
    irte_next: int | None = Field(default=None, ge=0, le=65535)
    """Intel IRTE handles are 16 bits."""
    irq_next: int | None = Field(default=None, ge=0)
    apicids: list[Annotated[int, Field(ge=0, le=0xFFFFFFFF)]] | None = None

    @field_validator("vectors")
    @classmethod
    def _distinct_vectors(cls, value: dict[int, list[int]] | None) -> dict[int, list[int]] | None:
        for cpu, used in (value or {}).items():
            twice = sorted({v for v in used if used.count(v) > 1})
            if twice:
                raise ValueError(f"CPU {cpu} lists vectors {twice} more than once")
        return value


class MachineSpec(_Strict):
    cpus: int = Field(ge=1, le=8192)
    online: list[int] | None = None
    ir: Literal["intel", "amd", "none"]
    kernel: str
    apic_mode: Literal["physical flat", "logical flat", "x2apic physical", "x2apic cluster"] = (
        "physical flat"
    )
    calibration: CalibrationSpec = CalibrationSpec()

    @field_validator("kernel")
    @classmethod
    def _kernel_release(cls, value: str) -> str:
        # The model reads its version-dependent rules from this string.
        try:
            KernelVersion.parse(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a kernel release such as '6.12.95'") from None
        return value


class CapsSpec(_Strict):
    msi: int = Field(0, ge=0, le=32)
    msi_maskable: bool = False
    msi_64bit: bool = True
    msix: int = Field(0, ge=0, le=2048)
    ims: int = Field(0, ge=0)
    numa_node: int | None = None


class DeviceSpec(_Strict):
    profile: str | None = None
    caps: CapsSpec | None = None
    driver: str | None = None
    """A hil.devices driver other than the profile's, e.g. `edu-stored` for stored messages."""


class EnableStep(_Strict):
    device: str
    index: Literal["msi", "msix", "ims"]
    count: int = Field(ge=1, le=2048)
    unrequested: list[int] = []

    @model_validator(mode="after")
    def _unrequested_in_block(self) -> EnableStep:
        outside = [e for e in self.unrequested if not 0 <= e < self.count]
        if outside:
            raise ValueError(
                f"unrequested entries {outside} are outside the block 0..{self.count - 1}"
            )
        return self


class VectorStep(_Strict):
    device: str
    vector: int = Field(ge=0)


class FireStep(VectorStep):
    times: int = Field(1, ge=1, le=1_000_000)


class AffinityStep(_Strict):
    device: str
    vector: int = Field(ge=0)
    cpus: CpuList

    @field_validator("cpus", mode="before")
    @classmethod
    def _cpus(cls, value: Any) -> tuple[int, ...]:
        return parse_cpus(value)


class FireWhileMovingStep(_Strict):
    device: str
    vector: int = Field(ge=0)
    fires: int = Field(ge=2, le=1_000_000)
    masks: list[CpuList] = Field(min_length=1)

    @field_validator("masks", mode="before")
    @classmethod
    def _masks(cls, value: Any) -> list[tuple[int, ...]]:
        if not isinstance(value, list):
            raise ValueError('expected a list of CPU lists, e.g. ["1", "2-3", 0]')
        return [parse_cpus(mask) for mask in value]


class DeviceStep(_Strict):
    device: str


STEP_KINDS: dict[str, type[BaseModel] | type[int]] = {
    "enable": EnableStep,
    "request": VectorStep,
    "release": VectorStep,
    "affinity": AffinityStep,
    "fire": FireStep,
    "fire_while_moving": FireWhileMovingStep,
    "store": VectorStep,
    "fire_stored": DeviceStep,
    "cpu_offline": int,
    "cpu_online": int,
    "disable": DeviceStep,
}


class ScenarioFile(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    description: str = ""
    applies_to: AppliesTo = AppliesTo()
    machine: MachineSpec | None = None
    devices: dict[str, DeviceSpec] = Field(min_length=1)
    steps: list[dict[str, Any]] = Field(min_length=1)
