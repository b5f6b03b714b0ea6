"""The known-kernel-bugs list: which tests a kernel bug breaks, on which kernels, and why.

A test that fails because the kernel under it is wrong is not a finding of
this suite; hiding it would be worse.  `known_kernel_bugs.yaml` (beside the
lab inventory in the repository) names each such bug once, with the kernel
range it lives in and a link to the fix or report, and the plugin turns it
into an xfail with that reason on exactly the tests and kernels it names.
The file is validated like the inventory: every problem comes back as
`file:line: field: message`.

Matching: `tests` globs are matched against the node id without its
parameters (`tests/hil/test_faults.py::test_x`, not `...[vm-612-ir/igb0]`:
the machine is chosen by `kernel` and `ir`), `scenarios` globs against a
scenario file's `name`.  The first bug in the file that names the test and
fits the machine wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from hil.lab.configfile import ConfigError, load_yaml
from hil.lab.kernelrange import KernelRange
from hil.lab.profiles import FieldProblem, Name, pattern_checked, validation_issues
from hil.model.kernel import KernelVersion
from hil.model.vocabulary import IrType

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "known_kernel_bugs.yaml"
"""The repository's list, used when neither --known-kernel-bugs nor the ini names one."""


def _kernel_range(value: Any) -> Any:
    """Refuse unquoted numbers (YAML reads `6.10` as 6.1) and bad clauses, with the fix."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(
            f'write the range as a quoted string such as ">=6.5,<6.10": '
            f"YAML read the number {value}"
        )
    if isinstance(value, str):
        KernelRange.parse(value)
    return value


KernelRangeText = Annotated[str, BeforeValidator(_kernel_range)]
Link = Annotated[
    str,
    pattern_checked(
        r"https?://\S+", "a URL such as 'https://lore.kernel.org/...' (the report, fix or commit)"
    ),
]
Glob = Annotated[str, Field(min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KnownBug(_Strict):
    id: Name
    kernel: KernelRangeText
    tests: list[Glob] = Field(default_factory=list, description="node-id globs, no parameters")
    scenarios: list[Glob] = Field(default_factory=list, description="scenario-name globs")
    ir: IrType | None = Field(default=None, description="only machines with this IR; None: any")
    reason: str = Field(min_length=1)
    link: Link
    strict: bool = Field(default=True, description="an unexpected pass fails the test")

    @model_validator(mode="after")
    def _names_tests(self) -> KnownBug:
        if not self.tests and not self.scenarios:
            raise FieldProblem(
                (),
                "name the tests it breaks: tests (node-id globs such as "
                "'tests/hil/test_faults.py::test_*') and/or scenarios (scenario-name globs)",
            )
        return self

    @property
    def xfail_reason(self) -> str:
        return f"known kernel bug {self.id}: {self.reason} ({self.link})"

    def names(self, test: str, scenario: str | None) -> bool:
        """Whether the bug lists this test (node id without parameters) or scenario."""
        if any(fnmatchcase(test, glob) for glob in self.tests):
            return True
        return scenario is not None and any(fnmatchcase(scenario, g) for g in self.scenarios)

    def affects(self, kernel: KernelVersion, ir: IrType) -> bool:
        """Whether a machine with this kernel and IR has the bug."""
        if self.ir is not None and self.ir is not ir:
            return False
        return KernelRange.parse(self.kernel).contains(kernel)


class KnownBugs(_Strict):
    bugs: list[KnownBug]

    @field_validator("bugs", mode="before")
    @classmethod
    def _empty_when_all_commented_out(cls, value: Any) -> Any:
        return [] if value is None else value

    @field_validator("bugs")
    @classmethod
    def _unique_ids(cls, bugs: list[KnownBug]) -> list[KnownBug]:
        seen: set[str] = set()
        for i, bug in enumerate(bugs):
            if bug.id in seen:
                raise FieldProblem((i, "id"), f"duplicate id {bug.id!r}; ids must be unique")
            seen.add(bug.id)
        return bugs

    def naming(self, test: str, scenario: str | None = None) -> list[KnownBug]:
        """The bugs that list this test, whatever the machine: worth reaching it to check."""
        return [bug for bug in self.bugs if bug.names(test, scenario)]

    def find(
        self, test: str, scenario: str | None, kernel: KernelVersion, ir: IrType
    ) -> KnownBug | None:
        """The first bug that lists this test and that the machine has."""
        return next((b for b in self.naming(test, scenario) if b.affects(kernel, ir)), None)


NO_BUGS = KnownBugs(bugs=[])


def load_known_bugs(path: str | Path) -> KnownBugs:
    """Load and validate a list; any problem raises ConfigError naming file, line and field."""
    loaded = load_yaml(path)
    if not isinstance(loaded.data, Mapping):
        raise ConfigError(
            [loaded.issue([], "a known kernel bugs file is a mapping: bugs: [...] (may be empty)")]
        )
    try:
        return KnownBugs.model_validate(dict(loaded.data))
    except ValidationError as exc:
        raise validation_issues(loaded, exc, KnownBugs) from None
