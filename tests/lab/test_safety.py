"""Safety checks before a device leaves its driver.

Block devices and IOMMU groups are checked against fake sysfs/proc trees
laid out as the kernel lays them out (NVMe namespaces directly under their
controller, SCSI disks under `block/`, dm holders in /sys/devices/virtual).
Network state is real: each test builds veth interfaces, addresses and
routes in a network namespace of its own with `ip`, and a fake sysfs tree
whose `net/<name>` entries name those interfaces; the host's own
interfaces are never touched.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from pyroute2 import netns as pyroute2_netns

from hil.lab import safety
from hil.lab.safety import (
    NetdevState,
    SafetyError,
    ServiceChange,
    check_device_safe,
    irqbalance_pids,
    irqbalance_policy,
    pause_irqbalance,
    restore_links,
    resume_irqbalance,
)

TARGET = "0000:01:00.0"
PEER = "0000:01:00.1"


def relink(link: Path, target: Path) -> None:
    """A relative symlink, as sysfs makes them."""
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(os.path.relpath(target, link.parent))


class FakeKernel:
    """A sysfs + procfs tree with just what the safety check reads."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.mountinfo: list[str] = []
        self.swaps: list[str] = []
        self.flush()

    def device(self, bdf: str, group: int | None = None, parent: Path | None = None) -> Path:
        path = (parent or self.root / "sys/devices/pci0000:00") / bdf
        path.mkdir(parents=True)
        relink(self.root / "sys/bus/pci/devices" / bdf, path)
        if group is not None:
            group_dir = self.root / "sys/kernel/iommu_groups" / str(group)
            relink(group_dir / "devices" / bdf, path)
            relink(path / "iommu_group", group_dir)
        return path

    def block(self, parent: Path, name: str, dev: str) -> Path:
        path = parent / name
        path.mkdir(parents=True)
        (path / "dev").write_text(dev + "\n")
        (path / "holders").mkdir()
        relink(path / "subsystem", self.root / "sys/class/block")
        relink(self.root / "sys/class/block" / name, path)
        return path

    def holder(self, below: Path, name: str, dev: str) -> Path:
        path = self.block(self.root / "sys/devices/virtual/block", name, dev)
        relink(below / "holders" / name, path)
        return path

    def netdev(self, device: Path, name: str) -> None:
        (device / "net" / name).mkdir(parents=True)

    def mount(self, dev: str, mountpoint: str, source: str, fstype: str = "ext4") -> None:
        n = 20 + len(self.mountinfo)
        self.mountinfo.append(
            f"{n} 1 {dev} / {mountpoint} rw,relatime shared:1 - {fstype} {source} rw"
        )
        self.flush()

    def swap(self, filename: str) -> None:
        self.swaps.append(f"{filename}  partition\t8388604\t0\t-2")
        self.flush()

    def flush(self) -> None:
        proc = self.root / "proc"
        (proc / "self").mkdir(parents=True, exist_ok=True)
        base = ["1 0 0:25 / / rw - overlay overlay rw", "2 1 0:5 / /dev rw - devtmpfs udev rw"]
        (proc / "self/mountinfo").write_text("\n".join(base + self.mountinfo) + "\n")
        header = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority"
        (proc / "swaps").write_text("\n".join([header, *self.swaps]) + "\n")


@pytest.fixture
def kernel(tmp_path: Path) -> FakeKernel:
    return FakeKernel(tmp_path)


def nvme(kernel: FakeKernel, device: Path) -> Path:
    """nvme0n1 with partitions p1..p3 (259:1..259:3), directly under the controller."""
    disk = kernel.block(device / "nvme/nvme0", "nvme0n1", "259:0")
    for n in (1, 2, 3):
        kernel.block(disk, f"nvme0n1p{n}", f"259:{n}")
    return disk


# -- block devices and IOMMU groups (fake sysfs) ------------------------------


def test_a_device_without_disks_or_interfaces_is_safe(kernel: FakeKernel) -> None:
    kernel.device(TARGET, group=4)
    verdict = check_device_safe(kernel.root, TARGET, expendable=False)
    assert verdict.refusal is None
    assert verdict.netdevs == ()


