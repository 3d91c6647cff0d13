"""Rules engine: parsing errors, each rule on synthetic poses, views, hold timers, the coach."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
from fakes import frame_state
from hypothesis import given, settings
from hypothesis import strategies as st

from formcoach.errors import ConfigError
from formcoach.exercises import list_exercises, load_exercise
from formcoach.rules.engine import (
    FAULT,
    NOT_ASSESSED,
    OK,
    RulesEngine,
    judge_frames,
    judge_sequence,
    parse_rules,
    phase_window,
)
from formcoach.skeleton import LM
from formcoach.synth import spec_from_dict, truth_poses
from formcoach.types import RepEvent

BASE = {"id": "r", "cue": "c", "feature": "knee", "op": ">", "threshold": 100.0,
        "rationale": "why"}


def _rep(k: int, s: int, b: int, e: int) -> RepEvent:
    return RepEvent(k, s, b, e, 0, 0, 0, math.nan, math.nan, math.nan, counted_frame=e,
                    counted_ns=0)


def run_synth(exercise: str, view: str, faults: list[dict] | None = None, reps: int = 3,
              **extra: object) -> RulesEngine:
    """Feed a synthetic clip through a RulesEngine, with the truth's rep boundaries."""
    spec = spec_from_dict({"name": "t", "exercise": exercise, "view": view, "reps": reps,
                           "faults": faults or [], **extra})
    poses, fps, truth = truth_poses(spec)
    return _feed(exercise, poses, fps, truth["reps"])


#: Packs whose rep runs from the synthetic truth's turnaround to the next one: a shoulder press
#: is lockout-rack-lockout (its pack), the truth's rep rack-lockout-rack.
_TOP_AT_TURNAROUND = {"shoulder_press"}


def _pack_reps(exercise: str, reps: list[dict]) -> list[dict]:
    """The truth's reps in the pack's own convention (one fewer for a lockout-to-lockout
    pack: rep k runs from the truth's lockout k through the rack to lockout k + 1)."""
    if exercise not in _TOP_AT_TURNAROUND:
        return reps
    return [{"start_frame": a["bottom_frame"], "bottom_frame": a["end_frame"],
             "end_frame": b["bottom_frame"]} for a, b in itertools.pairwise(reps)]


def _feed(exercise: str, poses: np.ndarray, fps: float, reps: list[dict]) -> RulesEngine:
    """Feed ``(T, 33, 4)`` poses through a RulesEngine, with the given rep boundaries (the
    truth's, in the pack's convention)."""
    reps = _pack_reps(exercise, reps)
    eng = RulesEngine(load_exercise(exercise), fps)
    ends = {r["end_frame"]: (k, r) for k, r in enumerate(reps)}
    for i in range(len(poses)):
        eng.on_frame(frame_state(i, round(i * 1e9 / fps), poses[i]))
        if i in ends:
            k, r = ends[i]
            eng.on_rep(_rep(k, r["start_frame"], r["bottom_frame"], r["end_frame"]))
    return eng


# --------------------------------------------------------------------------- parsing
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"colour": "red"}, "unknown key 'colour'"),
        ({"op": "=>"}, "bad op '=>'"),
        ({"feature": "kneee"}, "unknown feature 'kneee'"),
        ({"severity": 7}, "severity must be 1, 2 or 3"),
        ({"scope": "set"}, "bad scope"),
        ({"phase": "middle"}, "bad phase"),
        ({"reduce": "median"}, "bad reduce"),
        ({"views": ["top"]}, "bad view 'top'"),
        ({"threshold": "high"}, "threshold must be a finite number"),
        ({"hold_s": 1.0}, "hold_s only applies to scope = 'frame'"),
        ({"side": "worst", "feature": "torso_lean"}, "needs a side-less feature"),
        ({"id": "Bad Id"}, "lower_snake_case"),
        ({"rationale": ""}, "'rationale' must be non-empty"),
        ({"reference": 3}, "'reference' must be text"),
    ],
)
def test_bad_rule_is_config_error_naming_rule(change: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as ei:
        parse_rules([{**BASE, **change}], "pack")
    assert str(ei.value).startswith("pack")
    assert "\n" not in str(ei.value)


_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True),
                    st.text(max_size=8), st.lists(st.one_of(st.text(max_size=6), st.integers()),
                                                  max_size=3), st.dictionaries(st.text(max_size=3),
                                                                               st.integers(),
                                                                               max_size=2))


@settings(max_examples=150, deadline=None)
@given(changes=st.dictionaries(st.sampled_from(sorted({*BASE, "views", "scope", "phase",
                                                        "reduce", "side", "severity", "hold_s",
                                                        "min_valid", "extra"})),
                               _VALUES, max_size=4))
def test_fuzz_rule_tables_only_raise_config_error(changes: dict) -> None:
    try:
        rules = parse_rules([{**BASE, **changes}], "fuzz")
    except ConfigError as e:
        assert str(e).startswith("fuzz") and "\n" not in str(e)
    else:
        assert len(rules) == 1


