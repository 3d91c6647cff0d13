"""``analyze`` never destroys the user's files, never leaves partial ones, and a failing part
(database, one output, a closed stdout) costs nothing else (issue 14 findings 3-6, CSV cells).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, SAMPLES, assert_one_line_error
from fakes import sample_track

from formcoach.errors import InputError, StoreError

VIDEO = SAMPLES / "squat_side_clean.mp4"


@pytest.fixture(scope="module")
def track(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sample_track("squat_side_clean", tmp_path_factory.mktemp("t") / "squat.npz")


@pytest.fixture
def video(tmp_path: Path) -> Path:
    """A private copy of the sample video (tests may try to overwrite it)."""
    p = tmp_path / "my set.mp4"
    shutil.copy(VIDEO, p)
    return p


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _sets(db: Path) -> list[dict]:
    from formcoach.store import Store

    with Store(db) as st:
        return st.list_sets()


def _analyze(run_cli, video: Path, track: Path, *extra: object):
    return run_cli("analyze", video, "--exercise", "squat", "--poses", track, "--no-progress",
                   *extra)


# ---------------------------------------------------------------- 3: outputs naming inputs
@pytest.mark.parametrize("opt", ["--video", "--report", "--json", "--csv", "--frames-csv",
                                 "--db"])
def test_output_naming_the_input_video_is_refused_before_the_analysis(
        opt: str, video: Path, track: Path, tmp_path: Path, run_cli) -> None:
    before = _sha(video)
    db = tmp_path / "s.db"
    res = _analyze(run_cli, video, track, opt, video, *(["--db", db] if opt != "--db" else []))
    assert_one_line_error(res, opt, "overwrite", "input VIDEO")
    assert res.code == 2 and "reps:" not in res.out and "wrote" not in res.out
    assert _sha(video) == before
    assert not db.exists() or _sets(db) == []


def test_output_naming_the_input_through_a_link_or_the_track_is_refused(
        video: Path, track: Path, tmp_path: Path, run_cli) -> None:
    link = tmp_path / "link.mp4"
    link.symlink_to(video)
    hard = tmp_path / "hard.mp4"
    os.link(video, hard)
    before, tbefore = _sha(video), _sha(track)
    for out in (link, hard):
        assert_one_line_error(_analyze(run_cli, video, track, "--video", out, "--no-save"),
                              "input VIDEO")
    assert_one_line_error(_analyze(run_cli, video, track, "--json", track, "--no-save"),
                          "--json", "input --poses")
    # relative spelling of the same file
    rel = os.path.relpath(video)
    assert_one_line_error(_analyze(run_cli, video, track, "--report", rel, "--no-save"),
                          "input VIDEO")
    assert _sha(video) == before and _sha(track) == tbefore


def test_two_outputs_naming_one_file_are_refused(video: Path, track: Path, tmp_path: Path,
                                                 run_cli) -> None:
    out = tmp_path / "out.csv"
    res = _analyze(run_cli, video, track, "--csv", out, "--frames-csv", out, "--no-save")
    assert_one_line_error(res, "--frames-csv", "same file as --csv")
    res = _analyze(run_cli, video, track, "--json", tmp_path / "r.json", "--report",
                   tmp_path / "sub" / ".." / "r.json", "--no-save")
    assert res.code == 2 and not (tmp_path / "r.json").exists()


def test_poses_out_naming_its_video_is_refused(tmp_path: Path, run_cli) -> None:
    video = tmp_path / "clip.npz"  # a video whose name happens to end in .npz
    shutil.copy(VIDEO, video)
    before = _sha(video)
    res = run_cli("poses", video, "--out", video, "--no-progress")
    assert_one_line_error(res, "--out", "would overwrite the input VIDEO")
    assert _sha(video) == before


def test_check_distinct_outputs_unit(tmp_path: Path) -> None:
    from formcoach.io_utils import check_distinct_outputs

    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("x")
    check_distinct_outputs([("VIDEO", a)], [("--json", b), ("--csv", tmp_path / "c"),
                                            ("--db", None)])
    with pytest.raises(InputError, match=r"--json .* would overwrite the input VIDEO"):
        check_distinct_outputs([("VIDEO", a)], [("--json", a)])


# ---------------------------------------------------------------- 4: video write failures
def _try_tmpfs(path: Path, size: str) -> bool:
    path.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                       capture_output=True)
    return r.returncode == 0


def test_full_disk_while_writing_the_video(video: Path, track: Path, tmp_path: Path) -> None:
    """A real full disk (a 300 KB tmpfs): no partial mp4, no 'wrote', one error line, the JSON
    (elsewhere) still written, the set not complete."""
    full = tmp_path / "full"
    if not _try_tmpfs(full, "300k"):
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        env = dict(os.environ, PYTHONPATH=str(REPO))
        db, js = tmp_path / "s.db", tmp_path / "r.json"
        r = subprocess.run(
            [sys.executable, "-m", "formcoach", "analyze", str(video), "--exercise", "squat",
             "--poses", str(track), "--no-progress", "--video", str(full / "a.mp4"),
             "--json", str(js), "--db", str(db)],
            capture_output=True, text=True, env=env, timeout=240, cwd=REPO)
        assert r.returncode == 2, r
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "cannot write video" in lines[0], r.stderr
        assert "disk is full" in lines[0]
        assert list(full.iterdir()) == []
        assert f"wrote {full / 'a.mp4'}" not in r.stdout and f"wrote {js}" in r.stdout
        assert json.loads(js.read_text())["reps"] == 3
        assert [s["status"] for s in _sets(db)] == ["interrupted"]
    finally:
        subprocess.run(["umount", str(full)], capture_output=True)


class _TruncatingWriter:
    """A cv2.VideoWriter whose file loses its tail on release (as a full disk does: the mp4
    index is written last), and whose write() reports nothing (like older OpenCV builds)."""

    def __init__(self, real_cls, name, *args):
        self.name, self.real = name, real_cls(name, *args)

    def isOpened(self):
        return self.real.isOpened()

    def write(self, img):
        self.real.write(img)

    def release(self):
        self.real.release()
        size = os.path.getsize(self.name)
        with open(self.name, "r+b") as f:
            f.truncate(size // 2)


def test_unplayable_video_is_detected_and_removed(video: Path, track: Path, tmp_path: Path,
                                                 run_cli, monkeypatch) -> None:
    import cv2

    real = cv2.VideoWriter
    monkeypatch.setattr(cv2, "VideoWriter", lambda *a: _TruncatingWriter(real, *a))
    out, db = tmp_path / "a.mp4", tmp_path / "s.db"
    res = _analyze(run_cli, video, track, "--video", out, "--report", tmp_path / "r.html",
                   "--db", db)
    assert_one_line_error(res, "cannot write video", str(out), "no file was left")
    assert not out.exists() and (tmp_path / "r.html").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".formcoach-")]
    assert f"wrote {out}" not in res.out and f"wrote {tmp_path / 'r.html'}" in res.out
    assert [s["status"] for s in _sets(db)] == ["interrupted"]


def test_existing_video_survives_a_failed_rewrite(video: Path, track: Path, tmp_path: Path,
                                                  run_cli, monkeypatch) -> None:
    import cv2

    out = tmp_path / "a.mp4"
    out.write_bytes(b"previous annotated video")
    real = cv2.VideoWriter
    monkeypatch.setattr(cv2, "VideoWriter", lambda *a: _TruncatingWriter(real, *a))
    res = _analyze(run_cli, video, track, "--video", out, "--no-save")
    assert res.code == 2
    assert out.read_bytes() == b"previous annotated video"


@pytest.mark.parametrize("kind", ["directory", "foreign sqlite"])
def test_db_that_can_never_be_ours_is_refused_before_the_analysis(
        kind: str, video: Path, track: Path, tmp_path: Path, run_cli) -> None:
    """Unlike a locked or full DB (a warning, exit 3), a --db that is a folder or another
    program's database is a user error: one line, exit 2, nothing written."""
    import sqlite3

    db = tmp_path / "db"
    if kind == "directory":
        db.mkdir(mode=0o755)
    else:
        with sqlite3.connect(db) as con:
            con.execute("CREATE TABLE notes (x)")
    before = _sha(db) if db.is_file() else None
    js = tmp_path / "r.json"
    res = _analyze(run_cli, video, track, "--db", db, "--json", js)
    assert res.code == 2, res
    assert_one_line_error(res, str(db))
    assert not js.exists()
    if before is not None:
        assert _sha(db) == before
    else:
        assert (db.stat().st_mode & 0o777) == 0o755