def test_an_unmounted_nvme_disk_is_safe(kernel: FakeKernel) -> None:
    nvme(kernel, kernel.device(TARGET, group=4))
    kernel.mount("8:1", "/data", "/dev/sda1")
    assert check_device_safe(kernel.root, TARGET, expendable=False).refusal is None


def test_a_mounted_nvme_partition_is_refused_by_device_number(kernel: FakeKernel) -> None:
    nvme(kernel, kernel.device(TARGET, group=4))
    kernel.mount("259:2", "/", "/dev/root")
    refusal = check_device_safe(kernel.root, TARGET, expendable=True).refusal
    assert refusal is not None
    assert TARGET in refusal
    assert "block device nvme0n1p2 is mounted on /" in refusal


def test_a_mount_with_an_anonymous_device_number_is_matched_by_source(
    kernel: FakeKernel,
) -> None:
    nvme(kernel, kernel.device(TARGET, group=4))
    kernel.mount("0:31", "/srv/my\\040data", "/dev/nvme0n1p1", fstype="btrfs")
    refusal = check_device_safe(kernel.root, TARGET, expendable=True).refusal
    assert refusal is not None
    assert "nvme0n1p1 is mounted on /srv/my data" in refusal


def test_swap_on_a_scsi_partition_is_refused(kernel: FakeKernel) -> None:
    device = kernel.device(TARGET, group=4)
    sda = kernel.block(device / "ata1/host0/target0:0:0/0:0:0:0/block", "sda", "8:0")
    kernel.block(sda, "sda2", "8:2")
    kernel.swap("/dev/sda2")
    refusal = check_device_safe(kernel.root, TARGET, expendable=True).refusal
    assert refusal is not None
    assert "block device sda2 is used as swap" in refusal


def test_a_mounted_device_mapper_volume_on_the_disk_is_refused(kernel: FakeKernel) -> None:
    disk = nvme(kernel, kernel.device(TARGET, group=4))
    dm = kernel.holder(disk / "nvme0n1p3", "dm-0", "253:0")
    relink(kernel.root / "dev/mapper/vg-home", kernel.root / "dev/dm-0")
    kernel.mount("0:40", "/home", "/dev/mapper/vg-home", fstype="btrfs")
    refusal = check_device_safe(kernel.root, TARGET, expendable=True).refusal
    assert refusal is not None
    assert "block device dm-0 (on nvme0n1p3) is mounted on /home" in refusal
    # a dm device stacked on that one is followed too
    kernel.holder(dm, "dm-1", "253:1")
    kernel.swap("/dev/dm-1")
    refusal = check_device_safe(kernel.root, TARGET, expendable=True).refusal
    assert refusal is not None
    assert "block device dm-1 (on nvme0n1p3) is used as swap" in refusal


def test_unreadable_mount_table_counts_as_mounted(kernel: FakeKernel) -> None:
    nvme(kernel, kernel.device(TARGET, group=4))
    (kernel.root / "proc/self/mountinfo").unlink()
    refusal = check_device_safe(kernel.root, TARGET, expendable=True).refusal
    assert refusal is not None
    assert "cannot read /proc/self/mountinfo" in refusal


def test_a_device_sharing_the_iommu_group_with_a_mounted_disk_is_refused(
    kernel: FakeKernel,
) -> None:
    kernel.device(TARGET, group=7)
    nvme(kernel, kernel.device(PEER, group=7))
    kernel.mount("259:1", "/boot", "/dev/nvme0n1p1")
    refusal = check_device_safe(kernel.root, TARGET, expendable=True).refusal
    assert refusal is not None
    assert f"{PEER} shares IOMMU group 7 with {TARGET}" in refusal
    assert "nvme0n1p1 is mounted on /boot" in refusal


def test_a_mounted_disk_in_another_group_does_not_refuse(kernel: FakeKernel) -> None:
    kernel.device(TARGET, group=7)
    nvme(kernel, kernel.device(PEER, group=8))
    kernel.mount("259:1", "/boot", "/dev/nvme0n1p1")
    assert check_device_safe(kernel.root, TARGET, expendable=True).refusal is None


