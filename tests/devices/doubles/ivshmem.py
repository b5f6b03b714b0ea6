"""QEMU hw/misc/ivshmem-pci.c doorbell registers and an ivshmem server.

ivshmem_io_write: DOORBELL (0x0c) takes dest = val >> 16 and vector =
val & 0xff; an unknown peer or a vector beyond that peer's eventfds is
ignored.  IVPOSITION (8) reads the id the server gave.  The server hands
every client the eventfds of every peer, so a doorbell to peer p, vector k
raises vector k of p (ivshmem_vector_notify -> msix_notify).
"""

from __future__ import annotations

from tests.devices.doubles.fake_io import FakeDeviceIO
from tests.devices.doubles.register_file import RegisterFile

IVPOSITION, DOORBELL = 0x08, 0x0C


class IvshmemServer:
    def __init__(self) -> None:
        self.clients: dict[int, IvshmemDouble] = {}

    def connect(self, vectors: int) -> IvshmemDouble:
        client = IvshmemDouble(self, len(self.clients), vectors)
        self.clients[client.vm_id] = client
        return client


class IvshmemDouble:
    def __init__(self, server: IvshmemServer, vm_id: int, vectors: int) -> None:
        self.server = server
        self.vm_id = vm_id
        self.vectors = vectors
        self.bar0 = RegisterFile(0, 0x100)
        self.bar0.poke(IVPOSITION, 4, vm_id)
        self.io = FakeDeviceIO({0: self.bar0})
        self.bar0.on_write(DOORBELL, self._doorbell)

    def _doorbell(self, _offset: int, _width: int, value: int) -> None:
        dest, vector = value >> 16, value & 0xFF
        peer = self.server.clients.get(dest)
        if peer is not None and vector < peer.vectors:
            peer.io.fired.append(vector)
