"""Choose KVM or TCG by booting, not by looking at /dev/kvm.

On this project's machines /dev/kvm exists but QEMU aborts on it
(`failed to set MSR 0x10a`), so the only honest test is a real start: a
kernel under KVM that reaches its "no root" panic and exits cleanly proves
KVM works; an abort or an error proves it does not.  The answer is cached
per host boot, since it cannot change before the next reboot.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown"


def kvm_works(qemu: str, vmlinuz: Path, cache_dir: Path) -> tuple[bool, str]:
    """(works, reason); the reason is what the probe saw."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False, "/dev/kvm is absent or not accessible"
    cache = cache_dir / "kvm-probe.json"
    boot = _boot_id()
    try:
        cached = json.loads(cache.read_text())
        if cached.get("boot_id") == boot and cached.get("qemu") == qemu:
            return bool(cached["works"]), str(cached["reason"])
    except (OSError, ValueError, KeyError):
        pass
    cmd = [
        qemu, "-accel", "kvm", "-machine", "q35", "-cpu", "max", "-display", "none",
        "-nodefaults", "-no-reboot", "-serial", "none", "-m", "256M",
        "-kernel", str(vmlinuz), "-append", "panic=-1 console=ttyS0",
    ]  # fmt: skip
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        err = proc.stderr.strip().splitlines()
        works = proc.returncode == 0 and not any("error" in line.lower() for line in err)
        reason = (
            "a probe boot under KVM ran"
            if works
            else f"KVM probe failed: {err[-1] if err else proc.returncode}"
        )
    except subprocess.TimeoutExpired:
        works, reason = False, "KVM probe boot did not finish in 60 s"
    except OSError as exc:
        works, reason = False, f"cannot run {qemu}: {exc}"
    cache_dir.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"boot_id": boot, "qemu": qemu, "works": works, "reason": reason}))
    return works, reason
