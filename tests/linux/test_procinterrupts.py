import re

import pytest

from hil.linux.procinterrupts import (
    InterruptTable,
    IrqCounts,
    ProcInterrupts,
    VfioAction,
    irq_rows,
    parse_vfio_action,
    summary_totals,
)
from hil.linux.synthetic import synthetic_count, synthetic_proc_interrupts


def test_6_12_per_device_chip_rows(fixture_text):
    table = ProcInterrupts.parse(fixture_text("proc-interrupts_6.12_e1000e-msix_IR-on.txt"))
    assert table.cpus == (0, 1, 2, 3)
    assert sorted(table.irqs) == [41, 42, 43, 44]
    row = table.row(43)
    assert row is not None
    assert row.chip == "IR-PCI-MSIX-0000:00:0a.0"
    assert (row.hwirq, row.trigger) == (2, "edge")
    assert row.actions == ("vfio-msix[2](0000:00:0a.0)",)
    assert row.counts == {0: 0, 1: 0, 2: 0, 3: 0}
    assert row.chip_device == "0000:00:0a.0"
    assert row.vfio == VfioAction("msix", 2, "0000:00:0a.0")
    assert table.is_remapped and table.warnings == ()


def test_6_12_without_ir_is_not_remapped(fixture_text):
    table = ProcInterrupts.parse(fixture_text("proc-interrupts_6.12_e1000e-msix_IR-off.txt"))
    assert table.row(41).chip == "PCI-MSIX-0000:00:0a.0"
    assert not table.is_remapped


@pytest.mark.parametrize(
    ("name", "chip", "remapped"),
    [
        ("proc-interrupts_6.1_e1000e-msix_IR-on.txt", "IR-PCI-MSI", True),
        ("proc-interrupts_6.1_e1000e-msix_IR-off.txt", "PCI-MSI", False),
    ],
)
def test_6_1_global_msi_chip_rows(fixture_text, name, chip, remapped):
    table = ProcInterrupts.parse(fixture_text(name))
    row = table.row(42)
    assert row is not None
    assert (row.chip, row.hwirq, row.trigger) == (chip, 163841, "edge")
    assert row.chip_device is None  # pre-6.2 chips do not name the device
    assert row.vfio == VfioAction("msix", 1, "0000:00:0a.0")
    assert table.is_remapped is remapped


def test_6_1_multi_msi_rows(fixture_text):
    table = ProcInterrupts.parse(fixture_text("proc-interrupts_6.1_xhci-multimsi_IR-on.txt"))
    assert [table.irqs[i].hwirq for i in (41, 42, 43, 44)] == [180224, 180225, 180226, 180227]
    assert [r.vfio.entry for r in table.by_action(r"^vfio-msi\[")] == [0, 1, 2, 3]


def test_delta_shows_where_each_igb_vector_was_delivered(fixture_text):
    before = ProcInterrupts.parse(fixture_text("proc-interrupts_6.12_igb-msix_IR-off.txt"))
    after = ProcInterrupts.parse(
        fixture_text("proc-interrupts_6.12_igb-msix_IR-off_after-triggers.txt")
    )
    delta = after.delta(before)
    # The capture's spreading: successive vectors went to CPUs 3,0,1,2,3,0,1,2,3.
    landed = [next(cpu for cpu, n in delta[irq].items() if n) for irq in range(41, 50)]
    assert landed == [3, 0, 1, 2, 3, 0, 1, 2, 3]
    assert all(sum(d.values()) == 1 for d in delta.values())


def test_synthetic_edge_cases(fixture_text):
    table = ProcInterrupts.parse(fixture_text("proc-interrupts_synthetic_cpu2-offline.txt"))
    assert table.cpus == (0, 1, 3)
    timer = table.row(0)
    assert timer is not None
    assert (timer.chip, timer.hwirq, timer.trigger, timer.actions) == (
        "IO-APIC",
        2,
        "edge",
        ("timer",),
    )
    assert timer.counts == {0: 44, 1: 0, 3: 0}
    no_action = table.row(3)
    assert no_action is not None and no_action.actions == () and no_action.hwirq == 3
    assert table.irqs[9].trigger == "fasteoi"
    assert table.irqs[24].actions == ("PCIe PME", "pciehp")
    assert table.irqs[41].counts[3] == 4294967295
    assert table.irqs[41].chip_device == "0000:00:0a.0"  # vIR- per-device chip (6.2-6.9)
    assert table.irqs[42].vfio == VfioAction("msi", 0, "0000:00:0b.0")
    assert table.irqs[43].vfio == VfioAction("intx", None, "0000:00:0c.0")
    assert table.is_remapped
    # the cut-short row and the garbage line are skipped, each with a warning
    assert 44 not in table.irqs
    assert len(table.warnings) == 2
    assert "line 11" in table.warnings[0] and "line 12" in table.warnings[1]


