"""BlazePose pre/post-processing shared by formcoach's own pose backends (private).

A re-implementation of MediaPipe's pose graph around the two BlazePose models, independent of
the inference runtime:

1. **Detector** (224x224 RGB in [-1, 1]): the whole frame letterboxed (aspect kept, zero
   padding), 2254 SSD anchors, boxes + 4 keypoints decoded, sigmoid scores, weighted NMS.
2. **ROI**: a rotated square centred on keypoint 0 (hip centre), rotated so keypoint 0 -> 1
   points up, side ``2 * |kp1 - kp0| * 1.25``.
3. **Landmarks** (256x256 RGB in [0, 1] cropped from the ROI, border replicated): 39 points in
   crop pixels, refined with the heatmap, mapped back to image pixels.
4. **Tracking**: the next frame's ROI comes from auxiliary landmarks 33 (centre) and 34
   (scale/rotation point) with the same rule, so the detector only runs when tracking is lost.

Geometry conventions (MediaPipe's): pixel coordinates are continuous, pixel ``i`` sampled at
coordinate ``i`` (OpenCV's ``warpAffine``), and a crop of side ``n`` maps the ROI's
corners onto ``(0, 0)`` and ``(n, n)``. ``rotation`` is in radians; a crop point ``u`` maps to
the image point ``c + size * R(rotation) @ (u / n - 0.5)`` with ``R`` the usual 2-D rotation in
y-down image coordinates.

Nothing here imports an inference runtime; :class:`BlazePosePipeline` takes two callables.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

DETECTOR_SIZE = 224
LANDMARK_SIZE = 256
NUM_ANCHORS = 2254
NUM_DET_KEYPOINTS = 4
NUM_MODEL_LANDMARKS = 39  # 33 pose + 2 auxiliary (ROI) + 4 unused
NUM_POSE_LANDMARKS = 33
AUX_CENTER, AUX_SCALE = 33, 34
ROI_SCALE = 1.25
ROI_TARGET_ANGLE = math.pi / 2  # keypoint 0 -> 1 must point straight up in the crop
NMS_IOU = 0.3
SCORE_CLIP = 100.0
HEATMAP_KERNEL = 7
HEATMAP_MIN_CONFIDENCE = 0.5
MIN_ROI_SIZE_PX = 8.0  # smaller ROIs are degenerate (tracking lost)


def sigmoid(x: np.ndarray | float) -> np.ndarray:
    """Logistic function, elementwise, computed in float64."""
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def normalize_radians(angle: float) -> float:
    """Wrap an angle to [-pi, pi)."""
    return angle - 2.0 * math.pi * math.floor((angle + math.pi) / (2.0 * math.pi))


# --------------------------------------------------------------------------------------------
# Anchors and detection decoding
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def ssd_anchors() -> np.ndarray:
    """The BlazePose detector's SSD anchor centres, ``(2254, 2)`` float64 (x, y) in [0, 1].

    MediaPipe's options: 5 layers, strides 8, 16, 32, 32, 32 on a 224 input, aspect ratio 1 plus
    one interpolated anchor per layer, offset 0.5, fixed anchor size (width = height = 1).
    Consecutive layers with the same stride share one feature map, so the grid is
    28x28 x 2 + 14x14 x 2 + 7x7 x 6 = 2254 anchors, in row-major order per feature map.
    """
    strides = (8, 16, 32, 32, 32)
    centres: list[np.ndarray] = []
    layer = 0
    while layer < len(strides):
        stride = strides[layer]
        per_cell = 0
        while layer < len(strides) and strides[layer] == stride:
            per_cell += 2  # aspect 1.0 + interpolated scale
            layer += 1
        fm = math.ceil(DETECTOR_SIZE / stride)
        ys, xs = np.meshgrid(np.arange(fm), np.arange(fm), indexing="ij")
        grid = np.stack([(xs + 0.5) / fm, (ys + 0.5) / fm], axis=-1).reshape(-1, 1, 2)
        centres.append(np.repeat(grid, per_cell, axis=1).reshape(-1, 2))
    out = np.concatenate(centres).astype(np.float64)
    out.setflags(write=False)
    return out


@dataclass(slots=True)
class Detections:
    """Person detections in detector-input pixels (0..224).

    Attributes:
        boxes: ``(N, 4)`` float64 xmin, ymin, xmax, ymax (the face box), px.
        keypoints: ``(N, 4, 2)`` float64 x, y px: hip centre, full-body scale point,
            shoulder centre, upper-body scale point.
        scores: ``(N,)`` float64 in [0, 1], descending after NMS.
    """

    boxes: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return int(self.scores.shape[0])


def decode_detections(regressors: np.ndarray, logits: np.ndarray, min_score: float) -> Detections:
    """Decode raw detector outputs into scored detections (before NMS).

    Args:
        regressors: ``(2254, 12)`` float: box dx, dy, w, h then 4 keypoints (dx, dy), all in
            224-px units relative to the anchor centre.
        logits: ``(2254,)`` or ``(2254, 1)`` score logits.
        min_score: keep detections with ``sigmoid(logit) >= min_score``.

    Returns:
        :class:`Detections` in detector-input pixels, in anchor order.
    """
    reg = np.asarray(regressors, dtype=np.float64).reshape(NUM_ANCHORS, 12)
    scores = sigmoid(np.clip(np.asarray(logits).reshape(NUM_ANCHORS), -SCORE_CLIP, SCORE_CLIP))
    keep = np.flatnonzero(scores >= min_score)
    reg = reg[keep]
    anchors = ssd_anchors()[keep] * DETECTOR_SIZE  # anchor centres in px; anchor w = h = 1
    cx = reg[:, 0] + anchors[:, 0]
    cy = reg[:, 1] + anchors[:, 1]
    half_w, half_h = reg[:, 2] / 2.0, reg[:, 3] / 2.0
    boxes = np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1)
    kps = reg[:, 4:12].reshape(-1, NUM_DET_KEYPOINTS, 2) + anchors[:, None, :]
    return Detections(boxes, kps, scores[keep])


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection over union of one ``(4,)`` box with ``(N, 4)`` boxes (xmin, ymin, xmax, ymax)."""
    ix = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0.0, None)
    iy = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0.0, None)
    inter = ix * iy
    area = max(box[2] - box[0], 0.0) * max(box[3] - box[1], 0.0)
    areas = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    union = area + areas - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def weighted_nms(dets: Detections, iou_threshold: float = NMS_IOU) -> Detections:
    """MediaPipe's weighted non-max suppression.

    Repeatedly takes the highest-scoring remaining detection and every remaining detection
    overlapping it by IoU > ``iou_threshold``; the cluster becomes one detection whose box and
    keypoints are the score-weighted means and whose score is the top score. Ties in score keep
    the lower anchor index first (stable sort), so the result is deterministic.
    """
    order = np.argsort(-dets.scores, kind="stable")
    remaining = order
    boxes, kps, scores = [], [], []
    while remaining.size:
        top = remaining[0]
        overlap = iou(dets.boxes[top], dets.boxes[remaining]) > iou_threshold
        overlap[0] = True
        cluster = remaining[overlap]
        w = dets.scores[cluster]
        wsum = w.sum()
        boxes.append((dets.boxes[cluster] * w[:, None]).sum(axis=0) / wsum)
        kps.append((dets.keypoints[cluster] * w[:, None, None]).sum(axis=0) / wsum)
        scores.append(dets.scores[top])
        remaining = remaining[~overlap]
    if not scores:
        return Detections(np.zeros((0, 4)), np.zeros((0, NUM_DET_KEYPOINTS, 2)), np.zeros(0))
    return Detections(np.array(boxes), np.array(kps), np.array(scores))


