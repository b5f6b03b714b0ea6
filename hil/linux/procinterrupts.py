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
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

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


@dataclass(frozen=True, eq=False)
class IrqRow:
    """One numbered irq.  `hwirq`/`trigger` are None where the kernel printed none.

    The counts are `count_array`, aligned with `cpus` (the table's online
    CPUs): a read-only row of one unsigned 64-bit matrix that holds every
    row the parse read in bulk (dtype object for a hand-written count too
    large for it).  Two million Python ints, in a tuple or dict per row,
    would cost most of a full parse on a machine with hundreds of CPUs,
    while callers read the counts of a few rows; `values` converts a row
    to Python ints when first read, and `counts` gives the CPU -> count
    mapping.  Rows compare by their values, not by how they are stored.
    """

    irq: int
    cpus: tuple[int, ...]
    count_array: npt.NDArray[Any]
    chip: str
    hwirq: int | None
    trigger: str | None
    actions: tuple[str, ...]

    @cached_property
    def values(self) -> tuple[int, ...]:
        """The counts as Python ints, aligned with `cpus`."""
        values: list[int] = self.count_array.tolist()
        return tuple(values)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IrqRow):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def _key(self) -> tuple[object, ...]:
        return (self.irq, self.cpus, self.values, self.chip, self.hwirq, self.trigger, self.actions)

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


def summary_totals(text: str, names: Iterable[str]) -> dict[str, int]:
    """The totals of the summary rows `names` that the text has, no other row read.

    A step only needs the spurious and error counters: finding three rows by
    regex is C work, where reading all twenty summary rows is Python work
    (a tenth of a step in a TCG guest).
    """
    _, cpus = _text_header(text)
    totals: dict[str, int] = {}
    if cpus is None:  # as `ProcInterrupts.parse`: no header, no rows
        return totals
    for match in _summary_pattern(tuple(names)).finditer(text):
        total = _summary_total(match[1], match[2], cpus)
        if total is not None:
            totals[match[1]] = total
    return totals


@lru_cache(maxsize=64)
def _summary_total(name: str, rest: str, cpus: tuple[int, ...]) -> int | None:
    """Cached: a step reads the same few rows twice, and they seldom change."""
    row = _summary_row(name, rest, cpus, len(cpus))
    return None if row is None else row.total


class IrqCounts(NamedTuple):
    """What a step reads of one irq row: its counts by online CPU, and its
    handlers, None where the row's columns do not say surely where they begin
    (no `hwirq-trigger` token).  Shared between reads of the same row text:
    read only."""

    counts: dict[int, int]
    actions: tuple[str, ...] | None


def irq_rows(
    text: str, irqs: Iterable[int]
) -> tuple[tuple[int, ...] | None, dict[int, IrqCounts | None]]:
    """The online CPUs the header names, and the rows of `irqs` the text has.

    An irq the text has no row for has no handler, but may have counts (seen
    on 6.12: a released vector's row went, its count stayed); None marks a
    row found but unreadable.  The rows are found by regex, no other line
    read: in a small machine's text that is C work, where twenty sysfs reads
    a step are twenty syscalls (half a millisecond each in a TCG guest).
    None for the CPUs: no header, no rows, as `ProcInterrupts.parse` reads it.
    """
    header_end, cpus = _text_header(text)
    rows: dict[int, IrqCounts | None] = {}
    wanted = tuple(sorted(set(irqs)))
    if cpus is None or header_end < 0 or not wanted:
        return cpus, rows
    for match in _irq_pattern(wanted).finditer(text, header_end):
        rows[int(match[1])] = _irq_counts(match[2], cpus)
    return cpus, rows


@lru_cache(maxsize=1024)
def _irq_counts(rest: str, cpus: tuple[int, ...]) -> IrqCounts | None:
    """One row read from after its colon.

    Cached: between a step's two reads, and from one step to the next, most
    of its rows are the same text (a fire raises one), and reading a row in
    Python costs as much as finding all of them.
    """
    split = _split_row(rest, len(cpus))
    if split is None:
        return None
    values, tail = split
    placed = len(tail) > 1 and _hwirq_trigger(tail[1]) is not None
    actions = _actions(tail[2] if len(tail) > 2 else "") if placed else None
    return IrqCounts(dict(zip(cpus, values, strict=True)), actions)


