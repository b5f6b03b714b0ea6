"""`hil check`: a clean inventory gives a summary; a broken one gives file:line lines and exit 2."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from hil.cli.main import cli

REPO = Path(__file__).resolve().parents[2]

INVENTORY = """\
lab: t
machines:
  - name: vm-a
    transport: virtual
    virtual:
      kernel: "6.1"
      cpus: 2
      devices:
        - {name: nic0, model: e1000e, profile: e1000e}
"""


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["check", *args])
    # Only click's exits are allowed: any other exception would be a traceback for the user.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_shipped_inventory_is_ok() -> None:
    code, out, err = run(str(REPO / "lab_inventory.yaml"))
    assert (code, err) == (0, "")
    assert "4 machines, 22 devices, 5 profiles" in out
    assert "vm-61-noir (virtual): igb0, e1000e0, edu0, ivshmem0, xhci0" in out


def test_default_inventory_is_found_in_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(REPO / "lab_inventory.yaml", tmp_path / "lab_inventory.yaml")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["check"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("OK: lab_inventory.yaml: lab default-virtual-lab")


@pytest.mark.parametrize(
    ("old", "new", "line_and_field"),
    [
        (
            "      cpus: 2\n",
            "      cpus: 2\n      cpuz: 2\n",
            "8: machines[0].virtual.cpuz: unknown field",
        ),
        ("      cpus: 2\n", "      cpus: lots\n", "7: machines[0].virtual.cpus: Input should be"),
        ("  - name: vm-a\n", "  - name: VM_A\n", "3: machines[0].name: 'VM_A' is not a name"),
        ("    transport: virtual\n", "    transport: serial\n", "4: machines[0].transport: Input"),
        ('kernel: "6.1"', "kernel: [", "8: <top>: YAML syntax: "),
        (
            "profile: e1000e}",
            "profile: e1000f}",
            "9: machines[0].virtual.devices[0].profile: no profile",
        ),
    ],
)
def test_broken_inventory_exits_2_with_located_messages(
    tmp_path: Path, old: str, new: str, line_and_field: str
) -> None:
    path = tmp_path / "lab.yaml"
    path.write_text(INVENTORY.replace(old, new))
    code, out, err = run(str(path), "--profiles", str(REPO / "device_profiles"))
    assert code == 2
    assert out == ""
    assert err.startswith(f"{path}:{line_and_field}")
    assert "Traceback" not in err


def test_missing_virtual_block_and_bad_bdf_are_both_reported(tmp_path: Path) -> None:
    path = tmp_path / "lab.yaml"
    path.write_text(
        "lab: t\nmachines:\n"
        "  - {name: vm-a, transport: virtual}\n"
        "  - name: host\n    transport: local\n    devices:\n"
        "      - {name: d, profile: idxd-dsa, bdf: '6a:01.0'}\n"
    )
    code, _, err = run(str(path))
    assert code == 2
    assert err.splitlines() == [
        f"{path}:3: machines[0].virtual: required when transport is virtual",
        f"{path}:7: machines[1].devices[0].bdf: '6a:01.0' is not a BDF: "
        "domain:bus:device.function in lower-case hex, e.g. '0000:6a:01.0'",
    ]


def test_missing_inventory_file(tmp_path: Path) -> None:
    code, _, err = run(str(tmp_path / "absent.yaml"))
    assert (code, err) == (2, f"{tmp_path}/absent.yaml: <top>: file not found\n")


def test_broken_profile_is_reported_with_its_own_file(tmp_path: Path) -> None:
    profiles = tmp_path / "device_profiles"
    shutil.copytree(REPO / "device_profiles", profiles)
    text = (profiles / "e1000e.yaml").read_text().replace("table_size: 5", "table_size: 0")
    (profiles / "e1000e.yaml").write_text(text)
    (tmp_path / "lab.yaml").write_text(INVENTORY)
    code, _, err = run(str(tmp_path / "lab.yaml"))  # the folder beside the inventory is used
    assert code == 2
    assert err.startswith(f"{profiles}/e1000e.yaml:11: interrupts.msix.table_size: Input should be")


def test_missing_profiles_folder(tmp_path: Path) -> None:
    (tmp_path / "lab.yaml").write_text(INVENTORY)
    code, _, err = run(str(tmp_path / "lab.yaml"), "--profiles", str(tmp_path / "none"))
    assert (code, err) == (2, f"{tmp_path}/none: <top>: profiles folder not found\n")


def test_the_shipped_known_kernel_bugs_list_is_checked_too() -> None:
    code, out, _ = run(str(REPO / "lab_inventory.yaml"))
    assert code == 0
    assert f"OK: {REPO / 'known_kernel_bugs.yaml'}: 0 known kernel bugs" in out


def test_a_broken_known_kernel_bugs_list_exits_2_naming_line_and_field(tmp_path: Path) -> None:
    bugs = tmp_path / "bugs.yaml"
    bugs.write_text(
        "bugs:\n  - id: x\n    kernel: '>=6.1'\n    tests: ['*']\n    reason: r\n    link: ftp://x\n"
    )
    code, out, err = run(str(REPO / "lab_inventory.yaml"), "--known-kernel-bugs", str(bugs))
    assert (code, out) == (2, "")
    assert err.startswith(f"{bugs}:6: bugs[0].link:"), err
    assert "Traceback" not in err