def best_detection(dets: Detections, image_center: tuple[float, float]) -> int:
    """Index of the person to coach: highest score; ties -> larger box, then nearer the centre."""
    area = (dets.boxes[:, 2] - dets.boxes[:, 0]) * (dets.boxes[:, 3] - dets.boxes[:, 1])
    centre = (dets.boxes[:, :2] + dets.boxes[:, 2:]) / 2.0
    dist = np.hypot(centre[:, 0] - image_center[0], centre[:, 1] - image_center[1])
    # lexsort: last key is primary
    return int(np.lexsort((dist, -area, -dets.scores))[0])


# --------------------------------------------------------------------------------------------
# ROI geometry
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Roi:
    """A rotated square region of an image, px.

    Attributes:
        cx, cy: centre, px of the full image.
        size: side length, px.
        rotation: radians (MediaPipe's sign); 0 means an upright person.
    """

    cx: float
    cy: float
    size: float
    rotation: float

    def is_valid(self) -> bool:
        """Finite, and large enough to crop."""
        vals = (self.cx, self.cy, self.size, self.rotation)
        return all(math.isfinite(v) for v in vals) and self.size >= MIN_ROI_SIZE_PX


def letterbox_roi(width: int, height: int) -> Roi:
    """The ROI that letterboxes a whole ``width`` x ``height`` frame into a square (aspect kept)."""
    return Roi(width / 2.0, height / 2.0, float(max(width, height)), 0.0)


