"""TCG threading: one host thread per vCPU only where the host has a core for each."""

from __future__ import annotations

from pathlib import Path

import pytest

from hil.lab.configfile import ConfigError
from hil.lab.inventory import Inventory
from hil.virtlab.kernels import KernelImage
from hil.virtlab.lab import VirtualLab
from hil.virtlab.vm import VirtualMachine

MACHINE = """\
  - name: {name}
    transport: virtual
    virtual:
      kernel: "6.12"
      cpus: {cpus}
{extra}"""


def _lab(tmp_path: Path, *machines: tuple[str, int, str]) -> VirtualLab:
    text = "lab: t\nmachines:\n" + "".join(
        MACHINE.format(name=n, cpus=c, extra=f"      tcg_threads: {t}\n" if t else "")
        for n, c, t in machines
    )
    path = tmp_path / "inventory.yaml"
    path.write_text(text)
    return VirtualLab(Inventory.load(path).machines, progress=lambda _: None)


@pytest.mark.parametrize(("host_cpus", "expected"), [(2, "single"), (7, "single"), (8, "multi")])
def test_auto_gives_each_vcpu_a_thread_only_when_the_host_has_a_core_for_every_vcpu_of_the_lab(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, host_cpus: int, expected: str
) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: set(range(host_cpus)))
    lab = _lab(tmp_path, ("a", 4, ""), ("b", 4, ""))
    assert lab.tcg_threads(lab.machines["a"]) == expected


def test_a_machine_that_names_its_threading_gets_it_whatever_the_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: {0})
    lab = _lab(tmp_path, ("a", 4, "multi"), ("b", 1, "single"))
    assert lab.tcg_threads(lab.machines["a"]) == "multi"
    assert lab.tcg_threads(lab.machines["b"]) == "single"


def test_an_unknown_threading_names_the_field_and_the_choices(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        _lab(tmp_path, ("a", 4, "many"))
    message = str(err.value)
    assert "tcg_threads" in message
    assert "single" in message and "multi" in message


def _qemu_opts(tmp_path: Path, threads: str, kvm: bool) -> str:
    lab = _lab(tmp_path, ("a", 2, threads))
    spec = lab.spec(lab.machines["a"])
    kernel = KernelImage("6.12", None, None, "6.12.0", tmp_path / "vmlinuz", None, None)
    command = VirtualMachine(spec, kernel, tmp_path / "state", "qemu")._command(True, kvm)
    return next(arg for arg in command if arg.startswith("--qemu-opts="))


def test_tcg_boots_get_the_resolved_threading_and_kvm_boots_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("hil.virtlab.vm._vng", lambda: "vng")
    assert "-accel tcg,thread=single" in _qemu_opts(tmp_path, "single", kvm=False)
    assert "-accel tcg,thread=multi" in _qemu_opts(tmp_path, "multi", kvm=False)
    assert "-accel" not in _qemu_opts(tmp_path, "multi", kvm=True)
