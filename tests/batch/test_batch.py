"""``formcoach batch`` on a local pool: per-file JSON identical to ``analyze --json``, one
database set per file, a summary table, failures recorded and retried, reruns skip."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from batch_clips import make_clips

from formcoach.io_utils import sha256_file


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return make_clips(tmp_path_factory)


def _sets(db: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(db) as con:
        return con.execute(
            "SELECT se.batch_key, s.exercise, s.status FROM sets s "
            "JOIN sessions se ON se.id = s.session_id ORDER BY se.batch_key").fetchall()


@pytest.fixture(scope="module")
def batch_run(clips: list[Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """One 2-worker batch over three squat clips plus a broken file, run in a subprocess-free
    way (the CLI in this process; the workers are forkserver/spawn processes)."""
    from formcoach.cli import main

    tmp = tmp_path_factory.mktemp("batch_run")
    videos = tmp / "videos"
    videos.mkdir()
    for c in clips:
        if c.stem.startswith("sq"):
            shutil.copy(c, videos / c.name)
    (videos / "broken.mp4").write_bytes(b"\x00" * 2048)
    out, db = tmp / "out", tmp / "s.db"
    code = main(["batch", str(videos), "-e", "squat", "--out", str(out), "--workers", "2",
                 "--db", str(db), "--no-progress"])
    return {"videos": videos, "out": out, "db": db, "code": code}


def test_results_equal_analyze_json_byte_for_byte(batch_run, run_cli, tmp_path: Path) -> None:
    videos: Path = batch_run["videos"]  # type: ignore[assignment]
    out: Path = batch_run["out"]  # type: ignore[assignment]
    for v in sorted(videos.glob("sq_*.mp4")):
        ref = tmp_path / f"{v.stem}.json"
        res = run_cli("analyze", v, "-e", "squat", "--json", ref, "--no-save", "--no-progress")
        assert res.code == 0, res.err
        assert (out / f"{sha256_file(v)}.json").read_bytes() == ref.read_bytes(), v.name


def test_one_complete_set_per_file_and_a_summary_row(batch_run) -> None:
    out: Path = batch_run["out"]  # type: ignore[assignment]
    videos: Path = batch_run["videos"]  # type: ignore[assignment]
    keys = sorted(sha256_file(v) for v in videos.glob("sq_*.mp4"))
    sets = _sets(batch_run["db"])  # type: ignore[arg-type]
    assert [k.split(":")[1] for k, _, _ in sets] == keys
    assert {(ex, st) for _, ex, st in sets} == {("squat", "complete")}
    lines = (out / "summary.csv").read_text().splitlines()
    assert lines[0].startswith("sha256,path,patient,exercise,kind,reps")
    assert sorted(ln.split(",")[0] for ln in lines[1:]) == keys


def test_a_broken_file_is_retried_once_recorded_and_blocks_nothing(batch_run) -> None:
    out: Path = batch_run["out"]  # type: ignore[assignment]
    videos: Path = batch_run["videos"]  # type: ignore[assignment]
    assert batch_run["code"] == 1
    failures = json.loads((out / "failures.json").read_text())
    broken = sha256_file(videos / "broken.mp4")
    assert list(failures) == [broken]
    assert failures[broken]["attempts"] == 2
    reason = failures[broken]["reason"]
    assert "\n" not in reason and "broken.mp4" in reason
    assert len(list(out.glob("*.json"))) == 3 + 1  # three results and failures.json


def test_rerun_skips_finished_files_and_saves_nothing_twice(batch_run, run_cli) -> None:
    out: Path = batch_run["out"]  # type: ignore[assignment]
    db: Path = batch_run["db"]  # type: ignore[assignment]
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.json") if p.stem != "failures"}
    res = run_cli("batch", batch_run["videos"], "-e", "squat", "--out", out, "--db", db,
                  "--workers", "1", "--no-progress")
    assert res.code == 1  # the broken file fails again
    assert "0 analysed, 3 done earlier, 1 failed" in res.out
    assert "broken.mp4" in res.err and "Traceback" not in res.err
    after = {p.name: p.stat().st_mtime_ns for p in out.glob("*.json") if p.stem != "failures"}
    assert after == before
    assert len(_sets(db)) == 3


def test_same_recording_twice_is_analysed_once(clips: list[Path], tmp_path: Path, run_cli) -> None:
    a = tmp_path / "a.mp4"
    shutil.copy(clips[3], a)
    shutil.copy(clips[3], tmp_path / "copy.mp4")
    m = tmp_path / "m.csv"
    m.write_text("path,patient\na.mp4,P1\ncopy.mp4,P1\n")
    res = run_cli("batch", m, "-e", "squat", "--out", tmp_path / "o", "--no-save",
                  "--workers", "1", "--no-progress")
    assert res.code == 0, res.err
    assert "1 analysed" in res.out and "1 duplicate" in res.out
    rows = (tmp_path / "o" / "summary.csv").read_text().splitlines()[1:]
    assert len(rows) == 1 and ",P1,squat," in rows[0]


def test_other_exercise_into_the_same_out_is_refused(batch_run, run_cli) -> None:
    res = run_cli("batch", batch_run["videos"], "-e", "lunge", "--out", batch_run["out"],
                  "--no-save", "--no-progress")
    from conftest import assert_one_line_error

    assert_one_line_error(res, "holds squat results", "new --out")


def _saved_set(db: Path) -> dict[str, object]:
    """What the database keeps of its one set: the set row (less ids and clock times), its
    patient's name, reps, faults and per-frame angles."""
    with sqlite3.connect(db) as con:
        con.row_factory = sqlite3.Row
        (row,) = con.execute(
            "SELECT s.*, se.source_sha256, p.name AS patient FROM sets s "
            "JOIN sessions se ON se.id = s.session_id "
            "LEFT JOIN patients p ON p.id = s.patient_id").fetchall()
        sid = row["id"]
        keep = ("exercise", "status", "rep_count", "coverage_pct", "summary_json",
                "document_json", "recorded_at", "recorded_at_source", "prescription_id",
                "source_sha256", "patient")
        reps = con.execute("SELECT rep_index, start_s, end_s, duration_s, rom_deg, score, "
                           "metrics_json FROM reps WHERE set_id = ? ORDER BY rep_index",
                           (sid,)).fetchall()
        faults = con.execute("SELECT rep_index, rule_id, t_ns, frame_index, value, threshold "
                             "FROM faults WHERE set_id = ? ORDER BY id", (sid,)).fetchall()
        angles = con.execute("SELECT angles_json FROM set_angles WHERE set_id = ?",
                             (sid,)).fetchone()
    return {**{k: row[k] for k in keep}, "reps": [tuple(r) for r in reps],
            "faults": [tuple(f) for f in faults], "angles": None if angles is None else angles[0]}


