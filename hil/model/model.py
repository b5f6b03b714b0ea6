"""The interrupt model: a machine's state and one `apply(step) -> Prediction`.

Each step is handled the way vfio-pci and the kernel handle it (see
docs/model.md for every rule with its kernel function and versions).  The
model keeps exact values where the calibration allows and marks the rest:
vector numbers are uncertain without calibrated bitmaps, IRTE and irq numbers
relative (one symbol per allocation) when their free ones were not seen, CPU
choices uncertain when vectors the calibration could not see might decide
them.  Where timing decides (a second affinity write inside the IR cleanup
window on 6.6+) the prediction carries the other outcome as an alternative,
and `adopt()` lets the runner follow whichever one the machine took.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from types import MappingProxyType
from typing import Any, TypeVar

from hil.model import domain
from hil.model.calibration import Calibration
from hil.model.device import DeviceCaps
from hil.model.faults import ModelFaults
from hil.model.frozen import dict_setter, new_instance
from hil.model.kernel import KernelRules
from hil.model.message import ZERO_MESSAGE
from hil.model.prediction import Prediction, Relative
from hil.model.remap import IrteError, IrteRef
from hil.model.routing import Landing, LandingKind, land
from hil.model.state import (
    DeviceState,
    IrqState,
    MachineState,
    StoredMessage,
    VectorState,
    build_state,
)
from hil.model.steps import (
    Affinity,
    CpuOffline,
    CpuOnline,
    Disable,
    Enable,
    Fire,
    FireStored,
    FireWhileMoving,
    Release,
    Request,
    Step,
    Store,
    describe,
    label_maker,
)
from hil.model.trace import TraceBuilder
from hil.model.verdict import flatten
from hil.model.vocabulary import (
    ApicMode,
    Delivery,
    IrqIndex,
    IrType,
    MsiMessage,
    StepOutcome,
    VectorView,
)


class InterruptModel:
    """Predicts each scenario step on a machine described by a calibration."""

    def __init__(
        self,
        calibration: Calibration,
        devices: Mapping[str, DeviceCaps] | Iterable[DeviceCaps],
        faults: ModelFaults | None = None,
        fire_alternatives: bool = False,
    ) -> None:
        """`fire_alternatives`: also predict the other outcome of a fire whose ack
        races a cleanup (rule 20).  Each costs a copy of the machine state (about
        1.7 ms at 1024 CPUs, and a random mix meets the race in half its steps), so
        the judges of machine runs ask for it and bulk prediction does not."""
        self.calibration = calibration
        self._fire_races = fire_alternatives
        self.faults = faults or ModelFaults()
        ir = calibration.ir
        if self.faults.flip_ir:
            ir = IrType.NONE if ir is not IrType.NONE else IrType.INTEL
        mode = self.faults.apic_mode or calibration.apic_mode
        self._state = build_state(calibration, ir, mode, self.faults.reverse_tiebreak)
        caps = devices.values() if isinstance(devices, Mapping) else devices
        for cap in sorted(caps, key=_device_name):  # `MachineState.devices` is in name order
            self._state.devices[cap.name] = DeviceState(cap)
        self._steps = 0
        self._found = _Handlers(self._state)
        """What each step's handler finds, reset for every step (see `_Handlers`)."""
        self._alternative_states: list[MachineState] = []
        self._races = self._state.remapped and self._state.rules.cleanup_by_timer
        """Affinity writes can race the cleanup timer (`_timing_may_decide`): fixed for
        the machine's life, and asked on every affinity step."""

    # -- read-only views -------------------------------------------------------

    @property
    def rules(self) -> KernelRules:
        return self._state.rules

    @property
    def ir(self) -> IrType:
        return self._state.ir

    @property
    def apic_mode(self) -> ApicMode:
        return self._state.apic_mode

    def online_cpus(self) -> tuple[int, ...]:
        return tuple(sorted(self._state.online))

    def available(self, cpu: int) -> int:
        return self._state.matrix.available(cpu)

    def used_vectors(self, cpu: int) -> tuple[int, ...]:
        return self._state.matrix.used_vectors(cpu)

    def vectors(self, device: str | None = None) -> tuple[VectorView, ...]:
        """Current views of every allocated vector (of one device, or all)."""
        views: list[VectorView] = []
        for name, dev in self._state.devices.items():
            if device is None or name == device:
                for vs in dev.vectors.values():
                    views.append(_view(self._state, vs, set(), {}))
        return tuple(views)

    # -- stepping ----------------------------------------------------------------

    def apply(self, step: Step, index: int | None = None) -> Prediction:
        """Predict one step and advance the model's state along the main outcome."""
        number = self._steps if index is None else index
        self._steps = number + 1
        state = self._state
        if self._alternative_states:
            self._alternative_states = []
        if state.cleanups:  # holds every irq whose cleanup is pending, if any is
            if type(step) is Affinity and self._races and self._timing_may_decide(step):
                return self._apply_racing(step, number)
            domain.run_cleanups(state)  # an armed timer has run by now; most steps arm none
        if (
            self._fire_races
            and (type(step) is Fire or type(step) is FireStored)
            and _ack_may_race(state, step)
        ):
            return self._apply_ack_racing(step, number)
        return _run(state, step, number, self._found)

    def _apply_racing(self, step: Affinity, number: int) -> Prediction:
        """A step whose outcome timing may decide: run it on a copy as if the cleanup
        timer had not run yet; a different outcome becomes the alternative."""
        state = self._state
        alternative_state = copy.deepcopy(state)
        if state.cleanups:
            domain.run_cleanups(state)
        return self._with_alternative(step, number, alternative_state)

    def _apply_ack_racing(self, step: Fire | FireStored, number: int) -> Prediction:
        """A fire whose ack arms a move's cleanup and finds another move pending: the
        main outcome has the pending move wait (busy), the alternative has the old
        CPU clean up first, so the move runs in this ack (seen on 6.1 under TCG)."""
        alternative_state = copy.deepcopy(self._state)
        alternative_state.cleanup_wins_ack = True
        prediction = self._with_alternative(step, number, alternative_state)
        alternative_state.cleanup_wins_ack = False
        return prediction

    def _with_alternative(
        self, step: Step, number: int, alternative_state: MachineState
    ) -> Prediction:
        """Run `step` on the model's state and on `alternative_state`; an outcome that
        differs becomes `alternatives[0]`, and `adopt(0)` continues from it."""
        main = _run(self._state, step, number, self._found)
        alt = _run(alternative_state, step, number, self._found)
        if flatten(alt.outcome) == flatten(main.outcome):
            return main
        self._alternative_states = [alternative_state]
        rules = main.rules
        return _build(
            Prediction,
            {
                "outcome": main.outcome,
                "uncertain": main.uncertain | alt.uncertain,
                "relative": {**alt.relative, **main.relative},
                "alternatives": (alt.outcome,),
                "within": main.within,
                "rules": rules + tuple(r for r in alt.rules if r not in rules),
            },
        )

    def adopt(self, alternative: int) -> None:
        """Continue from alternative `alternative` of the last prediction (the machine
        took that branch), so later steps are predicted from the state it left."""
        self._state = self._alternative_states[alternative]
        self._alternative_states = []

    def _timing_may_decide(self, step: Affinity) -> bool:
        """A second IR affinity write before the cleanup timer (6.6+, one tick) ran."""
        m = self._state
        if not m.remapped or not m.rules.cleanup_by_timer:
            return False
        dev = m.devices.get(step.device)
        vs = dev.vectors.get(step.entry) if dev else None
        return vs is not None and vs.irq.cleanup_pending