# ---------------------------------------------------------------- 5: a failing database
def _boom(*_a, **_k):
    raise StoreError("database is locked (another formcoach is writing it)")


@pytest.mark.parametrize("where", ["__init__", "start_session", "add_rep", "finish_set"])
def test_failing_database_never_stops_the_files(where: str, video: Path, track: Path,
                                                tmp_path: Path, run_cli, monkeypatch) -> None:
    from formcoach.store import Store

    monkeypatch.setattr(Store, where, _boom)
    outs = {"--json": tmp_path / "r.json", "--report": tmp_path / "r.html",
            "--csv": tmp_path / "r.csv", "--frames-csv": tmp_path / "f.csv",
            "--video": tmp_path / "a.mp4"}
    res = _analyze(run_cli, video, track, "--db", tmp_path / "s.db",
                   *[x for kv in outs.items() for x in kv])
    assert res.code == 3, res
    assert res.err.strip().splitlines() == [
        "formcoach: warning: session not saved: database is locked (another formcoach is "
        "writing it)"]
    for p in outs.values():
        assert p.is_file() and p.stat().st_size > 0, p
        assert f"wrote {p}" in res.out
    assert json.loads(outs["--json"].read_text())["reps"] == 3


def test_raw_sqlite_error_is_treated_like_store_error(video: Path, track: Path, tmp_path: Path,
                                                      run_cli, monkeypatch) -> None:
    import sqlite3

    from formcoach.store import Store

    def full(*_a, **_k):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(Store, "add_rep", full)
    res = _analyze(run_cli, video, track, "--db", tmp_path / "s.db", "--json",
                   tmp_path / "r.json")
    assert res.code == 3 and "session not saved: database or disk is full" in res.err
    assert (tmp_path / "r.json").is_file()


