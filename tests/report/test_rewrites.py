"""Who rewrote what: the per-step table of kernel writes, and why a run has none."""

from __future__ import annotations

from hil.model.calibration import Calibration, CpuInfo
from hil.model.prediction import Prediction
from hil.model.steps import Affinity, Disable, Enable, Step
from hil.model.verdict import Bindings, judge
from hil.model.vocabulary import (
    ApicMode,
    IrqIndex,
    IrteWrite,
    IrType,
    KernelWrites,
    MessageWrite,
    MsiMessage,
    StepOutcome,
    VectorView,
)
from hil.report.rewrites import rewrite_tables, rewrites_missing
from hil.scenario.runner import RunResult, StepRecord

IR_MESSAGE = MsiMessage(0xFEE000B8, 0)
"""Remappable: handle 5, SHV set, subhandle 0."""
VIEW = VectorView("nic", IrqIndex.MSIX, 0, True, True, irq=42, message=IR_MESSAGE)


def _run(
    apic_mode: ApicMode, observed: list[tuple[Step, tuple[VectorView, ...], KernelWrites | None]]
) -> RunResult:
    calibration = Calibration(
        kernel="6.12.38+deb12-amd64",
        ir=IrType.INTEL,
        apic_mode=apic_mode,
        cpus=tuple(CpuInfo(cpu=c, apicid=c) for c in range(4)),
    )
    result = RunResult("moves", "vm-612-ir", calibration, {})
    for number, (step, views, writes) in enumerate(observed, 1):
        prediction = Prediction(StepOutcome(number, type(step).__name__))
        seen = StepOutcome(number, type(step).__name__, vectors=views, kernel_writes=writes)
        result.records.append(
            StepRecord(number, step, prediction, seen, judge(prediction, seen, Bindings()))
        )
    return result


def _irte(ts: float, low: int) -> IrteWrite:
    return IrteWrite(ts, 2, "python3", 812, 5, 0, low)


def test_a_table_per_step_with_the_vector_and_old_and_new_values() -> None:
    enable = KernelWrites(
        (
            _irte(1.0, 0x0000_0100_0021_0001),
            MessageWrite(1.1, 2, "python3", 812, 42, IR_MESSAGE, MsiMessage(0, 0)),
        )
    )
    move = KernelWrites((_irte(2.0, 0x0000_0300_0022_0001),), lost_events=3)
    disable = KernelWrites(
        (
            MessageWrite(3.0, 0, "python3", 812, 42, MsiMessage(0, 0), IR_MESSAGE),
            _irte(3.1, 0),
        )
    )
    result = _run(
        ApicMode.PHYSICAL_FLAT,
        [
            (Enable("nic", IrqIndex.MSIX, 1), (VIEW,), enable),
            (Affinity("nic", 0, (3,)), (VIEW,), move),
            (Affinity("nic", 0, (3,)), (VIEW,), KernelWrites()),
            (Disable("nic"), (), disable),
        ],
    )
    tables = rewrite_tables(result)
    assert sorted(tables) == [1, 2, 4]
    assert [line.split(maxsplit=1)[1] for line in tables[1].splitlines()[1:]] == [
        "python3-812/cpu2            42  nic.msix[0]          IRTE 5     ? -> vector 0x21, dest 1",
        "python3-812/cpu2            42  nic.msix[0]          message    (none) -> "
        "0xfee000b8/0x0000 (IRTE 5)",
    ]
    assert tables[2].splitlines()[1].endswith("vector 0x21, dest 1 -> vector 0x22, dest 3")
    assert tables[2].splitlines()[2] == "(the trace dropped 3 events: writes may be missing)"
    # The vector is gone after `disable`: the table still says whose writes they were.
    disabled = tables[4].splitlines()
    assert "nic.msix[0]" in disabled[1] and disabled[1].endswith("(IRTE 5) -> (none)")
    assert disabled[2].endswith("vector 0x22, dest 3 -> (not present)")
    assert rewrites_missing(result) == ()


def test_x2apic_destinations_are_the_whole_field() -> None:
    write = KernelWrites((_irte(1.0, 0x0000_0100_0021_0001),))
    result = _run(ApicMode.X2APIC_PHYSICAL, [(Enable("nic", IrqIndex.MSIX, 1), (VIEW,), write)])
    assert rewrite_tables(result)[1].endswith("? -> vector 0x21, dest 256")


def test_compat_messages_show_vector_and_destination() -> None:
    view = VectorView("nic", IrqIndex.MSIX, 0, True, True, irq=42)
    write = KernelWrites(
        (MessageWrite(1.0, 0, "t", 1, 42, MsiMessage(0xFEE02000, 0x22), MsiMessage(0, 0)),)
    )
    result = _run(ApicMode.PHYSICAL_FLAT, [(Enable("nic", IrqIndex.MSIX, 1), (view,), write)])
    assert rewrite_tables(result)[1].endswith("(none) -> 0xfee02000/0x0022 (vector 0x22, dest 2)")


def test_reasons_for_missing_writes_once_each_and_none_for_an_old_bundle() -> None:
    missing = KernelWrites(missing=("irte_write not recorded: symbol modify_irte not probeable",))
    step = Enable("nic", IrqIndex.MSIX, 1)
    result = _run(ApicMode.PHYSICAL_FLAT, [(step, (), missing), (step, (), missing)])
    assert rewrites_missing(result) == (
        "irte_write not recorded: symbol modify_irte not probeable",
    )
    assert rewrite_tables(result) == {}
    old = _run(ApicMode.PHYSICAL_FLAT, [(step, (), None)])
    assert rewrites_missing(old) == () and rewrite_tables(old) == {}
