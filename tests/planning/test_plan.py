"""``formcoach plan``: the TOML rules, the decisions and their reasons, and the whole loop
through the CLI (analyze --rir / --to-failure, mark, plan) on synthetic sets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from formcoach import planning as P
from formcoach.synth import SynthSpec
from formcoach.synth.core import truth_poses
from formcoach.types import PoseTrack, frame_time_ns


def _summary(i: int, vl: float, reps: int = 8, fault_reps: int = 0, kinds=(),
             rir: int | None = None) -> P.SetSummary:
    return P.SetSummary(i, f"2026-01-{i:02d}", reps, fault_reps, vl, list(kinds), rir)


RULES = P.load_rules()


def test_the_bundled_rules_load_and_name_known_metrics():
    assert P.default_rules_path().is_file()
    assert RULES.recent_sets >= 1
    for group in (RULES.back_off, RULES.hold, RULES.progress):
        assert group and all(c.metric in P.METRICS for c in group)


def test_clean_sets_stopped_early_progress_with_a_reason_per_condition():
    plan = P.plan_next([_summary(i, 12.0) for i in range(1, 5)], RULES, "squat")
    assert plan.decision == "progress" and len(plan.reasons) == len(RULES.progress)
    assert any("stopped early" in r and "12%" in r for r in plan.reasons)
    assert plan.lines()[0].startswith("next squat session: progress: ")


def test_borderline_holds_and_faults_or_rising_vl_back_off():
    hold = P.plan_next([_summary(i, 25.0) for i in range(1, 4)], RULES, "squat")
    assert hold.decision == "hold" and any("25%" in r for r in hold.reasons)
    faults = P.plan_next([_summary(i, 12.0, fault_reps=4) for i in range(1, 4)], RULES, "squat")
    assert faults.decision == "back_off" and any("form faults on 50%" in r for r in faults.reasons)
    rising = [_summary(1, 10.0), _summary(2, 12.0), _summary(3, 11.0),
              _summary(4, 25.0), _summary(5, 28.0), _summary(6, 30.0)]
    back = P.plan_next(rising, RULES, "squat")
    assert back.decision == "back_off" and any("rose 17 points" in r for r in back.reasons)
    late = P.plan_next([_summary(i, 12.0, kinds=["fault"]) for i in range(1, 4)], RULES, "squat")
    assert late.decision == "hold" and any("appeared late" in r for r in late.reasons)


def test_unknown_velocity_cannot_progress_and_says_why():
    plan = P.plan_next([_summary(i, float("nan")) for i in range(1, 4)], RULES, "situp")
    assert plan.decision == "hold"
    assert any(r.startswith("not known: mean final velocity loss") for r in plan.reasons)
    assert P.plan_next([], RULES, "squat").decision == ""


@pytest.mark.parametrize(("text", "needle"), [
    ("recent_sets = 0\n", "recent_sets"),
    ("recent_sets = 3\n[hold]\n[back_off]\n", "missing table [progress]"),
    ("[hold]\n[back_off]\n[progress]\nall = [{metric='x', op='<', value=1, reason='r'}]\n",
     "unknown metric 'x'"),
    ("[hold]\n[back_off]\n[progress]\nall = [{metric='rir', op='=', value=1, reason='r'}]\n",
     "op must be"),
    ("[hold]\n[back_off]\n[progress]\nall = [{metric='rir', op='<', value=1, reason='{x}'}]\n",
     "only {value} and {limit}"),
    ("[hold]\n[back_off]\n[progress]\nall = []\n", "at least one condition"),
    # A NaN/inf limit never holds and a huge integer overflowed float(): refused.
    ("[hold]\n[back_off]\n[progress]\nall = [{metric='rir', op='<', value=nan, reason='r'}]\n",
     "value must be a finite number, got nan"),
    ("[hold]\n[back_off]\n[progress]\nall = [{metric='rir', op='<', value=-inf, reason='r'}]\n",
     "value must be a finite number"),
    ("[hold]\n[back_off]\n[progress]\nall = [{metric='rir', op='<', value=1" + "0" * 400
     + ", reason='r'}]\n", "value must be a finite number"),
    # '{value[0]}' was a TypeError (an internal error); '{value.__class__}' was accepted.
    ("[hold]\n[back_off]\n[progress]\nall = [{metric='rir', op='<', value=1, "
     "reason='{value[0]}'}]\n", "only {value} and {limit}"),
    ("[hold]\n[back_off]\n[progress]\nall = [{metric='rir', op='<', value=1, "
     "reason='{value.__class__}'}]\n", "only {value} and {limit}"),
    ("[hold]\n[back_off]\n[progress]\nall = [{metric='rir', op='<', value=1, reason=3}]\n",
     "reason must be text"),
    ("[hold]\nsuggestion = 5\n[back_off]\n[progress]\n"
     "all = [{metric='rir', op='<', value=1, reason='r'}]\n", "suggestion must be text"),
    ("[hold\n", "not valid TOML"),
    # tomllib's RecursionError / ValueError were internal errors.
    ("x = " + "[" * 50_000 + "]" * 50_000 + "\n", "not valid TOML: unreadable value"),
    ("recent_sets = " + "1" * 5000 + "\n", "not valid TOML: unreadable value"),
    ("x = '" + "a" * 300_000 + "'\n", "larger than 256 KiB"),
    ("colour = 1\n", "unknown key 'colour'"),
])
def test_bad_rules_are_one_line_errors(tmp_path, run_cli, text, needle):
    from conftest import assert_one_line_error

    f = tmp_path / "rules.toml"
    f.write_text(text)
    res = run_cli("plan", "--exercise", "squat", "--rules", f, "--db", tmp_path / "none.db")
    assert_one_line_error(res, needle)


def test_rules_from_a_device_are_capped(tmp_path, run_cli):
    """'--rules /dev/zero' read until memory ran out (an internal MemoryError)."""
    from conftest import assert_one_line_error

    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero here")
    assert_one_line_error(run_cli("plan", "--exercise", "squat", "--rules", "/dev/zero", "--db",
                                  tmp_path / "none.db"), "/dev/zero is larger than 256 KiB")


def _track(path: Path, seed: int, vl: float) -> Path:
    spec = SynthSpec(name="p", exercise="squat", view="side", reps=8, seed=seed,
                     velocity_loss=vl, landmark_noise_px=0.5)
    poses, fps, _ = truth_poses(spec)
    n = len(poses)
    PoseTrack(poses, np.full((n, 33, 3), np.nan),
              np.array([frame_time_ns(i, fps) for i in range(n)], dtype=np.int64), fps,
              (spec.width, spec.height), backend="synth").save(path)
    return path


def test_marks_fit_a_profile_and_plan_uses_the_history(tmp_path, run_cli):
    db = tmp_path / "s.db"
    outs = []
    for i, (vl, mark) in enumerate([(10.0, ["--rir", "4"]), (30.0, ["--rir", "2"]),
                                    (50.0, []), (20.0, [])]):
        t = _track(tmp_path / f"t{i}.npz", i, vl)
        res = run_cli("analyze", "--poses", t, "-e", "squat", "--db", db, "--no-progress", *mark)
        assert res.code == 0, res.err
        outs.append(res.out)
        if i == 2:  # marked after the fact, as after a live set
            assert "2 of the 3 needed sets with a known end" in res.out  # too little history: says so
            res = run_cli("mark", "3", "--to-failure", "--db", db)
            assert res.code == 0, res.err
            assert "set 3 marked: to failure" in res.out and "profile (3 marked sets)" in res.out
    assert "set 1 marked: 4 reps in reserve" in outs[0]
    assert "reps in reserve: about" in outs[3] and "(90% " in outs[3]
    js = tmp_path / "plan.json"
    res = run_cli("plan", "--exercise", "squats", "--db", db, "--json", js)
    assert res.code == 0, res.err
    doc = json.loads(js.read_text())
    assert doc["decision"] in P.DECISIONS and doc["sets"] == [2, 3, 4]
    assert doc["reasons"] and all(line in res.out for line in doc["reasons"])
    assert "profile (3 marked sets)" in doc["rir"][0]
    # every set's end: the three marked as marked, the fourth estimated with its interval
    rows = {r["set_id"]: r for r in doc["set_rows"]}
    assert [rows[i]["rir_marked"] for i in (1, 2, 3)] == [4, 2, 0] and rows[3]["to_failure"]
    est = rows[4]
    assert est["rir_marked"] is None and est["rir_low"] <= est["rir_estimate"] <= est["rir_high"]
    assert f"about {est['rir_estimate']:.1f}" in outs[3]  # the number analyze printed
    csv_path, html = tmp_path / "plan.csv", tmp_path / "progress.html"
    assert run_cli("plan", "-e", "squat", "--db", db, "--csv", csv_path).code == 0
    lines = csv_path.read_text().splitlines()
    assert lines[0].startswith("set_id,started_at,reps,fault_reps,final_vl_pct,rir_marked")
    assert len(lines) == 5 and lines[4].split(",")[7] == str(est["rir_estimate"])
    res = run_cli("report", "--history", "--exercise", "squat", "--db", db, html)
    assert res.code == 0, res.err
    page = html.read_text()
    assert f"next squat session: {doc['decision'].replace('_', ' ')}" in page
    assert "reps in reserve (90%)" in page and "to failure" in page


def test_mark_and_plan_errors_are_one_line(tmp_path, run_cli):
    from conftest import assert_one_line_error

    db = tmp_path / "none.db"
    assert_one_line_error(run_cli("mark", "1", "--rir", "2", "--db", db), "no sets saved yet")
    assert not db.exists()
    res = run_cli("plan", "--exercise", "squat", "--db", db)
    assert res.code == 0 and "nothing to plan from" in res.out and not db.exists()
    t = _track(tmp_path / "t.npz", 1, 20.0)
    assert_one_line_error(run_cli("analyze", "--poses", t, "-e", "squat", "--no-save",
                                  "--rir", "1"), "drop --no-save")
    assert_one_line_error(run_cli("analyze", "--poses", t, "-e", "squat", "--rir", "40"),
                          "0..30")
    assert_one_line_error(run_cli("plan", "--exercise", "nope"), "nope")
