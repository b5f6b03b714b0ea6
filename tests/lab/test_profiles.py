"""Device profiles: the shipped ones load and agree with the drivers; broken ones say where."""

from __future__ import annotations

from pathlib import Path

import pytest

from hil.devices.registry import driver_for
from hil.lab.configfile import ConfigError
from hil.lab.profiles import Profile, ProfileSet, VersionRequirement

SHIPPED = Path(__file__).resolve().parents[2] / "device_profiles"

VALID = """\
name: demo
class: nic
pci_ids: ["8086:10d3"]
driver: e1000e
native_driver: e1000e
interrupts:
  msi: {max_vectors: 1, is_64bit: true, maskable: false}
  msix: {table_size: 5}
  ims: null
  multi_msi: false
quirks: []
verified_on_hardware: false
evidence: null
notes: "x"
"""


def write(tmp_path: Path, text: str, name: str = "demo") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def issues_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        Profile.load(path)
    return [str(i) for i in info.value.issues]


def test_shipped_profiles_all_load() -> None:
    profiles = ProfileSet.load(SHIPPED)
    assert set(profiles.names()) == {
        "igb", "e1000e", "edu", "ivshmem-doorbell", "xhci-msi", "nvme",
        "idxd-dsa", "idxd-iax", "switchtec-ntb", "ath11k",
    }  # fmt: skip
    assert not any(p.verified_on_hardware for p in profiles)


def test_shipped_profiles_name_drivers_that_claim_their_ids() -> None:
    for profile in ProfileSet.load(SHIPPED):
        assert profile.driver is not None, profile.name
        driver = driver_for(profile.driver)
        ids = {f"{v:04x}:{d:04x}" for v, d in driver.ids}
        assert set(profile.pci_ids) <= ids, (profile.name, set(profile.pci_ids) - ids)


def test_shipped_values_match_the_transcripts() -> None:
    profiles = ProfileSet.load(SHIPPED)
    # msix ctl 8009 / 8004: table size is the low 11 bits plus one.
    igb_msix = profiles.get("igb").interrupts.msix
    assert igb_msix is not None and igb_msix.table_size == 0x009 + 1
    e1000e_msix = profiles.get("e1000e").interrupts.msix
    assert e1000e_msix is not None and e1000e_msix.table_size == 0x004 + 1
    # vfio `irq 1 (16, 9, 1, 16)`: MSI index count 16 on xhci, 1 on edu.
    xhci_msi = profiles.get("xhci-msi").interrupts.msi
    assert xhci_msi is not None and xhci_msi.max_vectors == 16
    assert profiles.get("xhci-msi").interrupts.multi_msi
    edu_msi = profiles.get("edu").interrupts.msi
    assert edu_msi is not None and (edu_msi.max_vectors, edu_msi.maskable) == (1, False)
    assert [p.name for p in profiles.for_pci_id("17CB:1103")] == ["ath11k"]


def test_valid_profile_loads(tmp_path: Path) -> None:
    profile = Profile.load(write(tmp_path, VALID))
    assert profile.device_class.value == "nic"
    assert profile.matches_pci_id("8086:10d3")


def test_unknown_key_lists_the_valid_ones(tmp_path: Path) -> None:
    text = VALID.replace("  multi_msi: false", "  multi_msi: false\n  msi_x: {table_size: 5}")
    [issue] = issues_of(write(tmp_path, text))
    assert issue.startswith(f"{tmp_path}/demo.yaml:11: interrupts.msi_x: unknown field")
    assert "valid here: msi, msix, ims, multi_msi" in issue


def test_bad_pci_id_names_its_item(tmp_path: Path) -> None:
    text = VALID.replace('["8086:10d3"]', '["8086:10d3", "8086:10D3x"]')
    [issue] = issues_of(write(tmp_path, text))
    assert issue.startswith(
        f"{tmp_path}/demo.yaml:3: pci_ids[1]: '8086:10D3x' is not vendor:device"
    )


def test_msi_vector_count_must_be_a_power_of_two(tmp_path: Path) -> None:
    text = VALID.replace("max_vectors: 1,", "max_vectors: 3,")
    [issue] = issues_of(write(tmp_path, text))
    assert issue == (
        f"{tmp_path}/demo.yaml:7: interrupts.msi.max_vectors: "
        "3 is not an MSI vector count; use 1, 2, 4, 8, 16 or 32"
    )


def test_multi_msi_must_agree_with_max_vectors(tmp_path: Path) -> None:
    text = VALID.replace("max_vectors: 1,", "max_vectors: 16,")
    [issue] = issues_of(write(tmp_path, text))
    assert (
        issue == f"{tmp_path}/demo.yaml:10: interrupts.multi_msi: false, but msi.max_vectors is 16"
    )


def test_name_must_match_file(tmp_path: Path) -> None:
    [issue] = issues_of(write(tmp_path, VALID, name="other"))
    assert issue == f"{tmp_path}/other.yaml:1: name: 'demo' must equal the file name 'other'"


def test_verified_needs_evidence(tmp_path: Path) -> None:
    text = VALID.replace("verified_on_hardware: false", "verified_on_hardware: true")
    [issue] = issues_of(write(tmp_path, text))
    assert issue.startswith(f"{tmp_path}/demo.yaml:13: evidence: verified_on_hardware is true")


def test_unquoted_version_is_refused(tmp_path: Path) -> None:
    text = VALID.replace("quirks: []", "quirks: []\nrequires: {qemu: 8.10}")
    [issue] = issues_of(write(tmp_path, text))
    assert issue.startswith(
        f"{tmp_path}/demo.yaml:12: requires.qemu: write the version as a quoted"
    )
    assert "8.1" in issue


def test_profile_set_reports_every_broken_file(tmp_path: Path) -> None:
    write(tmp_path, VALID)
    write(tmp_path, VALID.replace("name: demo", "name: b").replace("class: nic", "class: gpu"), "b")
    write(tmp_path, "name: [unclosed\n", "c")
    with pytest.raises(ConfigError) as info:
        ProfileSet.load(tmp_path)
    where = sorted(f"{i.file}:{i.line}: {i.field}" for i in info.value.issues)
    assert where == [f"{tmp_path}/b.yaml:2: class", f"{tmp_path}/c.yaml:2: "]


def test_profile_set_only_loads_the_named_files(tmp_path: Path) -> None:
    write(tmp_path, VALID)
    write(tmp_path, "broken: [", "broken")
    profiles = ProfileSet.load(tmp_path, only=["demo", "absent"])
    assert profiles.names() == ["demo"]


@pytest.mark.parametrize(
    ("requirement", "version", "ok"),
    [
        ("6.12", "6.12.95+deb12-amd64", True),
        ("6.1", "6.12.95+deb12-amd64", False),
        ("6.1", "6.1.0-56-amd64", True),
        (">=6.5", "6.12.95", True),
        (">=6.5", "6.1.0", False),
        (">=6.2,<6.10", "6.9.7", True),
        (">=6.2,<6.10", "6.10", False),
        (">=8.0", "7.2.15", False),
    ],
)
def test_version_requirement(requirement: str, version: str, ok: bool) -> None:
    assert VersionRequirement(requirement).matches(version) is ok


@pytest.mark.parametrize("bad", ["6.x", "=>6.5", "6.1,>=6.2", ""])
def test_bad_version_requirement(bad: str) -> None:
    with pytest.raises(ValueError, match="version"):
        VersionRequirement(bad)
