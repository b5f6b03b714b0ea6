"""`per_cpu_count` lines in and out of the plain form numpy converts in one call."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hil.linux.irqsysfs import SysIrq


@pytest.mark.parametrize(
    ("line", "counts"),
    [
        ("0,2,0,2", [0, 2, 0, 2]),  # plain: numpy
        ("7", [7]),
        ("4294967295,18446744073709551614", [4294967295, 18446744073709551614]),
        ("18446744073709551615,1", [18446744073709551615, 1]),  # numpy's saturated value
        ("123456789012345678901234567890,1", [123456789012345678901234567890, 1]),
        ("1,,2", [1, 2]),  # not plain: field by field, skipping what is not a number
        (" 1,2", [1, 2]),
        ("1,x,3", [1, 3]),
        ("1,+2,3", [1, 3]),
        ("1,٣", [1]),  # non-ASCII bytes read as replacement characters
        ("1,2,", [1, 2]),
    ],
)
def test_per_cpu_counts(
    tmp_path: Path, put: Callable[[Path, str], Path], line: str, counts: list[int]
) -> None:
    put(tmp_path / "sys/kernel/irq/41/per_cpu_count", line + "\n")
    info = SysIrq(tmp_path).read(41)
    assert info is not None
    assert info.per_cpu == dict(enumerate(counts))
    assert all(type(n) is int for n in info.per_cpu.values())


MANY = [0] * 40 + [5, 0, 18446744073709551614, 0]
"""Long enough for numpy (>= 32 fields), mostly zeros as on a large host."""


@pytest.mark.parametrize(
    "counts",
    [MANY, [0, 2, 0, 2], [0] * 64, [*MANY[:-1], 18446744073709551615]],  # last: saturated
)
def test_nonzero_counts_are_the_per_cpu_counts_without_zeros(
    tmp_path: Path, put: Callable[[Path, str], Path], counts: list[int]
) -> None:
    put(tmp_path / "sys/kernel/irq/41/per_cpu_count", ",".join(map(str, counts)) + "\n")
    nonzero = SysIrq(tmp_path).nonzero_counts(41)
    assert nonzero == {cpu: n for cpu, n in enumerate(counts) if n}
    assert nonzero is not None and all(type(n) is int for n in [*nonzero, *nonzero.values()])
    assert SysIrq(tmp_path).nonzero_counts(42) is None
