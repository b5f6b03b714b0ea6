"""Kprobe events on the kernel's message writers: who rewrote what, as evidence.

Two functions put an interrupt's routing in place on x86.  Every MSI and MSI-X
message reaches its device through `__pci_write_msi_msg`, and with Intel
interrupt remapping `modify_irte` rewrites the IRTE a remappable message
points at (an affinity move under IR rewrites only the IRTE).  A kprobe at the
entry of each records its arguments into the session's trace instance, beside
the `irq_vectors` events, and the observer reads both from the same
`trace_pipe` text (`Tracefs.drain_text`).

The fetch arguments follow the x86-64 calling convention (%di, %si) and the
structure layouts of Linux 6.1 to 6.12: `struct msi_desc` begins with
`unsigned int irq`, `unsigned int nvec_used` and `struct device *dev`, so the
message the kernel had cached until this write sits at +16;
`struct irq_2_iommu` holds `u16 irte_index` at +8 and `u16 sub_handle` at +10.

A name is not always one function: Debian builds both IOMMU drivers in, and
AMD's has a `modify_irte` of its own.  The kernel refuses a probe on a name
that several functions share (EADDRNOTAVAIL, since 6.6 and in stable
backports), so such a probe is placed at the address of the namesake that
lies beside functions of its own source file (`Probe.neighbours`, found in
/proc/kallsyms).

A probe is machine state that outlives the process that made it.  It is
created by appending to `kprobe_events` (opening that file with O_TRUNC
deletes every probe on the machine, anyone's), named in a group of its own
session, enabled only in the session's instance, and removed by
`remove_probe`, which is also the crash restore.  A probe enabled in any
instance cannot be deleted (EBUSY), so removal disables it everywhere first.
"""

from __future__ import annotations

import errno
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from hil.linux.sysfile import append_attr, read_optional, write_attr
from hil.linux.tracefs import trace_line
from hil.model.vocabulary import IrteWrite, MessageWrite, MsiMessage


@dataclass(frozen=True)
class Probe:
    """One kprobe event: its name in the session's group, the symbol, the fetch arguments."""

    event: str
    symbol: str
    fetch: str
    neighbours: tuple[str, ...] = ()
    """Functions of the symbol's own source file, to tell it from a namesake elsewhere."""

    def definition(self, group: str, site: str | None = None) -> str:
        """The `kprobe_events` line; `site` (an address) replaces an ambiguous symbol."""
        return f"p:{group}/{self.event} {site or self.symbol} {self.fetch}"


MSI_WRITE = Probe(
    "msi_write",
    "__pci_write_msi_msg",
    "irq=+0(%di):u32 lo=+0(%si):x32 hi=+4(%si):x32 data=+8(%si):x32 "
    "old_lo=+16(%di):x32 old_hi=+20(%di):x32 old_data=+24(%di):x32",
)
IRTE_WRITE = Probe(
    "irte_write",
    "modify_irte",
    "index=+8(%di):u16 sub_handle=+10(%di):u16 low=+0(%si):x64",
    neighbours=(
        "intel_irq_remapping_alloc",
        "intel_irq_remapping_activate",
        "intel_irq_remapping_deactivate",
        "intel_ir_set_affinity",
    ),
)
PROBES = (MSI_WRITE, IRTE_WRITE)

SAME_FILE_SPAN = 0x10000
"""How near a neighbour a namesake must lie to be the same source file's: one file's
functions are laid out together (drivers/iommu/intel/irq_remapping.c takes some
20 KiB), another file's lie beyond whatever objects the link put between."""

_NOT_IDENTIFIER = re.compile(r"[^A-Za-z0-9_]")


class KprobeError(RuntimeError):
    """The kernel refused to create, enable or delete a probe; the message says why."""


def group_name(instance: str) -> str:
    """The kprobe group of a session's trace instance ("hil-1a2b" -> "hil_1a2b"): unique
    per session like the instance, and a C identifier as the kernel wants a group."""
    return _NOT_IDENTIFIER.sub("_", instance)


def kprobes_missing(tracing: Path) -> str | None:
    """Why this kernel has no kprobe events, or None when it has them."""
    if not (tracing / "kprobe_events").exists():
        return f"no kprobe_events in {tracing} (kernel without CONFIG_KPROBE_EVENTS)"
    return None


def available_functions(tracing: Path) -> Counter[str] | None:
    """The functions a probe can be placed on, each with how many functions bear its
    name; None when the kernel does not list them."""
    text = read_optional(tracing / "available_filter_functions")
    if text is None:
        return None
    return Counter(line.split(maxsplit=1)[0] for line in text.splitlines() if line.strip())


def not_probeable(symbol: str, functions: Mapping[str, int] | None) -> str | None:
    """Why `symbol` cannot carry its probe, or None when it can (or no list says otherwise).

    A static function the compiler inlined has no symbol of its own; one it
    cloned (`modify_irte.constprop.0`) may take other arguments than the
    fetch arguments read, so a clone does not count.
    """
    if functions is None or symbol in functions:
        return None
    clones = sorted(name for name in functions if name.startswith(f"{symbol}."))
    if clones:
        return (
            f"symbol {symbol} not probeable: only its compiler clones "
            f"{', '.join(clones)} exist, and their arguments may differ"
        )
    return f"symbol {symbol} not probeable: not in available_filter_functions (inlined?)"


