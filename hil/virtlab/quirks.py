"""Known defects of the emulated platform, so verdicts can name them instead of hiding them.

Each entry was seen in this project's virtual lab with QEMU's own trace as
evidence; it applies only to the QEMU versions it was seen on, so a newer QEMU
is judged strictly until it is checked again.
"""

from __future__ import annotations

import re
import subprocess
from functools import cache

from hil.model.verdict import DUPLICATED_MSI
from hil.virtlab.qemu_args import VmSpec

# QEMU 10.0.2 (Debian bookworm-backports), TCG: one `msix_notify` produced two
# `apic_deliver_irq` trace events, with intremap=on (also two
# `vtd_ir_remap_msi_req`) and with intremap=off (e1000e, 12 fires each; events
# switched on through QMP `trace-event-set-state`).
_DUPLICATING_SERIES = ((10, 0),)


@cache
def qemu_version(qemu: str) -> tuple[int, ...]:
    try:
        out = subprocess.run([qemu, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ()
    m = re.search(r"version (\d+)\.(\d+)\.(\d+)", out)
    return tuple(int(x) for x in m.groups()) if m else ()


def platform_quirks(spec: VmSpec, qemu: str) -> frozenset[str]:
    """`spec` is kept for quirks that depend on the machine's shape."""
    version = qemu_version(qemu)
    if version[:2] in _DUPLICATING_SERIES:
        return frozenset({DUPLICATED_MSI})
    return frozenset()
