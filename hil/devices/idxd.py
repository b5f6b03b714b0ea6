"""Intel DSA and IAX (idxd): completion interrupts from descriptors the device runs.

This follows the Linux VFIO selftest driver
(`tools/testing/selftests/vfio/lib/drivers/dsa/dsa.c`) and the register
layout of `drivers/dma/idxd/registers.h` and `include/uapi/linux/idxd.h`:
reset the device, give work queue 0 and engine 0 to group 0, enable device
and queue, then submit a MEMMOVE descriptor with "request completion
interrupt" and `int_handle = k`.  Without interrupt handles (bare metal)
the handle is the MSI-X table index, so the completion raises vector k.
Vector 0 is the misc vector: a command with the interrupt-request bit
raises it when the command completes.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Protocol

from hil.devices._movdir64b_build import Movdir64b, load_movdir64b
from hil.devices._poll import PollPolicy, poll_until
from hil.devices.base import (
    DeviceDriver,
    DeviceError,
    DeviceIO,
    DeviceUnavailable,
    DmaBuffer,
    MappedRegisterSpace,
    RegisterSpace,
)
from hil.model.vocabulary import IrqIndex

GENCAP = 0x10
WQCAP = 0x20
GRPCAP = 0x30
ENGCAP = 0x38
TABLE_OFFSET = 0x60
INTCAUSE = 0x98
CMD = 0xA0
CMDSTS = 0xA8
CMDCAP = 0xB0
SWERR = 0xC0

PCI_DEVICE_ID = 0x02
TABLE_MULT = 0x100
WQCFG_MIN_SHIFT = 5
GRPCFG_WQS = 0
GRPCFG_ENGINES = 32

GENCAP_CMD_CAP = 1 << 4
CMDCAP_REQUEST_INT_HANDLE = 1 << 13
CMD_INT_REQ = 1 << 31
CMDSTS_ACTIVE = 1 << 31
CMDSTS_ERR_MASK = 0xFF
SWERR_VALID = 0x1

CMD_ENABLE_DEVICE = 1
CMD_DRAIN_ALL = 3
CMD_RESET_DEVICE = 5
CMD_ENABLE_WQ = 6

OPCODE_BATCH = 1
OPCODE_MEMMOVE = 3
FLAG_CRAV = 0x04
FLAG_RCR = 0x08
FLAG_RCI = 0x10
COMP_SUCCESS = 1
COMP_STATUS_MASK = 0x7F

WQ_BAR = 2
WQ0_PORTAL = 0
"""Portal of WQ w with protection p is BAR2 + w*0x4000 + p*0x1000; WQ 0, unlimited = 0."""

COMMAND_ERRORS = {
    0x01: "invalid command",
    0x02: "invalid WQ index",
    0x03: "hardware error",
    0x10: "device already enabled",
    0x11: "configuration error",
    0x12: "bus master disabled",
    0x13: "invalid PASID",
    0x14: "WQ size out of range",
    0x15: "group configuration error",
    0x16: "group configuration error 2",
    0x17: "group configuration error 3",
    0x18: "group configuration error 4",
    0x20: "device not enabled",
    0x21: "WQ already enabled",
    0x22: "WQ size error",
    0x23: "WQ priority error",
    0x24: "WQ mode error",
    0x25: "block-on-fault error",
    0x26: "PASID enable error",
    0x27: "max batch size error",
    0x28: "max transfer size error",
    0x31: "device still enabled",
    0x32: "device not enabled",
    0x41: "invalid interrupt index",
    0x42: "no interrupt handle",
}
"""`enum idxd_cmdsts_err` of registers.h."""

COMPLETION_ERRORS = {
    0x03: "page fault (no block on fault)",
    0x04: "page fault (IR)",
    0x10: "bad opcode",
    0x11: "invalid flags",
    0x12: "non-zero reserved field",
    0x13: "transfer size out of range",
    0x19: "invalid interrupt handle",
    0x1A: "completion record address translation failed",
    0x1B: "completion record misaligned",
    0x1C: "address misaligned",
    0x1D: "privilege error",
    0x20: "hardware error",
    0x22: "address translation failure",
}
"""A subset of `enum dsa_completion_status` (uapi idxd.h), the ones a MEMMOVE can hit."""


class DescriptorSubmitter(Protocol):
    """Write one 64-byte descriptor to a work queue portal as a single store."""

    def __call__(self, portal: RegisterSpace, offset: int, descriptor: bytes) -> None: ...


class Movdir64bSubmitter:
    """The real submission path: MOVDIR64B to the mapped portal."""

    def __init__(
        self,
        loader: Callable[[], Movdir64b] = load_movdir64b,
    ) -> None:
        self._loader = loader
        self._store: Movdir64b | None = None

    def __call__(self, portal: RegisterSpace, offset: int, descriptor: bytes) -> None:
        if not isinstance(portal, MappedRegisterSpace):
            raise DeviceUnavailable(
                "idxd: the WQ portal BAR is not memory-mapped into this process, "
                "so MOVDIR64B cannot reach it"
            )
        if self._store is None:
            self._store = self._loader()
        self._store(portal.address(offset), descriptor)


@dataclass(frozen=True)
class SoftwareError:
    """SWERR as `union sw_err_reg` lays it out."""

    words: tuple[int, int, int, int]

    @property
    def valid(self) -> bool:
        return bool(self.words[0] & SWERR_VALID)

    def __str__(self) -> str:
        w0, w1, w2, _ = self.words
        fields = {
            "overflow": (w0 >> 1) & 1,
            "desc_valid": (w0 >> 2) & 1,
            "wq_idx_valid": (w0 >> 3) & 1,
            "batch": (w0 >> 4) & 1,
            "fault_rw": (w0 >> 5) & 1,
            "priv": (w0 >> 6) & 1,
            "error": (w0 >> 8) & 0xFF,
            "wq_idx": (w0 >> 16) & 0xFF,
            "operation": (w0 >> 32) & 0xFF,
            "pasid": (w0 >> 40) & 0xFFFFF,
            "batch_idx": w1 & 0xFFFF,
            "invalid_flags": (w1 >> 32) & 0xFFFFFFFF,
        }
        text = " ".join(f"{key}={value:#x}" for key, value in fields.items())
        return f"SWERR {text} fault_addr={w2:#x}"


@dataclass(frozen=True)
class Capabilities:
    """The capability registers the configuration depends on."""

    gencap: int
    wqcap: int
    grpcap: int
    engcap: int
    grpcfg_offset: int
    wqcfg_offset: int

    @property
    def total_wq_size(self) -> int:
        return self.wqcap & 0xFFFF

    @property
    def num_wqs(self) -> int:
        return (self.wqcap >> 16) & 0xFF

    @property
    def wqcfg_size(self) -> int:
        return 1 << (((self.wqcap >> 24) & 0xF) + WQCFG_MIN_SHIFT)

    @property
    def wq_ats_support(self) -> int:
        return (self.wqcap >> 50) & 1

    @property
    def num_groups(self) -> int:
        return self.grpcap & 0xFF

    @property
    def num_engines(self) -> int:
        return self.engcap & 0xFF

    @property
    def max_xfer_shift(self) -> int:
        return (self.gencap >> 16) & 0x1F

    @property
    def max_batch_shift(self) -> int:
        return (self.gencap >> 21) & 0xF


def wq_config(caps: Capabilities, operations: int) -> bytes:
    """WQCFG of a dedicated, priority 1 queue taking `operations` (dsa.c dsa_wq_init)."""
    mode_word = 1 | (caps.wq_ats_support << 2) | (1 << 4)
    limits_word = caps.max_xfer_shift | (caps.max_batch_shift << 5)
    head = struct.pack("<IIII", caps.total_wq_size, 0, mode_word, limits_word)
    op_config = struct.pack("<QQQQ", operations, 0, 0, 0)
    words = head + bytes(16) + op_config
    return (words + bytes(caps.wqcfg_size))[: caps.wqcfg_size]


def memmove_descriptor(*, completion: int, src: int, dst: int, size: int, int_handle: int) -> bytes:
    """A MEMMOVE `struct dsa_hw_desc`: priv=1, CRAV|RCR|RCI, interrupt handle `int_handle`."""
    flags = FLAG_CRAV | FLAG_RCR | FLAG_RCI
    head = struct.pack(
        "<IIQQQIHH",
        1 << 31,
        flags | (OPCODE_MEMMOVE << 24),
        completion,
        src,
        dst,
        size,
        int_handle,
        0,
    )
    return head + bytes(64 - len(head))


DEVICE_POLICY = PollPolicy(timeout_s=5.0, interval_s=0.001)
"""dsa.c allows 5 s for a command; the same bounds a descriptor."""

COMPLETION_OFFSET = 0x000
SOURCE_OFFSET = 0x100
DEST_OFFSET = 0x200
COPY_SIZE = 8
COMPLETION_RECORD_SIZE = 64
"""32 bytes on DSA, 64 on IAX; clearing 64 covers both."""


class IdxdDriver(DeviceDriver):
    """Raise DSA/IAX vectors: commands for vector 0, MEMMOVE completions for vectors 1+."""

    name: ClassVar[str] = "idxd"
    ids: ClassVar[tuple[tuple[int, int], ...]] = (
        (0x8086, 0x0B25),  # DSA, Sapphire Rapids
        (0x8086, 0x11FB),  # DSA, Granite Rapids-D
        (0x8086, 0x1212),  # DSA, Diamond Rapids
        (0x8086, 0x0CFE),  # IAX, Sapphire Rapids
        (0x8086, 0x1216),  # IAA, Diamond Rapids
        (0x8086, 0xB02D),  # IAA, Panther Lake
    )
    index: ClassVar[IrqIndex] = IrqIndex.MSIX

    iax_device_ids: ClassVar[frozenset[int]] = frozenset({0x0CFE, 0x1216, 0xB02D})

    def __init__(
        self,
        submitter: DescriptorSubmitter | None = None,
        policy: PollPolicy = DEVICE_POLICY,
    ) -> None:
        super().__init__()
        self._submit: DescriptorSubmitter = submitter or Movdir64bSubmitter()
        self._policy = policy
        self._caps: Capabilities | None = None
        self._buffer: DmaBuffer | None = None
        self._enabled = 0

    @property
    def capabilities(self) -> Capabilities:
        if self._caps is None:
            raise DeviceError("idxd: init() was not called")
        return self._caps

    def init(self, io: DeviceIO) -> None:
        super().init(io)
        bar0 = io.bar(0)
        if self.requires_interrupt_handles(bar0):
            raise DeviceUnavailable(
                "idxd: device requires interrupt handles (CMDCAP bit 13, as in a guest); "
                "MSI-X table indices cannot be used as int_handle"
            )
        self.command(CMD_RESET_DEVICE)
        caps = self._read_capabilities(bar0)
        if caps.num_wqs == 0 or caps.num_groups == 0 or caps.num_engines == 0:
            raise DeviceError(
                f"idxd: needs a WQ, a group and an engine; has {caps.num_wqs} WQs, "
                f"{caps.num_groups} groups, {caps.num_engines} engines"
            )
        self._caps = caps
        config = wq_config(caps, self._operations(io))
        for word in range(len(config) // 4):
            (value,) = struct.unpack_from("<I", config, word * 4)
            bar0.write32(caps.wqcfg_offset + word * 4, value)
        bar0.write64(caps.grpcfg_offset + GRPCFG_WQS, 1)
        bar0.write64(caps.grpcfg_offset + GRPCFG_ENGINES, 1)
        self.command(CMD_ENABLE_DEVICE)
        self.command(CMD_ENABLE_WQ)
        self._buffer = io.dma_buffer(4096)

    def _operations(self, io: DeviceIO) -> int:
        """op_config bits: MEMMOVE|BATCH as dsa.c; IAX has no BATCH [UNVERIFIED on IAX]."""
        device_id = io.config().read16(PCI_DEVICE_ID)
        if device_id in self.iax_device_ids:
            return 1 << OPCODE_MEMMOVE
        return (1 << OPCODE_MEMMOVE) | (1 << OPCODE_BATCH)

    @staticmethod
    def requires_interrupt_handles(bar0: RegisterSpace) -> bool:
        """CMDCAP bit 13: handles must be requested (dsa.c dsa_int_handle_request_required)."""
        if not bar0.read64(GENCAP) & GENCAP_CMD_CAP:
            return False
        return bool(bar0.read32(CMDCAP) & CMDCAP_REQUEST_INT_HANDLE)

    @staticmethod
    def _read_capabilities(bar0: RegisterSpace) -> Capabilities:
        offsets = bar0.read64(TABLE_OFFSET)
        return Capabilities(
            gencap=bar0.read64(GENCAP),
            wqcap=bar0.read64(WQCAP),
            grpcap=bar0.read64(GRPCAP),
            engcap=bar0.read64(ENGCAP),
            grpcfg_offset=(offsets & 0xFFFF) * TABLE_MULT,
            wqcfg_offset=((offsets >> 16) & 0xFFFF) * TABLE_MULT,
        )

    def software_error(self) -> SoftwareError:
        bar0 = self.io.bar(0)
        words = tuple(bar0.read64(SWERR + 8 * i) for i in range(4))
        return SoftwareError((words[0], words[1], words[2], words[3]))

    def _check_software_error(self) -> None:
        error = self.software_error()
        if error.valid:
            raise DeviceError(f"idxd: software error: {error}")

    def command(self, command: int, operand: int = 0, *, interrupt: bool = False) -> None:
        """Run a device command and wait for CMDSTS to go inactive (dsa.c dsa_command)."""
        bar0 = self.io.bar(0)
        value = (operand & 0xFFFFF) | (command << 20) | (CMD_INT_REQ if interrupt else 0)
        bar0.write32(CMD, value)
        status = 0

        def finished() -> bool:
            nonlocal status
            self._check_software_error()
            status = bar0.read32(CMDSTS)
            return not status & CMDSTS_ACTIVE

        poll_until(finished, what=f"idxd command {command}", policy=self._policy)
        error = status & CMDSTS_ERR_MASK
        if error:
            meaning = COMMAND_ERRORS.get(error, "unknown error")
            raise DeviceError(f"idxd: command {command} failed: {error:#x} ({meaning})")

    def enable_vectors(self, count: int) -> None:
        if count < 1:
            raise DeviceError("idxd: at least vector 0 (misc) must be enabled")
        self._enabled = count

    def fire(self, vector: int) -> None:
        if not 0 <= vector < self._enabled:
            raise DeviceError(f"idxd: vector {vector} is not among the {self._enabled} enabled")
        if vector == 0:
            self.command(CMD_DRAIN_ALL, interrupt=True)
            return
        self._memmove(int_handle=vector)

    def _memmove(self, *, int_handle: int) -> None:
        buffer = self._buffer
        if buffer is None:
            raise DeviceError("idxd: init() was not called")
        buffer.write(COMPLETION_OFFSET, bytes(COMPLETION_RECORD_SIZE))
        descriptor = memmove_descriptor(
            completion=buffer.iova + COMPLETION_OFFSET,
            src=buffer.iova + SOURCE_OFFSET,
            dst=buffer.iova + DEST_OFFSET,
            size=COPY_SIZE,
            int_handle=int_handle,
        )
        self._submit(self.io.bar(WQ_BAR), WQ0_PORTAL, descriptor)

        def completed() -> bool:
            self._check_software_error()
            return buffer.read(COMPLETION_OFFSET, 1)[0] != 0

        poll_until(completed, what="idxd MEMMOVE completion record", policy=self._policy)
        status = buffer.read(COMPLETION_OFFSET, 1)[0] & COMP_STATUS_MASK
        if status != COMP_SUCCESS:
            meaning = COMPLETION_ERRORS.get(status, "unknown status")
            raise DeviceError(f"idxd: MEMMOVE completed with {status:#x} ({meaning})")

    def acknowledge(self, vector: int) -> None:
        if vector == 0:
            bar0 = self.io.bar(0)
            cause = bar0.read32(INTCAUSE)
            if cause:
                bar0.write32(INTCAUSE, cause)

    def remove(self) -> None:
        if self._io is not None and self._caps is not None:
            self.command(CMD_RESET_DEVICE)
        self._caps = None
        self._buffer = None
        self._enabled = 0
        super().remove()
