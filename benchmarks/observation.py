"""Benchmark 3: what observing a step costs as the machine grows.

A step reads only the irqs under test (their sysfs counts, handlers,
requested and effective affinity), so on synthetic trees of 4, 64 and 512
CPUs with 4000 irqs that cost must stay flat; only reading all of
/proc/interrupts grows with the machine, and that parse is timed on its own.
The synthetic counts do not change between steps, as most of a real step's
do not (only fired vectors' rise): a count line read before is not parsed
again (`SysIrq.nonzero_counts`), so a step that fires one vector on a
512-CPU host parses two lines more than this one.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from benchmarks.figures import Figure, best_seconds, scratch_dir
from hil.linux.irqsysfs import SysIrq
from hil.linux.procinterrupts import ProcInterrupts
from hil.linux.procirq import ProcIrq
from hil.linux.synthetic import synthetic_count, synthetic_proc_interrupts, synthetic_sys_tree

SIZES = (4, 64, 512)
NIRQS = 4000
WATCHED = (41, 42, 43, 44, 1000, 2001, 3002, 3999)
"""A fixed set of 8 irqs, the size of a device's vectors in a step."""
STEPS = 50
FLAT_LIMIT = 1.5
"""Flat: the largest machine's step costs at most this multiple of the smallest's."""
PARSE_LIMIT_S = 0.050


@dataclass(frozen=True)
class StepCost:
    ncpus: int
    seconds: float


def observe_step(sysirq: SysIrq, procirq: ProcIrq) -> int:
    """What a step reads per watched irq where /proc/interrupts is too large to
    search (hil.lab.observe): counts before and after, handlers, both affinities."""
    seen = 0
    for irq in WATCHED:
        before = sysirq.nonzero_counts(irq)
        requested = procirq.affinity(irq)
        effective = procirq.effective_affinity(irq)
        handled = sysirq.actions(irq)
        after = sysirq.nonzero_counts(irq)
        assert before is not None and after is not None and requested and effective
        seen += len(after) + len(handled)
    return seen


def step_costs(roots: dict[int, Path], repeat: int) -> list[StepCost]:
    """Per-step cost on each tree; the sizes take turns so load spikes hit them alike."""
    best = {ncpus: float("inf") for ncpus in roots}
    readers = {ncpus: (SysIrq(root), ProcIrq(root)) for ncpus, root in roots.items()}
    for ncpus, (sysirq, _) in readers.items():
        counts = sysirq.nonzero_counts(WATCHED[-1])
        # The tree must say what the formula says, or the timing measures nothing.
        assert counts is not None
        assert counts.get(ncpus - 1, 0) == synthetic_count(WATCHED[-1], ncpus - 1)
    for _ in range(repeat):
        for ncpus, (sysirq, procirq) in readers.items():

            def steps(sysirq: SysIrq = sysirq, procirq: ProcIrq = procirq) -> None:
                for _ in range(STEPS):
                    observe_step(sysirq, procirq)

            best[ncpus] = min(best[ncpus], best_seconds(steps, 1) / STEPS)
    return [StepCost(ncpus, seconds) for ncpus, seconds in best.items()]


def full_parse_seconds(ncpus: int, repeat: int) -> float:
    text = synthetic_proc_interrupts(ncpus, NIRQS)
    table = ProcInterrupts.parse(text)
    assert len(table.irqs) == NIRQS and not table.warnings
    assert table.irqs[NIRQS - 1].values[-1] == synthetic_count(NIRQS - 1, ncpus - 1)
    del table  # not kept alive while timing: its 4000 rows would only feed the collector
    return best_seconds(lambda: ProcInterrupts.parse(text), repeat)


def run(repeat: int = 5) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="hil-bench-", dir=scratch_dir()) as tmp:
        roots = {ncpus: Path(tmp) / f"cpus{ncpus}" for ncpus in SIZES}
        for ncpus, root in roots.items():
            synthetic_sys_tree(root, ncpus, NIRQS)
        costs = step_costs(roots, repeat)
    smallest = costs[0].seconds
    figures = [
        Figure(
            "3",
            f"observe {len(WATCHED)} irqs per step, {c.ncpus} CPUs / {NIRQS} irqs",
            f"{c.seconds * 1e3:.3f} ms CPU ({c.seconds / smallest:.2f}x)",
            f"<= {FLAT_LIMIT}x of {SIZES[0]} CPUs",
            c.seconds <= FLAT_LIMIT * smallest,
        )
        for c in costs
    ]
    parse = full_parse_seconds(SIZES[-1], repeat)
    figures.append(
        Figure(
            "3",
            f"full /proc/interrupts parse, {SIZES[-1]} CPUs x {NIRQS} irqs, "
            "every count parsed into a uint64 matrix (Python ints made when a row is read)",
            f"{parse * 1e3:.1f} ms CPU",
            f"<= {PARSE_LIMIT_S * 1e3:.0f} ms",
            parse <= PARSE_LIMIT_S,
        )
    )
    return figures
