"""The shared virtual-lab transcripts as scenarios plus what the real kernel showed.

Each case is one transcript in /work/shared/reference/transcripts/: the steps
its script took, the machine's calibration, and an observed `StepOutcome`
per step holding only what the transcript shows (everything else None, so it
is not judged).

Calibration inputs are derived from the transcripts; outputs never are:

* vectors in use per CPU: the first requested vectors went to CPUs 3,0,1,2
  with vectors v,v,v+1,v+1 (v = 0x26 on 6.1, 0x25 on 6.12).  So CPUs 3 and 0
  had v as lowest free vector, CPUs 1 and 2 had v+1, and CPU 3 had one free
  vector more than the others (picked first, then the tie 0,1,2 in order).
  CPU0 therefore holds one used vector above that range; 0x30 (ISA IRQ0's
  vector) stands for it.  Below 6.6 vector 0x20 is the cleanup IPI's system
  vector, so the used range starts at 0x21 there.
* irq_next = 41: the first vfio irq number seen.
* irte_next = 35: the first IRTE handle seen (0xfee00478 -> 35).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from hil.model.calibration import Calibration
from hil.model.device import DeviceCaps
from hil.model.scenario import MachineSpec, Scenario
from hil.model.steps import Affinity, Disable, Enable, Fire, Step
from hil.model.vocabulary import (
    ApicMode,
    Delivery,
    IrqIndex,
    IrType,
    MsiMessage,
    StepOutcome,
    VectorView,
)

KERNEL_61 = "6.1.0-56-amd64"
KERNEL_612 = "6.12.95+deb12-amd64"
BDF_A = "0000:00:0a.0"
BDF_B = "0000:00:0b.0"


@dataclass(frozen=True)
class TranscriptCase:
    name: str
    transcript: str
    scenario: Scenario
    observed: tuple[StepOutcome, ...]

    @property
    def calibration(self) -> Calibration:
        return self.scenario.machine.to_calibration()


def _vectors(kernel: str) -> dict[int, tuple[int, ...]]:
    first = 0x21 if kernel == KERNEL_61 else 0x20
    v = 0x26 if kernel == KERNEL_61 else 0x25
    return {
        0: (*range(first, v), 0x30),
        1: tuple(range(first, v + 1)),
        2: tuple(range(first, v + 1)),
        3: tuple(range(first, v)),
    }


def _machine(kernel: str, ir: bool) -> MachineSpec:
    # 6.1 on these 4-CPU xAPIC guests routed in logical flat mode, 6.12 in physical.
    mode = ApicMode.LOGICAL_FLAT if kernel == KERNEL_61 else ApicMode.PHYSICAL_FLAT
    return MachineSpec(
        kernel=kernel,
        ir=IrType.INTEL if ir else IrType.NONE,
        apic_mode=mode,
        cpus=4,
        vectors=_vectors(kernel),
        irte_next=35 if ir else None,
        irq_next=41,
    )


def _msg(text: str) -> MsiMessage:
    """A transcript table entry 'hi:lo/data/mask' -> MsiMessage."""
    addr, data, _mask = text.split("/")
    hi, lo = addr.split(":")
    return MsiMessage(int(hi, 16) << 32 | int(lo, 16), int(data, 16))


def _masked(text: str) -> bool:
    return text.split("/")[2] == "1"


def _outcome(step: int, action: str = "", **fields: object) -> StepOutcome:
    return StepOutcome(step=step, action=action, **fields)  # type: ignore[arg-type]


def _msix_views(device: str, table: list[str], irqs: dict[int, int]) -> tuple[VectorView, ...]:
    views = []
    for entry, text in enumerate(table):
        requested = entry in irqs
        views.append(
            VectorView(
                device=device,
                index=IrqIndex.MSIX,
                entry=entry,
                allocated=True,
                requested=requested,
                irq=irqs.get(entry),
                message=_msg(text),
                masked=_masked(text),
            )
        )
    return tuple(views)


def _fired(step: int, device: str, entry: int, cpu: int) -> StepOutcome:
    return _outcome(step, deliveries=(Delivery(device, entry, ((cpu, 1),), 1),))


def _entry_view(
    device: str, index: IrqIndex, entry: int, effective: int | None, message: str | None
) -> VectorView:
    return VectorView(
        device=device,
        index=index,
        entry=entry,
        allocated=True,
        requested=True,
        effective=None if effective is None else (effective,),
        message=None if message is None else _msg(message),
    )


# -- e1000e on 6.1 (5 MSI-X entries, entry 4 unrequested) ------------------------------

_E1000E_61_TABLE = {
    False: [
        "00000000:fee08004/00000026/0",
        "00000000:fee01004/00000026/0",
        "00000000:fee02004/00000027/0",
        "00000000:fee04004/00000027/0",
        "00000000:fee01004/000000ef/1",
    ],
    True: [
        "00000000:fee00478/00000000/0",
        "00000000:fee00498/00000000/0",
        "00000000:fee004b8/00000000/0",
        "00000000:fee004d8/00000000/0",
        "00000000:fee004f8/00000000/1",
    ],
}


def _e1000e_61(ir: bool) -> TranscriptCase:
    e = "e1000e"
    steps: list[Step] = [Enable(e, IrqIndex.MSIX, 5, unrequested=(4,))]
    steps += [Fire(e, k) for k in range(4)]
    # The script's affinity target is not printed; the IR run's effective CPU
    # right after the write (2) shows it.
    steps.append(Affinity(e, 0, (2,)))
    table = _E1000E_61_TABLE[ir]
    observed = [_outcome(0, vectors=_msix_views(e, table, {k: 41 + k for k in range(4)}))]
    observed += [_fired(1 + k, e, k, cpu) for k, cpu in enumerate((3, 0, 1, 2))]
    effective = 2 if ir else 3
    observed.append(_outcome(5, vectors=(_entry_view(e, IrqIndex.MSIX, 0, effective, table[0]),)))
    name = f"linux-6.1_e1000e-msix_IR-{'on' if ir else 'off'}"
    scenario = Scenario(
        name,
        _machine(KERNEL_61, ir),
        (DeviceCaps(e, BDF_A, msix_size=5),),
        tuple(steps),
    )
    return TranscriptCase(name, f"{name}.txt", scenario, tuple(observed))


# -- e1000e on 6.12 with irq_vectors trace --------------------------------------------

_E1000E_612_TABLE = {
    False: [
        "00000000:fee03000/00000025/0",
        "00000000:fee00000/00000025/0",
        "00000000:fee01000/00000026/0",
        "00000000:fee02000/00000026/0",
        "00000000:fee00000/000000ef/1",
    ],
    True: _E1000E_61_TABLE[True],
}


def _e1000e_612(ir: bool) -> TranscriptCase:
    e = "e1000e"
    table = _E1000E_612_TABLE[ir]
    views = _msix_views(e, table, {k: 41 + k for k in range(4)})
    # vector_update lines: irq 41..44 -> (vector, cpu) = (37,3) (37,0) (38,1) (38,2).
    placed = {0: (37, 3), 1: (37, 0), 2: (38, 1), 3: (38, 2)}
    views = tuple(
        replace(v, vector=placed[v.entry][0], cpu=placed[v.entry][1]) if v.entry in placed else v
        for v in views
    )
    name = f"linux-6.12_e1000e-msix-trace_IR-{'on' if ir else 'off'}"
    scenario = Scenario(
        name,
        _machine(KERNEL_612, ir),
        (DeviceCaps(e, BDF_A, msix_size=5),),
        (Enable(e, IrqIndex.MSIX, 5, unrequested=(4,)),),
    )
    return TranscriptCase(name, f"{name}.txt", scenario, (_outcome(0, vectors=views),))


# -- igb on 6.12 (10 MSI-X entries, entry 9 unrequested) ------------------------------


def _igb_table(ir: bool) -> list[str]:
    if ir:
        return [f"00000000:{0xFEE00478 + 0x20 * k:08x}/00000000/{int(k == 9)}" for k in range(10)]
    return [
        "00000000:fee03000/00000025/0",
        "00000000:fee00000/00000025/0",
        "00000000:fee01000/00000026/0",
        "00000000:fee02000/00000026/0",
        "00000000:fee03000/00000026/0",
        "00000000:fee00000/00000026/0",
        "00000000:fee01000/00000027/0",
        "00000000:fee02000/00000027/0",
        "00000000:fee03000/00000027/0",
        "00000000:fee00000/000000ef/1",
    ]


def _igb_612(ir: bool) -> TranscriptCase:
    g = "igb"
    table = _igb_table(ir)
    steps: list[Step] = [Enable(g, IrqIndex.MSIX, 10, unrequested=(9,))]
    steps += [Fire(g, k) for k in range(9)]
    observed = [_outcome(0, vectors=_msix_views(g, table, {k: 41 + k for k in range(9)}))]
    observed += [_fired(1 + k, g, k, (3, 0, 1, 2)[k % 4]) for k in range(9)]
    # "aff N ok eff E tbl0 ..." then "ev 1" then "after trigger eff E' tbl0 ...".
    if ir:
        rounds = [
            (1, 1, table[0], 1, 1, table[0]),
            (2, 2, table[0], 2, 2, table[0]),
            (3, 3, table[0], 3, 3, table[0]),
        ]
    else:
        # Delivering CPUs of the three post-write fires: the effective CPU before
        # fires 2 and 3 was 1, and /proc's final line (CPU1 2, CPU3 2, one of the
        # CPU3 counts from the first round of triggers) leaves CPU3 for fire 1.
        rounds = [
            (1, 3, table[0], 3, 1, "00000000:fee01000/00000028/0"),
            (2, 1, "00000000:fee01000/00000028/0", 1, 1, "00000000:fee01000/00000028/0"),
            (3, 1, "00000000:fee01000/00000028/0", 1, 3, "00000000:fee03000/00000025/0"),
        ]
    for target, eff, tbl, fired_on, eff_after, tbl_after in rounds:
        n = len(steps)
        steps += [Affinity(g, 0, (target,)), Fire(g, 0)]
        observed.append(_outcome(n, vectors=(_entry_view(g, IrqIndex.MSIX, 0, eff, tbl),)))
        observed.append(
            _outcome(
                n + 1,
                vectors=(_entry_view(g, IrqIndex.MSIX, 0, eff_after, tbl_after),),
                deliveries=(Delivery(g, 0, ((fired_on, 1),), 1),),
            )
        )
    name = f"linux-6.12_igb-msix_IR-{'on' if ir else 'off'}"
    scenario = Scenario(
        name, _machine(KERNEL_612, ir), (DeviceCaps(g, BDF_A, msix_size=10),), tuple(steps)
    )
    return TranscriptCase(name, f"{name}.txt", scenario, tuple(observed))


# -- edu (1 non-maskable MSI) then xhci (16 MSI) on 6.1 --------------------------------


def _edu_xhci_61(ir: bool) -> TranscriptCase:
    edu, xhci = "edu", "xhci"
    steps: list[Step] = [Enable(edu, IrqIndex.MSI, 1)]
    observed = [
        _outcome(
            0,
            vectors=(VectorView(edu, IrqIndex.MSI, 0, allocated=True, requested=True, irq=41),),
        )
    ]
    for _ in range(3):
        observed.append(_fired(len(steps), edu, 0, 3))
        steps.append(Fire(edu, 0))
    # Per target: write, print eff and the MSI capability's address/data, fire.
    if ir:
        rounds = [
            (1, 1, "00000000:fee00478/0000/0", 1),
            (2, 2, "00000000:fee00478/0000/0", 2),
            (3, 3, "00000000:fee00478/0000/0", 3),
        ]
    else:
        rounds = [
            (1, 3, "00000000:fee08004/0026/0", 3),
            (2, 1, "00000000:fee02004/0027/0", 1),
            (3, 1, "00000000:fee02004/0027/0", 1),
        ]
    for target, eff, msg, fired_on in rounds:
        observed.append(
            _outcome(len(steps), vectors=(_entry_view(edu, IrqIndex.MSI, 0, eff, msg),))
        )
        steps.append(Affinity(edu, 0, (target,)))
        observed.append(_fired(len(steps), edu, 0, fired_on))
        steps.append(Fire(edu, 0))
    # The edu program exits (vfio disables MSI); two xhci programs follow.
    observed.append(_outcome(len(steps)))
    steps.append(Disable(edu))
    if ir:
        multi = tuple(
            VectorView(xhci, IrqIndex.MSI, k, allocated=True, requested=True, irq=41 + k)
            for k in range(4)
        )
        observed.append(_outcome(len(steps), vectors=multi))
    else:
        observed.append(_outcome(len(steps), granted=1))
    steps.append(Enable(xhci, IrqIndex.MSI, 4))
    if ir:
        observed.append(_outcome(len(steps)))
        steps.append(Disable(xhci))
    observed.append(
        _outcome(
            len(steps),
            vectors=(VectorView(xhci, IrqIndex.MSI, 0, allocated=True, requested=True, irq=41),),
        )
    )
    steps.append(Enable(xhci, IrqIndex.MSI, 1))
    name = f"linux-6.1_edu-msi_xhci-multimsi_IR-{'on' if ir else 'off'}"
    scenario = Scenario(
        name,
        _machine(KERNEL_61, ir),
        (
            DeviceCaps(edu, BDF_A, msi_max=1, msi_maskable=False),
            DeviceCaps(xhci, BDF_B, msi_max=16, msi_maskable=False),
        ),
        tuple(steps),
    )
    return TranscriptCase(name, f"{name}.txt", scenario, tuple(observed))


def all_cases() -> list[TranscriptCase]:
    cases = []
    for ir in (False, True):
        cases += [_e1000e_61(ir), _e1000e_612(ir), _igb_612(ir), _edu_xhci_61(ir)]
    return cases


def placeholder_calibration(kernel: str = KERNEL_612, ir: bool = False) -> Calibration:
    """The transcripts' machine, for unit tests that need a realistic start."""
    return _machine(kernel, ir).to_calibration()
