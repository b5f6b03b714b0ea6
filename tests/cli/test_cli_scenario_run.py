"""`hil scenario run`: the plugin's pieces, driven outside pytest, over a fake local machine.

The machine is `tests/cli/fake_lab.FakeOps` behind the real `LocalTransport`,
`MachineClient` and `LabSession`; only the class that would touch sysfs and
VFIO is swapped.  A correct machine must give exit 0 and a bundle, a planted
misrouting exit 1 with the differing field in the table.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hil.cli.main import cli
from tests.cli.fake_lab import INVENTORY, SCENARIO, FakeOps, ops_factory


@pytest.fixture
def lab_files(tmp_path: Path) -> tuple[Path, Path]:
    inventory = tmp_path / "lab.yaml"
    inventory.write_text(INVENTORY)
    scenario = tmp_path / "scenario_fake.yaml"
    scenario.write_text(SCENARIO)
    return inventory, scenario


def run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *args: str, **options: object
) -> tuple[int, str, str, list[FakeOps]]:
    created: list[FakeOps] = []
    monkeypatch.setattr("hil.plugin.session.MachineOps", ops_factory(created, **options))
    result = CliRunner().invoke(
        cli, ["scenario", "run", *args, "--evidence", str(tmp_path / "evidence")]
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr, created


def test_a_machine_that_agrees_passes_and_leaves_a_bundle(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, lab_files: tuple[Path, Path]
) -> None:
    inventory, scenario = lab_files
    code, out, err, machines = run(
        monkeypatch, tmp_path, str(scenario), "--lab", str(inventory), "--machine", "bench"
    )
    assert (code, err) == (0, ""), out
    assert "ok:" in out and "MISMATCH" not in out
    bundles = list((tmp_path / "evidence").glob("bench--fake-partial-request--*.json"))
    assert len(bundles) == 1
    body = json.loads(bundles[0].read_text())
    assert body["ok"] is True and len(body["steps"]) == 6
    # The role was filled by the e1000e device and given back after the run.
    (machine,) = machines
    assert machine.detached == ["nic"] and machine.attached == {}


def test_a_machine_that_disagrees_exits_1_with_the_field_that_differs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, lab_files: tuple[Path, Path]
) -> None:
    inventory, scenario = lab_files
    code, out, _err, machines = run(
        monkeypatch,
        tmp_path,
        str(scenario),
        "--lab",
        str(inventory),
        "--machine",
        "bench",
        misroute=True,
    )
    assert code == 1
    assert "MISMATCH" in out
    assert "delivered.nic[0].per_cpu" in out
    assert machines[0].detached == ["nic"]


def test_json_output_lists_every_step_with_its_fields(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, lab_files: tuple[Path, Path]
) -> None:
    inventory, scenario = lab_files
    code, out, _err, _ = run(
        monkeypatch,
        tmp_path,
        str(scenario),
        "--lab",
        str(inventory),
        "--machine",
        "bench",
        "--json",
        misroute=True,
    )
    assert code == 1
    body = json.loads(out)
    assert body["ok"] is False
    assert [s["ok"] for s in body["steps"]] == [True, False, False, True, False, True]
    fired = {f["path"]: f for f in body["steps"][1]["fields"]}
    per_cpu = fired["delivered.nic[0].per_cpu"]
    assert per_cpu["status"] == "MISMATCH"
    assert per_cpu["predicted"] != per_cpu["observed"]
    assert Path(body["bundle"]).is_file()


def test_requirements_the_machine_does_not_meet_are_a_clear_refusal(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, lab_files: tuple[Path, Path]
) -> None:
    inventory, scenario = lab_files
    scenario.write_text(
        SCENARIO.replace(
            "applies_to: {profiles: [e1000e]}",
            'applies_to: {profiles: [e1000e], requires: {ir: "no"}}',
        )
    )
    code, _out, err, machines = run(
        monkeypatch, tmp_path, str(scenario), "--lab", str(inventory), "--machine", "bench"
    )
    assert code == 1
    assert "not run: needs a machine without IR; bench has intel IR" in err
    assert machines[0].attached == {} and machines[0].detached == []


@pytest.mark.parametrize(
    ("machine", "profiles", "message"),
    [
        ("nowhere", "[e1000e]", "no machine 'nowhere'"),
        ("bench", "[igb]", "bench has no devices for roles ['nic']"),
    ],
)
def test_a_machine_or_device_that_is_not_there_is_named(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    lab_files: tuple[Path, Path],
    machine: str,
    profiles: str,
    message: str,
) -> None:
    inventory, scenario = lab_files
    scenario.write_text(SCENARIO.replace("[e1000e]", profiles))
    code, _out, err, created = run(
        monkeypatch, tmp_path, str(scenario), "--lab", str(inventory), "--machine", machine
    )
    assert code == 1
    assert message in err
    assert created == []  # refused before any machine was reached


def test_a_bad_scenario_file_exits_2_before_any_machine_is_reached(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, lab_files: tuple[Path, Path]
) -> None:
    inventory, scenario = lab_files
    scenario.write_text(SCENARIO.replace("count: 5", "count: lots"))
    code, _out, err, created = run(
        monkeypatch, tmp_path, str(scenario), "--lab", str(inventory), "--machine", "bench"
    )
    assert code == 2
    assert f"{scenario}:6: steps[0].enable.count:" in err
    assert created == []


def test_the_machine_option_is_required(tmp_path: Path, lab_files: tuple[Path, Path]) -> None:
    _inventory, scenario = lab_files
    result = CliRunner().invoke(cli, ["scenario", "run", str(scenario)])
    assert result.exit_code == 2
    assert "Missing option '--machine'" in result.stderr
