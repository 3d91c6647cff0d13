"""The back's bulge from a person mask (:mod:`formcoach.pose.silhouette`), on drawn masks whose
outline is known exactly, and through the onnx backend on a rendered sample."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from conftest import SAMPLES, SHARED_VIDEOS, requires_shared

from formcoach.pose.silhouette import (
    MIN_TRUNK_PX,
    SAMPLES_T,
    back_bulge,
    back_normal,
    back_outline,
    needs_silhouette,
)
from formcoach.skeleton import LM, NUM_LANDMARKS

HIP = np.array([200.0, 300.0])
SHOULDER = np.array([100.0, 200.0])  # a trunk leaning 45 deg to image left: a hinge


def _pose(knees_front: bool = True, hip: np.ndarray = HIP, shoulder: np.ndarray = SHOULDER
          ) -> np.ndarray:
    """Hips, shoulders and knees of a side-on hinge (the knees on the front of the trunk)."""
    p = np.full((NUM_LANDMARKS, 2), np.nan)
    chord = shoulder - hip
    n = np.array([-chord[1], chord[0]]) / np.hypot(*chord)  # the front (knee side) normal
    knee = hip + 0.8 * np.hypot(*chord) * (n if knees_front else -n) + 0.2 * chord
    for a, b, v in ((LM.LEFT_HIP, LM.RIGHT_HIP, hip), (LM.LEFT_SHOULDER, LM.RIGHT_SHOULDER,
                    shoulder), (LM.LEFT_KNEE, LM.RIGHT_KNEE, knee)):
        p[a] = p[b] = v
    return p


def _trunk_mask(bow: float, knees_front: bool = True, depth: float = 0.25,
                hip: np.ndarray = HIP, shoulder: np.ndarray = SHOULDER,
                size: tuple[int, int] = (400, 400)) -> np.ndarray:
    """A trunk whose back outline sits ``depth`` chord lengths behind the hip-shoulder line and
    bows ``bow`` chord lengths out (a parabola, 0 at t = 0.1 and 0.9) between its ends."""
    chord = shoulder - hip
    length = float(np.hypot(*chord))
    n = np.array([-chord[1], chord[0]]) / length
    back = -n if knees_front else n
    ts = np.linspace(-0.1, 1.1, 121)
    bulge = bow * (1.0 - ((ts - 0.5) / 0.4) ** 2)
    outline = hip + ts[:, None] * chord + (depth + bulge)[:, None] * length * back
    front = hip + ts[::-1, None] * chord - 0.3 * length * back
    poly = np.vstack([outline, front]).round().astype(np.int32)
    mask = np.zeros(size, np.uint8)
    cv2.fillPoly(mask, [poly], 1)
    return mask.astype(bool)


@pytest.mark.parametrize("bow", [-0.08, 0.0, 0.05, 0.12, 0.2])
def test_bulge_is_the_outlines_bow_beyond_its_chord(bow: float) -> None:
    # The oracle: the bow drawn into the mask, within the 0.5 px scan step plus the pixel grid
    # (about 2 px of 141: 0.015 of the chord).
    got = back_bulge(_trunk_mask(bow), _pose())
    assert got == pytest.approx(bow, abs=0.015)


def test_bulge_is_the_same_whichever_way_the_person_faces() -> None:
    for bow in (-0.06, 0.15):
        mirrored = np.fliplr(_trunk_mask(bow))
        pose = _pose()
        pose[:, 0] = 399.0 - pose[:, 0]
        assert back_bulge(mirrored, pose) == pytest.approx(back_bulge(_trunk_mask(bow), _pose()),
                                                           abs=0.01)


def test_the_back_is_the_side_away_from_the_knees() -> None:
    _, _, n = back_normal(_pose(knees_front=True))  # type: ignore[misc]
    _, _, m = back_normal(_pose(knees_front=False))  # type: ignore[misc]
    assert np.allclose(n, -m)
    # With the knees moved to the other side the other outline is read: the flat front here.
    assert back_bulge(_trunk_mask(0.2), _pose(knees_front=False)) == pytest.approx(0.0, abs=0.015)


def test_outline_points_lie_on_the_drawn_back() -> None:
    mask = _trunk_mask(0.1)
    pts = back_outline(mask, _pose())
    assert pts is not None and pts.shape == (len(SAMPLES_T), 2)
    assert np.isfinite(pts).all()
    for x, y in pts.round().astype(int):  # on the body, with background just beyond
        assert mask[y, x]
    _, _, n = back_normal(_pose())  # type: ignore[misc]
    beyond = (pts + 3.0 * n).round().astype(int)
    assert not mask[beyond[:, 1], beyond[:, 0]].any()


def test_unmeasurable_backs_are_nan() -> None:
    mask = _trunk_mask(0.1)
    straight = _pose()
    chord = SHOULDER - HIP
    straight[[LM.LEFT_KNEE, LM.RIGHT_KNEE]] = HIP - 0.9 * chord  # standing: knees on the line
    assert not needs_silhouette(straight) and math.isnan(back_bulge(mask, straight))
    missing = _pose()
    missing[[LM.LEFT_SHOULDER, LM.RIGHT_SHOULDER]] = np.nan
    assert not needs_silhouette(missing) and math.isnan(back_bulge(mask, missing))
    assert math.isnan(back_bulge(np.zeros((400, 400), bool), _pose()))  # nobody in the mask
    # A trunk shorter than MIN_TRUNK_PX is too coarse to read.
    tiny_h, tiny_s = np.array([20.0, 20.0]), np.array([20.0 - 0.6 * MIN_TRUNK_PX, 20.0 - 0.6 *
                                                        MIN_TRUNK_PX])
    tiny = _trunk_mask(0.1, hip=tiny_h, shoulder=tiny_s, size=(40, 40))
    assert math.isnan(back_bulge(tiny, _pose(hip=tiny_h, shoulder=tiny_s)))
    # A body that runs off the image edge has no back outline there.
    cut = _trunk_mask(0.1)
    cut_pose = _pose()
    cut_pose[:, 1] += 120.0  # the trunk moved down: its back is now past the bottom edge
    assert math.isnan(back_bulge(np.roll(cut, 120, axis=0)[:330], cut_pose))
    assert math.isnan(back_bulge(np.zeros(5, bool), _pose()))  # not a 2D mask


def test_probability_masks_read_like_boolean_ones() -> None:
    mask = _trunk_mask(0.1)
    prob = cv2.GaussianBlur(mask.astype(np.float32), (5, 5), 0)
    assert back_bulge(prob, _pose()) == pytest.approx(back_bulge(mask, _pose()), abs=0.01)


def test_onnx_backend_measures_the_back_without_changing_the_landmarks() -> None:
    pytest.importorskip("onnxruntime")
    from formcoach.pose.track import estimate_track

    clip = SAMPLES / "squat_side_clean.mp4"
    plain = estimate_track(clip, "onnx", max_frames=90)
    with_sil = estimate_track(clip, "onnx", max_frames=90, silhouette=True)
    # Full with its mask head gives the same landmarks, bit for bit.
    assert np.array_equal(plain.poses, with_sil.poses, equal_nan=True)
    assert np.isnan(plain.back_bulge).all() and "silhouette" not in plain.meta  # type: ignore[arg-type]
    assert with_sil.meta["silhouette"] is True
    bent = np.array([needs_silhouette(p) for p in with_sil.poses])
    assert bent.any() and (~bent).any()  # the sample stands, then squats
    measured = np.isfinite(with_sil.back_bulge)  # type: ignore[arg-type]
    # Read where the hip is bent (decided on the model's raw landmarks, so a frame or two at
    # the edges differs from the smoothed track's).
    assert (measured & ~bent).sum() <= 3 and measured[bent].mean() > 0.8
    # The mannequin's back is a smooth, barely curved surface.
    assert np.nanmax(np.abs(with_sil.back_bulge)) < 0.12  # type: ignore[arg-type]


def test_a_track_keeps_its_silhouette_measure(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from formcoach.types import PoseTrack

    n = 5
    poses = np.zeros((n, NUM_LANDMARKS, 4))
    bulge = np.array([np.nan, 0.01, -0.05, 0.2, np.nan])
    t = PoseTrack(poses, np.full((n, NUM_LANDMARKS, 3), np.nan), np.arange(n, dtype=np.int64),
                  30.0, (64, 64), back_bulge=bulge)
    t.save(tmp_path / "a.npz")
    assert np.array_equal(PoseTrack.load(tmp_path / "a.npz").back_bulge, bulge, equal_nan=True)  # type: ignore[arg-type]
    old = PoseTrack(poses, np.full((n, NUM_LANDMARKS, 3), np.nan), np.arange(n, dtype=np.int64),
                    30.0, (64, 64))
    old.save(tmp_path / "b.npz")  # nothing measured: saved as before, read back as NaN
    assert np.isnan(PoseTrack.load(tmp_path / "b.npz").back_bulge).all()  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="back_bulge"):
        PoseTrack(poses, np.full((n, NUM_LANDMARKS, 3), np.nan), np.arange(n, dtype=np.int64),
                  30.0, (64, 64), back_bulge=np.zeros(3))


def test_the_mediapipe_backend_reads_the_same_back() -> None:
    pytest.importorskip("mediapipe")
    from formcoach.pose.track import estimate_track

    clip = SAMPLES / "squat_side_clean.mp4"
    mp = estimate_track(clip, "mediapipe", max_frames=90, silhouette=True)
    ox = estimate_track(clip, "onnx", max_frames=90, silhouette=True)
    both = np.isfinite(mp.back_bulge) & np.isfinite(ox.back_bulge)  # type: ignore[arg-type]
    assert both.mean() > 0.5
    # The same network's mask, read in the image (MediaPipe) or in the crop (onnx).
    assert np.abs(mp.back_bulge[both] - ox.back_bulge[both]).max() < 0.05  # type: ignore[index]


@requires_shared
@pytest.mark.slow
def test_a_real_deadlift_gets_its_back_judged_even_when_the_exercise_is_recognised() -> None:
    from formcoach.analysis import AnalysisOptions, analyze_file, plan_analysis

    clip = SHARED_VIDEOS / "deadlift__FormFit__deadlift.mp4"
    for exercise in ("deadlift", "auto"):
        plan = plan_analysis(AnalysisOptions(exercise=exercise, progress=False))
        res = analyze_file(plan, video=clip)
        assert res.exercise.id == "deadlift"
        # Measured on the bent-hip frames of a flat-backed lift: judged, and not rounded.
        assert res.back_bulge is not None and np.isfinite(res.back_bulge).mean() > 0.3
        assert "rounded_back" not in res.metrics.not_judged
        assert not [f for f in res.faults if f.rule_id == "rounded_back"]


@pytest.mark.parametrize("backend", ["onnx", "mediapipe"])
def test_the_silhouette_can_be_turned_on_mid_video(backend: str) -> None:
    # live --exercise auto learns that the pack needs it only after recognising the exercise.
    pytest.importorskip("onnxruntime" if backend == "onnx" else "mediapipe")
    from formcoach.pose import create_estimator, set_silhouette
    from formcoach.pose.undistort import UndistortingEstimator
    from formcoach.sources import VideoFileSource

    class _NoLens:
        has_distortion = False

    est = UndistortingEstimator(create_estimator(backend), _NoLens())  # type: ignore[arg-type]
    bulge = []
    for k, frame in enumerate(VideoFileSource(SAMPLES / "squat_side_clean.mp4", max_frames=120)):
        if k == 60:
            assert set_silhouette(est, True) and est.silhouette
        bulge.append(est.process(frame.image, frame.t_ns).back_bulge)
    est.close()
    b = np.array(bulge)
    assert np.isnan(b[:60]).all() and np.isfinite(b[60:]).any()
    assert not set_silhouette(object(), True)  # an estimator without the setting is left alone
