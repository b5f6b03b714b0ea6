"""A suite killed with SIGKILL mid-run leaves nothing `hil restore` does not put back.

The kill points are deterministic: `HIL_KILL_AT=run.after-step:<n>` in the
killed pytest's environment SIGKILLs it right after the machine side of step
n of the CPU-hotplug scenario returned, before anything was judged or given
back.  Step 1 leaves the device on vfio-pci with vectors enabled; step 4 also
an irq's affinity moved and CPU 3 offline.  The agent undoes its journal when
its controller vanishes; `hil restore` then releases the dead session's
leases and restores whatever is still journaled.  The guest is a throwaway copy of
the inventory's first virtual machine (one igb), kept up between sessions as
`hil lab up` does, under a private lab state folder: the suite's own
machines and leases are never touched.  The last test reboots that guest
in the middle of a run instead (`HIL_KILL_SIGNAL=STOP` holds the controller
at the step while QMP resets the machine).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from hil.lab.inventory import Machine
from hil.lab.journal import pending
from hil.lab.leases import LeaseManager
from hil.linux.procstat import proc_stat
from hil.plugin.plugin import selected_pairs
from hil.plugin.session import LabSession
from hil.scenario.client import MachineClient
from hil.virtlab.lab import qemu_binary
from hil.virtlab.vm import VirtualMachine

# One xdist group for every test that boots a throwaway guest (here and in
# test_faults.py / test_kill_restore.py): under -n N at most one such guest runs
# beside the suite's machines, which already fill a small host.
pytestmark = [pytest.mark.hil, pytest.mark.virtlab, pytest.mark.xdist_group("throwaway-guests")]

REPO = Path(__file__).resolve().parents[2]
SCENARIO = REPO / "tests/hil/scenarios/scenario_cpu_hotplug.yaml"
DEVICE = "igb0"
RUN_TIMEOUT_S = 900


@dataclass
class KeptUp:
    """The throwaway guest, its one-machine inventory and its private lab state folder."""

    vm: VirtualMachine
    inventory: Path
    state: Path
    machine: Machine

    def env(self, **extra: str) -> dict[str, str]:
        env = {**os.environ, "HIL_LAB_STATE": str(self.state), **extra}
        env.pop("PYTEST_XDIST_WORKER", None)
        return env

    def hil(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(Path(sys.executable).parent / "hil"), *args],
            env=self.env(), capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
        )  # fmt: skip


def _source_machine(config: pytest.Config) -> Machine:
    """The first selected virtual machine (`--lab-machine`) with an igb0 to copy."""
    for machine, ref in selected_pairs(config):
        if machine.virtual is not None and ref.name == DEVICE:
            return machine
    pytest.skip(f"no selected virtual machine has an {DEVICE} to copy")


@pytest.fixture(scope="module")
def kept_up(
    request: pytest.FixtureRequest, lab: LabSession, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KeptUp]:
    source = _source_machine(request.config)
    state = tmp_path_factory.mktemp("kill-lab")
    name = f"kill-{source.name}"
    if lab.inventory.path is None:
        pytest.skip("the inventory has no file to copy a machine from")
    yaml = YAML(typ="safe")
    raw = yaml.load(lab.inventory.path)
    entry = next(m for m in raw["machines"] if m["name"] == source.name)
    entry["name"] = name
    entry["virtual"]["devices"] = [d for d in entry["virtual"]["devices"] if d["name"] == DEVICE]
    inventory = state / "kill_inventory.yaml"
    yaml.dump({"lab": "kill-restore", "machines": [entry]}, inventory)
    spec = lab.virtual.spec(source)
    spec = replace(spec, name=name, devices=tuple(d for d in spec.devices if d.name == DEVICE))
    vm = VirtualMachine(spec, lab.virtual.kernel(source), state / name, qemu_binary())
    vm.boot(persistent=True)
    vm.disconnect()
    try:
        yield KeptUp(vm, inventory, state, source)
    finally:
        vm.stop()


def _machine_state(kept: KeptUp) -> tuple[str | None, list[int]]:
    """The igb's driver and the online CPUs, read through a connection of our own."""
    kept.vm.attach()
    try:
        client = MachineClient(kept.vm.spec.name, kept.vm.transport)
        assert kept.machine.virtual is not None
        pci_id = next(d.pci_id for d in kept.machine.virtual.devices if d.name == DEVICE)
        bdf = client.resolve_device(None, pci_id, 0)
        driver = client.transport.call("current_driver", {"bdf": bdf})
        return driver, list(client.facts()["online_cpus"])
    finally:
        kept.vm.disconnect()


