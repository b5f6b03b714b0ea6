"""The lab inventory: which machines exist and which devices the framework may touch.

`lab_inventory.yaml` is the one place where a person says "this host has a
DSA at 0000:6a:01.0 and you may take it from its driver".  Everything that
acts on a machine starts from here, so the loader refuses anything
ambiguous: unknown keys, a BDF in the wrong format, a device named twice,
a virtual machine without its `virtual` block.  Each problem is reported
as `file:line: field: message` (see `hil/lab/configfile.py`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from enum import StrEnum
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from hil.lab.configfile import ConfigError, ConfigIssue, LoadedYaml, field_path, load_yaml
from hil.lab.profiles import (
    FieldProblem,
    Name,
    PciId,
    ProfileSet,
    VersionText,
    pattern_checked,
    validation_issues,
)
from hil.model.vocabulary import IrType

BDF_PATTERN = r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$"
MEMORY_PATTERN = r"^[1-9][0-9]*[MG]$"

Bdf = Annotated[
    str,
    pattern_checked(
        BDF_PATTERN, "a BDF: domain:bus:device.function in lower-case hex, e.g. '0000:6a:01.0'"
    ),
]
Memory = Annotated[str, pattern_checked(MEMORY_PATTERN, "a memory size such as 512M or 2G")]

KERNEL_ALIASES = ("6.1", "6.12")
"""Debian kernels the virtual lab resolves through the meta-packages."""

VIRTUAL_MODEL_PCI_IDS: Mapping[str, str] = {
    "igb": "8086:10c9",
    "e1000e": "8086:10d3",
    "edu": "1234:11e8",
    "xhci-msi": "1033:0194",
    "ivshmem-doorbell": "1af4:1110",
    "nvme": "1b36:0010",
}
"""vendor:device of each QEMU device model: how a guest finds the device in sysfs."""

DEFAULT_PROFILES_FOLDER = Path(__file__).resolve().parents[2] / "device_profiles"
"""The repository's own profiles, used when the inventory has no folder beside it."""


class Transport(StrEnum):
    LOCAL = "local"
    SSH = "ssh"
    VIRTUAL = "virtual"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _on_off(value: Any) -> Any:
    """YAML 1.2 (ruamel's default) reads `on` as a string, YAML 1.1 as a bool: take both."""
    if isinstance(value, str) and value.lower() in ("on", "off"):
        return value.lower() == "on"
    if isinstance(value, bool):
        return value
    raise ValueError(f"{value!r} is not on/off (or true/false)")


OnOff = Annotated[bool, BeforeValidator(_on_off)]


class Expectation(_Strict):
    """What the machine must look like before a test may trust it."""

    ir: IrType | None = None
    cpus: int | None = Field(default=None, ge=1)
    kernel: VersionText | None = None


class KernelSpec(_Strict):
    """Where a virtual machine's kernel comes from: exactly one of three sources.

    In YAML a plain string is the `debian` source (`kernel: "6.12"`); the
    mapping forms give files.  One model for all three keeps every error on
    the key that is wrong instead of on a union member the user never wrote.
    """

    debian: str | None = Field(
        default=None, description="alias 6.1 | 6.12, or a package name linux-image-..."
    )
    bzimage: Path | None = None
    modules: Path | None = None
    build_tree: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _string_is_debian(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"debian": value}
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise ValueError(
                f'write the kernel as a quoted string such as "6.12": YAML read the number {value}'
            )
        return value

    @field_validator("debian")
    @classmethod
    def _known_debian_kernel(cls, value: str | None) -> str | None:
        if value is None or value in KERNEL_ALIASES:
            return value
        if re.fullmatch(r"linux-image-[a-z0-9.+~-]+", value):
            return value
        raise ValueError(
            f"{value!r} is not a kernel: use an alias ({', '.join(KERNEL_ALIASES)}), a Debian"
            " package name linux-image-..., {bzimage: path, modules: path} or {build_tree: path}"
        )

    @model_validator(mode="after")
    def _one_source(self) -> KernelSpec:
        sources = [s for s in (self.debian, self.bzimage, self.build_tree) if s is not None]
        if len(sources) != 1:
            raise ValueError(
                'give one kernel: "6.1", "6.12", "linux-image-...", '
                "{bzimage: path, modules: path} or {build_tree: path}"
            )
        if self.modules is not None and self.bzimage is None:
            raise FieldProblem(("modules",), "modules belongs with bzimage")
        return self


