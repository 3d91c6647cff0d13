"""Schema v6 (per-frame angles, the plan's prescription) and sets carried from a home database
into the workspace: ``export-sets`` / ``import-sets``, matched, deduplicated, all or nothing."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from conftest import assert_one_line_error
from fake_result import make_result

from formcoach import store as S
from formcoach import transfer as T
from formcoach.errors import InputError, StoreError
from formcoach.report.outputs import angles_text

VIDEO_SHA = "ab" * 32


def test_migration_from_v5_adds_angles_and_keeps_every_set(tmp_path):
    db = tmp_path / "s.db"
    conn = sqlite3.connect(db)
    for step in S.MIGRATIONS[:5]:
        for sql in step:
            conn.execute(sql)
    conn.execute("PRAGMA user_version = 5")
    conn.execute("INSERT INTO sessions (started_at, formcoach_version) VALUES ('2026-01-02', 'x')")
    conn.execute("INSERT INTO sets (session_id, exercise, started_at, status, pain) VALUES "
                 "(1, 'squat', '2026-01-02', 'complete', 3)")
    conn.commit()
    conn.close()
    with S.Store(db) as st:
        assert st.version == S.SCHEMA_VERSION == 6
        s = st.get_set(1)
        assert s is not None and s["pain"] == 3
        assert st.set_angles(1) is None  # older sets have none: the page says so
        assert st.conn.execute("SELECT plan_prescription_id FROM sets").fetchone()[0] is None


def test_the_angles_of_a_set_are_its_per_frame_features(tmp_path):
    r = make_result(n_reps=2)
    with S.Store(tmp_path / "s.db") as st:
        rec = S.SetRecorder.begin(st, "squat", "a.mp4", VIDEO_SHA)
        rec.finish(r.metrics, angles=angles_text(r))
        a = st.set_angles(rec.set_id)
    assert a is not None and len(a["t_s"]) == len(r.t_ns) and a["t_s"][0] == 0.0
    names = [d["name"] for d in a["series"]]
    assert names[0] == r.exercise.count.signal and set(r.metrics.joints) <= set(names)
    for d in a["series"][1:]:
        want = r.features[d["name"]]
        got = [v for v in d["deg"] if v is not None]
        assert len(got) == int((want == want).sum())  # NaN frames are null
        assert max(abs(g - w) for g, w in zip(d["deg"], want, strict=True)
                   if g is not None) <= 0.05 + 1e-9  # rounded to 0.1 deg


def _home(db: Path, patient: str = "Ann B.") -> tuple[int, int]:
    """A home database: a live set of a plan (workspace prescription 1, unknown here) with pain,
    RPE, angles and a reps-in-reserve mark, and an analysed video set. Returns their ids."""
    r = make_result(n_reps=3)
    with S.Store(db) as st:
        p = st.ensure_patient(patient)
        live = S.SetRecorder.begin(st, "squat", "camera:0", None, "mp", None, "live",
                                   patient_id=p.id, plan_prescription_id=1)
        live.finish(r.metrics, document=json.dumps({"n": "live"}), angles=angles_text(r))
        st.set_details(live.set_id, pain=2, rpe=7.5)
        st.mark_set_end(live.set_id, 2)
        video = S.SetRecorder.begin(st, "squat", "/home/a.mp4", VIDEO_SHA, patient_id=p.id,
                                    recorded_at="2026-03-04T08:00:00+00:00",
                                    recorded_at_source="video metadata")
        video.finish(r.metrics, document=json.dumps({"n": "video"}))
        return live.set_id, video.set_id


def _clinic(db: Path) -> tuple[int, int]:
    """The workspace: patient "ann b." with a squat prescription #1 from 2026-03-01."""
    with S.Store(db) as st:
        p = st.add_patient("ann b.")
        rx = st.add_prescription(p.id, "squat", sets=3, reps=10, per_week=3,
                                 start_date="2026-03-01")
        return p.id, rx.id


