"""May this device be taken from its driver without cutting the machine off?

Binding a device to vfio-pci removes its network interfaces and block
devices with it.  If one of those carried the default route or the
controller's connection, the lab would lose the machine it is testing; if
one held a mounted filesystem or swap, the machine would lose its data.
The check only reads (sysfs, /proc and netlink through pyroute2) and
refuses with a sentence naming the interface or disk and what to do, so a
refusal leaves everything as it was.  vfio takes an IOMMU group whole, so
every device sharing the group is held to the same rules.

irqbalance rewrites interrupt affinities behind a test's back; whether to
pause it for a session or refuse is the caller's decision, so this module
only detects it and offers the stop/start that the caller journals.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import subprocess
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from hil.linux.bdf import BDF_PATTERN, validate_bdf
from hil.linux.sysfile import read_optional

if TYPE_CHECKING:
    from pyroute2 import IPRoute

IFF_UP = 0x1
RTN_UNICAST = 1
IRQBALANCE_UNIT = "irqbalance"
LINK_RESTORE_DEADLINE_S = 30.0
"""How long a netdev may take to reappear once its native driver is bound again."""

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
SystemctlRunner = Callable[[Sequence[str]], subprocess.CompletedProcess[str]]


class SafetyError(RuntimeError):
    """A service could not be paused or resumed; the message says why."""


@dataclass(frozen=True)
class NetdevState:
    """An interface as it was before its device left its driver: what restore puts back."""

    name: str
    ifindex: int
    operstate: str
    admin_up: bool
    addresses: tuple[str, ...]
    carries_default_route: bool


@dataclass(frozen=True)
class SafetyVerdict:
    """`refusal` is None when the device may be taken; `netdevs` is what to restore after."""

    refusal: str | None
    netdevs: tuple[NetdevState, ...]


@dataclass(frozen=True)
class LinkRestoreReport:
    restored: tuple[str, ...]
    failed: tuple[str, ...]


@dataclass(frozen=True)
class ServiceChange:
    """A systemd unit this module stopped or started, in the words a journal needs."""

    unit: str
    action: Literal["stop", "start"]
    command: tuple[str, ...]


# -- sysfs: what hangs below a device ---------------------------------------


@dataclass(frozen=True)
class _BlockDevice:
    name: str
    dev: str | None
    on: str | None
    """For a holder (dm, md), the device's own block device it sits on."""


def _subtree(directory: Path) -> Iterator[tuple[Path, list[str]]]:
    """Real directories below `directory` (with their subdirectory names, prunable).

    Symlinks lead out of the device and child PCI functions (below a
    bridge) are devices of their own, so neither is entered.
    """
    for dirpath, dirnames, _files in os.walk(os.path.realpath(directory), followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if BDF_PATTERN.fullmatch(d) is None)
        yield Path(dirpath), dirnames


def _netdev_names(device_dir: Path) -> list[str]:
    """Interfaces of the device: the kernel files every netdev under `<parent>/net/<name>`."""
    names: list[str] = []
    for path, subdirs in _subtree(device_dir):
        if path.name == "net":
            names += subdirs
            subdirs.clear()
    return sorted(names)


def _is_block(path: Path) -> bool:
    try:
        return os.path.basename(os.readlink(path / "subsystem")) == "block"
    except OSError:
        return False


def _block_devices(device_dir: Path) -> list[_BlockDevice]:
    """Disks and partitions below the device, and (transitively) the dm/md devices on them.

    Disks are recognised by their `subsystem` link rather than a `block/`
    directory: NVMe namespaces sit directly under their controller.
    """
    found: list[_BlockDevice] = []
    seen: set[str] = set()

    def visit(top: Path, on: str | None) -> None:
        for path, _subdirs in _subtree(top):
            real = os.path.realpath(path)
            if not _is_block(path) or real in seen:
                continue
            seen.add(real)
            found.append(_BlockDevice(path.name, read_optional(path / "dev"), on))
            try:
                holders = sorted(os.listdir(path / "holders"))
            except OSError:
                holders = []
            for holder in holders:
                visit(Path(os.path.realpath(path / "holders" / holder)), on or path.name)

    visit(device_dir, None)
    return found


_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


