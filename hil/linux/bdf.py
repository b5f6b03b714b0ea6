"""PCI addresses as the kernel spells them in sysfs.

A BDF ends up inside sysfs paths and in bytes written to `drivers_probe`
and `unbind`; anything looser than the kernel's own spelling could walk out
of `/sys/bus/pci/devices/` or bind the wrong device, so it is checked once,
strictly, before any path is built from it.
"""

from __future__ import annotations

import re

BDF_PATTERN = re.compile(r"[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]")


def validate_bdf(bdf: str) -> str:
    """Return `bdf` unchanged if it is a full lower-case `dddd:bb:dd.f` address."""
    if not isinstance(bdf, str) or BDF_PATTERN.fullmatch(bdf) is None:
        raise ValueError(
            f"not a PCI address: {bdf!r}; expected domain:bus:device.function "
            "in lower-case hex, e.g. '0000:00:0a.0'"
        )
    return bdf