def alignment_roi(
    center: np.ndarray,
    scale_point: np.ndarray,
    scale: float = ROI_SCALE,
    target_angle: float = ROI_TARGET_ANGLE,
) -> Roi:
    """ROI from two alignment points in image px (MediaPipe's AlignmentPointsRects + RectTransformation).

    Centre = ``center``; side = ``2 * |scale_point - center| * scale``; rotation turns the vector
    ``center -> scale_point`` to ``target_angle`` (90 deg = straight up, y grows downwards).
    """
    x0, y0 = float(center[0]), float(center[1])
    x1, y1 = float(scale_point[0]), float(scale_point[1])
    rotation = normalize_radians(target_angle - math.atan2(-(y1 - y0), x1 - x0))
    size = 2.0 * math.hypot(x1 - x0, y1 - y0) * scale
    return Roi(x0, y0, size, rotation)


def crop_to_image_matrix(roi: Roi, out_size: int) -> np.ndarray:
    """``(2, 3)`` float64 affine mapping crop px (0..out_size) to image px."""
    s = roi.size / out_size
    c, sn = math.cos(roi.rotation), math.sin(roi.rotation)
    a = np.array([[c * s, -sn * s], [sn * s, c * s]])
    t = np.array([roi.cx, roi.cy]) - a @ np.array([out_size / 2.0, out_size / 2.0])
    return np.hstack([a, t[:, None]])


def image_to_crop_matrix(roi: Roi, out_size: int) -> np.ndarray:
    """``(2, 3)`` float64 affine mapping image px to crop px (inverse of :func:`crop_to_image_matrix`)."""
    s = out_size / roi.size
    c, sn = math.cos(roi.rotation), math.sin(roi.rotation)
    a = np.array([[c * s, sn * s], [-sn * s, c * s]])
    t = np.array([out_size / 2.0, out_size / 2.0]) - a @ np.array([roi.cx, roi.cy])
    return np.hstack([a, t[:, None]])


def apply_affine(m: np.ndarray, pts: np.ndarray | list[float]) -> np.ndarray:
    """Apply a ``(2, 3)`` affine to ``(..., 2)`` points."""
    pts = np.asarray(pts, dtype=np.float64)
    return pts @ m[:, :2].T + m[:, 2]


def warp_crop(image: np.ndarray, roi: Roi, out_size: int, replicate_border: bool) -> np.ndarray:
    """Crop ``roi`` from a ``(H, W, 3)`` uint8 image into ``(out_size, out_size, 3)`` uint8.

    Bilinear, channel order unchanged. Outside the image: edge pixels (``replicate_border``) or
    black.
    """
    import cv2

    border = cv2.BORDER_REPLICATE if replicate_border else cv2.BORDER_CONSTANT
    return cv2.warpAffine(
        image,
        image_to_crop_matrix(roi, out_size),
        (out_size, out_size),
        flags=cv2.INTER_LINEAR,
        borderMode=border,
        borderValue=(0, 0, 0),
    )


# --------------------------------------------------------------------------------------------
# Landmark decoding
# --------------------------------------------------------------------------------------------


