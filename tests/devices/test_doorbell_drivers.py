"""ivshmem and Switchtec NTB: doorbells that raise a vector on this or a peer device."""

from __future__ import annotations

import pytest

from hil.devices.base import DeviceError, DeviceUnavailable
from hil.devices.ivshmem import IvshmemDriver
from hil.devices.switchtec import SwitchtecDriver
from tests.devices.doubles.ivshmem import IvshmemServer
from tests.devices.doubles.switchtec import SwitchtecFabric


def test_ivshmem_fire_rings_own_id_and_vector() -> None:
    server = IvshmemServer()
    server.connect(vectors=4)
    double = server.connect(vectors=4)
    driver = IvshmemDriver()
    driver.init(double.io)
    driver.enable_vectors(4)
    driver.fire(3)
    # ivshmem-pci.c: IVPOSITION (8) is the own id; DOORBELL (0x0c) = (peer << 16) | vector.
    assert double.bar0.reads == [(0, 0x08, 4)]
    assert double.bar0.writes == [(0, 0x0C, 4, (1 << 16) | 3)]
    assert driver.own_id == 1
    assert double.io.fired == [3]


def test_ivshmem_ring_peer_raises_the_peer_vector() -> None:
    server = IvshmemServer()
    first, second = server.connect(vectors=2), server.connect(vectors=2)
    driver = IvshmemDriver()
    driver.init(first.io)
    driver.ring_peer(second.vm_id, 1)
    assert first.bar0.writes == [(0, 0x0C, 4, (1 << 16) | 1)]
    assert second.io.fired == [1]
    assert first.io.fired == []


def test_ivshmem_refuses_vectors_beyond_the_doorbell_byte() -> None:
    server = IvshmemServer()
    driver = IvshmemDriver()
    driver.init(server.connect(vectors=2).io)
    with pytest.raises(DeviceError, match="8 bits"):
        driver.ring_peer(0, 256)


def test_ivshmem_enables_a_table_larger_than_its_doorbell_reaches() -> None:
    server = IvshmemServer()
    driver = IvshmemDriver()
    driver.init(server.connect(vectors=2).io)
    driver.enable_vectors(1024)
    with pytest.raises(DeviceError, match="8 bits"):
        driver.fire(256)


def _pair() -> tuple[SwitchtecFabric, SwitchtecDriver, SwitchtecDriver]:
    fabric = SwitchtecFabric()
    low, high = SwitchtecDriver(), SwitchtecDriver()
    low.init(fabric.partitions[0].io)
    high.init(fabric.partitions[1].io)
    low.attach_peer(high)
    high.attach_peer(low)
    return fabric, low, high


def test_switchtec_discovers_partitions_and_doorbell_halves() -> None:
    _, low, high = _pair()
    # ntb_hw_switchtec.c switchtec_ntb_init_db: the lower partition id has db_shift 0 and
    # db_peer_shift 32, the higher one the reverse.
    assert (low.partitions.self_partition, low.partitions.peer_partition) == (0, 1)
    assert (low.partitions.db_shift, low.partitions.db_peer_shift) == (0, 32)
    assert (high.partitions.db_shift, high.partitions.db_peer_shift) == (32, 0)
    # ntb_dbmsg_regs at NTB 0x10000 + 0x64000 + part * 0x4000 (switchtec.h).
    assert (low.partitions.dbmsg, high.partitions.dbmsg) == (0x74000, 0x78000)


def test_switchtec_enable_maps_doorbell_k_to_vector_k_and_unmasks() -> None:
    fabric, _, high = _pair()
    part = fabric.partitions[1]
    part.bar0.writes.clear()
    high.enable_vectors(3)
    block = 0x78000
    # kernel-facts §7 Switchtec: idb_vec_map[b] = k at +0x1020, idb +0x1010 W1C,
    # idb_mask +0x1018 holds the enabled bits; partition 1's doorbells are bits 32..59.
    assert part.bar0.writes == [
        (0, block + 0x1020 + 32, 1, 0),
        (0, block + 0x1020 + 33, 1, 1),
        (0, block + 0x1020 + 34, 1, 2),
        (0, block + 0x1010, 8, 0x7 << 32),
        (0, block + 0x1018, 8, 0x7 << 32),
    ]


@pytest.mark.parametrize("vector", [0, 1, 5])
def test_switchtec_fire_has_the_peer_ring_our_doorbell(vector: int) -> None:
    fabric, low, high = _pair()
    low.enable_vectors(8)
    high.enable_vectors(8)
    low.fire(vector)
    # switchtec_ntb_peer_db_set: the peer (partition 1) writes its own odb (+0x1000 of its
    # block) with bit << its db_peer_shift, 0 because partition 0 owns the low half.
    assert fabric.partitions[1].bar0.writes[-1] == (0, 0x78000 + 0x1000, 8, 1 << vector)
    assert fabric.partitions[0].io.fired == [vector]
    assert fabric.partitions[1].io.fired == []


def test_switchtec_doorbell_needs_acknowledge_before_it_fires_again() -> None:
    fabric, low, high = _pair()
    low.enable_vectors(4)
    high.enable_vectors(4)
    high.fire(2)
    high.fire(2)
    assert fabric.partitions[1].io.fired == [2]
    high.acknowledge(2)
    assert fabric.partitions[1].bar0.writes[-1] == (0, 0x78000 + 0x1010, 8, 1 << 34)
    high.fire(2)
    assert fabric.partitions[1].io.fired == [2, 2]


def test_switchtec_without_a_peer_cannot_fire() -> None:
    fabric = SwitchtecFabric()
    driver = SwitchtecDriver()
    driver.init(fabric.partitions[0].io)
    driver.enable_vectors(2)
    with pytest.raises(DeviceUnavailable, match="peer partition"):
        driver.fire(0)
