"""The agent: runs on a lab machine and performs the framework's operations there.

Started by the virtual lab inside the guest (`--virtio hil.agent`) or by the
controller over SSH (`--stdio`).  It never listens on a network port: the
only ways in are the SSH session that started it and the virtio-serial port
that QEMU exposes to the host as a 0600 unix socket.  Requests name an
operation from `MachineOps.OPERATIONS`; nothing else can be called.

When the controller goes away, every device this session touched is put
back (the journal), and an *ephemeral* guest powers itself off so no VM
outlives the session that started it.
"""

from __future__ import annotations

import argparse
import cProfile
import glob
import importlib
import json
import logging
import os
import resource
import select
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from hil.lab.codeid import code_digest  # first: it fingerprints the files before the imports
from hil.lab.machine import MachineOps
from hil.lab.slotpower import SlotPowerError, cut_slot_power
from hil.lab.transport.protocol import hello_line, reply_line
from hil.model.codec import encode

log = logging.getLogger("hil.agent")


def find_virtio_port(name: str) -> str:
    for entry in glob.glob("/sys/class/virtio-ports/*"):
        try:
            if Path(entry, "name").read_text().strip() == name:
                return "/dev/" + os.path.basename(entry)
        except OSError:
            continue
    raise SystemExit(f"no virtio-serial port named {name!r} in /sys/class/virtio-ports")


def _wait_host(fd: int) -> None:
    """Block until a controller is connected to the port again."""
    poller = select.poll()
    poller.register(fd, select.POLLOUT | select.POLLHUP)
    while True:
        events = poller.poll(500)
        if any(ev & select.POLLOUT and not ev & select.POLLHUP for _, ev in events):
            return
        time.sleep(0.2)


def _reexec() -> None:
    """A fresh agent process, for a controller whose code differs from this one's
    (see `VirtualMachine.attach`): it imports the checkout as it is now."""
    _forget_file_caches()
    os.execv(sys.executable, [sys.executable, "-m", "hil.lab.agent", *sys.argv[1:]])


def _forget_file_caches() -> None:
    """Make the next imports see the host's files as they are now.

    A guest reads the checkout through 9p, whose cached attributes can keep an
    edited module's old mtime and size; Python then takes the module's old
    `__pycache__` bytecode, which they still match, over the new source (seen:
    an agent whose digest matched this checkout answered `unknown type tag` for
    a step class its codec.py did have).  Only virtual-lab agents re-exec, and
    a guest's caches are its own.
    """
    try:
        with open("/proc/sys/vm/drop_caches", "w") as caches:
            caches.write("3\n")
    except OSError as exc:
        log.warning("could not drop the file caches before re-exec: %s", exc)


PRELOADED = ("pyroute2",)
"""Modules a session will import that take long to import in a TCG guest,
whose imports read the checkout over 9p after `_forget_file_caches`:
pyroute2, which every NIC's attach needs for its safety check, took 28 s of
the first attach of each session (agent profile, 2026-12-03)."""


def preload(modules: tuple[str, ...]) -> threading.Thread:
    """Import `modules` in the background while the agent waits for its controller.

    A failed import is logged and left to happen again where the module is
    used, which reports it to the controller; a use that comes before the
    import is done waits for it (the import lock), never sees half a module.
    """

    def run() -> None:
        for name in modules:
            start = time.monotonic()
            try:
                importlib.import_module(name)
            except Exception:  # reported where the module is used, see above
                log.exception("preloading %s failed", name)
                continue
            log.info("preloaded %s in %.1f s", name, time.monotonic() - start)

    thread = threading.Thread(target=run, name="preload", daemon=True)
    thread.start()
    return thread


class OperationProfiler:
    """cProfile of every operation, one file each, for finding where a step's time goes.

    A TCG guest runs Python about a hundred times slower than its host, so the
    agent's share of a step is measured where it runs (`HIL_AGENT_PROFILE=1 hil
    lab up`, then `python -m pstats STATE/rw/profile/0012-run_step.prof`).
    """

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.count = 0

    def call(self, op: str, run: Callable[[], Any]) -> Any:
        self.count += 1
        profile = cProfile.Profile()
        try:
            return profile.runcall(run)
        finally:
            profile.dump_stats(self.folder / f"{self.count:04d}-{op}.prof")


def _dispatch(
    ops: MachineOps, request: dict[str, Any], profiler: OperationProfiler | None = None
) -> bytes:
    request_id = int(request.get("id", 0))
    op = request.get("op")
    if not isinstance(op, str) or op not in MachineOps.OPERATIONS:
        return reply_line(request_id, error=("UnknownOperation", f"no operation {op!r}"))
    args = request.get("args") or {}
    try:
        run = partial(getattr(ops, op), **args)
        result = run() if profiler is None else profiler.call(op, run)
    except Exception as exc:  # every failure goes back to the controller, typed
        log.debug("operation %s failed:\n%s", op, traceback.format_exc())
        return reply_line(request_id, error=(type(exc).__name__, str(exc)))
    return reply_line(request_id, result=encode(result))


def _fault(request_id: int, inject: Callable[[], Any]) -> bytes:
    try:
        return reply_line(request_id, result=inject())
    except (OSError, ValueError, SlotPowerError) as exc:
        return reply_line(request_id, error=(type(exc).__name__, str(exc)))


