"""An NVMe controller after the NVMe base spec and QEMU hw/nvme/ctrl.c.

Registers: CAP 0x00, CC 0x14, CSTS 0x1C, AQA 0x24, ASQ 0x28, ACQ 0x30,
doorbells at 0x1000 + (2*qid [+1]) * (4 << DSTRD).  CC.EN 0->1 runs
nvme_start_ctrl's checks (ASQ/ACQ set and page aligned, AQA sizes non-zero)
and sets CSTS.RDY, or CSTS.CFS on failure; 1->0 drops every queue.  An SQ
tail doorbell runs the new entries; each completion is posted with the
current phase and, when the CQ has interrupts enabled and MSI-X is on,
sends the CQ's vector (nvme_post_cqes -> nvme_irq_assert -> msix_notify).
Create I/O CQ/SQ carry nvme_create_cq/nvme_create_sq's checks.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from tests.devices.doubles.fake_io import FakeDeviceIO
from tests.devices.doubles.register_file import RegisterFile

CAP, CC, CSTS, AQA, ASQ, ACQ, DOORBELLS = 0x00, 0x14, 0x1C, 0x24, 0x28, 0x30, 0x1000
PAGE = 4096
SUCCESS, INVALID_OPCODE, INVALID_FIELD, INVALID_NSID = 0x0, 0x1, 0x2, 0xB
INVALID_PRP_OFFSET, INVALID_CQID, INVALID_QID, MAX_QSIZE_EXCEEDED = 0x13, 0x100, 0x101, 0x102
INVALID_IRQ_VECTOR = 0x108
DNR = 0x4000

# MQES 2047, CQR, TO 15 (7.5 s), DSTRD 0, CSS NVM (bit 37), MPSMIN 0, MPSMAX 4
CAP_VALUE = 0x7FF | (1 << 16) | (0x0F << 24) | (1 << 37) | (4 << 52)


@dataclass
class CompletionQueue:
    base: int
    size: int
    vector: int
    interrupts: bool
    head: int = 0
    tail: int = 0
    phase: int = 1


@dataclass
class SubmissionQueue:
    base: int
    size: int
    cqid: int
    head: int = 0


class NvmeDouble:
    def __init__(
        self, msix_vectors: int = 65, max_ioqpairs: int = 64, namespaces: tuple[int, ...] = (1,)
    ) -> None:
        self.bar0 = RegisterFile(0, 0x2000)
        self.io = FakeDeviceIO({0: self.bar0})
        self.bar0.poke(CAP, 8, CAP_VALUE)
        self.msix_vectors = msix_vectors
        self.max_ioqpairs = max_ioqpairs
        self.namespaces = namespaces
        self.msix_enabled = False
        """Set by the test where VFIO would enable MSI-X."""
        self.never_ready = False
        self.sqs: dict[int, SubmissionQueue] = {}
        self.cqs: dict[int, CompletionQueue] = {}
        self.commands: list[tuple[int, int, bytes]] = []
        """(sqid, opcode, raw entry) of every command the controller ran."""
        self.bar0.on_write(CC, self._write_cc)
        self.bar0.on_write(DOORBELLS, self._doorbell, end=0x2000)

    def _reg(self, offset: int, width: int = 4) -> int:
        return self.bar0.peek(offset, width)

    def _write_cc(self, _offset: int, _width: int, value: int) -> None:
        was_enabled = self._reg(CC) & 1
        self.bar0.poke(CC, 4, value)
        if value & 1 and not was_enabled:
            self._start()
        elif not value & 1 and was_enabled:
            self.sqs.clear()
            self.cqs.clear()
            self.bar0.poke(CSTS, 4, 0)

    def _start(self) -> None:
        asq, acq, aqa = self._reg(ASQ, 8), self._reg(ACQ, 8), self._reg(AQA)
        asqs, acqs = aqa & 0xFFF, (aqa >> 16) & 0xFFF
        if not asq or not acq or asq % PAGE or acq % PAGE or not asqs or not acqs:
            self.bar0.poke(CSTS, 4, 0x2)
            return
        self.cqs[0] = CompletionQueue(acq, acqs + 1, vector=0, interrupts=True)
        self.sqs[0] = SubmissionQueue(asq, asqs + 1, cqid=0)
        if not self.never_ready:
            self.bar0.poke(CSTS, 4, 0x1)

    def _doorbell(self, offset: int, _width: int, value: int) -> None:
        index = (offset - DOORBELLS) // 4
        qid, is_cq = divmod(index, 2)
        if is_cq:
            if qid in self.cqs:
                self.cqs[qid].head = value
            return
        sq = self.sqs.get(qid)
        if sq is None:
            return
        while sq.head != value:
            raw = self.io.dma_read(sq.base + sq.head * 64, 64)
            sq.head = (sq.head + 1) % sq.size
            opcode, cid = raw[0], struct.unpack_from("<H", raw, 2)[0]
            self.commands.append((qid, opcode, raw))
            status, result = self._admin(raw) if qid == 0 else self._io(raw)
            self._post(sq, qid, cid, status, result)

    def _post(self, sq: SubmissionQueue, sqid: int, cid: int, status: int, result: int) -> None:
        cq = self.cqs[sq.cqid]
        if (cq.tail + 1) % cq.size == cq.head:
            raise AssertionError(f"CQ {sq.cqid} full: the host did not consume completions")
        dw3 = cid | (cq.phase << 16) | (status << 17)
        entry = struct.pack("<IIII", result, 0, sq.head | (sqid << 16), dw3)
        self.io.dma_write(cq.base + cq.tail * 16, entry)
        cq.tail += 1
        if cq.tail == cq.size:
            cq.tail, cq.phase = 0, cq.phase ^ 1
        if cq.interrupts and self.msix_enabled:
            self.io.fired.append(cq.vector)

    def _admin(self, raw: bytes) -> tuple[int, int]:
        opcode = raw[0]
        prp1 = struct.unpack_from("<Q", raw, 24)[0]
        cdw10, cdw11 = struct.unpack_from("<II", raw, 40)
        qid, qsize = cdw10 & 0xFFFF, cdw10 >> 16
        cc = self._reg(CC)
        if opcode == 0x05:
            vector = cdw11 >> 16
            if (cc >> 16) & 0xF != 6 or (cc >> 20) & 0xF != 4:
                return MAX_QSIZE_EXCEEDED | DNR, 0
            if not qid or qid > self.max_ioqpairs or qid in self.cqs:
                return INVALID_QID | DNR, 0
            if not qsize or qsize > (CAP_VALUE & 0xFFFF):
                return MAX_QSIZE_EXCEEDED | DNR, 0
            if prp1 % PAGE:
                return INVALID_PRP_OFFSET | DNR, 0
            if (not self.msix_enabled and vector) or vector >= self.msix_vectors:
                return INVALID_IRQ_VECTOR | DNR, 0
            if not cdw11 & 1:
                return INVALID_FIELD | DNR, 0
            self.cqs[qid] = CompletionQueue(prp1, qsize + 1, vector, bool(cdw11 & 2))
            return SUCCESS, 0
        if opcode == 0x01:
            cqid = cdw11 >> 16
            if not cqid or cqid not in self.cqs:
                return INVALID_CQID | DNR, 0
            if not qid or qid > self.max_ioqpairs or qid in self.sqs:
                return INVALID_QID | DNR, 0
            if not qsize or qsize > (CAP_VALUE & 0xFFFF):
                return MAX_QSIZE_EXCEEDED | DNR, 0
            if prp1 % PAGE:
                return INVALID_PRP_OFFSET | DNR, 0
            if not cdw11 & 1:
                return INVALID_FIELD | DNR, 0
            self.sqs[qid] = SubmissionQueue(prp1, qsize + 1, cqid)
            return SUCCESS, 0
        if opcode == 0x0A and cdw10 & 0xFF == 0x07:
            count = self.max_ioqpairs - 1
            return SUCCESS, count | (count << 16)
        return INVALID_OPCODE | DNR, 0

    def _io(self, raw: bytes) -> tuple[int, int]:
        nsid = struct.unpack_from("<I", raw, 4)[0]
        if raw[0] != 0x00:
            return INVALID_OPCODE | DNR, 0
        if nsid in self.namespaces or nsid == 0xFFFFFFFF:
            return SUCCESS, 0
        return INVALID_NSID | DNR, 0
