"""Qualcomm ath11k Wi-Fi: the device of the seed's multi-MSI request.

The Linux driver (`drivers/net/wireless/ath/ath11k/pci.c`, `pcic.c`) asks
for 32 MSI vectors (16 on QCN9074) and falls back to one when the kernel
refuses, which it does without interrupt remapping.  That allocation is what
the framework tests here; the interrupts themselves come from the device
firmware (MHI, copy engines), which this framework does not load.
"""

from __future__ import annotations

from typing import ClassVar

from hil.devices.base import DeviceDriver, DeviceUnavailable
from hil.model.vocabulary import IrqIndex

QCA6390 = 0x1101
WCN6855 = 0x1103
QCN9074 = 0x1104

REQUESTED_MSI_VECTORS = {QCA6390: 32, WCN6855: 32, QCN9074: 16}
"""`total_vectors` of the driver's `ath11k_msi_config` per device id."""

FIRE_UNSUPPORTED = (
    "ath11k: the device raises its MSI vectors only from its firmware (MHI and copy "
    "engine events), which is not loaded here; use it for allocation steps only"
)


class Ath11kDriver(DeviceDriver):
    """Allocation-only driver for the multi-MSI request of the seed."""

    name: ClassVar[str] = "ath11k"
    ids: ClassVar[tuple[tuple[int, int], ...]] = tuple(
        (0x17CB, device) for device in (QCA6390, WCN6855, QCN9074)
    )
    index: ClassVar[IrqIndex] = IrqIndex.MSI

    def fire(self, vector: int) -> None:
        raise DeviceUnavailable(FIRE_UNSUPPORTED)

    @classmethod
    def fire_unsupported_reason(cls) -> str | None:
        return FIRE_UNSUPPORTED

    @staticmethod
    def requested_vectors(device_id: int) -> int:
        """How many MSI vectors the Linux driver asks for on this device."""
        return REQUESTED_MSI_VECTORS[device_id]