def test_missing_key_and_duplicate_id() -> None:
    with pytest.raises(ConfigError, match="missing required key 'rationale'"):
        parse_rules([{k: v for k, v in BASE.items() if k != "rationale"}], "p")
    with pytest.raises(ConfigError, match="duplicate rule id 'r'"):
        parse_rules([BASE, BASE], "p")


def test_bad_rule_in_toml_file_reports_file_and_line(tmp_path: Path) -> None:
    src = Path(load_exercise("squat").path).read_text()  # type: ignore[arg-type]
    bad = src + '\n[[rules]]\nid = "wobble"\ncue = "x"\nfeature = "knee"\nop = "~"\n' \
        'threshold = 1.0\nrationale = "r"\n'
    path = tmp_path / "squat.toml"
    path.write_text(bad)
    line = bad.splitlines().index('id = "wobble"') + 1
    with pytest.raises(ConfigError, match=rf"^{path}:{line}: bad op '~'"):
        RulesEngine(load_exercise(path), 30.0)


def test_every_bundled_rule_parses_with_rationale_and_cue() -> None:
    total = 0
    for ex in list_exercises():
        rules = parse_rules(ex.rules_raw, str(ex.path))
        for r in rules:
            assert len(r.rationale) > 40 and r.cue, (ex.id, r.id)
            assert r.views, (ex.id, r.id)
        total += len(rules)
    assert total >= 25


# --------------------------------------------------------------------------- synthetic faults
CASES = [
    ("squat", "side", "shallow_squat", "depth"),
    ("squat", "front", "knee_valgus", "knee_valgus"),
    ("pushup", "side", "hip_sag", "hip_sag"),
    ("pushup", "45", "hip_sag", "hip_sag"),
    ("pushup", "side", "hip_pike", "hip_pike"),
    ("lunge", "side", "knee_over_toe", "knee_over_toe"),
    ("lunge", "side", "shallow_lunge", "depth"),
    ("bicep_curl", "side", "partial_curl", "partial_rom"),
    ("bicep_curl", "45", "torso_swing", "torso_swing"),
    ("bicep_curl", "side", "torso_swing", "elbow_travel"),
    ("shoulder_press", "front", "incomplete_lockout", "no_lockout"),
    ("jumping_jack", "front", "partial_jack", "arms_not_overhead"),
    ("situp", "side", "partial_situp", "partial"),
]


@pytest.mark.parametrize(("exercise", "view", "fault", "rule"), CASES)
def test_injected_fault_gives_its_cue(exercise: str, view: str, fault: str, rule: str) -> None:
    eng = run_synth(exercise, view, [{"type": fault}])
    fired = {f.rule_id for f in eng.faults}
    assert rule in fired, (fired, eng.rep_status)
    cue = next(r.cue for r in eng.rules if r.id == rule)
    assert any(f.cue == cue and f.rep_index is not None for f in eng.faults)
    assert any(f.rule_id == rule for faults in eng.rep_faults.values() for f in faults)


@pytest.mark.parametrize(("exercise", "view"), sorted({(c[0], c[1]) for c in CASES}))
def test_clean_set_gives_no_fault(exercise: str, view: str) -> None:
    eng = run_synth(exercise, view)
    assert eng.faults == []
    assert len(eng.rep_status) == (2 if exercise in _TOP_AT_TURNAROUND else 3)
    assert any(s == OK for st in eng.rep_status.values() for s in st.values())


@pytest.mark.parametrize(
    ("exercise", "view", "fault", "rule"),
    [
        ("squat", "front", "shallow_squat", "depth"),
        ("squat", "side", "knee_valgus", "knee_valgus"),
        ("lunge", "front", "knee_over_toe", "knee_over_toe"),
        ("pushup", "front", "hip_sag", "hip_sag"),
    ],
)
def test_rule_from_wrong_view_is_not_assessed(
    exercise: str, view: str, fault: str, rule: str
) -> None:
    eng = run_synth(exercise, view, [{"type": fault}])
    assert rule not in {f.rule_id for f in eng.faults}
    assert all(st[rule] == NOT_ASSESSED for st in eng.rep_status.values())
    assert rule in eng.not_assessed()


def test_fixed_view_overrides_detection() -> None:
    eng = run_synth("squat", "side", [{"type": "shallow_squat"}])
    assert eng.view == "side"
    spec = spec_from_dict({"name": "t", "exercise": "squat", "view": "side", "reps": 1,
                           "faults": [{"type": "shallow_squat"}]})
    poses, fps, _ = truth_poses(spec)
    status, eng2 = judge_sequence(load_exercise("squat"), poses, fps, view="front")
    assert status["depth"] == NOT_ASSESSED and eng2.view == "front"


# --------------------------------------------------------------------------- plank hold timer
def test_plank_hold_timer_runs_only_with_good_form() -> None:
    clean = run_synth("plank", "side", hold_s=8.0)
    assert clean.faults == []
    sag = run_synth("plank", "side", [{"type": "hip_sag", "start_s": 3.0, "end_s": 6.0}],
                    hold_s=8.0)
    assert [f.rule_id for f in sag.faults] == ["hips_low"]
    assert sag.faults[0].t_ns >= 3.0e9 + 1.0e9 - 1  # only after hold_s = 1 s of sagging
    assert 6.0 < clean.hold_seconds <= 10.0
    assert clean.hold_seconds - sag.hold_seconds > 2.0


