"""SysIrq, ProcIrq and CpuHotplug against fake /sys and /proc trees."""

import errno
import os

import pytest

from hil.linux.cpus import CpuHotplug
from hil.linux.irqsysfs import IrqInfo, SysIrq
from hil.linux.procirq import AffinityWrite, ProcIrq
from hil.linux.synthetic import synthetic_count, synthetic_sys_tree
from hil.linux.sysfile import READ_SIZE, read_optional_record, read_record


def test_sysirq_reads_a_6_12_vfio_irq(tmp_path, put):
    base = tmp_path / "sys/kernel/irq/41"
    put(base / "per_cpu_count", "0,2,0,2\n")
    put(base / "chip_name", "IR-PCI-MSIX-0000:00:0a.0\n")
    put(base / "hwirq", "0\n")
    put(base / "name", "edge\n")
    put(base / "actions", "vfio-msix[0](0000:00:0a.0)\n")
    info = SysIrq(tmp_path).read(41)
    assert info == IrqInfo(
        irq=41,
        per_cpu={0: 0, 1: 2, 2: 0, 3: 2},
        chip_name="IR-PCI-MSIX-0000:00:0a.0",
        hwirq=0,
        name="edge",
        actions=("vfio-msix[0](0000:00:0a.0)",),
    )
    assert info.total == 4


def test_sysirq_irq_without_domain_name_or_actions(tmp_path, put):
    base = tmp_path / "sys/kernel/irq/7"
    put(base / "per_cpu_count", "1,0\n")
    put(base / "actions", "\n")  # allocated, never requested
    put(base / "name", "\n")
    info = SysIrq(tmp_path).read(7)
    assert info is not None
    assert (info.chip_name, info.hwirq, info.name, info.actions) == (None, None, None, ())


def test_sysirq_two_actions_are_comma_separated(tmp_path, put):
    put(tmp_path / "sys/kernel/irq/24/per_cpu_count", "0\n")
    put(tmp_path / "sys/kernel/irq/24/actions", "PCIe PME,pciehp\n")
    assert SysIrq(tmp_path).read(24).actions == ("PCIe PME", "pciehp")


def test_sysirq_missing_irq_and_read_many(tmp_path):
    synthetic_sys_tree(tmp_path, ncpus=4, nirqs=10)
    sysirq = SysIrq(tmp_path)
    assert sysirq.read(99) is None
    many = sysirq.read_many([2, 99, 9])
    assert sorted(many) == [2, 9]
    assert many[9].per_cpu == {c: synthetic_count(9, c) for c in range(4)}
    assert many[9].hwirq == 9 and many[9].actions == ("vfio-msix[9](0000:00:00.0)",)


def test_affinity_write_and_reads(tmp_path):
    synthetic_sys_tree(tmp_path, ncpus=4, nirqs=3)
    proc = ProcIrq(tmp_path)
    assert proc.affinity(2) == (0, 1, 2, 3)
    assert proc.effective_affinity(2) == (2,)
    assert proc.set_affinity(2, [3, 1, 2]) == AffinityWrite(irq=2, written="1-3", errno=None)
    assert (tmp_path / "proc/irq/2/smp_affinity_list").read_text() == "1-3\n"
    assert proc.affinity(2) == (1, 2, 3)


def test_affinity_write_to_missing_irq_is_enoent(tmp_path):
    result = ProcIrq(tmp_path).set_affinity(41, [1])
    assert result.errno == "ENOENT" and not result.ok


def test_affinity_write_to_directory_gives_real_errno(tmp_path):
    (tmp_path / "proc/irq/41/smp_affinity_list").mkdir(parents=True)
    assert ProcIrq(tmp_path).set_affinity(41, [1]).errno == "EISDIR"


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EINVAL, errno.EBUSY, errno.EPERM, errno.EIO])
def test_kernel_refusals_come_back_as_errno_names(tmp_path, put, monkeypatch, code):
    put(tmp_path / "proc/irq/41/smp_affinity_list", "0-3\n")

    def refuse(fd, data):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "write", refuse)
    result = ProcIrq(tmp_path).set_affinity(41, [2])
    assert result.errno == errno.errorcode[code]


def test_affinity_read_of_missing_irq_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        ProcIrq(tmp_path).effective_affinity(5)


def test_cpu_hotplug(tmp_path, put):
    synthetic_sys_tree(tmp_path, ncpus=4, nirqs=0)
    put(tmp_path / "sys/devices/system/cpu/online", "0-1,3\n")
    put(tmp_path / "sys/devices/system/cpu/possible", "0-7\n")
    cpus = CpuHotplug(tmp_path)
    assert cpus.online_cpus() == (0, 1, 3)
    assert cpus.possible_cpus() == tuple(range(8))
    assert not cpus.is_hotpluggable(0)  # x86 CPU0: no `online` file
    assert cpus.is_hotpluggable(2)
    assert cpus.set_online(2, False) is None
    assert (tmp_path / "sys/devices/system/cpu/cpu2/online").read_text() == "0\n"
    assert cpus.set_online(0, False) == "ENOENT"


def test_cpu_offline_refused_with_enospc(tmp_path, put, monkeypatch):
    put(tmp_path / "sys/devices/system/cpu/cpu1/online", "1\n")

    def refuse(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", refuse)
    assert CpuHotplug(tmp_path).set_online(1, False) == "ENOSPC"


def test_a_record_is_read_whole_even_past_the_read_size(tmp_path):
    small, large = tmp_path / "small", tmp_path / "large"
    small.write_text("0-3\n")
    large.write_text("1," * READ_SIZE + "\n")  # fills the first read: the rest is read too
    assert read_record(small) == "0-3"
    assert read_record(large) == "1," * READ_SIZE
    assert read_optional_record(tmp_path / "absent") is None
