"""The session's kprobes on the kernel's message writers, and each step's share of them.

The probes (`hil.linux.kprobes`) are placed when the session starts tracing,
in a group named after its trace instance, and enabled only in that
instance: sessions on different machines share nothing, and two sessions on
one machine would not see each other's writes.  Each probe is journaled
before it is created, so a session killed with probes in place leaves
entries the next session or `hil restore` undoes like a device left on
vfio-pci (that restore takes every session's entries, which is one more
reason a machine serves one session at a time).  No refusal of the kernel
fails a run: a probe that cannot be placed becomes a line of
`KernelWrites.missing`, shown beside every step.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from pathlib import Path

from hil.lab.journal import Journal, JournalHandle, KprobeEntry
from hil.linux.kprobes import (
    PROBES,
    KprobeError,
    Probe,
    WriteLog,
    available_functions,
    create_probe,
    enable_probe,
    group_name,
    kprobes_missing,
    not_probeable,
    probe_site,
    remove_probe,
)
from hil.linux.tracefs import Tracefs
from hil.model.vocabulary import KernelWrites, MessageWrite

log = logging.getLogger("hil.kernelwrites")


class WriteRecorder:
    """Places, and at the end removes, one session's probes in its trace instance."""

    def __init__(self, root: Path, trace: Tracefs, journal: Journal) -> None:
        if trace.instance is None:
            raise ValueError("kprobes are enabled in a session's own trace instance only")
        self.kallsyms = root / "proc/kallsyms"
        self.trace = trace
        self.journal = journal
        self.group = group_name(trace.instance)
        self.placed: dict[str, JournalHandle] = {}
        """Event name -> its journal entry, for every probe created and enabled."""
        self.missing: list[str] = []

    def start(self) -> None:
        reason = kprobes_missing(self.trace.tracing)
        if reason is not None:
            self.missing.append(reason)
            return
        functions = available_functions(self.trace.tracing)
        for probe in PROBES:
            shared = functions is not None and functions[probe.symbol] > 1
            reason = not_probeable(probe.symbol, functions) or self._place(probe, shared)
            if reason is not None:
                self.missing.append(f"{probe.event} not recorded: {reason}")

    def _place(self, probe: Probe, shared: bool) -> str | None:
        """Journal, create and enable `probe` (at its namesake's address when `shared`)."""
        try:
            site = probe_site(probe, self.kallsyms) if shared else None
        except KprobeError as exc:
            return str(exc)
        handle = self.journal.record(KprobeEntry(self.group, probe.event))
        try:
            create_probe(self.trace.tracing, self.group, probe, site)
            self.journal.mark_applied(handle)
            enable_probe(self.trace.dir, self.group, probe.event)
        except KprobeError as exc:
            self._remove(probe.event, handle)
            return str(exc)
        self.placed[probe.event] = handle
        return None

    def stop(self) -> None:
        """Remove every probe placed; one that will not go stays journaled for the restore."""
        for event, handle in list(self.placed.items()):
            self._remove(event, handle)
        self.placed.clear()

    def _remove(self, event: str, handle: JournalHandle) -> None:
        try:
            remove_probe(self.trace.tracing, self.group, event)
        except KprobeError as exc:
            log.warning("%s (left to the journal's restore)", exc)
            return
        self.journal.complete(handle)

    def evidence(
        self, writes: WriteLog, lost_events: int, background: Collection[int], handles: set[int]
    ) -> KernelWrites:
        """The step's share of `writes`: the message writes of every irq not in
        `background` (the machine's other irqs), and the IRTE writes of a handle
        in `handles` (the devices' messages) or in a kept write's old or new message."""
        messages = [
            w for w in writes.writes if isinstance(w, MessageWrite) and w.irq not in background
        ]
        handles = handles | {
            h
            for w in messages
            for h in (w.message.irte_index, w.previous.irte_index)
            if h is not None
        }
        kept = tuple(
            w
            for w in writes.writes
            if (w.irq not in background if isinstance(w, MessageWrite) else w.index in handles)
        )
        missing = [*self.missing, *(f"unreadable probe record: {x}" for x in writes.unreadable)]
        return KernelWrites(kept, tuple(missing), lost_events)
