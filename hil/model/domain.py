"""The irq domain stack of x86 PCI MSI: vector domain, IR, MSI layer.

Each function models one kernel function (named in its docstring) and acts
on a `MachineState`.  Activation runs vector -> IR -> MSI (the device is
written last); deactivation runs MSI -> IR -> vector (the device is zeroed
first).  Errors are returned as errno names, never raised, because the
kernel returns them to the caller as values too.
"""

from __future__ import annotations

from hil.model.matrix import MatrixError
from hil.model.message import ZERO_MESSAGE, compat_message
from hil.model.remap import IrteRef, amd_message, intel_message
from hil.model.state import IrqState, MachineState, irq_order
from hil.model.trace import event_text
from hil.model.vocabulary import IrType, MsiMessage

_INTEL = IrType.INTEL
"""Bound once: in Python 3.11 an enum member read goes through the enum metaclass and
costs about ten plain reads, and every activation asks."""

_ERRNO_VALUE = {"EINVAL": -22, "ENOSPC": -28, "EBUSY": -16, "ENOMEM": -12}

_ACTIVATE_EVENT = tuple(event_text("vector_activate", reserve=r) for r in (0, 1))
"""The trace text of an activation, by `reserve` (False, True): every allocation
and request adds one."""


# -- the device side (MSI layer) -------------------------------------------------


def write_message(m: MachineState, irq: IrqState) -> None:
    """msi_domain_activate / msi_set_affinity: the device gets the message composed
    through the hierarchy (irq_chip_compose_msi_msg: remappable or compat)."""
    vs = irq.msi_entry
    if vs is None:
        return
    if m.remapped:
        vs.message = irq.irte_message
        return
    cpu, vector = irq.cfg_cpu, irq.cfg_vector
    if cpu is None or vector is None:
        vs.message = None
        return
    message = m.compat_messages.get(cpu << 8 | vector)
    if message is None:
        message = compat_message(m.apic_mode, cpu, m.apicid[cpu], vector)
        m.compat_messages[cpu << 8 | vector] = message
    vs.message = message


def remappable_message(m: MachineState, ref: IrteRef) -> MsiMessage | None:
    """The IR chip's irq_chip_compose_msi_msg: the message names the IRTE (Intel's
    fill_msi_msg, AMD's format), so it depends on nothing a move changes."""
    return intel_message(ref) if m.ir is _INTEL else amd_message(ref)


# -- vector domain (arch/x86/kernel/apic/vector.c) --------------------------------


def update_cfg(m: MachineState, irq: IrqState, cpu: int, vector: int) -> None:
    """apic_update_irq_cfg: hardware config and effective affinity follow."""
    old = irq.cfg_cpu
    if old != cpu:  # `m.set_cfg`, inlined (every vector change): `on_cpu` follows
        if old is not None:
            m.on_cpu[old].discard(irq)
        on = m.on_cpu.get(cpu)
        if on is None:
            on = m.on_cpu[cpu] = set()
        on.add(irq)
    irq.cfg_cpu, irq.cfg_vector = cpu, vector
    irq.effective_override = None
    irq.placement_uncertain = False


def assign_placeholder(m: MachineState, irq: IrqState) -> None:
    """vector_assign_managed_shutdown: MANAGED_IRQ_SHUTDOWN_VECTOR on the first online CPU."""
    update_cfg(m, irq, m.first_online, m.rules.placeholder_vector)


def reserve_irq_vector(m: MachineState, irq: IrqState) -> None:
    """reserve_irq_vector_locked: a global reservation and the placeholder, no real vector."""
    m.matrix.reserve()
    irq.can_reserve = True
    irq.has_reserved = True
    irq.reservation_mode = True
    if m.trace is not None:
        m.trace.add(irq.number, "vector_reserve")
    assign_placeholder(m, irq)