def _unescape(field: str) -> str:
    """Mount tables write space, tab, newline and backslash as octal escapes."""
    return _OCTAL_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


def _device_name(root: Path, source: str) -> str:
    """The kernel name of a `/dev/...` path (`/dev/mapper/vg-home` is `dm-1`)."""
    if source.startswith("/dev/"):
        return os.path.basename(os.path.realpath(root / source.lstrip("/")))
    return os.path.basename(source)


def _block_uses(root: Path, disks: Sequence[_BlockDevice]) -> list[str]:
    """Mounts and swap areas on `disks`, as reasons; unreadable tables count as in use.

    Mounts are matched by device number first (`/dev/root` names nothing)
    and by source name too (btrfs reports an anonymous device number).
    """
    if not disks:
        return []
    by_dev = {d.dev: d for d in disks if d.dev}
    by_name = {d.name: d for d in disks}
    reasons: list[str] = []

    def what(disk: _BlockDevice) -> str:
        return f"block device {disk.name}" + (f" (on {disk.on})" if disk.on else "")

    mountinfo = read_optional(root / "proc/self/mountinfo")
    if mountinfo is None:
        return ["cannot read /proc/self/mountinfo to prove its block devices are not mounted"]
    for line in mountinfo.splitlines():
        fields = line.split()
        if " - " not in line or len(fields) < 5:
            continue
        source = line.split(" - ", 1)[1].split()
        disk = by_dev.get(fields[2])
        if disk is None and len(source) >= 2:
            disk = by_name.get(_device_name(root, _unescape(source[1])))
        if disk is not None:
            reasons.append(f"{what(disk)} is mounted on {_unescape(fields[4])}")

    swaps = read_optional(root / "proc/swaps")
    if swaps is None:
        return [*reasons, "cannot read /proc/swaps to prove its block devices hold no swap"]
    for line in swaps.splitlines()[1:]:
        fields = line.split()
        disk = by_name.get(_device_name(root, _unescape(fields[0]))) if fields else None
        if disk is not None:
            reasons.append(f"{what(disk)} is used as swap")
    return reasons


def _group_peers(device_dir: Path) -> tuple[str | None, list[tuple[str, Path]]]:
    """The device's IOMMU group number and the other devices in it."""
    group = device_dir / "iommu_group"
    if not group.is_symlink():
        return None, []
    members = group / "devices"
    try:
        names = sorted(os.listdir(members))
    except OSError:
        return os.path.basename(os.readlink(group)), []
    own = os.path.realpath(device_dir)
    peers = [
        (name, Path(os.path.realpath(members / name)))
        for name in names
        if os.path.realpath(members / name) != own
    ]
    return os.path.basename(os.readlink(group)), peers


# -- netlink: what the interfaces carry -------------------------------------


def _normalised(address: str) -> IpAddress:
    """The address as a controller might spell it: `::ffff:a.b.c.d` and `%zone` forms too."""
    parsed = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return parsed.ipv4_mapped
    return parsed


def _family_name(family: int) -> str:
    return "IPv6" if family == socket.AF_INET6 else "IPv4"


