"""A batch killed with SIGKILL, or stopped with Ctrl-C, resumes: no file saved twice, none
missing, the database intact."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from batch_clips import make_clips

from formcoach.io_utils import sha256_file

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return make_clips(tmp_path_factory)


def _start(videos: Path, out: Path, db: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "formcoach", "batch", str(videos), "-e", "squat", "--out",
         str(out), "--db", str(db), "--workers", "1", "--no-progress"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,  # its own process group: the kill takes the workers too
    )


def _wait_for_done(out: Path, proc: subprocess.Popen[str], n: int = 1) -> None:
    log = out / ".batch" / "log.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if log.is_file() and log.read_text().count('"done"') >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"no file finished before the batch ended (rc {proc.poll()})")


def _done_events(out: Path) -> list[str]:
    lines = (out / ".batch" / "log.jsonl").read_text().splitlines()
    return [e["sha256"] for e in map(json.loads, lines) if e["event"] == "done"]


@pytest.fixture
def videos(clips: list[Path], tmp_path: Path) -> Path:
    folder = tmp_path / "videos"
    folder.mkdir()
    for c in clips:
        shutil.copy(c, folder / c.name)
    return folder


def test_kill_9_mid_batch_then_rerun(videos: Path, tmp_path: Path) -> None:
    out, db = tmp_path / "out", tmp_path / "s.db"
    proc = _start(videos, out, db)
    _wait_for_done(out, proc)
    assert proc.poll() is None, "the batch finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    first = _done_events(out)
    assert 1 <= len(first) < 4

    rerun = _start(videos, out, db)
    o, e = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, e[-800:]
    assert f"{4 - len(first)} analysed, {len(first)} done earlier, 0 failed" in o

    keys = sorted(sha256_file(v) for v in videos.iterdir())
    done = _done_events(out)
    assert sorted(done) == keys  # every file saved exactly once over both runs
    assert sorted(p.stem for p in out.glob("*.json") if p.stem != "failures") == keys
    assert not list((out / ".batch" / "pending").iterdir())
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        got = con.execute("SELECT se.source_sha256, s.status FROM sets s JOIN sessions se "
                          "ON se.id = s.session_id ORDER BY se.source_sha256").fetchall()
    assert got == [(k, "complete") for k in keys]


def test_ctrl_c_stops_cleanly_and_a_rerun_resumes(videos: Path, tmp_path: Path) -> None:
    out, db = tmp_path / "out", tmp_path / "s.db"
    proc = _start(videos, out, db)
    _wait_for_done(out, proc)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C sends: the whole group
    _o, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the batch finished before Ctrl-C arrived")
    assert proc.returncode == 130, err[-800:]
    assert "Traceback" not in err
    assert "rerun the same command to resume" in err.strip().splitlines()[-1]
    n = len(_done_events(out))
    rerun = _start(videos, out, db)
    o, e = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, e[-800:]
    assert f"{4 - n} analysed, {n} done earlier" in o
    assert len(_done_events(out)) == 4