def test_devices_below_a_bridge_in_the_group_are_not_the_bridges_own(
    kernel: FakeKernel,
) -> None:
    bridge = kernel.device("0000:00:1c.0", group=3)
    kernel.device(TARGET, group=3, parent=bridge)
    nvme(kernel, kernel.device(PEER, group=9, parent=bridge))
    kernel.mount("259:1", "/boot", "/dev/nvme0n1p1")
    assert check_device_safe(kernel.root, TARGET, expendable=True).refusal is None


def test_an_absent_device_is_refused(kernel: FakeKernel) -> None:
    refusal = check_device_safe(kernel.root, TARGET, expendable=True).refusal
    assert refusal is not None
    assert "no such PCI device" in refusal


def test_a_controller_address_that_is_not_an_address_is_an_error(kernel: FakeKernel) -> None:
    kernel.device(TARGET, group=4)
    with pytest.raises(ValueError):
        check_device_safe(kernel.root, TARGET, True, controller_addresses=["controller"])


# -- irqbalance -----------------------------------------------------------------


def fake_process(root: Path, pid: int, comm: str) -> None:
    (root / "proc" / str(pid)).mkdir(parents=True)
    (root / "proc" / str(pid) / "comm").write_text(comm + "\n")


class FakeSystemctl:
    """Plays systemd: `stop irqbalance` ends the fake process when systemd owns it."""

    def __init__(self, root: Path, owns: bool = True, returncode: int = 0) -> None:
        self.root = root
        self.owns = owns
        self.returncode = returncode
        self.calls: list[list[str]] = []

    def __call__(self, args: Sequence[str]) -> subprocess.CompletedProcess[str]:
        self.calls.append(list(args))
        if self.returncode == 0 and self.owns and list(args[1:]) == ["stop", "irqbalance"]:
            shutil.rmtree(self.root / "proc/812")
        stderr = "" if self.returncode == 0 else "Unit irqbalance.service not loaded."
        return subprocess.CompletedProcess(list(args), self.returncode, "", stderr)


def test_irqbalance_not_running_is_no_reason(tmp_path: Path) -> None:
    fake_process(tmp_path, 1, "systemd")
    fake_process(tmp_path, 90, "irqbalancer")
    assert irqbalance_policy(tmp_path) is None


def test_irqbalance_running_is_a_reason_naming_its_pid(tmp_path: Path) -> None:
    fake_process(tmp_path, 1, "systemd")
    fake_process(tmp_path, 812, "irqbalance")
    reason = irqbalance_policy(tmp_path)
    assert reason is not None
    assert "irqbalance is running (pid 812)" in reason


