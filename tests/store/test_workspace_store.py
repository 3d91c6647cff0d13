"""The PT workspace in the store: schema v5 (patients, prescriptions, per-set patient, recording
time, pain and RPE, the saved JSON document), migration from v3, and one set per video."""

from __future__ import annotations

import json
import os
import sqlite3
import struct
from pathlib import Path

import pytest
from fake_result import make_result

from formcoach import store as S
from formcoach.errors import InputError
from formcoach.io_utils import mp4_creation_time, recorded_at


def _v3_database(db: Path) -> None:
    """A database exactly as schema v3 left it, with one analysed set of 2 reps."""
    conn = sqlite3.connect(db)
    for step in S.MIGRATIONS[:3]:
        for sql in step:
            conn.execute(sql)
    conn.execute("PRAGMA user_version = 3")
    conn.execute("INSERT INTO sessions (started_at, formcoach_version, source_sha256, batch_key) "
                 "VALUES ('2026-01-02T10:00:00+00:00', 'x', 'abc', 'b:abc')")
    conn.execute("INSERT INTO sets (session_id, exercise, started_at, status) VALUES "
                 "(1, 'squat', '2026-01-02T10:00:00+00:00', 'complete')")
    for i, rom in enumerate((90.0, 94.0)):
        conn.execute("INSERT INTO reps (set_id, rep_index, rom_deg, metrics_json) "
                     "VALUES (1, ?, ?, '{}')", (i, rom))
    conn.commit()
    conn.close()


def test_migration_from_v3_keeps_sets_and_dates_them_as_analysed(tmp_path):
    db = tmp_path / "s.db"
    _v3_database(db)
    with S.Store(db) as st:
        assert st.version == S.SCHEMA_VERSION == 6
        sets = st.patient_sets(None)
        assert len(sets) == 1
        s = sets[0]
        assert s["recorded_at"] == "2026-01-02T10:00:00+00:00"
        assert s["recorded_at_source"] == "analysed"
        assert s["patient_id"] is None and s["pain"] is None and s["mean_rom_deg"] == 92.0
        assert st.batch_set("b:abc") == 1  # the batch key survives
        p = st.add_patient("Ann B.")
        st.set_details(1, pain=3, rpe=6.5, patient_id=p.id)
        assert st.get_set(1)["pain"] == 3  # type: ignore[index]


def test_patients_and_prescriptions_with_checked_values(tmp_path):
    with S.Store(tmp_path / "s.db") as st:
        p = st.add_patient("  P-07  ", "left knee, 6 weeks post-op")
        assert p.name == "P-07" and st.ensure_patient("p-07").id == p.id  # case-insensitive
        with pytest.raises(InputError, match="already exists"):
            st.add_patient("p-07")
        for bad in ("", "x" * 101, "a\x00b"):
            with pytest.raises(InputError):
                st.add_patient(bad)
        rx = st.add_prescription(p.id, "squat", sets=3, reps=10, per_week=3,
                                 rom_target_deg=100, start_date="2026-03-02",
                                 end_date="2026-04-12")
        assert st.prescriptions(p.id) == [rx] and rx.describe() == "3 x 10, 3/week"
        assert rx.active_on("2026-03-02") and not rx.active_on("2026-04-13")
        bad_args = [dict(sets=0), dict(per_week=30), dict(reps=10, hold_s=30.0),
                    dict(start_date="2026-13-01"), dict(end_date="2026-01-01")]
        for bad in bad_args:
            kw = dict(sets=3, per_week=3, start_date="2026-03-02", reps=10) | bad
            with pytest.raises(InputError):
                st.add_prescription(p.id, "squat", **kw)  # type: ignore[arg-type]
        with pytest.raises(InputError, match="pain"):
            st.set_details(1, pain=11)


