"""igb interrupt registers as QEMU hw/net/igb_core.c handles them (MSI-X mode).

Offsets: QEMU hw/net/e1000x_regs.h / Linux igb e1000_regs.h (GPIE 0x1514,
EICS 0x1520, EIMS 0x1524, EIMC 0x1528, EIAC 0x152C, EICR 0x1580).
Behaviour: igb_set_eics/igb_set_eims -> igb_raise_interrupts (a cause fires
only when it becomes newly pending: EICR & EIMS & ~old), igb_msix_notify
(vector = cause bit; EICR bit auto-cleared when EIAC has it), igb_set_eiac
(ignored unless GPIE.Multiple_MSIX).
"""

from __future__ import annotations

from tests.devices.doubles.fake_io import FakeDeviceIO
from tests.devices.doubles.register_file import RegisterFile

GPIE, EICS, EIMS, EIMC, EIAC, EICR = 0x1514, 0x1520, 0x1524, 0x1528, 0x152C, 0x1580
GPIE_MSIX_MODE = 0x10
MSIX_VECTORS = 10


class IgbDouble:
    def __init__(self) -> None:
        self.bar0 = RegisterFile(0, 0x20000)
        self.io = FakeDeviceIO({0: self.bar0})
        self.bar0.on_write(EICS, lambda _o, _w, v: self._raise(EICR, v))
        self.bar0.on_write(EIMS, lambda _o, _w, v: self._raise(EIMS, v))
        self.bar0.on_write(EIMC, lambda _o, _w, v: self._set(EIMS, self._get(EIMS) & ~v))
        self.bar0.on_write(EICR, lambda _o, _w, v: self._set(EICR, self._get(EICR) & ~v))
        self.bar0.on_write(EIAC, self._write_eiac)

    def _get(self, offset: int) -> int:
        return self.bar0.peek(offset, 4)

    def _set(self, offset: int, value: int) -> None:
        self.bar0.poke(offset, 4, value)

    @property
    def msix_mode(self) -> bool:
        return bool(self._get(GPIE) & GPIE_MSIX_MODE)

    def _write_eiac(self, _offset: int, _width: int, value: int) -> None:
        if self.msix_mode:
            self._set(EIAC, self._get(EIAC) | value)

    def _raise(self, register: int, causes: int) -> None:
        old = self._get(EICR) & self._get(EIMS)
        self._set(register, self._get(register) | causes)
        if not self.msix_mode:
            return
        raised = self._get(EICR) & self._get(EIMS) & ~old
        for cause in range(32):
            if raised & (1 << cause) and cause < MSIX_VECTORS:
                self.io.fired.append(cause)
                self._set(EICR, self._get(EICR) & ~(self._get(EIAC) & (1 << cause)))