@lru_cache(maxsize=64)
def _irq_pattern(irqs: tuple[int, ...]) -> re.Pattern[str]:
    """Rows are found by their line's "\n": a literal the regex engine skips to,
    where a MULTILINE `^` is tried at every character."""
    labels = "|".join(map(str, irqs))
    return re.compile(rf"\n *({labels}):([^\n]*)")


def _text_header(text: str) -> tuple[int, tuple[int, ...] | None]:
    """Where the first line ends (-1: it is all the text) and the CPUs it names."""
    header_end = text.find("\n")
    return header_end, _header_cpus(text if header_end < 0 else text[:header_end])


@lru_cache(maxsize=16)
def _header_cpus(header: str) -> tuple[int, ...] | None:
    """The online CPUs the header line names ("CPU0 CPU2 ..."), None if it is not one.

    Cached: a step reads the same header four times."""
    tokens = header.split()
    if not tokens or not all(t.startswith("CPU") and t[3:].isdigit() for t in tokens):
        return None
    return tuple(int(t[3:]) for t in tokens)


@lru_cache(maxsize=8)
def _summary_pattern(names: tuple[str, ...]) -> re.Pattern[str]:
    """Found by the "\n" that begins the row (see `_irq_pattern`)."""
    labels = "|".join(re.escape(name) for name in names)
    return re.compile(rf"\n *({labels}):([^\n]*)")


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
    cpus = _header_cpus(header)
    if cpus is None:
        warning = f"no CPU header line, got {header[:80]!r}"
        return InterruptTable(cpus=(), irqs={}, summaries={}, warnings=(warning,))
    reader = _LineReader(cpus, wanted)
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


_Line = tuple[int, int, int, int, int]
"""(number, start, end, irq or -1, counts start) of a line; irq -1 marks a
line read alone, any other an irq row whose counts may be fixed-width."""


def _read_rows(text: str, pos: int, reader: _LineReader) -> None:
    """Read every line after the header into `reader`.

    The counts of the irq rows laid out as the kernel prints them are
    converted by array operations (`_fixed_width_counts`); a row that does
    not fit that layout, and every other line, is read by
    `_LineReader.read_line`.  Rows are stored in file order either way.
    """
    width = COUNT_FIELD_WIDTH * len(reader.cpus)
    lines = _find_lines(text, pos, width, reader.wanted)
    starts = [counts for _, _, _, irq, counts in lines if irq >= 0]
    matrix, fits = _fixed_width_matrix(text, starts, len(reader.cpus))
    bulk = zip(matrix, fits, strict=True)
    for lineno, start, end, irq, counts in lines:
        if irq >= 0:
            values, fit = next(bulk)
            tail = text[counts + width : end].split(None, 2) if fit else None
            if tail:
                reader.rows[irq] = _row_from_tail(irq, reader.cpus, values, tail)
                continue
            if _OTHER_LINE_BREAK.search(text, start, end):
                raise _OtherLineBreak
        reader.read_line(lineno, text[start:end])


def _find_lines(text: str, pos: int, width: int, wanted: frozenset[int] | None) -> list[_Line]:
    """Where each line from `pos` on starts and ends, skipping irq rows not `wanted`.

    An irq row is left to the bulk conversion when a blank follows the
    `width` characters after its colon.  Raises `_OtherLineBreak` where a
    line holds another line boundary; not searched are a label of digits
    and spaces, and the counts of a row left to the bulk conversion (it
    accepts nothing but spaces and digits; a row it rejects is searched
    whole by `_read_rows`).
    """
    other_break = _OTHER_LINE_BREAK.search
    find = text.find
    size = len(text)
    lines: list[_Line] = []
    lineno = 1
    while pos < size:
        end = find("\n", pos)
        if end < 0:
            end = size
        lineno += 1
        irq, counts = -1, find(":", pos, end) + 1
        label = text[pos : counts - 1].strip(" ") if counts else ""
        if label.isdigit():
            irq = int(label)
            if wanted is not None and irq not in wanted:
                pos = end + 1
                continue
            if not (counts + width < end and text[counts + width].isspace()):
                irq = -1
            elif other_break(text, counts + width, end):
                raise _OtherLineBreak
        if irq < 0 and other_break(text, pos, end):
            raise _OtherLineBreak
        lines.append((lineno, pos, end, irq, counts))
        pos = end + 1
    return lines


