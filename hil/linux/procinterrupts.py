"""/proc/interrupts: per-CPU delivery counts of every requested irq.

Delivery is observed as the rise of these counters between two snapshots,
so the parser must read every kernel's spelling of a row exactly (6.2+
per-device chips `IR-PCI-MSIX-0000:00:0a.0   0-edge`, the older global
`IR-PCI-MSI 163840-edge`), follow CPU hotplug (an offline CPU's column is
simply absent) and never crash on a line it does not understand: a skipped
line is recorded as a warning so a report can show it.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

VfioKind = Literal["msi", "msix", "intx"]

# Summary rows that print one machine-wide total instead of a column per CPU.
SINGLE_TOTAL_ROWS = frozenset({"ERR", "MIS"})
_HWIRQ_TRIGGER = re.compile(r"(\d*)-([A-Za-z][\w-]*)|(\d+)")
_PER_DEVICE_CHIP = re.compile(r"(?:v?IR-)?PCI-MSIX?-([0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7])")
_VFIO_ACTION = re.compile(
    r"vfio-(?:(?P<kind>msix?)\[(?P<entry>\d+)\]|(?P<intx>intx))"
    r"\((?P<bdf>[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7])\)"
)


@dataclass(frozen=True)
class VfioAction:
    """What a vfio-pci handler name says: which vector of which device."""

    kind: VfioKind
    entry: int | None
    bdf: str


def parse_vfio_action(name: str) -> VfioAction | None:
    """Read `vfio-msix[3](0000:00:0a.0)`, `vfio-msi[0](…)` or `vfio-intx(…)`; None otherwise."""
    m = _VFIO_ACTION.fullmatch(name.strip())
    if m is None:
        return None
    if m["intx"]:
        return VfioAction(kind="intx", entry=None, bdf=m["bdf"])
    kind: VfioKind = "msix" if m["kind"] == "msix" else "msi"
    return VfioAction(kind=kind, entry=int(m["entry"]), bdf=m["bdf"])


@dataclass(frozen=True)
class IrqRow:
    """One numbered irq.  `hwirq`/`trigger` are None where the kernel printed none.

    The counts are kept as a tuple aligned with `cpus` (the table's online
    CPUs): a dict per row would cost most of the parse time and several
    times the memory on a machine with hundreds of CPUs.  `counts` gives
    the CPU -> count mapping.
    """

    irq: int
    cpus: tuple[int, ...]
    values: tuple[int, ...]
    chip: str
    hwirq: int | None
    trigger: str | None
    actions: tuple[str, ...]

    @property
    def counts(self) -> dict[int, int]:
        return dict(zip(self.cpus, self.values, strict=True))

    def count(self, cpu: int) -> int:
        """Count on `cpu`; 0 for a CPU without a column (offline when read)."""
        try:
            return self.values[self.cpus.index(cpu)]
        except ValueError:
            return 0

    @property
    def total(self) -> int:
        return sum(self.values)

    @property
    def chip_device(self) -> str | None:
        """The BDF a 6.2+ per-device MSI chip name carries, else None."""
        m = _PER_DEVICE_CHIP.fullmatch(self.chip)
        return m[1] if m else None

    @property
    def vfio(self) -> VfioAction | None:
        """The first action that is a vfio-pci handler, read as `VfioAction`."""
        for action in self.actions:
            parsed = parse_vfio_action(action)
            if parsed is not None:
                return parsed
        return None


@dataclass(frozen=True)
class SummaryRow:
    """An architecture counter row (NMI, LOC, SPU, ERR, ...).

    ERR and MIS print a single machine-wide number: their `counts` is empty
    and `total` holds it.  For the others `total` is the sum of `counts`.
    """

    name: str
    counts: dict[int, int]
    description: str
    total: int


@dataclass(frozen=True)
class InterruptTable:
    cpus: tuple[int, ...]
    irqs: dict[int, IrqRow]
    summaries: dict[str, SummaryRow]
    warnings: tuple[str, ...] = field(default=(), compare=False)

    def row(self, irq: int) -> IrqRow | None:
        return self.irqs.get(irq)

    def summary(self, name: str) -> SummaryRow | None:
        return self.summaries.get(name)

    def by_action(self, pattern: str | re.Pattern[str]) -> list[IrqRow]:
        """Rows with an action matching the regular expression `pattern` (re.search)."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        return [r for r in self.irqs.values() if any(regex.search(a) for a in r.actions)]

    @property
    def is_remapped(self) -> bool:
        """True if any chip is an interrupt-remapping one (`IR-`, or `vIR-` on 6.2-6.9)."""
        return any(r.chip.startswith(("IR-", "vIR-")) for r in self.irqs.values())

    def delta(self, earlier: InterruptTable) -> dict[int, dict[int, int]]:
        """Per-irq, per-CPU rise of the counts since `earlier`.

        An irq or CPU column absent from `earlier` counts from zero: an irq
        only appears once requested, a CPU column once the CPU is online.
        """
        result: dict[int, dict[int, int]] = {}
        for irq, row in self.irqs.items():
            before = earlier.irqs.get(irq)
            if before is not None and before.cpus == row.cpus:
                result[irq] = {
                    cpu: n - o
                    for cpu, n, o in zip(row.cpus, row.values, before.values, strict=True)
                }
            else:
                old = before.counts if before is not None else {}
                result[irq] = {cpu: n - old.get(cpu, 0) for cpu, n in row.counts.items()}
        return result

    def summary_delta(self, earlier: InterruptTable, name: str) -> int:
        """Rise of a summary row's total since `earlier` (0 if the row is absent)."""
        now, before = self.summaries.get(name), earlier.summaries.get(name)
        return (now.total if now else 0) - (before.total if before else 0)


