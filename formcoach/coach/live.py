"""Live coaching: a camera (or a video played as a camera) through the one session loop.

:func:`run_live` adds what only a person in front of the camera needs to
:func:`~formcoach.coach.session.run_session`: the setup gate before counting, the overlay, the
optional window (q quits, m mutes) and the real clock. Ctrl-C ends the set cleanly and returns
the :class:`~formcoach.coach.result.SessionResult`.
"""

from __future__ import annotations

import logging
import textwrap
import threading
import time
from collections.abc import Callable

import numpy as np

from formcoach.clock import Clock, MonotonicClock
from formcoach.coach.offline import make_coach
from formcoach.coach.result import CueEvent, SessionResult
from formcoach.coach.session import FrameUpdate, SessionSinks, run_session
from formcoach.coach.setup_gate import SetupChecker
from formcoach.coach.window import Window, open_window
from formcoach.cues.scheduler import CueScheduler
from formcoach.cues.speech import Speaker
from formcoach.exercises import Exercise
from formcoach.metrics import RepMetrics
from formcoach.overlay import OverlayState, draw_overlay
from formcoach.pose import PoseEstimator
from formcoach.pose.stream import estimate_poses
from formcoach.rules.engine import RulesEngine
from formcoach.rules.explain import explain_fault, rules_by_id
from formcoach.rules.hold import POSITION_TEXT
from formcoach.skeleton import JOINT_TRIPLES
from formcoach.sources.base import FrameSource, LiveSource

log = logging.getLogger(__name__)

__all__ = ["cue_texts", "run_live"]

#: How long a cue's text stays on screen, s.
CUE_SHOWN_S = 2.5


def cue_texts(exercise: Exercise) -> list[str]:
    """Every cue text of an exercise's rule pack (for pre-synthesis)."""
    texts = [str(r.get("cue", "")) for r in exercise.rules_raw] + [exercise.attempt_cue]
    return [t for t in dict.fromkeys(texts) if t]


class _Display:
    """The overlay sink: draws each frame, shows it in the window, hands it to ``on_image``."""

    def __init__(self, ex: Exercise, window: Window | None,
                 on_image: Callable[[np.ndarray], None] | None,
                 engine: RulesEngine | None = None) -> None:
        self.ex, self.window, self.on_image = ex, window, on_image
        self.notes = _LiveNotes(ex, engine)
        self.cue_text: str | None = None
        self.cue_until = 0.0
        self.fps = 0.0
        self._last = time.monotonic()

    def __call__(self, u: FrameUpdate) -> str | None:
        now = time.monotonic()
        dt, self._last = now - self._last, now
        if dt > 0:
            self.fps = 1.0 / dt if self.fps == 0 else 0.9 * self.fps + 0.1 / dt
        if u.cue is not None:
            self.cue_text, self.cue_until = u.cue.text, now + CUE_SHOWN_S
        if now > self.cue_until:
            self.cue_text = None
        if u.posed.frame is None:
            return None
        lm = u.posed.pose.landmarks
        ov = OverlayState(
            landmarks=lm,
            angle_name=_signal_joint(self.ex, lm),
            angle_deg=u.state.signal if u.state is not None else None,
            rep_count=u.rep_count,
            phase=u.state.phase if u.state is not None else None,
            cue=self.cue_text,
            fps=self.fps,
            view=u.view,
            setup_ok=u.setup_ok,
            setup_message=u.setup_message,
            muted=u.muted,
            exercise=self.ex.name,
            not_judged=u.not_judged,
            extra=self.notes(u, now),
        )
        img = draw_overlay(u.posed.frame.image, ov)
        if self.on_image is not None:
            self.on_image(img)
        return self.window.show(img) if self.window is not None else None


#: Longest line of a fault's explanation on the live screen (longer ones wrap).
FAULT_LINE_CHARS = 48


class _LiveNotes:
    """Status lines of the live screen: a hold's time held and in good form (or why it is not
    timing), and the last fault explained (value against limit) while its cue is shown."""

    def __init__(self, ex: Exercise, engine: RulesEngine | None) -> None:
        self.ex, self.engine = ex, engine
        self.rules = rules_by_id(ex)
        self.fault_text: str | None = None
        self.until = 0.0

    def __call__(self, u: FrameUpdate, now: float) -> list[str]:
        lines: list[str] = []
        eng = self.engine
        if eng is not None and self.ex.kind == "hold" and u.state is not None:
            timer = eng.hold
            state = ("timing" if timer.in_position
                     else "not timing: " + POSITION_TEXT.get(eng.position, eng.position))
            lines.append(f"held {timer.current_held_s:.1f} s, good form "
                         f"{timer.current_good_s:.1f} s ({state})")
        if u.state is not None and u.state.faults:
            f = u.state.faults[-1]
            self.fault_text = f"{f.rule_id}: {explain_fault(f, self.rules.get(f.rule_id))}"
            self.until = now + CUE_SHOWN_S
        if self.fault_text is not None and now <= self.until:
            lines.extend(textwrap.wrap(self.fault_text, FAULT_LINE_CHARS))
        return lines


