import pytest

from hil.linux.dmesg import (
    AllowRule,
    AnomalyKind,
    DmesgError,
    DmesgWindow,
    classify,
    dmesg_text,
    parse_kmsg,
    read_kmsg,
    unexpected,
)

KMSG = (
    "6,1,0,-;Linux version 6.12.95+deb12-amd64\n"
    " SUBSYSTEM=cpu\n"
    " DEVICE=+cpu:0\n"
    "6,2,5140,-;APIC: Switched APIC routing to: physical flat\n"
    "6,3,91000,c;DMAR-IR: Enabled IRQ remapping in xapic mode\n"
)


def test_parse_kmsg_records_and_skips_dictionary_lines():
    records = parse_kmsg(KMSG + "not a record\n")
    assert [(r.seq, r.timestamp_us, r.level) for r in records] == [
        (1, 0, 6),
        (2, 5140, 6),
        (3, 91000, 6),
    ]
    assert records[1].text == "APIC: Switched APIC routing to: physical flat"


def test_read_kmsg_and_text_from_a_file_root(tmp_path, put):
    put(tmp_path / "dev/kmsg", KMSG)
    assert [r.seq for r in read_kmsg(tmp_path)] == [1, 2, 3]
    assert dmesg_text(tmp_path).splitlines()[2] == "DMAR-IR: Enabled IRQ remapping in xapic mode"


def test_window_returns_only_records_logged_after_mark(tmp_path, put):
    kmsg = put(tmp_path / "dev/kmsg", KMSG)
    with DmesgWindow(tmp_path) as window:
        assert window.since() == []
        with open(kmsg, "a") as f:
            f.write("4,4,9000000,-;vfio-pci 0000:00:0a.0: enabling device\n")
        assert [r.seq for r in window.since()] == [4]
        assert window.since() == []  # each record once


def test_window_needs_mark(tmp_path):
    with pytest.raises(DmesgError, match="before mark"):
        DmesgWindow(tmp_path).since()


LINES = [
    "__common_interrupt: 1.55 No irq handler for vector",
    "do_IRQ: No irq handler for 2.34",
    "Spurious interrupt (vector 0xef) on CPU#0. Acked",
    "DMAR: [INTR-REMAP] Request device [00:0a.0] fault index 0x1a [fault reason 0x22] "
    "Present field in the IRTE entry is clear",
    "irq 41: Affinity broken due to vector space exhaustion.",
    "IRQ44: set affinity failed(-28).",
    "CPU 3 has 201 vectors, 100 available. Cannot disable CPU",
    "e1000e 0000:00:02.0 eth0: NIC Link is Up",
]


def test_classify_recognises_each_anomaly_with_fields():
    found = classify(LINES)
    assert [a.kind for a in found] == [
        AnomalyKind.NO_IRQ_HANDLER,
        AnomalyKind.NO_IRQ_HANDLER,
        AnomalyKind.SPURIOUS,
        AnomalyKind.IR_FAULT,
        AnomalyKind.AFFINITY_BROKEN,
        AnomalyKind.SET_AFFINITY_FAILED,
        AnomalyKind.CPU_DISABLE_REFUSED,
    ]
    assert found[0].fields == {"cpu": 1, "vector": 55}
    assert found[1].fields == {"cpu": 2, "vector": 34}
    assert found[2].fields == {"vector": 0xEF, "cpu": 0}
    assert found[3].fields == {"source": "00:0a.0", "index": 0x1A, "reason": 0x22}
    assert found[4].fields == {"irq": 41}
    assert found[5].fields == {"irq": 44, "error": -28}
    assert found[6].fields == {"cpu": 3, "vectors": 201, "available": 100}
    assert all(a.allowed is None for a in found)


def test_allowlist_marks_benign_lines_with_reason():
    rules = [AllowRule(r"vector 0xef\) on CPU#0", "placeholder vector hit during boot")]
    found = classify(LINES, rules)
    spurious = [a for a in found if a.kind is AnomalyKind.SPURIOUS]
    assert spurious[0].allowed == "placeholder vector hit during boot"
    assert len(unexpected(found)) == len(found) - 1


def test_unknown_variants_of_a_known_message_are_still_caught():
    found = classify(["DMAR: [INTR-REMAP] something new", "Cannot disable CPU 7"])
    assert [a.kind for a in found] == [AnomalyKind.IR_FAULT, AnomalyKind.CPU_DISABLE_REFUSED]
    assert found[0].fields == {}


def test_records_longer_than_one_read_chunk_are_not_cut(tmp_path, put):
    lines = [f"6,{seq},{seq * 10},-;message {seq} " + "x" * 300 for seq in range(1, 101)]
    put(tmp_path / "dev/kmsg", "\n".join(lines) + "\n")
    records = read_kmsg(tmp_path)
    assert [r.seq for r in records] == list(range(1, 101))
    assert all(r.text.endswith("x" * 300) for r in records)
