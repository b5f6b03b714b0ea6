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
from dataclasses import dataclass
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

    def definition(self, group: str) -> str:
        return f"p:{group}/{self.event} {self.symbol} {self.fetch}"


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
)
PROBES = (MSI_WRITE, IRTE_WRITE)

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


def available_functions(tracing: Path) -> frozenset[str] | None:
    """The functions a probe can be placed on; None when the kernel does not list them."""
    text = read_optional(tracing / "available_filter_functions")
    if text is None:
        return None
    return frozenset(line.split(maxsplit=1)[0] for line in text.splitlines() if line.strip())


def not_probeable(symbol: str, functions: frozenset[str] | None) -> str | None:
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


def create_probe(tracing: Path, group: str, probe: Probe) -> None:
    try:
        append_attr(tracing / "kprobe_events", probe.definition(group) + "\n")
    except OSError as e:
        raise KprobeError(
            f"kprobe on {probe.symbol} refused: {e.strerror}{_last_error(tracing)}"
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
    try:
        append_attr(tracing / "kprobe_events", f"-:{group}/{event}\n")
    except OSError as e:
        if e.errno == errno.ENOENT:
            return
        raise KprobeError(
            f"cannot delete kprobe {group}/{event}: {e.strerror}{_last_error(tracing)}"
        ) from e


def _last_error(tracing: Path) -> str:
    """The kernel's own word on the last refused command (tracefs `error_log`), if any."""
    log = read_optional(tracing / "error_log") or ""
    errors = [line.split("error:", 1)[1].strip() for line in log.splitlines() if "error:" in line]
    return f" ({errors[-1]})" if errors else ""


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
