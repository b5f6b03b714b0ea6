"""Calibration: JSON round trip, stable digest, validation."""

from __future__ import annotations

import json

import pytest

from hil.model.calibration import Calibration, CpuInfo, ExistingIrq
from hil.model.vocabulary import ApicMode, IrType


def _calibration(**changes: object) -> Calibration:
    base: dict[str, object] = {
        "kernel": "6.12.95+deb12-amd64",
        "ir": IrType.INTEL,
        "apic_mode": ApicMode.X2APIC_PHYSICAL,
        "cpus": (CpuInfo(0, 0), CpuInfo(1, 2, node=1, online=False)),
        "vectors": {0: (0x20, 0x21), 1: (0x20,)},
        "managed_reserved": {1: 2},
        "existing_irqs": (ExistingIrq(9, 0, (0, 1), vector=0x21),),
        "irte_next": 35,
        "irq_next": 41,
        "device_nodes": {"0000:00:0a.0": 1},
    }
    base.update(changes)
    return Calibration(**base)  # type: ignore[arg-type]


def test_round_trip_through_json() -> None:
    cal = _calibration()
    again = Calibration.from_dict(json.loads(json.dumps(cal.to_dict())))
    assert again == cal
    assert again.digest() == cal.digest()


def test_digest_is_stable_and_sensitive() -> None:
    assert _calibration().digest() == _calibration().digest()
    assert _calibration().digest() != _calibration(irte_next=36).digest()
    assert len(_calibration().digest()) == 64


def test_counts_only_calibration_round_trips() -> None:
    cal = _calibration(vectors=None, allocated={0: 5, 1: 6})
    assert not cal.exact_vectors
    assert Calibration.from_dict(cal.to_dict()) == cal


def test_unknown_cpu_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown CPUs"):
        _calibration(vectors={7: (0x20,)})
    with pytest.raises(ValueError, match="twice"):
        _calibration(cpus=(CpuInfo(0, 0), CpuInfo(0, 1)))


def test_cpu0_is_not_hot_pluggable_by_default() -> None:
    assert not CpuInfo(0, 0).can_unplug
    assert CpuInfo(1, 1).can_unplug
    assert CpuInfo(0, 0, hotpluggable=True).can_unplug


def test_irq_numbers_and_hidden_vectors_round_trip_and_count_in_the_digest() -> None:
    cal = _calibration(used_irqs=(40, 0, 24, 9), dynirq_base=24, hidden_vectors=4)
    assert cal.used_irqs == (0, 9, 24, 40)
    again = Calibration.from_dict(json.loads(json.dumps(cal.to_dict())))
    assert again == cal and again.digest() == cal.digest()
    assert cal.digest() != _calibration(used_irqs=(0, 9, 24, 40), dynirq_base=24).digest()
    assert cal.digest() != _calibration(used_irqs=(0, 9, 24), dynirq_base=24).digest()
    assert (
        cal.digest()
        == _calibration(used_irqs=(0, 9, 24, 40, 9), dynirq_base=24, hidden_vectors=4).digest()
    )


def test_a_bundle_from_before_these_fields_still_loads() -> None:
    raw = _calibration().to_dict()
    for name in ("used_irqs", "dynirq_base", "hidden_vectors"):
        del raw[name]
    old = Calibration.from_dict(raw)
    assert (old.used_irqs, old.dynirq_base, old.hidden_vectors) == (None, None, 0)
    assert old == _calibration()


def test_negative_hidden_vectors_are_refused() -> None:
    with pytest.raises(ValueError, match="hidden_vectors"):
        _calibration(hidden_vectors=-1)
