"""Honest coverage and attempts through the one session loop, on exact synthetic poses.

A rep no rule could be judged on is "not judged" everywhere (no praise, no fault points, never
clean); asymmetry only from front/back views; a dip short of a rep is an attempt.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fake_result import make_result

from formcoach import synth
from formcoach.coach.coverage import better_view, not_judged_reasons, view_advice
from formcoach.coach.offline import analyze_stream
from formcoach.coach.result import SessionResult
from formcoach.coach.setup_gate import GUIDANCE, SetupChecker
from formcoach.errors import ConfigError
from formcoach.exercises import Exercise, load_exercise
from formcoach.metrics import apply_coverage, score_reps
from formcoach.overlay import OverlayState, draw_overlay
from formcoach.pose.stream import replay_track
from formcoach.report.document import session_document
from formcoach.report.html import build_html
from formcoach.report.tables import rep_csv_text
from formcoach.rules.engine import parse_rules
from formcoach.synth.spec import FaultSpec
from formcoach.types import NS_PER_S, PoseTrack, frame_time_ns

SQUAT = Path(__file__).resolve().parents[2] / "formcoach" / "exercises" / "squat.toml"


def _track(view: str = "side", faults: tuple[FaultSpec, ...] = ()) -> PoseTrack:
    spec = synth.SynthSpec(name="t", exercise="squat", view=view, reps=4, faults=faults)
    poses, fps, _ = synth.truth_poses(spec)
    n = len(poses)
    t = np.array([frame_time_ns(i, fps) for i in range(n)], dtype=np.int64)
    return PoseTrack(poses, np.full((n, 33, 3), np.nan), t, fps, (640, 480))


def _analyze(track: PoseTrack, ex: Exercise, view: str | None = None) -> SessionResult:
    return analyze_stream(replay_track(track), ex, fps=track.fps, backend="exact",
                          source="synthetic", image_size=track.image_size, view=view,
                          praise="good rep")


def _pack(tmp_path: Path, text: str) -> Exercise:
    p = tmp_path / "pack.toml"
    p.write_text(text)
    return load_exercise(p)


def _back_only_squat(tmp_path: Path) -> Exercise:
    """The squat pack with every rule judged only from behind."""
    head, sep, rules = SQUAT.read_text().partition("[[rules]]")
    return _pack(tmp_path, head + sep + re.sub(r"(?m)^views = .*$", 'views = ["back"]', rules))


def test_reps_seen_where_no_rule_works_are_not_judged_everywhere(tmp_path: Path) -> None:
    res = _analyze(_track("side"), _back_only_squat(tmp_path))
    sm = res.metrics
    assert res.rep_count == 4 and not res.faults
    assert all(not r.judged for r in sm.reps)
    assert all("faults" not in r.score_components for r in sm.reps)  # no fault points
    assert not [c for c in res.cues if c.rule_id == "praise"]  # never "good rep"
    assert sm.clean_reps == 0 and np.isnan(sm.technique_score)
    assert sm.not_judged["depth"] == "needs a back view; seen from the side"
    lines = res.summary_lines()
    assert lines[1].startswith("not judged: ")  # at the top, not the bottom
    assert "clean reps: 0/4 (4 not judged)" in lines
    doc: Any = json.loads(json.dumps(session_document(res)))
    assert doc["coverage"]["judged_reps"] == 0 and doc["coverage"]["technique_score"] is None
    assert all(e["judged"] is False for e in doc["rep_events"])
    html = build_html(res)
    assert html.index("needs a back view") < html.index("Joint angles over time")
    rows = rep_csv_text(sm).splitlines()
    judged = rows[0].split(",").index("judged")
    assert [r.split(",")[judged] for r in rows[1:]] == ["0"] * 4


def test_judged_clean_reps_are_praised_and_keep_their_fault_points() -> None:
    res = _analyze(_track("side"), load_exercise("squat"))
    sm = res.metrics
    assert all(r.judged for r in sm.reps)
    assert all("faults" in r.score_components for r in sm.reps)
    clean = [r for r in sm.reps if not r.faults]
    assert clean and sm.clean_reps == len(clean)
    assert [c for c in res.cues if c.rule_id == "praise"]
    assert "knee_valgus" in sm.not_judged and "knee_valgus" in sm.reps[0].not_judged


def test_asymmetry_is_measured_only_from_front_or_back() -> None:
    res = make_result()  # right leg bends 0.9 x the left: about 10% asymmetry
    reps = res.metrics.reps
    front, side = reps[0], reps[1]
    assert np.isfinite(front.max_asymmetry_pct) and np.isfinite(side.max_asymmetry_pct)
    apply_coverage(front, "front", True, [])
    apply_coverage(side, "side", True, [])
    score_reps(reps)
    assert np.isfinite(front.max_asymmetry_pct) and "symmetry" in front.score_components
    assert np.isnan(side.max_asymmetry_pct) and "symmetry" not in side.score_components


def test_reps_not_judged_are_left_out_of_the_technique_score() -> None:
    # A jumping jack at 45 degrees: the arms can be seen to stop short there, but not to reach
    # overhead, so the full reps are not judged; the short ones are faults.
    from formcoach.metrics import SetMetrics

    res = _analyze(_track("side"), load_exercise("squat"))
    sm = res.metrics
    assert len(sm.reps) == 4 and all(r.judged for r in sm.reps)
    mixed = dataclasses.replace(sm, reps=[dataclasses.replace(r, judged=i < 2)
                                          for i, r in enumerate(sm.reps)])
    assert isinstance(mixed, SetMetrics)
    assert mixed.judged_performed == 2 + len(sm.attempts)
    assert mixed.technique_score == pytest.approx(
        sum(1 for r in sm.reps[:2] if not r.faults) / mixed.judged_performed)
    res.metrics = mixed
    line = next(x for x in res.technique_lines() if x.startswith("technique: "))
    assert f"/{mixed.judged_performed} = " in line and "2 not judged left out" in line


def test_a_shallow_try_is_an_attempt_with_its_cue_and_technique_score() -> None:
    shallow = (FaultSpec("shallow_squat", reps=(2,), severity=1.5),)
    res = _analyze(_track("side", shallow), load_exercise("squat"))
    assert res.rep_count == 3  # counting is unchanged: the try is not a rep
    assert len(res.attempts) == 1 and res.metrics.attempts == res.attempts
    a = res.attempts[0]
    assert 0.4 <= a.reached_frac < 1.0
    cue = [c for c in res.cues if c.rule_id == "attempt"]
    assert len(cue) == 1 and cue[0].text == "that one didn't count"
    assert cue[0].emit_t_ns - res.rel_s(a.end_ns) * NS_PER_S < 0.5 * NS_PER_S
    sm = res.metrics
    assert sm.performed == 4 and sm.technique_score == pytest.approx(sm.clean_reps / 4)
    doc: Any = json.loads(json.dumps(session_document(res)))
    assert len(doc["attempt_events"]) == 1 and doc["coverage"]["performed"] == 4
    assert any(line.startswith("not counted: at ") for line in res.summary_lines())


def test_a_dip_while_walking_is_not_an_attempt() -> None:
    """Re-racking: the knees dip like a quarter squat, but the hips travel sideways."""
    shallow = (FaultSpec("shallow_squat", reps=(2,), severity=1.5),)
    track = _track("side", shallow)
    plain = _analyze(track, load_exercise("squat"))
    a = plain.attempts[0]
    torso = float(np.nanmedian(np.linalg.norm(track.poses[:, 11, :2] - track.poses[:, 23, :2],
                                              axis=1)))
    n = a.end_frame - a.start_frame + 1
    walk = np.zeros(len(track))
    walk[a.start_frame: a.end_frame + 1] = np.linspace(0.0, 0.6 * torso, n)
    walk[a.end_frame + 1:] = 0.6 * torso
    track.poses[:, :, 0] += walk[:, None]
    res = _analyze(track, load_exercise("squat"))
    assert res.rep_count == plain.rep_count and not res.attempts


def test_a_pack_without_attempt_cue_reports_attempts_silently(tmp_path: Path) -> None:
    text = SQUAT.read_text()
    ex = _pack(tmp_path, re.sub(r"(?m)^attempt_cue = .*$", "", text))
    assert ex.attempt_cue == ""
    res = _analyze(_track("side", (FaultSpec("shallow_squat", reps=(2,), severity=1.5),)), ex)
    assert len(res.attempts) == 1 and not [c for c in res.cues if c.rule_id == "attempt"]


def test_attempt_cue_needs_a_rep_exercise(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="attempt_cue"):
        _pack(tmp_path, 'id = "h"\nkind = "hold"\nattempt_cue = "x"\n')


def test_view_advice_names_the_unjudged_rules_and_the_better_view() -> None:
    rules = parse_rules(load_exercise("squat").rules_raw)
    advice = view_advice(rules, "front")
    assert advice.startswith("filmed from the front: depth") and advice.endswith("the side")
    assert view_advice(rules, "side") == ""
    assert better_view("front", [r.views for r in rules]) == "side"
    why = not_judged_reasons(rules, {0: {"depth": "ok"}, 1: {}}, {0: "side", 1: "front"}, "side")
    assert why["depth"] == "needs a side or 45-degree view; seen from the front (reps 2)"


def _setup_frame() -> tuple[np.ndarray, np.ndarray]:
    poses, _, _ = synth.truth_poses(synth.SynthSpec(name="t", exercise="squat", view="front",
                                                    reps=1))
    rng = np.random.default_rng(0)
    return rng.integers(68, 189, size=(480, 640, 3), dtype=np.uint8), poses[0].copy()


def test_setup_asks_for_the_view_the_rules_need_without_holding_the_set_back() -> None:
    img, pose = _setup_frame()
    ck = SetupChecker(hold_s=0.5, rule_views=[("side",), ("side", "45"), ("front", "back")])
    st = ck.update(img, pose, 0, view="front")
    assert st.problems == ["view_side"] and st.message == GUIDANCE["view_side"]
    t = 0
    while not ck.passed and t < 5 * NS_PER_S:
        t += NS_PER_S // 30
        ck.update(img, pose, t, view="front")
    # The reps can be counted from the front: the usual 0.5 s hold, the advice kept for "ready".
    assert ck.passed and 0.5 * NS_PER_S <= t <= 0.6 * NS_PER_S
    assert ck.advice == GUIDANCE["view_side"]
    side = SetupChecker(hold_s=0.0, rule_views=[("side",), ("side", "45")])
    assert side.update(img, pose, 0, view="side").ok and side.advice is None


def test_setup_stops_waiting_on_what_the_counter_can_live_with() -> None:
    img, pose = _setup_frame()
    feet = pose.copy()
    feet[[27, 28, 29, 30, 31, 32], 1] = img.shape[0] + 20.0  # below the picture
    ck = SetupChecker(hold_s=0.5, patience_s=2.0)
    t = 0
    while not ck.passed and t < 5 * NS_PER_S:
        st = ck.update(img, feet, t, view="side")
        if not ck.passed:
            assert st.problems[0] == "feet_cut" and ck.holding
        t += NS_PER_S // 30
    assert ck.passed and 2.0 * NS_PER_S <= t <= 2.1 * NS_PER_S
    assert ck.advice_code == "feet_cut" and ck.advice == GUIDANCE["feet_cut"]
    # Darkness or nobody in view is waited on for as long as it lasts.
    dark = SetupChecker(hold_s=0.5, patience_s=2.0)
    for k in range(200):
        dark.update(np.zeros_like(img), pose, k * NS_PER_S // 30, view="side")
    nobody = SetupChecker(hold_s=0.5, patience_s=2.0)
    for k in range(200):
        nobody.update(img, None, k * NS_PER_S // 30, view="side")
    assert not dark.passed and not dark.holding and not nobody.passed


def test_the_live_screen_lists_what_is_not_judged_at_the_top() -> None:
    img = np.zeros((480, 640, 3), dtype=np.uint8)
    plain = draw_overlay(img, OverlayState(exercise="Squat", rep_count=2))
    warned = draw_overlay(img, OverlayState(exercise="Squat", rep_count=2,
                                            not_judged=["depth: needs a side view"]))
    rows = np.nonzero((warned != plain).any(axis=(1, 2)))[0]
    assert rows.size and rows.min() < 100  # drawn in the top lines of the panel


def test_the_live_frame_update_carries_the_reasons(tmp_path: Path) -> None:
    from formcoach.coach.session import FrameUpdate, SessionSinks

    seen: list[list[str]] = []

    def on_frame(u: FrameUpdate) -> None:
        seen.append(list(u.not_judged))

    track = _track("side")
    analyze_stream(replay_track(track), _back_only_squat(tmp_path), fps=track.fps,
                   backend="exact", source="synthetic", sinks=SessionSinks(on_frame=on_frame))
    # short, in words, for a screen read from the mat (the report gives where it was seen)
    assert seen and seen[-1] == ["Depth, knee valgus, torso lean, heel lift, knee past toes: "
                                 "needs a back view"]


def test_screen_lines_name_faults_in_words_one_line_per_reason() -> None:
    from formcoach.coach.coverage import screen_lines

    assert screen_lines({
        "depth": "needs a side or 45-degree view; seen from the front",
        "torso_lean": "needs a side view; seen from the front",
        "heel_lift": "needs a side view; seen from the front",
        "knee_valgus": "its joints were not visible enough (reps 2, 3)",
    }) == ["Depth: needs a side or 45-degree view", "Torso lean, heel lift: needs a side view",
           "Knee valgus: joints not in sight"]


def test_the_summary_says_on_which_reps_asymmetry_was_measured() -> None:
    res = make_result()
    for rm, view in zip(res.metrics.reps, ["front", "side", "45", "back"], strict=True):
        apply_coverage(rm, view, True, [])
    assert "left/right asymmetry: measured only on reps 1, 4 (front or back view)" in (
        res.coverage_lines())
    for rm in res.metrics.reps:
        apply_coverage(rm, "side", True, [])
    assert "left/right asymmetry: not measured from this view (needs front or back)" in (
        res.coverage_lines())


def test_before_the_first_rep_only_rules_the_view_rules_out_are_listed() -> None:
    rules = parse_rules(load_exercise("squat").rules_raw, "squat")
    why = not_judged_reasons(rules, {}, {}, "front")
    assert "knee_valgus" not in why  # a front rule, just not judged yet
    assert why["depth"].startswith("needs a side or 45-degree view")


def test_a_rule_on_the_silhouette_says_the_back_was_not_read_not_the_joints() -> None:
    from formcoach.coach.coverage import screen_lines

    rules = parse_rules(load_exercise("deadlift").rules_raw)
    status = {0: {"rounded_back": "not_assessed", "hips_rise_first": "ok"}}
    why = not_judged_reasons(rules, status, {0: "side"}, "side")
    assert why["rounded_back"].startswith("the back's outline was not read")
    assert "formcoach poses --silhouette" in why["rounded_back"]  # how a saved track gets one
    assert screen_lines({"rounded_back": why["rounded_back"]}) == [
        "Rounded back: back outline not read"]
    # From the front the view is the reason, as for any rule.
    assert why != not_judged_reasons(rules, status, {0: "front"}, "front")
    assert not_judged_reasons(rules, status, {0: "front"}, "front")["rounded_back"].startswith(
        "needs a side view")


def test_the_live_screen_does_not_call_a_lockout_unjudged_before_the_top_is_reached() -> None:
    # A push-up is counted on its way up; its lockout is judged once the arms are back at the
    # top. Until then the screen must not say "Not judged: ... joints not in sight".
    from formcoach.coach.session import FrameUpdate, SessionSinks

    spec = synth.SynthSpec(name="t", exercise="pushup", view="side", reps=3)
    poses, fps, _ = synth.truth_poses(spec)
    n = len(poses)
    t = np.array([frame_time_ns(i, fps) for i in range(n)], dtype=np.int64)
    track = PoseTrack(poses, np.full((n, 33, 3), np.nan), t, fps, (640, 480))
    seen: list[tuple[int, list[str]]] = []

    def on_frame(u: FrameUpdate) -> None:
        seen.append((u.rep_count, list(u.not_judged)))

    res = analyze_stream(replay_track(track), load_exercise("pushup"), fps=fps, backend="exact",
                         source="synthetic", sinks=SessionSinks(on_frame=on_frame))
    assert res.rep_count == 3
    assert any(reps > 0 for reps, _ in seen)
    assert not [lines for reps, lines in seen if any("lockout" in ln.lower() for ln in lines)]
    assert "no_lockout" not in res.metrics.not_judged  # judged on every rep in the end
