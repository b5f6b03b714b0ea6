"""Microsemi Switchtec NTB: a doorbell rung by the peer partition raises vector k.

Layout from `include/linux/switchtec.h` and `drivers/ntb/hw/mscc/
ntb_hw_switchtec.c`: the NTB registers sit at BAR0 + 0x10000; each
partition has a doorbell/message block at NTB + 0x64000 + part * 0x4000
with odb, odb_mask, idb (write 1 to clear), idb_mask (holds ~mask, so a set
bit is enabled) and `idb_vec_map[64]`, one byte per inbound doorbell bit
naming the MSI-X vector it raises.  The 64 doorbell bits are split between
the two partitions: the lower partition id owns bits 0..27 and rings the
peer with bits shifted up by 32, the higher one the other way round
(`switchtec_ntb_init_db`).  Linux maps all doorbells to one vector; here
doorbell bit k is mapped to vector k so each vector can be raised alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from hil.devices.base import DeviceDriver, DeviceError, DeviceIO, DeviceUnavailable
from hil.model.vocabulary import IrqIndex

NTB = 0x10000
PART_CFG = 0x4000
PART_CFG_SIZE = 0x400
PART_CFG_VEP_VECTOR = 0x100
NTB_PARTITION_COUNT = 0x0
NTB_PARTITION_ID = 0x1
NTB_EP_MAP = 0x4
NTB_PART_INFO = 0x20
NTB_PART_INFO_SIZE = 0x10
TARGET_PART_LOW = 0x4
TARGET_PART_HIGH = 0x8

DBMSG = NTB + 0x64000
DBMSG_SIZE = 0x4000
ODB = 0x1000
ODB_MASK = 0x1008
IDB = 0x1010
IDB_MASK = 0x1018
IDB_VEC_MAP = 0x1020

DB_VALID_MASK = 0x0FFFFFFF
"""28 doorbells per partition: the top 4 of each half are shared with messages."""
DB_COUNT = 28


@dataclass(frozen=True)
class Partitions:
    """Who this NT endpoint is and who it talks to, as the switch reports it."""

    self_partition: int
    peer_partition: int
    partition_count: int

    @property
    def db_shift(self) -> int:
        """Where this partition's inbound doorbells start in idb."""
        return 0 if self.self_partition < self.peer_partition else 32

    @property
    def db_peer_shift(self) -> int:
        """Where the peer's inbound doorbells start, i.e. how odb bits are shifted."""
        return 32 if self.self_partition < self.peer_partition else 0

    @property
    def dbmsg(self) -> int:
        """BAR0 offset of this partition's doorbell/message block."""
        return DBMSG + self.self_partition * DBMSG_SIZE


def _lowest_bit(value: int) -> int:
    return (value & -value).bit_length() - 1


