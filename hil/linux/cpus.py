"""CPU hotplug through /sys/devices/system/cpu.

Taking a CPU offline moves its vectors elsewhere (or fails with ENOSPC when
there is no room); the errno of the `online` write is what a CpuOffline step
observes, so it is returned as data.
"""

from __future__ import annotations

from pathlib import Path

from hil.linux.cpulist import parse_cpulist
from hil.linux.sysfile import errno_name, read_attr, write_attr


class CpuHotplug:
    def __init__(self, root: Path = Path("/")) -> None:
        self.base = root / "sys/devices/system/cpu"

    def online_cpus(self) -> tuple[int, ...]:
        return parse_cpulist(read_attr(self.base / "online"))

    def possible_cpus(self) -> tuple[int, ...]:
        return parse_cpulist(read_attr(self.base / "possible"))

    def is_hotpluggable(self, cpu: int) -> bool:
        """True if the CPU has an `online` file (x86 CPU0 usually has none)."""
        return (self.base / f"cpu{int(cpu)}" / "online").is_file()

    def set_online(self, cpu: int, online: bool) -> str | None:
        """Bring a CPU up or down; the errno name on refusal, None on success.

        A CPU that is not hot-pluggable has no `online` file: ENOENT.
        """
        try:
            write_attr(self.base / f"cpu{int(cpu)}" / "online", "1\n" if online else "0\n")
        except OSError as e:
            return errno_name(e)
        return None
