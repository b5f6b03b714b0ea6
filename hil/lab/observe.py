"""Observing what the kernel and the device really did during one step.

Only the irqs under test are read, plus the machine-wide SPU/ERR/MIS
counters.  Their counts and handlers come from the rows of
/proc/interrupts, which a step reads anyway for those counters, where that
text is small (a VM's: a search of it is cheaper than twenty sysfs reads),
and from `/sys/kernel/irq/N` where it is large (a host of hundreds of CPUs),
so a step costs about the same on a 4-CPU VM and a 512-CPU host.  The
message is read where the device keeps it: the
MSI-X table through the VFIO BAR mapping (a `pread` through VFIO returns
0xff there), the MSI message from sysfs `config` (VFIO virtualises what a
read through the device fd shows).
"""

from __future__ import annotations

import os
import select
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from hil.lab.calibrate import allocated_irqs
from hil.lab.journal import Journal
from hil.lab.kernelwrites import WriteRecorder
from hil.lab.opened import OpenedDevice, entry_irq_map, msi_irqs
from hil.linux.dmesg import DmesgWindow, classify, unexpected
from hil.linux.irqsysfs import SysIrq
from hil.linux.kprobes import WriteLog, parse_writes
from hil.linux.msixtable import MsixEntry
from hil.linux.pci import PciSysfs, parse_capabilities, read_msi_message
from hil.linux.procinterrupts import IrqCounts, irq_rows, summary_totals
from hil.linux.procirq import ProcIrq
from hil.linux.sysfile import read_attr
from hil.linux.tracefs import Tracefs, VectorEvent, parse_trace
from hil.model.trace import compact_trace
from hil.model.vocabulary import (
    Delivery,
    IrqIndex,
    KernelWrites,
    MsiMessage,
    StepOutcome,
    VectorView,
)

SPURIOUS_ROWS = ("SPU", "ERR", "MIS")
VECTOR_SETTERS = ("vector_config", "vector_update")
"""The events that give an irq's vector (see `Observer.vectors`)."""
SEARCHED_TEXT_LIMIT = 1 << 16
"""Bytes of /proc/interrupts up to which a step finds its irqs' rows in the
text (a 4-CPU VM's is 5 KB); beyond, one sysfs read per irq costs less."""

Rows = tuple[tuple[int, ...], dict[int, IrqCounts | None]]
"""The online CPUs of one /proc/interrupts read and the rows it had of the
step's irqs (see `irq_rows`)."""


@dataclass(frozen=True)
class Fired:
    """What a fire step sent, for its outcome to be judged against."""

    device: OpenedDevice
    entry: int | None
    """None: a stored message, which may reach any vector."""
    times: int = 1
    consumed: int = 0
    """Eventfd counts a burst read (to pace its fires) before its last fire."""


@dataclass
class Snapshot:
    per_irq: dict[int, dict[int, int]] = field(default_factory=dict)
    spurious: int = 0
    known: set[int] = field(default_factory=set)
    """Every irq the machine had when the step began."""
    maps: dict[str, dict[int, int]] = field(default_factory=dict)
    """Each device's entry -> irq map when the step began, by BDF."""
    cpus: tuple[int, ...] | None = None
    """The online CPUs whose /proc/interrupts columns gave `per_irq`; None: the
    counts are sysfs's, which has a count for every possible CPU."""


