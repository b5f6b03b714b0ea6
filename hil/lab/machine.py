"""The operations a lab machine performs on itself.

One class serves every transport: a local machine calls it in process, a
remote or virtual machine runs it inside the agent.  Each scenario step is
a single operation (`run_step`) that snapshots counters, acts, waits for
the device's interrupt with a deadline, and observes again, so the timing
of a step does not depend on how far away the controller is.

Every change to the machine is journaled before it is made, so whatever
kills this process, the next session or `hil restore` puts it back.
"""

from __future__ import annotations

import errno
import logging
import os
import subprocess
import time
import uuid
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from hil.devices.answering import AnsweringIO, DeviceStoppedAnswering, Presence, explain
from hil.devices.base import DeviceError, DeviceUnavailable, StoredMessageDriver
from hil.devices.registry import driver_for
from hil.lab.calibrate import live_calibration, machine_facts
from hil.lab.codeid import code_digest
from hil.lab.firing import PacedFires, check_silence, fires_while_moving, paced_fires
from hil.lab.journal import AffinityEntry, CpuEntry, DriverEntry, Journal, restore_sessions
from hil.lab.observe import Fired, Observer
from hil.lab.opened import OpenedDevice
from hil.lab.restorer import SysfsRestorer
from hil.lab.safety import check_device_safe, irqbalance_policy, restore_links
from hil.lab.testlinks import link_is_up, set_test_link
from hil.linux.binding import DriverBinding
from hil.linux.boot import boot_id
from hil.linux.cpulist import format_cpulist
from hil.linux.cpus import CpuHotplug
from hil.linux.dmesg import dmesg_text_or_empty
from hil.linux.pci import PciDevice, PciSysfs, parse_capabilities
from hil.linux.procirq import ProcIrq
from hil.model import steps as S
from hil.model.codec import decode
from hil.model.vocabulary import IrqIndex, StepOutcome
from hil.vfio.errors import VectorsNotGranted, VfioError
from hil.vfio.session import open_device

FIRE_DEADLINE_S = 3.0
"""How long a fire waits for its eventfd; a missing interrupt costs this much."""

KERNEL_LOG_LINES = 20
"""Kernel log lines a device that stopped answering takes into its error (the last ones)."""

VFIO_INDEX = {IrqIndex.MSI: 1, IrqIndex.MSIX: 2}

log = logging.getLogger("hil.machine")


def _end_of_burst(dev: OpenedDevice, entry: int, times: int, paced: PacedFires) -> Fired:
    """After `paced` (all fires of a burst but the last): the fires a silent one left
    unpaced, then the last, whose interrupt the step itself awaits and observes."""
    for _ in range(times - 1 - paced.fired):
        dev.driver.fire(entry)  # one did not arrive: the rest cannot be paced
    dev.driver.fire(entry)
    return Fired(dev, entry, times, paced.received)


class OperationError(RuntimeError):
    """A machine operation was refused; the message says why and what to do."""


ALLOCATING_STEPS = (S.Enable, S.Request, S.Release, S.Disable)
"""Steps that may allocate or free a device's vectors (and so renumber its irqs)."""


