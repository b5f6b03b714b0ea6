"""Device profiles: what the framework knows about a kind of PCIe device.

A profile (`device_profiles/<name>.yaml`) says which interrupt mechanisms a
device class offers and how big they are, which `hil.devices` driver makes
it fire, and what the virtual lab needs to emulate it.  The model predicts
allocation from these numbers (a multi-MSI request is capped by
`max_vectors`, a non-maskable MSI has no reservation mode), so a wrong
profile is a wrong prediction: profiles are validated as strictly as the
inventory, and every error names file, line and field.

`None` in a size means "not a property of the device class": it is set per
instance (a QEMU option such as ivshmem's `vectors`, or the SKU of a real
part) and is read from the device's config space at run time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from hil.lab.configfile import ConfigError, ConfigIssue, LoadedYaml, load_yaml, pydantic_issues

NAME_PATTERN = r"^[a-z0-9][a-z0-9-]*$"
PCI_ID_PATTERN = r"^[0-9a-f]{4}:[0-9a-f]{4}$"


def pattern_checked(pattern: str, what: str) -> AfterValidator:
    """A string check whose error says what a valid value looks like."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return AfterValidator(check)


Name = Annotated[
    str, pattern_checked(NAME_PATTERN, "a name: lower-case letters, digits and '-', e.g. 'igb0'")
]
PciId = Annotated[
    str,
    pattern_checked(PCI_ID_PATTERN, "vendor:device in lower-case hex, e.g. '8086:10c9'"),
]


class FieldProblem(ValueError):
    """A cross-field check that knows which sub-field is wrong.

    pydantic reports a model validator's error at the model's location; a
    user needs the line of the offending key.  Raising this with the key's
    relative location lets `validation_issues` point at it.
    """

    def __init__(self, loc: Sequence[str | int], message: str) -> None:
        super().__init__(message)
        self.loc = tuple(loc)
        self.message = message