def test_a_process_that_exits_while_listed_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading /proc/PID/comm of a process that just exited fails with ESRCH."""
    fake_process(tmp_path, 77, "short-lived")
    fake_process(tmp_path, 812, "irqbalance")
    real = safety.read_optional

    def vanishing(path: Path) -> str | None:
        if path.parent.name == "77":
            raise ProcessLookupError(3, "No such process")
        return real(path)

    monkeypatch.setattr(safety, "read_optional", vanishing)
    assert irqbalance_pids(tmp_path) == [812]


def test_pause_stops_irqbalance_and_says_what_it_did(tmp_path: Path) -> None:
    fake_process(tmp_path, 812, "irqbalance")
    systemctl = FakeSystemctl(tmp_path)
    change = pause_irqbalance(tmp_path, run=systemctl)
    assert change == ServiceChange("irqbalance", "stop", ("systemctl", "stop", "irqbalance"))
    assert systemctl.calls == [["systemctl", "stop", "irqbalance"]]
    assert irqbalance_policy(tmp_path) is None


def test_pause_does_nothing_when_irqbalance_is_not_running(tmp_path: Path) -> None:
    fake_process(tmp_path, 1, "systemd")
    systemctl = FakeSystemctl(tmp_path)
    assert pause_irqbalance(tmp_path, run=systemctl) is None
    assert systemctl.calls == []


def test_pause_fails_when_irqbalance_survives_the_stop(tmp_path: Path) -> None:
    fake_process(tmp_path, 812, "irqbalance")
    with pytest.raises(SafetyError, match=r"still runs \(pid 812\)"):
        pause_irqbalance(tmp_path, run=FakeSystemctl(tmp_path, owns=False))


def test_pause_reports_systemctls_complaint(tmp_path: Path) -> None:
    fake_process(tmp_path, 812, "irqbalance")
    with pytest.raises(SafetyError, match="not loaded"):
        pause_irqbalance(tmp_path, run=FakeSystemctl(tmp_path, returncode=5))


def test_resume_starts_irqbalance(tmp_path: Path) -> None:
    systemctl = FakeSystemctl(tmp_path)
    change = resume_irqbalance(run=systemctl)
    assert change.command == ("systemctl", "start", "irqbalance")
    assert systemctl.calls == [["systemctl", "start", "irqbalance"]]


# -- network interfaces (real kernel objects in a private namespace) ----------


class Namespace:
    """A network namespace of the test's own, configured with `ip -n`."""

    def __init__(self, name: str) -> None:
        self.name = name

    def ip(self, *args: str) -> str:
        proc = subprocess.run(
            ["ip", "-n", self.name, *args], capture_output=True, text=True, timeout=30
        )
        if proc.returncode != 0:
            raise RuntimeError(f"ip -n {self.name} {' '.join(args)}: {proc.stderr.strip()}")
        return proc.stdout

    def veth(self, a: str, b: str) -> None:
        self.ip("link", "add", a, "type", "veth", "peer", "name", b)

    def link(self, name: str) -> dict[str, Any]:
        links = json.loads(self.ip("-j", "addr", "show", "dev", name))
        assert len(links) == 1
        return dict(links[0])

    def snapshot(self) -> tuple[str, ...]:
        return tuple(
            self.ip("-j", *what)
            for what in (("link", "show"), ("addr", "show"), ("route", "show", "table", "all"),
                         ("-6", "route", "show", "table", "all"))
        )  # fmt: skip


@pytest.fixture
def ns() -> Iterator[Namespace]:
    if os.geteuid() != 0:
        pytest.skip("creating a network namespace needs root")
    if shutil.which("ip") is None:
        pytest.skip("the `ip` command (iproute2) is needed to build the test namespace")
    name = f"hil-safety-{uuid.uuid4().hex[:8]}"
    try:
        pyroute2_netns.create(name)
    except OSError as exc:
        pytest.skip(f"cannot create a network namespace: {exc}")
    space = Namespace(name)
    try:
        try:
            space.veth("v0", "v1")
        except RuntimeError as exc:
            pytest.skip(f"cannot create a veth pair in a namespace: {exc}")
        space.ip("link", "set", "v1", "up")
        space.ip("addr", "add", "10.8.0.2/24", "dev", "v1")
        yield space
    finally:
        pyroute2_netns.remove(name)


def nic(kernel: FakeKernel, bdf: str = TARGET, netdev: str = "v0", group: int = 4) -> Path:
    device = kernel.device(bdf, group=group)
    kernel.netdev(device, netdev)
    return device


def configure_v0(ns: Namespace, up: bool = True) -> None:
    ns.ip("addr", "add", "10.9.0.2/24", "dev", "v0")
    if up:
        ns.ip("link", "set", "v0", "up")


@pytest.mark.root
def test_an_interface_carrying_the_ipv4_default_route_is_refused_even_if_expendable(
    ns: Namespace, kernel: FakeKernel
) -> None:
    nic(kernel)
    configure_v0(ns)
    ns.ip("route", "add", "default", "via", "10.9.0.1", "dev", "v0")
    before = ns.snapshot()
    verdict = check_device_safe(kernel.root, TARGET, expendable=True, netns=ns.name)
    assert verdict.refusal is not None
    assert "interface v0 carries the IPv4 default route" in verdict.refusal
    assert ns.snapshot() == before, "a refused check changed the namespace"


