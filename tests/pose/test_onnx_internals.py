"""The ONNX backend's own BlazePose graph: anchors, decoding, NMS, ROI geometry, tracking.

Everything except the last section runs without a model: synthetic tensors with known answers.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

from formcoach.errors import InputError
from formcoach.pose import _blazepose as bp

# ------------------------------------------------------------------------------------ anchors


def test_anchor_count_and_layout() -> None:
    a = bp.ssd_anchors()
    assert a.shape == (bp.NUM_ANCHORS, 2) == (2254, 2)
    assert ((a > 0) & (a < 1)).all()
    # 28x28 grid, 2 anchors per cell, row-major (x varies fastest).
    np.testing.assert_allclose(a[0], [0.5 / 28, 0.5 / 28])
    np.testing.assert_array_equal(a[0], a[1])
    np.testing.assert_allclose(a[2], [1.5 / 28, 0.5 / 28])
    np.testing.assert_allclose(a[2 * 28], [0.5 / 28, 1.5 / 28])
    # 14x14 grid starts after 28*28*2 anchors.
    np.testing.assert_allclose(a[1568], [0.5 / 14, 0.5 / 14])
    # The three stride-32 layers share one 7x7 grid with 6 anchors per cell.
    np.testing.assert_allclose(a[1960:1966], np.tile([0.5 / 7, 0.5 / 7], (6, 1)))
    np.testing.assert_allclose(a[-1], [6.5 / 7, 6.5 / 7])
    assert not a.flags.writeable


# ------------------------------------------------------------------------------ decoding


def _raw_for(anchor: int, box: tuple[float, float, float, float], kps: np.ndarray) -> np.ndarray:
    """Regressor row that decodes to ``box`` (cx, cy, w, h) and ``kps`` (4, 2), all in 224 px."""
    ax, ay = bp.ssd_anchors()[anchor] * bp.DETECTOR_SIZE
    row = np.zeros(12)
    row[:4] = [box[0] - ax, box[1] - ay, box[2], box[3]]
    row[4:] = (kps - [ax, ay]).ravel()
    return row


def test_decode_round_trip() -> None:
    reg = np.zeros((bp.NUM_ANCHORS, 12), np.float32)
    logits = np.full(bp.NUM_ANCHORS, -50.0, np.float32)
    kps = np.array([[100.0, 150.0], [100.0, 60.0], [105.0, 90.0], [104.0, 40.0]])
    reg[700] = _raw_for(700, (110.0, 50.0, 40.0, 30.0), kps)
    logits[700] = 3.0
    d = bp.decode_detections(reg, logits, min_score=0.5)
    assert len(d) == 1
    np.testing.assert_allclose(d.boxes[0], [90.0, 35.0, 130.0, 65.0], atol=1e-4)
    np.testing.assert_allclose(d.keypoints[0], kps, atol=1e-4)
    assert d.scores[0] == pytest.approx(1 / (1 + math.exp(-3.0)))


def test_decode_thresholds_and_clips_scores() -> None:
    reg = np.zeros((bp.NUM_ANCHORS, 12), np.float32)
    logits = np.full((bp.NUM_ANCHORS, 1), -1e30, np.float32)  # clipped, no overflow
    logits[5] = 1e30
    logits[6] = 0.1  # sigmoid 0.525
    with np.errstate(over="raise"):
        d = bp.decode_detections(reg, logits, min_score=0.6)
    assert len(d) == 1 and d.scores[0] == pytest.approx(1.0)
    assert len(bp.decode_detections(reg, logits, min_score=0.5)) == 2


# ------------------------------------------------------------------------------------ NMS


def _dets(boxes: list[list[float]], scores: list[float]) -> bp.Detections:
    b = np.array(boxes, float)
    kps = np.repeat(((b[:, :2] + b[:, 2:]) / 2)[:, None, :], 4, axis=1)
    return bp.Detections(b, kps, np.array(scores, float))


def test_weighted_nms_merges_overlaps_and_keeps_top_score() -> None:
    d = _dets([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], [0.6, 0.9, 0.7])
    out = bp.weighted_nms(d, 0.3)
    assert len(out) == 2
    np.testing.assert_allclose(out.scores, [0.9, 0.7])
    w = np.array([0.9, 0.6])
    expected = (np.array([[1, 0, 11, 10], [0, 0, 10, 10]]) * w[:, None]).sum(0) / w.sum()
    np.testing.assert_allclose(out.boxes[0], expected)
    np.testing.assert_allclose(out.keypoints[0, 0], (expected[:2] + expected[2:]) / 2)
    np.testing.assert_allclose(out.boxes[1], [50, 50, 60, 60])


def test_weighted_nms_keeps_weak_overlap_and_handles_empty() -> None:
    d = _dets([[0, 0, 10, 10], [8, 0, 18, 10]], [0.9, 0.8])  # IoU = 2/18 < 0.3
    assert len(bp.weighted_nms(d, 0.3)) == 2
    empty = bp.Detections(np.zeros((0, 4)), np.zeros((0, 4, 2)), np.zeros(0))
    assert len(bp.weighted_nms(empty)) == 0


def test_best_detection_prefers_score_then_size_then_centre() -> None:
    d = _dets([[0, 0, 10, 10], [0, 0, 20, 20], [40, 40, 60, 60]], [0.8, 0.8, 0.8])
    assert bp.best_detection(d, (50.0, 50.0)) == 2  # larger boxes tie on area; central wins
    d = _dets([[45, 45, 55, 55], [0, 0, 20, 20]], [0.8, 0.8])
    assert bp.best_detection(d, (50.0, 50.0)) == 1  # larger beats central
    d = _dets([[0, 0, 10, 10], [40, 40, 60, 60]], [0.9, 0.8])
    assert bp.best_detection(d, (50.0, 50.0)) == 0


# ------------------------------------------------------------------------------ ROI geometry

RNG = np.random.default_rng(7)
ROIS = [
    bp.Roi(
        float(RNG.uniform(0, 1280)),
        float(RNG.uniform(0, 720)),
        float(RNG.uniform(20, 900)),
        float(RNG.uniform(-math.pi, math.pi)),
    )
    for _ in range(25)
]


@pytest.mark.parametrize("roi", ROIS)
def test_roi_affine_round_trip(roi: bp.Roi) -> None:
    pts = RNG.uniform(-500, 1500, size=(50, 2))
    to_crop = bp.image_to_crop_matrix(roi, 256)
    back = bp.apply_affine(bp.crop_to_image_matrix(roi, 256), bp.apply_affine(to_crop, pts))
    np.testing.assert_allclose(back, pts, atol=1e-8)
    # The ROI centre lands on the crop centre, and distances scale by 256 / size.
    np.testing.assert_allclose(bp.apply_affine(to_crop, [roi.cx, roi.cy]), [128, 128], atol=1e-9)
    d_img = np.linalg.norm(pts[1:] - pts[:-1], axis=1)
    crop = bp.apply_affine(to_crop, pts)
    np.testing.assert_allclose(np.linalg.norm(crop[1:] - crop[:-1], axis=1), d_img * 256 / roi.size)


@pytest.mark.parametrize("angle_deg", [-170, -90, -30, 0, 45, 90, 135, 180])
def test_alignment_rotation_makes_the_body_axis_point_up(angle_deg: float) -> None:
    """kp0 -> kp1 at any image angle maps to 'straight up' in the crop."""
    c = np.array([400.0, 300.0])
    th = math.radians(angle_deg)  # image angle, counter-clockwise on screen (y down)
    kp1 = c + 100.0 * np.array([math.cos(th), -math.sin(th)])
    roi = bp.alignment_roi(c, kp1)
    assert roi.size == pytest.approx(2 * 100 * bp.ROI_SCALE)
    up = bp.apply_affine(bp.image_to_crop_matrix(roi, 256), np.stack([c, kp1]))
    np.testing.assert_allclose(up[0], [128, 128], atol=1e-9)
    np.testing.assert_allclose(up[1], [128, 128 - 256 / (2 * bp.ROI_SCALE)], atol=1e-9)


def test_rotation_sign_convention() -> None:
    # Upright person (scale point above the hips): no rotation.
    assert bp.alignment_roi(np.array([10.0, 50.0]), np.array([10.0, 0.0])).rotation == pytest.approx(0)
    # Person lying with the head to the right (+x): MediaPipe's rotation is +90 degrees.
    r = bp.alignment_roi(np.array([10.0, 50.0]), np.array([60.0, 50.0])).rotation
    assert r == pytest.approx(math.pi / 2)
    assert bp.normalize_radians(3 * math.pi / 2) == pytest.approx(-math.pi / 2)


def test_warp_crop_samples_where_the_affine_says() -> None:
    img = np.zeros((300, 400, 3), np.uint8)
    img[78:83, 148:153] = (10, 200, 250)  # a BGR blob centred at x=150, y=80
    roi = bp.Roi(140.0, 100.0, 120.0, 0.7)
    crop = bp.warp_crop(img, roi, 256, replicate_border=True)
    expected = bp.apply_affine(bp.image_to_crop_matrix(roi, 256), [150.0, 80.0])
    ys, xs = np.nonzero(crop[:, :, 2] > 125)
    np.testing.assert_allclose([xs.mean(), ys.mean()], expected, atol=1.0)
    assert tuple(crop[int(expected[1]), int(expected[0])]) == (10, 200, 250)  # order unchanged


def test_letterbox_inverse_and_zero_padding() -> None:
    w, h = 1280, 720
    lb = bp.letterbox_roi(w, h)
    to_crop = bp.image_to_crop_matrix(lb, 224)
    pad = (224 - 224 * h / w) / 2  # 49 px top and bottom
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], float)
    np.testing.assert_allclose(
        bp.apply_affine(to_crop, corners), [[0, pad], [224, pad], [224, 224 - pad], [0, 224 - pad]]
    )
    pts = RNG.uniform(0, [w, h], size=(20, 2))
    back = bp.apply_affine(bp.crop_to_image_matrix(lb, 224), bp.apply_affine(to_crop, pts))
    np.testing.assert_allclose(back, pts, atol=1e-9)
    crop = bp.warp_crop(np.full((h, w, 3), 255, np.uint8), lb, 224, replicate_border=False)
    assert (crop[:48] == 0).all() and (crop[-48:] == 0).all() and (crop[51:-51] == 255).all()


# -------------------------------------------------------------------------- landmark decoding


def _outputs(crop_xy: np.ndarray, presence: float = 0.9) -> bp.LandmarkOutputs:
    raw = np.zeros((bp.NUM_MODEL_LANDMARKS, 5))
    raw[:, :2] = crop_xy
    raw[:, 2] = np.linspace(-50, 50, bp.NUM_MODEL_LANDMARKS)
    raw[:, 3] = np.linspace(-4, 4, bp.NUM_MODEL_LANDMARKS)
    world = np.tile([1.0, 0.0, 0.25], (bp.NUM_MODEL_LANDMARKS, 1))
    return bp.LandmarkOutputs(raw, presence, world, None)


def test_decode_landmarks_to_image_pixels() -> None:
    roi = bp.Roi(500.0, 300.0, 400.0, math.pi / 2)
    crop_xy = RNG.uniform(0, 256, size=(bp.NUM_MODEL_LANDMARKS, 2))
    pose = bp.decode_landmarks(_outputs(crop_xy), roi)
    np.testing.assert_allclose(
        bp.apply_affine(bp.image_to_crop_matrix(roi, 256), pose.landmarks[:, :2]), crop_xy, atol=1e-9
    )
    np.testing.assert_allclose(pose.landmarks[:, 2], np.linspace(-50, 50, 39) * 400 / 256)
    np.testing.assert_allclose(pose.landmarks[:, 3], 1 / (1 + np.exp(-np.linspace(-4, 4, 39))))
    # World x axis of the crop is the image's +y axis after a +90 degree ROI rotation.
    np.testing.assert_allclose(pose.world[0], [0.0, 1.0, 0.25], atol=1e-12)
    assert pose.presence == pytest.approx(0.9)


def _refine_oracle(xy: np.ndarray, hm: np.ndarray, k: int = 7, min_conf: float = 0.5) -> np.ndarray:
    """Plain loop over landmarks and window cells (MediaPipe's algorithm, spelled out)."""
    h, w, n = hm.shape
    out = xy.copy()
    for i in range(n):
        col, row = int(xy[i, 0] * w), int(xy[i, 1] * h)
        if not (0 <= col < w and 0 <= row < h):
            continue
        total = wc = wr = best = 0.0
        for r in range(max(0, row - k // 2), min(h, row + k // 2 + 1)):
            for c in range(max(0, col - k // 2), min(w, col + k // 2 + 1)):
                conf = 1 / (1 + math.exp(-hm[r, c, i]))
                total, wc, wr, best = total + conf, wc + c * conf, wr + r * conf, max(best, conf)
        if best >= min_conf and total > 0:
            out[i] = [wc / total / w, wr / total / h]
    return out


@pytest.mark.parametrize("seed", range(5))
def test_heatmap_refinement_matches_loop_oracle(seed: int) -> None:
    rng = np.random.default_rng(seed)
    hm = rng.normal(0.0, 3.0, (64, 64, 39))
    xy = rng.uniform(-0.1, 1.1, (39, 2))  # some outside the crop, some near the edges
    np.testing.assert_allclose(bp.refine_with_heatmap(xy, hm), _refine_oracle(xy, hm), atol=1e-12)


def test_heatmap_refinement() -> None:
    hm = np.full((64, 64, 2), -20.0)
    rows, cols = np.mgrid[0:64, 0:64]
    hm[:, :, 0] = 8.0 - ((rows - 20) ** 2 + (cols - 30.4) ** 2)  # confident peak near (30.4, 20)
    xy = np.array([[31.0 / 64, 21.5 / 64], [10.0 / 64, 10.0 / 64]])
    out = bp.refine_with_heatmap(xy, hm)
    conf = 1 / (1 + np.exp(-hm[18:25, 28:35, 0]))  # 7x7 window around cell (31, 21)
    r, c = np.mgrid[18:25, 28:35]
    np.testing.assert_allclose(
        out[0], [(c * conf).sum() / conf.sum() / 64, (r * conf).sum() / conf.sum() / 64]
    )
    np.testing.assert_array_equal(out[1], xy[1])  # unconfident: untouched
    # Points outside the heatmap are left alone.
    far = np.array([[1.5, 0.5], [-0.2, 0.5]])
    np.testing.assert_array_equal(bp.refine_with_heatmap(far, hm), far)


# ------------------------------------------------------------------------- pipeline/tracking


class FakeModels:
    """Detector: one person with hips at ``hip`` (image px); landmarks: a fixed crop layout."""

    def __init__(self, image_wh: tuple[int, int], hip: tuple[float, float], half_body: float) -> None:
        self.w, self.h = image_wh
        self.hip = np.array(hip)
        self.half_body = half_body
        self.presence = 0.9
        self.detector_calls = 0
        self.landmark_calls = 0
        self.person = True

    def detector(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        assert x.shape == (1, 224, 224, 3) and x.dtype == np.float32
        assert x.min() >= -1.0 and x.max() <= 1.0
        self.detector_calls += 1
        reg = np.zeros((bp.NUM_ANCHORS, 12), np.float32)
        logits = np.full(bp.NUM_ANCHORS, -10.0, np.float32)
        if self.person:
            to_crop = bp.image_to_crop_matrix(bp.letterbox_roi(self.w, self.h), 224)
            kp = bp.apply_affine(to_crop, np.stack([self.hip, self.hip - [0, self.half_body]]))
            kps = np.vstack([kp, kp])
            reg[1000] = _raw_for(1000, (kp[1, 0], kp[1, 1], 20.0, 20.0), kps)
            logits[1000] = 5.0
        return reg, logits

    def landmarks(self, x: np.ndarray) -> bp.LandmarkOutputs:
        assert x.shape == (1, 256, 256, 3) and x.dtype == np.float32
        assert x.min() >= 0.0 and x.max() <= 1.0
        self.landmark_calls += 1
        crop = np.full((bp.NUM_MODEL_LANDMARKS, 2), 128.0)
        crop[bp.AUX_SCALE] = [128.0, 128.0 - 256 / (2 * bp.ROI_SCALE)]  # a self-consistent ROI
        return _outputs(crop, self.presence)


def _image() -> np.ndarray:
    return np.full((480, 640, 3), 90, np.uint8)


def test_pipeline_detects_then_tracks() -> None:
    fake = FakeModels((640, 480), (320.0, 300.0), 120.0)
    pipe = bp.BlazePosePipeline(fake.detector, fake.landmarks)
    pose = pipe.step(_image())
    assert pose is not None and pipe.last.detector_ran
    roi = pipe.last.roi
    assert roi is not None
    assert (roi.cx, roi.cy) == pytest.approx((320.0, 300.0), abs=1e-4)
    assert roi.size == pytest.approx(2 * 120 * 1.25, abs=1e-3)
    assert roi.rotation == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_allclose(pose.landmarks[0, :2], [320.0, 300.0], atol=1e-3)
    for _ in range(3):
        assert pipe.step(_image()) is not None
        assert pipe.last.tracked and not pipe.last.detector_ran
        assert pipe.last.roi is not None
        assert pipe.last.roi.size == pytest.approx(roi.size, abs=1e-3)  # a fixed point
    assert fake.detector_calls == 1 and fake.landmark_calls == 4


def test_pipeline_redetects_when_presence_drops_and_after_reset() -> None:
    fake = FakeModels((640, 480), (320.0, 300.0), 120.0)
    pipe = bp.BlazePosePipeline(fake.detector, fake.landmarks, min_presence=0.5)
    pipe.step(_image())
    fake.presence = 0.2
    assert pipe.step(_image()) is None
    assert fake.detector_calls == 2  # tracking lost -> detector on the same frame
    fake.presence = 0.9
    pipe.step(_image())
    pipe.reset()
    pipe.step(_image())
    assert fake.detector_calls == 4


def test_pipeline_no_person_and_image_mode() -> None:
    fake = FakeModels((640, 480), (320.0, 300.0), 120.0)
    fake.person = False
    pipe = bp.BlazePosePipeline(fake.detector, fake.landmarks, track=False)
    assert pipe.step(_image()) is None and fake.landmark_calls == 0
    fake.person = True
    pipe.step(_image())
    pipe.step(_image())
    assert fake.detector_calls == 3  # image mode: the detector runs on every frame


# ------------------------------------------------------------------------------- smoothing

NS = 33_333_333  # one frame at 30 fps


def test_one_euro_passes_constant_and_first_sample() -> None:
    f = bp.OneEuroFilter(0.05, 80.0, 1.0)
    x = np.array([[10.0, 20.0], [30.0, 40.0]])
    np.testing.assert_array_equal(f(0, x, 0.01), x)
    for k in range(1, 5):
        np.testing.assert_allclose(f(k * NS, x, 0.01), x)


def test_one_euro_lags_slow_noise_more_than_fast_motion() -> None:
    slow, fast = bp.OneEuroFilter(0.05, 80.0, 1.0), bp.OneEuroFilter(0.05, 80.0, 1.0)
    slow(0, np.zeros(1), 0.01)
    fast(0, np.zeros(1), 0.01)
    jitter = slow(NS, np.ones(1), 0.01)[0]  # a 1 px jump on a 100 px person: damped
    move = fast(NS, np.full(1, 50.0), 0.01)[0] / 50.0  # half the person's size: followed
    assert 0.0 < jitter < 0.6 < 0.9 < move < 1.0
    # Timestamps that do not increase pass the sample through unchanged.
    np.testing.assert_array_equal(slow(NS, np.full(1, 7.0), 0.01), [7.0])


def test_one_euro_matches_its_definition() -> None:
    """One step by hand: speed EMA at the derivative cutoff, then value EMA at the adapted cutoff."""
    f = bp.OneEuroFilter(0.1, 40.0, 1.0)
    f(0, np.array([0.0]))
    out = f(50_000_000, np.array([2.0]))  # 20 Hz
    alpha = lambda cutoff: 1 / (1 + 20.0 / (2 * math.pi * cutoff))  # noqa: E731
    speed = alpha(1.0) * (2.0 * 20.0)
    assert out[0] == pytest.approx(alpha(0.1 + 40.0 * speed) * 2.0)


def test_pose_smoother_visibility_low_pass_and_reset() -> None:
    sm = bp.PoseSmoother()
    lm = np.zeros((33, 4))
    world = np.zeros((33, 3))
    sm(0, lm, world, 200.0)
    lm2 = lm.copy()
    lm2[:, 3] = 1.0
    out, _ = sm(NS, lm2, world + 1.0, 200.0)
    np.testing.assert_allclose(out[:, 3], 0.1)
    sm.reset()
    out, w = sm(2 * NS, lm2, world + 1.0, 200.0)
    np.testing.assert_array_equal(out, lm2)
    np.testing.assert_array_equal(w, world + 1.0)


# ------------------------------------------------------------------------ the real estimator


@pytest.fixture(scope="module")
def estimator():
    from formcoach.pose.onnx_backend import OnnxPoseEstimator

    est = OnnxPoseEstimator(running_mode="image")
    yield est
    est.close()


def test_estimator_identity_and_sessions(estimator) -> None:
    from formcoach.pose import models

    assert estimator.name == "onnx" and estimator.running_mode == "image"
    assert estimator.model_sha256 == models.model_sha256(models.ONNX_DETECTOR, models.ONNX_LANDMARKER)
    assert len(estimator.model_sha256) == 64
    from formcoach.pose.onnx_backend import DEFAULT_THREADS, OnnxPoseEstimator

    assert estimator.num_threads == DEFAULT_THREADS == min(2, os.cpu_count() or 1)
    one = OnnxPoseEstimator(running_mode="image", num_threads=1)
    assert one.num_threads == 1
    one.close()


def test_image_mode_accepts_any_timestamp_order(estimator) -> None:
    img = np.full((120, 160, 3), 127, np.uint8)
    assert not estimator.process(img, 5).detected
    assert not estimator.process(img, 1).detected


def test_image_mode_never_smooths_and_video_mode_can_opt_out() -> None:
    from formcoach.pose.onnx_backend import OnnxPoseEstimator

    assert OnnxPoseEstimator(running_mode="image", smooth=True)._smoother is None
    assert OnnxPoseEstimator(running_mode="video")._smoother is not None
    assert OnnxPoseEstimator(running_mode="video", smooth=False)._smoother is None


@pytest.mark.parametrize(
    "kwargs",
    [{"min_detection_confidence": 1.5}, {"min_tracking_confidence": -0.1}, {"num_threads": 0}],
)
def test_bad_options_are_input_errors(kwargs: dict) -> None:
    from formcoach.pose import create_estimator

    with pytest.raises(InputError):
        create_estimator("onnx", **kwargs)


def test_missing_onnxruntime_is_backend_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from formcoach.errors import BackendUnavailable
    from formcoach.pose import create_estimator

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` fail
    with pytest.raises(BackendUnavailable, match="pip install onnxruntime"):
        create_estimator("onnx")


def test_closed_estimator_refuses_frames() -> None:
    from formcoach.pose.onnx_backend import OnnxPoseEstimator

    est = OnnxPoseEstimator()
    est.close()
    with pytest.raises(InputError, match="closed"):
        est.process(np.zeros((64, 64, 3), np.uint8), 1)


def test_a_gap_between_frames_starts_afresh_and_a_dropped_frame_keeps_tracking() -> None:
    """After MAX_TRACK_GAP_NS without frames (a busy live loop dropped a burst) the tracked crop
    is where the body was: the detector finds it again and the filters forget the old pose, so
    the first frame after the gap reads what a fresh start reads (before: a squat 1 s into its
    descent read 107 deg at the knee for a frame, then 80, then 74). One or two dropped frames
    keep tracking."""
    from pathlib import Path

    from formcoach.pose.onnx_backend import MAX_TRACK_GAP_NS, OnnxPoseEstimator
    from formcoach.sources import VideoFileSource

    sample = Path(__file__).resolve().parents[2] / "samples" / "squat_side_clean.mp4"
    src = VideoFileSource(sample)
    frames = [(f.image, f.t_ns) for _, f in zip(range(80), src, strict=False)]
    src.close()
    gap_to = 73
    assert frames[gap_to][1] - frames[42][1] > MAX_TRACK_GAP_NS > 3 * (frames[1][1] - frames[0][1])
    with OnnxPoseEstimator(model="full") as est:
        for img, t in frames[:43]:
            est.process(img, t)
        after_gap = est.process(*frames[gap_to])
        assert est._pipeline.last.detector_ran
        est.process(*frames[gap_to + 1])
        est.process(*frames[gap_to + 3])  # two frames dropped
        assert est._pipeline.last.tracked and not est._pipeline.last.detector_ran
    with OnnxPoseEstimator(model="full") as fresh:
        first = fresh.process(*frames[gap_to])
    np.testing.assert_allclose(after_gap.landmarks, first.landmarks)