# -- one step -------------------------------------------------------------------------


def _ack_may_race(m: MachineState, step: Fire | FireStored) -> bool:
    """The fire's ack may meet a move in progress with another move pending (rule 20):
    then timing decides whether the pending move is busy."""
    dev = m.devices.get(step.device)
    if dev is None:
        return False
    if type(step) is Fire:
        vs = dev.vectors.get(step.entry)
        return vs is not None and vs.irq.move_in_progress and vs.irq.pending is not None
    return any(v.irq.move_in_progress and v.irq.pending is not None for v in dev.vectors.values())


_DELIVERED = LandingKind.DELIVERED
"""Bound once: in Python 3.11 an enum member read goes through the enum metaclass and
costs about ten plain reads, and every fire asks."""
_MSI = IrqIndex.MSI
_MSIX = IrqIndex.MSIX
_IMS = IrqIndex.IMS
"""Bound once likewise: every enable and every vector allocation asks."""

_NO_BOUNDS: Mapping[str, tuple[int, ...]] = MappingProxyType({})
_NOTHING_UNCERTAIN: frozenset[str] = frozenset()
"""Shared by the many predictions sure of every field (a frozenset is immutable)."""


def _run(m: MachineState, step: Step, number: int, found: _Handlers) -> Prediction:
    """One step on `m` and what the model says about it (`found` is reset for it)."""
    if m.notes:  # most steps note nothing: the list of the last one serves again
        m.notes = []
    m.rules_used = ()
    if type(step) is Fire:  # asked first: nearly half the steps, most of them quick
        m.trace = None
        quick = _fire_quick(m, step, number, found)
        if quick is not None:
            return quick
        handler: Callable[[_Handlers, Any], None] | None = _Handlers.fire
        action = _fire_label(step)
    else:
        handler, traced, label = _HANDLERS.get(type(step), _NOT_A_STEP)
        if traced:
            found.trace.clear()
            m.trace = found.trace
        else:
            m.trace = None
        action = label(step)
    found.reset(m)
    if handler is not None:
        handler(found, step)
    return _finish(m, found, number, action)


def _finish(m: MachineState, found: _Handlers, number: int, action: str) -> Prediction:
    """The prediction of what a step's handler found: views, deliveries, counters."""
    uncertain = found.uncertain
    relative: dict[str, Relative] = {}
    shown = found.views
    gone = found.gone
    if len(shown) == 1 and not gone:  # most steps show one vector: no list to build
        views: tuple[VectorView, ...] = (_view(m, shown[0], uncertain, relative),)
    else:  # a loop, not a comprehension: that is a function made and called per step
        made_views = []
        for vs in shown:
            made_views.append(_view(m, vs, uncertain, relative))
        for vs in gone:
            made_views.append(_gone_view(vs))
        views = tuple(made_views)
    # The outcome's instance dict: a copy of the defaults (a C-level copy of a dict of
    # the same keys, cheaper than a literal of eleven) with this step's own values.
    fields = _OUTCOME_DEFAULTS.copy()
    fields["step"] = number
    fields["action"] = action
    fields["vectors"] = views
    if found.watched:  # else no deliveries, the default
        counted = found.deliveries
        made = []
        for key in found.watched:
            counts = counted.get(key) if counted is not None else None
            made.append(_delivery(key, counts, m.devices[key[0]].vectors.get(key[1])))
        fields["deliveries"] = tuple(made)
    if found.errno is not None:
        fields["errno"] = found.errno
    if found.granted is not None:
        fields["granted"] = found.granted
    if found.lost is not None:
        fields["lost"] = found.lost
    if found.spurious is not None:
        fields["spurious"] = found.spurious
    return _predict(m, fields, uncertain, relative, found.within)


def _fire_quick(m: MachineState, step: Fire, number: int, found: _Handlers) -> Prediction | None:
    """The commonest step, a single fire of an allocated, unmasked vector whose message
    reaches that vector's own irq, predicted without `_Handlers`: what `fire` and
    `send` would find is known at once (one delivery to the landing CPU, nothing
    lost), so none of their bookkeeping is made.  Nearly half of a scenario's steps
    are such fires.  A fire of a masked vector, the next commonest, is predicted
    here too (`_fire_masked`).  None (nothing changed yet) for any other fire: its
    handler runs; a message that lands elsewhere is tallied by `send`'s own rules."""
    dev = m.devices.get(step.device)
    vs = None if dev is None else dev.vectors.get(step.entry)
    if vs is None:
        return None
    if step.times != 1:
        if vs.maskable and vs.masked:
            return _fire_masked(m, step, number, _fire_label(step), vs)
        return None
    action = vs.fire_label
    if action is None:  # its first single fire
        action = vs.fire_label = _fire_label(step)
    if vs.maskable and vs.masked:
        return _fire_masked(m, step, number, action, vs)
    irq = vs.irq
    m.rules_used = ("fire-current-cpu",)  # the step's first rule: `rule` need not look
    landing = land(m, vs.message, irq.irte)
    kind, cpu, _, owner = landing
    if kind is not _DELIVERED or owner is not irq:
        found.reset(m)  # as `fire` leaves it before its `send`
        found.watched.append((step.device, step.entry))
        found.lost = found.spurious = 0
        found.views = [vs]
        found.tally(landing, step.device)
        return _finish(m, found, number, action)
    uncertain: set[str] = set()
    if irq.placement_uncertain or irq is m.landed_unsure:
        m.landed_unsure = None
        uncertain.add(f"delivered.{step.device}[{step.entry}].per_cpu")
    relative: dict[str, Relative] = {}
    fields = _FIRE_DEFAULTS.copy()
    fields["step"] = number
    fields["action"] = action
    fields["vectors"] = (_view(m, vs, uncertain, relative),)
    per_cpu = ((cpu or 0, 1),)
    eventfd = 1 if vs.requested else None
    delivery = vs.last_delivery  # `_shared_delivery`'s reuse, inlined: most fires repeat it
    if delivery is None or delivery.per_cpu != per_cpu or delivery.eventfd != eventfd:
        delivery = _shared_delivery((step.device, step.entry), per_cpu, eventfd, vs)
    fields["deliveries"] = (delivery,)
    return _predict(m, fields, uncertain, relative, None)