def test_plank_hips_high() -> None:
    pike = run_synth("plank", "side", [{"type": "hip_pike", "start_s": 2.0, "end_s": 6.0,
                                        "severity": 2.0}], hold_s=8.0)
    assert [f.rule_id for f in pike.faults] == ["hips_high"]


def test_plank_timer_stops_when_not_in_position_or_wrong_view() -> None:
    pack = load_exercise("plank")
    spec = spec_from_dict({"name": "t", "exercise": "squat", "view": "side", "reps": 1})
    standing, fps, _ = truth_poses(spec)
    eng = RulesEngine(pack, fps)
    for i in range(len(standing)):
        eng.on_frame(frame_state(i, round(i * 1e9 / fps), standing[i]))
    assert eng.hold_seconds == 0.0
    assert "not_in_position" in {f.rule_id for f in eng.faults}
    front = run_synth("plank", "front", hold_s=4.0)
    assert front.hold_seconds == 0.0 and front.faults == []


# --------------------------------------------------------------------------- engine mechanics
def _lean_pose(deg: float, facing: float = 1.0) -> np.ndarray:
    """A side-view standing pose whose trunk leans ``deg`` forward (negative = back)."""
    p = np.full((33, 4), np.nan)
    p[:, 3] = 1.0
    hip = np.array([300.0, 400.0])
    a = math.radians(deg)
    sh = hip + 200.0 * np.array([facing * math.sin(a), -math.cos(a)])
    for i in (LM.LEFT_HIP, LM.RIGHT_HIP):
        p[i, :3] = [*hip, 0.0]
    for i in (LM.LEFT_SHOULDER, LM.RIGHT_SHOULDER):
        p[i, :3] = [*sh, 0.0]
    head = sh + np.array([0.0, -60.0])
    p[LM.LEFT_EAR, :3] = [*head, 0.0]
    p[LM.NOSE, :3] = [head[0] + facing * 25.0, head[1] + 5.0, -20.0]
    for i, dy in ((LM.LEFT_KNEE, 180.0), (LM.LEFT_ANKLE, 360.0)):
        p[i, :3] = [hip[0], hip[1] + dy, 0.0]
        p[i + 1, :3] = [hip[0], hip[1] + dy, 0.0]
    return p


@pytest.mark.parametrize("facing", [1.0, -1.0])
def test_frame_rule_fires_after_hold_and_rearms(facing: float) -> None:
    pack = load_exercise("bicep_curl")
    seen: list = []
    eng = RulesEngine(pack, 10.0, view="side")
    poses = [_lean_pose(0.0, facing)] * 5 + [_lean_pose(-25.0, facing)] * 5 \
        + [_lean_pose(0.0, facing)] * 3 + [_lean_pose(-25.0, facing)] * 2
    for i, p in enumerate(poses):
        seen += eng.on_frame(frame_state(i, i * 100_000_000, p))
    lean = [f for f in eng.faults if f.rule_id == "lean_back"]
    # 0.3 s hold at 10 fps: fires on the 4th leaning frame (index 8), not during the short dip.
    assert [f.frame_index for f in lean] == [8]
    assert lean[0].value < -15.0 and lean[0].threshold == -15.0
    assert seen == eng.faults  # each fault is returned once, by the frame it fired at
    assert eng.status["lean_back"] == OK  # 2 leaning frames at the end: not yet held


def test_forward_lean_is_not_lean_back() -> None:
    rules = [r for r in parse_rules(load_exercise("bicep_curl").rules_raw) if r.id == "lean_back"]
    verdict = judge_frames(rules, np.stack([_lean_pose(25.0), _lean_pose(-25.0)]),
                           views=["side", "side"])
    assert verdict["lean_back"].tolist() == [OK, FAULT]
    verdict = judge_frames(rules, np.stack([_lean_pose(-25.0)]), views=["front"])
    assert verdict["lean_back"].tolist() == [NOT_ASSESSED]


def test_missing_joints_are_not_assessed() -> None:
    rules = parse_rules(load_exercise("bicep_curl").rules_raw)
    verdict = judge_frames(rules, np.full((2, 33, 4), np.nan), views=["side", "side"])
    assert all((v == NOT_ASSESSED).all() for v in verdict.values())


def test_top_phase_of_an_edge_rep_is_not_assessed() -> None:
    # A clip that begins near the bottom (the segmenter's partial rep) never showed the rest
    # position before the rep: its top-phase rules are not judged, the others are.
    poses, fps, truth = _clip("pushup", "side")
    r = truth["reps"][0]
    bent = _set_elbow(poses, 135.0)  # never locked out: no_lockout faults on a full rep
    for partial, want in ((False, FAULT), (True, NOT_ASSESSED)):
        eng = RulesEngine(load_exercise("pushup"), fps)
        for i, p in enumerate(bent):
            eng.on_frame(frame_state(i, round(i * 1e9 / fps), p))
        eng.on_rep(RepEvent(0, r["start_frame"], r["bottom_frame"], r["end_frame"], 0, 0, 0,
                            math.nan, math.nan, math.nan, partial=partial,
                            counted_frame=r["end_frame"], counted_ns=0))
        assert eng.rep_status[0]["no_lockout"] == want
        assert eng.rep_status[0]["partial_depth"] == FAULT  # judged around the turnaround


