"""Version-dependent kernel facts (kernel-facts.md §1-§4)."""

from __future__ import annotations

import pytest

from hil.model.kernel import KernelRules, KernelVersion
from hil.model.vocabulary import IrqIndex


def test_release_strings_parse() -> None:
    assert KernelVersion.parse("6.12.95+deb12-amd64").as_tuple() == (6, 12, 95)
    assert KernelVersion.parse("6.1.0-56-amd64").as_tuple() == (6, 1, 0)
    assert KernelVersion.parse("6.10") == KernelVersion(6, 10, 0)
    assert KernelVersion.parse("6.9.12") < KernelVersion.parse("6.10.1")
    with pytest.raises(ValueError):
        KernelVersion.parse("linux")


@pytest.mark.parametrize(
    ("release", "usable", "first_system"),
    [
        ("5.15.0", 201, 0xEC),
        ("6.1.0-56-amd64", 201, 0xEC),
        ("6.6.0", 202, 0xEC),
        ("6.9.0", 202, 0xEC),
        ("6.10.0", 201, 0xEB),
        ("6.12.95+deb12-amd64", 201, 0xEB),
    ],
)
def test_vector_space_by_version(release: str, usable: int, first_system: int) -> None:
    rules = KernelRules.for_version(release)
    assert rules.usable_per_cpu == usable
    assert rules.first_system_vector == first_system
    assert rules.placeholder_vector == 0xEF
    vectors = rules.allocatable_vectors()
    assert 0x80 not in vectors and 0x32 not in vectors
    assert (0x20 in vectors) == KernelVersion.parse(release).at_least(6, 6)


@pytest.mark.parametrize(
    ("release", "domains", "ims", "dyn", "errno", "timer"),
    [
        ("6.1.0", False, False, False, "EIO", False),
        ("6.2.0", True, True, False, "EIO", False),
        ("6.5.0", True, True, True, "EIO", False),
        ("6.6.0", True, True, True, "EIO", True),
        ("6.10.0", True, False, True, "EIO", True),
        ("6.11.3", True, False, True, "EIO", True),
        ("6.12.0", True, False, True, "EPERM", True),
    ],
)
def test_feature_switches(
    release: str, domains: bool, ims: bool, dyn: bool, errno: str, timer: bool
) -> None:
    rules = KernelRules.for_version(release)
    assert rules.per_device_msi_domains is domains
    assert rules.ims_api is ims
    assert rules.dynamic_msix is dyn
    assert rules.managed_affinity_errno == errno
    assert rules.cleanup_by_timer is timer


def test_chip_names_seen_in_transcripts() -> None:
    new = KernelRules.for_version("6.12.95+deb12-amd64")
    old = KernelRules.for_version("6.1.0-56-amd64")
    bdf = "0000:00:0a.0"
    assert new.chip_name(IrqIndex.MSIX, bdf, ir=True) == "IR-PCI-MSIX-0000:00:0a.0"
    assert new.chip_name(IrqIndex.MSIX, bdf, ir=False) == "PCI-MSIX-0000:00:0a.0"
    assert old.chip_name(IrqIndex.MSIX, bdf, ir=True) == "IR-PCI-MSI"
    assert old.chip_name(IrqIndex.MSI, bdf, ir=False) == "PCI-MSI"
    assert (
        KernelRules.for_version("6.5").chip_name(IrqIndex.MSIX, bdf, True, True).startswith("vIR-")
    )
    assert new.hwirq(3) == 3
    assert old.hwirq(3) is None


def test_ims_reasons() -> None:
    assert "no PCI IMS API" in (
        KernelRules.for_version("6.12").ims_unavailable_reason(True, False) or ""
    )
    mid = KernelRules.for_version("6.5")
    assert mid.ims_unavailable_reason(True, False) is None
    assert "remapping" in (mid.ims_unavailable_reason(False, False) or "")
    assert "caching-mode" in (mid.ims_unavailable_reason(True, True) or "")
