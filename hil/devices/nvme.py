"""NVMe (QEMU `nvme`, 1b36:0010): completion-queue interrupts, the emulated DSA relative.

Like a DSA completion, an NVMe completion is the device writing a record to
host memory and then sending the MSI-X vector of the queue it completed on.
Registers, queue entries and commands follow the NVMe base specification and
QEMU `hw/nvme/ctrl.c`: the admin completion queue always interrupts on vector
0; an I/O completion queue created with IV=k and IEN interrupts on vector k.

QEMU checks when creating a queue that CC.IOSQES=6 and CC.IOCQES=4, that the
vector is below the MSI-X table size, that MSI-X is enabled for any vector
but 0, and that the queue is physically contiguous (PC=1).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from hil.devices._poll import PollPolicy, poll_until
from hil.devices.base import DeviceDriver, DeviceError, DeviceIO, DeviceUnavailable, DmaBuffer
from hil.model.vocabulary import IrqIndex

CAP = 0x00
CC = 0x14
CSTS = 0x1C
AQA = 0x24
ASQ = 0x28
ACQ = 0x30
DOORBELLS = 0x1000

CC_EN = 1 << 0
CC_IOSQES = 6 << 16
CC_IOCQES = 4 << 20
CC_ENABLE = CC_IOCQES | CC_IOSQES | CC_EN
"""NVM command set, 4 KiB pages, round robin, 64-byte SQ and 16-byte CQ entries."""

CSTS_RDY = 1 << 0
CSTS_CFS = 1 << 1

SQ_ENTRY = 64
CQ_ENTRY = 16
PAGE = 4096

ADMIN_CREATE_SQ = 0x01
ADMIN_CREATE_CQ = 0x05
ADMIN_GET_FEATURES = 0x0A
IO_FLUSH = 0x00
FEATURE_NUMBER_OF_QUEUES = 0x07

QUEUE_PC = 1 << 0
CQ_IEN = 1 << 1

ADMIN_QID = 0
DEFAULT_DEPTH = 16
DEFAULT_NAMESPACE = 1

Write32 = Callable[[int, int], None]
"""A BAR's write32, the only access a queue needs (its doorbells)."""

NVME_POLICY = PollPolicy(timeout_s=5.0, interval_s=0.001)


@dataclass(frozen=True)
class Capabilities:
    """The fields of CAP this driver depends on."""

    register: int

    @property
    def max_queue_entries(self) -> int:
        """MQES is zero-based."""
        return (self.register & 0xFFFF) + 1

    @property
    def ready_timeout_s(self) -> float:
        """CAP.TO, in units of 500 ms."""
        return ((self.register >> 24) & 0xFF) * 0.5

    @property
    def doorbell_stride(self) -> int:
        return 4 << ((self.register >> 32) & 0xF)

    @property
    def nvm_command_set(self) -> bool:
        return bool((self.register >> 37) & 1)

    @property
    def min_page_size(self) -> int:
        return 1 << (12 + ((self.register >> 48) & 0xF))


@dataclass(frozen=True)
class Completion:
    """One 16-byte completion queue entry."""

    result: int
    sq_head: int
    sq_id: int
    command_id: int
    phase: int
    status: int

    @classmethod
    def parse(cls, raw: bytes) -> Completion:
        result, _, dw2, dw3 = struct.unpack("<IIII", raw)
        return cls(
            result=result,
            sq_head=dw2 & 0xFFFF,
            sq_id=dw2 >> 16,
            command_id=dw3 & 0xFFFF,
            phase=(dw3 >> 16) & 1,
            status=dw3 >> 17,
        )


def submission_entry(
    opcode: int,
    command_id: int,
    *,
    nsid: int = 0,
    prp1: int = 0,
    cdw10: int = 0,
    cdw11: int = 0,
) -> bytes:
    """A 64-byte submission queue entry (PRP data pointer, no fused operation)."""
    return struct.pack(
        "<IIQQQQIIIIII",
        opcode | (command_id << 16),
        nsid,
        0,
        0,
        prp1,
        0,
        cdw10,
        cdw11,
        0,
        0,
        0,
        0,
    )


