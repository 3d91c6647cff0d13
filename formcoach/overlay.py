"""Drawing the live coaching overlay: a pure function of an image and an :class:`OverlayState`.

No coaching logic lives here: the live loop fills an :class:`OverlayState` and calls
:func:`draw_overlay`, which returns an annotated **copy** of the BGR image (the input is never
modified). Pose coordinates are pixels of that image.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from formcoach.skeleton import CONNECTIONS, JOINT_TRIPLES

#: BGR colours.
GREEN = (80, 200, 80)
RED = (60, 60, 230)
YELLOW = (40, 210, 230)
WHITE = (255, 255, 255)
BLACK = (0, 0, 0)
GREY = (170, 170, 170)


@dataclass(slots=True)
class OverlayState:
    """Everything the overlay shows for one frame.

    Attributes:
        landmarks: ``(33, 4)`` float64 pose in pixels of the image (NaN = missing), or None.
        angle_name: joint-angle key of :data:`~formcoach.skeleton.JOINT_TRIPLES` to label
            (e.g. ``"left_knee"``), or None.
        angle_deg: its value in degrees (NaN/None: not shown).
        rep_count: reps counted so far.
        phase: current rep phase name (free text), or None.
        cue: the cue text currently being spoken/shown, or None.
        fps: processing rate, frames/s.
        view: camera view name (``front``, ``side``...), or None.
        setup_ok: None when no setup check runs; else whether it passed.
        setup_message: guidance while setup has not passed.
        muted: speech muted.
        exercise: exercise display name.
        min_visibility: joints below this visibility are not drawn.
        extra: more status lines.
        not_judged: ``rule: why`` for each rule not judged (shown at the top, under the rep
            count, so nobody reads a rep as good that was never judged).
    """

    landmarks: np.ndarray | None = None
    angle_name: str | None = None
    angle_deg: float | None = None
    rep_count: int = 0
    phase: str | None = None
    cue: str | None = None
    fps: float = 0.0
    view: str | None = None
    setup_ok: bool | None = None
    setup_message: str | None = None
    muted: bool = False
    exercise: str = ""
    min_visibility: float = 0.5
    extra: list[str] = field(default_factory=list)
    not_judged: list[str] = field(default_factory=list)


def _visible(lm: np.ndarray, i: int, min_vis: float) -> bool:
    x, y, _, v = lm[i]
    return bool(np.isfinite(x) and np.isfinite(y) and (not np.isfinite(v) or v >= min_vis))


def _pt(lm: np.ndarray, i: int) -> tuple[int, int]:
    return round(float(lm[i, 0])), round(float(lm[i, 1]))


def _text(img: np.ndarray, text: str, org: tuple[int, int], scale: float, color: tuple) -> None:
    """Text on a filled dark box (readable on any background); ``org`` = baseline start."""
    import cv2

    scale = max(scale, 0.45)
    thick = 1 if scale < 0.8 else 2
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    x, y = org
    pad = max(2, round(4 * scale))
    cv2.rectangle(img, (x - pad, y - th - pad), (x + tw + pad, y + base), (30, 30, 30), -1)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, color, thick, cv2.LINE_AA)


#: Most "not judged" lines on the live screen (the rest are summed up in one more line).
MAX_NOT_JUDGED_LINES = 3


def _not_judged_lines(items: list[str]) -> list[str]:
    """``not judged: rule: why`` lines, at most :data:`MAX_NOT_JUDGED_LINES` (+ "... N more")."""
    lines = [f"not judged: {x}" for x in items[:MAX_NOT_JUDGED_LINES]]
    if len(items) > MAX_NOT_JUDGED_LINES:
        lines.append(f"... and {len(items) - MAX_NOT_JUDGED_LINES} more not judged")
    return lines


def draw_overlay(image: np.ndarray, state: OverlayState) -> np.ndarray:
    """Return a copy of ``image`` (``(H, W, 3)`` uint8 BGR) with the overlay drawn on it."""
    import cv2

    out = np.ascontiguousarray(image).copy()
    h, w = out.shape[:2]
    scale = max(0.4, min(w, h) / 720.0)
    lm = state.landmarks
    if lm is not None and lm.shape == (33, 4):
        mv = state.min_visibility
        for a, b in CONNECTIONS:
            if _visible(lm, a, mv) and _visible(lm, b, mv):
                cv2.line(out, _pt(lm, a), _pt(lm, b), GREEN, max(1, round(3 * scale)), cv2.LINE_AA)
        for i in range(11, 33):
            if _visible(lm, i, mv):
                cv2.circle(out, _pt(lm, i), max(2, round(4 * scale)), WHITE, -1, cv2.LINE_AA)
        if state.angle_name in JOINT_TRIPLES and state.angle_deg is not None:
            vertex = JOINT_TRIPLES[state.angle_name][1]
            if np.isfinite(state.angle_deg) and _visible(lm, vertex, mv):
                x, y = _pt(lm, vertex)
                _text(out, f"{state.angle_deg:.0f} deg", (x + 10, y - 10), 0.7 * scale, YELLOW)

    # Status panel, top-left.
    lines = [f"{state.exercise}  reps: {state.rep_count}".strip()]
    warn = _not_judged_lines(state.not_judged)
    if state.phase:
        lines.append(f"phase: {state.phase}")
    if state.angle_name and state.angle_deg is not None and np.isfinite(state.angle_deg):
        lines.append(f"{state.angle_name}: {state.angle_deg:.0f} deg")
    lines.append(f"fps: {state.fps:.1f}" + (f"  view: {state.view}" if state.view else ""))
    if state.muted:
        lines.append("muted (m)")
    lines.extend(state.extra)
    y = round(30 * scale)
    for k, line in enumerate(lines[:1] + warn + lines[1:]):
        color = YELLOW if 1 <= k <= len(warn) else WHITE
        _text(out, line, (round(10 * scale), y), 0.7 * scale, color)
        y += round(28 * scale)

    # Setup guidance, centred.
    if state.setup_ok is False:
        msg = state.setup_message or "getting ready..."
        _text(out, f"SETUP: {msg}", (round(10 * scale), h // 2), 0.9 * scale, YELLOW)
    # Current cue, bottom banner.
    if state.cue:
        bh = round(50 * scale)
        cv2.rectangle(out, (0, h - bh), (w, h), BLACK, -1)
        _text(out, state.cue, (round(12 * scale), h - round(15 * scale)), 1.0 * scale, RED)
    return out