def _fire_masked(
    m: MachineState, step: Fire, number: int, action: str, vs: VectorState
) -> Prediction:
    """A fire of a masked vector (released, or never requested): nothing is sent, so
    nothing is delivered or lost, whatever `times` asks."""
    # Further edges while masked merge into the one pending bit: not a loss.
    vs.latched = True
    note, delivery = _latched(step.device, step.entry, vs.requested)
    m.note(note)
    m.rules_used = ("masked-latched",)  # the step's only rule
    uncertain: set[str] = set()
    relative: dict[str, Relative] = {}
    fields = _FIRE_DEFAULTS.copy()
    fields["step"] = number
    fields["action"] = action
    fields["vectors"] = (_view(m, vs, uncertain, relative),)
    fields["deliveries"] = (delivery,)
    return _predict(m, fields, uncertain, relative, None)


@lru_cache(maxsize=1024)
def _latched(device: str, entry: int, requested: bool) -> tuple[str, Delivery]:
    """What a fire of masked entry `device[entry]` reports: its note, and its Delivery
    of nothing (an eventfd count of 0 if requested).  Made once per entry: a masked
    fire comes between every release and request, and would otherwise format the note
    and build the Delivery anew (the vector's last one is its last unmasked fire's)."""
    note = f"{device}[{entry}] is masked: the interrupt is latched in its pending bit, not sent"
    eventfd = 0 if requested else None
    delivery = _build(
        Delivery, {"device": device, "entry": entry, "per_cpu": (), "eventfd": eventfd}
    )
    return note, delivery


def _predict(
    m: MachineState,
    fields: dict[str, object],
    uncertain: set[str],
    relative: dict[str, Relative],
    within: dict[str, tuple[int, ...]] | None,
) -> Prediction:
    """The step's outcome from its `fields` (the step's trace and notes added), and the
    prediction around it."""
    if m.trace is not None:
        fields["trace"] = tuple(m.trace.lines)
        m.trace = None
    if m.notes:
        fields["notes"] = tuple(m.notes)
    outcome = _new(StepOutcome)  # `_build`, inlined: every step makes one
    _set_outcome_dict(outcome, fields)
    said = _PREDICTION_DEFAULTS.copy()  # as the outcome's: cheaper than a literal of six
    said["outcome"] = outcome
    if uncertain:
        said["uncertain"] = frozenset(uncertain)
    said["relative"] = relative
    if within:
        said["within"] = within
    said["rules"] = m.rules_used
    prediction = _new(Prediction)
    _set_prediction_dict(prediction, said)
    return prediction


_PREDICTION_DEFAULTS: dict[str, object] = {
    "outcome": None,
    "uncertain": _NOTHING_UNCERTAIN,
    "relative": None,
    "alternatives": (),
    "within": _NO_BOUNDS,
    "rules": (),
}
"""Every Prediction field in declaration order; a step's sure fields, its unbounded
splits and its lack of alternatives keep these values (shared: all are immutable)."""


_OUTCOME_DEFAULTS: dict[str, object] = {
    "step": 0,
    "action": "",
    "errno": None,
    "granted": None,
    "vectors": (),
    "deliveries": (),
    "lost": None,
    "spurious": None,
    "trace": None,
    "notes": (),
    "kernel_writes": None,  # evidence the lab records; never predicted
}
"""Every StepOutcome field in declaration order, at its value when a step left it unset."""

_FIRE_DEFAULTS: dict[str, object] = {**_OUTCOME_DEFAULTS, "lost": 0, "spurious": 0}
"""The defaults of a fire's outcome: it counts its losses (none on the quick path)."""


def _delivery(
    key: tuple[str, int], counts: dict[int, int] | None, target: VectorState | None
) -> Delivery:
    """Where one watched vector's interrupts went; its eventfd counts them if requested."""
    requested = target is not None and target.requested
    if counts is None:
        return _shared_delivery(key, (), 0 if requested else None, target)
    per_cpu = tuple(sorted(counts.items())) if len(counts) > 1 else tuple(counts.items())
    return _shared_delivery(key, per_cpu, sum(counts.values()) if requested else None, target)


def _shared_delivery(
    key: tuple[str, int],
    per_cpu: tuple[tuple[int, int], ...],
    eventfd: int | None,
    target: VectorState | None,
) -> Delivery:
    """The Delivery of these counts: the vector's last one when it says the same (most
    fires repeat it, and a frozen object costs more to build than to reuse)."""
    if target is not None:
        last = target.last_delivery
        if last is not None and last.per_cpu == per_cpu and last.eventfd == eventfd:
            return last
    delivery = _new(Delivery)  # `_build`, inlined: most fires after a move make one
    _set_delivery_dict(
        delivery, {"device": key[0], "entry": key[1], "per_cpu": per_cpu, "eventfd": eventfd}
    )
    if target is not None:
        target.last_delivery = delivery
    return delivery


_T = TypeVar("_T")


def _build(cls: type[_T], fields: dict[str, object]) -> _T:
    """`cls(**fields)` for a frozen dataclass given every one of its fields, without
    its __init__ (see `hil.model.frozen`): the caller's dict becomes the instance dict
    as it is (no keyword arguments packed, nothing copied)."""
    obj = _new(cls)
    _DICT_SETTERS[cls](obj, fields)
    return obj


_new = new_instance


