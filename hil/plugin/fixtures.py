"""Fixtures for hand-written HIL tests.

`device` is the device of the test's (machine, device) pair, bound to
vfio-pci for the test and given back to its driver afterwards.  `hil_run`
executes steps on the machine and in a freshly calibrated model and fails
the test with the step table when they differ.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import pytest

from hil.lab.transport.protocol import AgentError, TransportError
from hil.model.model import DeviceCaps, InterruptModel
from hil.model.steps import Step
from hil.plugin.reporting import report_run, report_target
from hil.plugin.session import LabMachine, LabSession, MachineBusy, MachineUnavailable
from hil.scenario.bundle import write_bundle
from hil.scenario.client import AttachedDevice
from hil.scenario.runner import RunResult, judging_model, run_on_machine

__all__ = [
    "device", "hil_pair", "hil_run", "lab", "machine", "machine_failure", "model", "reach",
]  # fmt: skip


@pytest.fixture(scope="session")
def lab(request: pytest.FixtureRequest) -> LabSession:
    from hil.plugin.plugin import NO_LAB, lab_session

    session = lab_session(request.config)
    if session is None:
        pytest.skip(NO_LAB)
    return session


@pytest.fixture
def hil_pair(request: pytest.FixtureRequest) -> tuple[str, str]:
    pair: tuple[str, str] = request.param
    return pair


@pytest.fixture
def machine(lab: LabSession, hil_pair: tuple[str, str]) -> LabMachine:
    return reach(lab, hil_pair[0])


def reach(lab: LabSession, name: str) -> LabMachine:
    """The machine, or a skip (leased by another session) or an infrastructure failure."""
    try:
        return lab.machine(name)
    except MachineBusy as exc:
        pytest.skip(f"{name}: {exc}")
    except MachineUnavailable as exc:
        pytest.fail(f"infrastructure: {exc}", pytrace=False)


@pytest.fixture
def device(
    lab: LabSession, machine: LabMachine, hil_pair: tuple[str, str]
) -> Iterator[AttachedDevice]:
    ref = machine.machine.device(hil_pair[1])
    profile = lab.profile(ref)
    report_target(machine.name, [(ref, profile)])
    bdf = machine.client.resolve_device(
        ref.bdf, ref.pci_id or _virtual_pci_id(machine, ref.name), ref.instance or 0
    )
    if profile.driver is None:
        pytest.skip(f"profile {profile.name} names no hil.devices driver for {ref.name}")
    try:
        lease = lab.lease(f"device:{machine.name}/{ref.name}")
    except MachineBusy as exc:
        pytest.skip(str(exc))
    try:
        attached = machine.client.attach_device(ref.name, bdf, profile.driver, ref.expendable)
        machine.attached[ref.name] = attached
        try:
            yield attached
        finally:
            machine.attached.pop(ref.name, None)
            machine.client.detach_device(ref.name)
    finally:
        lab.release(lease)


def machine_failure(exc: AgentError | TransportError) -> str:
    """One line naming whose fault it is; the report's categories match its words.

    A traceback through the RPC client says nothing the remote message does not.
    """
    if isinstance(exc, TransportError):
        return f"infrastructure: {exc}"
    return f"on the machine: {exc}"


def _virtual_pci_id(machine: LabMachine, name: str) -> str | None:
    spec = machine.machine.virtual
    if spec is None:
        return None
    for d in spec.devices:
        if d.name == name:
            return d.pci_id
    return None


def caps_of(attached: AttachedDevice) -> DeviceCaps:
    c = attached.caps
    return DeviceCaps(
        name=attached.name,
        bdf=attached.bdf,
        msi_max=c["msi_max"],
        msi_64bit=c["msi_64bit"],
        msi_maskable=c["msi_maskable"],
        msix_size=c["msix_size"],
        ims_size=0,
        numa_node=c["numa_node"],
    )


@pytest.fixture
def model(machine: LabMachine, device: AttachedDevice) -> InterruptModel:
    return judging_model(machine.calibrate(), {device.name: caps_of(device)})


@pytest.fixture
def hil_run(
    request: pytest.FixtureRequest, lab: LabSession, machine: LabMachine, device: AttachedDevice
) -> Callable[..., RunResult]:
    """Run steps on both sides; fail with the step table on any mismatch."""

    def run(steps: Sequence[Step], name: str | None = None, check: bool = True) -> RunResult:
        if device.fire_unsupported and any(
            type(s).__name__ in ("Fire", "FireStored") for s in steps
        ):
            pytest.skip(f"{device.name}: {device.fire_unsupported}")
        try:
            result = run_on_machine(
                name or request.node.name,
                machine.name,
                steps,
                machine.calibrate(),
                {device.name: caps_of(device)},
                machine.client.run_step,
                quirks=machine.quirks,
            )
        except (AgentError, TransportError) as exc:
            pytest.fail(machine_failure(exc), pytrace=False)
        bundle = write_bundle(result, lab.results_dir)
        report_run(result, machine, bundle)
        if check and not result.ok:
            pytest.fail(
                f"model and machine disagree on {machine.name}:\n{result.table()}\n"
                f"evidence: {bundle}",
                pytrace=False,
            )
        return result

    return run
