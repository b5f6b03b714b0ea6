"""Benchmark 4: the model's cost per scenario step on a 1024-CPU machine.

The model runs once per step next to every machine, and the nightly runs
scenarios of thousands of steps, so its cost must stay far below a
machine's.  The scenario is a fixed pseudo-random mix of every step kind a
suite uses (enable, fire, affinity, release, request, CPU offline and
online, disable), so the figure does not flatter one fast path.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass

from benchmarks.figures import Figure
from hil.model.calibration import Calibration, CpuInfo
from hil.model.device import DeviceCaps
from hil.model.model import InterruptModel
from hil.model.steps import (
    Affinity,
    CpuOffline,
    CpuOnline,
    Disable,
    Enable,
    Fire,
    Release,
    Request,
    Step,
)
from hil.model.vocabulary import ApicMode, IrqIndex, IrType

KERNEL = "6.12.95+deb12-amd64"
MSIX_DEVICES = tuple(
    DeviceCaps(f"nic{n}", f"0000:{n + 1:02x}:00.0", msix_size=64) for n in range(6)
)
MSI_DEVICES = (
    DeviceCaps("msi0", "0000:20:00.0", msi_max=8, msi_maskable=True),
    DeviceCaps("edu0", "0000:21:00.0", msi_max=1),
)
DEVICES = MSIX_DEVICES + MSI_DEVICES
MSIX_COUNTS = (1, 4, 5, 8, 10)
"""Vector counts the lab's scenarios enable (e1000e 5, ivshmem 8, igb 10)."""


def big_calibration(ncpus: int, ir: IrType) -> Calibration:
    """A machine of `ncpus` CPUs with x2APIC (APIC IDs above 255) and some vectors in use."""
    return Calibration(
        kernel=KERNEL,
        ir=ir,
        apic_mode=ApicMode.X2APIC_PHYSICAL,
        cpus=tuple(CpuInfo(c, c * 2, node=c * 4 // ncpus) for c in range(ncpus)),
        vectors={c: (0x21, 0x22) if c % 8 == 0 else () for c in range(ncpus)},
        irq_next=100,
        irte_next=64 if ir is not IrType.NONE else None,
    )


def _device_cycle(rng: random.Random, caps: DeviceCaps, ncpus: int) -> Iterator[Step]:
    """One device's life: enable, traffic, moves, handler churn, hotplug, disable."""
    name = caps.name
    if caps.msix_size:
        count = rng.choice(MSIX_COUNTS)
        yield Enable(name, IrqIndex.MSIX, count, unrequested=(count - 1,))
    else:
        count = caps.msi_max
        yield Enable(name, IrqIndex.MSI, count)
    for _ in range(4):
        entry = rng.randrange(count)
        yield Fire(name, entry)
        yield Affinity(name, entry, (rng.randrange(ncpus),))
        yield Fire(name, entry)
        yield Affinity(name, entry, tuple(sorted(rng.sample(range(ncpus), 4))))
        yield Release(name, entry)
        yield Fire(name, entry)
        yield Request(name, entry)
        yield Fire(name, entry)
    cpu = rng.randrange(1, ncpus)
    yield CpuOffline(cpu)
    yield Fire(name, rng.randrange(count))
    yield CpuOnline(cpu)
    yield Disable(name)


def mixed_steps(ncpus: int, nsteps: int, seed: int = 1) -> list[Step]:
    """`nsteps` steps: device cycles over every device in turn, fixed by `seed`."""
    rng = random.Random(seed)
    steps: list[Step] = []
    while len(steps) < nsteps:
        for caps in DEVICES:
            steps.extend(_device_cycle(rng, caps, ncpus))
    return steps[:nsteps]


@dataclass(frozen=True)
class ModelRun:
    ir: IrType
    ncpus: int
    steps: int
    seconds: float


def time_model(ncpus: int, nsteps: int, ir: IrType) -> ModelRun:
    """CPU seconds to predict `nsteps` mixed steps; building the steps is not counted."""
    steps = mixed_steps(ncpus, nsteps)
    model = InterruptModel(big_calibration(ncpus, ir), DEVICES)
    start = time.process_time()
    for step in steps:
        model.apply(step)
    return ModelRun(ir=ir, ncpus=ncpus, steps=nsteps, seconds=time.process_time() - start)


LIMIT_S = 1.0
NCPUS = 1024


def run(nsteps: int = 100_000) -> list[Figure]:
    """Both IR flavours: remapping changes which rules every allocation runs."""
    figures = []
    for ir in (IrType.NONE, IrType.INTEL):
        result = time_model(NCPUS, nsteps, ir)
        per_1e5 = result.seconds * 100_000 / nsteps
        figures.append(
            Figure(
                "4",
                f"model, {nsteps:,} mixed steps, {NCPUS} CPUs, IR {ir.value}",
                f"{result.seconds:.2f} s CPU ({per_1e5 / 100_000 * 1e6:.1f} µs/step)",
                f"<= {LIMIT_S:.0f} s per 100,000",
                per_1e5 <= LIMIT_S,
            )
        )
    return figures