def update_vector(m: MachineState, irq: IrqState, cpu: int, vector: int) -> None:
    """apic_update_vector: the old vector waits for cleanup if its CPU is online,
    else it is freed at once."""
    if m.trace is not None:
        m.trace.add(irq.number, "vector_update")
    irq.prev = None
    if irq.vector is not None and irq.cpu is not None:
        if irq.cpu in m.online:
            irq.move_in_progress = True
            irq.prev = (irq.cpu, irq.vector)
            m.unsettled.add(irq)
        else:
            m.matrix.free(irq.cpu, irq.vector, irq.managed)
            m.vector_irq.pop((irq.cpu, irq.vector), None)
    irq.cpu, irq.vector = cpu, vector
    m.vector_irq[(cpu, vector)] = irq
    update_cfg(m, irq, cpu, vector)


def assign_vector_locked(m: MachineState, irq: IrqState, dest: frozenset[int] | None) -> str | None:
    """assign_vector_locked: keep the vector if its CPU is online and in `dest`;
    EBUSY while a move or its cleanup is pending; else irq_matrix_alloc."""
    if irq.vector is not None and irq.cpu in m.online and (dest is None or irq.cpu in dest):
        if irq.placement_uncertain and _single_online(m, dest):
            irq.placement_uncertain = False
        return None
    if irq.move_in_progress or irq.cleanup_pending:
        return "EBUSY"
    if irq.managed:
        return _assign_managed(m, irq, dest)
    was_uncertain = irq.placement_uncertain
    try:
        cpu, vector = m.matrix.alloc(dest, reserved=irq.has_reserved)
    except MatrixError as error:
        if m.trace is not None:
            m.trace.add(irq.number, event_text("vector_alloc", ret=_ERRNO_VALUE[error.errno]))
        return error.errno
    if m.trace is not None:
        m.trace.add(irq.number, "vector_alloc")
    update_vector(m, irq, cpu, vector)
    if m.placement_slack:
        _judge_placement(m, irq, dest, was_uncertain)
    return None


def _single_online(m: MachineState, dest: frozenset[int] | None) -> bool:
    if dest is None:
        return len(m.online) == 1
    return len(dest & m.online) == 1


def _judge_placement(
    m: MachineState, irq: IrqState, dest: frozenset[int] | None, was_uncertain: bool
) -> None:
    """With vectors the calibration could not see, the CPU just chosen is exact only
    if no other candidate comes within `placement_slack` of it (or the irq was
    already misplaced and the mask left one CPU); a guess widens the slack,
    since it may have put a vector on the wrong CPU."""
    assert irq.cpu is not None
    if _single_online(m, dest):
        return
    clear = m.matrix.clear_winner(dest, irq.cpu, m.placement_slack)
    if clear and not was_uncertain:
        return
    irq.placement_uncertain = True
    m.placement_slack += 2
    m.rule("hidden-vectors-placement-uncertain")


def _assign_managed(m: MachineState, irq: IrqState, dest: frozenset[int] | None) -> str | None:
    """assign_managed_vector, simplified: managed vectors come out of the per-CPU
    managed reservation, so they never change any CPU's availability.  Only
    calibration irqs are managed (vfio never allocates managed vectors)."""
    candidates = sorted(m.online if dest is None else (c for c in dest if c in m.online))
    for cpu in candidates:
        vector = m.matrix.lowest_free(cpu)
        if vector is not None:
            m.matrix.assign(cpu, vector, managed=True)
            update_vector(m, irq, cpu, vector)
            return None
    return "ENOSPC"


def _online_part(m: MachineState, mask: frozenset[int] | None) -> frozenset[int] | None:
    """mask ∩ online, with None standing for "all online" (the fast path): the mask
    itself when all of it is online (most are: a subset test makes no new set), else
    the intersection, a frozenset made in C, not a generator over the mask."""
    if mask is None or mask is m.all_cpus:
        return None
    return mask if mask <= m.online else mask & m.online


