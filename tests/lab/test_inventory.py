"""The inventory loader: the shipped lab loads; every broken file names file, line, field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hil.lab.configfile import ConfigError
from hil.lab.inventory import Inventory, Transport
from hil.lab.profiles import ProfileSet
from hil.model.vocabulary import IrType

REPO = Path(__file__).resolve().parents[2]

VIRTUAL = """\
lab: t
machines:
  - name: vm-a
    transport: virtual
    virtual:
      kernel: "6.12"
      cpus: 4
      memory: 2G
      intremap: on
      devices:
        - {name: nic0, model: e1000e, profile: e1000e}
        - {name: nic1, model: e1000e, profile: e1000e}
        - {name: edu0, model: edu, profile: edu, options: {dma_mask: "0xffffffff"}}
"""

REAL = """\
lab: t
machines:
  - name: host-a
    transport: ssh
    ssh: {host: a.lab}
    devices:
      - {name: dsa0, profile: idxd-dsa, bdf: "0000:6a:01.0"}
      - {name: ntb-a, profile: switchtec-ntb, pci_id: "11f8:8531", instance: 0, peer: ntb-b}
      - {name: ntb-b, profile: switchtec-ntb, pci_id: "11f8:8531", instance: 1, peer: ntb-a}
  - name: laptop
    transport: local
    devices:
      - {name: wifi0, profile: ath11k, pci_id: "17cb:1103", expendable: true, peer: host-a/dsa0}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lab.yaml"
    path.write_text(text)
    return path


def issues_of(tmp_path: Path, text: str) -> list[str]:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        Inventory.load(path)
    prefix = f"{path}:"
    return [str(i).removeprefix(prefix).lstrip() for i in info.value.issues]


def test_shipped_inventory_loads_and_its_profiles_exist() -> None:
    inv = Inventory.load(REPO / "lab_inventory.yaml")
    assert [m.name for m in inv.machines] == ["vm-612-ir", "vm-612-noir", "vm-61-ir", "vm-61-noir"]
    assert [m.virtual.intremap for m in inv.machines if m.virtual] == [True, False, True, False]
    for machine in inv.machines:
        assert machine.virtual is not None and machine.expect is not None
        assert (machine.virtual.cpus, machine.virtual.memory_mib) == (4, 2048)
        assert machine.expect.ir is (IrType.INTEL if machine.virtual.intremap else IrType.NONE)
        models = [d.model for d in machine.virtual.devices]
        common = ["igb", "e1000e", "edu", "ivshmem-doorbell", "xhci-msi"]
        exhaustible = machine.name in ("vm-612-ir", "vm-61-noir")
        assert models == common + (["ivshmem-doorbell"] if exhaustible else [])
    profiles = ProfileSet.load(inv.profiles_folder())
    assert inv.profile_issues(profiles) == []


def test_commented_real_host_examples_are_valid(tmp_path: Path) -> None:
    """The examples a user uncomments must load as they are."""
    text = (REPO / "lab_inventory.yaml").read_text()
    uncommented = re.sub(r"^#  ", "  ", text, flags=re.MULTILINE)
    assert uncommented.count("transport: ssh") == 2
    inv = Inventory.load(write(tmp_path, uncommented))
    assert {m.name for m in inv.machines} >= {"spr-dsa-01", "ntb-host-01", "laptop-ath11k"}
    assert inv.profile_issues(ProfileSet.load(REPO / "device_profiles")) == []


def test_virtual_devices_are_derived_with_model_ids_and_instances(tmp_path: Path) -> None:
    machine = Inventory.load(write(tmp_path, VIRTUAL)).machines[0]
    refs = machine.device_refs()
    assert [(r.name, r.pci_id, r.instance) for r in refs] == [
        ("nic0", "8086:10d3", 0),
        ("nic1", "8086:10d3", 1),
        ("edu0", "1234:11e8", 0),
    ]
    assert machine.exclusive_lease  # virtual machines are leased whole by default


def test_explicit_devices_on_a_virtual_machine_restrict_and_annotate(tmp_path: Path) -> None:
    text = VIRTUAL.replace(
        "    virtual:\n",
        "    devices:\n      - {name: nic1, profile: e1000e, expendable: true}\n    virtual:\n",
    )
    [ref] = Inventory.load(write(tmp_path, text)).machines[0].device_refs()
    assert (ref.name, ref.pci_id, ref.instance, ref.expendable) == ("nic1", "8086:10d3", 1, True)


def test_real_machines_select_and_peers(tmp_path: Path) -> None:
    inv = Inventory.load(write(tmp_path, REAL))
    assert inv.machines[0].transport is Transport.SSH
    assert not inv.machines[0].exclusive_lease
    picked = [(m.name, d.name) for m, d in inv.select(["host-*"], ["ntb-*"])]
    assert picked == [("host-a", "ntb-a"), ("host-a", "ntb-b")]
    assert len(inv.select()) == 4
    machine, ref = inv.machines[1], inv.machines[1].device("wifi0")
    peer = inv.peer_of(machine, ref)
    assert peer is not None and (peer[0].name, peer[1].bdf) == ("host-a", "0000:6a:01.0")