class Observer:
    def __init__(self, root: Path, session_id: str) -> None:
        self.root = root
        self.sysirq = SysIrq(root)
        self.procirq = ProcIrq(root)
        self.pci = PciSysfs(root)
        self.dmesg = DmesgWindow(root)
        self.trace: Tracefs | None = None
        self.trace_instance = f"hil-{session_id}"
        self.recorder: WriteRecorder | None = None
        self.no_recorder = "the session does not trace"
        """Why kernel writes are not recorded while `recorder` is None."""
        self.vectors: dict[int, int] = {}
        """Last CPU vector per irq, learned from irq_vectors trace events."""
        self.anomalies: list[str] = []
        self._interrupts = f"{root}/proc/interrupts"
        self._pba: dict[str, tuple[int, int] | None] = {}
        """Each attached MSI-X device's pending-bit array: (BAR, offset)."""
        self._maps: dict[str, dict[int, int]] = {}
        """Each device's entry -> irq map as the last step's outcome read it.

        Only the agent changes a leased device's vectors, and only within a
        step, so the next step begins with the map its predecessor ended with.
        Taken once: a step that ended without an outcome (an error) leaves the
        next one to read the map anew.
        """

    # -- tracing --------------------------------------------------------
    def start_tracing(self, journal: Journal, kernel_writes: bool) -> None:
        """Trace in the session's own instance, with the kprobes on the kernel's message
        writers (journaled in `journal`) where the kernel allows them and they are asked."""
        trace = Tracefs(self.root, self.trace_instance)
        if not trace.available():
            self.no_recorder = (
                f"no irq_vectors events in {trace.tracing}: the session does not trace"
            )
            return
        trace.create()
        trace.enable()
        if kernel_writes:
            self.recorder = WriteRecorder(self.root, trace, journal)
            self.recorder.start()
        else:
            self.no_recorder = "not asked for (pytest --kernel-writes records them)"
        trace.clear()
        self.trace = trace

    def stop_tracing(self) -> None:
        """Remove the probes, then the instance (whose pipe must close before its rmdir)."""
        if self.recorder is not None:
            self.recorder.stop()
            self.recorder = None
        if self.trace is not None:
            self.trace.remove()
            self.trace = None

    def _drain_trace(
        self, known: set[int], ours: set[int]
    ) -> tuple[tuple[str, ...] | None, WriteLog, int]:
        """The step's irq_vectors events for the irqs under test, compacted; the
        probes' records; the count of events the ring buffer dropped.

        Kept: events of the devices' irqs, and of irqs that did not exist when
        the step began (vfio may allocate and free within one step, as when it
        finds it can grant fewer MSI vectors than asked).  Other irqs of the
        machine are its background, not the step's.
        """
        if self.trace is None:
            return None, WriteLog(), 0
        text = self.trace.drain_text()
        log = parse_trace(text)
        records = [r for r in log.events if "irq" in r.fields]
        self._learn_vectors(records)
        keep = {r.fields["irq"] for r in records} - (known - ours)
        compact = compact_trace([(r.event, r.fields) for r in records], keep)
        probed = self.recorder is not None and self.recorder.placed
        return compact, parse_writes(text) if probed else WriteLog(), log.lost_events

    def _learn_vectors(self, events: Iterable[VectorEvent]) -> None:
        for event in events:
            if event.event in VECTOR_SETTERS and "irq" in event.fields:
                self.vectors[event.fields["irq"]] = event.fields["vector"]

    def _drain_between_steps(self) -> None:
        """Consume the events logged since the last step (a native driver giving up
        its irqs when a device was bound to vfio-pci): they belong to no step.

        Only the vectors they set are learnt; the other lines are not parsed
        (a NIC's release is hundreds of lines, a quarter second in a TCG guest).
        """
        if self.trace is None:
            return
        lines = [
            line
            for line in self.trace.drain_text().splitlines()
            if any(f" {name}: " in line for name in VECTOR_SETTERS)
        ]
        self._learn_vectors(parse_trace("\n".join(lines)).events)

    def _kernel_writes(
        self, writes: WriteLog, lost_events: int, background: set[int], views: list[VectorView]
    ) -> KernelWrites:
        """The step's message and IRTE writes (evidence only, see `WriteRecorder`)."""
        if self.recorder is None:
            return KernelWrites(missing=(self.no_recorder,))
        handles = {v.message.irte_index for v in views if v.message is not None}
        return self.recorder.evidence(
            writes, lost_events, background, {h for h in handles if h is not None}
        )

    def dmesg_lines(self) -> list[str]:
        return list(self.anomalies)

    def step_kernel_log(self) -> list[str]:
        """Every kernel log line since the step began, for a step that ends in an error.

        Its unexpected lines are kept as anomalies too, as a finished step's are.
        """
        lines = [r.text for r in self.dmesg.since()]
        self.anomalies.extend(a.line for a in unexpected(classify(lines)))
        return lines

    # -- mapping --------------------------------------------------------
    def irq_map(self, dev: OpenedDevice) -> dict[int, int]:
        return entry_irq_map(self.root, dev.bdf)

    def _map_after(self, dev: OpenedDevice, before: Snapshot, allocates: bool) -> dict[int, int]:
        """The device's map at the end of a step.

        An irq number's hwirq changes only when it is freed and allocated
        again; a step that allocates nothing, whose device still lists the
        same irqs, keeps the map it began with (ten fewer reads a step).
        """
        mapping = before.maps.get(dev.bdf)
        if (
            allocates
            or mapping is None
            or set(msi_irqs(self.root, dev.bdf)) != set(mapping.values())
        ):
            return self.irq_map(dev)
        return mapping

    def forget(self, dev: OpenedDevice) -> None:
        """The device leaves the session or joins it: what was learnt of it is read anew."""
        self._maps.pop(dev.bdf, None)
        self._pba.pop(dev.bdf, None)

    def irq_of(self, dev: OpenedDevice, entry: int) -> int | None:
        return self.irq_map(dev).get(entry)

    def message_of(self, dev: OpenedDevice, entry: int) -> MsiMessage | None:
        if dev.index is IrqIndex.MSIX:
            table = dev.io.read_msix_table(max(dev.count, entry + 1))
            return table[entry].message if entry < len(table) else None
        message = read_msi_message(self.pci.config_bytes(dev.bdf))
        if message is None:
            return None
        return MsiMessage(message.address, message.data | entry) if entry else message

    # -- snapshots ------------------------------------------------------
    def snapshot(self, devices: Iterable[OpenedDevice], hotplug: bool = False) -> Snapshot:
        """The counts before a step; `hotplug` for a step that takes a CPU off or
        on line, whose counts must come from sysfs: /proc/interrupts has no
        column for an offline CPU, whose count sysfs keeps."""
        self._drain_between_steps()
        text = read_attr(self._interrupts)
        snap = Snapshot(spurious=_spurious_total(text), known=set(allocated_irqs(self.root)))
        for dev in devices:
            _drain_all(dev.eventfds)
            mapping = self._maps.pop(dev.bdf, None)
            if mapping is None:
                mapping = self.irq_map(dev)
            snap.maps[dev.bdf] = mapping
        irqs = [irq for mapping in snap.maps.values() for irq in mapping.values()]
        rows = None if hotplug else _small_text_rows(text, irqs)
        if rows is not None:
            snap.cpus = rows[0]
        for irq in irqs:
            snap.per_irq[irq] = self._counts(irq, rows)
        self.dmesg.mark()
        return snap

    def _counts(self, irq: int, rows: Rows | None) -> dict[int, int]:
        """The irq's per-CPU counts, from `rows` where they have a readable row.

        An irq without a handler may have no row although it has counts (seen
        on 6.12: a released vector's row went, its count stayed): those are
        read from sysfs, which also counts offline CPUs, so `_delta` keeps to
        the CPUs online in both reads.
        """
        row = rows[1].get(irq) if rows is not None else None
        if row is not None:
            return row.counts
        return self.sysirq.nonzero_counts(irq) or {}

    def _requested(self, irq: int, rows: Rows | None) -> bool:
        """Whether a handler is on the irq, from `rows` where they place it surely."""
        if rows is not None:
            if irq not in rows[1]:
                return False
            row = rows[1][irq]
            if row is not None and row.actions is not None:
                return bool(row.actions)
        return bool(self.sysirq.actions(irq))

    def wait_delivery(
        self, dev: OpenedDevice, entry: int | None, before: Snapshot, deadline_s: float
    ) -> bool:
        """Wait for the eventfd(s) the fire may signal, at most `deadline_s`.

        True when the deadline passed and none signalled (the caller then asks
        whether the device still answers); False when one did, or when the
        fire has no eventfd to wait on.
        """
        fds = (
            [dev.eventfds[entry]]
            if entry is not None and entry in dev.eventfds
            else list(dev.eventfds.values())
        )
        if not fds:
            return False
        poller = select.poll()
        for fd in fds:
            poller.register(fd, select.POLLIN)
        end = time.monotonic() + deadline_s
        while (left := end - time.monotonic()) > 0:
            if poller.poll(int(left * 1000) + 1):
                return False
        return True

    def outcome(
        self,
        number: int,
        action: str,
        devices: Iterable[OpenedDevice],
        before: Snapshot,
        errno_name: str | None,
        granted: int | None,
        fired: Fired | None,
        allocates: bool = True,
    ) -> StepOutcome:
        """What the step did; `allocates` False for a step that allocates and frees
        no vector (a fire, an affinity write, a CPU going off or on line)."""
        devices = list(devices)
        maps = {dev.name: self._map_after(dev, before, allocates) for dev in devices}
        self._maps = {dev.bdf: maps[dev.name] for dev in devices}
        ours = set(before.per_irq).union(*(m.values() for m in maps.values()))
        trace, writes, lost_events = self._drain_trace(before.known, ours)
        text = read_attr(self._interrupts)
        if before.cpus is not None:  # the counts before are columns: so must be the counts after
            cpus, found = irq_rows(text, ours)
            rows: Rows | None = (cpus or (), found)
        else:
            rows = _small_text_rows(text, ours)
        counted = self._counted_cpus(before, rows)
        views: list[VectorView] = []
        deliveries: list[Delivery] = []
        lost: int | None = None
        for dev in devices:
            mapping = maps[dev.name]
            table = None
            if dev.index is IrqIndex.MSIX and dev.known_entries:
                table = dev.io.read_msix_table(max(dev.known_entries) + 1)
            for entry in sorted(dev.known_entries):
                views.append(self._view(dev, entry, mapping.get(entry), table, rows))
            is_fired = fired is not None and fired.device is dev
            total = 0
            runs = 0
            entries = sorted(dev.known_entries)
            deltas = [
                self._delta(mapping.get(entry), before, rows if counted else None, counted)
                for entry in entries
            ]
            counts = _drain_all(dev.eventfds)  # after the counts: a handler counts, then signals
            for entry, delta in zip(entries, deltas, strict=True):
                count = counts.get(entry)
                if count is not None and fired is not None and is_fired and entry == fired.entry:
                    count += fired.consumed
                    runs = count
                total += sum(n for _, n in delta)
                # A fire reports every vector of its device; other steps report
                # only what arrived (a latched interrupt released by an unmask).
                if is_fired or delta or count:
                    deliveries.append(Delivery(dev.name, entry, delta, count))
            if is_fired:
                assert fired is not None
                # Edges that arrive while masked merge into one pending bit: not lost.
                latched = fired.entry is not None and self._pending(dev, fired.entry)
                # A fire is lost when no handler ran for it.  The eventfd counts the
                # handler's runs exactly; the per-CPU counts can miss one: an edge
                # that finds the irq's handler still running on the CPU it just left
                # is replayed by that handler, uncounted (handle_edge_irq).
                lost = 0 if latched else max(0, fired.times - max(total, runs))
        anomalies = [a.line for a in unexpected(classify(r.text for r in self.dmesg.since()))]
        self.anomalies.extend(anomalies)
        return StepOutcome(
            step=number,
            action=action,
            errno=errno_name,
            granted=granted,
            vectors=tuple(views),
            deliveries=tuple(deliveries),
            lost=lost,
            spurious=_spurious_total(text) - before.spurious,
            trace=trace,
            notes=tuple(anomalies),
            kernel_writes=self._kernel_writes(writes, lost_events, before.known - ours, views),
        )

    def _pending(self, dev: OpenedDevice, entry: int) -> bool:
        """The MSI-X PBA bit of `entry`: a fire to a masked vector is latched, not lost."""
        if dev.index is not IrqIndex.MSIX:
            return False
        if dev.bdf not in self._pba:  # where the PBA is does not change while attached
            msix = parse_capabilities(self.pci.config_bytes(dev.bdf)).msix
            self._pba[dev.bdf] = None if msix is None else (msix.pba_bir, msix.pba_offset)
        pba = self._pba[dev.bdf]
        if pba is None:
            return False
        bir, offset = pba
        word = dev.io.bar(bir).read64(offset + 8 * (entry // 64))
        return bool(word >> (entry % 64) & 1)

    def _counted_cpus(self, before: Snapshot, rows: Rows | None) -> frozenset[int] | None:
        """The CPUs whose columns both reads have, when the counts before were columns.

        Only a hotplug step changes which CPUs are online, and its counts come
        from sysfs; a CPU that went off or on line during any other step was
        taken by something else, and is left out of the step's deltas (its
        count before or after is unknown), with a note saying so.
        """
        if before.cpus is None or rows is None:
            return None
        if rows[0] != before.cpus:
            self.anomalies.append(
                f"online CPUs changed during a step that does not take CPUs off or on line: "
                f"{list(before.cpus)} -> {list(rows[0])}; counts of the CPUs not in both are "
                "left out of its deliveries"
            )
        return frozenset(before.cpus) & frozenset(rows[0])

    def _delta(
        self,
        irq: int | None,
        before: Snapshot,
        rows: Rows | None,
        counted: frozenset[int] | None,
    ) -> tuple[tuple[int, int], ...]:
        if irq is None:
            return ()
        now = self._counts(irq, rows)
        old = before.per_irq.get(irq, {})
        rises = ((cpu, now.get(cpu, 0) - old.get(cpu, 0)) for cpu in sorted(now.keys() | old))
        return tuple(
            (cpu, rise) for cpu, rise in rises if rise and (counted is None or cpu in counted)
        )

    def _view(
        self,
        dev: OpenedDevice,
        entry: int,
        irq: int | None,
        table: list[MsixEntry] | None,
        rows: Rows | None,
    ) -> VectorView:
        index = dev.index or IrqIndex.MSIX
        if irq is None:
            message = table[entry].message if table is not None and entry < len(table) else None
            return VectorView(dev.name, index, entry, False, False, message=message)
        requested = self._requested(irq, rows)
        effective = self._cpus(self.procirq.effective_affinity, irq)
        affinity = self._cpus(self.procirq.affinity, irq)
        if table is not None:
            message = table[entry].message if entry < len(table) else None
            masked: bool | None = table[entry].masked if entry < len(table) else None
        else:
            message = self.message_of(dev, entry)
            masked = None
        vector = self.vectors.get(irq)
        if (
            vector is None
            and message is not None
            and not message.is_remappable
            and not message.is_zero
        ):
            vector = message.vector
        return VectorView(
            device=dev.name,
            index=index,
            entry=entry,
            allocated=True,
            requested=requested,
            irq=irq,
            cpu=effective[0] if effective and len(effective) == 1 else None,
            vector=vector,
            affinity=affinity,
            effective=effective,
            message=message,
            masked=masked,
        )

    @staticmethod
    def _cpus(reader: object, irq: int) -> tuple[int, ...] | None:
        try:
            return tuple(reader(irq))  # type: ignore[operator]
        except OSError:
            return None


def _spurious_total(text: str) -> int:
    return sum(summary_totals(text, SPURIOUS_ROWS).values())


def _small_text_rows(text: str, irqs: Iterable[int]) -> Rows | None:
    """The irqs' rows where the text is small enough to search (see
    `SEARCHED_TEXT_LIMIT`) and has a CPU header; else None: read sysfs."""
    if len(text) > SEARCHED_TEXT_LIMIT:
        return None
    cpus, rows = irq_rows(text, irqs)
    return None if cpus is None else (cpus, rows)


def _drain_all(eventfds: dict[int, int]) -> dict[int, int]:
    """entry -> the count each eventfd held (0 if none), now reset.

    One poll finds the few that were signalled; reading all of them, each
    empty one a failed read and a Python exception, cost more than the step's
    own work in a TCG guest.
    """
    counts = dict.fromkeys(eventfds, 0)
    if not eventfds:
        return counts
    poller = select.poll()
    entry_of = {}
    for entry, fd in eventfds.items():
        poller.register(fd, select.POLLIN)
        entry_of[fd] = entry
    for fd, _ in poller.poll(0):
        try:
            counts[entry_of[fd]] = int.from_bytes(os.read(fd, 8), "little")
        except BlockingIOError:  # read by someone else since the poll
            continue
    return counts