def test_phase_windows() -> None:
    rep = _rep(0, 10, 30, 50)
    assert phase_window(rep, "any").tolist() == list(range(10, 51))
    assert phase_window(rep, "eccentric")[[0, -1]].tolist() == [10, 30]
    assert phase_window(rep, "concentric")[[0, -1]].tolist() == [30, 50]
    assert phase_window(rep, "bottom")[[0, -1]].tolist() == [24, 36]
    top = phase_window(rep, "top").tolist()
    assert top[0] == 10 and top[-1] == 50 and 30 not in top


@pytest.mark.parametrize(
    ("reduce", "expected"),
    [("min", 1.0), ("max", 9.0), ("mean", 5.0), ("range", 8.0), ("rise", 4.0), ("fall", 4.0)],
)
def test_reductions(reduce: str, expected: float) -> None:
    from formcoach.rules.engine import _reduce

    vals = np.array([5.0, 1.0, np.nan, 9.0, 5.0])
    assert _reduce(vals, reduce, 0.5) == pytest.approx(expected)
    assert math.isnan(_reduce(np.array([np.nan, np.nan, 1.0]), reduce, 0.5))


def test_coach_runs_the_rules() -> None:
    from formcoach.coach.pipeline import Coach
    from formcoach.types import PoseResult

    spec = spec_from_dict({"name": "t", "exercise": "pushup", "view": "side", "reps": 3,
                           "faults": [{"type": "hip_sag"}]})
    poses, fps, _ = truth_poses(spec)
    pack = load_exercise("pushup")
    eng = RulesEngine(pack, fps)
    c = Coach(pack, fps, rules=eng)
    returned = []
    for i, p in enumerate(poses):
        st = c.update(PoseResult(p, np.full((33, 3), np.nan), round(i * 1e9 / fps), (640, 480), 1.0))
        returned += st.faults
    _, late = c.finish()
    returned += late
    assert len(eng.rep_status) == c.rep_count >= 2
    assert sorted(returned, key=lambda f: f.t_ns) == sorted(eng.faults, key=lambda f: f.t_ns)
    assert all(st["hip_sag"] == FAULT for st in eng.rep_status.values())
    assert all(st["hip_pike"] == OK for st in eng.rep_status.values())
    assert {f.rep_index for f in eng.faults if f.rule_id == "hip_sag"} == set(eng.rep_status)


# --------------------------------------------------------------------------- rules without a
# synthetic fault: the clean synthetic set is edited to show exactly the fault.
def _clip(exercise: str, view: str, reps: int = 1) -> tuple[np.ndarray, float, dict]:
    spec = spec_from_dict({"name": "e", "exercise": exercise, "view": view, "reps": reps,
                           "setup": "none"})
    poses, fps, truth = truth_poses(spec)
    return poses.copy(), fps, truth


def _facing(p: np.ndarray) -> float:
    return 1.0 if p[LM.NOSE, 0] >= 0.5 * (p[LM.LEFT_EAR, 0] + p[LM.RIGHT_EAR, 0]) else -1.0


UPPER = list(range(0, 23))  # head, shoulders, arms, hands


def _lean(poses: np.ndarray, deg: np.ndarray | float) -> np.ndarray:
    """Rotate the upper body about the hip midpoint, ``deg`` towards the facing direction."""
    out = poses.copy()
    degs = np.broadcast_to(np.asarray(deg, dtype=float), (len(poses),))
    for t, p in enumerate(out):
        f, a = _facing(p), math.radians(degs[t])
        hip = 0.5 * (p[LM.LEFT_HIP, :2] + p[LM.RIGHT_HIP, :2])
        rot = np.array([[math.cos(a), -f * math.sin(a)], [f * math.sin(a), math.cos(a)]])
        p[UPPER, :2] = (p[UPPER, :2] - hip) @ rot.T + hip
    return out


@pytest.mark.parametrize(("frames", "fires"), [(4, False), (40, True)])
def test_pushup_sag_must_be_held_not_a_transient(frames: int, fires: bool) -> None:
    # Hips dipping for a few frames (settling at the top) is not a sagging rep; held it is.
    spec = spec_from_dict({"name": "t", "exercise": "pushup", "view": "side", "reps": 1})
    poses, fps, truth = truth_poses(spec)
    rep = truth["reps"][0]
    body = np.hypot(*(poses[:, LM.LEFT_ANKLE, :2] - poses[:, LM.LEFT_SHOULDER, :2]).T)
    sag = poses.copy()
    win = slice(rep["start_frame"], rep["start_frame"] + frames)
    for hip in (LM.LEFT_HIP, LM.RIGHT_HIP):
        sag[win, hip, 1] += 0.2 * body[win]  # image y is down: hips 20% of the body below
    assert "hip_sag" not in {f.rule_id for f in _feed("pushup", poses, fps, truth["reps"]).faults}
    fired = {f.rule_id for f in _feed("pushup", sag, fps, truth["reps"]).faults}
    assert ("hip_sag" in fired) == fires