def serve(
    ops: MachineOps,
    rfd: int,
    wfd: int,
    *,
    virtio: bool,
    profiler: OperationProfiler | None = None,
) -> bool:
    """Answer one controller, then put back what its session changed; False when it
    asked the agent to end (`poweroff`)."""

    def send(data: bytes) -> None:
        while data:
            data = data[os.write(wfd, data) :]

    if virtio:
        _wait_host(rfd)
    send(hello_line(ops.hello()))
    log.info("session %s: greeted a controller", ops.session_id)
    if not _session(ops, rfd, send, virtio=virtio, profiler=profiler):
        log.info("session %s: powering off", ops.session_id)
        return False
    log.info("session %s: the controller left; putting back what it changed", ops.session_id)
    ops.session_end()
    log.info("session %s: ended", ops.session_id)
    return True


def serve_port(
    path: str,
    new_ops: Callable[[], MachineOps],
    *,
    ephemeral: bool,
    profiler: OperationProfiler | None = None,
) -> None:
    """Serve controllers one after another on the virtio-serial port at `path`.

    One process serves them all, each with its own `MachineOps` (a session of
    its own, as a fresh process had): re-executing for every controller made
    each session wait for the next process's imports, a minute or more in a
    loaded TCG guest.  The port is closed and opened again between them: kept
    open after its host end closed, it stopped passing the next greeting
    (2026-11-24).  An ephemeral guest serves one controller and powers off.
    """
    while True:
        fd = os.open(path, os.O_RDWR)
        try:
            more = serve(new_ops(), fd, fd, virtio=True, profiler=profiler)
        finally:
            os.close(fd)
        if not more or ephemeral:
            return


def _session(
    ops: MachineOps,
    rfd: int,
    send: Callable[[bytes], None],
    *,
    virtio: bool,
    profiler: OperationProfiler | None,
) -> bool:
    """Answer one controller until it leaves (True) or asks the agent to end (False)."""
    buffer = b""
    while True:
        chunk = os.read(rfd, 65536)
        if not chunk:
            return True
        buffer += chunk
        while b"\n" in buffer:
            line, _, buffer = buffer.partition(b"\n")
            try:
                request = json.loads(line)
            except ValueError:
                send(reply_line(0, error=("BadRequest", "not JSON")))
                continue
            request_id = int(request.get("id", 0))
            op = request.get("op")
            args = request.get("args") or {}
            if op == "crash_guest" and virtio:
                # Fault injection for the virtual lab only (a guest is disposable;
                # over SSH this request is refused like any unknown operation).
                send(reply_line(request_id, result=None))
                with open("/proc/sysrq-trigger", "w") as trigger:
                    trigger.write("c")
            if op == "kill_agent" and virtio:
                # Fault injection for the virtual lab only: the agent dies as if
                # the OOM killer or an operator had SIGKILLed it.
                send(reply_line(request_id, result=None))
                os.kill(os.getpid(), signal.SIGKILL)
            if op == "cut_slot_power" and virtio:
                # Fault injection for the virtual lab only: the device's slot loses
                # power, a surprise removal (over SSH refused like any unknown operation).
                send(_fault(request_id, partial(cut_slot_power, ops.root, str(args.get("bdf")))))
                continue
            if op == "reexec" and virtio:
                # The controller found this agent's code older than its own.
                send(reply_line(request_id, result=None))
                ops.session_end()
                _reexec()
            if op == "poweroff":
                send(reply_line(request_id, result=None))
                ops.session_end()
                return False
            send(_dispatch(ops, request, profiler))


OPEN_FILES = 65536
"""Eventfds for 2048 MSI-X vectors (the PCI maximum) on several devices, with room."""


def raise_open_file_limit() -> int:
    """Lift RLIMIT_NOFILE to OPEN_FILES (the hard limit, if root may not pass it).

    The agent holds one eventfd per requested vector, and a device with a
    thousand MSI-X vectors is exactly what the exhaustion test needs: the
    usual soft limit of 1024 would end that test with EMFILE, not ENOSPC."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= OPEN_FILES:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_FILES, max(hard, OPEN_FILES)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hil.lab.agent")
    channel = parser.add_mutually_exclusive_group(required=True)
    channel.add_argument("--virtio", metavar="PORT", help="serve on this virtio-serial port")
    channel.add_argument("--stdio", action="store_true", help="serve on stdin/stdout (SSH)")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--machine", default=os.uname().nodename)
    parser.add_argument("--ephemeral", action="store_true")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile each operation into STATE_DIR/profile"
    )
    args = parser.parse_args(argv)
    args.state_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(filename=str(args.state_dir / "agent.log"), level=logging.INFO)
    log.info("agent pid %d runs framework code %s", os.getpid(), code_digest())
    log.info("open files: up to %d", raise_open_file_limit())
    preload(PRELOADED)
    profiler = OperationProfiler(args.state_dir / "profile") if args.profile else None
    new_ops = partial(MachineOps, state_dir=args.state_dir, machine=args.machine)
    if args.virtio:
        serve_port(
            find_virtio_port(args.virtio), new_ops, ephemeral=args.ephemeral, profiler=profiler
        )
    else:
        out = os.dup(1)
        os.dup2(2, 1)  # stray prints must never corrupt the RPC stream
        serve(new_ops(), 0, out, virtio=False, profiler=profiler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
