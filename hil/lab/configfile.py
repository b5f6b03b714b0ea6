"""Reading user-written YAML so that every error can name file, line and field.

Inventories, device profiles and scenario files are written by hand; a
typo must come back as `lab.yaml:12: machines[0].virtual.cpus: ...`, never a
traceback.  ruamel.yaml keeps the line of every mapping key and sequence
item, which is all the location information needed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError


@dataclass(frozen=True)
class ConfigIssue:
    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field or '<top>'}: {self.message}"


class ConfigError(Exception):
    """One or more problems in a user-written file; str() is the full report."""

    def __init__(self, issues: Sequence[ConfigIssue]) -> None:
        self.issues = tuple(issues)
        super().__init__("\n".join(str(i) for i in self.issues))


@dataclass(frozen=True)
class LoadedYaml:
    path: str
    data: Any

    def line_of(self, loc: Sequence[str | int]) -> int | None:
        """1-based line of the key or item at `loc`, or of its nearest parent."""
        node = self.data
        line: int | None = None
        for part in loc:
            if isinstance(node, CommentedMap) and part in node:
                pos = node.lc.key(part)
                line = pos[0] + 1
                node = node[part]
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
                pos = node.lc.item(part)
                line = pos[0] + 1
                node = node[part]
            else:
                break
        return line

    def issue(self, loc: Sequence[str | int], message: str) -> ConfigIssue:
        return ConfigIssue(self.path, self.line_of(loc), field_path(loc), message)


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")


def field_path(loc: Sequence[str | int]) -> str:
    """`machines[0].virtual.cpus`; a key that would make the path ambiguous (empty, or
    holding dots, brackets or spaces) is written quoted: `options['a.b']`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not _PLAIN_KEY.fullmatch(str(part)):
            out += f"[{str(part)!r}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def load_yaml(path: str | Path) -> LoadedYaml:
    """Parse a YAML file; a missing file or bad syntax raises ConfigError."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigIssue(name, None, "", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigIssue(name, None, "", f"cannot read: {exc}")]) from None
    return parse_yaml(text, name)


_ODD_LINE_BREAKS = re.compile("[\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
"""Characters Python's str.splitlines (and many editors) end a line at and YAML's
line marks do not: with one in the file, every later line number would be off."""


def parse_yaml(text: str, name: str) -> LoadedYaml:
    odd = _ODD_LINE_BREAKS.search(text)
    if odd is not None:
        odd_line = text.count("\n", 0, odd.start()) + 1
        problem = (
            f"YAML syntax: character U+{ord(odd.group()):04X} at line {odd_line} is a line "
            "break to some readers and not to others; replace it with a newline or remove it"
        )
        raise ConfigError([ConfigIssue(name, odd_line, "", problem)])
    yaml = YAML(typ="rt")
    try:
        data = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or "invalid YAML"
        raise ConfigError([ConfigIssue(name, line, "", f"YAML syntax: {problem}")]) from None
    except Exception as exc:  # ruamel raises several unrelated types for bad input
        raise ConfigError([ConfigIssue(name, None, "", f"YAML syntax: {exc}")]) from None
    return LoadedYaml(name, data)


def pydantic_issues(loaded: LoadedYaml, exc: Any, prefix: Sequence[str | int] = ()) -> ConfigError:
    """Turn a pydantic ValidationError into file:line:field issues."""
    issues = []
    for err in exc.errors():
        loc = [
            *prefix,
            *(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))),
        ]
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field; remove it or check its spelling"
        elif err["type"] == "missing":
            msg = "required field is missing"
        elif err["type"] == "value_error":
            msg = msg.removeprefix("Value error, ")
        issues.append(loaded.issue(loc, msg))
    return ConfigError(issues)