def _judge(exercise: str, poses: np.ndarray, fps: float) -> dict[str, str]:
    return judge_sequence(load_exercise(exercise), poses, fps)[0]


def _torso(p: np.ndarray) -> float:
    s = 0.5 * (p[LM.LEFT_SHOULDER, :2] + p[LM.RIGHT_SHOULDER, :2])
    h = 0.5 * (p[LM.LEFT_HIP, :2] + p[LM.RIGHT_HIP, :2])
    return float(np.hypot(*(s - h)))


def _heels_up(poses: np.ndarray) -> np.ndarray:
    """Lift the heels during the clip (flat at both ends, 1.2 foot lengths above the toes
    half-way), as a heel lift at the bottom of each rep does."""
    out = poses.copy()
    lift = 1.2 * np.sin(np.linspace(0.0, math.pi, len(out)))
    for heel, toe in ((LM.LEFT_HEEL, LM.LEFT_FOOT_INDEX), (LM.RIGHT_HEEL, LM.RIGHT_FOOT_INDEX)):
        foot = np.hypot(*(out[:, toe, :2] - out[:, heel, :2]).T)
        out[:, heel, 1] = np.minimum(out[:, heel, 1], out[:, toe, 1] - lift * foot)
    return out


def _narrow_feet(poses: np.ndarray) -> np.ndarray:
    out = poses.copy()
    hip_x = 0.5 * (out[:, LM.LEFT_HIP, 0] + out[:, LM.RIGHT_HIP, 0])
    for i in range(LM.LEFT_KNEE, LM.RIGHT_FOOT_INDEX + 1):
        out[:, i, 0] = hip_x + 0.3 * (out[:, i, 0] - hip_x)
    return out


def _set_elbow(poses: np.ndarray, deg: float) -> np.ndarray:
    """Put every wrist so that the elbow angle is ``deg`` (same forearm length)."""
    out = poses.copy()
    for sh, el, wr in ((LM.LEFT_SHOULDER, LM.LEFT_ELBOW, LM.LEFT_WRIST),
                       (LM.RIGHT_SHOULDER, LM.RIGHT_ELBOW, LM.RIGHT_WRIST)):
        for p in out:
            u = p[sh, :2] - p[el, :2]
            fore = np.hypot(*(p[wr, :2] - p[el, :2]))
            a = math.radians(deg)
            d = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]) @ u
            p[wr, :2] = p[el, :2] + d / np.hypot(*d) * fore
    return out


def _arm_forward(poses: np.ndarray, deg: float) -> np.ndarray:
    """Swing both whole arms forward about the shoulders by ``deg``."""
    out = poses.copy()
    for side in ("LEFT", "RIGHT"):
        sh = LM[f"{side}_SHOULDER"]
        idx = [LM[f"{side}_{j}"] for j in ("ELBOW", "WRIST", "PINKY", "INDEX", "THUMB")]
        for p in out:
            f, a = _facing(p), math.radians(deg)
            rot = np.array([[math.cos(a), f * math.sin(a)], [-f * math.sin(a), math.cos(a)]])
            p[idx, :2] = (p[idx, :2] - p[sh, :2]) @ rot.T + p[sh, :2]
    return out


def _shrug(poses: np.ndarray, amount: float) -> np.ndarray:
    """Lift shoulders and arms by ``amount`` torso lengths, up and down once."""
    out = poses.copy()
    n = len(out)
    lift = amount * np.sin(np.linspace(0.0, math.pi, n))
    arms = list(range(LM.LEFT_SHOULDER, LM.RIGHT_THUMB + 1))
    for t, p in enumerate(out):
        p[arms, 1] -= lift[t] * _torso(poses[t])
    return out


def _standing(n: int = 60) -> tuple[np.ndarray, float]:
    poses, fps, truth = _clip("squat", "front")
    return poses[: min(n, truth["reps"][0]["start_frame"] + 1)], fps


def test_squat_torso_lean_and_heel_lift() -> None:
    poses, fps, _ = _clip("squat", "side")
    assert _judge("squat", poses, fps) == {"depth": OK, "knee_valgus": NOT_ASSESSED,
                                           "torso_lean": OK, "heel_lift": OK,
                                           "knee_past_toes": OK}
    assert _judge("squat", _lean(poses, 20.0), fps)["torso_lean"] == FAULT
    assert _judge("squat", _heels_up(poses), fps)["heel_lift"] == FAULT
    # Heels raised by the same amount from the first frame to the last: no rise, no lift.
    flat_high = poses.copy()
    for heel, toe in ((LM.LEFT_HEEL, LM.LEFT_FOOT_INDEX), (LM.RIGHT_HEEL, LM.RIGHT_FOOT_INDEX)):
        flat_high[:, heel, 1] -= 0.2 * np.hypot(*(poses[:, toe, :2] - poses[:, heel, :2]).T)
    assert _judge("squat", flat_high, fps)["heel_lift"] == OK