def test_summary_rows(fixture_text):
    table = ProcInterrupts.parse(fixture_text("proc-interrupts_synthetic_cpu2-offline.txt"))
    assert set(table.summaries) == {
        "NMI",
        "LOC",
        "SPU",
        "PMI",
        "RES",
        "TLB",
        "MCP",
        "ERR",
        "MIS",
        "PIN",
        "NPI",
        "PIW",
    }
    spu = table.summary("SPU")
    assert spu is not None
    assert spu.counts == {0: 0, 1: 2, 3: 0} and spu.total == 2
    assert spu.description == "Spurious interrupts"
    err = table.summary("ERR")
    assert err is not None and err.counts == {} and err.total == 3
    assert table.summary("LOC").total == 6000


def test_delta_after_cpu_comes_online_and_irq_appears():
    before = ProcInterrupts.parse(
        "           CPU0       CPU1\n"
        " 41:          5          1  PCI-MSIX-0000:00:0a.0   0-edge      x\n"
        "SPU:          1          0   Spurious interrupts\n"
        "ERR:          0\n"
    )
    after = ProcInterrupts.parse(
        "           CPU0       CPU1       CPU2\n"
        " 41:          7          1          4  PCI-MSIX-0000:00:0a.0   0-edge      x\n"
        " 42:          0          3          0  PCI-MSIX-0000:00:0a.0   1-edge      y\n"
        "SPU:          1          2          0   Spurious interrupts\n"
        "ERR:          4\n"
    )
    assert after.delta(before) == {41: {0: 2, 1: 0, 2: 4}, 42: {0: 0, 1: 3, 2: 0}}
    assert after.summary_delta(before, "SPU") == 2
    assert after.summary_delta(before, "ERR") == 4
    assert after.irqs[41].count(2) == 4 and before.irqs[41].count(2) == 0


def test_by_action_accepts_compiled_patterns(fixture_text):
    table = ProcInterrupts.parse(fixture_text("proc-interrupts_synthetic_cpu2-offline.txt"))
    assert [r.irq for r in table.by_action("pciehp")] == [24]
    assert [r.irq for r in table.by_action(re.compile(r"\(0000:00:0b\.0\)$"))] == [42]


@pytest.mark.parametrize("text", ["", "no header here\n 1: 2 3\n", "\n\n"])
def test_missing_header_gives_empty_table_with_warning(text):
    table = ProcInterrupts.parse(text)
    assert table == InterruptTable(cpus=(), irqs={}, summaries={})
    assert len(table.warnings) == 1


def test_selective_parse_keeps_only_wanted_irqs_and_all_summaries(fixture_text):
    text = fixture_text("proc-interrupts_synthetic_cpu2-offline.txt")
    table = ProcInterrupts.parse(text, irqs=[24, 41, 77])
    assert sorted(table.irqs) == [24, 41]
    assert table.summary("SPU") is not None and table.summary("ERR") is not None
    assert table.irqs[24] == ProcInterrupts.parse(text).irqs[24]


@pytest.mark.parametrize(
    ("name", "parsed"),
    [
        ("vfio-msix[3](0000:00:0a.0)", VfioAction("msix", 3, "0000:00:0a.0")),
        ("vfio-msi[0](0000:3b:00.1)", VfioAction("msi", 0, "0000:3b:00.1")),
        ("vfio-intx(0000:00:0c.0)", VfioAction("intx", None, "0000:00:0c.0")),
        ("vfio-msix[3](0000:00:0A.0)", None),
        ("vfio-msix[](0000:00:0a.0)", None),
        ("e1000e-rx-0", None),
        ("timer", None),
    ],
)
def test_parse_vfio_action(name, parsed):
    assert parse_vfio_action(name) == parsed


