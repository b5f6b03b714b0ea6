"""Kprobes on the kernel's message writers: definitions, availability, lifecycle, parsing."""

from __future__ import annotations

import pytest

from hil.linux import kprobes
from hil.linux.kprobes import (
    IRTE_WRITE,
    MSI_WRITE,
    KprobeError,
    available_functions,
    create_probe,
    enable_probe,
    group_name,
    kprobes_missing,
    not_probeable,
    parse_writes,
    probe_site,
    remove_probe,
)
from hil.linux.sysfile import append_attr
from hil.model.vocabulary import IrteWrite, MessageWrite, MsiMessage
from tests.linux.fake_tracefs import (
    INTEL_MODIFY_IRTE,
    KALLSYMS,
    FakeKprobeKernel,
    irte_line,
    msi_line,
)

GROUP = "hil_1a2b3c4d5e6f"


@pytest.fixture
def kernel(tmp_path, monkeypatch) -> FakeKprobeKernel:
    fake = FakeKprobeKernel(tmp_path)
    monkeypatch.setattr(kprobes, "append_attr", fake.append)
    return fake


def test_definitions_read_the_x86_64_arguments_of_both_writers():
    assert MSI_WRITE.definition(GROUP) == (
        f"p:{GROUP}/msi_write __pci_write_msi_msg irq=+0(%di):u32 lo=+0(%si):x32 "
        "hi=+4(%si):x32 data=+8(%si):x32 old_lo=+16(%di):x32 old_hi=+20(%di):x32 "
        "old_data=+24(%di):x32"
    )
    assert IRTE_WRITE.definition(GROUP) == (
        f"p:{GROUP}/irte_write modify_irte "
        "index=+8(%di):u16 sub_handle=+10(%di):u16 low=+0(%si):x64"
    )


def test_group_is_the_instance_name_as_an_identifier():
    assert group_name("hil-1a2b3c4d5e6f") == GROUP
    assert group_name("hil-a.b") == "hil_a_b"


def test_functions_list_with_module_suffixes_and_namesakes(kernel):
    functions = available_functions(kernel.tracing)
    assert functions is not None
    assert functions["__pci_write_msi_msg"] == 1 and functions["kvm_set_msi"] == 1
    assert functions["modify_irte"] == 2  # AMD's and Intel's


def test_probeable_only_by_exact_symbol():
    functions = {"__pci_write_msi_msg": 1, "modify_irte.constprop.0": 1}
    assert not_probeable("__pci_write_msi_msg", functions) is None
    assert not_probeable("anything", None) is None  # no list: creating the probe decides
    clone = not_probeable("modify_irte", functions)
    assert clone is not None and "modify_irte.constprop.0" in clone
    gone = not_probeable("intel_ir_reconfigure_irte", functions)
    assert gone == (
        "symbol intel_ir_reconfigure_irte not probeable: "
        "not in available_filter_functions (inlined?)"
    )


def test_kernel_without_kprobe_events(tmp_path, monkeypatch):
    fake = FakeKprobeKernel(tmp_path, with_kprobe_events=False)
    monkeypatch.setattr(kprobes, "append_attr", fake.append)
    reason = kprobes_missing(fake.tracing)
    assert reason is not None and reason.startswith("no kprobe_events in ")
    remove_probe(fake.tracing, GROUP, "msi_write")  # nothing to undo
    assert fake.commands == []


def test_lifecycle_enabled_in_the_instance_only(kernel):
    assert kprobes_missing(kernel.tracing) is None
    mine = kernel.add_instance("hil-1a2b3c4d5e6f")
    kernel.add_instance("hil-other")
    create_probe(kernel.tracing, GROUP, MSI_WRITE)
    enable_probe(mine, GROUP, "msi_write")
    assert kernel.enabled_in(f"{GROUP}/msi_write") == ["hil-1a2b3c4d5e6f"]
    remove_probe(kernel.tracing, GROUP, "msi_write")
    assert kernel.probes == {}
    assert not (mine / "events" / GROUP).exists()
    assert kernel.commands[-1] == f"-:{GROUP}/msi_write\n"


def test_removal_disables_the_probe_everywhere_first(kernel):
    """Enabled in any instance (a crashed session's, or the top level), a probe is EBUSY."""
    left = kernel.add_instance("hil-crashed")
    create_probe(kernel.tracing, GROUP, MSI_WRITE)
    enable_probe(left, GROUP, "msi_write")
    enable_probe(kernel.tracing, GROUP, "msi_write")
    with pytest.raises(OSError, match="busy"):
        kernel.append(kernel.tracing / "kprobe_events", f"-:{GROUP}/msi_write\n")
    remove_probe(kernel.tracing, GROUP, "msi_write")
    assert kernel.probes == {}


def test_removing_a_probe_already_gone_is_no_error(kernel):
    remove_probe(kernel.tracing, GROUP, "msi_write")
    remove_probe(kernel.tracing, GROUP, "msi_write")
    assert kernel.probes == {}