IVSHMEM_VECTORS = 4
"""MSI-X vectors of an ivshmem-doorbell whose inventory entry names none."""


class VirtualDevice(_Strict):
    name: Name
    model: Literal["igb", "e1000e", "edu", "xhci-msi", "ivshmem-doorbell", "nvme"]
    profile: Name
    options: dict[str, str | int | bool] = Field(default_factory=dict)
    numa_node: int | None = Field(default=None, ge=0)
    vectors: int | None = Field(default=None, ge=1, le=2048)
    doorbells: int | None = Field(default=None, ge=1, le=256)
    """How many of the vectors the device can ring itself.  Each is an eventfd
    QEMU's main loop polls, and under TCG a thousand of them slow the whole
    guest about threefold; the doorbell register reaches 256 at most anyway."""

    @model_validator(mode="after")
    def _vectors_only_for_ivshmem(self) -> VirtualDevice:
        for name in ("vectors", "doorbells"):
            if getattr(self, name) is not None and self.model != "ivshmem-doorbell":
                raise FieldProblem((name,), f"only ivshmem-doorbell takes {name}")
        vectors = self.vectors or IVSHMEM_VECTORS
        if self.doorbells is not None and self.doorbells > vectors:
            raise FieldProblem(
                ("doorbells",),
                f"{self.doorbells} doorbells, more than its {vectors} vectors: "
                "lower doorbells or raise vectors",
            )
        return self

    @property
    def pci_id(self) -> str:
        return VIRTUAL_MODEL_PCI_IDS[self.model]


class VirtualSpec(_Strict):
    kernel: KernelSpec
    cpus: int = Field(ge=1, le=288)
    memory: Memory = "2G"
    iommu: Literal["intel", "amd"] = "intel"
    intremap: OnOff = True
    x2apic: bool = False
    numa_nodes: Literal[1, 2] = 1
    tcg_threads: Literal["auto", "single", "multi"] = "auto"
    """Without KVM: one host thread per vCPU (multi) or one per machine (single).
    Multi is faster for one machine alone, but vCPU threads of several machines
    crowded on few cores spin on each other; auto picks multi only when the host
    has a core for every vCPU of the inventory's virtual machines."""
    devices: list[VirtualDevice] = Field(default_factory=list)

    @field_validator("devices")
    @classmethod
    def _unique_device_names(cls, devices: list[VirtualDevice]) -> list[VirtualDevice]:
        _check_unique([d.name for d in devices], "device")
        return devices

    @model_validator(mode="after")
    def _numa_nodes_exist(self) -> VirtualSpec:
        for i, dev in enumerate(self.devices):
            if dev.numa_node is not None and dev.numa_node >= self.numa_nodes:
                raise FieldProblem(
                    ("devices", i, "numa_node"),
                    f"{dev.numa_node}, but the machine has numa_nodes: {self.numa_nodes}",
                )
        if self.numa_nodes > self.cpus:
            raise FieldProblem(
                ("numa_nodes",), f"{self.numa_nodes} nodes need at least as many cpus ({self.cpus})"
            )
        if self.x2apic and self.iommu != "intel":
            raise FieldProblem(("x2apic",), "x2apic (intel-iommu eim=on) needs iommu: intel")
        if self.x2apic and not self.intremap:
            raise FieldProblem(("x2apic",), "x2apic mode needs intremap: on")
        return self

    @property
    def memory_mib(self) -> int:
        amount = int(self.memory[:-1])
        return amount * 1024 if self.memory.endswith("G") else amount


class SshSpec(_Strict):
    host: str = Field(min_length=1)
    user: str = "root"
    port: int = Field(default=22, ge=1, le=65535)
    identity: str | None = None
    python: str = "/usr/bin/python3"


class DeviceRef(_Strict):
    """A device the framework may touch, and how to find it on its machine.

    On a real machine exactly one of `bdf` or `pci_id` (+ `instance` when
    several match) locates it.  On a virtual machine the reference names a
    `virtual.devices` entry and its location comes from the device model.
    """

    name: Name
    profile: Name
    bdf: Bdf | None = None
    pci_id: PciId | None = None
    instance: int | None = Field(default=None, ge=0)
    expendable: bool = False
    peer: str | None = None

    @model_validator(mode="after")
    def _instance_needs_pci_id(self) -> DeviceRef:
        if self.instance is not None and self.pci_id is None:
            raise FieldProblem(("instance",), "instance counts devices of one pci_id; add pci_id")
        return self


