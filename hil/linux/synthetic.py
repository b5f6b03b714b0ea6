"""Synthetic /proc/interrupts text and /proc/irq + /sys/kernel/irq trees.

Benchmarks and tests need machines larger than any lab has (hundreds of
CPUs, thousands of irqs) laid out exactly as the kernel prints them.  Every
count comes from `synthetic_count`, so a reader's output can be checked
against an independent formula rather than against another parser.
"""

from __future__ import annotations

from pathlib import Path

from hil.linux.cpulist import format_cpulist

IRQS_PER_DEVICE = 64
_SUMMARY_ROWS = (
    ("NMI", "Non-maskable interrupts"),
    ("LOC", "Local timer interrupts"),
    ("SPU", "Spurious interrupts"),
    ("PMI", "Performance monitoring interrupts"),
    ("IWI", "IRQ work interrupts"),
    ("RTR", "APIC ICR read retries"),
    ("RES", "Rescheduling interrupts"),
    ("CAL", "Function call interrupts"),
    ("TLB", "TLB shootdowns"),
    ("TRM", "Thermal event interrupts"),
    ("THR", "Threshold APIC interrupts"),
    ("DFR", "Deferred Error APIC interrupts"),
    ("MCE", "Machine check exceptions"),
    ("MCP", "Machine check polls"),
)


def synthetic_count(irq: int, cpu: int) -> int:
    """The count irq `irq` has on `cpu`: mostly zeros, some small, some large."""
    mixed = (irq * 7919 + cpu * 104729) % 1000003
    if mixed % 3 == 0:
        return 0
    return mixed if mixed % 7 == 0 else mixed % 100


def synthetic_device(irq: int) -> tuple[str, int]:
    """The (BDF, MSI-X entry) irq `irq` belongs to."""
    dev = irq // IRQS_PER_DEVICE
    return f"0000:{(dev >> 5) & 0xFF:02x}:{dev & 0x1F:02x}.0", irq % IRQS_PER_DEVICE


def _prec(nirqs: int) -> int:
    # kernel/irq/proc.c: width of the irq column grows with nr_irqs.
    prec, limit = 3, 1000
    while prec < 10 and limit <= nirqs:
        prec, limit = prec + 1, limit * 10
    return prec


def synthetic_proc_interrupts(ncpus: int, nirqs: int) -> str:
    """/proc/interrupts of a remapped (6.2+) machine with `ncpus` online CPUs."""
    prec = _prec(nirqs)
    out = [" " * (prec + 8) + "".join(f"CPU{c:<8d}" for c in range(ncpus))]
    for irq in range(nirqs):
        bdf, entry = synthetic_device(irq)
        counts = "".join(f"{synthetic_count(irq, c):10d} " for c in range(ncpus))
        chip = f"IR-PCI-MSIX-{bdf}"
        action = f"vfio-msix[{entry}]({bdf})"
        out.append(f"{irq:>{prec}d}: {counts} {chip:>8s} {entry:>{prec}d}-edge      {action}")
    for row, (name, description) in enumerate(_SUMMARY_ROWS):
        counts = "".join(f"{synthetic_count(nirqs + row, c):10d} " for c in range(ncpus))
        out.append(f"{name:>{prec}s}: {counts}  {description}")
    out.append(f"{'ERR':>{prec}s}: {0:10d}")
    out.append(f"{'MIS':>{prec}s}: {0:10d}")
    return "\n".join(out) + "\n"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def synthetic_sys_tree(root: Path, ncpus: int, nirqs: int) -> None:
    """Write /proc/interrupts, /proc/irq/N, /sys/kernel/irq/N and the CPU files under `root`.

    Irq `n` is effective on CPU `n % ncpus` with affinity all CPUs; CPU0 has
    no `online` file, as on x86.
    """
    all_cpus = format_cpulist(range(ncpus))
    _write(root / "proc/interrupts", synthetic_proc_interrupts(ncpus, nirqs))
    cpu_dir = root / "sys/devices/system/cpu"
    _write(cpu_dir / "online", all_cpus + "\n")
    _write(cpu_dir / "possible", all_cpus + "\n")
    for cpu in range(1, ncpus):
        _write(cpu_dir / f"cpu{cpu}/online", "1\n")
    for irq in range(nirqs):
        bdf, entry = synthetic_device(irq)
        proc = root / "proc/irq" / str(irq)
        _write(proc / "smp_affinity_list", all_cpus + "\n")
        _write(proc / "effective_affinity_list", f"{irq % ncpus}\n")
        _write(proc / "node", "-1\n")
        sysirq = root / "sys/kernel/irq" / str(irq)
        per_cpu = ",".join(str(synthetic_count(irq, c)) for c in range(ncpus))
        _write(sysirq / "per_cpu_count", per_cpu + "\n")
        _write(sysirq / "chip_name", f"IR-PCI-MSIX-{bdf}\n")
        _write(sysirq / "hwirq", f"{entry}\n")
        _write(sysirq / "name", "edge\n")
        _write(sysirq / "type", "edge\n")
        _write(sysirq / "actions", f"vfio-msix[{entry}]({bdf})\n")
