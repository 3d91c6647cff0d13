"""Setup check: is the person framed, lit and viewed well enough to coach?

Before counting, the live loop feeds every frame to a :class:`SetupChecker`. Each frame gets a
:func:`assess_setup` verdict (pure, one frame); the checker passes once every check has held for
``hold_s`` seconds in a row and then stays passed for the set. Until then the loop does not count
reps and speaks/shows the first problem's guidance ("step back", "turn sideways"); the frames of
the hold itself were set up right, so the loop coaches them once it passes (a rep begun during
the hold counts).

Checks (thresholds are fields of :class:`SetupThresholds`):

* person found, and the key joints (nose, shoulders, hips, knees, ankles) visible **inside** the
  frame (margin ``edge_margin`` of the frame size);
* distance: the body's extent (vertical when standing; the larger side of its box when lying,
  e.g. plank, told apart by the ankle-to-shoulder axis) as a
  fraction of the frame: too large → "step back", too small → "come closer";
* visibility: mean landmark visibility of the key joints;
* lighting: mean luminance (0-255) and contrast (luminance standard deviation) of the frame;
* camera tilt: angle between image vertical and the mid-ankle → mid-shoulder line (degrees),
  judged only on an upright person with straight legs, for whom it is vertical when the camera
  is level. A moving body passes through such poses with the line off vertical (a step into a
  lunge stance: the front foot is out, the legs straight for a frame), a tilted camera stays
  tilted, so :class:`SetupChecker` reports a tilt only once it has held on every frame for
  ``tilt_hold_s``;
* view (when known): must be one the exercise can be coached from, else "turn sideways"/"face
  the camera";
* rule coverage (with ``rule_views``): a view from which fewer than half of the exercise's rules
  can be judged asks for the view that judges most of them ("turn sideways": a squat filmed
  from the front has no depth judgement). This is advice, not a lock: the reps can be counted
  from this view, so the gate passes on the usual hold and says the advice with its "ready"
  (:attr:`SetupChecker.advice`); the live screen and the summary then say which rules were not
  judged. A person who starts at once, or a recording played as a camera, loses no rep to it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from formcoach.coach.coverage import better_view
from formcoach.skeleton import JOINT_TRIPLES, LM
from formcoach.types import NS_PER_S

#: Joints that must be in view for a full-body exercise.
KEY_JOINTS: tuple[int, ...] = (
    LM.NOSE,
    LM.LEFT_SHOULDER,
    LM.RIGHT_SHOULDER,
    LM.LEFT_HIP,
    LM.RIGHT_HIP,
    LM.LEFT_KNEE,
    LM.RIGHT_KNEE,
    LM.LEFT_ANKLE,
    LM.RIGHT_ANKLE,
)

#: Guidance for each problem code, in the order problems are reported (most basic first).
GUIDANCE: dict[str, str] = {
    "no_person": "step into the frame",
    "too_dark": "turn on more light",
    "too_bright": "too much light behind you, dim it or turn the camera",
    "low_contrast": "more light please, or stand in front of a plainer background",
    "feet_cut": "step back so your feet are in view",
    "head_cut": "step back so your head is in view",
    "side_cut": "move to the middle of the picture",
    "too_close": "step back",
    "too_far": "come closer",
    "low_visibility": "make sure your whole body is visible",
    "tilted": "level the camera, it is tilted",
    "view_side": "turn sideways to the camera",
    "view_front": "face the camera",
    "view_other": "turn to a different angle",
    "view_45": "turn half-way to the camera",
    "view_back": "turn your back to the camera",
    "holding": "hold still",
}


@dataclass(frozen=True, slots=True)
class SetupThresholds:
    """Limits of :func:`assess_setup` (fractions of the frame, 0-255 luminance, degrees)."""

    min_visibility: float = 0.5
    edge_margin: float = 0.01
    min_extent: float = 0.30  # BlazePose degrades below ~1/4 of the frame; keep a margin
    max_extent: float = 0.95
    min_mean_visibility: float = 0.6
    min_luminance: float = 40.0
    max_luminance: float = 225.0
    min_contrast: float = 15.0
    max_tilt_deg: float = 12.0


@dataclass(slots=True)
class SetupStatus:
    """The verdict for one frame (or the checker's state).

    Attributes:
        ok: every check passed (for :class:`SetupChecker`: setup is complete).
        problems: problem codes (keys of :data:`GUIDANCE`), most basic first.
        message: guidance for the first problem, or None when ok.
        scores: measured values: ``extent`` (fraction), ``visibility`` (0-1), ``luminance``
            and ``contrast`` (0-255), ``tilt_deg`` (degrees, NaN if unknown), ``view``.
    """

    ok: bool
    problems: list[str] = field(default_factory=list)
    message: str | None = None
    scores: dict[str, Any] = field(default_factory=dict)


def lighting_scores(image: np.ndarray) -> tuple[float, float]:
    """Mean luminance and its standard deviation (0-255) of a BGR uint8 image (subsampled)."""
    small = np.asarray(image)[::4, ::4]
    if small.ndim == 3:
        b, g, r = (small[..., i].astype(np.float32) for i in range(3))
        lum = 0.114 * b + 0.587 * g + 0.299 * r
    else:
        lum = small.astype(np.float32)
    return float(lum.mean()), float(lum.std())


def _mid(lm: np.ndarray, a: int, b: int, ok: np.ndarray) -> np.ndarray | None:
    pts = [lm[i, :2] for i in (a, b) if ok[i]]
    return np.mean(pts, axis=0) if pts else None


def camera_tilt_deg(landmarks: np.ndarray, min_visibility: float = 0.5) -> float:
    """Signed angle (degrees) of the mid-ankle → mid-shoulder line from image vertical.

    0 for a person standing upright in a level camera; NaN when the joints are missing.
    """
    lm = landmarks
    ok = np.isfinite(lm[:, 0]) & (np.nan_to_num(lm[:, 3], nan=1.0) >= min_visibility)
    top = _mid(lm, LM.LEFT_SHOULDER, LM.RIGHT_SHOULDER, ok)
    bottom = _mid(lm, LM.LEFT_ANKLE, LM.RIGHT_ANKLE, ok)
    if top is None or bottom is None:
        return float("nan")
    dx, dy = float(top[0] - bottom[0]), float(bottom[1] - top[1])
    if dy <= 0:
        return float("nan")
    return math.degrees(math.atan2(dx, dy))


def _legs_straight(lm: np.ndarray, min_visibility: float, min_deg: float = 150.0) -> bool:
    """True when every visible knee is nearly straight (angle >= ``min_deg`` degrees)."""
    angles = []
    for name in ("left_knee", "right_knee"):
        a, b, c = JOINT_TRIPLES[name]
        pts = lm[[a, b, c]]
        vis = np.nan_to_num(pts[:, 3], nan=1.0)
        if not (np.isfinite(pts[:, :2]).all() and (vis >= min_visibility).all()):
            continue
        u, v = pts[0, :2] - pts[1, :2], pts[2, :2] - pts[1, :2]
        nu, nv = float(np.hypot(*u)), float(np.hypot(*v))
        if nu > 0 and nv > 0:
            cos = float(np.clip(np.dot(u, v) / (nu * nv), -1.0, 1.0))
            angles.append(math.degrees(math.acos(cos)))
    return bool(angles) and min(angles) >= min_deg


def assess_setup(
    image: np.ndarray,
    landmarks: np.ndarray | None,
    *,
    view: str | None = None,
    allowed_views: tuple[str, ...] | None = None,
    thresholds: SetupThresholds | None = None,
) -> SetupStatus:
    """Check one frame.

    Args:
        image: ``(H, W, 3)`` uint8 BGR frame.
        landmarks: ``(33, 4)`` pose in pixels of ``image`` (NaN = missing), or None.
        view: current camera view (``front``, ``side``, ``45``, ``back``), None if unknown.
        allowed_views: views the exercise can be coached from (None: any).
        thresholds: limits (defaults: :class:`SetupThresholds`).
    """
    th = thresholds or SetupThresholds()
    h, w = image.shape[:2]
    problems: list[str] = []
    lum, contrast = lighting_scores(image)
    scores: dict[str, Any] = {"luminance": lum, "contrast": contrast, "view": view}
    if lum < th.min_luminance:
        problems.append("too_dark")
    elif lum > th.max_luminance:
        problems.append("too_bright")
    elif contrast < th.min_contrast:
        problems.append("low_contrast")

    lm = landmarks
    if lm is None or not np.isfinite(lm[:, 0]).any():
        problems.insert(0, "no_person")
        return _status(problems, scores)

    keys = np.array(KEY_JOINTS)
    vis = np.nan_to_num(lm[keys, 3], nan=0.0)
    finite = np.isfinite(lm[keys, 0]) & np.isfinite(lm[keys, 1])
    seen = finite & (vis >= th.min_visibility)
    scores["visibility"] = float(np.where(finite, vis, 0.0).mean())
    mx, my = th.edge_margin * w, th.edge_margin * h
    xs, ys = lm[keys, 0], lm[keys, 1]
    inside = seen & (xs >= mx) & (xs <= w - 1 - mx) & (ys >= my) & (ys <= h - 1 - my)

    # Body extent from every visible landmark (not just key joints): bbox as frame fractions.
    all_ok = np.isfinite(lm[:, 0]) & (np.nan_to_num(lm[:, 3], nan=1.0) >= th.min_visibility)
    if all_ok.any():
        bw = (np.nanmax(lm[all_ok, 0]) - np.nanmin(lm[all_ok, 0])) / w
        bh = (np.nanmax(lm[all_ok, 1]) - np.nanmin(lm[all_ok, 1])) / h
    else:
        bw = bh = 0.0
    # Body axis (ankles -> shoulders) from image vertical: small when standing, large when lying
    # (plank, push-up) however the bounding box is foreshortened in a 45-degree view.
    axis = camera_tilt_deg(lm, th.min_visibility)
    lying = abs(axis) > 45.0 if np.isfinite(axis) else bw > bh * 1.2
    extent = float(max(bw, bh) if lying else bh)
    scores["extent"] = extent
    scores["orientation"] = "lying" if lying else "standing"

    feet = [i for i, j in enumerate(KEY_JOINTS) if j in (LM.LEFT_ANKLE, LM.RIGHT_ANKLE)]
    head = [i for i, j in enumerate(KEY_JOINTS) if j == LM.NOSE]
    if not inside[feet].any():
        problems.append("feet_cut" if not lying else "side_cut")
    if not inside[head].any():
        problems.append("head_cut" if not lying else "side_cut")
    if inside.sum() < len(KEY_JOINTS) - 2 and not {"feet_cut", "head_cut"} & set(problems):
        problems.append("side_cut")
    if extent > th.max_extent:
        problems.append("too_close")
    elif extent < th.min_extent:
        problems.append("too_far")
    if scores["visibility"] < th.min_mean_visibility:
        problems.append("low_visibility")

    # Camera tilt is only judged on an upright person: body axis within 30 deg of vertical and
    # straight legs (a sit-up or a squat leans the body, not the camera).
    upright = np.isfinite(axis) and abs(axis) <= 30.0 and _legs_straight(lm, th.min_visibility)
    tilt = axis if upright else float("nan")
    scores["tilt_deg"] = tilt
    if np.isfinite(tilt) and abs(tilt) > th.max_tilt_deg:
        problems.append("tilted")

    if view is not None and allowed_views and view not in allowed_views:
        if "side" in allowed_views:
            problems.append("view_side")
        elif "front" in allowed_views:
            problems.append("view_front")
        else:
            problems.append("view_other")
    # Remove duplicates, keep order.
    return _status(list(dict.fromkeys(problems)), scores)


def _status(problems: list[str], scores: dict[str, Any]) -> SetupStatus:
    msg = GUIDANCE[problems[0]] if problems else None
    return SetupStatus(ok=not problems, problems=problems, message=msg, scores=scores)


#: Problems the gate waits on for as long as they last: nobody to coach, light the pose model
#: cannot work in, a view the exercise cannot be counted from. Any other problem (framing,
#: distance, tilt, visibility) is asked about for ``patience_s``, then the set starts anyway:
#: the counter counts on what it sees, or says "not counted" and why.
HARD_PROBLEMS = frozenset({"no_person", "too_dark", "too_bright", "view_side", "view_front",
                           "view_other", "view_45", "view_back"})


class SetupChecker:
    """Passes once :func:`assess_setup` has been ok for ``hold_s`` seconds in a row, or after
    ``patience_s`` of a person in view whose only problems are not :data:`HARD_PROBLEMS`.

    Args:
        allowed_views: views the exercise can be coached from (None: any).
        hold_s: how long every check must hold before counting starts (s).
        thresholds: limits for :func:`assess_setup`.
        rule_views: each of the exercise's rules' views; a view that leaves most rules
            unjudged asks for a better one (problem ``view_side``, ``view_front``...) while the
            setup holds, without holding it back; :attr:`advice` keeps the request once passed.
        patience_s: how long a problem the counter can live with (feet out of the picture in
            a small room) is asked about before the set starts anyway (s).
        tilt_hold_s: a frame's ``tilted`` counts only once every frame for this long was
            judged tilted (s): the camera's tilt is steady, a body moving through an upright
            pose is not. Shorter than ``hold_s``, so a tilt is said before the gate passes.

    Raises:
        ValueError: a negative ``tilt_hold_s``.
    """

    def __init__(
        self,
        allowed_views: tuple[str, ...] | None = None,
        hold_s: float = 1.0,
        thresholds: SetupThresholds | None = None,
        rule_views: Sequence[Sequence[str]] | None = None,
        patience_s: float = 5.0,
        tilt_hold_s: float = 0.5,
    ) -> None:
        if not tilt_hold_s >= 0:
            raise ValueError(f"tilt_hold_s must be >= 0 s, got {tilt_hold_s}")
        self.tilt_hold_ns = round(tilt_hold_s * NS_PER_S)
        self._tilt_since: int | None = None
        self.rule_views = [tuple(v) for v in rule_views] if rule_views else []
        #: The problem code still open when the gate passed: a better view for the rules
        #: (``view_side``...) or a problem it stopped waiting on (``feet_cut``...); else None.
        self.advice_code: str | None = None
        self.patience_ns = round(patience_s * NS_PER_S)
        self._soft_since: int | None = None
        self.allowed_views = tuple(allowed_views) if allowed_views else None
        self.hold_ns = round(hold_s * NS_PER_S)
        self.thresholds = thresholds
        self.passed = False
        self._ok_since: int | None = None
        self.last = SetupStatus(ok=False, problems=["no_person"], message=GUIDANCE["no_person"])

    def update(
        self, image: np.ndarray, landmarks: np.ndarray | None, t_ns: int, view: str | None = None
    ) -> SetupStatus:
        """Assess one frame at time ``t_ns`` (ns); returns the checker's status.

        Once passed, returns ok without further checks (a squat's bottom may leave the frame).
        """
        if self.passed:
            return self.last
        st = self._steady_tilt(assess_setup(
            image, landmarks, view=view, allowed_views=self.allowed_views, thresholds=self.thresholds
        ), t_ns)
        code = self._rules_view(st, view)
        if HARD_PROBLEMS & set(st.problems):
            self._soft_since = None
        elif self._soft_since is None:
            self._soft_since = t_ns  # a person in view, in light the model can work in
        if st.ok:
            if self._ok_since is None:
                self._ok_since = t_ns
            if t_ns - self._ok_since >= self.hold_ns:
                return self._pass(st, code)
            st = SetupStatus(ok=False, problems=[code or "holding"],
                             message=GUIDANCE[code] if code else "hold still", scores=st.scores)
        else:
            self._ok_since = None
            if self._soft_since is not None and t_ns - self._soft_since >= self.patience_ns:
                return self._pass(st, st.problems[0])  # asked long enough: count what it sees
        self.last = st
        return st

    def _steady_tilt(self, st: SetupStatus, t_ns: int) -> SetupStatus:
        """``st`` without ``tilted`` until the tilt has held on every frame for
        ``tilt_hold_s`` (a frame not judged tilted starts the wait again)."""
        if "tilted" not in st.problems:
            self._tilt_since = None
            return st
        if self._tilt_since is None:
            self._tilt_since = t_ns
        if t_ns - self._tilt_since >= self.tilt_hold_ns:
            return st
        return _status([p for p in st.problems if p != "tilted"], st.scores)

    def _pass(self, st: SetupStatus, code: str | None) -> SetupStatus:
        self.passed = True
        self.advice_code = code
        self.last = st
        return st

    @property
    def advice(self) -> str | None:
        """The guidance of :attr:`advice_code` ("turn sideways to the camera"), else None."""
        return GUIDANCE[self.advice_code] if self.advice_code else None

    def _rules_view(self, st: SetupStatus, view: str | None) -> str | None:
        """The ``view_*`` problem code while an otherwise good setup is seen from a view that
        leaves most rules unjudged, else None."""
        best = better_view(view, self.rule_views) if st.ok and view else None
        if best is None:
            return None
        return f"view_{best}" if f"view_{best}" in GUIDANCE else "view_other"

    @property
    def holding(self) -> bool:
        """Not passed yet, but a person has been in view in usable light since an earlier
        frame (the hold or the patience is under way): those frames are coached once it
        passes."""
        return not self.passed and (self._ok_since is not None or self._soft_since is not None)

    def reset(self) -> None:
        """Require the setup to pass again."""
        self.passed = False
        self._ok_since = None
        self._soft_since = None
        self._tilt_since = None
        self.advice_code = None