def test_failing_output_marks_the_set_interrupted_and_others_are_written(
        video: Path, track: Path, tmp_path: Path, run_cli, monkeypatch) -> None:
    import formcoach.report.html as H

    def broken(*_a, **_k):
        raise InputError("cannot write report: No space left on device")

    monkeypatch.setattr(H, "write_html_report", broken)
    db = tmp_path / "s.db"
    res = _analyze(run_cli, video, track, "--db", db, "--report", tmp_path / "r.html",
                   "--json", tmp_path / "r.json", "--csv", tmp_path / "r.csv")
    assert_one_line_error(res, "No space left")
    assert (tmp_path / "r.json").is_file() and (tmp_path / "r.csv").is_file()
    assert [s["status"] for s in _sets(db)] == ["interrupted"]


def test_set_is_complete_only_after_the_files(video: Path, track: Path, tmp_path: Path,
                                              run_cli, monkeypatch) -> None:
    """The stored set is still in progress while the last file is being written."""
    from formcoach.store import Store

    db, js = tmp_path / "s.db", tmp_path / "r.json"
    seen: list[bool] = []
    real = Store.finish_set

    def finish(self, *a, **k):
        seen.append(js.is_file() and (tmp_path / "a.mp4").is_file())
        return real(self, *a, **k)

    monkeypatch.setattr(Store, "finish_set", finish)
    res = _analyze(run_cli, video, track, "--db", db, "--json", js, "--video", tmp_path / "a.mp4")
    assert res.code == 0, res.err
    assert seen == [True]
    assert [s["status"] for s in _sets(db)] == ["complete"]


# ---------------------------------------------------------------- 6: closed stdout
def test_closed_stdout_still_writes_every_file(video: Path, track: Path, tmp_path: Path) -> None:
    """`analyze ... | head -1`: stdout's reader is gone before anything is printed."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    db = tmp_path / "s.db"
    outs = [tmp_path / "r.json", tmp_path / "r.html", tmp_path / "r.csv"]
    p = subprocess.Popen(
        [sys.executable, "-m", "formcoach", "analyze", str(video), "--exercise", "squat",
         "--poses", str(track), "--no-progress", "--json", str(outs[0]), "--report",
         str(outs[1]), "--csv", str(outs[2]), "--db", str(db)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=REPO)
    assert p.stdout is not None and p.stderr is not None
    p.stdout.close()  # the read end: every write to stdout now fails with EPIPE
    err = p.stderr.read().decode()
    assert p.wait(timeout=240) == 0, err
    assert "Traceback" not in err and "Exception ignored" not in err, err
    for o in outs:
        assert o.is_file() and o.stat().st_size > 0, o
    assert json.loads(outs[0].read_text())["reps"] == 3
    assert [s["status"] for s in _sets(db)] == ["complete"]


# ---------------------------------------------------------------- CSV formula injection
def test_safe_cell() -> None:
    from formcoach.report.tables import safe_cell

    for text in ("=1+2", "+1+2", "-cmd", "@SUM(A1)", "\t=1", "\r=1", "-", "=HYPERLINK(\"x\")"):
        assert safe_cell(text) == "'" + text
    for same in ("-3.2", "-3", "+4", "-1e-05", ".5", "squat", "", "knee_valgus@1.2s#3"):
        assert safe_cell(same) == same
    assert safe_cell(-3.2) == -3.2 and safe_cell(7) == 7


def test_csv_cells_are_neutralised_but_numbers_stay_numbers(track: Path, tmp_path: Path,
                                                            run_cli) -> None:
    pack = (REPO / "formcoach" / "exercises" / "squat.toml").read_text()
    assert 'id = "squat"' in pack
    user = tmp_path / "evil.toml"
    user.write_text(pack.replace('id = "squat"', 'id = "=HYPERLINK(\\"http://x\\")"', 1))
    rcsv, fcsv = tmp_path / "r.csv", tmp_path / "f.csv"
    res = run_cli("analyze", "--exercise", user, "--poses", track, "--no-progress", "--no-save",
                  "--csv", rcsv, "--frames-csv", fcsv)
    assert res.code == 0, res.err
    rows = list(csv.reader(rcsv.open(newline="")))
    assert len(rows) == 4
    for r in rows[1:]:
        assert r[0] == "'=HYPERLINK(\"http://x\")"
        assert float(r[rows[0].index("rom_deg")]) > 0
    cells = [c for r in csv.reader(fcsv.open(newline="")) for c in r]
    assert not [c for c in cells if c and c[0] in "=+-@" and not c.lstrip("+-")[:1].isdigit()]
    negatives = [c for c in cells if c.startswith("-")]
    assert negatives and all(float(c) < 0 for c in negatives)
    assert not [c for c in cells if c.startswith("'")]