@pytest.mark.root
def test_an_interface_carrying_the_ipv6_default_route_is_refused(
    ns: Namespace, kernel: FakeKernel
) -> None:
    nic(kernel)
    ns.ip("link", "set", "v0", "up")
    ns.ip("-6", "route", "add", "default", "dev", "v0")
    refusal = check_device_safe(kernel.root, TARGET, expendable=True, netns=ns.name).refusal
    assert refusal is not None
    assert "interface v0 carries the IPv6 default route" in refusal
    assert "IPv4 default" not in refusal


@pytest.mark.root
def test_one_hop_of_a_multipath_default_route_is_refused(ns: Namespace, kernel: FakeKernel) -> None:
    nic(kernel)
    configure_v0(ns)
    ns.ip("route", "add", "default", "nexthop", "via", "10.8.0.1", "dev", "v1",
          "nexthop", "via", "10.9.0.1", "dev", "v0")  # fmt: skip
    refusal = check_device_safe(kernel.root, TARGET, expendable=True, netns=ns.name).refusal
    assert refusal is not None
    assert "interface v0 carries the IPv4 default route" in refusal


@pytest.mark.root
@pytest.mark.parametrize("compat", ["1", "0"])
def test_a_default_route_through_a_nexthop_object_is_refused(
    ns: Namespace, kernel: FakeKernel, compat: str
) -> None:
    """With compat mode 0 the kernel dumps the route with only its nexthop id."""
    nic(kernel)
    configure_v0(ns)
    if shutil.which("sysctl") is None:
        pytest.skip("the `sysctl` command is needed to set nexthop_compat_mode")
    sysctl = [
        "ip",
        "netns",
        "exec",
        ns.name,
        "sysctl",
        "-w",
        f"net.ipv4.nexthop_compat_mode={compat}",
    ]
    if subprocess.run(sysctl, capture_output=True, timeout=30).returncode != 0:
        pytest.skip("this kernel has no per-namespace net.ipv4.nexthop_compat_mode")
    try:
        ns.ip("nexthop", "add", "id", "7", "via", "10.9.0.1", "dev", "v0")
    except RuntimeError as exc:
        pytest.skip(f"this kernel or iproute2 has no nexthop objects: {exc}")
    ns.ip("route", "add", "default", "nhid", "7")
    refusal = check_device_safe(kernel.root, TARGET, expendable=True, netns=ns.name).refusal
    assert refusal is not None
    assert "v0" in refusal
    assert "IPv4 default route" in refusal


@pytest.mark.root
@pytest.mark.parametrize("spelling", ["10.9.0.2", "::ffff:10.9.0.2"])
def test_an_interface_holding_the_controllers_address_is_refused(
    ns: Namespace, kernel: FakeKernel, spelling: str
) -> None:
    nic(kernel)
    configure_v0(ns)
    verdict = check_device_safe(
        kernel.root, TARGET, expendable=True, controller_addresses=[spelling], netns=ns.name
    )
    assert verdict.refusal is not None
    assert "interface v0 carries 10.9.0.2, an address the controller uses" in verdict.refusal


@pytest.mark.root
def test_an_interface_the_controller_is_reached_through_is_refused(
    ns: Namespace, kernel: FakeKernel
) -> None:
    nic(kernel)
    configure_v0(ns)
    refusal = check_device_safe(
        kernel.root, TARGET, True, controller_addresses=["10.9.0.77"], netns=ns.name
    ).refusal
    assert refusal is not None
    assert "interface v0 carries the route to the controller's address 10.9.0.77" in refusal


@pytest.mark.root
def test_a_controller_reached_through_another_interface_does_not_refuse(
    ns: Namespace, kernel: FakeKernel
) -> None:
    nic(kernel)
    configure_v0(ns)
    verdict = check_device_safe(
        kernel.root, TARGET, True, controller_addresses=["10.8.0.77", "10.8.0.2"], netns=ns.name
    )
    assert verdict.refusal is None