def assign_any(m: MachineState, irq: IrqState) -> str | None:
    """assign_irq_vector_any_locked (5.10+ order): node∩affinity, affinity∩online,
    node, online."""
    node = m.node_cpus.get(irq.node) if irq.node is not None else None
    affinity = irq.affinity
    if node is not None:
        mask = node if affinity is None else node & affinity
        if assign_vector_locked(m, irq, mask) is None:
            return None
    if assign_vector_locked(m, irq, _online_part(m, affinity)) is None:
        return None
    if node is not None and assign_vector_locked(m, irq, node) is None:
        return None
    return assign_vector_locked(m, irq, None)


def activate_reserved(m: MachineState, irq: IrqState) -> str | None:
    """activate_reserved: the real vector at request_irq; warns when it had to leave
    the affinity mask ("Affinity broken due to vector space exhaustion")."""
    error = assign_any(m, irq)
    if error is None:
        irq.has_reserved = False
        if not irq.reservation_mode:
            irq.can_reserve = False
        affinity = irq.affinity if irq.affinity is not None else m.all_cpus
        if irq.cpu not in affinity:
            m.note(f"irq {irq.number}: Affinity broken due to vector space exhaustion")
            m.rule("affinity-broken")
    return error


def activate(m: MachineState, irq: IrqState, reserve: bool) -> str | None:
    """irq_domain_activate_irq: x86_vector_activate, then IR, then msi_domain_activate."""
    if m.trace is not None:
        m.trace.add(irq.number, _ACTIVATE_EVENT[reserve])
    error: str | None = None
    if not irq.can_reserve and not irq.managed:
        error = assign_any(m, irq)
    elif reserve:
        assign_placeholder(m, irq)
    elif irq.has_reserved:
        error = activate_reserved(m, irq)
    if error is not None:
        return error
    irq.activated = True
    if m.remapped:
        irq.ir_present = True
    write_message(m, irq)
    return None


def clear_irq_vector(m: MachineState, irq: IrqState) -> None:
    """clear_irq_vector: free the vector and any move leftover at once (VECTOR_SHUTDOWN)."""
    if irq.vector is None or irq.cpu is None:
        return
    if m.trace is not None:
        m.trace.add(irq.number, "vector_clear")
    m.matrix.free(irq.cpu, irq.vector, irq.managed)
    m.vector_irq.pop((irq.cpu, irq.vector), None)
    irq.vector = None
    irq.cpu = None
    free_moved_vector(m, irq)


def deactivate(m: MachineState, irq: IrqState) -> None:
    """irq_domain_deactivate_irq: msi_domain_deactivate writes zero, the IRTE is
    cleared, x86_vector_deactivate puts reservation-mode irqs back on the placeholder."""
    if irq.msi_entry is not None:
        irq.msi_entry.message = ZERO_MESSAGE
    irq.ir_present = False
    irq.activated = False
    if m.trace is not None:
        m.trace.add(irq.number, "vector_deactivate")
    if not irq.managed and not irq.can_reserve:
        return
    if irq.has_reserved:
        return
    clear_irq_vector(m, irq)
    if irq.can_reserve:
        reserve_irq_vector(m, irq)


def free_vectors(m: MachineState, irq: IrqState) -> None:
    """x86_vector_free_irqs: clear the vector, drop the reservation (vector_teardown)."""
    clear_irq_vector(m, irq)
    if m.trace is not None:
        m.trace.add(irq.number, "vector_teardown")
    if irq.has_reserved:
        m.matrix.remove_reserved()
        irq.has_reserved = False
    m.set_cfg(irq, None, None)


# -- moves and cleanup ---------------------------------------------------------------


def free_moved_vector(m: MachineState, irq: IrqState) -> None:
    """free_moved_vector: the old vector of a finished move goes back (VECTOR_UNUSED)."""
    if irq.prev is not None:
        cpu, vector = irq.prev
        m.matrix.free(cpu, vector, irq.managed)
        if m.vector_irq.get((cpu, vector)) is irq:
            del m.vector_irq[(cpu, vector)]
        if m.trace is not None:
            m.trace.add(irq.number, "vector_free_moved")
    irq.prev = None
    irq.move_in_progress = False
    irq.cleanup_pending = False