class ProcInterrupts:
    """Parser of /proc/interrupts text."""

    @staticmethod
    def parse(text: str, irqs: Iterable[int] | None = None) -> InterruptTable:
        """Parse the whole file, or only the numbered rows in `irqs` (summary rows always).

        Reading only the rows a step watches skips converting the counts of
        every other irq, which dominates on machines with hundreds of CPUs.
        """
        wanted = None if irqs is None else frozenset(irqs)
        if wanted is not None and _OTHER_LINE_BREAK.search(text):
            # Rows skipped unread are not searched below: search the whole text.
            text = _newlines_only(text)
        try:
            return _parse(text, wanted)
        except _OtherLineBreak:
            return _parse(_newlines_only(text), wanted)


_OTHER_LINE_BREAK = re.compile("[\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
"""Line boundaries of str.splitlines other than "\\n"."""


class _OtherLineBreak(Exception):
    """Raised where a line holds another line boundary than "\\n"."""


def _newlines_only(text: str) -> str:
    """Rows are found by "\\n" alone; this keeps str.splitlines' idea of a line."""
    return "\n".join(text.splitlines())


def _parse(text: str, wanted: frozenset[int] | None) -> InterruptTable:
    header_end = text.find("\n")
    header = text if header_end < 0 else text[:header_end]
    if _OTHER_LINE_BREAK.search(header):
        raise _OtherLineBreak
    cpu_tokens = header.split()
    if not cpu_tokens or not all(t.startswith("CPU") and t[3:].isdigit() for t in cpu_tokens):
        warning = f"no CPU header line, got {header[:80]!r}"
        return InterruptTable(cpus=(), irqs={}, summaries={}, warnings=(warning,))
    reader = _LineReader(tuple(int(t[3:]) for t in cpu_tokens), wanted)
    if header_end >= 0:
        _read_rows(text, header_end + 1, reader)
    return InterruptTable(
        cpus=reader.cpus,
        irqs=reader.rows,
        summaries=reader.summaries,
        warnings=tuple(reader.warnings),
    )


COUNT_FIELD_WIDTH = 11
"""show_interrupts prints each online CPU's count as `%10u ` (6.1) or ` %10u` (6.12+):
from a row's colon on, its counts are CPU-many 11-character fields, a space
and a right-aligned number (an unsigned int never needs more than 10 digits)."""


@dataclass
class _LineReader:
    """The table being built, and the tolerant line-by-line reading of any row."""

    cpus: tuple[int, ...]
    wanted: frozenset[int] | None
    rows: dict[int, IrqRow] = field(default_factory=dict)
    summaries: dict[str, SummaryRow] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def read_line(self, lineno: int, line: str) -> None:
        label, colon, rest = line.partition(":")
        label = label.strip()
        if not colon or not label:
            if line.strip():
                self.warnings.append(f"line {lineno}: no 'label:' prefix: {line[:80]!r}")
            return
        ncpus = len(self.cpus)
        if label.isdigit():
            irq = int(label)
            if self.wanted is not None and irq not in self.wanted:
                return
            row = _irq_row(irq, rest, self.cpus, ncpus)
            if row is None:
                self.warnings.append(f"line {lineno}: unreadable irq row: {line[:80]!r}")
            else:
                self.rows[irq] = row
            return
        summary = _summary_row(label, rest, self.cpus, ncpus)
        if summary is None:
            self.warnings.append(f"line {lineno}: unreadable summary row: {line[:80]!r}")
        else:
            self.summaries[label] = summary


def _read_rows(text: str, pos: int, reader: _LineReader) -> None:
    """Read every line after the header into `reader`.

    The counts of the irq rows laid out as the kernel prints them are
    converted by array operations (`_fixed_width_counts`); a row that does
    not fit that layout, and every other line, is read by
    `_LineReader.read_line`.  Rows are stored in file order either way.
    A line is searched for other line boundaries only outside the counts a
    bulk conversion accepts (they hold nothing but spaces and digits).
    """
    other_break = _OTHER_LINE_BREAK.search
    ncpus = len(reader.cpus)
    width = COUNT_FIELD_WIDTH * ncpus
    wanted = reader.wanted
    find = text.find
    size = len(text)
    # (lineno, line start, line end, irq or -1 for a line read alone, counts start)
    lines: list[tuple[int, int, int, int, int]] = []
    lineno = 1
    while pos < size:
        end = find("\n", pos)
        if end < 0:
            end = size
        lineno += 1
        irq, counts = -1, 0
        colon = find(":", pos, end)
        if colon >= 0:
            label = text[pos:colon].strip()
            if label.isdigit():
                irq = int(label)
                if wanted is not None and irq not in wanted:
                    pos = end + 1
                    continue
                counts = colon + 1
                if not (counts + width < end and text[counts + width].isspace()):
                    irq = -1
                elif other_break(text, pos, counts) or other_break(text, counts + width, end):
                    raise _OtherLineBreak
        if irq < 0 and other_break(text, pos, end):
            raise _OtherLineBreak
        lines.append((lineno, pos, end, irq, counts))
        pos = end + 1
    values = _fixed_width_rows(text, [counts for _, _, _, irq, counts in lines if irq >= 0], ncpus)
    k = 0
    for lineno, start, end, irq, counts in lines:
        if irq >= 0:
            row_values, k = values[k], k + 1
            tail = text[counts + width : end].split(None, 2) if row_values is not None else None
            if tail and row_values is not None:
                reader.rows[irq] = _row_from_tail(irq, reader.cpus, row_values, tail)
                continue
            if other_break(text, start, end):
                raise _OtherLineBreak
        reader.read_line(lineno, text[start:end])


_FIELDS_PER_CHUNK = 1 << 15
"""Rows are converted in chunks of about this many counts: the working arrays
then stay in the CPU cache and are reused from chunk to chunk, where arrays
of a whole 512-CPU file would cost a page fault every 4 KiB, several times over."""


def _fixed_width_rows(text: str, starts: list[int], ncpus: int) -> list[tuple[int, ...] | None]:
    """The counts of the rows whose fields start at `starts`; None for a row that
    does not fit the fixed-width layout."""
    if not starts:
        return []
    width = COUNT_FIELD_WIDTH * ncpus
    # "replace" keeps one byte per character, so offsets in `text` stay valid.
    data = memoryview(text.encode("ascii", "replace"))
    unpack = struct.Struct(f"<{ncpus}Q").unpack_from
    row_bytes = 8 * ncpus
    per_chunk = max(1, _FIELDS_PER_CHUNK // ncpus)
    scratch = _Scratch(min(per_chunk, len(starts)) * ncpus)
    out: list[tuple[int, ...] | None] = []
    for first in range(0, len(starts), per_chunk):
        chunk = starts[first : first + per_chunk]
        blocks = b"".join([data[s : s + width] for s in chunk])
        values, fits = _fixed_width_counts(blocks, ncpus, scratch)
        out.extend(
            unpack(values.data, i * row_bytes) if fit else None for i, fit in enumerate(fits)
        )
    return out


class _Scratch:
    """Work arrays of one chunk's size, reused by every chunk of a parse."""

    def __init__(self, nfields: int) -> None:
        self.wide = [np.empty(nfields, np.uint64) for _ in range(3)]
        self.narrow = [np.empty(nfields, np.uint32) for _ in range(3)]


def _fixed_width_counts(
    blocks: bytes, ncpus: int, scratch: _Scratch
) -> tuple[np.ndarray, list[bool]]:
    """The counts of rows of `ncpus` 11-byte fields each, and whether each row fits.

    A row fits when every field is a space and a right-aligned run of 1-10
    digits.  Each field is read as two little-endian words, bytes 0-3 and
    3-10 (the byte they share ties the right alignment together), checked
    and converted eight digits at a time within a 64-bit word (SWAR), so
    the cost is a few array operations instead of an int() per count.
    """
    nfields = len(blocks) // COUNT_FIELD_WIDTH
    low = np.ndarray((nfields,), "<u8", blocks, 3, (COUNT_FIELD_WIDTH,)).copy()
    high = np.ndarray((nfields,), "<u4", blocks, 0, (COUNT_FIELD_WIDTH,)).copy()
    low_bad, low_spaces, wide = (a[:nfields] for a in scratch.wide)
    high_bad, high_spaces, narrow = (a[:nfields] for a in scratch.narrow)
    _digit_bytes(low, 0x0101010101010101, low_bad, low_spaces, wide)
    _digit_bytes(high, 0x01010101, high_bad, high_spaces, narrow)
    low_spaces >>= np.uint64(56)  # the last byte of a field must be a digit
    low_bad |= low_spaces
    high_spaces &= np.uint32(0xFF)  # byte 0 is the separator: a space
    high_spaces ^= np.uint32(0xFF)
    high_bad |= high_spaces
    bad = low_bad.astype(bool)
    bad |= high_bad.astype(bool)
    broken_rows = np.asarray(bad.reshape(-1, ncpus).any(axis=1))
    fits = [not broken for broken in broken_rows.tolist()]
    # Eight digits in `low`: pairs, then quads, then the whole (multiply-shift-mask).
    low *= np.uint64(10 << 8 | 1)
    low >>= np.uint64(8)
    low &= np.uint64(0x00FF00FF00FF00FF)
    low *= np.uint64(100 << 16 | 1)
    low >>= np.uint64(16)
    low &= np.uint64(0x0000FFFF0000FFFF)
    low *= np.uint64(10000 << 32 | 1)
    low >>= np.uint64(32)
    # The two leading digits are bytes 1 and 2 of `high` (byte 0, the space, is 0).
    high *= np.uint32(10 << 8 | 1)
    high >>= np.uint32(16)
    high &= np.uint32(0xFF)
    np.multiply(high, np.uint64(100_000_000), out=wide)
    low += wide
    return low, fits


def _digit_bytes(
    words: np.ndarray, ones: int, bad: np.ndarray, spaces: np.ndarray, check: np.ndarray
) -> None:
    """Check that every byte of `words` is a space or a digit, spaces first.

    Turns `words` into the digit values in place (0 for a space), and fills
    `bad` (nonzero where a word breaks the rule) and `spaces` (0xFF in each
    byte that is a space); `check` is scratch.
    """
    kind = words.dtype.type

    def each_byte(value: int) -> np.generic:
        return kind(value * ones)

    words ^= each_byte(0x30)  # "0".."9" -> 0..9, " " -> 0x10
    np.bitwise_and(words, each_byte(0xE0), out=bad)  # anything outside 0x20..0x3f
    np.right_shift(words, kind(4), out=spaces)
    spaces &= each_byte(0x01)
    words &= each_byte(0x0F)
    np.add(words, each_byte(0x06), out=check)  # bit 4 set where a digit would be above 9
    check &= each_byte(0x10)
    bad |= check
    spaces *= kind(0xFF)
    np.bitwise_and(words, spaces, out=check)  # a space byte must be exactly 0x20
    bad |= check
    np.add(spaces, kind(1), out=check)  # spaces must be the low (leading) bytes
    check &= spaces
    bad |= check


def _irq_row(irq: int, rest: str, cpus: tuple[int, ...], ncpus: int) -> IrqRow | None:
    parts = rest.split(None, ncpus + 2)
    if len(parts) <= ncpus:
        return None
    try:
        values = tuple(map(int, parts[:ncpus]))
    except ValueError:
        return None
    return _row_from_tail(irq, cpus, values, parts[ncpus:])


def _row_from_tail(
    irq: int, cpus: tuple[int, ...], values: tuple[int, ...], tail: list[str]
) -> IrqRow:
    """The row from its counts and what follows them: chip, `hwirq-trigger`, actions."""
    chip = tail[0]
    tail = tail[1:]
    hwirq: int | None = None
    trigger: str | None = None
    if tail:
        m = _HWIRQ_TRIGGER.fullmatch(tail[0])
        if m is not None:
            digits = m[1] if m[1] is not None else m[3]
            hwirq = int(digits) if digits else None
            trigger = m[2]
            tail = tail[1:]
    actions_text = " ".join(tail)
    actions = tuple(a.strip() for a in actions_text.split(", ")) if actions_text else ()
    return IrqRow(
        irq=irq,
        cpus=cpus,
        values=values,
        chip=chip,
        hwirq=hwirq,
        trigger=trigger,
        actions=actions,
    )


def _summary_row(name: str, rest: str, cpus: tuple[int, ...], ncpus: int) -> SummaryRow | None:
    if name in SINGLE_TOTAL_ROWS:
        parts = rest.split(None, 1)
        if not parts or not parts[0].isdigit():
            return None
        description = parts[1].strip() if len(parts) > 1 else ""
        return SummaryRow(name=name, counts={}, description=description, total=int(parts[0]))
    parts = rest.split(None, ncpus)
    if len(parts) < ncpus:
        return None
    try:
        values = list(map(int, parts[:ncpus]))
    except ValueError:
        return None
    description = parts[ncpus].strip() if len(parts) > ncpus else ""
    counts = dict(zip(cpus, values, strict=True))
    return SummaryRow(name=name, counts=counts, description=description, total=sum(values))