def _shift_knees(poses: np.ndarray, shanks: float) -> np.ndarray:
    """Move both knees ``shanks`` shank lengths towards the facing direction."""
    out = poses.copy()
    for p in out:
        f = _facing(p)
        for k, a in ((LM.LEFT_KNEE, LM.LEFT_ANKLE), (LM.RIGHT_KNEE, LM.RIGHT_ANKLE)):
            p[k, 0] += f * shanks * float(np.hypot(*(p[k, :2] - p[a, :2])))
    return out


def test_squat_knee_past_toes() -> None:
    poses, fps, _ = _clip("squat", "side")
    assert _judge("squat", _shift_knees(poses, 0.1), fps)["knee_past_toes"] == OK
    assert _judge("squat", _shift_knees(poses, 2.5), fps)["knee_past_toes"] == FAULT


def test_lunge_base_step_and_valgus() -> None:
    poses, fps, _ = _clip("lunge", "front")
    clean = _judge("lunge", poses, fps)
    assert clean["narrow_base"] == OK and clean["knee_valgus"] == OK
    assert clean["short_step"] == NOT_ASSESSED  # fore-aft distance is not seen from the front
    assert _judge("lunge", _narrow_feet(poses), fps)["narrow_base"] == FAULT
    caved = poses.copy()
    hip_x = 0.5 * (caved[:, LM.LEFT_HIP, 0] + caved[:, LM.RIGHT_HIP, 0])
    for k in (LM.LEFT_KNEE, LM.RIGHT_KNEE):  # knees pulled to the midline
        caved[:, k, 0] = hip_x + 0.1 * (caved[:, k, 0] - hip_x)
    assert _judge("lunge", caved, fps)["knee_valgus"] == FAULT
    side, fps, _ = _clip("lunge", "side")
    assert _judge("lunge", side, fps)["short_step"] == OK
    assert _judge("lunge", _narrow_feet(side), fps)["short_step"] == FAULT


def test_lunge_torso_lean() -> None:
    poses, fps, _ = _clip("lunge", "side")
    assert _judge("lunge", poses, fps)["torso_lean"] == OK
    assert _judge("lunge", _lean(poses, 30.0), fps)["torso_lean"] == FAULT


def test_pushup_depth_and_lockout() -> None:
    poses, fps, _ = _clip("pushup", "side")
    clean = _judge("pushup", poses, fps)
    assert clean["partial_depth"] == OK and clean["no_lockout"] == OK
    assert _judge("pushup", _set_elbow(poses, 178.0), fps)["partial_depth"] == FAULT
    bent = _judge("pushup", _set_elbow(poses, 135.0), fps)
    assert bent["no_lockout"] == FAULT


def test_pushup_head_drop() -> None:
    poses, fps, _ = _clip("pushup", "side")
    assert _judge("pushup", poses, fps)["head_drop"] == OK
    hung = poses.copy()
    for p in hung:  # the head (landmarks 0-10) turned 65 deg about the shoulders to the face side
        sh = 0.5 * (p[LM.LEFT_SHOULDER, :2] + p[LM.RIGHT_SHOULDER, :2])
        ear = 0.5 * (p[LM.LEFT_EAR, :2] + p[LM.RIGHT_EAR, :2])
        u, v = ear - sh, p[LM.NOSE, :2] - ear
        a = math.radians(65.0) * np.sign(u[0] * v[1] - u[1] * v[0])
        rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        p[0:11, :2] = (p[0:11, :2] - sh) @ rot.T + sh
    assert _judge("pushup", hung, fps)["head_drop"] == FAULT


def test_shoulder_press_back_arch() -> None:
    poses, fps, _ = _clip("shoulder_press", "side")
    assert _judge("shoulder_press", poses, fps)["back_arch"] == OK
    sway = -12.0 * np.sin(np.linspace(0, math.pi, len(poses)))
    assert _judge("shoulder_press", _lean(poses, sway), fps)["back_arch"] == FAULT


def test_jumping_jack_feet_not_apart() -> None:
    poses, fps, _ = _clip("jumping_jack", "front")
    assert _judge("jumping_jack", poses, fps)["feet_not_apart"] == OK
    assert _judge("jumping_jack", _narrow_feet(poses), fps)["feet_not_apart"] == FAULT


def test_bicep_elbow_drift() -> None:
    poses, fps, _ = _clip("bicep_curl", "side")
    assert _judge("bicep_curl", poses, fps)["elbow_drift"] == OK
    assert _judge("bicep_curl", _arm_forward(poses, 35.0), fps)["elbow_drift"] == FAULT


