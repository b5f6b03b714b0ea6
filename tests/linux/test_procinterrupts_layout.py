"""Rows in and out of the kernel's fixed-width layout read the same way.

The parser converts the counts of rows printed the way the kernel prints
them (an 11-character field per CPU) in bulk, and reads every other row
token by token; these cases pin down which rows take which path and that
both give the numbers written in the text.
"""

from __future__ import annotations

import pytest

from hil.linux.procinterrupts import ProcInterrupts

HEADER = "           CPU0       CPU1\n"
TAIL = "  IR-PCI-MSIX-0000:00:0a.0    0-edge      vfio-msix[0](0000:00:0a.0)"


def _row(counts: str, tail: str = TAIL, label: str = " 41:") -> str:
    return HEADER + label + counts + tail + "\n"


@pytest.mark.parametrize(
    ("counts", "values"),
    [
        ("          0          7", (0, 7)),  # 6.1: "%10u " after ": "
        (" 4294967295 1234567890", (4294967295, 1234567890)),  # every digit used
        ("          5         12", (5, 12)),
        ("  123456789         99", (123456789, 99)),  # a ninth and tenth digit position
    ],
)
def test_fixed_width_counts(counts: str, values: tuple[int, ...]) -> None:
    row = ProcInterrupts.parse(_row(counts)).irqs[41]
    assert row.values == values
    assert all(type(v) is int for v in row.values)
    assert (row.chip, row.hwirq, row.trigger) == ("IR-PCI-MSIX-0000:00:0a.0", 0, "edge")
    assert row.actions == ("vfio-msix[0](0000:00:0a.0)",)


@pytest.mark.parametrize(
    ("counts", "values"),
    [
        (" 1 2", (1, 2)),  # hand-written, single spaces
        (" 12345678901          2", (12345678901, 2)),  # wider than a field
        ("\t         3          4", (3, 4)),  # a tab where a space belongs
        ("          1\t         2", (1, 2)),
    ],
)
def test_rows_off_the_layout_are_read_token_by_token(counts: str, values: tuple[int, ...]) -> None:
    table = ProcInterrupts.parse(_row(counts))
    assert table.irqs[41].values == values
    assert table.irqs[41].chip == "IR-PCI-MSIX-0000:00:0a.0"
    assert table.warnings == ()


def test_a_space_inside_a_field_splits_it_into_two_numbers() -> None:
    # "12 34" is two tokens: the two CPUs get 12 and 34, and 5 becomes the chip.
    row = ProcInterrupts.parse(_row("      12 34          5", tail=" x")).irqs[41]
    assert row.values == (12, 34)
    assert row.chip == "5"


def test_a_letter_in_a_field_makes_the_row_unreadable() -> None:
    table = ProcInterrupts.parse(_row("         1a          2"))
    assert 41 not in table.irqs
    assert len(table.warnings) == 1 and "line 2" in table.warnings[0]


def test_counts_without_a_chip_are_unreadable() -> None:
    table = ProcInterrupts.parse(_row("          1          2", tail=""))
    assert 41 not in table.irqs and "unreadable irq row" in table.warnings[0]


def test_crlf_and_lf_files_read_alike(fixture_text) -> None:  # type: ignore[no-untyped-def]
    text = fixture_text("proc-interrupts_synthetic_cpu2-offline.txt")
    lf = ProcInterrupts.parse(text)
    crlf = ProcInterrupts.parse(text.replace("\n", "\r\n"))
    assert crlf == lf
    assert crlf.warnings == lf.warnings


def test_non_ascii_action_names_leave_the_counts_alone() -> None:
    row = ProcInterrupts.parse(_row("          1          2", tail="  PCI-MSI 5-edge gerät")).irqs[
        41
    ]
    assert row.values == (1, 2) and row.actions == ("gerät",)


def test_rows_keep_file_order_across_both_paths() -> None:
    text = (
        HEADER
        + " 44:          1          2  PCI-MSI 1-edge a\n"
        + " 42: 3 4 PCI-MSI 2-edge b\n"
        + " 43:          5          6  PCI-MSI 3-edge c\n"
    )
    table = ProcInterrupts.parse(text)
    assert list(table.irqs) == [44, 42, 43]
    assert [r.values for r in table.irqs.values()] == [(1, 2), (3, 4), (5, 6)]
