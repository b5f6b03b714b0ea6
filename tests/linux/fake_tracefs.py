"""A tracefs tree that answers `kprobe_events` commands as the kernel does.

Laid out like /sys/kernel/tracing: `kprobe_events`, `available_filter_functions`,
`error_log`, `events/irq_vectors`, and instances made by `add_instance` the way
a mkdir of an instance fills them; beside it /proc/kallsyms, where
`modify_irte` is two functions (AMD's and Intel's) as on a Debian kernel, and
a probe on that name is refused (EADDRNOTAVAIL) as 6.12 refuses it.  `append` stands in for
`hil.linux.sysfile.append_attr` (tests patch it into `hil.linux.kprobes`):
a `p:` line creates the event directory in the top level and in every
instance, a `-:` line deletes it, refused with EBUSY while it is enabled
anywhere and with ENOENT when there is no such probe.  `os_module` gives
`hil.linux.tracefs` an instance rmdir that, like the kernel's, takes the
instance whole.
The kprobe trace lines of the tests are synthetic, printed the way
`print_kprobe_event` prints (`x32` as 0x%x, `u16` as %u).
"""

from __future__ import annotations

import errno
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from hil.linux.sysfile import append_attr
from hil.linux.tracefs import VECTOR_EVENTS

KALLSYMS = {
    0xFFFFFFFF81A00000: "modify_irte",  # AMD's, drivers/iommu/amd/iommu.c
    0xFFFFFFFF81A00400: "amd_ir_set_affinity",
    0xFFFFFFFF81B40000: "modify_irte",  # Intel's, drivers/iommu/intel/irq_remapping.c
    0xFFFFFFFF81B45000: "intel_irq_remapping_alloc",
    0xFFFFFFFF81B45800: "intel_irq_remapping_activate",
    0xFFFFFFFF81C00000: "__pci_write_msi_msg",
}
INTEL_MODIFY_IRTE = "0xffffffff81b40000"
FUNCTIONS = (
    "pci_msi_domain_write_msg",
    "__pci_write_msi_msg",
    "modify_irte",
    "modify_irte",
    "kvm_set_msi [kvm]",
)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@dataclass
class FakeKprobeKernel:
    root: Path
    functions: tuple[str, ...] = FUNCTIONS
    """available_filter_functions; a name listed twice is two functions."""
    kallsyms: dict[int, str] = field(default_factory=lambda: dict(KALLSYMS))
    with_kprobe_events: bool = True
    probes: dict[str, str] = field(default_factory=dict)
    """"group/event" -> the definition line, as `kprobe_events` lists them."""
    commands: list[str] = field(default_factory=list)

    @property
    def tracing(self) -> Path:
        return self.root / "sys/kernel/tracing"

    def __post_init__(self) -> None:
        write(self.tracing / "events/irq_vectors/enable", "0\n")
        write(self.tracing / "available_filter_functions", "\n".join(self.functions) + "\n")
        write(self.tracing / "error_log", "")
        (self.tracing / "instances").mkdir()
        if self.with_kprobe_events:
            write(self.tracing / "kprobe_events", "")
        write(
            self.root / "proc/kallsyms",
            "".join(f"{a:016x} t {name}\n" for a, name in sorted(self.kallsyms.items())),
        )

    def add_instance(self, name: str) -> Path:
        instance = self.tracing / "instances" / name
        write(instance / "events/irq_vectors/enable", "0\n")
        for event in VECTOR_EVENTS:
            write(instance / "events/irq_vectors" / event / "enable", "0\n")
        write(instance / "tracing_on", "1\n")
        write(instance / "trace", "")
        write(instance / "trace_pipe", "")
        for probe in self.probes:
            write(instance / "events" / probe / "enable", "0\n")
        return instance

    def _tops(self) -> list[Path]:
        return [self.tracing, *sorted((self.tracing / "instances").iterdir())]

    def _event_dirs(self, name: str) -> list[Path]:
        return [top / "events" / name for top in self._tops()]

    def enabled_in(self, name: str) -> list[str]:
        """The instances ("" for the top level) where probe `group/event` is on."""
        return [
            "" if top == self.tracing else top.name
            for top in self._tops()
            if (top / "events" / name / "enable").read_text().strip() == "1"
        ]

    # -- the kernel's side -------------------------------------------------

    def append(self, path: Path, text: str) -> None:
        if path.name != "kprobe_events":
            append_attr(path, text)
            return
        self.commands.append(text)
        command = text.strip()
        if command.startswith("-:"):
            self._delete(path, command[2:])
            return
        kind, _, rest = command.partition(":")
        name, symbol = rest.split()[:2]
        if kind != "p" or name in self.probes:
            raise OSError(errno.EEXIST if kind == "p" else errno.EINVAL, "refused", str(path))
        if symbol.startswith("0x"):
            if int(symbol, 16) not in self.kallsyms:
                self._refuse(path, command, errno.EINVAL, "Invalid address")
        elif symbol not in self.functions:
            self._refuse(path, command, errno.ENOENT, "Failed to find symbol")
        elif self.functions.count(symbol) > 1:
            self._refuse(path, command, errno.EADDRNOTAVAIL, "Non-unique symbol")
        self.probes[name] = command
        for d in self._event_dirs(name):
            write(d / "enable", "0\n")
        self._list(path)

    def _refuse(self, path: Path, command: str, code: int, why: str) -> None:
        with open(self.tracing / "error_log", "a") as log:
            log.write(f"[  42.000000] trace_kprobe: error: {why}\n  Command: {command}\n")
        raise OSError(code, os.strerror(code), str(path))

    def _delete(self, path: Path, name: str) -> None:
        if name not in self.probes:
            raise OSError(errno.ENOENT, os.strerror(errno.ENOENT), str(path))
        if self.enabled_in(name):
            raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), str(path))
        del self.probes[name]
        for d in self._event_dirs(name):
            shutil.rmtree(d)
            if not any(d.parent.iterdir()):
                d.parent.rmdir()
        self._list(path)

    def _list(self, path: Path) -> None:
        path.write_text("".join(f"{line}\n" for line in self.probes.values()))

    def os_module(self) -> object:
        """`os` as `hil.linux.tracefs` should see it (patch it in): `rmdir` of an
        instance behaves as the kernel's, which disables its events and frees it whole."""
        kernel = self

        class _Os:
            def __getattr__(self, name: str) -> object:
                return getattr(os, name)

            @staticmethod
            def rmdir(path: Path) -> None:
                if Path(path).parent == kernel.tracing / "instances":
                    shutil.rmtree(path)
                else:
                    os.rmdir(path)

        return _Os()


def msi_line(
    irq: int, new: tuple[int, int, int], old: tuple[int, int, int], ts: float = 10.5
) -> str:
    """A `msi_write` line: (lo, hi, data) written and cached before."""
    return (
        f"         python3-812     [003] d..1.  {ts:11.6f}: msi_write: "
        f"(__pci_write_msi_msg+0x0/0xb0) irq={irq} lo={new[0]:#x} hi={new[1]:#x} "
        f"data={new[2]:#x} old_lo={old[0]:#x} old_hi={old[1]:#x} old_data={old[2]:#x}"
    )


def irte_line(index: int, sub_handle: int, low: int, ts: float = 10.6) -> str:
    return (
        f"         python3-812     [003] d..2.  {ts:11.6f}: irte_write: "
        f"(modify_irte+0x0/0x1a0) index={index} sub_handle={sub_handle} low={low:#x}"
    )