class QueuePair:
    """One submission queue and its completion queue, with host-side head/tail state."""

    def __init__(self, qid: int, depth: int, sq: DmaBuffer, cq: DmaBuffer, stride: int) -> None:
        self.qid = qid
        self.depth = depth
        self.sq = sq
        self.cq = cq
        self.sq_tail = 0
        self.cq_head = 0
        self.phase = 1
        self.unread = 0
        self._sq_doorbell = DOORBELLS + (2 * qid) * stride
        self._cq_doorbell = DOORBELLS + (2 * qid + 1) * stride

    def submit(self, bar0_write32: Write32, entry: bytes) -> None:
        if self.unread >= self.depth - 1:
            raise DeviceError(
                f"nvme: queue {self.qid} holds {self.unread} unacknowledged completions; "
                "acknowledge before firing again"
            )
        self.sq.write(self.sq_tail * SQ_ENTRY, entry)
        self.sq_tail = (self.sq_tail + 1) % self.depth
        bar0_write32(self._sq_doorbell, self.sq_tail)

    def _slot(self, ahead: int) -> tuple[int, int]:
        position = self.cq_head + ahead
        if position < self.depth:
            return position, self.phase
        return position - self.depth, self.phase ^ 1

    def peek(self) -> Completion | None:
        """The next completion not yet counted, if the device has posted it."""
        slot, phase = self._slot(self.unread)
        entry = Completion.parse(self.cq.read(slot * CQ_ENTRY, CQ_ENTRY))
        return entry if entry.phase == phase else None

    def wait(self, policy: PollPolicy) -> Completion:
        """Wait for the next completion and count it as unread."""
        found: list[Completion] = []

        def posted() -> bool:
            entry = self.peek()
            if entry is not None:
                found.append(entry)
            return bool(found)

        poll_until(posted, what=f"nvme completion on queue {self.qid}", policy=policy)
        self.unread += 1
        return found[0]

    def consume(self, bar0_write32: Write32) -> None:
        """Hand every counted completion back to the device (CQ head doorbell)."""
        if not self.unread:
            return
        self.cq_head, self.phase = self._slot(self.unread)
        self.unread = 0
        bar0_write32(self._cq_doorbell, self.cq_head)


