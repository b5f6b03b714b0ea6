"""The model's mutable picture of a machine: irqs, device vectors, matrix, IRTEs.

Field names follow the kernel structures they stand for (`apic_chip_data`,
`irq_desc`, the MSI-X table entry) so each rule in `domain.py` can be read
side by side with the kernel function it models.  Everything lives in one
`MachineState` so a timing alternative can run on a deep copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hil.model.calibration import Calibration
from hil.model.device import DeviceCaps
from hil.model.kernel import KernelRules
from hil.model.matrix import VectorMatrix
from hil.model.numbers import IrqNumbers
from hil.model.remap import AMD_IRTE_ENTRIES, INTEL_IRTE_ENTRIES, IrteRef, IrteTable
from hil.model.trace import TraceBuilder
from hil.model.vocabulary import ApicMode, Delivery, IrqIndex, IrType, MsiMessage, VectorView


@dataclass(eq=False, slots=True)
class IrqState:
    """One Linux irq: irq_desc plus the vector domain's apic_chip_data."""

    number: int
    """Absolute irq number, or a stand-in (distinct, ordered) when not exact."""
    exact_number: bool
    symbol: str | None = None
    """Not exact: the symbol of the allocation (one desc range) this irq came from..."""
    symbol_offset: int = 0
    """...and its place in that range (the entry of a multi-MSI block)."""
    device: str | None = None
    entry: int | None = None
    managed: bool = False
    # apic_chip_data
    can_reserve: bool = False
    has_reserved: bool = False
    reservation_mode: bool = False
    """irqd_can_reserve: cleared by msi_init_virq for non-maskable MSI."""
    cpu: int | None = None
    vector: int | None = None
    cfg_cpu: int | None = None
    cfg_vector: int | None = None
    prev: tuple[int, int] | None = None
    move_in_progress: bool = False
    cleanup_pending: bool = False
    # irq_desc / irq_data
    activated: bool = False
    started: bool = False
    affinity: frozenset[int] | None = None
    """irq_common_data.affinity; None = irq_default_affinity (every possible CPU)."""
    user_set: bool = False
    effective_override: frozenset[int] | None = None
    """Effective mask stored by an affinity write while deactivated."""
    pending: frozenset[int] | None = None
    """desc->pending_mask while IRQD_SETAFFINITY_PENDING."""
    node: int | None = None
    proc: bool = False
    """/proc/irq/N exists (created at the first request_irq)."""
    ir_present: bool = False
    """Its IRTE is present (set at activation, cleared at deactivation)."""
    irte: IrteRef | None = None
    msi_entry: VectorState | None = None
    """The device entry this irq drives (None for calibration irqs): set by the entry's
    VectorState when made, cleared when the irq is freed (the pair must not outlive it
    as a reference cycle, which only the garbage collector would free).  Every message
    write reaches the device through it, without a lookup by device and entry."""
    irte_message: MsiMessage | None = None
    """The remappable message naming `irte` (`domain.remappable_message`), composed when
    the IRTE is attached: it never changes while the irq lives, and every activation
    writes it to the device."""
    serial: int = 0
    """Creation order: breaks ties between irqs whose numbers are unknown."""
    placement_uncertain: bool = False
    """Its CPU may differ: vectors the calibration could not see might have changed
    the best CPU's ranking when it was chosen (see `MachineState.placement_slack`)."""

    @property
    def effective(self) -> frozenset[int] | None:
        if self.effective_override is not None:
            return self.effective_override
        return None if self.cfg_cpu is None else frozenset((self.cfg_cpu,))


@dataclass(eq=False, slots=True)
class VectorState:
    """One allocated entry of a device's MSI/MSI-X space (the device side)."""

    device: str
    index: IrqIndex
    entry: int
    irq: IrqState
    maskable: bool
    message: MsiMessage | None = None
    masked: bool = True
    latched: bool = False
    requested: bool = False
    irte_block: int = 1
    """Vectors sharing this entry's IRTE block (multi-MSI), for freeing it."""
    key: str = field(init=False)
    """`VectorView.key`, made once: every step's views name their vectors by it."""
    last_view: tuple[tuple[object, ...], VectorView, dict[str, object]] | None = field(
        default=None, init=False
    )
    """The last view made of this vector, what it was made from, and its instance dict:
    most steps show vectors they did not change, and a frozen view costs more to build
    than to reuse; a changed one starts from a copy of that dict."""
    last_delivery: Delivery | None = field(default=None, init=False)
    """The last Delivery reported for this vector, shared likewise (`model._delivery`)."""
    fire_label: str | None = field(default=None, init=False)
    """The label of a single fire of this vector, made at its first (`model._fire_quick`):
    a lookup, where formatting it took a twentieth of a quick fire."""

    def __post_init__(self) -> None:
        # A StrEnum formats as its value, in C: `.value` is an enum property (Python code).
        self.key = f"{self.device}.{self.index}[{self.entry}]"
        self.irq.msi_entry = self