_DICT_SETTERS: dict[type, Callable[[object, dict[str, object]], None]] = {
    cls: dict_setter(cls) for cls in (StepOutcome, Prediction, VectorView, Delivery)
}
_set_outcome_dict = _DICT_SETTERS[StepOutcome]
_set_prediction_dict = _DICT_SETTERS[Prediction]
_set_view_dict = _DICT_SETTERS[VectorView]
_set_delivery_dict = _DICT_SETTERS[Delivery]


def _affinity_tuple(m: MachineState, mask: frozenset[int] | None) -> tuple[int, ...]:
    if mask is None or mask is m.all_cpus or mask == m.all_cpus:  # `spans_all`, inlined
        return m.all_cpus_tuple
    return _SORTED_MASKS.get(mask) or _sorted_cpus(mask)


def _sorted_cpus(mask: frozenset[int]) -> tuple[int, ...]:
    """The mask's CPUs in order, kept in `_SORTED_MASKS` for the next time."""
    if len(_SORTED_MASKS) >= _SORTED_MASKS_KEPT:
        _SORTED_MASKS.clear()
    cpus = _SORTED_MASKS[mask] = tuple(sorted(mask))
    return cpus


_SORTED_MASKS: dict[frozenset[int], tuple[int, ...]] = {}
"""Masks repeat from step to step (every view shows two): each is sorted once.  A plain
dict read in place (`.get`), where an lru_cache call is a generic C call with its own
argument tuple; emptied when it holds `_SORTED_MASKS_KEPT` masks."""
_SORTED_MASKS_KEPT = 4096


def _view(
    m: MachineState, vs: VectorState, uncertain: set[str], relative: dict[str, Relative]
) -> VectorView:
    irq = vs.irq
    number: int | None = irq.number
    vector = irq.cfg_vector
    message = vs.message
    if not m.exact_views:
        number, message = _marks(m, vs, uncertain, relative)
    if irq.placement_uncertain:
        _mark_placement_uncertain(m, irq, vs.key, uncertain)
    shown = irq.pending if irq.pending is not None else irq.affinity
    made_from = (
        vs.requested,
        number,
        irq.cfg_cpu,
        vector,
        shown,
        irq.effective_override,
        message,
        vs.masked,  # as stored: what the view shows of it follows from the fixed maskable
    )
    last = vs.last_view
    if last is not None and last[0] == made_from:
        return last[1]
    # `_affinity_tuple`, inlined: every changed view asks it.
    if shown is None or shown is m.all_cpus or shown == m.all_cpus:
        affinity = m.all_cpus_tuple
    else:
        affinity = _SORTED_MASKS.get(shown) or _sorted_cpus(shown)
    override = irq.effective_override
    cpu = irq.cfg_cpu
    if override is not None:
        effective: tuple[int, ...] | None = _affinity_tuple(m, override)
    else:  # IrqState.effective's frozenset of the config's CPU, as its tuple
        effective = None if cpu is None else (cpu,)
    if last is None:
        fields: dict[str, object] = {
            "device": vs.device,
            "index": vs.index,
            "entry": vs.entry,
            "allocated": True,
        }
    else:
        # The last view's instance dict, copied in C: cheaper than a literal of twelve
        # (and its device, index, entry and allocated are this view's too).
        fields = last[2].copy()
    fields["requested"] = vs.requested
    fields["irq"] = number
    fields["cpu"] = cpu
    fields["vector"] = vector
    fields["affinity"] = affinity
    fields["effective"] = effective
    fields["message"] = message
    fields["masked"] = vs.masked if vs.maskable else None
    view = _new(VectorView)
    _set_view_dict(view, fields)
    vs.last_view = (made_from, view, fields)
    return view


def _marks(
    m: MachineState, vs: VectorState, uncertain: set[str], relative: dict[str, Relative]
) -> tuple[int | None, MsiMessage | None]:
    """A view's uncertain and relative fields where the calibration left values unseen
    (see `MachineState.exact_views`): the irq number and message to show."""
    irq = vs.irq
    key = vs.key
    number: int | None = irq.number
    if not irq.exact_number and irq.symbol is not None:
        relative[f"{key}.irq"] = Relative(irq.symbol, irq.symbol_offset)
        number = None
    vector = irq.cfg_vector
    placeholder = m.rules.placeholder_vector
    exact = m.exact_vectors
    if not exact and vector is not None and vector != placeholder:
        uncertain.add(f"{key}.vector")
    message = vs.message
    if message is not None and (message.address or message.data):
        ref = irq.irte
        if m.remapped:
            if ref is not None and ref.index is None and ref.symbol is not None:
                relative[f"{key}.message"] = Relative(ref.symbol, ref.subhandle, ref.align)
                message = None
        elif not exact and message.data & 0xFF != placeholder:
            uncertain.add(f"{key}.message")
    return number, message


def _mark_placement_uncertain(
    m: MachineState, irq: IrqState, key: str, uncertain: set[str]
) -> None:
    """Its CPU was a guess: so are the vector, the effective CPU and a compat message."""
    uncertain.update((f"{key}.cpu", f"{key}.vector"))
    if irq.effective_override is None:
        uncertain.add(f"{key}.effective")
    if not m.remapped:
        uncertain.add(f"{key}.message")


def _gone_view(vs: VectorState) -> VectorView:
    """A vector freed by Disable: gone, with the message the device was left holding."""
    message = vs.message
    zeroed = message is not None and message.is_zero
    return _freed_view(vs.device, vs.index, vs.entry, zeroed, vs.maskable)


@lru_cache(maxsize=1024)
def _freed_view(
    device: str, index: IrqIndex, entry: int, zeroed: bool, maskable: bool
) -> VectorView:
    """The view of a freed entry, one per entry and fate: a device's entries are freed
    alike every time it is disabled, and a frozen view costs more to build than to
    look up."""
    return _build(
        VectorView,
        {
            "device": device,
            "index": index,
            "entry": entry,
            "allocated": False,
            "requested": False,
            "irq": None,
            "cpu": None,
            "vector": None,
            "affinity": None,
            "effective": None,
            "message": ZERO_MESSAGE if zeroed else None,
            "masked": True if maskable else None,
        },
    )


