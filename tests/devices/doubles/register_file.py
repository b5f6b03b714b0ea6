"""A memory-backed register space that records every access."""

from __future__ import annotations

from collections.abc import Callable

WriteHook = Callable[[int, int, int], None]
"""(offset, width in bytes, value)"""
ReadHook = Callable[[int, int], int]
"""(offset, width in bytes) -> value"""


class RegisterFile:
    """Implements hil.devices.base.RegisterSpace over a bytearray.

    `writes` holds (bar, offset, width in bytes, value) in order.  Hooks give
    a register device semantics; a hooked write is not stored unless the hook
    stores it (with `poke`).  After `stop_answering()` the space behaves like
    a device gone from the link: reads return all ones, writes are dropped.
    """

    def __init__(self, bar: int, size: int = 0x10000) -> None:
        self.bar = bar
        self.memory = bytearray(size)
        self.writes: list[tuple[int, int, int, int]] = []
        self.reads: list[tuple[int, int, int]] = []
        self._write_hooks: list[tuple[int, int, WriteHook]] = []
        self._read_hooks: list[tuple[int, int, ReadHook]] = []
        self.answering = True

    def stop_answering(self) -> None:
        """Surprise removal: no read completes from now on (all ones), no write lands."""
        self.answering = False

    def on_write(self, start: int, hook: WriteHook, end: int | None = None) -> None:
        self._write_hooks.append((start, end if end is not None else start + 1, hook))

    def on_read(self, start: int, hook: ReadHook, end: int | None = None) -> None:
        self._read_hooks.append((start, end if end is not None else start + 1, hook))

    def peek(self, offset: int, width: int) -> int:
        return int.from_bytes(self.memory[offset : offset + width], "little")

    def poke(self, offset: int, width: int, value: int) -> None:
        mask = (1 << (8 * width)) - 1
        self.memory[offset : offset + width] = (value & mask).to_bytes(width, "little")

    def _read(self, offset: int, width: int) -> int:
        self.reads.append((self.bar, offset, width))
        if not self.answering:
            return (1 << (8 * width)) - 1
        for start, end, hook in self._read_hooks:
            if start <= offset < end:
                return hook(offset, width)
        return self.peek(offset, width)

    def _write(self, offset: int, width: int, value: int) -> None:
        self.writes.append((self.bar, offset, width, value))
        if not self.answering:
            return
        for start, end, hook in self._write_hooks:
            if start <= offset < end:
                hook(offset, width, value)
                return
        self.poke(offset, width, value)

    def read8(self, offset: int) -> int:
        return self._read(offset, 1)

    def read16(self, offset: int) -> int:
        return self._read(offset, 2)

    def read32(self, offset: int) -> int:
        return self._read(offset, 4)

    def read64(self, offset: int) -> int:
        return self._read(offset, 8)

    def write8(self, offset: int, value: int) -> None:
        self._write(offset, 1, value)

    def write16(self, offset: int, value: int) -> None:
        self._write(offset, 2, value)

    def write32(self, offset: int, value: int) -> None:
        self._write(offset, 4, value)

    def write64(self, offset: int, value: int) -> None:
        self._write(offset, 8, value)

    def write_bytes(self, offset: int, data: bytes) -> None:
        self.writes.append((self.bar, offset, len(data), int.from_bytes(data, "little")))
        if self.answering:
            self.memory[offset : offset + len(data)] = data


class MappedRegisterFile(RegisterFile):
    """A RegisterFile that also claims a process address, like an mmapped BAR."""

    def __init__(self, bar: int, size: int = 0x10000, base: int = 0x7F00_0000_0000) -> None:
        super().__init__(bar, size)
        self.base = base

    def address(self, offset: int) -> int:
        return self.base + offset
