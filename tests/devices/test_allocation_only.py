"""xhci and ath11k: allocation-only drivers say why they cannot fire."""

from __future__ import annotations

import pytest

from hil.devices.ath11k import Ath11kDriver
from hil.devices.base import DeviceUnavailable
from hil.devices.xhci import XhciDriver
from hil.model.vocabulary import IrqIndex


@pytest.mark.parametrize("driver", [XhciDriver, Ath11kDriver])
def test_fire_raises_the_reason_it_reports(driver: type[XhciDriver | Ath11kDriver]) -> None:
    reason = driver.fire_unsupported_reason()
    assert reason
    with pytest.raises(DeviceUnavailable) as raised:
        driver().fire(0)
    assert str(raised.value) == reason
    assert driver.index is IrqIndex.MSI


def test_ath11k_reason_names_the_firmware() -> None:
    assert "firmware" in (Ath11kDriver.fire_unsupported_reason() or "")


def test_ath11k_asks_for_the_vectors_of_the_linux_driver() -> None:
    # ath11k pcic.c ath11k_msi_config: QCA6390 and WCN6855 32 vectors, QCN9074 16.
    assert Ath11kDriver.requested_vectors(0x1101) == 32
    assert Ath11kDriver.requested_vectors(0x1103) == 32
    assert Ath11kDriver.requested_vectors(0x1104) == 16
    assert {device for _, device in Ath11kDriver.ids} == {0x1101, 0x1103, 0x1104}


def test_xhci_reason_names_the_event_ring() -> None:
    assert "event ring" in (XhciDriver.fire_unsupported_reason() or "")
