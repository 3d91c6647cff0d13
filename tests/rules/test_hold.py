"""Holds timed only in position: the plank position check and the hold timer."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from conftest import SHARED
from plank_poses import POSES, plank_track, stick

from formcoach.coach.offline import analyze_track
from formcoach.exercises import load_exercise
from formcoach.rules.hold import IN_POSITION, HoldTimer, position_check
from formcoach.skeleton import LM
from formcoach.types import frame_time_ns


@pytest.mark.parametrize(("name", "expected"), [
    ("plank", IN_POSITION), ("high_plank", IN_POSITION), ("sagging", IN_POSITION),
    ("pike", IN_POSITION),
    ("lying", "lying"), ("lying_hips_low", "lying"), ("hips_down", "hips_down"), ("kneeling", "kneeling"),
    ("standing", "upright"),
])
def test_position_check(name: str, expected: str) -> None:
    assert position_check(stick(name))[0] == expected


def test_position_check_scale_and_mirror_invariant() -> None:
    for name in POSES:
        pose = stick(name)
        small = pose.copy()
        small[:, :2] *= 0.3
        mirrored = pose.copy()
        mirrored[:, 0] = 1000.0 - mirrored[:, 0]
        expected = position_check(pose)[0]
        assert position_check(small)[0] == expected
        assert position_check(mirrored)[0] == expected


def test_position_unseen_without_landmarks_or_visibility() -> None:
    pose = stick("plank")
    pose[[LM.LEFT_HIP, LM.RIGHT_HIP], :2] = np.nan
    assert position_check(pose)[0] == "unseen"
    assert position_check(stick("plank", vis=0.1))[0] == "unseen"


def test_hold_timer_counts_only_in_position_and_bridges_nothing_long() -> None:
    timer = HoldTimer(min_hold_s=1.0, gap_s=1.0)
    fps = 10.0
    pattern = [False] * 10 + [True] * 30 + [False] * 5 + [True] * 20 + [False] * 20 + [True] * 5
    good = [True] * 50 + [False] * 50 + [True] * 10
    for i, (pos, ok) in enumerate(zip(pattern, good, strict=False)):
        timer.update(i, frame_time_ns(i, fps), pos, ok)
    timer.finish()
    # one hold from frame 10 to 64 (the 0.5 s out of position inside it does not count), then
    # a 0.4 s one that is too short to be a hold
    assert [(h.start_frame, h.end_frame) for h in timer.holds] == [(10, 64)]
    assert timer.held_s == pytest.approx(2.9 + 1.9)
    assert timer.good_s == pytest.approx(2.9 + 0.4)  # good until frame 49


def test_plank_held_only_in_position_end_to_end() -> None:
    # lying prone, walking in on the knees, 10 s of plank (3 s of them sagging), hips dropped to
    # the floor, lying prone again: only the plank is the hold
    track = plank_track([("lying", 3.0), ("kneeling", 2.0), ("plank", 5.0), ("sagging", 3.0),
                    ("plank", 2.0), ("hips_down", 2.0), ("lying", 3.0)])
    result = analyze_track(track, load_exercise("plank"), view="side")
    sm = result.metrics
    assert sm.held_s == pytest.approx(10.0, abs=0.1)
    assert 5.0 < sm.good_form_s < 7.0 + 0.1  # the sag (and the 1 s before hips_low fires) is not
    assert [(round(h.start_ns / 1e9, 1), round(h.end_ns / 1e9, 1)) for h in sm.holds] == [
        (5.0, 15.0)]
    assert len(result.reps) == 1
    assert result.reps[0].start_s == pytest.approx(5.0, abs=0.1)
    assert result.reps[0].end_s == pytest.approx(15.0, abs=0.1)


def test_hold_rules_are_not_judged_lying_down() -> None:
    # lying prone with the hip joint a little below the shoulder-ankle line is not a sagging
    # plank: "lift your hips" would be a false fault before the plank has started
    from formcoach.kinematics.derived import compute_rule_features

    assert compute_rule_features(stick("lying_hips_low")[None], 30.0, ["hip_line_dev"])[
        "hip_line_dev"][0] < 0.0
    result = analyze_track(plank_track([("lying_hips_low", 4.0), ("plank", 3.0)]),
                           load_exercise("plank"), view="side")
    assert result.faults == []
    assert result.metrics.held_s == pytest.approx(3.0, abs=0.1)


PLANK_FRAMES = SHARED / "data" / "form" / "exercise-correction" / "plank_model"


@pytest.mark.skipif(not PLANK_FRAMES.is_dir(), reason="../shared/data is absent")
@pytest.mark.parametrize("name", ["kaggle.csv", "test.csv"])
def test_every_labelled_real_plank_frame_is_in_position(name: str) -> None:
    """Correct, hips-high and hips-low planks (real people, MediaPipe landmarks normalised to
    the image; read as 1280x720) are all planks: bad form stops only the good-form timer."""
    with (PLANK_FRAMES / name).open(newline="") as f:
        rows = list(csv.DictReader(f))
    names = [c[:-2] for c in rows[0] if c.endswith("_x")]
    answers = []
    for row in rows:
        pose = np.full((33, 4), np.nan)
        for n in names:
            pose[getattr(LM, n.upper())] = (float(row[f"{n}_x"]) * 1280, float(row[f"{n}_y"]) * 720,
                                            float(row[f"{n}_z"]), float(row[f"{n}_v"]))
        answers.append((row["label"], position_check(pose)[0]))
    assert {label for label, _ in answers} >= {"C"}
    assert [a for a in answers if a[1] != IN_POSITION] == []


def test_a_hold_fault_thumbnail_shows_its_worst_frame() -> None:
    from formcoach.report.document import fault_worst
    from formcoach.rules.explain import rules_by_id

    # the sag deepens after hips_low has fired (1 s in): the worst frame is the deepest sag
    track = plank_track([("plank", 2.0), ("sagging", 2.0),
                         ("sagging_more", 1.0), ("plank", 2.0)])
    result = analyze_track(track, load_exercise("plank"), view="side")
    (fault,) = result.faults
    worst = fault_worst(result, fault, rules_by_id(result.exercise)[fault.rule_id])
    assert worst is not None
    assert 4.0 * 30 <= worst[0] < 5.0 * 30 and worst[1] < fault.value
