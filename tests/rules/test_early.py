"""Early judgement: a rep's rules judged while it is under way (RulesEngine.on_progress), the
same final faults as the reference that judges only at the count, and cues that come sooner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SAMPLES
from fakes import sample_track

from formcoach.clock import FakeClock, FrameClock
from formcoach.coach.offline import make_coach
from formcoach.coach.result import SessionResult
from formcoach.coach.session import run_session
from formcoach.cues.scheduler import CueScheduler
from formcoach.cues.speech import NullSpeaker, TextSpeaker
from formcoach.exercises import load_exercise
from formcoach.pose.stream import replay_track
from formcoach.rules.engine import grows_with_window, parse_rules
from formcoach.types import Fault, PoseTrack, RepProgress

NAMES = [Path(c["file"]).stem for c in json.loads((SAMPLES / "manifest.json").read_text())["clips"]]


def _run(track: PoseTrack, exercise: str, early: bool) -> SessionResult:
    clock = FrameClock()
    return run_session(replay_track(track), make_coach(load_exercise(exercise), track.fps,
                                                       early=early),
                       CueScheduler(clock), NullSpeaker(), clock, fps=track.fps,
                       backend="synthetic", source="t")


@pytest.mark.parametrize("name", NAMES)
def test_the_final_faults_are_those_of_the_reference(name: str, tmp_path: Path) -> None:
    """Streaming with early judgement and the count-time reference agree exactly."""
    truth = json.loads((SAMPLES / f"{name}.json").read_text())
    track = PoseTrack.load(sample_track(name, tmp_path / "t.npz"))
    ref, early = (_run(track, truth["exercise"], e) for e in (False, True))

    def key(res: SessionResult) -> list[tuple[object, ...]]:
        return [(f.rule_id, f.rep_index, f.frame_index, f.t_ns, f.value) for f in res.faults]

    assert key(early) == key(ref)
    # every cue early judgement spoke is about a fault that stands (none was retracted)
    standing = {f.rule_id for f in early.faults}
    assert {c.rule_id for c in early.cues} <= standing | {"praise"}


def test_a_sagging_pushup_is_told_before_the_rep_is_counted(tmp_path: Path) -> None:
    track = PoseTrack.load(sample_track("pushup_45_sag_lockout", tmp_path / "t.npz"))
    ref, early = (_run(track, "pushup", e) for e in (False, True))
    cue_ref = next(c for c in ref.cues if c.rule_id == "hip_sag")
    cue_early = next(c for c in early.cues if c.rule_id == "hip_sag")
    rep = next(r for r in early.reps if r.index == next(
        f.rep_index for f in early.faults if f.rule_id == "hip_sag"))
    assert cue_early.emit_t_ns < cue_ref.emit_t_ns
    assert cue_early.emit_t_ns - early.start_ns < rep.counted_ns - early.start_ns


def test_only_rules_a_growing_window_confirms_are_judged_early() -> None:
    rules = {r.id: r for r in parse_rules(load_exercise("squat").rules_raw, "squat")}
    assert grows_with_window(rules["knee_past_toes"])  # max > limit: never un-violated
    assert not grows_with_window(rules["depth"])  # min > limit: a rep still going down
    rules = {r.id: r for r in parse_rules(load_exercise("pushup").rules_raw, "pushup")}
    assert grows_with_window(rules["hip_sag"]) and not grows_with_window(rules["no_lockout"])


def test_a_withdrawn_fault_is_never_spoken() -> None:
    clock = FakeClock()
    sched = CueScheduler(clock)
    f = Fault("hip_sag", "pushup", "hips up", 2, 0, 0, -0.1, -0.05)
    assert sched.submit(f)
    assert sched.withdraw(f) and sched.poll() is None
    assert not sched.withdraw(f)  # nothing left to take back


def test_a_sag_held_on_the_descent_is_told_before_the_bottom(tmp_path: Path) -> None:
    """A 10th-percentile rule is judged on the descent at twice its weight (the 20th), so the
    sag is cued on the way down, not at the turnaround."""
    track = PoseTrack.load(sample_track("pushup_45_sag_lockout", tmp_path / "t.npz"))
    early = _run(track, "pushup", True)
    fault = next(f for f in early.faults if f.rule_id == "hip_sag")
    rep = next(r for r in early.reps if r.index == fault.rep_index)
    cue = next(c for c in early.cues if c.rule_id == "hip_sag")
    assert cue.emit_t_ns < rep.bottom_ns


def test_a_clean_squat_through_the_pose_model_hears_no_fault() -> None:
    """Through the pose model the walk-in before the first rep lifts the heels; the rep under
    way is judged from the top it left, so no "keep your heels down" is said (and retracted)
    on a clean set."""
    from formcoach.coach.offline import analyze_video

    res = analyze_video(SAMPLES / "squat_side_clean.mp4", load_exercise("squat"))
    assert res.rep_count == 3
    assert res.faults == []
    rules = {r.id for r in parse_rules(load_exercise("squat").rules_raw, "squat")}
    assert not [c.text for c in res.cues if c.rule_id in rules]



def test_a_curl_short_of_its_range_is_told_at_the_turnaround(tmp_path: Path) -> None:
    """A "must reach" rule on the counting signal over the whole rep (the curl's range) is
    decided at the turnaround, before the count."""
    track = PoseTrack.load(sample_track("bicep_curl_side_partial_swing", tmp_path / "t.npz"))
    ref, early = (_run(track, "bicep_curl", e) for e in (False, True))
    short = next(f for f in early.faults if f.rule_id == "partial_rom")
    rep = next(r for r in early.reps if r.index == short.rep_index)
    cue = next(c for c in early.cues if c.rule_id == "partial_rom")
    ref_cue = next(c for c in ref.cues if c.rule_id == "partial_rom")
    assert cue.emit_t_ns < ref_cue.emit_t_ns
    assert cue.emit_t_ns - early.start_ns < rep.counted_ns - early.start_ns


def test_a_fault_found_while_the_voice_is_busy_is_said_while_its_rep_goes_on(
        tmp_path: Path) -> None:
    """The swinging rep's faults fire early, while the previous cue is still being spoken (a
    150 wpm voice: about 2.3 s for "curl all the way up"); they stay fresh while their rep is
    under way, so one of them is said once the voice is free, instead of all going stale."""
    track = PoseTrack.load(sample_track("bicep_curl_side_partial_swing", tmp_path / "t.npz"))
    clock = FrameClock()
    res = run_session(replay_track(track), make_coach(load_exercise("bicep_curl"), track.fps),
                      CueScheduler(clock), TextSpeaker(rate=150, clock=clock), clock,
                      fps=track.fps, backend="synthetic", source="t")
    swing_rep = next(f.rep_index for f in res.faults if f.rule_id == "torso_swing")
    rep = next(r for r in res.reps if r.index == swing_rep)
    said = [c for c in res.cues if c.rule_id != "partial_rom"]
    assert said and said[0].rule_id in {f.rule_id for f in res.faults
                                        if f.rep_index == swing_rep}
    assert said[0].emit_t_ns >= rep.start_ns  # about this rep, said while it goes on


def test_valgus_is_told_at_the_pause_at_the_bottom_and_depth_waits_for_the_turn(
        tmp_path: Path) -> None:
    """A "must not exceed" bottom rule (knee valgus) fires while the body is still at the
    bottom, before the segmenter has confirmed the turnaround; a "must reach" rule (depth) only
    once the body is on its way back up."""
    def progress_when_fired(name: str, rule: str) -> RepProgress:
        truth = json.loads((SAMPLES / f"{name}.json").read_text())
        track = PoseTrack.load(sample_track(name, tmp_path / f"{name}.npz"))
        coach = make_coach(load_exercise(truth["exercise"]), track.fps)
        for pf in replay_track(track):
            st = coach.update(pf.pose)
            if any(f.rule_id == rule for f in st.faults):
                p = coach.segmenter.progress
                assert p is not None  # fired early, while the rep is under way
                return p
        raise AssertionError(f"{rule} never fired on {name}")

    valgus = progress_when_fired("squat_front_valgus", "knee_valgus")
    assert valgus.bottom_frame is None and valgus.still_frame is not None
    depth = progress_when_fired("squat_45_shallow", "depth")
    assert depth.turn_frame is not None