def test_a_batch_set_keeps_what_analyze_saves(clips: list[Path], tmp_path: Path,
                                              run_cli) -> None:
    """The set a batch saves is the one ``analyze --patient`` saves: the JSON document (the
    workspace's numbers), the per-frame angles (its angle plot), the recording time, the
    manifest's patient; and the JSON file is the document, byte for byte."""
    from formcoach.store import Store

    video = tmp_path / "clip.mp4"
    shutil.copy(clips[3], video)
    (tmp_path / "m.csv").write_text("path,patient\nclip.mp4,  Patient   B \n")
    bdb, adb = tmp_path / "batch.db", tmp_path / "analyze.db"
    res = run_cli("batch", tmp_path / "m.csv", "-e", "squat", "--out", tmp_path / "o",
                  "--db", bdb, "--workers", "1", "--no-progress")
    assert res.code == 0, res.err
    res = run_cli("analyze", video, "-e", "squat", "--db", adb, "--patient", "Patient B",
                  "--no-progress")
    assert res.code == 0, res.err
    got, want = _saved_set(bdb), _saved_set(adb)
    assert got["patient"] == "Patient B" and got["status"] == "complete"
    assert got["angles"] is not None and json.loads(got["angles"])["series"]  # type: ignore[arg-type]
    assert got == want
    saved = (tmp_path / "o" / f"{sha256_file(video)}.json").read_text()
    assert got["document_json"] == saved
    with Store(bdb) as st:  # what the workspace's set page reads for its plot
        (s,) = st.list_sets()
        assert st.set_angles(int(s["id"])) is not None


def test_a_bad_patient_name_in_the_manifest_is_refused_before_analysis(
        clips: list[Path], tmp_path: Path, run_cli) -> None:
    from conftest import assert_one_line_error

    shutil.copy(clips[3], tmp_path / "clip.mp4")
    (tmp_path / "m.csv").write_text("path,patient\nclip.mp4," + "x" * 500 + "\n")
    res = run_cli("batch", tmp_path / "m.csv", "-e", "squat", "--out", tmp_path / "o",
                  "--db", tmp_path / "s.db", "--no-progress")
    assert_one_line_error(res, "m.csv row 1", "patient name")
    assert not (tmp_path / "o" / "summary.csv").exists()