@pytest.mark.root
def test_an_up_interface_is_refused_unless_the_device_is_expendable(
    ns: Namespace, kernel: FakeKernel
) -> None:
    nic(kernel)
    configure_v0(ns)
    refusal = check_device_safe(kernel.root, TARGET, expendable=False, netns=ns.name).refusal
    assert refusal is not None
    assert "interface v0 is up" in refusal
    assert "set `expendable: true` on the device in the inventory" in refusal

    verdict = check_device_safe(kernel.root, TARGET, expendable=True, netns=ns.name)
    assert verdict.refusal is None
    link = ns.link("v0")
    (state,) = verdict.netdevs
    assert state.name == "v0"
    assert state.ifindex == link["ifindex"]
    assert state.admin_up is True
    assert state.operstate == link["operstate"]
    assert "10.9.0.2" in state.addresses
    assert state.carries_default_route is False


@pytest.mark.root
def test_a_down_interface_of_a_device_not_marked_expendable_is_safe(
    ns: Namespace, kernel: FakeKernel
) -> None:
    nic(kernel)
    configure_v0(ns, up=False)
    verdict = check_device_safe(kernel.root, TARGET, expendable=False, netns=ns.name)
    assert verdict.refusal is None
    assert [(s.name, s.admin_up) for s in verdict.netdevs] == [("v0", False)]


@pytest.mark.root
def test_an_interface_netlink_cannot_see_is_refused(ns: Namespace, kernel: FakeKernel) -> None:
    nic(kernel, netdev="v9")
    refusal = check_device_safe(kernel.root, TARGET, expendable=True, netns=ns.name).refusal
    assert refusal is not None
    assert "interface v9 is in sysfs but not visible through netlink" in refusal


@pytest.mark.root
def test_a_group_peer_whose_interface_carries_the_default_route_refuses_the_device(
    ns: Namespace, kernel: FakeKernel
) -> None:
    nic(kernel, TARGET, "v0", group=5)
    nic(kernel, PEER, "v1", group=5)
    ns.ip("route", "add", "default", "via", "10.8.0.1", "dev", "v1")
    verdict = check_device_safe(kernel.root, TARGET, expendable=True, netns=ns.name)
    assert verdict.refusal is not None
    assert f"{PEER} shares IOMMU group 5 with {TARGET}" in verdict.refusal
    assert "interface v1 carries the IPv4 default route" in verdict.refusal
    assert [s.name for s in verdict.netdevs] == ["v0"]


def recreate_later(ns: Namespace, delay_s: float, up: bool) -> threading.Thread:
    """Play the native driver re-creating v0 after a rebind."""

    def work() -> None:
        time.sleep(delay_s)
        ns.veth("v0", "v1")
        if up:
            ns.ip("link", "set", "v0", "up")

    thread = threading.Thread(target=work)
    thread.start()
    return thread


@pytest.mark.root
def test_restore_brings_an_interface_back_up_once_it_reappears(
    ns: Namespace, kernel: FakeKernel
) -> None:
    nic(kernel)
    configure_v0(ns)
    verdict = check_device_safe(kernel.root, TARGET, expendable=True, netns=ns.name)
    assert verdict.refusal is None
    ns.ip("link", "del", "v0")
    thread = recreate_later(ns, 0.5, up=False)
    report = restore_links(verdict.netdevs, netns=ns.name, deadline_s=10)
    thread.join()
    assert report.restored == ("v0",)
    assert report.failed == ()
    assert "UP" in ns.link("v0")["flags"]


@pytest.mark.root
def test_restore_puts_a_down_interface_back_down(ns: Namespace, kernel: FakeKernel) -> None:
    nic(kernel)
    configure_v0(ns, up=False)
    verdict = check_device_safe(kernel.root, TARGET, expendable=False, netns=ns.name)
    assert verdict.refusal is None
    ns.ip("link", "del", "v0")
    recreate_later(ns, 0, up=True).join()
    report = restore_links(verdict.netdevs, netns=ns.name, deadline_s=10)
    assert report.restored == ("v0",)
    assert "UP" not in ns.link("v0")["flags"]


@pytest.mark.root
def test_restore_reports_an_interface_that_never_reappears(ns: Namespace) -> None:
    gone = NetdevState("gone0", 99, "UP", True, (), False)
    started = time.monotonic()
    report = restore_links([gone], netns=ns.name, deadline_s=0.5)
    assert time.monotonic() - started >= 0.5
    assert report.restored == ()
    assert report.failed == ("gone0: did not reappear within 0.5 s",)
