"""`scenario_*.yaml` files as tests: one item per matching (machine, device).

A scenario names its devices by role (`nic`, `dev`); each role is filled by
an inventory device whose profile the scenario accepts.  The item attaches
the device under the role's name, calibrates, runs every step on the
machine and in the model, and fails with the step table on any mismatch.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hil.lab.configfile import ConfigError
from hil.lab.inventory import DeviceRef
from hil.lab.transport.protocol import AgentError, TransportError
from hil.model.steps import Fire, FireStored
from hil.plugin.fixtures import machine_failure, reach
from hil.plugin.known_bug_marks import xfail_if_known_bug
from hil.plugin.session import MachineBusy
from hil.scenario.loader import Scenario, load_scenario
from hil.scenario.roles import fill_roles
from hil.scenario.runner import RunResult, run_on_machine


class ScenarioError(Exception):
    pass


def collect_scenario_file(parent: pytest.Collector, path: Path) -> ScenarioFileNode:
    node: ScenarioFileNode = ScenarioFileNode.from_parent(parent, path=path)
    return node


class ScenarioFileNode(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        from hil.plugin.plugin import NO_LAB, lab_session, selected_pairs

        try:
            scenario = load_scenario(self.path)
        except ConfigError as exc:
            raise self.CollectError(f"bad scenario file:\n{exc}") from None
        session = lab_session(self.config)
        if session is None:
            item = ScenarioItem.from_parent(
                self, name=f"{scenario.name}[no-lab]", scenario=scenario, target=None
            )
            item.add_marker(pytest.mark.skip(reason=NO_LAB))
            yield item
            return
        machines = {m.name: m for m, _ in selected_pairs(self.config)}
        found = False
        for name, machine in machines.items():
            roles = fill_roles(scenario, machine, session.profile)
            if roles is None:
                continue
            found = True
            ids = "+".join(r.name for r in roles.values())
            item = ScenarioItem.from_parent(
                self, name=f"{scenario.name}[{name}/{ids}]", scenario=scenario, target=(name, roles)
            )
            item.add_marker(pytest.mark.xdist_group(name))
            yield item
        if not found:
            item = ScenarioItem.from_parent(
                self, name=f"{scenario.name}[no-device]", scenario=scenario, target=None
            )
            item.add_marker(pytest.mark.skip(
                reason=f"no machine in {session.inventory.path} has devices for roles "
                f"{sorted(scenario.spec.devices)} (profiles {scenario.spec.applies_to.profiles or 'any'})"  # noqa: E501
            ))  # fmt: skip
            yield item


class ScenarioItem(pytest.Item):
    def __init__(
        self, *, scenario: Scenario, target: tuple[str, dict[str, DeviceRef]] | None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.target = target
        self.result: RunResult | None = None

    def runtest(self) -> None:
        from hil.plugin.fixtures import caps_of
        from hil.plugin.plugin import lab_session
        from hil.plugin.reporting import report_run, report_target
        from hil.plugin.requirements import machine_skip_reason
        from hil.scenario.bundle import write_bundle

        session = lab_session(self.config)
        assert session is not None and self.target is not None
        machine_name, roles = self.target
        report_target(machine_name, [(ref, session.profile(ref)) for ref in roles.values()])
        machine_spec = session.inventory.machine(machine_name)
        assert machine_spec is not None
        for ref in roles.values():
            why = session.device_unavailable(machine_spec, ref.name)
            if why:
                pytest.skip(f"{ref.name} cannot exist on {machine_name}: {why}")
        lm = reach(session, machine_name)
        req = self.scenario.spec.applies_to.requires
        mark = pytest.mark.hil_requires(
            ir={"yes": True, "no": False}.get(req.ir), kernel=req.kernel
        ).mark
        reason = machine_skip_reason(lm, mark)
        if reason:
            pytest.skip(reason)
        xfail_if_known_bug(self, lm, self.scenario.name, raises=ScenarioError)
        attached = {}
        leases = []
        try:
            for ref in roles.values():
                try:
                    leases.append(session.lease(f"device:{machine_name}/{ref.name}"))
                except MachineBusy as exc:
                    pytest.skip(str(exc))
            for role, ref in roles.items():
                profile = session.profile(ref)
                pci_id = ref.pci_id
                if pci_id is None and machine_spec.virtual is not None:
                    pci_id = next(
                        d.pci_id for d in machine_spec.virtual.devices if d.name == ref.name
                    )
                bdf = lm.client.resolve_device(ref.bdf, pci_id, ref.instance or 0)
                driver = self.scenario.spec.devices[role].driver or profile.driver
                if driver is None:
                    pytest.skip(f"profile {profile.name} names no hil.devices driver")
                attached[role] = lm.client.attach_device(role, bdf, driver, ref.expendable)
                lm.attached[role] = attached[role]
                fires = any(
                    isinstance(s, Fire | FireStored) and s.device == role
                    for s in self.scenario.steps
                )
                if fires and attached[role].fire_unsupported:
                    pytest.skip(f"{ref.name}: {attached[role].fire_unsupported}")
            self.result = run_on_machine(
                self.scenario.name,
                machine_name,
                self.scenario.steps,
                lm.calibrate(),
                {role: caps_of(a) for role, a in attached.items()},
                lm.client.run_step,
                quirks=lm.quirks,
            )
            bundle = write_bundle(self.result, session.results_dir)
            report_run(self.result, lm, bundle)
        finally:
            try:
                for role in attached:
                    lm.attached.pop(role, None)
                    lm.client.detach_device(role)
            finally:
                # A machine that died mid-run cannot detach: its leases go all the same,
                # or every later test of the device would skip as "leased".
                for lease in leases:
                    session.release(lease)
        if not self.result.ok:
            raise ScenarioError(
                f"model and machine disagree on {machine_name}:\n{self.result.table()}\nevidence: {bundle}"  # noqa: E501
            )

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, ScenarioError):
            return str(excinfo.value)
        if isinstance(excinfo.value, (AgentError, TransportError)):
            return machine_failure(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, self.name
