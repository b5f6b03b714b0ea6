"""e1000e interrupt registers as QEMU hw/net/e1000e_core.c handles them (MSI-X).

Offsets: e1000x_regs.h (ICR 0xC0, ICS 0xC8, IMS 0xD0, IMC 0xD8, EIAC 0xDC,
IVAR 0xE4).  Behaviour: e1000e_raise_interrupts (only newly pending causes
ICR & IMS & ~old are sent; QEMU < 8.1 got the same effect from
msi_causes_pending), e1000e_msix_notify_one (IVAR nibble: valid bit 3,
vector bits 2:0; RXQ0 [3:0], RXQ1 [7:4], TXQ0 [11:8], TXQ1 [15:12],
OTHER [19:16]), ICR written 1 clears.
"""

from __future__ import annotations

from tests.devices.doubles.fake_io import FakeDeviceIO
from tests.devices.doubles.register_file import RegisterFile

ICR, ICS, IMS, IMC, EIAC, IVAR = 0xC0, 0xC8, 0xD0, 0xD8, 0xDC, 0xE4
CAUSES = (0x00100000, 0x00200000, 0x00400000, 0x00800000, 0x01000000)
"""RXQ0, RXQ1, TXQ0, TXQ1, OTHER, in IVAR nibble order."""


class E1000eDouble:
    def __init__(self) -> None:
        self.bar0 = RegisterFile(0, 0x20000)
        self.io = FakeDeviceIO({0: self.bar0})
        self.bar0.on_write(ICS, lambda _o, _w, v: self._raise(ICR, v))
        self.bar0.on_write(IMS, lambda _o, _w, v: self._raise(IMS, v))
        self.bar0.on_write(IMC, lambda _o, _w, v: self._set(IMS, self._get(IMS) & ~v))
        self.bar0.on_write(ICR, lambda _o, _w, v: self._set(ICR, self._get(ICR) & ~v))

    def _get(self, offset: int) -> int:
        return self.bar0.peek(offset, 4)

    def _set(self, offset: int, value: int) -> None:
        self.bar0.poke(offset, 4, value)

    def _raise(self, register: int, causes: int) -> None:
        old = self._get(ICR) & self._get(IMS)
        self._set(register, self._get(register) | causes)
        raised = self._get(ICR) & self._get(IMS) & ~old
        ivar = self._get(IVAR)
        for nibble, cause in enumerate(CAUSES):
            if not raised & cause:
                continue
            entry = (ivar >> (4 * nibble)) & 0xF
            if entry & 0x8:
                self.io.fired.append(entry & 0x7)
            self._set(ICR, self._get(ICR) & ~(self._get(EIAC) & cause))
