"""Compat-format (non-remapped) MSI messages.

Without IR the message *is* the routing: the address names the CPU and the
data names the vector, so every move rewrites the device.  How the address
names the CPU is the APIC routing mode's business, not the kernel
version's: 6.1 on a small xAPIC guest uses logical flat (bit 2 set, a
one-hot CPU mask), 6.12 physical (the APIC ID).
"""

from __future__ import annotations

from hil.model.frozen import dict_setter, new_instance
from hil.model.vocabulary import MSI_ADDRESS_BASE, ApicMode, MsiMessage

ZERO_MESSAGE = MsiMessage(0, 0)
"""What msi_domain_deactivate writes when an irq is freed or shut down."""

_DEST_MODE_LOGICAL = 1 << 2

_LOGICAL_FLAT = ApicMode.LOGICAL_FLAT
_X2APIC_CLUSTER = ApicMode.X2APIC_CLUSTER
"""Bound once: in Python 3.11 an attribute of an enum class goes through the enum
metaclass's __getattr__ hook, and every new target's message asks."""


def compat_message(mode: ApicMode, cpu: int, apicid: int, vector: int) -> MsiMessage:
    """__irq_msi_compose_msg: fixed delivery, edge, destination by routing mode (the
    model keeps one per target, `MachineState.compat_messages`)."""
    if mode is _LOGICAL_FLAT:
        # flat_init_apic_ldr: the logical ID of CPU n is BIT(n), so at most 8 CPUs.
        if cpu >= 8:
            raise ValueError("logical flat mode addresses at most 8 CPUs")
        dest, logical = 1 << cpu, True
    elif mode is _X2APIC_CLUSTER:
        dest, logical = ((apicid >> 4) << 16) | (1 << (apicid & 0xF)), True
    else:
        dest, logical = apicid, False
    address = MSI_ADDRESS_BASE | (dest & 0xFF) << 12
    if logical:
        address |= _DEST_MODE_LOGICAL
    # Destination ID bits 8-31 go to the high address word (x2APIC).
    address |= (dest & 0xFFFFFF00) << 32
    message = new_instance(MsiMessage)  # MsiMessage(address, data), without its __init__
    _set_message_dict(message, {"address": address, "data": vector & 0xFF})
    return message


_set_message_dict = dict_setter(MsiMessage)
