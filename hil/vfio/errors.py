"""Failures of the VFIO layer, each carrying what a report needs to say why."""

from __future__ import annotations

import os


class VfioError(Exception):
    """A VFIO operation failed; `op` names it, `errno` is the kernel's answer (0 if none).

    The errno is kept as data because scenario outcomes compare it with the
    model's prediction (the `errno` path of a StepOutcome).
    """

    def __init__(self, op: str, errno: int, message: str) -> None:
        super().__init__(f"{op}: {message}")
        self.op = op
        self.errno = errno
        self.message = message


class UnsafeInterruptsError(VfioError):
    """type1 refused to attach because the host cannot remap interrupts.

    Without interrupt remapping a device could forge any MSI, so
    `vfio_iommu_type1` refuses `VFIO_SET_IOMMU` with EPERM unless the
    administrator opted in.  The message says exactly how.
    """

    def __init__(self, op: str, errno: int) -> None:
        super().__init__(
            op,
            errno,
            "the host has no interrupt remapping (no IR-capable IOMMU, or IR is off), so "
            "vfio_iommu_type1 refuses to attach a group. To run anyway on this machine boot "
            "with vfio_iommu_type1.allow_unsafe_interrupts=1 on the kernel command line (or "
            "write 1 to /sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts) "
            f"[{os.strerror(errno)}]",
        )


class VectorsNotGranted(VfioError):
    """VFIO_DEVICE_SET_IRQS returned a positive count: fewer vectors than asked for.

    vfio-pci's first MSI/MSI-X enable asks `pci_alloc_irq_vectors(1, start+count)`;
    when it gets fewer it frees them again and returns how many it could have
    had as the ioctl's (positive) return value.  Nothing is left allocated.
    """

    def __init__(self, op: str, requested: int, granted: int) -> None:
        super().__init__(
            op,
            0,
            f"asked for {requested} vectors, the kernel could grant only {granted}; "
            "nothing was allocated",
        )
        self.requested = requested
        self.granted = granted


class GroupNotViable(VfioError):
    """A device of the IOMMU group is bound to a host driver, so the group cannot be used."""
