"""A DSA as drivers/dma/idxd/registers.h and uapi/linux/idxd.h describe it.

BAR0: GENCAP 0x10, WQCAP 0x20, GRPCAP 0x30, ENGCAP 0x38, TABLE_OFFSET 0x60
(grpcfg, wqcfg in units of 0x100), INTCAUSE 0x98 (write 1 to clear), CMD
0xa0 (operand 19:0, command 24:20, int_req 31), CMDSTS 0xa8 (err 7:0,
active 31), CMDCAP 0xb0, SWERR 0xc0.  A command stays active for
`busy_reads` reads of CMDSTS; with int_req its completion sets INTCAUSE.CMD
and sends the misc vector 0.  A descriptor arriving at the WQ portal
(captured through the injectable submitter) runs if device and WQ are
enabled: MEMMOVE copies, the completion record gets status 1, and with RCI
the device sends MSI-X entry int_handle.
"""

from __future__ import annotations

import struct

from hil.devices.base import RegisterSpace
from tests.devices.doubles.fake_io import FakeDeviceIO
from tests.devices.doubles.register_file import RegisterFile

GENCAP, WQCAP, GRPCAP, ENGCAP, TABLE_OFFSET = 0x10, 0x20, 0x30, 0x38, 0x60
INTCAUSE, CMD, CMDSTS, CMDCAP, SWERR = 0x98, 0xA0, 0xA8, 0xB0, 0xC0
GRPCFG_AT, WQCFG_AT = 0x400, 0x500
INTC_CMD = 0x02

# cmd_cap, max_xfer_shift 31, max_batch_shift 10
GENCAP_VALUE = (1 << 4) | (31 << 16) | (10 << 21)
# total_wq_size 128, 8 WQs, WQCFG 64 bytes (field 1), dedicated mode, ATS supported
WQCAP_VALUE = 128 | (8 << 16) | (1 << 24) | (1 << 49) | (1 << 50)


class IdxdDouble:
    def __init__(self, requires_int_handles: bool = False, busy_reads: int = 2) -> None:
        self.bar0 = RegisterFile(0, 0x1000)
        self.portal = RegisterFile(2, 0x20000)
        self.config = RegisterFile(-1, 0x1000)
        self.config.poke(0, 2, 0x8086)
        self.config.poke(2, 2, 0x0B25)
        self.io = FakeDeviceIO({0: self.bar0, 2: self.portal}, config=self.config)
        self.bar0.poke(GENCAP, 8, GENCAP_VALUE)
        self.bar0.poke(WQCAP, 8, WQCAP_VALUE)
        self.bar0.poke(GRPCAP, 8, 4)
        self.bar0.poke(ENGCAP, 8, 4)
        self.bar0.poke(TABLE_OFFSET, 8, (GRPCFG_AT // 0x100) | ((WQCFG_AT // 0x100) << 16))
        self.bar0.poke(CMDCAP, 4, (1 << 13) if requires_int_handles else 0)
        self.busy_reads = busy_reads
        self.device_enabled = False
        self.wq_enabled = False
        self.commands: list[tuple[int, int, bool]] = []
        self.descriptors: list[tuple[int, bytes]] = []
        self.command_error: dict[int, int] = {}
        """Force an error code for a command, as a broken configuration would."""
        self._busy = 0
        self._pending: tuple[int, int, bool] | None = None
        self.bar0.on_write(CMD, self._command)
        self.bar0.on_read(CMDSTS, self._cmdsts)
        self.bar0.on_write(INTCAUSE, lambda _o, _w, v: self._w1c(INTCAUSE, v))

    def _w1c(self, offset: int, value: int) -> None:
        self.bar0.poke(offset, 4, self.bar0.peek(offset, 4) & ~value)

    def _command(self, _offset: int, _width: int, value: int) -> None:
        self._pending = ((value >> 20) & 0x1F, value & 0xFFFFF, bool(value >> 31))
        self._busy = self.busy_reads

    def _cmdsts(self, _offset: int, _width: int) -> int:
        if self._pending is not None:
            if self._busy > 0:
                self._busy -= 1
                return 1 << 31
            self._finish(*self._pending)
            self._pending = None
        return self.bar0.peek(CMDSTS, 4)

    def _finish(self, command: int, operand: int, interrupt: bool) -> None:
        self.commands.append((command, operand, interrupt))
        error = self.command_error.get(command, self._run(command, operand))
        self.bar0.poke(CMDSTS, 4, error)
        if interrupt:
            self.bar0.poke(INTCAUSE, 4, self.bar0.peek(INTCAUSE, 4) | INTC_CMD)
            self.io.fired.append(0)

    def wqcfg(self) -> bytes:
        return bytes(self.bar0.memory[WQCFG_AT : WQCFG_AT + 64])

    def _run(self, command: int, operand: int) -> int:
        if command == 5:  # RESET_DEVICE
            self.device_enabled = self.wq_enabled = False
            return 0
        if command == 1:  # ENABLE_DEVICE
            if self.device_enabled:
                return 0x10
            group_wqs, engines = self.bar0.peek(GRPCFG_AT, 8), self.bar0.peek(GRPCFG_AT + 32, 8)
            if not group_wqs & 1 or not engines & 1:
                return 0x15
            self.device_enabled = True
            return 0
        if command == 6:  # ENABLE_WQ
            if not self.device_enabled:
                return 0x20
            config = self.wqcfg()
            size, mode = struct.unpack_from("<H", config, 0)[0], config[8]
            if operand != 0 or size == 0:
                return 0x22 if size == 0 else 0x02
            if not mode & 1:
                return 0x24
            self.wq_enabled = True
            return 0
        if command == 3:  # DRAIN_ALL
            return 0 if self.device_enabled else 0x32
        return 0x01

    def submit(self, portal: RegisterSpace, offset: int, descriptor: bytes) -> None:
        """The injectable submitter: what MOVDIR64B would deliver to the portal."""
        assert portal is self.portal, "descriptor sent to a BAR other than the WQ BAR"
        assert len(descriptor) == 64
        self.descriptors.append((offset, descriptor))
        if not (self.device_enabled and self.wq_enabled and offset == 0):
            return
        _word0, word1, completion, src, dst, size, handle = struct.unpack_from(
            "<IIQQQIH", descriptor
        )
        flags, opcode = word1 & 0xFFFFFF, word1 >> 24
        status = 1
        if opcode == 3:
            self.io.dma_write(dst, self.io.dma_read(src, size))
        else:
            status = 0x10
        if flags & 0x08:  # RCR
            self.io.dma_write(completion, struct.pack("<BBHI", status, 0, 0, size))
        if flags & 0x10:  # RCI
            self.io.fired.append(handle)
