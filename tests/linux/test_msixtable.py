import ast
import errno
import mmap
import struct

import pytest

from hil.linux.msixtable import MsixReadError, decode_msix_table, read_msix_via_resource
from hil.model.vocabulary import MsiMessage


def captured_table(text):
    """The capture printed each entry as `addr_hi:addr_lo/data/masked` (hex)."""
    entries = ast.literal_eval(text.split(" ", 1)[1])
    rows = []
    for entry in entries:
        addr, data, masked = entry.split("/")
        hi, lo = addr.split(":")
        rows.append((int(hi, 16), int(lo, 16), int(data, 16), int(masked)))
    return rows


def raw_table(rows):
    return b"".join(struct.pack("<IIII", lo, hi, data, masked) for hi, lo, data, masked in rows)


def test_ir_table_holds_remappable_handles(fixture_text):
    rows = captured_table(fixture_text("msix-table_6.12_e1000e_IR-on.txt"))
    entries = decode_msix_table(raw_table(rows), len(rows))
    assert [e.message.is_remappable for e in entries] == [True] * 5
    assert [e.message.data for e in entries] == [0] * 5
    # consecutive IRTE handles; the unrequested fifth vector stays masked
    handles = [e.message.irte_index for e in entries]
    assert handles == [handles[0] + i for i in range(5)]
    assert [e.masked for e in entries] == [False, False, False, False, True]


def test_non_ir_table_matches_the_trace_of_the_same_run(fixture_text):
    rows = captured_table(fixture_text("msix-table_6.12_e1000e_IR-off.txt"))
    entries = decode_msix_table(raw_table(rows), len(rows))
    # trace: irq 41..44 -> (vector 37, cpu 3), (37, 0), (38, 1), (38, 2); irq 45 parked on 239
    assert [(e.message.destination, e.message.vector) for e in entries] == [
        (3, 37),
        (0, 37),
        (1, 38),
        (2, 38),
        (0, 239),
    ]
    assert not any(e.message.logical for e in entries)  # 6.12: physical flat


def test_6_1_logical_flat_table(fixture_text):
    rows = captured_table(fixture_text("msix-table_6.1_e1000e_IR-off.txt"))
    entries = decode_msix_table(raw_table(rows), len(rows))
    assert entries[0].message == MsiMessage(0xFEE08004, 0x26)
    assert all(e.message.logical for e in entries)
    assert entries[0].message.destination == 0x08  # logical mask of CPU 3


def test_short_table_is_refused():
    with pytest.raises(ValueError, match="fewer than 2"):
        decode_msix_table(bytes(20), 2)


def test_read_via_resource_mmap(tmp_path, fixture_text):
    rows = captured_table(fixture_text("msix-table_6.12_e1000e_IR-on.txt"))
    bar = bytearray(0x4000)
    bar[0x2000 : 0x2000 + 80] = raw_table(rows)
    dev = tmp_path / "sys/bus/pci/devices/0000:00:0a.0"
    dev.mkdir(parents=True)
    (dev / "resource3").write_bytes(bytes(bar))
    entries = read_msix_via_resource(tmp_path, "0000:00:0a.0", 3, 0x2000, 5)
    assert entries == decode_msix_table(raw_table(rows), 5)


def test_read_beyond_bar_and_bad_arguments(tmp_path):
    dev = tmp_path / "sys/bus/pci/devices/0000:00:0a.0"
    dev.mkdir(parents=True)
    (dev / "resource0").write_bytes(bytes(0x1000))
    with pytest.raises(MsixReadError, match="beyond the BAR"):
        read_msix_via_resource(tmp_path, "0000:00:0a.0", 0, 0xFF8, 1)
    with pytest.raises(ValueError, match="aligned"):
        read_msix_via_resource(tmp_path, "0000:00:0a.0", 0, 0x4, 1)
    with pytest.raises(ValueError, match="BAR index"):
        read_msix_via_resource(tmp_path, "0000:00:0a.0", 6, 0, 1)
    with pytest.raises(MsixReadError, match="ENOENT"):
        read_msix_via_resource(tmp_path, "0000:00:0a.0", 2, 0, 1)


def test_lockdown_refusal_is_explained(tmp_path, monkeypatch):
    dev = tmp_path / "sys/bus/pci/devices/0000:00:0a.0"
    dev.mkdir(parents=True)
    (dev / "resource0").write_bytes(bytes(0x1000))

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(mmap, "mmap", refuse)
    with pytest.raises(MsixReadError, match=r"EPERM.*lockdown"):
        read_msix_via_resource(tmp_path, "0000:00:0a.0", 0, 0, 1)
