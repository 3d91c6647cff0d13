"""The live screen, built to be read from the mat (2-3 m away).

A :class:`ScreenLayout` places every element in window pixels from the window size and the
camera image size alone, so tests check the layout (sizes, no overlaps) without reading
pixels, and :func:`render_screen` draws exactly those boxes:

* the camera image, letterboxed (aspect kept, never stretched), with the skeleton; the body
  segments of the current fault in red, the whole skeleton green for a moment after a clean rep;
* the rep counter against its target ("7 / 10"), at least :data:`COUNTER_MIN_FRACTION` of the
  window height, on its own panel (green after a clean rep);
* the current cue in large text while it is spoken, on a panel coloured by what it is
  (:func:`cue_panel_colour`): a form fault red, setup guidance and announcements blue,
  "ready" and praise green;
* the set timer (or the rest countdown), a short status line (exercise, muted, paused), the
  "not judged" banner at the top, and debug lines (fps, view, angle) only when asked for.

Landscape windows put the counter and timers in a panel on the right; portrait windows put the
counter across the top. Every text colour is checked against its panel colour for WCAG AA
contrast (:func:`contrast_ratio` >= 4.5, see the tests).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from formcoach.cues.kinds import CueKind
from formcoach.skeleton import CONNECTIONS, LM

__all__ = [
    "COLOURS", "COUNTER_MIN_FRACTION", "Box", "ScreenLayout", "ScreenState", "SetCard",
    "contrast_ratio", "cue_panel_colour", "fault_landmarks", "layout_for", "render_card",
    "render_screen", "set_card",
]

#: The rep counter's text is at least this fraction of the window height.
COUNTER_MIN_FRACTION = 0.12

#: BGR colours: (text, panel) pairs are what the contrast test checks.
COLOURS: dict[str, tuple[int, int, int]] = {
    "panel": (40, 40, 40),
    "text": (255, 255, 255),
    "muted_text": (200, 200, 200),
    "warn_text": (80, 220, 255),  # amber on the dark panel
    "cue_panel": (30, 30, 170),  # dark red: a form fault
    "setup_panel": (120, 70, 20),  # dark blue: guidance, announcements
    "positive_panel": (40, 110, 20),  # dark green: ready, good rep
    "clean_panel": (40, 110, 20),  # dark green
    "bone": (220, 220, 220),
    "fault_bone": (40, 40, 230),
    "clean_bone": (60, 220, 60),
    "joint": (255, 255, 255),
}
#: (text colour, panel colour) pairs drawn on screen.
TEXT_ON_PANEL: tuple[tuple[str, str], ...] = (
    ("text", "panel"), ("muted_text", "panel"), ("warn_text", "panel"), ("text", "cue_panel"),
    ("text", "clean_panel"), ("text", "setup_panel"), ("text", "positive_panel"),
)
#: Cue kind -> the :data:`COLOURS` name of its panel.
CUE_PANELS: dict[CueKind, str] = {"fault": "cue_panel", "setup": "setup_panel",
                                  "positive": "positive_panel", "info": "setup_panel"}


def cue_panel_colour(kind: CueKind) -> tuple[int, int, int]:
    """BGR colour of the cue panel for a cue of ``kind`` (see
    :func:`formcoach.cues.kinds.cue_kind`)."""
    return COLOURS[CUE_PANELS[kind]]


@dataclass(frozen=True, slots=True)
class Box:
    """A rectangle in window pixels: left, top, width, height."""

    x: int
    y: int
    w: int
    h: int

    def overlaps(self, other: Box) -> bool:
        return not (self.x + self.w <= other.x or other.x + other.w <= self.x
                    or self.y + self.h <= other.y or other.y + other.h <= self.y)

    def inside(self, w: int, h: int) -> bool:
        return self.x >= 0 and self.y >= 0 and self.x + self.w <= w and self.y + self.h <= h


@dataclass(frozen=True, slots=True)
class ScreenLayout:
    """Where everything goes for one window size and camera image size.

    Attributes:
        window: ``(width, height)`` px.
        image: the letterboxed camera image; ``scale`` maps image px to window px.
        counter: the counter panel: ``count`` (the reps, big) over ``target`` ("of 10").
        cue, timer, status, banner: text panels; ``debug`` only with debug lines on.
        counter_text_h: height of the count's digits as drawn (two digits), px.
    """

    window: tuple[int, int]
    image: Box
    scale: float
    counter: Box
    count: Box
    target: Box
    cue: Box
    timer: Box
    status: Box
    banner: Box
    debug: Box | None
    counter_text_h: int

    def text_boxes(self) -> dict[str, Box]:
        out = {"count": self.count, "target": self.target, "cue": self.cue,
               "timer": self.timer, "status": self.status, "banner": self.banner}
        if self.debug is not None:
            out["debug"] = self.debug
        return out


def _letterbox(area: Box, image_size: tuple[int, int]) -> tuple[Box, float]:
    iw, ih = image_size
    s = min(area.w / max(1, iw), area.h / max(1, ih))
    w, h = max(1, round(iw * s)), max(1, round(ih * s))
    return Box(area.x + (area.w - w) // 2, area.y + (area.h - h) // 2, w, h), s


def layout_for(window: tuple[int, int], image_size: tuple[int, int],
               debug: bool = False) -> ScreenLayout:
    """The layout of a ``window`` (w, h px) showing a camera image of ``image_size`` (w, h).

    Raises:
        ValueError: a window smaller than 160 x 120 or an empty image size.
    """
    W, H = int(window[0]), int(window[1])
    if W < 160 or H < 120:
        raise ValueError(f"window too small for the live screen: {W}x{H}")
    if image_size[0] <= 0 or image_size[1] <= 0:
        raise ValueError(f"bad image size {image_size}")
    if W >= H:  # landscape: image on the left, counter panel on the right
        pw = round(0.3 * W)
        banner = Box(0, 0, W - pw, round(0.1 * H))
        cue = Box(0, H - round(0.16 * H), W - pw, round(0.16 * H))
        area = Box(0, banner.h, W - pw, H - banner.h - cue.h)
        counter = Box(W - pw, 0, pw, round(0.34 * H))
        timer = Box(W - pw, counter.h, pw, round(0.14 * H))
        rest = H - counter.h - timer.h
        status = Box(W - pw, counter.h + timer.h, pw, round(0.12 * H))
        dbg = Box(W - pw, status.y + status.h, pw, rest - status.h) if debug else None
    else:  # portrait: counter across the top, image in the middle
        counter = Box(0, 0, round(0.62 * W), round(0.22 * H))
        timer = Box(counter.w, 0, W - counter.w, round(0.085 * H))
        status = Box(counter.w, timer.h, W - counter.w, counter.h - timer.h)
        banner = Box(0, counter.h, W, round(0.07 * H))
        cue = Box(0, H - round(0.13 * H), W, round(0.13 * H))
        dbg_h = round(0.08 * H) if debug else 0
        area = Box(0, banner.y + banner.h, W, cue.y - (banner.y + banner.h) - dbg_h)
        dbg = Box(0, area.y + area.h, W, dbg_h) if debug else None
    image, scale = _letterbox(area, image_size)
    ch = round(0.72 * counter.h)
    count = Box(counter.x, counter.y, counter.w, ch)
    target = Box(counter.x, counter.y + ch, counter.w, counter.h - ch)
    return ScreenLayout((W, H), image, scale, counter, count, target, cue, timer, status,
                        banner, dbg, _count_text_h(count))


#: The count's digits fill this much of their box's height (the rest is margin).
COUNT_FILL = 0.8


def _count_text_h(box: Box) -> int:
    """Height in px of two digits drawn as :func:`render_screen` draws the count."""
    import cv2

    font, max_h = cv2.FONT_HERSHEY_DUPLEX, COUNT_FILL * box.h
    thick = max(1, round(max_h / 14))
    s = _fit("88", box, max_h, font, thick)
    return int(cv2.getTextSize("88", font, s, thick)[0][1])


@dataclass(slots=True)
class ScreenState:
    """What the live screen shows for one frame.

    Attributes:
        landmarks: ``(33, 4)`` pose in camera-image pixels, or None.
        reps, target: reps counted and the set's target (None: no target).
        cue: the cue being spoken, or None.
        cue_kind: what the cue is (:func:`formcoach.cues.kinds.cue_kind`): its panel's colour.
        fault_rule: rule id of the current fault (its body segments are drawn red), or None.
        clean_flash: a clean rep was just counted (counter panel and skeleton green).
        set_s: seconds since the set started; ``rest_s``: seconds of rest left (shown instead).
        exercise: display name; ``muted``, ``paused``: state words in the status line.
        not_judged: ``rule: why`` lines for the top banner.
        message: setup guidance or "not sure yet" (shown in the cue panel, amber).
        debug: fps, view, angle lines (drawn only when the layout has a debug box).
        fault_features: feature names of the current fault's rule (which joints it looks at).
    """

    landmarks: np.ndarray | None = None
    reps: int = 0
    target: int | None = None
    cue: str | None = None
    cue_kind: CueKind = "fault"
    fault_rule: str | None = None
    fault_features: tuple[str, ...] = ()
    clean_flash: bool = False
    set_s: float = 0.0
    rest_s: float | None = None
    exercise: str = ""
    muted: bool = False
    paused: bool = False
    not_judged: list[str] = field(default_factory=list)
    message: str | None = None
    debug: list[str] = field(default_factory=list)


def _srgb(c: int) -> float:
    v = c / 255.0
    return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4


def contrast_ratio(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    """WCAG 2 contrast ratio of two BGR colours (1 to 21; AA body text needs 4.5)."""
    def lum(c: tuple[int, int, int]) -> float:
        b_, g, r = c
        return 0.2126 * _srgb(r) + 0.7152 * _srgb(g) + 0.0722 * _srgb(b_)
    la, lb = sorted((lum(a), lum(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


#: Words in a rule's feature names -> the landmarks that fault is about.
_JOINT_WORDS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("knee", (LM.LEFT_HIP, LM.RIGHT_HIP, LM.LEFT_KNEE, LM.RIGHT_KNEE, LM.LEFT_ANKLE,
              LM.RIGHT_ANKLE)),
    ("heel", (LM.LEFT_ANKLE, LM.RIGHT_ANKLE, LM.LEFT_HEEL, LM.RIGHT_HEEL, LM.LEFT_FOOT_INDEX,
              LM.RIGHT_FOOT_INDEX)),
    ("step", (LM.LEFT_HIP, LM.RIGHT_HIP, LM.LEFT_KNEE, LM.RIGHT_KNEE, LM.LEFT_ANKLE,
              LM.RIGHT_ANKLE)),
    ("hip", (LM.LEFT_SHOULDER, LM.RIGHT_SHOULDER, LM.LEFT_HIP, LM.RIGHT_HIP, LM.LEFT_KNEE,
             LM.RIGHT_KNEE)),
    ("body_line", (LM.LEFT_SHOULDER, LM.RIGHT_SHOULDER, LM.LEFT_HIP, LM.RIGHT_HIP,
                   LM.LEFT_ANKLE, LM.RIGHT_ANKLE)),
    ("torso", (LM.LEFT_SHOULDER, LM.RIGHT_SHOULDER, LM.LEFT_HIP, LM.RIGHT_HIP)),
    ("trunk", (LM.LEFT_SHOULDER, LM.RIGHT_SHOULDER, LM.LEFT_HIP, LM.RIGHT_HIP)),
    ("back", (LM.LEFT_SHOULDER, LM.RIGHT_SHOULDER, LM.LEFT_HIP, LM.RIGHT_HIP)),
    ("neck", (LM.LEFT_EAR, LM.RIGHT_EAR, LM.LEFT_SHOULDER, LM.RIGHT_SHOULDER)),
    ("elbow", (LM.LEFT_SHOULDER, LM.RIGHT_SHOULDER, LM.LEFT_ELBOW, LM.RIGHT_ELBOW,
               LM.LEFT_WRIST, LM.RIGHT_WRIST)),
    ("wrist", (LM.LEFT_ELBOW, LM.RIGHT_ELBOW, LM.LEFT_WRIST, LM.RIGHT_WRIST)),
    ("shoulder", (LM.LEFT_SHOULDER, LM.RIGHT_SHOULDER, LM.LEFT_ELBOW, LM.RIGHT_ELBOW)),
    ("arm", (LM.LEFT_SHOULDER, LM.RIGHT_SHOULDER, LM.LEFT_ELBOW, LM.RIGHT_ELBOW,
             LM.LEFT_WRIST, LM.RIGHT_WRIST)),
    ("stance", (LM.LEFT_ANKLE, LM.RIGHT_ANKLE, LM.LEFT_KNEE, LM.RIGHT_KNEE)),
    ("nose", (LM.NOSE, LM.LEFT_WRIST, LM.RIGHT_WRIST)),
)


def fault_landmarks(features: tuple[str, ...]) -> frozenset[int]:
    """The landmarks a fault's rule looks at, from its feature names (``knee_width_ratio`` ->
    hips, knees, ankles); empty when no joint word matches."""
    out: set[int] = set()
    for name in features:
        for word, idx in _JOINT_WORDS:
            if word in name:
                out.update(int(i) for i in idx)
    return frozenset(out)


def _fit(text: str, box: Box, max_h: float, font: int, thick: int) -> float:
    """The largest cv2 font scale whose text fits ``box`` (92% wide) and is <= ``max_h`` px."""
    import cv2

    (tw, th), _ = cv2.getTextSize(text, font, 1.0, thick)
    return max(0.3, min(max_h / max(1, th), 0.92 * box.w / max(1, tw)))


def _panel(img: np.ndarray, box: Box, colour: tuple[int, int, int]) -> None:
    img[box.y:box.y + box.h, box.x:box.x + box.w] = colour


def _centred(img: np.ndarray, text: str, box: Box, max_h: float, colour: tuple[int, int, int],
             bold: bool = True) -> None:
    import cv2

    font = cv2.FONT_HERSHEY_DUPLEX
    thick = max(1, round(max_h / 14)) if bold else max(1, round(max_h / 22))
    s = _fit(text, box, max_h, font, thick)
    (tw, th), _ = cv2.getTextSize(text, font, s, thick)
    x = box.x + (box.w - tw) // 2
    y = box.y + (box.h + th) // 2
    cv2.putText(img, text, (x, y), font, s, colour, thick, cv2.LINE_AA)


def _lines(img: np.ndarray, lines: list[str], box: Box, colour: tuple[int, int, int],
           n_max: int) -> None:
    import cv2

    if not lines or box.h <= 0:
        return
    font = cv2.FONT_HERSHEY_SIMPLEX
    lines = lines[:n_max]
    row = box.h / max(len(lines), 1)
    for k, line in enumerate(lines):
        sub = Box(box.x + 8, round(box.y + k * row), box.w - 16, round(row))
        thick = max(1, round(row / 30))
        s = _fit(line, sub, 0.55 * row, font, thick)
        (_, th), _ = cv2.getTextSize(line, font, s, thick)
        cv2.putText(img, line, (sub.x, sub.y + (sub.h + th) // 2), font, s, colour, thick,
                    cv2.LINE_AA)


def _wrap(text: str, n: int) -> list[str]:
    import textwrap

    return textwrap.wrap(text, n) or [text]


def render_screen(layout: ScreenLayout, image: np.ndarray, state: ScreenState) -> np.ndarray:
    """The window image (``(H, W, 3)`` uint8 BGR) for one camera frame (``(h, w, 3)`` BGR)."""
    import cv2

    W, H = layout.window
    out = np.empty((H, W, 3), np.uint8)
    out[:] = COLOURS["panel"]
    b = layout.image
    out[b.y:b.y + b.h, b.x:b.x + b.w] = cv2.resize(image, (b.w, b.h), interpolation=cv2.INTER_AREA)
    lm = state.landmarks
    if lm is not None and lm.shape == (33, 4):
        hot = fault_landmarks(state.fault_features) if state.fault_rule else frozenset()
        pts = lm[:, :2] * layout.scale + (b.x, b.y)
        ok = np.isfinite(pts).all(axis=1) & ~(np.isfinite(lm[:, 3]) & (lm[:, 3] < 0.5))
        width = max(2, round(H / 150))
        for a, e in CONNECTIONS:
            if ok[a] and ok[e]:
                colour = (COLOURS["fault_bone"] if a in hot and e in hot else
                          COLOURS["clean_bone"] if state.clean_flash else COLOURS["bone"])
                cv2.line(out, tuple(int(v) for v in pts[a]), tuple(int(v) for v in pts[e]),
                         colour, width + (2 if a in hot and e in hot else 0), cv2.LINE_AA)
        for i in range(11, 33):
            if ok[i]:
                cv2.circle(out, tuple(int(v) for v in pts[i]), width + 1, COLOURS["joint"], -1,
                           cv2.LINE_AA)
    c = layout.counter
    _panel(out, c, COLOURS["clean_panel"] if state.clean_flash else COLOURS["panel"])
    _centred(out, str(state.reps), layout.count, COUNT_FILL * layout.count.h, COLOURS["text"])
    if state.target is not None:
        _centred(out, f"of {state.target}", layout.target, 0.6 * layout.target.h,
                 COLOURS["text"], bold=False)
    t = layout.timer
    if state.rest_s is not None:
        _centred(out, f"rest {math.ceil(max(0.0, state.rest_s)):d}", t, 0.6 * t.h,
                 COLOURS["warn_text"])
    else:
        m, s = divmod(int(max(0.0, state.set_s)), 60)
        _centred(out, f"{m}:{s:02d}", t, 0.6 * t.h, COLOURS["text"], bold=False)
    words = [state.exercise] + (["PAUSED"] if state.paused else []) + (
        ["muted"] if state.muted else [])
    _lines(out, [" ".join(w for w in words if w)], layout.status, COLOURS["muted_text"], 1)
    if state.not_judged:
        # Two lines at most, wrapped at a length that keeps the text large on this banner.
        text = "Not judged: " + "; ".join(state.not_judged)
        n = max(24, round(layout.banner.w / (0.15 * layout.banner.h)))
        lines = _wrap(text, n)
        if len(lines) > 2:
            lines = [lines[0], lines[1].rstrip(",;") + " ..."]
        _lines(out, lines, layout.banner, COLOURS["warn_text"], 2)
    cue = layout.cue
    if state.cue:
        _panel(out, cue, cue_panel_colour(state.cue_kind))
        lines = _wrap(state.cue, 28 if W >= H else 20)[:2]
        _lines(out, lines, cue, COLOURS["text"], 2)
    elif state.message:
        _lines(out, _wrap(state.message, 40)[:2], cue, COLOURS["warn_text"], 2)
    if layout.debug is not None and state.debug:
        _lines(out, state.debug, layout.debug, COLOURS["muted_text"], 4)
    return out


@dataclass(frozen=True, slots=True)
class SetCard:
    """The end-of-set summary card: what the set did, shown for the rest period.

    Attributes:
        title: e.g. "set 1 of 3, squats".
        reps, target, clean: reps counted, the set's target (None: none), clean reps.
        faults: ``(fault name, reps with it)``, most frequent first.
        rom_deg: mean range of motion of the counting joint, deg (NaN: not measured).
        tempo_s: mean rep duration, s (NaN: no reps).
        rest_s: seconds of rest left (None: no rest follows).
        next_up: what comes next (e.g. "next: set 2 of 3, squats, 10 reps"), or "".
    """

    title: str
    reps: int
    target: int | None
    clean: int
    faults: tuple[tuple[str, int], ...]
    rom_deg: float
    tempo_s: float
    rest_s: float | None = None
    next_up: str = ""


def set_card(result: object, title: str, target: int | None = None,
             rest_s: float | None = None, next_up: str = "") -> SetCard:
    """A :class:`SetCard` from a :class:`~formcoach.coach.result.SessionResult`."""
    reps = list(getattr(result, "reps", []))
    metrics = getattr(result, "metrics", None)
    rm = list(getattr(metrics, "reps", []))
    counts: dict[str, set[int]] = {}
    for f in getattr(result, "faults", []):
        if f.rep_index is not None:
            counts.setdefault(f.rule_id.replace("_", " "), set()).add(f.rep_index)
    faults = tuple(sorted(((k, len(v)) for k, v in counts.items()), key=lambda kv: -kv[1]))
    roms = [r.rom_deg for r in rm if math.isfinite(r.rom_deg)]
    durs = [r.duration_s for r in rm if math.isfinite(r.duration_s)]
    clean = sum(1 for r in rm if r.judged and not r.faults)
    return SetCard(title, len(reps), target, clean, faults,
                   float(np.mean(roms)) if roms else math.nan,
                   float(np.mean(durs)) if durs else math.nan, rest_s, next_up)


def render_card(size: tuple[int, int], card: SetCard) -> np.ndarray:
    """The end-of-set card as a window image (``(H, W, 3)`` uint8 BGR), text on the dark panel
    (the contrast pairs of :data:`TEXT_ON_PANEL`)."""
    W, H = int(size[0]), int(size[1])
    if W < 160 or H < 120:
        raise ValueError(f"window too small for the set card: {W}x{H}")
    out = np.empty((H, W, 3), np.uint8)
    out[:] = COLOURS["panel"]
    row = H / 9
    _lines(out, [card.title], Box(0, 0, W, round(row)), COLOURS["muted_text"], 1)
    big = f"{card.reps} / {card.target}" if card.target is not None else f"{card.reps} reps"
    _centred(out, big, Box(0, round(row), W, round(2.4 * row)), 1.9 * row, COLOURS["text"])
    judged = f"{card.clean} clean" if card.reps else "no reps"
    rom = "-" if not math.isfinite(card.rom_deg) else f"{card.rom_deg:.0f} deg"
    tempo = "-" if not math.isfinite(card.tempo_s) else f"{card.tempo_s:.1f} s a rep"
    _lines(out, [f"{judged}   ROM {rom}   tempo {tempo}"], Box(0, round(3.5 * row), W,
                                                             round(row)), COLOURS["text"], 1)
    faults = [f"{name}: {n} rep{'s' if n != 1 else ''}" for name, n in card.faults[:3]]
    _lines(out, faults or ["no faults"], Box(0, round(4.6 * row), W, round(2.0 * row)),
           COLOURS["warn_text"] if faults else COLOURS["muted_text"], 3)
    if card.rest_s is not None:
        _centred(out, f"rest {math.ceil(max(0.0, card.rest_s)):d}", Box(0, round(6.8 * row), W,
                                                                         round(1.3 * row)),
                 1.0 * row, COLOURS["warn_text"])
    if card.next_up:
        _lines(out, [card.next_up], Box(0, round(8.1 * row), W, round(0.9 * row)),
               COLOURS["muted_text"], 1)
    return out
