"""Partial framing: is this frame's pose one the counter may trust, and what is out of view?

BlazePose is trained on people whose head is in the picture. With the head out of the top of
the frame (a close camera, a squat rack), its estimate slides down the body: the shoulders are
read as the head, the legs fold, and the pose flag stays high, so a counter fed these frames
counts "reps" of a skeleton that is collapsing and recovering. The same happens, less often,
with the feet cut off or a plate in front of the shins. The 2D landmarks cannot show it (a
foreshortened thigh is short in 2D too), but the **world** landmarks can: BlazePose's metric
skeleton has a canonical size (its thigh is about 0.39 m whoever is filmed), and a collapsing
estimate shrinks the thigh, shin or torso far below any human size in one or two frames.

:class:`FramingGuard` checks every frame, in stream order (live and offline alike):

* **plausible**: the world thigh, shin and torso lengths (means of left and right, m) are
  human (:attr:`FramingLimits.min_bone_m` .. ``max_bone_m``) and, for an exercise done
  upright, the body is not upside down in the picture (:func:`upside_down`; a push-up filmed
  from the floor has the face below the hips); an implausible frame is dropped,
  a gap to the counter. (A reference from this person's own earlier frames was tried and
  dropped: a sit-up's setup frames, read with short shins, then rejected the real reps.)
* **what is out of view** on frames that are kept or dropped: the head above or beside the
  frame (``head_out``), the ankles below it (``feet_out``), the knees or the ankles hidden
  behind something (``knees_hidden``, ``feet_hidden``: in the picture, but seen with low
  visibility, e.g. a plate in front of the shins), the body larger than the frame
  (``too_close``). The rules engine does not judge features of a part out of view on that
  frame (:data:`formcoach.rules.engine.OUT_OF_VIEW`).

:class:`NotCountedTracker` turns the gaps the counter could not bridge (longer than the pack's
``max_gap_s``, while a person was there) into :class:`~formcoach.types.NotCounted` stretches
with the reason seen most in them, so every output can say "not counted 0:04-0:09: head out of
frame" instead of a silently wrong count.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from formcoach.skeleton import LM
from formcoach.types import NotCounted, PoseResult

__all__ = ["REASONS", "FramingCheck", "FramingGuard", "FramingLimits", "NotCountedTracker",
           "bone_lengths", "framing_problem", "upside_down"]

#: Reason code -> the words outputs use ("not counted: head out of frame") and live's setup
#: guidance for it.
REASONS: dict[str, tuple[str, str]] = {
    "head_out": ("head out of frame", "step back so I can see your head"),
    "feet_out": ("feet out of frame", "step back so I can see your feet"),
    "knees_hidden": ("knees hidden", "move so nothing is in front of your knees"),
    "feet_hidden": ("feet hidden", "move so nothing is in front of your feet"),
    "too_close": ("too close to the camera", "step back so I can see all of you"),
    "unreliable": ("pose unreliable", "step back so I can see all of you"),
}

_HEAD = (LM.NOSE, LM.LEFT_EYE, LM.RIGHT_EYE, LM.LEFT_EAR, LM.RIGHT_EAR)
_FEET = (LM.LEFT_ANKLE, LM.RIGHT_ANKLE)
_KNEES = (LM.LEFT_KNEE, LM.RIGHT_KNEE)
_BONES: tuple[tuple[tuple[int, int], tuple[int, int]], ...] = (
    ((LM.LEFT_HIP, LM.LEFT_KNEE), (LM.RIGHT_HIP, LM.RIGHT_KNEE)),  # thigh
    ((LM.LEFT_KNEE, LM.LEFT_ANKLE), (LM.RIGHT_KNEE, LM.RIGHT_ANKLE)),  # shin
    ((LM.LEFT_SHOULDER, LM.LEFT_HIP), (LM.RIGHT_SHOULDER, LM.RIGHT_HIP)),  # torso side
)


@dataclass(frozen=True, slots=True)
class FramingLimits:
    """Thresholds of :class:`FramingGuard` (see the module docstring for where they come from).

    Attributes:
        min_bone_m, max_bone_m: thigh, shin and torso-side world lengths (m) outside which a
            frame is not a human pose. BlazePose's world skeleton has a canonical size: on the
            38 real clips of ``../shared/data/videos`` (18,195 frames with a person, 10
            exercises, onnx full) the medians are 0.39 / 0.36 / 0.48 m and 99.0% of frames lie
            inside these limits; the 1% outside are single frames or short runs the counter
            bridges (the 38 counts are unchanged), and a collapsing estimate falls far below.
        min_visibility: a landmark seen below this is hidden (knees) or out of view.
        recent_s: how long an out-of-view observation explains a later dropped frame, s.
    """

    min_bone_m: tuple[float, float, float] = (0.27, 0.22, 0.30)
    max_bone_m: tuple[float, float, float] = (0.50, 0.50, 0.65)
    min_visibility: float = 0.5
    recent_s: float = 1.5


def bone_lengths(world: np.ndarray) -> np.ndarray:
    """``(3,)`` thigh, shin and torso-side lengths (mean of left and right, m) of one ``(33, 3)``
    world pose; NaN where a landmark is missing."""
    out = np.empty(3)
    for k, (a, b) in enumerate(_BONES):
        la = math.dist(world[a[0]], world[a[1]])
        lb = math.dist(world[b[0]], world[b[1]])
        out[k] = 0.5 * (la + lb)
    return out


def framing_problem(landmarks: np.ndarray, image_size: tuple[int, int],
                    min_visibility: float = 0.5) -> str | None:
    """What of the body is out of view in one ``(33, 4)`` pose (px of an image of ``image_size``
    ``(w, h)``): a :data:`REASONS` code, or None when the head, knees and feet are in view."""
    w, h = image_size
    x, y, vis = landmarks[:, 0], landmarks[:, 1], landmarks[:, 3]
    if not np.isfinite(x).any():
        return None

    def outside(idx: tuple[int, ...]) -> bool:
        """All of ``idx`` are estimated outside the picture (or not at all)."""
        return all(not (0.0 <= x[i] < w and 0.0 <= y[i] < h) for i in idx)

    head_out, feet_out = outside(_HEAD), outside(_FEET)
    if head_out and feet_out:
        return "too_close"
    if head_out:
        return "head_out"
    if feet_out:
        return "feet_out"
    def hidden(idx: tuple[int, ...]) -> bool:
        """All of ``idx`` are in the picture but seen too poorly (something is in front)."""
        return all(0.0 <= x[i] < w and 0.0 <= y[i] < h and not vis[i] >= min_visibility
                   for i in idx)

    if hidden(_KNEES):
        return "knees_hidden"
    if hidden(_FEET):
        return "feet_hidden"
    return None


def upside_down(landmarks: np.ndarray) -> bool:
    """The face estimated more than a torso length below the hips in the image (``(33, 4)``
    px): no exercise here is done upside down, but BlazePose flips a body whose head is out
    of the picture (it reads the shorts as the face)."""
    lm = landmarks
    hip_y = 0.5 * (lm[LM.LEFT_HIP, 1] + lm[LM.RIGHT_HIP, 1])
    sh = 0.5 * (lm[LM.LEFT_SHOULDER, :2] + lm[LM.RIGHT_SHOULDER, :2])
    hip = 0.5 * (lm[LM.LEFT_HIP, :2] + lm[LM.RIGHT_HIP, :2])
    torso = float(np.hypot(*(sh - hip)))
    return bool(lm[LM.NOSE, 1] - hip_y > torso) if np.isfinite(torso) and torso > 0 else False


@dataclass(frozen=True, slots=True)
class FramingCheck:
    """One frame's verdict: ``plausible`` (the counter may use it) and ``problem`` (a
    :data:`REASONS` code for what is out of view, or None)."""

    plausible: bool
    problem: str | None


class FramingGuard:
    """Per-frame plausibility and framing check of one person's stream (call in frame order).

    Args:
        limits: thresholds (defaults: :class:`FramingLimits`).
        upright: the exercise is done standing or hanging (its pack bounds the torso lean):
            a body upside down in the picture is then a flipped estimate, dropped.
    """

    def __init__(self, limits: FramingLimits | None = None, upright: bool = False) -> None:
        self.limits = limits or FramingLimits()
        self.upright = upright
        self._last_problem: tuple[str, int] | None = None  # (code, t_ns) last seen
        self._drop_reason: str | None = None  # of the run of dropped frames under way

    def reset(self) -> None:
        """Forget the person (a new set or a new video)."""
        self._last_problem = None
        self._drop_reason = None

    def update(self, pose: PoseResult) -> FramingCheck:
        """Check one frame. A frame with nobody in it is plausible and has no problem."""
        lim = self.limits
        if not pose.detected:
            return FramingCheck(True, None)
        problem = framing_problem(pose.landmarks, pose.image_size, lim.min_visibility)
        lengths = bone_lengths(pose.world)
        # NaN lengths (no world landmarks, e.g. another importer's track) are not judged.
        plausible = not bool(np.any((lengths < lim.min_bone_m) | (lengths > lim.max_bone_m)))
        plausible = plausible and not (self.upright and upside_down(pose.landmarks))
        if plausible:
            self._drop_reason = None
            if problem is not None:
                self._last_problem = (problem, pose.t_ns)
            return FramingCheck(True, problem)
        # What a collapsing estimate says is out of view is itself a guess: the reason is what
        # a trusted frame showed shortly before the run of dropped frames began.
        if self._drop_reason is None:
            self._drop_reason = self._recent_problem(pose.t_ns)
        return FramingCheck(False, self._drop_reason)

    def _recent_problem(self, t_ns: int) -> str:
        """Why a dropped frame was dropped: what was out of view shortly before, else
        ``unreliable``."""
        if self._last_problem is not None:
            code, t = self._last_problem
            if t_ns - t <= self.limits.recent_s * 1e9:
                return code
        return "unreliable"


class NotCountedTracker:
    """Collects the stretches the counter could not count through (see the module docstring).

    A stretch is a run of frames with no counting signal while a person was in the picture
    (or the pose was dropped as implausible) and something was out of view; it is kept when it
    lasts longer than ``max_gap_s`` (shorter gaps are bridged by the rep segmenter).

    Args:
        fps: frames per second of the stream.
        max_gap_s: the pack's ``max_gap_s``.
    """

    def __init__(self, fps: float, max_gap_s: float) -> None:
        self.fps = float(fps)
        self.min_frames = max(1, math.ceil(max_gap_s * self.fps))
        self.spans: list[NotCounted] = []
        self._start: int | None = None
        self._start_ns = 0
        self._last: tuple[int, int] = (0, 0)
        self._why: Counter[str] = Counter()

    def frame(self, index: int, t_ns: int, counted: bool, problem: str | None) -> None:
        """Note one frame: ``counted`` = it gave the counter a signal; ``problem`` = a
        :data:`REASONS` code when something was out of view (None: nothing was)."""
        if counted or problem is None:
            self._close()
            return
        if self._start is None:
            self._start, self._start_ns = index, t_ns
        self._last = (index, t_ns)
        self._why[problem] += 1

    @property
    def open(self) -> tuple[str, float] | None:
        """The stretch in progress once it is longer than the counter bridges: ``(reason code,
        seconds so far)``, else None (live turns it into setup guidance)."""
        if self._start is None or self._last[0] - self._start + 1 < self.min_frames:
            return None
        return self._why.most_common(1)[0][0], (self._last[1] - self._start_ns) / 1e9

    def finish(self) -> list[NotCounted]:
        """Close the stretch in progress; all stretches, in time order."""
        self._close()
        return self.spans

    def _close(self) -> None:
        if self._start is None:
            return
        end, end_ns = self._last
        if end - self._start + 1 >= self.min_frames:
            reason = self._why.most_common(1)[0][0]
            self.spans.append(NotCounted(self._start, end, self._start_ns, end_ns, reason,
                                         REASONS[reason][0]))
        self._start = None
        self._why.clear()
