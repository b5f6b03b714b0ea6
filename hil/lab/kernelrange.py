"""Kernel version ranges such as ">=6.2,<6.10", in the one syntax every file and marker uses.

`hil_requires(kernel=...)`, a scenario's `applies_to.requires.kernel` and the
known-kernel-bugs list all name kernels this way.  One parser keeps what a
file is checked against at load time the same as what a run compares.

A clause compares only as many components as it names: `<=6.9` holds for
every 6.9.y stable release, `<6.9.12` only for those before 6.9.12 (the
usual shape of "fixed in stable").
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

from hil.model.kernel import KernelVersion

_OPS: dict[str, Callable[[tuple[int, ...], tuple[int, ...]], bool]] = {
    ">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "==": operator.eq,
}  # fmt: skip
_CLAUSE = re.compile(r"^\s*(>=|<=|>|<|==)\s*(\d+(?:\.\d+)*)\s*$")
EXAMPLE = "'>=6.5' or '>=6.2,<6.10'"


@dataclass(frozen=True)
class KernelRange:
    """Comma-separated clauses that must all hold."""

    text: str
    clauses: tuple[tuple[str, tuple[int, ...]], ...]

    @classmethod
    def parse(cls, text: str) -> KernelRange:
        """ValueError naming the bad clause and what a good one looks like."""
        clauses = []
        for clause in text.split(","):
            match = _CLAUSE.match(clause)
            if match is None:
                raise ValueError(f"bad kernel clause {clause.strip()!r} (use e.g. {EXAMPLE})")
            clauses.append((match.group(1), tuple(int(x) for x in match.group(2).split("."))))
        return cls(text, tuple(clauses))

    def contains(self, version: KernelVersion) -> bool:
        have = version.as_tuple()
        return all(_OPS[op](have[: len(want)], want) for op, want in self.clauses)

    def __str__(self) -> str:
        return self.text