class Machine(_Strict):
    name: Name
    transport: Transport
    expect: Expectation | None = None
    exclusive: bool | None = Field(
        default=None, description="machine-wide lease; default true for virtual machines"
    )
    virtual: VirtualSpec | None = None
    ssh: SshSpec | None = None
    devices: list[DeviceRef] | None = None

    @field_validator("devices")
    @classmethod
    def _unique_device_names(cls, devices: list[DeviceRef] | None) -> list[DeviceRef] | None:
        if devices is not None:
            _check_unique([d.name for d in devices], "device")
        return devices

    @model_validator(mode="after")
    def _transport_consistent(self) -> Machine:
        for block, wanted in (("virtual", Transport.VIRTUAL), ("ssh", Transport.SSH)):
            present = getattr(self, block) is not None
            if self.transport is wanted and not present:
                raise FieldProblem((block,), f"required when transport is {wanted.value}")
            if self.transport is not wanted and present:
                raise FieldProblem(
                    (block,),
                    f"only allowed with transport: {wanted.value} (this is {self.transport.value})",
                )
        if self.virtual is not None:
            self._check_virtual_refs(self.virtual)
        else:
            self._check_real_refs()
        return self

    def _check_virtual_refs(self, spec: VirtualSpec) -> None:
        known = {d.name for d in spec.devices}
        listed = ", ".join(sorted(known)) or "none"
        for i, ref in enumerate(self.devices or []):
            if ref.name not in known:
                raise FieldProblem(
                    ("devices", i, "name"), f"{ref.name!r} is not in virtual.devices ({listed})"
                )
            if ref.bdf is not None or ref.pci_id is not None:
                raise FieldProblem(
                    ("devices", i),
                    "a virtual machine's devices are located by their model; drop bdf/pci_id",
                )

    def _check_real_refs(self) -> None:
        for i, ref in enumerate(self.devices or []):
            if (ref.bdf is None) == (ref.pci_id is None):
                raise FieldProblem(
                    ("devices", i),
                    "give exactly one of bdf ('0000:6a:01.0') or pci_id ('8086:0b25')",
                )

    @property
    def exclusive_lease(self) -> bool:
        """Whether a test must lease the whole machine (default: only virtual ones)."""
        if self.exclusive is not None:
            return self.exclusive
        return self.transport is Transport.VIRTUAL

    def device_refs(self) -> list[DeviceRef]:
        """The devices to use; on a virtual machine located by model vendor:device + instance."""
        if self.virtual is None:
            return list(self.devices or [])
        explicit = {ref.name: ref for ref in self.devices or []}
        seen: dict[str, int] = {}
        refs: list[DeviceRef] = []
        for dev in self.virtual.devices:
            instance = seen.get(dev.model, 0)
            seen[dev.model] = instance + 1
            if self.devices is not None and dev.name not in explicit:
                continue
            base = explicit.get(dev.name) or DeviceRef(name=dev.name, profile=dev.profile)
            refs.append(base.model_copy(update={"pci_id": dev.pci_id, "instance": instance}))
        return refs

    def device(self, name: str) -> DeviceRef:
        for ref in self.device_refs():
            if ref.name == name:
                return ref
        raise KeyError(f"machine {self.name!r} has no device {name!r}")


