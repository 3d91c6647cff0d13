"""Drawing the live coaching overlay: a pure function of an image and an :class:`OverlayState`.

No coaching logic lives here: the live loop fills an :class:`OverlayState` and calls
:func:`draw_overlay`, which returns an annotated **copy** of the BGR image (the input is never
modified). Pose coordinates are pixels of that image.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from formcoach.cues.kinds import CueKind
from formcoach.skeleton import CONNECTIONS, JOINT_TRIPLES

#: BGR colours.
GREEN = (80, 200, 80)
RED = (60, 60, 230)
YELLOW = (40, 210, 230)
WHITE = (255, 255, 255)
BLACK = (0, 0, 0)
GREY = (170, 170, 170)
LIGHT_BLUE = (235, 190, 110)
#: Cue kind (:func:`formcoach.cues.kinds.cue_kind`) -> the cue banner's text colour: a form
#: fault red, guidance and announcements light blue, "ready" and praise green.
CUE_TEXT: dict[CueKind, tuple[int, int, int]] = {
    "fault": RED, "setup": LIGHT_BLUE, "positive": GREEN, "info": LIGHT_BLUE}


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
        cue_kind: what the cue is (its text colour, :data:`CUE_TEXT`).
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
    cue_kind: CueKind = "fault"
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
        _text(out, state.cue, (round(12 * scale), h - round(15 * scale)), 1.0 * scale,
              CUE_TEXT[state.cue_kind])
    return out


# --------------------------------------------------------------------------------------------
# Annotated-video drawing (``analyze --video``): sizes scaled to the frame, angle labels placed
# without collisions, and a semi-opaque corner panel kept off the person where there is room.
# Pure geometry (sizes, boxes) is separate from drawing, so tests check layout, not pixels.
# --------------------------------------------------------------------------------------------

#: Panel text cap height as a fraction of the frame's shorter side, and its floor, px.
TEXT_FRACTION = 0.04
MIN_TEXT_PX = 13
#: Angle numbers relative to the panel text.
LABEL_FRACTION = 0.85
#: Opacity of the dark panel and label backgrounds (0-1).
PANEL_ALPHA = 0.62
PANEL_BG = (25, 25, 25)
#: Angle-number colour (BGR, amber) and the skeleton's colours: the judged side, the other side
#: (dimmer, so a side view reads as one limb), the fault's bones.
LABEL_FG = (60, 215, 255)
#: Fault names on the panel: a light red that keeps AA contrast on the dark panel.
FAULT_TEXT = (110, 110, 255)
#: Secondary panel text (the time): light grey, still AA contrast on the panel.
MUTED = (205, 205, 205)
BONE_JUDGED = (90, 220, 90)
BONE_OTHER = (70, 130, 70)
BONE_FAULT = (50, 50, 235)


@dataclass(frozen=True, slots=True)
class Rect:
    """An axis-aligned box in image pixels: ``x0 <= x < x1``, ``y0 <= y < y1``."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def w(self) -> int:
        return self.x1 - self.x0

    @property
    def h(self) -> int:
        return self.y1 - self.y0

    def intersects(self, other: Rect) -> bool:
        return not (self.x1 <= other.x0 or other.x1 <= self.x0
                    or self.y1 <= other.y0 or other.y1 <= self.y0)

    def inside(self, w: int, h: int) -> bool:
        return self.x0 >= 0 and self.y0 >= 0 and self.x1 <= w and self.y1 <= h

    def contains(self, x: float, y: float) -> bool:
        return self.x0 <= x < self.x1 and self.y0 <= y < self.y1


@dataclass(frozen=True, slots=True)
class VideoStyle:
    """Sizes (px) of the annotated video's drawing for one frame size.

    Everything scales with the frame's shorter side (``min(w, h)``), so the overlay reads the
    same from a distance at 512x384 and at 1920x1080; ``text_px`` never drops below
    :data:`MIN_TEXT_PX`.
    """

    text_px: int
    label_px: int
    margin: int
    pad: int
    gap: int
    bone_px: int
    joint_px: int

    @classmethod
    def for_frame(cls, width: int, height: int) -> VideoStyle:
        short = max(1, min(width, height))
        text = max(MIN_TEXT_PX, round(TEXT_FRACTION * short))
        return cls(text_px=text, label_px=max(MIN_TEXT_PX - 2, round(LABEL_FRACTION * text)),
                   margin=max(6, round(0.6 * text)), pad=max(3, round(0.35 * text)),
                   gap=max(3, round(0.38 * text)), bone_px=max(2, round(short / 220)),
                   joint_px=max(2, round(short / 170)))