class _RelocatedErrors:
    """A ValidationError look-alike whose errors point at FieldProblem locations."""

    def __init__(self, exc: ValidationError) -> None:
        self._exc = exc

    def errors(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for detail in self._exc.errors():
            err: dict[str, Any] = dict(detail)
            problem = (err.get("ctx") or {}).get("error")
            if isinstance(problem, FieldProblem):
                err = {**err, "loc": (*err["loc"], *problem.loc), "msg": problem.message}
            elif err["type"] == "value_error":
                err = {**err, "msg": err["msg"].removeprefix("Value error, ")}
            out.append(err)
        return out


def validation_issues(
    loaded: LoadedYaml,
    exc: ValidationError,
    model: type[BaseModel],
    prefix: Sequence[str | int] = (),
) -> ConfigError:
    """pydantic_issues, with FieldProblem locations and the valid keys for unknown ones."""
    issues = pydantic_issues(loaded, _RelocatedErrors(exc), prefix).issues
    unknown = {tuple(e["loc"]) for e in exc.errors() if e["type"] == "extra_forbidden"}
    out: list[ConfigIssue] = []
    for issue, err in zip(issues, exc.errors(), strict=True):
        loc = tuple(err["loc"])
        valid = _valid_keys(model, loc[:-1]) if loc in unknown else None
        if valid:
            issue = replace(issue, message=f"{issue.message}; valid here: {', '.join(valid)}")
        out.append(issue)
    return ConfigError(out)


def _valid_keys(model: type[BaseModel], loc: Sequence[str | int]) -> list[str] | None:
    """The YAML keys the model accepts at `loc`, found by walking field annotations."""
    current: Any = model
    for part in loc:
        current = _step(current, part)
        if current is None:
            return None
    for leaf in _leaves(current):
        if isinstance(leaf, type) and issubclass(leaf, BaseModel):
            return [info.alias or name for name, info in leaf.model_fields.items()]
    return None


def _step(annotation: Any, part: str | int) -> Any:
    for leaf in _leaves(annotation):
        if isinstance(part, int) and get_origin(leaf) is list:
            return get_args(leaf)[0]
        if isinstance(part, str) and isinstance(leaf, type) and issubclass(leaf, BaseModel):
            for name, info in leaf.model_fields.items():
                if part in (name, info.alias):
                    return info.annotation
    return None


def _leaves(annotation: Any) -> list[Any]:
    """The member types of Optional/Union/Annotated wrappers."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _leaves(get_args(annotation)[0])
    if origin in (Union, UnionType):
        return [leaf for arg in get_args(annotation) for leaf in _leaves(arg)]
    return [annotation]


class VersionRequirement:
    """A version constraint such as `6.12` (a prefix) or `>=6.5,<6.10`.

    Used for kernel expectations in the inventory and tool requirements in
    profiles.  Versions are compared on their leading numeric components, so
    `6.12.95+deb12-amd64` satisfies both `6.12` and `>=6.5`.
    """

    _CLAUSE = re.compile(r"^(>=|<=|==|!=|>|<)?\s*(\d+(?:\.\d+)*)$")

    def __init__(self, text: str) -> None:
        clauses = [part.strip() for part in text.split(",")]
        parsed: list[tuple[str, tuple[int, ...]]] = []
        for clause in clauses:
            match = self._CLAUSE.fullmatch(clause)
            if match is None:
                raise ValueError(
                    f"{text!r} is not a version requirement; write a prefix such as "
                    f"'6.12' or comparisons such as '>=6.5' or '>=6.2,<6.10'"
                )
            parsed.append((match.group(1) or "prefix", numeric_version(match.group(2))))
        if len(parsed) > 1 and any(op == "prefix" for op, _ in parsed):
            raise ValueError(f"{text!r}: a bare version prefix cannot be combined with others")
        self.text = text
        self._clauses = tuple(parsed)

    def matches(self, version: str) -> bool:
        have = numeric_version(version)
        return all(_compare(have, op, want) for op, want in self._clauses)

    def __str__(self) -> str:
        return self.text


def numeric_version(version: str) -> tuple[int, ...]:
    """Leading dotted numbers of a version string: '6.12.95+deb12' -> (6, 12, 95)."""
    match = re.match(r"^\d+(?:\.\d+)*", version.strip())
    if match is None:
        raise ValueError(f"{version!r} does not start with a version number")
    return tuple(int(part) for part in match.group(0).split("."))


def _compare(have: tuple[int, ...], op: str, want: tuple[int, ...]) -> bool:
    if op == "prefix":
        return have[: len(want)] == want
    width = max(len(have), len(want))
    a = have + (0,) * (width - len(have))
    b = want + (0,) * (width - len(want))
    return {
        ">=": a >= b,
        "<=": a <= b,
        ">": a > b,
        "<": a < b,
        "==": a == b,
        "!=": a != b,
    }[op]


def version_text(value: Any) -> Any:
    """Refuse unquoted numbers: YAML reads `6.10` as the float 6.1."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(
            f"write the version as a quoted string: YAML read the number {value}"
            " (unquoted, 6.10 even becomes 6.1)"
        )
    if isinstance(value, str):
        VersionRequirement(value)
    return value


VersionText = Annotated[str, BeforeValidator(version_text)]
"""A string field holding a VersionRequirement."""


class DeviceClass(StrEnum):
    NIC = "nic"
    DMA = "dma"
    NTB = "ntb"
    WIFI = "wifi"
    USB = "usb"
    STORAGE = "storage"
    TEST = "test"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MsiSpec(_Strict):
    """The MSI capability; `None` fields are not known for the class (read at run time)."""

    max_vectors: int | None = Field(default=None, description="Multiple Message Capable, 1..32")
    is_64bit: bool | None = None
    maskable: bool | None = Field(default=None, description="per-vector masking")

    @field_validator("max_vectors")
    @classmethod
    def _power_of_two(cls, value: int | None) -> int | None:
        if value is not None and value not in (1, 2, 4, 8, 16, 32):
            raise ValueError(f"{value} is not an MSI vector count; use 1, 2, 4, 8, 16 or 32")
        return value


class MsixSpec(_Strict):
    table_size: int | None = Field(default=None, ge=1, le=2048)


class ImsSpec(_Strict):
    """Interrupt Message Store: messages kept in device storage or in host memory."""

    storage: Literal["device", "memory"]
    size: int | None = Field(default=None, ge=1)


class InterruptSpec(_Strict):
    """Which mechanisms the framework may exercise on the device (`None`: not offered)."""

    msi: MsiSpec | None = None
    msix: MsixSpec | None = None
    ims: ImsSpec | None = None
    multi_msi: bool = False

    @model_validator(mode="after")
    def _multi_msi_consistent(self) -> InterruptSpec:
        if self.msi is None and self.ims is None and self.msix is None:
            raise FieldProblem((), "a profile needs at least one of msi, msix, ims")
        if self.multi_msi and self.msi is None:
            raise FieldProblem(("multi_msi",), "multi_msi needs an msi block")
        if self.msi is not None and self.msi.max_vectors is not None:
            if self.multi_msi and self.msi.max_vectors == 1:
                raise FieldProblem(("multi_msi",), "true, but msi.max_vectors is 1")
            if not self.multi_msi and self.msi.max_vectors > 1:
                raise FieldProblem(
                    ("multi_msi",), f"false, but msi.max_vectors is {self.msi.max_vectors}"
                )
        return self


