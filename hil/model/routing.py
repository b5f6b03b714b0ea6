"""Where a device's message write lands, and what the CPU does with it.

A message is routed the way the hardware routes it, not the way the kernel
meant it: with IR through the IRTE it names (present or not), without IR by
the destination and vector written in it.  That is what makes a stale stored
message observable: it reaches whatever owns that vector *now*.
"""

from __future__ import annotations

from enum import StrEnum

from hil.model.domain import ack_interrupt
from hil.model.remap import IrteRef
from hil.model.state import IrqState, MachineState
from hil.model.vocabulary import MSI_ADDRESS_BASE, ApicMode, MsiMessage


class LandingKind(StrEnum):
    DELIVERED = "delivered"
    """An irq with a handler ran (the sender's, or another one's)."""
    NO_HANDLER = "no handler"
    """Nothing owns that vector on that CPU: "No irq handler for C.V" (no counter)."""
    UNSTARTED = "unstarted"
    """The vector belongs to an irq without a handler: handle_edge_irq marks it pending."""
    SPURIOUS = "spurious"
    """A system vector such as the 0xef placeholder: spurious_interrupt, SPU +1."""
    DMAR_FAULT = "dmar fault"
    """IRTE not present: "Present field in the IRTE entry is clear"."""
    NOT_INTERRUPT = "not an interrupt"
    """Address outside 0xFEExxxxx (a zeroed message): a plain DMA write."""
    OFFLINE = "offline"
    """The destination CPU is offline."""
    UNKNOWN = "unknown"
    """The model cannot place the message (its freed IRTE of unknown index may be reused)."""


Landing = tuple[LandingKind, int | None, int | None, IrqState | None]
"""One write's fate: (kind, cpu, vector, irq), the last three None where it names none.

A plain tuple, read by unpacking: every fire makes one, and a tuple display is built
in C, where a named tuple or a frozen dataclass costs a call to construct; the fates
that name no CPU are shared constants."""

# Enum members bound once at import: in Python 3.11 reading `LandingKind.DELIVERED`
# goes through the enum metaclass and costs about ten plain reads, on every fire.
_DELIVERED = LandingKind.DELIVERED
_NO_HANDLER = LandingKind.NO_HANDLER
_OFFLINE = LandingKind.OFFLINE
_SPURIOUS = LandingKind.SPURIOUS
_UNSTARTED = LandingKind.UNSTARTED
_LOGICAL_FLAT = ApicMode.LOGICAL_FLAT
_WINDOW_END = MSI_ADDRESS_BASE + 0x100000
_HIGH_WORD = 1 << 32
_UNKNOWN: Landing = (LandingKind.UNKNOWN, None, None, None)
_NOT_INTERRUPT: Landing = (LandingKind.NOT_INTERRUPT, None, None, None)
_DMAR_FAULT: Landing = (LandingKind.DMAR_FAULT, None, None, None)


def land(m: MachineState, message: MsiMessage | None, irte: IrteRef | None) -> Landing:
    """Route one device write and run the receiving CPU's side of it: with IR the
    IRTE names the CPU and vector, without IR the message itself; then
    common_interrupt on that CPU, where vector_irq[vector] decides."""
    if message is None:
        return _UNKNOWN
    address = message.address
    # The low word's 0xFEExxxxx window, read without the address_lo property (a call per
    # fire).  Compared first, not masked: an address above 2**30 is a long int, and a
    # mask makes a new one on every fire; only a high word (compat x2APIC destinations
    # above 255) needs the mask, which keeps no bit of it.
    if not MSI_ADDRESS_BASE <= address < _WINDOW_END and (
        address < _HIGH_WORD or address & 0xFFF00000 != MSI_ADDRESS_BASE
    ):
        return _NOT_INTERRUPT
    cpu: int | None
    if m.remapped:
        if irte is None:
            return _UNKNOWN
        key = irte.owner_key
        if key is None:
            return _UNKNOWN
        owner = m.irte_owner.get(key)
        symbol = irte.symbol
        if owner is None and irte.index is None and symbol and m.intel_irte.may_be_reused(symbol):
            return _UNKNOWN
        if owner is None or not owner.ir_present:
            return _DMAR_FAULT
        cpu, vector = owner.cfg_cpu, owner.cfg_vector
        if cpu is None or vector is None:
            return _DMAR_FAULT
    else:
        # The CPU and vector a compat-format message names, read from local variables
        # (MsiMessage's `destination`, `logical` and `vector` properties are a call
        # each, and every non-remapped fire asks them).
        low = address & 0xFFFFFFFF
        dest = (low >> 12) & 0xFF | ((address >> 32) & 0xFFFFFF00)
        if not low & 0x4:  # physical destination: an APIC ID
            cpu = m.cpu_by_apicid.get(dest)
        elif m.apic_mode is _LOGICAL_FLAT:  # one bit per CPU
            cpu = (dest & -dest).bit_length() - 1 if dest else None
        else:  # x2APIC cluster: the cluster number and a bit per CPU in it
            cluster, bits = dest >> 16, dest & 0xFFFF
            apicid = (cluster << 4) | ((bits & -bits).bit_length() - 1) if bits else None
            cpu = None if apicid is None else m.cpu_by_apicid.get(apicid)
        vector = message.data & 0xFF
    # common_interrupt on `cpu` (here, not in a function of its own: every fire runs it).
    if cpu is None or cpu not in m.all_cpus:
        return (_NO_HANDLER, cpu, vector, None)
    if cpu not in m.online:
        return (_OFFLINE, cpu, vector, None)
    if vector >= m.rules.first_system_vector:
        return (_SPURIOUS, cpu, vector, None)
    irq = m.vector_irq.get((cpu, vector))
    if irq is None:
        return (_NO_HANDLER, cpu, vector, None)
    if not irq.started:
        return (_UNSTARTED, cpu, vector, irq)
    if irq.move_in_progress or irq.pending is not None:
        if irq.placement_uncertain:
            m.landed_unsure = irq  # the ack below may make it sure; this landing is not
        ack_interrupt(m, irq, cpu)  # else it has nothing to do: most fires
    return (_DELIVERED, cpu, vector, irq)