@dataclass(frozen=True, slots=True)
class PanelLine:
    """One line of a panel: text, BGR colour, and its size relative to ``text_px``."""

    text: str
    colour: tuple[int, int, int] = WHITE
    size: float = 1.0


def _font() -> int:
    import cv2

    return int(cv2.FONT_HERSHEY_DUPLEX)


def font_for(px: float) -> tuple[float, int]:
    """(cv2 font scale, stroke thickness) drawing capital letters ``px`` pixels tall (rounded
    to whole pixels, so measuring and drawing agree)."""
    import cv2

    px = max(1, round(px))
    (_, cap), _ = cv2.getTextSize("H", _font(), 1.0, 1)
    return px / max(1, cap - 1), max(1, round(px / 9))


def text_size(text: str, px: float) -> tuple[int, int, int]:
    """(width, height above the baseline, depth below it) of ``text`` drawn ``px`` tall."""
    import cv2

    scale, thick = font_for(px)
    (tw, th), base = cv2.getTextSize(text, _font(), scale, thick)
    return tw, th, base


def wrap_text(text: str, px: float, max_w: int) -> list[str]:
    """``text`` broken at spaces into lines at most ``max_w`` px wide (a longer word stays
    whole on its own line)."""
    lines: list[str] = []
    cur = ""
    for word in text.split():
        trial = f"{cur} {word}" if cur else word
        if cur and text_size(trial, px)[0] > max_w:
            lines.append(cur)
            cur = word
        else:
            cur = trial
    return [*lines, cur] if cur else lines or [""]


def panel_size(lines: Sequence[PanelLine], style: VideoStyle) -> tuple[int, int]:
    """(width, height) px of the panel :func:`draw_panel` draws for ``lines``."""
    if not lines:
        return 0, 0
    w = max(text_size(ln.text, style.text_px * ln.size)[0] for ln in lines)
    h = sum(round(style.text_px * ln.size) for ln in lines) + style.gap * (len(lines) - 1)
    return w + 2 * style.pad, h + 2 * style.pad


def _shade(img: np.ndarray, box: Rect, colour: tuple[int, int, int], alpha: float) -> None:
    """Blend ``colour`` over ``box`` (clipped to the image) with opacity ``alpha``, in place."""
    h, w = img.shape[:2]
    x0, y0, x1, y1 = max(0, box.x0), max(0, box.y0), min(w, box.x1), min(h, box.y1)
    if x1 <= x0 or y1 <= y0:
        return
    roi = img[y0:y1, x0:x1]
    roi[:] = (roi * (1.0 - alpha) + np.array(colour, np.float64) * alpha).astype(np.uint8)


def draw_panel(img: np.ndarray, lines: Sequence[PanelLine], box: Rect, style: VideoStyle) -> None:
    """Draw ``lines`` on a semi-opaque dark panel at ``box`` (from :func:`panel_size`), in
    place."""
    import cv2

    if not lines:
        return
    _shade(img, box, PANEL_BG, PANEL_ALPHA)
    y = box.y0 + style.pad
    for ln in lines:
        px = round(style.text_px * ln.size)
        scale, thick = font_for(px)
        y += px
        cv2.putText(img, ln.text, (box.x0 + style.pad, y), _font(), scale, ln.colour, thick,
                    cv2.LINE_AA)
        y += style.gap


def choose_panel(body: Rect | None, size: tuple[int, int],
                 panel_at: Callable[[int], tuple[int, int]], min_w: int,
                 style: VideoStyle) -> tuple[str, int]:
    """Where the corner panel goes so it stays off the person: ``(corner, max_width)``.

    ``corner`` is ``"top-left"``, ``"top-right"`` or ``"bottom-left"``; ``max_width`` the
    widest the panel may be there, px. ``body``: the box the person moves in (None: unknown);
    ``panel_at(max_width)``: the (width, height) px of the clip's largest panel wrapped to that
    width; ``min_w``: the narrowest useful panel, px. Tried in order: the free strips beside the
    body (wider first), above it, below it (60% of the frame wide, then all of it); the first
    whose panel misses the body wins, else the one that covers the least of it.
    """
    w, h = size
    m = style.margin
    wide = [max(min_w, round(0.6 * w)), max(min_w, w - 2 * m)]
    if body is None:
        return "top-left", wide[0]
    sides = sorted([("top-left", body.x0 - 2 * m), ("top-right", w - body.x1 - 2 * m)],
                   key=lambda c: -c[1])
    tries = [c for c in sides if c[1] >= min_w]
    tries += [("top-left", x) for x in wide] + [("bottom-left", x) for x in wide]
    best: tuple[int, str, int] | None = None
    for corner, width in tries:
        pw, ph = panel_at(width)
        box = panel_rect(corner, size, (pw, ph), style)
        if not box.inside(w, h):
            continue
        cover = max(0, min(box.x1, body.x1) - max(box.x0, body.x0)) * max(
            0, min(box.y1, body.y1) - max(box.y0, body.y0))
        if cover == 0:
            return corner, width
        if best is None or cover < best[0]:
            best = (cover, corner, width)
    return (best[1], best[2]) if best is not None else ("top-left", wide[1])