def refine_with_heatmap(
    xy_norm: np.ndarray,
    heatmap: np.ndarray,
    kernel_size: int = HEATMAP_KERNEL,
    min_confidence: float = HEATMAP_MIN_CONFIDENCE,
) -> np.ndarray:
    """MediaPipe's heatmap refinement of landmark positions.

    Args:
        xy_norm: ``(L, 2)`` landmark x, y normalised to the crop ([0, 1]).
        heatmap: ``(h, w, L)`` logits.
        kernel_size: odd window size in heatmap cells.
        min_confidence: refine only where the window's max sigmoid is at least this.

    Returns:
        ``(L, 2)`` refined normalised x, y: the sigmoid-weighted mean of cell indices in the
        window around each landmark (MediaPipe's convention: cell ``i`` sits at ``i / w``).
    """
    heatmap = np.asarray(heatmap)
    h, w, _ = heatmap.shape
    out = np.array(xy_norm, dtype=np.float64, copy=True)
    off = (kernel_size - 1) // 2
    with np.errstate(invalid="ignore"):
        col = np.trunc(out[:, 0] * w)  # truncation toward zero, as MediaPipe
        row = np.trunc(out[:, 1] * h)
        inside = (col >= 0) & (col < w) & (row >= 0) & (row < h)
    idx = np.flatnonzero(inside)
    if idx.size == 0:
        return out
    k = np.arange(-off, off + 1)
    r = row[idx].astype(np.intp)[:, None] + k  # (m, k) heatmap rows of each window
    c = col[idx].astype(np.intp)[:, None] + k
    # Only the m windows are read (not the whole map): cells outside the heatmap get weight 0,
    # MediaPipe's shrinking window (the same numbers as padding the map with logit -inf).
    r_in = (r >= 0) & (r < h)
    c_in = (c >= 0) & (c < w)
    logits = heatmap[
        np.clip(r, 0, h - 1)[:, :, None], np.clip(c, 0, w - 1)[:, None, :], idx[:, None, None]
    ]
    conf = sigmoid(logits)  # (m, k, k) float64
    conf[~(r_in[:, :, None] & c_in[:, None, :])] = 0.0
    total = conf.sum(axis=(1, 2))
    ok = (total > 0) & (conf.max(axis=(1, 2)) >= min_confidence)
    rows = r.astype(np.float64)[:, :, None]
    cols = c.astype(np.float64)[:, None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        ref_x = (conf * cols).sum(axis=(1, 2)) / total / w
        ref_y = (conf * rows).sum(axis=(1, 2)) / total / h
    out[idx[ok], 0] = ref_x[ok]
    out[idx[ok], 1] = ref_y[ok]
    return out


@dataclass(slots=True)
class LandmarkOutputs:
    """Raw landmark-model outputs for one crop (batch dimension dropped).

    Attributes:
        landmarks: ``(39, 5)`` x, y, z (crop px, 0..256), visibility logit, presence logit.
        presence: pose presence score in [0, 1].
        world: ``(39, 3)`` metres, hip-centred, in the crop's (rotated) frame.
        heatmap: ``(64, 64, 39)`` logits, or None to skip refinement.
    """

    landmarks: np.ndarray
    presence: float
    world: np.ndarray
    heatmap: np.ndarray | None


@dataclass(slots=True)
class DecodedPose:
    """Landmarks of one person in image coordinates.

    Attributes:
        landmarks: ``(39, 4)`` x px, y px, z (px scale), visibility in [0, 1].
        world: ``(39, 3)`` metres, rotated back to the image frame.
        presence: pose presence in [0, 1].
    """

    landmarks: np.ndarray
    world: np.ndarray
    presence: float


def decode_landmarks(out: LandmarkOutputs, roi: Roi, refine: bool = True) -> DecodedPose:
    """Map landmark-model outputs for the crop of ``roi`` back to image pixels."""
    raw = np.asarray(out.landmarks, dtype=np.float64).reshape(NUM_MODEL_LANDMARKS, 5)
    xy = raw[:, :2] / LANDMARK_SIZE
    if refine and out.heatmap is not None:
        xy = refine_with_heatmap(xy, np.asarray(out.heatmap))
    pts = apply_affine(crop_to_image_matrix(roi, LANDMARK_SIZE), xy * LANDMARK_SIZE)
    lm = np.empty((NUM_MODEL_LANDMARKS, 4))
    lm[:, :2] = pts
    lm[:, 2] = raw[:, 2] * (roi.size / LANDMARK_SIZE)
    lm[:, 3] = sigmoid(raw[:, 3])
    world = np.asarray(out.world, dtype=np.float64).reshape(NUM_MODEL_LANDMARKS, 3).copy()
    c, s = math.cos(roi.rotation), math.sin(roi.rotation)
    wx, wy = world[:, 0].copy(), world[:, 1].copy()
    world[:, 0] = c * wx - s * wy
    world[:, 1] = s * wx + c * wy
    return DecodedPose(lm, world, float(out.presence))


def landmark_input(image_bgr: np.ndarray, roi: Roi) -> np.ndarray:
    """The landmark model's ``(1, 256, 256, 3)`` float32 RGB input in [0, 1]: the crop of
    ``roi`` from a BGR frame."""
    import cv2

    crop_bgr = warp_crop(image_bgr, roi, LANDMARK_SIZE, replicate_border=True)
    crop_rgb = cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2RGB)  # the models take RGB
    return crop_rgb.astype(np.float32)[None] * np.float32(1.0 / 255.0)