class Inventory(_Strict):
    lab: Name
    machines: list[Machine] = Field(min_length=1)

    _path: Path | None = PrivateAttr(default=None)
    _source: LoadedYaml | None = PrivateAttr(default=None)

    @field_validator("machines")
    @classmethod
    def _unique_machine_names(cls, machines: list[Machine]) -> list[Machine]:
        _check_unique([m.name for m in machines], "machine")
        return machines

    @model_validator(mode="after")
    def _peers_exist(self) -> Inventory:
        for mi, machine in enumerate(self.machines):
            for di, ref in enumerate(machine.devices or []):
                if ref.peer is None:
                    continue
                found = self._resolve_peer(machine, ref.peer)
                if found is None or found == (machine, ref):
                    raise FieldProblem(
                        ("machines", mi, "devices", di, "peer"),
                        f"{ref.peer!r} names no other device; use a device of this machine "
                        f"or <machine>/<device>",
                    )
        return self

    def _resolve_peer(self, machine: Machine, peer: str) -> tuple[Machine, DeviceRef] | None:
        owner_name, _, device_name = peer.rpartition("/")
        owner = self.machine(owner_name) if owner_name else machine
        if owner is None:
            return None
        match = [ref for ref in owner.device_refs() if ref.name == device_name]
        return (owner, match[0]) if match else None

    def peer_of(self, machine: Machine, ref: DeviceRef) -> tuple[Machine, DeviceRef] | None:
        """The device at the other end of `ref`'s doorbell, if it names one."""
        return self._resolve_peer(machine, ref.peer) if ref.peer else None

    @classmethod
    def load(cls, path: str | Path) -> Inventory:
        loaded = load_yaml(path)
        if not isinstance(loaded.data, Mapping):
            raise ConfigError([loaded.issue([], "an inventory is a mapping with lab and machines")])
        try:
            inventory = cls.model_validate(dict(loaded.data))
        except ValidationError as exc:
            raise validation_issues(loaded, exc, cls) from None
        inventory._path = Path(path)
        inventory._source = loaded
        return inventory

    @property
    def path(self) -> Path | None:
        return self._path

    def machine(self, name: str) -> Machine | None:
        return next((m for m in self.machines if m.name == name), None)

    def profiles_folder(self, override: str | Path | None = None) -> Path:
        """`override`, else `device_profiles/` beside the inventory, else the repository's."""
        if override is not None:
            return Path(override)
        if self._path is not None:
            beside = self._path.resolve().parent / "device_profiles"
            if beside.is_dir():
                return beside
        return DEFAULT_PROFILES_FOLDER

    def profile_names(self) -> set[str]:
        names = {ref.profile for m in self.machines for ref in m.device_refs()}
        names |= {d.profile for m in self.machines if m.virtual for d in m.virtual.devices}
        return names

    def profile_issues(self, profiles: ProfileSet) -> list[ConfigIssue]:
        """Profiles the inventory names that do not exist or do not fit the device model."""
        issues: list[ConfigIssue] = []
        known = ", ".join(profiles.names()) or "none"
        for mi, machine in enumerate(self.machines):
            for di, ref in enumerate(machine.devices or []):
                if ref.profile not in profiles:
                    issues.append(
                        self._issue(
                            ["machines", mi, "devices", di, "profile"],
                            f"no profile {ref.profile!r} in {profiles.folder}; known: {known}",
                        )
                    )
            for di, dev in enumerate(machine.virtual.devices if machine.virtual else []):
                loc: list[str | int] = ["machines", mi, "virtual", "devices", di, "profile"]
                if dev.profile not in profiles:
                    issues.append(
                        self._issue(
                            loc, f"no profile {dev.profile!r} in {profiles.folder}; known: {known}"
                        )
                    )
                elif not profiles.get(dev.profile).matches_pci_id(dev.pci_id):
                    issues.append(
                        self._issue(
                            loc,
                            f"profile {dev.profile!r} does not list {dev.pci_id}, the PCI id of "
                            f"model {dev.model!r}",
                        )
                    )
        return issues

    def _issue(self, loc: Sequence[str | int], message: str) -> ConfigIssue:
        if self._source is not None:
            return self._source.issue(loc, message)
        return ConfigIssue(str(self._path or "<inventory>"), None, field_path(loc), message)

    def select(
        self, machines: Sequence[str] = (), devices: Sequence[str] = ()
    ) -> list[tuple[Machine, DeviceRef]]:
        """(machine, device) pairs whose names match any of the globs; no globs means all."""
        pairs: list[tuple[Machine, DeviceRef]] = []
        for machine in self.machines:
            if machines and not any(fnmatchcase(machine.name, g) for g in machines):
                continue
            for ref in machine.device_refs():
                if devices and not any(fnmatchcase(ref.name, g) for g in devices):
                    continue
                pairs.append((machine, ref))
        return pairs


def _check_unique(names: list[str], what: str) -> None:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            raise FieldProblem((i, "name"), f"duplicate {what} name {name!r}; names must be unique")
        seen.add(name)