class SwitchtecDriver(DeviceDriver):
    """Map doorbell bit k to vector k; the peer partition's driver rings it."""

    name: ClassVar[str] = "switchtec"
    ids: ClassVar[tuple[tuple[int, int], ...]] = tuple(
        (0x11F8, device)
        for device in (
            *range(0x8531, 0x8537),  # PFX Gen3
            *range(0x8541, 0x8547),  # PSX Gen3
            *range(0x8551, 0x8557),  # PAX Gen3
        )
    )
    index: ClassVar[IrqIndex] = IrqIndex.MSIX

    def __init__(self) -> None:
        super().__init__()
        self._partitions: Partitions | None = None
        self._peer: SwitchtecDriver | None = None
        self._enabled = 0
        self.event_vector: int | None = None
        """The vector the switch uses for its own events (vep_vector_number)."""

    def init(self, io: DeviceIO) -> None:
        super().init(io)
        self._partitions = self.discover(io)
        bar0 = io.bar(0)
        part_cfg = PART_CFG + self._partitions.self_partition * PART_CFG_SIZE
        self.event_vector = bar0.read16(part_cfg + PART_CFG_VEP_VECTOR)
        dbmsg = self._partitions.dbmsg
        bar0.write64(dbmsg + IDB_MASK, 0)
        bar0.write64(dbmsg + ODB_MASK, DB_VALID_MASK << self._partitions.db_peer_shift)

    @staticmethod
    def discover(io: DeviceIO) -> Partitions:
        """Self and peer partition, the way switchtec_ntb_init_sndev finds them."""
        bar0 = io.bar(0)
        count = bar0.read8(NTB + NTB_PARTITION_COUNT)
        own = bar0.read8(NTB + NTB_PARTITION_ID)
        info = NTB + NTB_PART_INFO + own * NTB_PART_INFO_SIZE
        targets = (bar0.read32(info + TARGET_PART_HIGH) << 32) | bar0.read32(info + TARGET_PART_LOW)
        ep_map = bar0.read32(NTB + NTB_EP_MAP) | (bar0.read32(NTB + NTB_EP_MAP + 4) << 32)
        ep_map &= ~(1 << own)
        if targets:
            if targets & (targets - 1):
                raise DeviceUnavailable(
                    f"switchtec: partition {own} targets several partitions ({targets:#x}); "
                    "only a 1-1 NTB pair is supported"
                )
            peer = _lowest_bit(targets)
            if not ep_map & (1 << peer):
                raise DeviceUnavailable(f"switchtec: target partition {peer} is not NT")
        else:
            if count != 2:
                raise DeviceUnavailable("switchtec: NTB target partition not defined")
            if not ep_map:
                raise DeviceUnavailable("switchtec: peer partition is not an NT partition")
            peer = _lowest_bit(ep_map)
        return Partitions(self_partition=own, peer_partition=peer, partition_count=count)

    @property
    def partitions(self) -> Partitions:
        if self._partitions is None:
            raise DeviceError("switchtec: init() was not called")
        return self._partitions

    def enable_vectors(self, count: int) -> None:
        if not 1 <= count <= DB_COUNT:
            raise DeviceError(f"switchtec: {count} vectors asked, doorbells reach 1..{DB_COUNT}")
        bar0 = self.io.bar(0)
        shift = self.partitions.db_shift
        dbmsg = self.partitions.dbmsg
        for vector in range(count):
            bar0.write8(dbmsg + IDB_VEC_MAP + shift + vector, vector)
        enabled = ((1 << count) - 1) << shift
        bar0.write64(dbmsg + IDB, enabled)
        bar0.write64(dbmsg + IDB_MASK, enabled)
        self._enabled = count

    def attach_peer(self, peer: SwitchtecDriver) -> None:
        """Name the driver of the peer partition, whose outbound doorbell fires ours."""
        self._peer = peer

    def ring_peer(self, bit: int) -> None:
        """Ring inbound doorbell `bit` of the peer partition through our odb."""
        if not 0 <= bit < DB_COUNT:
            raise DeviceError(f"switchtec: doorbell {bit} is outside 0..{DB_COUNT - 1}")
        value = (1 << bit) << self.partitions.db_peer_shift
        self.io.bar(0).write64(self.partitions.dbmsg + ODB, value)

    def ring_from_peer(self, peer: SwitchtecDriver, bit: int) -> None:
        """Have `peer` ring our doorbell `bit`, which idb_vec_map sends to vector `bit`."""
        peer.ring_peer(bit)

    def fire(self, vector: int) -> None:
        if not 0 <= vector < self._enabled:
            raise DeviceError(f"switchtec: vector {vector} is not among the {self._enabled}")
        if self._peer is None:
            raise DeviceUnavailable(
                "switchtec: a doorbell is rung by the peer partition; call attach_peer() "
                "(ringing one's own doorbell is unverified)"
            )
        self.ring_from_peer(self._peer, vector)

    def acknowledge(self, vector: int) -> None:
        bit = 1 << (self.partitions.db_shift + vector)
        self.io.bar(0).write64(self.partitions.dbmsg + IDB, bit)

    def remove(self) -> None:
        if self._io is not None and self._partitions is not None:
            self._io.bar(0).write64(self._partitions.dbmsg + IDB_MASK, 0)
        self._partitions = None
        self._peer = None
        self._enabled = 0
        super().remove()