_FIELDS_PER_CHUNK = 1 << 15
"""Rows are converted in chunks of about this many counts: the working arrays
then stay in the CPU cache and are reused from chunk to chunk, where arrays
of a whole 512-CPU file would cost a page fault every 4 KiB, several times over."""


def _fixed_width_matrix(
    text: str, starts: list[int], ncpus: int
) -> tuple[npt.NDArray[np.uint64], list[bool]]:
    """The counts of the rows whose fields start at `starts`, one matrix row each,
    and whether each row fits the fixed-width layout (a row that does not
    holds meaningless numbers)."""
    matrix = np.empty((len(starts), ncpus), np.uint64)
    fits: list[bool] = []
    width = COUNT_FIELD_WIDTH * ncpus
    # "replace" keeps one byte per character, so offsets in `text` stay valid.
    data = memoryview(text.encode("ascii", "replace"))
    per_chunk = max(1, _FIELDS_PER_CHUNK // ncpus)
    scratch = _Scratch(min(per_chunk, len(starts)) * ncpus)
    for first in range(0, len(starts), per_chunk):
        chunk = starts[first : first + per_chunk]
        blocks = b"".join([data[s : s + width] for s in chunk])
        out = matrix[first : first + len(chunk)].reshape(-1)
        fits.extend(_fixed_width_counts(blocks, ncpus, scratch, out))
    matrix.flags.writeable = False
    return matrix, fits


class _Scratch:
    """Work arrays of one chunk's size, reused by every chunk of a parse."""

    def __init__(self, nfields: int) -> None:
        self.wide = [np.empty(nfields, np.uint64) for _ in range(3)]
        self.narrow = [np.empty(nfields, np.uint32) for _ in range(4)]


_EIGHT_ONES = 0x0101010101010101
_FOUR_ONES = 0x01010101


def _fixed_width_counts(
    blocks: bytes, ncpus: int, scratch: _Scratch, out: npt.NDArray[np.uint64]
) -> list[bool]:
    """Write the counts of rows of `ncpus` 11-byte fields each to `out`; whether each row fits.

    A row fits when every field is a space and a right-aligned run of 1-10
    digits.  Each field is read as two little-endian words, bytes 3-10 and
    0-3 (the byte they share ties the right alignment together), checked
    and converted eight digits at a time within a 64-bit word (SWAR), so
    the cost is a few array operations instead of an int() per count.
    Counts of nine or ten digits are rare: the word of bytes 0-3 is only
    checked and converted when some field of the chunk does not start
    with three spaces.
    """
    nfields = len(blocks) // COUNT_FIELD_WIDTH
    bad, spaces, wide = (a[:nfields] for a in scratch.wide)
    np.copyto(out, np.ndarray((nfields,), "<u8", blocks, 3, (COUNT_FIELD_WIDTH,)))
    _digit_bytes(out, _EIGHT_ONES, bad, spaces, wide)
    spaces >>= np.uint64(56)  # the last byte of a field must be a digit
    bad |= spaces
    _eight_digits(out)
    high, narrow = scratch.narrow[0][:nfields], scratch.narrow[1][:nfields]
    np.copyto(high, np.ndarray((nfields,), "<u4", blocks, 0, (COUNT_FIELD_WIDTH,)))
    np.left_shift(high, np.uint32(8), out=narrow)
    if not (narrow == np.uint32(0x20202000)).all():  # bytes 0-2 are not three spaces
        _add_leading_digits(high, out, bad, scratch)
    if not np.count_nonzero(bad):
        return [True] * (nfields // ncpus)
    broken: list[int] = np.bitwise_or.reduce(bad.reshape(-1, ncpus), axis=1).tolist()
    return [not b for b in broken]


def _eight_digits(words: npt.NDArray[np.uint64]) -> None:
    """Turn words of eight digit values (0-9, least significant byte first:
    the last digit in the top byte) into the numbers they spell, in place."""
    # Pairs, then quads, then the whole: multiply-shift-mask.
    words *= np.uint64(10 << 8 | 1)
    words >>= np.uint64(8)
    words &= np.uint64(0x00FF00FF00FF00FF)
    words *= np.uint64(100 << 16 | 1)
    words >>= np.uint64(16)
    words &= np.uint64(0x0000FFFF0000FFFF)
    words *= np.uint64(10000 << 32 | 1)
    words >>= np.uint64(32)


def _add_leading_digits(
    high: npt.NDArray[np.uint32],
    out: npt.NDArray[np.uint64],
    bad: npt.NDArray[np.uint64],
    scratch: _Scratch,
) -> None:
    """Check bytes 0-3 of each field (`high`), mark a broken field in `bad`
    and add its ninth and tenth digits, bytes 1 and 2, to `out`."""
    nfields = len(high)
    high_bad, high_spaces, narrow = (a[:nfields] for a in scratch.narrow[1:])
    _digit_bytes(high, _FOUR_ONES, high_bad, high_spaces, narrow)
    high_spaces &= np.uint32(0xFF)  # byte 0 is the separator: a space
    high_spaces ^= np.uint32(0xFF)
    high_bad |= high_spaces
    bad |= high_bad
    # Byte 0, the space, is 0 by now.
    high *= np.uint32(10 << 8 | 1)
    high >>= np.uint32(16)
    high &= np.uint32(0xFF)
    wide = scratch.wide[2][:nfields]
    np.multiply(high, np.uint64(100_000_000), out=wide)
    out += wide


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
    split = _split_row(rest, ncpus)
    if split is None:
        return None
    values, tail = split
    return _row_from_tail(irq, cpus, _count_array(values), tail)


def _split_row(rest: str, ncpus: int) -> tuple[list[int], list[str]] | None:
    """A row after its colon as its `ncpus` counts and what follows them, split at
    most twice (chip, `hwirq-trigger`, actions); None if the counts are not there."""
    parts = rest.split(None, ncpus + 2)
    if len(parts) <= ncpus:
        return None
    try:
        return [int(part) for part in parts[:ncpus]], parts[ncpus:]
    except ValueError:
        return None


def _count_array(values: list[int]) -> npt.NDArray[Any]:
    """A row's counts as an array: unsigned 64-bit, as the kernel's are, or of
    Python ints where a hand-written count does not fit."""
    try:
        array = np.array(values, np.uint64)
    except OverflowError:
        array = np.array(values, object)
    array.flags.writeable = False
    return array


_new_row = object.__new__


def _row_from_tail(
    irq: int, cpus: tuple[int, ...], counts: npt.NDArray[Any], tail: list[str]
) -> IrqRow:
    """The row from its counts and what follows them, split at most twice:
    chip, `hwirq-trigger`, actions."""
    hwirq_trigger = _hwirq_trigger(tail[1]) if len(tail) > 1 else None
    if hwirq_trigger is None:
        hwirq, trigger = None, None
        actions_text = " ".join(tail[1:])
    else:
        hwirq, trigger = hwirq_trigger
        actions_text = tail[2] if len(tail) > 2 else ""
    actions = _actions(actions_text)
    # Built without the frozen dataclass's __init__ (a setattr per field through
    # object.__setattr__): a full parse makes one per row, 4000 on a large host.
    row = _new_row(IrqRow)
    row.__dict__.update(
        irq=irq, cpus=cpus, count_array=counts, chip=tail[0], hwirq=hwirq,
        trigger=trigger, actions=actions,
    )  # fmt: skip
    return row


def _actions(text: str) -> tuple[str, ...]:
    return tuple(map(str.strip, text.split(", "))) if text else ()


@lru_cache(maxsize=4096)
def _hwirq_trigger(token: str) -> tuple[int | None, str | None] | None:
    """`hwirq-trigger`, `-trigger` or `hwirq` as (hwirq, trigger); None for any other token.

    Cached: 6.2+ kernels number the hwirqs of each device from 0, so a
    machine's thousands of rows repeat a few dozen of these tokens.
    """
    m = _HWIRQ_TRIGGER.fullmatch(token)
    if m is None:
        return None
    digits = m[1] if m[1] is not None else m[3]
    return (int(digits) if digits else None), m[2]


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
