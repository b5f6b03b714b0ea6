"""QEMU and virtme-ng arguments: the NUMA machine shape, ivshmem doorbells."""

from __future__ import annotations

from pathlib import Path

import pytest

from hil.virtlab.qemu_args import VmDevice, VmSpec, device_args, memory_mib, numa_node_args


def spec(cpus: int = 4, memory: str = "2G", nodes: int = 2, node: int | None = 1) -> VmSpec:
    devices = (VmDevice("igb0", "igb", numa_node=node), VmDevice("edu0", "edu"))
    return VmSpec("numa", cpus, memory, "intel", True, False, devices, numa_nodes=nodes)


def test_one_node_adds_nothing() -> None:
    assert numa_node_args(spec(nodes=1, node=None)) == []


def test_memory_and_cpus_are_split_and_add_up() -> None:
    assert numa_node_args(spec(cpus=5, memory="1025M")) == [
        "--numa", "513M,cpus=0-2", "--numa", "512M,cpus=3-4",
    ]  # fmt: skip


def test_a_device_on_node_1_sits_behind_that_nodes_pxb_and_its_own_root_port() -> None:
    args = device_args(spec(), Path("/tmp"), {})
    joined = " ".join(args)
    assert "pxb-pcie,id=hilpxb1,bus_nr=144,numa_node=1,bus=pcie.0" in joined
    assert "pcie-root-port,id=hilrp0,bus=hilpxb1" in joined
    assert "-device igb,bus=hilrp0" in joined
    assert "-device edu,bus=pcie.0" in joined  # no node: kept off the pxb explicitly


def test_memory_sizes() -> None:
    assert (memory_mib("2G"), memory_mib("512M")) == (2048, 512)


@pytest.mark.parametrize(
    ("vectors", "doorbells", "ringable"),
    [(None, None, 4), (8, None, 8), (1024, None, 256), (1024, 8, 8)],
)
def test_an_ivshmem_server_hands_out_an_eventfd_per_ringable_vector(
    vectors: int | None, doorbells: int | None, ringable: int
) -> None:
    device = VmDevice("ivshmem0", "ivshmem-doorbell", vectors=vectors, doorbells=doorbells)
    assert device.ringable == ringable
