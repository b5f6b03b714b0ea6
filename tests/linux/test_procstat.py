"""/proc/PID/stat: the fields after the command name, whatever the name holds."""

from __future__ import annotations

from pathlib import Path

from hil.linux.procstat import ProcStat, all_proc_stats, proc_stat

# state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
# cutime cstime priority nice num_threads itrealvalue starttime ...
REST = "1 4242 4242 0 -1 4194560 0 0 0 0 130 12 0 0 20 0 1 0 987654 0 0"


def test_a_command_name_with_spaces_and_parentheses_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "4242").mkdir()
    (tmp_path / "4242/stat").write_text(f"4242 (vng (x) y) Z {REST}\n")
    stat = proc_stat(4242, tmp_path)
    assert stat == ProcStat(state="Z", pgrp=4242, start_time=987654, cpu_ticks=142)
    assert stat.exited


def test_a_gone_process_is_none_and_listing_skips_non_processes(tmp_path: Path) -> None:
    assert proc_stat(1, tmp_path) is None
    (tmp_path / "7").mkdir()
    (tmp_path / "7/stat").write_text(f"7 (qemu) S {REST}\n")
    (tmp_path / "self").mkdir()
    assert [s.state for s in all_proc_stats(tmp_path)] == ["S"]