class MachineOps:
    OPERATIONS: ClassVar[frozenset[str]] = frozenset(
        {
            "facts",
            "calibrate",
            "session_begin",
            "resolve_device",
            "attach_device",
            "detach_device",
            "run_step",
            "restore",
            "dmesg_since_mark",
            "bench_raw_fire",
            "bench_bare_vectors",
            "set_test_link",
            "link_is_up",
            "current_driver",
        }
    )

    def __init__(self, state_dir: Path, machine: str, root: Path = Path("/")) -> None:
        self.root = root
        self.machine = machine
        self.state_dir = state_dir
        self.session_id = uuid.uuid4().hex[:12]
        self.boot_id = boot_id(root)
        self.journal = Journal(state_dir / "journal", self.session_id, self.boot_id)
        self.binding = DriverBinding(root)
        self.pci = PciSysfs(root)
        self.procirq = ProcIrq(root)
        self.hotplug = CpuHotplug(root)
        self.observer = Observer(root, self.session_id)
        self._first_log: str | None = None
        self.devices: dict[str, OpenedDevice] = {}
        self.offlined: set[int] = set()
        self.touched_irqs: set[int] = set()

    # -- session --------------------------------------------------------
    def hello(self) -> dict[str, Any]:
        return {
            "machine": self.machine,
            "kernel": os.uname().release,
            "pid": os.getpid(),
            "code": code_digest(),
        }

    def facts(self) -> dict[str, Any]:
        return machine_facts(self.root, self._boot_log())

    def session_begin(self, kernel_writes: bool = False) -> dict[str, Any]:
        """Put back whatever an earlier, killed session left changed; trace, with the
        kprobes on the kernel's message writers only when `kernel_writes` is asked:
        under TCG they made every step about three times slower (docs/kernel-writes.md)."""
        report = self.restore()
        self.observer.start_tracing(self.journal, kernel_writes)
        return report

    def session_end(self) -> None:
        for name in list(self.devices):
            self.detach_device(name)
        # The probes go before the restore, which would otherwise remove them as
        # journaled leftovers and leave their journal handles pointing at nothing.
        self.observer.stop_tracing()
        self.restore()

    def restore(self) -> dict[str, Any]:
        report = restore_sessions(self.journal.directory, SysfsRestorer(self.root), self.boot_id)
        for item in report.restored:
            log.info("journal: restored %s (session %s)", item.entry, item.session_id)
        for item in report.dropped:
            log.info(
                "journal: dropped %s (session %s, recorded in boot %s; this is boot %s)",
                item.entry, item.session_id, item.boot_id, self.boot_id,
            )  # fmt: skip
        for failure in report.failed:
            log.warning("journal: not restored: %s", failure)
        return {
            "restored": [str(p.entry) for p in report.restored],
            "failed": [f"{f.entry}: {f.error}" for f in report.failed],
            "dropped": [str(p.entry) for p in report.dropped],
        }

    def calibrate(self) -> dict[str, Any]:
        return live_calibration(self.root, self._boot_log()).to_dict()

    def _boot_log(self) -> str:
        """The kernel log as this agent first read it: the boot lines calibration needs."""
        if self._first_log:
            return self._first_log
        self._first_log = dmesg_text_or_empty(self.root)  # kept only if a log was read
        return self._first_log

    def set_test_link(
        self, bdf: str, up: bool, address: str | None = None, default_route: bool = False
    ) -> str:
        if any(d.bdf == bdf for d in self.devices.values()):
            raise OperationError(f"{bdf} is attached to vfio-pci: it has no interface now")
        return set_test_link(self.root, self._pci_device(bdf).bdf, up, address, default_route)

    def link_is_up(self, bdf: str) -> bool:
        return link_is_up(self.root, self._pci_device(bdf).bdf)

    def current_driver(self, bdf: str) -> str | None:
        return self.binding.current_driver(self._pci_device(bdf).bdf)

    def dmesg_since_mark(self) -> list[str]:
        return self.observer.dmesg_lines()

    # -- devices --------------------------------------------------------
    def _pci_device(self, bdf: str) -> PciDevice:
        device = self.pci.device(bdf)
        if device is None:
            raise OperationError(f"no PCI device {bdf} on {self.machine}")
        return device

    def resolve_device(self, bdf: str | None, pci_id: str | None, instance: int = 0) -> str:
        if bdf:
            return self._pci_device(bdf).bdf
        if not pci_id:
            raise OperationError("a device needs a bdf or a pci_id")
        vendor, device = (int(x, 16) for x in pci_id.split(":"))
        found = sorted(d.bdf for d in self.pci.find(vendor, device))
        if len(found) <= instance:
            raise OperationError(
                f"no PCI device {pci_id} (instance {instance}) on {self.machine}; found {found}"
            )
        return found[instance]

    def attach_device(
        self,
        name: str,
        bdf: str,
        driver: str,
        expendable: bool = False,
        controller_addresses: list[str] | None = None,
    ) -> dict[str, Any]:
        """Bind to vfio-pci (journaled), open it through VFIO and init its driver.

        Refused, with nothing changed, when taking the device from its driver
        could cut the machine off: a network interface carrying the default
        route or the controller's address, an interface that is up on a device
        the inventory does not call expendable, or a mounted disk.
        """
        if name in self.devices:
            raise OperationError(f"device {name} is already attached")
        drv_cls = driver_for(driver)
        reason = drv_cls.fire_unsupported_reason()
        pci = self._pci_device(bdf)
        if controller_addresses is None:
            # Over SSH the agent knows the controller's address and its own.
            ssh = os.environ.get("SSH_CONNECTION", "").split()
            controller_addresses = [ssh[0], ssh[2]] if len(ssh) == 4 else []
        # irqbalance rewrites affinities behind a test's back: refuse rather than
        # judge a machine someone else is steering.
        balancing = irqbalance_policy(self.root)
        if balancing is not None:
            raise OperationError(balancing)
        safety = check_device_safe(self.root, bdf, expendable, controller_addresses)
        if safety.refusal is not None:
            raise OperationError(safety.refusal)
        handle_entry = self.journal.record(
            DriverEntry(bdf=bdf, original_driver=pci.driver, original_override=pci.driver_override)
        )
        self._load_vfio_pci()
        record = self.binding.bind(bdf, "vfio-pci")
        self.journal.mark_applied(handle_entry)
        try:
            group = pci.iommu_group
            if group is None:
                raise OperationError(f"{bdf} has no IOMMU group: is the IOMMU on?")
            closer = ExitStack()
            handle = closer.enter_context(open_device(bdf, group, self.root))
            presence = Presence(name, bdf, partial(self.pci.live_vendor_id, bdf))
            try:
                io = handle.io
                handle.device.enable_bus_master()
                drv = drv_cls()
                drv.init(AnsweringIO(io, presence))
            except BaseException:
                closer.close()
                raise
        except BaseException:
            self.binding.restore(record)
            raise
        self.devices[name] = OpenedDevice(
            name, bdf, drv, handle, closer, io, record, handle_entry, presence,
            links=safety.netdevs,
        )  # fmt: skip
        self.observer.forget(self.devices[name])
        msi = handle.device.irq_info(1)
        msix = handle.device.irq_info(2)
        caps = parse_capabilities(self.pci.config_bytes(bdf))
        return {
            "caps": {
                "msi_max": caps.msi.max_vectors if caps.msi else 0,
                "msi_64bit": bool(caps.msi and caps.msi.is_64bit),
                "msi_maskable": bool(caps.msi and caps.msi.per_vector_mask),
                "msix_size": caps.msix.table_size if caps.msix else 0,
                "numa_node": pci.numa_node
                if pci.numa_node is not None and pci.numa_node >= 0
                else None,
            },
            "bdf": bdf,
            "msi_count": msi.count,
            "msix_count": msix.count,
            "fire_unsupported": reason,
            "vfio_mode": str(handle.container.mode),
        }

    def _load_vfio_pci(self) -> None:
        if (self.root / "sys/bus/pci/drivers/vfio-pci").is_dir():
            return
        proc = subprocess.run(["modprobe", "vfio-pci"], capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise OperationError(f"cannot load vfio-pci: {proc.stderr.strip()}")

    def detach_device(self, name: str) -> None:
        dev = self.devices.pop(name, None)
        if dev is None:
            return
        self.observer.forget(dev)
        try:
            if dev.index is not None:
                dev.handle.device.disable_irqs(VFIO_INDEX[dev.index])
            dev.driver.remove()
        finally:
            dev.close_eventfds()
            dev.closer.close()
            self.binding.restore(dev.bind_record)
            self.journal.complete(dev.journal_handle)
            if dev.links:
                report = restore_links(dev.links)
                if report.failed:
                    raise OperationError(
                        f"{dev.bdf}: links not restored: {', '.join(report.failed)}"
                    )

    def _device(self, name: str) -> OpenedDevice:
        try:
            return self.devices[name]
        except KeyError:
            raise OperationError(f"device {name} is not attached on {self.machine}") from None

    # -- steps ----------------------------------------------------------
    def run_step(self, number: int, step: dict[str, Any]) -> StepOutcome:
        decoded = decode(step)
        try:
            return self._run_step(number, decoded, step)
        except DeviceError as exc:
            explained = self._explain(decoded, exc)
            if explained is exc:
                raise
            raise explained from exc

    def _explain(self, step: S.Step, error: DeviceError) -> DeviceError:
        """A device error of a step, told as the device's absence when it stopped answering.

        The kernel log of the step goes with it: a link-down, AER or DMAR line
        there says which of the causes of all ones it was.
        """
        name = getattr(step, "device", None)
        dev = self.devices.get(name) if isinstance(name, str) else None
        if dev is None:
            return error
        explained = explain(error, dev.presence)
        if not isinstance(explained, DeviceStoppedAnswering):
            return explained
        lines = self.observer.step_kernel_log()[-KERNEL_LOG_LINES:]
        kernel_log = "\n".join(f"  {line}" for line in lines) or "  (nothing)"
        return explained.with_evidence(f"kernel log during the step:\n{kernel_log}")

    def _run_step(self, number: int, decoded: S.Step, step: dict[str, Any]) -> StepOutcome:
        hotplug = isinstance(decoded, (S.CpuOffline, S.CpuOnline))
        before = self.observer.snapshot(self.devices.values(), hotplug=hotplug)
        errno_name: str | None = None
        granted: int | None = None
        fired: Fired | None = None
        try:
            match decoded:
                case S.Enable():
                    granted = self._enable(decoded)
                case S.Request(device, entry):
                    self._request(self._device(device), entry)
                case S.Release(device, entry):
                    dev = self._device(device)
                    self._set(dev, entry, -1)
                case S.Affinity(device, entry, cpus):
                    errno_name = self._affinity(self._device(device), entry, cpus)
                case S.Fire(device, entry, times):
                    fired = self._fire(self._device(device), entry, times)
                case S.FireWhileMoving(device, entry, fires, masks):
                    errno_name, fired = self._fire_while_moving(
                        self._device(device), entry, fires, masks
                    )
                case S.Store(device, entry):
                    self._store(self._device(device), entry)
                case S.FireStored(device):
                    dev = self._device(device)
                    if not isinstance(dev.driver, StoredMessageDriver):
                        raise OperationError(f"{device}'s driver cannot store a message")
                    dev.driver.fire_stored()
                    fired = Fired(dev, None)
                case S.CpuOffline(cpu):
                    errno_name = self._cpu(cpu, online=False)
                case S.CpuOnline(cpu):
                    errno_name = self._cpu(cpu, online=True)
                case S.Disable(device):
                    self._disable(self._device(device))
                case _:
                    raise OperationError(f"not a step: {step!r}")
        except VfioError as exc:
            errno_name = errno.errorcode.get(exc.errno, str(exc.errno)) if exc.errno else str(exc)
        except DeviceUnavailable as exc:
            raise OperationError(str(exc)) from exc
        if fired is not None:
            if self.observer.wait_delivery(fired.device, fired.entry, before, FIRE_DEADLINE_S):
                check_silence(fired.device, fired.entry, FIRE_DEADLINE_S)
            if fired.entry is not None:
                fired.device.driver.acknowledge(fired.entry)
        return self.observer.outcome(
            number, S.describe(decoded), self.devices.values(), before, errno_name, granted,
            fired=fired, allocates=isinstance(decoded, ALLOCATING_STEPS),
        )  # fmt: skip

    def _fire(self, dev: OpenedDevice, entry: int, times: int) -> Fired:
        """All but the last fire of a burst paced here; the last is the step's own."""
        if times > 1:
            if entry not in dev.eventfds:
                raise OperationError(
                    f"fire {dev.name}[{entry}] x{times}: a burst needs a requested vector "
                    "(its eventfd paces the fires); fire it once per step instead"
                )
            return _end_of_burst(
                dev, entry, times, paced_fires(dev, entry, times - 1, FIRE_DEADLINE_S)
            )
        dev.driver.fire(entry)
        return Fired(dev, entry, times, 0)

    def _fire_while_moving(
        self, dev: OpenedDevice, entry: int, fires: int, masks: tuple[tuple[int, ...], ...]
    ) -> tuple[str | None, Fired | None]:
        """All but the last fire race the affinity writer; the last follows its final write."""
        if entry not in dev.eventfds:
            raise OperationError(
                f"fire_while_moving {dev.name}[{entry}]: needs a requested vector "
                "(its eventfd paces the fires)"
            )
        irq = self.observer.irq_of(dev, entry)
        if irq is None:
            return "ENOENT", None
        online = set(self.hotplug.online_cpus())
        if any(not online.intersection(mask) for mask in masks):
            return "EINVAL", None
        self._journal_affinity(irq)
        moving = fires_while_moving(
            dev, entry, fires - 1, masks,
            lambda cpus: self.procirq.set_affinity(irq, cpus).errno, FIRE_DEADLINE_S,
        )  # fmt: skip
        return moving.errno, _end_of_burst(dev, entry, fires, moving.paced)

    def bench_raw_fire(self, device: str, entry: int, count: int) -> dict[str, Any]:
        """Fire a requested vector `count` times, each time waiting for and reading its
        eventfd, with no observation: the bare pace `benchmarks/` compares steps with."""
        dev = self._device(device)
        if entry not in dev.eventfds:
            raise OperationError(f"{device}[{entry}] has no eventfd: enable and request it first")
        start = time.perf_counter()
        paced = paced_fires(dev, entry, count, FIRE_DEADLINE_S)
        return {
            "seconds": time.perf_counter() - start,
            "fired": paced.fired,
            "received": paced.received,
        }

    def bench_bare_vectors(self, device: str, count: int) -> dict[str, Any]:
        """Enable `count` MSI-X vectors, fire each once (paced), disable: the device work
        of an every-vector test with nothing observed, the bare side `benchmarks/`
        compares a whole test with."""
        dev = self._device(device)
        start = time.perf_counter()
        self._enable(S.Enable(device, IrqIndex.MSIX, count))
        received = sum(paced_fires(dev, k, 1, FIRE_DEADLINE_S).received for k in range(count))
        self._disable(dev)
        return {"seconds": time.perf_counter() - start, "received": received}

    def _disable(self, dev: OpenedDevice) -> None:
        index = dev.index or dev.last_index
        dev.close_eventfds()
        dev.index = None
        # Issued even when nothing is enabled: vfio answers EINVAL then.
        dev.handle.device.disable_irqs(VFIO_INDEX[index])

    def _enable(self, step: S.Enable) -> int | None:
        dev = self._device(step.device)
        if step.index is IrqIndex.IMS:
            raise OperationError(
                "vfio has no IMS interface: IMS vectors cannot be allocated through vfio-pci "
                "(use the device-stored-message steps to show the IMS argument)"
            )
        dev.last_index = step.index
        fds = []
        for entry in range(step.count):
            if entry in step.unrequested:
                fds.append(-1)
            else:
                fds.append(os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC))
        try:
            dev.handle.device.set_irqs(VFIO_INDEX[step.index], 0, fds)
        except VectorsNotGranted as exc:
            for fd in fds:
                if fd >= 0:
                    os.close(fd)
            return exc.granted
        except BaseException:
            for fd in fds:
                if fd >= 0:
                    os.close(fd)
            raise
        dev.index = step.index
        dev.count = step.count
        dev.eventfds = {entry: fd for entry, fd in enumerate(fds) if fd >= 0}
        dev.known_entries = set(range(step.count))
        dev.driver.enable_vectors(step.count)
        return None

    def _set(self, dev: OpenedDevice, entry: int, fd: int) -> None:
        if dev.index is None:
            raise VfioError("SET_IRQS", errno.EINVAL, "no interrupt index enabled")
        dev.handle.device.set_irqs(VFIO_INDEX[dev.index], entry, [fd])
        old = dev.eventfds.pop(entry, None)
        if old is not None:
            os.close(old)
        if fd >= 0:
            dev.eventfds[entry] = fd

    def _request(self, dev: OpenedDevice, entry: int) -> None:
        fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        try:
            self._set(dev, entry, fd)
        except BaseException:
            os.close(fd)
            raise
        dev.known_entries.add(entry)
        if entry >= dev.count:
            # vfio allocated it past the enabled block (dynamic MSI-X, 6.5+):
            # the device must now route a cause to it too.
            dev.count = entry + 1
            dev.driver.enable_vectors(dev.count)

    def _affinity(self, dev: OpenedDevice, entry: int, cpus: tuple[int, ...]) -> str | None:
        irq = self.observer.irq_of(dev, entry)
        if irq is None:
            return "ENOENT"
        self._journal_affinity(irq)
        return self.procirq.set_affinity(irq, cpus).errno

    def _journal_affinity(self, irq: int) -> None:
        if irq not in self.touched_irqs:
            original = format_cpulist(self.procirq.affinity(irq))
            handle = self.journal.record(AffinityEntry(irq=irq, original_affinity=original))
            self.journal.mark_applied(handle)
            self.touched_irqs.add(irq)

    def _store(self, dev: OpenedDevice, entry: int) -> None:
        if not isinstance(dev.driver, StoredMessageDriver):
            raise OperationError(f"{dev.name}'s driver cannot store a message")
        message = self.observer.message_of(dev, entry)
        if message is None:
            raise OperationError(f"{dev.name}[{entry}] has no message to store")
        dev.driver.store(message)
        dev.stored = message

    def _cpu(self, cpu: int, online: bool) -> str | None:
        """The errno of the sysfs write; ENOENT where the CPU has no `online` file."""
        if not online and cpu not in self.offlined and self.hotplug.is_hotpluggable(cpu):
            handle = self.journal.record(CpuEntry(cpu=cpu, was_online=True))
            self.journal.mark_applied(handle)
            self.offlined.add(cpu)
        result = self.hotplug.set_online(cpu, online)
        if online and result is None:
            self.offlined.discard(cpu)
        return result