@dataclass(eq=False)
class StoredMessage:
    """A message copied into the device's own storage (the seed's IMS argument)."""

    entry: int
    message: MsiMessage | None
    irte: IrteRef | None


@dataclass(eq=False, slots=True)
class DeviceState:
    caps: DeviceCaps
    index: IrqIndex | None = None
    vectors: dict[int, VectorState] = field(default_factory=dict)
    """Entry -> its allocated vector, in entry order (allocations come in order, and
    `alloc_msix_entry` re-sorts after a dynamic entry below an allocated one): every
    step that shows a device's vectors lists them without sorting."""
    stored: StoredMessage | None = None


class CompatMessages(dict[int, MsiMessage]):
    """The compat message of each target (`cpu << 8 | vector`) of one machine, composed
    once: every move without IR rewrites the device, targets repeat, and one shared
    (immutable) message per target is also what lets a view see it unchanged.

    A copy of the machine (a timing alternative) shares it rather than copying it:
    its messages follow from the machine's fixed routing alone, and a deep copy of
    a thousand messages would cost more than the copy of everything else."""

    __slots__ = ()

    def __deepcopy__(self, memo: dict[int, object]) -> CompatMessages:
        return self


@dataclass(eq=False, slots=True)
class MachineState:
    """Everything a step can change, in one object (deep-copied for alternatives).

    Slotted: with more than 30 attributes its instance dict would not share keys,
    and every step reads a few dozen of them."""

    rules: KernelRules
    ir: IrType
    apic_mode: ApicMode
    exact_vectors: bool
    apicid: dict[int, int]
    node_cpus: dict[int, frozenset[int]]
    all_cpus: frozenset[int]
    all_cpus_tuple: tuple[int, ...]
    hotpluggable: dict[int, bool]
    online: set[int]
    matrix: VectorMatrix
    irq_numbers: IrqNumbers
    intel_irte: IrteTable
    amd_irte: dict[str, IrteTable] = field(default_factory=dict)
    irqs: set[IrqState] = field(default_factory=set)
    """Every irq, calibration and device; ordered by `irq_order` when order matters."""
    on_cpu: dict[int, set[IrqState]] = field(default_factory=dict)
    """The irqs whose hardware config names each CPU (`cfg_cpu`), kept by `set_cfg`:
    an unplug looks at the dying CPU's few, not at every irq of the machine."""
    unsettled: set[IrqState] = field(default_factory=set)
    """Irqs given an old vector (`prev`) or a pending mask since an unplug last looked
    (see `touching`): with `on_cpu`, every irq an unplug has something to do with."""
    shut_down: set[IrqState] = field(default_factory=set)
    """Managed irqs an unplug shut down (no online CPU left in their mask): kept apart
    so onlining a CPU looks at these few, not at every irq of the machine."""
    vector_irq: dict[tuple[int, int], IrqState] = field(default_factory=dict)
    cleanups: list[IrqState] = field(default_factory=list)
    """Irqs whose old vector awaits the cleanup timer/IPI."""
    cleanup_wins_ack: bool = False
    """Set only while the model runs the timing alternative of a fire: the old CPU's
    cleanup runs between `irq_complete_move` and `irq_move_irq` of that fire's ack."""
    irte_owner: dict[tuple[str | None, int], IrqState] = field(default_factory=dict)
    devices: dict[str, DeviceState] = field(default_factory=dict)
    """The scenario's devices by name, in name order (`InterruptModel` adds them so):
    a step that shows every vector lists them by device without sorting."""
    trace: TraceBuilder | None = None
    """The step's irq_vectors events, on the steps that predict them (`model._run`)."""
    notes: list[str] = field(default_factory=list)
    rules_used: tuple[str, ...] = ()
    """The rules the step used, in order: a tuple, as the prediction takes it (most
    steps use one or two, so a list and its copy cost more than a tuple per rule)."""
    _serial: int = 0
    caching_mode: bool = False
    device_nodes: dict[str, int] = field(default_factory=dict)
    landed_unsure: IrqState | None = None
    """An irq whose CPU was a guess when a write landed on it and whose ack then placed
    it for sure (a deferred move to one CPU): that landing's CPU was still the guess.
    Set by `land`, taken by the landing's reader."""
    placement_slack: int = 0
    """How far the true availability of two CPUs may differ from the model's: the
    calibration's hidden vectors, +2 per CPU choice the model could only guess."""
    allocations: dict[str, int] = field(default_factory=dict)
    """Allocations made so far per first vector key: each gets its own symbols."""
    compat_messages: CompatMessages = field(default_factory=lambda: CompatMessages())
    """The compat message of each target, composed once (see `CompatMessages`)."""
    first_online: int = field(init=False)
    """cpumask_first(cpu_online_mask), kept by `set_online`: every reservation and
    release puts an irq on the placeholder there, and it changes only with hotplug."""
    cpu_by_apicid: dict[int, int] = field(init=False)
    """`apicid` inverted (APIC ID -> CPU), made once: every non-remapped fire asks it."""
    remapped: bool = field(init=False)
    """`ir` is not NONE: fixed for the machine's life, and asked on every path."""
    symbolic: bool = field(init=False)
    """Irq numbers or IRTE indices are unknown, so allocations are named by symbols
    (`allocation_symbols`)."""
    exact_views: bool = field(init=False)
    """Every view shows its values as they are: vector numbers calibrated, irq numbers
    and IRTE indices known.  Else each view asks which are uncertain or relative
    (`model._marks`); a CPU choice left uncertain is marked in either case."""

    def __post_init__(self) -> None:
        self.first_online = min(self.online, default=-1)
        self.cpu_by_apicid = {a: c for c, a in self.apicid.items()}
        self.remapped = self.ir is not IrType.NONE
        self.symbolic = not self.irq_numbers.exact or (
            self.remapped and self.intel_irte.base is None
        )
        self.exact_views = self.exact_vectors and not self.symbolic

    def spans_all(self, mask: frozenset[int]) -> bool:
        """`mask == all_cpus`, identity first: the mask usually is `all_cpus` itself, and
        set equality compares every CPU (microseconds on a 1024-CPU machine)."""
        return mask is self.all_cpus or mask == self.all_cpus

    def allocation_symbols(self, device: str, index: str, entry: int) -> tuple[str, str]:
        """The irq and IRTE symbols of a new allocation starting at vector `key`
        (`<device>.<index>[<entry>]`): `irq[key]`, `irte[key]`, with `#n` from its n-th
        allocation on (a reallocated vector's irq number and IRTE need not be the old
        ones).  Empty on a machine whose numbers are all known (not `symbolic`): it
        shows none, and every vector allocation asks."""
        if not self.symbolic:
            return ("", "")
        key = f"{device}.{index}[{entry}]"
        n = self.allocations.get(key, 0) + 1
        self.allocations[key] = n
        suffix = "" if n == 1 else f"#{n}"
        return f"irq[{key}]{suffix}", f"irte[{key}]{suffix}"

    def register(self, irq: IrqState) -> IrqState:
        self._serial += 1
        irq.serial = self._serial
        self.irqs.add(irq)
        return irq

    def set_cfg(self, irq: IrqState, cpu: int | None, vector: int | None) -> None:
        """The irq's hardware config (apic_chip_data.hw_irq_cfg), `on_cpu` following it."""
        old = irq.cfg_cpu
        if old != cpu:
            if old is not None:
                self.on_cpu[old].discard(irq)
            if cpu is not None:
                on = self.on_cpu.get(cpu)
                if on is None:
                    on = self.on_cpu[cpu] = set()
                on.add(irq)
        irq.cfg_cpu, irq.cfg_vector = cpu, vector

    def touching(self, cpu: int) -> list[IrqState]:
        """Every irq with an old vector, a pending mask or its config on `cpu`, in
        for_each_active_irq order (`irq_order`): all an unplug of `cpu` can move."""
        self.unsettled = {i for i in self.unsettled if i.prev is not None or i.pending is not None}
        return sorted(self.unsettled.union(self.on_cpu.get(cpu, ())), key=irq_order)

    def forget(self, irq: IrqState) -> None:
        """A freed irq (its config already cleared by `set_cfg`), parted from its entry."""
        self.irqs.discard(irq)
        self.unsettled.discard(irq)
        irq.msi_entry = None

    def note(self, text: str) -> None:
        self.notes.append(text)

    def rule(self, name: str) -> None:
        if name not in self.rules_used:
            self.rules_used += (name,)

    def set_online(self, cpu: int, online: bool) -> None:
        if online:
            self.online.add(cpu)
            if self.first_online < 0 or cpu < self.first_online:
                self.first_online = cpu
        else:
            self.online.discard(cpu)
            if cpu == self.first_online:
                self.first_online = min(self.online, default=-1)
        self.matrix.set_online(cpu, online)

    def irte_table(self, device: str) -> IrteTable:
        if self.ir is _AMD:
            table = IrteTable(0, AMD_IRTE_ENTRIES, name=f"amd:{device}")
            return self.amd_irte.setdefault(device, table)
        return self.intel_irte