def test_synthetic_512_cpus_4000_irqs_parse_exactly():
    text = synthetic_proc_interrupts(512, 4000)
    table = ProcInterrupts.parse(text)
    assert table.cpus == tuple(range(512)) and len(table.irqs) == 4000
    assert table.warnings == ()
    for irq in (0, 1, 777, 3999):
        row = table.irqs[irq]
        assert all(type(v) is int for v in row.values)
        assert row.values == tuple(synthetic_count(irq, c) for c in range(512))
    assert table.summary("ERR").total == 0


def test_selective_parse_keeps_only_the_watched_irqs():
    # Its speed is measured by benchmarks/ (figure 3), not asserted here.
    text = synthetic_proc_interrupts(512, 4000)
    table = ProcInterrupts.parse(text, irqs=[10, 2000])
    assert set(table.irqs) == {10, 2000}
    assert table.irqs[2000].values == tuple(synthetic_count(2000, c) for c in range(512))


def test_summary_totals_agree_with_the_full_parse(fixture_text):
    texts = [
        fixture_text("proc-interrupts_synthetic_cpu2-offline.txt"),
        synthetic_proc_interrupts(8, 300),
    ]
    for text in texts:
        table = ProcInterrupts.parse(text)
        names = ("SPU", "ERR", "MIS", "LOC", "NOPE")
        expected = {n: row.total for n in names if (row := table.summary(n)) is not None}
        assert set(expected) == {"SPU", "ERR", "MIS", "LOC"}
        assert summary_totals(text, names) == expected


def test_summary_totals_of_a_text_without_cpu_header_are_none_as_in_the_full_parse():
    text = "garbage\nSPU:          0          2   Spurious interrupts\nERR:          3\n"
    assert ProcInterrupts.parse(text).summaries == {}
    assert summary_totals(text, ("SPU", "ERR")) == {}


IRQ_ROW_FIXTURES = (
    "proc-interrupts_6.12_e1000e-msix_IR-on.txt",
    "proc-interrupts_6.1_e1000e-msix_IR-off.txt",
    "proc-interrupts_6.1_xhci-multimsi_IR-on.txt",
    "proc-interrupts_synthetic_cpu2-offline.txt",
)


@pytest.mark.parametrize("name", IRQ_ROW_FIXTURES)
def test_irq_rows_agree_with_the_full_parse(fixture_text, name):
    text = fixture_text(name)
    table = ProcInterrupts.parse(text)
    wanted = [*sorted(table.irqs)[::2], 9999]
    cpus, rows = irq_rows(text, wanted)
    assert cpus == table.cpus
    assert rows == {irq: light(table.irqs[irq]) for irq in wanted if irq in table.irqs}


def light(row):
    """What `irq_rows` reads of a row of the full parse."""
    return IrqCounts(row.counts, row.actions if row.trigger is not None else None)


def test_irq_rows_of_a_synthetic_big_machine_agree_with_the_full_parse():
    text = synthetic_proc_interrupts(8, 300)
    table = ProcInterrupts.parse(text)
    cpus, rows = irq_rows(text, [1, 10, 100, 101, 299])
    assert cpus == table.cpus
    assert rows == {i: light(table.irqs[i]) for i in (1, 10, 100, 101, 299)}


def test_irq_rows_mark_an_unreadable_row_and_find_no_prefix_of_a_number():
    text = "           CPU0       CPU1\n"
    text += " 40:          1          x   PCI-MSIX-0000:00:03.0 0-edge  a\n"
    text += " 141:          1          2   PCI-MSIX-0000:00:03.0 1-edge  b\n"
    text += " 42:          1          2   ODD-CHIP with spaces  c\n"
    cpus, rows = irq_rows(text, [40, 41, 14, 42])
    assert cpus == (0, 1) and rows == {40: None, 42: IrqCounts({0: 1, 1: 2}, None)}


def test_irq_rows_of_a_text_without_cpu_header_are_none_as_in_the_full_parse():
    text = "garbage\n 40:          1          2   PCI-MSIX-0000:00:03.0 0-edge  a\n"
    assert ProcInterrupts.parse(text).irqs == {}
    assert irq_rows(text, [40]) == (None, {})