class _NetworkView:
    """Link, address and route state of one network namespace, read once per check."""

    def __init__(self, ipr: IPRoute, controller: Sequence[IpAddress]) -> None:
        self.ipr = ipr
        self.controller = controller
        self.default_oifs: dict[int, list[str]] = {}
        self.unresolved_defaults: list[str] = []
        for route in ipr.get_routes(family=socket.AF_UNSPEC):
            if route["dst_len"] != 0 or route["type"] != RTN_UNICAST:
                continue
            family = _family_name(route["family"])
            oifs = [hop["oif"] for hop in route.get("multipath") or ()]
            if route.get("oif") is not None:
                oifs.append(route.get("oif"))
            for oif in oifs:
                self.default_oifs.setdefault(oif, []).append(family)
            if not oifs:  # a nexthop object, shown without its interface
                self.unresolved_defaults.append(f"the {family} default route names no interface")
        self.controller_oifs: dict[int, list[IpAddress]] = {}
        for address in controller:
            oif = self._route_oif(address)
            if oif is not None:
                self.controller_oifs.setdefault(oif, []).append(address)

    def _route_oif(self, address: IpAddress) -> int | None:
        from pyroute2.netlink.exceptions import NetlinkError

        try:
            answer = self.ipr.route("get", dst=str(address))
        except NetlinkError:  # unreachable: no interface carries it
            return None
        if not answer or answer[0]["type"] != RTN_UNICAST:
            return None  # local addresses route through lo; ownership is checked apart
        oif = answer[0].get("oif")
        return int(oif) if oif is not None else None

    def state(self, name: str) -> NetdevState | None:
        indices = self.ipr.link_lookup(ifname=name)
        if not indices:
            return None
        index = int(indices[0])
        link = self.ipr.link("get", index=index)[0]
        addresses = tuple(
            str(a.get("IFA_LOCAL") or a.get("IFA_ADDRESS")) for a in self.ipr.get_addr(index=index)
        )
        return NetdevState(
            name=name,
            ifindex=index,
            operstate=str(link.get("IFLA_OPERSTATE") or "UNKNOWN"),
            admin_up=bool(link["flags"] & IFF_UP),
            addresses=addresses,
            carries_default_route=index in self.default_oifs,
        )

    def reasons(self, state: NetdevState) -> list[str]:
        """Why taking this interface away could cut the machine off; empty if it cannot."""
        found = [
            f"interface {state.name} carries the {family} default route"
            for family in sorted(set(self.default_oifs.get(state.ifindex, [])))
        ]
        if self.unresolved_defaults and (state.admin_up or state.addresses):
            found += [
                f"{why} (a nexthop object?), so nothing proves that "
                f"interface {state.name} does not carry it"
                for why in self.unresolved_defaults
            ]
        owned = {_normalised(a) for a in state.addresses}
        found += [
            f"interface {state.name} carries {address}, an address the controller uses "
            "to reach this machine"
            for address in self.controller
            if address in owned
        ]
        found += [
            f"interface {state.name} carries the route to the controller's address {address}"
            for address in self.controller_oifs.get(state.ifindex, [])
        ]
        return found


def _netdev_refusals(
    view: _NetworkView, names: Iterable[str], expendable: bool, up_advice: str
) -> tuple[list[str], list[NetdevState]]:
    reasons: list[str] = []
    states: list[NetdevState] = []
    for name in names:
        state = view.state(name)
        if state is None:
            reasons.append(
                f"interface {name} is in sysfs but not visible through netlink here "
                "(another network namespace?), so its state cannot be checked"
            )
            continue
        states.append(state)
        reasons += view.reasons(state)
        if state.admin_up and not expendable:
            reasons.append(f"interface {name} is up; {up_advice}")
    return reasons, states


# -- the check ----------------------------------------------------------------


def check_device_safe(
    root: Path,
    bdf: str,
    expendable: bool,
    controller_addresses: Collection[str] = (),
    netns: str | None = None,
) -> SafetyVerdict:
    """Refuse (with every reason found) if unbinding `bdf` could cut off or damage the machine.

    `expendable` is the inventory's word that the device's interfaces may go
    down; it never excuses a default route, the controller's address or a
    mounted disk.  `netns` names the network namespace whose interfaces the
    device's netdevs are (None: this process's).
    """
    controller = [_normalised(a) for a in controller_addresses]
    device_dir = root / "sys/bus/pci/devices" / validate_bdf(bdf)
    if not device_dir.exists():
        return SafetyVerdict(f"refusing to take {bdf} from its driver: no such PCI device", ())
    group, peers = _group_peers(device_dir)
    own_netdevs = _netdev_names(device_dir)
    peer_netdevs = [(peer, _netdev_names(path)) for peer, path in peers]
    reasons = _block_uses(root, _block_devices(device_dir))
    shared = f"shares IOMMU group {group} with {bdf}, and vfio takes the whole group"
    for peer, path in peers:
        reasons += [f"{peer} {shared}: {why}" for why in _block_uses(root, _block_devices(path))]
    states: list[NetdevState] = []
    if own_netdevs or any(names for _, names in peer_netdevs):
        from pyroute2 import IPRoute  # netlink costs a second of a TCG agent's start: on use only

        with IPRoute(netns=netns) as ipr:
            view = _NetworkView(ipr, controller)
            own_reasons, states = _netdev_refusals(
                view,
                own_netdevs,
                expendable,
                "set `expendable: true` on the device in the inventory to allow taking it down",
            )
            reasons += own_reasons
            for peer, names in peer_netdevs:
                peer_reasons, _ = _netdev_refusals(
                    view, names, False, "take it down first: only the device itself can be "
                    "marked expendable in the inventory",
                )  # fmt: skip
                reasons += [f"{peer} {shared}: {why}" for why in peer_reasons]
    refusal = f"refusing to take {bdf} from its driver: " + "; ".join(reasons) if reasons else None
    return SafetyVerdict(refusal, tuple(states))