_AMD = IrType.AMD
"""Bound once: in Python 3.11 an enum member read goes through the enum metaclass and
costs about ten plain reads, and every IRTE allocation and free asks."""


def irq_order(irq: IrqState) -> tuple[int, int, int]:
    """for_each_active_irq order: calibration irqs (older, lower numbers) first."""
    return (0 if irq.device is None else 1, irq.number, irq.serial)


def _dense(allocatable: frozenset[int], count: int) -> list[int]:
    """Counts-only calibration: assume dense lowest-first use (vector numbers uncertain)."""
    return sorted(allocatable)[:count]


def build_state(
    calibration: Calibration, ir: IrType, apic_mode: ApicMode, ties_high: bool
) -> MachineState:
    """The machine at scenario start: matrix from the calibrated bitmaps or counts,
    calibration irqs (listed and anonymous) as started irqs owning those bits."""
    rules = KernelRules.for_version(calibration.kernel)
    allocatable = rules.allocatable_vectors(frozenset(calibration.reserved_vectors))
    cpus = [c.cpu for c in calibration.cpus]
    online = {c.cpu for c in calibration.cpus if c.online}
    matrix = VectorMatrix(
        cpus, allocatable, online, calibration.managed_reserved, highest_cpu_wins_ties=ties_high
    )
    node_cpus: dict[int, set[int]] = {}
    for c in calibration.cpus:
        node_cpus.setdefault(c.node, set()).add(c.cpu)
    state = MachineState(
        rules=rules,
        ir=ir,
        apic_mode=apic_mode,
        exact_vectors=calibration.exact_vectors and not calibration.hidden_vectors,
        apicid={c.cpu: c.apicid for c in calibration.cpus},
        node_cpus={n: frozenset(s) for n, s in node_cpus.items()},
        all_cpus=frozenset(cpus),
        all_cpus_tuple=tuple(sorted(cpus)),
        hotpluggable={c.cpu: c.can_unplug for c in calibration.cpus},
        online=online,
        matrix=matrix,
        irq_numbers=_irq_numbers(calibration),
        intel_irte=IrteTable(
            calibration.irte_next, INTEL_IRTE_ENTRIES, calibration.irte_max_handle_mask
        ),
        caching_mode=calibration.caching_mode,
        device_nodes=dict(calibration.device_nodes),
        placement_slack=calibration.hidden_vectors,
    )
    _place_calibration_irqs(state, calibration, allocatable)
    return state


