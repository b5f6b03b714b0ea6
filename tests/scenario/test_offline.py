"""A scenario file's machine block and devices as the model's calibration and caps."""

from __future__ import annotations

from pathlib import Path

import pytest

from hil.lab.configfile import ConfigError
from hil.lab.inventory import DEFAULT_PROFILES_FOLDER
from hil.model.device import DeviceCaps
from hil.model.vocabulary import ApicMode, IrType
from hil.scenario.loader import load_scenario
from hil.scenario.offline import OfflineMachine, offline_machine

BASE = """\
name: offline
machine:
  cpus: 4
  online: [0, 1, 3]
  ir: amd
  kernel: 6.6.10
  apic_mode: x2apic physical
  calibration:
    allocated: [1, 2, 3, 4]
    apicids: [0, 2, 4, 6]
    irte_next: 7
    irq_next: 100
devices:
  nic: {profile: e1000e}
  dev: {caps: {msi: 8, msi_maskable: true, msix: 16, numa_node: 1}}
steps:
  - enable: {device: nic, index: msix, count: 2}
  - enable: {device: dev, index: msi, count: 4}
"""


def offline(tmp_path: Path, text: str) -> OfflineMachine:
    path = tmp_path / "scenario_offline.yaml"
    path.write_text(text)
    return offline_machine(load_scenario(path), DEFAULT_PROFILES_FOLDER)


def issues(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        offline(tmp_path, text)
    prefix = f"{tmp_path / 'scenario_offline.yaml'}:"
    lines = [str(issue) for issue in caught.value.issues]
    assert all(line.startswith(prefix) for line in lines), lines
    return [line.removeprefix(prefix) for line in lines]


def test_the_machine_block_becomes_the_calibration(tmp_path: Path) -> None:
    calibration = offline(tmp_path, BASE).calibration
    assert (calibration.kernel, calibration.ir, calibration.apic_mode) == (
        "6.6.10",
        IrType.AMD,
        ApicMode.X2APIC_PHYSICAL,
    )
    assert [(c.cpu, c.apicid, c.online) for c in calibration.cpus] == [
        (0, 0, True),
        (1, 2, True),
        (2, 4, False),
        (3, 6, True),
    ]
    assert dict(calibration.allocated or {}) == {0: 1, 1: 2, 2: 3, 3: 4}
    assert calibration.vectors is None
    assert (calibration.irte_next, calibration.irq_next) == (7, 100)


def test_exact_vectors_are_kept_per_cpu(tmp_path: Path) -> None:
    text = BASE.replace("    allocated: [1, 2, 3, 4]\n", "    vectors: {0: [33, 34], 3: [40]}\n")
    calibration = offline(tmp_path, text).calibration
    assert calibration.vectors == {0: (33, 34), 3: (40,)}
    assert calibration.exact_vectors


def test_devices_come_from_caps_or_from_the_profile(tmp_path: Path) -> None:
    devices = offline(tmp_path, BASE).devices
    # device_profiles/e1000e.yaml: one 64-bit non-maskable MSI, five MSI-X entries.
    nic = devices["nic"]
    assert (nic.msi_max, nic.msi_64bit, nic.msi_maskable, nic.msix_size, nic.ims_size) == (
        1,
        True,
        False,
        5,
        0,
    )
    assert devices["dev"] == DeviceCaps(
        name="dev",
        bdf=devices["dev"].bdf,
        msi_max=8,
        msi_maskable=True,
        msix_size=16,
        numa_node=1,
    )
    assert devices["nic"].bdf != devices["dev"].bdf


def test_no_machine_block_is_a_config_error_naming_the_field(tmp_path: Path) -> None:
    text = BASE[: BASE.index("machine:")] + BASE[BASE.index("devices:") :]
    assert issues(tmp_path, text) == [
        " machine: required field is missing: hil predict needs a machine block "
        "(cpus, ir, kernel, and a calibration if known)"
    ]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "allocated: [1, 2, 3, 4]",
            "allocated: [1, 2]",
            "9: machine.calibration.allocated: lists 2 CPUs; the machine has 4",
        ),
        (
            "apicids: [0, 2, 4, 6]",
            "apicids: [0, 2, 2, 6]",
            "10: machine.calibration.apicids: every CPU has its own APIC ID",
        ),
        ("online: [0, 1, 3]", "online: [0, 9]", "4: machine.online[1]: no CPU 9 on a 4-CPU"),
        ("online: [0, 1, 3]", "online: []", "4: machine.online: at least one CPU must be online"),
        (
            "nic: {profile: e1000e}",
            "nic: {profile: e1000f}",
            "14: devices.nic.profile: no profile 'e1000f' in",
        ),
        (
            "nic: {profile: e1000e}",
            "nic: {profile: e1000e, caps: {msix: 2}}",
            "14: devices.nic: give either profile or caps, not both",
        ),
        ("nic: {profile: e1000e}", "nic: {}", "14: devices.nic: hil predict needs the device's"),
    ],
)
def test_what_the_model_would_have_to_guess_is_refused_with_its_line(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    assert old in BASE
    found = issues(tmp_path, BASE.replace(old, new))
    assert any(line.startswith(expected) for line in found), found


def test_logical_flat_on_more_than_8_cpus_is_refused(tmp_path: Path) -> None:
    text = (
        BASE.replace("cpus: 4", "cpus: 16")
        .replace("apic_mode: x2apic physical", "apic_mode: logical flat")
        .replace("    allocated: [1, 2, 3, 4]\n    apicids: [0, 2, 4, 6]\n", "")
    )
    assert issues(tmp_path, text) == [
        "7: machine.apic_mode: logical flat addresses at most 8 CPUs (one bit each); "
        "this machine has 16"
    ]


def test_a_size_left_to_the_instance_matters_only_where_the_scenario_uses_it(
    tmp_path: Path,
) -> None:
    # ivshmem-doorbell leaves the MSI-X table size to the instance (QEMU's vectors=N).
    uses_msix = BASE.replace("nic: {profile: e1000e}", "nic: {profile: ivshmem-doorbell}")
    assert issues(tmp_path, uses_msix) == [
        "14: devices.nic.profile: profile 'ivshmem-doorbell' leaves msix.table_size to the "
        "device instance; give caps instead (e.g. caps: {msix: 64})"
    ]
    uses_msi = uses_msix.replace("{device: nic, index: msix", "{device: nic, index: msi")
    assert offline(tmp_path, uses_msi).devices["nic"].msix_size == 0