# -- after the device is back -------------------------------------------------


def restore_links(
    states: Iterable[NetdevState],
    netns: str | None = None,
    deadline_s: float = LINK_RESTORE_DEADLINE_S,
    poll_s: float = 0.1,
) -> LinkRestoreReport:
    """Put each interface back up or down once its native driver has re-created it.

    Interfaces are found by name: rebinding gives them new ifindexes, and
    udev renames them to their stable names before they are usable.
    """
    waiting = {state.name: state.admin_up for state in states}
    restored: list[str] = []
    failed: list[str] = []
    end = time.monotonic() + deadline_s
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError

    with IPRoute(netns=netns) as ipr:
        while waiting:
            for name in sorted(waiting):
                indices = ipr.link_lookup(ifname=name)
                if not indices:
                    continue
                up = waiting.pop(name)
                try:
                    ipr.link("set", index=indices[0], state="up" if up else "down")
                except NetlinkError as exc:
                    failed.append(f"{name}: setting it {'up' if up else 'down'} failed: {exc}")
                else:
                    restored.append(name)
            if not waiting or time.monotonic() >= end:
                break
            time.sleep(poll_s)
    failed += [f"{name}: did not reappear within {deadline_s:g} s" for name in sorted(waiting)]
    return LinkRestoreReport(tuple(restored), tuple(failed))


# -- irqbalance -----------------------------------------------------------------


def irqbalance_pids(root: Path = Path("/")) -> list[int]:
    """Processes named irqbalance, however they were started (systemd or not)."""
    pids = []
    try:
        entries = os.listdir(root / "proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            comm = read_optional(root / "proc" / entry / "comm")
        except OSError:  # it exited between the listing and the read (ESRCH)
            continue
        if comm == "irqbalance":
            pids.append(int(entry))
    return sorted(pids)


def irqbalance_policy(root: Path = Path("/")) -> str | None:
    """Why a session must not run as things are, or None when irqbalance is not running."""
    pids = irqbalance_pids(root)
    if not pids:
        return None
    listed = ", ".join(str(p) for p in pids)
    return (
        f"irqbalance is running (pid {listed}) and rewrites interrupt affinities behind a "
        "test's back; pause it for the session or stop it (systemctl stop irqbalance)"
    )


def _systemctl(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=60, check=False)


def _service(action: Literal["stop", "start"], run: SystemctlRunner) -> ServiceChange:
    command = ("systemctl", action, IRQBALANCE_UNIT)
    proc = run(command)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout or "").strip()
        raise SafetyError(f"`{' '.join(command)}` failed ({proc.returncode}): {detail}")
    return ServiceChange(IRQBALANCE_UNIT, action, command)


def pause_irqbalance(
    root: Path = Path("/"), run: SystemctlRunner = _systemctl
) -> ServiceChange | None:
    """Stop irqbalance through systemd; None when it was not running (nothing to undo).

    The process table is checked again afterwards: an irqbalance that
    systemd did not start survives `systemctl stop`.
    """
    if not irqbalance_pids(root):
        return None
    change = _service("stop", run)
    survivors = irqbalance_pids(root)
    if survivors:
        raise SafetyError(
            f"irqbalance still runs (pid {', '.join(map(str, survivors))}) after "
            "`systemctl stop irqbalance`: it was not started by systemd; stop it by hand"
        )
    return change


def resume_irqbalance(run: SystemctlRunner = _systemctl) -> ServiceChange:
    """Start irqbalance again, undoing `pause_irqbalance`."""
    return _service("start", run)
