"""Holds timed only in position: is the body in plank, and how long was it held (in good form)?

A plank is judged from one side of the body in the image (pixels, ``(33, 4)`` poses), relative to
the **floor line** through the two contact points: the support (the lower of elbow and wrist:
forearm or high plank) and the toes (foot index, or the ankle when the toes are not seen or
higher). Heights are perpendicular distances above that line divided by the shoulder-ankle
distance ``L`` (so they do not depend on image size or camera distance). The body is in plank when

* ``upright``: no; the body axis (shoulder -> ankle) is within :attr:`PlankLimits.body_max_deg`
  of the floor line, and that line within :attr:`PlankLimits.floor_max_deg` of the image
  horizontal (standing, kneeling upright or sitting is not a plank; a pike still is);
* ``kneeling``: no; the knee (hip-knee-ankle) is straighter than :attr:`PlankLimits.knee_min_deg`
  (on all fours or in a kneeling plank the knee is bent to ~90-120 deg);
* ``lying``: no; the shoulder is at least :attr:`PlankLimits.shoulder_min` above the floor line
  (held up on the forearms or hands; lying prone the shoulder joint rests at about half the
  chest's depth, ~0.07 L above the floor, less the elbow's own height above it, ~0.03 L);
* ``hips_down``: no; the hip is at least :attr:`PlankLimits.hip_min` above the floor line (a hip
  resting on the floor: half the pelvis' depth, ~0.07 L, less the same ~0.02 L of line tilt).

Data looked at to set the limits (all correct, hips-high or hips-low planks, so all in
position): six real side-view clips (``../shared/data/faults``, onnx tracks) and 1,200 labelled
frames (``../shared/data/form/exercise-correction/plank_model``, read as 1280x720). Over them the
shoulder is >= 0.117 L and the hip >= 0.072 L above the floor line (the lowest: sagging hips), the
knee >= 154 deg and the body axis <= 15 deg from the floor line; the synthetic
``plank_side_hip_sag`` sample sags to 0.095 L. The lying and kneeling limits come from body
proportions (above), not from footage: no clip here shows a person lying or kneeling.

:class:`HoldTimer` is driven once per frame with whether the body is in position and whether the
form is good; it reports the time held, the time in good form, and each hold's start and end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from formcoach.skeleton import LM
from formcoach.types import NS_PER_S

__all__ = ["DOWN_NOT_HOLDING", "IN_POSITION", "POSITIONS", "POSITION_TEXT", "HoldInterval", "HoldTimer",
           "PlankLimits", "hold_position", "plank_position", "position_check"]

#: :func:`plank_position`'s answer when the body is in plank.
IN_POSITION = "in_position"
#: Why the body is not in position, as shown to the person.
POSITION_TEXT = {
    IN_POSITION: "in plank",
    "unseen": "body not seen from the side",
    "upright": "body upright, not a plank",
    "kneeling": "knees bent (kneeling)",
    "lying": "lying down: shoulders not supported",
    "hips_down": "hips on the floor",
}

#: Answers of a body that is down on the floor but not holding the position (lying, hips on
#: the floor, kneeling): the hold's form rules (hip line...) do not apply, they are not judged.
#: (Upright is judged: a pack's "get into position" rule speaks then.)
DOWN_NOT_HOLDING = frozenset({"lying", "hips_down", "kneeling"})

_SIDES = {
    side: tuple(getattr(LM, f"{side.upper()}_{j}") for j in (
        "SHOULDER", "ELBOW", "WRIST", "HIP", "KNEE", "ANKLE", "FOOT_INDEX"))
    for side in ("left", "right")
}


@dataclass(frozen=True, slots=True)
class PlankLimits:
    """Limits of the plank position (module docstring; heights in shoulder-ankle lengths).

    Attributes:
        body_max_deg: largest angle of the body axis (shoulder -> ankle) to the floor line (a
            pike, hips high, keeps it low; standing or kneeling upright does not).
        floor_max_deg: largest angle of the floor line to the image horizontal (standing,
            the hands and toes are not on one level; a camera is not tilted this much).
        knee_min_deg: smallest hip-knee-ankle angle (straight legs are ~170-180).
        shoulder_min: smallest shoulder height above the floor line.
        hip_min: smallest hip height above the floor line.
        min_visibility: a side whose landmarks are seen less clearly than this is not judged.
    """

    body_max_deg: float = 40.0
    floor_max_deg: float = 30.0
    knee_min_deg: float = 135.0
    shoulder_min: float = 0.09
    hip_min: float = 0.06
    min_visibility: float = 0.3


def _angle(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> float:
    """Angle a-b-c at b, degrees."""
    u, v = a - b, c - b
    nu, nv = float(np.hypot(*u)), float(np.hypot(*v))
    if nu == 0 or nv == 0:
        return math.nan
    return math.degrees(math.acos(max(-1.0, min(1.0, float(u @ v) / (nu * nv)))))


def position_check(landmarks: np.ndarray, limits: PlankLimits | None = None
                   ) -> tuple[str, dict[str, float]]:
    """Whether a ``(33, 4)`` pixel pose is in plank, and the measurements that decided it.

    Returns:
        ``(answer, values)``: answer :data:`IN_POSITION` or a key of :data:`POSITION_TEXT`;
        values ``body_deg``, ``knee_deg``, ``shoulder_h``, ``hip_h`` (heights in L) of the
        better-seen side (empty when ``unseen``).
    """
    lim = limits or PlankLimits()
    lm = np.asarray(landmarks, dtype=np.float64)
    best: tuple[float, tuple[int, ...]] | None = None
    for idx in _SIDES.values():
        core = lm[list(idx[:6])]
        if not np.isfinite(core[:, :2]).all():
            continue
        vis = float(np.nan_to_num(core[:, 3], nan=1.0).min())
        if vis >= lim.min_visibility and (best is None or vis > best[0]):
            best = (vis, idx)
    if best is None:
        return "unseen", {}
    sh, el, wr, hip, kn, an, toe = (lm[i, :2] for i in best[1])
    big = float(np.hypot(*(sh - an)))
    support = el if el[1] >= wr[1] else wr  # image y grows downwards: the lower one
    foot = toe if np.isfinite(toe).all() and toe[1] >= an[1] else an
    d = foot - support
    nd = float(np.hypot(*d))
    if big <= 0 or nd <= 0.25 * big:
        return "unseen", {}  # foreshortened (front view) or collapsed: the line is undefined
    d = d / nd
    n = np.array([d[1], -d[0]])
    if n[1] > 0:
        n = -n  # the normal pointing up in the image

    def height(p: np.ndarray) -> float:
        return float((p - support) @ n) / big

    axis = an - sh
    values = {
        "body_deg": math.degrees(math.atan2(abs(float(axis @ n)), abs(float(axis @ d)))),
        "knee_deg": _angle(hip, kn, an),
        "shoulder_h": height(sh),
        "hip_h": height(hip),
    }
    floor_deg = math.degrees(math.atan2(abs(float(d[1])), abs(float(d[0]))))
    if not (values["body_deg"] <= lim.body_max_deg and floor_deg <= lim.floor_max_deg):
        return "upright", values
    if not values["knee_deg"] >= lim.knee_min_deg:
        return "kneeling", values
    if not values["shoulder_h"] >= lim.shoulder_min:
        return "lying", values
    if not values["hip_h"] >= lim.hip_min:
        return "hips_down", values
    return IN_POSITION, values


def plank_position(landmarks: np.ndarray, limits: PlankLimits | None = None) -> str:
    """:data:`IN_POSITION` or why a ``(33, 4)`` pixel pose is not in plank (see
    :func:`position_check`)."""
    return position_check(landmarks, limits)[0]


#: Position checks of the hold exercises, by exercise id.
POSITIONS = {"plank": plank_position}


def hold_position(exercise: str, landmarks: np.ndarray) -> str:
    """Whether a pose is in the position of hold ``exercise``; a hold without a position check
    here is in position whenever a person is seen (its pack's counting range decides)."""
    check = POSITIONS.get(exercise)
    return IN_POSITION if check is None else check(landmarks)


@dataclass(slots=True)
class HoldInterval:
    """One hold: first and last frame in position; seconds held and in good form within it."""

    start_frame: int
    end_frame: int
    start_ns: int
    end_ns: int
    held_s: float = 0.0
    good_s: float = 0.0


@dataclass(slots=True)
class HoldTimer:
    """Times a hold frame by frame, only while the body is in position.

    The time between two frames counts as held when both are in position and at most
    ``max_dt_s`` apart (a dropped frame or two is bridged, a longer gap is not), and as good
    form when the form was good at both. A hold ends when the body has been out of position
    for more than ``gap_s``; holds shorter than ``min_hold_s`` are not reported (getting into
    position for a moment is not a hold) and do not count.

    Attributes:
        held_s: seconds held in position (any form), over the reported holds.
        good_s: seconds in position with every hold rule ok.
        holds: the reported holds, in order.
        in_position: the last frame's answer.
    """

    min_hold_s: float = 1.0
    gap_s: float = 1.0
    max_dt_s: float = 0.25
    held_s: float = 0.0
    good_s: float = 0.0
    holds: list[HoldInterval] = field(default_factory=list)
    in_position: bool = False
    _open: HoldInterval | None = None
    _last: tuple[int, int, bool] | None = None  # (frame, t_ns, good) of the last frame in position

    def update(self, index: int, t_ns: int, in_position: bool, good: bool) -> HoldInterval | None:
        """One frame (``good`` is ignored when not in position); returns a hold that ended."""
        self.in_position = in_position
        ended = None
        if not in_position:
            if self._last is not None and t_ns - self._last[1] > self.gap_s * NS_PER_S:
                ended = self._close()
            return ended
        good = bool(good)
        if self._open is None:
            self._open = HoldInterval(index, index, t_ns, t_ns)
        elif self._last is not None:
            dt = (t_ns - self._last[1]) / NS_PER_S
            if 0 < dt <= self.max_dt_s:
                self._open.held_s += dt
                if good and self._last[2]:
                    self._open.good_s += dt
        self._open.end_frame, self._open.end_ns = index, t_ns
        self._last = (index, t_ns, good)
        return ended

    def finish(self) -> HoldInterval | None:
        """End of the stream: close the open hold (returned when it is reported)."""
        return self._close()

    def _close(self) -> HoldInterval | None:
        h, self._open, self._last = self._open, None, None
        if h is None or (h.end_ns - h.start_ns) < self.min_hold_s * NS_PER_S:
            return None
        self.holds.append(h)
        self.held_s += h.held_s
        self.good_s += h.good_s
        return h

    @property
    def current_held_s(self) -> float:
        """Seconds held so far, the hold in progress included (for a live display)."""
        return self.held_s + (self._open.held_s if self._open is not None else 0.0)

    @property
    def current_good_s(self) -> float:
        """Seconds in good form so far, the hold in progress included."""
        return self.good_s + (self._open.good_s if self._open is not None else 0.0)