def run_live(
    source: FrameSource,
    exercise: Exercise,
    estimator: PoseEstimator,
    speaker: Speaker,
    *,
    window: bool = False,
    skip_setup: bool = False,
    max_seconds: float | None = None,
    scheduler: CueScheduler | None = None,
    clock: Clock | None = None,
    praise: str | None = None,
    setup_hold_s: float = 1.0,
    on_cue: Callable[[CueEvent], None] | None = None,
    on_frame: Callable[[np.ndarray], None] | None = None,
    on_rep: Callable[[RepMetrics], None] | None = None,
    stop: threading.Event | None = None,
    history_limit_s: float = 60.0,
    source_name: str = "camera",
) -> SessionResult:
    """Coach one set live until the source ends, the user quits, or ``max_seconds`` pass.

    Args:
        source: a live source (:class:`~formcoach.sources.CameraSource`,
            :class:`~formcoach.sources.PacedVideoSource`) or any FrameSource (then staleness
            is measured from when each frame arrived).
        exercise: the pack.
        estimator: a pose estimator (video running mode).
        speaker: where cues go (never blocks).
        window: show the overlay in an OpenCV window; ignored (one info line) without a display.
        skip_setup: count from the first frame, without the setup check.
        max_seconds: stop after this much wall time.
        scheduler: cue policy (default: :class:`CueScheduler` on ``clock`` with ``praise``).
        clock: time source shared by the scheduler (default monotonic).
        praise: say this after a clean rep (None: no praise).
        setup_hold_s: seconds the setup must hold before counting starts.
        on_cue: called with each cue handed to the speaker (the CLI prints it).
        on_frame: called with each overlaid BGR frame (recording, tests).
        on_rep: called with each rep's final metrics (saving rep by rep).
        stop: set it from another thread to end the set.
        history_limit_s: per-frame series are kept for this many seconds (at least two of the
            longest reps): each rep is measured from them as it ends, so memory stays flat
            however long the session runs.
        source_name: how the result names the source.
    """
    clock = clock if clock is not None else MonotonicClock()
    sched = scheduler if scheduler is not None else CueScheduler(clock, praise=praise)
    fps = float(source.fps or 30.0)
    coach = make_coach(exercise, fps)
    rule_views = [r.views for r in coach.rules.rules] if coach.rules is not None else None
    gate = None if skip_setup else SetupChecker(tuple(exercise.views) or None, hold_s=setup_hold_s,
                                                rule_views=rule_views)
    win = open_window(f"formcoach - {exercise.name}") if window else None
    display = _Display(exercise, win, on_frame, coach.rules) \
        if (win is not None or on_frame is not None) else None
    live = source if isinstance(source, LiveSource) else None
    try:
        result = run_session(
            estimate_poses(source, estimator, clock), coach, sched, speaker, clock,
            fps=fps, backend=estimator.name, source=source_name, image_size=source.size,
            model_sha256=estimator.model_sha256,
            time_base=(lambda: live.start_ns) if live is not None else None, gate=gate,
            sinks=SessionSinks(on_frame=display, on_cue=on_cue, on_rep=on_rep),
            history_limit_s=history_limit_s, max_seconds=max_seconds, stop=stop,
            dropped=(lambda: live.dropped) if live is not None else None,
        )
        result.model = estimator.model
        return result
    finally:
        if win is not None:
            win.close()
        source.close()


def _signal_joint(ex: Exercise, landmarks: np.ndarray) -> str | None:
    """The joint-angle key (``left_knee``...) of the counting signal, on the more visible side."""
    sig = ex.count.signal
    if sig in JOINT_TRIPLES:
        return sig
    cands = [f"left_{sig}", f"right_{sig}"]
    if not all(c in JOINT_TRIPLES for c in cands):
        return None
    vis = [np.nansum(landmarks[list(JOINT_TRIPLES[c]), 3]) for c in cands]
    return cands[int(np.argmax(vis))]
