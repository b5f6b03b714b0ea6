"""IRTE allocation and remappable messages."""

from __future__ import annotations

import pytest

from hil.model.remap import IrteError, IrteRef, IrteTable, amd_message, intel_message
from hil.model.vocabulary import MsiMessage


def test_intel_message_matches_transcript_handles() -> None:
    # 6.1 and 6.12 transcripts: IRTE 35.. -> 0xfee00478, 0xfee00498, ...; data 0.
    table = IrteTable(35)
    messages = [intel_message(table.alloc(1, f"irte[e{k}]")[0]) for k in range(3)]
    assert messages == [
        MsiMessage(0xFEE00478, 0),
        MsiMessage(0xFEE00498, 0),
        MsiMessage(0xFEE004B8, 0),
    ]
    assert all(m is not None and m.irte_index == 35 + i for i, m in enumerate(messages))


def test_high_irte_index_uses_bit_2() -> None:
    msg = intel_message(IrteRef(0x8001))
    assert msg is not None and msg.irte_index == 0x8001 and msg.address_lo & 0x4


def test_multi_msi_block_is_aligned_and_data_is_the_subhandle() -> None:
    table = IrteTable(35)
    refs = table.alloc(3, "irte[msi]")
    assert [r.index for r in refs] == [36, 36, 36]
    assert [intel_message(r) for r in refs] == [MsiMessage(0xFEE00498, i) for i in range(3)]
    # The block took 36..39 (rounded up to 4); 35 is still the lowest free.
    assert table.alloc(1, "irte[a]")[0].index == 35
    assert table.alloc(1, "irte[b]")[0].index == 40


def test_block_larger_than_mhmv_fails_with_enomem() -> None:
    table = IrteTable(0, max_handle_mask=2)
    table.alloc(4, "irte[a]")
    with pytest.raises(IrteError) as error:
        table.alloc(5, "irte[b]")
    assert error.value.errno == "ENOMEM"


def test_full_table_fails() -> None:
    table = IrteTable(0, capacity=2)
    table.alloc(2, "irte[a]")
    with pytest.raises(IrteError):
        table.alloc(1, "irte[b]")


def test_unknown_base_gives_every_block_its_own_symbol() -> None:
    # Rule changed: no shared "irte" symbol with offsets any more; after earlier
    # frees consecutive vectors can land in holes far apart (6.12 igb: entry 9
    # on IRTE 0x39 after entries 0..8 on 0x27..0x2f).
    table = IrteTable(None)
    first, second = table.alloc(1, "irte[a]")[0], table.alloc(1, "irte[b]")[0]
    assert (first.index, first.symbol, second.symbol) == (None, "irte[a]", "irte[b]")
    block = table.alloc(3, "irte[msi]")
    assert [(r.symbol, r.subhandle, r.align) for r in block] == [
        ("irte[msi]", i, 4) for i in range(3)
    ]


def test_freed_block_of_unknown_index_may_be_reused_only_after_an_allocation() -> None:
    table = IrteTable(None)
    ref = table.alloc(1, "irte[a]")[0]
    table.free(ref)
    assert not table.may_be_reused("irte[a]")
    table.alloc(1, "irte[b]")
    assert table.may_be_reused("irte[a]")
    assert not table.may_be_reused("irte[b]")


def test_free_makes_room_again() -> None:
    table = IrteTable(10)
    ref = table.alloc(1, "irte[a]")[0]
    table.free(ref)
    assert table.alloc(1, "irte[b]")[0].index == 10


def test_freeing_a_block_frees_its_whole_aligned_size() -> None:
    table = IrteTable(0)
    block = table.alloc(3, "irte[msi]")
    table.alloc(1, "irte[x]")
    table.free(block[2])
    assert table.alloc(4, "irte[again]")[0].index == 0


def test_amd_message_carries_index_in_data() -> None:
    assert amd_message(IrteRef(5)) == MsiMessage(0xFEE00000, 5)
    assert amd_message(IrteRef(4, subhandle=2)) == MsiMessage(0xFEE00000, 6)