def test_on_off_accepts_strings_and_booleans(tmp_path: Path) -> None:
    for spelled, value in (("on", True), ("off", False), ("false", False), ("true", True)):
        inv = Inventory.load(
            write(tmp_path, VIRTUAL.replace("intremap: on", f"intremap: {spelled}"))
        )
        assert inv.machines[0].virtual is not None
        assert inv.machines[0].virtual.intremap is value


def test_profiles_folder_beside_the_inventory_wins(tmp_path: Path) -> None:
    inv = Inventory.load(write(tmp_path, VIRTUAL))
    assert inv.profiles_folder() == REPO / "device_profiles"
    (tmp_path / "device_profiles").mkdir()
    assert inv.profiles_folder() == tmp_path / "device_profiles"
    assert inv.profiles_folder("/elsewhere") == Path("/elsewhere")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "      cpus: 4\n",
            "      cpus: 4\n      cpu: 4\n",
            "8: machines[0].virtual.cpu: unknown field; remove it or check its spelling; "
            "valid here: kernel, cpus, memory, iommu, intremap, x2apic, numa_nodes, tcg_threads, "
            "devices",
        ),
        (
            "      cpus: 4\n",
            "      cpus: four\n",
            "7: machines[0].virtual.cpus: Input should be a valid integer, "
            "unable to parse string as an integer",
        ),
        (
            "      cpus: 4\n",
            "      cpus: 289\n",
            "7: machines[0].virtual.cpus: Input should be less than or equal to 288",
        ),
        (
            "memory: 2G",
            "memory: 2GB",
            "8: machines[0].virtual.memory: '2GB' is not a memory size such as 512M or 2G",
        ),
        (
            'kernel: "6.12"',
            "kernel: 6.10",
            '6: machines[0].virtual.kernel: write the kernel as a quoted string such as "6.12": '
            "YAML read the number 6.1",
        ),
        (
            "{name: nic1,",
            "{name: nic0,",
            "12: machines[0].virtual.devices[1].name: duplicate device name 'nic0'; "
            "names must be unique",
        ),
        (
            "model: edu,",
            "model: edu2,",
            "13: machines[0].virtual.devices[2].model: Input should be 'igb', 'e1000e', 'edu', "
            "'xhci-msi', 'ivshmem-doorbell' or 'nvme'",
        ),
        (
            "profile: edu,",
            "profile: edu, vectors: 4,",
            "13: machines[0].virtual.devices[2].vectors: only ivshmem-doorbell takes vectors",
        ),
        (
            "profile: edu,",
            "profile: edu, doorbells: 4,",
            "13: machines[0].virtual.devices[2].doorbells: only ivshmem-doorbell takes doorbells",
        ),
        (
            'model: edu, profile: edu, options: {dma_mask: "0xffffffff"}',
            "model: ivshmem-doorbell, profile: ivshmem-doorbell, vectors: 4, doorbells: 8",
            "13: machines[0].virtual.devices[2].doorbells: 8 doorbells, more than its 4 vectors: "
            "lower doorbells or raise vectors",
        ),
        (
            'model: edu, profile: edu, options: {dma_mask: "0xffffffff"}',
            "model: ivshmem-doorbell, profile: ivshmem-doorbell, doorbells: 5",
            "13: machines[0].virtual.devices[2].doorbells: 5 doorbells, more than its 4 vectors: "
            "lower doorbells or raise vectors",
        ),
        (
            "intremap: on",
            "intremap: maybe",
            "9: machines[0].virtual.intremap: 'maybe' is not on/off (or true/false)",
        ),
    ],
)
def test_broken_virtual_machine(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert old in VIRTUAL
    assert issues_of(tmp_path, VIRTUAL.replace(old, new)) == [expected]


def test_missing_virtual_block(tmp_path: Path) -> None:
    text = "lab: t\nmachines:\n  - name: vm-a\n    transport: virtual\n"
    assert issues_of(tmp_path, text) == [
        "3: machines[0].virtual: required when transport is virtual"
    ]


def test_ssh_block_on_a_local_machine(tmp_path: Path) -> None:
    text = REAL.replace("    transport: local\n", "    transport: local\n    ssh: {host: x}\n")
    assert issues_of(tmp_path, text) == [
        "12: machines[1].ssh: only allowed with transport: ssh (this is local)"
    ]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            'bdf: "0000:6a:01.0"',
            'bdf: "0000:6A:01.0"',
            "7: machines[0].devices[0].bdf: '0000:6A:01.0' is not a BDF: "
            "domain:bus:device.function in lower-case hex, e.g. '0000:6a:01.0'",
        ),
        (
            'bdf: "0000:6a:01.0"',
            'bdf: "0000:6a:01.8"',
            "7: machines[0].devices[0].bdf: '0000:6a:01.8' is not a BDF: "
            "domain:bus:device.function in lower-case hex, e.g. '0000:6a:01.0'",
        ),
        (
            'bdf: "0000:6a:01.0"',
            'bdf: "0000:6a:01.0", pci_id: "8086:0b25"',
            "7: machines[0].devices[0]: give exactly one of bdf ('0000:6a:01.0') "
            "or pci_id ('8086:0b25')",
        ),
        (
            "{name: ntb-b,",
            "{name: ntb-a,",
            "9: machines[0].devices[2].name: duplicate device name 'ntb-a'; names must be unique",
        ),
        (
            "  - name: laptop\n",
            "  - name: host-a\n",
            "10: machines[1].name: duplicate machine name 'host-a'; names must be unique",
        ),
        (
            "peer: host-a/dsa0",
            "peer: host-a/dsa9",
            "13: machines[1].devices[0].peer: 'host-a/dsa9' names no other device; "
            "use a device of this machine or <machine>/<device>",
        ),
        (
            'pci_id: "17cb:1103",',
            "instance: 2,",
            "13: machines[1].devices[0].instance: "
            "instance counts devices of one pci_id; add pci_id",
        ),
        (
            "    ssh: {host: a.lab}\n",
            "    ssh: {host: a.lab, port: 0}\n",
            "5: machines[0].ssh.port: Input should be greater than or equal to 1",
        ),
        (
            "lab: t",
            "lab: [t]",
            "1: lab: Input should be a valid string",
        ),
    ],
)
def test_broken_real_machine(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert old in REAL
    assert issues_of(tmp_path, REAL.replace(old, new)) == [expected]


def test_several_problems_are_reported_together(tmp_path: Path) -> None:
    text = REAL.replace("{host: a.lab}", "{host: a.lab, colour: red}").replace(
        '"0000:6a:01.0"', '"6a:01.0"'
    )
    issues = issues_of(tmp_path, text)
    assert [i.split(":")[0] for i in issues] == ["5", "7"]


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    [issue] = issues_of(tmp_path, REAL.replace("ssh: {host: a.lab}", "ssh: {host: a.lab"))
    assert re.fullmatch(r"\d+: <top>: YAML syntax: .+", issue)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        Inventory.load(tmp_path / "nope.yaml")
    assert str(info.value) == f"{tmp_path}/nope.yaml: <top>: file not found"


def test_not_a_mapping(tmp_path: Path) -> None:
    assert issues_of(tmp_path, "- a\n- b\n") == [
        "<top>: an inventory is a mapping with lab and machines"
    ]


def test_unknown_profile_and_model_mismatch(tmp_path: Path) -> None:
    text = VIRTUAL.replace("profile: edu,", "profile: igb,").replace(
        "{name: nic1, model: e1000e, profile: e1000e}",
        "{name: nic1, model: e1000e, profile: e1001e}",
    )
    inv = Inventory.load(write(tmp_path, text))
    issues = [str(i) for i in inv.profile_issues(ProfileSet.load(REPO / "device_profiles"))]
    assert issues[0].startswith(
        f"{tmp_path}/lab.yaml:12: machines[0].virtual.devices[1].profile: no profile 'e1001e' in "
    )
    assert issues[1] == (
        f"{tmp_path}/lab.yaml:13: machines[0].virtual.devices[2].profile: profile 'igb' does not "
        "list 1234:11e8, the PCI id of model 'edu'"
    )
    assert len(issues) == 2


@pytest.mark.parametrize(
    ("kernel", "expected"),
    [
        ('"6.1"', {"debian": "6.1"}),
        ("linux-image-6.12.95+deb12-amd64", {"debian": "linux-image-6.12.95+deb12-amd64"}),
        (
            "{bzimage: /k/bzImage, modules: /k/mods}",
            {"bzimage": "/k/bzImage", "modules": "/k/mods"},
        ),
        ("{build_tree: /src/linux}", {"build_tree": "/src/linux"}),
    ],
)
def test_kernel_sources(tmp_path: Path, kernel: str, expected: dict[str, str]) -> None:
    inv = Inventory.load(write(tmp_path, VIRTUAL.replace('"6.12"', kernel)))
    spec = inv.machines[0].virtual
    assert spec is not None
    got = {k: str(v) for k, v in spec.kernel.model_dump().items() if v is not None}
    assert got == expected


@pytest.mark.parametrize(
    ("kernel", "expected"),
    [
        (
            '"5.10"',
            "6: machines[0].virtual.kernel.debian: '5.10' is not a kernel: use an alias "
            "(6.1, 6.12), a Debian package name linux-image-..., {bzimage: path, modules: path} "
            "or {build_tree: path}",
        ),
        (
            "{build_tree: /src, modules: /m}",
            "6: machines[0].virtual.kernel.modules: modules belongs with bzimage",
        ),
        (
            "{bzimage: /k, build_tree: /src}",
            '6: machines[0].virtual.kernel: give one kernel: "6.1", "6.12", "linux-image-...", '
            "{bzimage: path, modules: path} or {build_tree: path}",
        ),
    ],
)
def test_bad_kernel_sources(tmp_path: Path, kernel: str, expected: str) -> None:
    assert issues_of(tmp_path, VIRTUAL.replace('"6.12"', kernel)) == [expected]