def test_a_set_is_linked_to_the_active_prescription_of_its_recording_day(tmp_path):
    with S.Store(tmp_path / "s.db") as st:
        p = st.add_patient("Bo")
        rx = st.add_prescription(p.id, "squat", sets=3, reps=10, per_week=3,
                                 start_date="2026-03-02")
        sid = st.start_session()
        inside = st.start_set(sid, "squat", patient_id=p.id,
                              recorded_at="2026-03-05T09:00:00+00:00",
                              recorded_at_source="file mtime")
        before = st.start_set(sid, "squat", patient_id=p.id,
                              recorded_at="2026-03-01T09:00:00+00:00")
        other = st.start_set(sid, "lunge", patient_id=p.id,
                             recorded_at="2026-03-05T09:00:00+00:00")
        got = {s["id"]: s["prescription_id"] for s in st.patient_sets(p.id)}
        assert got == {inside: rx.id, before: None, other: None}
        assert st.get_set(inside)["recorded_at_source"] == "file mtime"  # type: ignore[index]


def test_the_same_video_analysed_twice_is_one_set_with_the_newer_analysis(tmp_path):
    r = make_result(n_reps=3)
    db = tmp_path / "s.db"
    with S.Store(db) as st:
        p = st.add_patient("Cy")
        first = S.SetRecorder.begin(st, "squat", "a.mp4", "hash1", patient_id=p.id)
        first.finish(r.metrics, document=json.dumps({"n": 1}))
        st.set_details(first.set_id, pain=4, rpe=7)
        other = S.SetRecorder.begin(st, "squat", "b.mp4", "hash2")
        other.finish(r.metrics)
        again = S.SetRecorder.begin(st, "squat", "a-copy.mp4", "hash1")  # no --patient now
        again.finish(r.metrics, document=json.dumps({"n": 2}))
        ids = [s["id"] for s in st.list_sets()]
        assert ids == [other.set_id, again.set_id]
        kept = st.get_set(again.set_id)
        assert kept is not None and kept["document"] == {"n": 2}
        # What the PT recorded on the old analysis is kept on the new one.
        assert (kept["patient_id"], kept["pain"], kept["rpe"]) == (p.id, 4, 7)
        assert st.conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == 2
        # A batch import of the same content replaces it too.
        new_id, saved = st.import_set("batch:hash1", "squat", r.metrics, source_sha256="hash1")
        assert saved and [s["id"] for s in st.list_sets()] == [other.set_id, new_id]


def test_an_interrupted_analysis_does_not_replace_the_complete_one(tmp_path):
    r = make_result(n_reps=2)
    with S.Store(tmp_path / "s.db") as st:
        done = S.SetRecorder.begin(st, "squat", "a.mp4", "h")
        done.finish(r.metrics)
        broken = S.SetRecorder.begin(st, "squat", "a.mp4", "h")
        broken.finish(None, status="interrupted")
        assert {s["id"] for s in st.list_sets()} == {done.set_id, broken.set_id}


def _mp4(path: Path, creation: int, version: int = 0) -> Path:
    """A minimal ISO-BMFF file: ftyp, then moov/mvhd with ``creation`` (1904 epoch seconds)."""
    if version == 0:
        mvhd_body = bytes([0, 0, 0, 0]) + struct.pack(">II", creation, creation) + bytes(88)
    else:
        mvhd_body = bytes([1, 0, 0, 0]) + struct.pack(">QQ", creation, creation) + bytes(88)
    mvhd = struct.pack(">I4s", 8 + len(mvhd_body), b"mvhd") + mvhd_body
    moov = struct.pack(">I4s", 8 + len(mvhd), b"moov") + mvhd
    ftyp = struct.pack(">I4s4sI", 16, b"ftyp", b"isom", 0)
    path.write_bytes(ftyp + moov)
    return path


def test_recorded_at_reads_the_mp4_header_else_falls_back_to_the_file_time(tmp_path):
    unix = 1_767_225_600  # 2026-01-01T00:00:00Z
    for version in (0, 1):
        f = _mp4(tmp_path / f"v{version}.mp4", unix + 2_082_844_800, version)
        assert mp4_creation_time(f) == unix
        assert recorded_at(f) == ("2026-01-01T00:00:00+00:00", "video metadata")
    zero = _mp4(tmp_path / "zero.mp4", 0)  # what OpenCV writes
    os.utime(zero, (unix + 60, unix + 60))
    assert recorded_at(zero) == ("2026-01-01T00:01:00+00:00", "file mtime")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\xff" * 40)
    assert mp4_creation_time(junk) is None
