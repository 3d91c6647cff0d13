"""Session store: migrations, rep-by-rep saving, crash survival, corrupt files, permissions."""

from __future__ import annotations

import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from fake_result import make_result

from formcoach import store as S
from formcoach.errors import InputError
from formcoach.metrics import RepMetrics

REPO = Path(__file__).resolve().parents[2]


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_new_database_is_migrated_from_v0_and_user_only(tmp_path):
    db = tmp_path / "sub" / "s.db"
    with S.Store(db) as st:
        assert st.version == S.SCHEMA_VERSION == len(S.MIGRATIONS)
        tables = {r[0] for r in st.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"sessions", "sets", "reps", "faults"} <= tables
        assert st.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        st.start_session()
    assert _mode(db) == 0o600
    for side in (db.with_name("s.db-wal"), db.with_name("s.db-shm")):
        if side.exists():
            assert _mode(side) & 0o077 == 0


def test_existing_file_is_not_chmodded_but_warned_about(tmp_path, caplog):
    """A file formcoach did not create keeps its mode (issue 14 #7); a loose one is warned of."""
    db = tmp_path / "s.db"
    db.touch(mode=0o644)
    os.chmod(db, 0o644)
    with caplog.at_level("WARNING", logger="formcoach.store"):
        S.Store(db).close()
    assert _mode(db) == 0o644
    assert "chmod 600" in caplog.text and str(db) in caplog.text


def test_migration_from_v1_keeps_data_and_marks_orphans_interrupted(tmp_path):
    db = tmp_path / "s.db"
    conn = sqlite3.connect(db)
    for sql in S.MIGRATIONS[0]:
        conn.execute(sql)
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO sessions (started_at, formcoach_version) VALUES ('2026-01-01', 'x')")
    conn.execute("INSERT INTO sets (session_id, exercise, started_at) VALUES (1, 'squat', "
                 "'2026-01-01T10:00:00')")
    conn.execute("INSERT INTO reps (set_id, rep_index, rom_deg, metrics_json) VALUES (1, 0, 90, '{}')")
    conn.commit()
    conn.close()
    with S.Store(db) as st:
        assert st.version == S.SCHEMA_VERSION
        sets = st.list_sets()
        assert len(sets) == 1 and sets[0]["status"] == "interrupted"  # no owner recorded
        assert sets[0]["mean_rom_deg"] == 90


def test_database_from_a_newer_formcoach_is_refused(tmp_path):
    db = tmp_path / "s.db"
    S.Store(db).close()
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {S.SCHEMA_VERSION + 5}")
    conn.close()
    with pytest.raises(InputError, match="newer"):
        S.Store(db)


@pytest.mark.parametrize("content", [b"garbage" * 500, b"SQLite format 3\x00" + b"\xff" * 4000])
def test_non_sqlite_file_gives_one_line_error_naming_the_file(tmp_path, content):
    """Not SQLite at all: "not a formcoach database", not "corrupt" (issue 14 #8), unchanged."""
    db = tmp_path / "s.db"
    db.write_bytes(content)
    with pytest.raises(InputError) as ei:
        S.Store(db)
    msg = str(ei.value)
    assert "\n" not in msg and str(db) in msg and "not a formcoach session database" in msg
    assert "corrupt" not in msg
    assert db.read_bytes() == content


def test_corrupt_database_in_the_cli_is_one_line(tmp_path, run_cli):
    db = tmp_path / "s.db"
    db.write_bytes(b"not a database" * 100)
    res = run_cli("history", "--db", db)
    assert res.code == 2
    assert res.err.count("\n") == 1 and str(db) in res.err and "Traceback" not in res.err


def test_env_var_overrides_the_default_path(tmp_path, monkeypatch):
    monkeypatch.setenv(S.ENV_DB, str(tmp_path / "env.db"))
    assert S.default_db_path() == tmp_path / "env.db"
    monkeypatch.delenv(S.ENV_DB)
    assert S.default_db_path().name == "sessions.db"


def test_reps_are_visible_to_other_connections_as_each_completes(tmp_path):
    db = tmp_path / "s.db"
    r = make_result(n_reps=4)
    st = S.Store(db)
    rec = S.SetRecorder.begin(st, "squat", backend="fake")
    for k, rm in enumerate(r.metrics.reps):
        rec.on_rep(rm)  # as the session hands each rep over once its end is final
        other = sqlite3.connect(db)
        n = other.execute("SELECT COUNT(*) FROM reps WHERE set_id = ?", (rec.set_id,)).fetchone()[0]
        other.close()
        assert n == k + 1
    assert st.list_sets()[0]["status"] == "in_progress"
    sm = r.metrics
    rec.finish(sm)
    row = st.list_sets()[0]
    assert row["status"] == "complete" and row["rep_count"] == 4
    assert row["mean_score"] == pytest.approx(sm.mean_score)
    reps = st.reps(rec.set_id)
    assert reps[0]["metrics"]["rom"]["left_knee"]["excursion_deg"] == pytest.approx(100.0, abs=0.5)
    assert [f["rule_id"] for f in st.faults(rec.set_id)] == ["depth"]
    st.close()