def test_deadlift_rules_on_a_hinge() -> None:
    # The squat's clean hinge pattern stands in for a deadlift rep (side view).
    poses, fps, truth = _clip("squat", "side")
    flat = np.full(len(poses), -0.05)  # the back's bulge a neutral back reads (lumbar curve)
    clean = judge_sequence(load_exercise("deadlift"), poses, fps, back_bulge=flat)[0]
    assert clean == {"rounded_back": OK, "hips_rise_first": OK, "knee_dominant": OK,
                     "lockout_hyperextension": OK}
    # Without the backend's silhouette the back is not judged, never called flat.
    assert _judge("deadlift", poses, fps)["rounded_back"] == NOT_ASSESSED
    # More hinge (trunk 20 deg further over) stays a hinge; a trunk held upright with the knees
    # as bent is a squat: the knee angle falls below the hip angle.
    assert _judge("deadlift", _lean(poses, 20.0), fps)["knee_dominant"] == OK
    assert _judge("deadlift", _lean(poses, -40.0), fps)["knee_dominant"] == FAULT
    back = np.zeros(len(poses))
    back[-8:] = -30.0  # leaning back 30 deg at the lockout
    assert _judge("deadlift", _lean(poses, back), fps)["lockout_hyperextension"] == FAULT
    b, e = truth["reps"][0]["bottom_frame"], len(poses)
    from formcoach.kinematics.derived import compute_rule_features

    lean = compute_rule_features(poses, fps, ["torso_lean"])["torso_lean"]
    # Hips shoot up: the trunk tips 15 deg further over after the bottom before it rises.
    target = lean[b] + 15.0 * np.sin(np.linspace(0, math.pi, e - b))
    extra = np.zeros(e)
    extra[b:] = np.maximum(0.0, target - lean[b:])
    tipped = _lean(poses, extra)
    eng = RulesEngine(load_exercise("deadlift"), fps)
    for i, p in enumerate(tipped):
        eng.on_frame(frame_state(i, round(i * 1e9 / fps), p))
    r = truth["reps"][0]
    eng.on_rep(_rep(0, r["start_frame"], r["bottom_frame"], r["end_frame"]))
    assert eng.rep_status[0]["hips_rise_first"] == FAULT
    rounded = flat.copy()
    third = len(poses) // 6
    rounded[b - third : b + third] = 0.2  # the back bows out through the bottom third of the rep
    assert judge_sequence(load_exercise("deadlift"), poses, fps,
                          back_bulge=rounded)[0]["rounded_back"] == FAULT


def test_front_raise_rules() -> None:
    press, fps, _ = _clip("shoulder_press", "side")
    assert _judge("front_raise", press, fps) == {"torso_swing": OK, "not_high_enough": OK}
    sway = 14.0 * np.sin(np.linspace(0, 2 * math.pi, len(press)))
    assert _judge("front_raise", _lean(press, sway), fps)["torso_swing"] == FAULT
    curl, fps2, _ = _clip("bicep_curl", "side")
    assert _judge("front_raise", curl, fps2)["not_high_enough"] == FAULT


def test_shoulder_shrug_rules() -> None:
    standing, fps = _standing()
    good = _judge("shoulder_shrug", _shrug(standing, 0.25), fps)
    assert good == {"insufficient_height": OK, "bent_arms": OK}
    assert _judge("shoulder_shrug", _shrug(standing, 0.05), fps)["insufficient_height"] == FAULT
    bent = _set_elbow(_shrug(standing, 0.25), 120.0)
    assert _judge("shoulder_shrug", bent, fps)["bent_arms"] == FAULT


# --------------------------------------------------------------------------- bench press, pull-up:
# whole reps (elbow angle down and back up, the turnaround found from the pack's counting signal).
def _elbow_rep(top: float, bottom: float, n: int = 61) -> tuple[list[np.ndarray], np.ndarray]:
    """Base poses (tests/rule_poses.py) whose two arms, mirror images of each other, bend from
    ``top`` to ``bottom`` deg and back; returns the poses and the elbow angle per frame."""
    from rule_poses import base_pose

    ang = bottom + (top - bottom) * 0.5 * (1.0 + np.cos(np.linspace(0.0, 2.0 * math.pi, n)))
    poses = []
    for a in ang:
        p = base_pose()
        for side, sign in (("LEFT", 1.0), ("RIGHT", -1.0)):
            sh, el, wr = (LM[f"{side}_{j}"] for j in ("SHOULDER", "ELBOW", "WRIST"))
            u = p[sh, :2] - p[el, :2]
            r = math.radians(sign * a)
            d = np.array([math.cos(r) * u[0] - math.sin(r) * u[1],
                          math.sin(r) * u[0] + math.cos(r) * u[1]])
            p[wr, :2] = p[el, :2] + d / np.hypot(*d) * 80.0
        poses.append(p)
    return poses, ang


def _judge_view(exercise: str, poses: list[np.ndarray], view: str) -> dict[str, str]:
    return judge_sequence(load_exercise(exercise), np.stack(poses), 30.0, view=view)[0]


def test_bench_press_rules_on_a_rep() -> None:
    clean, _ = _elbow_rep(175.0, 80.0)
    assert _judge_view("bench_press", clean, "front") == {
        "partial_rom": OK, "no_lockout": OK, "uneven_press": OK}
    assert _judge_view("bench_press", _elbow_rep(175.0, 125.0)[0], "side")["partial_rom"] == FAULT
    assert _judge_view("bench_press", _elbow_rep(150.0, 80.0)[0], "front")["no_lockout"] == FAULT
    uneven = [p.copy() for p in clean]
    for p in uneven[20:45]:  # the right hand lags 50 px (~0.25 torso) through the press
        p[LM.RIGHT_WRIST, 1] += 50.0
    assert _judge_view("bench_press", uneven, "front")["uneven_press"] == FAULT
    # From the side or 45 deg the two hands are not seen side by side: not judged.
    assert _judge_view("bench_press", uneven, "side")["uneven_press"] == NOT_ASSESSED
    assert _judge_view("bench_press", uneven, "45")["partial_rom"] == NOT_ASSESSED