def panel_rect(corner: str, size: tuple[int, int], panel: tuple[int, int],
               style: VideoStyle) -> Rect:
    """The panel's box for a :func:`choose_panel` corner, ``panel`` = (width, height) px."""
    w, h = size
    pw, ph = panel
    m = style.margin
    x = w - m - pw if corner.endswith("right") else m
    y = h - m - ph if corner.startswith("bottom") else m
    return Rect(x, y, x + pw, y + ph)


@dataclass(frozen=True, slots=True)
class AngleLabel:
    """An angle number to place near its joint.

    Attributes:
        text: the number as drawn (a degree ring is added after it).
        vertex: ``(x, y)`` px of the joint.
        away: unit ``(dx, dy)``: the preferred direction from the joint (outside the angle).
    """

    text: str
    vertex: tuple[float, float]
    away: tuple[float, float]


@dataclass(frozen=True, slots=True)
class PlacedLabel:
    """An :class:`AngleLabel` and the box it is drawn in (background included)."""

    label: AngleLabel
    box: Rect


def label_size(text: str, style: VideoStyle) -> tuple[int, int]:
    """(width, height) px of an angle label's box: the number, its degree ring, padding."""
    tw, th, _ = text_size(text, style.label_px)
    pad = max(2, style.pad // 2)
    ring = max(2, round(style.label_px * RING))
    return tw + 2 * ring + 3 + 2 * pad, th + 2 * pad


#: Radius of the degree ring after an angle number, as a fraction of the number's height.
RING = 0.14
#: Costs of a label spot: per bone it crosses, per other joint it covers, when another joint is
#: nearer to it than its own (a reader would pin the number on the wrong joint), per turn step.
COST_BONE, COST_JOINT, COST_AMBIGUOUS, COST_TURN = 4.0, 6.0, 10.0, 1.0

#: Directions tried around the preferred one, degrees, best first.
_TURNS = (0, 30, -30, 60, -60, 90, -90, 120, -120, 150, -150, 180)


def place_labels(labels: Sequence[AngleLabel], style: VideoStyle, size: tuple[int, int],
                 avoid: Sequence[Rect] = (),
                 bones: Sequence[tuple[tuple[float, float], tuple[float, float]]] = (),
                 joints: Sequence[tuple[float, float]] = ()) -> list[PlacedLabel]:
    """Boxes for ``labels`` (in order: earlier labels get the better spots) that never
    intersect each other, ``avoid`` (e.g. the panel) or the frame edge.

    Each label sits next to its vertex, in its ``away`` direction or turned from it; among the
    free spots, the cheapest wins: it crosses few ``bones`` (segments, px), covers few other
    ``joints`` (points, px), is nearer its own joint than any other (so it reads as that
    joint's), and is little turned. A label with no free spot is left out (never drawn over
    another).
    """
    import cv2

    w, h = size
    placed: list[PlacedLabel] = []
    gap = style.joint_px + max(2, style.pad // 2)
    for lab in labels:
        bw, bh = label_size(lab.text, style)
        vx, vy = lab.vertex
        best: tuple[float, Rect] | None = None
        for k, turn in enumerate(_TURNS):
            a = math.radians(turn)
            dx0, dy0 = lab.away
            dx = dx0 * math.cos(a) - dy0 * math.sin(a)
            dy = dx0 * math.sin(a) + dy0 * math.cos(a)
            # Centre far enough along (dx, dy) that the box clears the joint by ``gap``.
            r = gap + 0.5 * min(bw / max(abs(dx), 1e-6), bh / max(abs(dy), 1e-6))
            cx, cy = vx + dx * r, vy + dy * r
            box = Rect(round(cx - bw / 2), round(cy - bh / 2), round(cx - bw / 2) + bw,
                       round(cy - bh / 2) + bh)
            if not box.inside(w, h) or any(box.intersects(o) for o in avoid) or any(
                    box.intersects(p.box) for p in placed):
                continue
            rect = (box.x0, box.y0, box.w, box.h)
            cross = sum(1 for p, q in bones if cv2.clipLine(
                rect, (round(p[0]), round(p[1])), (round(q[0]), round(q[1])))[0])
            own = math.dist((cx, cy), (vx, vy))
            others = [q for q in joints if math.dist(q, (vx, vy)) > 1.0]
            grown = Rect(box.x0 - gap, box.y0 - gap, box.x1 + gap, box.y1 + gap)
            cover = sum(1 for jx, jy in others if grown.contains(jx, jy))
            ambiguous = any(math.dist((cx, cy), q) < own for q in others)
            cost = (COST_BONE * cross + COST_JOINT * cover + COST_AMBIGUOUS * ambiguous
                    + COST_TURN * k)
            if best is None or cost < best[0]:
                best = (cost, box)
        if best is not None:
            placed.append(PlacedLabel(lab, best[1]))
    return placed


def draw_labels(img: np.ndarray, placed: Sequence[PlacedLabel], style: VideoStyle) -> None:
    """Draw placed angle labels (number + degree ring on a dark box), in place."""
    import cv2

    scale, thick = font_for(style.label_px)
    pad = max(2, style.pad // 2)
    ring = max(2, round(style.label_px * RING))
    for p in placed:
        b = p.box
        _shade(img, b, PANEL_BG, PANEL_ALPHA)
        tw = text_size(p.label.text, style.label_px)[0]
        cv2.putText(img, p.label.text, (b.x0 + pad, b.y1 - pad), _font(), scale, LABEL_FG,
                    thick, cv2.LINE_AA)
        cv2.circle(img, (b.x0 + pad + tw + ring + 2, b.y0 + pad + ring), ring, LABEL_FG,
                   max(1, thick - 1), cv2.LINE_AA)


#: Bones drawn in the annotated video (the face's eye-ear lines are left out: clutter).
VIDEO_BONES: tuple[tuple[int, int], ...] = tuple(
    (int(a), int(b)) for a, b in CONNECTIONS if a >= 11 and b >= 11)
#: Joints drawn as dots (body joints; the hands' finger points and the face are left out).
VIDEO_JOINTS: tuple[int, ...] = (11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32)


def _side_of(i: int) -> str:
    """``left`` for odd BlazePose body landmarks, ``right`` for even (both from 11 on)."""
    return "left" if i % 2 == 1 else "right"


def draw_pose(img: np.ndarray, pose: np.ndarray, style: VideoStyle, side: str | None = None,
              hot: frozenset[int] = frozenset()) -> None:
    """Draw a ``(33, >=2)`` pixel pose (NaN joints skipped) in place: bones with a dark edge
    (readable on any background), the ``side`` being judged brighter than the other, the
    bones between two ``hot`` landmarks (the fault's) in red, and a head dot at the nose."""
    import cv2

    pts = np.asarray(pose, np.float64)[:, :2]
    ok: np.ndarray = np.all(np.isfinite(pts), axis=1)

    def p(i: int) -> tuple[int, int]:
        return round(float(pts[i, 0])), round(float(pts[i, 1]))

    t = style.bone_px
    order = sorted(VIDEO_BONES, key=lambda ab: (side is not None and _side_of(ab[0]) == side
                                                 and _side_of(ab[1]) == side))
    for a, b in order:  # the other side first, so the judged side is drawn on top
        if ok[a] and ok[b]:
            cv2.line(img, p(a), p(b), BLACK, t + 2, cv2.LINE_AA)
    for a, b in order:
        if not (ok[a] and ok[b]):
            continue
        same = _side_of(a) == _side_of(b)
        colour = BONE_FAULT if a in hot and b in hot else (
            BONE_OTHER if side is not None and same and _side_of(a) != side else BONE_JUDGED)
        cv2.line(img, p(a), p(b), colour, t, cv2.LINE_AA)
    for i in VIDEO_JOINTS:
        if ok[i]:
            cv2.circle(img, p(i), style.joint_px + 1, BLACK, -1, cv2.LINE_AA)
            cv2.circle(img, p(i), style.joint_px, WHITE, -1, cv2.LINE_AA)
    if ok[0]:
        cv2.circle(img, p(0), style.joint_px + 1, BLACK, -1, cv2.LINE_AA)
        cv2.circle(img, p(0), style.joint_px, GREY, -1, cv2.LINE_AA)
