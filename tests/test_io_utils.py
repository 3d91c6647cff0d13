"""Atomic writes: a full disk or a crash never leaves a partial file; files are user-only."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from formcoach import io_utils
from formcoach.errors import InputError


def test_atomic_write_is_user_only(tmp_path: Path) -> None:
    p = tmp_path / "r.html"
    io_utils.atomic_write_text(p, "hello")
    assert p.read_text() == "hello"
    assert (p.stat().st_mode & 0o777) == 0o600


def test_disk_full_leaves_old_file_and_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "report.html"
    p.write_text("old report")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(InputError, match="No space left"):
        io_utils.atomic_write_text(p, "new report " * 1000)
    assert p.read_text() == "old report"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["report.html"]


def test_missing_folder_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        io_utils.atomic_write_text(tmp_path / "nope" / "x.json", "{}")


def test_unwritable_folder(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root can write anywhere")
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o500)
    with pytest.raises(InputError):
        io_utils.atomic_write_text(d / "x.json", "{}")


def test_output_path_that_is_a_folder_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="it is a folder"):
        io_utils.check_output_path(tmp_path, "report")
    assert io_utils.check_output_path(tmp_path / "r.html") == tmp_path


def test_a_device_or_pipe_is_never_replaced_by_the_output(tmp_path: Path) -> None:
    """Outputs are renamed onto their path: on ``--out /dev/null`` (as root) that replaced the
    device with a file. A pipe stands in for the device here."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="device or a pipe") as e:
        io_utils.atomic_write_text(fifo, "x")
    assert "\n" not in str(e.value)
    assert fifo.exists() and not fifo.is_file()  # still the pipe
    with pytest.raises(InputError, match="device or a pipe"):
        io_utils.Cv2OutputFile(fifo)