def test_pullup_rules_on_a_rep() -> None:
    from rule_poses import set_feature

    poses, ang = _elbow_rep(175.0, 50.0)
    # The nose rises over the hands as the elbows bend (0.35 torso lengths above at the top).
    for p, a in zip(poses, ang, strict=True):
        set_feature(p, "nose_height", -0.9 + 1.25 * (175.0 - a) / 125.0)
    clean = _judge_view("pullup", poses, "front")
    assert clean == {"partial_rom": OK, "no_full_hang": OK, "kipping": NOT_ASSESSED}
    short = [p.copy() for p in poses]
    for p, a in zip(short, ang, strict=True):  # the nose stops 0.1 torso lengths under the hands
        set_feature(p, "nose_height", -0.9 + 0.8 * (175.0 - a) / 125.0)
    assert _judge_view("pullup", short, "side")["partial_rom"] == FAULT
    bent = _elbow_rep(140.0, 50.0)[0]
    assert _judge_view("pullup", bent, "back")["no_full_hang"] == FAULT
    assert _judge_view("pullup", bent, "side")["no_full_hang"] == NOT_ASSESSED
    kip = [p.copy() for p in poses]
    swing = 170.0 - 30.0 * (1.0 - np.cos(np.linspace(0.0, 4.0 * math.pi, len(kip))))
    for p, h in zip(kip, swing, strict=True):  # hips flex to 110 deg and back, twice
        set_feature(p, "left_hip", float(h))
        set_feature(p, "right_hip", float(h))
    assert _judge_view("pullup", poses, "side")["kipping"] == OK
    assert _judge_view("pullup", kip, "side")["kipping"] == FAULT


def test_every_bundled_rule_is_exercised_by_a_test() -> None:
    src = Path(__file__).read_text()
    for ex in list_exercises():
        for r in parse_rules(ex.rules_raw, str(ex.path)):
            assert f'"{r.id}"' in src, f"no test mentions rule {ex.id}.{r.id}"


def test_velocity_rule_dropping_weight() -> None:
    poses, fps, truth = _clip("bicep_curl", "side")
    r = truth["reps"][0]
    b, e = r["bottom_frame"], r["end_frame"]

    def judge(p: np.ndarray) -> str:
        eng = RulesEngine(load_exercise("bicep_curl"), fps)
        for i, pose in enumerate(p):
            eng.on_frame(frame_state(i, round(i * 1e9 / fps), pose))
        eng.on_rep(_rep(0, r["start_frame"], b, e))
        return eng.rep_status[0]["dropping_weight"]

    assert judge(poses) == OK
    # Lower 5x faster: the lowering is squeezed into the first fifth of the phase, then held.
    fast = poses.copy()
    n = e - b
    src = np.minimum(b + np.arange(n + 1) * 5, e)
    fast[b : e + 1] = poses[src]
    assert judge(fast) == FAULT
    # Velocities need consecutive frames: unordered rows cannot judge them.
    rule = [x for x in parse_rules(load_exercise("bicep_curl").rules_raw)
            if x.id == "dropping_weight"]
    assert judge_frames(rule, fast[b : b + 3], views=["side"] * 3)["dropping_weight"].tolist() \
        == [NOT_ASSESSED] * 3


def test_velocity_feature_names_parse() -> None:
    (rule,) = parse_rules([{**BASE, "feature": "knee_velocity"}], "p")
    assert rule.feature_names == ("left_knee_velocity", "right_knee_velocity")
    (rule,) = parse_rules([{**BASE, "feature": "torso_lean_velocity"}], "p")
    assert rule.feature_names == ("torso_lean_velocity",)
    with pytest.raises(ConfigError, match="unknown feature 'nose_velocity'"):
        parse_rules([{**BASE, "feature": "nose_velocity"}], "p")


def test_rep_rules_judge_the_frames_up_to_the_counting_moment() -> None:
    """on_rep runs when a rep is counted, before the segmenter knows its true end: it judges
    start..counted_frame (live and offline alike), never the frames after it."""
    poses, fps, truth = _clip("bicep_curl", "side")
    r = truth["reps"][0]
    s, b, e = r["start_frame"], r["bottom_frame"], r["end_frame"]
    fast = poses.copy()  # the lowering squeezed into its first fifth (dropping the weight)
    fast[b : e + 1] = poses[np.minimum(b + np.arange(e - b + 1) * 5, e)]

    def judge(counted: int) -> str:
        eng = RulesEngine(load_exercise("bicep_curl"), fps)
        for i, pose in enumerate(fast):
            eng.on_frame(frame_state(i, round(i * 1e9 / fps), pose))
        eng.on_rep(RepEvent(0, s, b, e, 0, 0, 0, math.nan, math.nan, math.nan,
                            counted_frame=counted, counted_ns=0))
        return eng.rep_status[0]["dropping_weight"]

    assert judge(e) == FAULT
    assert judge(b) != FAULT  # the fast part lies after the counting moment