def test_recorder_saves_each_rep_before_the_set_ends(tmp_path):
    """The session's per-rep sink saves ROM per joint before the set ends, the same numbers the
    final result shows."""
    import numpy as np

    from formcoach.coach.offline import analyze_track
    from formcoach.coach.session import SessionSinks
    from formcoach.exercises import load_exercise
    from formcoach.types import PoseTrack

    r = make_result(n_reps=3)
    track = PoseTrack(r.poses, np.full((len(r.poses), 33, 3), np.nan), r.t_ns, r.fps,
                      (320, 240), "fake")
    with S.Store(tmp_path / "s.db") as st:
        rec = S.SetRecorder.begin(st, "squat")
        counts: list[int] = []

        def on_rep(rm: RepMetrics) -> None:
            rec.on_rep(rm)
            counts.append(len(st.reps(rec.set_id)))

        res = analyze_track(track, load_exercise("squat"), sinks=SessionSinks(on_rep=on_rep))
        saved = st.reps(rec.set_id)
        assert counts == [1, 2, 3] and len(saved) == len(res.reps) == 3
        assert "left_knee" in saved[0]["metrics"]["rom"]
        for row, rm in zip(saved, res.metrics.reps, strict=True):
            assert row["rom_deg"] == pytest.approx(rm.rom_deg, abs=1e-6)
            assert row["duration_s"] == pytest.approx(rm.duration_s, abs=1e-6)
        rec.finish(res.metrics)
        assert st.list_sets()[0]["coverage_pct"] == pytest.approx(100.0)


CHILD = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {tests!r})
    from fake_result import make_result
    from formcoach.store import Store, SetRecorder
    r = make_result(n_reps=4)
    st = Store({db!r})
    rec = SetRecorder.begin(st, "squat")
    for rm in r.metrics.reps[:3]:
        rec.on_rep(rm)
        print("rep", rm.index, flush=True)
    st.conn.execute("BEGIN IMMEDIATE")   # the 4th rep is mid-transaction when we are killed
    st.conn.execute("INSERT INTO reps (set_id, rep_index, metrics_json) VALUES (?, 3, '{{}}')",
                    (rec.set_id,))
    print("mid", flush=True)
    time.sleep(60)
    """
)


def test_finished_reps_survive_sigkill_mid_set(tmp_path):
    db = tmp_path / "s.db"
    code = CHILD.format(tests=str(Path(__file__).parents[1]), db=str(db))
    env = dict(os.environ, PYTHONPATH=str(REPO))
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    try:
        lines = []
        assert p.stdout is not None
        for line in p.stdout:
            lines.append(line.strip())
            if line.strip() == "mid":
                break
        assert lines == ["rep 0", "rep 1", "rep 2", "mid"]
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    with S.Store(db) as st:
        sets = st.list_sets()
        assert len(sets) == 1
        assert sets[0]["status"] == "interrupted"  # its process is gone
        assert [r["rep_index"] for r in st.reps(sets[0]["id"])] == [0, 1, 2]
        assert st.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_history_and_progress_cli(tmp_path, run_cli):
    db = tmp_path / "s.db"
    with S.Store(db) as st:
        for depths in ((90.0, 92.0, 88.0, 90.0), (91.0, 89.0, 90.0, 92.0), (110.0, 112.0, 108.0)):
            r = make_result(n_reps=len(depths), depth_deg=depths)
            rec = S.SetRecorder.begin(st, "squat", source_path="clip.mp4")
            for rm in r.metrics.reps:
                rec.on_rep(rm)
            rec.finish(r.metrics)
    res = run_cli("history", "--db", db, "--exercise", "squats")
    assert res.code == 0, res.err
    assert res.out.count("complete") == 3 and "clip.mp4" in res.out
    res = run_cli("history", "--db", db, "--since", "2999-01-01")
    assert res.code == 0 and "no sets" in res.out
    out = tmp_path / "progress.html"
    res = run_cli("report", "--history", "--exercise", "squat", out, "--db", db)
    assert res.code == 0, res.err
    html = out.read_text()
    assert _mode(out) == 0o600
    assert "MDC95" in html and "Watkins" in html
    assert html.count("no detectable change") == 2  # baseline and the +0.5 deg set
    assert "larger ROM (beyond MDC)" in html  # +20 deg


def test_save_session(tmp_path):
    from dataclasses import replace

    r = replace(make_result(n_reps=3), error="camera unplugged")
    set_id = S.save_session(r, tmp_path / "s.db")
    with S.Store(tmp_path / "s.db") as st:
        row = st.list_sets()[0]
        assert row["id"] == set_id and row["status"] == "interrupted" and row["mode"] == "live"
        assert [x["rom_deg"] for x in st.reps(set_id)] == pytest.approx(
            [rm.rom_deg for rm in r.metrics.reps])


def test_history_does_not_create_a_database(tmp_path, run_cli):
    db = tmp_path / "none.db"
    res = run_cli("history", "--db", db)
    assert res.code == 0 and "no sets saved yet" in res.out and not db.exists()
    res = run_cli("report", "--history", "--exercise", "squat", tmp_path / "p.html", "--db", db)
    assert res.code == 0 and not db.exists()
    assert "No sets of this exercise" in (tmp_path / "p.html").read_text()


def test_a_rep_not_judged_is_stored_as_such_without_asymmetry(tmp_path):
    """Coverage lives in the per-rep metrics JSON (no schema change): the database reads the
    same 'not judged' and the same missing side-view asymmetry as every other output."""
    from formcoach.metrics import apply_coverage

    r = make_result(n_reps=2)
    apply_coverage(r.metrics.reps[0], "side", False, ["depth", "knee_valgus"])
    apply_coverage(r.metrics.reps[1], "front", True, [])
    set_id = S.save_session(r, tmp_path / "s.db")
    with S.Store(tmp_path / "s.db") as st:
        rows = st.reps(set_id)
    assert rows[0]["metrics"]["judged"] is False
    assert rows[0]["metrics"]["not_judged"] == ["depth", "knee_valgus"]
    assert rows[0]["asymmetry_pct"] is None and rows[1]["asymmetry_pct"] is not None
    assert rows[1]["metrics"]["judged"] is True and rows[1]["metrics"]["view"] == "front"