def test_home_sets_import_into_the_workspace_with_patient_and_prescription(tmp_path, run_cli):
    home, clinic, out = tmp_path / "home.db", tmp_path / "clinic.db", tmp_path / "sets.json"
    live_id, video_id = _home(home)
    pid, rx_id = _clinic(clinic)
    res = run_cli("export-sets", "--db", home, "--out", out)
    assert res.code == 0 and "exported 2 sets" in res.out, res.err
    assert out.stat().st_mode & 0o777 == 0o600  # it describes a patient
    res = run_cli("import-sets", out, "--db", clinic)
    assert res.code == 0 and "imported 2 sets" in res.out, res.err
    assert "new patient" not in res.out  # matched by name, ignoring case
    with S.Store(home) as hs, S.Store(clinic) as cs:
        got = {s["recorded_at_source"]: s for s in cs.patient_sets(pid)}
        assert set(got) == {"clock", "video metadata"}
        live, video = got["clock"], got["video metadata"]
        assert live["prescription_id"] == rx_id  # the plan's id
        assert video["prescription_id"] == rx_id  # active on the recording day
        assert (live["pain"], live["rpe"], live["mode"]) == (2, 7.5, "live")
        for new, old in ((live, hs.get_set(live_id)), (video, hs.get_set(video_id))):
            assert old is not None
            for k in ("exercise", "recorded_at", "started_at", "rep_count", "mean_rom_deg",
                      "mean_score", "fault_count", "source_sha256"):
                assert new[k] == old[k], k
            assert cs.get_set(new["id"])["document"] == old["document"]  # type: ignore[index]
            assert cs.reps(new["id"]) == [dict(r, id=n["id"], set_id=new["id"]) for r, n in
                                          zip(hs.reps(old["id"]), cs.reps(new["id"]),
                                              strict=True)]
        assert cs.set_angles(live["id"]) == hs.set_angles(live_id)
        assert cs.set_ends()[live["id"]]["rir"] == 2
    # Importing the same file again (or a newer export of the same sets) adds nothing.
    res = run_cli("import-sets", out, "--db", clinic)
    assert res.code == 0 and "imported 0 sets, 2 already in the workspace" in res.out
    with S.Store(clinic) as cs:
        assert len(cs.patient_sets(pid)) == 2


def test_an_unknown_patient_is_added_and_said_so(tmp_path, run_cli):
    home, clinic, out = tmp_path / "home.db", tmp_path / "clinic.db", tmp_path / "sets.json"
    _home(home, patient="P-12")
    _clinic(clinic)
    assert run_cli("export-sets", "--db", home, "--out", out, "--patient", "p-12").code == 0
    res = run_cli("import-sets", out, "--db", clinic)
    assert res.code == 0 and "new patient 'P-12' added" in res.out
    assert "prescription is not in the workspace" in res.out  # plan #1 is Ann's, not P-12's
    with S.Store(clinic) as cs:
        p = cs.patient_by_name("P-12")
        assert p is not None and len(cs.patient_sets(p.id)) == 2
        assert all(s["prescription_id"] is None for s in cs.patient_sets(p.id))


def test_the_newer_analysis_of_a_video_is_kept_on_either_side(tmp_path):
    home, clinic = tmp_path / "home.db", tmp_path / "clinic.db"
    _home(home)
    pid, _ = _clinic(clinic)
    r = make_result(n_reps=1)
    with S.Store(clinic) as cs:  # the workspace analysed the same video, earlier
        old = S.SetRecorder.begin(cs, "squat", "c.mp4", VIDEO_SHA, patient_id=pid)
        old.finish(r.metrics, document=json.dumps({"n": "clinic"}))
        cs.set_details(old.set_id, pain=5)
        cs.conn.execute("UPDATE sets SET started_at = '2000-01-01T00:00:00+00:00'")
        doc = T.export_document(S.Store(home))
        summary = T.import_document(cs, doc)
        assert (summary.added, summary.replaced) == (1, 1)
        sets = cs.patient_sets(pid)
        assert old.set_id not in {s["id"] for s in sets} and len(sets) == 2
        video = next(s for s in sets if s["source_sha256"] == VIDEO_SHA)
        assert cs.get_set(video["id"])["document"] == {"n": "video"}  # type: ignore[index]
        # The home analysis is now the older one: exporting it again changes nothing.
        cs.conn.execute("UPDATE sets SET started_at = '2100-01-01T00:00:00+00:00' WHERE id = ?",
                        (video["id"],))
        again = T.import_document(cs, doc)
        assert (again.added, again.replaced, again.skipped) == (0, 0, 2)


def _export(tmp_path: Path) -> dict:
    home = tmp_path / "home.db"
    _home(home)
    with S.Store(home) as hs:
        return T.export_document(hs)


