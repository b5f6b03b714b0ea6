"""Private files: 0600 in a 0700 directory, atomic replacement, no symlinks followed."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from hil.lab.safefile import (
    UnsafePathError,
    ensure_private_dir,
    open_private_lock,
    private_file_names,
    read_private_file,
    remove_private_file,
    remove_stale_temporaries,
    write_private_file,
)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def private(tmp_path: Path) -> Path:
    directory = tmp_path / "state"
    ensure_private_dir(directory)
    return directory


def test_private_dir_is_created_0700(tmp_path: Path) -> None:
    directory = tmp_path / "a" / "b"
    ensure_private_dir(directory)
    assert mode_of(directory) == 0o700


def test_private_dir_of_ours_that_is_too_open_is_tightened(tmp_path: Path) -> None:
    directory = tmp_path / "open"
    directory.mkdir(mode=0o755)
    os.chmod(directory, 0o755)
    ensure_private_dir(directory)
    assert mode_of(directory) == 0o700


def test_private_dir_refuses_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(real)
    with pytest.raises(UnsafePathError, match="symlink"):
        ensure_private_dir(link)


def test_private_dir_refuses_a_file_in_its_place(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(UnsafePathError, match="not a directory"):
        ensure_private_dir(tmp_path / "file")


def test_written_file_is_0600_and_reads_back(private: Path) -> None:
    write_private_file(private / "entry", b"first")
    write_private_file(private / "entry", b"second")
    assert read_private_file(private / "entry") == b"second"
    assert mode_of(private / "entry") == 0o600
    assert private_file_names(private) == ["entry"]


def test_a_restrictive_umask_still_gives_0600(private: Path) -> None:
    old = os.umask(0o277)
    try:
        write_private_file(private / "entry", b"x")
    finally:
        os.umask(old)
    assert mode_of(private / "entry") == 0o600


def test_write_refuses_to_replace_a_symlink(private: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (private / "entry").symlink_to(victim)
    with pytest.raises(UnsafePathError, match="symlink"):
        write_private_file(private / "entry", b"evil")
    assert victim.read_text() == "precious"
    assert (private / "entry").is_symlink()
    assert private_file_names(private) == ["entry"], "the temporary must not be left behind"


def test_write_refuses_a_symlinked_directory(private: Path, tmp_path: Path) -> None:
    link = tmp_path / "linkdir"
    link.symlink_to(private)
    with pytest.raises(UnsafePathError, match="symlink"):
        write_private_file(link / "entry", b"x")
    assert private_file_names(private) == []


def test_write_refuses_a_directory_open_to_others(tmp_path: Path) -> None:
    directory = tmp_path / "open"
    directory.mkdir()
    os.chmod(directory, 0o777)
    with pytest.raises(UnsafePathError, match="open to others"):
        write_private_file(directory / "entry", b"x")


def test_read_refuses_a_symlink(private: Path, tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_bytes(b"x")
    os.chmod(target, 0o600)
    (private / "entry").symlink_to(target)
    with pytest.raises(UnsafePathError, match="symlink"):
        read_private_file(private / "entry")


def test_read_refuses_a_file_others_could_have_written(private: Path) -> None:
    (private / "entry").write_bytes(b"x")
    os.chmod(private / "entry", 0o666)
    with pytest.raises(UnsafePathError, match="open to others"):
        read_private_file(private / "entry")


def test_read_refuses_a_fifo_without_hanging(private: Path) -> None:
    os.mkfifo(private / "entry", 0o600)
    outcome: list[BaseException] = []

    def read() -> None:
        try:
            read_private_file(private / "entry")
        except BaseException as error:
            outcome.append(error)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=5)
    assert not reader.is_alive(), "reading a FIFO hung"
    assert len(outcome) == 1
    assert isinstance(outcome[0], UnsafePathError)


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_read_refuses_a_file_owned_by_someone_else(private: Path) -> None:
    (private / "entry").write_bytes(b"x")
    os.chmod(private / "entry", 0o600)
    os.chown(private / "entry", 65534, 65534)
    with pytest.raises(UnsafePathError, match="owned by uid 65534"):
        read_private_file(private / "entry")


def test_checkpoints_come_between_the_steps(private: Path) -> None:
    write_private_file(private / "entry", b"old")
    seen: list[tuple[str, bytes, list[str]]] = []

    def checkpoint(step: str) -> None:
        names = sorted(os.listdir(private))
        seen.append((step, read_private_file(private / "entry"), names))

    write_private_file(private / "entry", b"new", checkpoint=checkpoint)
    (temp_step, temp_content, temp_names), (rename_step, rename_content, rename_names) = seen
    assert (temp_step, temp_content) == ("temp-written", b"old")
    assert len(temp_names) == 2 and temp_names[0].startswith(".entry.")
    assert (rename_step, rename_content, rename_names) == ("renamed", b"new", ["entry"])


def test_listing_skips_temporaries_and_stale_ones_can_be_removed(private: Path) -> None:
    for name in (".s1.00000001.json.ab12.tmp", ".s2.00000001.json.cd34.tmp", "s1.00000002.json"):
        (private / name).write_bytes(b"")
    assert private_file_names(private) == ["s1.00000002.json"]
    assert remove_stale_temporaries(private, "s1.") == [".s1.00000001.json.ab12.tmp"]
    assert sorted(os.listdir(private)) == [".s2.00000001.json.cd34.tmp", "s1.00000002.json"]


def test_remove_is_idempotent(private: Path) -> None:
    write_private_file(private / "entry", b"x")
    assert remove_private_file(private / "entry") is True
    assert remove_private_file(private / "entry") is False
    assert private_file_names(private) == []


def test_lock_file_is_0600_and_refuses_a_symlink(private: Path, tmp_path: Path) -> None:
    fd = open_private_lock(private / "r.lock")
    os.close(fd)
    assert mode_of(private / "r.lock") == 0o600
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (private / "s.lock").symlink_to(victim)
    with pytest.raises(UnsafePathError, match="symlink"):
        open_private_lock(private / "s.lock")
