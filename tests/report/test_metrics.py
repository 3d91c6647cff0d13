"""Per-rep / per-set metrics on a geometric fake squatter whose true angles are known."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from fake_result import make_result, measure, series

from formcoach import metrics as M
from formcoach.types import Fault

DEPTHS = (100.0, 95.0, 90.0, 70.0)


@pytest.fixture(scope="module")
def result():
    return make_result(n_reps=4, depth_deg=DEPTHS, right_scale=0.9)


@pytest.fixture(scope="module")
def sm(result):
    return result.metrics


def test_rom_per_joint_matches_the_drawn_geometry(sm):
    assert sm.joints == ["left_knee", "right_knee", "left_hip", "right_hip"]  # squat [metrics]
    for rm, d in zip(sm.reps, DEPTHS, strict=True):
        lk, rk = rm.rom["left_knee"], rm.rom["right_knee"]
        assert lk.max_deg == pytest.approx(180.0, abs=0.5)
        assert lk.min_deg == pytest.approx(180.0 - d, abs=0.5)
        assert lk.excursion_deg == pytest.approx(d, abs=0.5)
        assert rk.excursion_deg == pytest.approx(0.9 * d, abs=0.5)
        assert rm.rom_deg == pytest.approx(d, abs=0.5)  # the signal is the left knee


def test_phases_add_up_and_find_the_bottom_pause(sm):
    for rm in sm.reps:
        assert rm.duration_s == pytest.approx(2.0, abs=1e-6)
        assert rm.eccentric_s + rm.pause_s + rm.concentric_s == pytest.approx(rm.duration_s)
        assert 0.4 - 1e-6 <= rm.pause_s < 0.9  # 0.4 s plateau + the band around it
        assert rm.eccentric_s == pytest.approx(rm.concentric_s, abs=0.05)  # symmetric profile


def test_peak_velocity_matches_the_analytic_maximum(sm):
    # flexion d*(1-cos(pi*u/0.4))/2 over u in [0, 0.4] of a 2 s rep: peak d*pi/(2*0.8) deg/s
    for rm, d in zip(sm.reps, DEPTHS, strict=True):
        assert rm.peak_velocity_dps == pytest.approx(d * math.pi / 1.6, rel=0.03)


def test_asymmetry_is_the_symmetry_index(sm):
    want = 0.1 / 0.95 * 100.0
    for rm in sm.reps:
        assert rm.asymmetry_pct["knee"] == pytest.approx(want, abs=0.3)
        assert rm.max_asymmetry_pct >= rm.asymmetry_pct["knee"]


def test_asymmetry_needs_both_sides_visible(result):
    feats = dict(result.features)
    right = feats["right_knee"].copy()
    right[::2] = np.nan  # right side seen in only half the frames
    feats["right_knee"] = right
    rm = M.rep_metrics(series(result, feats), result.reps[0], result.metrics.joints)
    assert math.isnan(rm.asymmetry_pct["knee"])
    assert math.isfinite(rm.asymmetry_pct["hip"])


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        ([90.0, 180.0], [90.0, 180.0], 0.0),
        ([80.0, 180.0], [100.0, 180.0], 20.0 / 90.0 * 100),
        ([178.0, 180.0], [179.0, 180.0], math.nan),  # too little motion to compare
        ([np.nan, np.nan], [90.0, 180.0], math.nan),
    ],
)
def test_asymmetry_table(left, right, expected):
    got = M.asymmetry_pct(np.array(left), np.array(right))
    if math.isnan(expected):
        assert math.isnan(got)
    else:
        assert got == pytest.approx(expected)


def test_faults_are_attached_with_time_and_frame(result, sm):
    assert [len(r.faults) for r in sm.reps] == [0, 0, 0, 1]
    f = sm.reps[3].faults[0]
    assert f.rule_id == "depth" and f.frame_index == result.reps[3].bottom_frame
    assert f.t_ns == result.t_ns[f.frame_index]


def test_frame_faults_without_rep_index_are_matched_by_frame(result):
    rep = result.reps[1]
    f = Fault("knees_in", "squat", "knees out", 3, int(result.t_ns[rep.bottom_frame]),
              rep.bottom_frame, 0.2, 0.1, rep_index=None)
    out = measure(result, faults=[f])
    assert [len(r.faults) for r in out.reps] == [0, 1, 0, 0]


def test_score_components_explain_the_score(sm):
    for rm in sm.reps:
        comps = rm.score_components
        assert set(comps) == {"rom", "tempo", "faults", "symmetry"}
        got = sum(c.points for c in comps.values())
        assert rm.score == pytest.approx(100 * got / 100.0, abs=0.06)
        assert all(0 <= c.points <= c.max_points for c in comps.values())
        assert all(c.note for c in comps.values())
    best, worst = sm.reps[0], sm.reps[3]
    assert best.score_components["rom"].points == pytest.approx(40.0)
    assert worst.score_components["faults"].points == pytest.approx(30.0 - 20.0)  # severity 2
    assert worst.score == min(r.score for r in sm.reps)
    assert sm.rom_reference_source == "best rep in set"


def test_baseline_rom_is_the_reference_when_given(result):
    out = measure(result, baseline_rom_deg=200.0)
    assert out.rom_reference_source == "baseline"
    assert out.reps[0].score_components["rom"].points == pytest.approx(20.0, abs=0.2)


def test_score_rescales_over_assessable_components(result):
    feats = {k: v for k, v in result.features.items() if not k.startswith("right_")}
    out = measure(result, features=feats)
    rm = out.reps[0]
    assert "symmetry" not in rm.score_components
    assert rm.score == pytest.approx(100.0)  # best ROM, median tempo, no faults


def test_fatigue_trend_is_the_least_squares_slope(sm):
    want = np.polyfit(np.arange(4), np.array(DEPTHS), 1)[0]
    assert sm.rom_slope_deg_per_rep == pytest.approx(want, abs=0.2)
    assert sm.tempo_slope_s_per_rep == pytest.approx(0.0, abs=1e-6)
    assert sm.rep_count == 4 and sm.partial_reps == 0
    assert math.isnan(M._slope([1.0, 2.0]))


def test_coverage_and_not_assessed():
    r = make_result(n_reps=2, missing=slice(0, 10))
    out = r.metrics
    assert out.coverage_pct == pytest.approx(100.0 * (len(r.signal) - 10) / len(r.signal))
    assert out.not_assessed == ["knee_valgus"]
    assert measure(r, not_assessed=["a", "b", "a"]).not_assessed == ["a", "b"]


def test_partial_reps_do_not_set_the_reference(result):
    reps = list(result.reps)
    reps[0] = replace(reps[0], partial=True)
    out = measure(result, reps=reps)
    assert out.partial_reps == 1
    assert out.rom_reference_deg == pytest.approx(95.0, abs=0.5)
    assert out.reps[0].score_components["rom"].points == pytest.approx(40.0)


def test_empty_and_all_nan_inputs_do_not_crash(result):
    out = M.set_metrics("squat", [], frames=0, pose_frames=0, duration_s=0.0, joints=[])
    assert out.rep_count == 0 and out.coverage_pct == 0.0 and math.isnan(out.mean_score)
    nan = replace(result, signal=np.full_like(result.signal, np.nan))
    out = measure(nan, features={k: np.full_like(v, np.nan) for k, v in result.features.items()})
    assert out.rep_count == 4
    assert all(math.isfinite(r.duration_s) for r in out.reps)


def test_metric_joints_expand_base_names():
    names = ["left_knee", "right_knee", "left_hip", "right_hip", "left_elbow", "right_elbow"]
    assert M.metric_joints(["knee"], names) == ["left_knee", "right_knee"]
    assert M.metric_joints(["left_hip"], names) == ["left_hip"]
    assert M.metric_joints(["ankle"], names) == []  # not measured: not reported
    assert M.metric_joints([], names)[:2] == ["left_elbow", "right_elbow"]  # no list: all


def test_rom_labels_name_joint_side_and_motion():
    assert M.rom_label("left_knee") == "left knee flexion"
    # an angle series is the angle, not its flexion
    assert M.angle_label("left_knee") == "left knee angle"
    assert M.angle_label("knee_fused") == "knee angle"
    assert M.angle_label("torso_lean") == "torso lean"
    assert M.rom_label("right_elbow") == "right elbow flexion"
    assert M.rom_label("hip_height") == "hip height"


def test_phase_durations_bridge_missing_frames():
    t = np.arange(11) / 10.0
    sig = np.array([180, 150, 120, 91, 90, np.nan, 90, 92, 120, 150, 180], dtype=float)
    ecc, pause, conc = M.phase_durations(sig, t, 0, 4, 10)
    assert (ecc, pause, conc) == pytest.approx((0.3, 0.4, 0.3))


def test_metrics_over_the_real_pipeline_on_a_synthetic_squat():
    """formcoach.synth ground truth -> Coach + RulesEngine -> metrics: durations and joint ROM
    agree with the truth (2D angles of the projected skeleton)."""
    from formcoach.coach.offline import analyze_track
    from formcoach.exercises import load_exercise
    from formcoach.synth import core as synth
    from formcoach.synth.spec import SynthSpec
    from formcoach.types import PoseTrack, frame_time_ns

    spec = SynthSpec(name="t", exercise="squat", view="side", reps=4, seed=7,
                     pause_bottom_s=0.4, width=512, height=384)
    poses, fps, truth = synth.truth_poses(spec)
    t_ns = np.array([frame_time_ns(i, fps) for i in range(len(poses))], dtype=np.int64)
    track = PoseTrack(poses, np.full((len(poses), 33, 3), np.nan), t_ns, fps, (512, 384), "truth")
    ex = load_exercise("squat")
    res = analyze_track(track, ex)
    out = res.metrics
    assert out.rep_count == truth["rep_count"] == 4
    assert out.coverage_pct == pytest.approx(100.0)
    truth_knee = np.asarray(truth["frames"]["angles_2d_deg"]["left_knee"])
    for rm, tr in zip(out.reps, truth["reps"], strict=True):
        # the segmenter's turnaround lies in the truth's bottom pause (give or take 0.15 s)
        assert abs(rm.bottom_s - tr["bottom_s"]) <= spec.pause_bottom_s + 0.15
        seg = truth_knee[rm.start_frame : rm.end_frame + 1]
        assert rm.rom["left_knee"].min_deg == pytest.approx(seg.min(), abs=0.5)
        assert rm.pause_s >= 0.3  # the 0.4 s bottom pause is found
        assert rm.eccentric_s + rm.pause_s + rm.concentric_s == pytest.approx(rm.duration_s)
        assert 0 <= rm.score <= 100
