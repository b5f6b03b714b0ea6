"""Hypothesis strategies that break valid user files the way people (and editors) do.

Each strategy starts from a valid document and applies one or more
mutations: a key deleted, an unknown key added, a value of the wrong type,
a value of the right type but a wrong shape (bad BDF, bad cpulist, bad
version), YAML syntax broken at some line, bytes that are not UTF-8, a
truncated file.  The result is the file's bytes, ready to be written.
"""

from __future__ import annotations

import copy
from io import StringIO
from typing import Any

from hypothesis import strategies as st
from ruamel.yaml import YAML

KeyPath = tuple[str | int, ...]

NASTY_STRINGS = (
    # BDFs
    "0000:00:1f.8",
    "00:1f.0",
    "0000:0G:00.0",
    "0000:00:00.0\n",
    "0000:00:0A.0",
    # cpulists
    "3-1",
    "1,,2",
    "-1",
    "0-",
    "a-b",
    "0-99999999999999",
    "99999999999999999999",
    " ",
    "",
    # versions and ids
    "6.10",
    ">=6",
    "=>6.1",
    "6.x",
    "8086:10D3",
    "8086-10d3",
    # names and the rest
    "IGB_0",
    "-lead",
    "a" * 300,
    "~",
    "null",
    "0x10",
    "∞",
    "../../etc/passwd",
)

YAML_BREAKERS = (
    ": [",
    "{",
    "\t- x",
    "- - :",
    "key: value: other",
    "&a [*a]",
    "*undefined",
    "!!python/object:os.system x",
    "%YAML 9.9",
    "---\n---",
    '"unterminated',
    "? complex\n: key",
    "[" * 60,
    "a: !!binary AAAA",
    "<<: *nothing",
)

NON_UTF8 = (b"\xff\xfe", b"\xc3\x28", b"\x80", b"\xed\xa0\x80", b"\x00")

ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(NASTY_STRINGS),
    st.lists(st.integers(min_value=-5, max_value=10_000), max_size=4),
    st.dictionaries(st.text(max_size=6), st.integers(), max_size=2),
)


def _paths(node: Any, prefix: KeyPath = ()) -> list[KeyPath]:
    """Every key or item path in a plain YAML tree, parents before children."""
    out: list[KeyPath] = []
    if isinstance(node, dict):
        for key, value in node.items():
            out.append((*prefix, key))
            out.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.append((*prefix, i))
            out.extend(_paths(value, (*prefix, i)))
    return out


def _containers(node: Any, prefix: KeyPath = ()) -> list[KeyPath]:
    """Paths of every mapping (where an unknown key can be added)."""
    out: list[KeyPath] = [prefix] if isinstance(node, dict) else []
    if isinstance(node, dict):
        for key, value in node.items():
            out.extend(_containers(value, (*prefix, key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.extend(_containers(value, (*prefix, i)))
    return out


def _parent(tree: Any, path: KeyPath) -> Any:
    node = tree
    for part in path[:-1]:
        node = node[part]
    return node


def dump(tree: Any) -> str:
    yaml = YAML(typ="safe")
    yaml.default_flow_style = False
    out = StringIO()
    yaml.dump(tree, out)
    return out.getvalue()


@st.composite
def mutated_tree(draw: st.DrawFn, base: Any) -> Any:
    tree = copy.deepcopy(base)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        kind = draw(st.sampled_from(["delete", "add", "retype", "nasty"]))
        if kind == "add":
            where = draw(st.sampled_from(_containers(tree)))
            node = tree
            for part in where:
                node = node[part]
            node[draw(st.sampled_from(["extra", "cpuz", "Name", "devices ", "1"]))] = draw(
                ANY_VALUE
            )
            continue
        paths = _paths(tree)
        if not paths:
            continue
        path = draw(st.sampled_from(paths))
        parent = _parent(tree, path)
        if kind == "delete":
            del parent[path[-1]]
        elif kind == "retype":
            parent[path[-1]] = draw(ANY_VALUE)
        else:
            parent[path[-1]] = draw(st.sampled_from(NASTY_STRINGS))
    return tree


@st.composite
def broken_text(draw: st.DrawFn, text: str) -> bytes:
    lines = text.splitlines()
    kind = draw(st.sampled_from(["syntax", "bytes", "truncate"]))
    at = draw(st.integers(min_value=0, max_value=len(lines)))
    if kind == "syntax":
        indent = " " * draw(st.sampled_from([0, 2, 3, 4]))
        lines.insert(at, indent + draw(st.sampled_from(YAML_BREAKERS)))
        return ("\n".join(lines) + "\n").encode()
    if kind == "bytes":
        head = ("\n".join(lines[:at]) + "\n").encode()
        tail = ("\n".join(lines[at:]) + "\n").encode()
        return head + draw(st.sampled_from(NON_UTF8)) + tail
    raw = text.encode()
    return raw[: draw(st.integers(min_value=0, max_value=len(raw)))]


def user_file(base: Any) -> st.SearchStrategy[bytes]:
    """The document as written (sometimes valid), structurally mutated, or broken as text."""
    text = dump(base)
    structural: st.SearchStrategy[bytes] = mutated_tree(base).map(lambda tree: dump(tree).encode())
    return st.one_of(
        st.just(text.encode()),
        structural,
        structural,
        structural,
        broken_text(text),
    )