def roi_from_landmarks(landmarks: np.ndarray) -> Roi:
    """Next frame's ROI from ``(39, >=2)`` image-px landmarks (auxiliary points 33 and 34)."""
    return alignment_roi(landmarks[AUX_CENTER, :2], landmarks[AUX_SCALE, :2])


# --------------------------------------------------------------------------------------------
# Temporal filtering (MediaPipe Tasks' video-mode smoothing)
# --------------------------------------------------------------------------------------------


class OneEuroFilter:
    """MediaPipe's one-euro filter over an array of values (elementwise, shared timestamps).

    Args:
        min_cutoff: cutoff frequency (Hz) for a still signal; lower = smoother.
        beta: how fast the cutoff rises with speed; higher = less lag on fast motion.
        derivate_cutoff: cutoff (Hz) of the speed estimate's own low-pass filter.
        frequency: sampling rate (Hz) assumed until two timestamps have been seen.
    """

    def __init__(
        self, min_cutoff: float, beta: float, derivate_cutoff: float, frequency: float = 30.0
    ) -> None:
        self.min_cutoff = min_cutoff
        self.beta = beta
        self.derivate_cutoff = derivate_cutoff
        self._initial_frequency = frequency
        self.reset()

    def reset(self) -> None:
        """Forget the signal's history."""
        self._frequency = self._initial_frequency
        self._last_t_ns: int | None = None
        self._raw: np.ndarray | None = None
        self._value: np.ndarray | None = None
        self._speed: np.ndarray | None = None

    def _alpha(self, cutoff: np.ndarray | float) -> np.ndarray:
        tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff, dtype=np.float64))
        return 1.0 / (1.0 + tau * self._frequency)

    def __call__(self, t_ns: int, value: np.ndarray, value_scale: float = 1.0) -> np.ndarray:
        """Filter ``value`` sampled at ``t_ns``; ``value_scale`` normalises the speed (1/object size)."""
        value = np.asarray(value, dtype=np.float64)
        if self._last_t_ns is not None:
            if t_ns <= self._last_t_ns:
                return value.copy()  # MediaPipe passes non-increasing samples through
            self._frequency = 1e9 / (t_ns - self._last_t_ns)
        self._last_t_ns = t_ns
        if self._raw is None or self._value is None or self._speed is None or self._raw.shape != value.shape:
            self._raw, self._value = value.copy(), value.copy()
            self._speed = np.zeros_like(value)
            return value.copy()
        speed = (value - self._raw) * value_scale * self._frequency
        a_d = self._alpha(self.derivate_cutoff)
        self._speed = a_d * speed + (1.0 - a_d) * self._speed
        a = self._alpha(self.min_cutoff + self.beta * np.abs(self._speed))
        self._value = a * value + (1.0 - a) * self._value
        self._raw = value.copy()
        return self._value.copy()


