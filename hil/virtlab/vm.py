"""One virtual lab machine: a real Debian kernel under QEMU, driven through its agent.

virtme-ng boots the kernel with the host's root file system shared
read-only, so the guest runs this very package with the host's Python; the
agent in the guest answers on a virtio-serial port that QEMU exposes here as
a 0600 unix socket (never TCP).  The agent's greeting is the boot heartbeat:
no greeting before the deadline, or a panic or a lost-timer hang in the boot
log (`bootlog`), means the boot failed, and it is retried once (hangs were
seen under TCG).

A machine started for one pytest session is *ephemeral*: when the
controller's connection closes (even by SIGKILL) the agent powers the guest
off, so no QEMU outlives its owner.  `hil lab up` starts *persistent*
machines that wait for the next controller instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hil
from hil.lab.codeid import code_digest
from hil.lab.transport.protocol import AgentError, TransportError
from hil.lab.transport.stream import StreamTransport
from hil.linux.procstat import all_proc_stats, proc_stat
from hil.virtlab.accel import kvm_works
from hil.virtlab.bootlog import boot_hang_in, last_stall, panic_in
from hil.virtlab.bootslots import boot_slot
from hil.virtlab.kernels import KernelImage
from hil.virtlab.qemu_args import VmSpec, device_args, kernel_args, numa_node_args
from hil.virtlab.qmp import Qmp, QmpError

AGENT_PORT = "hil.agent"
BOOT_TIMEOUT_S = 300.0
"""From QEMU's start to the agent's greeting.  A TCG guest alone boots in 70-150 s;
with three other guests on a 2-core host the 6.1 kernel reached its init script
only after 105 s and the agent's imports over 9p took the rest (2026-12-02)."""
GREETING_RETRY_S = 30.0
"""How long one connection waits for a greeting before the host end is reopened."""
SILENCE_QMP_TIMEOUT_S = 3.0
"""How long a deadline's error waits for QEMU's word on the guest (QEMU itself may hang)."""


class BootError(RuntimeError):
    """The machine did not come up; the message says what was seen."""


class StaleAgent(BootError):
    """The running guest's agent runs other framework code than this controller."""


@dataclass(frozen=True)
class VmState:
    """What a later process needs to reach a running machine (state.json)."""

    name: str
    pgid: int
    agent_socket: str
    qmp_socket: str
    boot_log: str
    persistent: bool
    accel: str
    kernel_release: str
    boot_seconds: float
    leader_start: int | None = None
    """Start time of the group's leader (clock ticks since the host booted): a
    state.json that outlived its machine (a host restarted with /run kept) may
    name a pgid that an unrelated process holds now.  None: written by an older
    hil, the pgid is trusted."""

    def alive(self) -> bool:
        """The machine's own process group still runs something.

        A pid is not reused while its process group exists, so a leader that
        exited with QEMU still running is fine; a leader with another start
        time is someone else's process, never to be signalled.
        """
        if self.leader_start is not None:
            leader = proc_stat(self.pgid)
            if leader is not None and leader.start_time != self.leader_start:
                return False
        return _alive(self.pgid)

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=2)

    @classmethod
    def load(cls, path: Path) -> VmState:
        return cls(**json.loads(path.read_text()))


def _project_root() -> Path:
    return Path(hil.__file__).resolve().parent.parent


def _vng() -> str:
    found = shutil.which("vng") or str(Path(sys.executable).parent / "vng")
    if not Path(found).exists():
        raise BootError("virtme-ng (`vng`) is not installed; run the setup step from the README")
    return found


def _alive(pgid: int) -> bool:
    """Some process of the group is still running: a zombie is not.

    QEMU gone, its `vng` parent stays a zombie until whoever started it reaps
    it, and `killpg(pgid, 0)` still succeeds on that zombie: another process
    (`hil restore`, `hil lab status`) would wait on a machine that is gone.
    The group's leader is asked first; the other processes are listed only
    when it has exited (this runs every 50 ms while a machine is awaited).
    """
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    leader = proc_stat(pgid)
    if leader is not None and not leader.exited:
        return True
    return any(s.pgrp == pgid and not s.exited for s in all_proc_stats())