@pytest.mark.parametrize("mutate, needle", [
    (lambda d: d.update(format="other"), "not a formcoach sets export"),
    (lambda d: d.update(version=99), "newer than this formcoach"),
    (lambda d: d["sets"][1].update(pain=11), "set 2: pain must be a whole number 0..10"),
    (lambda d: d["sets"][1].update(status="running"), "set 2: status"),
    (lambda d: d["sets"][1]["reps"][0].update(rom_deg="x"), "set 2, rep 1"),
    (lambda d: d["sets"][0]["session"].update(source_sha256="zz"), "64 hex"),
    (lambda d: d["sets"][0].update(recorded_at="yesterday"), "ISO time"),
    # NaN / Infinity tokens (or 1e999) parse, but the database keeps strict JSON: they were an
    # internal ValueError half-way through the import.
    (lambda d: d["sets"][1].update(angles={"knee": [1.0, float("nan")]}),
     "set 2: angles holds a number that is not finite"),
    (lambda d: d["sets"][1].update(document={"reps": [{"rom": float("inf")}]}),
     "set 2: document holds a number that is not finite"),
    (lambda d: d["sets"][1]["reps"][0]["metrics"].update(x=float("-inf")),
     "set 2, rep 1: metrics holds a number that is not finite"),
])
def test_a_bad_export_is_one_line_and_imports_nothing(tmp_path, run_cli, mutate, needle):
    doc = _export(tmp_path)
    mutate(doc)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    clinic = tmp_path / "clinic.db"
    assert_one_line_error(run_cli("import-sets", bad, "--db", clinic), needle)
    with S.Store(clinic) as cs:
        assert cs.list_sets() == [] and cs.patients() == []


def test_a_deeply_nested_file_is_one_line(tmp_path, run_cli):
    """json.loads recursed past Python's limit: an internal RecursionError."""
    deep = tmp_path / "deep.json"
    head = json.dumps({"format": T.FORMAT, "version": 1, "patients": [], "prescriptions": []})
    deep.write_text(head[:-1] + ', "sets": ' + "[" * 100_000 + "]" * 100_000 + "}")
    clinic = tmp_path / "c.db"
    assert_one_line_error(run_cli("import-sets", deep, "--db", clinic),
                          "not a formcoach sets export", "nested 100001 levels")
    with S.Store(clinic) as cs:
        assert cs.list_sets() == []


def test_a_device_is_read_capped(tmp_path, run_cli, monkeypatch):
    """'import-sets /dev/zero' read until memory ran out (an internal MemoryError); a device
    reports size 0, so only a capped read stops it."""
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero here")
    monkeypatch.setattr(T, "MAX_FILE_BYTES", 1 << 20)
    assert_one_line_error(run_cli("import-sets", "/dev/zero", "--db", tmp_path / "c.db"),
                          "/dev/zero is larger than 1 MB")


def test_a_cut_short_or_missing_file_is_one_line(tmp_path, run_cli):
    home, out = tmp_path / "home.db", tmp_path / "sets.json"
    _home(home)
    assert run_cli("export-sets", "--db", home, "--out", out).code == 0
    cut = tmp_path / "cut.json"
    cut.write_bytes(out.read_bytes()[: out.stat().st_size // 2])
    assert_one_line_error(run_cli("import-sets", cut, "--db", tmp_path / "c.db"), "cut short")
    assert_one_line_error(run_cli("import-sets", tmp_path / "nope.json", "--db",
                                  tmp_path / "c.db"), "no such file")
    binary = tmp_path / "b.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    assert_one_line_error(run_cli("import-sets", binary, "--db", tmp_path / "c.db"),
                          "not a formcoach sets export")
    missing = tmp_path / "none.db"
    assert_one_line_error(run_cli("export-sets", "--db", missing, "--out", out),
                          "no sets saved yet")
    assert not missing.exists()
    assert_one_line_error(run_cli("export-sets", "--db", home, "--out", out, "--patient", "X"),
                          "no patient called")


def test_a_failure_half_way_rolls_the_whole_import_back(tmp_path, monkeypatch):
    doc = _export(tmp_path)
    clinic = tmp_path / "clinic.db"
    real = T._import_one
    calls = []

    def failing(store, s, pid, home_rx, out):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 2:
            raise StoreError("disk full (simulated)")
        real(store, s, pid, home_rx, out)

    monkeypatch.setattr(T, "_import_one", failing)
    with S.Store(clinic) as cs:
        with pytest.raises(StoreError, match="simulated"):
            T.import_document(cs, doc)
        assert cs.list_sets() == [] and cs.patients() == []  # the new patient went too
        monkeypatch.setattr(T, "_import_one", real)
        assert T.import_document(cs, doc).added == 2


def test_read_export_rejects_what_is_not_an_object(tmp_path):
    with pytest.raises(InputError, match="not a formcoach sets export"):
        T.read_export(b"[1, 2]", "x.json")


def test_a_live_plan_set_at_home_keeps_the_workspace_prescription_id(tmp_path):
    from types import SimpleNamespace

    from formcoach.cli.live import _RepByRepSaver

    db = tmp_path / "home.db"
    saver = _RepByRepSaver(db, "squat", "camera:0",
                           SimpleNamespace(name="fake", model_sha256=""),  # type: ignore[arg-type]
                           "Ann", 7)
    saver.close()
    with S.Store(db) as st:
        row = st.conn.execute("SELECT prescription_id, plan_prescription_id FROM sets").fetchone()
    assert tuple(row) == (None, 7)  # not in this database, kept for the way back
