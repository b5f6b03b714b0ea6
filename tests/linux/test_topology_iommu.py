import pytest

from hil.linux.iommu import allow_unsafe_interrupts, detect_ir, intel_caching_mode
from hil.linux.procinterrupts import ProcInterrupts
from hil.linux.topology import (
    Topology,
    irqbalance_running,
    parse_apic_mode,
    parse_kernel_version,
)
from hil.model.vocabulary import ApicMode, IrType

CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
apicid\t\t: 0
initial apicid\t: 0

processor\t: 1
vendor_id\t: GenuineIntel
apicid\t\t: 2
initial apicid\t: 2

processor\t: 2
vendor_id\t: GenuineIntel
apicid\t\t: 4
"""


def test_topology_reads_apicids_nodes_release_and_irqbalance(tmp_path, put):
    put(tmp_path / "proc/cpuinfo", CPUINFO)
    put(tmp_path / "sys/devices/system/node/node0/cpulist", "0-1\n")
    put(tmp_path / "sys/devices/system/node/node1/cpulist", "2\n")
    put(tmp_path / "sys/devices/system/node/possible", "0-1\n")
    put(tmp_path / "proc/sys/kernel/osrelease", "6.12.95+deb12-amd64\n")
    put(tmp_path / "proc/1/comm", "systemd\n")
    put(tmp_path / "proc/812/comm", "irqbalance\n")
    put(tmp_path / "proc/self/comm", "python3\n")
    dmesg = (
        "[    0.1] x2apic: IRQ remapping doesn't support X2APIC mode\n"
        "[    0.2] APIC: Switched APIC routing to: physical flat\n"
    )
    topo = Topology.read(tmp_path, dmesg)
    assert [(c.cpu, c.apicid, c.node) for c in topo.cpus] == [(0, 0, 0), (1, 2, 0), (2, 4, 1)]
    assert topo.apicid(1) == 2 and topo.apicid(9) is None
    assert topo.apic_mode is ApicMode.PHYSICAL_FLAT
    assert irqbalance_running(tmp_path)
    assert topo.kernel_release == "6.12.95+deb12-amd64"
    assert topo.kernel_version == (6, 12, 95)


def test_topology_of_an_empty_root(tmp_path):
    topo = Topology.read(tmp_path)
    assert topo.cpus == () and topo.apic_mode is None
    assert not irqbalance_running(tmp_path) and topo.kernel_version == ()


@pytest.mark.parametrize(
    ("line", "mode"),
    [
        ("APIC: Switched APIC routing to: physical flat", ApicMode.PHYSICAL_FLAT),
        ("APIC: Switched APIC routing to: cluster x2apic", ApicMode.X2APIC_CLUSTER),
        ("APIC: Switched APIC routing to: physical x2apic", ApicMode.X2APIC_PHYSICAL),
        ("Switched APIC routing to physical flat.", ApicMode.PHYSICAL_FLAT),
        ("Setting APIC routing to cluster x2apic.", ApicMode.X2APIC_CLUSTER),
        ("Switched APIC routing to flat.", ApicMode.LOGICAL_FLAT),
        ("APIC: Switched APIC routing to: logical flat", ApicMode.LOGICAL_FLAT),
        ("APIC: Switched APIC routing to: bigsmp", None),
        ("nothing about apic", None),
    ],
)
def test_apic_mode_lines(line, mode):
    assert parse_apic_mode(f"[    0.123456] {line}") is mode


def test_last_apic_switch_wins():
    text = "Switched APIC routing to physical flat.\nSetting APIC routing to physical x2apic.\n"
    assert parse_apic_mode(text) is ApicMode.X2APIC_PHYSICAL


@pytest.mark.parametrize(
    ("release", "version"),
    [
        ("6.1.0-56-amd64", (6, 1, 0)),
        ("6.12.95+deb12-amd64", (6, 12, 95)),
        ("5.4", (5, 4)),
        ("junk", ()),
    ],
)
def test_kernel_version(release, version):
    assert parse_kernel_version(release) == version


def test_ir_from_intel_dmesg_line(tmp_path):
    (tmp_path / "sys/class/iommu/dmar0").mkdir(parents=True)
    state = detect_ir(tmp_path, "[0.5] DMAR-IR: Enabled IRQ remapping in xapic mode\n")
    assert state.kind is IrType.INTEL and state.mode == "xapic"
    assert any("DMAR-IR" in e for e in state.evidence)
    assert any("dmar0" in e for e in state.evidence)


def test_ir_from_amd_dmesg_line(tmp_path):
    state = detect_ir(tmp_path, "AMD-Vi: Interrupt remapping enabled\n")
    assert state.kind is IrType.AMD and state.mode is None


def test_ir_from_chip_names_when_dmesg_wrapped(tmp_path, put, fixture_text):
    table = ProcInterrupts.parse(fixture_text("proc-interrupts_6.12_e1000e-msix_IR-on.txt"))
    (tmp_path / "sys/class/iommu/dmar0").mkdir(parents=True)
    state = detect_ir(tmp_path, "", table)
    assert state.kind is IrType.INTEL
    assert any("IR-PCI-MSIX-0000:00:0a.0" in e for e in state.evidence)


def test_ir_vendor_from_cpu_when_no_iommu_is_listed(tmp_path, put, fixture_text):
    put(tmp_path / "proc/cpuinfo", "vendor_id\t: AuthenticAMD\n")
    table = ProcInterrupts.parse(fixture_text("proc-interrupts_6.1_e1000e-msix_IR-on.txt"))
    state = detect_ir(tmp_path, "", table)
    assert state.kind is IrType.AMD
    assert any("guessed" in e for e in state.evidence)


def test_no_ir(tmp_path, fixture_text):
    table = ProcInterrupts.parse(fixture_text("proc-interrupts_6.12_e1000e-msix_IR-off.txt"))
    state = detect_ir(tmp_path, "DMAR: IOMMU enabled\n", table)
    assert state.kind is IrType.NONE and state.mode is None
    assert any("no IR- chip" in e for e in state.evidence)


@pytest.mark.parametrize(("value", "expected"), [("Y\n", True), ("N\n", False)])
def test_allow_unsafe_interrupts(tmp_path, put, value, expected):
    put(tmp_path / "sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts", value)
    assert allow_unsafe_interrupts(tmp_path) is expected


def test_allow_unsafe_interrupts_module_absent(tmp_path):
    assert allow_unsafe_interrupts(tmp_path) is None


def test_intel_caching_mode(tmp_path, put):
    assert intel_caching_mode(tmp_path) is None
    # two cap register values differing only in CM (bit 7)
    put(tmp_path / "sys/class/iommu/dmar0/intel-iommu/cap", "12008c22260206\n")
    assert intel_caching_mode(tmp_path) is False
    put(tmp_path / "sys/class/iommu/dmar0/intel-iommu/cap", "12008c222602e6\n")
    assert intel_caching_mode(tmp_path) is True