class NvmeDriver(DeviceDriver):
    """Vector 0 by an admin command, vector k by a Flush on I/O queue k."""

    name: ClassVar[str] = "nvme"
    ids: ClassVar[tuple[tuple[int, int], ...]] = ((0x1B36, 0x0010),)
    index: ClassVar[IrqIndex] = IrqIndex.MSIX

    def __init__(
        self,
        *,
        namespace: int = DEFAULT_NAMESPACE,
        depth: int = DEFAULT_DEPTH,
        policy: PollPolicy = NVME_POLICY,
    ) -> None:
        super().__init__()
        self._namespace = namespace
        self._depth = depth
        self._policy = policy
        self._caps: Capabilities | None = None
        self._queues: dict[int, QueuePair] = {}
        self._command_id = 0
        self.setup_completions = 0
        """Admin completions (each a vector 0 interrupt) that enable_vectors caused."""
        self.last_completion: dict[int, Completion] = {}
        """Per vector, the completion whose posting sent it; a non-zero status still fired."""

    def init(self, io: DeviceIO) -> None:
        super().init(io)
        bar0 = io.bar(0)
        caps = Capabilities(bar0.read64(CAP))
        if not caps.nvm_command_set:
            raise DeviceUnavailable("nvme: controller does not support the NVM command set")
        if caps.min_page_size > PAGE:
            raise DeviceUnavailable(f"nvme: controller pages start at {caps.min_page_size} bytes")
        self._caps = caps
        self._depth = min(self._depth, caps.max_queue_entries)
        self._disable()
        admin = self._new_queue(ADMIN_QID)
        bar0.write32(AQA, ((self._depth - 1) << 16) | (self._depth - 1))
        bar0.write64(ASQ, admin.sq.iova)
        bar0.write64(ACQ, admin.cq.iova)
        bar0.write32(CC, CC_ENABLE)

        def ready_or_failed() -> bool:
            return bool(bar0.read32(CSTS) & (CSTS_RDY | CSTS_CFS))

        poll_until(ready_or_failed, what="nvme CSTS.RDY", policy=self._ready_policy())
        if bar0.read32(CSTS) & CSTS_CFS:
            raise DeviceError("nvme: controller fatal status (CSTS.CFS) after enabling")

    def _ready_policy(self) -> PollPolicy:
        timeout = max(self._policy.timeout_s, self._capabilities.ready_timeout_s)
        return PollPolicy(timeout_s=timeout, interval_s=self._policy.interval_s)

    @property
    def _capabilities(self) -> Capabilities:
        if self._caps is None:
            raise DeviceError("nvme: init() was not called")
        return self._caps

    def _disable(self) -> None:
        bar0 = self.io.bar(0)
        if not bar0.read32(CC) & CC_EN and not bar0.read32(CSTS) & CSTS_RDY:
            return
        bar0.write32(CC, 0)

        def stopped() -> bool:
            return not bar0.read32(CSTS) & CSTS_RDY

        poll_until(stopped, what="nvme CSTS.RDY to clear", policy=self._ready_policy())

    def _new_queue(self, qid: int) -> QueuePair:
        sq = self.io.dma_buffer(PAGE)
        cq = self.io.dma_buffer(PAGE)
        for buffer in (sq, cq):
            if buffer.iova % PAGE:
                raise DeviceError(f"nvme: DMA buffer at {buffer.iova:#x} is not page aligned")
        cq.write(0, bytes(self._depth * CQ_ENTRY))
        queue = QueuePair(qid, self._depth, sq, cq, self._capabilities.doorbell_stride)
        self._queues[qid] = queue
        return queue

    def _next_command_id(self) -> int:
        self._command_id = (self._command_id + 1) & 0xFFFF
        return self._command_id

    def _execute(self, queue: QueuePair, entry: bytes) -> Completion:
        command_id = struct.unpack_from("<I", entry)[0] >> 16
        queue.submit(self.io.bar(0).write32, entry)
        completion = queue.wait(self._policy)
        if completion.command_id != command_id:
            raise DeviceError(
                f"nvme: queue {queue.qid} completed command {completion.command_id}, "
                f"expected {command_id}"
            )
        return completion

    def _admin(self, opcode: int, *, prp1: int = 0, cdw10: int = 0, cdw11: int = 0) -> None:
        admin = self._queues[ADMIN_QID]
        entry = submission_entry(
            opcode, self._next_command_id(), prp1=prp1, cdw10=cdw10, cdw11=cdw11
        )
        completion = self._execute(admin, entry)
        admin.consume(self.io.bar(0).write32)
        if completion.status:
            raise DeviceError(
                f"nvme: admin opcode {opcode:#x} failed, status {completion.status:#x}"
            )

    def enable_vectors(self, count: int) -> None:
        if count < 1:
            raise DeviceError("nvme: at least vector 0 (admin queue) must be enabled")
        size = (self._depth - 1) << 16
        for vector in range(1, count):
            if vector in self._queues:
                continue
            queue = self._new_queue(vector)
            self._admin(
                ADMIN_CREATE_CQ,
                prp1=queue.cq.iova,
                cdw10=size | vector,
                cdw11=(vector << 16) | CQ_IEN | QUEUE_PC,
            )
            self._admin(
                ADMIN_CREATE_SQ,
                prp1=queue.sq.iova,
                cdw10=size | vector,
                cdw11=(vector << 16) | QUEUE_PC,
            )
            self.setup_completions += 2

    def fire(self, vector: int) -> None:
        queue = self._queues.get(vector)
        if queue is None:
            raise DeviceError(f"nvme: no completion queue routes to vector {vector}")
        if vector == ADMIN_QID:
            entry = submission_entry(
                ADMIN_GET_FEATURES, self._next_command_id(), cdw10=FEATURE_NUMBER_OF_QUEUES
            )
        else:
            entry = submission_entry(IO_FLUSH, self._next_command_id(), nsid=self._namespace)
        self.last_completion[vector] = self._execute(queue, entry)

    def acknowledge(self, vector: int) -> None:
        queue = self._queues.get(vector)
        if queue is not None:
            queue.consume(self.io.bar(0).write32)

    def remove(self) -> None:
        if self._io is not None and self._caps is not None:
            self._disable()
        self._queues.clear()
        self._caps = None
        super().remove()
