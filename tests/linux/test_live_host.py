"""The readers against the kernel this test runs on: real formats, not fixtures.

/proc/interrupts and /sys/kernel/irq are two independent renderings of the
same irq descriptors, so they must agree on chip, hwirq and actions.
"""

import os
from pathlib import Path

import pytest

from hil.linux.cpus import CpuHotplug
from hil.linux.dmesg import DmesgWindow, read_kmsg
from hil.linux.irqsysfs import SysIrq
from hil.linux.pci import PciSysfs, parse_capabilities
from hil.linux.procinterrupts import ProcInterrupts
from hil.linux.topology import Topology

PROC_INTERRUPTS = Path("/proc/interrupts")
needs_proc = pytest.mark.skipif(
    not PROC_INTERRUPTS.exists() or not Path("/sys/kernel/irq").is_dir(),
    reason="no /proc/interrupts or /sys/kernel/irq on this host",
)


@needs_proc
def test_proc_interrupts_and_sysfs_agree():
    table = ProcInterrupts.parse(PROC_INTERRUPTS.read_text())
    assert table.warnings == ()
    assert table.cpus == CpuHotplug().online_cpus()
    assert table.irqs, "a running kernel has requested irqs"
    sysirq = SysIrq()
    for irq, row in table.irqs.items():
        info = sysirq.read(irq)
        if info is None:  # freed between the two reads
            continue
        assert info.chip_name == row.chip, irq
        assert info.hwirq == row.hwirq, irq
        assert info.actions == row.actions, irq
        assert set(row.cpus) <= set(info.per_cpu), irq
    assert "ERR" in table.summaries or os.uname().machine != "x86_64"


@pytest.mark.skipif(not Path("/sys/bus/pci/devices").is_dir(), reason="no PCI bus in sysfs")
def test_pci_devices_and_capabilities():
    pci = PciSysfs()
    devices = pci.devices()
    assert [d.bdf for d in devices] == sorted(os.listdir("/sys/bus/pci/devices"))
    for dev in devices:
        caps = parse_capabilities(pci.config_bytes(dev.bdf))
        if os.geteuid() == 0:
            assert not caps.truncated, dev.bdf


@pytest.mark.skipif(not Path("/proc/cpuinfo").exists(), reason="no /proc/cpuinfo")
def test_topology_of_this_host():
    topo = Topology.read(Path("/"))
    assert [c.cpu for c in topo.cpus] == list(CpuHotplug().online_cpus())
    assert topo.kernel_version[:2] == tuple(int(x) for x in os.uname().release.split(".")[:2])


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="reading /dev/kmsg needs root here")
@pytest.mark.skipif(not Path("/dev/kmsg").exists(), reason="no /dev/kmsg")
def test_kmsg_window_sees_a_record_written_after_mark():
    assert read_kmsg()  # the boot log is there
    with DmesgWindow() as window:
        window.since()
        marker = f"hil-linux-test-{os.getpid()}"
        with open("/dev/kmsg", "w") as kmsg:
            kmsg.write(marker + "\n")
        assert any(marker in r.text for r in window.since())