def test_a_shared_name_is_placed_at_the_namesake_beside_its_neighbours(kernel):
    site = probe_site(IRTE_WRITE, kernel.root / "proc/kallsyms")
    assert site == INTEL_MODIFY_IRTE
    create_probe(kernel.tracing, GROUP, IRTE_WRITE, site)
    assert kernel.probes[f"{GROUP}/irte_write"].startswith(
        f"p:{GROUP}/irte_write {INTEL_MODIFY_IRTE} index="
    )


def test_a_shared_name_without_its_neighbours_is_refused_by_the_kernel_too(kernel):
    with pytest.raises(KprobeError, match=r"Cannot assign requested address \(Non-unique symbol\)"):
        create_probe(kernel.tracing, GROUP, IRTE_WRITE)


@pytest.mark.parametrize(
    ("kallsyms", "why"),
    [
        (KALLSYMS | {0xFFFFFFFF81B46000: "modify_irte"}, "2 of 3 lie beside"),
        ({a: n for a, n in KALLSYMS.items() if not n.startswith("intel_")}, "0 of 2 lie beside"),
        ({0: "modify_irte", 1: "modify_irte"}, "hides addresses (kptr_restrict)"),
    ],
)
def test_no_guess_between_namesakes(tmp_path, kallsyms, why):
    path = tmp_path / "kallsyms"
    path.write_text("".join(f"{a:016x} t {n}\n" for a, n in sorted(kallsyms.items())))
    with pytest.raises(KprobeError, match="several functions have that name") as info:
        probe_site(IRTE_WRITE, path)
    assert why in str(info.value)


def test_refused_probe_carries_the_kernels_word(kernel):
    with pytest.raises(KprobeError) as info:
        create_probe(kernel.tracing, GROUP, kprobes.Probe("x", "no_such_function", "a=%di"))
    assert str(info.value) == (
        "kprobe on no_such_function refused: No such file or directory (Failed to find symbol)"
    )


def test_another_users_error_is_not_taken_for_ours(kernel, monkeypatch):
    (kernel.tracing / "error_log").write_text(
        "[   1.000000] trace_kprobe: error: Invalid fetch argument\n"
        "  Command: p:someone/x f a=bad\n"
        "                               ^\n"
    )

    def refuse(path, text):
        raise OSError(16, "Device or resource busy", str(path))

    monkeypatch.setattr(kprobes, "append_attr", refuse)
    with pytest.raises(KprobeError) as info:
        create_probe(kernel.tracing, GROUP, MSI_WRITE)
    assert str(info.value) == "kprobe on __pci_write_msi_msg refused: Device or resource busy"


def test_other_probes_survive_ours(kernel):
    """`kprobe_events` is appended to: opening it with O_TRUNC would delete everyone's probes."""
    create_probe(kernel.tracing, "someone", MSI_WRITE)
    create_probe(kernel.tracing, GROUP, MSI_WRITE)
    remove_probe(kernel.tracing, GROUP, "msi_write")
    assert list(kernel.probes) == ["someone/msi_write"]


def test_append_attr_keeps_what_the_file_held(tmp_path):
    path = tmp_path / "kprobe_events"
    path.write_text("p:a/b f\n")
    append_attr(path, "p:a/c g\n")
    assert path.read_text() == "p:a/b f\np:a/c g\n"
    with pytest.raises(FileNotFoundError):
        append_attr(tmp_path / "absent", "x\n")
    assert not (tmp_path / "absent").exists()


def test_parse_message_and_irte_writes_in_trace_order():
    text = "\n".join(
        [
            "# tracer: nop",
            "         python3-812     [003] d..1.    10.400000: vector_update: irq=42 vector=34"
            " cpu=1 prev_vector=33 prev_cpu=0",
            msi_line(42, (0xFEE01000, 0, 0x4022), (0xFEE00000, 0, 0x4021), ts=10.5),
            irte_line(5, 0, 0x0000_0200_0023_0001, ts=10.6),
            "         <idle>-0     [000] d.h1.    10.700000: irte_write: "
            "(modify_irte+0x0/0x1a0) index=(fault) sub_handle=(fault) low=0x0",
        ]
    )
    log = parse_writes(text)
    assert log.writes == (
        MessageWrite(
            10.5,
            3,
            "python3",
            812,
            42,
            MsiMessage(0xFEE01000, 0x4022),
            MsiMessage(0xFEE00000, 0x4021),
        ),
        IrteWrite(10.6, 3, "python3", 812, 5, 0, 0x0000_0200_0023_0001),
    )
    assert log.unreadable == (
        "<idle>-0     [000] d.h1.    10.700000: irte_write: (modify_irte+0x0/0x1a0) "
        "index=(fault) sub_handle=(fault) low=0x0",
    )
    irte = log.writes[1]
    assert isinstance(irte, IrteWrite)
    assert irte.present and not irte.posted and irte.vector == 0x23
    assert irte.destination(x2apic=False) == 2
    assert irte.destination(x2apic=True) == 0x200
    assert irte.who == "python3-812/cpu3"


def test_a_64_bit_message_address_is_joined():
    (write,) = parse_writes(msi_line(7, (0x1000, 0x1, 0x20), (0, 0, 0))).writes
    assert isinstance(write, MessageWrite)
    assert write.message == MsiMessage(0x1_0000_1000, 0x20) and write.previous.is_zero