def schedule_cleanup(m: MachineState, irq: IrqState) -> None:
    """__vector_schedule_cleanup: arm the cleanup of the old vector on its CPU."""
    irq.move_in_progress = False
    if irq.prev is not None and irq.prev[0] in m.online:
        irq.cleanup_pending = True
        m.cleanups.append(irq)
    else:
        irq.prev = None


def run_cleanups(m: MachineState) -> None:
    """The cleanup timer (6.6+, jiffies+1) or IPI (before): by the next step it has run."""
    if not m.cleanups:
        return
    queue, m.cleanups = m.cleanups, []
    for irq in queue:
        if irq.cleanup_pending:
            free_moved_vector(m, irq)


def set_affinity(m: MachineState, irq: IrqState, mask: frozenset[int]) -> str | None:
    """irq_do_set_affinity -> apic_set_affinity; on success the mask is stored and the
    layer above reacts: IR rewrites the IRTE and schedules cleanup at once
    (intel_ir_set_affinity), non-IR rewrites the device (msi_set_affinity)."""
    all_cpus = m.all_cpus
    # `_online_part`, inlined: every move and request asks it.
    online = m.online
    dest = None if mask is all_cpus else mask if mask <= online else mask & online
    error = assign_vector_locked(m, irq, dest)
    if error is not None:
        return error
    irq.affinity = None if mask is all_cpus or mask == all_cpus else mask  # `spans_all`
    if m.remapped:
        if irq.move_in_progress:
            schedule_cleanup(m, irq)
    else:
        write_message(m, irq)
    return None


def write_affinity(m: MachineState, irq: IrqState, mask: frozenset[int]) -> str | None:
    """irq_set_affinity_locked as reached from /proc/irq/N/smp_affinity_list."""
    if not irq.activated:
        # irq_set_affinity_deactivated: store only; effective shows the mask.
        irq.affinity = None if m.spans_all(mask) else mask
        irq.effective_override = mask
        irq.user_set = True
        m.rule("affinity-while-deactivated")
        return None
    error: str | None = None
    # IRQ_MOVE_PCNTXT (IRQCHIP_MOVE_DEFERRED from 6.14): IR chips move at once,
    # PCI MSI straight on the vector domain only at its next interrupt.
    if m.remapped and irq.pending is None:
        error = set_affinity(m, irq, mask)
        if error == "EBUSY":
            # irq_try_set_affinity: the generic pending mechanism hides -EBUSY.
            irq.pending = mask
            m.unsettled.add(irq)
            error = None
            m.note(
                f"irq {irq.number}: cleanup of the last move pending; move deferred to "
                "its next interrupt"
            )
            m.rule("ir-busy-deferred")
        else:
            m.rule("ir-immediate-move")
    else:
        irq.pending = mask
        m.unsettled.add(irq)
        m.rule("non-ir-deferred-move")
    irq.user_set = True
    return error


def move_pending(m: MachineState, irq: IrqState) -> None:
    """irq_move_masked_irq at the ack of an interrupt: apply the pending mask unless
    the vector domain is busy (then it waits for the next interrupt)."""
    if irq.pending is None:
        return
    mask = irq.pending
    if not m.online.isdisjoint(mask):
        error = set_affinity(m, irq, mask)
        if error == "EBUSY":
            m.note(f"irq {irq.number}: pending move waits (cleanup of the last move pending)")
            m.rule("pending-move-busy")
            return
        if error is not None:
            m.note(
                f"irq {irq.number}: deferred move failed silently ({error}); smp_affinity reverts"
            )
    irq.pending = None