def _irq_numbers(calibration: Calibration) -> IrqNumbers:
    """Exact numbers from every used number and the dynamic base (holes included);
    else from `irq_next` with no holes above it; else stand-ins."""
    if calibration.used_irqs is not None and calibration.dynirq_base is not None:
        # arch_dynirq_lower_bound returns the base when nonzero, else the hint (1).
        return IrqNumbers(max(calibration.dynirq_base, 1), calibration.used_irqs)
    return IrqNumbers(calibration.irq_next)


def _place_calibration_irqs(
    state: MachineState, calibration: Calibration, allocatable: frozenset[int]
) -> None:
    used: dict[int, list[int]] = {}
    for cpu in state.all_cpus:
        if calibration.vectors is not None:
            used[cpu] = sorted(v for v in calibration.vectors.get(cpu, ()) if v in allocatable)
        else:
            count = (calibration.allocated or {}).get(cpu, 0)
            used[cpu] = _dense(allocatable, count)
    for existing in calibration.existing_irqs:
        bits = used.setdefault(existing.cpu, [])
        vector = existing.vector
        if vector is None or vector not in bits:
            vector = bits[-1] if bits else None
        if vector is None:
            continue
        bits.remove(vector)
        state.matrix.assign(existing.cpu, vector, managed=existing.managed)
        _add_started(
            state,
            existing.irq,
            existing.cpu,
            vector,
            existing.managed,
            frozenset(existing.affinity),
        )
    for cpu, bits in sorted(used.items()):
        for vector in bits:
            # A used bit no listed irq claims: an irq with the default affinity.
            state.matrix.assign(cpu, vector)
            _add_started(state, -1, cpu, vector, False, None)


def _add_started(
    state: MachineState,
    number: int,
    cpu: int,
    vector: int,
    managed: bool,
    affinity: frozenset[int] | None,
) -> None:
    irq = IrqState(
        number=number,
        exact_number=number >= 0,
        managed=managed,
        cpu=cpu,
        vector=vector,
        activated=True,
        started=True,
        affinity=affinity,
        proc=True,
    )
    state.set_cfg(irq, cpu, vector)
    state.register(irq)
    state.vector_irq[(cpu, vector)] = irq
