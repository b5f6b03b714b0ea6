"""Two partitions of a Switchtec switch joined by an NTB.

Layout (include/linux/switchtec.h): ntb_info_regs at GAS 0x10000
(partition_count u8 +0, partition_id u8 +1, ep_map u64 +4, ntp_info[48] at
+0x20, 16 bytes each: target_part_low +4, target_part_high +8);
part_cfg_regs at GAS 0x4000 + 0x400 * part (vep_vector_number u16 +0x100);
ntb_dbmsg_regs at NTB + 0x64000 + 0x4000 * part: odb +0x1000, odb_mask
+0x1008, idb +0x1010 (W1C), idb_mask +0x1018 (1 = enabled), idb_vec_map
+0x1020.  A write to one partition's odb sets those bits, filtered by its
odb_mask, in the peer's idb; a newly set idb bit that idb_mask enables
sends the MSI-X vector idb_vec_map[bit] of the peer's NT endpoint.
"""

from __future__ import annotations

from tests.devices.doubles.fake_io import FakeDeviceIO
from tests.devices.doubles.register_file import RegisterFile

NTB = 0x10000
DBMSG = NTB + 0x64000
ODB, ODB_MASK, IDB, IDB_MASK, IDB_VEC_MAP = 0x1000, 0x1008, 0x1010, 0x1018, 0x1020
EVENT_VECTOR = 0


class SwitchtecPartition:
    def __init__(self, fabric: SwitchtecFabric, part: int, peer: int) -> None:
        self.fabric = fabric
        self.part = part
        self.bar0 = RegisterFile(0, 0x80000)
        self.io = FakeDeviceIO({0: self.bar0})
        self.block = DBMSG + 0x4000 * part
        self.bar0.poke(NTB + 0, 1, 2)
        self.bar0.poke(NTB + 1, 1, part)
        self.bar0.poke(NTB + 4, 8, 0b11)
        self.bar0.poke(NTB + 0x20 + 0x10 * part + 4, 4, 1 << peer)
        self.bar0.poke(0x4000 + 0x400 * part + 0x100, 2, EVENT_VECTOR)
        self.bar0.on_write(self.block + ODB, self._odb)
        self.bar0.on_write(self.block + IDB, self._idb_clear)

    def reg(self, offset: int) -> int:
        return self.bar0.peek(self.block + offset, 8)

    def _odb(self, _offset: int, _width: int, value: int) -> None:
        self.fabric.deliver(self.part, value & self.reg(ODB_MASK))

    def _idb_clear(self, _offset: int, _width: int, value: int) -> None:
        self.bar0.poke(self.block + IDB, 8, self.reg(IDB) & ~value)

    def inbound(self, bits: int) -> None:
        new = bits & ~self.reg(IDB)
        self.bar0.poke(self.block + IDB, 8, self.reg(IDB) | bits)
        for bit in range(64):
            if new & self.reg(IDB_MASK) & (1 << bit):
                self.io.fired.append(self.bar0.peek(self.block + IDB_VEC_MAP + bit, 1))


class SwitchtecFabric:
    def __init__(self) -> None:
        self.partitions = [SwitchtecPartition(self, 0, 1), SwitchtecPartition(self, 1, 0)]

    def deliver(self, source: int, bits: int) -> None:
        self.partitions[1 - source].inbound(bits)