def ack_interrupt(m: MachineState, irq: IrqState, cpu: int) -> None:
    """apic_ack_edge: irq_complete_move (first interrupt on the new CPU arms the
    cleanup), then irq_move_irq."""
    if irq.move_in_progress and irq.cpu == cpu:
        schedule_cleanup(m, irq)
        if m.cleanup_wins_ack and irq.pending is not None and irq.cleanup_pending:
            # The old CPU took the cleanup IPI (or its timer ran: a vCPU preempted for
            # a tick) before this CPU reached irq_move_irq: the move is not busy.
            free_moved_vector(m, irq)
            m.rule("cleanup-before-pending-move")
    move_pending(m, irq)


# -- CPU hotplug (kernel/irq/cpuhotplug.c) -----------------------------------------


def force_complete_move(m: MachineState, irq: IrqState, cpu: int) -> None:
    """irq_force_complete_move: a move touching the dying CPU is finished now."""
    if irq.prev is None:
        return
    if irq.cpu != cpu and irq.prev[0] != cpu:
        return
    if irq.move_in_progress:
        m.note(f"IRQ fixup: irq {irq.number} move in progress, old vector {irq.prev[1]}")
    free_moved_vector(m, irq)


def migrate_one_irq(m: MachineState, irq: IrqState, cpu: int) -> None:
    """migrate_one_irq: started irqs on the dying CPU go to their (pending) mask,
    or break affinity to all online CPUs; managed irqs without an online CPU shut down."""
    force_complete_move(m, irq, cpu)
    needs_fixup = irq.started and irq.cfg_cpu == cpu
    pending = irq.pending
    pending_online = pending is not None and not m.online.isdisjoint(pending)
    if not needs_fixup:
        if pending is not None and not pending_online:
            irq.pending = None
        return
    if pending is not None and pending_online:
        affinity: frozenset[int] | None = pending
        irq.pending = None
    else:
        irq.pending = None
        affinity = irq.affinity
    if m.online.isdisjoint(affinity or m.all_cpus):
        if irq.managed:
            irq.started = False
            m.shut_down.add(irq)
            deactivate(m, irq)
            m.note(f"irq {irq.number}: managed, no online CPU left: shut down")
            return
        affinity = frozenset(m.online)
        m.note(f"irq {irq.number}: no online CPU in its affinity: broken to all online CPUs")
        m.rule("hotplug-affinity-broken")
    error = set_affinity(m, irq, affinity if affinity is not None else m.all_cpus)
    if error == "ENOSPC" and not irq.managed and affinity != frozenset(m.online):
        m.note(f"IRQ{irq.number}: set affinity failed, re-try with online CPUs")
        error = set_affinity(m, irq, frozenset(m.online))
    if error is not None:
        m.note(f"IRQ{irq.number}: set affinity failed({error}).")


def cpu_down(m: MachineState, cpu: int) -> str | None:
    """native_cpu_disable: lapic_can_unplug_cpu, then fixup_irqs for every irq."""
    ok, tomove, avl = m.matrix.can_unplug(cpu)
    if not ok:
        m.note(f"CPU {cpu} has {tomove} vectors, {avl} available. Cannot disable CPU")
        m.rule("unplug-refused")
        return "ENOSPC"
    m.set_online(cpu, False)
    # Only these irqs can have anything to do; moving one never changes another.
    for irq in m.touching(cpu):
        migrate_one_irq(m, irq, cpu)
    m.rule("hotplug-migrate")
    return None


def cpu_up(m: MachineState, cpu: int) -> None:
    """CPU online: the matrix takes the CPU back with the vectors it kept; managed
    irqs shut down by the unplug restart (irq_restore_affinity_of_irq); nothing
    else moves back."""
    m.set_online(cpu, True)
    for irq in sorted(m.shut_down, key=irq_order):
        if irq.affinity is not None and cpu in irq.affinity:
            m.shut_down.discard(irq)
            if _assign_managed(m, irq, irq.affinity) is None:
                irq.activated = irq.started = True
    m.rule("hotplug-no-move-back")