class Requirements(_Strict):
    """What the virtual lab needs to emulate the device (e.g. igb needs QEMU >= 8.0)."""

    qemu: VersionText | None = None

    @property
    def qemu_requirement(self) -> VersionRequirement | None:
        return VersionRequirement(self.qemu) if self.qemu else None


class Profile(_Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: Name
    device_class: DeviceClass = Field(alias="class")
    pci_ids: list[PciId] = Field(min_length=1)
    driver: str | None = Field(
        default=None, description="hil.devices registry name; None: no driver yet"
    )
    native_driver: str | None = None
    interrupts: InterruptSpec
    quirks: list[str] = Field(default_factory=list)
    requires: Requirements | None = None
    verified_on_hardware: bool = False
    evidence: str | None = None
    notes: str = ""

    @field_validator("pci_ids")
    @classmethod
    def _unique_pci_ids(cls, ids: list[str]) -> list[str]:
        for i, pci_id in enumerate(ids):
            if pci_id in ids[:i]:
                raise FieldProblem((i,), f"{pci_id} is listed twice")
        return ids

    @model_validator(mode="after")
    def _evidence_when_verified(self) -> Profile:
        if self.verified_on_hardware and not self.evidence:
            raise FieldProblem(
                ("evidence",),
                "verified_on_hardware is true: name the evidence bundle that proved it",
            )
        return self

    def matches_pci_id(self, pci_id: str) -> bool:
        return pci_id.lower() in self.pci_ids

    @classmethod
    def load(cls, path: str | Path) -> Profile:
        """Load one profile file; its `name` must equal the file's stem."""
        loaded = load_yaml(path)
        if not isinstance(loaded.data, Mapping):
            raise ConfigError([loaded.issue([], "a profile is a mapping of fields")])
        try:
            profile = cls.model_validate(dict(loaded.data))
        except ValidationError as exc:
            raise validation_issues(loaded, exc, cls) from None
        stem = Path(path).stem
        if profile.name != stem:
            raise ConfigError(
                [loaded.issue(["name"], f"{profile.name!r} must equal the file name {stem!r}")]
            )
        return profile


@dataclass(frozen=True)
class ProfileSet:
    """The profiles of one folder, by name."""

    folder: Path
    profiles: Mapping[str, Profile]

    @classmethod
    def load(cls, folder: str | Path, only: Iterable[str] | None = None) -> ProfileSet:
        """Load `folder/*.yaml` (or just the names in `only`); all issues in one ConfigError.

        A name in `only` without a file is left out, so the caller can report
        it where the name was written (the inventory line).
        """
        root = Path(folder)
        if not root.is_dir():
            raise ConfigError([ConfigIssue(str(root), None, "", "profiles folder not found")])
        if only is None:
            paths = sorted(root.glob("*.yaml"))
        else:
            paths = [root / f"{name}.yaml" for name in sorted(set(only))]
            paths = [p for p in paths if p.is_file()]
        issues: list[ConfigIssue] = []
        profiles: dict[str, Profile] = {}
        for path in paths:
            try:
                profile = Profile.load(path)
            except ConfigError as exc:
                issues.extend(exc.issues)
                continue
            profiles[profile.name] = profile
        if issues:
            raise ConfigError(issues)
        return cls(root, profiles)

    def __contains__(self, name: object) -> bool:
        return name in self.profiles

    def __iter__(self) -> Iterator[Profile]:
        return iter(self.profiles.values())

    def __len__(self) -> int:
        return len(self.profiles)

    def get(self, name: str) -> Profile:
        try:
            return self.profiles[name]
        except KeyError:
            raise KeyError(f"no profile {name!r} in {self.folder}") from None

    def names(self) -> list[str]:
        return sorted(self.profiles)

    def for_pci_id(self, pci_id: str) -> list[Profile]:
        """Profiles that claim a vendor:device pair (used by `hil devices`)."""
        return [p for p in self if p.matches_pci_id(pci_id)]