def _suite(kept: KeptUp) -> list[str]:
    return [
        sys.executable, "-m", "pytest", str(SCENARIO), "--lab", str(kept.inventory),
        "-p", "no:cacheprovider", "-p", "no:randomly", "-q",
        "--lab-evidence", str(kept.state / "evidence"),
    ]  # fmt: skip


@pytest.mark.parametrize("after_step", [1, 4], ids=["after-enable", "after-cpu-offline"])
def test_a_killed_suite_leaves_nothing_hil_restore_does_not_put_back(
    kept_up: KeptUp, after_step: int
) -> None:
    driver_before, cpus_before = _machine_state(kept_up)
    assert driver_before == "igb", f"the guest's igb starts on {driver_before}"

    run = subprocess.run(
        _suite(kept_up),
        cwd=REPO, env=kept_up.env(HIL_KILL_AT=f"run.after-step:{after_step}"),
        capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
    )  # fmt: skip
    assert run.returncode == -signal.SIGKILL, (
        f"the suite was not killed after step {after_step} (exit {run.returncode}):\n"
        f"{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    )
    leases = LeaseManager(kept_up.state / "leases", "kill-test-listing").list()
    assert leases, "the killed session held leases; without them this test proves nothing"

    restore = kept_up.hil("restore", "--lab", str(kept_up.inventory))
    assert restore.returncode == 0, restore.stdout + restore.stderr

    assert LeaseManager(kept_up.state / "leases", "kill-test-listing").list() == []
    driver_after, cpus_after = _machine_state(kept_up)
    assert driver_after == "igb", f"after `hil restore` the igb is on {driver_after}"
    assert cpus_after == cpus_before, f"online CPUs {cpus_before} became {cpus_after}"


def test_a_machine_rebooted_mid_run_ends_the_run_and_its_journal_is_not_replayed(
    kept_up: KeptUp,
) -> None:
    """The controller is frozen right after step 4 (device on vfio-pci, an irq moved,
    CPU 3 offline, all journaled), the guest is reset, the controller goes on: the run
    ends with an error naming the lost machine instead of hanging, and the journal of
    the earlier boot is dropped, not replayed onto a renumbered machine."""
    driver_before, cpus_before = _machine_state(kept_up)
    assert driver_before == "igb", f"the guest's igb starts on {driver_before}"
    journal = kept_up.vm.rw_dir / "journal"
    agent_log = kept_up.vm.rw_dir / "agent.log"
    log_start = agent_log.stat().st_size if agent_log.exists() else 0

    child = subprocess.Popen(
        _suite(kept_up),
        cwd=REPO, env=kept_up.env(HIL_KILL_AT="run.after-step:4", HIL_KILL_SIGNAL="STOP"),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while (stat := proc_stat(child.pid)) is None or stat.state != "T":
            assert child.poll() is None, f"the run ended before step 4:\n{child.stdout.read()}"  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the run never reached step 4"
            time.sleep(0.2)
        kinds = {p.entry.kind for p in pending(journal)}
        assert {"driver", "cpu"} <= kinds, f"step 4 left {kinds} journaled"

        # virtme-ng starts QEMU with -no-reboot (a reset would end it): a reset here
        # must reboot the guest, as a machine's reset button does.
        kept_up.vm.qmp.execute("set-action", {"reboot": "reset"})
        kept_up.vm.qmp.execute("system_reset")
        os.kill(child.pid, signal.SIGCONT)
        output, _ = child.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode not in (0, -signal.SIGKILL), output[-3000:]
    assert "infrastructure:" in output or "on the machine:" in output, output[-3000:]

    restore = kept_up.hil("restore", "--lab", str(kept_up.inventory))
    assert restore.returncode == 0, restore.stdout + restore.stderr
    log = agent_log.read_text(errors="replace")[log_start:]
    left = [(p.session_id, p.seq, p.entry.kind, p.boot_id) for p in pending(journal)]
    assert left == [], (
        f"`hil restore` left {left} journaled; it said:\n{restore.stdout}{restore.stderr}\n"
        f"the agent logged since the run began:\n{log[-3000:]}"
    )
    assert "journal: dropped" in log, f"the earlier boot's entries were not dropped:\n{log}"
    assert "journal: restored" not in log, f"an earlier boot's entry was replayed:\n{log}"
    assert LeaseManager(kept_up.state / "leases", "kill-test-listing").list() == []
    driver_after, cpus_after = _machine_state(kept_up)
    assert driver_after == "igb", f"after the reboot and `hil restore` the igb is on {driver_after}"
    assert cpus_after == cpus_before, f"online CPUs {cpus_before} became {cpus_after}"
