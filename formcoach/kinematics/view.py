"""Camera view relative to the body: ``front``, ``side``, ``45`` or ``back``.

The yaw of the torso (0 = chest to the camera, 90 = side on) is the mean of two cues:

* **Depth of the shoulder line**: its angle out of the image plane, ``atan2(|dz|, |dx|)``,
  from the world landmarks (metres) when the pose has them, else **width foreshortening**:
  shoulder width / torso length (shoulder mid to hip mid) in pixels, ``FRONT_WIDTH`` = 0.70
  torso lengths facing the camera, shrinking with ``cos(yaw)``.
* **BlazePose's relative z** of the shoulders, ``atan2(|dz|, |dx|)`` in the image (when the
  pose has z).

On exact geometry every cue reads the true yaw. Through the BlazePose models (ONNX and
MediaPipe, measured on the bundled synthetic samples, whose yaw is known) they are biased, the
depth cues in opposite directions: at a true 45 deg the world landmarks read ~32 deg (their depth
is compressed), the relative z ~67 deg (exaggerated), so their mean reads ~49 deg; the image
width reads only ~26 deg (the model keeps the shoulders ~0.65 torso lengths apart), which is why
the world landmarks replace the width cue when present: the older mean of width and depth read
the 45-degree samples as ``front``. Front views read ~4 deg, side views ~86 deg either way.
A trunk lying on the floor at 45 deg (a sit-up's start) still reads near side: the models
see it so in every cue.

Front and back differ in handedness: seen from the front the person's left shoulder is on the
image right of their right shoulder when the torso points up (a signed cross product, so it
holds for lying poses too); seen from behind it is reversed. The nose being behind the
shoulders (z) or invisible also votes for ``back``.

:class:`ViewDetector` adds hysteresis: a new view must be seen for ``persist`` consecutive
frames, with the yaw beyond a threshold by ``margin_deg``, before the reported view changes.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from formcoach.skeleton import LM

__all__ = ["VIEWS", "ViewDetector", "detect_view", "frame_view", "torso_yaw"]

#: Views reported by the detector (``unknown`` when no torso is visible).
VIEWS: tuple[str, ...] = ("front", "side", "45", "back")
#: Other names a rule pack may use for a view.
VIEW_ALIASES: dict[str, str] = {"rear": "back"}

#: Shoulder width / torso length of a person squarely facing the camera.
FRONT_WIDTH = 0.70
#: Yaw (deg) below which the view is front/back, and above which it is side.
FRONT_MAX_DEG = 30.0
SIDE_MIN_DEG = 60.0

_LS, _RS, _LH, _RH = LM.LEFT_SHOULDER, LM.RIGHT_SHOULDER, LM.LEFT_HIP, LM.RIGHT_HIP


def torso_yaw(pose: np.ndarray, world: np.ndarray | None = None) -> float:
    """Unsigned torso yaw in degrees [0, 90] (0 facing or back to the camera, 90 side on): the
    mean of the shoulder line's world depth angle (or, without world landmarks, the width
    foreshortening) and its relative-z angle (when the pose has z).

    Args:
        pose: ``(33, 4)`` x px, y px, z, visibility.
        world: optional ``(33, 3)`` world landmarks, metres (NaN when unavailable).

    Returns:
        Degrees, or NaN when the shoulders or hips are missing.
    """
    ls, rs = pose[_LS], pose[_RS]
    sm = 0.5 * (ls[:2] + rs[:2])
    hm = 0.5 * (pose[_LH, :2] + pose[_RH, :2])
    torso = float(np.hypot(*(sm - hm)))
    width = float(np.hypot(*(ls[:2] - rs[:2])))
    if not (np.isfinite(torso) and np.isfinite(width)) or torso <= 0:
        return float("nan")
    if world is not None and np.isfinite(world[[_LS, _RS]]).all():
        d = world[_LS] - world[_RS]
        yaws = [float(np.degrees(np.arctan2(abs(d[2]), abs(d[0]))))]
    else:
        ratio = width / (FRONT_WIDTH * torso)
        yaws = [float(np.degrees(np.arccos(min(1.0, ratio))))]
    if np.isfinite(pose[[_LS, _RS], 2]).all() and (ls[2] != 0 or rs[2] != 0):
        yaws.append(float(np.degrees(np.arctan2(abs(ls[2] - rs[2]), abs(ls[0] - rs[0])))))
    return float(np.mean(yaws))


def _is_back(pose: np.ndarray) -> bool:
    """Votes: handedness of the shoulder line, nose depth, nose visibility."""
    ls, rs = pose[_LS], pose[_RS]
    sm = 0.5 * (ls[:2] + rs[:2])
    up = sm - 0.5 * (pose[_LH, :2] + pose[_RH, :2])
    lr = ls[:2] - rs[:2]
    votes: list[bool] = []
    cross = lr[0] * up[1] - lr[1] * up[0]
    if np.isfinite(cross) and cross != 0:
        votes.append(bool(cross > 0))
    nose = pose[LM.NOSE]
    zs = 0.5 * (ls[2] + rs[2])
    if np.isfinite(nose[2]) and np.isfinite(zs) and (nose[2] != 0 or zs != 0):
        votes.append(bool(nose[2] > zs))
    if np.isfinite(nose[3]):
        votes.append(bool(nose[3] < 0.5))
    elif not np.isfinite(nose[0]):
        votes.append(True)
    return sum(votes) * 2 > len(votes)


def _classify(yaw: float, pose: np.ndarray, front_max: float, side_min: float) -> str:
    if yaw >= side_min:
        return "side"
    if yaw > front_max:
        return "45"
    return "back" if _is_back(pose) else "front"


def frame_view(pose: np.ndarray, world: np.ndarray | None = None) -> str:
    """View of one ``(33, 4)`` pose without hysteresis: a :data:`VIEWS` value or ``unknown``."""
    yaw = torso_yaw(pose, world)
    if not np.isfinite(yaw):
        return "unknown"
    return _classify(yaw, pose, FRONT_MAX_DEG, SIDE_MIN_DEG)


class ViewDetector:
    """Per-frame view with hysteresis.

    Args:
        persist: consecutive frames a new view must be seen before it is reported.
        margin_deg: how far past a yaw threshold a frame must be to count against the
            current view.
    """

    def __init__(self, persist: int = 8, margin_deg: float = 5.0) -> None:
        if persist < 1:
            raise ValueError(f"persist must be >= 1, got {persist}")
        self.persist = int(persist)
        self.margin = float(margin_deg)
        self.view = "unknown"
        self._candidate = "unknown"
        self._count = 0

    def reset(self) -> None:
        """Forget the current view."""
        self.view, self._candidate, self._count = "unknown", "unknown", 0

    def update(self, pose: np.ndarray, world: np.ndarray | None = None) -> str:
        """Feed one ``(33, 4)`` pose (and optional ``(33, 3)`` world); returns the current view.

        A frame without a torso leaves the view unchanged.
        """
        yaw = torso_yaw(pose, world)
        if not np.isfinite(yaw):
            return self.view
        # Thresholds move away from the current view by the margin (hysteresis band).
        front_max, side_min = FRONT_MAX_DEG, SIDE_MIN_DEG
        if self.view in ("front", "back"):
            front_max += self.margin
        elif self.view == "side":
            side_min -= self.margin
        elif self.view == "45":
            front_max -= self.margin
            side_min += self.margin
        raw = _classify(yaw, pose, front_max, side_min)
        if self.view == "unknown":
            self.view, self._candidate, self._count = raw, raw, 0
            return self.view
        if raw == self.view:
            self._candidate, self._count = raw, 0
            return self.view
        if raw == self._candidate:
            self._count += 1
        else:
            self._candidate, self._count = raw, 1
        if self._count >= self.persist:
            self.view, self._count = raw, 0
        return self.view


def detect_view(poses: np.ndarray, world: np.ndarray | None = None) -> str:
    """Majority view of a ``(T, 33, 4)`` sequence, as reported frame by frame by a
    :class:`ViewDetector` (``unknown`` if no frame has a torso).

    Args:
        poses: ``(T, 33, 4)`` pixels.
        world: optional ``(T, 33, 3)`` world landmarks (metres).
    """
    arr = np.asarray(poses, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[1:] != (33, 4):
        raise ValueError(f"poses must be (T, 33, 4), got {arr.shape}")
    det = ViewDetector()
    votes = Counter(
        v
        for t in range(arr.shape[0])
        if (v := det.update(arr[t], None if world is None else world[t])) != "unknown"
    )
    if not votes:
        return "unknown"
    return votes.most_common(1)[0][0]
