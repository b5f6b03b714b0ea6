"""Which boot of the kernel a machine is in.

A reboot resets everything a session changes (driver bindings,
driver_override, CPUs online, irq affinities), and it renumbers irqs: a
journal entry written before a reboot describes a machine that no longer
exists, and replaying it could move some other device's irq.  The kernel's
random boot id tells the two apart.
"""

from __future__ import annotations

import re
from pathlib import Path

_BOOT_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def is_boot_id(value: object) -> bool:
    return isinstance(value, str) and bool(_BOOT_ID.fullmatch(value))


def boot_id(root: Path = Path("/")) -> str | None:
    """/proc/sys/kernel/random/boot_id, or None where the kernel does not offer it."""
    try:
        value = (root / "proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None
    return value if is_boot_id(value) else None
