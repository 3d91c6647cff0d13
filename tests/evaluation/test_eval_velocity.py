"""``formcoach eval velocity``: scoring, and the issue-19 targets through the real pose model."""

from __future__ import annotations

from pathlib import Path

import pytest

from formcoach.evaluation.velocity import (
    VL_TOLERANCE_PP,
    evaluate_velocity,
    score_set,
    truth_stop_rep,
    velocity_specs,
)
from formcoach.synth import SynthSpec


def _truth(vls: list[float]) -> list[dict[str, float]]:
    return [{"bottom_frame": 30 + 60 * i, "velocity_loss_pct": v} for i, v in enumerate(vls)]


def test_truth_stop_rep_follows_the_two_rep_rule():
    assert truth_stop_rep([0, 10, 20, 30, 40, 50, 60], 25.0) == 5  # past from rep 4: said at 5
    assert truth_stop_rep([0, 10, 20], 25.0) == 0
    assert truth_stop_rep([0, 30, 10, 30, 30], 25.0) == 5  # a dip back under breaks the run


@pytest.mark.parametrize(("measured", "bottoms", "stop", "want"), [
    ([0, 12, 21, 28, 41], [30, 90, 150, 210, 270], 4, dict(ok=True, vl_max_abs_error_pp=2.0)),
    ([0, 16, 21, 28, 41], [30, 90, 150, 210, 270], 4, dict(vl_ok=False, stop_ok=True)),
    ([0, 10, 20, 30, 40], [30, 90, 150, 210, 270], 3, dict(vl_ok=True, stop_ok=False)),
    ([0, 10, 30, 40], [30, 90, 210, 270], 4,  # a rep missed: matched by its bottom
     dict(reps_ok=False, vl_ok=False, vl_measured=[0, 10, None, 30, 40])),
])
def test_score_set(measured, bottoms, stop, want):
    got = score_set(measured, bottoms, _truth([0, 10, 20, 30, 40]), stop, 15.0)
    assert got["stop_truth"] == 4
    for k, v in want.items():
        assert got[k] == v, k


def test_specs_cover_every_fps_and_seed():
    default, full = velocity_specs(), velocity_specs(full=True)
    assert len(full) == 4 * len(default)
    assert {s.fps for s in default} == {30.0, 60.0} and {s.seed for s in default} == {3, 11}
    assert all(s.velocity_loss > 0 for s in full)


def test_a_set_without_velocity_loss_is_refused(tmp_path: Path):
    from formcoach.errors import InputError

    with pytest.raises(InputError, match="no velocity_loss"):
        evaluate_velocity([SynthSpec(name="x", exercise="squat")], cache=tmp_path)


@pytest.mark.slow
def test_rendered_sets_through_the_pose_model_meet_the_targets(tmp_path: Path):
    """Issue 19's target on video: sets rendered with VL 0 to 40% over 5 reps, through the
    default pose backend: every rep detected, every rep's VL within 5 points of the truth, the
    stop cue (15%: every true VL 5 points from it) on rep 4. The squats are the sets the old
    mean-of-speeds read up to 12 points off, with the cue a rep early or late."""
    specs = [s for s in velocity_specs(fps=(30.0,), seeds=(3,), reps=5, loss_pct=40.0)
             if (s.exercise, s.view) in (("squat", "side"), ("squat", "45"), ("pushup", "side"))]
    s = evaluate_velocity(specs, cache=tmp_path, stop_at_vl_pct=15.0, jobs=1)
    assert s["n"] == 3
    for r in s["sets"]:
        assert r["reps_ok"], r
        assert r["vl_max_abs_error_pp"] <= VL_TOLERANCE_PP, r
        assert r["stop_truth"] == 4 and r["stop_rep"] == 4 and r["stop_cues"] == 1, r
