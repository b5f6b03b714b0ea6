"""The bulk reading of fixed-width rows against what the text says.

Rows laid out as the kernel prints them are converted in chunks of rows
into one matrix, with a shortcut for chunks whose counts all have at most
eight digits; every other row is read token by token.  These cases pin
down that the two paths, the shortcut and the chunk boundaries give the
numbers written in the text, and that a row's counts read the same
whichever way the row was stored.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hil.linux.procinterrupts import ProcInterrupts
from hil.linux.synthetic import synthetic_count

TAIL = "  IR-PCI-MSIX-0000:00:0a.0    0-edge      vfio-msix[0](0000:00:0a.0)"


def header(ncpus: int) -> str:
    return " " * 5 + "".join(f"CPU{c:<8d}" for c in range(ncpus)) + "\n"


def kernel_row(label: str, counts: list[int] | tuple[int, ...], tail: str = TAIL) -> str:
    """A row as show_interrupts prints it: ` %10u` per CPU, wider when a count needs it."""
    return f"{label:>4s}:" + "".join(f" {n:10d}" for n in counts) + tail + "\n"


def token_row(label: str, counts: list[int] | tuple[int, ...], tail: str = TAIL) -> str:
    """The same row with single spaces: never the fixed-width layout."""
    return f"{label}: " + " ".join(map(str, counts)) + " " + tail.strip() + "\n"


def test_every_chunk_reads_exactly_around_rows_off_the_layout() -> None:
    ncpus, nirqs = 64, 1100  # 512 rows to a chunk: three chunks
    special = {
        100: {5: 4_294_967_295},  # ten digits: this chunk checks bytes 0-3 of every field
        101: {0: 123_456_789, 63: 99_999_999},  # nine digits, and eight at the last CPU
        600: {7: 12_345_678_901},  # wider than a field: read token by token
        1099: {63: 1_000_000_000},  # ten digits in the last row of the last chunk
    }
    expected = {}
    lines = [header(ncpus)]
    for irq in range(nirqs):
        values = [special.get(irq, {}).get(c, synthetic_count(irq, c)) for c in range(ncpus)]
        expected[irq] = tuple(values)
        lines.append(kernel_row(str(irq), values))
    lines.insert(1 + 700, " 700x:          1\n")  # an unreadable line inside a chunk
    table = ProcInterrupts.parse("".join(lines))
    assert {irq: row.values for irq, row in table.irqs.items()} == expected
    assert list(table.irqs) == list(range(nirqs))
    assert len(table.warnings) == 1 and "line 702" in table.warnings[0]


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 6).flatmap(
        lambda ncpus: st.lists(
            st.lists(
                st.one_of(st.integers(0, 99), st.integers(0, 10**11)),
                min_size=ncpus,
                max_size=ncpus,
            ),
            min_size=1,
            max_size=40,
        )
    )
)
def test_kernel_layout_rows_read_the_numbers_written(rows: list[list[int]]) -> None:
    ncpus = len(rows[0])
    text = header(ncpus) + "".join(kernel_row(str(i), r) for i, r in enumerate(rows))
    table = ProcInterrupts.parse(text)
    assert [row.values for row in table.irqs.values()] == [tuple(r) for r in rows]
    assert table.warnings == ()


@pytest.mark.parametrize(
    ("tail", "read"),
    [
        (TAIL, ("IR-PCI-MSIX-0000:00:0a.0", 0, "edge", ("vfio-msix[0](0000:00:0a.0)",))),
        (
            "  IR-IO-APIC    9-fasteoi   acpi, PCIe PME",
            ("IR-IO-APIC", 9, "fasteoi", ("acpi", "PCIe PME")),
        ),
        (
            "  IR-PCI-MSI 16384-edge      PCIe PME, pciehp",
            ("IR-PCI-MSI", 16384, "edge", ("PCIe PME", "pciehp")),
        ),
        ("  DMAR-MSI    0  dmar0", ("DMAR-MSI", 0, None, ("dmar0",))),
        ("  PCI-MSI  -edge  x", ("PCI-MSI", None, "edge", ("x",))),
        ("  IR-PCI-MSI 163840-edge", ("IR-PCI-MSI", 163840, "edge", ())),
        ("  XT-PIC  cascade", ("XT-PIC", None, None, ("cascade",))),
        ("  XT-PIC", ("XT-PIC", None, None, ())),
    ],
)
def test_tails_read_alike_on_both_paths(tail: str, read: tuple[object, ...]) -> None:
    """Chip, `hwirq-trigger` and actions (names with spaces too) after bulk-read counts."""
    counts = (3, 0, 4_000_000_000)
    bulk = ProcInterrupts.parse(header(3) + kernel_row("41", counts, tail)).irqs[41]
    tokens = ProcInterrupts.parse(header(3) + token_row("41", counts, tail)).irqs[41]
    assert (bulk.chip, bulk.hwirq, bulk.trigger, bulk.actions) == read
    assert bulk == tokens and hash(bulk) == hash(tokens)
    assert bulk.values == counts == tokens.values


def test_counts_are_python_ints_over_a_read_only_array() -> None:
    table = ProcInterrupts.parse(
        header(2)
        + kernel_row("41", [7, 4_294_967_295])
        + token_row("42", [1, 123456789012345678901234567890])
    )
    bulk, wide = table.irqs[41], table.irqs[42]
    assert all(type(v) is int for row in (bulk, wide) for v in row.values)
    assert bulk.count_array.dtype.kind == "u" and wide.values[1] == 123456789012345678901234567890
    assert (bulk.counts, bulk.count(1), bulk.count(5), bulk.total) == (
        {0: 7, 1: 4_294_967_295},
        4_294_967_295,
        0,
        4_294_967_302,
    )
    for row in (bulk, wide):
        with pytest.raises(ValueError, match="read-only"):
            row.count_array[0] = 0


def test_rows_with_fewer_or_missing_columns() -> None:
    table = ProcInterrupts.parse(
        header(3)
        + kernel_row("41", [1, 2, 3])
        + kernel_row("42", [1, 2], tail="")  # missing trailing column, no chip
        + kernel_row("43", [5], tail="  PCI-MSI 1-edge x")  # one column: the chip is a count
        + kernel_row("44", [1, 2, 3], tail="")  # every column, nothing after
    )
    assert list(table.irqs) == [41]
    assert [w.split(":")[0] for w in table.warnings] == ["line 3", "line 4", "line 5"]
    assert all("unreadable irq row" in w for w in table.warnings)


def test_architecture_rows_beside_bulk_rows() -> None:
    table = ProcInterrupts.parse(
        header(3)
        + kernel_row("41", [1, 2, 3])
        + kernel_row("NMI", [0, 1, 0], tail="   Non-maskable interrupts")
        + kernel_row("LOC", [4_000_000_000, 2, 3], tail="   Local timer interrupts")
        + kernel_row("SPU", [0, 0, 9], tail="   Spurious interrupts")
        + kernel_row("ERR", [3], tail="")
        + kernel_row("MIS", [0], tail="")
        + kernel_row("42", [4, 5, 6])
    )
    assert [r.values for r in table.irqs.values()] == [(1, 2, 3), (4, 5, 6)]
    loc, spu = table.summary("LOC"), table.summary("SPU")
    assert loc is not None and loc.counts == {0: 4_000_000_000, 1: 2, 2: 3}
    assert loc.description == "Local timer interrupts"
    assert spu is not None and spu.total == 9
    assert [(s.name, s.counts, s.total) for s in map(table.summary, ("ERR", "MIS")) if s] == [
        ("ERR", {}, 3),
        ("MIS", {}, 0),
    ]
    assert table.warnings == ()


def test_a_blank_field_is_not_a_zero() -> None:
    # Read token by token, "PCI-MSI" lands in CPU1's column: the row is unreadable.
    table = ProcInterrupts.parse(header(2) + " 41:          5" + " " * 11 + "  PCI-MSI 1-edge x\n")
    assert 41 not in table.irqs and "unreadable irq row" in table.warnings[0]