class _Handlers:
    """One method per step kind; each mirrors what vfio-pci does for that step.

    It also holds what the step's handler found, before `_finish` turns it into a
    StepOutcome.  Each model keeps one and resets it for every step (`reset`): in
    Python 3.11 a class call costs more than setting its eleven slots again, and
    nothing of it outlives the step's prediction (`_finish` copies what it keeps,
    and a `within` the prediction takes is made anew by the step that bounds)."""

    __slots__ = (
        "deliveries",
        "errno",
        "gone",
        "granted",
        "lost",
        "m",
        "spurious",
        "trace",
        "uncertain",
        "views",
        "watched",
        "within",
    )

    def __init__(self, m: MachineState) -> None:
        self.trace = TraceBuilder()
        """The builder of the traced steps' events (`_run` clears it for each)."""
        self.watched: list[tuple[str, int]] = []
        """The vectors whose deliveries the step reports, in order."""
        self.uncertain: set[str] = set()
        self.reset(m)

    def reset(self, m: MachineState) -> None:
        """Nothing found yet, for a step on `m`.  The two containers are emptied, not made
        anew (the last prediction copied what it kept of them), and most steps left
        them empty."""
        self.m = m
        if self.watched:
            self.watched.clear()
        if self.uncertain:
            self.uncertain.clear()
        self.errno: str | None = None
        self.granted: int | None = None
        self.views: Sequence[VectorState] = ()
        self.gone: Sequence[VectorState] = ()
        """Vectors freed by this step, reported as allocated=False."""
        self.deliveries: dict[tuple[str, int], dict[int, int]] | None = None
        """Interrupts per CPU of each vector that received any."""
        self.lost: int | None = None
        self.spurious: int | None = None
        self.within: dict[str, tuple[int, ...]] | None = None
        """Per-CPU splits timing decides, bounded to CPUs (made only by the steps that race)."""

    # -- helpers ----------------------------------------------------------------

    def device(self, name: str) -> DeviceState:
        """The scenario's device `name`.  Handlers ask `m.devices` first and call this
        only when it has none (saving a call on every step): it raises the error."""
        try:
            return self.m.devices[name]
        except KeyError:
            raise ValueError(f"scenario names unknown device {name!r}") from None

    def fail(self, errno: str, why: str) -> None:
        self.errno = errno
        self.m.note(why)

    def node_of(self, dev: DeviceState) -> int | None:
        """The device's NUMA node: its caps, else the calibration's; -1 is no node."""
        node = dev.caps.numa_node
        if node is None:
            node = self.m.device_nodes.get(dev.caps.bdf)
        return node if node is not None and node >= 0 and node in self.m.node_cpus else None

    def new_irq(
        self, dev: DeviceState, number: int, entry: int, symbol: str, offset: int
    ) -> IrqState:
        """`symbol` names the allocation the number came from, `offset` its place in it."""
        exact = self.m.irq_numbers.exact
        # Positional: keyword arguments to a class call are packed into a dict first.
        irq = IrqState(number, exact, None if exact else symbol, offset, dev.caps.name, entry)
        irq.node = self.node_of(dev)
        return self.m.register(irq)

    def attach_irte(self, irq: IrqState, ref: IrteRef) -> None:
        irq.irte = ref
        irq.irte_message = domain.remappable_message(self.m, ref)
        key = ref.owner_key
        if key is not None:
            self.m.irte_owner[key] = irq

    # -- allocation (pci_alloc_irq_vectors through the domain stack) ----------------

    def alloc_msi(self, dev: DeviceState, count: int) -> str | None:
        """One MSI descriptor with `count` vectors: irq numbers, IRTE block,
        vector reservations, then msi_init_virq for each."""
        m = self.m
        irq_symbol, irte_symbol = m.allocation_symbols(dev.caps.name, "msi", 0)
        first = m.irq_numbers.alloc(count)
        refs: list[IrteRef] = []
        if m.remapped:
            try:
                refs = m.irte_table(dev.caps.name).alloc(count, irte_symbol)
            except IrteError as failure:
                for i in range(count):
                    m.irq_numbers.free(first + i)
                m.note(f"alloc_irte: {failure}; Failed to allocate IRTE")
                return failure.errno
        maskable = dev.caps.msi_maskable
        made: list[VectorState] = []
        for i in range(count):
            irq = self.new_irq(dev, first + i, i, irq_symbol, i)
            if refs:
                self.attach_irte(irq, refs[i])
            domain.reserve_irq_vector(m, irq)
            vs = VectorState(dev.caps.name, _MSI, i, irq, maskable)
            vs.irte_block = count if i == 0 else 0
            dev.vectors[i] = vs
            made.append(vs)
        for vs in made:
            error = self.init_virq(vs, reservation=maskable)
            if error is not None:
                self.free_all(dev)
                return error
        return None

    def alloc_msix_entry(self, dev: DeviceState, entry: int) -> str | None:
        m = self.m
        irq_symbol, irte_symbol = m.allocation_symbols(dev.caps.name, "msix", entry)
        number = m.irq_numbers.alloc(1)
        ref: IrteRef | None = None
        if m.remapped:
            try:
                ref = m.irte_table(dev.caps.name).alloc(1, irte_symbol)[0]
            except IrteError as failure:
                m.irq_numbers.free(number)
                m.note(f"alloc_irte: {failure}; Failed to allocate IRTE")
                return failure.errno
        irq = self.new_irq(dev, number, entry, irq_symbol, 0)
        if ref is not None:
            self.attach_irte(irq, ref)
        domain.reserve_irq_vector(m, irq)
        vs = VectorState(dev.caps.name, _MSIX, entry, irq, True)
        vectors = dev.vectors
        in_order = not vectors or entry > next(reversed(vectors))
        vectors[entry] = vs
        if not in_order:  # a dynamic entry below an allocated one: entries stay in order
            dev.vectors = dict(sorted(vectors.items()))
        return self.init_virq(vs, reservation=True)

    def init_virq(self, vs: VectorState, reservation: bool) -> str | None:
        """msi_init_virq: early activation; reservation mode keeps the placeholder and
        clears the activated bit so request_irq assigns the real vector."""
        irq = vs.irq
        irq.reservation_mode = reservation
        if reservation:
            self.m.rule("reservation-mode")
        else:
            self.m.rule("non-maskable-msi-vector-at-allocation")
        error = domain.activate(self.m, irq, reserve=reservation)
        if error is not None:
            return error
        if reservation:
            irq.activated = False
        return None

    def free_all(self, dev: DeviceState) -> list[VectorState]:
        """pci_free_irq_vectors after free_irq of every requested vector."""
        m = self.m
        freed = list(dev.vectors.values())
        for vs in freed:
            if vs.requested:
                self.release(vs)
        for vs in freed:
            irq = vs.irq
            if irq.activated:
                domain.deactivate(m, irq)
            domain.free_vectors(m, irq)
            if irq.irte is not None:
                key = irq.irte.owner_key
                if key is not None and m.irte_owner.get(key) is irq:
                    del m.irte_owner[key]
                if vs.irte_block:
                    m.irte_table(vs.device).free(irq.irte)
                irq.ir_present = False
            m.irq_numbers.free(irq.number)
            m.forget(irq)
            vs.masked = True
            vs.requested = False
        dev.vectors = {}
        dev.index = None
        return freed

    # -- request / release (vfio_msi_set_vector_signal) ------------------------------

    def startup_mask(self, irq: IrqState) -> frozenset[int]:
        """irq_setup_affinity: (user-set or default) ∩ online, narrowed to the node."""
        m = self.m
        base = irq.affinity
        if irq.user_set and base is not None and m.online.isdisjoint(base):
            irq.user_set = False
            base = None
        if not irq.user_set:
            base = None
        if base is None and len(m.online) == len(m.all_cpus):
            mask = m.all_cpus
        else:
            wanted = base or m.all_cpus
            # A subset test first: most masks are all online, and it makes no new set.
            mask = wanted if wanted <= m.online else wanted & m.online
            if not mask:
                mask = frozenset(m.online)
        node = m.node_cpus.get(irq.node) if irq.node is not None else None
        if node is not None and node & mask:
            mask = node & mask
        return mask

    def request(self, vs: VectorState) -> str | None:
        """vfio: free a previous trigger, rewrite the cached message, request_irq:
        activation (real vector), irq_startup (affinity), unmask."""
        m = self.m
        if vs.requested:
            self.release(vs)
        irq = vs.irq
        if not irq.activated:
            error = domain.activate(m, irq, reserve=False)
            if error is not None:
                m.note(f"request_irq for irq {irq.number} failed: {error}")
                return error
        domain.set_affinity(m, irq, self.startup_mask(irq))
        irq.started = True
        irq.proc = True
        vs.requested = True
        vs.masked = False
        m.rule("spread-best-cpu")
        if vs.latched:
            vs.latched = False
            m.note(f"{vs.device}[{vs.entry}]: the interrupt latched while masked is sent at unmask")
            self.send(vs.device, vs.message, irq.irte)
        return None

    def release(self, vs: VectorState) -> None:
        """free_irq: shut down (mask), then deactivate; the vector stays allocated."""
        irq = vs.irq
        vs.requested = False
        vs.masked = True
        irq.started = False
        if irq.activated:
            domain.deactivate(self.m, irq)
        self.m.rule("release-zero-message")

    # -- delivery -------------------------------------------------------------------

    def watch(self, device: str, entry: int) -> None:
        """Report this vector's deliveries even if it gets none (a zero is a prediction)."""
        key = (device, entry)
        if key not in self.watched:
            self.watched.append(key)

    def send(self, sender: str, message: MsiMessage | None, irte: IrteRef | None) -> Landing:
        """One write by device `sender`; tallies deliveries, lost and spurious."""
        landing = land(self.m, message, irte)
        self.tally(landing, sender)
        return landing

    def tally(self, landing: Landing, sender: str) -> None:
        """Count one write's landing: a delivery, or lost (and why), or spurious."""
        r = self
        if r.lost is None:
            r.lost = 0
        if r.spurious is None:
            r.spurious = 0
        kind, landed, vector, irq = landing
        if kind is _DELIVERED and irq is not None:
            device, entry = irq.device, irq.entry
            if device is not None and entry is not None:
                key = (device, entry)
                cpu = landed or 0
                deliveries = r.deliveries
                counts = None if deliveries is None else deliveries.get(key)
                if counts is not None:
                    counts[cpu] = counts.get(cpu, 0) + 1
                elif deliveries is None:
                    r.deliveries = {key: {cpu: 1}}
                else:
                    deliveries[key] = {cpu: 1}
                if key not in r.watched:
                    r.watched.append(key)
                if irq.placement_uncertain or irq is self.m.landed_unsure:
                    self.m.landed_unsure = None
                    r.uncertain.add(f"delivered.{device}[{entry}].per_cpu")
            if irq.device != sender:
                r.lost += 1
                who = f"{irq.device}[{irq.entry}]" if irq.device else f"irq {irq.number}"
                self.m.note(f"the message reached {who} on CPU {landed}, not {sender}")
                self.m.rule("stale-message-reused-vector")
            return
        r.lost += 1
        if kind is LandingKind.SPURIOUS:
            r.spurious += 1
            self.m.note(f"Spurious interrupt (vector {vector:#04x}) on CPU#{landed}")
        elif kind is LandingKind.NO_HANDLER:
            self.m.note(f"No irq handler for {landed}.{vector}")
            self.m.rule("stale-message-no-handler")
        elif kind is LandingKind.DMAR_FAULT:
            self.m.note("DMAR fault: Present field in the IRTE entry is clear")
            self.m.rule("ir-fault-after-free")
        elif kind is LandingKind.UNKNOWN:
            self.m.note("the model cannot place this message")
        else:
            self.m.note(f"not delivered: {kind.value}")

    # -- steps ----------------------------------------------------------------------

    def enable(self, step: Enable) -> None:
        m = self.m
        dev = self.m.devices.get(step.device) or self.device(step.device)
        if step.index is _IMS:
            reason = m.rules.ims_unavailable_reason(m.remapped, m.caching_mode)
            why = "vfio-pci has no IMS interface (no VFIO irq index for IMS)"
            if reason:
                why += f"; besides, {reason}"
            else:
                why += f"; kernel {m.rules.version} itself has the PCI IMS API"
            self.fail("EOPNOTSUPP", why)
            m.rule("ims-unavailable")
            return
        capacity = dev.caps.capacity(step.index)
        if capacity == 0:
            self.fail("EINVAL", f"{step.device} has no {step.index.value} capability")
            return
        if not 1 <= step.count <= capacity:
            self.fail(
                "EINVAL",
                f"count {step.count} outside 1..{capacity} (vfio_set_irqs_validate_and_prepare)",
            )
            return
        if any(not 0 <= e < step.count for e in step.unrequested):
            raise ValueError(f"unrequested entries {step.unrequested} outside 0..{step.count - 1}")
        if dev.index is not None and dev.index is not step.index:
            self.fail("EINVAL", f"{step.device} already has {dev.index.value} enabled")
            return
        if dev.index is step.index:
            self.set_block(dev, step)
            return
        error, granted = self.first_enable(dev, step)
        if error is not None:
            self.errno = error
            return
        if granted is not None:
            self.granted = granted
            return
        dev.index = step.index
        for entry in range(step.count):
            if entry in step.unrequested:
                continue
            error = self.request(dev.vectors[entry])
            if error is not None:
                self.free_all(dev)
                self.fail(error, "vfio rolled the whole block back and disabled the index")
                return
        self.views = list(dev.vectors.values())

    def first_enable(self, dev: DeviceState, step: Enable) -> tuple[str | None, int | None]:
        """vfio_msi_enable: pci_alloc_irq_vectors(1, count); fewer vectors than asked
        are freed again and their number returned as the ioctl's positive result."""
        m = self.m
        count = step.count
        if step.index is _MSI:
            if count > 1 and not m.remapped:
                m.note(
                    "multi-MSI without IR: the x86 vector domain lacks MSI_FLAG_MULTI_PCI_MSI;"
                    " msi_capability_init returns 1, the retry gets 1 vector, vfio frees it"
                    " and returns 1"
                )
                m.rule("multi-msi-refused-without-ir")
                return self.grant_fewer(dev, 1)
            error = self.alloc_msi(dev, count)
            if error == "ENOMEM" and count > 1:
                m.note("msi_handle_pci_fail: a failed multi-MSI allocation retries with 1")
                return self.grant_fewer(dev, 1)
            if error is not None:
                return ("ENOSPC" if error == "ENOMEM" else error), None
            if count > 1:
                m.rule("multi-msi-ir-aligned-block")
            return None, None
        for entry in range(count):
            error = self.alloc_msix_entry(dev, entry)
            if error is None:
                continue
            done = len(dev.vectors)
            if error == "ENOMEM" and done:
                # msi_handle_pci_fail: MSI-X reports what it got; vfio frees it.
                self.free_all(dev)
                return None, done
            self.free_all(dev)
            return ("ENOSPC" if error == "ENOMEM" else error), None
        return None, None

    def grant_fewer(self, dev: DeviceState, granted: int) -> tuple[str | None, int | None]:
        error = self.alloc_msi(dev, granted)
        if error is not None:
            return error, None
        self.free_all(dev)
        return None, granted

    def set_block(self, dev: DeviceState, step: Enable) -> None:
        """SET_IRQS on the enabled index: vfio_msi_set_block over 0..count-1."""
        done: list[int] = []
        for entry in range(step.count):
            vs = dev.vectors.get(entry)
            if entry in step.unrequested:
                if vs is not None and vs.requested:
                    self.release(vs)
                continue
            error = self.request_entry(dev, entry)
            if error is not None:
                for e in done:
                    self.release(dev.vectors[e])
                self.fail(error, "vfio rolled back the vectors of this block")
                break
            done.append(entry)
        self.views = list(dev.vectors.values())

    def request_entry(self, dev: DeviceState, entry: int) -> str | None:
        m = self.m
        if dev.index is None:
            return "EINVAL"
        if not 0 <= entry < dev.caps.capacity(dev.index):
            return "EINVAL"
        if entry not in dev.vectors:
            if dev.index is not _MSIX or not m.rules.dynamic_msix:
                m.note(
                    f"entry {entry} not allocated and no dynamic MSI-X (kernel {m.rules.version})"
                )
                return "EINVAL"
            m.rule("dynamic-msix")
            error = self.alloc_msix_entry(dev, entry)
            if error is not None:
                return "ENOSPC" if error == "ENOMEM" else error
        return self.request(dev.vectors[entry])

    def request_step(self, step: Request) -> None:
        dev = self.m.devices.get(step.device) or self.device(step.device)
        if dev.index is None:
            self.fail("EINVAL", f"{step.device} has no enabled interrupt index")
            return
        error = self.request_entry(dev, step.entry)
        if error is not None:
            self.errno = error
        vs = dev.vectors.get(step.entry)
        if vs is not None:
            self.views = [vs]

    def release_step(self, step: Release) -> None:
        dev = self.m.devices.get(step.device) or self.device(step.device)
        vs = dev.vectors.get(step.entry)
        if dev.index is None:
            self.fail("EINVAL", f"{step.device} has no enabled interrupt index")
            return
        if vs is None:
            return
        if vs.requested:
            self.release(vs)
        self.views = [vs]

    def affinity(self, step: Affinity) -> None:
        dev = self.m.devices.get(step.device) or self.device(step.device)
        vs = dev.vectors.get(step.entry)
        if vs is None or not vs.irq.proc:
            self.fail("ENOENT", "/proc/irq/N/ exists only after the first request_irq")
            return
        self.views = [vs]
        self.write_mask(vs.irq, step.cpus)

    def write_mask(self, irq: IrqState, cpus: tuple[int, ...]) -> None:
        """write_irq_affinity of /proc/irq/N/smp_affinity_list; a refusal sets the errno."""
        m = self.m
        mask = frozenset(cpus)
        # Checked as a subset of the machine's CPUs first: min() and max() are generic
        # C calls, and only a mask naming a CPU the machine lacks needs them.
        if not mask <= m.all_cpus and (min(cpus) < 0 or max(cpus) > m.all_cpus_tuple[-1]):
            self.fail("ERANGE", "CPU number beyond nr_cpu_ids (bitmap_parselist)")
            return
        if irq.managed:
            self.fail(m.rules.managed_affinity_errno, "managed irq (write_irq_affinity)")
            return
        if m.online.isdisjoint(mask):
            self.fail("EINVAL", "the mask has no online CPU (write_irq_affinity)")
            return
        error = domain.write_affinity(m, irq, mask)
        if error is not None:
            self.fail(error, f"irq_set_affinity failed: {error}")

    def fire_while_moving(self, step: FireWhileMoving) -> None:
        """Fires racing affinity writes.  Stepped through in one order (a fire, then the
        next mask; the cleanup timer runs between them, as each fire waits for its
        interrupt), but only what every order shares is predicted exactly: each fire
        delivered once, nothing lost or spurious, all on CPUs the start or a mask
        allows.  Where the vector ends up (its last move may still be pending) is
        not, and later placements stay uncertain until something re-places it."""
        m = self.m
        dev = self.m.devices.get(step.device) or self.device(step.device)
        self.watch(step.device, step.entry)
        self.lost = 0
        self.spurious = 0
        vs = dev.vectors.get(step.entry)
        if vs is None or not vs.irq.proc:
            self.fail("ENOENT", "/proc/irq/N/ exists only after the first request_irq")
            return
        self.views = [vs]
        if any(m.online.isdisjoint(mask) for mask in step.masks):
            self.fail("EINVAL", "a mask has no online CPU (write_irq_affinity): nothing fired")
            return
        irq = vs.irq
        m.rule("fire-while-moving-bounded")
        reachable = {c for mask in step.masks for c in mask if c in m.online}
        if irq.cfg_cpu is not None:
            reachable.add(irq.cfg_cpu)
        fired = 0
        for mask in step.masks:
            if fired < step.fires - 1:
                self.send(step.device, vs.message, irq.irte)
                fired += 1
            domain.run_cleanups(m)
            self.write_mask(irq, mask)
        for _ in range(step.fires - fired):
            domain.run_cleanups(m)
            self.send(step.device, vs.message, irq.irte)
        if self.within is None:
            self.within = {}
        self.within[f"delivered.{step.device}[{step.entry}].per_cpu"] = tuple(sorted(reachable))
        irq.placement_uncertain = True  # its views say so (see _mark_placement_uncertain)

    def fire(self, step: Fire) -> None:
        dev = self.m.devices.get(step.device) or self.device(step.device)
        self.watched.append((step.device, step.entry))  # the first: no need to `watch`
        self.lost = 0
        self.spurious = 0
        vs = dev.vectors.get(step.entry)
        if vs is None:
            self.m.note(
                f"{step.device}[{step.entry}] is not allocated: the device cannot signal it"
            )
            return
        self.views = [vs]  # not masked: `_fire_masked` predicted that fire
        self.m.rule("fire-current-cpu")
        for _ in range(step.times):
            # One at a time: the first may complete a pending move, so the rest land anew.
            self.send(step.device, vs.message, vs.irq.irte)

    def store(self, step: Store) -> None:
        dev = self.m.devices.get(step.device) or self.device(step.device)
        vs = dev.vectors.get(step.entry)
        if vs is None:
            self.fail("EINVAL", f"{step.device}[{step.entry}] is not allocated: no message")
            return
        dev.stored = StoredMessage(step.entry, vs.message, vs.irq.irte)
        self.views = [vs]

    def fire_stored(self, step: FireStored) -> None:
        m = self.m
        dev = self.m.devices.get(step.device) or self.device(step.device)
        if dev.stored is None:
            self.fail("EINVAL", f"{step.device} has no stored message")
            return
        stored = dev.stored
        self.watch(step.device, stored.entry)
        self.lost = 0
        self.spurious = 0
        m.rule("stored-message-ir" if m.remapped else "stored-message-compat")
        kind = self.send(step.device, stored.message, stored.irte)[0]
        vs = dev.vectors.get(stored.entry)
        if vs is not None:
            self.views = [vs]
        current = vs.message if vs is not None else None
        stale = current != stored.message
        if not m.remapped and stale and not m.exact_vectors:
            # Whether the old vector was reused depends on vector numbers the
            # calibration did not give.
            for key in self.watched:
                self.uncertain.add(f"delivered.{key[0]}[{key[1]}].per_cpu")
                self.uncertain.add(f"delivered.{key[0]}[{key[1]}].eventfd")
            self.uncertain.update({"lost", "spurious"})
        if kind is LandingKind.UNKNOWN:
            # Its freed IRTE may now be any later vector's: any of them may receive it.
            self.uncertain.update({"lost", "spurious"})
            for other in self.all_vectors():
                self.watch(other.device, other.entry)
                self.uncertain.add(f"delivered.{other.device}[{other.entry}].per_cpu")
                self.uncertain.add(f"delivered.{other.device}[{other.entry}].eventfd")

    def cpu_offline(self, step: CpuOffline) -> None:
        m = self.m
        cpu = step.cpu
        if cpu not in m.all_cpus or not m.hotpluggable[cpu]:
            self.fail("ENOENT", f"cpu{cpu} has no online attribute (absent or not hot-pluggable)")
            return
        if cpu in m.online:
            if len(m.online) == 1:
                self.fail("EBUSY", "cannot take the last online CPU down")
                return
            error = domain.cpu_down(m, cpu)
            if error is not None:
                self.errno = error
        self.views = self.all_vectors()

    def cpu_online(self, step: CpuOnline) -> None:
        m = self.m
        cpu = step.cpu
        if cpu not in m.all_cpus or not m.hotpluggable[cpu]:
            self.fail("ENOENT", f"cpu{cpu} has no online attribute (absent or not hot-pluggable)")
            return
        if cpu not in m.online:
            domain.cpu_up(m, cpu)
        self.views = self.all_vectors()

    def disable(self, step: Disable) -> None:
        dev = self.m.devices.get(step.device) or self.device(step.device)
        if dev.index is None:
            self.fail("EINVAL", f"{step.device} has no enabled interrupt index")
            return
        self.m.rule("disable-frees-everything")
        self.gone = self.free_all(dev)

    def all_vectors(self) -> list[VectorState]:
        out: list[VectorState] = []
        for dev in self.m.devices.values():  # in name order
            vectors = dev.vectors
            if vectors:  # most devices have none enabled at a time
                out += vectors.values()
        return out


_HANDLERS: dict[type, tuple[Callable[[_Handlers, Any], None], bool, Callable[[Any], str]]] = {
    cls: (handler, cls in (Enable, Request), label_maker(cls))
    for cls, handler in (
        (Enable, _Handlers.enable),
        (Request, _Handlers.request_step),
        (Release, _Handlers.release_step),
        (Affinity, _Handlers.affinity),
        (Fire, _Handlers.fire),
        (FireWhileMoving, _Handlers.fire_while_moving),
        (Store, _Handlers.store),
        (FireStored, _Handlers.fire_stored),
        (CpuOffline, _Handlers.cpu_offline),
        (CpuOnline, _Handlers.cpu_online),
        (Disable, _Handlers.disable),
    )
}
"""The handler of each step class (steps are final dataclasses: no subclasses), whether
the step predicts a trace (the steps that allocate vectors), and its `describe`."""

_NOT_A_STEP = (None, False, describe)
"""`describe` then raises the TypeError."""

_fire_label = label_maker(Fire)


def _device_name(caps: DeviceCaps) -> str:
    return caps.name


__all__ = ["DeviceCaps", "InterruptModel", "ModelFaults"]
