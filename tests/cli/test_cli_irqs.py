"""`hil irqs`: per-CPU counts read back from a real /proc/interrupts capture.

The fixture is the /proc/interrupts header and the snapshot taken after
firing each igb MSI-X vector once (transcript linux-6.12_igb-msix_IR-on.txt,
Linux 6.12, IR on, 4 vCPUs): the kernel spread vectors 0..8 over CPUs
3,0,1,2,3,0,1,2,3, so each row has a single 1 in that CPU's column.
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from hil.cli.main import cli

CAPTURE = Path(__file__).parent / "fixtures" / "proc_interrupts_6.12_igb-msix_IR-on.txt"
SPREAD = [3, 0, 1, 2, 3, 0, 1, 2, 3]  # CPU that received vector k, read off the transcript


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["irqs", *args])
    return result.exit_code, result.stdout, result.stderr


def test_json_per_cpu_counts_match_the_capture() -> None:
    code, out, err = invoke("--file", str(CAPTURE), "--json")
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert data["cpus"] == [0, 1, 2, 3]
    rows = data["irqs"]
    assert [r["irq"] for r in rows] == list(range(41, 50))
    for k, row in enumerate(rows):
        expected = {str(cpu): int(cpu == SPREAD[k]) for cpu in range(4)}
        assert row["counts"] == expected, row
        assert row["total"] == 1
        assert row["chip"] == "IR-PCI-MSIX-0000:00:0a.0"
        assert (row["hwirq"], row["trigger"]) == (k, "edge")
        assert row["actions"] == [f"vfio-msix[{k}](0000:00:0a.0)"]


def test_table_rows_show_the_counts_in_cpu_columns() -> None:
    code, out, _ = invoke("--file", str(CAPTURE))
    assert code == 0
    rows = [line for line in out.splitlines() if "vfio-msix[" in line]
    assert len(rows) == 9
    for k, line in enumerate(rows):
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        assert cells[0] == str(41 + k)
        assert cells[1:5] == [str(int(cpu == SPREAD[k])) for cpu in range(4)]
        assert cells[5:] == [
            "IR-PCI-MSIX-0000:00:0a.0",
            str(k),
            "edge",
            f"vfio-msix[{k}](0000:00:0a.0)",
        ]


def test_filter_keeps_matching_rows() -> None:
    code, out, _ = invoke("--file", str(CAPTURE), "--json", "--filter", "vfio-msix[4]")
    assert code == 0
    [row] = json.loads(out)["irqs"]
    assert (row["irq"], row["counts"]["3"]) == (45, 1)


def test_live_root_reads_proc_interrupts_and_summary_rows(tmp_path: Path) -> None:
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/interrupts").write_text(
        "           CPU0       CPU1\n"
        "  0:         7          0   IO-APIC    2-edge      timer\n"
        "NMI:          1          2   Non-maskable interrupts\n"
        "ERR:          5\n"
    )
    code, out, _ = invoke("--root", str(tmp_path), "--json")
    assert code == 0
    data = json.loads(out)
    assert data["irqs"][0]["counts"] == {"0": 7, "1": 0}
    assert [(s["name"], s["total"]) for s in data["summaries"]] == [("NMI", 3), ("ERR", 5)]


def test_missing_file_is_one_line_exit_1(tmp_path: Path) -> None:
    code, out, err = invoke("--file", str(tmp_path / "absent.txt"))
    assert (code, out) == (1, "")
    assert err == f"hil: No such file or directory: {tmp_path}/absent.txt\n"


def test_text_that_is_not_proc_interrupts_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_text("hello\n")
    code, _, err = invoke("--file", str(path))
    assert code == 1
    assert err.startswith(f"hil: {path}: not /proc/interrupts text")