class PoseSmoother:
    """The filters MediaPipe Tasks applies to a single tracked pose in video mode.

    Image landmarks (x, y, z px): one-euro, min cutoff 0.05 Hz, beta 80, speed normalised by
    the ROI size. Visibility: exponential low-pass, alpha 0.1. World landmarks: one-euro, min
    cutoff 0.1 Hz, beta 40. Used so both backends produce comparably smooth tracks.
    """

    def __init__(self) -> None:
        self._image = OneEuroFilter(0.05, 80.0, 1.0)
        self._world = OneEuroFilter(0.1, 40.0, 1.0)
        self._visibility: np.ndarray | None = None

    def reset(self) -> None:
        """Forget the history (person lost, or a new video)."""
        self._image.reset()
        self._world.reset()
        self._visibility = None

    def __call__(
        self, t_ns: int, landmarks: np.ndarray, world: np.ndarray, object_size: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Smooth ``(N, 4)`` image landmarks and ``(N, 3)`` world landmarks sampled at ``t_ns``.

        ``object_size`` is the person's size in px (the ROI side) that makes speeds scale-free.
        """
        out = np.empty_like(landmarks, dtype=np.float64)
        scale = 1.0 / object_size if object_size > 1e-6 else 0.0
        out[:, :3] = self._image(t_ns, landmarks[:, :3], scale) if scale else landmarks[:, :3]
        vis = landmarks[:, 3]
        if self._visibility is not None and self._visibility.shape == vis.shape:
            vis = 0.1 * vis + 0.9 * self._visibility
        self._visibility = np.array(vis, dtype=np.float64)
        out[:, 3] = vis
        return out, self._world(t_ns, world)


# --------------------------------------------------------------------------------------------
# The pipeline
# --------------------------------------------------------------------------------------------

#: ``(1, 224, 224, 3)`` float32 in [-1, 1] -> (regressors ``(2254, 12)``, logits ``(2254,)``)
DetectorFn = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
#: ``(1, 256, 256, 3)`` float32 in [0, 1] -> :class:`LandmarkOutputs`
LandmarkFn = Callable[[np.ndarray], LandmarkOutputs]


@dataclass(slots=True)
class StepInfo:
    """What one :meth:`BlazePosePipeline.step` did (for tests and profiling)."""

    detector_ran: bool = False
    tracked: bool = False
    roi: Roi | None = None
    next_roi: Roi | None = None


class BlazePosePipeline:
    """Detector + landmark model + ROI tracking, independent of the inference runtime.

    Args:
        run_detector: runs the detector on one normalised input tensor.
        run_landmarks: runs the landmark model on one normalised input tensor.
        min_detection_confidence: detector score threshold.
        min_presence: landmark presence below which the pose is dropped and tracking lost.
        track: reuse the previous frame's landmarks to place the ROI (video mode).
        refine_heatmap: refine landmark positions with the heatmap (as MediaPipe does).
    """

    def __init__(
        self,
        run_detector: DetectorFn,
        run_landmarks: LandmarkFn,
        *,
        min_detection_confidence: float = 0.5,
        min_presence: float = 0.5,
        track: bool = True,
        refine_heatmap: bool = True,
    ) -> None:
        self._run_detector = run_detector
        self._run_landmarks = run_landmarks
        self.min_detection_confidence = float(min_detection_confidence)
        self.min_presence = float(min_presence)
        self.track = track
        self.refine_heatmap = refine_heatmap
        self._roi: Roi | None = None
        self.last = StepInfo()

    def reset(self) -> None:
        """Forget the tracked ROI."""
        self._roi = None

    def detect(self, image_bgr: np.ndarray) -> Roi | None:
        """Run the detector on the whole ``(H, W, 3)`` BGR frame; the best person's ROI or None."""
        import cv2

        h, w = image_bgr.shape[:2]
        lb = letterbox_roi(w, h)
        crop_bgr = warp_crop(image_bgr, lb, DETECTOR_SIZE, replicate_border=False)
        crop_rgb = cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2RGB)  # the models take RGB
        x = crop_rgb.astype(np.float32)[None] * np.float32(2.0 / 255.0) - np.float32(1.0)
        regressors, logits = self._run_detector(x)
        dets = weighted_nms(decode_detections(regressors, logits, self.min_detection_confidence))
        if len(dets) == 0:
            return None
        to_image = crop_to_image_matrix(lb, DETECTOR_SIZE)
        boxes_img = apply_affine(to_image, dets.boxes.reshape(-1, 2, 2)).reshape(-1, 4)
        kps_img = apply_affine(to_image, dets.keypoints)
        dets_img = Detections(boxes_img, kps_img, dets.scores)
        best = best_detection(dets_img, (w / 2.0, h / 2.0))
        roi = alignment_roi(kps_img[best, 0], kps_img[best, 1])
        return roi if roi.is_valid() else None

    def landmarks(self, image_bgr: np.ndarray, roi: Roi) -> DecodedPose:
        """Run the landmark model on the crop of ``roi``; landmarks in image pixels."""
        x = landmark_input(image_bgr, roi)
        return decode_landmarks(self._run_landmarks(x), roi, refine=self.refine_heatmap)

    def step(self, image_bgr: np.ndarray) -> DecodedPose | None:
        """Process one BGR frame: track (or detect), then landmarks; None when nobody is found."""
        info = StepInfo()
        self.last = info
        roi = self._roi if self.track else None
        self._roi = None
        if roi is not None:
            pose = self.landmarks(image_bgr, roi)
            if pose.presence >= self.min_presence:
                info.tracked, info.roi = True, roi
                self._remember(pose)
                return pose
        info.detector_ran = True
        roi = self.detect(image_bgr)
        if roi is None:
            return None
        pose = self.landmarks(image_bgr, roi)
        if pose.presence < self.min_presence:
            return None
        info.roi = roi
        self._remember(pose)
        return pose

    def _remember(self, pose: DecodedPose) -> None:
        nxt = roi_from_landmarks(pose.landmarks)
        self.last.next_roi = nxt if nxt.is_valid() else None
        if self.track:
            self._roi = self.last.next_roi