def probe_site(probe: Probe, kallsyms: Path) -> str:
    """The address of the one namesake of `probe.symbol` within `SAME_FILE_SPAN` of a
    neighbour, for a symbol several functions share; KprobeError if none is, or several."""
    names = {probe.symbol, *probe.neighbours}
    found: dict[str, list[int]] = {name: [] for name in names}
    unplaced = f"symbol {probe.symbol} not probeable: several functions have that name"
    try:
        with open(kallsyms, encoding="ascii", errors="replace") as lines:
            for line in lines:
                fields = line.split(maxsplit=3)
                if len(fields) >= 3 and fields[2] in names and fields[1] in ("t", "T"):
                    found[fields[2]].append(int(fields[0], 16))
    except OSError as e:
        raise KprobeError(f"{unplaced}, and {kallsyms} is unreadable: {e.strerror}") from e
    if 0 in found[probe.symbol]:
        raise KprobeError(f"{unplaced}, and {kallsyms} hides addresses (kptr_restrict)")
    anchors = [a for name in probe.neighbours for a in found[name]]
    beside = [a for a in found[probe.symbol] if any(abs(a - b) < SAME_FILE_SPAN for b in anchors)]
    if len(beside) != 1:
        raise KprobeError(
            f"{unplaced}, and {len(beside)} of {len(found[probe.symbol])} lie beside "
            f"{', '.join(probe.neighbours) or 'a neighbour'}"
        )
    return f"{beside[0]:#x}"


def create_probe(tracing: Path, group: str, probe: Probe, site: str | None = None) -> None:
    """Create the probe at its symbol, or at `site` (`probe_site`) when it is ambiguous."""
    command = probe.definition(group, site)
    try:
        append_attr(tracing / "kprobe_events", command + "\n")
    except OSError as e:
        raise KprobeError(
            f"kprobe on {probe.symbol} refused: {e.strerror}{_kernel_error(tracing, command)}"
        ) from e


def enable_probe(instance: Path, group: str, event: str, on: bool = True) -> None:
    """Switch the probe on (or off) in one trace instance only."""
    path = instance / "events" / group / event / "enable"
    try:
        write_attr(path, "1\n" if on else "0\n")
    except OSError as e:
        raise KprobeError(f"cannot write {path}: {e.strerror}") from e


def remove_probe(tracing: Path, group: str, event: str) -> None:
    """Disable `group/event` in every trace instance, then delete it; a probe already
    gone (or a kernel without kprobe events) leaves nothing to do."""
    if not (tracing / "kprobe_events").exists():
        return
    instances = [tracing, *sorted((tracing / "instances").glob("*"))]
    for instance in instances:
        if (instance / "events" / group / event / "enable").exists():
            enable_probe(instance, group, event, on=False)
    command = f"-:{group}/{event}"
    try:
        append_attr(tracing / "kprobe_events", command + "\n")
    except OSError as e:
        if e.errno == errno.ENOENT:
            return
        raise KprobeError(
            f"cannot delete kprobe {group}/{event}: {e.strerror}{_kernel_error(tracing, command)}"
        ) from e


def _kernel_error(tracing: Path, command: str) -> str:
    """The kernel's own word on `command` when refused: the last tracefs `error_log`
    entry whose `Command:` line is it (another user's errors stay out)."""
    lines = (read_optional(tracing / "error_log") or "").splitlines()
    words = [
        error.split("error:", 1)[1].strip()
        for error, echoed in pairwise(lines)
        if "error:" in error and echoed.strip() == f"Command: {command}"
    ]
    return f" ({words[-1]})" if words else ""


@dataclass(frozen=True)
class WriteLog:
    """The probes' records in a trace text; `unreadable` holds lines whose arguments the
    kernel could not fetch (printed as `(fault)`), kept so no write vanishes unsaid."""

    writes: tuple[MessageWrite | IrteWrite, ...] = ()
    unreadable: tuple[str, ...] = ()


def parse_writes(text: str) -> WriteLog:
    """The `msi_write` and `irte_write` records of a `trace` text, in trace order."""
    writes: list[MessageWrite | IrteWrite] = []
    unreadable: list[str] = []
    for raw in text.splitlines():
        line = trace_line(raw)
        if line is None or line.event not in (MSI_WRITE.event, IRTE_WRITE.event):
            continue
        try:
            f = line.int_fields()
            who = (line.timestamp, line.cpu, line.task, line.pid)
            if line.event == MSI_WRITE.event:
                writes.append(
                    MessageWrite(
                        *who,
                        irq=f["irq"],
                        message=MsiMessage(f["hi"] << 32 | f["lo"], f["data"]),
                        previous=MsiMessage(f["old_hi"] << 32 | f["old_lo"], f["old_data"]),
                    )
                )
            else:
                writes.append(IrteWrite(*who, f["index"], f["sub_handle"], f["low"]))
        except (ValueError, KeyError):
            unreadable.append(raw.strip())
    return WriteLog(tuple(writes), tuple(unreadable))