class VirtualMachine:
    def __init__(
        self, spec: VmSpec, kernel: KernelImage | None, state_dir: Path, qemu: str
    ) -> None:
        """`kernel` may be None for a machine that is only to be reached or stopped."""
        self.spec = spec
        self.kernel = kernel
        self.state_dir = state_dir
        self.qemu = qemu
        self.rw_dir = state_dir / "rw"
        self.agent_socket = state_dir / "agent.sock"
        self.qmp_socket = state_dir / "qmp.sock"
        self.boot_log = state_dir / "boot.log"
        self.state_file = state_dir / "state.json"
        self._conn: socket.socket | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self.state: VmState | None = None

    # -- starting -------------------------------------------------------
    def _command(self, persistent: bool, accel_kvm: bool) -> list[str]:
        python = sys.executable
        agent = [
            python, "-m", "hil.lab.agent", "--virtio", AGENT_PORT,
            "--state-dir", str(self.rw_dir), "--machine", self.spec.name,
        ]  # fmt: skip
        if not persistent:
            agent.append("--ephemeral")
        if os.environ.get("HIL_AGENT_PROFILE") == "1":
            agent.append("--profile")
        env = f"PYTHONDONTWRITEBYTECODE=1 PYTHONPATH={shlex.quote(str(_project_root()))}"
        exec_line = f"cd / && {env} exec {shlex.join(agent)}"
        ivshmem = {
            d.name: self.state_dir / f"ivshmem-{d.name}.sock"
            for d in self.spec.devices
            if d.model == "ivshmem-doorbell"
        }
        qemu_opts = [
            "-chardev", f"socket,id=hilagent,path={self.agent_socket},server=on,wait=off",
            "-device", f"virtserialport,name={AGENT_PORT},chardev=hilagent",
            "-qmp", f"unix:{self.qmp_socket},server=on,wait=off",
            "-pidfile", str(self.state_dir / "qemu.pid"),
            *device_args(self.spec, self.state_dir, ivshmem),
        ]  # fmt: skip
        if not accel_kvm:
            qemu_opts += ["-accel", f"tcg,thread={self.spec.tcg_threads}"]
        if self.kernel is None:
            raise BootError(f"{self.spec.name}: no kernel to boot")
        cmd = [
            _vng(), "--verbose", "--run", str(self.kernel.vmlinuz), "--disable-microvm",
            "--cpus", str(self.spec.cpus), "--memory", self.spec.memory,
            *numa_node_args(self.spec),
            f"--rwdir={self.rw_dir}", "--append", " ".join(kernel_args(self.spec)),
            f"--qemu={self.qemu}", f"--qemu-opts={shlex.join(qemu_opts)}", "--exec", exec_line,
        ]  # fmt: skip
        if not accel_kvm:
            cmd.append("--disable-kvm")
        return cmd

    def _start_ivshmem_servers(self, pgid_holder: list[int]) -> list[subprocess.Popen[bytes]]:
        procs = []
        for dev in self.spec.devices:
            if dev.model != "ivshmem-doorbell":
                continue
            sock = self.state_dir / f"ivshmem-{dev.name}.sock"
            sock.unlink(missing_ok=True)
            cmd = [
                sys.executable, "-m", "hil.virtlab.ivshmem_server",
                "--socket", str(sock), "--vectors", str(dev.ringable),
            ]  # fmt: skip
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=(self.state_dir / f"ivshmem-{dev.name}.log").open("wb"),
                process_group=pgid_holder[0] if pgid_holder else 0,
                env={**os.environ, "PYTHONPATH": str(_project_root())},
            )
            if not pgid_holder:
                pgid_holder.append(proc.pid)
            deadline = time.monotonic() + 10
            while not sock.exists():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise BootError(
                        f"{self.spec.name}: ivshmem server for {dev.name} did not start"
                    )
                time.sleep(0.05)
            procs.append(proc)
        return procs

    def _launch(self, persistent: bool, accel_kvm: bool) -> int:
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.rw_dir.mkdir(exist_ok=True)
        for path in (self.agent_socket, self.qmp_socket):
            path.unlink(missing_ok=True)
        pgid_holder: list[int] = []
        self._start_ivshmem_servers(pgid_holder)
        log = self.boot_log.open("wb")
        # vng runs its helpers (virtme-run) by name: the venv's bin must be on PATH
        # even when this Python was started by its full path.
        venv_bin = str(Path(sys.executable).parent)
        env = {**os.environ, "PATH": f"{venv_bin}:{os.environ.get('PATH', '')}"}
        proc = subprocess.Popen(
            self._command(persistent, accel_kvm),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            process_group=pgid_holder[0] if pgid_holder else 0,
            cwd=str(self.state_dir),
        )
        self._proc = proc
        return pgid_holder[0] if pgid_holder else proc.pid

    def _connect(self, pgid: int, deadline: float) -> socket.socket:
        while True:
            if self.agent_socket.exists():
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    sock.connect(str(self.agent_socket))
                    os.chmod(self.agent_socket, 0o600)
                    return sock
                except OSError:
                    sock.close()
            if not _alive(pgid) or (self._proc is not None and self._proc.poll() is not None):
                raise BootError(f"{self.spec.name}: QEMU exited during start; see {self.boot_log}")
            if time.monotonic() > deadline:
                raise BootError(f"{self.spec.name}: QEMU did not open the agent socket in time")
            time.sleep(0.05)

    @property
    def qmp(self) -> Qmp:
        return Qmp(self.qmp_socket)

    def _silence_evidence(self) -> str:
        """What QEMU knows of a guest whose agent stopped answering: paused, crashed
        (internal-error, guest-panicked) or running, that is hung inside."""
        try:
            status = Qmp(self.qmp_socket, timeout=SILENCE_QMP_TIMEOUT_S).status()
        except QmpError as exc:
            return f"QEMU did not say what the guest is doing: {exc}"
        try:
            text = self.boot_log.read_bytes()[-65536:].decode(errors="replace")
        except OSError:
            text = ""
        if stall := last_stall(text):
            return (
                f"QEMU reports the guest {status}; its kernel is stalled: {stall} ({self.boot_log})"
            )
        lines = text.splitlines()
        tail = lines[-1].strip() if lines else "(empty)"
        return f"QEMU reports the guest {status}; {self.boot_log} ends: {tail}"

    def _boot_problem(self, pgid: int, booting: bool = False) -> str | None:
        """Why the guest cannot answer any more, or None; `booting` (no greeting
        yet) also counts a lost-timer hang, which a boot never recovers from."""
        if not _alive(pgid) or (self._proc is not None and self._proc.poll() is not None):
            return f"QEMU exited; see {self.boot_log}"
        try:
            tail = self.boot_log.read_bytes()[-20000:].decode(errors="replace")
        except OSError:
            return None
        if panic_in(tail):
            return f"guest kernel panic; see {self.boot_log}"
        if booting and boot_hang_in(tail):
            return f"guest kernel lost a timer interrupt while booting (hung); see {self.boot_log}"
        return None

    def _boot_once(self, persistent: bool, accel_kvm: bool, timeout: float) -> dict[str, Any]:
        start = time.monotonic()
        pgid = self._launch(persistent, accel_kvm)
        try:
            sock = self._connect(pgid, start + 30)
            transport = StreamTransport(
                sock.fileno(),
                sock.fileno(),
                alive=lambda: self._boot_problem(pgid, booting=transport.hello is None),
                silence=self._silence_evidence,
                name=self.spec.name,
            )
            hello = transport.wait_hello(timeout)
        except (TransportError, BootError) as exc:
            self._kill(pgid)
            tail = self.boot_log.read_bytes()[-300:].decode(errors="replace").strip().splitlines()
            raise BootError(f"{exc}; boot log ends: {tail[-1] if tail else '(empty)'}") from exc
        self._conn = sock
        self._transport = transport
        self.state = VmState(
            name=self.spec.name,
            pgid=pgid,
            agent_socket=str(self.agent_socket),
            qmp_socket=str(self.qmp_socket),
            boot_log=str(self.boot_log),
            persistent=persistent,
            accel="kvm" if accel_kvm else f"tcg,thread={self.spec.tcg_threads}",
            kernel_release=str(hello.get("kernel", "")),
            boot_seconds=round(time.monotonic() - start, 2),
            leader_start=leader.start_time if (leader := proc_stat(pgid)) else None,
        )
        self.state_file.write_text(self.state.to_json())
        return hello

    def boot(self, persistent: bool = False, timeout: float = BOOT_TIMEOUT_S) -> VmState:
        """Boot, retrying once after a hang or a panic."""
        if self.kernel is None:
            raise BootError(f"{self.spec.name}: no kernel to boot")
        accel_kvm, _ = kvm_works(self.qemu, self.kernel.vmlinuz, self.state_dir.parent)
        with boot_slot():
            try:
                self._boot_once(persistent, accel_kvm, timeout)
            except (TransportError, BootError) as first:
                (self.state_dir / "boot-failed-1.log").write_bytes(self.boot_log.read_bytes())
                try:
                    self._boot_once(persistent, accel_kvm, timeout)
                except (TransportError, BootError) as second:
                    raise BootError(
                        f"{self.spec.name}: boot failed twice: {first}; then {second}"
                    ) from second
        assert self.state is not None
        return self.state

    # -- reaching a running machine -------------------------------------
    def attach(self, timeout: float = 300.0) -> VmState:
        """Connect to a machine started earlier (by `hil lab up`).

        The deadline covers an agent still importing (after a boot, or after a
        `reexec` because this checkout's code changed): Python's imports take a
        minute or more in a loaded TCG guest.
        """
        if not self.state_file.exists():
            raise BootError(f"{self.spec.name} is not running (no {self.state_file})")
        state = VmState.load(self.state_file)
        if not state.alive():
            raise BootError(f"{self.spec.name}: its QEMU is gone; run `hil lab up` again")
        self._greet(state, timeout)
        self.state = state
        hello = self._transport.hello or {}
        if hello.get("code") != code_digest():
            # The agent was started before this checkout's last edit: a fresh one
            # imports the code as it is now (the guest reads the host's files).
            try:
                self._transport.call("reexec", timeout=timeout)
                self.disconnect()
                self._greet(state, timeout)
                hello = self._transport.hello or {}
            except (TransportError, AgentError, BootError):  # an agent older than `reexec`
                hello = {}
        if hello.get("code") != code_digest():
            self.disconnect()
            raise StaleAgent(
                f"{state.name} runs framework code {hello.get('code')}, this checkout is "
                f"{code_digest()}: restart it (`hil lab down {state.name}`; `hil lab up`)"
            )
        return state

    def _greet(self, state: VmState, timeout: float) -> None:
        """Connect and wait for the agent's greeting, reconnecting while none comes.

        A greeting written while no host was connected can sit in QEMU's
        throttled virtio-serial port until the host end is reopened: a fresh
        connection gets it (seen under TCG after quick disconnect/reconnect).
        """
        deadline = time.monotonic() + timeout
        while True:
            sock = self._connect(state.pgid, deadline)
            self._conn = sock
            self._transport = StreamTransport(
                sock.fileno(),
                sock.fileno(),
                alive=lambda: self._boot_problem(state.pgid),
                silence=self._silence_evidence,
                name=state.name,
            )
            left = deadline - time.monotonic()
            try:
                self._transport.wait_hello(min(GREETING_RETRY_S, max(left, 0.1)))
                return
            except TransportError as exc:
                self.disconnect()
                if time.monotonic() >= deadline or self._boot_problem(state.pgid):
                    raise BootError(
                        f"{state.name}: its agent did not greet within {timeout:.0f} s; another "
                        f"controller may hold its only connection ({exc})"
                    ) from exc

    @property
    def transport(self) -> StreamTransport:
        if self._conn is None:
            raise BootError(f"{self.spec.name} is not connected")
        return self._transport

    def running(self) -> bool:
        try:
            return VmState.load(self.state_file).alive()
        except (OSError, ValueError, TypeError):
            return False

    # -- stopping -------------------------------------------------------
    def disconnect(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def stop(self, timeout: float = 20.0) -> None:
        """Power off: ask the agent, then QEMU, then kill the process group."""
        state = self.state
        if state is None and self.state_file.exists():
            state = VmState.load(self.state_file)
        asked = False
        if self._conn is not None:
            with contextlib.suppress(Exception):  # the guest may be gone; killing follows
                self._transport.call("poweroff", timeout=5)
                asked = True
            self.disconnect()
        if state is not None and state.alive():
            # A guest that was not asked (hung, paused, no agent) is not waited for.
            deadline = time.monotonic() + (timeout if asked else 0)
            while _alive(state.pgid) and time.monotonic() < deadline:
                time.sleep(0.1)
            self._kill(state.pgid)
        self.state_file.unlink(missing_ok=True)
        self.state = None

    @staticmethod
    def _kill(pgid: int) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + 5
            while _alive(pgid) and time.monotonic() < deadline:
                time.sleep(0.05)
